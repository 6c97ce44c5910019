// `wstool replay` end to end: the fixtures in tests/data replayed against the real `wstool echo`
// and `wstool serve`, matching and differing, and one test per exit code it can reach.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lib/frame.h"
#include "lib/handshake.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"
#include "tests/support/ws_frames.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;
const std::string kData = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";

// A server subcommand on 127.0.0.1:0, its URL read from the readiness line.
struct Server {
  Process process;
  std::string url;
  explicit Server(std::vector<std::string> argv) : process([&] {
    argv.insert(argv.begin(), kBinary);
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
    return argv;
  }()) {
    const auto line = process.read_line(5s);
    if (line) url = "ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*line));
  }
  ProcessResult stop() {
    stopped = true;
    process.signal(SIGTERM);
    return process.wait(5s);
  }
  ~Server() {
    if (!stopped) stop();
  }
  bool stopped = false;
};

// The chat recording's two connections take turns 100 ms apart (alice joins, then bob). At that
// pace a busy host, where each replayed connection is a thread of its own and connecting alone
// took 100+ ms, let bob's turn come first (bob joined an empty room). A quarter of the pace
// leaves 400 ms between turns; the order between connections is only ever their timing.
const std::vector<std::string> kChatPace = {"--speed", "0.25"};

ProcessResult replay(std::vector<std::string> args) {
  args.insert(args.begin(), {kBinary, "replay"});
  ProcessOptions options;
  options.timeout = 20s;
  return run_process(args, options);
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

constexpr const char* kHeader =
    R"({"type":"header","version":1,"tool":"wstool 0.1.0","started":"2026-11-26T04:05:06.000Z","capturedBy":"connect"})"
    "\n"
    R"({"type":"open","conn":1,"t":0,"url":"ws://127.0.0.1:9/"})"
    "\n";

std::string text_frame(std::uint64_t t, const char* dir, const std::string& json_text) {
  return fmt::format(R"({{"type":"frame","conn":1,"t":{},"dir":"{}","opcode":1,"text":{}}})", t, dir,
                     nlohmann::json(json_text).dump()) +
         "\n";
}

TEST(Replay, EchoSessionMatchesWstoolEcho) {
  Server echo({"echo"});
  ASSERT_FALSE(echo.url.empty());
  const ProcessResult r = replay({kData + "session-echo.jsonl", echo.url, "--compare-control"});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 1 connection(s), 4 frame(s) sent, 4 expected, 4 matched, 0 difference(s)\n");
}

TEST(Replay, ChangedRepliesExit1WithTheJsonPathAndResults) {
  // The recording was made against serve's defaults; this server's limits differ.
  Server serve({"serve", "--max-content", "1000"});
  ASSERT_FALSE(serve.url.empty());
  TempDir dir;
  const std::string results = dir.path() + "/results.json";
  std::vector<std::string> args = {kData + "session-chat.jsonl", serve.url, "--parallel", "--ignore", "/sessionId",
                                   "-o", results};
  args.insert(args.end(), kChatPace.begin(), kChatPace.end());
  const ProcessResult r = replay(args);
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 message 1 (session-chat.jsonl:3, server frame 1): /limits/maxContentBytes: expected "
                       "65536, got 1000\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("conn 2 message 1 (session-chat.jsonl:7, server frame 1): /limits/maxContentBytes"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("2 difference(s)"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(read_file(results));
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["minor"], 3);
  EXPECT_EQ(doc["exitCode"], 1);
  EXPECT_EQ(doc["summary"]["differences"], 2);
  EXPECT_EQ(doc["summary"]["framesMatched"], 8);
  ASSERT_EQ(doc["differences"].size(), 2U);
  EXPECT_EQ(doc["differences"][0]["kind"], "different");
  EXPECT_EQ(doc["differences"][0]["paths"][0]["path"], "/limits/maxContentBytes");
  // Where it is: the connection's first server message, on the log's line 3.
  EXPECT_EQ(doc["differences"][0]["message"], 1);
  EXPECT_EQ(doc["differences"][0]["frame"], 1);  // results 1.0's name for it
  EXPECT_EQ(doc["differences"][0]["line"], 3);
  EXPECT_EQ(doc["differences"][0]["serverFrame"], 1);
  EXPECT_EQ(doc["differences"][0]["where"], "session-chat.jsonl:3");
}

TEST(Replay, ParallelReplaysAChatAsAChat) {
  Server serve({"serve"});
  ASSERT_FALSE(serve.url.empty());
  // userIds come from the URL; sessionIds are random, and limits are configuration.
  std::vector<std::string> args = {kData + "session-chat.jsonl", serve.url, "--parallel", "--ignore", "/sessionId",
                                   "--ignore", "/limits"};
  args.insert(args.end(), kChatPace.begin(), kChatPace.end());
  const ProcessResult r = replay(args);
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 2 connection(s), 4 frame(s) sent, 10 expected, 10 matched, 0 difference(s)\n");
}

TEST(Replay, OneAfterTheOtherTheChatMissesItsPartner) {
  Server serve({"serve"});
  ASSERT_FALSE(serve.url.empty());
  const ProcessResult r = replay({kData + "session-chat.jsonl", serve.url, "--ignore", "/sessionId", "--ignore",
                                  "/limits", "--timeout", "200ms"});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 message 3 (session-chat.jsonl:10, server frame 3): missing: expected text "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("got nothing (within 200ms)"), std::string::npos) << r.out;
}

TEST(Replay, CompareJsonIgnoresMemberOrderAndSpacing) {
  Server echo({"echo"});
  TempDir dir;
  const std::string log = dir.path() + "/json.jsonl";
  write_text(log, std::string(kHeader) + text_frame(10, "client", R"({"a":1,"b":[1,2]})") +
                      text_frame(20, "server", R"({ "b": [1, 2], "a": 1.0 })"));
  const ProcessResult bytes = replay({log, echo.url});
  EXPECT_TRUE(bytes.exited_with(1)) << bytes.out << bytes.err;
  EXPECT_NE(bytes.out.find("conn 1 message 1 (json.jsonl:4, server frame 1): expected text "), std::string::npos)
      << bytes.out;
  const ProcessResult json = replay({log, echo.url, "--compare", "json"});
  EXPECT_TRUE(json.exited_with(0)) << json.out << json.err;
}

