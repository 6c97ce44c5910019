// Tests for the room protocol: what a client may send (types, aliases, every validation error)
// and the exact shape of what the server sends.
#include "lib/room_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool::room {
namespace {

using nlohmann::json;

struct Parsed {
  bool ok = false;
  Request request;
  ParseFailure failure;
};

Parsed parse(std::string_view text, ParseLimits limits = {}) {
  Parsed p;
  p.ok = parse_request(text, limits, p.request, p.failure);
  return p;
}

TEST(RoomProtocolParse, EveryTypeAndAlias) {
  EXPECT_EQ(parse(R"({"type":"echo","data":{"a":1}})").request.type, RequestType::kEcho);
  EXPECT_EQ(parse(R"({"type":"broadcast","data":"x"})").request.type, RequestType::kBroadcast);
  for (const char* name : {"join_room", "join"}) {
    const Parsed p = parse(std::string(R"({"type":")") + name + R"(","roomId":"lobby"})");
    ASSERT_TRUE(p.ok) << name;
    EXPECT_EQ(p.request.type, RequestType::kJoinRoom);
    EXPECT_EQ(p.request.room_id, "lobby");
    EXPECT_FALSE(p.request.ack);
  }
  for (const char* name : {"leave_room", "leave"}) {
    const Parsed p = parse(std::string(R"({"type":")") + name + R"(","roomId":"lobby"})");
    ASSERT_TRUE(p.ok) << name;
    EXPECT_EQ(p.request.type, RequestType::kLeaveRoom);
  }
  for (const char* name : {"room_message", "message"}) {
    const Parsed p = parse(std::string(R"({"type":")") + name + R"(","roomId":"r","content":"hi"})");
    ASSERT_TRUE(p.ok) << name;
    EXPECT_EQ(p.request.type, RequestType::kRoomMessage);
    EXPECT_EQ(p.request.content, "hi");
  }
  EXPECT_EQ(parse(R"({"type":"get_room_info","roomId":"r"})").request.type, RequestType::kGetRoomInfo);
  const Parsed ping = parse(R"({"type":"ping","id":7})");
  EXPECT_EQ(ping.request.type, RequestType::kPing);
  EXPECT_EQ(ping.request.ping_id, 7);
  EXPECT_TRUE(parse(R"({"type":"ping"})").request.ping_id.is_null());
  EXPECT_EQ(parse(R"({"type":"pong","id":1})").request.type, RequestType::kPong);
  EXPECT_EQ(parse(R"({"type":"ack","_id":5})").request.type, RequestType::kAck);
}

TEST(RoomProtocolParse, JoinWithAckAsksForReliableDelivery) {
  const Parsed p = parse(R"({"type":"join_room","roomId":"r","ack":true})");
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.request.ack);
  EXPECT_EQ(parse(R"({"type":"join_room","roomId":"r","ack":"yes"})").failure.code, ErrorCode::kInvalidMessage);
}

TEST(RoomProtocolParse, LeaveWithoutRoomIdMeansEveryRoom) {
  const Parsed p = parse(R"({"type":"leave_room"})");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.request.room_id, "");
}

TEST(RoomProtocolParse, TypelessAckOfTheDesignNotesIsAnAck) {
  const Parsed p = parse(R"({"_ack":true,"_id":"m-1"})");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.request.type, RequestType::kAck);
  EXPECT_EQ(p.request.id, "m-1");
  EXPECT_FALSE(parse(R"({"_ack":true})").ok);
  EXPECT_FALSE(parse(R"({"_ack":false,"_id":1})").ok);
  EXPECT_EQ(parse(R"({"type":"ack"})").failure.code, ErrorCode::kInvalidMessage);
}

TEST(RoomProtocolParse, IdIsAStringOfAtMost128BytesOrAnInteger) {
  EXPECT_EQ(parse(R"({"type":"echo","data":1,"_id":"abc"})").request.id, "abc");
  EXPECT_EQ(parse(R"({"type":"echo","data":1,"_id":-42})").request.id, -42);
  EXPECT_TRUE(parse(R"({"type":"echo","data":1,"_id":")" + std::string(128, 'x') + "\"}").ok);
  const Parsed long_id = parse(R"({"type":"echo","data":1,"_id":")" + std::string(129, 'x') + "\"}");
  EXPECT_EQ(long_id.failure.code, ErrorCode::kInvalidMessage);
  EXPECT_TRUE(long_id.failure.id.is_null());  // never echo an id we refused
  for (const char* bad : {"1.5", "true", "null", "[1]", "{}", "123456789012345678901234567890"}) {
    const Parsed p = parse(std::string(R"({"type":"echo","data":1,"_id":)") + bad + "}");
    EXPECT_FALSE(p.ok) << bad;
    EXPECT_EQ(p.failure.code, ErrorCode::kInvalidMessage) << bad;
  }
}

