// Tests for the room protocol: what a client may send (types, aliases, every validation error)
// and the exact shape of what the server sends.
#include "lib/room_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lib/json_scan.h"
#include "tests/unit/room_protocol_reference.h"

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


// --- the fast paths against the DOM ones ------------------------------------------------------

// Messages covering every type, alias, _id form and failure the parser knows, plus the JSON
// corners the scanner must read as nlohmann does.
std::vector<std::string> message_table() {
  std::vector<std::string> t = {
      R"({"type":"echo","data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})",
      R"({"data":"d","type":"echo"})",
      R"({"type":"echo","data":{"a":[1,2,{"b":null}],"c":"\u00e9"}})",
      R"({"type":"echo","data":[]})",
      R"({"type":"echo","data":-0})",
      R"({"type":"echo","data":0})",
      R"({"type":"echo","data":-12})",
      R"({"type":"echo","data":18446744073709551615})",
      R"({"type":"echo","data":18446744073709551616})",
      R"({"type":"echo","data":-9223372036854775809})",
      R"({"type":"echo","data":1.5e-3})",
      R"({"type":"echo","data":1E2})",
      R"({"type":"echo","data":1e400})",
      R"({"type":"echo","data":1e-400})",
      R"({"type":"echo","data":true})",
      R"({"type":"echo","data":null})",
      R"({"type":"echo","data":"tab\there \"q\" \\ \/ \b\f\n\r \u0000 \ud83d\ude00"})",
      "{\"type\":\"echo\",\"data\":\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \x7F\"}",
      "{\"type\":\"echo\",\"data\":\"\xFF\"}",
      "{\"type\":\"echo\",\"data\":\"\xED\xA0\x80\"}",
      "{\"type\":\"echo\",\"data\":\"a\nb\"}",
      R"({"type":"echo","data":"\ud800"})",
      R"({"type":"echo","data":"\udc00"})",
      R"({"type":"echo","data":"x","data":"last wins"})",
      R"({"type":"broadcast","type":"echo","data":1})",
      R"({"type":"echo","type":"nope","data":1})",
      R"({"type":"echo","data":1,"_id":"a","_id":7})",
      R"({"typ\u0065":"echo","data":1})",
      R"({"type":"\u0065cho","data":1})",
      R"({"type":"echo","d\u0061ta":1})",
      R"({"type":"echo","data":1,"extra":{"deep":[[[[1]]]]},"more":[true,false,null,"s",-1.0e+2]})",
      " \t\r\n{ \"type\" : \"echo\" , \"data\" : 1 } \n",
      "\xEF\xBB\xBF{\"type\":\"echo\",\"data\":1}",
      R"({"type":"echo","data":1,})",
      R"({"type":"echo",,"data":1})",
      R"({"type":"echo","data":01})",
      R"({"type":"echo","data":1} {})",
      R"({"type":"echo","data":[1,]})",
      R"({"type":"echo","data":NaN})",
      R"(// comment
{"type":"echo","data":1})",
      R"({"type":"broadcast","data":"x"})",
      R"({"type":"broadcast","data":{"k":"v"}})",
      R"({"type":"broadcast"})",
      R"({"type":"join_room","roomId":"lobby"})",
      R"({"type":"join","roomId":"lobby","ack":true})",
      R"({"type":"join_room","roomId":"lobby","ack":false})",
      R"({"type":"join_room","roomId":"lobby","ack":"yes"})",
      R"({"type":"join_room","roomId":"lobby","ack":1})",
      R"({"type":"join_room","roomId":"caf\u00e9"})",
      "{\"type\":\"join_room\",\"roomId\":\"caf\xC3\xA9\"}",
      R"({"type":"join_room","roomId":"a\u0085b"})",
      R"({"type":"join_room","roomId":"a\nb"})",
      R"({"type":"join_room","roomId":""})",
      R"({"type":"join_room","roomId":7})",
      R"({"type":"join_room"})",
      R"({"type":"leave_room"})",
      R"({"type":"leave","roomId":"r"})",
      R"({"type":"leave_room","roomId":null})",
      R"({"type":"room_message","roomId":"r","content":"hi"})",
      R"({"type":"message","roomId":"r","content":{"text":"hi","n":[1,2]}})",
      R"({"type":"room_message","roomId":"r"})",
      R"({"type":"room_message","content":"x"})",
      R"({"type":"room_message","roomId":"r","content":"123456789"})",
      R"({"type":"room_message","roomId":"r","content":"12\u00e9"})",
      R"({"type":"room_message","roomId":"r","content":[1,2,3,4]})",
      R"({"type":"get_room_info","roomId":"r"})",
      R"({"type":"get_room_info"})",
      R"({"type":"ping","id":7})",
      R"({"type":"ping","id":"abc"})",
      R"({"type":"ping","id":{"x":1}})",
      R"({"type":"ping"})",
      R"({"type":"pong","id":1})",
      R"({"type":"ack","_id":5})",
      R"({"type":"ack"})",
      R"({"_ack":true,"_id":"m-1"})",
      R"({"_ack":true})",
      R"({"_ack":1,"_id":1})",
      R"({"_ack":false,"_id":1})",
      R"({"type":"echo","data":1,"_id":"abc"})",
      R"({"type":"echo","data":1,"_id":-42})",
      R"({"type":"echo","data":1,"_id":1.5})",
      R"({"type":"echo","data":1,"_id":true})",
      R"({"type":"echo","data":1,"_id":null})",
      R"({"type":"echo","data":1,"_id":[1]})",
      R"({"type":"echo","data":1,"_id":123456789012345678901234567890})",
      R"({"type":"echo","data":1,"_id":"a\"b"})",
      R"({"data":1})",
      R"({"type":5})",
      R"({"type":null,"_id":3})",
      R"({"type":"echo"})",
      R"({"type":"dance","_id":"x1"})",
      R"({})",
      "[1,2]", "\"echo\"", "42", "", "not json", "{\"type\":", "{'type':'echo'}", "null",
  };
  t.push_back(R"({"type":"echo","data":1,"_id":")" + std::string(128, 'x') + "\"}");
  t.push_back(R"({"type":"echo","data":1,"_id":")" + std::string(129, 'x') + "\"}");
  t.push_back(R"({"type":"join_room","roomId":")" + std::string(128, 'r') + "\"}");
  t.push_back(R"({"type":"join_room","roomId":")" + std::string(129, 'r') + "\"}");
  t.push_back(R"({"type":"ping","id":")" + std::string(200, 'p') + "\"}");
  std::string long_type;
  for (int i = 0; i < 100; ++i) long_type += "\xc3\xa9";
  t.push_back(R"({"type":")" + long_type + "\"}");
  t.push_back(R"({"type":"echo","data":)" + std::string(31, '[') + std::string(31, ']') + "}");
  t.push_back(R"({"type":"echo","data":)" + std::string(32, '[') + std::string(32, ']') + "}");
  t.push_back(R"({"type":"echo","data":")" + std::string(100000, 'z') + "\"}");
  t.push_back(std::string(R"({"type":"echo","data":"a\u0000b")") + "}");
  t.push_back(std::string("{\"type\":\"echo\",\"data\":\"nul\0\"}", 29));
  t.push_back(std::string("{\"type\":\"echo\",\"data\":1}\0junk", 29));
  return t;
}

