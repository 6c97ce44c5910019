// Units: a decimal number followed by a unit suffix, parsed exactly (integer arithmetic for the
// whole part, so 9223372036s is refused rather than silently wrapped).
#include "lib/units.h"
#include "lib/ascii.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace wstool {
namespace {

struct Number {
  std::uint64_t whole = 0;
  long double fraction = 0;  // in [0, 1)
  bool has_fraction = false;
};

// Splits `text` into a decimal number and its suffix. Refuses signs, exponents and empty numbers.
bool split_number(std::string_view text, Number& number, std::string_view& suffix,
                  std::string& error) {
  std::size_t i = 0;
  bool any_digit = false;
  constexpr std::uint64_t kMaxBeforeDigit = std::numeric_limits<std::uint64_t>::max() / 10;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (number.whole > kMaxBeforeDigit ||
        number.whole * 10 > std::numeric_limits<std::uint64_t>::max() - digit) {
      error = "'" + std::string(text) + "' is too large";
      return false;
    }
    number.whole = number.whole * 10 + digit;
    any_digit = true;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    long double scale = 0.1L;
    const std::size_t first = i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      number.fraction += static_cast<long double>(text[i] - '0') * scale;
      scale /= 10;
    }
    if (i == first) {
      error = "'" + std::string(text) + "' has no digits after the decimal point";
      return false;
    }
    number.has_fraction = true;
    any_digit = true;
  }
  if (!any_digit) {
    error = "'" + std::string(text) + "' does not start with a number";
    return false;
  }
  suffix = text.substr(i);
  return true;
}

// whole * unit + fraction * unit, or false when it exceeds `max`.
bool scale(const Number& n, std::uint64_t unit, std::uint64_t max, std::uint64_t& out) {
  if (unit != 0 && n.whole > max / unit) return false;
  const std::uint64_t whole = n.whole * unit;
  const long double part = std::round(n.fraction * static_cast<long double>(unit));
  const auto extra = static_cast<std::uint64_t>(part);
  if (whole > max - extra) return false;
  out = whole + extra;
  return true;
}

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

constexpr std::uint64_t kNsPerUs = 1000;
constexpr std::uint64_t kNsPerMs = 1000 * kNsPerUs;
constexpr std::uint64_t kNsPerS = 1000 * kNsPerMs;
constexpr std::uint64_t kNsPerM = 60 * kNsPerS;
constexpr std::uint64_t kNsPerH = 60 * kNsPerM;
// Largest first, for formatting.
constexpr std::array<Unit, 6> kDurationUnits = {{
    {"h", kNsPerH}, {"m", kNsPerM}, {"s", kNsPerS}, {"ms", kNsPerMs}, {"us", kNsPerUs}, {"ns", 1},
}};

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kKB = 1000;
constexpr std::array<Unit, 9> kSizeUnits = {{
    {"TiB", kKiB * kKiB * kKiB * kKiB},
    {"GiB", kKiB * kKiB * kKiB},
    {"MiB", kKiB * kKiB},
    {"KiB", kKiB},
    {"TB", kKB * kKB * kKB * kKB},
    {"GB", kKB * kKB * kKB},
    {"MB", kKB * kKB},
    {"KB", kKB},
    {"B", 1},
}};

constexpr double kSecondsPerMinute = 60;
constexpr double kSecondsPerHour = 3600;

}  // namespace

bool parse_duration(std::string_view text, std::chrono::nanoseconds& out, std::string& error) {
  Number n;
  std::string_view suffix;
  if (!split_number(text, n, suffix, error)) return false;
  std::uint64_t unit = 0;
  if (suffix.empty()) {
    unit = kNsPerS;
  } else {
    for (const auto& u : kDurationUnits) {
      if (suffix == u.suffix) unit = u.factor;
    }
  }
  if (unit == 0) {
    error = "unknown duration unit '" + std::string(suffix) + "' (use ms, s, m or h)";
    return false;
  }
  std::uint64_t ns = 0;
  constexpr auto kMaxNs = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!scale(n, unit, kMaxNs, ns)) {
    error = "duration '" + std::string(text) + "' is too long";
    return false;
  }
  out = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  return true;
}

