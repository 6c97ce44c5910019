// Tests for the strict JSON scanner (json_scan.h) and the direct JSON writer (json_write.h):
// the scanner never accepts what nlohmann refuses, refuses what is doubtful, and reports the
// top-level members; the writer writes strings and values byte for byte as nlohmann's dump().
#include "lib/json_scan.h"
#include "lib/json_write.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "lib/json_limits.h"

namespace wstool {
namespace {

using nlohmann::json;
using json_scan::Kind;

constexpr std::size_t kDepth = 32;

bool accepted(std::string_view text, std::size_t max_depth = kDepth) {
  Kind top = Kind::kNull;
  return json_scan::scan(text, max_depth, top);
}

bool nlohmann_accepts(std::string_view text) { return json::accept(text.begin(), text.end()); }

struct Collect final : json_scan::MemberSink {
  std::vector<json_scan::Member> members;
  void member(const json_scan::Member& m) override { members.push_back(m); }
};

TEST(JsonScan, AcceptsValidJsonOfEveryKind) {
  const std::vector<std::pair<std::string, Kind>> valid = {
      {"{}", Kind::kObject},
      {" \t\r\n{ } \n", Kind::kObject},
      {"[]", Kind::kArray},
      {"[1,[2,[3]],{\"a\":[]}]", Kind::kArray},
      {"\"\"", Kind::kString},
      {"\"h\\u00e9llo \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"", Kind::kString},
      {"\"\\u0000\"", Kind::kString},
      {"\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \x7F\"", Kind::kString},
      {"0", Kind::kNumber},
      {"-0", Kind::kNumber},
      {"-12.5e+3", Kind::kNumber},
      {"1E-400", Kind::kNumber},
      {"18446744073709551616", Kind::kNumber},
      {"9.99e307", Kind::kNumber},
      {"true", Kind::kTrue},
      {"false", Kind::kFalse},
      {"null", Kind::kNull},
      {"{\"a\":{\"b\":[true,false,null]},\"a\":1}", Kind::kObject},
  };
  for (const auto& [text, kind] : valid) {
    ASSERT_TRUE(nlohmann_accepts(text)) << text;  // the table itself is right
    Kind top = Kind::kNull;
    EXPECT_TRUE(json_scan::scan(text, kDepth, top)) << text;
    EXPECT_EQ(top, kind) << text;
  }
}

TEST(JsonScan, RefusesEverythingNlohmannRefuses) {
  const std::vector<std::string> invalid = {
      "", " ", "{", "}", "[", "[1,]", "{\"a\":1,}", "{,}", "[,1]", "{\"a\"}", "{\"a\" 1}", "{a:1}",
      "{'a':1}", "{\"a\":1 \"b\":2}", "[1 2]", "{} {}", "1 2", "// c\n{}", "{/*c*/}", "01", "-", "+1",
      "1.", ".5", "1e", "1e+", "-a", "0x10", "NaN", "Infinity", "tru", "nul", "falsey", "True",
      "\"abc", "\"a\nb\"", "\"a\tb\"", "\"\x01\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\'\"",
      "\"\\ud800\"", "\"\\ud800x\"", "\"\\ud800\\n\"", "\"\\ud800\\u0041\"", "\"\\udc00\"",
      "\"\\udfff\\ud800\"", "\"\xC3\"", "\"\xC0\x80\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"",
      "\"\xFF\"", "\"\x80\"", "\"\xE2\x82\"x", "\xC3\xA9", std::string("[1,\0]", 5),
      "{\"a\":1}}", "[1]]", "{\"a\":[1}", "[{]}", "\"a\"\"b\"",
  };
  for (const std::string& text : invalid) {
    ASSERT_FALSE(nlohmann_accepts(text)) << text;
    EXPECT_FALSE(accepted(text)) << text;
  }
}

TEST(JsonScan, RefusesWhatItCannotBeSureOf) {
  // Numbers that may overflow a double (nlohmann refuses those that do), a byte order mark
  // (nlohmann skips it), a NUL after the value: the caller's full parser decides.
  EXPECT_FALSE(accepted("1e400"));
  EXPECT_FALSE(accepted("1e308"));  // 1e308 is finite, 9e308 is not: too close to call
  EXPECT_FALSE(accepted("1" + std::string(400, '0')));
  EXPECT_FALSE(accepted("[0.5E309]"));
  EXPECT_FALSE(accepted("\xEF\xBB\xBF{}"));
  // nlohmann takes a NUL byte for the end of the input and ignores whatever follows it.
  EXPECT_FALSE(accepted(std::string("{\"a\":1}\0junk", 12)));
  EXPECT_FALSE(accepted(std::string("[1]\0", 4)));
  EXPECT_TRUE(accepted("1" + std::string(300, '0') + ".5"));
  EXPECT_TRUE(accepted("1e-99999999999999999999"));
}

TEST(JsonScan, DepthIsCountedAsJsonLimitsCountsIt) {
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(accepted(nested(kDepth), kDepth));
  EXPECT_FALSE(accepted(nested(kDepth + 1), kDepth));
  json out;
  EXPECT_FALSE(parse_untrusted_json(nested(kDepth), out, kDepth).has_value());
  EXPECT_TRUE(parse_untrusted_json(nested(kDepth + 1), out, kDepth).has_value());
  EXPECT_FALSE(accepted("{}", 0));
  EXPECT_TRUE(accepted("1", 0));
  // Deeper than the scanner follows at all: refused, never a crash.
  EXPECT_FALSE(accepted(nested(json_scan::kMaxScanDepth + 1), json_scan::kMaxScanDepth * 2));
  EXPECT_TRUE(accepted(nested(json_scan::kMaxScanDepth), json_scan::kMaxScanDepth));
}

TEST(JsonScan, ReportsTheTopLevelMembersAsSpans) {
  Collect sink;
  Kind top = Kind::kNull;
  const std::string text =
      R"( { "type" : "echo", "data":{"x":[1,{}]}, "n":-1.5e3,"t":true,"f":false,"z":null, "e":"a\"b", "k\u0061":[],"o":{} } )";
  ASSERT_TRUE(json_scan::scan(text, kDepth, top, &sink));
  EXPECT_EQ(top, Kind::kObject);
  ASSERT_EQ(sink.members.size(), 9u);
  const auto& m = sink.members;
  EXPECT_EQ(m[0].key, "type");
  EXPECT_EQ(m[0].value, "\"echo\"");
  EXPECT_EQ(m[0].kind, Kind::kString);
  EXPECT_FALSE(m[0].value_escaped);
  EXPECT_EQ(m[1].key, "data");
  EXPECT_EQ(m[1].value, R"({"x":[1,{}]})");
  EXPECT_EQ(m[1].kind, Kind::kObject);
  EXPECT_EQ(m[2].value, "-1.5e3");
  EXPECT_EQ(m[2].kind, Kind::kNumber);
  EXPECT_EQ(m[3].kind, Kind::kTrue);
  EXPECT_EQ(m[4].kind, Kind::kFalse);
  EXPECT_EQ(m[5].kind, Kind::kNull);
  EXPECT_EQ(m[6].value, R"("a\"b")");
  EXPECT_TRUE(m[6].value_escaped);
  EXPECT_EQ(m[7].key, "k\\u0061");
  EXPECT_TRUE(m[7].key_escaped);
  EXPECT_EQ(m[7].value, "[]");
  EXPECT_EQ(m[7].kind, Kind::kArray);
  EXPECT_EQ(m[8].value, "{}");
}

TEST(JsonScan, ReportsNoMembersForOtherValues) {
  Collect sink;
  Kind top = Kind::kNull;
  ASSERT_TRUE(json_scan::scan(R"([{"a":1},{"b":2}])", kDepth, top, &sink));
  EXPECT_EQ(top, Kind::kArray);
  EXPECT_TRUE(sink.members.empty());
}

TEST(JsonScan, PlainRunStopsAtTheFirstByteThatNeedsCare) {
  // Every byte value at every position of a word and across words: the run ends exactly there.
  for (int c = 0; c < 256; ++c) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\';
    for (std::size_t at = 0; at < 19; ++at) {
      std::string text(24, 'a');
      text[at] = static_cast<char>(byte);
      EXPECT_EQ(json_scan::plain_run(text), plain ? text.size() : at) << c << " at " << at;
    }
  }
  EXPECT_EQ(json_scan::plain_run(""), 0u);
}

