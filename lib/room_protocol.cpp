// The room protocol's parser and message builders. Field names are camelCase on the wire and
// match the design notes (type, roomId, userId, content, data, users, userCount).
#include "lib/room_protocol.h"

#include <array>
#include <optional>

#include "lib/json_scan.h"
#include "lib/json_write.h"
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

// Room for a directly written reply's keys, punctuation and short fields, so it is built in one
// allocation.
constexpr std::size_t kMessageOverheadBytes = 96;

// A guess at a value's serialized size, for reserve(): exact for strings without escapes.
std::size_t content_bytes_hint(const json& value) {
  return value.is_string() ? value.get_ref<const std::string&>().size() : 0;
}

bool is_control(std::uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// The top-level fields parse_request reads; every other member is ignored.
enum class Field : unsigned char { kId, kType, kAckFlag, kData, kRoomId, kAck, kContent, kPingId };
constexpr std::size_t kFieldCount = 8;
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "_id", "type", "_ack", "data", "roomId", "ack", "content", "id"};

const char* field_name(Field field) { return kFieldNames[static_cast<std::size_t>(field)].data(); }

// The fields of a message parsed into a DOM (the reference path, and every message the scanner
// does not accept). present() says whether a field is there, find() gives its value or nullptr,
// string() a string field's text (false when absent or not a string), take() copies a found
// value out.
class DomFields {
 public:
  explicit DomFields(const json& message) : message_(message) {}
  bool present(Field field) const { return find(field) != nullptr; }
  const json* find(Field field) const {
    const auto it = message_.find(field_name(field));
    return it == message_.end() ? nullptr : &*it;
  }
  bool string(Field field, std::string_view& out) const {
    const json* value = find(field);
    if (value == nullptr || !value->is_string()) return false;
    out = value->get_ref<const std::string&>();
    return true;
  }
  void take(Field field, json& out) const { out = *find(field); }
  // A DOM keeps no text: never verbatim.
  bool verbatim_string(Field /*field*/, std::string_view& /*out*/) const { return false; }

 private:
  const json& message_;
};

// The fields of a message the scanner accepted, from their spans: a string without escapes is
// copied as it is, any other value is parsed on its own by nlohmann (a small subtree), only
// when it is asked for. Duplicate keys: the last one wins, as in nlohmann's DOM. A key with an
// escape, or a value nlohmann refuses after all, makes the result doubtful: the caller then
// takes the DOM path.
class ScannedFields final : public json_scan::MemberSink {
 public:
  void member(const json_scan::Member& member) override {
    if (member.key_escaped) {
      doubtful_ = true;  // it might spell one of our names
      return;
    }
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      if (member.key == kFieldNames[i]) {
        slots_[i] = Slot{member.value, member.kind, member.value_escaped, true};
        values_[i].reset();  // a duplicate key: the last one wins
        return;
      }
    }
  }

  const json* find(Field field) {
    const auto i = static_cast<std::size_t>(field);
    const Slot& slot = slots_[i];
    if (!slot.present) return nullptr;
    std::optional<json>& value = values_[i];
    if (!value) {
      if (slot.kind == json_scan::Kind::kString && !slot.escaped) {
        value.emplace(std::string(slot.text.substr(1, slot.text.size() - 2)));
      } else {
        value.emplace(json::parse(slot.text.begin(), slot.text.end(), nullptr, false));
        if (value->is_discarded()) {
          doubtful_ = true;
          return nullptr;
        }
      }
    }
    return &*value;
  }
  bool present(Field field) const { return slots_[static_cast<std::size_t>(field)].present; }
  // Straight from the text when it has no escapes: type and roomId need no json value.
  bool string(Field field, std::string_view& out) {
    const Slot& slot = slots_[static_cast<std::size_t>(field)];
    if (!slot.present || slot.kind != json_scan::Kind::kString) return false;
    if (!slot.escaped) {
      out = slot.text.substr(1, slot.text.size() - 2);
      return true;
    }
    const json* value = find(field);
    if (value == nullptr) return false;
    out = value->get_ref<const std::string&>();
    return true;
  }
  void take(Field field, json& out) { out = std::move(*values_[static_cast<std::size_t>(field)]); }
  // A string field without escapes, quotes included, as it stands in the text: what
  // json_write::append_value would write for its value (the scanner checked it is valid UTF-8
  // with no control character, and it has no quote or backslash to escape).
  bool verbatim_string(Field field, std::string_view& out) const {
    const Slot& slot = slots_[static_cast<std::size_t>(field)];
    if (!slot.present || slot.kind != json_scan::Kind::kString || slot.escaped) return false;
    out = slot.text;
    return true;
  }

  bool doubtful() const { return doubtful_; }

 private:
  struct Slot {
    std::string_view text;
    json_scan::Kind kind = json_scan::Kind::kNull;
    bool escaped = false;
    bool present = false;
  };
  std::array<Slot, kFieldCount> slots_{};
  // A value made only when asked for: a message reads two or three of the fields, and each json
  // costs a constructor and a destructor call even when null.
  std::array<std::optional<json>, kFieldCount> values_{};
  bool doubtful_ = false;
};