TEST(RoomProtocolParse, ParseErrors) {
  // A number beyond double's range is refused, not thrown.
  EXPECT_EQ(parse(R"({"type":"echo","data":1e400})").failure.code, ErrorCode::kParseError);
  for (const char* bad : {"", "not json", "{\"type\":", "{'type':'echo'}"}) {
    const Parsed p = parse(bad);
    EXPECT_FALSE(p.ok) << bad;
    EXPECT_EQ(p.failure.code, ErrorCode::kParseError) << bad;
  }
  const Parsed deep = parse(R"({"type":"echo","data":)" + std::string(100, '[') + std::string(100, ']') + "}");
  EXPECT_EQ(deep.failure.code, ErrorCode::kParseError);
  EXPECT_NE(deep.failure.message.find("deeper"), std::string::npos) << deep.failure.message;
  // Invalid UTF-8 inside a string is not JSON either.
  EXPECT_EQ(parse("{\"type\":\"echo\",\"data\":\"\xff\"}").failure.code, ErrorCode::kParseError);
}

TEST(RoomProtocolParse, InvalidMessages) {
  const std::vector<std::string> bad = {
      "[1,2]",
      "\"echo\"",
      "42",
      R"({"data":1})",
      R"({"type":5})",
      R"({"type":"echo"})",
      R"({"type":"broadcast"})",
      R"({"type":"join_room"})",
      R"({"type":"join_room","roomId":7})",
      R"({"type":"join_room","roomId":""})",
      R"({"type":"join_room","roomId":"a\nb"})",
      R"({"type":"join_room","roomId":"a\u0085b"})",
      R"({"type":"join_room","roomId":")" + std::string(129, 'r') + "\"}",
      R"({"type":"room_message","roomId":"r"})",
      R"({"type":"room_message","content":"x"})",
      R"({"type":"get_room_info"})",
      R"({"type":"leave_room","roomId":null})",
      R"({"type":"ping","id":")" + std::string(200, 'p') + "\"}",
  };
  for (const std::string& text : bad) {
    const Parsed p = parse(text);
    EXPECT_FALSE(p.ok) << text;
    EXPECT_EQ(p.failure.code, ErrorCode::kInvalidMessage) << text;
    EXPECT_FALSE(p.failure.message.empty()) << text;
  }
}

TEST(RoomProtocolParse, RoomIdCountsCharactersNotBytes) {
  std::string room;
  for (int i = 0; i < 128; ++i) room += "\xc3\xa9";  // é, two bytes each
  EXPECT_TRUE(parse(R"({"type":"join_room","roomId":")" + room + "\"}").ok);
  EXPECT_FALSE(parse(R"({"type":"join_room","roomId":")" + room + "e\"}").ok);
}

TEST(RoomProtocolParse, ContentOverTheLimitIsRefusedWithTheRequestId) {
  ParseLimits limits;
  limits.max_content_bytes = 5;
  EXPECT_TRUE(parse(R"({"type":"room_message","roomId":"r","content":"12345"})", limits).ok);
  const Parsed p = parse(R"({"type":"room_message","roomId":"r","content":"123456","_id":9})", limits);
  EXPECT_EQ(p.failure.code, ErrorCode::kInvalidMessage);
  EXPECT_EQ(p.failure.id, 9);
  EXPECT_NE(p.failure.message.find("larger than 5"), std::string::npos) << p.failure.message;
  // Non-string content counts its JSON text; broadcast data is limited too, echo data is not.
  EXPECT_FALSE(parse(R"({"type":"room_message","roomId":"r","content":[1,2,3]})", limits).ok);
  EXPECT_FALSE(parse(R"({"type":"broadcast","data":"123456"})", limits).ok);
  EXPECT_TRUE(parse(R"({"type":"echo","data":"123456"})", limits).ok);
}

TEST(RoomProtocolParse, UnknownTypeKeepsTheId) {
  const Parsed p = parse(R"({"type":"dance","_id":"x1"})");
  EXPECT_EQ(p.failure.code, ErrorCode::kUnknownType);
  EXPECT_EQ(p.failure.id, "x1");
  EXPECT_NE(p.failure.message.find("dance"), std::string::npos);
  // A very long unknown type is shortened in the message, which stays valid UTF-8.
  std::string long_type;
  for (int i = 0; i < 100; ++i) long_type += "\xc3\xa9";
  const Parsed q = parse(R"({"type":")" + long_type + "\"}");
  EXPECT_EQ(q.failure.code, ErrorCode::kUnknownType);
  EXPECT_EQ(json::parse(make_error(q.failure.code, q.failure.message))["code"], "UNKNOWN_TYPE");
}

TEST(RoomProtocolParse, UnknownFieldsAreIgnored) {
  EXPECT_TRUE(parse(R"({"type":"echo","data":1,"extra":{"x":[1]}})").ok);
}

