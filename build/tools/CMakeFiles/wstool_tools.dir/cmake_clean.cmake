file(REMOVE_RECURSE
  "CMakeFiles/wstool_tools.dir/driver.cpp.o"
  "CMakeFiles/wstool_tools.dir/driver.cpp.o.d"
  "CMakeFiles/wstool_tools.dir/echo.cpp.o"
  "CMakeFiles/wstool_tools.dir/echo.cpp.o.d"
  "CMakeFiles/wstool_tools.dir/shutdown_signals.cpp.o"
  "CMakeFiles/wstool_tools.dir/shutdown_signals.cpp.o.d"
  "libwstool_tools.a"
  "libwstool_tools.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/wstool_tools.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