// A room id field: present, a string, a valid name.
template <class Fields>
bool read_room_id(Fields& message, const json& id, std::string& out, ParseFailure& failure) {
  if (!message.present(Field::kRoomId)) {
    return fail(failure, ErrorCode::kInvalidMessage, "roomId is missing", id);
  }
  std::string_view room;
  if (!message.string(Field::kRoomId, room)) {
    return fail(failure, ErrorCode::kInvalidMessage, "roomId must be a string", id);
  }
  if (!is_valid_name(room)) {
    return fail(failure, ErrorCode::kInvalidMessage, "roomId must be 1-128 printable characters", id);
  }
  out = room;
  return true;
}

template <class Fields>
bool read_payload(Fields& message, Field field, std::size_t max_bytes, bool limited, const json& id, json& out,
                  ParseFailure& failure) {
  const json* value = message.find(field);
  if (value == nullptr) {
    return fail(failure, ErrorCode::kInvalidMessage, std::string(field_name(field)) + " is missing", id);
  }
  if (limited && content_bytes(*value) > max_bytes) {
    return fail(failure, ErrorCode::kInvalidMessage,
                std::string(field_name(field)) + " is larger than " + std::to_string(max_bytes) + " bytes", id);
  }
  message.take(field, out);
  return true;
}

// A request back to Request{}, without building and destroying a temporary's json fields (what
// `out = Request{}` costs on every message).
void clear(json& value) {
  if (!value.is_null()) value = nullptr;
}
void reset(Request& out) {
  out.type = RequestType::kEcho;
  clear(out.id);
  clear(out.data);
  out.data_verbatim = {};
  out.room_id.clear();
  clear(out.content);
  out.ack = false;
  clear(out.ping_id);
}

