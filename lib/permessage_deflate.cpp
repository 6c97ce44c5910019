// permessage-deflate (RFC 7692): Sec-WebSocket-Extensions parsing, the negotiation rules of
// section 7.1 for both roles, and the zlib-backed per-message codec of section 7.2.
#include "lib/permessage_deflate.h"

#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <limits>
#include <new>
#include <optional>
#include <utility>

namespace wstool::ws {
namespace {

// ---------------------------------------------------------------------------------------------
// Sec-WebSocket-Extensions syntax (RFC 6455 9.1, list rules of RFC 7230 7):
//   extension-list = 1#extension
//   extension      = token *( ";" param )
//   param          = token [ "=" ( token / quoted-string ) ]   ; unquoted value must be a token

struct ExtensionParam {
  std::string_view name;
  std::optional<std::string> value;  // unquoted and unescaped
};

struct Extension {
  bool well_formed = true;
  std::string_view name;
  std::vector<ExtensionParam> params;
};

// RFC 7230 3.2.6: tchar = ALPHA / DIGIT / one of these.
constexpr std::string_view kTokenSymbols = "!#$%&'*+-.^_`|~";

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         kTokenSymbols.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

class ExtensionListParser {
 public:
  explicit ExtensionListParser(std::string_view text) : text_(text) {}

  // Every non-empty list element, in order. A malformed element is kept (well_formed = false,
  // name set when it could be read) so a server can decline just that offer and go on.
  std::vector<Extension> parse() {
    std::vector<Extension> out;
    while (pos_ < text_.size()) {
      skip_ows();
      if (at(',')) {  // empty list element: allowed and ignored (RFC 7230 7)
        ++pos_;
        continue;
      }
      if (pos_ >= text_.size()) break;
      Extension ext;
      if (!parse_element(ext)) {
        ext.well_formed = false;
        skip_past_element();
      }
      out.push_back(std::move(ext));
    }
    return out;
  }

