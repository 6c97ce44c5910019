// `wstool chat` end to end: chat clients (the real binary, in pipe mode and under tmux) against
// the real `wstool serve`: presence, messages, commands, delivered marks, and reconnecting
// through a relay the test cuts, with unacknowledged messages resent and not doubled.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"
#include "tests/support/tcp_relay.h"
#include "tests/support/tmux.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;
constexpr auto kWait = 5s;
const std::string kMark = "\xe2\x9c\x93";  // the delivered mark

// `wstool serve --listen 127.0.0.1:0`, its port from the readiness line.
struct Serve {
  Process process;
  std::uint16_t port = 0;
  explicit Serve(std::vector<std::string> extra = {})
      : process([&] {
          std::vector<std::string> argv = {kBinary, "serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "300ms"};
          argv.insert(argv.end(), extra.begin(), extra.end());
          return argv;
        }()) {
    if (const auto line = process.read_line(kWait)) port = port_from_readiness_line(*line);
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
  ~Serve() {
    process.signal(SIGTERM);
    process.wait(kWait);
  }
};

// A chat client in pipe mode: lines written to its stdin, its stdout read line by line.
struct Chat {
  Process process;
  Chat(const std::string& url, const std::string& name, const std::string& room, std::vector<std::string> extra = {})
      : process([&] {
          std::vector<std::string> argv = {kBinary, "chat", url, "--room", room, "--name", name, "--wait", "200ms"};
          argv.insert(argv.end(), extra.begin(), extra.end());
          return argv;
        }()) {}

  void say(const std::string& line) { EXPECT_TRUE(process.write_stdin(line + "\n", kWait)) << line; }

  // The next stdout line without its "[HH:MM:SS] " stamp; "(none)" when nothing came in time.
  std::string next() {
    const auto line = process.read_line(kWait);
    if (!line) return "(none)";
    static const std::regex kStamp(R"(^\[\d\d:\d\d:\d\d\] )");
    if (!std::regex_search(*line, kStamp)) return "(no time stamp) " + *line;
    return line->substr(11);
  }

  // Ends the input and waits for a clean exit.
  ProcessResult finish() {
    process.close_stdin();
    return process.wait(kWait);
  }
};

TEST(ChatPipe, PresenceAndMessagesReachTheOtherClient) {
  Serve serve;
  ASSERT_NE(serve.port, 0);
  Chat alice(serve.url(), "alice", "lobby");
  ASSERT_EQ(alice.next(), "* joined #lobby: alice");
  Chat bob(serve.url(), "bob", "lobby");
  ASSERT_EQ(bob.next(), "* joined #lobby: alice, bob");
  EXPECT_EQ(alice.next(), "* bob joined #lobby");

  alice.say("hello bob");
  EXPECT_EQ(alice.next(), "alice: hello bob " + kMark);  // own message: once, when acknowledged
  EXPECT_EQ(bob.next(), "alice: hello bob");
  bob.say("hi alice");
  EXPECT_EQ(bob.next(), "bob: hi alice " + kMark);
  EXPECT_EQ(alice.next(), "bob: hi alice");
  bob.say("//slash is text");
  EXPECT_EQ(alice.next(), "bob: /slash is text");

  const ProcessResult b = bob.finish();
  EXPECT_TRUE(b.exited_with(0)) << b.exit_code << b.err;
  const std::vector<std::string> rest = lines_of(b.out);  // what bob had not read yet: nothing else
  ASSERT_EQ(rest.size(), 1u) << b.out;
  EXPECT_EQ(rest[0].substr(11), "bob: /slash is text " + kMark);
  EXPECT_EQ(alice.next(), "* bob left #lobby");
  const ProcessResult a = alice.finish();
  EXPECT_TRUE(a.exited_with(0)) << a.exit_code << a.err;
  EXPECT_EQ(a.out, "");
}

TEST(ChatPipe, JoinLeaveRoomsWhoAndMsgCommands) {
  Serve serve;
  ASSERT_NE(serve.port, 0);
  Chat alice(serve.url(), "alice", "lobby");
  ASSERT_EQ(alice.next(), "* joined #lobby: alice");
  Chat bob(serve.url(), "bob", "lobby");
  ASSERT_EQ(bob.next(), "* joined #lobby: alice, bob");
  ASSERT_EQ(alice.next(), "* bob joined #lobby");

  alice.say("/join kitchen");
  EXPECT_EQ(alice.next(), "* joined #kitchen: alice");
  alice.say("/rooms");
  EXPECT_EQ(alice.next(), "* rooms: #lobby, #kitchen (active: #kitchen)");
  alice.say("in the kitchen");  // the active room: bob is not there
  EXPECT_EQ(alice.next(), "alice: in the kitchen " + kMark);
  alice.say("/msg lobby to the lobby");
  EXPECT_EQ(alice.next(), "#lobby alice: to the lobby " + kMark);
  EXPECT_EQ(bob.next(), "alice: to the lobby");  // and not the kitchen message before it
  bob.say("/msg lobby back");
  EXPECT_EQ(bob.next(), "bob: back " + kMark);
  EXPECT_EQ(alice.next(), "#lobby bob: back");
  alice.say("/who lobby");
  EXPECT_EQ(alice.next(), "* #lobby: alice, bob");
  alice.say("/leave");  // the active room, kitchen; lobby becomes active
  EXPECT_EQ(alice.next(), "* left #kitchen");
  alice.say("/rooms");
  EXPECT_EQ(alice.next(), "* rooms: #lobby (active: #lobby)");
  alice.say("/msg kitchen not a member");
  alice.say("/bogus");
  alice.say("/leave lobby");
  EXPECT_EQ(alice.next(), "* left #lobby");
  EXPECT_EQ(bob.next(), "* alice left #lobby");
  alice.say("nowhere to say it");
  alice.say("/quit");
  const ProcessResult a = alice.process.wait(kWait);
  EXPECT_TRUE(a.exited_with(0)) << a.exit_code << a.err;
  EXPECT_NE(a.err.find("not in room #kitchen"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("unknown command /bogus"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("not in a room"), std::string::npos) << a.err;
  EXPECT_EQ(a.out, "");
  const ProcessResult b = bob.finish();
  EXPECT_TRUE(b.exited_with(0)) << b.exit_code << b.err;
}

TEST(ChatPipe, LinesPipedBeforeTheConnectionOpensAreSentInOrder) {
  Serve serve;
  ASSERT_NE(serve.port, 0);
  Chat watcher(serve.url(), "watcher", "lobby");
  ASSERT_EQ(watcher.next(), "* joined #lobby: watcher");
  const ProcessResult r = run_process({kBinary, "chat", serve.url(), "--room", "lobby", "--name", "script",
                                       "--wait", "0"},
                                      {{}, "one\ntwo\nthree\n", 10000ms});
  EXPECT_TRUE(r.exited_with(0)) << r.exit_code << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[1].substr(11), "script: one " + kMark);
  EXPECT_EQ(lines[3].substr(11), "script: three " + kMark);
  EXPECT_EQ(watcher.next(), "* script joined #lobby");
  EXPECT_EQ(watcher.next(), "script: one");
  EXPECT_EQ(watcher.next(), "script: two");
  EXPECT_EQ(watcher.next(), "script: three");
  EXPECT_EQ(watcher.next(), "* script left #lobby");
}

TEST(ChatExit, ARefusedHandshakeExits69AndBearerReachesServeToken) {
  Serve serve({"--token", "s3cret"});
  ASSERT_NE(serve.port, 0);
  const ProcessResult refused =
      run_process({kBinary, "chat", serve.url(), "--room", "lobby"}, {{}, "hi\n", 10000ms});
  EXPECT_TRUE(refused.exited_with(69)) << refused.exit_code << refused.err;
  EXPECT_NE(refused.err.find("\nHTTP/1.1 401"), std::string::npos) << refused.err;
  const ProcessResult allowed = run_process(
      {kBinary, "chat", serve.url(), "--room", "lobby", "--bearer", "s3cret", "--wait", "0"}, {{}, "hi\n", 10000ms});
  EXPECT_TRUE(allowed.exited_with(0)) << allowed.exit_code << allowed.err;
  EXPECT_NE(allowed.out.find(": hi " + kMark), std::string::npos) << allowed.out;
  const ProcessResult usage = run_process({kBinary, "chat", serve.url()}, {{}, "", 10000ms});
  EXPECT_TRUE(usage.exited_with(64)) << usage.exit_code << usage.err;
}

TEST(ChatExit, InsecureReachesASelfSignedServerThatVerificationRefuses) {
  Serve serve({"--tls-self-signed"});
  ASSERT_NE(serve.port, 0);
  const std::string url = "wss://127.0.0.1:" + std::to_string(serve.port) + "/";
  const ProcessResult refused = run_process({kBinary, "chat", url, "--room", "lobby"}, {{}, "hi\n", 10000ms});
  EXPECT_TRUE(refused.exited_with(69)) << refused.exit_code << refused.err;
  EXPECT_NE(refused.err.find("certificate"), std::string::npos) << refused.err;
  const ProcessResult allowed = run_process(
      {kBinary, "chat", url, "--room", "lobby", "--name", "tls", "--insecure", "--wait", "0"}, {{}, "hi\n", 10000ms});
  EXPECT_TRUE(allowed.exited_with(0)) << allowed.exit_code << allowed.err;
  EXPECT_NE(allowed.out.find("tls: hi " + kMark), std::string::npos) << allowed.out;
}

TEST(ChatExit, SigintExits130AndSigtermExits0AndTheOthersSeeThemLeave) {
  Serve serve;
  ASSERT_NE(serve.port, 0);
  Chat watcher(serve.url(), "watcher", "lobby");
  ASSERT_EQ(watcher.next(), "* joined #lobby: watcher");
  for (const int signo : {SIGINT, SIGTERM}) {
    Chat leaver(serve.url(), "leaver", "lobby");
    ASSERT_EQ(leaver.next(), "* joined #lobby: watcher, leaver");
    ASSERT_EQ(watcher.next(), "* leaver joined #lobby");
    leaver.process.signal(signo);
    const ProcessResult r = leaver.process.wait(kWait);
    EXPECT_TRUE(r.exited_with(signo == SIGINT ? 130 : 0)) << signo << " " << r.exit_code << r.err;
    EXPECT_EQ(watcher.next(), "* leaver left #lobby");
  }
}

// Accepts the client's next connection on `front` and relays it to the server.
std::unique_ptr<TcpRelay> relay_next(Listener& front, std::uint16_t server_port) {
  std::optional<Socket> client = front.accept(kWait);
  if (!client) return nullptr;
  Socket upstream = connect_loopback(server_port);
  if (!upstream.valid()) return nullptr;
  return std::make_unique<TcpRelay>(std::move(*client), std::move(upstream));
}

TEST(ChatReconnect, ResumesAndResendsWhatWasNotAcknowledgedWithoutDoubles) {
  Serve serve;
  ASSERT_NE(serve.port, 0);
  Chat bob(serve.url(), "bob", "lobby");
  ASSERT_EQ(bob.next(), "* joined #lobby: bob");
  Listener front;
  Chat alice("ws://127.0.0.1:" + std::to_string(front.port()) + "/", "alice", "lobby",
             {"--reconnect-max-delay", "100ms"});
  std::unique_ptr<TcpRelay> cable = relay_next(front, serve.port);
  ASSERT_TRUE(cable);
  ASSERT_EQ(alice.next(), "* joined #lobby: bob, alice");
  ASSERT_EQ(bob.next(), "* alice joined #lobby");

  // The server gets the message and delivers it, but its ack never reaches alice.
  cable->drop_server_bytes();
  alice.say("sent before the cut");
  ASSERT_EQ(bob.next(), "alice: sent before the cut");
  cable->cut();
  alice.say("typed while disconnected");

  cable = relay_next(front, serve.port);
  ASSERT_TRUE(cable);
  // Resent with the same id: acknowledged again (so marked) but not delivered again.
  EXPECT_EQ(alice.next(), "alice: sent before the cut " + kMark);
  EXPECT_EQ(alice.next(), "alice: typed while disconnected " + kMark);
  std::vector<std::string> seen;
  for (std::string line = bob.next(); line != "(none)"; line = bob.next()) {
    seen.push_back(line);
    if (line == "alice: typed while disconnected") break;
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), "alice: typed while disconnected");
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "alice: sent before the cut"), 0) << ::testing::PrintToString(seen);

