// Tests for RoomHub without sockets: fake connections on simulated workers, posted tasks run
// by the test, so fan-out across workers, the shared payload and the retry rounds are checked
// deterministically.
#include "lib/room_hub.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wstool::room {
namespace {

using nlohmann::json;

class FakeConnection final : public ws::Connection {
 public:
  FakeConnection(std::uint64_t id, unsigned worker, std::string target)
      : id_(id), worker_(worker), remote_("127.0.0.1:" + std::to_string(40000 + id)) {
    request_.method = "GET";
    request_.target = std::move(target);
    request_.version = "HTTP/1.1";
  }

  std::uint64_t id() const override { return id_; }
  const std::string& remote_address() const override { return remote_; }
  const std::string& subprotocol() const override { return empty_; }
  const std::string& extensions() const override { return empty_; }
  const ws::UpgradeRequest& request() const override { return request_; }
  bool send(std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
    received.push_back(json::parse(std::string(reinterpret_cast<const char*>(data), size)));
    return true;
  }
  bool ping(std::string_view /*payload*/) override { return true; }
  bool pong(std::string_view /*payload*/) override { return true; }
  void close(std::uint16_t code, std::string_view /*reason*/) override { close_code = code; }
  void send_raw_frame(const ws::RawFrame& /*frame*/) override {}
  void send_raw_bytes(const std::uint8_t* /*data*/, std::size_t /*size*/) override {}
  std::size_t queued_bytes() const override { return 0; }
  bool send_shared(const ws::SharedMessage& message) override {
    shared.push_back(&message);
    received.push_back(json::parse(message.payload()));
    return true;
  }
  unsigned worker() const override { return worker_; }
  void set_timer(std::chrono::milliseconds after) override { timer = after; }

  // The messages of `type` received so far.
  std::vector<json> of_type(const std::string& type) const {
    std::vector<json> out;
    for (const json& m : received) {
      if (m.value("type", "") == type) out.push_back(m);
    }
    return out;
  }

  std::vector<json> received;
  std::vector<const ws::SharedMessage*> shared;
  std::uint16_t close_code = 0;
  std::optional<std::chrono::milliseconds> timer;

 private:
  std::uint64_t id_;
  unsigned worker_;
  std::string remote_;
  std::string empty_;
  ws::UpgradeRequest request_;
};

constexpr unsigned kWorkers = 2;

class RoomHubTest : public ::testing::Test {
 protected:
  void start(HubConfig config = {}) {
    hub_ = std::make_unique<RoomHub>(std::move(config), log_, counters_);
    hub_->attach(kWorkers, [this](unsigned worker, std::function<void()> task) {
      posted_.emplace_back(worker, std::move(task));
    });
  }

  FakeConnection& open(unsigned worker, const std::string& target = "/") {
    conns_.push_back(std::make_unique<FakeConnection>(conns_.size() + 1, worker, target));
    hub_->on_open(*conns_.back());
    run_posted();
    return *conns_.back();
  }

