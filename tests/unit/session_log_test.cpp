// Tests for the session log (lib/session_log): the line format both ways, redaction, rotation,
// the streaming reader's errors and tolerances, and the writer under concurrent use.
#include "lib/session_log.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "tests/support/run_process.h"

namespace wstool::session {
namespace {

using test::TempDir;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

constexpr const char* kHeaderLine =
    R"({"type":"header","version":1,"tool":"wstool 0.1.0","started":"2026-11-26T04:05:06.123Z","capturedBy":"record"})";

Record round_trip(const Record& in) {
  const std::string line = to_json_line(in);
  Record out;
  std::string error;
  EXPECT_TRUE(from_json_line(line, out, error)) << line << ": " << error;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  return out;
}

TEST(SessionLogFormat, FrameTextIsWrittenAsText) {
  FrameRecord f;
  f.conn = 3;
  f.t_us = 1500;
  f.dir = Direction::kServer;
  f.opcode = 1;
  f.payload = "h\xC3\xA9llo \"q\"\n";
  EXPECT_EQ(to_json_line(f),
            R"({"type":"frame","conn":3,"t":1500,"dir":"server","opcode":1,"fin":true,"rsv":0,)"
            R"("compressed":false,"len":11,"text":"h)"
            "\xC3\xA9"
            R"(llo \"q\"\n"})");
  const auto back = std::get<FrameRecord>(round_trip(f));
  EXPECT_EQ(back.payload, f.payload);
  EXPECT_EQ(back.dir, Direction::kServer);
  EXPECT_EQ(back.conn, 3U);
  EXPECT_EQ(back.t_us, 1500U);
}

TEST(SessionLogFormat, AnInvalidFrameSaysWhyAndValidOnesSayNothing) {
  FrameRecord f;
  f.conn = 2;
  f.opcode = 1;
  f.rsv = 2;
  f.payload = "x";
  EXPECT_EQ(to_json_line(f).find("invalid"), std::string::npos);  // 1.0 readers see the same line
  f.invalid = "reserved bits set without a negotiated extension";
  const std::string line = to_json_line(f);
  EXPECT_NE(line.find(R"("invalid":"reserved bits set without a negotiated extension")"), std::string::npos) << line;
  EXPECT_EQ(std::get<FrameRecord>(round_trip(f)).invalid, f.invalid);
  // A log from before 1.1 has neither "minor" nor "invalid": minor 0, every frame valid.
  Record header;
  std::string error;
  ASSERT_TRUE(from_json_line(kHeaderLine, header, error)) << error;
  EXPECT_EQ(std::get<HeaderRecord>(header).minor, 0);
  EXPECT_EQ(std::get<HeaderRecord>(round_trip(header)).minor, 0);
}

TEST(SessionLogFormat, FrameBinaryIsWrittenAsBase64) {
  FrameRecord f;
  f.opcode = 2;
  f.fin = false;
  f.rsv = 4;
  f.compressed = true;
  f.payload = std::string("\x00\xFF\x80", 3);
  const std::string line = to_json_line(f);
  EXPECT_NE(line.find(R"("bytes":"AP+A")"), std::string::npos) << line;
  EXPECT_EQ(line.find("\"text\""), std::string::npos);
  const auto back = std::get<FrameRecord>(round_trip(f));
  EXPECT_EQ(back.payload, f.payload);
  EXPECT_FALSE(back.fin);
  EXPECT_EQ(back.rsv, 4);
  EXPECT_TRUE(back.compressed);
  EXPECT_EQ(back.opcode, 2);
}

TEST(SessionLogFormat, ControlCharactersAreEscaped) {
  FrameRecord f;
  f.payload = std::string("a\x01\x1F\tb\0c", 7);
  const std::string line = to_json_line(f);
  EXPECT_NE(line.find(R"(a\u0001\u001f\tb\u0000c)"), std::string::npos) << line;
  EXPECT_EQ(std::get<FrameRecord>(round_trip(f)).payload, f.payload);
}

