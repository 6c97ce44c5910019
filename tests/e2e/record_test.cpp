// `wstool record` end to end: the real proxy between raw-socket peers (exact frames both ways)
// or `wstool echo`, its session log and live view, and what a client sees when the upstream
// refuses, cannot be reached or drops.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lib/frame.h"
#include "lib/handshake.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"
#include "tests/support/ws_frames.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;

std::string upgrade_request(const std::string& target = "/", const std::string& extra = "") {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

// A started proxy: `wstool record --listen 127.0.0.1:0 --upstream URL -o LOG`.
struct Recorder {
  TempDir dir;
  std::string log_path = dir.path() + "/session.jsonl";
  Process process;
  std::uint16_t port = 0;
  explicit Recorder(const std::string& upstream, std::vector<std::string> extra = {})
      : process([&] {
          std::vector<std::string> argv = {kBinary, "record", "--listen", "127.0.0.1:0", "--upstream", upstream,
                                           "-o", log_path, "--color", "never"};
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
  std::vector<nlohmann::json> log_records() const {
    std::vector<nlohmann::json> records;
    for (const std::string& line : lines_of(read_file(log_path))) {
      if (!line.empty()) records.push_back(nlohmann::json::parse(line));
    }
    return records;
  }
};

// One frame read off a raw socket, unmasked.
struct Frame {
  std::uint8_t opcode = 0;
  bool fin = true;
  std::uint8_t rsv = 0;
  bool masked = false;
  std::string payload;
};

std::optional<Frame> read_frame(Socket& s, std::string& buffer) {
  const auto deadline = Clock::now() + 5s;
  for (;;) {
    ws::FrameHeader h;
    const auto* data = reinterpret_cast<const std::uint8_t*>(buffer.data());
    if (ws::decode_header(data, buffer.size(), h) == ws::HeaderStatus::kComplete &&
        buffer.size() >= h.header_length + h.payload_length) {
      Frame f{h.opcode, h.fin, h.rsv, h.masked, buffer.substr(h.header_length, static_cast<std::size_t>(h.payload_length))};
      if (h.masked) ws::apply_mask(reinterpret_cast<std::uint8_t*>(f.payload.data()), f.payload.size(), h.mask_key, 0);
      buffer.erase(0, h.header_length + static_cast<std::size_t>(h.payload_length));
      return f;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    const std::string more = s.read_some(1s);
    if (more.empty() && s.eof()) return std::nullopt;
    buffer += more;
  }
}

// A hand-played upstream server: accepts one connection and answers its upgrade.
struct RawUpstream {
  Listener listener;
  Socket conn;
  std::string request;
  std::string buffer;  // bytes read past the handshake
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(listener.port()); }

  bool accept_request() {
    auto s = listener.accept(5s);
    if (!s) return false;
    conn = std::move(*s);
    request = conn.read_until("\r\n\r\n", 5s);
    return !request.empty();
  }
  std::string header(const std::string& name) const {
    const std::size_t at = request.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    const std::size_t start = at + 4 + name.size();
    return request.substr(start, request.find("\r\n", start) - start);
  }
  bool open(const std::string& extra_headers = "") {
    if (!accept_request()) return false;
    return conn.send_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + ws::accept_key_for(header("Sec-WebSocket-Key")) + "\r\n" +
                         extra_headers + "\r\n");
  }
};

// The client through the proxy: handshake done, the 101's head returned in `head`.
Socket open_through(std::uint16_t port, std::string* head = nullptr, const std::string& request = upgrade_request()) {
  Socket s = connect_loopback(port);
  if (!s.valid() || !s.send_all(request)) return Socket();
  const std::string answer = s.read_until("\r\n\r\n", 5s);
  if (head != nullptr) *head = answer;
  if (answer.rfind("HTTP/1.1 101", 0) != 0) return Socket();
  return s;
}

// A client through the proxy to a raw upstream that accepts it: the proxy opens the upstream
// before it answers the client, so the upstream's 101 comes between the two.
Socket open_relayed(std::uint16_t port, RawUpstream& upstream) {
  Socket s = connect_loopback(port);
  if (!s.valid() || !s.send_all(upgrade_request()) || !upstream.open()) return Socket();
  if (s.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 101", 0) != 0) return Socket();
  return s;
}

TEST(Record, RelaysFragmentsPingsAndBinaryFrameForFrameAndLogsThem) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress"});
  ASSERT_NE(proxy.port, 0);
  Socket client = connect_loopback(proxy.port);
  ASSERT_TRUE(client.send_all(upgrade_request("/chat?room=1", "Sec-WebSocket-Protocol: chat.v2, chat.v1\r\nX-Trace: 42\r\n")));
  ASSERT_TRUE(upstream.accept_request());
  // Headers, path and subprotocols reach the upstream before the client gets its answer.
  EXPECT_EQ(upstream.request.rfind("GET /chat?room=1 HTTP/1.1", 0), 0u) << upstream.request;
  EXPECT_EQ(upstream.header("X-Trace"), "42");
  EXPECT_EQ(upstream.header("Sec-WebSocket-Protocol"), "chat.v2, chat.v1");
  ASSERT_TRUE(upstream.conn.send_all(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
      ws::accept_key_for(upstream.header("Sec-WebSocket-Key")) + "\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n"));
  const std::string head = client.read_until("\r\n\r\n", 5s);
  ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  EXPECT_NE(head.find("Sec-WebSocket-Protocol: chat.v1"), std::string::npos) << head;

  // Client to upstream: a text message in three frames around a ping, then binary.
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kText, "hel", true, false) + ws_frame(ws::opcode::kPing, "p", true) +
                              ws_frame(ws::opcode::kContinuation, "", true, false) +
                              ws_frame(ws::opcode::kContinuation, "lo", true, true) +
                              ws_frame(ws::opcode::kBinary, std::string("\x00\xff", 2), true)));
  std::string& in = upstream.buffer;
  const std::vector<std::pair<std::uint8_t, std::string>> expected = {
      {ws::opcode::kText, "hel"}, {ws::opcode::kPing, "p"}, {ws::opcode::kContinuation, ""},
      {ws::opcode::kContinuation, "lo"}, {ws::opcode::kBinary, std::string("\x00\xff", 2)}};
  const bool fins[] = {false, true, false, true, true};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto f = read_frame(upstream.conn, in);
    ASSERT_TRUE(f) << "frame " << i;
    EXPECT_EQ(f->opcode, expected[i].first) << "frame " << i;
    EXPECT_EQ(f->payload, expected[i].second) << "frame " << i;
    EXPECT_EQ(f->fin, fins[i]) << "frame " << i;
    EXPECT_TRUE(f->masked);
  }
  // The proxy left the ping to the upstream: no pong of its own reached the client.
  // Upstream to client: exact bytes, fragmentation kept, the upstream's ping passed on.
  const std::string from_upstream = ws_frame(ws::opcode::kPong, "p", false) +
                                    ws_frame(ws::opcode::kBinary, "ab", false, false) +
                                    ws_frame(ws::opcode::kPing, "x", false) +
                                    ws_frame(ws::opcode::kContinuation, "cd", false, true);
  ASSERT_TRUE(upstream.conn.send_all(from_upstream));
  EXPECT_EQ(client.read_exactly(from_upstream.size(), 5s), from_upstream);

  // A close code and reason from the client reach the upstream.
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(4000, "bye"), true)));
  auto close = read_frame(upstream.conn, in);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::opcode::kClose);
  EXPECT_EQ(close->payload, close_payload(4000, "bye"));
  upstream.conn.send_all(ws_frame(ws::opcode::kClose, close_payload(4000, ""), false));
  EXPECT_TRUE(client.wait_closed(5s));

  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  // The live view: one line per frame with the direction and the preview.
  EXPECT_NE(result.out.find("#1 → text (more) 3 hel"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("#1 → binary 2 00 ff"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("#1 ← cont 2 63 64"), std::string::npos) << result.out;

  const auto records = proxy.log_records();
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(records.front()["type"], "header");
  int frames = 0;
  bool saw_open = false, saw_close = false;
  for (const auto& r : records) {
    if (r["type"] == "open") {
      saw_open = true;
      EXPECT_EQ(r["conn"], 1);
      EXPECT_EQ(r["subprotocol"], "chat.v1");
    }
    if (r["type"] == "frame") ++frames;
    if (r["type"] == "frame" && r["dir"] == "client" && r["opcode"] == 1) {
      EXPECT_EQ(r["fin"], false);
      EXPECT_EQ(r["text"], "hel");
    }
    if (r["type"] == "close") {
      saw_close = true;
      EXPECT_EQ(r["code"], 4000);
      EXPECT_EQ(r["reason"], "bye");
    }
  }
  EXPECT_TRUE(saw_open);
  EXPECT_TRUE(saw_close);
  // 5 from the client, 4 from the upstream, and (session log 1.3) the client's close frame and
  // the upstream's answer; the live view shows them too.
  EXPECT_EQ(frames, 11);
  EXPECT_NE(result.out.find("#1 → close 5 4000 bye"), std::string::npos) << result.out;
  EXPECT_EQ(records.back()["type"], "end");
}

TEST(Record, CompressedSidesRelayTheSameFrames) {
  // The client side negotiates deflate, the upstream side does not: payloads still match.
  Process echo({kBinary, "echo", "--listen", "127.0.0.1:0", "--no-compress"});
  const auto ready = echo.read_line(5s);
  ASSERT_TRUE(ready);
  Recorder proxy("ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*ready)));
  ASSERT_NE(proxy.port, 0);
  std::string head;
  Socket client = open_through(proxy.port, &head,
                               upgrade_request("/", "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  ASSERT_TRUE(client.valid()) << head;
  ASSERT_NE(head.find("permessage-deflate"), std::string::npos) << head;
  // "Hello" compressed (RFC 7692 7.2.3.1), RSV1 set.
  const std::string compressed("\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
  ws::FrameHeader h;
  h.rsv = ws::kRsv1;
  h.opcode = ws::opcode::kText;
  h.masked = true;
  h.mask_key = kTestMaskKey;
  h.payload_length = compressed.size();
  std::uint8_t header[ws::kMaxFrameHeaderBytes];
  const std::size_t n = ws::encode_header(header, h);
  std::string body = compressed;
  ws::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), h.mask_key, 0);
  ASSERT_TRUE(client.send_all(std::string(reinterpret_cast<const char*>(header), n) + body));
  std::string buffer;
  auto echoed = read_frame(client, buffer);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->rsv, ws::kRsv1);  // compressed again for the client
  const ProcessResult result = proxy.stop();
  EXPECT_NE(result.out.find("#1 → text deflate 5 Hello"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("#1 ← text 5 Hello"), std::string::npos) << result.out;  // echo: no deflate
  echo.signal(SIGTERM);
  EXPECT_TRUE(echo.wait(5s).exited_with(0));
}

TEST(Record, TwoClientsAtOnceGetTheirOwnIdsAndAnswers) {
  Process echo({kBinary, "echo", "--listen", "127.0.0.1:0"});
  const auto ready = echo.read_line(5s);
  ASSERT_TRUE(ready);
  Recorder proxy("ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*ready)), {"--filter", "conn=2"});
  ASSERT_NE(proxy.port, 0);
  Socket a = open_through(proxy.port);
  Socket b = open_through(proxy.port);
  ASSERT_TRUE(a.valid());
  ASSERT_TRUE(b.valid());
  ASSERT_TRUE(a.send_all(ws_frame(ws::opcode::kText, "from a", true)));
  ASSERT_TRUE(b.send_all(ws_frame(ws::opcode::kText, "{ \"from\": \"b\" }", true)));
  EXPECT_EQ(b.read_exactly(17, 5s), ws_frame(ws::opcode::kText, "{ \"from\": \"b\" }", false));
  EXPECT_EQ(a.read_exactly(8, 5s), ws_frame(ws::opcode::kText, "from a", false));
  a.close();  // one client vanishing leaves the other working
  ASSERT_TRUE(b.send_all(ws_frame(ws::opcode::kBinary, "again", true)));
  EXPECT_EQ(b.read_exactly(7, 5s), ws_frame(ws::opcode::kBinary, "again", false));
  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  // --filter conn=2 shows only b's frames; JSON in compact form.
  EXPECT_NE(result.out.find("#2 → text 15 {\"from\":\"b\"}"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("from a"), std::string::npos) << result.out;
  int conn1 = 0, conn2 = 0;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] != "frame") continue;
    (r["conn"] == 1 ? conn1 : conn2)++;
  }
  // The log has everything, whatever the filter; no close frames: a vanished (TCP closed without
  // one), b closed by the proxy's shutdown, and the upstream's answers to the proxy's closes are
  // not either side beginning to close.
  EXPECT_EQ(conn1, 2);
  EXPECT_EQ(conn2, 4);
  echo.signal(SIGTERM);
  EXPECT_TRUE(echo.wait(5s).exited_with(0));
}

TEST(Record, ARefusedUpstreamHandshakeReachesTheClientWithItsBody) {
  RawUpstream upstream;
  Recorder proxy(upstream.url());
  ASSERT_NE(proxy.port, 0);
  Socket client = connect_loopback(proxy.port);
  ASSERT_TRUE(client.send_all(upgrade_request()));
  ASSERT_TRUE(upstream.accept_request());
  ASSERT_TRUE(upstream.conn.send_all("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: policy\r\n"
                                     "Content-Length: 7\r\n\r\nno way\n"));
  const std::string answer = client.read_until("no way\n", 5s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 403 Forbidden", 0), 0u) << answer;
  EXPECT_NE(answer.find("X-Why: policy"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\r\n\r\nno way\n"), std::string::npos) << answer;
  EXPECT_TRUE(proxy.stop().exited_with(0));
}

TEST(Record, AnUnreachableUpstreamIs502) {
  std::uint16_t closed_port = 0;
  {
    Listener gone;
    closed_port = gone.port();
  }
  Recorder proxy("ws://127.0.0.1:" + std::to_string(closed_port));
  ASSERT_NE(proxy.port, 0);
  std::string head;
  EXPECT_FALSE(open_through(proxy.port, &head).valid());
  EXPECT_EQ(head.rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << head;
  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_NE(result.out.find("refused with 502"), std::string::npos) << result.out;
}

TEST(Record, AnUpstreamThatNeverAnswersIs504) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--connect-timeout", "300ms"});
  ASSERT_NE(proxy.port, 0);
  std::string head;
  Socket client = connect_loopback(proxy.port);
  ASSERT_TRUE(client.send_all(upgrade_request()));
  ASSERT_TRUE(upstream.accept_request());  // and say nothing
  head = client.read_until("\r\n\r\n", 5s);
  EXPECT_EQ(head.rfind("HTTP/1.1 504 Gateway Timeout", 0), 0u) << head;
  EXPECT_TRUE(proxy.stop().exited_with(0));
}

TEST(Record, TheUpstreamsCloseCodeIsRelayedAndADropIs1014) {
  {
    RawUpstream upstream;
    Recorder proxy(upstream.url());
    Socket client = connect_loopback(proxy.port);
    ASSERT_TRUE(client.send_all(upgrade_request()));
    ASSERT_TRUE(upstream.open());
    ASSERT_EQ(client.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 101", 0), 0u);
    ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kClose, close_payload(4001, "done"), false)));
    std::string buffer;
    auto close = read_frame(client, buffer);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->opcode, ws::opcode::kClose);
    EXPECT_EQ(close->payload, close_payload(4001, "done"));
    EXPECT_TRUE(proxy.stop().exited_with(0));
  }
  {
    RawUpstream upstream;
    Recorder proxy(upstream.url());
    Socket client = connect_loopback(proxy.port);
    ASSERT_TRUE(client.send_all(upgrade_request()));
    ASSERT_TRUE(upstream.open());
    ASSERT_EQ(client.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 101", 0), 0u);
    upstream.conn.close();  // gone without a close frame
    std::string buffer;
    auto close = read_frame(client, buffer);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->opcode, ws::opcode::kClose);
    EXPECT_EQ(close->payload.substr(0, 2), close_payload(1014, ""));
    const ProcessResult result = proxy.stop();
    EXPECT_TRUE(result.exited_with(0)) << result.err;
  }
}

// A log that cannot be written (a full disk) is not a silent success: the proxy keeps relaying,
// and at the end names the error and exits 74.
TEST(Record, ALogOnAFullDiskExits74WithTheError) {
  Process proxy({kBinary, "record", "-q", "--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:9", "-o",
                 "/dev/full"});
  const auto line = proxy.read_line(5s);
  ASSERT_TRUE(line);
  EXPECT_NE(port_from_readiness_line(*line), 0);
  proxy.signal(SIGTERM);
  const ProcessResult result = proxy.wait(5s);
  EXPECT_TRUE(result.exited_with(74)) << result.exit_code << result.err;
  EXPECT_NE(result.err.find("wsrecord: error: /dev/full: "), std::string::npos) << result.err;
}

TEST(Record, WithoutOutputTheLogIsNamedAfterTheTimeOnStderr) {
  TempDir dir;
  Process proxy({"/bin/sh", "-c", "cd '" + dir.path() + "' && exec '" + kBinary +
                                      "' record -q --listen 127.0.0.1:0 --upstream ws://127.0.0.1:9"});
  const auto line = proxy.read_line(5s);
  ASSERT_TRUE(line);
  EXPECT_NE(port_from_readiness_line(*line), 0);
  proxy.signal(SIGTERM);
  const ProcessResult result = proxy.wait(5s);
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  const std::size_t at = result.err.find("recording to wstool-");
  ASSERT_NE(at, std::string::npos) << result.err;
  const std::string name = result.err.substr(at + 13, result.err.find('\n', at) - at - 13);
  EXPECT_EQ(name.size(), std::string("wstool-20261126-040506.jsonl").size()) << name;
  EXPECT_NO_THROW(read_file(dir.path() + "/" + name));
}

// --help tells record's own default: one I/O thread, not the CPUs as for echo and serve.
TEST(Record, HelpGivesTheThreadsDefaultRecordUses) {
  const ProcessResult help = run_process({kBinary, "record", "--help"});
  ASSERT_TRUE(help.exited_with(0)) << help.err;
  const std::size_t at = help.out.find("--threads");
  ASSERT_NE(at, std::string::npos) << help.out;
  const std::string entry = help.out.substr(at, help.out.find("--max-connections", at) - at);
  EXPECT_NE(entry.find("default: 1"), std::string::npos) << entry;
  EXPECT_EQ(entry.find("CPUs"), std::string::npos) << entry;
}

TEST(Record, UsageErrorsExit64) {
  const ProcessResult bad_filter = run_process(
      {kBinary, "record", "--upstream", "ws://127.0.0.1:9", "--listen", "127.0.0.1:0", "--filter", "conn=1 cnn=2"});
  EXPECT_TRUE(bad_filter.exited_with(64)) << bad_filter.err;
  EXPECT_NE(bad_filter.err.find("--filter: at 8: unknown field 'cnn'"), std::string::npos) << bad_filter.err;
  EXPECT_EQ(bad_filter.out, "");
  const ProcessResult no_upstream = run_process({kBinary, "record", "--listen", "127.0.0.1:0"});
  EXPECT_TRUE(no_upstream.exited_with(64)) << no_upstream.err;
}

TEST(Record, ConvertTurnsALogIntoHarAndBack) {
  TempDir dir;
  const std::string har = dir.path() + "/echo.har";
  const std::string back = dir.path() + "/back.jsonl";
  const ProcessResult to_har = run_process(
      {kBinary, "record", "--convert", std::string(WSTOOL_SOURCE_DIR) + "/tests/data/session-echo.jsonl", "-o", har});
  ASSERT_TRUE(to_har.exited_with(0)) << to_har.err;
  const auto document = nlohmann::json::parse(read_file(har));
  EXPECT_FALSE(document["log"]["entries"].empty());
  const ProcessResult to_log = run_process({kBinary, "record", "--convert", har, "-o", back});
  ASSERT_TRUE(to_log.exited_with(0)) << to_log.err;
  EXPECT_NE(read_file(back).find("\"type\":\"frame\""), std::string::npos);
  const ProcessResult missing = run_process({kBinary, "record", "--convert", dir.path() + "/none.jsonl", "-o", har});
  EXPECT_TRUE(missing.exited_with(66)) << missing.err;
  const ProcessResult no_output = run_process({kBinary, "record", "--convert", har});
  EXPECT_TRUE(no_output.exited_with(64)) << no_output.err;
}

// A log converted from HAR is written by this wstool, in the format version it writes (1.4: close
// frames in place, refused records), like every other writer's: its header says so.
TEST(Record, ConvertedFromHarTheLogHeaderHasTheMinorVersion) {
  TempDir dir;
  const std::string log = dir.path() + "/chrome.jsonl";
  const ProcessResult converted = run_process(
      {kBinary, "record", "--convert", std::string(WSTOOL_SOURCE_DIR) + "/tests/data/chrome-echo.har", "-o", log});
  ASSERT_TRUE(converted.exited_with(0)) << converted.err;
  const auto header = nlohmann::json::parse(lines_of(read_file(log)).at(0));
  EXPECT_EQ(header["type"], "header");
  EXPECT_EQ(header["version"], 1);
  EXPECT_EQ(header["minor"], 4) << header.dump();
  EXPECT_EQ(header["capturedBy"], "har");
}

// A Chrome HAR holds the browser's cookies: --convert redacts them in the log it writes unless
// --keep-secrets says to keep them, as for every other log record writes.
TEST(Record, ConvertFromHarKeepsSecretsOnlyWithKeepSecrets) {
  TempDir dir;
  const std::string har = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/chrome-echo.har";
  const std::string redacted = dir.path() + "/redacted.jsonl";
  const std::string kept = dir.path() + "/kept.jsonl";
  ASSERT_TRUE(run_process({kBinary, "record", "--convert", har, "-o", redacted}).exited_with(0));
  const ProcessResult keep = run_process({kBinary, "record", "--convert", har, "-o", kept, "--keep-secrets"});
  ASSERT_TRUE(keep.exited_with(0)) << keep.err;
  EXPECT_NE(read_file(redacted).find(R"(["Cookie","[redacted]"])"), std::string::npos);
  EXPECT_NE(read_file(kept).find(R"(["Cookie","session=abc123"])"), std::string::npos) << read_file(kept);
}

// Secrets in the client's URL never reach the screen: the live view's open line redacts them as
// the log does (--keep-secrets is about the log, not the terminal).
TEST(Record, TheLiveViewRedactsTokensInTheUrl) {
  for (const bool keep : {false, true}) {
    RawUpstream upstream;
    Recorder proxy(upstream.url(), keep ? std::vector<std::string>{"--keep-secrets"} : std::vector<std::string>{});
    ASSERT_NE(proxy.port, 0);
    Socket client = connect_loopback(proxy.port);
    ASSERT_TRUE(client.send_all(upgrade_request("/feed?token=S3CRET&x=1&access_token=AT0K")));
    ASSERT_TRUE(upstream.open());
    ASSERT_EQ(client.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 101", 0), 0u);
    const ProcessResult result = proxy.stop();
    EXPECT_TRUE(result.exited_with(0)) << result.err;
    EXPECT_NE(result.out.find("open ws://127.0.0.1/feed?token=[redacted]&x=1&access_token=[redacted]"),
              std::string::npos)
        << result.out;
    EXPECT_EQ(result.out.find("S3CRET"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("AT0K"), std::string::npos) << result.out;
    // The log keeps them only when asked to.
    EXPECT_EQ(read_file(proxy.log_path).find("S3CRET") != std::string::npos, keep);
  }
}

// What a converted log leaves out is said, as replay says it: a truncated last line (a capture
// that was killed) and the frames of a connection whose open record is not in the file.
TEST(Record, ConvertWarnsOfATruncatedLineAndFramesOfNoConnection) {
  TempDir dir;
  const std::string har = dir.path() + "/cut.har";
  const ProcessResult truncated = run_process(
      {kBinary, "record", "--convert", std::string(WSTOOL_SOURCE_DIR) + "/tests/data/session-truncated.jsonl", "-o", har});
  EXPECT_TRUE(truncated.exited_with(0)) << truncated.err;
  EXPECT_NE(truncated.err.find("wsrecord: warning: "), std::string::npos) << truncated.err;
  EXPECT_NE(truncated.err.find("session-truncated.jsonl:7: truncated last line ignored"), std::string::npos)
      << truncated.err;

  // The second file of a rotated capture: frames of a connection opened in the file before.
  const std::string rotated = dir.path() + "/rotated.jsonl";
  {
    std::ofstream out(rotated);
    out << R"({"type":"header","version":1,"minor":3,"tool":"wstool 0.1.0","started":"2026-11-26T04:05:06.123Z","capturedBy":"serve"})" "\n"
        << R"({"type":"frame","conn":7,"t":1200,"dir":"client","opcode":1,"len":2,"text":"hi"})" "\n"
        << R"({"type":"frame","conn":7,"t":1300,"dir":"server","opcode":1,"len":2,"text":"hi"})" "\n"
        << R"({"type":"open","conn":8,"t":2000,"url":"ws://127.0.0.1:9001/","request":[],"response":[],"status":101})" "\n"
        << R"({"type":"frame","conn":8,"t":2100,"dir":"client","opcode":1,"len":3,"text":"hey"})" "\n";
  }
  const ProcessResult orphans = run_process({kBinary, "record", "--convert", rotated, "-o", har});
  EXPECT_TRUE(orphans.exited_with(0)) << orphans.err;
  EXPECT_NE(orphans.err.find("wsrecord: warning: "), std::string::npos) << orphans.err;
  EXPECT_NE(orphans.err.find("rotated.jsonl: 2 frame record(s) of connections with no open record "
                             "in the file left out (first: conn 7, line 2)"),
            std::string::npos)
      << orphans.err;
  EXPECT_NE(read_file(har).find("\"hey\""), std::string::npos);
}

// A HAR file's messages are spooled to a temporary file: when $TMPDIR cannot take it, replay says
// where it tried and what to do, and exits 73 before connecting anywhere.
TEST(Record, HarSpoolThatCannotBeCreatedExits73NamingTmpdir) {
  ProcessOptions options;
  options.env = {"TMPDIR=/nonexistent-wstool-tmpdir"};
  const ProcessResult result = run_process(
      {kBinary, "replay", "--har", std::string(WSTOOL_SOURCE_DIR) + "/tests/data/chrome-echo.har", "ws://127.0.0.1:1/"},
      options);
  EXPECT_TRUE(result.exited_with(73)) << "exit " << result.exit_code << ": " << result.err;
  EXPECT_NE(result.err.find("cannot create the HAR spool file /nonexistent-wstool-tmpdir/"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("set TMPDIR to a writable directory"), std::string::npos) << result.err;
}

TEST(Record, AnInvalidFrameIsShownThenHandledAsTheRfcSays) {
  RawUpstream upstream;
  Recorder proxy(upstream.url());
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());
  // RSV2 with no extension that defines it.
  ws::FrameHeader h;
  h.rsv = ws::kRsv2;
  h.opcode = ws::opcode::kText;
  h.masked = true;
  h.mask_key = kTestMaskKey;
  h.payload_length = 0;
  std::uint8_t header[ws::kMaxFrameHeaderBytes];
  const std::size_t n = ws::encode_header(header, h);
  ASSERT_TRUE(client.send_all(std::string(reinterpret_cast<const char*>(header), n)));
  std::string buffer;
  auto close = read_frame(client, buffer);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->payload.substr(0, 2), close_payload(1002, ""));
  auto relayed = read_frame(upstream.conn, upstream.buffer);  // the upstream learns why
  ASSERT_TRUE(relayed);
  EXPECT_EQ(relayed->opcode, ws::opcode::kClose);
  EXPECT_EQ(relayed->payload.substr(0, 2), close_payload(1002, ""));
  upstream.conn.close();
  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_NE(result.out.find("failed by the proxy with 1002: reserved bits set"), std::string::npos) << result.out;
  // The offending frame itself is in the log, marked invalid, before the close it caused.
  bool frame_logged = false;
  bool close_logged = false;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "frame" && r.contains("invalid")) {
      EXPECT_FALSE(close_logged) << "the invalid frame comes before the close";
      EXPECT_EQ(r["dir"], "client");
      EXPECT_EQ(r["opcode"], 1);
      EXPECT_EQ(r["rsv"], 2);
      EXPECT_EQ(r["invalid"], "reserved bits set without a negotiated extension");
      frame_logged = true;
    }
    if (r["type"] == "close") close_logged = r["code"] == 1002;
  }
  EXPECT_TRUE(frame_logged);
  EXPECT_TRUE(close_logged);
  EXPECT_NE(result.out.find("INVALID (reserved bits set without a negotiated extension)"), std::string::npos)
      << result.out;
}

TEST(Record, AnInvalidServerFrameIsLoggedWithItsPayloadAndItsCodeReachesTheClient) {
  RawUpstream upstream;
  Recorder proxy(upstream.url());
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());
  // A text frame that is not UTF-8: invalid data (1007), payload at hand.
  ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kText, "ok\xff", false)));
  std::string buffer;
  auto close = read_frame(client, buffer);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::opcode::kClose);
  EXPECT_EQ(close->payload.substr(0, 2), close_payload(1007, ""));
  client.close();
  upstream.conn.close();
  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  bool frame_logged = false;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "frame" && r.contains("invalid")) {
      EXPECT_EQ(r["dir"], "server");
      EXPECT_EQ(r["bytes"], "b2v/");  // "ok\xff", not UTF-8, so base64
      EXPECT_EQ(r["invalid"], "invalid UTF-8 in a text message");
      frame_logged = true;
    }
  }
  EXPECT_TRUE(frame_logged);
}

