# Empty dependencies file for wscore.
# This may be replaced when dependencies are built.