TEST(SessionLogFormat, OpenCloseEndHeaderRoundTrip) {
  OpenRecord o;
  o.conn = 7;
  o.t_us = 12;
  o.url = "ws://127.0.0.1:9/chat?x=1";
  o.subprotocol = "chat.v1";
  o.extensions = "permessage-deflate";
  o.request = {{"Host", "127.0.0.1:9"}, {"X-Odd", "a\"b"}};
  o.response = {{"Upgrade", "websocket"}};
  o.status = 101;
  const auto ob = std::get<OpenRecord>(round_trip(o));
  EXPECT_EQ(ob.url, o.url);
  EXPECT_EQ(ob.subprotocol, "chat.v1");
  EXPECT_EQ(ob.extensions, "permessage-deflate");
  ASSERT_EQ(ob.request.size(), 2U);
  EXPECT_EQ(ob.request[1].value, "a\"b");
  EXPECT_EQ(ob.response[0].name, "Upgrade");

  CloseRecord c{7, 99, 4001, "bye", Closer::kServer, true, std::nullopt, ""};
  const auto cb = std::get<CloseRecord>(round_trip(c));
  EXPECT_EQ(cb.code, 4001);
  EXPECT_EQ(cb.reason, "bye");
  EXPECT_EQ(cb.by, Closer::kServer);
  EXPECT_TRUE(cb.clean);
  EXPECT_FALSE(cb.reply_code);  // none written, none read
  EXPECT_EQ(to_json_line(c).find("reply"), std::string::npos);
  // (1.2) The answer to the first close, when one came.
  CloseRecord answered{7, 99, 1000, "", Closer::kClient, true, std::uint16_t{4001}, "done"};
  const auto ab = std::get<CloseRecord>(round_trip(answered));
  ASSERT_TRUE(ab.reply_code);
  EXPECT_EQ(*ab.reply_code, 4001);
  EXPECT_EQ(ab.reply_reason, "done");

  const auto eb = std::get<EndRecord>(round_trip(EndRecord{100, 2, 30}));
  EXPECT_EQ(eb.frames, 30U);
  EXPECT_EQ(eb.connections, 2U);
  EXPECT_EQ(eb.refused, 0U);
  EXPECT_EQ(to_json_line(EndRecord{100, 2, 30}).find("refused"), std::string::npos);  // (1.4) only when any were
  EXPECT_EQ(std::get<EndRecord>(round_trip(EndRecord{100, 2, 30, 3})).refused, 3U);

  HeaderRecord h;
  h.tool = "wstool 9";
  h.started = "2026-01-01T00:00:00.000Z";
  h.captured_by = "serve";
  const std::string hl = to_json_line(h);
  EXPECT_EQ(hl.rfind(R"({"type":"header","version":1,)", 0), 0U) << hl;
  EXPECT_EQ(std::get<HeaderRecord>(round_trip(h)).captured_by, "serve");
}

// 1.4: a refused handshake, its body as text when it is UTF-8, else base64.
TEST(SessionLogFormat, ARefusedRecordRoundTripsWithItsBody) {
  RefusedRecord r;
  r.conn = 4;
  r.t_us = 77;
  r.url = "ws://h/x";
  r.request = {{"X-Trace", "7"}};
  r.status = 401;
  r.reason = "Unauthorized";
  r.response = {{"WWW-Authenticate", "Bearer"}};
  r.body = "no token\n";
  EXPECT_EQ(to_json_line(r),
            R"({"type":"refused","conn":4,"t":77,"by":"server","url":"ws://h/x","request":[["X-Trace","7"]],)"
            R"("status":401,"reason":"Unauthorized","response":[["WWW-Authenticate","Bearer"]],"body":"no token\n"})");
  const auto back = std::get<RefusedRecord>(round_trip(r));
  EXPECT_EQ(back.conn, 4U);
  EXPECT_EQ(back.t_us, 77U);
  EXPECT_EQ(back.by, Refuser::kServer);
  EXPECT_EQ(back.url, "ws://h/x");
  ASSERT_EQ(back.request.size(), 1U);
  EXPECT_EQ(back.request[0].value, "7");
  EXPECT_EQ(back.status, 401);
  EXPECT_EQ(back.reason, "Unauthorized");
  ASSERT_EQ(back.response.size(), 1U);
  EXPECT_EQ(back.body, "no token\n");
  EXPECT_EQ(back.body_length, 0U);

  r.by = Refuser::kProxy;
  r.status = 502;
  r.body = std::string("\x00\xFF", 2);
  const std::string line = to_json_line(r);
  EXPECT_NE(line.find(R"("by":"proxy")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("bodyBytes":"AP8=")"), std::string::npos) << line;
  const auto binary = std::get<RefusedRecord>(round_trip(r));
  EXPECT_EQ(binary.by, Refuser::kProxy);
  EXPECT_EQ(binary.body, r.body);
}

TEST(SessionLogFormat, ALongRefusalBodyIsCutWithItsWholeLength) {
  RefusedRecord r;
  r.status = 403;
  // 2-byte characters from an odd offset: the cap falls inside one, and the text stays text.
  r.body = "x" + std::string();
  while (r.body.size() < kMaxRefusalBodyBytes + 100) r.body += "\xC3\xA9";
  const auto back = std::get<RefusedRecord>(round_trip(r));
  EXPECT_EQ(back.body.size(), kMaxRefusalBodyBytes - 1);
  EXPECT_EQ(back.body, r.body.substr(0, kMaxRefusalBodyBytes - 1));
  EXPECT_EQ(back.body_length, r.body.size());
  // What a client did not read of a longer body: the length its headers declared.
  r.body = "short";
  r.body_length = declared_body_length({{"Content-Length", " 90000 "}}, r.body.size());
  EXPECT_EQ(r.body_length, 90000U);
  EXPECT_EQ(std::get<RefusedRecord>(round_trip(r)).body_length, 90000U);
  EXPECT_EQ(declared_body_length({{"Content-Length", "5"}}, 5), 0U);
  EXPECT_EQ(declared_body_length({{"Content-Length", "x"}}, 0), 0U);
  EXPECT_EQ(declared_body_length({}, 0), 0U);
  EXPECT_EQ(to_json_line(RefusedRecord{}).find("bodyLength"), std::string::npos);
}

