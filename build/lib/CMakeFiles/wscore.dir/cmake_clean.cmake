file(REMOVE_RECURSE
  "CMakeFiles/wscore.dir/engine.cpp.o"
  "CMakeFiles/wscore.dir/engine.cpp.o.d"
  "CMakeFiles/wscore.dir/error.cpp.o"
  "CMakeFiles/wscore.dir/error.cpp.o.d"
  "CMakeFiles/wscore.dir/frame.cpp.o"
  "CMakeFiles/wscore.dir/frame.cpp.o.d"
  "CMakeFiles/wscore.dir/handshake.cpp.o"
  "CMakeFiles/wscore.dir/handshake.cpp.o.d"
  "CMakeFiles/wscore.dir/permessage_deflate.cpp.o"
  "CMakeFiles/wscore.dir/permessage_deflate.cpp.o.d"
  "CMakeFiles/wscore.dir/session.cpp.o"
  "CMakeFiles/wscore.dir/session.cpp.o.d"
  "CMakeFiles/wscore.dir/utf8.cpp.o"
  "CMakeFiles/wscore.dir/utf8.cpp.o.d"
  "CMakeFiles/wscore.dir/ws_url.cpp.o"
  "CMakeFiles/wscore.dir/ws_url.cpp.o.d"
  "libwscore.a"
  "libwscore.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/wscore.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
