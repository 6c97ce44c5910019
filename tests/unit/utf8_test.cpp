// Unit tests for the incremental UTF-8 validator, checked against a plain reference decoder.
#include "lib/utf8.h"

#include "tests/unit/utf8_reference.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace wstool {
namespace {

using utf8_reference::reference;
using utf8_reference::RefResult;

RefResult reference(const std::string& s) {
  return utf8_reference::reference(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// Feeds the whole input at once; returns the validator's fail offset (size when none).
std::size_t fail_offset(const std::string& s, bool* complete = nullptr) {
  Utf8Validator v;
  std::size_t valid = 0;
  const bool ok = v.feed(bytes(s), s.size(), valid);
  EXPECT_EQ(ok, valid == s.size());
  EXPECT_EQ(ok, !v.failed());
  if (complete != nullptr) *complete = ok && v.at_boundary();
  return valid;
}

void expect_matches_reference(const std::string& s) {
  const RefResult ref = reference(s);
  bool complete = false;
  ASSERT_EQ(fail_offset(s, &complete), ref.fail_at) << testing::PrintToString(s);
  ASSERT_EQ(complete, ref.complete) << testing::PrintToString(s);
  ASSERT_EQ(is_valid_utf8(s.data(), s.size()), ref.complete);
}

TEST(Utf8, ValidText) {
  for (const std::string& s : std::vector<std::string>{"", "hello", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xEF\xBF\xBF",
                              "\xED\x9F\xBF", "\xEE\x80\x80", "\xF0\x90\x80\x80",
                              "\xF4\x8F\xBF\xBF", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",
                              "\xEF\xBB\xBF", "\xEF\xBF\xBE", std::string(1, '\0')}) {
    EXPECT_TRUE(is_valid_utf8(s.data(), s.size())) << testing::PrintToString(s);
    expect_matches_reference(s);
  }
}

TEST(Utf8, FailsAtTheFirstByteThatProvesInvalidity) {
  struct Case {
    std::string input;
    std::size_t offset;
  };
  const Case cases[] = {
      {"\xF4\x90\x80\x80", 1},    // > U+10FFFF
      {"\xED\xA0\x80", 1},        // U+D800 surrogate
      {"\xED\xBF\xBF", 1},        // U+DFFF surrogate
      {"\xE0\x80\x80", 1},        // overlong U+0000
      {"\xE0\x9F\xBF", 1},        // overlong U+07FF
      {"\xF0\x80\x80\x80", 1},    // overlong
      {"\xF0\x8F\xBF\xBF", 1},    // overlong U+FFFF
      {"\xC0\x80", 0},            // overlong NUL: C0 is never valid
      {"\xC1\xBF", 0},
      {"\xF5\x80\x80\x80", 0},    // would be > U+10FFFF
      {"\xF8\x88\x80\x80\x80", 0},  // 5-byte form
      {"\xFC\x84\x80\x80\x80\x80", 0},
      {"\xFE", 0},
      {"\xFF", 0},
      {"\x80", 0},                // lone continuation
      {"\xBF", 0},
      {"ab\x80", 2},
      {"\xC3\x28", 1},            // lead followed by ASCII
      {"\xE2\x82\x28", 2},
      {"\xF0\x9F\x98\x28", 3},
      {"\xC3\xA9\xA9", 2},        // extra continuation
      {"\xE1\x80\xC2\x80", 2},    // new lead inside a sequence
      {"abcdefghijklmnop\xEDqr", 17},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(fail_offset(c.input), c.offset) << testing::PrintToString(c.input);
    EXPECT_EQ(reference(c.input).fail_at, c.offset) << "reference disagrees with the table";
    EXPECT_FALSE(is_valid_utf8(c.input.data(), c.input.size()));
  }
}

TEST(Utf8, TruncatedSequencesAreValidPrefixesButNotComplete) {
  for (const std::string s : {"\xC3", "\xE0\xA0", "\xE2", "\xF0\x9F", "\xF0\x9F\x98", "\xF4\x8F\xBF",
                              "abc\xED\x9F"}) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(bytes(s), s.size())) << testing::PrintToString(s);
    EXPECT_FALSE(v.at_boundary());
    EXPECT_FALSE(is_valid_utf8(s.data(), s.size()));
  }
}

TEST(Utf8, KuhnStressCategories) {
  std::vector<std::string> cases;
  // Boundary code points of each length, first and last.
  for (const char* s : {"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xEF\xBF\xBF",
                        "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\xF4\x90\x80\x80"}) {
    cases.emplace_back(s);
  }
  // Lone continuation bytes, and all 64 in a row.
  std::string all_cont;
  for (int b = 0x80; b <= 0xBF; ++b) {
    cases.emplace_back(1, static_cast<char>(b));
    all_cont.push_back(static_cast<char>(b));
  }
  cases.push_back(all_cont);
  // Every lead byte followed by a space.
  for (int b = 0xC0; b <= 0xFF; ++b) cases.push_back(std::string(1, static_cast<char>(b)) + " ");
  // Sequences with the last continuation byte missing, alone and concatenated.
  std::string concatenated;
  for (const char* s : {"\xC0", "\xE0\x80", "\xF0\x80\x80", "\xDF", "\xEF\xBF", "\xF7\xBF\xBF"}) {
    cases.emplace_back(s);
    concatenated += s;
  }
  cases.push_back(concatenated);
  // Overlong forms of '/' and of the maximum overlongs.
  for (const char* s : {"\xC0\xAF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xC1\xBF", "\xE0\x9F\xBF",
                        "\xF0\x8F\xBF\xBF"}) {
    cases.emplace_back(s);
  }
  // Single and paired UTF-16 surrogates.
  for (const char* s : {"\xED\xA0\x80", "\xED\xAD\xBF", "\xED\xAE\x80", "\xED\xAF\xBF",
                        "\xED\xB0\x80", "\xED\xBE\x80", "\xED\xBF\xBF",
                        "\xED\xA0\x80\xED\xB0\x80", "\xED\xAF\xBF\xED\xBF\xBF"}) {
    cases.emplace_back(s);
  }
  // Noncharacters are valid UTF-8.
  cases.emplace_back("\xEF\xBF\xBE");
  cases.emplace_back("\xEF\xBF\xBF");
  for (const auto& s : cases) expect_matches_reference(s);
  for (const char* s : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80"}) {
    EXPECT_FALSE(is_valid_utf8(s, std::char_traits<char>::length(s)));
  }
}

// Every way to split `s` in two (and a few in three) must give the whole-buffer verdict, with
// the failure reported in the piece that holds the offending byte.
void expect_split_invariant(const std::string& s) {
  const RefResult whole = reference(s);
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    Utf8Validator v;
    std::size_t valid = 0;
    const bool first = v.feed(bytes(s), cut, valid);
    if (!first) {
      ASSERT_EQ(valid, whole.fail_at) << testing::PrintToString(s) << " cut " << cut;
      continue;
    }
    const bool second = v.feed(bytes(s) + cut, s.size() - cut, valid);
    if (!second) {
      ASSERT_EQ(cut + valid, whole.fail_at) << testing::PrintToString(s) << " cut " << cut;
    } else {
      ASSERT_EQ(whole.fail_at, s.size());
      ASSERT_EQ(v.at_boundary(), whole.complete);
    }
  }
  // One byte at a time.
  Utf8Validator v;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    if (!v.feed(bytes(s) + i, 1)) break;
  }
  ASSERT_EQ(i, whole.fail_at) << testing::PrintToString(s);
}

