// Untrusted JSON (messages from peers, session logs, scripts) parsed with a named nesting limit:
// nlohmann/json has none of its own, and deep nesting costs memory and recursion on destruction.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wstool {

inline constexpr std::size_t kDefaultMaxJsonDepth = 64;

struct JsonError {
  enum class Kind { kSyntax, kTooDeep };
  Kind kind = Kind::kSyntax;
  std::size_t byte_offset = 0;  // where the problem was found (0-based)
  std::string message;          // "nesting deeper than 64 at byte 70", "syntax error at byte 3: …"
};

// Parses `text` into `out`. Arrays and objects nested more than `max_depth` deep are refused
// before nlohmann/json sees them. nullopt on success.
std::optional<JsonError> parse_untrusted_json(std::string_view text, nlohmann::json& out,
                                              std::size_t max_depth = kDefaultMaxJsonDepth);

}  // namespace wstool