TEST(Replay, UnorderedToleratesReorderingWithinTheWindow) {
  Server echo({"echo"});
  TempDir dir;
  const std::string log = dir.path() + "/order.jsonl";
  write_text(log, std::string(kHeader) + text_frame(10, "client", "A") + text_frame(11, "client", "B") +
                      text_frame(20, "server", "B") + text_frame(21, "server", "A"));
  const ProcessResult ordered = replay({log, echo.url});
  EXPECT_TRUE(ordered.exited_with(1)) << ordered.out << ordered.err;
  EXPECT_NE(ordered.out.find(R"(conn 1 message 1 (order.jsonl:5, server frame 1): expected text "B", got text "A")"),
            std::string::npos)
      << ordered.out;
  const ProcessResult unordered = replay({log, echo.url, "--unordered"});
  EXPECT_TRUE(unordered.exited_with(0)) << unordered.out << unordered.err;
  const ProcessResult narrow = replay({log, echo.url, "--unordered=1"});
  EXPECT_TRUE(narrow.exited_with(1)) << narrow.out << narrow.err;
  for (const char* bad : {"--unordered=-1", "--unordered=0x3", "--unordered=x"}) {
    const ProcessResult r = replay({log, echo.url, bad});
    EXPECT_TRUE(r.exited_with(64)) << bad << ": " << r.err;
  }
}

TEST(Replay, SpeedMaxSkipsTheRecordedPauses) {
  Server echo({"echo"});
  TempDir dir;
  const std::string log = dir.path() + "/slow.jsonl";
  std::string text = kHeader;
  constexpr std::uint64_t kMinute = 60'000'000;  // a minute between messages, as recorded
  for (std::uint64_t i = 1; i <= 5; ++i) {
    text += text_frame(i * kMinute, "client", "m" + std::to_string(i));
    text += text_frame(i * kMinute + 1, "server", "m" + std::to_string(i));
  }
  write_text(log, text);
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = replay({log, echo.url, "--speed", "max"});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // Not a positive plain decimal, and not 'max': a usage error before anything connects.
  for (const char* bad : {"fast", "0", "-1", "0x10", " 2", "1e3", "1.2.3", "inf", "nan", ""}) {
    EXPECT_TRUE(replay({log, echo.url, "--speed", bad}).exited_with(64)) << "--speed '" << bad << "'";
  }
}

TEST(Replay, ADifferentCloseCodeIsADifference) {
  Server echo({"echo"});
  TempDir dir;
  const std::string log = dir.path() + "/close.jsonl";
  // The client closed with 1000; the recorded server answered 4000 (echo answers with the same code).
  write_text(log, std::string(kHeader) + text_frame(10, "client", "x") + text_frame(20, "server", "x") +
                      R"({"type":"frame","conn":1,"t":30,"dir":"client","opcode":8,"bytes":"A+g="})" "\n"
                      R"({"type":"frame","conn":1,"t":31,"dir":"server","opcode":8,"bytes":"D6A="})" "\n"
                      R"({"type":"close","conn":1,"t":32,"code":1000,"by":"client","clean":true})" "\n");
  const ProcessResult r = replay({log, echo.url});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  // Where: the server's recorded close frame, the connection's second server frame.
  EXPECT_NE(r.out.find("conn 1 (close.jsonl:6, server frame 2): close: expected 4000 from the server, got 1000\n"),
            std::string::npos)
      << r.out;
}

// A log of format 1.2 has no close frame records: the close goes out at the end, as it did.
TEST(Replay, AnOldLogWithoutCloseFramesReplaysAsBefore) {
  Server echo({"echo"});
  ASSERT_FALSE(echo.url.empty());
  const ProcessResult r = replay({kData + "session-close-1.2.jsonl", echo.url, "--speed", "max"});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 1 connection(s), 2 frame(s) sent, 2 expected, 2 matched, 0 difference(s)\n");
}

TEST(Replay, HarFromChromeReplaysAgainstEcho) {
  Server echo({"echo"});
  const ProcessResult r = replay({"--har", kData + "chrome-echo.har", echo.url, "--speed", "max"});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 1 connection(s), 3 frame(s) sent, 3 expected, 3 matched, 0 difference(s)\n");
}

TEST(ServeLogMessages, ServesLogReplaysAgainstServe) {
  TempDir dir;
  const std::string log = dir.path() + "/serve.jsonl";
  {
    Server logging({"serve", "--log-messages", log});
    ASSERT_FALSE(logging.url.empty());
    std::vector<std::string> args = {kData + "session-chat.jsonl", logging.url, "--parallel", "--ignore", "/sessionId"};
    args.insert(args.end(), kChatPace.begin(), kChatPace.end());
    const ProcessResult r = replay(args);
    EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
    const ProcessResult stopped = logging.stop();
    EXPECT_TRUE(stopped.exited_with(0)) << stopped.err;
  }
  const std::string text = read_file(log);
  const auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 4U) << text;
  EXPECT_NE(lines[0].find(R"("capturedBy":"serve")"), std::string::npos) << lines[0];
  EXPECT_NE(text.find(R"("url":"ws://127.0.0.1:)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(["Sec-WebSocket-Key","[redacted]"])"), std::string::npos) << text;
  EXPECT_NE(lines.back().find(R"({"type":"end",)"), std::string::npos) << lines.back();
  // 14 messages and each connection's two close frames (session log 1.3).
  EXPECT_NE(lines.back().find(R"("connections":2,"frames":18})"), std::string::npos) << lines.back();
  EXPECT_NE(text.find(R"("dir":"client","opcode":8,"fin":true,"rsv":0,"compressed":false,"len":2,"bytes":"A+g=")"),
            std::string::npos)
      << text;
  // The close record names serve's answer to the client's close (1.2's reply), as other writers do.
  EXPECT_NE(text.find(R"("by":"client","clean":true,"reply":1000,"replyReason":""})"), std::string::npos) << text;
  // What serve logged is itself a recording: it replays against a fresh server.
  Server fresh({"serve"});
  const ProcessResult again = replay({log, fresh.url, "--parallel", "--ignore", "/sessionId"});
  EXPECT_TRUE(again.exited_with(0)) << again.out << again.err;
  EXPECT_EQ(again.out, "replay: 2 connection(s), 4 frame(s) sent, 10 expected, 10 matched, 0 difference(s)\n");
}

// Session log 1.4: serve's own refusals (here a missing token) are refused records, and its log
// replays against a server that refuses the same way.
TEST(ServeLogMessages, RefusedHandshakesAreLoggedAndReplayAsRefusals) {
  TempDir dir;
  const std::string log = dir.path() + "/serve.jsonl";
  {
    Server logging({"serve", "--token", "s3cret", "--log-messages", log});
    ASSERT_FALSE(logging.url.empty());
    const ProcessResult refused = run_process({kBinary, "connect", logging.url + "/?userId=ann"});
    EXPECT_TRUE(refused.exited_with(69)) << refused.err;
    const ProcessResult stopped = logging.stop();
    EXPECT_TRUE(stopped.exited_with(0)) << stopped.err;
  }
  const std::string text = read_file(log);
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 3U) << text;  // header, refused, end
  const auto refused = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(refused["type"], "refused") << text;
  EXPECT_EQ(refused["by"], "server");
  EXPECT_EQ(refused["status"], 401);
  EXPECT_EQ(refused["reason"], "Unauthorized");
  EXPECT_NE(refused["url"].get<std::string>().find("/?userId=ann"), std::string::npos) << text;
  EXPECT_NE(lines.back().find(R"("refused":1})"), std::string::npos) << lines.back();
  Server same({"serve", "--token", "another"});
  const ProcessResult matched = replay({log, same.url});
  EXPECT_TRUE(matched.exited_with(0)) << matched.out << matched.err;
  EXPECT_NE(matched.out.find("1 refusal(s) expected, 1 matched, 0 difference(s)"), std::string::npos) << matched.out;
  Server open({"serve"});
  const ProcessResult opened = replay({log, open.url});
  EXPECT_TRUE(opened.exited_with(1)) << opened.out << opened.err;
  EXPECT_NE(opened.out.find("conn 1 (serve.jsonl:2): handshake: expected 401 Unauthorized, got 101 Switching Protocols"),
            std::string::npos)
      << opened.out;
}