TEST(RoomProtocolFastPath, ParseAgreesWithTheDomPathOnEveryMessage) {
  ParseLimits small;
  small.max_content_bytes = 5;
  small.max_depth = 2;
  for (const std::string& text : message_table()) {
    for (const ParseLimits& limits : {ParseLimits{}, small}) {
      const reference::Both both = reference::parse_both(text, limits);
      EXPECT_EQ(both.fast, both.dom) << text.substr(0, 200);
    }
  }
}

TEST(RoomProtocolFastPath, EchoRepliesFromEitherPathAreByteIdentical) {
  // The fast path keeps a plain string's text instead of a value: the reply written from it is
  // the DOM request's reply, byte for byte.
  std::size_t verbatim = 0;
  for (const std::string& text : message_table()) {
    Request fast;
    ParseFailure fast_failure;
    Request dom;
    ParseFailure dom_failure;
    if (!parse_request(text, {}, fast, fast_failure) || fast.type != RequestType::kEcho) continue;
    ASSERT_TRUE(parse_request_with_dom(text, {}, dom, dom_failure)) << text.substr(0, 200);
    if (!fast.data_verbatim.empty()) ++verbatim;
    std::string reply = "kept ";  // appended to, not replaced
    append_echo(reply, fast);
    EXPECT_EQ(reply, "kept " + reference::make_echo(dom.data)) << text.substr(0, 200);
  }
  EXPECT_GE(verbatim, 3u);  // the plain strings of the table, the 100,000-byte one among them
  // A reused request forgets the last message's text.
  Request request;
  ParseFailure failure;
  ASSERT_TRUE(parse_request(R"({"type":"echo","data":"x"})", {}, request, failure));
  EXPECT_EQ(request.data_verbatim, "\"x\"");
  ASSERT_TRUE(parse_request(R"({"type":"echo","data":[1]})", {}, request, failure));
  EXPECT_TRUE(request.data_verbatim.empty());
  EXPECT_EQ(request.data, json::array({1}));
}

