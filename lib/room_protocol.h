// The JSON room protocol of `wstool serve` (man/wstool-protocol.7): client messages parsed and
// validated into typed requests or an error code, and the server's messages built. Pure, so the
// server, `chat` and `load` share one definition of the wire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/json_limits.h"

namespace wstool::room {

inline constexpr int kProtocolVersion = 1;
// An `_id` string longer than this is refused: ids are kept for the dedupe window.
inline constexpr std::size_t kMaxIdBytes = 128;
// roomId and userId: 1 to this many printable characters (code points).
inline constexpr std::size_t kMaxNameChars = 128;
inline constexpr std::size_t kDefaultMaxContentBytes = 64 * 1024;
// Protocol messages are small objects; deeper nesting than this is refused as PARSE_ERROR.
inline constexpr std::size_t kMaxMessageDepth = 32;

enum class ErrorCode : unsigned char {
  kParseError,
  kInvalidMessage,
  kUnknownType,
  kNotInRoom,
  kRateLimited,
  kLimitExceeded,
  kUnauthorized,
};
inline constexpr std::size_t kErrorCodeCount = 7;
// "PARSE_ERROR", "INVALID_MESSAGE", ...
const char* error_code_name(ErrorCode code);

// What a client may send. Aliases (join, leave, message) parse to the same type.
enum class RequestType : unsigned char {
  kEcho,
  kBroadcast,
  kJoinRoom,
  kLeaveRoom,
  kRoomMessage,
  kGetRoomInfo,
  kPing,
  kPong,
  kAck,
};
inline constexpr std::size_t kRequestTypeCount = 9;
// The canonical wire name: "echo", "join_room", ...
const char* request_type_name(RequestType type);

// What the server sends.
enum class ServerMessageType : unsigned char {
  kWelcome,
  kRoomJoined,
  kRoomLeft,
  kUserJoined,
  kUserLeft,
  kRoomMessage,
  kRoomInfo,
  kEcho,
  kBroadcast,
  kPing,
  kPong,
  kAck,
  kError,
};
inline constexpr std::size_t kServerMessageTypeCount = 13;
const char* server_message_type_name(ServerMessageType type);

// (A new field here needs its line in reset() in room_protocol.cpp too.)
struct Request {
  RequestType type = RequestType::kEcho;
  // The request's `_id` (a string or an integer), null when it had none. For kAck it names the
  // delivery being acknowledged.
  nlohmann::json id;
  nlohmann::json data;     // echo, broadcast
  // Echo only, from parse_request's fast path: the data member's JSON text as received, set
  // instead of `data` (which stays null) when it is a string without escapes, which the reply
  // writes back byte for byte as nlohmann would (no DOM value, no allocation). A view into the
  // parsed text: valid while that is.
  std::string_view data_verbatim;
  std::string room_id;     // join, leave ("" = every room), room_message, get_room_info
  nlohmann::json content;  // room_message
  bool ack = false;        // join_room {"ack": true}: reliable delivery of this room's messages
  nlohmann::json ping_id;  // ping, pong: their `id`, null when absent
};

struct ParseFailure {
  ErrorCode code = ErrorCode::kParseError;
  std::string message;  // for people: "roomId must be 1-128 printable characters"
  nlohmann::json id;    // the request's `_id` when it was readable, else null
};

struct ParseLimits {
  std::size_t max_content_bytes = kDefaultMaxContentBytes;
  std::size_t max_depth = kMaxMessageDepth;
};

// Parses one client message. False with `failure` filled for anything that is not a valid
// request: not JSON or too deep (PARSE_ERROR), not an object, a missing or wrong-typed field,
// an `_id` that is not a string of at most 128 bytes or an integer, content or broadcast data
// over max_content_bytes (INVALID_MESSAGE), a type we do not know (UNKNOWN_TYPE). Unknown
// fields are ignored.
// Messages the strict scanner of json_scan.h accepts as an object are read from their spans
// without a DOM; everything else takes parse_request_with_dom, with the same result.
bool parse_request(std::string_view text, const ParseLimits& limits, Request& out,
                   ParseFailure& failure);

// The reference path: the whole text parsed into an nlohmann DOM, then the same checks.
// parse_request must agree with it on every input (tests and the fuzzer compare them).
bool parse_request_with_dom(std::string_view text, const ParseLimits& limits, Request& out,
                            ParseFailure& failure);

// 1 to kMaxNameChars code points of valid UTF-8, none of them a control character.
bool is_valid_name(std::string_view name);

// The bytes a content or data value counts against --max-content: a string's own bytes, any
// other value's serialized JSON.
std::size_t content_bytes(const nlohmann::json& value);

// --- server messages, each a complete JSON text ---------------------------------------------

struct WelcomeLimits {
  std::uint64_t max_message_bytes = 0;
  std::uint64_t max_content_bytes = 0;
  std::uint64_t max_rooms_per_connection = 0;
  std::uint64_t max_rooms = 0;
  double rate_per_second = 0;
  std::uint64_t burst = 0;  // requests at once: a whole number, written without a fraction
  std::uint64_t dedupe_window_ms = 0;
  std::uint64_t ack_timeout_ms = 0;
  std::uint64_t ack_retries = 0;
};

struct Welcome {
  std::string user_id;
  std::string session_id;
  bool resumed = false;
  std::vector<std::string> rooms;  // the rooms a resumed session rejoined
  WelcomeLimits limits;
};

std::string make_welcome(const Welcome& welcome);
std::string make_room_joined(std::string_view room_id, const std::vector<std::string>& users);
std::string make_room_left(std::string_view room_id);
std::string make_user_joined(std::string_view room_id, std::string_view user_id);
std::string make_user_left(std::string_view room_id, std::string_view user_id);
// `delivery_id` non-null: the reliable variant, with "_id" and "_ack": true.
std::string make_room_message(std::string_view room_id, std::string_view user_id,
                              const nlohmann::json& content,
                              const nlohmann::json& delivery_id = nullptr);
std::string make_room_info(std::string_view room_id, const std::vector<std::string>& users);
std::string make_echo(const nlohmann::json& data);
// Appends the reply to an echo request to `out`: make_echo(request.data), written from
// request.data_verbatim when that is set (a server reuses one buffer for every reply).
void append_echo(std::string& out, const Request& request);
std::string make_broadcast(const nlohmann::json& data, std::string_view user_id);
std::string make_ping(std::uint64_t id);
std::string make_pong(const nlohmann::json& id);  // null id: no id field
std::string make_ack(const nlohmann::json& id);
// `id` non-null: the failed request's `_id`.
std::string make_error(ErrorCode code, std::string_view message,
                       const nlohmann::json& id = nullptr);

}  // namespace wstool::room