 private:
  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  void skip_ows() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  std::string_view read_token() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_tchar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; pos_ is on the opening quote.
  bool read_quoted(std::string& value) {
    ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ >= text_.size()) return false;
        value.push_back(text_[pos_++]);
      } else {
        value.push_back(c);
      }
    }
    return false;  // unterminated
  }

  // Parses one element up to (and consuming) its "," or the end.
  bool parse_element(Extension& ext) {
    ext.name = read_token();
    if (ext.name.empty()) return false;
    for (;;) {
      skip_ows();
      if (pos_ >= text_.size()) return true;
      if (at(',')) {
        ++pos_;
        return true;
      }
      if (!at(';')) return false;
      ++pos_;
      skip_ows();
      ExtensionParam param;
      param.name = read_token();
      if (param.name.empty()) return false;
      skip_ows();
      if (at('=')) {
        ++pos_;
        skip_ows();
        std::string value;
        if (at('"')) {
          // RFC 6455 9.1: a quoted value must still be a token once unquoted.
          if (!read_quoted(value) || !is_token(value)) return false;
        } else {
          value = std::string(read_token());
          if (value.empty()) return false;
        }
        param.value = std::move(value);
      }
      ext.params.push_back(std::move(param));
    }
  }

  // After a syntax error: resume after the next "," that is not inside a quoted-string.
  void skip_past_element() {
    bool quoted = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (quoted) {
        if (c == '\\' && pos_ < text_.size()) {
          ++pos_;
        } else if (c == '"') {
          quoted = false;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        return;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// permessage-deflate parameters (RFC 7692 7.1).

constexpr std::string_view kServerNoContextTakeover = "server_no_context_takeover";
constexpr std::string_view kClientNoContextTakeover = "client_no_context_takeover";
constexpr std::string_view kServerMaxWindowBits = "server_max_window_bits";
constexpr std::string_view kClientMaxWindowBits = "client_max_window_bits";

// "a decimal integer value without leading zeroes between 8 to 15, inclusive".
std::optional<int> parse_window_bits(std::string_view s) {
  if (s.empty() || s.size() > 2 || s[0] == '0') return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < kMinWindowBits || v > kMaxWindowBits) return std::nullopt;
  return v;
}

// One permessage-deflate element's parameters, checked for syntax, duplicates and values.
struct PmdParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 0;  // 0 = absent
  bool has_client_max_window_bits = false;
  int client_max_window_bits = 0;  // 0 = absent or without value
};

enum class Side : std::uint8_t { kOffer, kResponse };

// Returns an empty string when valid, else why not.
std::string read_pmd_params(const Extension& ext, Side side, PmdParams& out) {
  if (!ext.well_formed) return "malformed Sec-WebSocket-Extensions element";
  bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
  for (const ExtensionParam& p : ext.params) {
    const std::string name(p.name);
    auto once = [&](bool& seen) {
      if (seen) return false;
      seen = true;
      return true;
    };
    if (p.name == kServerNoContextTakeover || p.name == kClientNoContextTakeover) {
      const bool server = p.name == kServerNoContextTakeover;
      if (!once(server ? seen_snct : seen_cnct)) return "duplicate parameter " + name;
      if (p.value) return "parameter " + name + " takes no value";
      (server ? out.server_no_context_takeover : out.client_no_context_takeover) = true;
    } else if (p.name == kServerMaxWindowBits) {
      if (!once(seen_smwb)) return "duplicate parameter " + name;
      const std::optional<int> bits = p.value ? parse_window_bits(*p.value) : std::nullopt;
      if (!bits) return "parameter " + name + " needs a value from 8 to 15";
      out.server_max_window_bits = *bits;
    } else if (p.name == kClientMaxWindowBits) {
      if (!once(seen_cmwb)) return "duplicate parameter " + name;
      out.has_client_max_window_bits = true;
      if (p.value) {
        const std::optional<int> bits = parse_window_bits(*p.value);
        if (!bits) return "parameter " + name + " needs a value from 8 to 15";
        out.client_max_window_bits = *bits;
      } else if (side == Side::kResponse) {
        // RFC 7692 7.1.2.2: in a response the parameter must have a value.
        return "parameter " + name + " needs a value from 8 to 15";
      }
    } else {
      return "unknown parameter " + name;
    }
  }
  return {};
}

bool valid_request_bits(int bits) { return bits >= kMinWindowBits && bits <= kMaxWindowBits; }

// The window our own compressor can honour when asked for at most `bits`.
bool can_compress_with(int bits, const DeflateOptions& options) {
  return bits > kMinWindowBits || options.allow_window_bits_8;
}

std::string format_pmd(const PmdParams& p) {
  std::string s(kPermessageDeflate);
  if (p.server_no_context_takeover) (s += "; ") += kServerNoContextTakeover;
  if (p.client_no_context_takeover) (s += "; ") += kClientNoContextTakeover;
  if (p.server_max_window_bits != 0) {
    ((s += "; ") += kServerMaxWindowBits) += "=" + std::to_string(p.server_max_window_bits);
  }
  if (p.has_client_max_window_bits) {
    (s += "; ") += kClientMaxWindowBits;
    if (p.client_max_window_bits != 0) s += "=" + std::to_string(p.client_max_window_bits);
  }
  return s;
}

// Server: the response to one valid offer, or nullopt when we must decline it.
std::optional<PmdParams> answer_offer(const PmdParams& offer, const DeflateOptions& options,
                                      DeflateParams& params) {
  PmdParams answer;
  // RFC 7692 7.1.1.1: an offer with server_no_context_takeover is accepted only by echoing it.
  answer.server_no_context_takeover =
      offer.server_no_context_takeover || options.request_server_no_context_takeover;
  // 7.1.1.2: the client's hint is honoured by echoing it, so both sides know.
  answer.client_no_context_takeover =
      offer.client_no_context_takeover || options.request_client_no_context_takeover;

  // 7.1.2.1: answer with the offered value or smaller; we may also cap it unasked.
  int server_bits = offer.server_max_window_bits;
  if (valid_request_bits(options.request_server_max_window_bits)) {
    int own_cap = options.request_server_max_window_bits;
    if (!can_compress_with(own_cap, options)) own_cap = kMinWindowBits + 1;
    server_bits = server_bits == 0 ? own_cap : std::min(server_bits, own_cap);
  }
  if (server_bits != 0 && !can_compress_with(server_bits, options)) return std::nullopt;
  answer.server_max_window_bits = server_bits;

  // 7.1.2.2: only when offered; we inflate with the largest window, so we never need to ask.
  int client_bits = 0;
  if (offer.has_client_max_window_bits &&
      valid_request_bits(options.request_client_max_window_bits)) {
    client_bits = options.request_client_max_window_bits;
    if (offer.client_max_window_bits != 0) {
      client_bits = std::min(client_bits, offer.client_max_window_bits);
    }
    answer.has_client_max_window_bits = true;
    answer.client_max_window_bits = client_bits;
  }

  params.server_no_context_takeover = answer.server_no_context_takeover;
  params.client_no_context_takeover = answer.client_no_context_takeover;
  params.server_max_window_bits = server_bits != 0 ? server_bits : kMaxWindowBits;
  // Without our answer the client keeps to its own offered value, if it gave one.
  params.client_max_window_bits = client_bits != 0                    ? client_bits
                                  : offer.client_max_window_bits != 0 ? offer.client_max_window_bits
                                                                      : kMaxWindowBits;
  return answer;
}

}  // namespace

