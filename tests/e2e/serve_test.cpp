// `wstool serve` end to end: the real binary on loopback, driven by a small synchronous
// WebSocket client, through every message type, alias, error code, limit and the shutdown.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/engine.h"
#include "lib/frame.h"
#include "lib/logger.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"
#include "tests/support/ws_frames.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kBinary = WSTOOL_BINARY;
constexpr std::chrono::milliseconds kWait = 5s;

// --- a synchronous test client: masked frames out, frames parsed in, deadlines everywhere ---

class WsClient {
 public:
  // Connects to 127.0.0.1:port with `target` and completes the handshake; on failure
  // `handshake_status()` holds the status line.
  // `extra_headers`: whole header lines, each ending in CRLF.
  WsClient(std::uint16_t port, const std::string& target = "/", const std::string& extra_headers = "")
      : socket_(connect_loopback(port)) {
    if (!socket_.valid()) return;
    socket_.send_all("GET " + target +
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                     extra_headers + "\r\n");
    const auto deadline = Clock::now() + kWait;
    std::size_t end = std::string::npos;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos && Clock::now() < deadline) {
      const std::string more = socket_.read_some(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (more.empty() && socket_.eof()) break;
      buffer_ += more;
    }
    if (end == std::string::npos) return;
    status_line_ = buffer_.substr(0, buffer_.find("\r\n"));
    head_ = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    open_ = status_line_.rfind("HTTP/1.1 101", 0) == 0;
  }

  bool open() const { return open_; }
  const std::string& status_line() const { return status_line_; }
  const std::string& head() const { return head_; }
  const std::string& body_after_head() const { return buffer_; }

  bool send_frame(std::uint8_t opcode, const std::string& payload, bool fin = true) {
    return socket_.send_all(ws_frame(opcode, payload, true, fin));
  }
  bool send_text(const std::string& text) { return send_frame(ws::opcode::kText, text); }
  bool send(const json& message) { return send_text(message.dump()); }

  // The next text or binary message as JSON (pings answered on the way); nullopt on timeout,
  // EOF or a close frame (then close_code() is set).
  std::optional<json> next(std::chrono::milliseconds timeout = kWait) {
    if (!queued_.empty()) {
      json j = std::move(queued_.front());
      queued_.pop_front();
      return j;
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      ws::FrameHeader h;
      const auto* data = reinterpret_cast<const std::uint8_t*>(buffer_.data());
      if (ws::decode_header(data, buffer_.size(), h) == ws::HeaderStatus::kComplete &&
          buffer_.size() >= h.header_length + h.payload_length) {
        std::string payload = buffer_.substr(h.header_length, h.payload_length);
        buffer_.erase(0, h.header_length + h.payload_length);
        if (h.opcode == ws::opcode::kPing) {
          send_frame(ws::opcode::kPong, payload);
          continue;
        }
        if (h.opcode == ws::opcode::kClose) {
          close_code_ = payload.size() >= 2 ? static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                                          static_cast<unsigned char>(payload[1]))
                                            : ws::close_code::kNoStatus;
          close_reason_ = payload.size() > 2 ? payload.substr(2) : "";
          return std::nullopt;
        }
        if (h.opcode == ws::opcode::kText || h.opcode == ws::opcode::kBinary) {
          last_opcode_ = h.opcode;
          return json::parse(payload, nullptr, false);
        }
        continue;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      const std::string more = socket_.read_some(left);
      if (more.empty()) return std::nullopt;
      buffer_ += more;
    }
  }

  // The next message of `type`, skipping (and keeping, for later next() calls) other ones.
  json wait_for(const std::string& type, std::chrono::milliseconds timeout = kWait) {
    std::deque<json> skipped;
    const auto deadline = Clock::now() + timeout;
    json found;
    while (Clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto message = next(left);
      if (!message) break;
      if (message->value("type", "") == type) {
        found = std::move(*message);
        break;
      }
      skipped.push_back(std::move(*message));
    }
    for (auto it = skipped.rbegin(); it != skipped.rend(); ++it) queued_.push_front(std::move(*it));
    return found;
  }

  // Sends a ping request and returns every message that arrived before its pong: the server
  // answers in order, so this shows exactly what the earlier requests produced.
  std::vector<json> drain() {
    const std::string marker = "drain-" + std::to_string(++drains_);
    send(json{{"type", "ping"}, {"id", marker}});
    std::vector<json> before;
    while (auto message = next()) {
      if (message->value("type", "") == "pong" && message->value("id", "") == marker) return before;
      before.push_back(std::move(*message));
    }
    ADD_FAILURE() << "no pong to " << marker;
    return before;
  }

  // Waits for the server's close frame; returns its code (0 when none came in time).
  std::uint16_t wait_close(std::chrono::milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    while (close_code_ == 0 && Clock::now() < deadline) {
      if (!next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())) && close_code_ == 0 &&
          socket_.eof()) {
        break;
      }
    }
    return close_code_;
  }

  void close() {
    send_frame(ws::opcode::kClose, std::string("\x03\xe8", 2));
    wait_close();
    socket_.close();
  }
  void drop() { socket_.close(); }

  std::uint16_t close_code() const { return close_code_; }
  bool eof() const { return socket_.eof(); }
  const std::string& close_reason() const { return close_reason_; }
  std::uint8_t last_opcode() const { return last_opcode_; }

 private:
  Socket socket_;
  std::string buffer_;
  std::string status_line_;
  std::string head_;
  bool open_ = false;
  std::deque<json> queued_;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  std::uint8_t last_opcode_ = 0;
  int drains_ = 0;
};

