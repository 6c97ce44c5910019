// `wstool load` end to end: the real binary against the real `wstool echo` and `wstool serve`,
// and against a deliberately slow server built here on the engine (replies after a fixed delay,
// can stall), so percentiles, the open-loop correction, thresholds, merging, failures and
// signals are checked against known truth.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/engine.h"
#include "lib/units.h"
#include "tests/support/json_schema.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kBinary = WSTOOL_BINARY;
constexpr auto kRunTimeout = 30s;

// A wstool server subcommand on 127.0.0.1 port 0, its port read from the readiness line.
struct ServerProcess {
  Process process;
  std::uint16_t port = 0;
  explicit ServerProcess(std::vector<std::string> argv) : process(argv) {
    const auto line = process.read_line(5s);
    if (line) port = port_from_readiness_line(*line);
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
};

ServerProcess start_echo() { return ServerProcess({kBinary, "echo", "--listen", "127.0.0.1:0"}); }

// Echoes every message after `delay`; after `stall_after` messages it holds every reply until
// `stall_for` has passed (a server that pauses, as a GC pause or a blocked thread does). With
// `reorder`, every other message is answered at once, overtaking the one before it.
class SlowServer final : public ws::ConnectionHandler {
 public:
  SlowServer(std::chrono::milliseconds delay, std::uint64_t stall_after = 0,
             std::chrono::milliseconds stall_for = 0ms, bool reorder = false)
      : delay_(delay),
        stall_after_(stall_after),
        stall_for_(stall_for),
        reorder_(reorder),
        server_(config(), *this, logger_) {
    if (!server_.listen()) thread_ = std::thread([this] { server_.run(); });
  }
  ~SlowServer() override {
    if (thread_.joinable()) {
      server_.shutdown(ws::close_code::kGoingAway, 500ms);
      thread_.join();
    }
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server_.port()) + "/"; }

  void on_message(ws::Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
    const auto now = std::chrono::steady_clock::now();
    if (++received_ == stall_after_) stall_until_ = now + stall_for_;
    auto due = now + (reorder_ && received_ % 2 == 0 ? 0ms : delay_);
    if (due < stall_until_) due = stall_until_;
    auto& queue = queues_[conn.id()];
    queue.emplace(due, Reply{opcode, std::string(reinterpret_cast<const char*>(data), size)});
    arm(conn, queue);
  }
  void on_timer(ws::Connection& conn) override {
    auto& queue = queues_[conn.id()];
    const auto now = std::chrono::steady_clock::now();
    while (!queue.empty() && queue.begin()->first <= now) {
      const Reply& reply = queue.begin()->second;
      conn.send(reply.opcode, reinterpret_cast<const std::uint8_t*>(reply.payload.data()), reply.payload.size());
      queue.erase(queue.begin());
    }
    if (!queue.empty()) arm(conn, queue);
  }
  void on_close(ws::Connection& conn, const ws::CloseEvent& /*event*/) override { queues_.erase(conn.id()); }

 private:
  struct Reply {
    std::uint8_t opcode;
    std::string payload;
  };
  using Queue = std::multimap<std::chrono::steady_clock::time_point, Reply>;  // by when it is due
  static ws::ServerConfig config() {
    ws::ServerConfig c;
    c.port = 0;
    c.threads = 1;  // the queues below are touched by this one thread only
    return c;
  }
  void arm(ws::Connection& conn, const Queue& queue) {
    const auto wait = queue.begin()->first - std::chrono::steady_clock::now();
    // Timers fire after at least their duration: round up so a reply is never early.
    conn.set_timer(std::max(0ms, std::chrono::ceil<std::chrono::milliseconds>(wait)));
  }

  std::chrono::milliseconds delay_;
  std::uint64_t stall_after_;
  std::chrono::milliseconds stall_for_;
  bool reorder_;
  std::uint64_t received_ = 0;
  std::chrono::steady_clock::time_point stall_until_{};
  std::map<std::uint64_t, Queue> queues_;
  NullLogger logger_;
  ws::Server server_;
  std::thread thread_;
};

