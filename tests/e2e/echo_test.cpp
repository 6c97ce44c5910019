// `wstool echo` end to end: the real binary on loopback, as a server (readiness line, limits,
// shutdown) and with --client (one test per exit code a client can reach on loopback).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include <cstring>
#include <string>
#include <vector>

#include "lib/frame.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"
#include "tests/support/ws_frames.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;

constexpr const char* kUpgradeRequest =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

constexpr const char* kSwitchingResponse =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: ";


// A server started with --listen 127.0.0.1:0, its port read from the readiness line.
struct EchoServer {
  Process process;
  std::uint16_t port = 0;
  explicit EchoServer(std::vector<std::string> extra = {})
      : process([&] {
          std::vector<std::string> argv = {kBinary, "echo", "--listen", "127.0.0.1:0", "-v"};
          argv.insert(argv.end(), extra.begin(), extra.end());
          return argv;
        }()) {
    const auto line = process.read_line(5s);
    if (line) port = port_from_readiness_line(*line);
  }
  ProcessResult stop() {
    process.signal(SIGTERM);
    return process.wait(5s);
  }
};

// Connects and completes the opening handshake; returns the socket (invalid on failure).
Socket open_websocket(std::uint16_t port) {
  Socket s = connect_loopback(port);
  if (!s.valid() || !s.send_all(kUpgradeRequest)) return Socket();
  const std::string head = s.read_until("\r\n\r\n", 5s);
  if (head.rfind("HTTP/1.1 101", 0) != 0) return Socket();
  return s;
}

TEST(EchoServer, PrintsTheReadinessLineAndEchoesTextAndBinary) {
  EchoServer server;
  ASSERT_NE(server.port, 0);
  Socket s = open_websocket(server.port);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.send_all(ws_frame(ws::opcode::kText, "héllo", true) + ws_frame(ws::opcode::kBinary, std::string("\0\1\2", 3), true)));
  const std::string expected = ws_frame(ws::opcode::kText, "héllo", false) + ws_frame(ws::opcode::kBinary, std::string("\0\1\2", 3), false);
  EXPECT_EQ(s.read_exactly(expected.size(), 5s), expected);
  ASSERT_TRUE(s.send_all(ws_frame(ws::opcode::kClose, "\x03\xe8", true)));
  EXPECT_EQ(s.read_exactly(4, 5s), ws_frame(ws::opcode::kClose, "\x03\xe8", false));
  EXPECT_TRUE(s.wait_closed(5s));  // the server closes TCP after the closing handshake
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_NE(result.err.find("closed: 1000"), std::string::npos) << result.err;
}

TEST(EchoServer, SigtermClosesOpenConnectionsWith1001AndExitsZero) {
  EchoServer server;
  ASSERT_NE(server.port, 0);
  Socket s = open_websocket(server.port);
  ASSERT_TRUE(s.valid());
  const auto start = Clock::now();
  server.process.signal(SIGTERM);
  const std::string close = s.read_exactly(4, 3s);  // a close frame: 0x88, length, code
  ASSERT_GE(close.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(close[0]), 0x88);  // FIN + close
  EXPECT_EQ(close.substr(2, 2), "\x03\xe9");             // 1001 going away
  // The server exits within 2 s even though this client never answers the close.
  const ProcessResult result = server.process.wait(5s);
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_LT(Clock::now() - start, 2500ms);
}

TEST(EchoServer, BindFailureExits71WithNothingOnStdout) {
  EchoServer first;
  ASSERT_NE(first.port, 0);
  const ProcessResult second =
      run_process({kBinary, "echo", "--listen", "127.0.0.1:" + std::to_string(first.port)}, {{}, {}, 5000ms});
  EXPECT_TRUE(second.exited_with(71)) << second.exit_code << second.err;
  EXPECT_EQ(second.out, "");
  EXPECT_NE(second.err.find("cannot listen"), std::string::npos) << second.err;
  EXPECT_TRUE(first.stop().exited_with(0));
}