TEST(SessionLogFormat, RefusedRecordErrorsNameTheField) {
  Record r;
  std::string error;
  EXPECT_FALSE(from_json_line(R"({"type":"refused","conn":1})", r, error));
  EXPECT_EQ(error, "refused: missing \"status\"");
  EXPECT_FALSE(from_json_line(R"({"type":"refused","conn":1,"status":401,"by":"cdn"})", r, error));
  EXPECT_EQ(error, "refused: \"by\" must be \"server\" or \"proxy\"");
  EXPECT_FALSE(from_json_line(R"({"type":"refused","conn":1,"status":401,"body":"a","bodyBytes":"YQ=="})", r, error));
  EXPECT_EQ(error, "refused: needs at most one of \"body\" and \"bodyBytes\"");
  EXPECT_FALSE(from_json_line(R"({"type":"refused","conn":1,"status":401,"bodyBytes":"!"})", r, error));
  EXPECT_EQ(error, "refused: \"bodyBytes\" is not valid base64");
  // Only conn and status are required; the rest takes its defaults.
  ASSERT_TRUE(from_json_line(R"({"type":"refused","conn":1,"status":503})", r, error)) << error;
  EXPECT_EQ(std::get<RefusedRecord>(r).by, Refuser::kServer);
  EXPECT_EQ(std::get<RefusedRecord>(r).body, "");
}

TEST(SessionLogFormat, InvalidUtf8InHeadersBecomesReplacementCharacter) {
  OpenRecord o;
  o.request = {{"X-Bin", "a\xFF" "b"}};
  const auto back = std::get<OpenRecord>(round_trip(o));
  EXPECT_EQ(back.request[0].value, "a\xEF\xBF\xBD" "b");
}

TEST(SessionLogFormat, UnknownFieldsAreIgnored) {
  Record r;
  std::string error;
  ASSERT_TRUE(from_json_line(
      R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":1,"text":"x","future":{"a":[1]}})", r,
      error))
      << error;
  const auto& f = std::get<FrameRecord>(r);
  EXPECT_EQ(f.payload, "x");
  EXPECT_TRUE(f.fin);  // defaults for the optional fields
  EXPECT_EQ(f.rsv, 0);
}