TEST(ReplayExit, CorruptLogExits65NamingTheLine) {
  Server echo({"echo"});
  const ProcessResult r = replay({kData + "session-corrupt.jsonl", echo.url});
  EXPECT_TRUE(r.exited_with(65)) << r.out << r.err;
  EXPECT_NE(r.err.find("session-corrupt.jsonl:4: invalid JSON"), std::string::npos) << r.err;
}

// A log that turns corrupt after some exchanges: what came before is compared, the bad line is
// named (65), and the server's answers to messages sent before the bad line are not called
// "extra" for want of the records past it. Alone and with --parallel.
TEST(ReplayExit, ALogThatBreaksOffMidwayReportsTheLineAndNoFalseExtras) {
  Server echo({"echo"});
  TempDir dir;
  const std::string log = dir.path() + "/broken.jsonl";
  write_text(log, std::string(kHeader) + text_frame(1000, "client", "hello") + text_frame(1100, "server", "hello") +
                      text_frame(1200, "client", "third") + R"({"type":"frame","conn":1,"t":1300,"dir":"serv)" "\n" +
                      text_frame(1400, "client", "fourth"));
  for (const bool parallel : {false, true}) {
    std::vector<std::string> args = {log, echo.url};
    if (parallel) args.push_back("--parallel");
    const ProcessResult r = replay(args);
    EXPECT_TRUE(r.exited_with(65)) << r.out << r.err;
    EXPECT_NE(r.err.find("broken.jsonl:6: invalid JSON"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("extra"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 expected, 1 matched, 0 difference(s)"), std::string::npos) << r.out;
  }
}

TEST(ReplayExit, TruncatedLogReplaysWithAWarning) {
  Server echo({"echo"});
  const ProcessResult r = replay({kData + "session-truncated.jsonl", echo.url});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_NE(r.err.find("session-truncated.jsonl:7: truncated last line ignored"), std::string::npos) << r.err;
}

TEST(ReplayExit, MissingLogExits66) {
  const ProcessResult r = replay({"/nonexistent/session.jsonl", "ws://127.0.0.1:9/"});
  EXPECT_TRUE(r.exited_with(66)) << r.out << r.err;
  EXPECT_NE(r.err.find("wsreplay: error: /nonexistent/session.jsonl: "), std::string::npos) << r.err;
}

// A results file that cannot be created says why, as every other file error does, before anything
// is replayed.
TEST(ReplayExit, AResultsFileThatCannotBeCreatedExits73WithTheReason) {
  const ProcessResult r = replay({kData + "session-echo.jsonl", "ws://127.0.0.1:9/", "-o", "/nonexistent/results.json"});
  EXPECT_TRUE(r.exited_with(73)) << r.out << r.err;
  EXPECT_NE(r.err.find("wsreplay: error: /nonexistent/results.json: No such file or directory"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
}

// --timeout 0 would call every expected message missing before it could come: 8 made-up
// differences for a session that matches. It is refused, as --speed 0 is.
TEST(ReplayExit, AZeroTimeoutIsAUsageError) {
  const ProcessResult r = replay({kData + "session-echo.jsonl", "ws://127.0.0.1:9/", "--timeout", "0"});
  EXPECT_TRUE(r.exited_with(64)) << r.out << r.err;
  EXPECT_NE(r.err.find("wsreplay: error: --timeout: "), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(ReplayExit, UnreachableTargetExits69) {
  std::uint16_t port = 0;
  {
    Listener closed;
    port = closed.port();
  }
  const ProcessResult r = replay({kData + "session-echo.jsonl", "ws://127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(r.exited_with(69)) << r.out << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
}

// `wstool record` in front of `wstool echo`: what the replay's client actually put on the wire
// is in the proxy's log, frame for frame.
struct RecordedEcho {
  Server echo{std::vector<std::string>{"echo"}};
  TempDir dir;
  std::string log_path = dir.path() + "/wire.jsonl";
  Server proxy{std::vector<std::string>{"record", "--upstream", echo.url, "-o", log_path, "-q"}};
  std::vector<nlohmann::json> stop_and_read() {
    proxy.stop();
    std::vector<nlohmann::json> records;
    for (const std::string& line : lines_of(read_file(log_path))) {
      if (!line.empty()) records.push_back(nlohmann::json::parse(line));
    }
    return records;
  }
};

constexpr const char* kRecordHeader =
    R"({"type":"header","version":1,"minor":1,"tool":"wstool 0.1.0","started":"2026-11-26T04:05:06.000Z","capturedBy":"record"})"
    "\n"
    R"({"type":"open","conn":1,"t":0,"url":"ws://127.0.0.1:9/"})"
    "\n";

TEST(ReplayFidelity, FragmentsPingsAndPongsGoOutAsRecorded) {
  RecordedEcho wire;
  ASSERT_FALSE(wire.proxy.url.empty());
  const std::string log = wire.dir.path() + "/fragments.jsonl";
  write_text(log, std::string(kRecordHeader) +
                      // A text message in two fragments, answered whole by the server.
                      R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"fin":false,"text":"hel"})" "\n"
                      R"({"type":"frame","conn":1,"t":1100,"dir":"client","opcode":0,"fin":true,"text":"lo"})" "\n"
                      R"({"type":"frame","conn":1,"t":1200,"dir":"server","opcode":1,"text":"hello"})" "\n"
                      // A binary message with a ping between its fragments.
                      R"({"type":"frame","conn":1,"t":2000,"dir":"client","opcode":2,"fin":false,"bytes":"/w=="})" "\n"
                      R"({"type":"frame","conn":1,"t":2100,"dir":"client","opcode":9,"text":"p1"})" "\n"
                      R"({"type":"frame","conn":1,"t":2150,"dir":"server","opcode":10,"text":"p1"})" "\n"
                      R"({"type":"frame","conn":1,"t":2200,"dir":"client","opcode":0,"fin":true,"bytes":"/g=="})" "\n"
                      R"({"type":"frame","conn":1,"t":2300,"dir":"server","opcode":2,"bytes":"//4="})" "\n"
                      // An unsolicited pong (a heartbeat).
                      R"({"type":"frame","conn":1,"t":3000,"dir":"client","opcode":10,"text":"beat"})" "\n"
                      R"({"type":"close","conn":1,"t":4000,"code":1000,"reason":"","by":"client","clean":true})" "\n");
  const ProcessResult r = replay({log, wire.proxy.url, "--speed", "max", "--compare-control"});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 1 connection(s), 6 frame(s) sent, 3 expected, 3 matched, 0 difference(s)\n");

  struct Seen {
    int opcode;
    bool fin;
    std::string payload;  // text, or base64 bytes (the binary payloads here are not UTF-8)
  };
  std::vector<Seen> client_frames;
  bool first_compressed = false;
  for (const auto& rec : wire.stop_and_read()) {
    if (rec["type"] != "frame" || rec["dir"] != "client" || rec["opcode"] == 8) continue;
    if (client_frames.empty()) first_compressed = rec["compressed"].get<bool>();
    client_frames.push_back({rec["opcode"].get<int>(), rec["fin"].get<bool>(),
                             rec.contains("text") ? rec["text"].get<std::string>() : rec["bytes"].get<std::string>()});
  }
  const std::vector<std::tuple<int, bool, std::string>> expected = {
      {1, false, "hel"}, {0, true, "lo"}, {2, false, "/w=="}, {9, true, "p1"}, {0, true, "/g=="}, {10, true, "beat"}};
  ASSERT_EQ(client_frames.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(client_frames[i].opcode, std::get<0>(expected[i])) << i;
    EXPECT_EQ(client_frames[i].fin, std::get<1>(expected[i])) << i;
    EXPECT_EQ(client_frames[i].payload, std::get<2>(expected[i])) << i;
  }
  // Compressed anew per message across its fragments (the replay negotiated permessage-deflate).
  EXPECT_TRUE(first_compressed);
}

TEST(ReplayFidelity, AnInvalidClientFrameIsSentRawAndTheServersCloseIsExpected) {
  RecordedEcho wire;
  ASSERT_FALSE(wire.proxy.url.empty());
  const std::string log = wire.dir.path() + "/invalid.jsonl";
  write_text(log, std::string(kRecordHeader) +
                      R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"ok"})" "\n"
                      R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"ok"})" "\n"
                      R"({"type":"frame","conn":1,"t":2000,"dir":"client","opcode":1,"rsv":2,"text":"bad","invalid":"reserved bits set without a negotiated extension"})" "\n"
                      R"({"type":"close","conn":1,"t":2100,"code":1002,"reason":"","by":"client","clean":false})" "\n");
  const ProcessResult r = replay({log, wire.proxy.url, "--speed", "max", "--timeout", "2s"});
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 1 connection(s), 2 frame(s) sent, 1 expected, 1 matched, 0 difference(s)\n");
  // The proxy saw the raw frame, logged it as invalid, and failed the connection with 1002.
  bool invalid_logged = false;
  bool closed_1002 = false;
  for (const auto& rec : wire.stop_and_read()) {
    if (rec["type"] == "frame" && rec.contains("invalid")) {
      invalid_logged = rec["dir"] == "client" && rec["rsv"] == 2 && rec["text"] == "bad";
    }
    if (rec["type"] == "close") closed_1002 = rec["code"] == 1002;
  }
  EXPECT_TRUE(invalid_logged);
  EXPECT_TRUE(closed_1002);
}

TEST(ReplayFidelity, AnotherCloseCodeAfterTheInvalidFrameIsADifference) {
  // The recording says the server failed the connection with 1007; echo fails it with 1002.
  Server echo({"echo"});
  ASSERT_FALSE(echo.url.empty());
  TempDir dir;
  const std::string log = dir.path() + "/invalid.jsonl";
  write_text(log, std::string(kRecordHeader) +
                      R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"rsv":2,"text":"x","invalid":"reserved bits set without a negotiated extension"})" "\n"
                      R"({"type":"close","conn":1,"t":1100,"code":1007,"reason":"","by":"client","clean":false})" "\n");
  const ProcessResult r = replay({log, echo.url, "--speed", "max", "--timeout", "2s"});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("close: expected 1007 from the server, got 1002"), std::string::npos) << r.out;
}

