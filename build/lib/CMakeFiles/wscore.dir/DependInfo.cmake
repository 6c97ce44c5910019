
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/lib/engine.cpp" "lib/CMakeFiles/wscore.dir/engine.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/engine.cpp.o.d"
  "/work/main/lib/error.cpp" "lib/CMakeFiles/wscore.dir/error.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/error.cpp.o.d"
  "/work/main/lib/frame.cpp" "lib/CMakeFiles/wscore.dir/frame.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/frame.cpp.o.d"
  "/work/main/lib/handshake.cpp" "lib/CMakeFiles/wscore.dir/handshake.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/handshake.cpp.o.d"
  "/work/main/lib/permessage_deflate.cpp" "lib/CMakeFiles/wscore.dir/permessage_deflate.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/permessage_deflate.cpp.o.d"
  "/work/main/lib/session.cpp" "lib/CMakeFiles/wscore.dir/session.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/session.cpp.o.d"
  "/work/main/lib/utf8.cpp" "lib/CMakeFiles/wscore.dir/utf8.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/utf8.cpp.o.d"
  "/work/main/lib/ws_url.cpp" "lib/CMakeFiles/wscore.dir/ws_url.cpp.o" "gcc" "lib/CMakeFiles/wscore.dir/ws_url.cpp.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
