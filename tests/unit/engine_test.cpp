// The engine's server hooks as serve uses them: plain HTTP answers, upgrade refusals, shared
// messages, per-connection timers, cross-thread posts, the protocol heartbeat and in-memory TLS
// material. A real Server on 127.0.0.1 port 0; the peer is a raw socket speaking bytes.
#include "lib/engine.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/support/raw_socket.h"
#include "tests/support/ws_frames.h"

namespace wstool::ws {
namespace {

using namespace std::chrono_literals;
using test::Socket;

constexpr auto kWait = 5000ms;

class ServerThread {
 public:
  ServerThread(ServerConfig config, ConnectionHandler& handler)
      : server_(std::move(config), handler, logger_) {}
  ~ServerThread() { stop(); }

  Error start() {
    Error error = server_.listen();
    if (!error) thread_ = std::thread([this] { server_.run(); });
    return error;
  }
  void stop() {
    if (!thread_.joinable()) return;
    server_.shutdown(close_code::kGoingAway, 200ms);
    thread_.join();
  }
  Server& server() { return server_; }
  std::uint16_t port() const { return server_.port(); }

 private:
  NullLogger logger_;
  Server server_;
  std::thread thread_;
};

ServerConfig loopback_config() {
  ServerConfig config;
  config.port = 0;
  config.threads = 1;
  return config;
}

std::string upgrade_request(const std::string& target = "/", const std::string& extra = "") {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

// A WebSocket peer over a raw socket; bytes read past what was parsed wait in `buffered`.
struct Peer {
  Socket socket;
  std::string buffered;
  bool send_all(const std::string& bytes) { return socket.send_all(bytes); }
  bool wait_closed(std::chrono::milliseconds timeout) { return socket.wait_closed(timeout); }
  bool valid() const { return socket.valid(); }
  // Waits until at least `count` bytes are buffered.
  bool fill(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (buffered.size() < count && !socket.eof() && std::chrono::steady_clock::now() < deadline) {
      buffered += socket.read_some(100ms);
    }
    return buffered.size() >= count;
  }
};

// Connects and completes the opening handshake; `answer` gets the server's response head.
Peer open_websocket(std::uint16_t port, std::string* answer = nullptr, const std::string& extra = "") {
  Peer peer{test::connect_loopback(port), {}};
  EXPECT_TRUE(peer.send_all(upgrade_request("/", extra)));
  std::string bytes = peer.socket.read_until("\r\n\r\n", kWait);
  const std::size_t end = bytes.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << bytes;
  const std::string head = bytes.substr(0, end == std::string::npos ? bytes.size() : end + 4);
  if (end != std::string::npos) peer.buffered = bytes.substr(end + 4);
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  if (answer != nullptr) *answer = head;
  return peer;
}


struct Frame {
  FrameHeader header;
  std::string payload;
};

// Reads one unmasked server frame.
std::optional<Frame> read_frame(Peer& peer) {
  FrameHeader h;
  for (;;) {
    const HeaderStatus status =
        decode_header(reinterpret_cast<const std::uint8_t*>(peer.buffered.data()), peer.buffered.size(), h);
    if (status == HeaderStatus::kComplete) break;
    if (status != HeaderStatus::kIncomplete) return std::nullopt;
    if (!peer.fill(std::max<std::size_t>(h.header_length, peer.buffered.size() + 1))) return std::nullopt;
  }
  const std::size_t total = h.header_length + static_cast<std::size_t>(h.payload_length);
  if (!peer.fill(total)) return std::nullopt;
  Frame frame{h, peer.buffered.substr(h.header_length, static_cast<std::size_t>(h.payload_length))};
  peer.buffered.erase(0, total);
  return frame;
}

class HookHandler : public ConnectionHandler {
 public:
  void on_message(Connection& /*conn*/, std::uint8_t /*opcode*/, const std::uint8_t* /*data*/,
                  std::size_t /*size*/) override {}
};

TEST(EngineHttp, PlainRequestsReachTheHandlerAndGetItsAnswer) {
  struct Handler : HookHandler {
    std::optional<HttpResponse> on_http_request(const UpgradeRequest& request,
                                                const std::string& remote) override {
      const RequestTarget target = split_target(request.target);
      if (target.path != "/healthz") return std::nullopt;
      HttpResponse response;
      response.body = "ok " + query_parameter(target.query, "who").value_or("?") + " from " +
                      remote.substr(0, remote.find(':'));
      return response;
    }
  } handler;
  ServerThread server(loopback_config(), handler);
  ASSERT_FALSE(server.start());

  Socket socket = test::connect_loopback(server.port());
  ASSERT_TRUE(socket.send_all("GET /healthz?who=ci%20job HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string answer = socket.read_until("ok ci job from 127.0.0.1", kWait);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Content-Length: 24\r\n"), std::string::npos) << answer;
  EXPECT_TRUE(socket.wait_closed(kWait));

  // Paths the handler does not answer get what a WebSocket endpoint says to plain HTTP.
  Socket other = test::connect_loopback(server.port());
  ASSERT_TRUE(other.send_all("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"));
  answer = other.read_until("\r\n\r\n", kWait);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("Upgrade"), std::string::npos) << answer;
}

TEST(EngineHttp, UpgradeRequestsCanBeRefusedByTheHandler) {
  struct Handler : HookHandler {
    std::optional<Rejection> on_upgrade_request(const UpgradeRequest& request,
                                                const std::string& /*remote*/) override {
      if (header_value(request.headers, "Origin") == "http://evil.example") {
        return Rejection{403, "Forbidden", {}, "origin not allowed"};
      }
      return std::nullopt;
    }
    void on_open(Connection& /*conn*/) override { opened.fetch_add(1); }
    std::atomic<int> opened{0};
  } handler;
  ServerThread server(loopback_config(), handler);
  ASSERT_FALSE(server.start());

  Socket refused = test::connect_loopback(server.port());
  ASSERT_TRUE(refused.send_all(upgrade_request("/", "Origin: http://evil.example\r\n")));
  const std::string answer = refused.read_until("origin not allowed", kWait);
  EXPECT_EQ(answer.rfind("HTTP/1.1 403", 0), 0u) << answer;
  EXPECT_TRUE(refused.wait_closed(kWait));

  Peer accepted = open_websocket(server.port(), nullptr, "Origin: http://localhost\r\n");
  ASSERT_TRUE(accepted.valid());
  server.stop();
  EXPECT_EQ(handler.opened.load(), 1);
}

// One SharedMessage goes to several connections unchanged, and a post() reaches the worker.
TEST(EngineShared, OneEncodedMessageReachesEveryConnection) {
  struct Handler : HookHandler {
    Server* server = nullptr;
    std::vector<Connection*> open;  // touched on the (single) worker thread only
    std::thread::id worker_thread;
    void on_open(Connection& conn) override {
      worker_thread = std::this_thread::get_id();
      open.push_back(&conn);
    }
    void on_message(Connection& /*conn*/, std::uint8_t /*opcode*/, const std::uint8_t* data,
                    std::size_t size) override {
      auto shared = std::make_shared<const SharedMessage>(
          opcode::kText, "all: " + std::string(reinterpret_cast<const char*>(data), size));
      // Fan out from a task, as serve does for members on other workers.
      server->post(0, [this, shared] {
        posted_on_worker = std::this_thread::get_id() == worker_thread;
        for (Connection* conn : open) conn->send_shared(*shared);
      });
    }
    void on_close(Connection& conn, const CloseEvent& /*event*/) override {
      open.erase(std::find(open.begin(), open.end(), &conn));
    }
    std::atomic<bool> posted_on_worker{false};
  } handler;
  ServerThread server(loopback_config(), handler);
  handler.server = &server.server();
  ASSERT_FALSE(server.start());
  EXPECT_EQ(server.server().worker_count(), 1u);

  Peer a = open_websocket(server.port());
  Peer b = open_websocket(server.port());
  ASSERT_TRUE(a.send_all(test::ws_frame(opcode::kText, "hello", true)));
  for (Peer* s : {&a, &b}) {
    std::optional<Frame> frame = read_frame(*s);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->header.opcode, opcode::kText);
    EXPECT_TRUE(frame->header.fin);
    EXPECT_FALSE(frame->header.masked);
    EXPECT_EQ(frame->payload, "all: hello");
  }
  EXPECT_TRUE(handler.posted_on_worker.load());
  const Server::Stats stats = server.server().stats();
  EXPECT_GT(stats.bytes_read, 2 * upgrade_request().size());
  EXPECT_GT(stats.bytes_written, 2 * std::string("all: hello").size());
}

TEST(EngineShared, CompressedConnectionsGetTheMessageCompressed) {
  struct Handler : HookHandler {
    void on_open(Connection& conn) override {
      const SharedMessage message(opcode::kText, std::string(200, 'z'));
      conn.send_shared(message);
    }
  } handler;
  ServerConfig config = loopback_config();
  config.deflate.enabled = true;
  ServerThread server(config, handler);
  ASSERT_FALSE(server.start());

  std::string answer;
  Peer socket = open_websocket(server.port(), &answer, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  ASSERT_NE(answer.find("permessage-deflate"), std::string::npos) << answer;
  std::optional<Frame> frame = read_frame(socket);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->header.rsv, kRsv1);  // compressed for this connection's context
  EXPECT_LT(frame->payload.size(), 200u);
}

TEST(EngineTimer, FiresOnceAndCanBeReplacedOrCancelled) {
  struct Handler : HookHandler {
    void on_open(Connection& conn) override {
      conn.set_timer(10s);   // replaced by the next call
      conn.set_timer(20ms);
    }
    void on_message(Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* /*data*/,
                    std::size_t /*size*/) override {
      conn.set_timer(-1ms);  // "stop": cancels a timer set below
    }
    void on_timer(Connection& conn) override {
      const int n = ++fired;
      conn.send_text("timer " + std::to_string(n));
      if (n == 1) conn.set_timer(30ms);
      if (n == 2) conn.set_timer(200ms);
    }
    std::atomic<int> fired{0};
  } handler;
  ServerThread server(loopback_config(), handler);
  ASSERT_FALSE(server.start());
  Peer socket = open_websocket(server.port());
  for (const char* expected : {"timer 1", "timer 2"}) {
    std::optional<Frame> frame = read_frame(socket);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->payload, expected);
  }
  ASSERT_TRUE(socket.send_all(test::ws_frame(opcode::kText, "stop", true)));
  // The third timer was cancelled: nothing arrives in well over its 200 ms.
  EXPECT_EQ(socket.socket.read_some(600ms), "");
  EXPECT_EQ(socket.buffered, "");
  EXPECT_EQ(handler.fired.load(), 2);
}