TEST(Record, ConnectThroughTheProxyToEchoIsRecorded) {
  Process echo({kBinary, "echo", "--listen", "127.0.0.1:0"});
  const auto ready = echo.read_line(5s);
  ASSERT_TRUE(ready);
  Recorder proxy("ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*ready)));
  ASSERT_NE(proxy.port, 0);
  ProcessOptions input;
  input.stdin_data = "{\"a\": [1, 2]}\nhello\n";
  const ProcessResult client = run_process(
      {kBinary, "connect", "ws://127.0.0.1:" + std::to_string(proxy.port) + "/path", "--count", "2"}, input);
  EXPECT_TRUE(client.exited_with(0)) << client.err;
  EXPECT_NE(client.out.find("hello"), std::string::npos) << client.out;
  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  // Both sides negotiated deflate separately; the log holds the payloads decompressed.
  EXPECT_NE(result.out.find("#1 ← text deflate 13 {\"a\":[1,2]}"), std::string::npos) << result.out;
  std::vector<std::string> texts;
  std::vector<std::string> closes;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "open") {
      EXPECT_EQ(r["url"], "ws://127.0.0.1:" + std::to_string(proxy.port) + "/path");
    }
    if (r["type"] == "frame" && r["opcode"] == 8) {
      closes.push_back(std::string(r["dir"]) + " " + std::string(r["bytes"]));
    } else if (r["type"] == "frame") {
      texts.push_back(std::string(r["dir"]) + " " + std::string(r["text"]));
    }
    if (r["type"] == "close") {
      EXPECT_EQ(r["code"], 1000);
    }
  }
  // Each direction in order; how the two interleave depends on when the echo answered.
  std::vector<std::string> from_client;
  std::vector<std::string> from_server;
  for (const std::string& text : texts) (text.rfind("client ", 0) == 0 ? from_client : from_server).push_back(text);
  EXPECT_EQ(from_client, (std::vector<std::string>{"client {\"a\": [1, 2]}", "client hello"}));
  EXPECT_EQ(from_server, (std::vector<std::string>{"server {\"a\": [1, 2]}", "server hello"}));
  // connect's close (1000) and echo's answer, in that order.
  EXPECT_EQ(closes, (std::vector<std::string>{"client A+g=", "server A+g="}));
  echo.signal(SIGTERM);
  EXPECT_TRUE(echo.wait(5s).exited_with(0));
}

