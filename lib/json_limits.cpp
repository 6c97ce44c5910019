// A pre-scan counts bracket depth outside strings (cheap, linear, no allocation) so deep input
// is refused before any tree is built; nlohmann/json then parses and reports syntax errors.
#include "lib/json_limits.h"

namespace wstool {
namespace {

// The byte at which nesting first exceeds `max_depth`, or npos. Ignores brackets inside strings;
// unbalanced input is left for the parser to report.
std::size_t find_too_deep(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character, which may be a quote
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<JsonError> parse_untrusted_json(std::string_view text, nlohmann::json& out,
                                              std::size_t max_depth) {
  // nlohmann/json takes a NUL byte for the end of its input, so `{"a":1}<NUL>junk` would pass.
  // JSON allows no raw NUL anywhere (inside a string it must be escaped as \u0000).
  if (const std::size_t at = text.find('\0'); at != std::string_view::npos) {
    return JsonError{JsonError::Kind::kSyntax, at, "invalid JSON at byte " + std::to_string(at) + ": a NUL byte"};
  }
  if (const std::size_t at = find_too_deep(text, max_depth); at != std::string_view::npos) {
    return JsonError{JsonError::Kind::kTooDeep, at,
                     "nesting deeper than " + std::to_string(max_depth) + " at byte " +
                         std::to_string(at)};
  }
  try {
    out = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's byte is 1-based and points just past the offending character.
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    std::string what = e.what();
    // Keep nlohmann's explanation, drop its "[json.exception.parse_error.101] parse error at
    // line 1, column 5: " prefix (we give the byte offset instead).
    if (const std::size_t colon = what.find(": "); colon != std::string::npos) {
      what.erase(0, colon + 2);
    }
    return JsonError{JsonError::Kind::kSyntax, at,
                     "invalid JSON at byte " + std::to_string(at) + ": " + what};
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond double's range (1e400): nlohmann throws out_of_range, not parse_error,
    // and gives no offset.
    return JsonError{JsonError::Kind::kSyntax, 0, "invalid JSON: a number is out of range"};
  }
  return std::nullopt;
}

}  // namespace wstool