TEST(SessionLogFormat, ErrorsNameTheRecordAndField) {
  Record r;
  std::string error;
  EXPECT_FALSE(from_json_line(R"({"type":"frame","conn":1,"t":2,"dir":"client","text":"x"})", r, error));
  EXPECT_EQ(error, "frame: missing \"opcode\"");
  EXPECT_FALSE(from_json_line(R"({"type":"frame","conn":1,"t":2,"dir":"up","opcode":1,"text":"x"})", r, error));
  EXPECT_EQ(error, "frame: \"dir\" must be \"client\" or \"server\"");
  EXPECT_FALSE(from_json_line(R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":16,"text":"x"})", r, error));
  EXPECT_EQ(error, "frame: \"opcode\" must be an integer from 0 to 15");
  EXPECT_FALSE(
      from_json_line(R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":1,"len":2,"text":"x"})", r, error));
  EXPECT_EQ(error, "frame: \"len\" is 2 but the payload has 1 bytes");
  EXPECT_FALSE(from_json_line(R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":2,"bytes":"!!"})", r, error));
  EXPECT_EQ(error, "frame: \"bytes\" is not valid base64");
  EXPECT_FALSE(from_json_line(R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":2})", r, error));
  EXPECT_EQ(error, "frame: needs exactly one of \"text\" and \"bytes\"");
  EXPECT_FALSE(from_json_line(R"({"type":"close","conn":-1})", r, error));
  EXPECT_EQ(error, "close: \"conn\" must be an integer from 0 to 18446744073709551615");
  EXPECT_FALSE(from_json_line(R"({"conn":1})", r, error));
  EXPECT_EQ(error, "missing \"type\"");
  EXPECT_FALSE(from_json_line(R"({"type":"open","conn":1,"request":[["a"]]})", r, error));
  EXPECT_EQ(error, "open: \"request\" must be a list of [name, value] pairs");
  EXPECT_FALSE(from_json_line(R"({"type":"fra)", r, error));
  EXPECT_EQ(error.rfind("invalid JSON", 0), 0U) << error;
}

// ---- writer and reader -----------------------------------------------------------------------

std::vector<Record> read_all(const std::string& path, Error& error, std::vector<std::string>* warnings = nullptr) {
  std::vector<Record> out;
  auto reader = SessionReader::open(path, error);
  if (!reader) return out;
  while (auto r = reader->next(error)) out.push_back(std::move(*r));
  if (warnings != nullptr) *warnings = reader->warnings();
  return out;
}

TEST(SessionWriter, WritesHeaderRecordsAndEndWithCounts) {
  TempDir dir;
  const std::string path = dir.path() + "/s.jsonl";
  Error error;
  auto writer = SessionWriter::open(path, "connect", {}, error);
  ASSERT_TRUE(writer) << error.message;
  OpenRecord o;
  o.conn = 1;
  o.url = "ws://h/";
  writer->write(o);
  FrameRecord f;
  f.conn = 1;
  f.t_us = writer->now_us();
  f.payload = "hi";
  writer->write(f);
  f.dir = Direction::kServer;
  writer->write(f);
  writer->write(CloseRecord{1, writer->now_us(), 1000, "", Closer::kClient, true, std::nullopt, ""});
  RefusedRecord refused;
  refused.conn = 2;
  refused.status = 401;
  writer->write(refused);
  writer->close();
  EXPECT_FALSE(writer->error());

  const std::string text = test::read_file(path);
  // Version 1.4: the minor version follows the major one.
  EXPECT_EQ(text.rfind("{\"type\":\"header\",\"version\":1,\"minor\":4,\"tool\":\"wstool ", 0), 0U) << text;
  EXPECT_NE(text.find("\"capturedBy\":\"connect\""), std::string::npos);

  auto reader = SessionReader::open(path, error);
  ASSERT_TRUE(reader) << error.message;
  EXPECT_EQ(reader->header().captured_by, "connect");
  EXPECT_EQ(reader->header().started.size(), std::string("2026-11-26T04:05:06.123Z").size());
  std::vector<Record> records;
  while (auto r = reader->next(error)) records.push_back(*r);
  EXPECT_FALSE(error) << error.message;
  ASSERT_EQ(records.size(), 6U);
  EXPECT_TRUE(std::holds_alternative<OpenRecord>(records[0]));
  EXPECT_EQ(std::get<FrameRecord>(records[2]).dir, Direction::kServer);
  EXPECT_EQ(std::get<RefusedRecord>(records[4]).status, 401);
  const auto& end = std::get<EndRecord>(records[5]);
  EXPECT_EQ(end.connections, 1U);
  EXPECT_EQ(end.frames, 2U);
  EXPECT_EQ(end.refused, 1U);
  EXPECT_TRUE(reader->warnings().empty());
}

TEST(SessionWriter, RedactsSecretsUnlessAskedToKeepThem) {
  TempDir dir;
  OpenRecord o;
  o.url = "wss://user:pw@h/x?token=abc&room=1";
  o.request = {{"Authorization", "Bearer s3cret"}, {"Cookie", "sid=1"},
               {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Origin", "http://o"}};
  o.response = {{"Set-Cookie", "sid=2"}};
  for (const bool keep : {false, true}) {
    const std::string path = dir.path() + (keep ? "/keep.jsonl" : "/red.jsonl");
    Error error;
    WriterOptions options;
    options.keep_secrets = keep;
    auto writer = SessionWriter::open(path, "record", options, error);
    ASSERT_TRUE(writer);
    writer->write(o);
    writer->close();
    const std::string text = test::read_file(path);
    for (const char* secret : {"s3cret", "sid=1", "sid=2", "pw@", "token=abc", "dGhlIHNhbXBsZSBub25jZQ=="}) {
      EXPECT_EQ(text.find(secret) != std::string::npos, keep) << secret << " in " << text;
    }
    // (1.4) A refused handshake's headers and URL, exactly as an open record's.
    RefusedRecord refused;
    refused.url = o.url;
    refused.request = o.request;
    refused.response = o.response;
    refused.status = 401;
    writer = SessionWriter::open(path, "record", options, error);
    ASSERT_TRUE(writer);
    writer->write(refused);
    writer->close();
    const std::string refused_text = test::read_file(path);
    for (const char* secret : {"s3cret", "sid=1", "sid=2", "pw@", "token=abc", "dGhlIHNhbXBsZSBub25jZQ=="}) {
      EXPECT_EQ(refused_text.find(secret) != std::string::npos, keep) << secret << " in " << refused_text;
    }
    EXPECT_NE(refused_text.find(R"(["Origin","http://o"])"), std::string::npos);
    if (!keep) {
      EXPECT_NE(text.find("wss://[redacted]@h/x?token=[redacted]&room=1"), std::string::npos) << text;
      EXPECT_NE(text.find(R"(["Origin","http://o"])"), std::string::npos);
    }
  }
}

TEST(SessionWriter, RotatesWithAHeaderInEveryFile) {
  TempDir dir;
  const std::string path = dir.path() + "/r.jsonl";
  Error error;
  WriterOptions options;
  options.max_bytes = 1024;
  options.keep_rotated = 2;
  auto writer = SessionWriter::open(path, "serve", options, error);
  ASSERT_TRUE(writer);
  FrameRecord f;
  f.payload = std::string(100, 'x');
  constexpr int kFrames = 100;  // ~16 KiB: many rotations, only two rotated files kept
  for (int i = 0; i < kFrames; ++i) {
    f.t_us = static_cast<std::uint64_t>(i);
    writer->write(f);
  }
  writer->close();
  ASSERT_FALSE(writer->error()) << writer->error().message;

  std::uint64_t last_t = 0;
  for (const std::string& p : {path + ".2", path + ".1", path}) {
    const std::string text = test::read_file(p);
    EXPECT_LE(text.size(), options.max_bytes + 200) << p;  // the end record may overshoot
    const auto records = read_all(p, error);
    ASSERT_FALSE(error) << error.message;
    ASSERT_FALSE(records.empty()) << p;
    const auto& first = std::get<FrameRecord>(records.front());
    EXPECT_GT(first.t_us, last_t) << p;  // oldest file first, no frame lost between files
    for (const auto& r : records) {
      if (const auto* fr = std::get_if<FrameRecord>(&r)) last_t = fr->t_us;
    }
  }
  EXPECT_EQ(last_t, static_cast<std::uint64_t>(kFrames - 1));
  std::ifstream third(path + ".3");
  EXPECT_FALSE(third.good());
}

TEST(SessionWriter, KeepingNoRotatedFilesStartsOver) {
  TempDir dir;
  const std::string path = dir.path() + "/z.jsonl";
  Error error;
  WriterOptions options;
  options.max_bytes = 512;
  options.keep_rotated = 0;
  auto writer = SessionWriter::open(path, "serve", options, error);
  ASSERT_TRUE(writer);
  FrameRecord f;
  f.payload = std::string(100, 'y');
  for (int i = 0; i < 20; ++i) writer->write(f);
  writer->close();
  EXPECT_FALSE(writer->error());
  EXPECT_FALSE(std::ifstream(path + ".1").good());
  const auto records = read_all(path, error);
  EXPECT_FALSE(error) << error.message;
  EXPECT_LT(records.size(), 20U);
  EXPECT_TRUE(std::holds_alternative<EndRecord>(records.back()));
}

TEST(SessionReader, ConcatenatedRotatedFilesReadAsOne) {
  TempDir dir;
  const std::string path = dir.path() + "/cat.jsonl";
  write_text(path, std::string(kHeaderLine) + "\n" + R"({"type":"open","conn":1,"t":1})" "\n" + kHeaderLine + "\n" +
                       R"({"type":"close","conn":1,"t":2})" "\n");
  Error error;
  const auto records = read_all(path, error);
  EXPECT_FALSE(error) << error.message;
  ASSERT_EQ(records.size(), 3U);
  EXPECT_TRUE(std::holds_alternative<HeaderRecord>(records[1]));
}

// Every record from every thread arrives, each thread's in the order it wrote them, with the
// default cap and with one small enough that writers keep waiting for room.
TEST(SessionWriter, ConcurrentWritersKeepEveryRecordInPerThreadOrder) {
  for (const std::uint64_t cap : {kDefaultMaxQueuedBytes, std::uint64_t{4096}}) {
    SCOPED_TRACE(cap);
    TempDir dir;
    const std::string path = dir.path() + "/c.jsonl";
    Error error;
    WriterOptions options;
    options.max_queued_bytes = cap;
    auto writer = SessionWriter::open(path, "record", options, error);
    ASSERT_TRUE(writer);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        FrameRecord f;
        f.conn = static_cast<std::uint64_t>(t);
        for (int i = 0; i < kPerThread; ++i) {
          f.t_us = static_cast<std::uint64_t>(i);  // the sequence number within the thread
          f.payload = std::string(static_cast<std::size_t>(i % 300), static_cast<char>('a' + t));
          writer->write(f);
        }
      });
    }
    for (auto& th : threads) th.join();
    writer->close();
    EXPECT_FALSE(writer->error());
    EXPECT_EQ(writer->stats().dropped, 0U);
    EXPECT_LE(writer->stats().peak_queued_bytes, cap);
    const auto records = read_all(path, error);
    ASSERT_FALSE(error) << error.message;
    ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kPerThread + 1));
    std::vector<std::uint64_t> next(kThreads, 0);
    for (std::size_t i = 0; i + 1 < records.size(); ++i) {
      const auto& f = std::get<FrameRecord>(records[i]);
      ASSERT_LT(f.conn, static_cast<std::uint64_t>(kThreads));
      ASSERT_EQ(f.t_us, next[f.conn]) << "thread " << f.conn << " out of order at record " << i;
      ++next[f.conn];
    }
    EXPECT_EQ(std::get<EndRecord>(records.back()).frames, static_cast<std::uint64_t>(kThreads * kPerThread));
  }
}

// flush() returns once the lines are in the file: a reader sees them while the writer is open.
TEST(SessionWriter, FlushMakesRecordsVisibleInTheFile) {
  TempDir dir;
  const std::string path = dir.path() + "/f.jsonl";
  Error error;
  auto writer = SessionWriter::open(path, "connect", {}, error);
  ASSERT_TRUE(writer);
  for (int round = 0; round < 3; ++round) {
    FrameRecord f;
    f.payload = "visible-" + std::to_string(round);
    writer->write(f);
    writer->flush();
    const std::string text = test::read_file(path);
    EXPECT_NE(text.find("\"text\":\"" + f.payload + "\"}\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("\"type\":\"end\""), std::string::npos);
  }
  writer->close();
  writer->flush();  // after close: returns at once
  EXPECT_NE(test::read_file(path).find("\"type\":\"end\""), std::string::npos);
}

// Nobody calls flush(): a `tail -f` still sees a lone record within about a second.
TEST(SessionWriter, RecordsReachTheFileWithoutAFlushWhenTrafficStops) {
  TempDir dir;
  const std::string path = dir.path() + "/t.jsonl";
  Error error;
  auto writer = SessionWriter::open(path, "serve", {}, error);
  ASSERT_TRUE(writer);
  FrameRecord f;
  f.payload = "tail-me";
  writer->write(f);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    seen = test::read_file(path).find("tail-me") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the file
  }
  EXPECT_TRUE(seen);
}

// Backpressure with real fds: the log is a FIFO nobody reads, so the writer thread blocks in
// write(2); callers fill the queue up to the cap and then wait, and once the FIFO is read every
// record arrives.
TEST(SessionWriter, AFullQueueMakesWritersWaitAndLosesNothing) {
  TempDir dir;
  const std::string path = dir.path() + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  // Opened first, non-blocking, so the writer's open does not wait for a reader.
  const int read_fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(read_fd, 0) << std::strerror(errno);
  Error error;
  WriterOptions options;
  constexpr std::uint64_t kCap = 8 * 1024;
  options.max_queued_bytes = kCap;
  // The tools print this at once: a long capture hears of the stall when it starts.
  std::atomic<int> warnings{0};
  std::string warning;  // written before `warnings` counts it
  options.on_first_full_wait = [&](const std::string& text) {
    if (warnings == 0) warning = text;
    ++warnings;
  };
  auto writer = SessionWriter::open(path, "record", options, error);
  ASSERT_TRUE(writer) << error.message;

  // More than the pipe (64 KiB at most by default), the writer's stdio buffer (64 KiB) and the
  // queue can hold: the producer cannot finish before the FIFO is read.
  constexpr int kRecords = 400;
  std::atomic<bool> produced{false};
  std::thread producer([&] {
    FrameRecord f;
    for (int i = 0; i < kRecords; ++i) {
      f.t_us = static_cast<std::uint64_t>(i);
      f.payload = std::string(1000, static_cast<char>('a' + i % 26));
      writer->write(f);
    }
    produced = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (writer->stats().full_waits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling the writer
  }
  const WriterStats blocked = writer->stats();
  EXPECT_GT(blocked.full_waits, 0U);
  // Called before the first wait was counted.
  ASSERT_EQ(warnings, 1);
  EXPECT_NE(warning.find("8 KiB queue is full"), std::string::npos) << warning;
  EXPECT_FALSE(produced);
  EXPECT_LE(blocked.peak_queued_bytes, kCap);
  EXPECT_EQ(blocked.max_queued_bytes, kCap);

  // Now read it all, to the writer's close.
  ASSERT_EQ(::fcntl(read_fd, F_SETFL, 0), 0);
  std::string text;
  std::thread reader([&] {
    char chunk[16 * 1024];
    for (;;) {
      const ssize_t n = ::read(read_fd, chunk, sizeof chunk);
      if (n <= 0) break;
      text.append(chunk, static_cast<std::size_t>(n));
    }
  });
  producer.join();
  writer->close();
  reader.join();
  ::close(read_fd);
  EXPECT_FALSE(writer->error()) << writer->error().message;
  EXPECT_EQ(writer->stats().dropped, 0U);
  EXPECT_GT(writer->stats().full_wait_us, 0U);
  EXPECT_EQ(warnings, 1) << "waits after the first are only counted (" << writer->stats().full_waits << " waits)";

  const auto lines = test::lines_of(text);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kRecords + 2));  // header, frames, end
  for (int i = 0; i < kRecords; ++i) {
    Record r;
    std::string parse_error;
    ASSERT_TRUE(from_json_line(lines[static_cast<std::size_t>(i + 1)], r, parse_error)) << parse_error;
    EXPECT_EQ(std::get<FrameRecord>(r).t_us, static_cast<std::uint64_t>(i));
  }
  Record end;
  std::string parse_error;
  ASSERT_TRUE(from_json_line(lines.back(), end, parse_error));
  EXPECT_EQ(std::get<EndRecord>(end).frames, static_cast<std::uint64_t>(kRecords));
}

// A disk that is full: error() says so, later records are dropped and counted, nothing hangs.
TEST(SessionWriter, AWriteErrorIsReportedAndLaterRecordsAreDropped) {
  Error error;
  WriterOptions options;
  options.max_queued_bytes = 1024;  // were dropped records queued, this would block at once
  auto writer = SessionWriter::open("/dev/full", "record", options, error);
  ASSERT_TRUE(writer) << error.message;  // the header is still in the stdio buffer
  FrameRecord f;
  f.payload = std::string(500, 'z');
  writer->write(f);
  writer->flush();
  const Error first = writer->error();
  EXPECT_EQ(first.code, Errc::kIoError);
  EXPECT_NE(first.message.find("/dev/full: "), std::string::npos) << first.message;
  constexpr int kLater = 1000;
  for (int i = 0; i < kLater; ++i) writer->write(f);
  writer->flush();
  writer->close();
  EXPECT_GE(writer->stats().dropped, static_cast<std::uint64_t>(kLater));
  EXPECT_EQ(writer->error().message, first.message);  // the first error stays
}

TEST(SessionWriter, UncreatableFileIsCannotCreateOutput) {
  Error error;
  auto writer = SessionWriter::open("/nonexistent-dir/x.jsonl", "record", {}, error);
  EXPECT_FALSE(writer);
  EXPECT_EQ(error.code, Errc::kCannotCreateOutput);
  EXPECT_NE(error.message.find("/nonexistent-dir/x.jsonl: "), std::string::npos) << error.message;
}

TEST(SessionReader, MissingFileIsMissingInput) {
  Error error;
  EXPECT_FALSE(SessionReader::open("/nonexistent/none.jsonl", error));
  EXPECT_EQ(error.code, Errc::kMissingInput);
}

TEST(SessionReader, CorruptLineNamesFileAndLine) {
  TempDir dir;
  const std::string path = dir.path() + "/bad.jsonl";
  write_text(path, std::string(kHeaderLine) + "\n" +
                       R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":1,"text":"ok"})" "\n"
                       R"({"type":"frame","conn":1,"t":3,"dir":"client","text":"x"})" "\n"
                       R"({"type":"frame","conn":1,"t":4,"dir":"client","opcode":1,"text":"never"})" "\n");
  Error error;
  const auto records = read_all(path, error);
  EXPECT_EQ(records.size(), 1U);
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_EQ(error.message, path + ":3: frame: missing \"opcode\"");
}

TEST(SessionReader, TruncatedLastLineEndsWithAWarning) {
  TempDir dir;
  const std::string path = dir.path() + "/cut.jsonl";
  write_text(path, std::string(kHeaderLine) + "\n" +
                       R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":1,"text":"ok"})" "\n"
                       R"({"type":"frame","conn":1,"t":3,"dir":"cli)");
  Error error;
  std::vector<std::string> warnings;
  const auto records = read_all(path, error, &warnings);
  EXPECT_FALSE(error) << error.message;
  EXPECT_EQ(records.size(), 1U);
  ASSERT_EQ(warnings.size(), 1U);
  EXPECT_EQ(warnings[0], path + ":3: truncated last line ignored (the capture was cut short)");
}

TEST(SessionReader, LastLineWithoutNewlineButWholeIsRead) {
  TempDir dir;
  const std::string path = dir.path() + "/nonl.jsonl";
  write_text(path, std::string(kHeaderLine) + "\n" + R"({"type":"end","t":5,"connections":0,"frames":0})");
  Error error;
  std::vector<std::string> warnings;
  const auto records = read_all(path, error, &warnings);
  EXPECT_FALSE(error);
  ASSERT_EQ(records.size(), 1U);
  EXPECT_TRUE(std::holds_alternative<EndRecord>(records[0]));
  EXPECT_TRUE(warnings.empty());
}

TEST(SessionReader, RefusesAnUnknownMajorVersionAndNonLogs) {
  TempDir dir;
  const std::string v2 = dir.path() + "/v2.jsonl";
  write_text(v2, R"({"type":"header","version":2,"tool":"wstool 9"})" "\n");
  Error error;
  EXPECT_FALSE(SessionReader::open(v2, error));
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_NE(error.message.find(v2 + ":1: session log format version 2 is not supported"), std::string::npos)
      << error.message;

  const std::string other = dir.path() + "/other.jsonl";
  write_text(other, R"({"type":"frame","conn":1,"t":2,"dir":"client","opcode":1,"text":"x"})" "\n");
  error = {};
  EXPECT_FALSE(SessionReader::open(other, error));
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_NE(error.message.find("first line must be a header"), std::string::npos) << error.message;

  const std::string empty = dir.path() + "/empty.jsonl";
  write_text(empty, "");
  error = {};
  EXPECT_FALSE(SessionReader::open(empty, error));
  EXPECT_EQ(error.code, Errc::kBadData);
}

TEST(SessionReader, SkipsUnknownRecordTypesAndBlankLines) {
  TempDir dir;
  const std::string path = dir.path() + "/future.jsonl";
  write_text(path, std::string(kHeaderLine) + "\n\n" + R"({"type":"annotation","note":"from a newer wstool"})" "\n" +
                       R"({"type":"end","t":5})" "\n");
  Error error;
  std::vector<std::string> warnings;
  const auto records = read_all(path, error, &warnings);
  EXPECT_FALSE(error);
  ASSERT_EQ(records.size(), 1U);
  ASSERT_EQ(warnings.size(), 1U);
  EXPECT_EQ(warnings[0], path + ":3: unknown record type \"annotation\", skipped");
}

// 1.3: close frames are frame records (opcode 8) whose payload is the code and the reason.
TEST(SessionLogFormat, ACloseFramePayloadIsItsCodeAndReason) {
  EXPECT_EQ(close_frame_payload(1000, "bye"), std::string("\x03\xe8" "bye", 5));
  EXPECT_EQ(close_frame_payload(4001, ""), std::string("\x0f\xa1", 2));
  EXPECT_EQ(close_frame_payload(1005, "ignored"), "");  // no status: an empty close frame
  const ClosePayload back = parse_close_frame_payload(close_frame_payload(4001, "done"));
  EXPECT_EQ(back.code, 4001);
  EXPECT_EQ(back.reason, "done");
  EXPECT_EQ(parse_close_frame_payload("").code, 1005);
  EXPECT_EQ(parse_close_frame_payload("x").code, 1005);

  FrameRecord f;
  f.opcode = 8;
  f.payload = close_frame_payload(1000, "bye");
  const std::string line = to_json_line(f);
  EXPECT_NE(line.find(R"("opcode":8)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("len":5,"bytes":"A+hieWU=")"), std::string::npos) << line;  // not UTF-8: base64
  const auto again = std::get<FrameRecord>(round_trip(f));
  EXPECT_EQ(again.payload, f.payload);
  EXPECT_EQ(again.opcode, 8);
}

TEST(SessionReader, ReadsTheCommittedFixtures) {
  const std::string data = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";
  Error error;
  std::vector<std::string> warnings;
  const auto good = read_all(data + "session-echo.jsonl", error, &warnings);
  EXPECT_FALSE(error) << error.message;
  EXPECT_GT(good.size(), 5U);
  EXPECT_TRUE(warnings.empty());

  // A 1.2 log (no close frame records; the close record's reply) reads as it always did.
  error = {};
  warnings.clear();
  const auto old = read_all(data + "session-close-1.2.jsonl", error, &warnings);
  EXPECT_FALSE(error) << error.message;
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(old.size(), 7U);
  const auto& close = std::get<CloseRecord>(old[5]);
  EXPECT_EQ(close.reply_code, std::optional<std::uint16_t>(1000));
  EXPECT_EQ(close.reply_reason, "bye");

  // A 1.4 log: a refused handshake, then a connection that opened.
  error = {};
  warnings.clear();
  const auto refused = read_all(data + "session-refused-1.4.jsonl", error, &warnings);
  EXPECT_FALSE(error) << error.message;
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(refused.size(), 8U);
  const auto& r = std::get<RefusedRecord>(refused[0]);
  EXPECT_EQ(r.conn, 1U);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.reason, "Unauthorized");
  EXPECT_EQ(r.body, "no token\n");
  EXPECT_EQ(std::get<OpenRecord>(refused[1]).conn, 2U);
  EXPECT_EQ(std::get<EndRecord>(refused[7]).refused, 1U);

  error = {};
  read_all(data + "session-corrupt.jsonl", error);
  EXPECT_EQ(error.code, Errc::kBadData);
  EXPECT_NE(error.message.find("session-corrupt.jsonl:4: "), std::string::npos) << error.message;

  error = {};
  read_all(data + "session-truncated.jsonl", error, &warnings);
  EXPECT_FALSE(error) << error.message;
  EXPECT_EQ(warnings.size(), 1U);
}