TEST(EngineHeartbeat, PingsAndClosesAPeerThatNeverAnswers) {
  struct Handler : HookHandler {
    void on_close(Connection& /*conn*/, const CloseEvent& event) override {
      closed.set_value(event);
    }
    std::promise<CloseEvent> closed;
  } handler;
  ServerConfig config = loopback_config();
  config.limits.ping_interval = 50ms;
  config.limits.ping_timeout = 100ms;
  ServerThread server(config, handler);
  ASSERT_FALSE(server.start());
  std::future<CloseEvent> closed = handler.closed.get_future();

  Peer socket = open_websocket(server.port());
  std::optional<Frame> ping = read_frame(socket);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->header.opcode, opcode::kPing);
  // No pong: the server closes with 1001 and drops the connection.
  std::optional<Frame> close = read_frame(socket);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->header.opcode, opcode::kClose);
  ASSERT_GE(close->payload.size(), 2u);
  EXPECT_EQ((static_cast<unsigned char>(close->payload[0]) << 8) | static_cast<unsigned char>(close->payload[1]),
            close_code::kGoingAway);
  EXPECT_TRUE(socket.wait_closed(kWait));
  ASSERT_EQ(closed.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(closed.get().sent_code, close_code::kGoingAway);
  EXPECT_EQ(server.server().stats().ping_timeouts, 1u);
}

