// tools/message_format: how connect shows binary, JSON and untrusted text.
#include "tools/message_format.h"

#include <gtest/gtest.h>

namespace wstool::tools {
namespace {

TEST(MessageFormat, Base64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode(std::string("\x00\xff", 2)), "AP8=");
}

TEST(MessageFormat, HexDumpShowsOffsetsBytesAndAscii) {
  EXPECT_EQ(hex_dump("ABCDEFGHIJKLMNOPQ"),
            "00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|\n"
            "00000010  51                                                |Q|\n");
  EXPECT_EQ(hex_dump(""), "");
}

TEST(MessageFormat, PrettyJsonOnlyForObjectsAndArrays) {
  EXPECT_EQ(pretty_json(R"({"a":[1,"x"],"b":{}})", false), "{\n  \"a\": [\n    1,\n    \"x\"\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(pretty_json("42", false), "");
  EXPECT_EQ(pretty_json("not json", false), "");
  EXPECT_NE(pretty_json(R"({"a":1})", true).find("\x1b["), std::string::npos);
}

TEST(MessageFormat, TerminalSafeEscapesControlCharacters) {
  EXPECT_EQ(terminal_safe("a\x1b[2Jb\tc\n"), "a\\x1b[2Jb\tc\n");
}

TEST(MessageFormat, TruncationNeverSplitsACharacter) {
  EXPECT_EQ(truncate_for_display("héllo", 0), "héllo");
  EXPECT_EQ(truncate_for_display("héllo", 2), "h… (6 bytes)");  // é is 2 bytes: not cut in half
  EXPECT_EQ(truncate_for_display("abc", 3), "abc");
}

}  // namespace
}  // namespace wstool::tools