TEST(SessionReader, LongLinesAcrossReadChunks) {
  TempDir dir;
  const std::string path = dir.path() + "/long.jsonl";
  FrameRecord f;
  f.payload = std::string(300 * 1024, 'z');  // several of the reader's 64 KiB chunks
  write_text(path, std::string(kHeaderLine) + "\n" + to_json_line(f) + "\n" + to_json_line(f) + "\n");
  Error error;
  const auto records = read_all(path, error);
  EXPECT_FALSE(error);
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(std::get<FrameRecord>(records[1]).payload.size(), f.payload.size());
}

TEST(SessionReader, SeekReturnsToAnEarlierRecord) {
  const std::string path = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/session-echo.jsonl";
  Error error;
  auto reader = SessionReader::open(path, error);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->next(error));  // open
  const auto mark = reader->position();
  const auto first = reader->next(error);
  ASSERT_TRUE(first);
  const std::size_t line = reader->line_number();
  while (reader->next(error)) {
  }
  ASSERT_FALSE(reader->seek(mark));
  const auto again = reader->next(error);
  ASSERT_TRUE(again);
  EXPECT_EQ(to_json_line(*again), to_json_line(*first));
  EXPECT_EQ(reader->line_number(), line);
}

}  // namespace
}  // namespace wstool::session
