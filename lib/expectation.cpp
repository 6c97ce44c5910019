// Expectations on received messages: regex searches and JSON-pointer equality, met in order.
#include "lib/expectation.h"

#include "lib/json_limits.h"

namespace wstool {

std::optional<Expectation> parse_regex_expectation(std::string_view pattern, std::string& error) {
  std::optional<UserRegex> regex = UserRegex::compile(pattern, error);
  if (!regex) return std::nullopt;
  Expectation out;
  out.kind = Expectation::Kind::kRegex;
  out.source = std::string(pattern);
  out.regex = std::move(regex);
  return out;
}

std::optional<Expectation> parse_json_expectation(std::string_view text, std::string& error) {
  const std::size_t equals = text.find('=');
  const std::string pointer_text(text.substr(0, equals));
  Expectation out;
  out.kind = Expectation::Kind::kJson;
  out.source = std::string(text);
  try {
    out.pointer = nlohmann::json::json_pointer(pointer_text);
  } catch (const nlohmann::json::exception&) {
    error = "'" + pointer_text + "' is not a JSON pointer (RFC 6901: empty, or starting with '/')";
    return std::nullopt;
  }
  if (equals != std::string_view::npos) {
    const std::string_view value_text = text.substr(equals + 1);
    nlohmann::json value;
    if (parse_untrusted_json(value_text, value)) value = std::string(value_text);  // not JSON: a string
    out.value = std::move(value);
  }
  return out;
}

bool expectation_matches(const Expectation& expectation, std::string_view text,
                         const nlohmann::json* json) {
  if (expectation.kind == Expectation::Kind::kRegex) {
    return expectation.regex && expectation.regex->matches(text);
  }
  if (json == nullptr) return false;
  try {
    if (!json->contains(expectation.pointer)) return false;
    return !expectation.value || json->at(expectation.pointer) == *expectation.value;
  } catch (const nlohmann::json::exception&) {
    return false;  // an index that cannot apply to this document ("/a/01", "/a/-")
  }
}

bool ExpectationList::on_text(std::string_view text) {
  if (all_met()) return false;
  const Expectation& next = items_[met_];
  nlohmann::json parsed;
  const nlohmann::json* json = nullptr;
  if (next.kind == Expectation::Kind::kJson && !parse_untrusted_json(text, parsed)) json = &parsed;
  if (!expectation_matches(next, text, json)) return false;
  ++met_;
  return true;
}

}  // namespace wstool