ServerNegotiation negotiate_deflate_server(std::string_view offers, const DeflateOptions& options) {
  ServerNegotiation result;
  if (!options.enabled) return result;
  for (const Extension& ext : ExtensionListParser(offers).parse()) {
    if (ext.name != kPermessageDeflate) continue;  // someone else's extension, or unreadable
    PmdParams offer;
    if (!read_pmd_params(ext, Side::kOffer, offer).empty()) continue;  // RFC 7692 7.1: decline
    DeflateParams params;
    const std::optional<PmdParams> answer = answer_offer(offer, options, params);
    if (!answer) continue;
    result.accepted = true;
    result.params = params;
    result.response = format_pmd(*answer);
    return result;
  }
  return result;
}

std::string make_deflate_offer(const DeflateOptions& options) {
  if (!options.enabled) return {};
  PmdParams offer;
  offer.server_no_context_takeover = options.request_server_no_context_takeover;
  offer.client_no_context_takeover = options.request_client_no_context_takeover;
  if (valid_request_bits(options.request_server_max_window_bits)) {
    offer.server_max_window_bits = options.request_server_max_window_bits;
  }
  offer.has_client_max_window_bits = options.offer_client_max_window_bits;
  if (offer.has_client_max_window_bits &&
      valid_request_bits(options.request_client_max_window_bits)) {
    offer.client_max_window_bits = options.request_client_max_window_bits;
  }
  return format_pmd(offer);
}

