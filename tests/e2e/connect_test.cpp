// `wstool connect` end to end: the real binary against `wstool echo` and small deliberately odd
// servers on loopback (a 403 with a body, a 1011 close, a silent one, a dropping one): pipe mode,
// expectations, every exit code a client can reach here, --listen and --reconnect.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "lib/frame.h"
#include "lib/handshake.h"
#include "lib/session_log.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"
#include "tests/support/tcp_relay.h"
#include "tests/support/tmux.h"
#include "tests/support/ws_frames.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;

// A frame as the test's servers send it: unmasked.
std::string frame(std::uint8_t opcode, const std::string& payload) { return ws_frame(opcode, payload, false); }



struct ReadFrame {
  std::uint8_t opcode = 0;
  std::string payload;
  std::uint8_t first_byte = 0;  // FIN, RSV bits and opcode as sent
};

// Bytes read past what a helper returned, by file descriptor (tests run one at a time).
std::string& pending_bytes(const Socket& s) {
  static std::map<int, std::string> pending;
  return pending[s.fd()];
}

// Reads an HTTP head (to the blank line); what came after it is kept for read_frame.
std::string read_head(Socket& s) {
  std::string& buffer = pending_bytes(s);
  buffer.clear();
  buffer = s.read_until("\r\n\r\n", 5s);
  const std::size_t end = buffer.find("\r\n\r\n");
  if (end == std::string::npos) return std::exchange(buffer, {});
  std::string head = buffer.substr(0, end + 4);
  buffer.erase(0, end + 4);
  return head;
}

// Reads one whole frame (unmasking it); nullopt on EOF or timeout. Socket reads may return more
// than asked for, so bytes past the frame wait in a buffer kept per socket.
std::optional<ReadFrame> read_frame(Socket& s, std::chrono::milliseconds timeout = 5s) {
  std::string& buffer = pending_bytes(s);
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    ws::FrameHeader h;
    const ws::HeaderStatus status =
        ws::decode_header(reinterpret_cast<const std::uint8_t*>(buffer.data()), buffer.size(), h);
    if (status == ws::HeaderStatus::kComplete && buffer.size() >= h.header_length + h.payload_length) {
      std::string payload = buffer.substr(h.header_length, static_cast<std::size_t>(h.payload_length));
      buffer.erase(0, h.header_length + static_cast<std::size_t>(h.payload_length));
      if (h.masked) ws::apply_mask(reinterpret_cast<std::uint8_t*>(payload.data()), payload.size(), h.mask_key, 0);
      return ReadFrame{h.opcode, payload, static_cast<std::uint8_t>((h.fin ? 0x80 : 0) | h.rsv << 4 | h.opcode)};
    }
    if (status != ws::HeaderStatus::kComplete && status != ws::HeaderStatus::kIncomplete) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) return std::nullopt;
    const std::string more = s.read_some(left);
    if (more.empty()) {
      if (s.eof()) buffer.clear();
      return std::nullopt;
    }
    buffer += more;
  }
}

// The value of a request header (case-insensitive name), or "".
std::string header_in(const std::string& head, const std::string& name) {
  std::string lower_head = head;
  for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string lower_name = name;
  for (char& c : lower_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::size_t at = lower_head.find("\r\n" + lower_name + ":");
  if (at == std::string::npos) return "";
  std::size_t start = at + 3 + name.size();
  while (start < head.size() && head[start] == ' ') ++start;
  return head.substr(start, head.find("\r\n", start) - start);
}

// Completes a client's opening handshake (answering `extra_headers` too); the request head goes
// to `request`. False when no valid request came.
bool answer_handshake(Socket& s, std::string* request = nullptr, const std::string& extra_headers = "") {
  const std::string head = read_head(s);
  if (request != nullptr) *request = head;
  const std::string key = header_in(head, "Sec-WebSocket-Key");
  if (key.empty()) return false;
  return s.send_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " + ws::accept_key_for(key) + "\r\n" + extra_headers + "\r\n");
}

// Accepts a client and completes its handshake.
Socket accept_websocket(Listener& listener, std::string* request = nullptr,
                        const std::string& extra_headers = "") {
  std::optional<Socket> s = listener.accept(5s);
  if (!s || !answer_handshake(*s, request, extra_headers)) return Socket();
  return std::move(*s);
}

// The server's side of a close the client started: reads up to the client's close frame, answers
// it, and closes TCP (as a server must). False when no close frame came.
bool answer_close(Socket& s, std::optional<ReadFrame>* close_out = nullptr) {
  for (;;) {
    const auto f = read_frame(s);
    if (!f) return false;
    if (f->opcode != ws::opcode::kClose) continue;
    if (close_out != nullptr) *close_out = f;
    s.send_all(frame(ws::opcode::kClose, f->payload.substr(0, 2)));
    s.close();
    return true;
  }
}

// `wstool echo --listen 127.0.0.1:0`.
struct EchoServer {
  Process process{{kBinary, "echo", "--listen", "127.0.0.1:0"}};
  std::uint16_t port = 0;
  EchoServer() {
    const auto line = process.read_line(5s);
    if (line) port = port_from_readiness_line(*line);
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
  ~EchoServer() {
    process.signal(SIGTERM);
    process.wait(5s);
  }
};

std::string local_url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }

ProcessResult connect(std::vector<std::string> args, const std::string& stdin_data = "",
                      std::chrono::milliseconds timeout = 10000ms) {
  args.insert(args.begin(), {kBinary, "connect"});
  ProcessOptions options;
  options.stdin_data = stdin_data;
  options.timeout = timeout;
  return run_process(args, options);
}

TEST(Connect, SendsEachStdinLineAfterTheSendOptionsAndPrintsTheReplies) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  const ProcessResult r = connect({echo.url(), "--send", "one", "-x", "two", "--wait", "300ms"}, "three\nfour\r\nfive");
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\nthree\nfour\nfive\n");
  EXPECT_EQ(r.err, "");
}

TEST(Connect, PipeModeEchoesTenThousandLinesInOrder) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  std::string input;
  std::string expected;
  for (int i = 0; i < 10000; ++i) {
    input += "line " + std::to_string(i) + "\n";
  }
  const ProcessResult r = connect({echo.url(), "--wait", "500ms"}, input, 30000ms);
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  EXPECT_EQ(r.out, input);
}

