// The room protocol's reference implementations, shared by its unit tests and its differential
// fuzzer: the DOM builders the directly written replies replaced (byte-identical oracles), and
// a rendering of a parse result so two parses can be compared exactly.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lib/room_protocol.h"

namespace wstool::room::reference {

using nlohmann::json;

inline std::string to_text(const json& message) {
  return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline std::string make_room_message(std::string_view room_id, std::string_view user_id, const json& content,
                                     const json& delivery_id = nullptr) {
  json message = {{"type", "room_message"}, {"roomId", room_id}, {"userId", user_id}, {"content", content}};
  if (!delivery_id.is_null()) {
    message["_id"] = delivery_id;
    message["_ack"] = true;
  }
  return to_text(message);
}

inline std::string make_echo(const json& data) { return to_text(json{{"type", "echo"}, {"data", data}}); }

inline std::string make_broadcast(const json& data, std::string_view user_id) {
  return to_text(json{{"type", "broadcast"}, {"data", data}, {"userId", user_id}});
}

inline std::string make_pong(const json& id) {
  json message = {{"type", "pong"}};
  if (!id.is_null()) message["id"] = id;
  return to_text(message);
}

inline std::string make_ack(const json& id) { return to_text(json{{"type", "ack"}, {"_id", id}}); }

inline std::string make_error(ErrorCode code, std::string_view message, const json& id = nullptr) {
  json error = {{"type", "error"}, {"code", error_code_name(code)}, {"message", message}};
  if (!id.is_null()) error["_id"] = id;
  return to_text(error);
}

// A value with its exact type (1 as an unsigned and as a signed integer differ here).
inline std::string describe(const json& value) {
  return std::to_string(static_cast<int>(value.type())) + ":" + to_text(value);
}

// An echo request's data however it was kept: a DOM value, or the verbatim text of a plain string.
inline json data_of(const Request& request) {
  if (request.data_verbatim.empty()) return request.data;
  if (!request.data.is_null()) return "both data and data_verbatim are set";
  return json::parse(request.data_verbatim);
}

// Everything a caller may read after parse_request: the request on success, the failure else.
inline std::string describe(bool ok, const Request& request, const ParseFailure& failure) {
  if (!ok) {
    return "failure code=" + std::string(error_code_name(failure.code)) + " message=" + failure.message +
           " id=" + describe(failure.id);
  }
  return "request type=" + std::string(request_type_name(request.type)) + " id=" + describe(request.id) +
         " data=" + describe(data_of(request)) + " room=" + request.room_id + " content=" + describe(request.content) +
         " ack=" + (request.ack ? "1" : "0") + " ping_id=" + describe(request.ping_id);
}

// parse_request and the DOM-only path on one text, each described.
struct Both {
  std::string fast;
  std::string dom;
};
inline Both parse_both(std::string_view text, const ParseLimits& limits = {}) {
  Request fast_request;
  ParseFailure fast_failure;
  const bool fast_ok = parse_request(text, limits, fast_request, fast_failure);
  Request dom_request;
  ParseFailure dom_failure;
  const bool dom_ok = parse_request_with_dom(text, limits, dom_request, dom_failure);
  return {describe(fast_ok, fast_request, fast_failure), describe(dom_ok, dom_request, dom_failure)};
}

}  // namespace wstool::room::reference
