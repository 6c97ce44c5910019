# Empty dependencies file for session_test.
# This may be replaced when dependencies are built.