TEST(Connect, NulDelimitedAndWholeInput) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  const ProcessResult nul = connect({echo.url(), "-0", "--json", "--wait", "300ms"}, std::string("a\nb\0c", 5));
  EXPECT_TRUE(nul.exited_with(0)) << nul.err;
  EXPECT_NE(nul.out.find(R"("direction":"in","opcode":"text","text":"a\nb")"), std::string::npos) << nul.out;
  EXPECT_NE(nul.out.find(R"("direction":"in","opcode":"text","text":"c")"), std::string::npos) << nul.out;
  const ProcessResult whole = connect({echo.url(), "--whole", "--count", "1"}, "x\ny\n");
  EXPECT_TRUE(whole.exited_with(0)) << whole.err;
  EXPECT_EQ(whole.out, "x\ny\n\n");  // one message "x\ny\n", printed with its newline added
}

TEST(Connect, BinaryMessagesAsHexBase64AndJsonBytes) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  const std::string bytes("\x00\x01\xfe\xff", 4);  // not UTF-8: sent as a binary message
  const ProcessResult hex = connect({echo.url(), "--whole", "--count", "1"}, bytes);
  EXPECT_TRUE(hex.exited_with(0)) << hex.err;
  EXPECT_EQ(hex.out, "00000000  00 01 fe ff                                       |....|\n");
  const ProcessResult b64 = connect({echo.url(), "--whole", "--count", "1", "--binary-as", "base64"}, bytes);
  EXPECT_EQ(b64.out, "AAH+/w==\n");
  const ProcessResult json = connect({echo.url(), "--whole", "--count", "1", "--json"}, bytes);
  EXPECT_NE(json.out.find(R"("direction":"in","opcode":"binary","bytes":"AAH+/w==")"), std::string::npos) << json.out;
}

TEST(Connect, LinesWrittenBeforeTheConnectionOpensAllArrive) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "--wait", "200ms"});
  // The lines are written and stdin closed while the handshake is still unanswered.
  ASSERT_TRUE(client.write_stdin("early 1\nearly 2\nearly 3\n", 5s));
  client.close_stdin();
  std::optional<Socket> raw = listener.accept(5s);
  ASSERT_TRUE(raw);
  const std::string head = read_head(*raw);
  const std::string key = header_in(head, "Sec-WebSocket-Key");
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(raw->send_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: " + ws::accept_key_for(key) + "\r\n\r\n"));
  for (const char* expected : {"early 1", "early 2", "early 3"}) {
    const auto f = read_frame(*raw);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, ws::opcode::kText);
    EXPECT_EQ(f->payload, expected);
  }
  std::optional<ReadFrame> close;  // after --wait of silence: a 1000 close
  ASSERT_TRUE(answer_close(*raw, &close));
  EXPECT_EQ(close->payload, close_payload(1000, ""));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.err;
}

TEST(Connect, HeadersAuthAndSubprotocolReachTheServer) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "-H", "X-Test: yes", "--bearer", "tok",
                  "--origin", "http://example.test", "--subprotocol", "chat", "--subprotocol", "v2", "--json",
                  "--no-compress", "--count", "1"});
  std::string request;
  Socket s = accept_websocket(listener, &request, "Sec-WebSocket-Protocol: v2\r\n");
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(header_in(request, "X-Test"), "yes");
  EXPECT_EQ(header_in(request, "Authorization"), "Bearer tok");
  EXPECT_EQ(header_in(request, "Origin"), "http://example.test");
  EXPECT_EQ(header_in(request, "Sec-WebSocket-Protocol"), "chat, v2");
  EXPECT_EQ(header_in(request, "Sec-WebSocket-Extensions"), "");
  s.send_all(frame(ws::opcode::kText, "hi"));
  ASSERT_TRUE(answer_close(s));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  EXPECT_NE(r.out.find(R"("type":"open")"), std::string::npos);
  EXPECT_NE(r.out.find(R"("subprotocol":"v2")"), std::string::npos) << r.out;
}

TEST(Connect, ShowsControlFramesTimestampsAndPrettyJson) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "-P", "--timestamps", "--pretty", "--color", "always"});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  s.send_all(frame(ws::opcode::kPing, "are you there") + frame(ws::opcode::kText, R"({"a":1})"));
  const auto pong = read_frame(s);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, ws::opcode::kPong);
  EXPECT_EQ(pong->payload, "are you there");
  s.send_all(frame(ws::opcode::kClose, close_payload(1000, "done")));
  read_frame(s);
  s.close();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[0].front(), '[');
  EXPECT_NE(lines[0].find("ping\x1b[0m are you there"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("{"), std::string::npos) << r.out;
  EXPECT_NE(lines[2].find("\x1b[34m\"a\"\x1b[0m: \x1b[36m1\x1b[0m"), std::string::npos) << r.out;
  EXPECT_NE(lines.back().find("close\x1b[0m 1000 done"), std::string::npos) << r.out;
}

TEST(Connect, PingIntervalSendsPings) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "--ping-interval", "100ms"});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  const auto ping = read_frame(s);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, ws::opcode::kPing);
  s.send_all(frame(ws::opcode::kClose, close_payload(1000, "")));
  read_frame(s);
  s.close();
  EXPECT_TRUE(client.wait(5s).exited_with(0));
}

TEST(Connect, SlashCommandsSendControlAndHandBuiltFrames) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "--slash"});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(client.write_stdin("/ping hello\n/binary 00 ff\n//not a command\n/nope\n"
                                 "/frame fin=0 rsv=2 op=text part\n/close 4000 bye\nnever sent\n", 5s));
  const auto ping = read_frame(s);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, ws::opcode::kPing);
  EXPECT_EQ(ping->payload, "hello");
  const auto binary = read_frame(s);
  ASSERT_TRUE(binary);
  EXPECT_EQ(binary->opcode, ws::opcode::kBinary);
  EXPECT_EQ(binary->payload, std::string("\x00\xff", 2));
  const auto escaped = read_frame(s);
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->payload, "/not a command");
  const auto part = read_frame(s);
  ASSERT_TRUE(part);
  EXPECT_EQ(part->opcode, ws::opcode::kText);
  EXPECT_EQ(part->payload, "part");
  EXPECT_EQ(part->first_byte, 0x21);  // FIN clear, RSV2 set, text
  std::optional<ReadFrame> close;
  ASSERT_TRUE(answer_close(s, &close));
  EXPECT_EQ(close->payload, close_payload(4000, "bye"));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  EXPECT_NE(r.err.find("unknown command /nope"), std::string::npos) << r.err;
}