  void send(FakeConnection& conn, const json& message) {
    const std::string text = message.dump();
    hub_->on_message(conn, ws::opcode::kText, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }

  // Runs posted tasks (and the tasks they post) until none is left; returns how many ran.
  std::size_t run_posted() {
    std::size_t ran = 0;
    while (!posted_.empty()) {
      auto task = std::move(posted_.front());
      posted_.pop_front();
      task.second();
      ++ran;
    }
    return ran;
  }

  void close(FakeConnection& conn) {
    ws::CloseEvent event;
    event.code = ws::close_code::kNormal;
    event.by_peer = true;
    hub_->on_close(conn, event);
  }

  NullLogger log_;
  ServeCounters counters_;
  std::unique_ptr<RoomHub> hub_;
  std::deque<std::pair<unsigned, std::function<void()>>> posted_;
  std::vector<std::unique_ptr<FakeConnection>> conns_;
};

TEST_F(RoomHubTest, RoomMessageIsSerializedOnceAndPostedOncePerWorker) {
  start();
  FakeConnection& a = open(0, "/?userId=a");
  FakeConnection& b = open(1, "/?userId=b");
  FakeConnection& c = open(1, "/?userId=c");
  for (FakeConnection* conn : {&a, &b, &c}) send(*conn, {{"type", "join_room"}, {"roomId", "r"}});
  run_posted();
  a.shared.clear();
  b.shared.clear();
  c.shared.clear();
  send(a, {{"type", "room_message"}, {"roomId", "r"}, {"content", "hi"}});
  EXPECT_EQ(posted_.size(), 2U);  // one task per worker with members, not one per member
  run_posted();
  ASSERT_EQ(a.shared.size(), 1U);
  ASSERT_EQ(b.shared.size(), 1U);
  ASSERT_EQ(c.shared.size(), 1U);
  EXPECT_EQ(a.shared[0], b.shared[0]);  // the very same encoded message
  EXPECT_EQ(b.shared[0], c.shared[0]);
  EXPECT_EQ(c.of_type("room_message").back(),
            json::parse(R"({"type":"room_message","roomId":"r","userId":"a","content":"hi"})"));
  EXPECT_EQ(counters_.messages_out[static_cast<std::size_t>(ServerMessageType::kRoomMessage)].load(), 3U);
}

TEST_F(RoomHubTest, PresenceCrossesWorkersAndClosedMembersAreSkipped) {
  start();
  FakeConnection& a = open(0, "/?userId=a");
  FakeConnection& b = open(1, "/?userId=b");
  send(a, {{"type", "join_room"}, {"roomId", "r"}});
  send(b, {{"type", "join_room"}, {"roomId", "r"}});
  run_posted();
  EXPECT_EQ(a.of_type("user_joined").size(), 1U);
  EXPECT_TRUE(b.of_type("user_joined").empty());  // the joiner gets room_joined instead
  EXPECT_EQ(counters_.rooms.load(), 1U);
  EXPECT_EQ(counters_.members.load(), 2U);
  // b sends, then closes before the fan-out tasks run: a gets the message and user_left, and
  // the task for b's worker finds b gone.
  send(b, {{"type", "room_message"}, {"roomId", "r"}, {"content", 1}});
  close(b);
  run_posted();
  EXPECT_EQ(a.of_type("room_message").size(), 1U);
  EXPECT_EQ(a.of_type("user_left").size(), 1U);
  EXPECT_TRUE(b.of_type("room_message").empty());
  EXPECT_EQ(counters_.members.load(), 1U);
  close(a);
  run_posted();
  EXPECT_EQ(counters_.rooms.load(), 0U);
  EXPECT_EQ(counters_.connections.load(), 0U);
}

TEST_F(RoomHubTest, ReliableMembersGetTheSecondVariantAndRetriesRunOnTheTimer) {
  HubConfig config;
  config.ack_timeout = std::chrono::milliseconds(0);  // every timer round is due at once
  config.ack_retries = 2;
  start(config);
  FakeConnection& reliable = open(0, "/?userId=r");
  FakeConnection& plain = open(1, "/?userId=p");
  send(reliable, {{"type", "join_room"}, {"roomId", "room"}, {"ack", true}});
  send(plain, {{"type", "join_room"}, {"roomId", "room"}});
  run_posted();
  send(plain, {{"type", "room_message"}, {"roomId", "room"}, {"content", "x"}});
  run_posted();
  const json delivered = reliable.of_type("room_message").at(0);
  EXPECT_EQ(delivered["_ack"], true);
  EXPECT_TRUE(delivered["_id"].is_number_integer());
  EXPECT_EQ(plain.of_type("room_message").at(0).count("_id"), 0U);
  ASSERT_TRUE(reliable.timer.has_value());
  hub_->on_timer(reliable);
  hub_->on_timer(reliable);
  EXPECT_EQ(reliable.of_type("room_message").size(), 3U);  // two resends
  EXPECT_EQ(counters_.ack_retries.load(), 2U);
  hub_->on_timer(reliable);
  EXPECT_EQ(reliable.of_type("room_message").size(), 3U);
  EXPECT_EQ(counters_.undelivered.load(), 1U);

  // Acknowledged in time: no resend, nothing undelivered.
  send(plain, {{"type", "room_message"}, {"roomId", "room"}, {"content", "y"}});
  run_posted();
  const json second = reliable.of_type("room_message").back();
  send(reliable, {{"type", "ack"}, {"_id", second["_id"]}});
  hub_->on_timer(reliable);
  EXPECT_EQ(reliable.of_type("room_message").size(), 4U);
  EXPECT_EQ(counters_.acks_received.load(), 1U);
  EXPECT_EQ(counters_.undelivered.load(), 1U);
}

TEST_F(RoomHubTest, UnacknowledgedDeliveriesAtCloseAreCountedUndelivered) {
  HubConfig config;
  config.ack_all = true;
  start(config);
  FakeConnection& a = open(0);
  send(a, {{"type", "join_room"}, {"roomId", "r"}});
  send(a, {{"type", "room_message"}, {"roomId", "r"}, {"content", 1}});
  send(a, {{"type", "room_message"}, {"roomId", "r"}, {"content", 2}});
  run_posted();
  close(a);
  EXPECT_EQ(counters_.undelivered.load(), 2U);
}

TEST_F(RoomHubTest, ErrorsAreCountedByCodeAndTheAbuseLimitCloses) {
  HubConfig config;
  config.abuse_limit = 2;
  start(config);
  FakeConnection& a = open(0);
  const std::string garbage = "{";
  for (int i = 0; i < 3; ++i) {
    hub_->on_message(a, ws::opcode::kText, reinterpret_cast<const std::uint8_t*>(garbage.data()), garbage.size());
  }
  EXPECT_EQ(counters_.errors[static_cast<std::size_t>(ErrorCode::kParseError)].load(), 3U);
  EXPECT_EQ(a.close_code, ws::close_code::kPolicyViolation);
  EXPECT_EQ(counters_.abuse_closes.load(), 1U);
  // Once closing, further input is ignored.
  send(a, {{"type", "echo"}, {"data", 1}});
  EXPECT_TRUE(a.of_type("echo").empty());
}

TEST_F(RoomHubTest, ClosesAreCountedByCode) {
  start();
  FakeConnection& a = open(0);
  ws::CloseEvent event;
  event.code = ws::close_code::kAbnormal;
  hub_->on_close(a, event);
  EXPECT_EQ(counters_.closes[ServeCounters::close_slot(1006)].load(), 1U);
  EXPECT_EQ(ServeCounters::close_slot_code(ServeCounters::close_slot(1006)), 1006);
  EXPECT_EQ(ServeCounters::close_slot(4000), ServeCounters::kCloseSlots - 1);
  EXPECT_EQ(ServeCounters::close_slot_code(ServeCounters::kCloseSlots - 1), 0);
}

TEST(RoomHubRequest, MalformedQueryParametersAreRefusedWith400) {
  ws::UpgradeRequest request;
  request.target = "/?userId=ok";
  EXPECT_FALSE(RoomHub::check_request(request).has_value());
  request.target = "/?userId=";
  ASSERT_TRUE(RoomHub::check_request(request).has_value());
  EXPECT_EQ(RoomHub::check_request(request)->status, 400);
  request.target = "/?sessionId=%00";
  EXPECT_TRUE(RoomHub::check_request(request).has_value());
}

}  // namespace
}  // namespace wstool::room
