// Tests for depth-limited parsing of untrusted JSON.
#include "lib/json_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool {
namespace {

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(ParseUntrustedJson, ParsesValidDocument) {
  nlohmann::json j;
  const auto error = parse_untrusted_json(R"({"type":"echo","data":[1,{"a":"]]]"}]})", j);
  ASSERT_FALSE(error.has_value()) << error->message;
  EXPECT_EQ(j["type"], "echo");
  EXPECT_EQ(j["data"][1]["a"], "]]]");
}

TEST(ParseUntrustedJson, DepthAtLimitIsAccepted) {
  nlohmann::json j;
  EXPECT_FALSE(parse_untrusted_json(nested_arrays(kDefaultMaxJsonDepth), j).has_value());
}

TEST(ParseUntrustedJson, DepthBeyondLimitIsRefusedWithOffset) {
  nlohmann::json j;
  const auto error = parse_untrusted_json(nested_arrays(kDefaultMaxJsonDepth + 1), j);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, JsonError::Kind::kTooDeep);
  EXPECT_EQ(error->byte_offset, kDefaultMaxJsonDepth);
  EXPECT_NE(error->message.find("deeper than 64"), std::string::npos) << error->message;
}

TEST(ParseUntrustedJson, HugeDepthFailsFastWithoutCrashing) {
  nlohmann::json j;
  const auto error = parse_untrusted_json(std::string(1'000'000, '['), j);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, JsonError::Kind::kTooDeep);
}

TEST(ParseUntrustedJson, BracketsInsideStringsDoNotCount) {
  nlohmann::json j;
  const std::string deep_string = "\"" + std::string(100, '[') + "\\\"" + "\"";
  EXPECT_FALSE(parse_untrusted_json("[" + deep_string + "]", j, 2).has_value());
  EXPECT_TRUE(parse_untrusted_json("[[[1]]]", j, 2).has_value());
}

TEST(ParseUntrustedJson, SyntaxErrorHasByteOffset) {
  nlohmann::json j;
  const auto error = parse_untrusted_json(R"({"a": tru})", j);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, JsonError::Kind::kSyntax);
  EXPECT_EQ(error->byte_offset, 9U);
  EXPECT_NE(error->message.find("at byte 9"), std::string::npos) << error->message;
  EXPECT_EQ(error->message.find("json.exception"), std::string::npos) << error->message;

  const auto empty = parse_untrusted_json("", j);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->kind, JsonError::Kind::kSyntax);
}

// Regression: nlohmann throws out_of_range (not parse_error) for 1e400, which escaped the parser.
TEST(ParseUntrustedJson, ANulByteIsASyntaxErrorNotTheEndOfInput) {
  nlohmann::json j;
  const auto error = parse_untrusted_json(std::string("{\"a\":1}\0junk", 12), j);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, JsonError::Kind::kSyntax);
  EXPECT_EQ(error->byte_offset, 7U);
  EXPECT_NE(error->message.find("NUL"), std::string::npos) << error->message;
}

TEST(ParseUntrustedJson, NumberBeyondDoubleRangeIsASyntaxErrorNotAnException) {
  nlohmann::json j;
  const auto error = parse_untrusted_json(R"({"n":1e400})", j);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, JsonError::Kind::kSyntax);
  EXPECT_NE(error->message.find("out of range"), std::string::npos) << error->message;
}

}  // namespace
}  // namespace wstool