// --- exit codes --------------------------------------------------------------------------------

TEST(ConnectExit, PeerCloseWith1000Or1001IsSuccess) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  s.send_all(frame(ws::opcode::kText, "bye") + frame(ws::opcode::kClose, close_payload(1001, "restart")));
  read_frame(s);  // the client's answer
  s.close();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  EXPECT_EQ(r.out, "bye\n");
}

TEST(ConnectExit, PeerCloseWith1011Exits74WithCodeAndReason) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  s.send_all(frame(ws::opcode::kClose, close_payload(1011, "database down")));
  read_frame(s);
  s.close();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(74)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("1011 \"database down\""), std::string::npos) << r.err;
}

TEST(ConnectExit, DroppedConnectionExits74) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  s.close();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(74)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("1006"), std::string::npos) << r.err;
}

TEST(ConnectExit, ProtocolViolationByThePeerExits76) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  s.send_all(ws_frame(ws::opcode::kText, "masked from a server", true));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(76)) << r.exit_code << r.err;
}

TEST(ConnectExit, HandshakeRefusedWith403Exits69WithStatusAndBody) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  std::optional<Socket> s = listener.accept(5s);
  ASSERT_TRUE(s);
  s->read_until("\r\n\r\n", 5s);
  const std::string body = "no token given\r\nsee \x1b[31mthe docs\n";
  s->send_all("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nSet-Cookie: session=s3cret\r\n"
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("403 Forbidden"), std::string::npos) << r.err;
  // The whole answer: status line, headers (secrets redacted), body, with no terminal escapes.
  EXPECT_NE(r.err.find("\nHTTP/1.1 403 Forbidden\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nContent-Type: text/plain\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Set-Cookie: [redacted]\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\n\nno token given\nsee \\x1b[31mthe docs\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(ConnectExit, UntrustedCertificateExits69WithTheVerificationReason) {
  const std::string data = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";
  Process server({kBinary, "echo", "--listen", "127.0.0.1:0", "--tls-cert", data + "localhost.crt", "--tls-key",
                  data + "localhost.key"});
  const auto line = server.read_line(5s);
  ASSERT_TRUE(line);
  const std::string port = std::to_string(port_from_readiness_line(*line));
  const ProcessResult untrusted = connect({"wss://localhost:" + port + "/"}, "hi\n");
  EXPECT_TRUE(untrusted.exited_with(69)) << untrusted.exit_code << untrusted.err;
  EXPECT_NE(untrusted.err.find("certificate verification failed"), std::string::npos) << untrusted.err;
  const ProcessResult trusted = connect({"wss://localhost:" + port + "/", "--ca", data + "localhost.crt", "-w", "200ms"}, "hi\n");
  EXPECT_TRUE(trusted.exited_with(0)) << trusted.err;
  EXPECT_EQ(trusted.out, "hi\n");
  server.signal(SIGTERM);
  server.wait(5s);
}

// wss:// at a plain ws:// server: the server refuses the ClientHello at once (it cannot be the
// start of an HTTP request) and the client says what probably happened, instead of both waiting
// for the handshake timeout.
TEST(ConnectExit, WssAtAPlainServerFailsAtOnceWithAHint) {
  Process server({kBinary, "echo", "--listen", "127.0.0.1:0"});
  const auto line = server.read_line(5s);
  ASSERT_TRUE(line);
  const std::string port = std::to_string(port_from_readiness_line(*line));
  const ProcessResult r = connect({"wss://127.0.0.1:" + port + "/", "--connect-timeout", "60s"}, "hi\n");
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("is it a ws:// server?"), std::string::npos) << r.err;
  server.signal(SIGTERM);
  server.wait(5s);
}

TEST(ConnectExit, RefusedConnectionExits69) {
  std::uint16_t port = 0;
  {
    Listener closed;
    port = closed.port();
  }
  const ProcessResult r = connect({local_url(port)});
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
}

TEST(ConnectExit, DiagnosticsRedactTheUrlsSecrets) {
  std::uint16_t port = 0;
  {
    Listener closed;
    port = closed.port();
  }
  const ProcessResult r = connect({"ws://ann:pw1@127.0.0.1:" + std::to_string(port) + "/?token=tk2"});
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_EQ(r.err.find("pw1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("tk2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ws://[redacted]@127.0.0.1:" + std::to_string(port) + "/?token=[redacted]: "), std::string::npos)
      << r.err;
}

TEST(ConnectExit, UnknownHostExits68) {
  const ProcessResult r = connect({"ws://no-such-host.invalid/", "--connect-timeout", "5s"});
  EXPECT_TRUE(r.exited_with(68)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("no-such-host.invalid"), std::string::npos) << r.err;
}

TEST(ConnectExit, ServerThatNeverAnswersTheHandshakeExits75) {
  Listener listener;
  const auto start = Clock::now();
  Process client({kBinary, "connect", local_url(listener.port()), "--connect-timeout", "300ms"});
  std::optional<Socket> s = listener.accept(5s);  // accepted, never answered
  ASSERT_TRUE(s);
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(75)) << r.exit_code << r.err;
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(ConnectExit, TimeoutBeforeTheConnectionOpensExits75) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "--timeout", "300ms"});
  std::optional<Socket> s = listener.accept(5s);
  ASSERT_TRUE(s);
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(75)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("--timeout"), std::string::npos) << r.err;
}

TEST(ConnectExit, UsageErrorsExit64AndAMissingSendFile66) {
  EXPECT_TRUE(connect({}).exited_with(64));
  EXPECT_TRUE(connect({"ftp://x/"}).exited_with(64));
  EXPECT_TRUE(connect({"ws://127.0.0.1:1/", "--expect", "("}).exited_with(64));
  EXPECT_TRUE(connect({"ws://127.0.0.1:1/", "--expect-json", "no-slash=1"}).exited_with(64));
  EXPECT_TRUE(connect({"ws://127.0.0.1:1/", "--wait", "5parsecs"}).exited_with(64));
  const ProcessResult missing = connect({"ws://127.0.0.1:1/", "--send-file", "/nonexistent/file"});
  EXPECT_TRUE(missing.exited_with(66)) << missing.exit_code << missing.err;
}