ProcessResult load(std::vector<std::string> args) {
  std::vector<std::string> argv = {kBinary, "load", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = kRunTimeout;
  return run_process(argv, options);
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }

// The results document in a --json run's summary record.
json summary_of(const std::string& out) {
  for (const std::string& line : lines_of(out)) {
    const json record = json::parse(line, nullptr, false);
    if (record.is_object() && record.value("type", "") == "summary") return record;
  }
  return json();
}

double ms(const json& latency, const char* percentile) {
  return latency["percentiles_ns"][percentile].get<double>() / 1e6;
}

// How many of a histogram's values may be at least `at` (their bucket reaches it).
std::uint64_t count_at_least(const json& latency, std::chrono::nanoseconds at) {
  std::uint64_t count = 0;
  for (const json& bucket : latency["buckets"]) {
    if (bucket["upper_ns"].get<std::int64_t>() >= at.count()) count += bucket["count"].get<std::uint64_t>();
  }
  return count;
}

// How many of a histogram's values are surely below `below` (their whole bucket is).
std::uint64_t count_below(const json& latency, std::chrono::nanoseconds below) {
  std::uint64_t count = 0;
  for (const json& bucket : latency["buckets"]) {
    if (bucket["upper_ns"].get<std::int64_t>() < below.count()) count += bucket["count"].get<std::uint64_t>();
  }
  return count;
}

// The fewest messages an open-loop run at `per_second` over `duration_s` sends on schedule.
// None go out before a connection is open (each is due on an open connection), so the slowest
// connect of the run is taken off, and up to kThreadStartSlack more: on a busy host the run's
// thread starts (and so connects) that much after the run's start. Connecting took 100+ ms
// and the thread 35 ms while a build ran beside the tests.
int open_loop_messages(const json& doc, double per_second, double duration_s) {
  constexpr double kThreadStartSlack = 0.1;  // seconds
  const double connect_s = doc["connect"]["percentiles_ns"]["max"].get<double>() / 1e9;
  return static_cast<int>(per_second * (duration_s - connect_s - kThreadStartSlack));
}

TEST(Load, ClosedLoopAgainstEchoCountsEveryReplyAndStreamsJsonLines) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({echo.url(), "-c", "4", "--threads", "2", "--messages", "2000", "--in-flight", "4",
                                  "--json", "-o", out});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const std::vector<std::string> lines = lines_of(run.out);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines.front())["type"], "config");
  for (const std::string& line : lines) {
    const std::string type = json::parse(line)["type"];
    EXPECT_TRUE(type == "config" || type == "second" || type == "summary") << line;
  }
  const json doc = read_json(out);
  EXPECT_EQ(summary_of(run.out)["results"]["counts"], doc["counts"]);
  EXPECT_EQ(doc["counts"]["messages_sent"], 2000);
  EXPECT_EQ(doc["counts"]["messages_answered"], 2000);
  EXPECT_EQ(doc["counts"]["messages_unanswered"], 0);
  EXPECT_EQ(doc["counts"]["connections_opened"], 4);
  EXPECT_EQ(doc["latency"]["count"], 2000);
  EXPECT_EQ(doc["connect"]["count"], 4);
  EXPECT_TRUE(doc["errors"].empty()) << doc["errors"];
}

TEST(Load, PercentilesLandWhereTheServersDelayPutsThem) {
  SlowServer slow(20ms);
  TempDir dir;
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({slow.url(), "-c", "4", "--threads", "1", "--messages", "200", "-o", out});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const json doc = read_json(out);
  const json& latency = doc["latency"];
  ASSERT_EQ(latency["count"], 200);
  // No reply comes sooner than the server's delay, however fast or busy the host.
  EXPECT_GE(ms(latency, "p50"), 20.0);
  EXPECT_GE(ms(latency, "p99"), 20.0);
  // Closed loop, one message in flight per connection: a connection's round trips follow one
  // another, so all of them together fit in 4 connections x the run (a latency that counted more
  // than its round trip would not), and the run lasts at least 50 round trips of 20 ms.
  const double elapsed_ms = doc["elapsed_s"].get<double>() * 1e3;
  const double mean_ms = latency["mean_ns"].get<double>() / 1e6;
  EXPECT_LE(mean_ms * 200, 4 * elapsed_ms) << "elapsed " << elapsed_ms << " ms";
  EXPECT_GE(elapsed_ms, 50 * 20.0);
  // The median is a round trip like the rest: at most twice the mean (at most half the values
  // can exceed that). A fixed bound (35 ms) failed when a busy host added 20 ms to round trips.
  EXPECT_LE(ms(latency, "p50"), 2 * mean_ms) << latency["percentiles_ns"];
}

// wrk2's point: a closed loop sends nothing while the server stalls, so only the one waiting
// message sees the stall; an open loop keeps its schedule and the correction charges the stall
// to every message that should have gone during it.
TEST(Load, OpenLoopCorrectionShowsTheStallThatAClosedLoopHides) {
  TempDir dir;
  const std::string open_out = dir.path() + "/open.json";
  const std::string closed_out = dir.path() + "/closed.json";
  {
    SlowServer stalling(0ms, 100, 500ms);
    const ProcessResult run = load({stalling.url(), "-c", "1", "--rate", "200/s", "--duration", "2s", "-o", open_out});
    ASSERT_TRUE(run.exited_with(0)) << run.err;
  }
  {
    SlowServer stalling(0ms, 100, 500ms);
    const ProcessResult run = load({stalling.url(), "-c", "1", "--duration", "2s", "-o", closed_out});
    ASSERT_TRUE(run.exited_with(0)) << run.err;
  }
  const json open = read_json(open_out);
  const json closed = read_json(closed_out);
  // ~100 of ~400 messages were due during the 500 ms stall.
  EXPECT_GE(ms(open["latency"], "p90"), 100.0);
  EXPECT_GE(ms(open["latency"], "max"), 400.0);
  EXPECT_GE(ms(closed["latency"], "max"), 400.0);
  // The closed loop shows the stall in its one waiting message: far below the open loop's p90
  // (round trips themselves take a few ms, tens on a busy host).
  EXPECT_LT(ms(closed["latency"], "p90"), 100.0);
  // On schedule, stall or not: every message due while a connection was open went out (a loop
  // that paused in the stall would be ~100 short), and none due after the end.
  const auto sent = open["counts"]["messages_sent"].get<int>();
  EXPECT_GE(sent, open_loop_messages(open, 200, 2.0)) << "connect: " << open["connect"]["percentiles_ns"];
  EXPECT_LE(sent, 400);
}