// parse_request's checks once the text is known to be a JSON object, over its fields however
// they were read (DomFields or ScannedFields): one definition of what a valid request is.
template <class Fields>
bool check_request(Fields& message, const ParseLimits& limits, Request& out, ParseFailure& failure) {
  reset(out);
  if (const json* given = message.find(Field::kId); given != nullptr) {
    if (given->is_string()) {
      if (given->get_ref<const std::string&>().size() > kMaxIdBytes) {
        return fail(failure, ErrorCode::kInvalidMessage, "_id is longer than 128 bytes");
      }
    } else if (!given->is_number_integer()) {
      return fail(failure, ErrorCode::kInvalidMessage, "_id must be a string or an integer");
    }
    message.take(Field::kId, out.id);
  }
  const json& id = out.id;
  if (!message.present(Field::kType)) {
    // The design notes' acknowledgement: {"_ack": true, "_id": ...} with no type.
    const json* ack = message.find(Field::kAckFlag);
    if (ack != nullptr && *ack == true && !id.is_null()) {
      out.type = RequestType::kAck;
      return true;
    }
    return fail(failure, ErrorCode::kInvalidMessage, "type is missing", id);
  }
  std::string_view type_name;
  if (!message.string(Field::kType, type_name)) {
    return fail(failure, ErrorCode::kInvalidMessage, "type must be a string", id);
  }
  const TypeName* found = nullptr;
  for (const TypeName& entry : kTypeNames) {
    if (entry.name == type_name) {
      found = &entry;
      break;
    }
  }
  if (found == nullptr) {
    std::string shown(type_name.substr(0, kMaxNameChars));
    if (type_name.size() > kMaxNameChars) shown += "...";
    return fail(failure, ErrorCode::kUnknownType, "unknown message type \"" + shown + "\"", id);
  }
  out.type = found->type;
  switch (out.type) {
    case RequestType::kEcho:
      // Echo data has no size limit, and a plain string needs no value at all.
      if (message.verbatim_string(Field::kData, out.data_verbatim)) return true;
      return read_payload(message, Field::kData, 0, false, id, out.data, failure);
    case RequestType::kBroadcast:
      return read_payload(message, Field::kData, limits.max_content_bytes, true, id, out.data, failure);
    case RequestType::kJoinRoom:
      if (const json* ack = message.find(Field::kAck); ack != nullptr) {
        if (!ack->is_boolean()) return fail(failure, ErrorCode::kInvalidMessage, "ack must be true or false", id);
        out.ack = ack->get<bool>();
      }
      return read_room_id(message, id, out.room_id, failure);
    case RequestType::kLeaveRoom:
      // Without roomId: leave every room.
      if (!message.present(Field::kRoomId)) return true;
      return read_room_id(message, id, out.room_id, failure);
    case RequestType::kRoomMessage:
      return read_room_id(message, id, out.room_id, failure) &&
             read_payload(message, Field::kContent, limits.max_content_bytes, true, id, out.content, failure);
    case RequestType::kGetRoomInfo:
      return read_room_id(message, id, out.room_id, failure);
    case RequestType::kPing:
    case RequestType::kPong:
      if (const json* ping_id = message.find(Field::kPingId); ping_id != nullptr) {
        if (content_bytes(*ping_id) > kMaxIdBytes) {
          return fail(failure, ErrorCode::kInvalidMessage, "id is longer than 128 bytes", id);
        }
        message.take(Field::kPingId, out.ping_id);
      }
      return true;
    case RequestType::kAck:
      if (id.is_null()) return fail(failure, ErrorCode::kInvalidMessage, "ack needs the _id it acknowledges");
      return true;
  }
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

bool parse_request_with_dom(std::string_view text, const ParseLimits& limits, Request& out,
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
  DomFields fields(message);
  return check_request(fields, limits, out, failure);
}

bool parse_request(std::string_view text, const ParseLimits& limits, Request& out,
                   ParseFailure& failure) {
  // The fast path answers only for an object the scanner accepts; anything else (every
  // failure before the field checks included) goes to the DOM path, so its messages stay the same.
  ScannedFields fields;
  json_scan::Kind top = json_scan::Kind::kNull;
  if (json_scan::scan(text, limits.max_depth, top, &fields) && top == json_scan::Kind::kObject &&
      !fields.doubtful()) {
    const bool ok = check_request(fields, limits, out, failure);
    if (!fields.doubtful()) return ok;
  }
  return parse_request_with_dom(text, limits, out, failure);
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
  // Written directly (one per room message): keys in nlohmann's sorted order.
  std::string out;
  out.reserve(kMessageOverheadBytes + room_id.size() + user_id.size() + content_bytes_hint(content));
  out.push_back('{');
  if (!delivery_id.is_null()) {
    out.append("\"_ack\":true,\"_id\":");
    json_write::append_value(out, delivery_id);
    out.push_back(',');
  }
  out.append("\"content\":");
  json_write::append_value(out, content);
  out.append(",\"roomId\":");
  json_write::append_string(out, room_id);
  out.append(",\"type\":\"room_message\",\"userId\":");
  json_write::append_string(out, user_id);
  out.push_back('}');
  return out;
}

std::string make_room_info(std::string_view room_id, const std::vector<std::string>& users) {
  return to_text(json{{"type", "room_info"}, {"roomId", room_id}, {"userCount", users.size()}, {"users", users}});
}

// The per-message replies below are written directly, byte for byte as to_text() writes the
// same object (keys sorted, as nlohmann's std::map keeps them); tests keep the DOM builders as
// their oracle.
std::string make_echo(const json& data) {
  std::string out;
  out.reserve(kMessageOverheadBytes + content_bytes_hint(data));
  out.append("{\"data\":");
  json_write::append_value(out, data);
  out.append(",\"type\":\"echo\"}");
  return out;
}

void append_echo(std::string& out, const Request& request) {
  out.append("{\"data\":");
  if (request.data_verbatim.empty()) {
    json_write::append_value(out, request.data);
  } else {
    out.append(request.data_verbatim);
  }
  out.append(",\"type\":\"echo\"}");
}

std::string make_broadcast(const json& data, std::string_view user_id) {
  std::string out;
  out.reserve(kMessageOverheadBytes + content_bytes_hint(data) + user_id.size());
  out.append("{\"data\":");
  json_write::append_value(out, data);
  out.append(",\"type\":\"broadcast\",\"userId\":");
  json_write::append_string(out, user_id);
  out.push_back('}');
  return out;
}

std::string make_ping(std::uint64_t id) { return to_text(json{{"type", "ping"}, {"id", id}}); }

namespace {
// `"name":id,` when the request carried one (null: it did not), in its sorted place first.
void append_optional_id(std::string& out, std::string_view member, const json& id) {
  if (id.is_null()) return;
  out.push_back('"');
  out.append(member);
  out.append("\":");
  json_write::append_value(out, id);
  out.push_back(',');
}
}  // namespace

std::string make_pong(const json& id) {
  std::string out = "{";
  append_optional_id(out, "id", id);
  out.append("\"type\":\"pong\"}");
  return out;
}

std::string make_ack(const json& id) {
  std::string out = "{\"_id\":";
  json_write::append_value(out, id);
  out.append(",\"type\":\"ack\"}");
  return out;
}

std::string make_error(ErrorCode code, std::string_view message, const json& id) {
  std::string out = "{";
  append_optional_id(out, "_id", id);
  out.append("\"code\":\"");
  out.append(error_code_name(code));
  out.append("\",\"message\":");
  json_write::append_string(out, message);
  out.append(",\"type\":\"error\"}");
  return out;
}

}  // namespace wstool::room
