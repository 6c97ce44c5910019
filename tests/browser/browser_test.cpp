// Browser tests: headless Chromium runs serve's built-in page (lib/serve_page) against real
// wstool servers on loopback. Skipped, with the reason, where node/chromium/playwright-core are
// missing — except under scripts/test (WSTOOL_REQUIRE_BROWSER=1), where that is a failure.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <string>

#include "lib/serve_page.h"
#include "tests/browser/browser_driver.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;
constexpr std::chrono::milliseconds kBrowserTimeout = 30s;
constexpr std::chrono::milliseconds kServerStart = 10s;

// What the page shows, as tests read it (the DOM contract documented in lib/serve_page.h).
constexpr const char* kPageReport = R"js(({
  state: document.getElementById('status').dataset.state,
  closeCode: document.getElementById('status').dataset.closeCode || null,
  lastError: document.getElementById('status').dataset.lastError || null,
  sent: Number(document.getElementById('status').dataset.sent),
  received: Number(document.getElementById('status').dataset.received),
  userId: document.getElementById('identity').dataset.userId || null,
  rooms: document.getElementById('rooms').dataset.rooms,
  messages: [...document.querySelectorAll('#messages li')].map((li) => ({
    kind: li.dataset.kind, room: li.dataset.room, user: li.dataset.user, content: li.dataset.content,
    text: li.textContent, elements: li.querySelectorAll('*').length })),
  log: [...document.querySelectorAll('#log li')].map((li) => ({
    dir: li.dataset.dir, type: li.dataset.type, frame: li.dataset.frame })),
}))js";

#define SKIP_WITHOUT_BROWSER()                                                   \
  do {                                                                           \
    if (const auto why = browser_unavailable()) {                                \
      if (browser_required()) FAIL() << "browser tests required: " << *why;      \
      GTEST_SKIP() << "browser tests skipped: " << *why;                         \
    }                                                                            \
  } while (false)

// A wstool server on 127.0.0.1:0, its port from the readiness line, stopped with SIGTERM.
struct Server {
  Process process;
  std::uint16_t port = 0;
  explicit Server(const std::vector<std::string>& argv) : process(argv) {
    if (const auto line = process.read_line(kServerStart)) port = port_from_readiness_line(*line);
  }
  ProcessResult stop() {
    process.signal(SIGTERM);
    return process.wait(10s);
  }
};

void expect_clean(const BrowserRun& run) {
  EXPECT_TRUE(run.leftovers.empty()) << run.leftovers.size() << " browser processes outlived the driver";
  for (const std::string& error : run.page_errors()) ADD_FAILURE() << error;
}

std::string describe(const BrowserRun& run) {
  return "driver exit " + std::to_string(run.exit_code) + "\nstdout: " + run.document.dump(2) +
         "\nstderr: " + run.stderr_text;
}

// The page opened from a file, pointed (?url=) at `wstool echo`: it connects, sends an echo
// request whose text is HTML, and shows the echoed reply as text. Proves the driver, the page's
// query-string scripting, its DOM contract, its CSP (a blocked script would never connect) and
// its escaping, against a real wstool server.
TEST(BrowserPage, EchoRoundTripThroughWstoolEcho) {
  SKIP_WITHOUT_BROWSER();
  TempDir dir;
  const std::string page_path = dir.path() + "/page.html";
  std::ofstream(page_path) << serve_page_html();
  Server server({kBinary, "echo", "--listen", "127.0.0.1:0"});
  ASSERT_NE(server.port, 0);

  const std::string text = "<img id=\"injected\" src=x> & h\xC3\xA9llo";
  const std::string url = "file://" + page_path + "?url=" +
                          url_encode("ws://127.0.0.1:" + std::to_string(server.port) + "/") +
                          "&send=" + url_encode(text);
  const BrowserRun run = run_browser({{url}}, "document.querySelector('#messages li[data-kind=echo]') !== null",
                                     kPageReport, kBrowserTimeout);
  ASSERT_TRUE(run.ok()) << describe(run);
  expect_clean(run);

  const nlohmann::json report = run.report(0);
  EXPECT_EQ(report.at("state"), "open");
  EXPECT_EQ(report.at("sent"), 1);
  EXPECT_EQ(report.at("received"), 1);
  const nlohmann::json request = {{"type", "echo"}, {"data", text}};
  ASSERT_EQ(report.at("log").size(), 2U) << report.dump(2);
  EXPECT_EQ(report.at("log")[0].at("dir"), "out");
  EXPECT_EQ(nlohmann::json::parse(report.at("log")[0].at("frame").get<std::string>()), request);
  EXPECT_EQ(report.at("log")[1].at("dir"), "in");
  EXPECT_EQ(report.at("log")[1].at("type"), "echo");
  EXPECT_EQ(nlohmann::json::parse(report.at("log")[1].at("frame").get<std::string>()), request);
  ASSERT_EQ(report.at("messages").size(), 1U);
  const nlohmann::json& shown = report.at("messages")[0];
  EXPECT_EQ(shown.at("kind"), "echo");
  EXPECT_EQ(shown.at("content"), text);
  // Shown as text: the markup is in the text, and no element was made from it.
  EXPECT_NE(shown.at("text").get<std::string>().find(text), std::string::npos);
  EXPECT_EQ(shown.at("elements"), 1);  // the page's own meta <span>, nothing else

  const ProcessResult stopped = server.stop();
  EXPECT_TRUE(stopped.exited_with(0)) << stopped.err;
}