// One frame off a raw socket, unmasked; nullopt on timeout or EOF.
struct RawFrame {
  std::uint8_t opcode = 0;
  std::string payload;
};
std::optional<RawFrame> read_raw_frame(Socket& s, std::string& buffer, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    ws::FrameHeader h;
    const auto* data = reinterpret_cast<const std::uint8_t*>(buffer.data());
    if (ws::decode_header(data, buffer.size(), h) == ws::HeaderStatus::kComplete &&
        buffer.size() >= h.header_length + h.payload_length) {
      RawFrame f{h.opcode, buffer.substr(h.header_length, static_cast<std::size_t>(h.payload_length))};
      if (h.masked) ws::apply_mask(reinterpret_cast<std::uint8_t*>(f.payload.data()), f.payload.size(), h.mask_key, 0);
      buffer.erase(0, h.header_length + static_cast<std::size_t>(h.payload_length));
      return f;
    }
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    const std::string more = s.read_some(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (more.empty() && s.eof()) return std::nullopt;
    buffer += more;
  }
}

// Accepts one connection on `listener` and answers its opening handshake with a 101 (no
// subprotocol; `extensions` as Sec-WebSocket-Extensions when given), as a hand-played server;
// nullopt when none came or it was not one.
std::optional<Socket> accept_websocket(Listener& listener, const std::string& extensions = "") {
  auto accepted = listener.accept(5s);
  if (!accepted) return std::nullopt;
  const std::string request = accepted->read_until("\r\n\r\n", 5s);
  const std::string key_line = "Sec-WebSocket-Key: ";
  const std::size_t at = request.find(key_line);
  if (at == std::string::npos) return std::nullopt;
  const std::string key = request.substr(at + key_line.size(), request.find("\r\n", at) - at - key_line.size());
  const std::string extension_line =
      extensions.empty() ? "" : "Sec-WebSocket-Extensions: " + extensions + "\r\n";
  if (!accepted->send_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " + ws::accept_key_for(key) + "\r\n" + extension_line + "\r\n")) {
    return std::nullopt;
  }
  return accepted;
}

