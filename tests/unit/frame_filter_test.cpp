// record's --filter language: what each term selects, how terms combine, and the errors users see.
#include "lib/frame_filter.h"

#include <gtest/gtest.h>

namespace wstool {
namespace {

FrameFilter parse_ok(std::string_view text) {
  std::string error;
  std::optional<FrameFilter> filter = FrameFilter::parse(text, error);
  EXPECT_TRUE(filter.has_value()) << text << ": " << error;
  return filter ? *filter : FrameFilter();
}

std::string parse_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(FrameFilter::parse(text, error).has_value()) << text;
  return error;
}

FilterSubject subject(std::uint64_t conn, bool from_client, std::uint8_t opcode, std::string_view payload) {
  return FilterSubject{conn, from_client, opcode, payload};
}

TEST(FrameFilter, TheEmptyFilterMatchesEverything) {
  EXPECT_TRUE(parse_ok("").matches(subject(1, true, 1, "x")));
  EXPECT_TRUE(parse_ok("   ").matches(subject(9, false, 9, "")));
}

TEST(FrameFilter, SelectsByConnectionDirectionAndOpcode) {
  const FrameFilter f = parse_ok("conn=3|5 dir=server opcode=text|ping");
  EXPECT_TRUE(f.matches(subject(3, false, 1, "")));
  EXPECT_TRUE(f.matches(subject(5, false, 9, "")));
  EXPECT_FALSE(f.matches(subject(4, false, 1, "")));  // other connection
  EXPECT_FALSE(f.matches(subject(3, true, 1, "")));   // other direction
  EXPECT_FALSE(f.matches(subject(3, false, 2, "")));  // binary
}

// The live view's open and close lines: shown for every connection a frame could match in.
TEST(FrameFilter, OnlyConnectionTermsDecideWhetherAConnectionMayMatch) {
  EXPECT_TRUE(parse_ok("").may_match_connection(7));
  EXPECT_TRUE(parse_ok("dir=server and /wor/i").may_match_connection(1));
  EXPECT_TRUE(parse_ok("opcode=text conn=2|3").may_match_connection(3));
  EXPECT_FALSE(parse_ok("opcode=text conn=2|3").may_match_connection(1));
  EXPECT_FALSE(parse_ok("not conn=1 /x/").may_match_connection(1));
  EXPECT_TRUE(parse_ok("not conn=1 /x/").may_match_connection(2));
}

TEST(FrameFilter, OpcodeGroupsAndNumbers) {
  const FrameFilter data = parse_ok("opcode=data");
  EXPECT_TRUE(data.matches(subject(1, true, 0, "")));
  EXPECT_TRUE(data.matches(subject(1, true, 2, "")));
  EXPECT_FALSE(data.matches(subject(1, true, 10, "")));
  EXPECT_TRUE(parse_ok("opcode=control").matches(subject(1, true, 8, "")));
  EXPECT_TRUE(parse_ok("opcode=3").matches(subject(1, true, 3, "")));
}

TEST(FrameFilter, RegexSearchesThePayloadWithSlashesEscaped) {
  const FrameFilter f = parse_ok("dir=client and /\"type\":\"a\\/b\"/");
  EXPECT_TRUE(f.matches(subject(1, true, 1, R"({"type":"a/b"})")));
  EXPECT_FALSE(f.matches(subject(1, true, 1, R"({"type":"ab"})")));
  EXPECT_TRUE(parse_ok("/hello world/i").matches(subject(1, true, 1, "say HELLO WORLD")));
}

TEST(FrameFilter, NotNegatesTheNextTerm) {
  const FrameFilter f = parse_ok("not opcode=ping and not opcode=pong");
  EXPECT_TRUE(f.matches(subject(1, true, 1, "")));
  EXPECT_FALSE(f.matches(subject(1, true, 9, "")));
  EXPECT_FALSE(f.matches(subject(1, true, 10, "")));
}

TEST(FrameFilter, ErrorsNameThePosition) {
  EXPECT_EQ(parse_error("conn=1 cnn=2"), "at 8: unknown field 'cnn' (conn, dir, opcode)");
  EXPECT_EQ(parse_error("dir=up"), "at 5: dir is client or server, not 'up'");
  EXPECT_EQ(parse_error("opcode=txt"),
            "at 8: unknown opcode 'txt' (text binary cont close ping pong data control, or 0-15)");
  EXPECT_EQ(parse_error("conn=x"), "at 6: connection ids are numbers: 'x'");
  EXPECT_EQ(parse_error("/abc"), "at 1: regular expression without its closing '/'");
  EXPECT_EQ(parse_error("dir=client not"), "at 12: 'not' with nothing after it");
  EXPECT_EQ(parse_error("hello"), "at 1: expected FIELD=VALUE or /REGEX/, got 'hello'");
  EXPECT_NE(parse_error("/(/").find("at 1: bad regular expression"), std::string::npos);
}

}  // namespace
}  // namespace wstool
