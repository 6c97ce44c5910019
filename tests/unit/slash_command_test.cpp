// tools/slash_command: the /commands connect reads from a terminal (or with --slash).
#include "tools/slash_command.h"

#include <gtest/gtest.h>

namespace wstool::tools {
namespace {

SlashCommand parse(const std::string& line) {
  std::string error;
  auto c = parse_slash_command(line, error);
  EXPECT_TRUE(c) << line << ": " << error;
  return c ? *c : SlashCommand{};
}

TEST(SlashCommand, ControlFrames) {
  EXPECT_EQ(parse("/ping").kind, SlashCommand::Kind::kPing);
  EXPECT_EQ(parse("/ping a b").payload, "a b");
  EXPECT_EQ(parse("/pong x").kind, SlashCommand::Kind::kPong);
  const SlashCommand close = parse("/close 4001 going home");
  EXPECT_EQ(close.kind, SlashCommand::Kind::kClose);
  EXPECT_EQ(close.close_code, 4001);
  EXPECT_EQ(close.payload, "going home");
  EXPECT_EQ(parse("/close").close_code, 1000);
}

TEST(SlashCommand, BinaryAndEscapedSlash) {
  const SlashCommand b = parse("/binary 00 ff:10");
  EXPECT_EQ(b.opcode, 0x2);
  EXPECT_EQ(b.payload, std::string("\x00\xff\x10", 3));
  const SlashCommand text = parse("//etc");
  EXPECT_EQ(text.kind, SlashCommand::Kind::kSend);
  EXPECT_EQ(text.payload, "/etc");
}

TEST(SlashCommand, HandBuiltFrames) {
  const SlashCommand f = parse("/frame fin=0 rsv=4 op=binary  two words");
  EXPECT_EQ(f.kind, SlashCommand::Kind::kFrame);
  EXPECT_FALSE(f.fin);
  EXPECT_EQ(f.rsv, 4);
  EXPECT_EQ(f.opcode, 0x2);
  EXPECT_EQ(f.payload, "two words");
  EXPECT_EQ(parse("/frame op=11").opcode, 11);  // a reserved opcode, on purpose
  EXPECT_EQ(parse("/frame op=0xb").opcode, 11);
}

TEST(SlashCommand, MistakesAreExplained) {
  std::string error;
  EXPECT_FALSE(parse_slash_command("/frobnicate", error));
  EXPECT_NE(error.find("unknown command /frobnicate"), std::string::npos);
  EXPECT_FALSE(parse_slash_command("/binary 0g", error));
  EXPECT_FALSE(parse_slash_command("/close abc", error));
  EXPECT_FALSE(parse_slash_command("/frame rsv=9 op=text", error));
  EXPECT_FALSE(parse_slash_command("/frame hello", error));
  EXPECT_FALSE(parse_slash_command("/file /nonexistent/x", error));
  EXPECT_FALSE(parse_slash_command("/ping " + std::string(126, 'x'), error));
}

}  // namespace
}  // namespace wstool::tools
