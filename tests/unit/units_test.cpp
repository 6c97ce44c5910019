// Tests for the shared unit parsers and printers (durations, rates, sizes).
#include "lib/units.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool {
namespace {

using std::chrono::nanoseconds;
using namespace std::chrono_literals;

nanoseconds duration_ok(const std::string& text) {
  nanoseconds out{};
  std::string error;
  EXPECT_TRUE(parse_duration(text, out, error)) << text << ": " << error;
  return out;
}

std::string duration_error(const std::string& text) {
  nanoseconds out{};
  std::string error;
  EXPECT_FALSE(parse_duration(text, out, error)) << text;
  return error;
}

TEST(ParseDuration, UnitsAndBareSeconds) {
  EXPECT_EQ(duration_ok("250ms"), 250ms);
  EXPECT_EQ(duration_ok("5s"), 5s);
  EXPECT_EQ(duration_ok("2m"), 120s);
  EXPECT_EQ(duration_ok("1h"), 3600s);
  EXPECT_EQ(duration_ok("15us"), 15us);
  EXPECT_EQ(duration_ok("7ns"), 7ns);
  EXPECT_EQ(duration_ok("30"), 30s);
  EXPECT_EQ(duration_ok("0"), 0s);
}

TEST(ParseDuration, Decimals) {
  EXPECT_EQ(duration_ok("1.5s"), 1500ms);
  EXPECT_EQ(duration_ok("0.25"), 250ms);
  EXPECT_EQ(duration_ok(".5m"), 30s);
  EXPECT_EQ(duration_ok("0.1ms"), 100us);
}

TEST(ParseDuration, RejectsJunkWithReasons) {
  EXPECT_NE(duration_error("").find("number"), std::string::npos);
  EXPECT_NE(duration_error("ms").find("number"), std::string::npos);
  EXPECT_NE(duration_error("-5s").find("number"), std::string::npos);
  EXPECT_NE(duration_error("5 s").find("unit"), std::string::npos);
  EXPECT_NE(duration_error("5sec").find("unit"), std::string::npos);
  EXPECT_NE(duration_error("5S").find("unit"), std::string::npos);
  EXPECT_NE(duration_error("1e3s").find("unit"), std::string::npos);
  EXPECT_NE(duration_error("5.s").find("decimal"), std::string::npos);
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_NE(duration_error("9223372037s").find("too long"), std::string::npos);
  EXPECT_NE(duration_error("99999999999999999999999h").find("too large"), std::string::npos);
  EXPECT_EQ(duration_ok("9223372036s"), 9223372036s);
}

TEST(ParseRate, UnitsAndBare) {
  double r = 0;
  std::string error;
  ASSERT_TRUE(parse_rate("2000/s", r, error)) << error;
  EXPECT_DOUBLE_EQ(r, 2000);
  ASSERT_TRUE(parse_rate("30/m", r, error)) << error;
  EXPECT_DOUBLE_EQ(r, 0.5);
  ASSERT_TRUE(parse_rate("10/h", r, error)) << error;
  EXPECT_DOUBLE_EQ(r, 10.0 / 3600);
  ASSERT_TRUE(parse_rate("250", r, error)) << error;
  EXPECT_DOUBLE_EQ(r, 250);
  ASSERT_TRUE(parse_rate("0.5/s", r, error)) << error;
  EXPECT_DOUBLE_EQ(r, 0.5);
}

TEST(ParseRate, RejectsJunk) {
  double r = 0;
  for (const char* bad : {"", "/s", "10/d", "10/", "10x/s", "ten/s", "-1/s", "1/s/s"}) {
    std::string error;
    EXPECT_FALSE(parse_rate(bad, r, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(ParseSize, UnitsAndBare) {
  std::uint64_t b = 0;
  std::string error;
  const std::pair<const char*, std::uint64_t> cases[] = {
      {"512", 512},         {"512B", 512},         {"64KiB", 65536},
      {"16MiB", 16777216},  {"1GiB", 1073741824},  {"2TiB", 2ULL << 40},
      {"1KB", 1000},        {"3MB", 3000000},      {"1GB", 1000000000},
      {"64kib", 65536},     {"1.5KiB", 1536},      {"0.5MiB", 524288},
  };
  for (const auto& [text, bytes] : cases) {
    ASSERT_TRUE(parse_size(text, b, error)) << text << ": " << error;
    EXPECT_EQ(b, bytes) << text;
  }
}

TEST(ParseSize, RejectsJunkAndOverflow) {
  std::uint64_t b = 0;
  for (const char* bad : {"", "KiB", "1.5", "12XB", "1 KiB", "-1", "16777216TiB",
                          "18446744073709551616"}) {
    std::string error;
    EXPECT_FALSE(parse_size(bad, b, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string error;
  EXPECT_TRUE(parse_size("18446744073709551615", b, error)) << error;
  EXPECT_EQ(b, 18446744073709551615ULL);
}

TEST(FormatUnits, RoundTrip) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(3600s), "1h");
  EXPECT_EQ(format_duration(1001ns), "1001ns");
  for (const nanoseconds d : {nanoseconds(250ms), nanoseconds(7us), nanoseconds(123456789)}) {
    EXPECT_EQ(duration_ok(format_duration(d)), d);
  }
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(65536), "64KiB");
  EXPECT_EQ(format_size(16 * 1024 * 1024), "16MiB");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_rate(2000), "2000/s");
  EXPECT_EQ(format_rate(0.5), "30/m");
  EXPECT_EQ(format_rate(10.0 / 3600), "10/h");
}

}  // namespace
}  // namespace wstool