  const ProcessResult a = alice.finish();
  EXPECT_TRUE(a.exited_with(0)) << a.exit_code << a.err;
  EXPECT_NE(a.err.find("reconnecting"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("session resumed"), std::string::npos) << a.err;
  const ProcessResult b = bob.finish();
  EXPECT_TRUE(b.exited_with(0)) << b.exit_code << b.err;
}

TEST(ChatTerminal, TwoClientsUnderTmuxSeeEachOtherAboveTheirPrompts) {
  if (!Tmux::available()) GTEST_SKIP() << "tmux is not installed";
  Serve serve;
  ASSERT_NE(serve.port, 0);
  TempDir state;
  const std::string command = "env XDG_STATE_HOME=" + state.path() + " " + kBinary + " chat " + serve.url() +
                              " --room lobby --color never --name ";
  Tmux alice(command + "alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(alice.wait_for("* joined #lobby: alice")) << alice.capture();
  Tmux bob(command + "bob");
  ASSERT_TRUE(bob.ok());
  ASSERT_TRUE(bob.wait_for("* joined #lobby: alice, bob")) << bob.capture();
  ASSERT_TRUE(alice.wait_for("* bob joined #lobby")) << alice.capture();

  alice.keys({"-l", "hello bob"});
  alice.keys({"Enter"});
  ASSERT_TRUE(bob.wait_for("alice: hello bob")) << bob.capture();
  ASSERT_TRUE(alice.wait_for("alice: hello bob " + kMark)) << alice.capture();

  // Bob switches rooms: the prompt shows it.
  bob.keys({"-l", "/join kitchen"});
  bob.keys({"Enter"});
  ASSERT_TRUE(bob.wait_for("* joined #kitchen: bob")) << bob.capture();
  EXPECT_EQ(bob.screen_lines().back().rfind("#kitchen>", 0), 0u) << bob.capture();

  // Alice is typing when bob's message arrives: it goes above her prompt, her line stays.
  alice.keys({"-l", "half typed"});
  ASSERT_TRUE(alice.wait_for("#lobby> half typed")) << alice.capture();
  bob.keys({"-l", "/msg lobby are you there"});
  bob.keys({"Enter"});
  ASSERT_TRUE(alice.wait_for("bob: are you there")) << alice.capture();
  const std::vector<std::string> lines = alice.screen_lines();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.back(), "#lobby> half typed") << alice.capture();
  EXPECT_NE(lines[lines.size() - 2].find("bob: are you there"), std::string::npos) << alice.capture();
  alice.keys({"C-u"});
  alice.keys({"-l", "/quit"});
  alice.keys({"Enter"});
  ASSERT_TRUE(bob.wait_for("* alice left #lobby")) << bob.capture();
}

}  // namespace
}  // namespace wstool::test