// The close, issue 6: after the client's close the upstream may still send (RFC 6455 5.5.1):
// the proxy holds its reply to the client until the upstream's close, relays and logs what
// comes meanwhile, then answers with the upstream's code.
TEST(RecordClose, WhatTheUpstreamSendsAfterTheClientsCloseIsRelayedThenItsCode) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress"});
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());

  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, "bye"), true)));
  auto their_close = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(their_close);
  EXPECT_EQ(their_close->opcode, ws::opcode::kClose);
  EXPECT_EQ(their_close->payload, close_payload(1000, "bye"));
  ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kText, "last words", false) +
                                     ws_frame(ws::opcode::kBinary, std::string("\x01\x02", 2), false) +
                                     ws_frame(ws::opcode::kClose, close_payload(4001, "done"), false)));
  std::string in;
  auto first = read_frame(client, in);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->opcode, ws::opcode::kText);
  EXPECT_EQ(first->payload, "last words");
  auto second = read_frame(client, in);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->opcode, ws::opcode::kBinary);
  EXPECT_EQ(second->payload, std::string("\x01\x02", 2));
  auto reply = read_frame(client, in);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->opcode, ws::opcode::kClose);
  EXPECT_EQ(reply->payload, close_payload(4001, "done"));
  EXPECT_TRUE(client.wait_closed(5s));  // the handshake is complete: the proxy closes TCP
  upstream.conn.close();

  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  std::vector<std::string> server_frames;
  int closes = 0;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "frame" && r["dir"] == "server") {
      server_frames.push_back(r.contains("text") ? std::string(r["text"]) : std::string(r["bytes"]));
    }
    if (r["type"] == "close") {
      ++closes;
      EXPECT_EQ(r["by"], "client");
      EXPECT_EQ(r["code"], 1000);
      EXPECT_EQ(r["reason"], "bye");
      EXPECT_EQ(r["reply"], 4001);
      EXPECT_EQ(r["replyReason"], "done");
      EXPECT_EQ(r["clean"], true);
    }
  }
  // And the upstream's close frame after them (4001 "done", base64): session log 1.3.
  EXPECT_EQ(server_frames, (std::vector<std::string>{"last words", std::string("\x01\x02", 2), "D6Fkb25l"}));
  EXPECT_EQ(closes, 1);
}