// A server started with --listen 127.0.0.1:0, its port read from the readiness line.
struct ServeServer {
  Process process;
  std::uint16_t port = 0;
  explicit ServeServer(std::vector<std::string> extra = {})
      : process([&] {
          std::vector<std::string> argv = {kBinary, "serve", "--listen", "127.0.0.1:0", "-v"};
          // Defaults a test may override. Two threads, so fan-out crosses threads; the test
          // clients are still open at stop() and never answer the close, so do not wait the
          // default 5 s for them.
          for (const auto& [flag, value] : {std::pair<std::string, std::string>{"--threads", "2"},
                                            {"--shutdown-timeout", "300ms"}}) {
            if (std::find(extra.begin(), extra.end(), flag) == extra.end()) argv.insert(argv.end(), {flag, value});
          }
          argv.insert(argv.end(), extra.begin(), extra.end());
          return argv;
        }()) {
    const auto line = process.read_line(kWait);
    if (line) port = port_from_readiness_line(*line);
  }
  ProcessResult stop() {
    process.signal(SIGTERM);
    return process.wait(10s);
  }
};

// A connected client that has read its welcome.
struct Joined {
  std::unique_ptr<WsClient> client;
  json welcome;
};

Joined connect(std::uint16_t port, const std::string& target = "/") {
  Joined j{std::make_unique<WsClient>(port, target), {}};
  EXPECT_TRUE(j.client->open()) << j.client->status_line();
  if (auto w = j.client->next()) j.welcome = *w;
  EXPECT_EQ(j.welcome.value("type", ""), "welcome") << j.welcome;
  return j;
}

json error_of(WsClient& c) {
  auto message = c.next();
  EXPECT_TRUE(message.has_value());
  if (!message) return {};
  EXPECT_EQ(message->value("type", ""), "error") << *message;
  return *message;
}

// --- tests ---------------------------------------------------------------------------------

TEST(Serve, WelcomeEchoPingAndAck) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  EXPECT_EQ(a.welcome["userId"], "user-1");
  EXPECT_EQ(a.welcome["protocolVersion"], 1);
  EXPECT_EQ(a.welcome["resumed"], false);
  EXPECT_EQ(a.welcome["sessionId"].get<std::string>().size(), 32U);
  EXPECT_EQ(a.welcome["limits"]["maxContentBytes"], 65536);
  EXPECT_EQ(a.welcome["limits"]["maxRoomsPerConnection"], 100);
  EXPECT_EQ(a.welcome["limits"]["ratePerSecond"], 100.0);
  // --burst takes a whole number: the welcome says 200, not 200.0.
  EXPECT_TRUE(a.welcome["limits"]["burst"].is_number_unsigned()) << a.welcome["limits"]["burst"].dump();
  EXPECT_EQ(a.welcome["limits"]["burst"], 200U);

  a.client->send(json{{"type", "echo"}, {"data", {{"x", 1}}}});
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"echo","data":{"x":1}})"));
  a.client->send(json{{"type", "ping"}, {"id", 42}});
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"pong","id":42})"));
  a.client->send(json{{"type", "echo"}, {"data", "d"}, {"_id", "e1"}});
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"echo","data":"d"})"));
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"ack","_id":"e1"})"));
  a.client->close();
  EXPECT_EQ(a.client->close_code(), 1000);
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_NE(result.err.find("user-1 closed: 1000"), std::string::npos) << result.err;
}