TEST(EchoServer, AnswersBadHandshakesWithTheRightStatus) {
  EchoServer server;
  ASSERT_NE(server.port, 0);
  {
    Socket s = connect_loopback(server.port);
    s.send_all("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    const std::string answer = s.read_until("\r\n\r\n", 5s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 426", 0), 0u) << answer;
    EXPECT_NE(answer.find("Sec-WebSocket-Version: 13"), std::string::npos) << answer;
  }
  {
    Socket s = connect_loopback(server.port);
    s.send_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(s.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 400", 0), 0u);
  }
  {
    Socket s = connect_loopback(server.port);
    s.send_all("GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(20000, 'a') + "\r\n\r\n");
    // The status line carries 431's own reason phrase, not 400's.
    const std::string answer = s.read_until("\r\n\r\n", 5s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u) << answer;
  }
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(EchoServer, OverMaxConnectionsAnswers503) {
  EchoServer server({"--max-connections", "1"});
  ASSERT_NE(server.port, 0);
  Socket first = open_websocket(server.port);
  ASSERT_TRUE(first.valid());
  Socket second = connect_loopback(server.port);
  second.send_all(kUpgradeRequest);
  EXPECT_EQ(second.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 503", 0), 0u);
  first.close();
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(EchoServer, APeerThatNeverReadsIsClosedWith1008) {
  EchoServer server({"--max-send-queue", "64KiB", "--close-timeout", "300ms"});
  ASSERT_NE(server.port, 0);
  Socket s = open_websocket(server.port);
  ASSERT_TRUE(s.valid());
  // Send far more than the kernel's socket buffers hold, never reading the echoes.
  const std::string message = ws_frame(ws::opcode::kBinary, std::string(60000, 'x'), true);
  bool closed = false;
  for (int i = 0; i < 2000 && !closed; ++i) closed = !s.send_all(message);
  // Either the sends started failing (the server closed) or the server closes now.
  EXPECT_TRUE(closed || s.wait_closed(5s));
  const ProcessResult result = server.stop();
  EXPECT_TRUE(result.exited_with(0));
  EXPECT_NE(result.err.find("sent 1008"), std::string::npos) << result.err;
}

TEST(EchoServer, BadUnitValueIsAUsageError) {
  const ProcessResult result = run_process({kBinary, "echo", "--max-message-size", "12parsecs"}, {{}, {}, 5000ms});
  EXPECT_TRUE(result.exited_with(64)) << result.exit_code;
  EXPECT_NE(result.err.find("--max-message-size"), std::string::npos) << result.err;
}

// --- the client side -------------------------------------------------------------------------

ProcessResult run_client(const std::string& url, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {kBinary, "echo", "--client", url};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_process(argv, {{}, {}, 10000ms});
}

// Plays a server: accepts the client, answers 101 with the accept value a real echo server
// computes for this client's key (the client's key is random, so relay it through one).
struct FakeServer {
  Listener listener;
  EchoServer reference;
  std::optional<Socket> client;

  // Accepts and completes the handshake; false on failure.
  bool accept_and_upgrade() {
    client = listener.accept(5s);
    if (!client) return false;
    const std::string request = client->read_until("\r\n\r\n", 5s);
    Socket relay = connect_loopback(reference.port);
    if (!relay.valid() || !relay.send_all(request)) return false;
    const std::string answer = relay.read_until("\r\n\r\n", 5s);
    const auto at = answer.find("Sec-WebSocket-Accept: ");
    if (at == std::string::npos) return false;
    const std::string accept = answer.substr(at + 22, 28);
    return client->send_all(std::string(kSwitchingResponse) + accept + "\r\n\r\n");
  }
};

TEST(EchoClient, EchoesUntilTheServerClosesCleanlyThenExitsZero) {
  FakeServer fake;
  ASSERT_NE(fake.reference.port, 0);
  ProcessOptions options;
  options.timeout = 10s;
  Process client({kBinary, "echo", "--client", "ws://127.0.0.1:" + std::to_string(fake.listener.port()) + "/",
                  "--no-compress"},
                 options);
  ASSERT_TRUE(fake.accept_and_upgrade());
  Socket& s = *fake.client;
  s.send_all(ws_frame(ws::opcode::kText, "round trip", false));
  const std::string echoed = s.read_exactly(2 + 4 + 10, 5s);  // masked by the client
  ASSERT_EQ(echoed.size(), 16u);
  std::string payload = echoed.substr(6);
  std::uint32_t key;
  std::memcpy(&key, echoed.data() + 2, 4);
  ws::apply_mask(reinterpret_cast<std::uint8_t*>(payload.data()), payload.size(), key, 0);
  EXPECT_EQ(payload, "round trip");
  EXPECT_EQ(static_cast<unsigned char>(echoed[1]) & 0x80, 0x80);  // masked
  s.send_all(ws_frame(ws::opcode::kClose, "\x03\xe8", false));
  s.read_exactly(2 + 4 + 2, 5s);
  s.close();  // the server closes TCP first
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(0)) << result.exit_code << result.err;
}

TEST(EchoClient, ConnectionRefusedExits69) {
  std::uint16_t port;
  {
    Listener closed;
    port = closed.port();
  }
  const ProcessResult result = run_client("ws://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_TRUE(result.exited_with(69)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("refused"), std::string::npos) << result.err;
  // The diagnostic names the URL it is about, as wstool(1) says every diagnostic does.
  EXPECT_EQ(result.err.rfind("wsecho: error: ws://127.0.0.1:" + std::to_string(port) + "/: ", 0), 0u) << result.err;
}

TEST(EchoClient, NonUpgradeAnswerNamesTheUrl) {
  Listener listener;
  const std::string url = "ws://127.0.0.1:" + std::to_string(listener.port()) + "/";
  Process client({kBinary, "echo", "--client", url});
  auto s = listener.accept(5s);
  ASSERT_TRUE(s);
  s->read_until("\r\n\r\n", 5s);
  s->send_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: not-the-right-one=\r\n\r\n");
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(69)) << result.exit_code << result.err;
  EXPECT_EQ(result.err.rfind("wsecho: error: " + url + ": ", 0), 0u) << result.err;
}

TEST(EchoClient, ALostConnectionsDiagnosticRedactsTheUrlsToken) {
  FakeServer fake;
  ASSERT_NE(fake.reference.port, 0);
  Process client({kBinary, "echo", "--client",
                  "ws://127.0.0.1:" + std::to_string(fake.listener.port()) + "/?token=tk3", "--no-compress"});
  ASSERT_TRUE(fake.accept_and_upgrade());
  fake.client->close();  // no close frame: 1006
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(74)) << result.exit_code << result.err;
  EXPECT_EQ(result.err.find("tk3"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("?token=[redacted]: connection ended"), std::string::npos) << result.err;
}

TEST(EchoClient, AnEmptyUrlIsAUsageErrorNotAServer) {
  const ProcessResult result = run_client("");
  EXPECT_TRUE(result.exited_with(64)) << result.exit_code << result.err;
  EXPECT_EQ(result.out, "");  // no readiness line: no server was started
  EXPECT_NE(result.err.find("--client"), std::string::npos) << result.err;
}

TEST(EchoClient, UnknownHostExits68) {
  const ProcessResult result = run_client("ws://no-such-host.invalid/");
  EXPECT_TRUE(result.exited_with(68)) << result.exit_code << result.err;
}

TEST(EchoClient, HandshakeTimeoutExits75) {
  Listener silent;  // accepts (the kernel does) and never answers
  const ProcessResult result =
      run_client("ws://127.0.0.1:" + std::to_string(silent.port()) + "/", {"--connect-timeout", "300ms"});
  EXPECT_TRUE(result.exited_with(75)) << result.exit_code << result.err;
}

TEST(EchoClient, Non101AnswerExits69AndShowsTheStatus) {
  Listener listener;
  Process client({kBinary, "echo", "--client", "ws://127.0.0.1:" + std::to_string(listener.port()) + "/"});
  auto s = listener.accept(5s);
  ASSERT_TRUE(s);
  s->read_until("\r\n\r\n", 5s);
  s->send_all("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot today");
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(69)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("403"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("not today"), std::string::npos) << result.err;
}

TEST(EchoClient, MaskedFrameFromTheServerExits76) {
  FakeServer fake;
  ASSERT_NE(fake.reference.port, 0);
  Process client({kBinary, "echo", "--client", "ws://127.0.0.1:" + std::to_string(fake.listener.port()) + "/"});
  ASSERT_TRUE(fake.accept_and_upgrade());
  fake.client->send_all(ws_frame(ws::opcode::kText, "masked", true));
  const std::string close = fake.client->read_exactly(2 + 4 + 2, 5s);
  ASSERT_EQ(close.size(), 8u);
  std::string code = close.substr(6);
  std::uint32_t key;
  std::memcpy(&key, close.data() + 2, 4);
  ws::apply_mask(reinterpret_cast<std::uint8_t*>(code.data()), 2, key, 0);
  EXPECT_EQ(code, "\x03\xea");  // 1002
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(76)) << result.exit_code << result.err;
}

TEST(EchoClient, ConnectionDroppedMidSessionExits74) {
  FakeServer fake;
  ASSERT_NE(fake.reference.port, 0);
  Process client({kBinary, "echo", "--client", "ws://127.0.0.1:" + std::to_string(fake.listener.port()) + "/"});
  ASSERT_TRUE(fake.accept_and_upgrade());
  fake.client->close();
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(74)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("1006"), std::string::npos) << result.err;
}

TEST(EchoClient, SigintExits130) {
  FakeServer fake;
  ASSERT_NE(fake.reference.port, 0);
  Process client({kBinary, "echo", "--client", "ws://127.0.0.1:" + std::to_string(fake.listener.port()) + "/"});
  ASSERT_TRUE(fake.accept_and_upgrade());
  // Once a message came back, the client is surely open.
  fake.client->send_all(ws_frame(ws::opcode::kText, "hi", false));
  ASSERT_EQ(fake.client->read_exactly(8, 5s).size(), 8u);
  client.signal(SIGINT);
  // The client starts a closing handshake with 1001 (masked: 2 + 4 + 2 bytes at least).
  const std::string close = fake.client->read_exactly(8, 5s);
  ASSERT_GE(close.size(), 8u);
  std::string code = close.substr(6, 2);
  std::uint32_t key;
  std::memcpy(&key, close.data() + 2, 4);
  ws::apply_mask(reinterpret_cast<std::uint8_t*>(code.data()), 2, key, 0);
  EXPECT_EQ(code, "\x03\xe9");
  fake.client->close();
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(130)) << result.exit_code << result.err;
}