// Replays `log_text` (written as NAME in a temp dir, replay's `flags` added) against a
// hand-played server that answers the client's first message with `reply` (raw frames, in one
// write; `extensions` negotiated), then the replay's close with `before_its_close` (raw frames
// the server still sends after the replay's close, RFC 6455 5.5.1) and its own close, 1000, in
// one write. The replay's result; a failed step is a test failure.
ProcessResult replay_against_raw_server(const std::string& name, const std::string& log_text, const std::string& reply,
                                        std::vector<std::string> flags, const std::string& extensions = "",
                                        const std::string& before_its_close = "") {
  Listener listener;
  TempDir dir;
  const std::string log = dir.path() + "/" + name;
  write_text(log, log_text);
  std::vector<std::string> argv = {kBinary, "replay", log, "ws://127.0.0.1:" + std::to_string(listener.port())};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Process replayer(argv);
  const auto failed = [&](const char* step) {
    ADD_FAILURE() << "the hand-played server: " << step;
    return replayer.wait(5s);
  };
  auto accepted = accept_websocket(listener, extensions);
  if (!accepted) return failed("no WebSocket connection");
  Socket& conn = *accepted;
  std::string buffer;
  // The client's message (not read when compressed).
  if (!read_raw_frame(conn, buffer, 5s)) return failed("no client message");
  if (!conn.send_all(reply)) return failed("cannot send the reply");
  auto close = read_raw_frame(conn, buffer, 5s);
  if (!close || close->opcode != ws::opcode::kClose) return failed("no close frame from the replay");
  if (!conn.send_all(before_its_close + ws_frame(ws::opcode::kClose, close_payload(1000, ""), false))) {
    return failed("cannot close");
  }
  conn.close();
  return replayer.wait(5s);
}

// A message left unfinished at the close (issue 6): the same in the recording and the replay is a
// note; one only the server leaves unfinished is a difference, never silence.
constexpr const char* kUnfinishedLogTail =
    R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hi"})" "\n"
    R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"fin":false,"text":"par"})" "\n"
    R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true,"reply":1000,"replyReason":""})" "\n";

TEST(ReplayClose, TheSameUnfinishedMessageIsANoteAndOneOnlyTheServerLeavesIsADifference) {
  const ProcessResult same = replay_against_raw_server("unfinished.jsonl", std::string(kRecordHeader) + kUnfinishedLogTail,
                                                       ws_frame(ws::opcode::kText, "par", false, false),
                                                       {"--speed", "max", "--timeout", "1s"});
  EXPECT_TRUE(same.exited_with(0)) << same.out << same.err;
  EXPECT_NE(same.err.find("conn 1: the server left a message unfinished at the close, as in the recording"),
            std::string::npos)
      << same.err;

  const ProcessResult only_server = replay_against_raw_server(
      "finished.jsonl",
      std::string(kRecordHeader) +
          R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hi"})" "\n"
          R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"whole"})" "\n"
          R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true})" "\n",
      ws_frame(ws::opcode::kText, "who", false, false), {"--speed", "max", "--timeout", "1s"});
  EXPECT_TRUE(only_server.exited_with(1)) << only_server.out << only_server.err;
  EXPECT_NE(only_server.out.find("unfinished message: the server left text \"who\" (1 frame(s) without the final one) "
                                 "unfinished at the close, not in the recording"),
            std::string::npos)
      << only_server.out;
}

// A log of record 1.2 says how the server answered the client's close: another answer differs.
TEST(ReplayClose, TheRecordedReplyToTheClientsCloseIsExpected) {
  const ProcessResult r = replay_against_raw_server(
      "reply.jsonl",
      std::string(kRecordHeader) +
          R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hi"})" "\n"
          R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"hi"})" "\n"
          R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true,"reply":4001,"replyReason":"done"})" "\n",
      ws_frame(ws::opcode::kText, "hi", false), {"--speed", "max", "--timeout", "1s"});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("close: expected 4001 \"done\" from the server, got 1000"), std::string::npos) << r.out;
}

// A recording in which the client closed first and the server still sent "late" before its own
// close (session log 1.3: the close frames in place).
constexpr const char* kLateAfterCloseLog =
    R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hi"})" "\n"
    R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"hi"})" "\n"
    R"({"type":"frame","conn":1,"t":1500,"dir":"client","opcode":8,"bytes":"A+g="})" "\n"
    R"({"type":"frame","conn":1,"t":1600,"dir":"server","opcode":1,"text":"late"})" "\n"
    R"({"type":"frame","conn":1,"t":1700,"dir":"server","opcode":8,"bytes":"A+g="})" "\n"
    R"({"type":"close","conn":1,"t":1700,"code":1000,"reason":"","by":"client","clean":true})" "\n";

// Replays kLateAfterCloseLog with `timeout` against a hand-played server, up to the replay's
// close frame: `server` is then the server's side of the connection, the rest is the test's.
struct ReplayAtItsClose {
  Listener listener;
  TempDir dir;
  std::optional<Process> replayer;
  std::optional<Socket> server;

  explicit ReplayAtItsClose(const char* timeout) {
    const std::string log = dir.path() + "/late.jsonl";
    write_text(log, std::string(kRecordHeader) + kLateAfterCloseLog);
    replayer.emplace(std::vector<std::string>{kBinary, "replay", log, "ws://127.0.0.1:" + std::to_string(listener.port()),
                                              "--speed", "max", "--timeout", timeout, "--no-compress"});
    server = accept_websocket(listener);
    std::string buffer;
    if (!server || !read_raw_frame(*server, buffer, 5s) || !server->send_all(ws_frame(ws::opcode::kText, "hi", false))) {
      ADD_FAILURE() << "the hand-played server: no message to answer";
      server.reset();
      return;
    }
    const auto close = read_raw_frame(*server, buffer, 5s);
    if (!close || close->opcode != ws::opcode::kClose) {
      ADD_FAILURE() << "the hand-played server: no close frame from the replay";
      server.reset();
    }
  }
};

