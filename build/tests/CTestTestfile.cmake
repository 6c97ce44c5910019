# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build/tests/frame_test[1]_include.cmake")
include("/work/main/build/tests/utf8_test[1]_include.cmake")
include("/work/main/build/tests/handshake_test[1]_include.cmake")
include("/work/main/build/tests/ws_url_test[1]_include.cmake")
include("/work/main/build/tests/session_test[1]_include.cmake")
