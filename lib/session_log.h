// The session log (man/wstool-session.5): one versioned JSON Lines format for recorded WebSocket
// traffic, written by `record`, `connect --record` and `serve --log-messages`, read (streaming,
// never whole) by `replay` and `record --convert`.
//
// Records, one JSON object per line, "type" first:
//   {"type":"header","version":1,"minor":3,"tool":"wstool 0.x","started":"2026-11-26T04:05:06.123Z",
//    "capturedBy":"record"|"connect"|"serve", ...}
//   {"type":"open","conn":1,"t":123,"url":"ws://…","subprotocol":"","extensions":"…",
//    "request":[["Host","…"],…],"response":[["Upgrade","websocket"],…],"status":101}
//   {"type":"frame","conn":1,"t":456,"dir":"client"|"server","opcode":1,"fin":true,"rsv":0,
//    "compressed":false,"len":5,"text":"hello"}          (or "bytes":"<base64>" when not UTF-8)
//    (1.1: "invalid":"why" on a frame that broke RFC 6455, logged before the connection failed)
//   {"type":"close","conn":1,"t":789,"code":1000,"reason":"","by":"client"|"server"|"none",
//    "clean":true}        (1.2: "reply":1000,"replyReason":"" when the other side answered)
//   {"type":"refused","conn":2,"t":800,"by":"server"|"proxy","url":"ws://…","request":[…],
//    "status":401,"reason":"Unauthorized","response":[…],"body":"…"}   (1.4; or "bodyBytes":"<base64>",
//    "bodyLength":N when the body was cut)
//   {"type":"end","t":999,"connections":1,"frames":2}     (1.4: "refused":N when any were)
// "t" is microseconds since the header's start (monotonic clock). Readers ignore fields they do
// not know and refuse a major version they do not know (the compatibility rule); the minor
// version counts additions an older reader may ignore (1.1: "invalid" frames; 1.2: close
// "reply"; 1.3: every close frame is a frame record, opcode 8, where it came among the others;
// 1.4: "refused" records, opening handshakes answered with something else than 101).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lib/error.h"
#include "lib/handshake.h"