// The bound: an upstream that never answers the client's close does not keep the client
// waiting past --close-timeout; the close is logged as not clean and the proxy serves on.
TEST(RecordClose, AnUpstreamThatNeverAnswersTheCloseIsAnsweredForWithinTheCloseTimeout) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--close-timeout", "300ms"});
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());
  const auto closed_at = Clock::now();
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(4000, "bye"), true)));
  auto their_close = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(their_close);
  EXPECT_EQ(their_close->opcode, ws::opcode::kClose);
  // ... and the upstream says nothing.
  std::string in;
  auto reply = read_frame(client, in);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->opcode, ws::opcode::kClose);
  EXPECT_EQ(reply->payload.substr(0, 2), close_payload(4000, ""));  // its own code, as a server echoes
  EXPECT_TRUE(client.wait_closed(5s));
  EXPECT_LT(Clock::now() - closed_at, 3s);

  // Another client is served as before.
  Socket next = connect_loopback(proxy.port);
  ASSERT_TRUE(next.send_all(upgrade_request()));
  upstream.buffer.clear();
  ASSERT_TRUE(upstream.open());
  ASSERT_EQ(next.read_until("\r\n\r\n", 5s).rfind("HTTP/1.1 101", 0), 0u);
  ASSERT_TRUE(next.send_all(ws_frame(ws::opcode::kText, "still here", true)));
  auto relayed = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(relayed);
  EXPECT_EQ(relayed->payload, "still here");

  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_NE(result.out.find("#1 the upstream"), std::string::npos) << result.out;
  bool logged = false;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "close" && r["conn"] == 1) {
      logged = true;
      EXPECT_EQ(r["by"], "client");
      EXPECT_EQ(r["code"], 4000);
      EXPECT_EQ(r["clean"], false);  // the upstream never completed its closing handshake
      EXPECT_FALSE(r.contains("reply"));
    }
  }
  EXPECT_TRUE(logged);
}

