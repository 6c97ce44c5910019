
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/tools/driver.cpp" "tools/CMakeFiles/wstool_tools.dir/driver.cpp.o" "gcc" "tools/CMakeFiles/wstool_tools.dir/driver.cpp.o.d"
  "/work/main/tools/echo.cpp" "tools/CMakeFiles/wstool_tools.dir/echo.cpp.o" "gcc" "tools/CMakeFiles/wstool_tools.dir/echo.cpp.o.d"
  "/work/main/tools/shutdown_signals.cpp" "tools/CMakeFiles/wstool_tools.dir/shutdown_signals.cpp.o" "gcc" "tools/CMakeFiles/wstool_tools.dir/shutdown_signals.cpp.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/lib/CMakeFiles/wscore.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
