file(REMOVE_RECURSE
  "CMakeFiles/ws_url_test.dir/unit/ws_url_test.cpp.o"
  "CMakeFiles/ws_url_test.dir/unit/ws_url_test.cpp.o.d"
  "ws_url_test"
  "ws_url_test.pdb"
  "ws_url_test[1]_tests.cmake"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/ws_url_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