// An HTTP CONNECT proxy for one tunnel: answers `status`, then relays bytes both ways.
class OneTunnelProxy {
 public:
  explicit OneTunnelProxy(std::string status = "200 Connection established") : status_(std::move(status)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~OneTunnelProxy() {
    stop_ = true;
    thread_.join();
  }
  std::uint16_t port() const { return listener_.port(); }
  const std::string& request() const { return request_; }

 private:
  void serve() {
    auto client = listener_.accept(5s);
    if (!client) return;
    request_ = client->read_until("\r\n\r\n", 5s);
    const auto colon = request_.find(':', request_.find(' '));
    const auto space = request_.find(' ', colon);
    if (colon == std::string::npos || space == std::string::npos) return;
    const auto port = static_cast<std::uint16_t>(std::stoi(request_.substr(colon + 1, space - colon - 1)));
    if (status_.rfind("200", 0) != 0) {
      client->send_all("HTTP/1.1 " + status_ + "\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    Socket upstream = connect_loopback(port);
    client->send_all("HTTP/1.1 " + status_ + "\r\n\r\n");
    pollfd fds[2] = {{client->fd(), POLLIN, 0}, {upstream.fd(), POLLIN, 0}};
    char buffer[65536];
    while (!stop_) {
      if (::poll(fds, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        Socket& to = i == 0 ? upstream : *client;
        if (!to.send_all(std::string(buffer, static_cast<std::size_t>(n)))) return;
      }
    }
  }

  std::string status_;
  Listener listener_;
  std::string request_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(EchoClient, TunnelsThroughAnHttpProxy) {
  FakeServer fake;
  ASSERT_NE(fake.reference.port, 0);
  OneTunnelProxy proxy;
  Process client({kBinary, "echo", "--client", "ws://127.0.0.1:" + std::to_string(fake.listener.port()) + "/",
                  "--proxy", "http://127.0.0.1:" + std::to_string(proxy.port())});
  ASSERT_TRUE(fake.accept_and_upgrade());
  fake.client->send_all(ws_frame(ws::opcode::kClose, "\x03\xe8", false));
  fake.client->read_exactly(8, 5s);
  fake.client->close();
  const ProcessResult result = client.wait(5s);
  EXPECT_TRUE(result.exited_with(0)) << result.exit_code << result.err;
  EXPECT_EQ(proxy.request().rfind("CONNECT 127.0.0.1:" + std::to_string(fake.listener.port()) + " HTTP/1.1\r\n", 0), 0u)
      << proxy.request();
}

TEST(EchoClient, AProxyRefusingTheTunnelExits69) {
  OneTunnelProxy proxy("407 Proxy Authentication Required");
  const ProcessResult result =
      run_client("ws://127.0.0.1:9/", {"--proxy", "127.0.0.1:" + std::to_string(proxy.port())});
  EXPECT_TRUE(result.exited_with(69)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("407"), std::string::npos) << result.err;
}

// --- TLS: a server with tests/data/localhost.{crt,key} (self-signed, CN and SAN localhost/127.0.0.1)

const std::string kCert = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/localhost.crt";
const std::string kKey = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/localhost.key";

TEST(EchoTls, ServesWssAndTheClientVerifiesWithTheGivenCa) {
  // The server's idle timeout ends the session: it closes with 1001, the client answers and
  // exits 0 — which it can only do after TLS with verification and the upgrade succeeded.
  EchoServer server({"--tls-cert", kCert, "--tls-key", kKey, "--idle-timeout", "300ms"});
  ASSERT_NE(server.port, 0);
  const ProcessResult result =
      run_client("wss://localhost:" + std::to_string(server.port) + "/", {"--ca", kCert, "-v"});
  EXPECT_TRUE(result.exited_with(0)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("closed: 1001 \"idle timeout\""), std::string::npos) << result.err;
  const ProcessResult server_result = server.stop();
  EXPECT_TRUE(server_result.exited_with(0));
  EXPECT_NE(server_result.err.find("closed: 1001"), std::string::npos) << server_result.err;
}

TEST(EchoTls, UntrustedCertificateExits69WithTheReason) {
  EchoServer server({"--tls-cert", kCert, "--tls-key", kKey});
  ASSERT_NE(server.port, 0);
  const ProcessResult result = run_client("wss://127.0.0.1:" + std::to_string(server.port) + "/");
  EXPECT_TRUE(result.exited_with(69)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("certificate"), std::string::npos) << result.err;
  EXPECT_TRUE(server.stop().exited_with(0));
}

TEST(EchoTls, MissingCertificateFileExits66) {
  const ProcessResult result =
      run_process({kBinary, "echo", "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.crt", "--tls-key", kKey},
                  {{}, {}, 5000ms});
  EXPECT_TRUE(result.exited_with(66)) << result.exit_code << result.err;
  EXPECT_EQ(result.out, "");
}

TEST(EchoClient, BadUrlIsAUsageError) {
  const ProcessResult result = run_client("ftp://example/");
  EXPECT_TRUE(result.exited_with(64)) << result.exit_code << result.err;
}

}  // namespace
}  // namespace wstool::test