TEST(EngineHeartbeat, APeerThatAnswersPongsStaysOpen) {
  HookHandler handler;
  ServerConfig config = loopback_config();
  config.limits.ping_interval = 30ms;
  config.limits.ping_timeout = 60ms;
  ServerThread server(config, handler);
  ASSERT_FALSE(server.start());
  Peer socket = open_websocket(server.port());
  for (int i = 0; i < 5; ++i) {
    std::optional<Frame> ping = read_frame(socket);
    ASSERT_TRUE(ping);
    ASSERT_EQ(ping->header.opcode, opcode::kPing) << "ping " << i;
    ASSERT_TRUE(socket.send_all(test::ws_frame(opcode::kPong, ping->payload, true)));
  }
  EXPECT_EQ(server.server().stats().ping_timeouts, 0u);
  EXPECT_EQ(server.server().stats().open, 1u);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(EngineTls, CertificateAndKeyMayBeGivenAsPem) {
  HookHandler handler;
  ServerConfig config = loopback_config();
  config.tls_cert_pem = read_text_file(std::string(WSTOOL_SOURCE_DIR) + "/tests/data/localhost.crt");
  config.tls_key_pem = read_text_file(std::string(WSTOOL_SOURCE_DIR) + "/tests/data/localhost.key");
  ASSERT_FALSE(config.tls_cert_pem.empty());
  ServerThread good(config, handler);
  EXPECT_FALSE(good.start());
  EXPECT_TRUE(good.server().tls());

  config.tls_key_pem = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  ServerThread bad(config, handler);
  const Error error = bad.start();
  EXPECT_EQ(error.code, Errc::kBadData) << error.message;
}


// A refused upgrade reaches the client whole (status, headers, body), so connect can follow a
// redirect and record can relay the refusal; an accepted one keeps its 101 headers.
TEST(EngineClient, TheServersAnswerToTheUpgradeIsKept) {
  struct Refuser : HookHandler {
    std::optional<Rejection> on_upgrade_request(const UpgradeRequest& request,
                                                const std::string& /*remote*/) override {
      if (request.target == "/ok") return std::nullopt;
      return Rejection{307, "Temporary Redirect", {{"Location", "/ok"}}, std::string(10000, 'b')};
    }
  } refuser;
  ServerThread server(loopback_config(), refuser);
  ASSERT_FALSE(server.start());
  NullLogger logger;
  HookHandler quiet;

  ClientConfig refused_config;
  refused_config.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/old";
  const ClientResult refused = Client(refused_config, quiet, logger).run();
  EXPECT_EQ(refused.error.code, Errc::kHandshakeRejected) << refused.error.message;
  EXPECT_FALSE(refused.opened);
  EXPECT_EQ(refused.response.status, 307);
  EXPECT_EQ(header_value(refused.response.headers, "Location"), "/ok");
  EXPECT_EQ(refused.response.body, std::string(10000, 'b'));

  struct Closer : HookHandler {
    void on_open(Connection& conn) override { conn.close(close_code::kNormal, ""); }
  } closer;
  ClientConfig accepted_config;
  accepted_config.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/ok";
  const ClientResult accepted = Client(accepted_config, closer, logger).run();
  EXPECT_TRUE(accepted.opened);
  EXPECT_EQ(accepted.response.status, 101);
  EXPECT_EQ(header_value(accepted.response.headers, "Upgrade"), "websocket");
}

// A client's connection is driven from another thread through Client::post, as connect does
// with lines read from stdin.
TEST(EngineClient, TasksPostedFromAnotherThreadRunOnTheConnectionThread) {
  struct Echo : HookHandler {
    void on_message(Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
      conn.send(opcode, data, size);
    }
  } echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());

  struct Receiver : HookHandler {
    std::atomic<Connection*> conn{nullptr};
    std::vector<std::string> received;  // on the client thread only
    void on_open(Connection& c) override { conn.store(&c); }
    void on_message(Connection& c, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      received.emplace_back(reinterpret_cast<const char*>(data), size);
      if (received.size() == 3) c.close(close_code::kNormal, "done");
    }
    void on_close(Connection& /*c*/, const CloseEvent& /*event*/) override { conn.store(nullptr); }
  } receiver;
  ClientConfig config;
  config.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";
  NullLogger logger;
  Client client(config, receiver, logger);
  // Posted before run(): waits for the loop, then finds no connection yet and sends nothing.
  std::atomic<int> early_runs{0};
  client.post([&] { early_runs.fetch_add(1); });
  std::thread feeder([&] {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (receiver.conn.load() == nullptr && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    for (const char* line : {"one", "two", "three"}) {
      client.post([&receiver, line] {
        if (Connection* c = receiver.conn.load()) c->send_text(line);
      });
    }
  });
  const ClientResult result = client.run();
  feeder.join();
  EXPECT_FALSE(result.error) << result.error.message;
  EXPECT_EQ(early_runs.load(), 1);
  EXPECT_EQ(receiver.received, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_TRUE(result.close.clean);
}

// --- a proxy's hooks: deferred upgrade decisions and frame delivery ---

// Keeps each deferred upgrade for the test to answer later, on the worker's thread.
struct DeferringHandler : HookHandler {
  std::promise<std::shared_ptr<PendingUpgrade>> pending;
  std::promise<std::string> abandoned;
  std::mutex mutex;
  std::vector<std::string> frames;  // "opcode fin payload"
  std::atomic<int> opened{0};
  void on_upgrade_deferred(std::shared_ptr<PendingUpgrade> upgrade) override {
    upgrade->on_abandoned([this](const std::string& why) { abandoned.set_value(why); });
    pending.set_value(std::move(upgrade));
  }
  void on_open(Connection& /*conn*/) override { opened.fetch_add(1); }
  void on_data_frame(Connection& conn, const DataFrame& f) override {
    std::lock_guard<std::mutex> lock(mutex);
    frames.push_back(std::to_string(f.opcode) + (f.fin ? " fin " : " more ") +
                     std::string(reinterpret_cast<const char*>(f.data), f.size));
    // Relayed back as it came: fragment for fragment.
    conn.send_frame(f.opcode, f.fin, f.data, f.size);
  }
};

ServerConfig deferring_config() {
  ServerConfig config = loopback_config();
  config.defer_upgrades = true;
  config.deliver_frames = true;
  config.deflate.enabled = false;
  return config;
}

TEST(EngineDeferred, AnUpgradeWaitsForTheHandlersAnswerThenFramesFlowOneByOne) {
  DeferringHandler handler;
  ServerThread server(deferring_config(), handler);
  ASSERT_FALSE(server.start());
  Socket socket = test::connect_loopback(server.port());
  ASSERT_TRUE(socket.send_all(upgrade_request("/x", "Sec-WebSocket-Protocol: a, b\r\n")));
  auto future = handler.pending.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  std::shared_ptr<PendingUpgrade> upgrade = future.get();
  EXPECT_EQ(upgrade->request().target, "/x");
  EXPECT_EQ(socket.read_some(100ms), "");  // no answer until the handler gives one
  server.server().post(upgrade->worker(), [upgrade] { upgrade->accept("b", {{"X-Proxy", "yes"}}); });
  Peer peer{std::move(socket), {}};
  peer.buffered = peer.socket.read_until("\r\n\r\n", kWait);
  ASSERT_EQ(peer.buffered.rfind("HTTP/1.1 101", 0), 0u) << peer.buffered;
  EXPECT_NE(peer.buffered.find("Sec-WebSocket-Protocol: b\r\n"), std::string::npos) << peer.buffered;
  EXPECT_NE(peer.buffered.find("X-Proxy: yes\r\n"), std::string::npos) << peer.buffered;
  peer.buffered.erase(0, peer.buffered.find("\r\n\r\n") + 4);
  EXPECT_EQ(handler.opened.load(), 1);

  ASSERT_TRUE(peer.send_all(test::ws_frame(opcode::kText, "ab", true, false) +
                            test::ws_frame(opcode::kContinuation, "c", true, true)));
  const std::string expected = test::ws_frame(opcode::kText, "ab", false, false) +
                               test::ws_frame(opcode::kContinuation, "c", false, true);
  ASSERT_TRUE(peer.fill(expected.size()));
  EXPECT_EQ(peer.buffered.substr(0, expected.size()), expected);
  // A ping is left to the handler in frame delivery mode (this one does not answer it).
  ASSERT_TRUE(peer.send_all(test::ws_frame(opcode::kPing, "p", true)));
  EXPECT_EQ(peer.socket.read_some(100ms), "");
  server.stop();
  std::lock_guard<std::mutex> lock(handler.mutex);
  EXPECT_EQ(handler.frames, (std::vector<std::string>{"1 more ab", "0 fin c"}));
}

TEST(EngineDeferred, ALaterRefusalIsSentAsGiven) {
  DeferringHandler handler;
  ServerThread server(deferring_config(), handler);
  ASSERT_FALSE(server.start());
  Socket socket = test::connect_loopback(server.port());
  ASSERT_TRUE(socket.send_all(upgrade_request()));
  auto future = handler.pending.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  std::shared_ptr<PendingUpgrade> upgrade = future.get();
  server.server().post(upgrade->worker(),
                       [upgrade] { upgrade->reject(Rejection{502, "Bad Gateway", {}, "upstream refused"}); });
  const std::string answer = socket.read_until("upstream refused", kWait);
  EXPECT_EQ(answer.rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << answer;
  EXPECT_TRUE(socket.wait_closed(kWait));
  EXPECT_EQ(handler.opened.load(), 0);
}

TEST(EngineDeferred, AClientLeavingBeforeTheAnswerIsReportedAndTheAnswerIgnored) {
  DeferringHandler handler;
  ServerThread server(deferring_config(), handler);
  ASSERT_FALSE(server.start());
  Socket socket = test::connect_loopback(server.port());
  ASSERT_TRUE(socket.send_all(upgrade_request()));
  auto future = handler.pending.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  std::shared_ptr<PendingUpgrade> upgrade = future.get();
  socket.close();
  auto abandoned = handler.abandoned.get_future();
  ASSERT_EQ(abandoned.wait_for(kWait), std::future_status::ready);
  EXPECT_NE(abandoned.get().find("closed"), std::string::npos);
  std::promise<void> done;
  server.server().post(upgrade->worker(), [upgrade, &done] {
    upgrade->accept("", {});  // too late: nothing happens
    done.set_value();
  });
  ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(handler.opened.load(), 0);
}

// --- ClientLoop: many client connections on one thread, as `wstool load` runs them ---

struct EchoHandler : HookHandler {
  void on_message(Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
    conn.send(opcode, data, size);
  }
};

ClientConfig loop_client_config(std::uint16_t port) {
  ClientConfig config;
  config.url = "ws://127.0.0.1:" + std::to_string(port) + "/";
  return config;
}

TEST(EngineClientLoop, ManyConnectionsOnOneThreadEachReportOnce) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());

  // Each connection sends its number, and closes when it comes back.
  struct Talker : HookHandler {
    std::thread::id loop_thread;
    bool all_on_loop_thread = true;
    int echoed = 0;
    void on_open(Connection& conn) override {
      all_on_loop_thread = all_on_loop_thread && std::this_thread::get_id() == loop_thread;
      conn.send_text(std::to_string(conn.id()));
    }
    void on_message(Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      if (std::string(reinterpret_cast<const char*>(data), size) == std::to_string(conn.id())) ++echoed;
      conn.close(close_code::kNormal, "done");
    }
  } talker;
  talker.loop_thread = std::this_thread::get_id();
  constexpr int kConnections = 50;
  NullLogger logger;
  ClientLoop loop(logger);
  loop.set_keep_running(false);  // run() returns when the last connection is done
  std::vector<int> done(kConnections, 0);
  int clean = 0;
  for (int i = 0; i < kConnections; ++i) {
    loop.connect(loop_client_config(server.port()), talker, [&, i](const ClientResult& result) {
      ++done[static_cast<std::size_t>(i)];
      if (!result.error && result.opened && result.close.clean) ++clean;
    });
  }
  loop.run();
  EXPECT_EQ(std::count(done.begin(), done.end(), 1), kConnections);
  EXPECT_EQ(clean, kConnections);
  EXPECT_EQ(talker.echoed, kConnections);
  EXPECT_TRUE(talker.all_on_loop_thread);
  EXPECT_EQ(loop.open_connections(), 0u);
}

TEST(EngineClientLoop, FailuresReportThroughOnDoneToo) {
  test::Listener closed_port;  // a port nobody listens on once closed
  const std::uint16_t port = closed_port.port();
  closed_port.close();
  NullLogger logger;
  HookHandler quiet;
  ClientLoop loop(logger);
  loop.set_keep_running(false);
  std::vector<Errc> errors;
  for (const std::string& url : {"ws://127.0.0.1:" + std::to_string(port) + "/", std::string("wss://"),
                                 std::string("http//nonsense")}) {
    ClientConfig config;
    config.url = url;
    loop.connect(config, quiet, [&](const ClientResult& result) { errors.push_back(result.error.code); });
  }
  ClientConfig bad_ca;
  bad_ca.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
  bad_ca.ca_file = "/nonexistent/ca.pem";
  loop.connect(bad_ca, quiet, [&](const ClientResult& result) { errors.push_back(result.error.code); });
  loop.run();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(std::count(errors.begin(), errors.end(), Errc::kUsage), 2);
  EXPECT_EQ(std::count(errors.begin(), errors.end(), Errc::kConnectionRefused), 1);
  EXPECT_EQ(std::count(errors.begin(), errors.end(), Errc::kMissingInput), 1);
}

// stop() closes every open connection with the code asked for; a peer that never answers the
// close frame is cut when the grace period ends, not after the connection's close timeout.
TEST(EngineClientLoop, StopClosesEveryConnectionAndHonoursGrace) {
  HookHandler server_side;
  ServerThread server(loopback_config(), server_side);
  ASSERT_FALSE(server.start());
  test::Listener mute;  // completes the opening handshake, then reads nothing

  struct Counter : HookHandler {
    std::atomic<int> opened{0};
    void on_open(Connection& /*conn*/) override { opened.fetch_add(1); }
  } counter;
  NullLogger logger;
  ClientLoop loop(logger);
  constexpr int kConnections = 5;
  std::vector<ClientResult> results;
  auto record = [&](const ClientResult& result) { results.push_back(result); };
  for (int i = 0; i < kConnections; ++i) loop.connect(loop_client_config(server.port()), counter, record);
  ClientConfig mute_config = loop_client_config(mute.port());
  mute_config.limits.close_timeout = 10s;
  loop.connect(mute_config, counter, record);

  std::thread runner([&] { loop.run(); });
  std::optional<Socket> peer = mute.accept(kWait);
  ASSERT_TRUE(peer);
  const std::string request = peer->read_until("\r\n\r\n", kWait);
  const std::string key_header = "Sec-WebSocket-Key: ";
  const std::size_t at = request.find(key_header);
  ASSERT_NE(at, std::string::npos) << request;
  const std::string key = request.substr(at + key_header.size(), request.find("\r\n", at) - at - key_header.size());
  ASSERT_TRUE(peer->send_all(make_switching_response(accept_key_for(key), "", "", {})));
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (counter.opened.load() < kConnections + 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(counter.opened.load(), kConnections + 1);
  EXPECT_EQ(loop.open_connections(), static_cast<std::size_t>(kConnections + 1));

  const auto stopped_at = std::chrono::steady_clock::now();
  loop.stop(close_code::kNormal, 300ms);
  runner.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 3s);  // the mute peer's 10 s not awaited
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kConnections + 1));
  int clean = 0;
  for (const ClientResult& result : results) {
    EXPECT_TRUE(result.opened);
    EXPECT_EQ(result.close.sent_code, close_code::kNormal);
    if (result.close.clean) ++clean;
  }
  EXPECT_EQ(clean, kConnections);  // all but the mute one
}

