// How connect (and later chat) shows messages: hex dumps, base64, JSON pretty-printed and
// coloured, terminal-safe text, and the --json event records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wstool::tools {

std::string base64_encode(std::string_view bytes);

// `hexdump -C` style: offset, 16 bytes in two groups of 8, the printable ASCII; one line per 16
// bytes, each ending in '\n'.
std::string hex_dump(std::string_view bytes);

// Multi-line JSON with two-space indents; colour with ANSI escapes when `color`. nullopt-like ""
// when `text` is not a JSON object or array.
std::string pretty_json(std::string_view text, bool color);

// For a terminal: control characters (except tab and newline) and DEL shown as \xHH, so a peer
// cannot move the cursor or change the terminal.
std::string terminal_safe(std::string_view text);

// Cuts `text` to at most `max_bytes` without splitting a UTF-8 sequence, adding a note of the
// full size; unchanged when it fits or max_bytes is 0.
std::string truncate_for_display(std::string_view text, std::size_t max_bytes);

// "2026-11-26T01:02:03.456Z", UTC, for --json records; "01:02:03.456", local, for --timestamps.
std::string iso_time_now();
std::string clock_time_now();

}  // namespace wstool::tools