TEST(ConnectExit, SigintExits130) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  client.signal(SIGINT);
  std::optional<ReadFrame> close;
  ASSERT_TRUE(answer_close(s, &close));
  EXPECT_EQ(close->payload.substr(0, 2), close_payload(1001, ""));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(130)) << r.exit_code << r.err;
}

// --- expectations ------------------------------------------------------------------------------

// A server that sends `messages` (text) once the client is connected, then waits for its close.
ProcessResult against_messages(const std::vector<std::string>& messages, std::vector<std::string> args) {
  Listener listener;
  args.insert(args.begin(), {kBinary, "connect", local_url(listener.port())});
  Process client(args);
  client.close_stdin();  // no input: only the messages, the count, the expectations and --wait matter
  Socket s = accept_websocket(listener);
  if (!s.valid()) return client.wait(5s);
  for (const std::string& m : messages) s.send_all(frame(ws::opcode::kText, m));
  answer_close(s);
  return client.wait(10s);
}

TEST(ConnectExpect, MetExpectationsEndTheSessionAtOnceWithSuccess) {
  const auto start = Clock::now();
  const ProcessResult r = against_messages({"noise", "ready: 42", R"({"type":"ack","id":5})"},
                                           {"--expect", "ready: \\d+", "--expect-json", "/type=ack", "--wait", "20s"});
  EXPECT_TRUE(r.exited_with(0)) << r.err;
  EXPECT_LT(Clock::now() - start, 5s);  // not the 20 s of --wait
}

TEST(ConnectExpect, UnmetExpectationExits1AndSaysWhichOne) {
  const ProcessResult r = against_messages({"alpha", "beta"}, {"--expect", "alpha", "--expect", "gamma", "--wait", "200ms"});
  EXPECT_TRUE(r.exited_with(1)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("expectation 2 of 2 not met: --expect 'gamma'"), std::string::npos) << r.err;
}

TEST(ConnectExpect, ExpectationsAreMetInCommandLineOrder) {
  // beta comes after alpha, so an expectation of beta then alpha cannot be met.
  const ProcessResult wrong = against_messages({"alpha", "beta"}, {"--expect", "beta", "--expect", "alpha", "--wait", "200ms"});
  EXPECT_TRUE(wrong.exited_with(1)) << wrong.err;
  EXPECT_NE(wrong.err.find("--expect 'alpha'"), std::string::npos) << wrong.err;
  // Both kinds interleave in the order given; one message meets one expectation.
  const ProcessResult mixed = against_messages({R"({"n":1})", "text", R"({"n":2})"},
                                               {"--expect-json", "/n=1", "--expect", "^text$", "--expect-json", "/n=2"});
  EXPECT_TRUE(mixed.exited_with(0)) << mixed.err;
  const ProcessResult twice = against_messages({"same"}, {"--expect", "same", "--expect", "same", "--wait", "200ms"});
  EXPECT_TRUE(twice.exited_with(1)) << twice.err;
}

TEST(ConnectExpect, JsonPointerValuesCompareAsJson) {
  const std::vector<std::string> messages = {R"({"data":"q","n":5,"s":"5","obj":{"a":[1,2]},"nil":null})"};
  for (const char* met : {"/data=q", "/data=\"q\"", "/n=5", "/n=5.0", "/s=\"5\"", "/obj={\"a\":[1,2]}",
                          "/obj/a/1=2", "/nil=null", "/nil", "/obj/a"}) {
    const ProcessResult r = against_messages(messages, {"--expect-json", met, "--wait", "200ms"});
    EXPECT_TRUE(r.exited_with(0)) << met << ": " << r.err;
  }
  for (const char* unmet : {"/n=\"5\"", "/s=5", "/data=Q", "/missing", "/missing=null", "/obj/a/2"}) {
    const ProcessResult r = against_messages(messages, {"--expect-json", unmet, "--wait", "200ms"});
    EXPECT_TRUE(r.exited_with(1)) << unmet << ": " << r.exit_code << " " << r.err;
  }
}

TEST(ConnectExpect, UnmetExpectationExits1EvenWhenThePeerDrops) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "--expect", "never"});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  s.close();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(1)) << r.exit_code << r.err;  // 1 outranks 74
}

TEST(ConnectExpect, CountEndsTheSessionAndTooFewExits1) {
  const ProcessResult enough = against_messages({"a", "b", "c"}, {"--count", "2", "--wait", "20s"});
  EXPECT_TRUE(enough.exited_with(0)) << enough.err;
  EXPECT_EQ(enough.out.substr(0, 4), "a\nb\n");
  const ProcessResult few = against_messages({"a"}, {"--count", "3", "--wait", "200ms"});
  EXPECT_TRUE(few.exited_with(1)) << few.err;
  EXPECT_NE(few.err.find("--count 3: received 1"), std::string::npos) << few.err;
}

TEST(ConnectExpect, TimeoutIsOneDeadlineFromStart) {
  Listener listener;
  const auto start = Clock::now();
  ProcessOptions options;
  Process client({kBinary, "connect", local_url(listener.port()), "--timeout", "500ms", "--expect", "x"}, options);
  Socket s = accept_websocket(listener);  // stdin stays open: only the deadline ends it
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(answer_close(s));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(1)) << r.exit_code << r.err;
  EXPECT_LT(Clock::now() - start, 3s);
}

// --- redirects, the CONNECT proxy, encrypted keys -------------------------------------------------

// Answers the next request on `listener` with a redirect; returns its request head.
std::string redirect_next(Listener& listener, int status, const std::string& location) {
  std::optional<Socket> s = listener.accept(5s);
  if (!s) return "";
  const std::string head = read_head(*s);
  s->send_all("HTTP/1.1 " + std::to_string(status) + " Moved\r\nLocation: " + location +
              "\r\nContent-Length: 0\r\n\r\n");
  return head;
}

TEST(ConnectRedirect, FollowsARelativeLocationWithLAndKeepsCredentialsOnTheSameOrigin) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()) + "chat/room", "-L", "--bearer", "tok",
                  "--count", "1"});
  const std::string first = redirect_next(listener, 301, "../v2/room?x=1");
  EXPECT_EQ(first.rfind("GET /chat/room HTTP/1.1", 0), 0u) << first;
  std::string request;
  Socket s = accept_websocket(listener, &request);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(request.rfind("GET /v2/room?x=1 HTTP/1.1", 0), 0u) << request;
  EXPECT_EQ(header_in(request, "Authorization"), "Bearer tok");
  s.send_all(frame(ws::opcode::kText, "moved in"));
  ASSERT_TRUE(answer_close(s));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  EXPECT_EQ(r.out, "moved in\n");
}

