// Regular expressions from users (--expect, filters) on PCRE2 with match limits: a pathological
// pattern on a long message fails cleanly instead of recursing (libstdc++'s std::regex overflows
// the stack). PCRE2 stays out of this header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace wstool {

// Bounds on one search, whatever the pattern: backtracking steps, and the heap PCRE2 may use for
// its backtracking frames.
inline constexpr std::uint32_t kDefaultRegexMatchLimit = 1'000'000;
inline constexpr std::uint32_t kDefaultRegexHeapLimitKiB = 20 * 1024;

struct UserRegexOptions {
  bool caseless = false;
  std::uint32_t match_limit = kDefaultRegexMatchLimit;
  std::uint32_t heap_limit_kib = kDefaultRegexHeapLimitKiB;
};

enum class RegexResult { kMatch, kNoMatch, kError };

class UserRegex {
 public:
  // Compiles `pattern` in UTF mode (invalid UTF-8 in subjects never matches a UTF character but
  // is not an error, so binary messages can be searched). On failure returns nullopt and sets
  // `error` to PCRE2's message with the offset: "missing closing parenthesis at offset 4".
  static std::optional<UserRegex> compile(std::string_view pattern, std::string& error,
                                          const UserRegexOptions& options = {});

  // Searches anywhere in `subject` (not a full match). kError when a limit was hit or PCRE2
  // failed; `error` (optional) then says why.
  RegexResult search(std::string_view subject, std::string* error = nullptr) const;
  bool matches(std::string_view subject) const {
    return search(subject) == RegexResult::kMatch;
  }

  const std::string& pattern() const;

 private:
  struct Compiled;
  explicit UserRegex(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;  // immutable, shared by copies
};

}  // namespace wstool
