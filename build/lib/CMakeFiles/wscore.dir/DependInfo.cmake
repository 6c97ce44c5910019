
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/lib/client_options.cpp" "lib/CMakeFiles/wscore.dir/client_options.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/client_options.cpp.o.d"
  "/work/main/lib/engine.cpp" "lib/CMakeFiles/wscore.dir/engine.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/engine.cpp.o.d"
  "/work/main/lib/error.cpp" "lib/CMakeFiles/wscore.dir/error.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/error.cpp.o.d"
  "/work/main/lib/fd_limit.cpp" "lib/CMakeFiles/wscore.dir/fd_limit.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/fd_limit.cpp.o.d"
  "/work/main/lib/frame.cpp" "lib/CMakeFiles/wscore.dir/frame.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/frame.cpp.o.d"
  "/work/main/lib/handshake.cpp" "lib/CMakeFiles/wscore.dir/handshake.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/handshake.cpp.o.d"
  "/work/main/lib/json_limits.cpp" "lib/CMakeFiles/wscore.dir/json_limits.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/json_limits.cpp.o.d"
  "/work/main/lib/listen_address.cpp" "lib/CMakeFiles/wscore.dir/listen_address.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/listen_address.cpp.o.d"
  "/work/main/lib/permessage_deflate.cpp" "lib/CMakeFiles/wscore.dir/permessage_deflate.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/permessage_deflate.cpp.o.d"
  "/work/main/lib/redact.cpp" "lib/CMakeFiles/wscore.dir/redact.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/redact.cpp.o.d"
  "/work/main/lib/session.cpp" "lib/CMakeFiles/wscore.dir/session.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/session.cpp.o.d"
  "/work/main/lib/units.cpp" "lib/CMakeFiles/wscore.dir/units.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/units.cpp.o.d"
  "/work/main/lib/user_regex.cpp" "lib/CMakeFiles/wscore.dir/user_regex.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/user_regex.cpp.o.d"
  "/work/main/lib/utf8.cpp" "lib/CMakeFiles/wscore.dir/utf8.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/utf8.cpp.o.d"
  "/work/main/lib/versions.cpp" "lib/CMakeFiles/wscore.dir/versions.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/versions.cpp.o.d"
  "/work/main/lib/ws_url.cpp" "lib/CMakeFiles/wscore.dir/ws_url.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/ws_url.cpp.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