TEST(ConnectRedirect, CredentialsDoNotFollowToAnotherHostPort) {
  Listener first;
  Listener second;
  Process client({kBinary, "connect", local_url(first.port()), "-L", "--auth", "user:pw", "-H",
                  "Authorization: Bearer custom", "-H", "X-Kept: yes", "--count", "1"});
  const std::string head = redirect_next(first, 307, "http://127.0.0.1:" + std::to_string(second.port()) + "/there");
  EXPECT_EQ(header_in(head, "Authorization"), "Bearer custom");
  std::string request;
  Socket s = accept_websocket(second, &request);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(request.rfind("GET /there HTTP/1.1", 0), 0u) << request;
  EXPECT_EQ(header_in(request, "Authorization"), "") << request;
  EXPECT_EQ(header_in(request, "X-Kept"), "yes") << request;
  s.send_all(frame(ws::opcode::kText, "hi"));
  ASSERT_TRUE(answer_close(s));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
}

TEST(ConnectRedirect, WithoutLARedirectIsARefusalNamingTheLocation) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port())});
  redirect_next(listener, 302, "/elsewhere");
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("302"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(local_url(listener.port()) + "elsewhere"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("-L"), std::string::npos) << r.err;
}

TEST(ConnectRedirect, LoopsAndTooManyRedirectsExit69) {
  {
    Listener listener;
    Process client({kBinary, "connect", local_url(listener.port()), "-L"});
    redirect_next(listener, 302, "/a");
    redirect_next(listener, 302, "/b");
    redirect_next(listener, 302, "/a");
    const ProcessResult r = client.wait(5s);
    EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
    EXPECT_NE(r.err.find("redirect loop"), std::string::npos) << r.err;
  }
  {
    Listener listener;
    Process client({kBinary, "connect", local_url(listener.port()), "-L", "--max-redirects", "1"});
    redirect_next(listener, 308, "/a");
    redirect_next(listener, 308, "/b");
    const ProcessResult r = client.wait(5s);
    EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
    EXPECT_NE(r.err.find("--max-redirects 1"), std::string::npos) << r.err;
  }
}

// A tiny HTTP CONNECT proxy: accepts one client, checks its CONNECT line, opens the tunnel to
// the target and relays. `connect_line` gets what the client asked for.
struct ConnectProxy {
  Listener listener;
  std::string connect_line;
  std::string proxy_authorization;
  std::unique_ptr<TcpRelay> tunnel;

  bool serve_one(std::uint16_t target_port) {
    std::optional<Socket> client = listener.accept(5s);
    if (!client) return false;
    const std::string head = read_head(*client);
    connect_line = head.substr(0, head.find("\r\n"));
    proxy_authorization = header_in(head, "Proxy-Authorization");
    Socket upstream = connect_loopback(target_port);
    if (!upstream.valid()) return false;
    client->send_all("HTTP/1.1 200 Connection established\r\n\r\n");
    tunnel = std::make_unique<TcpRelay>(std::move(*client), std::move(upstream));
    return true;
  }
};

TEST(ConnectProxy, TunnelsThroughAnHttpConnectProxy) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  ConnectProxy proxy;
  Process client({kBinary, "connect", echo.url(), "--proxy", "http://127.0.0.1:" + std::to_string(proxy.listener.port()),
                  "--wait", "300ms"});
  ASSERT_TRUE(proxy.serve_one(echo.port));
  EXPECT_EQ(proxy.connect_line, "CONNECT 127.0.0.1:" + std::to_string(echo.port) + " HTTP/1.1");
  ASSERT_TRUE(client.write_stdin("through the tunnel\n", 5s));
  client.close_stdin();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  EXPECT_EQ(r.out, "through the tunnel\n");
  EXPECT_GT(proxy.tunnel->client_bytes(), 0u);
}

TEST(ConnectProxy, AProxyThatRefusesTheTunnelExits69) {
  Listener proxy;
  Process client({kBinary, "connect", "ws://127.0.0.1:9/", "--proxy", "127.0.0.1:" + std::to_string(proxy.port())});
  std::optional<Socket> s = proxy.accept(5s);
  ASSERT_TRUE(s);
  EXPECT_EQ(read_head(*s).rfind("CONNECT 127.0.0.1:9 HTTP/1.1\r\n", 0), 0u);
  s->send_all("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;
}

TEST(ConnectTls, AnEncryptedKeyNeedsItsPassphrase) {
  const std::string data = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";
  Process server({kBinary, "echo", "--listen", "127.0.0.1:0", "--tls-cert", data + "localhost.crt", "--tls-key",
                  data + "localhost.key"});
  const auto line = server.read_line(5s);
  ASSERT_TRUE(line);
  const std::string url = "wss://localhost:" + std::to_string(port_from_readiness_line(*line)) + "/";
  const std::vector<std::string> tls = {url, "--ca", data + "localhost.crt", "--cert", data + "localhost.crt",
                                        "--key", data + "localhost-encrypted.key", "-w", "200ms"};
  // Standard input is not a terminal: no prompt, an error naming the option.
  const ProcessResult missing = connect(tls, "hi\n");
  EXPECT_TRUE(missing.exited_with(64)) << missing.exit_code << missing.err;
  EXPECT_NE(missing.err.find("--key-passphrase"), std::string::npos) << missing.err;
  std::vector<std::string> wrong = tls;
  wrong.insert(wrong.end(), {"--key-passphrase", "wrong"});
  const ProcessResult bad = connect(wrong, "hi\n");
  EXPECT_TRUE(bad.exited_with(65)) << bad.exit_code << bad.err;
  std::vector<std::string> right = tls;
  right.insert(right.end(), {"--key-passphrase", "correct-horse"});
  const ProcessResult good = connect(right, "hi\n");
  EXPECT_TRUE(good.exited_with(0)) << good.exit_code << good.err;
  EXPECT_EQ(good.out, "hi\n");
  server.signal(SIGTERM);
  server.wait(5s);
}

// --- --record ---------------------------------------------------------------------------------

TEST(ConnectRecord, WritesTheSessionLogWithSecretsRedacted) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string path = dir.path() + "/session.jsonl";
  const ProcessResult r = connect({echo.url() + "?token=abc", "--bearer", "tok", "--slash", "--record", path, "-w", "300ms"},
                                  "hello\n/ping p1\n");
  ASSERT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  Error error;
  std::unique_ptr<session::SessionReader> reader = session::SessionReader::open(path, error);
  ASSERT_TRUE(reader) << error.message;
  EXPECT_EQ(reader->header().captured_by, "connect");
  std::vector<session::Record> records;
  while (auto record = reader->next(error)) records.push_back(*record);
  ASSERT_FALSE(error) << error.message;
  ASSERT_EQ(records.size(), 9u);  // open, six frames, close, end
  const auto& open = std::get<session::OpenRecord>(records[0]);
  EXPECT_EQ(open.url.find("abc"), std::string::npos) << open.url;
  EXPECT_NE(open.extensions.find("permessage-deflate"), std::string::npos);
  ASSERT_EQ(open.request.size(), 1u);
  EXPECT_EQ(open.request[0].name, "Authorization");
  EXPECT_EQ(open.request[0].value.find("tok"), std::string::npos);
  // Each side's frames in order (the two sides interleave as timing has it).
  std::vector<std::string> client;
  std::vector<std::string> server;
  for (std::size_t i = 1; i <= 6; ++i) {
    const auto* f = std::get_if<session::FrameRecord>(&records[i]);
    ASSERT_TRUE(f) << i;
    EXPECT_TRUE(f->fin) << i;
    (f->dir == session::Direction::kClient ? client : server)
        .push_back(std::to_string(f->opcode) + (f->compressed ? " compressed " : " ") + f->payload);
  }
  const std::string close_1000("\x03\xe8", 2);
  EXPECT_EQ(client, (std::vector<std::string>{"1 compressed hello", "9 p1", "8 " + close_1000}));
  EXPECT_EQ(server, (std::vector<std::string>{"1 compressed hello", "10 p1", "8 " + close_1000}));
  const auto& close = std::get<session::CloseRecord>(records[7]);
  EXPECT_EQ(close.code, 1000);
  EXPECT_EQ(close.by, session::Closer::kClient);
  EXPECT_TRUE(close.clean);
  EXPECT_EQ(std::get<session::EndRecord>(records[8]).frames, 6u);
}