TEST(RoomProtocolFastPath, TheScannerTakesTheCommonMessages) {
  // The fast path is only a fast path if the scanner accepts ordinary requests.
  for (const char* text : {R"({"type":"echo","data":"xxxxxxxx"})",
                           R"({"type":"room_message","roomId":"r","content":{"a":[1.5,"\n"]},"_id":"m-1"})",
                           R"({"type":"join_room","roomId":"lobby","ack":true})", R"({"type":"ping","id":3})"}) {
    json_scan::Kind top = json_scan::Kind::kNull;
    EXPECT_TRUE(json_scan::scan(text, kMaxMessageDepth, top)) << text;
    EXPECT_EQ(top, json_scan::Kind::kObject);
  }
}

std::vector<json> value_table() {
  std::vector<json> v = {
      nullptr, true, false, 0, 1, -1, 42u, json(std::int64_t{-9223372036854775807} - 1),
      json(std::uint64_t{18446744073709551615u}), 1.5, -0.0, 1e-300, 123456789.125, "", "x", "plain text",
      "quote \" backslash \\ /", "\b\f\n\r\t\x01\x1f\x7f", std::string("nul\0", 4), "h\xC3\xA9 \xF0\x9F\x98\x80",
      "\xFF", "\xC3", "\xE2\x82(", "\xED\xA0\x80", "\xF4\x90\x80\x80", json::array(), json::object(),
      json::array({1, "a", nullptr, json::array({true})}), json{{"b", "\n"}, {"a", 1}, {"\xFF", 2}},
  };
  return v;
}

TEST(RoomProtocolFastPath, RepliesAreByteIdenticalToTheDomBuilders) {
  const std::vector<std::string> names = {"u", "user-1", "caf\xC3\xA9 \"q\"", "\xFF\xFE", "a\nb", ""};
  for (const json& value : value_table()) {
    const std::string shown = value.dump(-1, ' ', true, json::error_handler_t::replace);
    EXPECT_EQ(make_echo(value), reference::make_echo(value)) << shown;
    EXPECT_EQ(make_pong(value), reference::make_pong(value)) << shown;
    for (const std::string& name : names) {
      EXPECT_EQ(make_broadcast(value, name), reference::make_broadcast(value, name)) << shown;
      EXPECT_EQ(make_room_message(name, "u", value), reference::make_room_message(name, "u", value)) << shown;
      EXPECT_EQ(make_room_message("r", name, value, 17), reference::make_room_message("r", name, value, 17))
          << shown;
      EXPECT_EQ(make_error(ErrorCode::kNotInRoom, name, value), reference::make_error(ErrorCode::kNotInRoom, name, value))
          << shown;
    }
    if (!value.is_null()) {
      EXPECT_EQ(make_ack(value), reference::make_ack(value)) << shown;
      EXPECT_EQ(make_room_message("r", "u", "c", value), reference::make_room_message("r", "u", "c", value)) << shown;
    }
  }
  EXPECT_EQ(make_ack(nullptr), reference::make_ack(nullptr));
  for (std::size_t code = 0; code < kErrorCodeCount; ++code) {
    const auto c = static_cast<ErrorCode>(code);
    EXPECT_EQ(make_error(c, "m"), reference::make_error(c, "m"));
  }
}

}  // namespace
}  // namespace wstool::room