ClientNegotiation accept_deflate_response(std::string_view response,
                                          const DeflateOptions& options) {
  ClientNegotiation result;
  auto fail = [&result](std::string why) {
    result.ok = false;
    result.accepted = false;
    result.error = std::move(why);
    return result;
  };
  const std::vector<Extension> extensions = ExtensionListParser(response).parse();
  if (extensions.empty()) return result;  // no extension: uncompressed, fine
  if (extensions.size() > 1) return fail("server accepted more than one extension");
  const Extension& ext = extensions.front();
  if (ext.name != kPermessageDeflate || !options.enabled) {
    if (!ext.well_formed && ext.name.empty()) return fail("malformed Sec-WebSocket-Extensions");
    return fail("server accepted extension '" + std::string(ext.name) + "' that was not offered");
  }
  PmdParams got;
  if (std::string why = read_pmd_params(ext, Side::kResponse, got); !why.empty()) {
    return fail("permessage-deflate response: " + why);
  }
  const int asked_server_bits = valid_request_bits(options.request_server_max_window_bits)
                                    ? options.request_server_max_window_bits
                                    : 0;
  const bool offered_client_bits = options.offer_client_max_window_bits;
  const int offered_client_value =
      offered_client_bits && valid_request_bits(options.request_client_max_window_bits)
          ? options.request_client_max_window_bits
          : 0;

  // The response must accept the offer we made (RFC 7692 7.1.1.1, 7.1.2.1, 7.1.2.2).
  if (options.request_server_no_context_takeover && !got.server_no_context_takeover) {
    return fail("permessage-deflate response lacks the server_no_context_takeover we offered");
  }
  if (asked_server_bits != 0) {
    if (got.server_max_window_bits == 0) {
      return fail("permessage-deflate response lacks the server_max_window_bits we offered");
    }
    if (got.server_max_window_bits > asked_server_bits) {
      return fail("permessage-deflate response has server_max_window_bits=" +
                  std::to_string(got.server_max_window_bits) + ", above the " +
                  std::to_string(asked_server_bits) + " we offered");
    }
  }
  if (got.has_client_max_window_bits) {
    if (!offered_client_bits) {
      return fail("permessage-deflate response has client_max_window_bits, which we did not offer");
    }
    if (offered_client_value != 0 && got.client_max_window_bits > offered_client_value) {
      return fail("permessage-deflate response has client_max_window_bits=" +
                  std::to_string(got.client_max_window_bits) + ", above the " +
                  std::to_string(offered_client_value) + " we offered");
    }
    if (!can_compress_with(got.client_max_window_bits, options)) {
      return fail(
          "permessage-deflate response asks for client_max_window_bits=8, "
          "which zlib cannot compress with");
    }
  }

  result.accepted = true;
  result.params.server_no_context_takeover = got.server_no_context_takeover;
  // Our offer's client_no_context_takeover was a promise, whatever the answer.
  result.params.client_no_context_takeover =
      got.client_no_context_takeover || options.request_client_no_context_takeover;
  result.params.server_max_window_bits =
      got.server_max_window_bits != 0 ? got.server_max_window_bits : kMaxWindowBits;
  result.params.client_max_window_bits = got.client_max_window_bits != 0
                                             ? got.client_max_window_bits
                                         : offered_client_value != 0 ? offered_client_value
                                                                     : kMaxWindowBits;
  return result;
}

// ---------------------------------------------------------------------------------------------
// The codec (RFC 7692 7.2).

namespace {

// The empty stored block a sync flush ends with; stripped on send, restored on receive.
constexpr std::uint8_t kFlushTail[] = {0x00, 0x00, 0xFF, 0xFF};
constexpr std::size_t kFlushTailSize = sizeof(kFlushTail);
// Output is produced in chunks of this size so an inflating message never grows `out` by more
// than this past its limit.
constexpr std::size_t kInflateChunk = 16 * 1024;
// Slack beyond deflateBound() for the sync-flush marker and block headers.
constexpr std::size_t kDeflateSlack = 64;
// zlib counts input and output in uInt; larger buffers are fed in pieces.
constexpr std::size_t kMaxZlibSpan = std::numeric_limits<uInt>::max();

}  // namespace

struct DeflateCodec::Impl {
  Impl(Role role, const DeflateParams& params, const DeflateOptions& options)
      : level(options.compression_level < Z_NO_COMPRESSION
                  ? Z_DEFAULT_COMPRESSION
                  : std::min(options.compression_level, Z_BEST_COMPRESSION)),
        mem_level(std::clamp(options.mem_level, 1, MAX_MEM_LEVEL)) {
    const bool server = role == Role::kServer;
    const int own_bits = server ? params.server_max_window_bits : params.client_max_window_bits;
    // zlib's raw deflate has no 8-bit window; its 9-bit one stays within 256 bytes (see
    // DeflateOptions::allow_window_bits_8), and negotiation only agrees to 8 when allowed.
    compress_bits = std::clamp(own_bits, kMinWindowBits + 1, kMaxWindowBits);
    reset_deflate_after_message =
        server ? params.server_no_context_takeover : params.client_no_context_takeover;
    reset_inflate_after_message =
        server ? params.client_no_context_takeover : params.server_no_context_takeover;
  }