// Session log 1.4: a refusal is a record of its own, so a replay can expect it again.
TEST(ConnectRecord, ARefusedHandshakeIsLoggedWithItsStatusHeadersAndBody) {
  Listener listener;
  TempDir dir;
  const std::string path = dir.path() + "/session.jsonl";
  const std::string url = "ws://127.0.0.1:" + std::to_string(listener.port()) + "/feed?token=abc";
  Process client({kBinary, "connect", url, "--bearer", "t0k", "--record", path});
  std::optional<Socket> s = listener.accept(5s);
  ASSERT_TRUE(s);
  s->read_until("\r\n\r\n", 5s);
  s->send_all("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nSet-Cookie: session=s3cret\r\n"
              "Content-Length: 15\r\n\r\nno token given\n");
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  const std::string text = read_file(path);
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_EQ(text.find("t0k"), std::string::npos) << text;
  EXPECT_EQ(text.find("abc"), std::string::npos) << text;
  std::vector<nlohmann::json> records;
  for (const std::string& line : lines_of(text)) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(records.size(), 3u) << text;  // header, refused, end
  const nlohmann::json& refused = records[1];
  EXPECT_EQ(refused["type"], "refused") << text;
  EXPECT_EQ(refused["conn"], 1);
  EXPECT_EQ(refused["by"], "server");
  EXPECT_EQ(refused["status"], 403);
  EXPECT_EQ(refused["reason"], "Forbidden");
  EXPECT_EQ(refused["body"], "no token given\n");
  EXPECT_NE(refused["url"].get<std::string>().find("/feed?token="), std::string::npos) << text;
  EXPECT_EQ(refused["request"], nlohmann::json::parse(R"([["Authorization","[redacted]"]])")) << text;
  bool cookie_redacted = false;
  for (const auto& h : refused["response"]) cookie_redacted |= h[0] == "Set-Cookie" && h[1] == "[redacted]";
  EXPECT_TRUE(cookie_redacted) << text;
  EXPECT_EQ(records[2]["refused"], 1) << text;
}

TEST(ConnectRecord, KeepSecretsWritesTheCredentialsAsSent) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string path = dir.path() + "/secrets.jsonl";
  const ProcessResult r =
      connect({echo.url() + "?token=abc", "--bearer", "tok", "--record", path, "--keep-secrets", "-w", "100ms"}, "");
  ASSERT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  Error error;
  std::unique_ptr<session::SessionReader> reader = session::SessionReader::open(path, error);
  ASSERT_TRUE(reader) << error.message;
  auto record = reader->next(error);
  ASSERT_TRUE(record) << error.message;
  const auto& open = std::get<session::OpenRecord>(*record);
  EXPECT_NE(open.url.find("token=abc"), std::string::npos) << open.url;
  ASSERT_EQ(open.request.size(), 1u);
  EXPECT_EQ(open.request[0].value, "Bearer tok");
}

TEST(ConnectRecord, UncompressedWithoutDeflateAndAnUnwritableFileExits73) {
  EchoServer echo;
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string path = dir.path() + "/plain.jsonl";
  const ProcessResult r = connect({echo.url(), "--no-compress", "--record", path, "-w", "200ms"}, "plain\n");
  ASSERT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  EXPECT_NE(read_file(path).find(R"("opcode":1,"fin":true,"rsv":0,"compressed":false,"len":5,"text":"plain")"),
            std::string::npos)
      << read_file(path);
  const ProcessResult bad = connect({echo.url(), "--record", dir.path() + "/no/such/dir/x.jsonl"}, "x\n");
  EXPECT_TRUE(bad.exited_with(73)) << bad.exit_code << bad.err;
  EXPECT_EQ(bad.out, "");
}

