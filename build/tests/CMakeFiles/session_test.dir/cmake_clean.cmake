file(REMOVE_RECURSE
  "CMakeFiles/session_test.dir/unit/session_test.cpp.o"
  "CMakeFiles/session_test.dir/unit/session_test.cpp.o.d"
  "session_test"
  "session_test.pdb"
  "session_test[1]_tests.cmake"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/session_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
