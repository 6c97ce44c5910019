# Empty dependencies file for utf8_test.
# This may be replaced when dependencies are built.
