// Expectations on received messages (connect's --expect and --expect-json, and later replay's):
// parsed once from the command line, then met in order, one message at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/user_regex.h"

namespace wstool {

struct Expectation {
  enum class Kind { kRegex, kJson };
  Kind kind = Kind::kRegex;
  std::string source;  // as the user wrote it, for messages
  std::optional<UserRegex> regex;                // kRegex: searched in the text
  nlohmann::json::json_pointer pointer{};        // kJson
  std::optional<nlohmann::json> value;           // kJson: nullopt tests the pointer's existence
};

// `--expect REGEX`: a PCRE2 search (not a full match). nullopt with `error` on a bad pattern.
std::optional<Expectation> parse_regex_expectation(std::string_view pattern, std::string& error);

// `--expect-json POINTER[=VALUE]`: split at the first '='; VALUE is parsed as JSON, and taken as
// a string when it is not JSON ("/data=q" is "q", "/n=5" is 5). No '=' tests existence.
std::optional<Expectation> parse_json_expectation(std::string_view text, std::string& error);

// Whether a text message meets `expectation`. `json` is the message parsed as JSON, or nullptr
// when it is not JSON (a JSON expectation then never matches; a missing pointer neither).
bool expectation_matches(const Expectation& expectation, std::string_view text,
                         const nlohmann::json* json);

// Expectations met in order: each text message is tried against the next unmet one only, and
// meets at most one; messages that meet nothing are skipped.
class ExpectationList {
 public:
  void add(Expectation expectation) { items_.push_back(std::move(expectation)); }
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  // Tries the next unmet expectation; true when the message met it.
  bool on_text(std::string_view text);
  bool all_met() const { return met_ == items_.size(); }
  std::size_t met() const { return met_; }
  // The first unmet expectation, or nullptr.
  const Expectation* next_unmet() const { return all_met() ? nullptr : &items_[met_]; }

 private:
  std::vector<Expectation> items_;
  std::size_t met_ = 0;
};

}  // namespace wstool
