// Tests for lib/har: Chrome's HAR WebSocket entries read into session records, and the
// conversions both ways (what `wstool record --convert` does).
#include "lib/har.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <vector>

#include "tests/support/run_process.h"

namespace wstool::har {
namespace {

using session::Direction;
using session::FrameRecord;
using session::OpenRecord;

const std::string kFixture = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/chrome-echo.har";

// The i-th record of a session, read from its start (the session streams; tests are small).
session::Record record_at(HarSession& s, std::size_t i) {
  s.seek({});
  Error error;
  std::optional<session::Record> r;
  for (std::size_t n = 0; n <= i; ++n) r = s.next(error);
  EXPECT_FALSE(error) << error.message;
  EXPECT_TRUE(r.has_value()) << "no record " << i;
  return r ? *r : session::Record{};
}

TEST(Har, ReadsChromesWebSocketEntry) {
  HarSession s;
  const Error error = read_har(kFixture, s);
  ASSERT_FALSE(error) << error.message;
  EXPECT_EQ(s.header.captured_by, "har");
  EXPECT_EQ(s.header.started, "2026-11-26T04:05:06.120Z");
  ASSERT_EQ(s.size(), 7U);
  const auto open = std::get<OpenRecord>(record_at(s, 0));
  EXPECT_EQ(open.conn, 1U);
  EXPECT_EQ(open.t_us, 0U);
  EXPECT_EQ(open.url, "ws://127.0.0.1:9001/");
  EXPECT_EQ(open.status, 101);
  EXPECT_EQ(open.extensions, "permessage-deflate");
  EXPECT_EQ(ws::header_value(open.request, "Origin"), "http://127.0.0.1:9001");
  const auto first = std::get<FrameRecord>(record_at(s, 1));
  EXPECT_EQ(first.dir, Direction::kClient);
  EXPECT_EQ(first.payload, "hello from chrome");
  EXPECT_NEAR(static_cast<double>(first.t_us), 131417.0, 2.0);  // 06.251417 - 06.120
  const auto reply = std::get<FrameRecord>(record_at(s, 4));
  EXPECT_EQ(reply.dir, Direction::kServer);
  EXPECT_EQ(reply.payload, "{\"op\":\"sub\",\"topic\":\"t\xC3\xA9\"}");
  const auto binary = std::get<FrameRecord>(record_at(s, 6));
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
  const auto two = std::get<OpenRecord>(record_at(s, 0));
  EXPECT_EQ(two.conn, 2U);
  EXPECT_EQ(two.url, "ws://h/two");
  EXPECT_EQ(two.t_us, 0U);
  const auto one = std::get<OpenRecord>(record_at(s, 1));
  EXPECT_EQ(one.conn, 1U);
  EXPECT_EQ(one.t_us, 500000U);
  EXPECT_EQ(one.subprotocol, "chat");
  ASSERT_EQ(one.request.size(), 1U);  // the header whose name is not a string is left out
  EXPECT_EQ(one.request[0].value, "http://h");
  const auto binary = std::get<FrameRecord>(record_at(s, 2));
  EXPECT_EQ(binary.conn, 1U);
  EXPECT_EQ(binary.payload, std::string("\x00\x01", 2));
  EXPECT_EQ(binary.t_us, 1000000U);
  EXPECT_EQ(std::get<FrameRecord>(record_at(s, 3)).payload, "middle");
  const auto late = std::get<FrameRecord>(record_at(s, 4));
  EXPECT_EQ(late.payload, "late");
  EXPECT_EQ(late.dir, Direction::kClient);
}

// Session log 1.4: a WebSocket request answered with another status than 101 (and so without
// messages) is a refused record, whichever way Chrome marks it; its body from the content.
TEST(Har, ARefusedWebSocketEntryIsARefusedRecord) {
  test::TempDir dir;
  const std::string path = dir.path() + "/refused.har";
  std::ofstream(path)
      << R"({"log":{"entries":[)"
      // An HTTP answer to a plain request: not a WebSocket entry, skipped.
      << R"({"startedDateTime":"2026-01-01T00:00:00.000Z","request":{"url":"http://h/","headers":[]},)"
      << R"("response":{"status":403,"content":{"text":"no"}}},)"
      // Upgrade: websocket in the request, 401 with a text body.
      << R"({"startedDateTime":"2026-01-01T00:00:01.000Z","request":{"url":"ws://h/a","headers":[)"
      << R"({"name":"Upgrade","value":"websocket"},{"name":"Authorization","value":"Bearer s3cret"}]},)"
      << R"("response":{"status":401,"statusText":"Unauthorized",)"
      << R"("headers":[{"name":"WWW-Authenticate","value":"Bearer"}],)"
      << R"("content":{"size":9,"mimeType":"text/plain","text":"no token\n"}}},)"
      // _resourceType websocket, 503 with a base64 body, the proxy's own answer.
      << R"({"startedDateTime":"2026-01-01T00:00:02.000Z","_resourceType":"websocket","_refusedBy":"proxy",)"
      << R"("request":{"url":"ws://h/b"},)"
      << R"("response":{"status":503,"content":{"size":2,"encoding":"base64","text":"AP8="}}},)"
      // Status 0 (no answer at all, as Chrome writes it): an open as before, not a refusal.
      << R"({"startedDateTime":"2026-01-01T00:00:03.000Z","_resourceType":"websocket","request":{"url":"ws://h/c"},)"
      << R"("response":{"status":0},"_webSocketMessages":[]}]}})";
  HarSession s;
  const Error error = read_har(path, s);
  ASSERT_FALSE(error) << error.message;
  ASSERT_EQ(s.size(), 3U);
  const auto a = std::get<session::RefusedRecord>(record_at(s, 0));
  EXPECT_EQ(a.conn, 1U);
  EXPECT_EQ(a.t_us, 0U);
  EXPECT_EQ(a.url, "ws://h/a");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.reason, "Unauthorized");
  EXPECT_EQ(a.body, "no token\n");
  EXPECT_EQ(a.body_length, 0U);
  EXPECT_EQ(a.by, session::Refuser::kServer);
  ASSERT_EQ(a.response.size(), 1U);
  const auto b = std::get<session::RefusedRecord>(record_at(s, 1));
  EXPECT_EQ(b.conn, 2U);
  EXPECT_EQ(b.t_us, 1000000U);
  EXPECT_EQ(b.status, 503);
  EXPECT_EQ(b.body, std::string("\x00\xFF", 2));
  EXPECT_EQ(b.by, session::Refuser::kProxy);
  EXPECT_EQ(std::get<OpenRecord>(record_at(s, 2)).conn, 3U);