TEST(Load, RepliesAreMatchedByTheirIdWhenTheyComeBackOutOfOrder) {
  constexpr auto kDelay = 100ms;
  SlowServer reordering(kDelay, 0, 0ms, true);
  TempDir dir;
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({reordering.url(), "-c", "1", "--in-flight", "8", "--messages", "100", "-o", out});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const json doc = read_json(out);
  EXPECT_EQ(doc["counts"]["messages_answered"], 100);
  EXPECT_EQ(doc["counts"]["messages_unanswered"], 0);
  // Half the replies are immediate and half wait 100 ms. Matched by id, every delayed one is
  // charged to its own message, so at least half the latencies are 100 ms or more however busy
  // the host; matched in order, immediate replies would end the delayed messages' round trips
  // early (most latencies spread below 100 ms). The delay is long beside a busy host's round
  // trip (tens of ms), so the immediate half stays well under it.
  EXPECT_GE(count_at_least(doc["latency"], kDelay), 50u) << doc["latency"]["percentiles_ns"];
  EXPECT_GE(count_below(doc["latency"], kDelay / 2), 40u) << doc["latency"]["percentiles_ns"];
}

TEST(Load, BinaryCompressedMessagesAndTheHtmlReport) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string out = dir.path() + "/results.json", html = dir.path() + "/report.html";
  const ProcessResult run = load({echo.url(), "-c", "2", "--binary", "--size", "1KiB", "--compress", "--messages",
                                  "300", "-o", out, "--html", html});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const json doc = read_json(out);
  EXPECT_EQ(doc["counts"]["messages_answered"], 300);
  EXPECT_EQ(doc["counts"]["bytes_sent"], 300 * 1024);
  EXPECT_NE(read_file(html).find("<svg"), std::string::npos);
  EXPECT_TRUE(load({echo.url(), "--messages", "1", "--html", dir.path() + "/no/such/dir/x.html"}).exited_with(73));
}

// Regression: a socket that took every write at once kept the send queue empty, and the fill
// loop never yielded (the run hung).
TEST(Load, SendModeFillsAndStopsOnTime) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({echo.url(), "-c", "2", "--mode", "send", "--duration", "1s", "-o", out});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const json doc = read_json(out);
  EXPECT_GT(doc["counts"]["messages_sent"].get<int>(), 1000);
  EXPECT_EQ(doc["counts"]["messages_answered"], 0);
  // On time: nothing was sent after the end (the first second's record is the last with any),
  // however late a busy host ran the run's last turns. The run itself ended within a few
  // seconds (it ended 2.6 s late once on a host loaded 12 runnable threads per core; a hung
  // fill loop is killed at 30 s and fails the exit code above).
  const json& series = doc["series"];
  for (std::size_t second = 1; second < series.size(); ++second) EXPECT_EQ(series[second]["sent"], 0) << series;
  EXPECT_LT(doc["elapsed_s"].get<double>(), 5.0) << series;
}

TEST(Load, ThresholdsPassOrFailWithTheirExitCodes) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  const ProcessResult pass = load({echo.url(), "--messages", "200", "--threshold", "p99<10s", "--threshold",
                                   "error_rate<1%"});
  EXPECT_TRUE(pass.exited_with(0)) << pass.err;
  EXPECT_NE(pass.out.find("passed"), std::string::npos) << pass.out;

  const ProcessResult fail = load({echo.url(), "--messages", "200", "--threshold", "p99<10s", "--threshold",
                                   "throughput>=100000000/s"});
  EXPECT_TRUE(fail.exited_with(1)) << fail.err;
  EXPECT_NE(fail.err.find("threshold failed: throughput"), std::string::npos) << fail.err;
  EXPECT_EQ(fail.err.find("p99"), std::string::npos) << fail.err;  // only the failure is named
  // The verdicts stand in one column, however long an expression is.
  const std::size_t short_line = fail.out.find("threshold p99<10s");
  const std::size_t long_line = fail.out.find("threshold throughput>=100000000/s");
  ASSERT_NE(short_line, std::string::npos) << fail.out;
  ASSERT_NE(long_line, std::string::npos) << fail.out;
  EXPECT_EQ(fail.out.find("passed", short_line) - short_line, fail.out.find("FAILED", long_line) - long_line)
      << fail.out;

  EXPECT_TRUE(load({echo.url(), "--threshold", "p99<<1"}).exited_with(64));
  EXPECT_TRUE(load({echo.url(), "--mode", "sideways"}).exited_with(64));
}

