// Tests for lib/har: Chrome's HAR WebSocket entries read into session records, and the
// conversions both ways (what `wstool record --convert` does).
#include "lib/har.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "tests/support/run_process.h"

namespace wstool::har {
namespace {

using session::Direction;
using session::FrameRecord;
using session::OpenRecord;

const std::string kFixture = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/chrome-echo.har";

TEST(Har, ReadsChromesWebSocketEntry) {
  HarSession s;
  const Error error = read_har(kFixture, s);
  ASSERT_FALSE(error) << error.message;
  EXPECT_EQ(s.header.captured_by, "har");
  EXPECT_EQ(s.header.started, "2026-11-26T04:05:06.120Z");
  ASSERT_EQ(s.size(), 7U);
  const auto open = std::get<OpenRecord>(s.record(0));
  EXPECT_EQ(open.conn, 1U);
  EXPECT_EQ(open.t_us, 0U);
  EXPECT_EQ(open.url, "ws://127.0.0.1:9001/");
  EXPECT_EQ(open.status, 101);
  EXPECT_EQ(open.extensions, "permessage-deflate");
  EXPECT_EQ(ws::header_value(open.request, "Origin"), "http://127.0.0.1:9001");
  const auto first = std::get<FrameRecord>(s.record(1));
  EXPECT_EQ(first.dir, Direction::kClient);
  EXPECT_EQ(first.payload, "hello from chrome");
  EXPECT_NEAR(static_cast<double>(first.t_us), 131417.0, 2.0);  // 06.251417 - 06.120
  const auto reply = std::get<FrameRecord>(s.record(4));
  EXPECT_EQ(reply.dir, Direction::kServer);
  EXPECT_EQ(reply.payload, "{\"op\":\"sub\",\"topic\":\"t\xC3\xA9\"}");
  const auto binary = std::get<FrameRecord>(s.record(6));
  EXPECT_EQ(binary.opcode, 2);
  EXPECT_EQ(binary.payload, std::string("\x00\x01\x02\xFF", 4));
}

TEST(Har, MalformedEntriesAreBadData) {
  test::TempDir dir;
  const std::string path = dir.path() + "/bad.har";
  std::ofstream(path) << R"({"log":{"entries":[{"request":{"url":"ws://h/"},"startedDateTime":"2026-01-01T00:00:00Z",)"
                         R"("_webSocketMessages":[{"type":"send","time":1.5,"opcode":2,"data":"!!"}]}]}})";
  HarSession s;
  Error error = read_har(path, s);
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_EQ(error.message, path + ": entry 1: message 1: \"data\" is not valid base64");

  std::ofstream(path, std::ios::trunc) << R"({"not":"har"})";
  error = read_har(path, s);
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_EQ(read_har(dir.path() + "/none.har", s).code, Errc::kMissingInput);
}

// The reader streams: whatever is not a WebSocket entry's handshake or message (bodies, deep
// initiator stacks, other entries) is skipped, in any member order, and entries merge by time.
TEST(Har, SkipsEverythingButWebSocketTrafficAndMergesEntriesByTime) {
  test::TempDir dir;
  const std::string path = dir.path() + "/mixed.har";
  std::string deep;  // Chrome's async initiator stacks nest "parent" in "parent"...
  for (int i = 0; i < 40; ++i) deep += R"({"parent":)";
  deep += "null";
  for (int i = 0; i < 40; ++i) deep += "}";
  std::ofstream(path)
      << R"({"log":{"version":"1.2","pages":[{"id":"p"}],"entries":[)"
      // An HTTP entry with a body and a deep initiator: skipped.
      << R"({"startedDateTime":"2026-01-01T00:00:00.000Z","request":{"url":"http://h/a.png","headers":[]},)"
      << R"("response":{"status":200,"content":{"text":")" << std::string(100000, 'A') << R"("}},"_initiator":)"
      << deep << "},"
      // Messages before the request, opcode after data; times interleave with the next entry.
      << R"({"_webSocketMessages":[{"data":"AAE=","type":"receive","time":1767225601.5,"opcode":2},)"
      << R"({"time":1767225603.0,"type":"send","data":"late","opcode":1}],)"
      << R"("request":{"headers":[{"name":"Origin","value":"http://h"},{"name":7,"value":"x"}],"url":"ws://h/one"},)"
      << R"("response":{"status":101,"headers":[{"name":"Sec-WebSocket-Protocol","value":"chat"}]},)"
      << R"("startedDateTime":"2026-01-01T00:00:01.000Z"},)"
      << R"({"startedDateTime":"2026-01-01T00:00:00.500Z","_resourceType":"websocket","request":{"url":"ws://h/two"},)"
      << R"("_webSocketMessages":[{"type":"send","time":1767225602.0,"opcode":1,"data":"middle"}]}]}})";
  HarSession s;
  const Error error = read_har(path, s);
  ASSERT_FALSE(error) << error.message;
  EXPECT_EQ(s.header.started, "2026-01-01T00:00:00.500Z");
  ASSERT_EQ(s.size(), 5U);
  const auto two = std::get<OpenRecord>(s.record(0));
  EXPECT_EQ(two.conn, 2U);
  EXPECT_EQ(two.url, "ws://h/two");
  EXPECT_EQ(two.t_us, 0U);
  const auto one = std::get<OpenRecord>(s.record(1));
  EXPECT_EQ(one.conn, 1U);
  EXPECT_EQ(one.t_us, 500000U);
  EXPECT_EQ(one.subprotocol, "chat");
  ASSERT_EQ(one.request.size(), 1U);  // the header whose name is not a string is left out
  EXPECT_EQ(one.request[0].value, "http://h");
  const auto binary = std::get<FrameRecord>(s.record(2));
  EXPECT_EQ(binary.conn, 1U);
  EXPECT_EQ(binary.payload, std::string("\x00\x01", 2));
  EXPECT_EQ(binary.t_us, 1000000U);
  EXPECT_EQ(std::get<FrameRecord>(s.record(3)).payload, "middle");
  const auto late = std::get<FrameRecord>(s.record(4));
  EXPECT_EQ(late.payload, "late");
  EXPECT_EQ(late.dir, Direction::kClient);
}

TEST(Har, MalformedJsonSaysWhere) {
  test::TempDir dir;
  const std::string path = dir.path() + "/cut.har";
  std::ofstream(path) << R"({"log":{"entries":[{"request":{"url":"ws://h/"})";  // 47 bytes, cut
  HarSession s;
  const Error error = read_har(path, s);
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_NE(error.message.find(path + ": not a HAR file: invalid JSON at byte 47: "), std::string::npos)
      << error.message;
  std::ofstream(path, std::ios::trunc) << R"({"log":{"entries":[{"request":{"url":"ws://h/"},)"
                                          R"("_webSocketMessages":[{"type":"send","time":1,"opcode":1,"data":"x"},5]}]}})";
  EXPECT_EQ(read_har(path, s).message, path + ": entry 1: message 2: not an object");
  std::ofstream(path, std::ios::trunc) << R"({"log":{"entries":[{"_webSocketMessages":[{"type":"send"}]}]}})";
  EXPECT_EQ(read_har(path, s).message, path + ": entry 1: no request.url");
}

TEST(Har, ConvertsBothWaysKeepingMessagesAndRedactingSecrets) {
  test::TempDir dir;
  const std::string log = dir.path() + "/from-har.jsonl";
  ASSERT_FALSE(convert_session_file(kFixture, log));
  const std::string log_text = test::read_file(log);
  EXPECT_EQ(log_text.find("abc123"), std::string::npos) << "the Cookie header must be redacted";
  EXPECT_NE(log_text.find("\"capturedBy\":\"har\""), std::string::npos);

  const std::string har = dir.path() + "/back.har";
  ASSERT_FALSE(convert_session_file(log, har));
  HarSession again;
  ASSERT_FALSE(read_har(har, again));
  HarSession original;
  ASSERT_FALSE(read_har(kFixture, original));
  ASSERT_EQ(again.size(), original.size());
  for (std::size_t i = 1; i < original.size(); ++i) {
    const auto a = std::get<FrameRecord>(original.record(i));
    const auto b = std::get<FrameRecord>(again.record(i));
    EXPECT_EQ(a.payload, b.payload) << i;
    EXPECT_EQ(a.dir, b.dir) << i;
    EXPECT_EQ(a.opcode, b.opcode) << i;
    EXPECT_NEAR(static_cast<double>(a.t_us), static_cast<double>(b.t_us), 1000.0) << i;
  }
  EXPECT_EQ(convert_session_file(log, dir.path() + "/x.jsonl").code, Errc::kUsage);
}

TEST(Har, SessionLogFragmentsAreJoinedAndControlFramesLeftOut) {
  test::TempDir dir;
  const std::string log = dir.path() + "/frag.jsonl";
  std::ofstream(log)
      << R"({"type":"header","version":1,"started":"2026-11-26T04:05:06.000Z","capturedBy":"record"})" "\n"
      << R"({"type":"open","conn":4,"t":0,"url":"ws://h/"})" "\n"
      << R"({"type":"frame","conn":4,"t":10,"dir":"client","opcode":1,"fin":false,"text":"hel"})" "\n"
      << R"({"type":"frame","conn":4,"t":11,"dir":"client","opcode":9,"text":"p"})" "\n"
      << R"({"type":"frame","conn":4,"t":12,"dir":"client","opcode":0,"fin":true,"text":"lo"})" "\n"
      << R"({"type":"close","conn":4,"t":20,"code":1000,"by":"client","clean":true})" "\n";
  const std::string har = dir.path() + "/frag.har";
  ASSERT_FALSE(convert_session_file(log, har));
  HarSession s;
  ASSERT_FALSE(read_har(har, s));
  ASSERT_EQ(s.size(), 2U);
  EXPECT_EQ(std::get<FrameRecord>(s.record(1)).payload, "hello");
}

TEST(Har, InterleavedConnectionsEachKeepTheirOwnMessagesInOrder) {
  // The writer spools messages and writes each entry whole: connections that overlap in the log
  // (and one that never sends anything) still come out as separate entries, in id order.
  test::TempDir dir;
  const std::string log = dir.path() + "/two.jsonl";
  {
    std::ofstream out(log);
    out << R"({"type":"header","version":1,"started":"2026-11-26T04:05:06.000Z","capturedBy":"record"})" "\n"
        << R"({"type":"open","conn":2,"t":0,"url":"ws://h/b"})" "\n"
        << R"({"type":"open","conn":1,"t":1,"url":"ws://h/a"})" "\n"
        << R"({"type":"open","conn":3,"t":2,"url":"ws://h/c"})" "\n";
    for (int i = 0; i < 50; ++i) {
      out << R"({"type":"frame","conn":1,"t":)" << 10 + i << R"(,"dir":"client","opcode":1,"text":"a)" << i << "\"}\n"
          << R"({"type":"frame","conn":2,"t":)" << 10 + i << R"(,"dir":"server","opcode":2,"bytes":"AAE="})" "\n";
    }
    // A frame that broke the protocol was never relayed: it has no place in HAR.
    out << R"({"type":"frame","conn":1,"t":90,"dir":"client","opcode":1,"rsv":2,"text":"bad","invalid":"reserved bits"})" "\n";
  }
  const std::string har = dir.path() + "/two.har";
  ASSERT_FALSE(convert_session_file(log, har));
  HarSession s;
  ASSERT_FALSE(read_har(har, s));
  std::vector<std::string> a_texts;
  std::size_t b_count = 0;
  std::map<std::uint64_t, std::string> urls;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const session::Record r = s.record(i);
    if (const auto* o = std::get_if<OpenRecord>(&r)) urls[o->conn] = o->url;
    if (const auto* f = std::get_if<FrameRecord>(&r)) {
      if (urls[f->conn] == "ws://h/a") a_texts.push_back(f->payload);
      if (urls[f->conn] == "ws://h/b") {
        ++b_count;
        EXPECT_EQ(f->payload, std::string("\x00\x01", 2));
        EXPECT_EQ(f->dir, Direction::kServer);
      }
    }
  }
  ASSERT_EQ(urls.size(), 3U);
  EXPECT_EQ(urls[1], "ws://h/a");  // entries in connection-id order
  EXPECT_EQ(urls[2], "ws://h/b");
  EXPECT_EQ(urls[3], "ws://h/c");
  ASSERT_EQ(a_texts.size(), 50U);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a_texts[static_cast<std::size_t>(i)], "a" + std::to_string(i));
  EXPECT_EQ(b_count, 50U);
  // No spool file is left beside the output.
  EXPECT_EQ(test::read_file(har).find("spool"), std::string::npos);
}

}  // namespace
}  // namespace wstool::har