// After the client's close (sent in place), each server message recorded after it is waited
// for up to --timeout, as before the close: not cut off by the engine's 5 s closing handshake.
TEST(ReplayClose, AServerMessageAfterTheClientsCloseIsWaitedForUpToTimeout) {
  ReplayAtItsClose at("9s");
  ASSERT_TRUE(at.server);
  // Longer than the engine's close timeout, well within --timeout.
  std::this_thread::sleep_for(6s);
  ASSERT_TRUE(at.server->send_all(ws_frame(ws::opcode::kText, "late", false) +
                                  ws_frame(ws::opcode::kClose, close_payload(1000, ""), false)));
  at.server->close();
  const ProcessResult r = at.replayer->wait(10s);
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_NE(r.out.find("2 expected, 2 matched, 0 difference(s)\n"), std::string::npos) << r.out;
}

// The same log against a server that goes silent after the client's close: "late" is missing
// after --timeout, and the server's close after --timeout more, said as such.
TEST(ReplayClose, AServerSilentAfterTheClientsCloseIsCutOffAfterTimeout) {
  ReplayAtItsClose at("1s");
  ASSERT_TRUE(at.server);
  // Silent, the connection held open: replay ends it.
  const ProcessResult r = at.replayer->wait(10s);
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("missing: expected text \"late\", got nothing (within 1s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("close: expected 1000 from the server, got 1006 (closing handshake timed out)"),
            std::string::npos)
      << r.out;
}

TEST(ReplayFidelity, ARecordedPongWaitsForTheServersPingAndIsTheOnlyAnswer) {
  // A hand-played server: it pings only after a pause, and must get the recorded pong after its
  // ping, not before; a log of `record` holds every pong, so replay adds none of its own.
  Listener listener;
  TempDir dir;
  const std::string log = dir.path() + "/pong.jsonl";
  write_text(log, std::string(kRecordHeader) +
                      R"({"type":"frame","conn":1,"t":500,"dir":"client","opcode":1,"text":"go"})" "\n"
                      R"({"type":"frame","conn":1,"t":1000,"dir":"server","opcode":9,"text":"hb"})" "\n"
                      R"({"type":"frame","conn":1,"t":1100,"dir":"client","opcode":10,"text":"hb"})" "\n"
                      R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true})" "\n");
  Process replayer({kBinary, "replay", log, "ws://127.0.0.1:" + std::to_string(listener.port()), "--speed", "max"});
  auto accepted = accept_websocket(listener);
  ASSERT_TRUE(accepted);
  Socket& conn = *accepted;
  std::string buffer;
  auto go = read_raw_frame(conn, buffer, 5s);
  ASSERT_TRUE(go);
  EXPECT_EQ(go->payload, "go");
  // At --speed max the pong is due at once, yet it waits for the ping.
  EXPECT_FALSE(read_raw_frame(conn, buffer, 300ms)) << "the pong went out before the ping";
  ASSERT_TRUE(conn.send_all(ws_frame(ws::opcode::kPing, "hb", false)));
  auto pong = read_raw_frame(conn, buffer, 5s);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, ws::opcode::kPong);
  EXPECT_EQ(pong->payload, "hb");
  // Then the recorded close, and no second pong before it.
  auto close = read_raw_frame(conn, buffer, 5s);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, ws::opcode::kClose);
  ASSERT_TRUE(conn.send_all(ws_frame(ws::opcode::kClose, close_payload(1000, ""), false)));
  conn.close();
  const ProcessResult r = replayer.wait(5s);
  EXPECT_TRUE(r.exited_with(0)) << r.out << r.err;
  EXPECT_EQ(r.out, "replay: 1 connection(s), 2 frame(s) sent, 0 expected, 0 matched, 0 difference(s)\n");
}

// ---- --compare-frames: the server's frames, not only its messages ---------------------------

TEST(ReplayFrames, AReplyRecordedInThreeFragmentsAndSentWholeDiffersOnlyWithCompareFrames) {
  Server echo({"echo"});  // answers each message whole, in one frame
  ASSERT_FALSE(echo.url.empty());
  TempDir dir;
  const std::string log = dir.path() + "/frag.jsonl";
  write_text(log, std::string(kRecordHeader) +
                      R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hello"})" "\n"
                      R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"hello"})" "\n"
                      R"({"type":"frame","conn":1,"t":2000,"dir":"client","opcode":1,"text":"abcdefghi"})" "\n"
                      R"({"type":"frame","conn":1,"t":2100,"dir":"server","opcode":1,"fin":false,"text":"abc"})" "\n"
                      R"({"type":"frame","conn":1,"t":2101,"dir":"server","opcode":0,"fin":false,"text":"def"})" "\n"
                      R"({"type":"frame","conn":1,"t":2102,"dir":"server","opcode":0,"fin":true,"text":"ghi"})" "\n"
                      R"({"type":"close","conn":1,"t":3000,"code":1000,"reason":"","by":"client","clean":true})" "\n");
  // The recorded server did not compress; echo would, so the replay does not offer it.
  const ProcessResult messages = replay({log, echo.url, "--speed", "max", "--no-compress"});
  EXPECT_TRUE(messages.exited_with(0)) << messages.out << messages.err;

  const std::string results = dir.path() + "/results.json";
  const ProcessResult frames =
      replay({log, echo.url, "--speed", "max", "--no-compress", "--compare-frames", "-o", results});
  EXPECT_TRUE(frames.exited_with(1)) << frames.out << frames.err;
  EXPECT_NE(frames.out.find("conn 1 message 2 (frag.jsonl:6, server frame 2): fragmentation: recorded as 3 frames "
                            "(3+3+3 bytes), got 1 frame (9 bytes)\n"),
            std::string::npos)
      << frames.out;
  EXPECT_NE(frames.out.find("2 expected, 1 matched, 1 difference(s)"), std::string::npos) << frames.out;
  // The line named is the message's first frame: `sed -n 6p` shows it.
  const auto lines = lines_of(read_file(log));
  ASSERT_GE(lines.size(), 6U);
  EXPECT_NE(lines[5].find(R"("fin":false,"text":"abc")"), std::string::npos) << lines[5];

  const auto doc = nlohmann::json::parse(read_file(results));
  EXPECT_EQ(doc["minor"], 3);
  EXPECT_EQ(doc["options"]["compareFrames"], true);
  EXPECT_EQ(doc["summary"]["differencesByKind"]["fragmentation"], 1);
  ASSERT_EQ(doc["differences"].size(), 1U);
  const auto& d = doc["differences"][0];
  EXPECT_EQ(d["kind"], "fragmentation");
  EXPECT_EQ(d["message"], 2);
  EXPECT_EQ(d["line"], 6);
  EXPECT_EQ(d["serverFrame"], 2);
  EXPECT_EQ(d["where"], "frag.jsonl:6");
  EXPECT_EQ(d["description"], "recorded as 3 frames (3+3+3 bytes), got 1 frame (9 bytes)");
  ASSERT_EQ(d["expectedFrames"].size(), 3U);
  EXPECT_EQ(d["expectedFrames"][0], nlohmann::json::parse(
                                        R"({"opcode":1,"fin":false,"rsv":0,"compressed":false,"len":3,"line":6})"));
  EXPECT_EQ(d["expectedFrames"][2]["opcode"], 0);
  EXPECT_EQ(d["expectedFrames"][2]["fin"], true);
  EXPECT_EQ(d["expectedFrames"][2]["line"], 8);
  ASSERT_EQ(d["gotFrames"].size(), 1U);
  EXPECT_EQ(d["gotFrames"][0], nlohmann::json::parse(R"({"opcode":1,"fin":true,"rsv":0,"compressed":false,"len":9})"));

  // Compressed by echo now and not when recorded: nothing comparable in those frames, and it says so.
  const ProcessResult compressed = replay({log, echo.url, "--speed", "max", "--compare-frames"});
  EXPECT_TRUE(compressed.exited_with(0)) << compressed.out << compressed.err;
  EXPECT_NE(compressed.err.find("conn 1: the frames of 2 message(s) were not compared"), std::string::npos)
      << compressed.err;
}