TEST(RoomProtocolNames, ValidNames) {
  EXPECT_TRUE(is_valid_name("lobby"));
  EXPECT_TRUE(is_valid_name("café 2"));
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name("tab\there"));
  EXPECT_FALSE(is_valid_name("del\x7f"));
  EXPECT_FALSE(is_valid_name("\xff"));
  EXPECT_TRUE(is_valid_name(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_name(std::string(129, 'a')));
}

TEST(RoomProtocolBuild, ServerMessagesHaveTheDocumentedShape) {
  EXPECT_EQ(json::parse(make_room_joined("r", {"a", "b"})),
            json::parse(R"({"type":"room_joined","roomId":"r","users":["a","b"]})"));
  EXPECT_EQ(json::parse(make_room_left("r")), json::parse(R"({"type":"room_left","roomId":"r"})"));
  EXPECT_EQ(json::parse(make_user_joined("r", "u")),
            json::parse(R"({"type":"user_joined","roomId":"r","userId":"u"})"));
  EXPECT_EQ(json::parse(make_user_left("r", "u")),
            json::parse(R"({"type":"user_left","roomId":"r","userId":"u"})"));
  EXPECT_EQ(json::parse(make_room_message("r", "u", json{{"t", 1}})),
            json::parse(R"({"type":"room_message","roomId":"r","userId":"u","content":{"t":1}})"));
  EXPECT_EQ(json::parse(make_room_message("r", "u", "hi", 17)),
            json::parse(R"({"type":"room_message","roomId":"r","userId":"u","content":"hi","_id":17,"_ack":true})"));
  EXPECT_EQ(json::parse(make_room_info("r", {})),
            json::parse(R"({"type":"room_info","roomId":"r","userCount":0,"users":[]})"));
  EXPECT_EQ(json::parse(make_echo(json::array({1}))), json::parse(R"({"type":"echo","data":[1]})"));
  EXPECT_EQ(json::parse(make_broadcast("x", "u")),
            json::parse(R"({"type":"broadcast","data":"x","userId":"u"})"));
  EXPECT_EQ(json::parse(make_ping(3)), json::parse(R"({"type":"ping","id":3})"));
  EXPECT_EQ(json::parse(make_pong(nullptr)), json::parse(R"({"type":"pong"})"));
  EXPECT_EQ(json::parse(make_pong("a")), json::parse(R"({"type":"pong","id":"a"})"));
  EXPECT_EQ(json::parse(make_ack("m1")), json::parse(R"({"type":"ack","_id":"m1"})"));
  EXPECT_EQ(json::parse(make_error(ErrorCode::kNotInRoom, "not a member", 4)),
            json::parse(R"({"type":"error","code":"NOT_IN_ROOM","message":"not a member","_id":4})"));
  EXPECT_EQ(json::parse(make_error(ErrorCode::kRateLimited, "slow down")).count("_id"), 0U);
}

TEST(RoomProtocolBuild, WelcomeCarriesIdentityLimitsAndVersion) {
  Welcome w;
  w.user_id = "user-1";
  w.session_id = "abc";
  w.limits.max_content_bytes = 65536;
  w.limits.rate_per_second = 100;
  const json j = json::parse(make_welcome(w));
  EXPECT_EQ(j["type"], "welcome");
  EXPECT_EQ(j["userId"], "user-1");
  EXPECT_EQ(j["sessionId"], "abc");
  EXPECT_EQ(j["protocolVersion"], kProtocolVersion);
  EXPECT_EQ(j["resumed"], false);
  EXPECT_EQ(j["limits"]["maxContentBytes"], 65536);
  EXPECT_EQ(j["limits"]["ratePerSecond"], 100.0);
  EXPECT_TRUE(j["message"].is_string());
  EXPECT_EQ(j.count("rooms"), 0U);
  w.resumed = true;
  w.rooms = {"a"};
  EXPECT_EQ(json::parse(make_welcome(w))["rooms"], json::array({"a"}));
}

TEST(RoomProtocolNames, EveryCodeAndTypeHasItsWireName) {
  EXPECT_STREQ(error_code_name(ErrorCode::kParseError), "PARSE_ERROR");
  EXPECT_STREQ(error_code_name(ErrorCode::kUnauthorized), "UNAUTHORIZED");
  EXPECT_STREQ(error_code_name(ErrorCode::kLimitExceeded), "LIMIT_EXCEEDED");
  EXPECT_STREQ(request_type_name(RequestType::kGetRoomInfo), "get_room_info");
  EXPECT_STREQ(request_type_name(RequestType::kAck), "ack");
  EXPECT_STREQ(server_message_type_name(ServerMessageType::kError), "error");
  EXPECT_STREQ(server_message_type_name(ServerMessageType::kRoomLeft), "room_left");
}

}  // namespace
}  // namespace wstool::room