// The close record is the closing handshake's summary (wstool-session(5)): when connect closes
// first, its code and reason are connect's, and the server's answer is the reply.
TEST(ConnectRecord, WhenTheClientClosesFirstTheCloseRecordHasItsCodeAndTheServersReply) {
  Listener listener;
  TempDir dir;
  const std::string path = dir.path() + "/closes.jsonl";
  Process client({kBinary, "connect", local_url(listener.port()), "--no-compress", "--slash", "--record", path});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(client.write_stdin("/close 4001 bye\n", 5s));
  std::optional<ReadFrame> close_frame;
  for (auto f = read_frame(s); f; f = read_frame(s)) {
    if (f->opcode == ws::opcode::kClose) {
      close_frame = f;
      break;
    }
  }
  ASSERT_TRUE(close_frame);
  EXPECT_EQ(close_frame->payload, std::string("\x0f\xa1" "bye", 5));  // 4001
  s.send_all(frame(ws::opcode::kClose, std::string("\x03\xe8" "ok", 4)));  // answered with 1000 "ok"
  s.close();
  client.close_stdin();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  const std::string log = read_file(path);
  EXPECT_NE(log.find(R"({"type":"close","conn":1,)"), std::string::npos) << log;
  const std::size_t at = log.find(R"("type":"close")");
  ASSERT_NE(at, std::string::npos) << log;
  const auto record = nlohmann::json::parse(log.substr(at - 1, log.find('\n', at) - at + 1));
  EXPECT_EQ(record["code"], 4001) << record.dump();
  EXPECT_EQ(record["reason"], "bye") << record.dump();
  EXPECT_EQ(record["by"], "client") << record.dump();
  EXPECT_EQ(record["reply"], 1000) << record.dump();
  EXPECT_EQ(record["replyReason"], "ok") << record.dump();
}

// After connect's close the server may still send data until its own close (RFC 6455 5.5.1):
// it is shown and recorded, not dropped, so a replay of the log expects it instead of calling
// it extra.
TEST(ConnectRecord, WhatTheServerSendsAfterConnectsCloseIsShownAndRecorded) {
  Listener listener;
  TempDir dir;
  const std::string path = dir.path() + "/late.jsonl";
  Process client({kBinary, "connect", local_url(listener.port()), "--no-compress", "--slash", "--record", path});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(client.write_stdin("/close 1000 done\n", 5s));
  std::optional<ReadFrame> close_frame;
  for (auto f = read_frame(s); f; f = read_frame(s)) {
    if (f->opcode == ws::opcode::kClose) {
      close_frame = f;
      break;
    }
  }
  ASSERT_TRUE(close_frame);
  s.send_all(frame(ws::opcode::kText, "late words") + frame(ws::opcode::kClose, std::string("\x03\xe8", 2)));
  s.close();
  client.close_stdin();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  EXPECT_NE(r.out.find("late words"), std::string::npos) << r.out;
  const std::string log = read_file(path);
  const std::size_t late = log.find(R"("dir":"server","opcode":1,)");
  ASSERT_NE(late, std::string::npos) << log;
  EXPECT_NE(log.find(R"("text":"late words")", late), std::string::npos) << log;
  // Between the two close frames, as it came.
  EXPECT_LT(log.find(R"("dir":"client","opcode":8)"), late) << log;
  EXPECT_LT(late, log.find(R"("dir":"server","opcode":8)")) << log;
}

// A frame that breaks RFC 6455 is logged as it came, with why, then the close that followed (as
// `record` logs one).
TEST(ConnectRecord, AnInvalidFrameFromThePeerIsLoggedWithItsReasonThenTheClose) {
  Listener listener;
  TempDir dir;
  const std::string path = dir.path() + "/invalid.jsonl";
  Process client({kBinary, "connect", local_url(listener.port()), "--no-compress", "--record", path});
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  const std::string bad_utf8("ok \xC3\x28", 5);
  s.send_all(frame(ws::opcode::kText, bad_utf8));
  std::optional<ReadFrame> close_frame;
  for (auto f = read_frame(s); f; f = read_frame(s)) {
    if (f->opcode == ws::opcode::kClose) {
      close_frame = f;
      break;
    }
  }
  ASSERT_TRUE(close_frame);
  EXPECT_EQ(close_frame->payload.substr(0, 2), std::string("\x03\xef", 2));  // 1007
  s.send_all(frame(ws::opcode::kClose, close_frame->payload.substr(0, 2)));
  s.close();
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(76)) << r.exit_code << r.err;

  Error error;
  std::unique_ptr<session::SessionReader> reader = session::SessionReader::open(path, error);
  ASSERT_TRUE(reader) << error.message;
  std::vector<session::Record> records;
  while (auto record = reader->next(error)) records.push_back(*record);
  ASSERT_FALSE(error) << error.message;
  const session::FrameRecord* invalid = nullptr;
  std::size_t invalid_at = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto* f = std::get_if<session::FrameRecord>(&records[i]);
    if (f != nullptr && !f->invalid.empty()) {
      invalid = f;
      invalid_at = i;
      break;
    }
  }
  ASSERT_NE(invalid, nullptr) << read_file(path);
  EXPECT_EQ(invalid->dir, session::Direction::kServer);
  EXPECT_EQ(invalid->opcode, ws::opcode::kText);
  EXPECT_TRUE(invalid->fin);
  EXPECT_EQ(invalid->rsv, 0);
  EXPECT_EQ(invalid->payload, bad_utf8);
  EXPECT_NE(invalid->invalid.find("UTF-8"), std::string::npos) << invalid->invalid;
  // As the file has it: bytes in base64, the reason in "invalid".
  EXPECT_NE(read_file(path).find(R"("len":5,"bytes":"b2sgwyg=","invalid":"invalid UTF-8 in a text message"})"),
            std::string::npos)
      << read_file(path);
  const session::CloseRecord* close = nullptr;
  for (std::size_t i = invalid_at + 1; i < records.size() && close == nullptr; ++i) {
    close = std::get_if<session::CloseRecord>(&records[i]);
  }
  ASSERT_NE(close, nullptr) << read_file(path);
  EXPECT_EQ(close->code, 1007);  // the code connect failed the connection with
  EXPECT_EQ(close->by, session::Closer::kClient);
  // connect's own close frame is in the log too, between the two.
  bool sent_close_logged = false;
  for (std::size_t i = invalid_at + 1; i < records.size(); ++i) {
    const auto* f = std::get_if<session::FrameRecord>(&records[i]);
    if (f != nullptr && f->opcode == ws::opcode::kClose && f->dir == session::Direction::kClient) {
      sent_close_logged = f->payload.substr(0, 2) == std::string("\x03\xef", 2);
    }
  }
  EXPECT_TRUE(sent_close_logged) << read_file(path);
  EXPECT_TRUE(std::holds_alternative<session::EndRecord>(records.back()));
}