  ~Impl() {
    if (deflate_ready) deflateEnd(&deflater);
    if (inflate_ready) inflateEnd(&inflater);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void ensure_deflater() {
    if (deflate_ready) return;
    deflater = z_stream{};
    const int rc =
        deflateInit2(&deflater, level, Z_DEFLATED, -compress_bits, mem_level, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) throw std::bad_alloc();  // parameters are clamped valid: only memory fails
    deflate_ready = true;
  }

  void ensure_inflater() {
    if (inflate_ready) return;
    inflater = z_stream{};
    // The largest window decodes a stream made with any smaller one.
    if (inflateInit2(&inflater, -kMaxWindowBits) != Z_OK) throw std::bad_alloc();
    inflate_ready = true;
  }

  void compress(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out) {
    compress_fragment(data, size, true, out);
  }

  void compress_fragment(const std::uint8_t* data, std::size_t size, bool final,
                         std::vector<std::uint8_t>& out) {
    if (size == 0 && (!final || fragment_started)) {
      // Nothing new to flush: zlib answers a second flush in a row with Z_BUF_ERROR. The
      // earlier frame's flush already ended on a byte boundary, so the message decodes whole.
      if (final) end_compressed_message();
      return;
    }
    if (size == 0) {
      // The empty stored block, tail removed (RFC 7692 7.2.3.6). Emitted directly: zlib
      // answers a second flush in a row with Z_BUF_ERROR and no output. It leaves the window
      // untouched, so it is right with and without context takeover.
      out.push_back(0x00);
      return;
    }
    ensure_deflater();
    const std::size_t start = out.size();
    std::size_t used = start;
    out.resize(start + deflateBound(&deflater, static_cast<uLong>(std::min(size, kMaxZlibSpan))) +
               kDeflateSlack);
    std::size_t remaining = size;
    deflater.next_in = data;
    for (;;) {
      const std::size_t piece = std::min(remaining, kMaxZlibSpan);
      deflater.avail_in = static_cast<uInt>(piece);
      remaining -= piece;
      const int flush = remaining == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
      // Run until this piece is consumed and, on the last one, the flush has fully come out
      // (zlib: avail_out == 0 means there may be more).
      for (;;) {
        if (out.size() - used < kDeflateSlack) {
          out.resize(out.size() + out.size() / 2 + kDeflateSlack);
        }
        const std::size_t space = std::min(out.size() - used, kMaxZlibSpan);
        deflater.next_out = out.data() + used;
        deflater.avail_out = static_cast<uInt>(space);
        deflate(&deflater, flush);  // cannot fail: valid stream, progress always possible
        used += space - deflater.avail_out;
        if (deflater.avail_in == 0 && deflater.avail_out != 0) break;
      }
      if (remaining == 0) break;
    }
    if (!final) {
      // Mid-message the flush marker stays: it is part of the stream the receiver inflates.
      out.resize(used);
      fragment_started = true;
      return;
    }
    // A sync flush always ends with the empty stored block 00 00 FF FF; RFC 7692 7.2.1 drops it.
    if (used - start >= kFlushTailSize &&
        std::equal(kFlushTail, kFlushTail + kFlushTailSize,
                   out.begin() + static_cast<std::ptrdiff_t>(used - kFlushTailSize))) {
      used -= kFlushTailSize;
    }
    out.resize(used);
    end_compressed_message();
  }

  void end_compressed_message() {
    fragment_started = false;
    if (reset_deflate_after_message && deflate_ready) deflateReset(&deflater);
  }

  InflateStatus decompress(const std::uint8_t* data, std::size_t size, bool final,
                           std::vector<std::uint8_t>& out, std::size_t max_message_bytes) {
    ensure_inflater();
    message_in += size;
    InflateStatus status = InflateStatus::kOk;
    if (size != 0) status = feed(data, size, out, max_message_bytes);
    // An empty compressed payload carries no block at all; it reads as the empty message and
    // must not leave the inflater inside a half-read stored block.
    if (status == InflateStatus::kOk && final && message_in != 0 && !stream_ended) {
      status = feed(kFlushTail, kFlushTailSize, out, max_message_bytes);
    }
    if (final || status != InflateStatus::kOk) end_message();
    return status;
  }

  // Inflates `size` bytes into `out`, bounded by the message's remaining budget.
  InflateStatus feed(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out,
                     std::size_t max_message_bytes) {
    // A BFINAL block ended the stream (RFC 7692 7.2.3.4). What follows within the message is
    // not DEFLATE data (padding, our flush tail) and is ignored, as zlib-based peers do.
    if (stream_ended) return InflateStatus::kOk;
    std::size_t remaining = size;
    inflater.next_in = data;
    inflater.avail_in = 0;  // input left over after a final block is not carried into this one
    for (;;) {
      if (inflater.avail_in == 0 && remaining != 0) {
        const std::size_t piece = std::min(remaining, kMaxZlibSpan);
        inflater.avail_in = static_cast<uInt>(piece);
        remaining -= piece;
      }
      // One byte beyond the budget is enough to know the message is too big.
      const std::size_t budget =
          max_message_bytes >= message_out ? max_message_bytes - message_out : 0;
      const std::size_t chunk = budget >= kInflateChunk ? kInflateChunk : budget + 1;
      const std::size_t used = out.size();
      out.resize(used + chunk);
      inflater.next_out = out.data() + used;
      inflater.avail_out = static_cast<uInt>(chunk);
      const int rc = inflate(&inflater, Z_SYNC_FLUSH);
      const std::size_t produced = chunk - inflater.avail_out;
      out.resize(used + produced);
      message_out += produced;
      if (message_out > max_message_bytes) return InflateStatus::kTooBig;
      if (rc == Z_STREAM_END) {
        stream_ended = true;
        return InflateStatus::kOk;
      }
      if (rc == Z_BUF_ERROR) {
        // No progress possible: all input consumed (more may come in the next frame).
        if (inflater.avail_in == 0 && remaining == 0) return InflateStatus::kOk;
        if (inflater.avail_out == 0) continue;
        return InflateStatus::kCorrupt;
      }
      if (rc == Z_MEM_ERROR) throw std::bad_alloc();
      if (rc != Z_OK) return InflateStatus::kCorrupt;  // Z_DATA_ERROR, Z_NEED_DICT, ...
      if (inflater.avail_in == 0 && remaining == 0 && inflater.avail_out != 0) {
        return InflateStatus::kOk;
      }
    }
  }

  void end_message() {
    // After a final block the stream is over and the next message starts a fresh one.
    if (stream_ended || reset_inflate_after_message) inflateReset(&inflater);
    message_in = 0;
    message_out = 0;
    stream_ended = false;
  }

  int level;
  int mem_level;
  int compress_bits = kMaxWindowBits;
  bool reset_deflate_after_message = false;
  bool reset_inflate_after_message = false;

  z_stream deflater{};
  z_stream inflater{};
  bool deflate_ready = false;
  bool inflate_ready = false;
  bool fragment_started = false;  // compress_fragment is inside a message

  // The message being inflated.
  std::size_t message_in = 0;
  std::size_t message_out = 0;
  bool stream_ended = false;
};

DeflateCodec::DeflateCodec(Role our_role, const DeflateParams& params,
                           const DeflateOptions& options)
    : impl_(std::make_unique<Impl>(our_role, params, options)) {}
DeflateCodec::~DeflateCodec() = default;
DeflateCodec::DeflateCodec(DeflateCodec&&) noexcept = default;
DeflateCodec& DeflateCodec::operator=(DeflateCodec&&) noexcept = default;

void DeflateCodec::compress(const std::uint8_t* data, std::size_t size,
                            std::vector<std::uint8_t>& out) {
  impl_->compress(data, size, out);
}

void DeflateCodec::compress_fragment(const std::uint8_t* data, std::size_t size, bool final,
                                     std::vector<std::uint8_t>& out) {
  impl_->compress_fragment(data, size, final, out);
}

InflateStatus DeflateCodec::decompress(const std::uint8_t* data, std::size_t size, bool final,
                                       std::vector<std::uint8_t>& out,
                                       std::size_t max_message_bytes) {
  return impl_->decompress(data, size, final, out, max_message_bytes);
}

int DeflateCodec::compress_window_bits() const { return impl_->compress_bits; }

}  // namespace wstool::ws