TEST(ReplayFrames, AServerThatNowFragmentsAReplyRecordedWholeDiffers) {
  const ProcessResult r = replay_against_raw_server(
      "split.jsonl",
      std::string(kRecordHeader) +
          R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"abcdefghi"})" "\n"
          R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"abcdefghi"})" "\n"
          R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true})" "\n",
      ws_frame(ws::opcode::kText, "abcd", false, false) + ws_frame(ws::opcode::kContinuation, "efghi", false, true),
      {"--speed", "max", "--compare-frames"});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 message 1 (split.jsonl:4, server frame 1): fragmentation: recorded as 1 frame (9 bytes), "
                       "got 2 frames (4+5 bytes)\n"),
            std::string::npos)
      << r.out;
}

// A recording where the server compressed its replies, as `wstool record` logs them: the open
// record says permessage-deflate, the payloads are decompressed, RSV1 on each first frame.
constexpr const char* kCompressedLog =
    R"({"type":"header","version":1,"minor":1,"tool":"wstool 0.1.0","started":"2026-11-26T04:05:06.000Z","capturedBy":"record"})" "\n"
    R"({"type":"open","conn":1,"t":0,"url":"ws://127.0.0.1:9/","extensions":"permessage-deflate"})" "\n"
    R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"rsv":4,"compressed":true,"text":"abcdefghi"})" "\n"
    R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"fin":false,"rsv":4,"compressed":true,"text":"abcd"})" "\n"
    R"({"type":"frame","conn":1,"t":1101,"dir":"server","opcode":0,"fin":true,"compressed":true,"text":"efghi"})" "\n"
    R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true})" "\n";

TEST(ReplayFrames, CompressedRepliesCompareTheirFrameCountNotTheInflatedSizes) {
  Server echo({"echo"});  // compresses its whole-message answer when permessage-deflate is negotiated
  ASSERT_FALSE(echo.url.empty());
  TempDir dir;
  const std::string log = dir.path() + "/deflate.jsonl";
  write_text(log, kCompressedLog);
  const ProcessResult r = replay({log, echo.url, "--speed", "max", "--compare-frames"});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 message 1 (deflate.jsonl:4, server frame 1): fragmentation: recorded as 2 compressed "
                       "frames, got 1 compressed frame\n"),
            std::string::npos)
      << r.out;
}

TEST(ReplayFrames, AServerThatNegotiatedCompressionAndNoLongerCompressesDiffers) {
  // The same two fragments, uncompressed (RSV1 clear) though compression was negotiated.
  const ProcessResult r = replay_against_raw_server(
      "deflate.jsonl", kCompressedLog,
      ws_frame(ws::opcode::kText, "abcd", false, false) + ws_frame(ws::opcode::kContinuation, "efghi", false, true),
      {"--speed", "max", "--compare-frames"}, "permessage-deflate");
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 message 1 (deflate.jsonl:4, server frame 1): compression: recorded compressed (RSV1), "
                       "got it uncompressed\n"),
            std::string::npos)
      << r.out;
}

TEST(ReplayFrames, LogsThatKeepMessagesNotFramesAreRefused) {
  TempDir dir;
  const std::string log = dir.path() + "/connect.jsonl";
  write_text(log, std::string(kHeader) + text_frame(10, "client", "x") + text_frame(20, "server", "x"));
  const ProcessResult connect_log = replay({log, "ws://127.0.0.1:9/", "--compare-frames"});
  EXPECT_TRUE(connect_log.exited_with(64)) << connect_log.out << connect_log.err;
  EXPECT_NE(connect_log.err.find("--compare-frames: " + log + " was written by connect, which keeps whole messages"),
            std::string::npos)
      << connect_log.err;
  const ProcessResult har = replay({"--har", kData + "chrome-echo.har", "ws://127.0.0.1:9/", "--compare-frames"});
  EXPECT_TRUE(har.exited_with(64)) << har.out << har.err;
}

