// JSON text written directly, byte for byte as nlohmann/json's dump() writes it, for messages
// built on a hot path (the room protocol's per-message replies) without building a DOM.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wstool::json_write {

// Appends `text` as a quoted JSON string exactly as nlohmann's dump(-1, ' ', false,
// error_handler_t::replace) writes it: ", \ and \b \f \n \r \t escaped, the other control
// characters as \u00xx, everything else (DEL and non-ASCII included) as is, and each maximal
// invalid UTF-8 subpart as U+FFFD.
void append_string(std::string& out, std::string_view text);

// Appends `value` as that dump() writes it: strings, integers, booleans and null directly,
// anything else through dump().
void append_value(std::string& out, const nlohmann::json& value);

}  // namespace wstool::json_write
