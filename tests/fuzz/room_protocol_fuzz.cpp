// Differential fuzzing of the room protocol's fast paths: for any bytes, parse_request (strict
// scanner, fields from spans) and parse_request_with_dom (nlohmann DOM) must give the same
// request or the same failure; the scanner must never accept what nlohmann refuses; and the
// directly written replies must be byte-identical to the DOM builders, invalid UTF-8 included.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/json_scan.h"
#include "lib/json_write.h"
#include "lib/room_protocol.h"
#include "tests/unit/room_protocol_reference.h"

namespace {

using nlohmann::json;
namespace room = wstool::room;
namespace reference = wstool::room::reference;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_builders(const json& value, std::string_view name) {
  check(room::make_echo(value) == reference::make_echo(value));
  check(room::make_pong(value) == reference::make_pong(value));
  check(room::make_broadcast(value, name) == reference::make_broadcast(value, name));
  check(room::make_room_message(name, name, value) == reference::make_room_message(name, name, value));
  check(room::make_room_message("r", "u", value, 7) == reference::make_room_message("r", "u", value, 7));
  check(room::make_error(room::ErrorCode::kInvalidMessage, name, value) ==
        reference::make_error(room::ErrorCode::kInvalidMessage, name, value));
  if (!value.is_null()) {
    check(room::make_ack(value) == reference::make_ack(value));
    check(room::make_room_message("r", "u", name, value) == reference::make_room_message("r", "u", name, value));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // 1. The two parse paths agree, under the default limits and under tight ones.
  room::ParseLimits tight;
  tight.max_content_bytes = 8;
  tight.max_depth = 3;
  for (const room::ParseLimits& limits : {room::ParseLimits{}, tight}) {
    const reference::Both both = reference::parse_both(text, limits);
    check(both.fast == both.dom);
  }

  // 1b. The echo reply written from the fast path's request (a plain string's text kept
  // verbatim) is the DOM request's reply, byte for byte.
  {
    room::Request fast;
    room::ParseFailure fast_failure;
    room::Request dom;
    room::ParseFailure dom_failure;
    if (room::parse_request(text, {}, fast, fast_failure) && fast.type == room::RequestType::kEcho) {
      check(room::parse_request_with_dom(text, {}, dom, dom_failure));
      std::string reply;
      room::append_echo(reply, fast);
      check(reply == reference::make_echo(dom.data));
    }
  }

  // 2. Whatever the scanner accepts, nlohmann accepts too.
  wstool::json_scan::Kind top = wstool::json_scan::Kind::kNull;
  const bool scanned = wstool::json_scan::scan(text, wstool::json_scan::kMaxScanDepth, top);
  json parsed = json::parse(text.begin(), text.end(), nullptr, false);
  if (scanned) check(!parsed.is_discarded());

  // 3. The builders: over the parsed value when there is one, and over the raw bytes as a string
  // (any bytes, so the U+FFFD replacement is exercised).
  if (!parsed.is_discarded()) check_builders(parsed, text);
  check_builders(json(std::string(text)), text);
  std::string written;
  wstool::json_write::append_string(written, text);
  check(written == reference::to_text(json(std::string(text))));
  return 0;
}