namespace wstool::session {

inline constexpr int kFormatVersion = 1;
// Additions within the major version that older readers ignore safely. 1: frame "invalid";
// 2: close "reply" and "replyReason"; 3: every writer logs each close frame as a frame record
// (opcode 8, payload the code and reason) in its place among the other frames; 4: "refused"
// records and the end record's "refused" count.
inline constexpr int kFormatMinor = 4;
// A refused record keeps at most this much of the answer's body (the engine keeps as much).
inline constexpr std::size_t kMaxRefusalBodyBytes = 64 * 1024;

enum class Direction { kClient, kServer };  // who sent the frame
enum class Closer { kClient, kServer, kNone };
// Who answered a refused handshake: the server, or (record) the proxy itself when it could not
// reach the server (502) or the server did not answer in time (504).
enum class Refuser { kServer, kProxy };

struct HeaderRecord {
  int version = kFormatVersion;
  int minor = 0;            // absent (0) in logs written before 1.1; the writer puts kFormatMinor
  std::string tool;         // "wstool 0.3.0"
  std::string started;      // RFC 3339 UTC, milliseconds
  std::string captured_by;  // "record", "connect", "serve"
};

struct OpenRecord {
  std::uint64_t conn = 0;
  std::uint64_t t_us = 0;
  std::string url;          // as the client asked for it (ws://host:port/path?query)
  std::string subprotocol;  // negotiated
  std::string extensions;   // negotiated (the log's payloads are decompressed regardless)
  int status = 101;
  ws::HttpHeaders request;  // secrets redacted by the writer unless keep_secrets
  ws::HttpHeaders response;
};

struct FrameRecord {
  std::uint64_t conn = 0;
  std::uint64_t t_us = 0;
  Direction dir = Direction::kClient;
  std::uint8_t opcode = 1;
  bool fin = true;
  std::uint8_t rsv = 0;     // the RSV1..3 bits as sent, 0..7 (RSV1 = 4)
  bool compressed = false;  // the frame was compressed on the wire (payload below is not)
  std::string payload;      // decompressed; written as "text" when valid UTF-8, else "bytes"
  // Non-empty: the frame broke RFC 6455 and the capturing side failed the connection because of
  // it (why, for people: "reserved bits set without a negotiated extension"). Its payload is
  // what had arrived of it then, unmasked and never decompressed, so it may be partial.
  std::string invalid;
};

// A frame record by reference, for hot paths: formatted straight from the caller's buffers
// instead of copying the payload into a FrameRecord first. Fields as in FrameRecord.
struct FrameRef {
  std::uint64_t conn = 0;
  std::uint64_t t_us = 0;
  Direction dir = Direction::kClient;
  std::uint8_t opcode = 1;
  bool fin = true;
  std::uint8_t rsv = 0;
  bool compressed = false;
  std::string_view payload;
  std::string_view invalid;
};

struct CloseRecord {
  std::uint64_t conn = 0;
  std::uint64_t t_us = 0;
  std::uint16_t code = 1005;  // 1005: no status; 1006: no close frame (abnormal)
  std::string reason;
  Closer by = Closer::kNone;
  bool clean = false;
  // (1.2) The close frame that answered the first one, when the other side's came: what a
  // replay expects the server to answer a client's close with. Absent in older logs.
  std::optional<std::uint16_t> reply_code;
  std::string reply_reason;
};

// (1.4) An opening handshake answered with something else than 101: the connection never
// opened, and a replay expects the same status again.
struct RefusedRecord {
  std::uint64_t conn = 0;
  std::uint64_t t_us = 0;
  Refuser by = Refuser::kServer;
  std::string url;          // as the client asked for it, as in OpenRecord
  ws::HttpHeaders request;  // secrets redacted by the writer unless keep_secrets, as in OpenRecord
  int status = 0;
  std::string reason;       // the status line's reason phrase, as sent
  ws::HttpHeaders response;
  std::string body;         // as received; the writer keeps the first kMaxRefusalBodyBytes
  // The body's whole size when it is known to be more than `body` holds (a Content-Length the
  // client did not read to the end, or a cut), else 0.
  std::uint64_t body_length = 0;
};

struct EndRecord {
  std::uint64_t t_us = 0;
  std::uint64_t connections = 0;
  std::uint64_t frames = 0;
  std::uint64_t refused = 0;  // (1.4) refused records
};

using Record = std::variant<HeaderRecord, OpenRecord, FrameRecord, CloseRecord, EndRecord, RefusedRecord>;

// The writer's default cap on lines waiting for its thread (WriterOptions::max_queued_bytes):
// tens of seconds of a busy capture when the disk stalls, bounded memory when it never recovers.
inline constexpr std::uint64_t kDefaultMaxQueuedBytes = 64 * 1024 * 1024;

struct WriterOptions {
  bool keep_secrets = false;        // else Authorization, Cookie, Set-Cookie, Proxy-Authorization,
                                    // Sec-WebSocket-Key and ?token= are written as "[redacted]"
  std::uint64_t max_bytes = 0;      // 0: unbounded; else rotate: FILE -> FILE.1 -> … FILE.N
  unsigned keep_rotated = 5;        // N
  // Bytes of formatted lines queued for the writer thread (those it is writing included). A
  // write() that would go past it waits for room: backpressure, never loss. A single line
  // larger than the cap is still taken when the queue is empty.
  std::uint64_t max_queued_bytes = kDefaultMaxQueuedBytes;
  // Called once, on the caller's thread and before it waits, the first time a write() finds the
  // queue full (the disk has fallen behind by the whole cap), with a sentence for people: a long
  // capture hears of it when it starts rather than at the end. Later waits are only counted.
  std::function<void(const std::string& warning)> on_first_full_wait;
};

// What the writer saw, for the tool to tell its user at the end.
struct WriterStats {
  std::uint64_t full_waits = 0;        // write() calls that found the queue full and waited
  std::uint64_t full_wait_us = 0;      // how long they waited, in total
  std::uint64_t dropped = 0;           // records not written: after an I/O error, or after close()
  std::uint64_t peak_queued_bytes = 0; // the most bytes ever queued at once
  std::uint64_t max_queued_bytes = 0;  // the cap (WriterOptions::max_queued_bytes)
};

// For the tool to print at the end, "" when nothing happened: how often and how long callers
// waited for a full queue (naming the cap), and how many records were not written.
std::string describe_stats(const WriterStats& stats);

// Appends records to a file from any number of threads without making them wait on the disk:
// callers format their line on their own thread and queue it; the writer's own thread writes
// the queue (64 KiB stdio buffer), rotates, and flushes at least once a second while data is
// pending, so a live `tail -f` keeps up. A caller waits only when max_queued_bytes are queued
// (the disk has stalled that long) — counted in stats(). Records from one thread keep their
// order. The header is written on open, the end record by close() (and by the destructor),
// which drains the queue and joins the thread. Each rotated file starts with its own header, so
// every file reads alone.
class SessionWriter {
 public:
  // Errors: kCannotCreateOutput naming the path and the OS reason.
  static std::unique_ptr<SessionWriter> open(const std::string& path, const std::string& captured_by,
                                             const WriterOptions& options, Error& error);
  ~SessionWriter();
  // Microseconds since the writer opened (the "t" to put in records).
  std::uint64_t now_us() const;
  void write(const OpenRecord& record);
  void write(const FrameRecord& record);
  void write(const FrameRef& frame);
  void write(const CloseRecord& record);
  void write(const RefusedRecord& record);
  // Returns once everything written before the call is in the file (handed to the kernel), or
  // an error stopped the writer.
  void flush();
  // Drains the queue, writes the end record and closes the file; later writes are dropped.
  void close();
  // The first write, flush, rotation or close failure (kIoError naming the file); records after
  // it are dropped (and counted in stats()). Writers are fire-and-forget on the hot path, so
  // callers check this at the end.
  Error error() const;
  WriterStats stats() const;
  // What the writer put at the top of each file (tool, start time, capturedBy).
  const HeaderRecord& header() const;
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Reads a log one record at a time; memory stays flat whatever the file size.
class SessionReader {
 public:
  // Errors: kMissingInput (66) when the file cannot be opened; kBadData (65) when the first
  // line is not a header of a version this reader knows.
  static std::unique_ptr<SessionReader> open(const std::string& path, Error& error);
  ~SessionReader();
  const HeaderRecord& header() const;
  // The next record; nullopt at the end, or on error (error set: kBadData with the line number,
  // "session.jsonl:17: frame: missing \"opcode\""). A truncated last line (no newline, not valid
  // JSON) ends the stream with a warning instead of an error.
  std::optional<Record> next(Error& error);
  std::size_t line_number() const;
  const std::vector<std::string>& warnings() const;
  const std::string& path() const;
  // Where the next record starts, and going back there: replay returns to a connection whose
  // records it skipped (interleaved with another's) without keeping them in memory.
  struct Position {
    std::uint64_t offset = 0;  // byte offset of the next line
    std::size_t line = 0;      // lines before it
  };
  Position position() const;
  // Errors: kIoError when the file cannot seek.
  Error seek(const Position& position);
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A close frame's payload as its frame record holds it (RFC 6455 5.5.1): the code, big-endian,
// then the reason; empty for 1005 (no status).
std::string close_frame_payload(std::uint16_t code, std::string_view reason);
// And back: 1005 and "" for an empty payload (or a lone byte, which no valid frame has).
struct ClosePayload {
  std::uint16_t code = 1005;
  std::string reason;
};
ClosePayload parse_close_frame_payload(std::string_view payload);

// One line of JSON for a record (no newline), and back: the format's single definition, used by
// the writer, the reader, the converters and the tests.
std::string to_json_line(const Record& record);
// An open record as the writer stores it without keep_secrets: secret headers (lib/redact.h)
// and Sec-WebSocket-Key written as "[redacted]", user-info and ?token= values cut from the URL.
OpenRecord redacted(const OpenRecord& record);
RefusedRecord redacted(const RefusedRecord& record);
// The size of a refusal's body as its headers declare it (Content-Length) when that is more
// than the `received` bytes a client kept of it; else 0 (RefusedRecord::body_length).
std::uint64_t declared_body_length(const ws::HttpHeaders& headers, std::size_t received);
bool from_json_line(std::string_view line, Record& out, std::string& error);

}  // namespace wstool::session