// A load run's shape: many connections share one configuration object, and a scheduled task
// sends a burst on each (written once the task has run). Every message arrives, in order; with
// keep_response off a result keeps the 101's status and none of its headers.
TEST(EngineClientLoop, ASharedConfigurationServesManyConnectionsAndBurstsArriveInOrder) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  constexpr int kConnections = 20;
  constexpr int kBurst = 100;
  struct Burster : HookHandler {
    ClientLoop* loop = nullptr;
    std::map<std::uint64_t, int> next_expected;
    int in_order = 0;
    void on_open(Connection& conn) override {
      loop->call_at(std::chrono::steady_clock::now(), [&conn] {
        for (int i = 0; i < kBurst; ++i) conn.send_text(std::to_string(i));
      });
    }
    void on_message(Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      int& expected = next_expected[conn.id()];
      if (std::string(reinterpret_cast<const char*>(data), size) == std::to_string(expected)) ++in_order;
      if (++expected == kBurst) conn.close(close_code::kNormal, "done");
    }
  } burster;
  NullLogger logger;
  ClientLoop loop(logger);
  burster.loop = &loop;
  loop.set_keep_running(false);
  auto shared = std::make_shared<ClientConfig>(loop_client_config(server.port()));
  shared->keep_response = false;
  std::vector<ClientResult> results;
  for (int i = 0; i < kConnections; ++i) {
    loop.connect(std::shared_ptr<const ClientConfig>(shared), burster,
                 [&](const ClientResult& result) { results.push_back(result); });
  }
  ClientConfig bad_config;
  bad_config.url = "http//nonsense";
  auto bad = std::make_shared<const ClientConfig>(bad_config);
  int refused = 0;
  for (int i = 0; i < 3; ++i) {
    loop.connect(bad, burster, [&](const ClientResult& result) { refused += result.error.code == Errc::kUsage; });
  }
  loop.run();
  EXPECT_EQ(refused, 3);
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kConnections));
  for (const ClientResult& result : results) {
    EXPECT_TRUE(result.opened);
    EXPECT_TRUE(result.close.clean);
    EXPECT_EQ(result.response.status, 101);
    EXPECT_TRUE(result.response.headers.empty());
  }
  EXPECT_EQ(burster.in_order, kConnections * kBurst);
}

