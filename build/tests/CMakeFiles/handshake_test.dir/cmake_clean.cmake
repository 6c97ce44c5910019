file(REMOVE_RECURSE
  "CMakeFiles/handshake_test.dir/unit/handshake_test.cpp.o"
  "CMakeFiles/handshake_test.dir/unit/handshake_test.cpp.o.d"
  "handshake_test"
  "handshake_test.pdb"
  "handshake_test[1]_tests.cmake"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/handshake_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
