# Empty dependencies file for ws_url_test.
# This may be replaced when dependencies are built.