TEST(Utf8, SplitFeedingGivesTheWholeBufferVerdict) {
  const std::string cases[] = {
      "hello, world",
      "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 and more ascii text past a word",
      "\xF0\x9F\x98\x80\xF0\x9F\x98\x81\xF4\x8F\xBF\xBF",
      "abcdefghijklmnopqrstuvwxyz\xF4\x90\x80\x80",
      "abcdefgh\xED\xA0\x80ijklmnop",
      "\xE0\x80\x80",
      "\xC0\x80",
      "0123456789abcdef0123456789abcdef\xC3",
      "0123456789abcdef0123456789abcdef\xC3\xA9",
      "\xE2\x82\xAC\xE2\x82",
  };
  for (const auto& s : cases) expect_split_invariant(s);
}

TEST(Utf8, AsciiFastPathReportsTheExactOffset) {
  for (std::size_t len = 0; len < 70; ++len) {
    for (std::size_t start = 0; start < 8; ++start) {
      std::string s(start + len + 5, 'a');
      s[start + len] = '\xFF';
      Utf8Validator v;
      std::size_t valid = 0;
      EXPECT_FALSE(v.feed(bytes(s) + start, s.size() - start, valid));
      EXPECT_EQ(valid, len);
    }
  }
}

TEST(Utf8, FailureIsStickyUntilReset) {
  Utf8Validator v;
  const std::string bad = "\xFF";
  const std::string good = "ok";
  EXPECT_FALSE(v.feed(bytes(bad), bad.size()));
  std::size_t valid = 99;
  EXPECT_FALSE(v.feed(bytes(good), good.size(), valid));
  EXPECT_EQ(valid, 0u);
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.at_boundary());
  v.reset();
  EXPECT_TRUE(v.feed(bytes(good), good.size()));
  EXPECT_TRUE(v.at_boundary());
  // An empty piece changes nothing.
  EXPECT_TRUE(v.feed(nullptr, 0));
}