// --- --listen and --reconnect ------------------------------------------------------------------

TEST(ConnectListen, AcceptsOneClientAndRunsTheSessionWithRolesReversed) {
  Process server({kBinary, "connect", "-l", "0", "--count", "1"});  // wscat's bare port
  const auto line = server.read_line(5s);
  ASSERT_TRUE(line);
  const std::uint16_t port = port_from_readiness_line(*line);
  ASSERT_NE(port, 0) << *line;
  ASSERT_TRUE(server.write_stdin("to the client\n", 5s));
  Socket s = connect_loopback(port);
  ASSERT_TRUE(s.valid());
  s.send_all("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  ASSERT_EQ(read_head(s).rfind("HTTP/1.1 101", 0), 0u);
  const auto first = read_frame(s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->payload, "to the client");
  // A second client is refused while the first one's session runs.
  Socket second = connect_loopback(port);
  ASSERT_TRUE(second.valid());
  second.send_all("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(read_head(second).rfind("HTTP/1.1 503", 0), 0u);
  s.send_all(ws_frame(ws::opcode::kText, "to the server", true));
  const auto close = read_frame(s);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::opcode::kClose);
  s.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, ""), true));
  const ProcessResult r = server.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  EXPECT_EQ(r.out, "to the server\n");
}

TEST(ConnectReconnect, QueuedMessagesAreSentInOrderAfterReconnecting) {
  Listener listener;
  Process client({kBinary, "connect", local_url(listener.port()), "--reconnect", "--reconnect-max-delay", "200ms",
                  "--wait", "300ms"});
  {
    Socket first = accept_websocket(listener);
    ASSERT_TRUE(first.valid());
    ASSERT_TRUE(client.write_stdin("m1\n", 5s));
    const auto m1 = read_frame(first);
    ASSERT_TRUE(m1);
    EXPECT_EQ(m1->payload, "m1");
  }  // dropped without a close frame
  // Once it is reconnecting (its next TCP connection is here, the handshake not answered), more
  // lines: written while it is disconnected.
  std::optional<Socket> second = listener.accept(5s);
  ASSERT_TRUE(second);
  std::string later;
  for (int i = 2; i <= 50; ++i) later += "m" + std::to_string(i) + "\n";
  ASSERT_TRUE(client.write_stdin(later, 5s));
  client.close_stdin();
  ASSERT_TRUE(answer_handshake(*second));
  for (int i = 2; i <= 50; ++i) {
    const auto m = read_frame(*second);
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m->payload, "m" + std::to_string(i));
  }
  ASSERT_TRUE(answer_close(*second));
  const ProcessResult r = client.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("reconnecting"), std::string::npos) << r.err;
}

TEST(ConnectReconnect, GivesUpAfterMaxAttempts) {
  std::uint16_t port = 0;
  {
    Listener closed;
    port = closed.port();
  }
  const ProcessResult r = connect({local_url(port), "--reconnect", "--reconnect-max-attempts", "2",
                                   "--reconnect-max-delay", "50ms"});
  EXPECT_TRUE(r.exited_with(69)) << r.exit_code << r.err;
  EXPECT_NE(r.err.find("attempt 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("giving up"), std::string::npos) << r.err;
}

// --- at a terminal, as a person sees it (tmux) ----------------------------------------------------

TEST(ConnectTerminal, MessagesAppearAboveThePromptAndHistoryIsKept) {
  if (!Tmux::available()) GTEST_SKIP() << "tmux is not installed";
  TempDir state;
  Listener listener;
  Tmux tmux("env XDG_STATE_HOME=" + state.path() + " " + kBinary + " connect " + local_url(listener.port()));
  ASSERT_TRUE(tmux.ok());
  Socket s = accept_websocket(listener);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(tmux.wait_for("connected")) << tmux.capture();
  tmux.keys({"-l", "half typed"});
  ASSERT_TRUE(tmux.wait_for("> half typed")) << tmux.capture();
  s.send_all(frame(ws::opcode::kText, "incoming"));
  ASSERT_TRUE(tmux.wait_for("< incoming")) << tmux.capture();
  // The message is above the prompt, and the typed text is intact on the last line.
  std::vector<std::string> lines = lines_of(tmux.capture());
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.back(), "> half typed") << tmux.capture();
  EXPECT_EQ(lines[lines.size() - 2], "< incoming") << tmux.capture();
  tmux.keys({"Enter"});
  const auto sent = read_frame(s);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->payload, "half typed");
  tmux.keys({"C-d"});  // end of input: then --wait, then a 1000 close
  ASSERT_TRUE(answer_close(s));
  const auto deadline = Clock::now() + 5s;
  std::string history;
  while (Clock::now() < deadline && history.find("half") == std::string::npos) {
    try {
      history = read_file(state.path() + "/wstool/connect_history");
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_NE(history.find("half"), std::string::npos);
}

TEST(ConnectTerminal, AnEncryptedKeysPassphraseIsAskedForWithoutEcho) {
  if (!Tmux::available()) GTEST_SKIP() << "tmux is not installed";
  const std::string data = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";
  Process server({kBinary, "echo", "--listen", "127.0.0.1:0", "--tls-cert", data + "localhost.crt", "--tls-key",
                  data + "localhost.key"});
  const auto line = server.read_line(5s);
  ASSERT_TRUE(line);
  TempDir state;
  Tmux tmux("env XDG_STATE_HOME=" + state.path() + " " + kBinary + " connect wss://localhost:" +
            std::to_string(port_from_readiness_line(*line)) + "/ --ca " + data + "localhost.crt --cert " + data +
            "localhost.crt --key " + data + "localhost-encrypted.key");
  ASSERT_TRUE(tmux.ok());
  ASSERT_TRUE(tmux.wait_for("Enter the passphrase for")) << tmux.capture();
  tmux.keys({"-l", "correct-horse"});
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("connected to wss://localhost")) << tmux.capture();
  EXPECT_EQ(tmux.capture().find("correct-horse"), std::string::npos) << tmux.capture();
  tmux.keys({"-l", "over tls"});
  tmux.keys({"Enter"});
  ASSERT_TRUE(tmux.wait_for("< over tls")) << tmux.capture();
  server.signal(SIGTERM);
  server.wait(5s);
}

}  // namespace
}  // namespace wstool::test
