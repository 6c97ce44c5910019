// The room protocol's parser and message builders. Field names are camelCase on the wire and
// match the design notes (type, roomId, userId, content, data, users, userCount).
#include "lib/room_protocol.h"

#include <array>

#include "lib/utf8.h"

namespace wstool::room {
namespace {

using nlohmann::json;

struct TypeName {
  std::string_view name;
  RequestType type;
};

// Canonical names first, then the design notes' short aliases.
constexpr std::array<TypeName, 12> kTypeNames = {{
    {"echo", RequestType::kEcho},
    {"broadcast", RequestType::kBroadcast},
    {"join_room", RequestType::kJoinRoom},
    {"leave_room", RequestType::kLeaveRoom},
    {"room_message", RequestType::kRoomMessage},
    {"get_room_info", RequestType::kGetRoomInfo},
    {"ping", RequestType::kPing},
    {"pong", RequestType::kPong},
    {"ack", RequestType::kAck},
    {"join", RequestType::kJoinRoom},
    {"leave", RequestType::kLeaveRoom},
    {"message", RequestType::kRoomMessage},
}};

bool fail(ParseFailure& failure, ErrorCode code, std::string message, const json& id = nullptr) {
  failure.code = code;
  failure.message = std::move(message);
  failure.id = id;
  return false;
}

// Decodes one UTF-8 code point starting at `i` (the input is known to be valid UTF-8).
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t at) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])); };
  const std::uint32_t lead = byte(i);
  if (lead < 0x80) {
    i += 1;
    return lead;
  }
  if (lead < 0xE0) {
    const std::uint32_t cp = ((lead & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu);
    i += 2;
    return cp;
  }
  if (lead < 0xF0) {
    const std::uint32_t cp = ((lead & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu);
    i += 3;
    return cp;
  }
  const std::uint32_t cp = ((lead & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) |
                           ((byte(i + 2) & 0x3Fu) << 6) | (byte(i + 3) & 0x3Fu);
  i += 4;
  return cp;
}

// Every text we build goes through here: invalid UTF-8 (a truncated name in an error message)
// becomes U+FFFD instead of an exception.
std::string to_text(const json& message) {
  return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool is_control(std::uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// A room id field: present, a string, a valid name.
bool read_room_id(const json& message, const json& id, std::string& out, ParseFailure& failure) {
  const auto it = message.find("roomId");
  if (it == message.end()) return fail(failure, ErrorCode::kInvalidMessage, "roomId is missing", id);
  if (!it->is_string()) return fail(failure, ErrorCode::kInvalidMessage, "roomId must be a string", id);
  const auto& room = it->get_ref<const std::string&>();
  if (!is_valid_name(room)) {
    return fail(failure, ErrorCode::kInvalidMessage, "roomId must be 1-128 printable characters", id);
  }
  out = room;
  return true;
}

bool read_payload(const json& message, const char* field, std::size_t max_bytes, bool limited,
                  const json& id, json& out, ParseFailure& failure) {
  const auto it = message.find(field);
  if (it == message.end()) {
    return fail(failure, ErrorCode::kInvalidMessage, std::string(field) + " is missing", id);
  }
  if (limited && content_bytes(*it) > max_bytes) {
    return fail(failure, ErrorCode::kInvalidMessage,
                std::string(field) + " is larger than " + std::to_string(max_bytes) + " bytes", id);
  }
  out = *it;
  return true;
}

}  // namespace

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kParseError: return "PARSE_ERROR";
    case ErrorCode::kInvalidMessage: return "INVALID_MESSAGE";
    case ErrorCode::kUnknownType: return "UNKNOWN_TYPE";
    case ErrorCode::kNotInRoom: return "NOT_IN_ROOM";
    case ErrorCode::kRateLimited: return "RATE_LIMITED";
    case ErrorCode::kLimitExceeded: return "LIMIT_EXCEEDED";
    case ErrorCode::kUnauthorized: return "UNAUTHORIZED";
  }
  return "INVALID_MESSAGE";
}

const char* request_type_name(RequestType type) {
  return kTypeNames[static_cast<std::size_t>(type)].name.data();
}

const char* server_message_type_name(ServerMessageType type) {
  switch (type) {
    case ServerMessageType::kWelcome: return "welcome";
    case ServerMessageType::kRoomJoined: return "room_joined";
    case ServerMessageType::kRoomLeft: return "room_left";
    case ServerMessageType::kUserJoined: return "user_joined";
    case ServerMessageType::kUserLeft: return "user_left";
    case ServerMessageType::kRoomMessage: return "room_message";
    case ServerMessageType::kRoomInfo: return "room_info";
    case ServerMessageType::kEcho: return "echo";
    case ServerMessageType::kBroadcast: return "broadcast";
    case ServerMessageType::kPing: return "ping";
    case ServerMessageType::kPong: return "pong";
    case ServerMessageType::kAck: return "ack";
    case ServerMessageType::kError: return "error";
  }
  return "error";
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || !is_valid_utf8(name.data(), name.size())) return false;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < name.size();) {
    if (is_control(next_code_point(name, i)) || ++chars > kMaxNameChars) return false;
  }
  return true;
}