TEST(Load, AMergeOfTwoRunsEqualsOneRunOfTheSameTotal) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string a = dir.path() + "/a.json", b = dir.path() + "/b.json";
  const std::string merged = dir.path() + "/merged.json", whole = dir.path() + "/whole.json";
  ASSERT_TRUE(load({echo.url(), "-c", "2", "--messages", "300", "-o", a}).exited_with(0));
  ASSERT_TRUE(load({echo.url(), "-c", "2", "--messages", "300", "-o", b}).exited_with(0));
  ASSERT_TRUE(load({echo.url(), "-c", "4", "--messages", "600", "-o", whole}).exited_with(0));
  const ProcessResult merge = load({"--merge", a, b, "-o", merged, "--threshold", "error_rate<1%"});
  ASSERT_TRUE(merge.exited_with(0)) << merge.err;
  const json m = read_json(merged), one = read_json(whole), ja = read_json(a), jb = read_json(b);
  EXPECT_EQ(m["generators"], 2);
  EXPECT_EQ(m["counts"], one["counts"]);
  EXPECT_EQ(m["latency"]["count"], one["latency"]["count"]);
  // Exact: every bucket of the merge is the sum of the two runs' buckets.
  std::map<std::uint64_t, std::uint64_t> sum;
  for (const json* doc : {&ja, &jb}) {
    for (const json& bucket : (*doc)["latency"]["buckets"]) sum[bucket["lower_ns"]] += bucket["count"].get<std::uint64_t>();
  }
  std::map<std::uint64_t, std::uint64_t> got;
  for (const json& bucket : m["latency"]["buckets"]) got[bucket["lower_ns"]] = bucket["count"];
  EXPECT_EQ(got, sum);
  EXPECT_TRUE(load({"--merge", dir.path() + "/missing.json"}).exited_with(66));
}

TEST(Load, AnUnreachableTargetGivesAnErrorSummaryAndExit69) {
  Listener closed;
  const std::uint16_t port = closed.port();
  closed.close();
  TempDir dir;
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({"ws://127.0.0.1:" + std::to_string(port) + "/", "-c", "3", "-o", out});
  EXPECT_TRUE(run.exited_with(69)) << run.err;
  EXPECT_NE(run.err.find("3 of 3 connections failed"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("refused"), std::string::npos) << run.out;
  EXPECT_EQ(read_json(out)["errors"]["refused"], 3);
}

// A server that takes the TCP connection and never answers the handshake, for longer than the
// run: nothing was measured, and the exit code says so (it exited 0 with "errors none").
TEST(Load, ARunInWhichNoConnectionOpenedIsATimeoutNotAPass) {
  Listener silent;  // accepts nothing: the kernel completes the TCP handshake, nobody answers
  const ProcessResult run = load({"ws://127.0.0.1:" + std::to_string(silent.port()) + "/", "-c", "2",
                                  "--duration", "500ms", "--connect-timeout", "60s"});
  EXPECT_TRUE(run.exited_with(75)) << run.exit_code << run.err;
  EXPECT_NE(run.err.find("no connection opened before the run ended (2 still connecting)"), std::string::npos)
      << run.err;
}

// Waits for the first per-second record of a --json run: the run is under way.
bool wait_for_second(Process& process) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto line = process.read_line(10s);
    if (!line) return false;
    if (line->find("\"type\":\"second\"") != std::string::npos) return true;
  }
  return false;
}

TEST(Load, AServerThatDiesMidRunGivesPartialResultsAndExit74) {
  auto echo = std::make_unique<ServerProcess>(std::vector<std::string>{kBinary, "echo", "--listen", "127.0.0.1:0"});
  ASSERT_NE(echo->port, 0);
  Process run({kBinary, "load", echo->url(), "-c", "4", "--duration", "20s", "--json", "-q"});
  ASSERT_TRUE(wait_for_second(run));
  echo->process.signal(SIGKILL);
  const ProcessResult result = run.wait(10s);
  EXPECT_TRUE(result.exited_with(74)) << result.err;
  const json summary = summary_of(result.out);
  ASSERT_TRUE(summary.is_object()) << result.out;
  EXPECT_EQ(summary["results"]["counts"]["connections_dropped"], 4);
  EXPECT_GT(summary["results"]["counts"]["messages_answered"].get<int>(), 0);
  EXPECT_NE(result.err.find("lost mid-run"), std::string::npos) << result.err;
  // Said once: "4 connections lost mid-run; first: read failed: ...", not "...; first: connection
  // lost mid-run: read failed: ...".
  EXPECT_EQ(result.err.find("first: connection lost mid-run"), std::string::npos) << result.err;
}