// A condition that never holds: the driver gives up at its deadline with exit 1, says which
// condition, still reports what the page saw, and leaves no browser process behind.
TEST(BrowserPage, DriverGivesUpAtItsDeadlineAndCleansUp) {
  SKIP_WITHOUT_BROWSER();
  TempDir dir;
  const std::string page_path = dir.path() + "/page.html";
  std::ofstream(page_path) << serve_page_html();
  const BrowserRun run = run_browser({{"file://" + page_path}}, "window.neverTrue === true", kPageReport, 3s);
  EXPECT_EQ(run.exit_code, 1) << describe(run);
  ASSERT_TRUE(run.document.is_object()) << describe(run);
  EXPECT_FALSE(run.document.at("ok").get<bool>());
  EXPECT_NE(run.document.at("error").get<std::string>().find("window.neverTrue === true"), std::string::npos);
  EXPECT_EQ(run.report(0).at("state"), "idle");  // no query parameters: it waits for the user
  expect_clean(run);
}

// The issue's browser test: two pages served by `wstool serve` itself (GET /) join one room and
// one sends; both see the message. Skips until the serve subcommand exists in this binary.
TEST(BrowserPage, ServePageTwoClientsExchangeARoomMessage) {
  SKIP_WITHOUT_BROWSER();
  if (!run_process({kBinary, "serve", "--help"}).exited_with(0)) {
    GTEST_SKIP() << "this wstool has no serve subcommand yet";
  }
  Server server({kBinary, "serve", "--listen", "127.0.0.1:0"});
  ASSERT_NE(server.port, 0);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port) + "/";
  const std::string joined = "document.getElementById('rooms').dataset.rooms.split(' ').includes('lobby')";
  const std::string message = "hello from <b>bob</b>";
  const BrowserRun run = run_browser(
      {{base + "?room=lobby&user=alice", joined},
       {base + "?room=lobby&user=bob&send=" + url_encode(message), joined}},
      "[...document.querySelectorAll('#messages li[data-kind=room]')].some((li) => li.dataset.user === "
      "'bob' && li.dataset.content === " + nlohmann::json(message).dump() + ")",
      kPageReport, kBrowserTimeout);
  ASSERT_TRUE(run.ok()) << describe(run);
  expect_clean(run);

  const nlohmann::json alice = run.report(0);
  const nlohmann::json bob = run.report(1);
  EXPECT_EQ(alice.at("userId"), "alice");
  EXPECT_EQ(bob.at("userId"), "bob");
  for (const nlohmann::json* seen : {&alice, &bob}) {
    ASSERT_EQ(seen->at("messages").size(), 1U) << seen->dump(2);
    EXPECT_EQ(seen->at("messages")[0].at("room"), "lobby");
    EXPECT_EQ(seen->at("messages")[0].at("content"), message);
  }
  // Alice was told bob joined.
  bool told = false;
  for (const auto& entry : alice.at("log")) {
    if (entry.at("type") == "user_joined") {
      const auto frame = nlohmann::json::parse(entry.at("frame").get<std::string>());
      told = told || (frame.value("userId", "") == "bob" && frame.value("roomId", "") == "lobby");
    }
  }
  EXPECT_TRUE(told) << alice.dump(2);

  const ProcessResult stopped = server.stop();
  EXPECT_TRUE(stopped.exited_with(0)) << stopped.err;
}

}  // namespace
}  // namespace wstool::test