// Received data is read into the connection's own buffer until a read fills it (then into the
// thread's shared one), and that is reset when the connection goes quiet (past
// kBufferReleaseAfter, 1 s): messages of every
// size arrive whole before and after, and each is stamped with the time of the read that
// delivered it.
TEST(EngineClientLoop, MessagesArriveWholeAcrossBufferChangesStampedWithTheirReadTime) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  using Clock = std::chrono::steady_clock;
  // Below, at and far beyond the own buffer's size (4 KiB), which sends reads back to the shared one.
  static const std::vector<std::size_t> kSizes = {5, 4096, 70000, 600000, 30};
  static constexpr std::chrono::milliseconds kQuietLongerThanRelease{1500};
  struct Echoer : HookHandler {
    ClientLoop* loop = nullptr;
    std::size_t next = 0;
    std::size_t whole = 0;
    std::size_t stamped = 0;
    Clock::time_point sent_at;
    std::string sent;
    void send_next(Connection& conn) {
      sent.assign(kSizes[next % kSizes.size()], static_cast<char>('a' + next % 26));
      sent_at = Clock::now();
      conn.send_binary(reinterpret_cast<const std::uint8_t*>(sent.data()), sent.size());
    }
    void on_open(Connection& conn) override { send_next(conn); }
    void on_message(Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      const Clock::time_point stamp = conn.event_time();
      if (stamp >= sent_at && stamp <= Clock::now()) ++stamped;
      if (std::string(reinterpret_cast<const char*>(data), size) == sent) ++whole;
      ++next;
      if (next == 2 * kSizes.size()) {
        conn.close(close_code::kNormal, "done");
      } else if (next == kSizes.size()) {
        // Quiet long enough for the connection to give its read buffer back, then again.
        loop->call_at(Clock::now() + kQuietLongerThanRelease, [this, &conn] { send_next(conn); });
      } else {
        send_next(conn);
      }
    }
  } echoer;
  NullLogger logger;
  ClientLoop loop(logger);
  echoer.loop = &loop;
  loop.set_keep_running(false);
  std::optional<ClientResult> result;
  loop.connect(loop_client_config(server.port()), echoer, [&](const ClientResult& r) { result = r; });
  loop.run();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->close.clean) << result->close.error;
  EXPECT_EQ(echoer.whole, 2 * kSizes.size());
  EXPECT_EQ(echoer.stamped, 2 * kSizes.size());
}

// A thread's connections build their frames in output buffers they hand on to one another once
// written (the engine's spare write buffers; big payloads are masked into the thread's hot
// output buffer, lent to one connection at a time): connections sending at once, pipelined, with
// messages small, over the kept size (64 KiB) and large enough for partial writes, each get
// back exactly their own bytes, on both the client's and the server's side.
TEST(EngineClientLoop, ConnectionsSendingAtOnceGetBackExactlyTheirOwnMessages) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  static const std::vector<std::size_t> kSizes = {16384, 7, 100000, 4099, 1 << 20, 125, 126, 65536};
  constexpr std::size_t kConnections = 6;
  constexpr std::size_t kInFlight = 3;
  constexpr std::size_t kRounds = 2;  // every size, twice, per connection
  struct Sender : HookHandler {
    std::map<std::uint64_t, std::size_t> sent, matched;
    std::size_t mismatched = 0;
    static std::string message(std::uint64_t id, std::size_t n) {
      std::string text(kSizes[n % kSizes.size()], '\0');
      for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>((id * 131 + n * 17 + i) & 0xFF);
      return text;
    }
    void send_next(Connection& conn) {
      std::size_t& n = sent[conn.id()];
      if (n == kRounds * kSizes.size()) return;
      const std::string text = message(conn.id(), n++);
      conn.send_binary(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    }
    void on_open(Connection& conn) override {
      for (std::size_t i = 0; i < kInFlight; ++i) send_next(conn);
    }
    void on_message(Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      std::size_t& n = matched[conn.id()];
      if (std::string(reinterpret_cast<const char*>(data), size) != message(conn.id(), n)) ++mismatched;
      if (++n == kRounds * kSizes.size()) {
        conn.close(close_code::kNormal, "done");
      } else {
        send_next(conn);
      }
    }
  } sender;
  NullLogger logger;
  ClientLoop loop(logger);
  loop.set_keep_running(false);
  std::size_t clean = 0;
  for (std::size_t i = 0; i < kConnections; ++i) {
    loop.connect(loop_client_config(server.port()), sender, [&](const ClientResult& r) {
      if (r.opened && r.close.clean) ++clean;
    });
  }
  loop.run();
  EXPECT_EQ(clean, kConnections);
  EXPECT_EQ(sender.mismatched, 0u);
  ASSERT_EQ(sender.matched.size(), kConnections);
  for (const auto& [id, count] : sender.matched) EXPECT_EQ(count, kRounds * kSizes.size()) << "connection " << id;
}