// The other direction: the upstream closes first; what the client sends before its close reply
// reaches the upstream and the log, then the client's reply completes the upstream's handshake.
TEST(RecordClose, WhatTheClientSendsAfterTheUpstreamsCloseIsRelayedThenItsReply) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress"});
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());

  ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kClose, close_payload(4002, "later"), false)));
  std::string in;
  auto their_close = read_frame(client, in);
  ASSERT_TRUE(their_close);
  EXPECT_EQ(their_close->payload, close_payload(4002, "later"));
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kText, "one more", true) +
                              ws_frame(ws::opcode::kClose, close_payload(4003, "ok"), true)));
  auto data = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->opcode, ws::opcode::kText);
  EXPECT_EQ(data->payload, "one more");
  auto reply = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->opcode, ws::opcode::kClose);
  EXPECT_EQ(reply->payload, close_payload(4003, "ok"));
  upstream.conn.close();  // the server ends TCP (RFC 6455 7.1.1)
  EXPECT_TRUE(client.wait_closed(5s));

  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  bool relayed_logged = false;
  for (const auto& r : proxy.log_records()) {
    // (The client's close frame, logged too, has "bytes", not "text".)
    if (r["type"] == "frame" && r["dir"] == "client" && r.value("text", "") == "one more") relayed_logged = true;
    if (r["type"] == "close") {
      EXPECT_EQ(r["by"], "server");
      EXPECT_EQ(r["code"], 4002);
      EXPECT_EQ(r["reply"], 4003);
      EXPECT_EQ(r["clean"], true);
    }
  }
  EXPECT_TRUE(relayed_logged);
}

// A message the upstream started and never finished before its close: its frames are relayed
// and logged (fin false), the live view says so, and replaying the log reports it.
TEST(RecordClose, AnUnfinishedMessageIsLoggedShownAndReportedByReplay) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress"});
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kText, "tell me", true)));
  ASSERT_TRUE(read_frame(upstream.conn, upstream.buffer));
  ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kText, "once upon", false, false) +
                                     ws_frame(ws::opcode::kContinuation, " a time", false, false)));
  std::string in;
  for (const char* expected : {"once upon", " a time"}) {
    auto f = read_frame(client, in);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, expected);
    EXPECT_FALSE(f->fin);
  }
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, ""), true)));
  ASSERT_TRUE(read_frame(upstream.conn, upstream.buffer));
  ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, ""), false)));
  EXPECT_TRUE(client.wait_closed(5s));
  upstream.conn.close();
  const ProcessResult result = proxy.stop();
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_NE(result.out.find("#1 the upstream left a message unfinished"), std::string::npos) << result.out;
  int unfinished = 0;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "frame" && r["dir"] == "server" && r["fin"] == false) ++unfinished;
  }
  EXPECT_EQ(unfinished, 2);

  // Replayed against a server that finishes the message: a difference, not silence.
  RawUpstream finishing;
  Process replayer({kBinary, "replay", proxy.log_path, finishing.url(), "--speed", "max", "--timeout", "1s"});
  ASSERT_TRUE(finishing.open());
  ASSERT_TRUE(read_frame(finishing.conn, finishing.buffer));
  ASSERT_TRUE(finishing.conn.send_all(ws_frame(ws::opcode::kText, "once upon a time.", false)));
  auto close = read_frame(finishing.conn, finishing.buffer);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::opcode::kClose);
  ASSERT_TRUE(finishing.conn.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, ""), false)));
  finishing.conn.close();
  const ProcessResult replayed = replayer.wait(10s);
  EXPECT_TRUE(replayed.exited_with(1)) << replayed.out << replayed.err;
  EXPECT_NE(replayed.out.find("unfinished message: the recorded server left text \"once upon a time\""),
            std::string::npos)
      << replayed.out;
}