TEST(Load, SigintStopsTheRunWithPartialResultsAndExit130) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  Process run({kBinary, "load", echo.url(), "-c", "2", "--duration", "20s", "--json", "-q"});
  ASSERT_TRUE(wait_for_second(run));
  run.signal(SIGINT);
  const ProcessResult result = run.wait(10s);
  EXPECT_TRUE(result.exited_with(130)) << result.err;
  const json summary = summary_of(result.out);
  ASSERT_TRUE(summary.is_object()) << result.out;
  EXPECT_EQ(summary["results"]["interrupted"], true);
  EXPECT_GT(summary["results"]["counts"]["messages_answered"].get<int>(), 0);
  EXPECT_EQ(summary["results"]["counts"]["connections_dropped"], 0);
}

// Regression: a send tick that ran late past the end of the run (a busy host; here the process
// is stopped across the end) sent every message due until it ran: a 1.5 s run at 100/s sent 199.
TEST(Load, AnOpenLoopRunningLateSendsNothingDueAfterTheEnd) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  Process run({kBinary, "load", echo.url(), "-c", "1", "--rate", "100/s", "--duration", "1500ms", "--json", "-q"});
  ASSERT_TRUE(wait_for_second(run));  // 1 s in
  run.signal(SIGSTOP);
  // The stall under test, not a wait for an event: the run resumes past its end.
  std::this_thread::sleep_for(1s);
  run.signal(SIGCONT);
  const ProcessResult result = run.wait(10s);
  ASSERT_TRUE(result.exited_with(0)) << result.err;
  const json summary = summary_of(result.out);
  ASSERT_TRUE(summary.is_object()) << result.out;
  EXPECT_LE(summary["results"]["counts"]["messages_sent"].get<int>(), 150);
}

TEST(Load, SubscribeMeasuresRoomFanOutOnServe) {
  ServerProcess serve({kBinary, "serve", "--listen", "127.0.0.1:0", "--rate", "0"});
  ASSERT_NE(serve.port, 0);
  TempDir dir;
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({serve.url(), "-c", "5", "--mode", "subscribe", "--publishers", "1", "--rate", "50/s",
                                  "--duration", "1s", "--on-open", R"({"type":"join_room","roomId":"bench"})",
                                  "--message", R"({"type":"room_message","roomId":"bench","content":"{{time_ns}}"})",
                                  "--correlate", "/content", "-o", out});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const json doc = read_json(out);
  // Publishing starts once all five connections are open.
  const auto sent = doc["counts"]["messages_sent"].get<int>();
  EXPECT_GE(sent, open_loop_messages(doc, 50, 1.0)) << "connect: " << doc["connect"]["percentiles_ns"];
  EXPECT_LE(sent, 50);
  // Every member, the sender included, gets every room message.
  EXPECT_GE(doc["latency"]["count"].get<int>(), 5 * sent * 9 / 10);
  EXPECT_LT(ms(doc["latency"], "p50"), 100.0);
}

TEST(Load, AScriptJoinsARoomOnServeThenTalks) {
  ServerProcess serve({kBinary, "serve", "--listen", "127.0.0.1:0", "--rate", "0"});
  ASSERT_NE(serve.port, 0);
  TempDir dir;
  const std::string script = dir.path() + "/chat.json";
  std::ofstream(script) << R"({
    "setup": [{"expect": "welcome"},
              {"send": "{\"type\":\"join_room\",\"roomId\":\"r{{conn}}\"}"}, {"expect": "room_joined"}],
    "steps": [{"send": "{\"type\":\"room_message\",\"roomId\":\"r{{conn}}\",\"content\":\"{{id}}\"}"},
              {"expect": "room_message"}]
  })";
  const std::string out = dir.path() + "/results.json";
  const ProcessResult run = load({serve.url(), "-c", "3", "--script", script, "--messages", "60", "-o", out});
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  const json doc = read_json(out);
  EXPECT_EQ(doc["config"]["mode"], "script");
  // The joins count against --messages too: 3 joins and 57 room messages, every one answered
  // (the greeting each connection waits for first is no message of its own).
  EXPECT_EQ(doc["counts"]["messages_sent"], 60);
  EXPECT_EQ(doc["counts"]["messages_answered"], 60);
  EXPECT_TRUE(doc["errors"].empty()) << doc["errors"];

  std::ofstream(dir.path() + "/bad.json") << R"({"steps": [{"dance": true}]})";
  EXPECT_TRUE(load({serve.url(), "--script", dir.path() + "/bad.json"}).exited_with(65));
}

