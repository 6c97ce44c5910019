// lib/expectation: --expect and --expect-json parsing, JSON equality and in-order matching.
#include "lib/expectation.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace wstool {
namespace {

Expectation json_expectation(const std::string& text) {
  std::string error;
  auto e = parse_json_expectation(text, error);
  if (!e) throw std::runtime_error(text + ": " + error);
  return std::move(*e);
}

bool json_matches(const std::string& expectation, const std::string& message) {
  const nlohmann::json parsed = nlohmann::json::parse(message);
  return expectation_matches(json_expectation(expectation), message, &parsed);
}

TEST(Expectation, ValueIsJsonElseAString) {
  EXPECT_TRUE(json_matches("/data=q", R"({"data":"q"})"));
  EXPECT_TRUE(json_matches("/n=5", R"({"n":5})"));
  EXPECT_FALSE(json_matches("/n=5", R"({"n":"5"})"));
  EXPECT_TRUE(json_matches("/n=\"5\"", R"({"n":"5"})"));
  EXPECT_TRUE(json_matches("/n=5", R"({"n":5.0})"));
  EXPECT_TRUE(json_matches("/o={\"b\":2,\"a\":1}", R"({"o":{"a":1,"b":2}})"));
  EXPECT_TRUE(json_matches("/s=a=b", R"({"s":"a=b"})"));  // split at the first '='
  EXPECT_TRUE(json_matches("/e=", R"({"e":""})"));          // an empty value is the empty string
}

TEST(Expectation, PointerAloneTestsExistence) {
  EXPECT_TRUE(json_matches("/nil", R"({"nil":null})"));
  EXPECT_TRUE(json_matches("/a/1", R"({"a":[0,1]})"));
  EXPECT_FALSE(json_matches("/a/2", R"({"a":[0,1]})"));
  EXPECT_FALSE(json_matches("/missing", R"({"a":1})"));
  EXPECT_FALSE(json_matches("/missing=null", R"({"a":1})"));
  EXPECT_FALSE(json_matches("/a/x", R"({"a":[0,1]})"));
  EXPECT_FALSE(json_matches("/a/01", R"({"a":[0,1]})"));
  EXPECT_FALSE(json_matches("/a/-", R"({"a":[0,1]})"));
}

TEST(Expectation, BadPointersAndPatternsAreRefused) {
  std::string error;
  EXPECT_FALSE(parse_json_expectation("nope=1", error));
  EXPECT_NE(error.find("JSON pointer"), std::string::npos);
  EXPECT_FALSE(parse_regex_expectation("(", error));
}

TEST(Expectation, NotJsonNeverMeetsAJsonExpectation) {
  EXPECT_FALSE(expectation_matches(json_expectation("/a"), "plain text", nullptr));
}

TEST(ExpectationList, MetInOrderOneMessageEach) {
  std::string error;
  ExpectationList list;
  list.add(*parse_regex_expectation("b", error));
  list.add(json_expectation("/n=1"));
  list.add(*parse_regex_expectation("b", error));
  EXPECT_FALSE(list.on_text("a"));          // skipped
  EXPECT_FALSE(list.on_text(R"({"n":1})")); // the next one is "b", not this
  EXPECT_TRUE(list.on_text("abc"));
  EXPECT_EQ(list.next_unmet()->source, "/n=1");
  EXPECT_FALSE(list.on_text("b"));
  EXPECT_TRUE(list.on_text(R"({"n":1})"));
  EXPECT_FALSE(list.all_met());
  EXPECT_TRUE(list.on_text("b"));
  EXPECT_TRUE(list.all_met());
  EXPECT_EQ(list.next_unmet(), nullptr);
}

}  // namespace
}  // namespace wstool
