// HAR files (Chrome DevTools' "Save all as HAR") and session logs, both ways: a HAR file's
// WebSocket entries (`_webSocketMessages`) become session records, and a session log becomes
// a HAR file DevTools and other HAR viewers can open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/error.h"
#include "lib/session_log.h"

namespace wstool::har {

// A HAR file's WebSocket traffic as a session log would hold it: per WebSocket entry an open
// record, then one frame record per message; an entry whose handshake got another status than
// 101 and has no messages is a refused record (session log 1.4). The messages are spooled to an unlinked temporary
// file (in $TMPDIR, else /tmp) as they are read, so memory holds a few numbers per entry and one
// message at a time, however many messages the file has.
class HarSession {
 public:
  HarSession();
  ~HarSession();
  HarSession(HarSession&&) noexcept;
  HarSession& operator=(HarSession&&) noexcept;

  session::HeaderRecord header;  // capturedBy "har"; started: the earliest time in the file

  // Connection ids 1, 2, ... in file order; all records in time order as a session log is (file
  // order within equal times, an entry's open first). Chrome keeps no close frames, pings or
  // fragment boundaries, so there are no close records and every frame is FIN; a close frame
  // (opcode 8, as `record --convert` writes one) is a frame record like the others.
  std::size_t size() const;  // records
  // The next record; nullopt at the end, or when the spool cannot be read (error set: kIoError).
  std::optional<session::Record> next(Error& error);
  // Where next() reads (offset: in the spool; line: the record's index), and going back there.
  session::SessionReader::Position position() const;
  void seek(const session::SessionReader::Position& position);

  struct Impl;

 private:
  friend class HarReader;
  std::unique_ptr<Impl> impl_;
};

// Errors: kMissingInput when the file cannot be read; kBadData ("x.har: entry 3: message 2:
// \"data\" is not valid base64") when it is not a HAR document or a WebSocket entry is malformed.
Error read_har(const std::string& path, HarSession& out);

// Writes the session log at `log_path` as a HAR file at `har_path`: one entry per connection
// with its handshake, its data messages (fragments joined) and its close frames (opcode 8, the
// code and reason in base64 as Chrome's format has every non-text payload), and one per refused
// record with its status and body as content and no messages; pings, pongs and
// close records have no place in HAR and are left out. What else is left out is added to
// `warnings` (the reader's own: a truncated last line, unknown records; frames of a connection
// with no open record in the file). Errors: those of SessionReader; kCannotCreateOutput.
Error write_har(const std::string& log_path, const std::string& har_path, std::vector<std::string>* warnings = nullptr);

// Writes a HarSession (read from its start) as a session log (capturedBy "har"), secrets in the
// handshakes redacted unless `keep_secrets`. Errors: kCannotCreateOutput; kIoError.
Error write_session_log(HarSession& session, const std::string& log_path, bool keep_secrets = false);

// `wstool record --convert IN -o OUT`: the direction from the names — IN ending in ".har"
// becomes a session log at OUT, any other IN (a session log) becomes a HAR file at OUT, which
// must then end in ".har". Errors: kUsage when the names do not say a direction; else those of
// the functions above. Warnings (see write_har) are added to `warnings`; `keep_secrets` as for
// write_session_log (a session log's own values are copied as they are).
Error convert_session_file(const std::string& in, const std::string& out, std::vector<std::string>* warnings = nullptr,
                           bool keep_secrets = false);

}  // namespace wstool::har
