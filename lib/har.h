// HAR files (Chrome DevTools' "Save all as HAR") and session logs, both ways: a HAR file's
// WebSocket entries (`_webSocketMessages`) become session records, and a session log becomes
// a HAR file DevTools and other HAR viewers can open.
#pragma once

#include <string>
#include <vector>

#include "lib/error.h"
#include "lib/session_log.h"

namespace wstool::har {

// A HAR file's WebSocket traffic as a session log would hold it. HAR is one JSON document, so
// it is read whole (session logs stream; HAR files are as large as DevTools keeps in memory).
struct HarSession {
  session::HeaderRecord header;  // capturedBy "har"; started: the earliest time in the file
  // Per WebSocket entry (connection ids 1, 2, ... in file order): an open record, then one frame
  // record per message; all records sorted by time as a session log is. Chrome keeps no close
  // frames, pings or fragment boundaries, so there are no close records and every frame is FIN.
  std::vector<session::Record> records;
};

// Errors: kMissingInput when the file cannot be read; kBadData ("x.har: entry 3: message 2:
// \"data\" is not valid base64") when it is not a HAR document or a WebSocket entry is malformed.
Error read_har(const std::string& path, HarSession& out);

// Writes the session log at `log_path` as a HAR file at `har_path`: one entry per connection
// with its handshake, and its data messages (fragments joined; control frames and close records
// have no place in HAR and are left out). Errors: those of SessionReader; kCannotCreateOutput.
Error write_har(const std::string& log_path, const std::string& har_path);

// Writes a HarSession as a session log (capturedBy "har"). Errors: kCannotCreateOutput.
Error write_session_log(const HarSession& session, const std::string& log_path);

// `wstool record --convert IN -o OUT`: the direction from the names — IN ending in ".har"
// becomes a session log at OUT, any other IN (a session log) becomes a HAR file at OUT, which
// must then end in ".har". Errors: kUsage when the names do not say a direction; else those of
// the functions above.
Error convert_session_file(const std::string& in, const std::string& out);

}  // namespace wstool::har