// Close frames in place (session log 1.3): a server that speaks after the client's close,
// recorded through the proxy, then replayed against a server that does the same. The log puts
// the client's close between the server's frames where it came; replay sends it there and
// matches what follows, so nothing is missing and nothing extra.
struct PlayedClose {
  std::vector<nlohmann::json> frames;  // the log's frame records, in order
  std::string replay_out;
  bool replay_exited_0 = false;
};

// The server's part, the same when recorded and when replayed: answers "hello", then either
// waits for the client's close and says two more things before closing with 4001, or (server
// first) says goodbye and closes with 4002, waiting for the client's reply.
void play_server(RawUpstream& server, bool server_first) {
  auto hello = read_frame(server.conn, server.buffer);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->payload, "hello");
  if (server_first) {
    ASSERT_TRUE(server.conn.send_all(ws_frame(ws::opcode::kText, "bye soon", false) +
                                     ws_frame(ws::opcode::kClose, close_payload(4002, "later"), false)));
    auto reply = read_frame(server.conn, server.buffer);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->opcode, ws::opcode::kClose);
  } else {
    ASSERT_TRUE(server.conn.send_all(ws_frame(ws::opcode::kText, "hello back", false)));
    auto close = read_frame(server.conn, server.buffer);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->opcode, ws::opcode::kClose);
    ASSERT_TRUE(server.conn.send_all(ws_frame(ws::opcode::kText, "last words", false) +
                                     ws_frame(ws::opcode::kBinary, std::string("\x01\x02", 2), false) +
                                     ws_frame(ws::opcode::kClose, close_payload(4001, "done"), false)));
  }
  server.conn.close();  // the server ends TCP (RFC 6455 7.1.1)
}

// `via_har`: the log is converted to HAR (record --convert) and that is replayed (--har).
PlayedClose record_then_replay(bool server_first, bool via_har = false) {
  PlayedClose played;
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress", "-q"});
  EXPECT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  EXPECT_TRUE(client.valid());
  EXPECT_TRUE(client.send_all(ws_frame(ws::opcode::kText, "hello", true)));
  auto hello = read_frame(upstream.conn, upstream.buffer);
  EXPECT_TRUE(hello && hello->payload == "hello");
  std::string in;
  if (server_first) {
    EXPECT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kText, "bye soon", false) +
                                       ws_frame(ws::opcode::kClose, close_payload(4002, "later"), false)));
    for (int i = 0; i < 2; ++i) EXPECT_TRUE(read_frame(client, in));
    EXPECT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(4002, "later"), true)));
    auto reply = read_frame(upstream.conn, upstream.buffer);
    EXPECT_TRUE(reply && reply->opcode == ws::opcode::kClose);
  } else {
    EXPECT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kText, "hello back", false)));
    auto back = read_frame(client, in);
    EXPECT_TRUE(back && back->payload == "hello back");
    EXPECT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, "bye"), true)));
    auto close = read_frame(upstream.conn, upstream.buffer);
    EXPECT_TRUE(close && close->opcode == ws::opcode::kClose);
    EXPECT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kText, "last words", false) +
                                       ws_frame(ws::opcode::kBinary, std::string("\x01\x02", 2), false) +
                                       ws_frame(ws::opcode::kClose, close_payload(4001, "done"), false)));
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(read_frame(client, in));
  }
  upstream.conn.close();
  EXPECT_TRUE(client.wait_closed(5s));
  const ProcessResult recorded = proxy.stop();
  EXPECT_TRUE(recorded.exited_with(0)) << recorded.err;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "frame") played.frames.push_back(r);
  }

  std::string input = proxy.log_path;
  std::vector<std::string> har_option;
  if (via_har) {
    input = proxy.dir.path() + "/session.har";
    const ProcessResult converted = run_process({kBinary, "record", "--convert", proxy.log_path, "-o", input});
    EXPECT_TRUE(converted.exited_with(0)) << converted.err;
    har_option = {"--har"};
  }
  RawUpstream server;
  std::vector<std::string> argv = {kBinary, "replay", input, server.url(), "--speed", "max", "--timeout", "1s"};
  argv.insert(argv.end(), har_option.begin(), har_option.end());
  Process replayer(argv);
  EXPECT_TRUE(server.open());
  play_server(server, server_first);
  const ProcessResult replayed = replayer.wait(10s);
  played.replay_out = replayed.out + replayed.err;
  played.replay_exited_0 = replayed.exited_with(0);
  return played;
}


// Frame records by opcode, "c:8" for the client's close: where each fell in the log.
std::vector<std::string> frame_order(const std::vector<nlohmann::json>& frames) {
  std::vector<std::string> order;
  for (const auto& f : frames) {
    order.push_back(std::string(f["dir"] == "client" ? "c:" : "s:") + std::to_string(f["opcode"].get<int>()));
  }
  return order;
}

TEST(RecordClose, TheClientsCloseIsLoggedInPlaceAndReplaySendsItThere) {
  const PlayedClose played = record_then_replay(false);
  // hello, hello back, the client's close, what the server said after it, the server's close.
  EXPECT_EQ(frame_order(played.frames),
            (std::vector<std::string>{"c:1", "s:1", "c:8", "s:1", "s:2", "s:8"}));
  if (played.frames.size() == 6) {
    EXPECT_EQ(played.frames[2]["bytes"], "A+hieWU=");  // 1000 "bye"
    EXPECT_EQ(played.frames[5]["len"], 6);             // 4001 "done"
  }
  EXPECT_TRUE(played.replay_exited_0) << played.replay_out;
  EXPECT_NE(played.replay_out.find("0 difference(s)"), std::string::npos) << played.replay_out;
}

// HAR keeps the close frames (opcode 8) in place: replayed from the HAR, the same.
TEST(RecordClose, TheClientsCloseKeepsItsPlaceThroughHar) {
  const PlayedClose played = record_then_replay(false, true);
  EXPECT_TRUE(played.replay_exited_0) << played.replay_out;
  EXPECT_NE(played.replay_out.find("0 difference(s)"), std::string::npos) << played.replay_out;
}

TEST(RecordClose, TheServersCloseIsLoggedInPlaceAndReplayAnswersIt) {
  const PlayedClose played = record_then_replay(true);
  EXPECT_EQ(frame_order(played.frames), (std::vector<std::string>{"c:1", "s:1", "s:8", "c:8"}));
  EXPECT_TRUE(played.replay_exited_0) << played.replay_out;
  EXPECT_NE(played.replay_out.find("0 difference(s)"), std::string::npos) << played.replay_out;
}


// The upstream vanishing after open is what the log records (1006, by the server), not the 1014
// the proxy sent the client in its place: a replay against a server that drops the same way
// matches, instead of expecting a close frame with 1014 that no server sent.
TEST(RecordClose, AnUpstreamDropIsLogged1006AndReplaysAgainstTheSameDrop) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress", "-q"});
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kText, "hello", true)));
  auto hello = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(hello && hello->payload == "hello");
  upstream.conn.close();  // gone without a close frame
  std::string in;
  auto close = read_frame(client, in);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->payload.substr(0, 2), close_payload(1014, ""));
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(1014, ""), true)));
  EXPECT_TRUE(client.wait_closed(5s));
  const ProcessResult recorded = proxy.stop();
  EXPECT_TRUE(recorded.exited_with(0)) << recorded.err;
  nlohmann::json close_record;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "close") close_record = r;
    // The proxy's 1014 and the client's answer to it are the proxy's doing, not the sides'.
    if (r["type"] == "frame") {
      EXPECT_NE(r["opcode"], 8) << r.dump();
    }
  }
  EXPECT_EQ(close_record["code"], 1006) << close_record.dump();
  EXPECT_EQ(close_record["by"], "server") << close_record.dump();
  EXPECT_EQ(close_record["clean"], false) << close_record.dump();

  RawUpstream server;
  Process replayer({kBinary, "replay", proxy.log_path, server.url(), "--speed", "max", "--timeout", "1s"});
  ASSERT_TRUE(server.open());
  auto again = read_frame(server.conn, server.buffer);
  ASSERT_TRUE(again && again->payload == "hello");
  server.conn.close();
  const ProcessResult replayed = replayer.wait(10s);
  EXPECT_TRUE(replayed.exited_with(0)) << replayed.out << replayed.err;
  EXPECT_NE(replayed.out.find("0 difference(s)"), std::string::npos) << replayed.out;
}