std::size_t content_bytes(const json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().size();
  return to_text(value).size();
}

bool parse_request(std::string_view text, const ParseLimits& limits, Request& out,
                   ParseFailure& failure) {
  json message;
  if (const auto error = parse_untrusted_json(text, message, limits.max_depth)) {
    return fail(failure, ErrorCode::kParseError,
                error->kind == JsonError::Kind::kTooDeep ? "JSON " + error->message
                                                         : "not JSON: " + error->message);
  }
  if (!message.is_object()) {
    return fail(failure, ErrorCode::kInvalidMessage, "a message must be a JSON object");
  }
  out = Request{};
  if (const auto it = message.find("_id"); it != message.end()) {
    if (it->is_string()) {
      if (it->get_ref<const std::string&>().size() > kMaxIdBytes) {
        return fail(failure, ErrorCode::kInvalidMessage, "_id is longer than 128 bytes");
      }
    } else if (!it->is_number_integer()) {
      return fail(failure, ErrorCode::kInvalidMessage, "_id must be a string or an integer");
    }
    out.id = *it;
  }
  const json& id = out.id;
  const auto type_it = message.find("type");
  if (type_it == message.end()) {
    // The design notes' acknowledgement: {"_ack": true, "_id": ...} with no type.
    const auto ack_it = message.find("_ack");
    if (ack_it != message.end() && *ack_it == true && !id.is_null()) {
      out.type = RequestType::kAck;
      return true;
    }
    return fail(failure, ErrorCode::kInvalidMessage, "type is missing", id);
  }
  if (!type_it->is_string()) return fail(failure, ErrorCode::kInvalidMessage, "type must be a string", id);
  const auto& type_name = type_it->get_ref<const std::string&>();
  const TypeName* found = nullptr;
  for (const TypeName& entry : kTypeNames) {
    if (entry.name == type_name) {
      found = &entry;
      break;
    }
  }
  if (found == nullptr) {
    std::string shown = type_name.size() > kMaxNameChars ? type_name.substr(0, kMaxNameChars) + "..." : type_name;
    return fail(failure, ErrorCode::kUnknownType, "unknown message type \"" + shown + "\"", id);
  }
  out.type = found->type;
  switch (out.type) {
    case RequestType::kEcho:
      return read_payload(message, "data", 0, false, id, out.data, failure);
    case RequestType::kBroadcast:
      return read_payload(message, "data", limits.max_content_bytes, true, id, out.data, failure);
    case RequestType::kJoinRoom:
      if (const auto it = message.find("ack"); it != message.end()) {
        if (!it->is_boolean()) return fail(failure, ErrorCode::kInvalidMessage, "ack must be true or false", id);
        out.ack = it->get<bool>();
      }
      return read_room_id(message, id, out.room_id, failure);
    case RequestType::kLeaveRoom:
      // Without roomId: leave every room.
      if (message.find("roomId") == message.end()) return true;
      return read_room_id(message, id, out.room_id, failure);
    case RequestType::kRoomMessage:
      return read_room_id(message, id, out.room_id, failure) &&
             read_payload(message, "content", limits.max_content_bytes, true, id, out.content, failure);
    case RequestType::kGetRoomInfo:
      return read_room_id(message, id, out.room_id, failure);
    case RequestType::kPing:
    case RequestType::kPong:
      if (const auto it = message.find("id"); it != message.end()) {
        if (content_bytes(*it) > kMaxIdBytes) {
          return fail(failure, ErrorCode::kInvalidMessage, "id is longer than 128 bytes", id);
        }
        out.ping_id = *it;
      }
      return true;
    case RequestType::kAck:
      if (id.is_null()) return fail(failure, ErrorCode::kInvalidMessage, "ack needs the _id it acknowledges");
      return true;
  }
  return true;
}