// One scheduled task sends big messages on every connection before any of them is written (the
// batch writes at its end): the first connection borrows the thread's hot output buffer, the
// others whatever is left, and each still gets back exactly its own bytes, in order.
TEST(EngineClientLoop, BigSendsOnManyConnectionsFromOneTaskArriveWholeAndInOrder) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  static const std::vector<std::size_t> kSizes = {16384, 70000, 2048, 300000};
  constexpr std::size_t kConnections = 5;
  struct Fanner : HookHandler {
    ClientLoop* loop = nullptr;
    std::vector<Connection*> open;
    std::map<std::uint64_t, std::size_t> matched;
    std::size_t mismatched = 0;
    static std::string message(std::uint64_t id, std::size_t n) {
      std::string text(kSizes[n], '\0');
      for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>((id * 59 + n * 7 + i) & 0xFF);
      return text;
    }
    void on_open(Connection& conn) override {
      open.push_back(&conn);
      if (open.size() < kConnections) return;
      loop->call_at(std::chrono::steady_clock::now(), [this] {
        for (std::size_t n = 0; n < kSizes.size(); ++n) {
          for (Connection* c : open) {
            const std::string text = message(c->id(), n);
            c->send_binary(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
          }
        }
      });
    }
    void on_message(Connection& conn, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      std::size_t& n = matched[conn.id()];
      if (std::string(reinterpret_cast<const char*>(data), size) != message(conn.id(), n)) ++mismatched;
      if (++n == kSizes.size()) conn.close(close_code::kNormal, "done");
    }
  } fanner;
  NullLogger logger;
  ClientLoop loop(logger);
  fanner.loop = &loop;
  loop.set_keep_running(false);
  std::size_t clean = 0;
  for (std::size_t i = 0; i < kConnections; ++i) {
    loop.connect(loop_client_config(server.port()), fanner, [&](const ClientResult& r) {
      if (r.opened && r.close.clean) ++clean;
    });
  }
  loop.run();
  EXPECT_EQ(clean, kConnections);
  EXPECT_EQ(fanner.mismatched, 0u);
  ASSERT_EQ(fanner.matched.size(), kConnections);
  for (const auto& [id, count] : fanner.matched) EXPECT_EQ(count, kSizes.size()) << "connection " << id;
}

TEST(EngineClientLoop, CallAtRunsInTimeOrderThenInOrderMade) {
  NullLogger logger;
  ClientLoop loop(logger);
  loop.set_keep_running(false);
  std::vector<std::string> order;
  const auto start = std::chrono::steady_clock::now();
  loop.call_at(start + 60ms, [&] { order.push_back("c"); });
  loop.call_at(start + 20ms, [&] {
    order.push_back("a");
    // Scheduled from a task, due at once: runs before the later ones.
    loop.call_at(start, [&] { order.push_back("a2"); });
  });
  loop.call_at(start + 40ms, [&] { order.push_back("b1"); });
  loop.call_at(start + 40ms, [&] { order.push_back("b2"); });
  loop.run();  // no connection: returns when the last call has run
  EXPECT_EQ(order, (std::vector<std::string>{"a", "a2", "b1", "b2", "c"}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 60ms);
}

TEST(EngineClientLoop, StopDropsScheduledCallsAndPostIsThreadSafe) {
  NullLogger logger;
  ClientLoop loop(logger);  // keeps running until stop()
  std::atomic<int> posted{0};
  bool late_ran = false;
  loop.call_at(std::chrono::steady_clock::now() + 1h, [&] { late_ran = true; });
  std::thread runner([&] { loop.run(); });
  for (int i = 0; i < 100; ++i) loop.post([&] { posted.fetch_add(1); });
  loop.post([&] { loop.stop(); });
  runner.join();
  EXPECT_EQ(posted.load(), 100);
  EXPECT_FALSE(late_ran);
}

// A server worker opens a client connection to another server (what record's proxy does): the
// upstream lives on the worker's thread next to the accepted connection.
TEST(EngineServerConnect, AWorkerReachesAnotherServer) {
  EchoHandler echo;
  ServerThread upstream(loopback_config(), echo);
  ASSERT_FALSE(upstream.start());

  struct Upstream : HookHandler {
    Connection* downstream = nullptr;  // worker thread only
    std::thread::id opened_on;
    void on_open(Connection& conn) override {
      opened_on = std::this_thread::get_id();
      conn.send_text("via upstream");
    }
    void on_message(Connection& /*conn*/, std::uint8_t /*opcode*/, const std::uint8_t* data, std::size_t size) override {
      if (downstream != nullptr) downstream->send_text(std::string(reinterpret_cast<const char*>(data), size));
    }
  } upstream_side;
  struct Proxy : HookHandler {
    Server* server = nullptr;
    Upstream* upstream = nullptr;
    std::uint16_t upstream_port = 0;
    std::thread::id accepted_on;
    std::promise<ClientResult> done;
    void on_open(Connection& conn) override {
      accepted_on = std::this_thread::get_id();
      upstream->downstream = &conn;
      server->connect(conn.worker(), loop_client_config(upstream_port), *upstream,
                      [this](const ClientResult& result) { done.set_value(result); });
    }
    void on_close(Connection& /*conn*/, const CloseEvent& /*event*/) override { upstream->downstream = nullptr; }
  } proxy;
  ServerThread front(loopback_config(), proxy);
  proxy.server = &front.server();
  proxy.upstream = &upstream_side;
  proxy.upstream_port = upstream.port();
  ASSERT_FALSE(front.start());
  std::future<ClientResult> done = proxy.done.get_future();

  Peer peer = open_websocket(front.port());
  std::optional<Frame> frame = read_frame(peer);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "via upstream");
  EXPECT_EQ(upstream_side.opened_on, proxy.accepted_on);
  // The front server's shutdown closes its upstream connection too, and reports it once.
  front.stop();
  ASSERT_EQ(done.wait_for(kWait), std::future_status::ready);
  const ClientResult result = done.get();
  EXPECT_TRUE(result.opened);
  EXPECT_EQ(result.close.sent_code, close_code::kGoingAway);
  EXPECT_EQ(front.server().stats().open, 0u);
}

// --- zero copy: large payloads a server sends without compression are written from where they
// are (the echoed message in the read buffer), the header and payloads gathered in one write;
// what the kernel does not take is queued and follows in order ---

// A payload whose every byte depends on its position and on `seed`: a piece out of place, or
// from another message, shows.
std::string patterned(std::size_t size, unsigned seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 257 + seed * 29) & 0xFF);
  return s;
}

// A peer that reads late: a small receive buffer makes the server's writes fill the socket soon.
void shrink_receive_buffer(Peer& peer) {
  const int bytes = 16 * 1024;
  ASSERT_EQ(setsockopt(peer.socket.fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), 0);
}