// Regression: a --rate above one message per nanosecond (the schedule's resolution) made the
// send interval 0, the send tick never caught up with the clock and the run hung at 100% CPU,
// deaf to SIGTERM; a huge --in-flight aborted on bad_alloc (exit 134); a huge --size tried to
// build the payload in memory first. Each is now a usage error naming its flag and its limit.
TEST(Load, RatesInFlightAndSizesBeyondTheirLimitsAreUsageErrors) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  const ProcessResult rate = load({echo.url(), "--rate", "2000000000/s", "--duration", "1s"});
  EXPECT_TRUE(rate.exited_with(64)) << rate.exit_code << rate.err;
  EXPECT_NE(rate.err.find("--rate: at most"), std::string::npos) << rate.err;
  const ProcessResult ramp = load({echo.url(), "--connect-rate", "2000000000/s", "--messages", "1"});
  EXPECT_TRUE(ramp.exited_with(64)) << ramp.exit_code << ramp.err;
  EXPECT_NE(ramp.err.find("--connect-rate: at most"), std::string::npos) << ramp.err;
  const ProcessResult in_flight = load({echo.url(), "--in-flight", "1000000000", "--messages", "10"});
  EXPECT_TRUE(in_flight.exited_with(64)) << in_flight.exit_code << in_flight.err;
  EXPECT_NE(in_flight.err.find("--in-flight: at most"), std::string::npos) << in_flight.err;
  // Bigger than the largest reply the tool accepts back (16 MiB).
  const ProcessResult size = load({echo.url(), "--size", "17MiB", "--messages", "1"});
  EXPECT_TRUE(size.exited_with(64)) << size.exit_code << size.err;
  EXPECT_NE(size.err.find("--size: at most 16MiB"), std::string::npos) << size.err;
  TempDir dir;
  const std::string big = dir.path() + "/big.txt";
  std::ofstream(big) << std::string((std::size_t{16} << 20) + 1, 'x');
  const ProcessResult file = load({echo.url(), "--message-file", big, "--messages", "1"});
  EXPECT_TRUE(file.exited_with(64)) << file.exit_code << file.err;
  EXPECT_NE(file.err.find("larger than 16MiB"), std::string::npos) << file.err;
}

// Regression: a script's misspelt field ("timout") or section ("step") was ignored without a
// word, so the run silently did something else (a 5 s timeout, no steps at all) and passed, or
// (no steps, --messages) never ended.
// `--mode script FILE`, as issue and habit spell it: the scenario as a second argument, after
// the URL or before it, is --script FILE; elsewhere a second argument is refused, not ignored.
TEST(Load, ModeScriptTakesTheScenarioFileAsAnArgument) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string script = dir.path() + "/ping.json";
  std::ofstream(script) << R"({"steps": [{"send": "ping {{id}}"}, {"expect": "ping"}]})";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{echo.url(), "--mode", "script", script, "--messages", "4", "--json"},
        std::vector<std::string>{"--mode", "script", script, echo.url(), "--messages", "4", "--json"}}) {
    const ProcessResult run = load(args);
    ASSERT_TRUE(run.exited_with(0)) << run.err;
    EXPECT_NE(run.out.find(R"("mode":"script")"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find(R"("messages_answered":4)"), std::string::npos) << run.out;
  }
  const ProcessResult stray = load({echo.url(), script, "--messages", "4"});
  EXPECT_TRUE(stray.exited_with(64)) << stray.exit_code << stray.err;
  EXPECT_NE(stray.err.find("a second argument is taken only with --mode script"), std::string::npos) << stray.err;
  const ProcessResult two = load({echo.url(), "--mode", "script", script, "--script", dir.path() + "/other.json"});
  EXPECT_TRUE(two.exited_with(64)) << two.exit_code << two.err;
  EXPECT_NE(two.err.find("two scenarios"), std::string::npos) << two.err;
}

TEST(Load, AScriptWithAnUnknownFieldIsRefusedNamingIt) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string step = dir.path() + "/step.json", section = dir.path() + "/section.json";
  const std::string both = dir.path() + "/both.json";
  std::ofstream(step) << R"({"steps": [{"send": "x"}, {"expect": "x", "timout": "1s"}]})";
  std::ofstream(section) << R"({"setup": [{"send": "x"}], "step": [{"send": "y"}]})";
  std::ofstream(both) << R"({"steps": [{"send": "x", "expect": "x"}]})";
  const ProcessResult a = load({echo.url(), "--script", step, "--messages", "2"});
  EXPECT_TRUE(a.exited_with(65)) << a.exit_code << a.err;
  EXPECT_NE(a.err.find("steps[1]: unknown field 'timout'"), std::string::npos) << a.err;
  const ProcessResult b = load({echo.url(), "--script", section, "--messages", "2"});
  EXPECT_TRUE(b.exited_with(65)) << b.exit_code << b.err;
  EXPECT_NE(b.err.find("unknown field 'step'"), std::string::npos) << b.err;
  const ProcessResult c = load({echo.url(), "--script", both, "--messages", "2"});
  EXPECT_TRUE(c.exited_with(65)) << c.exit_code << c.err;
  EXPECT_NE(c.err.find("steps[0]: one of send, expect, wait, close per step"), std::string::npos) << c.err;
  // A setup with no steps to repeat never reaches --messages: the run waited forever.
  const std::string setup_only = dir.path() + "/setup.json";
  std::ofstream(setup_only) << R"({"setup": [{"send": "x"}]})";
  const ProcessResult d = load({echo.url(), "--script", setup_only, "--messages", "2"});
  EXPECT_TRUE(d.exited_with(64)) << d.exit_code << d.err;
  EXPECT_NE(d.err.find("no steps to repeat"), std::string::npos) << d.err;
}