TEST(Utf8, EveryOneTwoAndThreeByteSequenceMatchesTheReference) {
  std::uint8_t buf[3];
  for (unsigned a = 0; a < 256; ++a) {
    buf[0] = static_cast<std::uint8_t>(a);
    for (std::size_t len = 1; len <= 3; ++len) {
      const unsigned rest = len == 1 ? 1 : (len == 2 ? 256 : 65536);
      for (unsigned r = 0; r < rest; ++r) {
        if (len >= 2) buf[1] = static_cast<std::uint8_t>(r);
        if (len == 3) buf[2] = static_cast<std::uint8_t>(r >> 8);
        const RefResult ref = reference(buf, len);
        Utf8Validator v;
        std::size_t valid = 0;
        const bool ok = v.feed(buf, len, valid);
        ASSERT_EQ(valid, ref.fail_at) << a << " " << r << " len " << len;
        ASSERT_EQ(ok && v.at_boundary(), ref.complete) << a << " " << r << " len " << len;
      }
    }
  }
}

TEST(Utf8, FourByteSequencesMatchTheReference) {
  // Every first and second byte, with the interesting values of the last two.
  const std::uint8_t tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF4, 0xFF};
  std::uint8_t buf[4];
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      for (std::uint8_t c : tails) {
        for (std::uint8_t d : tails) {
          buf[0] = static_cast<std::uint8_t>(a);
          buf[1] = static_cast<std::uint8_t>(b);
          buf[2] = c;
          buf[3] = d;
          const RefResult ref = reference(buf, 4);
          Utf8Validator v;
          std::size_t valid = 0;
          const bool ok = v.feed(buf, 4, valid);
          ASSERT_EQ(valid, ref.fail_at);
          ASSERT_EQ(ok && v.at_boundary(), ref.complete);
        }
      }
    }
  }
  // And random 4-byte sequences led by F0..F4.
  std::mt19937 rng(1);
  for (int i = 0; i < 1000000; ++i) {
    const auto r = static_cast<std::uint32_t>(rng());
    buf[0] = static_cast<std::uint8_t>(0xF0 + (r % 5));
    buf[1] = static_cast<std::uint8_t>(0x80 | ((r >> 8) & 0x3F));
    buf[2] = static_cast<std::uint8_t>(r >> 16);
    buf[3] = static_cast<std::uint8_t>(r >> 24);
    const RefResult ref = reference(buf, 4);
    Utf8Validator v;
    std::size_t valid = 0;
    const bool ok = v.feed(buf, 4, valid);
    ASSERT_EQ(valid, ref.fail_at);
    ASSERT_EQ(ok && v.at_boundary(), ref.complete);
  }
}

TEST(Utf8, RandomMixedTextMatchesTheReferenceWholeAndSplit) {
  std::mt19937 rng(3);
  const std::string pieces[] = {"a", "bcdefghij", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                "\xED\x9F\xBF", "\xEE\x80\x80", "\xF4\x8F\xBF\xBF"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 20);
    for (int j = 0; j < n; ++j) s += pieces[rng() % std::size(pieces)];
    if (rng() % 2 == 0 && !s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
    expect_matches_reference(s);
    expect_split_invariant(s);
  }
}

}  // namespace
}  // namespace wstool
