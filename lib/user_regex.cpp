// PCRE2 (8-bit, UTF) behind UserRegex. JIT when available (fast for load tests); the match and
// heap limits apply to every search.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lib/user_regex.h"

#include <pcre2.h>

#include <array>

namespace wstool {
namespace {

constexpr std::size_t kPcreMessageBytes = 256;

std::string pcre_message(int code) {
  std::array<PCRE2_UCHAR, kPcreMessageBytes> buffer{};
  const int n = pcre2_get_error_message(code, buffer.data(), buffer.size());
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(n));
}

}  // namespace

struct UserRegex::Compiled {
  std::string pattern;
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;

  Compiled() = default;
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  ~Compiled() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

UserRegex::UserRegex(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}

std::optional<UserRegex> UserRegex::compile(std::string_view pattern, std::string& error,
                                            const UserRegexOptions& options) {
  auto compiled = std::make_shared<Compiled>();
  compiled->pattern = std::string(pattern);
  std::uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  if (options.caseless) flags |= PCRE2_CASELESS;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 flags, &error_code, &error_offset, nullptr);
  if (compiled->code == nullptr) {
    error = pcre_message(error_code) + " at offset " + std::to_string(error_offset);
    return std::nullopt;
  }
  // JIT is an optimisation: if it is unavailable the interpreter runs the same pattern.
  (void)pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
  compiled->context = pcre2_match_context_create(nullptr);
  if (compiled->context == nullptr) {
    error = "out of memory compiling the regular expression";
    return std::nullopt;
  }
  pcre2_set_match_limit(compiled->context, options.match_limit);
  pcre2_set_heap_limit(compiled->context, options.heap_limit_kib);
  // The depth limit bounds backtracking frames for the interpreter; match_limit bounds JIT.
  pcre2_set_depth_limit(compiled->context, options.match_limit);
  return UserRegex(std::move(compiled));
}

RegexResult UserRegex::search(std::string_view subject, std::string* error) const {
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  if (data == nullptr) {
    if (error != nullptr) *error = "out of memory matching the regular expression";
    return RegexResult::kError;
  }
  const int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                             subject.size(), 0, 0, data, compiled_->context);
  pcre2_match_data_free(data);
  if (rc >= 0) return RegexResult::kMatch;
  if (rc == PCRE2_ERROR_NOMATCH) return RegexResult::kNoMatch;
  if (error != nullptr) {
    *error = "regular expression '" + compiled_->pattern + "' failed: " + pcre_message(rc);
  }
  return RegexResult::kError;
}

const std::string& UserRegex::pattern() const { return compiled_->pattern; }

}  // namespace wstool