// Big enough to be written from where it is (over kBorrowMinBytes), small enough that some
// arrive whole in one read (the shared read buffer is 256 KiB) and others across two.
constexpr std::size_t kLargePayload = 160 * 1024;

// Echoes, noting the most output found still waiting when a message arrives.
struct BacklogEcho : HookHandler {
  std::atomic<std::size_t> max_backlog{0};
  void on_message(Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
    max_backlog = std::max(max_backlog.load(), conn.queued_bytes());
    conn.send(opcode, data, size);
  }
};

// Several MB while the peer does not read: the socket fills, writes are partial, and the rest
// is queued and written later, behind it the small frames sent in between, all in order.
TEST(EngineZeroCopy, LargeEchoesArriveWholeAndInOrderWhenThePeerReadsLate) {
  BacklogEcho echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  Peer peer = open_websocket(server.port());
  shrink_receive_buffer(peer);
  constexpr unsigned kMessages = 64;  // 10 MB: more than the kernel buffers between the two
  std::string burst;
  for (unsigned i = 0; i < kMessages; ++i) {
    burst += test::ws_frame(opcode::kText, "small " + std::to_string(i), true);
    burst += test::ws_frame(opcode::kBinary, patterned(kLargePayload, i), true);
  }
  ASSERT_TRUE(peer.send_all(burst));
  for (unsigned i = 0; i < kMessages; ++i) {
    std::optional<Frame> small = read_frame(peer);
    ASSERT_TRUE(small) << i;
    EXPECT_EQ(small->header.opcode, opcode::kText);
    EXPECT_EQ(small->payload, "small " + std::to_string(i));
    std::optional<Frame> large = read_frame(peer);
    ASSERT_TRUE(large) << i;
    EXPECT_EQ(large->header.opcode, opcode::kBinary);
    EXPECT_TRUE(large->header.fin);
    EXPECT_FALSE(large->header.masked);
    ASSERT_EQ(large->payload.size(), kLargePayload) << i;
    EXPECT_TRUE(large->payload == patterned(kLargePayload, i)) << "message " << i << " garbled";
  }
  // The kernel did not take everything at once: the test saw the queue path, not just the direct
  // write, with more than a whole large echo waiting at some point. (How much more depends on how
  // the kernel's buffers, autotuned to megabytes on loopback, fill: 0.9 MiB on a loaded host.)
  EXPECT_GT(echo.max_backlog.load(), kLargePayload);
}

// A pong and a small echo queued earlier in the same read batch go out ahead of the large echo,
// and one queued after it behind.
TEST(EngineZeroCopy, FramesQueuedEarlierInTheBatchStayAhead) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  Peer peer = open_websocket(server.port());
  const std::string large = patterned(64 * 1024, 7);
  ASSERT_TRUE(peer.send_all(test::ws_frame(opcode::kPing, "p", true) + test::ws_frame(opcode::kText, "before", true) +
                            test::ws_frame(opcode::kBinary, large, true) + test::ws_frame(opcode::kText, "after", true)));
  const std::vector<std::pair<std::uint8_t, std::string>> expected = {
      {opcode::kPong, "p"}, {opcode::kText, "before"}, {opcode::kBinary, large}, {opcode::kText, "after"}};
  for (const auto& [op, payload] : expected) {
    std::optional<Frame> frame = read_frame(peer);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->header.opcode, op);
    EXPECT_TRUE(frame->payload == payload) << "opcode " << int{op} << ", " << frame->payload.size() << " bytes";
  }
}

// A close right after a large send, while earlier echoes still wait for the peer: the close frame
// follows the last echo, nothing after it, and the closing handshake completes.
TEST(EngineZeroCopy, ACloseRightAfterALargeSendFollowsIt) {
  constexpr unsigned kEchoedBeforeClose = 40;
  struct CloseAfter : HookHandler {
    unsigned seen = 0;
    std::atomic<bool> clean{false};
    void on_message(Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
      conn.send(opcode, data, size);
      if (++seen == kEchoedBeforeClose) conn.close(close_code::kNormal, "enough");
    }
    void on_close(Connection& /*conn*/, const CloseEvent& event) override { clean = event.clean; }
  } handler;
  ServerThread server(loopback_config(), handler);
  ASSERT_FALSE(server.start());
  Peer peer = open_websocket(server.port());
  shrink_receive_buffer(peer);
  std::string burst;
  for (unsigned i = 0; i < kEchoedBeforeClose + 5; ++i) burst += test::ws_frame(opcode::kBinary, patterned(kLargePayload, i), true);
  ASSERT_TRUE(peer.send_all(burst));
  for (unsigned i = 0; i < kEchoedBeforeClose; ++i) {
    std::optional<Frame> frame = read_frame(peer);
    ASSERT_TRUE(frame) << i;
    ASSERT_EQ(frame->header.opcode, opcode::kBinary) << i;
    EXPECT_TRUE(frame->payload == patterned(kLargePayload, i)) << "message " << i << " garbled";
  }
  std::optional<Frame> close = read_frame(peer);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->header.opcode, opcode::kClose);
  EXPECT_EQ(close->payload, test::close_payload(close_code::kNormal, "enough"));
  ASSERT_TRUE(peer.send_all(test::ws_frame(opcode::kClose, test::close_payload(close_code::kNormal, ""), true)));
  // To the end of the stream, keeping what comes: nothing follows the close frame.
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!peer.socket.eof() && std::chrono::steady_clock::now() < deadline) peer.buffered += peer.socket.read_some(100ms);
  EXPECT_TRUE(peer.socket.eof());
  EXPECT_TRUE(peer.buffered.empty()) << peer.buffered.size() << " bytes after the close frame";
  server.stop();
  EXPECT_TRUE(handler.clean.load());
}

// A relay's frames (record's proxy sends with send_frame) take the same path: fragment
// boundaries and opcodes as asked.
TEST(EngineZeroCopy, RelayedFramesKeepTheirBoundaries) {
  struct Splitter : HookHandler {
    void on_message(Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
      const std::size_t half = size / 2;
      conn.send_frame(opcode, false, data, half);
      conn.send_frame(opcode::kContinuation, true, data + half, size - half);
    }
  } handler;
  ServerThread server(loopback_config(), handler);
  ASSERT_FALSE(server.start());
  Peer peer = open_websocket(server.port());
  const std::string large = patterned(100 * 1024, 3);
  ASSERT_TRUE(peer.send_all(test::ws_frame(opcode::kBinary, large, true)));
  std::optional<Frame> first = read_frame(peer);
  std::optional<Frame> second = read_frame(peer);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->header.opcode, opcode::kBinary);
  EXPECT_FALSE(first->header.fin);
  EXPECT_EQ(second->header.opcode, opcode::kContinuation);
  EXPECT_TRUE(second->header.fin);
  EXPECT_TRUE(first->payload + second->payload == large);
}

