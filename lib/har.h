// HAR files (Chrome DevTools' "Save all as HAR") and session logs, both ways: a HAR file's
// WebSocket entries (`_webSocketMessages`) become session records, and a session log becomes
// a HAR file DevTools and other HAR viewers can open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/error.h"
#include "lib/session_log.h"

namespace wstool::har {

// A HAR file's WebSocket traffic as a session log would hold it, compactly: per message its time,
// connection, direction, opcode and payload; nothing else of the HAR file is kept.
class HarSession {
 public:
  session::HeaderRecord header;  // capturedBy "har"; started: the earliest time in the file

  // Per WebSocket entry (connection ids 1, 2, ... in file order): an open record, then one frame
  // record per message; all records in time order as a session log is (file order within equal
  // times). Chrome keeps no close frames, pings or fragment boundaries, so there are no close
  // records and every frame is FIN.
  std::size_t size() const { return order_.size(); }
  // The i-th record (i < size()), made on demand.
  session::Record record(std::size_t i) const;

 private:
  friend class HarReader;
  enum class Kind : std::uint8_t { kOpen, kSend, kReceive };
  struct Item {
    double time = 0;  // epoch seconds
    std::uint64_t conn = 0;
    Kind kind = Kind::kOpen;
    std::uint8_t opcode = 0;
    std::string payload;  // decoded; empty for kOpen
  };
  std::vector<session::OpenRecord> opens_;  // by connection id - 1; t_us set
  std::vector<Item> items_;                 // in file order
  std::vector<std::size_t> order_;          // indices into items_, in time order
  double base_ = 0;                         // header.started, as epoch seconds

  std::uint64_t t_us(double time) const;  // an epoch time as the records' "t"
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