// On SIGTERM the proxy closes both sides with 1001 itself: the sides' answers to it are not
// closes they began, so the log has no close frames for them, and nothing of the connection
// after its close record.
TEST(RecordClose, AShutdownLogsNoCloseFramesTheProxyCausedNorAnythingAfterTheCloseRecord) {
  RawUpstream upstream;
  Recorder proxy(upstream.url(), {"--no-compress", "--no-client-compress", "-q"});
  ASSERT_NE(proxy.port, 0);
  Socket client = open_relayed(proxy.port, upstream);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kText, "hello", true)));
  auto hello = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(hello && hello->payload == "hello");
  proxy.process.signal(SIGTERM);
  std::string in;
  auto going = read_frame(client, in);
  ASSERT_TRUE(going && going->opcode == ws::opcode::kClose);
  EXPECT_EQ(going->payload.substr(0, 2), close_payload(1001, ""));
  ASSERT_TRUE(client.send_all(ws_frame(ws::opcode::kClose, close_payload(1001, ""), true)));
  auto up_going = read_frame(upstream.conn, upstream.buffer);
  ASSERT_TRUE(up_going && up_going->opcode == ws::opcode::kClose);
  EXPECT_EQ(up_going->payload.substr(0, 2), close_payload(1001, ""));
  ASSERT_TRUE(upstream.conn.send_all(ws_frame(ws::opcode::kClose, close_payload(1001, ""), false)));
  const ProcessResult result = proxy.process.wait(10s);
  EXPECT_TRUE(result.exited_with(0)) << result.err;
  bool closed = false;
  std::vector<std::string> order;
  for (const auto& r : proxy.log_records()) {
    if (r["type"] == "close") closed = true;
    if (r["type"] != "frame") continue;
    order.push_back(std::string(r["dir"] == "client" ? "c:" : "s:") + std::to_string(r["opcode"].get<int>()));
    EXPECT_FALSE(closed) << "after the close record: " << r.dump();
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(order, (std::vector<std::string>{"c:1"}));
}

// --- refused handshakes (session log 1.4) ------------------------------------------------------

// A hand-played server refusing each of `count` upgrades with `answer`, on a thread of its own
// (the client under test is a child process meanwhile). join() before reading `requests`.
struct RefusingServer {
  Listener listener;
  std::vector<std::string> requests;
  std::thread thread;
  explicit RefusingServer(std::string answer, int count = 1) {
    thread = std::thread([this, answer, count] {
      for (int i = 0; i < count; ++i) {
        std::optional<Socket> s = listener.accept(15s);
        if (!s) return;
        requests.push_back(s->read_until("\r\n\r\n", 5s));
        s->send_all(answer);
      }
    });
  }
  ~RefusingServer() { join(); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(listener.port()); }
};

const std::string k401 =
    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"api\"\r\nSet-Cookie: sid=s3cret\r\n"
    "Content-Type: text/plain\r\nContent-Length: 9\r\n\r\nno token\n";

ProcessResult replay_log(const std::string& log, const std::string& url, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {kBinary, "replay", log, url};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ProcessOptions options;
  options.timeout = 20s;
  return run_process(argv, options);
}

// A client refused with 401 through the proxy; the log's path (in `dir`).
std::string record_a_401(const TempDir& dir) {
  RefusingServer upstream(k401);
  Recorder proxy(upstream.url());
  if (proxy.port == 0) return {};
  Socket client = connect_loopback(proxy.port);
  client.send_all(upgrade_request("/private?token=abc&room=a", "Authorization: Bearer t0ken\r\nX-Trace: 7\r\n"));
  client.read_until("no token\n", 5s);
  proxy.stop();
  const std::string path = dir.path() + "/session.jsonl";
  std::ofstream(path, std::ios::binary) << read_file(proxy.log_path);
  return path;
}

TEST(RecordRefused, TheUpstreamsRefusalIsLoggedWithItsStatusHeadersAndBody) {
  RefusingServer upstream(k401);
  Recorder proxy(upstream.url());
  ASSERT_NE(proxy.port, 0);
  Socket client = connect_loopback(proxy.port);
  ASSERT_TRUE(client.send_all(upgrade_request("/private?token=abc", "Authorization: Bearer t0ken\r\nX-Trace: 7\r\n")));
  const std::string answer = client.read_until("no token\n", 5s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 401 Unauthorized", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n\r\nno token\n"), std::string::npos) << answer;
  const ProcessResult stopped = proxy.stop();
  EXPECT_TRUE(stopped.exited_with(0)) << stopped.err;
  EXPECT_NE(stopped.out.find("refused with 401"), std::string::npos) << stopped.out;
  const std::string text = read_file(proxy.log_path);
  EXPECT_EQ(text.find("t0ken"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_EQ(text.find("abc"), std::string::npos) << text;
  const auto records = proxy.log_records();
  ASSERT_EQ(records.size(), 3u) << text;  // header, refused, end
  EXPECT_EQ(records[0]["minor"], 4);
  const nlohmann::json& r = records[1];
  EXPECT_EQ(r["type"], "refused") << text;
  EXPECT_EQ(r["conn"], 1);
  EXPECT_EQ(r["by"], "server");
  EXPECT_EQ(r["status"], 401);
  EXPECT_EQ(r["reason"], "Unauthorized");
  EXPECT_EQ(r["body"], "no token\n");
  EXPECT_NE(r["url"].get<std::string>().find("/private?token="), std::string::npos) << r.dump();
  std::map<std::string, std::string> request;
  for (const auto& h : r["request"]) request[h[0]] = h[1];
  EXPECT_EQ(request["Authorization"], "[redacted]") << r.dump();
  EXPECT_EQ(request["X-Trace"], "7") << r.dump();
  std::map<std::string, std::string> response;
  for (const auto& h : r["response"]) response[h[0]] = h[1];
  EXPECT_EQ(response["Set-Cookie"], "[redacted]") << r.dump();
  EXPECT_EQ(response["WWW-Authenticate"], "Bearer realm=\"api\"") << r.dump();
  EXPECT_EQ(records[2]["type"], "end");
  EXPECT_EQ(records[2]["refused"], 1);
  EXPECT_EQ(records[2]["connections"], 0);
}

TEST(RecordRefused, ReplayedAgainstTheSameRefusalItMatchesSequentiallyAndInParallel) {
  TempDir dir;
  const std::string log = record_a_401(dir);
  ASSERT_FALSE(log.empty());
  // Bodies are not compared: they often hold volatile text.
  RefusingServer server(
      "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\ntoken expired\n", 2);
  const ProcessResult sequential = replay_log(log, server.url());
  EXPECT_TRUE(sequential.exited_with(0)) << sequential.out << sequential.err;
  EXPECT_NE(sequential.out.find(" 0 difference(s)"), std::string::npos) << sequential.out;
  const ProcessResult parallel = replay_log(log, server.url(), {"--parallel"});
  EXPECT_TRUE(parallel.exited_with(0)) << parallel.out << parallel.err;
  server.join();
  ASSERT_EQ(server.requests.size(), 2u);
  // The same handshake: the recorded path and query, its headers but the redacted ones. The
  // token the capture redacted is left out (a placeholder would be a wrong token), and said.
  EXPECT_EQ(server.requests[0].rfind("GET /private?room=a HTTP/1.1\r\n", 0), 0u) << server.requests[0];
  EXPECT_NE(sequential.err.find("wsreplay: warning: conn 1: the recording redacted ?token= in its URL"),
            std::string::npos)
      << sequential.err;
  EXPECT_NE(server.requests[0].find("\r\nX-Trace: 7\r\n"), std::string::npos) << server.requests[0];
  EXPECT_EQ(server.requests[0].find("Authorization"), std::string::npos) << server.requests[0];
}

TEST(RecordRefused, ReplayedAgainstAServerThatAcceptsItDiffersAndCloses) {
  TempDir dir;
  const std::string log = record_a_401(dir);
  ASSERT_FALSE(log.empty());
  Process echo({kBinary, "echo", "--listen", "127.0.0.1:0"});
  const auto ready = echo.read_line(5s);
  ASSERT_TRUE(ready);
  const ProcessResult r = replay_log(log, "ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*ready)));
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 (session.jsonl:2): handshake: expected 401 Unauthorized, got 101 Switching Protocols\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" 1 difference(s)"), std::string::npos) << r.out;
  echo.signal(SIGTERM);
  EXPECT_TRUE(echo.wait(5s).exited_with(0));
}