TEST(JsonScan, PlainRunAgreesWithAByteLoopAtEveryLengthAndMix) {
  // Short texts (the tail past the last whole word), several special bytes in one word, and
  // bytes next to the ones that borrow in the word arithmetic (0x00, 0x1F/0x20, 0x21, 0x7F/0x80).
  const std::string bytes = std::string("\x00\x01\x1f\x20\x21\"\\\x7f\x80\xff", 10) + "aZ~";
  const auto reference = [](const std::string& text) {
    std::size_t i = 0;
    while (i < text.size()) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++i;
    }
    return i;
  };
  std::mt19937 random(20261126);
  for (std::size_t length = 0; length <= 40; ++length) {
    for (int round = 0; round < 200; ++round) {
      std::string text(length, 'a');
      // Mostly plain, so runs of every length show up.
      for (char& c : text) {
        if (random() % 4 == 0) c = bytes[random() % bytes.size()];
      }
      // Read from inside a bigger buffer: no byte past the view may count.
      const std::string padded = text + "\"";
      EXPECT_EQ(json_scan::plain_run(std::string_view(padded).substr(0, length)), reference(text));
      const std::string plain_tail = text + "bbbbbbbb";
      EXPECT_EQ(json_scan::plain_run(std::string_view(plain_tail).substr(0, length)), reference(text));
    }
  }
}

