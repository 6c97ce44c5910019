// permessage-deflate (RFC 7692): negotiating the extension in both roles, and the per-connection
// codec that compresses outgoing messages and inflates incoming ones on zlib.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/frame.h"

namespace wstool::ws {

constexpr std::string_view kPermessageDeflate = "permessage-deflate";

// RFC 7692 7.1.2: window sizes are negotiated as base-2 logarithms in this range.
constexpr int kMinWindowBits = 8;
constexpr int kMaxWindowBits = 15;
// zlib level 3: measured on JSON-like messages of 16 KiB to 1 MiB, 2.5 to 3 times the speed of
// zlib's default level 6 for about 1.3 to 1.6 times its output. A testing tool's own CPU should
// not be the bottleneck of a load test.
constexpr int kDefaultCompressionLevel = 3;
constexpr int kDefaultMemLevel = 8;

// What our side is willing to do and asks for. The request_* fields mean the same connection
// parameters in both roles: a client puts them in its offer, a server in its response.
struct DeflateOptions {
  bool enabled = true;
  // Ask that the server (resp. client) not carry its LZ77 window from one message to the next.
  // A client offering client_no_context_takeover promises it (RFC 7692 7.1.1.2), so it holds
  // whatever the server answers.
  bool request_server_no_context_takeover = false;
  bool request_client_no_context_takeover = false;
  // 0 = no request, else 8..15. Server role: caps the window we compress with (and is
  // announced in the response). Client role: asks the server to cap its window.
  int request_server_max_window_bits = 0;
  // 0 = no value, else 8..15. Client role: the value of client_max_window_bits in our offer
  // (only when offer_client_max_window_bits). Server role: the value we answer when the offer
  // allows it (the client then compresses with at most that window).
  int request_client_max_window_bits = 0;
  // Client role: advertise that we accept client_max_window_bits in the response.
  bool offer_client_max_window_bits = true;
  // zlib cannot compress raw deflate with an 8-bit window (deflateInit2 rejects -8 since zlib
  // 1.2.9). Its 9-bit compressor never emits a distance beyond 512 - 262 = 250 bytes
  // (MAX_DIST in zlib's deflate.c), so its output is valid for a 256-byte window. When true we
  // accept a window of 8 for our compressor and compress with 9; when false such an offer is
  // declined (server) or such a response fails the connection (client). On by default: peers
  // (Autobahn's 13.3/13.5 cases among them) ask for 8, and declining loses compression for them.
  bool allow_window_bits_8 = true;
  int compression_level = kDefaultCompressionLevel;  // 0..9; negative: zlib's default (6)
  int mem_level = kDefaultMemLevel;                  // 1..9
};

// The agreed parameters of one connection.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = kMaxWindowBits;
  int client_max_window_bits = kMaxWindowBits;
};

struct ServerNegotiation {
  bool accepted = false;
  DeflateParams params;
  std::string response;  // the Sec-WebSocket-Extensions value to send; empty unless accepted
};

// Server: `offers` is the whole Sec-WebSocket-Extensions value (several header fields joined by
// ", "). Accepts the first permessage-deflate offer it can honour; an offer that is malformed or
// asks for what we cannot do is declined and the next one tried; other extensions are ignored.
// Never fails the handshake.
ServerNegotiation negotiate_deflate_server(std::string_view offers, const DeflateOptions& options);

// Client: our offer (the Sec-WebSocket-Extensions value); empty when !options.enabled.
std::string make_deflate_offer(const DeflateOptions& options);

struct ClientNegotiation {
  bool ok = true;         // false: fail the connection with close code 1010 (see error)
  bool accepted = false;  // the server accepted permessage-deflate (then params hold)
  DeflateParams params;
  std::string error;  // why not ok, for the user
};

// Client: checks the server's Sec-WebSocket-Extensions value (empty when the header is absent)
// against the offer make_deflate_offer(options) made.
ClientNegotiation accept_deflate_response(std::string_view response, const DeflateOptions& options);

enum class InflateStatus : std::uint8_t {
  kOk,
  kTooBig,   // the message would inflate past max_message_bytes: close 1009
  kCorrupt,  // not a valid DEFLATE stream: close 1007
};

// One per connection, after negotiation. zlib streams are created on first use (an idle
// connection costs nothing) and reused for every message. Memory once used: the compressor
// about 2^(window_bits+2) + 2^(mem_level+9) bytes (256 KiB at 15 and 8), the inflater about
// 40 KiB. After kTooBig or kCorrupt the connection must be failed: the codec is no longer
// usable, and `out` holds whatever was inflated before the error.
class DeflateCodec {
 public:
  DeflateCodec(Role our_role, const DeflateParams& params, const DeflateOptions& options);
  ~DeflateCodec();
  DeflateCodec(DeflateCodec&&) noexcept;
  DeflateCodec& operator=(DeflateCodec&&) noexcept;
  DeflateCodec(const DeflateCodec&) = delete;
  DeflateCodec& operator=(const DeflateCodec&) = delete;

  // Compresses one whole message and APPENDS the result to `out`, without the trailing
  // 00 00 FF FF (RFC 7692 7.2.1). Never empty: an empty message compresses to one 0x00 byte.
  // Throws std::bad_alloc when zlib cannot allocate its state.
  void compress(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out);

  // Compresses one frame's share of a message sent in several frames, APPENDING to `out`: the
  // data is flushed (Z_SYNC_FLUSH) so the frame decodes as soon as it arrives; the final one
  // drops the 00 00 FF FF tail as compress() does. A non-final empty piece produces nothing.
  void compress_fragment(const std::uint8_t* data, std::size_t size, bool final,
                         std::vector<std::uint8_t>& out);

  // Inflates one message's compressed payload frame by frame; `final` on its last frame.
  // APPENDS to `out`. Returns kTooBig as soon as the message's output would pass
  // max_message_bytes (bounded while inflating, so a bomb allocates at most about
  // max_message_bytes), kCorrupt on invalid data. Throws std::bad_alloc like compress.
  InflateStatus decompress(const std::uint8_t* data, std::size_t size, bool final,
                           std::vector<std::uint8_t>& out, std::size_t max_message_bytes);

  // The window our compressor uses (8 is served by zlib's 9, see allow_window_bits_8).
  int compress_window_bits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wstool::ws