// A peer that never reads overflows the send queue (borrowed payloads count) and is failed with
// 1008: what had been queued before still arrives whole and in order, then the close frame.
TEST(EngineZeroCopy, AFullSendQueueFailsTheConnectionAfterWholeFrames) {
  EchoHandler echo;
  ServerConfig config = loopback_config();
  config.limits.max_send_queue_bytes = std::size_t{1} << 20;
  ServerThread server(config, echo);
  ASSERT_FALSE(server.start());
  Peer peer = open_websocket(server.port());
  shrink_receive_buffer(peer);
  constexpr unsigned kMessages = 64;
  std::string burst;
  for (unsigned i = 0; i < kMessages; ++i) burst += test::ws_frame(opcode::kBinary, patterned(kLargePayload, i), true);
  ASSERT_TRUE(peer.send_all(burst));
  unsigned i = 0;
  for (;; ++i) {
    std::optional<Frame> frame = read_frame(peer);
    ASSERT_TRUE(frame) << i;
    if (frame->header.opcode == opcode::kClose) {
      EXPECT_EQ(frame->payload.substr(0, 2), test::close_payload(close_code::kPolicyViolation, ""));
      break;
    }
    ASSERT_LT(i, kMessages);
    EXPECT_TRUE(frame->payload == patterned(kLargePayload, i)) << "message " << i << " garbled";
  }
  EXPECT_LT(i, kMessages);
  EXPECT_TRUE(peer.wait_closed(kWait));
  EXPECT_EQ(server.server().stats().send_queue_overflows, 1u);
}

// Sends bytes that are never meant to be read, from its own thread, until stopped: a peer that
// goes on talking after the server has ended the connection.
class Chatterer {
 public:
  explicit Chatterer(int fd) : fd_(fd) {
    const timeval timeout{1, 0};  // bounded: a send that cannot go on ends the thread
    EXPECT_EQ(setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout), 0);
    thread_ = std::thread([this] {
      const std::string chunk(16 * 1024, 'x');
      while (!stop_ && ::send(fd_, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0) sent_ += chunk.size();
    });
  }
  ~Chatterer() { stop(); }
  std::size_t stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return sent_;
  }

 private:
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> sent_{0};
  std::thread thread_;
};

// A failed connection's close frame reaches a peer that is still sending. Were the socket
// closed with the peer's bytes unread, the kernel would answer with a reset, and the reset
// discards what had not yet reached the peer: the queued echoes' tail and the close frame.
TEST(EngineLingeringClose, AFailedConnectionsCloseFrameReachesAPeerThatKeepsSending) {
  EchoHandler echo;
  ServerThread server(loopback_config(), echo);
  ASSERT_FALSE(server.start());
  Peer peer = open_websocket(server.port());
  shrink_receive_buffer(peer);
  constexpr unsigned kMessages = 16;  // 2.5 MB of echoes: more than the kernel buffers hold
  std::string burst;
  for (unsigned i = 0; i < kMessages; ++i) burst += test::ws_frame(opcode::kBinary, patterned(kLargePayload, i), true);
  burst += test::ws_frame(3, "", true);  // a reserved opcode: the server fails the connection
  ASSERT_TRUE(peer.send_all(burst));
  Chatterer chatter(peer.socket.fd());
  std::this_thread::sleep_for(100ms);  // the server has failed the connection and is still writing
  for (unsigned i = 0; i < kMessages; ++i) {
    std::optional<Frame> frame = read_frame(peer);
    ASSERT_TRUE(frame) << "message " << i << " lost";
    EXPECT_TRUE(frame->payload == patterned(kLargePayload, i)) << "message " << i << " garbled";
  }
  std::optional<Frame> close = read_frame(peer);
  ASSERT_TRUE(close) << "the close frame was lost";
  EXPECT_EQ(close->header.opcode, opcode::kClose);
  EXPECT_EQ(close->payload.substr(0, 2), test::close_payload(close_code::kProtocolError, ""));
  EXPECT_GT(chatter.stop(), 0u);
  ::shutdown(peer.socket.fd(), SHUT_WR);
  EXPECT_TRUE(peer.wait_closed(kWait));  // the server closes once the peer has
}

// While the socket drains, the connection is already over for the handler: on_close comes when
// the close frame is written, not when a client that keeps its half open is finally cut off
// (the close timeout, here 30 s). record relays the failure to its upstream from on_close.
TEST(EngineLingeringClose, TheHandlerHearsOfTheEndBeforeTheDrainEnds) {
  struct Closing : HookHandler {
    std::promise<CloseEvent> closed;
    void on_close(Connection& /*conn*/, const CloseEvent& event) override { closed.set_value(event); }
  } handler;
  ServerConfig config = loopback_config();
  config.limits.close_timeout = 30s;
  ServerThread server(config, handler);
  ASSERT_FALSE(server.start());
  std::future<CloseEvent> closed = handler.closed.get_future();
  Peer peer = open_websocket(server.port());
  ASSERT_TRUE(peer.send_all(test::ws_frame(3, "", true)));  // a reserved opcode
  std::optional<Frame> close = read_frame(peer);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->payload.substr(0, 2), test::close_payload(close_code::kProtocolError, ""));
  EXPECT_TRUE(peer.wait_closed(kWait));  // end of stream: the server's half is shut ...
  ASSERT_EQ(closed.wait_for(10s), std::future_status::ready) << "on_close waited for the client's half";
  const CloseEvent event = closed.get();
  EXPECT_TRUE(event.we_failed);
  EXPECT_EQ(event.sent_code, close_code::kProtocolError);
  EXPECT_EQ(server.server().stats().open, 0u);  // ... and it no longer counts as open
}

// The same for a refused upgrade: the answer arrives though the client talks on.
TEST(EngineLingeringClose, ARefusalReachesAClientThatKeepsSending) {
  struct Refuser : HookHandler {
    std::optional<Rejection> on_upgrade_request(const UpgradeRequest& /*request*/,
                                                const std::string& /*remote*/) override {
      return Rejection{403, "Forbidden", {}, std::string(256 * 1024, 'r') + " end of refusal"};
    }
  } handler;
  ServerThread server(loopback_config(), handler);
  ASSERT_FALSE(server.start());
  Socket client = test::connect_loopback(server.port());
  Peer peer{std::move(client), {}};
  shrink_receive_buffer(peer);
  ASSERT_TRUE(peer.send_all(upgrade_request()));
  Chatterer chatter(peer.socket.fd());
  std::this_thread::sleep_for(100ms);
  const std::string answer = peer.socket.read_until("end of refusal", kWait);
  EXPECT_EQ(answer.rfind("HTTP/1.1 403", 0), 0u) << answer.substr(0, 100);
  EXPECT_NE(answer.find("end of refusal"), std::string::npos) << "the refusal was cut off after " << answer.size() << " bytes";
  chatter.stop();
  ::shutdown(peer.socket.fd(), SHUT_WR);
  EXPECT_TRUE(peer.wait_closed(kWait));
}

}  // namespace
}  // namespace wstool::ws