// An extra server message names where it came in: the recorded message before it and its own
// place among the messages received, in the text and in the results document.
TEST(ReplayDifferences, AnExtraMessageNamesTheRecordedMessageItFollowed) {
  TempDir dir;
  const std::string results = dir.path() + "/results.json";
  const ProcessResult r = replay_against_raw_server(
      "extra.jsonl",
      std::string(kRecordHeader) +
          R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hi"})" "\n"
          R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"one"})" "\n"
          R"({"type":"frame","conn":1,"t":1200,"dir":"server","opcode":1,"text":"two"})" "\n"
          R"({"type":"close","conn":1,"t":301200,"code":1000,"reason":"","by":"client","clean":true})" "\n",
      ws_frame(ws::opcode::kText, "one", false) + ws_frame(ws::opcode::kText, "two", false) +
          ws_frame(ws::opcode::kText, "surprise", false),
      // At the recorded pace (the close is due 300 ms on); for --speed max, where the close goes
      // out in the read that brought the replies, see AnExtraInTheSameReadAsTheLastReplyIsADifference.
      {"--no-compress", "-o", results});
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 received message 3, after message 2 (extra.jsonl:5, server frame 2): extra: got text "
                       "\"surprise\", not in the recording\n"),
            std::string::npos)
      << r.out;
  const auto doc = nlohmann::json::parse(read_file(results));
  EXPECT_EQ(doc["minor"], 3);
  ASSERT_EQ(doc["differences"].size(), 1U);
  const auto& d = doc["differences"][0];
  EXPECT_EQ(d["kind"], "extra");
  EXPECT_EQ(d["received"], 3);
  EXPECT_FALSE(d.contains("message"));
  EXPECT_EQ(d["after"], nlohmann::json::parse(R"({"message":2,"where":"extra.jsonl:5","line":5,"serverFrame":2})"));
}

// One recorded exchange, "hi" answered with "one", then the client's close: what the next two
// tests replay against servers that say more.
std::string one_reply_log() {
  return std::string(kRecordHeader) +
         R"({"type":"frame","conn":1,"t":1000,"dir":"client","opcode":1,"text":"hi"})" "\n"
         R"({"type":"frame","conn":1,"t":1100,"dir":"server","opcode":1,"text":"one"})" "\n"
         R"({"type":"close","conn":1,"t":1200,"code":1000,"reason":"","by":"client","clean":true})" "\n";
}

// At --speed max the replay closes as soon as the last expected reply matches, in the middle of
// the read that brought it: an extra message behind it in that read is still the server's output,
// and a difference (it used to be parsed after the close and dropped: "0 difference(s)", exit 0).
TEST(ReplayDifferences, AnExtraInTheSameReadAsTheLastReplyIsADifference) {
  for (const std::vector<std::string>& order : {std::vector<std::string>{}, std::vector<std::string>{"--unordered"}}) {
    std::vector<std::string> flags = {"--speed", "max", "--no-compress"};
    flags.insert(flags.end(), order.begin(), order.end());
    // Both frames in one write: they come in one read.
    const ProcessResult r = replay_against_raw_server(
        "same-read.jsonl", one_reply_log(),
        ws_frame(ws::opcode::kText, "one", false) + ws_frame(ws::opcode::kText, "surprise", false), flags);
    EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
    EXPECT_NE(r.out.find("conn 1 received message 2, after message 1 (same-read.jsonl:4, server frame 1): extra: got "
                         "text \"surprise\", not in the recording\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("1 expected, 1 matched, 1 difference(s)\n"), std::string::npos) << r.out;
  }
}

// RFC 6455 5.5.1: after the replay's close frame the server may send data until its own close.
// That is what the server said, so it is compared (here: extra); its pings count only with
// --compare-control, as everywhere else.
TEST(ReplayDifferences, DataTheServerSendsAfterTheReplaysCloseIsCompared) {
  const std::string after_close = ws_frame(ws::opcode::kPing, "p", false) + ws_frame(ws::opcode::kText, "late", false);
  const ProcessResult r = replay_against_raw_server("after-close.jsonl", one_reply_log(),
                                                    ws_frame(ws::opcode::kText, "one", false),
                                                    {"--speed", "max", "--no-compress"}, "", after_close);
  EXPECT_TRUE(r.exited_with(1)) << r.out << r.err;
  EXPECT_NE(r.out.find("conn 1 received message 2, after message 1 (after-close.jsonl:4, server frame 1): extra: got "
                       "text \"late\", not in the recording\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 expected, 1 matched, 1 difference(s)\n"), std::string::npos) << r.out;

  const ProcessResult control = replay_against_raw_server(
      "after-close.jsonl", one_reply_log(), ws_frame(ws::opcode::kText, "one", false),
      {"--speed", "max", "--no-compress", "--compare-control"}, "", after_close);
  EXPECT_TRUE(control.exited_with(1)) << control.out << control.err;
  EXPECT_NE(control.out.find("conn 1 received message 2, after message 1 (after-close.jsonl:4, server frame 1): extra: "
                             "got ping \"p\", not in the recording\n"),
            std::string::npos)
      << control.out;
  EXPECT_NE(control.out.find("conn 1 received message 3, after message 1 (after-close.jsonl:4, server frame 1): extra: "
                             "got text \"late\", not in the recording\n"),
            std::string::npos)
      << control.out;
  EXPECT_NE(control.out.find("1 expected, 1 matched, 2 difference(s)\n"), std::string::npos) << control.out;
}


// SIGINT ends a replay at once (1001 to the server, exit 130), also while the connection waits
// for a server message under a long --timeout and the reader has already read the whole log.
TEST(ReplayExit, SigintClosesAtOnceWhileAMessageIsAwaited) {
  Listener listener;
  TempDir dir;
  const std::string log = dir.path() + "/waits.jsonl";
  write_text(log, std::string(kRecordHeader) +
                      R"({"type":"frame","conn":1,"t":500,"dir":"server","opcode":1,"text":"welcome"})" "\n"
                      R"({"type":"frame","conn":1,"t":600,"dir":"client","opcode":1,"text":"hi"})" "\n"
                      R"({"type":"close","conn":1,"t":2000,"code":1000,"reason":"","by":"client","clean":true})" "\n");
  Process replayer({kBinary, "replay", log, "ws://127.0.0.1:" + std::to_string(listener.port()), "--timeout", "60s"});
  auto accepted = accept_websocket(listener);
  ASSERT_TRUE(accepted);
  Socket& conn = *accepted;
  std::string buffer;
  // "hi" waits for the welcome, which never comes.
  EXPECT_FALSE(read_raw_frame(conn, buffer, 300ms));
  replayer.signal(SIGINT);
  auto close = read_raw_frame(conn, buffer, 5s);
  ASSERT_TRUE(close) << "no close within 5s of SIGINT (--timeout is 60s)";
  EXPECT_EQ(close->opcode, ws::opcode::kClose);
  EXPECT_EQ(close->payload.substr(0, 2), close_payload(1001, ""));
  ASSERT_TRUE(conn.send_all(ws_frame(ws::opcode::kClose, close_payload(1001, ""), false)));
  conn.close();
  const ProcessResult r = replayer.wait(5s);
  EXPECT_TRUE(r.exited_with(130)) << r.exit_code << r.out << r.err;
}

}  // namespace
}  // namespace wstool::test
