// Tests for the PCRE2 wrapper used for user-supplied regular expressions.
#include "lib/user_regex.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool {
namespace {

UserRegex compile_ok(const std::string& pattern, const UserRegexOptions& options = {}) {
  std::string error;
  auto re = UserRegex::compile(pattern, error, options);
  EXPECT_TRUE(re.has_value()) << pattern << ": " << error;
  return std::move(*re);
}

TEST(UserRegex, SearchesNotFullMatch) {
  const UserRegex re = compile_ok("\"type\":\"pong\"");
  EXPECT_TRUE(re.matches(R"({"id":1,"type":"pong","t":5})"));
  EXPECT_FALSE(re.matches(R"({"type":"ping"})"));
  EXPECT_EQ(re.pattern(), "\"type\":\"pong\"");
}

TEST(UserRegex, CompileErrorHasMessageAndOffset) {
  std::string error;
  EXPECT_FALSE(UserRegex::compile("ab(c", error).has_value());
  EXPECT_NE(error.find("parenthesis"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 4"), std::string::npos) << error;
}

TEST(UserRegex, UtfMode) {
  const UserRegex re = compile_ok("^.$");
  EXPECT_TRUE(re.matches("é"));  // one code point, two bytes
  const UserRegex caseless = compile_ok("ÉTÉ", {true});
  EXPECT_TRUE(caseless.matches("un été"));
}

TEST(UserRegex, InvalidUtf8SubjectIsNotAnError) {
  const UserRegex re = compile_ok("abc");
  std::string error;
  EXPECT_EQ(re.search(std::string("\xff\xfe" "abc", 5), &error), RegexResult::kMatch) << error;
  EXPECT_EQ(re.search(std::string("\xff\xfe", 2), &error), RegexResult::kNoMatch) << error;
}

TEST(UserRegex, PathologicalPatternHitsLimitCleanly) {
  const UserRegex re = compile_ok("(a+)+$");
  const std::string subject = std::string(100'000, 'a') + "b";
  std::string error;
  EXPECT_EQ(re.search(subject, &error), RegexResult::kError);
  EXPECT_NE(error.find("limit"), std::string::npos) << error;
}

TEST(UserRegex, CopiesShareCompiledPattern) {
  const UserRegex a = compile_ok("x+");
  const UserRegex b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(b.matches("yxxy"));
}

}  // namespace
}  // namespace wstool