bool parse_rate(std::string_view text, double& per_second, std::string& error) {
  const std::size_t slash = text.find('/');
  const std::string_view number_text = text.substr(0, slash);
  double period_seconds = 1;
  if (slash != std::string_view::npos) {
    const std::string_view per = text.substr(slash + 1);
    if (per == "s") {
      period_seconds = 1;
    } else if (per == "m") {
      period_seconds = kSecondsPerMinute;
    } else if (per == "h") {
      period_seconds = kSecondsPerHour;
    } else {
      error = "unknown rate unit '/" + std::string(per) + "' (use /s, /m or /h)";
      return false;
    }
  }
  Number n;
  std::string_view suffix;
  if (!split_number(number_text, n, suffix, error)) return false;
  if (!suffix.empty()) {
    error = "'" + std::string(text) + "' is not a rate (expected e.g. 2000/s, 30/m)";
    return false;
  }
  per_second = static_cast<double>((static_cast<long double>(n.whole) + n.fraction) /
                                   static_cast<long double>(period_seconds));
  return true;
}

bool parse_size(std::string_view text, std::uint64_t& bytes, std::string& error) {
  Number n;
  std::string_view suffix;
  if (!split_number(text, n, suffix, error)) return false;
  std::uint64_t unit = 0;
  if (suffix.empty()) {
    if (n.has_fraction) {
      error = "'" + std::string(text) + "' is not a whole number of bytes";
      return false;
    }
    unit = 1;
  } else {
    for (const auto& u : kSizeUnits) {
      if (ascii_iequals(suffix, u.suffix)) unit = u.factor;
    }
  }
  if (unit == 0) {
    error = "unknown size unit '" + std::string(suffix) + "' (use B, KiB, MiB, GiB, KB, MB, GB)";
    return false;
  }
  if (!scale(n, unit, std::numeric_limits<std::uint64_t>::max(), bytes)) {
    error = "size '" + std::string(text) + "' is too large";
    return false;
  }
  return true;
}

std::string format_duration(std::chrono::nanoseconds value) {
  const std::int64_t count = value.count();
  if (count == 0) return "0s";
  const std::string sign = count < 0 ? "-" : "";
  const std::uint64_t magnitude =
      count < 0 ? static_cast<std::uint64_t>(-(count + 1)) + 1 : static_cast<std::uint64_t>(count);
  for (const auto& u : kDurationUnits) {
    if (magnitude % u.factor == 0) return sign + std::to_string(magnitude / u.factor) + std::string(u.suffix);
  }
  return sign + std::to_string(magnitude) + "ns";
}

std::string format_rate(double per_second) {
  const auto whole = [](double v) { return std::floor(v) == v && std::isfinite(v); };
  char buffer[64];
  if (whole(per_second)) {
    std::snprintf(buffer, sizeof buffer, "%.0f/s", per_second);
  } else if (whole(per_second * kSecondsPerMinute)) {
    std::snprintf(buffer, sizeof buffer, "%.0f/m", per_second * kSecondsPerMinute);
  } else if (whole(per_second * kSecondsPerHour)) {
    std::snprintf(buffer, sizeof buffer, "%.0f/h", per_second * kSecondsPerHour);
  } else {
    std::snprintf(buffer, sizeof buffer, "%g/s", per_second);
  }
  return buffer;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  for (const auto& u : kSizeUnits) {
    // Only binary units when printing: defaults are powers of two, and one style reads better.
    if (u.suffix.size() != 3) continue;
    if (bytes % u.factor == 0) return std::to_string(bytes / u.factor) + std::string(u.suffix);
  }
  return std::to_string(bytes);
}

}  // namespace wstool
