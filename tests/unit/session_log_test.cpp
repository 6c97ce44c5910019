// Tests for the session log (lib/session_log): the line format both ways, redaction, rotation,
// the streaming reader's errors and tolerances, and the writer under concurrent use.
#include "lib/session_log.h"

#include <gtest/gtest.h>

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

  CloseRecord c{7, 99, 4001, "bye", Closer::kServer, true};
  const auto cb = std::get<CloseRecord>(round_trip(c));
  EXPECT_EQ(cb.code, 4001);
  EXPECT_EQ(cb.reason, "bye");
  EXPECT_EQ(cb.by, Closer::kServer);
  EXPECT_TRUE(cb.clean);

  const auto eb = std::get<EndRecord>(round_trip(EndRecord{100, 2, 30}));
  EXPECT_EQ(eb.frames, 30U);
  EXPECT_EQ(eb.connections, 2U);

  HeaderRecord h;
  h.tool = "wstool 9";
  h.started = "2026-01-01T00:00:00.000Z";
  h.captured_by = "serve";
  const std::string hl = to_json_line(h);
  EXPECT_EQ(hl.rfind(R"({"type":"header","version":1,)", 0), 0U) << hl;
  EXPECT_EQ(std::get<HeaderRecord>(round_trip(h)).captured_by, "serve");
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
  writer->write(CloseRecord{1, writer->now_us(), 1000, "", Closer::kClient, true});
  writer->close();
  EXPECT_FALSE(writer->error());

  const std::string text = test::read_file(path);
  // Version 1.1: the minor version follows the major one.
  EXPECT_EQ(text.rfind("{\"type\":\"header\",\"version\":1,\"minor\":1,\"tool\":\"wstool ", 0), 0U) << text;
  EXPECT_NE(text.find("\"capturedBy\":\"connect\""), std::string::npos);

  auto reader = SessionReader::open(path, error);
  ASSERT_TRUE(reader) << error.message;
  EXPECT_EQ(reader->header().captured_by, "connect");
  EXPECT_EQ(reader->header().started.size(), std::string("2026-11-26T04:05:06.123Z").size());
  std::vector<Record> records;
  while (auto r = reader->next(error)) records.push_back(*r);
  EXPECT_FALSE(error) << error.message;
  ASSERT_EQ(records.size(), 5U);
  EXPECT_TRUE(std::holds_alternative<OpenRecord>(records[0]));
  EXPECT_EQ(std::get<FrameRecord>(records[2]).dir, Direction::kServer);
  const auto& end = std::get<EndRecord>(records[4]);
  EXPECT_EQ(end.connections, 1U);
  EXPECT_EQ(end.frames, 2U);
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

TEST(SessionWriter, ConcurrentWritersProduceWholeLines) {
  TempDir dir;
  const std::string path = dir.path() + "/c.jsonl";
  Error error;
  auto writer = SessionWriter::open(path, "record", {}, error);
  ASSERT_TRUE(writer);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FrameRecord f;
      f.conn = static_cast<std::uint64_t>(t);
      for (int i = 0; i < kPerThread; ++i) {
        f.t_us = writer->now_us();
        f.payload = std::string(static_cast<std::size_t>(i % 300), static_cast<char>('a' + t));
        writer->write(f);
      }
    });
  }
  for (auto& th : threads) th.join();
  writer->close();
  const auto records = read_all(path, error);
  ASSERT_FALSE(error) << error.message;
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kPerThread + 1));
  EXPECT_EQ(std::get<EndRecord>(records.back()).frames, static_cast<std::uint64_t>(kThreads * kPerThread));
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

TEST(SessionReader, ReadsTheCommittedFixtures) {
  const std::string data = std::string(WSTOOL_SOURCE_DIR) + "/tests/data/";
  Error error;
  std::vector<std::string> warnings;
  const auto good = read_all(data + "session-echo.jsonl", error, &warnings);
  EXPECT_FALSE(error) << error.message;
  EXPECT_GT(good.size(), 5U);
  EXPECT_TRUE(warnings.empty());

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