// Regression: publishers wait for every connection; when the ramp was still going at the end,
// nothing was published, nothing measured, and the run exited 0.
TEST(Load, ASubscribeRunThatNeverPublishedIsATimeoutNotAPass) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  const ProcessResult run = load({echo.url(), "-c", "3", "--connect-rate", "1/s", "--duration", "1s", "--mode",
                                  "subscribe", "--rate", "10/s"});
  EXPECT_TRUE(run.exited_with(75)) << run.exit_code << run.err;
  EXPECT_NE(run.err.find("publishing never started"), std::string::npos) << run.err;
}

// Regression: a SIGINT while the handshakes were still going exited 75 with "error: no
// connection opened before the run ended", as if the target had timed out.
TEST(Load, SigintBeforeAnyConnectionOpenedExits130) {
  Listener silent;  // the kernel completes the TCP handshake, nobody answers
  Process run({kBinary, "load", "ws://127.0.0.1:" + std::to_string(silent.port()) + "/", "-c", "2", "--duration",
               "20s", "--connect-timeout", "60s", "--json", "-q"});
  ASSERT_TRUE(wait_for_second(run));
  run.signal(SIGINT);
  const ProcessResult result = run.wait(10s);
  EXPECT_TRUE(result.exited_with(130)) << result.exit_code << result.err;
  EXPECT_EQ(result.err.find("error"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("interrupted before any connection opened"), std::string::npos) << result.err;
}

// Regression: a reader of stdout that went away (`wstool load ... --json | head -1`) made the
// next write throw: "internal error: cannot write to file: Broken pipe", exit 70, and the -o
// results document was never written; the same for stderr (`2>&1 | head`), where progress
// lines and verdicts go. A reader that leaves is no error (as for every wstool
// command); stdout that cannot be written for another reason (a full disk) is exit 74. Either
// way the results document is written.
TEST(Load, AStdoutThatCannotBeWrittenLosesNeitherTheResultsNorTheExitCode) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  const std::string piped = dir.path() + "/piped.json", rc = dir.path() + "/rc";
  ProcessOptions options;
  options.timeout = kRunTimeout;
  // head exits after the config record: every later write meets a closed pipe.
  const ProcessResult pipe = run_process(
      {"/bin/sh", "-c",
       "(\"$0\" load -q \"$1\" -c 1 --duration 1500ms --json -o \"$2\"; echo $? > \"$3\") | head -n 1 > /dev/null",
       kBinary, echo.url(), piped, rc},
      options);
  ASSERT_TRUE(pipe.exited_with(0)) << pipe.err;
  EXPECT_EQ(read_file(rc), "0\n") << pipe.err;
  EXPECT_EQ(pipe.err.find("internal error"), std::string::npos) << pipe.err;
  EXPECT_GT(read_json(piped)["counts"]["messages_answered"].get<int>(), 0);

  // The same with stderr in the pipe: progress lines and the threshold verdict meet it closed.
  const std::string both = dir.path() + "/both.json";
  const ProcessResult both_pipe = run_process(
      {"/bin/sh", "-c",
       "(\"$0\" load \"$1\" -c 1 --duration 6s --threshold 'p99<1ns' -o \"$2\"; echo $? > \"$3\") 2>&1 | "
       "head -n 1 > /dev/null",
       kBinary, echo.url(), both, rc},
      options);
  ASSERT_TRUE(both_pipe.exited_with(0)) << both_pipe.err;
  EXPECT_EQ(read_file(rc), "1\n");  // the threshold failed, and says so by its exit code
  EXPECT_GT(read_json(both)["counts"]["messages_answered"].get<int>(), 0);

  const std::string full = dir.path() + "/full.json";
  const ProcessResult disk = run_process(
      {"/bin/sh", "-c", "exec \"$0\" load -q \"$1\" -c 1 --messages 50 -o \"$2\" > /dev/full", kBinary, echo.url(),
       full},
      options);
  EXPECT_TRUE(disk.exited_with(74)) << disk.exit_code << disk.err;
  EXPECT_NE(disk.err.find("wsload: error: standard output: "), std::string::npos) << disk.err;
  EXPECT_EQ(read_json(full)["counts"]["messages_answered"], 50);
}

