# Empty dependencies file for handshake_test.
# This may be replaced when dependencies are built.