TEST(RecordRefused, ReplayedAgainstAnotherStatusItDiffersShowingTheBody) {
  TempDir dir;
  const std::string log = record_a_401(dir);
  ASSERT_FALSE(log.empty());
  RefusingServer server(
      "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nforbidden here\n");
  const std::string results = dir.path() + "/results.json";
  const ProcessResult r = replay_log(log, server.url(), {"--parallel", "-o", results});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 (session.jsonl:2): handshake: expected 401 Unauthorized, got 403 Forbidden\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("forbidden here"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(read_file(results));
  EXPECT_EQ(doc["minor"], 3);
  EXPECT_EQ(doc["exitCode"], 1);
  EXPECT_EQ(doc["summary"]["differencesByKind"]["handshake"], 1) << doc.dump();
  ASSERT_EQ(doc["differences"].size(), 1u) << doc.dump();
  const auto& d = doc["differences"][0];
  EXPECT_EQ(d["kind"], "handshake");
  EXPECT_EQ(d["conn"], 1);
  EXPECT_EQ(d["line"], 2);
  EXPECT_EQ(d["expected"]["status"], 401);
  EXPECT_EQ(d["got"]["status"], 403);
  EXPECT_EQ(d["got"]["reason"], "Forbidden");
  EXPECT_EQ(d["got"]["body"], "forbidden here\n");
  ASSERT_EQ(doc["connections"].size(), 1u);
  EXPECT_EQ(doc["connections"][0]["expectedStatus"], 401);
  EXPECT_EQ(doc["connections"][0]["status"], 403);
}

// The other way round: a connection the recording opened is refused now (a server that began
// to require a token). A regression the replay reports, exit 1, not an unreachable server (69).
TEST(RecordRefused, AnOpenRefusedOnReplayIsAHandshakeDifference) {
  TempDir dir;
  RefusingServer server(k401);
  const std::string results = dir.path() + "/results.json";
  const ProcessResult r =
      replay_log(std::string(WSTOOL_SOURCE_DIR) + "/tests/data/session-echo.jsonl", server.url(), {"-o", results});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 (session-echo.jsonl:2): handshake: expected 101 Switching Protocols, got 401 Unauthorized\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("got body: text \"no token\\n\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 1 difference(s)"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(read_file(results));
  EXPECT_EQ(doc["exitCode"], 1);
  ASSERT_EQ(doc["differences"].size(), 1u) << doc.dump();
  const auto& d = doc["differences"][0];
  EXPECT_EQ(d["kind"], "handshake");
  EXPECT_EQ(d["line"], 2);
  EXPECT_EQ(d["expected"]["status"], 101);
  EXPECT_EQ(d["got"]["status"], 401);
  EXPECT_EQ(d["got"]["body"], "no token\n");
}

TEST(RecordRefused, AnUnreachableUpstreamsAnswerIsLoggedAsTheProxysOwn) {
  std::uint16_t closed_port = 0;
  {
    Listener gone;
    closed_port = gone.port();
  }
  Recorder proxy("ws://127.0.0.1:" + std::to_string(closed_port));
  ASSERT_NE(proxy.port, 0);
  std::string head;
  EXPECT_FALSE(open_through(proxy.port, &head).valid());
  EXPECT_EQ(head.rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << head;
  EXPECT_TRUE(proxy.stop().exited_with(0));
  const auto records = proxy.log_records();
  ASSERT_EQ(records.size(), 3u);
  const nlohmann::json& r = records[1];
  EXPECT_EQ(r["type"], "refused") << r.dump();
  EXPECT_EQ(r["by"], "proxy");
  EXPECT_EQ(r["status"], 502);
  EXPECT_EQ(r["reason"], "Bad Gateway");
  EXPECT_NE(r["body"].get<std::string>().find("upstream ws://127.0.0.1:" + std::to_string(closed_port)),
            std::string::npos)
      << r.dump();
  // A replay has no proxy between it and the server: the proxy's own answer is not expected of it.
  Process echo({kBinary, "echo", "--listen", "127.0.0.1:0"});
  const auto ready = echo.read_line(5s);
  ASSERT_TRUE(ready);
  const ProcessResult replayed =
      replay_log(proxy.log_path, "ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*ready)));
  EXPECT_TRUE(replayed.exited_with(0)) << replayed.out << replayed.err;
  EXPECT_NE(replayed.err.find("conn 1: the recording's proxy answered 502 itself (its upstream could not be reached): "
                              "not replayed"),
            std::string::npos)
      << replayed.err;
  echo.signal(SIGTERM);
  EXPECT_TRUE(echo.wait(5s).exited_with(0));
}

TEST(RecordRefused, ConvertedToHarAndBackTheRefusalStays) {
  TempDir dir;
  const std::string log = record_a_401(dir);
  ASSERT_FALSE(log.empty());
  const std::string har = dir.path() + "/refused.har";
  const std::string back = dir.path() + "/back.jsonl";
  const ProcessResult to_har = run_process({kBinary, "record", "--convert", log, "-o", har});
  ASSERT_TRUE(to_har.exited_with(0)) << to_har.err;
  // An entry with the refusal's status and body, and no WebSocket messages.
  const auto document = nlohmann::json::parse(read_file(har));
  ASSERT_EQ(document["log"]["entries"].size(), 1u) << document.dump();
  const auto& entry = document["log"]["entries"][0];
  EXPECT_EQ(entry["response"]["status"], 401) << entry.dump();
  EXPECT_EQ(entry["response"]["statusText"], "Unauthorized") << entry.dump();
  EXPECT_EQ(entry["response"]["content"]["text"], "no token\n") << entry.dump();
  EXPECT_FALSE(entry.contains("_webSocketMessages")) << entry.dump();
  const ProcessResult to_log = run_process({kBinary, "record", "--convert", har, "-o", back});
  ASSERT_TRUE(to_log.exited_with(0)) << to_log.err;
  std::vector<nlohmann::json> records;
  for (const std::string& line : lines_of(read_file(back))) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(records.size(), 3u) << read_file(back);
  const nlohmann::json& r = records[1];
  EXPECT_EQ(r["type"], "refused") << r.dump();
  EXPECT_EQ(r["conn"], 1);
  EXPECT_EQ(r["status"], 401);
  EXPECT_EQ(r["reason"], "Unauthorized");
  EXPECT_EQ(r["body"], "no token\n");
  EXPECT_EQ(records[2]["refused"], 1);
  // And it replays from HAR as from the log.
  RefusingServer server(k401);
  const ProcessResult replayed = replay_log(har, server.url(), {"--har"});
  EXPECT_TRUE(replayed.exited_with(0)) << replayed.out << replayed.err;
}

}  // namespace
}  // namespace wstool::test