// Regression: an -o or --html path that cannot be written was found out only after the run (a
// 30-minute CI run, then exit 73 and no results). It is now checked before any connection.
TEST(Load, AnOutputThatCannotBeWrittenFailsBeforeTheRun) {
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  TempDir dir;
  for (const char* flag : {"-o", "--html"}) {
    const ProcessResult run = load({echo.url(), "--duration", "2s", flag, dir.path() + "/no/such/dir/out"});
    EXPECT_TRUE(run.exited_with(73)) << flag << " " << run.exit_code << run.err;
    EXPECT_NE(run.err.find("no/such/dir/out: cannot write"), std::string::npos) << run.err;
    EXPECT_EQ(run.out, "") << flag;  // nothing ran, so there is no summary
  }
}

// Regression: --compress against a server that declines permessage-deflate ran the plain path
// without a word, and the results said "compress": true. stderr now says how many connections
// went uncompressed.
TEST(Load, CompressSaysWhenTheServerDeclinedDeflate) {
  ServerProcess plain({kBinary, "echo", "--listen", "127.0.0.1:0", "--no-compress"});
  ASSERT_NE(plain.port, 0);
  const ProcessResult declined = load({plain.url(), "-c", "2", "--messages", "20", "--compress"});
  EXPECT_TRUE(declined.exited_with(0)) << declined.err;
  EXPECT_NE(declined.err.find("warning: --compress: the server declined permessage-deflate on 2 of 2 connections"),
            std::string::npos)
      << declined.err;
  ServerProcess deflating = start_echo();
  ASSERT_NE(deflating.port, 0);
  const ProcessResult accepted = load({deflating.url(), "-c", "2", "--messages", "20", "--compress"});
  EXPECT_TRUE(accepted.exited_with(0)) << accepted.err;
  EXPECT_EQ(accepted.err.find("declined"), std::string::npos) << accepted.err;
}

// Regression: progress showed the p50/p99 and errors of the one second it was printed in. Off a
// terminal a line comes every 5 seconds, so a CI log read "p99 9.63ms" all along while the run's
// p99 was 69.9ms: a stall between lines never showed. The latency and errors shown are the
// run's so far.
TEST(Load, ProgressShowsTheLatencySoFarNotJustThatSeconds) {
  SlowServer stalling(0ms, 20, 800ms);  // a stall in the first second, none after
  ProcessOptions options;
  options.timeout = kRunTimeout;
  const ProcessResult run = run_process(
      {kBinary, "load", stalling.url(), "-c", "1", "--rate", "50/s", "--duration", "5s"}, options);
  ASSERT_TRUE(run.exited_with(0)) << run.err;
  // The plain line at 5 s: "wsload: 5s/5s  open 1  sent/s 50  recv/s 50  so far: p50 X  p99 Y  errors 0".
  const std::size_t line = run.err.find("wsload: 5s/5s");
  ASSERT_NE(line, std::string::npos) << run.err;
  const std::string text = run.err.substr(line, run.err.find('\n', line) - line);
  const std::size_t so_far = text.find("so far: ");
  ASSERT_NE(so_far, std::string::npos) << text;
  const std::size_t at = text.find("p99 ", so_far) + 4;
  std::chrono::nanoseconds p99{0};
  std::string why;
  const std::string value = text.substr(at, text.find(' ', at) - at);
  ASSERT_TRUE(parse_duration(value, p99, why)) << text;
  // ~40 of ~250 messages were due during the 800 ms stall: the run's p99 holds it.
  EXPECT_GE(p99, 300ms) << text;
}

// Documents written by real runs (complete, failed, interrupted, merged) validate against the
// published schema, not only the ones lib/load_report's tests build by hand.
TEST(Load, ResultsDocumentsOfRealRunsValidateAgainstTheSchema) {
  const std::string python = python_with_jsonschema();
  if (python.empty()) {
    if (jsonschema_required()) FAIL() << "python3-jsonschema is missing";
    GTEST_SKIP() << "python3-jsonschema is not installed (scripts/install-deps installs it)";
  }
  ServerProcess echo = start_echo();
  ASSERT_NE(echo.port, 0);
  Listener closed;
  const std::uint16_t dead_port = closed.port();
  closed.close();
  TempDir dir;
  const std::string ok = dir.path() + "/ok.json", open = dir.path() + "/open.json";
  const std::string failed = dir.path() + "/failed.json", merged = dir.path() + "/merged.json";
  ASSERT_TRUE(load({echo.url(), "-c", "3", "--messages", "300", "-o", ok}).exited_with(0));
  ASSERT_TRUE(load({echo.url(), "-c", "2", "--rate", "500/s", "--duration", "1s", "--binary", "-o", open}).exited_with(0));
  ASSERT_TRUE(load({"ws://127.0.0.1:" + std::to_string(dead_port) + "/", "-c", "2", "-o", failed}).exited_with(69));
  ASSERT_TRUE(load({"--merge", ok, open, failed, "-o", merged}).exited_with(0));
  const ProcessResult valid = validate_against_schema(
      python, std::string(WSTOOL_SOURCE_DIR) + "/man/schemas/load-results-v1.json", {ok, open, failed, merged});
  EXPECT_TRUE(valid.exited_with(0)) << valid.out << valid.err;
}

}  // namespace
}  // namespace wstool::test