// --- writer --------------------------------------------------------------------------------

std::string dumped(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string written_string(std::string_view text) {
  std::string out;
  json_write::append_string(out, text);
  return out;
}

TEST(JsonWrite, StringsAreWrittenAsNlohmannDumpsThem) {
  std::vector<std::string> texts = {
      "", "plain", "quote \" backslash \\ slash /", "\b\f\n\r\t", std::string("nul \0 end", 9), "\x1F\x7F",
      "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", "\xEF\xBB\xBF" "bom",
      // Invalid UTF-8: each maximal invalid subpart becomes one U+FFFD.
      "\x80", "\xBF\x80", "\xC3", "\xC3(", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF", "\xE2\x82",
      "\xE2\x82(", "\xED\xA0\x80", "\xED\x9F\xBF", "\xF0\x8F\xBF\xBF", "\xF0\x9F\x98", "\xF0\x9F\x98(",
      "\xF4\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\xF5\x80", "\xFF\xFE", "a\xE1\x80\xC2\x80z", "\xF0\x9F\xE2\x82\xAC",
  };
  for (int c = 0; c < 256; ++c) texts.push_back(std::string(1, static_cast<char>(c)) + "x");
  for (const std::string& text : texts) {
    EXPECT_EQ(written_string(text), dumped(json(text))) << json(text).dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

TEST(JsonWrite, ValuesAreWrittenAsNlohmannDumpsThem) {
  const std::vector<json> values = {
      nullptr, true, false, 0, -1, 42u, json(std::int64_t{-9223372036854775807} - 1),
      json(std::uint64_t{18446744073709551615u}), 1.5, -0.0, 1e300, "s\n", json::array({1, "a", nullptr}),
      json{{"b", 1}, {"a", {{"c", "\x01"}}}}, json::object(), json::array(),
  };
  for (const json& value : values) {
    std::string out = "prefix";
    json_write::append_value(out, value);
    EXPECT_EQ(out, "prefix" + dumped(value)) << dumped(value);
  }
}

}  // namespace
}  // namespace wstool
