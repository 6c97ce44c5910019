// libFuzzer target for the opening handshake: arbitrary bytes through RequestParser (in chunks
// the input chooses), check_upgrade_request and ResponseParser, checking their invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lib/handshake.h"

namespace {

using wstool::ws::ParseState;

// Small head limits so the 431 path is reached often.
constexpr std::size_t kFuzzMaxHeaderBytes = 2048;
constexpr std::size_t kFuzzMaxBodyBytes = 256;

void require(bool condition) {
  if (!condition) std::abort();
}

// Feeds `data` in chunks whose sizes come from `step` (1..16), checking the consume contract:
// nothing is taken after completion or an error, and only a complete head leaves bytes behind.
template <typename Parser>
std::size_t feed(Parser& parser, const std::uint8_t* data, std::size_t size, std::uint8_t step) {
  std::size_t used = 0;
  std::size_t offset = 0;
  constexpr std::uint8_t kMaxChunk = 16;
  const std::size_t chunk = static_cast<std::size_t>(step % kMaxChunk) + 1;
  while (offset < size) {
    const std::size_t n = std::min(chunk, size - offset);
    const bool was_incomplete = parser.state() == ParseState::kIncomplete;
    const std::size_t took = parser.consume(reinterpret_cast<const char*>(data) + offset, n);
    require(took <= n);
    if (!was_incomplete) require(took == 0);
    if (took < n && parser.state() == ParseState::kIncomplete) std::abort();
    used += took;
    offset += n;
  }
  return used;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t step = data[0];
  ++data;
  --size;

  wstool::ws::RequestParser request_parser(kFuzzMaxHeaderBytes);
  const std::size_t used = feed(request_parser, data, size, step);
  if (request_parser.state() == ParseState::kError) {
    const int status = request_parser.error_status();
    require(status == 400 || status == 431);
    require(!request_parser.error().empty());
  } else if (request_parser.state() == ParseState::kComplete) {
    require(used <= kFuzzMaxHeaderBytes);
    const auto& request = request_parser.request();
    if (const auto rejection = wstool::ws::check_upgrade_request(request)) {
      require(rejection->status == 400 || rejection->status == 426);
      const std::string wire = wstool::ws::make_rejection_response(*rejection);
      wstool::ws::ResponseParser reparse(kFuzzMaxHeaderBytes, wire.size());
      reparse.consume(wire.data(), wire.size());
      require(reparse.state() == ParseState::kComplete);
      require(reparse.response().status == rejection->status);
    } else {
      // A request we accept must produce a 101 our own client accepts.
      const std::string key = wstool::ws::header_value(request.headers, "Sec-WebSocket-Key");
      const auto offered = wstool::ws::requested_subprotocols(request);
      const std::string chosen = offered.empty() ? std::string() : offered.front();
      const std::string wire = wstool::ws::make_switching_response(
          wstool::ws::accept_key_for(key), chosen, "", {});
      wstool::ws::ResponseParser reparse;
      require(reparse.consume(wire.data(), wire.size()) == wire.size());
      require(reparse.state() == ParseState::kComplete);
      require(wstool::ws::check_upgrade_response(reparse.response(), key, offered).empty());
    }
  } else {
    require(used == size);
  }

  wstool::ws::ResponseParser response_parser(kFuzzMaxHeaderBytes, kFuzzMaxBodyBytes);
  feed(response_parser, data, size, static_cast<std::uint8_t>(step >> 4));
  response_parser.end_of_stream();
  require(response_parser.state() != ParseState::kIncomplete);
  if (response_parser.state() == ParseState::kComplete) {
    const auto& response = response_parser.response();
    require(response.status >= 0 && response.status <= 999);
    require(response.body.size() <= kFuzzMaxBodyBytes);
    (void)wstool::ws::check_upgrade_response(response, "dGhlIHNhbXBsZSBub25jZQ==", {"chat"});
  }
  return 0;
}
