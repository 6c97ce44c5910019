# Empty dependencies file for frame_test.
# This may be replaced when dependencies are built.
