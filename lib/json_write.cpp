// Strings are copied in runs of bytes that need no escape; only control characters, the quote,
// the backslash and non-ASCII bytes (checked as UTF-8, Unicode Table 3-7) leave the run.
#include "lib/json_write.h"

#include <charconv>
#include <cstdint>

#include "lib/json_scan.h"

namespace wstool::json_write {
namespace {

constexpr unsigned char kFirstNonAscii = 0x80;
constexpr unsigned char kContinuationFirst = 0x80;
constexpr unsigned char kContinuationLast = 0xBF;
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
constexpr std::size_t kReplacementBytes = 3;
constexpr char kHex[] = "0123456789abcdef";
// Room for any 64-bit integer in decimal, sign included.
constexpr std::size_t kIntegerChars = 24;

// The sequence starting at s[i] (a byte >= 0x80): its length when it is one valid code point,
// else 0 with `bad` set to the length of its maximal invalid subpart (at least 1), which a
// decoder replaces with one U+FFFD before going on with the next byte.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = at(i);
  std::size_t length = 0;
  // The allowed range of the second byte depends on the lead (no overlongs, no surrogates,
  // nothing above U+10FFFF); later ones are any continuation byte.
  unsigned char low = kContinuationFirst;
  unsigned char high = kContinuationLast;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3;
    low = 0xA0;
  } else if (lead == 0xED) {
    length = 3;
    high = 0x9F;
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    length = 3;
  } else if (lead == 0xF0) {
    length = 4;
    low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4;
    high = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  std::size_t k = 1;
  for (; k < length && i + k < s.size(); ++k) {
    const unsigned char c = at(i + k);
    if (c < low || c > high) break;
    low = kContinuationFirst;
    high = kContinuationLast;
  }
  if (k == length) return length;
  bad = k;
  return 0;
}

}  // namespace

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const std::size_t run = json_scan::plain_run(text.substr(i));
    out.append(text.data() + i, run);
    i += run;
    if (i == n) break;
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= kFirstNonAscii) {
      std::size_t bad = 0;
      const std::size_t length = utf8_sequence(text, i, bad);
      if (length != 0) {
        out.append(text.data() + i, length);
        i += length;
      } else {
        out.append(kReplacement, kReplacementBytes);
        i += bad;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escaped, sizeof escaped);
        break;
      }
    }
  }
  out.push_back('"');
}

void append_value(std::string& out, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: {
      char digits[kIntegerChars];
      const auto result = value.is_number_unsigned()
                              ? std::to_chars(digits, digits + kIntegerChars, value.get<std::uint64_t>())
                              : std::to_chars(digits, digits + kIntegerChars, value.get<std::int64_t>());
      out.append(digits, static_cast<std::size_t>(result.ptr - digits));
      return;
    }
    case nlohmann::json::value_t::boolean:
      out.append(value.get<bool>() ? "true" : "false");
      return;
    case nlohmann::json::value_t::null:
      out.append("null");
      return;
    default:
      out.append(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
  }
}

}  // namespace wstool::json_write