  // To a log (secrets redacted, the end counting the refusals), back to HAR, and again.
  const std::string log = dir.path() + "/refused.jsonl";
  ASSERT_FALSE(write_session_log(s, log));
  const std::string text = test::read_file(log);
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("refused":2)"), std::string::npos) << text;
  const std::string har = dir.path() + "/again.har";
  ASSERT_FALSE(write_har(log, har));
  HarSession again;
  ASSERT_FALSE(read_har(har, again));
  ASSERT_EQ(again.size(), 3U);
  const auto a2 = std::get<session::RefusedRecord>(record_at(again, 0));
  EXPECT_EQ(a2.status, 401);
  EXPECT_EQ(a2.reason, "Unauthorized");
  EXPECT_EQ(a2.body, "no token\n");
  const auto b2 = std::get<session::RefusedRecord>(record_at(again, 1));
  EXPECT_EQ(b2.body, std::string("\x00\xFF", 2));
  EXPECT_EQ(b2.by, session::Refuser::kProxy);
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
    const auto a = std::get<FrameRecord>(record_at(original, i));
    const auto b = std::get<FrameRecord>(record_at(again, i));
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
  EXPECT_EQ(std::get<FrameRecord>(record_at(s, 1)).payload, "hello");
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
    const session::Record r = record_at(s, i);
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


// Session log 1.3 puts each close frame where it came; HAR keeps it there as an opcode 8 message
// (base64 code and reason), and reading the HAR back gives the same frame record.
TEST(Har, CloseFramesKeepTheirPlaceBothWays) {
  test::TempDir dir;
  const std::string log = dir.path() + "/close.jsonl";
  std::ofstream(log)
      << R"({"type":"header","version":1,"minor":3,"started":"2026-11-26T04:05:06.000Z","capturedBy":"record"})" "\n"
      << R"({"type":"open","conn":1,"t":0,"url":"ws://h/"})" "\n"
      << R"({"type":"frame","conn":1,"t":10,"dir":"client","opcode":8,"bytes":"A+hieWU="})" "\n"
      << R"({"type":"frame","conn":1,"t":20,"dir":"server","opcode":1,"text":"last words"})" "\n"
      << R"({"type":"frame","conn":1,"t":25,"dir":"server","opcode":9,"text":"ping"})" "\n"
      << R"({"type":"frame","conn":1,"t":30,"dir":"server","opcode":8,"bytes":"D6Fkb25l"})" "\n"
      << R"({"type":"close","conn":1,"t":40,"code":1000,"reason":"bye","by":"client","clean":true,"reply":4001})" "\n";
  const std::string har = dir.path() + "/close.har";
  ASSERT_FALSE(convert_session_file(log, har));
  const std::string har_text = test::read_file(har);
  EXPECT_NE(har_text.find(R"({"data":"A+hieWU=","opcode":8,)"), std::string::npos) << har_text;
  HarSession s;
  ASSERT_FALSE(read_har(har, s));
  ASSERT_EQ(s.size(), 4U);  // the open, the client's close, the message, the server's close (no ping)
  const auto client_close = std::get<FrameRecord>(record_at(s, 1));
  EXPECT_EQ(client_close.opcode, 8);
  EXPECT_EQ(client_close.dir, Direction::kClient);
  EXPECT_EQ(client_close.payload, session::close_frame_payload(1000, "bye"));
  EXPECT_EQ(std::get<FrameRecord>(record_at(s, 2)).payload, "last words");
  const auto server_close = std::get<FrameRecord>(record_at(s, 3));
  EXPECT_EQ(server_close.opcode, 8);
  EXPECT_EQ(server_close.dir, Direction::kServer);
  EXPECT_EQ(session::parse_close_frame_payload(server_close.payload).code, 4001);
  EXPECT_EQ(session::parse_close_frame_payload(server_close.payload).reason, "done");

  // And on into a session log again: the close frames in the same place.
  const std::string again = dir.path() + "/again.jsonl";
  ASSERT_FALSE(convert_session_file(har, again));
  const std::string text = test::read_file(again);
  const std::size_t client_at = text.find(R"("dir":"client","opcode":8)");
  const std::size_t words_at = text.find("last words");
  const std::size_t server_at = text.find(R"("dir":"server","opcode":8)");
  ASSERT_NE(client_at, std::string::npos) << text;
  EXPECT_LT(client_at, words_at);
  EXPECT_LT(words_at, server_at);
}

// The messages are spooled, not held: an entry whose messages go back in time (a hand-edited
// file) is put in order (file order within equal times), and a message seen again after seek()
// is read again from the spool.
TEST(Har, MessagesOutOfOrderAreSortedAndSeekRereads) {
  test::TempDir dir;
  const std::string path = dir.path() + "/order.har";
  std::ofstream(path)
      << R"({"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00.000Z","_resourceType":"websocket",)"
      << R"("request":{"url":"ws://h/"},"_webSocketMessages":[)"
      << R"({"type":"send","time":1767225603.0,"opcode":1,"data":"third"},)"
      << R"({"type":"send","time":1767225601.0,"opcode":1,"data":"first"},)"
      << R"({"type":"receive","time":1767225603.0,"opcode":1,"data":"fourth"},)"
      << R"({"type":"receive","time":1767225602.0,"opcode":1,"data":"second"}]}]}})";
  HarSession s;
  const Error error = read_har(path, s);
  ASSERT_FALSE(error) << error.message;
  ASSERT_EQ(s.size(), 5U);
  std::vector<std::string> payloads;
  Error read_error;
  session::SessionReader::Position second;
  while (auto r = s.next(read_error)) {
    if (const auto* f = std::get_if<FrameRecord>(&*r)) {
      payloads.push_back(f->payload);
      if (f->payload == "first") second = s.position();
    }
  }
  EXPECT_FALSE(read_error);
  EXPECT_EQ(payloads, (std::vector<std::string>{"first", "second", "third", "fourth"}));
  s.seek(second);
  auto again = s.next(read_error);
  ASSERT_TRUE(again);
  EXPECT_EQ(std::get<FrameRecord>(*again).payload, "second");
  EXPECT_EQ(s.position().line, 3U);
}

}  // namespace
}  // namespace wstool::har