TEST(Serve, UserIdFromTheQueryElseCountedFromOne) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined anon1 = connect(server.port);
  Joined alice = connect(server.port, "/?userId=alice%20b");
  Joined anon2 = connect(server.port, "/chat?x=1");
  EXPECT_EQ(anon1.welcome["userId"], "user-1");
  EXPECT_EQ(alice.welcome["userId"], "alice b");
  EXPECT_EQ(anon2.welcome["userId"], "user-2");
  // A malformed userId is refused before the upgrade.
  WsClient bad(server.port, "/?userId=a%0Ab");
  EXPECT_FALSE(bad.open());
  EXPECT_EQ(bad.status_line().rfind("HTTP/1.1 400", 0), 0U) << bad.status_line();
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, BroadcastReachesEveryoneWithTheSender) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port, "/?userId=a");
  Joined b = connect(server.port, "/?userId=b");
  Joined c = connect(server.port, "/?userId=c");
  b.client->send(json{{"type", "broadcast"}, {"data", {1, 2}}});
  const json expected = json::parse(R"({"type":"broadcast","data":[1,2],"userId":"b"})");
  EXPECT_EQ(a.client->wait_for("broadcast"), expected);
  EXPECT_EQ(b.client->wait_for("broadcast"), expected);
  EXPECT_EQ(c.client->wait_for("broadcast"), expected);
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, RoomsPresenceAndMessagesWithAliases) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port, "/?userId=ann");
  Joined b = connect(server.port, "/?userId=bob");
  a.client->send(json{{"type", "join_room"}, {"roomId", "lobby"}});
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"room_joined","roomId":"lobby","users":["ann"]})"));
  b.client->send(json{{"type", "join"}, {"roomId", "lobby"}});
  EXPECT_EQ(*b.client->next(), json::parse(R"({"type":"room_joined","roomId":"lobby","users":["ann","bob"]})"));
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"user_joined","roomId":"lobby","userId":"bob"})"));

  b.client->send(json{{"type", "message"}, {"roomId", "lobby"}, {"content", "hi"}});
  const json hi = json::parse(R"({"type":"room_message","roomId":"lobby","userId":"bob","content":"hi"})");
  EXPECT_EQ(*a.client->next(), hi);
  EXPECT_EQ(*b.client->next(), hi);  // the sender included
  a.client->send(json{{"type", "room_message"}, {"roomId", "lobby"}, {"content", {{"k", true}}}});
  EXPECT_EQ(b.client->next()->at("content"), json({{"k", true}}));
  EXPECT_EQ(a.client->next()->at("userId"), "ann");

  a.client->send(json{{"type", "get_room_info"}, {"roomId", "lobby"}});
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"room_info","roomId":"lobby","userCount":2,"users":["ann","bob"]})"));
  a.client->send(json{{"type", "get_room_info"}, {"roomId", "nowhere"}});
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"room_info","roomId":"nowhere","userCount":0,"users":[]})"));

  // Bob is in two rooms; leaving one keeps the other (the sketch left the first room instead).
  b.client->send(json{{"type", "join_room"}, {"roomId", "kitchen"}});
  EXPECT_EQ(b.client->next()->at("type"), "room_joined");
  b.client->send(json{{"type", "leave"}, {"roomId", "lobby"}});
  EXPECT_EQ(*b.client->next(), json::parse(R"({"type":"room_left","roomId":"lobby"})"));
  EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"user_left","roomId":"lobby","userId":"bob"})"));
  b.client->send(json{{"type", "room_message"}, {"roomId", "kitchen"}, {"content", "still here"}});
  EXPECT_EQ(b.client->next()->at("content"), "still here");
  b.client->send(json{{"type", "room_message"}, {"roomId", "lobby"}, {"content", "x"}, {"_id", 5}});
  const json not_member = error_of(*b.client);
  EXPECT_EQ(not_member["code"], "NOT_IN_ROOM");
  EXPECT_EQ(not_member["_id"], 5);
  // NOT_IN_ROOM also when the room exists and has members.
  a.client->send(json{{"type", "room_message"}, {"roomId", "kitchen"}, {"content", "x"}});
  EXPECT_EQ(error_of(*a.client)["code"], "NOT_IN_ROOM");
  a.client->send(json{{"type", "leave_room"}, {"roomId", "kitchen"}});
  EXPECT_EQ(error_of(*a.client)["code"], "NOT_IN_ROOM");
  EXPECT_TRUE(a.client->drain().empty());  // nothing else reached ann
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, LeavingWithoutRoomIdLeavesEveryRoomAndEmptyRoomsDisappear) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port, "/?userId=a");
  Joined b = connect(server.port, "/?userId=b");
  // One after the other: connections live on different threads, so concurrent requests from
  // two clients may be processed in either order.
  for (const char* room : {"r1", "r2"}) {
    a.client->send(json{{"type", "join_room"}, {"roomId", room}});
    EXPECT_EQ(a.client->wait_for("room_joined")["roomId"], room);
    b.client->send(json{{"type", "join_room"}, {"roomId", room}});
    EXPECT_EQ(b.client->wait_for("room_joined")["roomId"], room);
  }
  b.client->send(json{{"type", "leave_room"}});
  std::vector<json> left;
  for (int i = 0; i < 2; ++i) left.push_back(b.client->wait_for("room_left"));
  EXPECT_EQ(left[0]["roomId"], "r1");
  EXPECT_EQ(left[1]["roomId"], "r2");
  EXPECT_EQ(a.client->wait_for("user_left")["roomId"], "r1");
  EXPECT_EQ(a.client->wait_for("user_left")["roomId"], "r2");
  a.client->send(json{{"type", "leave_room"}, {"_id", "all"}});
  EXPECT_EQ(a.client->wait_for("ack")["_id"], "all");
  b.client->send(json{{"type", "get_room_info"}, {"roomId", "r1"}});
  EXPECT_EQ(b.client->wait_for("room_info")["userCount"], 0);
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, DisconnectLeavesEveryRoomAndTellsTheOthers) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port, "/?userId=a");
  Joined b = connect(server.port, "/?userId=b");
  for (const char* room : {"r1", "r2"}) {
    a.client->send(json{{"type", "join_room"}, {"roomId", room}});
    EXPECT_EQ(a.client->next()->at("type"), "room_joined");
    b.client->send(json{{"type", "join_room"}, {"roomId", room}});
    EXPECT_EQ(b.client->next()->at("type"), "room_joined");
    EXPECT_EQ(a.client->next()->at("type"), "user_joined");
  }
  b.client->drop();  // no close frame: an abrupt disconnect
  const json first = *a.client->next();
  const json second = *a.client->next();
  EXPECT_EQ(first["type"], "user_left");
  EXPECT_EQ(second["type"], "user_left");
  EXPECT_EQ(first["userId"], "b");
  EXPECT_NE(first["roomId"], second["roomId"]);
  a.client->send(json{{"type", "get_room_info"}, {"roomId", "r1"}});
  EXPECT_EQ(a.client->next()->at("users"), json::array({"a"}));
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, ManyClientsOnSeveralThreadsSeeEveryMessageInEachSendersOrder) {
  ServeServer server({"--threads", "4"});
  ASSERT_NE(server.port, 0);
  constexpr int kClients = 16;
  constexpr int kPerClient = 20;
  std::vector<Joined> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(connect(server.port, "/?userId=c" + std::to_string(i)));
    clients.back().client->send(json{{"type", "join_room"}, {"roomId", "busy"}});
    ASSERT_EQ(clients.back().client->wait_for("room_joined")["users"].size(), static_cast<std::size_t>(i + 1));
  }
  for (int n = 0; n < kPerClient; ++n) {
    for (int i = 0; i < kClients; ++i) {
      clients[static_cast<std::size_t>(i)].client->send(
          json{{"type", "room_message"}, {"roomId", "busy"}, {"content", n}});
    }
  }
  for (int i = 0; i < kClients; ++i) {
    std::map<std::string, int> next_from;  // per sender, the content expected next
    for (int got = 0; got < kClients * kPerClient; ++got) {
      const json message = clients[static_cast<std::size_t>(i)].client->wait_for("room_message");
      ASSERT_FALSE(message.is_null()) << "client " << i << " got only " << got;
      int& expected = next_from[message["userId"].get<std::string>()];
      EXPECT_EQ(message["content"], expected) << "from " << message["userId"];
      ++expected;
    }
  }
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, EveryValidationErrorIsAnsweredAndTheConnectionStays) {
  ServeServer server({"--max-content", "10"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  struct Case {
    std::string text;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"not json", "PARSE_ERROR"},
      {R"({"type":"echo","data":)" + std::string(100, '[') + std::string(100, ']') + "}", "PARSE_ERROR"},
      {R"({"type":"echo","data":1e999})", "PARSE_ERROR"},
      {"[1]", "INVALID_MESSAGE"},
      {R"({"data":1})", "INVALID_MESSAGE"},
      {R"({"type":"echo"})", "INVALID_MESSAGE"},
      {R"({"type":"join_room","roomId":""})", "INVALID_MESSAGE"},
      {R"({"type":"join_room","roomId":")" + std::string(129, 'r') + "\"}", "INVALID_MESSAGE"},
      {R"({"type":"join_room","roomId":"a\tb"})", "INVALID_MESSAGE"},
      {R"({"type":"echo","data":1,"_id":1.5})", "INVALID_MESSAGE"},
      {R"({"type":"echo","data":1,"_id":")" + std::string(129, 'i') + "\"}", "INVALID_MESSAGE"},
      {R"({"type":"broadcast","data":"more than ten bytes"})", "INVALID_MESSAGE"},
      {R"({"type":"fly"})", "UNKNOWN_TYPE"},
  };
  for (const Case& c : cases) {
    a.client->send_text(c.text);
    const json error = error_of(*a.client);
    EXPECT_EQ(error["code"], c.code) << c.text;
    EXPECT_FALSE(error.value("message", "").empty()) << c.text;
  }
  // The error carries the request's _id when it had a valid one.
  a.client->send(json{{"type", "warp"}, {"_id", "w1"}});
  EXPECT_EQ(error_of(*a.client)["_id"], "w1");
  // The connection still works.
  a.client->send(json{{"type", "echo"}, {"data", "ok"}});
  EXPECT_EQ(a.client->next()->at("data"), "ok");
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, RoomLimitsAnswerLimitExceeded) {
  ServeServer server({"--max-rooms-per-connection", "2", "--max-rooms", "3"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  Joined b = connect(server.port);
  for (const char* room : {"r1", "r2"}) {
    a.client->send(json{{"type", "join_room"}, {"roomId", room}});
    EXPECT_EQ(a.client->next()->at("type"), "room_joined");
  }
  a.client->send(json{{"type", "join_room"}, {"roomId", "r3"}, {"_id", 3}});
  const json per_connection = error_of(*a.client);
  EXPECT_EQ(per_connection["code"], "LIMIT_EXCEEDED");
  EXPECT_EQ(per_connection["_id"], 3);
  b.client->send(json{{"type", "join_room"}, {"roomId", "r3"}});
  EXPECT_EQ(b.client->next()->at("type"), "room_joined");
  b.client->send(json{{"type", "join_room"}, {"roomId", "r4"}});
  EXPECT_EQ(error_of(*b.client)["code"], "LIMIT_EXCEEDED");
  // Joining an existing room is still fine at the server-wide limit.
  b.client->send(json{{"type", "join_room"}, {"roomId", "r1"}});
  EXPECT_EQ(b.client->wait_for("room_joined")["users"].size(), 2U);
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, BinaryIsInvalidUnlessAllowed) {
  {
    ServeServer server;
    ASSERT_NE(server.port, 0);
    Joined a = connect(server.port);
    a.client->send_frame(ws::opcode::kBinary, R"({"type":"echo","data":1})");
    EXPECT_EQ(error_of(*a.client)["code"], "INVALID_MESSAGE");
    EXPECT_TRUE(server.stop().exited_with(0));
  }
  {
    ServeServer server({"--allow-binary"});
    ASSERT_NE(server.port, 0);
    Joined a = connect(server.port);
    a.client->send_frame(ws::opcode::kBinary, R"({"type":"echo","data":1})");
    EXPECT_EQ(*a.client->next(), json::parse(R"({"type":"echo","data":1})"));
    EXPECT_EQ(a.client->last_opcode(), ws::opcode::kText);
    EXPECT_TRUE(server.stop().exited_with(0));
  }
}

TEST(Serve, RateLimitAnswersRateLimitedNeverDrops) {
  // 1/m: no token comes back during the test, so exactly the burst passes.
  ServeServer server({"--rate", "1/m", "--burst", "3"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  for (int i = 0; i < 5; ++i) a.client->send(json{{"type", "echo"}, {"data", i}, {"_id", i}});
  int echoes = 0;
  std::vector<int> limited;
  for (int i = 0; i < 8 && (echoes + static_cast<int>(limited.size())) < 5; ++i) {
    const auto message = a.client->next();
    ASSERT_TRUE(message.has_value());
    if (message->at("type") == "echo") ++echoes;
    if (message->at("type") == "error") {
      EXPECT_EQ(message->at("code"), "RATE_LIMITED");
      limited.push_back(message->at("_id").get<int>());
    }
  }
  EXPECT_EQ(echoes, 3);
  EXPECT_EQ(limited, (std::vector<int>{3, 4}));
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, RatePerIpIsSharedByEveryConnectionFromOneAddress) {
  ServeServer server({"--rate-per-ip", "1/m", "--burst", "3"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  Joined b = connect(server.port);
  for (int i = 0; i < 2; ++i) {
    a.client->send(json{{"type", "echo"}, {"data", i}});
    EXPECT_EQ(a.client->next()->at("type"), "echo");
  }
  b.client->send(json{{"type", "echo"}, {"data", 2}});
  EXPECT_EQ(b.client->next()->at("type"), "echo");
  b.client->send(json{{"type", "echo"}, {"data", 3}, {"_id", 3}});
  const json limited = error_of(*b.client);
  EXPECT_EQ(limited["code"], "RATE_LIMITED");
  EXPECT_EQ(limited["_id"], 3);
  EXPECT_NE(limited.value("message", "").find("IP address"), std::string::npos) << limited;
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, AMemberThatDoesNotReadIsClosedAndNeverHoldsTheRoomBack) {
  ServeServer server({"--max-send-queue", "64KiB", "--max-content", "60KiB", "--rate", "0"});
  ASSERT_NE(server.port, 0);
  Joined stalled = connect(server.port, "/?userId=stalled");
  Joined reader = connect(server.port, "/?userId=reader");
  for (Joined* j : {&stalled, &reader}) {
    j->client->send(json{{"type", "join_room"}, {"roomId", "r"}});
    EXPECT_EQ(j->client->wait_for("room_joined")["roomId"], "r");
  }
  // Far more than the kernel's socket buffers hold for a client that never reads.
  const std::string content(50000, 'x');
  constexpr int kMessages = 250;
  for (int i = 0; i < kMessages; ++i) {
    reader.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", content}});
    const json got = reader.client->wait_for("room_message");
    ASSERT_EQ(got.value("userId", ""), "reader") << "message " << i;
  }
  // Its close frame sits behind what it never read, so it may never see it: the server drops
  // the TCP connection after the close timeout either way.
  const std::uint16_t code = stalled.client->wait_close(15s);
  EXPECT_TRUE(code == 1008 || (code == 0 && stalled.client->eof())) << code;
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_NE(result.err.find("stalled closed: 1008"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("closed because they did not read"), std::string::npos) << result.err;
}

TEST(Serve, AbuseLimitClosesWith1008) {
  ServeServer server({"--abuse-limit", "3"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  Joined bystander = connect(server.port);
  for (int i = 0; i < 4; ++i) a.client->send_text("garbage");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(error_of(*a.client)["code"], "PARSE_ERROR");
  EXPECT_EQ(a.client->wait_close(), 1008);
  // Everyone else is still served.
  bystander.client->send(json{{"type", "echo"}, {"data", 1}});
  EXPECT_EQ(bystander.client->next()->at("type"), "echo");
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_NE(result.err.find("more than 3 errors within a minute"), std::string::npos) << result.err;
}

TEST(Serve, OversizedMessageClosesWith1009) {
  ServeServer server({"--max-message-size", "1KiB"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  a.client->send(json{{"type", "echo"}, {"data", std::string(2000, 'x')}});
  EXPECT_EQ(a.client->wait_close(), 1009);
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, RetransmittedIdIsAcknowledgedButNotProcessedTwice) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port, "/?userId=a");
  Joined b = connect(server.port, "/?userId=b");
  a.client->send(json{{"type", "join_room"}, {"roomId", "r"}});
  b.client->send(json{{"type", "join_room"}, {"roomId", "r"}});
  EXPECT_EQ(b.client->wait_for("room_joined")["roomId"], "r");
  const json message = {{"type", "room_message"}, {"roomId", "r"}, {"content", "once"}, {"_id", "m1"}};
  a.client->send(message);
  a.client->send(message);
  a.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", "next"}, {"_id", "m2"}});
  EXPECT_EQ(b.client->wait_for("room_message")["content"], "once");
  EXPECT_EQ(b.client->wait_for("room_message")["content"], "next");  // not "once" again
  int acks_m1 = 0;
  for (const json& m : a.client->drain()) acks_m1 += m.value("type", "") == "ack" && m.value("_id", "") == "m1";
  EXPECT_EQ(acks_m1, 2);
  // The integer 1 and the string "1" are different ids.
  a.client->send(json{{"type", "echo"}, {"data", "int"}, {"_id", 1}});
  a.client->send(json{{"type", "echo"}, {"data", "str"}, {"_id", "1"}});
  EXPECT_EQ(a.client->wait_for("echo")["data"], "int");
  EXPECT_EQ(a.client->wait_for("echo")["data"], "str");
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, ReliableDeliveryIsResentUntilAcknowledgedThenCountedUndelivered) {
  ServeServer server({"--ack-timeout", "100ms", "--ack-retries", "2"});
  ASSERT_NE(server.port, 0);
  Joined quiet = connect(server.port, "/?userId=quiet");
  Joined polite = connect(server.port, "/?userId=polite");
  Joined sender = connect(server.port, "/?userId=sender");
  quiet.client->send(json{{"type", "join_room"}, {"roomId", "r"}, {"ack", true}});
  EXPECT_EQ(quiet.client->next()->at("type"), "room_joined");
  polite.client->send(json{{"type", "join_room"}, {"roomId", "r"}, {"ack", true}});
  EXPECT_EQ(polite.client->next()->at("type"), "room_joined");
  sender.client->send(json{{"type", "join_room"}, {"roomId", "r"}});
  EXPECT_EQ(sender.client->next()->at("type"), "room_joined");
  sender.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", "important"}});
  // The sender did not ask for reliable delivery: its copy is plain.
  const json plain = sender.client->wait_for("room_message");
  EXPECT_EQ(plain.count("_id"), 0U);

  // polite acknowledges (typeless, as the design notes do) and gets no resend.
  const json delivered = polite.client->wait_for("room_message");
  ASSERT_TRUE(delivered.contains("_id")) << delivered;
  EXPECT_EQ(delivered["_ack"], true);
  polite.client->send(json{{"_ack", true}, {"_id", delivered["_id"]}});

  // quiet never acknowledges: the same message comes back twice more, then no more.
  const json first = quiet.client->wait_for("room_message");
  EXPECT_EQ(first["_id"], delivered["_id"]);
  EXPECT_EQ(quiet.client->wait_for("room_message", 2s), first);
  EXPECT_EQ(quiet.client->wait_for("room_message", 2s), first);
  EXPECT_TRUE(quiet.client->wait_for("room_message", 1500ms).is_null());  // ack-retries 2: no third resend
  EXPECT_TRUE(polite.client->wait_for("room_message", 100ms).is_null());  // acknowledged: not resent
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_NE(result.err.find("quiet: delivery " + delivered["_id"].dump() + " undelivered: no ack after 2 resends"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("polite: delivery"), std::string::npos) << result.err;
}

TEST(Serve, AckOptionMakesEveryMemberReliable) {
  ServeServer server({"--ack"});
  ASSERT_NE(server.port, 0);
  Joined a = connect(server.port);
  a.client->send(json{{"type", "join_room"}, {"roomId", "r"}});
  a.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", 1}});
  const json message = a.client->wait_for("room_message");
  EXPECT_EQ(message["_ack"], true);
  a.client->send(json{{"type", "ack"}, {"_id", message["_id"]}});
  a.client->close();
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_EQ(result.err.find("undelivered"), std::string::npos) << result.err;
}

TEST(Serve, ResumedSessionKeepsUserRoomsAndDedupe) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined other = connect(server.port, "/?userId=other");
  other.client->send(json{{"type", "join_room"}, {"roomId", "r"}});
  EXPECT_EQ(other.client->next()->at("type"), "room_joined");

  Joined first = connect(server.port);
  const std::string session = first.welcome["sessionId"];
  const std::string user = first.welcome["userId"];
  first.client->send(json{{"type", "join_room"}, {"roomId", "r"}});
  EXPECT_EQ(first.client->next()->at("type"), "room_joined");
  EXPECT_EQ(other.client->next()->at("type"), "user_joined");
  first.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", "m1"}, {"_id", "m1"}});
  EXPECT_EQ(first.client->wait_for("ack")["_id"], "m1");
  EXPECT_EQ(other.client->next()->at("content"), "m1");
  first.client->drop();
  EXPECT_EQ(*other.client->next(), json({{"type", "user_left"}, {"roomId", "r"}, {"userId", user}}));

  Joined again = connect(server.port, "/?sessionId=" + session);
  EXPECT_EQ(again.welcome["resumed"], true);
  EXPECT_EQ(again.welcome["userId"], user);
  EXPECT_EQ(again.welcome["sessionId"], session);
  EXPECT_EQ(again.welcome["rooms"], json::array({"r"}));
  EXPECT_EQ(again.client->next()->at("type"), "room_joined");
  EXPECT_EQ(*other.client->next(), json({{"type", "user_joined"}, {"roomId", "r"}, {"userId", user}}));
  // The message sent before the drop is resent: acknowledged again, not delivered again.
  again.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", "m1"}, {"_id", "m1"}});
  EXPECT_EQ(again.client->next()->at("_id"), "m1");
  again.client->send(json{{"type", "room_message"}, {"roomId", "r"}, {"content", "m2"}, {"_id", "m2"}});
  EXPECT_EQ(other.client->next()->at("content"), "m2");

  // An unknown session id starts a new session.
  Joined fresh = connect(server.port, "/?sessionId=nosuchsession");
  EXPECT_EQ(fresh.welcome["resumed"], false);
  EXPECT_NE(fresh.welcome["sessionId"], "nosuchsession");
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, ResumingAnOpenSessionTakesItOver) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined first = connect(server.port);
  Joined second = connect(server.port, "/?sessionId=" + first.welcome["sessionId"].get<std::string>());
  EXPECT_EQ(second.welcome["resumed"], true);
  EXPECT_EQ(first.client->wait_close(), 1008);
  second.client->send(json{{"type", "echo"}, {"data", 1}});
  EXPECT_EQ(second.client->next()->at("type"), "echo");
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, ApplicationPingsOnlyWhenAskedAndSilentClientsAreClosed) {
  ServeServer server({"--app-ping", "100ms", "--ping-timeout", "200ms"});
  ASSERT_NE(server.port, 0);
  Joined answering = connect(server.port);
  Joined silent = connect(server.port);
  // The answering client keeps answering while the silent one is dropped, and for a while after.
  int pings = 0;
  const auto deadline = Clock::now() + 5s;
  while ((silent.client->close_code() == 0 || pings < 5) && Clock::now() < deadline) {
    const json ping = answering.client->wait_for("ping", 2s);
    ASSERT_FALSE(ping.is_null()) << "no application ping";
    answering.client->send(json{{"type", "pong"}, {"id", ping["id"]}});
    ++pings;
    if (silent.client->close_code() == 0) silent.client->wait_close(10ms);
  }
  EXPECT_EQ(silent.client->close_code(), 1001);
  answering.client->send(json{{"type", "echo"}, {"data", "alive"}});
  EXPECT_EQ(answering.client->wait_for("echo").value("data", ""), "alive");
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, ProtocolPingsCloseAPeerThatNeverPongs) {
  ServeServer server({"--ping-interval", "100ms", "--ping-timeout", "200ms"});
  ASSERT_NE(server.port, 0);
  Joined answering = connect(server.port);  // WsClient answers pings as it reads
  // A peer that completes the handshake and then never reads nor answers anything.
  Socket silent = connect_loopback(server.port);
  silent.send_all("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  // The answering client reads (and so answers pings) while the silent one is dropped.
  bool closed = false;
  for (int i = 0; i < 250 && !closed; ++i) {
    answering.client->send(json{{"type", "echo"}, {"data", i}});
    EXPECT_EQ(answering.client->wait_for("echo", 2s).value("data", -1), i);
    closed = silent.wait_closed(20ms);
  }
  EXPECT_TRUE(closed);
  // And stays well past the ping timeout.
  EXPECT_TRUE(answering.client->wait_for("no such type", 500ms).is_null());
  answering.client->send(json{{"type", "echo"}, {"data", "alive"}});
  EXPECT_EQ(answering.client->wait_for("echo", 2s).value("data", ""), "alive");
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_NE(result.err.find("ping timeout"), std::string::npos) << result.err;
}

TEST(Serve, InvalidUtf8TextClosesWith1007AndOthersAreServed) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Joined bad = connect(server.port);
  Joined good = connect(server.port);
  bad.client->send_frame(ws::opcode::kText, "{\"type\":\"echo\",\"data\":\"\xff\"}");
  EXPECT_EQ(bad.client->wait_close(), 1007);
  good.client->send(json{{"type", "echo"}, {"data", "fine"}});
  EXPECT_EQ(good.client->next()->at("data"), "fine");
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, OverMaxConnectionsAnswers503) {
  ServeServer server({"--max-connections", "1"});
  ASSERT_NE(server.port, 0);
  Joined first = connect(server.port);
  WsClient second(server.port);
  EXPECT_FALSE(second.open());
  EXPECT_EQ(second.status_line().rfind("HTTP/1.1 503", 0), 0U) << second.status_line();
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, HealthzAnswersOk) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  Socket s = connect_loopback(server.port);
  s.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string answer = s.read_until("ok\n", kWait);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0U) << answer;
  EXPECT_NE(answer.find("\r\n\r\nok\n"), std::string::npos) << answer;
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(Serve, SigtermClosesEveryoneWith1001AndExitsZero) {
  ServeServer server({"--shutdown-timeout", "1s"});
  ASSERT_NE(server.port, 0);
  Joined polite = connect(server.port);
  Joined deaf = connect(server.port);  // never answers the close
  const auto start = Clock::now();
  server.process.signal(SIGTERM);
  EXPECT_EQ(polite.client->wait_close(), 1001);
  polite.client->send_frame(ws::opcode::kClose, std::string("\x03\xe9", 2));
  EXPECT_EQ(deaf.client->wait_close(), 1001);
  const ProcessResult result = server.process.wait(5s);
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(Serve, BadOptionValuesAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--rate", "5/fortnight"}, {"--dedupe-window", "soon"}, {"--log-format", "xml"}, {"--burst", "0"},
           // An empty token would let every client in.
           {"--token", ""}}) {
    std::vector<std::string> argv = {kBinary, "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult result = run_process(argv, {{}, {}, 5000ms});
    EXPECT_TRUE(result.exited_with(64)) << args[0] << ": " << result.exit_code << " " << result.err;
    EXPECT_NE(result.err.find(args[0]), std::string::npos) << result.err;
  }
}

TEST(Serve, JsonLogsAreOneObjectPerLine) {
  ServeServer server({"--log-format", "json"});
  ASSERT_NE(server.port, 0);
  { Joined a = connect(server.port, "/?userId=j"); a.client->close(); }
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  int lines = 0;
  for (const std::string& line : lines_of(result.err)) {
    const json record = json::parse(line, nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << line;
    EXPECT_TRUE(record.contains("time") && record.contains("level") && record.contains("message")) << line;
    ++lines;
  }
  EXPECT_GE(lines, 2);  // open and close at least
}


// --- access: Origin policy, token, TLS ------------------------------------------------------

std::string origin_header(const std::string& origin) { return "Origin: " + origin + "\r\n"; }

TEST(ServeAccess, DefaultOriginPolicyAcceptsLocalPagesAndRefusesOthers) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  EXPECT_TRUE(WsClient(server.port).open());  // no Origin: not a browser
  EXPECT_TRUE(WsClient(server.port, "/", origin_header("http://localhost:3000")).open());
  EXPECT_TRUE(WsClient(server.port, "/", origin_header("http://127.0.0.1:5173")).open());
  EXPECT_TRUE(WsClient(server.port, "/", origin_header("https://[::1]")).open());
  WsClient foreign(server.port, "/", origin_header("https://evil.example"));
  EXPECT_FALSE(foreign.open());
  EXPECT_EQ(foreign.status_line().rfind("HTTP/1.1 403", 0), 0U) << foreign.status_line();
  EXPECT_NE(foreign.body_after_head().find("--allow-origin https://evil.example"), std::string::npos)
      << foreign.body_after_head();
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(ServeAccess, AllowOriginReplacesTheDefaultAndStarAllowsAll) {
  ServeServer listed({"--allow-origin", "https://app.example", "--allow-origin", "http://other.example:8000"});
  ASSERT_NE(listed.port, 0);
  EXPECT_TRUE(WsClient(listed.port, "/", origin_header("https://app.example")).open());
  EXPECT_TRUE(WsClient(listed.port, "/", origin_header("http://other.example:8000")).open());
  EXPECT_FALSE(WsClient(listed.port, "/", origin_header("https://evil.example")).open());
  // The list replaces the loopback default.
  EXPECT_FALSE(WsClient(listed.port, "/", origin_header("http://localhost:3000")).open());
  EXPECT_TRUE(listed.stop().exited_with(0));

  ServeServer any({"--allow-origin", "*"});
  ASSERT_NE(any.port, 0);
  EXPECT_TRUE(WsClient(any.port, "/", origin_header("https://evil.example")).open());
  EXPECT_TRUE(any.stop().exited_with(0));
}

TEST(ServeAccess, TokenIsRequiredAsBearerOrQueryAndOriginIsCheckedFirst) {
  ServeServer server({"--token", "s3cret"});
  ASSERT_NE(server.port, 0);
  WsClient missing(server.port);
  EXPECT_FALSE(missing.open());
  EXPECT_EQ(missing.status_line().rfind("HTTP/1.1 401", 0), 0U) << missing.status_line();
  EXPECT_NE(missing.head().find("WWW-Authenticate: Bearer"), std::string::npos) << missing.head();
  EXPECT_FALSE(WsClient(server.port, "/?token=wrong").open());
  EXPECT_FALSE(WsClient(server.port, "/", "Authorization: Bearer wrong\r\n").open());
  EXPECT_TRUE(WsClient(server.port, "/?token=s3cret").open());
  EXPECT_TRUE(WsClient(server.port, "/?userId=ann&token=s3cret").open());
  EXPECT_TRUE(WsClient(server.port, "/", "Authorization: Bearer s3cret\r\n").open());
  WsClient foreign(server.port, "/?token=s3cret", origin_header("https://evil.example"));
  EXPECT_EQ(foreign.status_line().rfind("HTTP/1.1 403", 0), 0U) << foreign.status_line();
  // The token never reaches the logs.
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_EQ(result.err.find("s3cret"), std::string::npos) << result.err;
}

// A wss:// client on the library's engine: connects, reads the welcome, closes.
struct TlsProbe : ws::ConnectionHandler {
  std::string first_message;
  void on_message(ws::Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
    first_message.assign(reinterpret_cast<const char*>(data), size);
    conn.close(ws::close_code::kNormal, "");
  }
};

ws::ClientResult probe_tls(std::uint16_t port, const std::string& ca_file, bool insecure, std::string& welcome) {
  ws::ClientConfig config;
  config.url = "wss://localhost:" + std::to_string(port) + "/";
  config.ca_file = ca_file;
  config.insecure = insecure;
  config.connect_timeout = kWait;
  TlsProbe probe;
  NullLogger logger;
  ws::Client client(config, probe, logger);
  ws::ClientResult result = client.run();
  welcome = probe.first_message;
  return result;
}

TEST(ServeAccess, TlsWithGivenCertificateOrASelfSignedOne) {
  const std::string data = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";
  ServeServer given({"--tls-cert", data + "localhost.crt", "--tls-key", data + "localhost.key"});
  ASSERT_NE(given.port, 0);
  std::string welcome;
  ws::ClientResult result = probe_tls(given.port, data + "localhost.crt", false, welcome);
  EXPECT_FALSE(result.error) << result.error.message;
  EXPECT_NE(welcome.find("\"welcome\""), std::string::npos) << welcome;
  EXPECT_TRUE(given.stop().exited_with(0));

  ServeServer self_signed({"--tls-self-signed"});
  ASSERT_NE(self_signed.port, 0);
  // Verification fails against the system store (nobody trusts a throwaway certificate) ...
  result = probe_tls(self_signed.port, "", false, welcome);
  EXPECT_TRUE(result.error);
  EXPECT_FALSE(result.opened);
  // ... and works when the client skips it, as the log line tells users to.
  result = probe_tls(self_signed.port, "", true, welcome);
  EXPECT_FALSE(result.error) << result.error.message;
  EXPECT_NE(welcome.find("\"welcome\""), std::string::npos) << welcome;
  const ProcessResult stopped = self_signed.stop();
  EXPECT_TRUE(stopped.exited_with(0));
  EXPECT_NE(stopped.err.find("SHA-256"), std::string::npos) << stopped.err;
}

TEST(ServeAccess, TlsFlagsAreCheckedBeforeListening) {
  const ProcessResult both = run_process({kBinary, "serve", "--listen", "127.0.0.1:0", "--tls-self-signed",
                                          "--tls-cert", "x.crt", "--tls-key", "x.key"});
  EXPECT_TRUE(both.exited_with(64)) << both.err;
  const ProcessResult missing = run_process({kBinary, "serve", "--listen", "127.0.0.1:0", "--tls-cert",
                                             "/nonexistent/x.crt", "--tls-key", "/nonexistent/x.key"});
  EXPECT_TRUE(missing.exited_with(66)) << missing.err;
  EXPECT_NE(missing.err.find("/nonexistent/x.crt"), std::string::npos) << missing.err;
  const ProcessResult bad_origin = run_process({kBinary, "serve", "--listen", "127.0.0.1:0", "--allow-origin",
                                                "https://app.example/path"});
  EXPECT_TRUE(bad_origin.exited_with(64)) << bad_origin.err;
}

// --- plain HTTP: metrics, stats, the page ------------------------------------------------------

std::string http_get(std::uint16_t port, const std::string& path) {
  Socket s = connect_loopback(port);
  s.send_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string answer;
  while (!s.eof()) {
    const std::string more = s.read_some(kWait);
    if (more.empty()) break;
    answer += more;
  }
  return answer;
}

std::string body_of(const std::string& answer) {
  const std::size_t end = answer.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : answer.substr(end + 4);
}

// The value of one sample line ("name{labels} value") in a Prometheus exposition; -1 if absent.
double sample(const std::string& exposition, const std::string& series) {
  for (const std::string& line : lines_of(exposition)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

TEST(ServeHttp, MetricsAndStatsFollowTheTraffic) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  const std::string before = http_get(server.port, "/metrics");
  EXPECT_EQ(before.rfind("HTTP/1.1 200", 0), 0U) << before;
  EXPECT_NE(before.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << before;
  EXPECT_EQ(sample(body_of(before), "wstool_serve_connections_total"), 0);
  const double bytes_before = sample(body_of(before), "wstool_serve_bytes_sent_total");

  {
    Joined a = connect(server.port);
    a.client->send_text(R"({"type":"echo","data":"x"})");
    EXPECT_EQ(a.client->wait_for("echo").value("data", ""), "x");
    a.client->send_text(R"({"type":"join_room","roomId":"lobby"})");
    a.client->wait_for("room_joined");
    a.client->send_text(R"({"type":"room_message","roomId":"nowhere","content":"hi"})");
    EXPECT_EQ(error_of(*a.client).value("code", ""), "NOT_IN_ROOM");
    const std::string during = body_of(http_get(server.port, "/metrics"));
    EXPECT_EQ(sample(during, "wstool_serve_connections"), 1);
    EXPECT_EQ(sample(during, "wstool_serve_rooms"), 1);
    EXPECT_EQ(sample(during, "wstool_serve_room_members"), 1);
    EXPECT_EQ(sample(during, R"(wstool_serve_messages_received_total{type="echo"})"), 1);
    EXPECT_EQ(sample(during, R"(wstool_serve_errors_total{code="NOT_IN_ROOM"})"), 1);
    EXPECT_GT(sample(during, "wstool_serve_bytes_sent_total"), bytes_before);
    a.client->close();
  }
  // The close is counted once the server has seen it.
  const auto deadline = Clock::now() + kWait;
  std::string after;
  do {
    after = body_of(http_get(server.port, "/metrics"));
  } while (sample(after, "wstool_serve_connections") != 0 && Clock::now() < deadline);
  EXPECT_EQ(sample(after, "wstool_serve_connections"), 0);
  EXPECT_EQ(sample(after, "wstool_serve_connections_total"), 1);
  EXPECT_EQ(sample(after, "wstool_serve_rooms"), 0);
  EXPECT_EQ(sample(after, R"(wstool_serve_closes_total{code="1000"})"), 1);

  const std::string stats = http_get(server.port, "/stats");
  EXPECT_NE(stats.find("Content-Type: application/json"), std::string::npos) << stats;
  const json document = json::parse(body_of(stats));
  EXPECT_EQ(document.at("connections_total"), 1);
  EXPECT_EQ(document.at("errors_total").at("NOT_IN_ROOM"), 1);
  EXPECT_EQ(document.at("messages_received_total").at("join_room"), 1);
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(ServeHttp, ThePageAndUnknownPaths) {
  ServeServer server;
  ASSERT_NE(server.port, 0);
  const std::string page = http_get(server.port, "/");
  EXPECT_EQ(page.rfind("HTTP/1.1 200", 0), 0U) << page.substr(0, 200);
  EXPECT_NE(page.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(page.find("Content-Security-Policy:"), std::string::npos);
  EXPECT_NE(body_of(page).find("<!doctype html>"), std::string::npos);
  const std::string missing = http_get(server.port, "/nope");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0U) << missing;
  EXPECT_TRUE(server.stop().exited_with(0));
}

}  // namespace
}  // namespace wstool::test