// --- builders -------------------------------------------------------------------------------

std::string make_welcome(const Welcome& welcome) {
  const WelcomeLimits& l = welcome.limits;
  json message = {
      {"type", "welcome"},
      {"message", "Connected to wstool serve"},
      {"userId", welcome.user_id},
      {"sessionId", welcome.session_id},
      {"resumed", welcome.resumed},
      {"protocolVersion", kProtocolVersion},
      {"limits",
       {{"maxMessageBytes", l.max_message_bytes},
        {"maxContentBytes", l.max_content_bytes},
        {"maxRoomsPerConnection", l.max_rooms_per_connection},
        {"maxRooms", l.max_rooms},
        {"ratePerSecond", l.rate_per_second},
        {"burst", l.burst},
        {"dedupeWindowMs", l.dedupe_window_ms},
        {"ackTimeoutMs", l.ack_timeout_ms},
        {"ackRetries", l.ack_retries}}},
  };
  if (welcome.resumed) message["rooms"] = welcome.rooms;
  return to_text(message);
}

std::string make_room_joined(std::string_view room_id, const std::vector<std::string>& users) {
  return to_text(json{{"type", "room_joined"}, {"roomId", room_id}, {"users", users}});
}

std::string make_room_left(std::string_view room_id) {
  return to_text(json{{"type", "room_left"}, {"roomId", room_id}});
}

std::string make_user_joined(std::string_view room_id, std::string_view user_id) {
  return to_text(json{{"type", "user_joined"}, {"roomId", room_id}, {"userId", user_id}});
}

std::string make_user_left(std::string_view room_id, std::string_view user_id) {
  return to_text(json{{"type", "user_left"}, {"roomId", room_id}, {"userId", user_id}});
}

std::string make_room_message(std::string_view room_id, std::string_view user_id,
                              const json& content, const json& delivery_id) {
  json message = {{"type", "room_message"}, {"roomId", room_id}, {"userId", user_id}, {"content", content}};
  if (!delivery_id.is_null()) {
    message["_id"] = delivery_id;
    message["_ack"] = true;
  }
  return to_text(message);
}

std::string make_room_info(std::string_view room_id, const std::vector<std::string>& users) {
  return to_text(json{{"type", "room_info"}, {"roomId", room_id}, {"userCount", users.size()}, {"users", users}});
}

std::string make_echo(const json& data) { return to_text(json{{"type", "echo"}, {"data", data}}); }

std::string make_broadcast(const json& data, std::string_view user_id) {
  return to_text(json{{"type", "broadcast"}, {"data", data}, {"userId", user_id}});
}

std::string make_ping(std::uint64_t id) { return to_text(json{{"type", "ping"}, {"id", id}}); }

std::string make_pong(const json& id) {
  json message = {{"type", "pong"}};
  if (!id.is_null()) message["id"] = id;
  return to_text(message);
}

std::string make_ack(const json& id) { return to_text(json{{"type", "ack"}, {"_id", id}}); }

std::string make_error(ErrorCode code, std::string_view message, const json& id) {
  json error = {{"type", "error"}, {"code", error_code_name(code)}, {"message", message}};
  if (!id.is_null()) error["_id"] = id;
  return to_text(error);
}

}  // namespace wstool::room
