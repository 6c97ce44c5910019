// The per-connection protocol state machine: frame validation, message assembly with fail-fast
// UTF-8 checks, control frames and the closing handshake.
#include "lib/session.h"

#include <openssl/rand.h>

#include <array>
#include <cstring>

#include "lib/permessage_deflate.h"

namespace wstool::ws {

namespace {

// Buffers up to this size are kept between messages; larger ones are given back.
constexpr std::size_t kKeptBufferBytes = std::size_t{64} << 10;

// Frames with at most this much payload are assembled on the stack, then appended at once.
constexpr std::size_t kSmallFramePayloadBytes = 128;

// Masking keys fetched from the CSPRNG at once (per thread: 4 KiB): a fetch costs microseconds,
// so a client sending small messages fast refills rarely.
constexpr std::size_t kMaskKeyBatch = 1024;

// The common frame's header, decoded and encoded without the general codec (the wire layout's
// constants are frame.h's): a whole data message (FIN, no RSV bits, text or binary) of at most
// kMaxLength7 bytes, whose 7-bit length field is the length itself.
constexpr std::uint8_t kWholeText = kFinBit | opcode::kText;
constexpr std::uint8_t kWholeBinary = kFinBit | opcode::kBinary;

// A compressed frame payload can exceed the message it decodes to only by deflate's framing
// overhead; anything far past the limit is rejected before inflating.
constexpr std::size_t kCompressedSlackBytes = 1024;

// Masking keys come from OpenSSL's CSPRNG (RFC 6455 10.3), fetched in batches, one batch per
// thread: a batch per session would cost every client connection that ever sent a frame 1 KiB.
std::uint32_t next_mask_key() {
  thread_local std::array<std::uint32_t, kMaskKeyBatch> keys{};
  thread_local std::size_t left = 0;
  if (left == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(keys.data()),
                   static_cast<int>(keys.size() * sizeof(std::uint32_t))) != 1) {
      // OpenSSL's generator does not fail once seeded; should it, an all-zero key is still a
      // valid frame, merely unmasked in effect.
      keys.fill(0u);
    }
    left = keys.size();
  }
  return keys[--left];
}

// ws::copy_masked for the small frames built on the stack (at most kSmallFramePayloadBytes):
// words, then bytes, inline, without the general function's phase and vector set-up, which
// costs a 32-byte message more than the masking itself.
void copy_masked_small(std::uint8_t* to, const std::uint8_t* from, std::size_t size, std::uint32_t mask_key) {
  // A word holds whole key periods, so the same pattern applies to every word (either endianness).
  const std::uint64_t pattern = (std::uint64_t{mask_key} << 32) | mask_key;
  std::size_t i = 0;
  for (; size - i >= sizeof pattern; i += sizeof pattern) {
    std::uint64_t word;
    std::memcpy(&word, from + i, sizeof word);
    word ^= pattern;
    std::memcpy(to + i, &word, sizeof word);
  }
  std::uint8_t key[kMaskKeyBytes];
  std::memcpy(key, &mask_key, sizeof key);
  for (; i < size; ++i) to[i] = static_cast<std::uint8_t>(from[i] ^ key[i % kMaskKeyBytes]);
}

}  // namespace

Session::Session(Role role, std::size_t max_message_bytes)
    : role_(role), max_message_bytes_(max_message_bytes) {}

Session::~Session() = default;

void Session::enable_deflate(std::unique_ptr<DeflateCodec> codec) { deflate_ = std::move(codec); }

Session::Violation Session::check_header(const FrameHeader& h) const {
  const bool control = is_control_opcode(h.opcode);
  if (!is_defined_opcode(h.opcode)) return {close_code::kProtocolError, "reserved opcode"};
  if (h.rsv != 0) {
    const bool compressed_start = deflate_ != nullptr && h.rsv == kRsv1 && !control &&
                                  h.opcode != opcode::kContinuation;
    if (!compressed_start) {
      return {close_code::kProtocolError, "reserved bits set without a negotiated extension"};
    }
  }
  if (role_ == Role::kServer && !h.masked) return {close_code::kProtocolError, "unmasked frame from a client"};
  if (role_ == Role::kClient && h.masked) return {close_code::kProtocolError, "masked frame from a server"};
  if (control) {
    if (!h.fin) return {close_code::kProtocolError, "fragmented control frame"};
    if (h.payload_length > kMaxControlPayloadBytes) {
      return {close_code::kProtocolError, "control frame payload over 125 bytes"};
    }
    return {};
  }
  if (h.opcode == opcode::kContinuation && !in_message_) {
    return {close_code::kProtocolError, "continuation frame without a message to continue"};
  }
  if (h.opcode != opcode::kContinuation && in_message_) {
    return {close_code::kProtocolError, "new data frame inside a fragmented message"};
  }
  const bool compressed = h.opcode == opcode::kContinuation ? message_compressed_ : (h.rsv & kRsv1) != 0;
  const std::size_t limit = compressed ? max_message_bytes_ + kCompressedSlackBytes : max_message_bytes_;
  const std::size_t so_far = h.opcode == opcode::kContinuation ? message_bytes_ : 0;
  if (h.payload_length > limit - so_far) return {close_code::kMessageTooBig, "message larger than the limit"};
  return {};
}

void Session::fail_frame(std::uint16_t code, std::string_view why, const FrameHeader& h, const std::uint8_t* data,
                         std::size_t size, SessionEvents& events) {
  if (code != close_code::kMessageTooBig && state_ != State::kFailed && state_ != State::kClosed) {
    InvalidFrame frame;
    frame.header = h;
    frame.data = data;
    frame.size = size;
    frame.why = why;
    events.on_invalid_frame(frame);
  }
  fail(code, why, events);
}

std::size_t Session::consume(std::uint8_t* data, std::size_t size, SessionEvents& events) {
  std::size_t pos = 0;
  while (state_ == State::kOpen || state_ == State::kCloseSent) {
    if (!in_frame_) {
      FrameHeader h;
      if (decode_simple_header(data + pos, size - pos, h)) {
        events.on_frame_header(h);
      } else if (!decode_checked_header(data, size, pos, h, events)) {
        break;
      } else if (is_control_opcode(h.opcode)) {
        pos += h.header_length;
        std::uint8_t* payload = data + pos;
        if (h.masked) apply_mask(payload, static_cast<std::size_t>(h.payload_length), h.mask_key, 0);
        pos += static_cast<std::size_t>(h.payload_length);
        handle_control(h, payload, events);
        continue;
      }
      const std::size_t available = size - pos - h.header_length;
      pos += h.header_length;
      std::uint8_t* payload = data + pos;
      const auto length = static_cast<std::size_t>(h.payload_length);
      // Fast path: a whole, unfragmented, uncompressed message already in the buffer is
      // delivered in place, with no copy.
      if (h.fin && h.opcode != opcode::kContinuation && (h.rsv & kRsv1) == 0 && available >= length) {
        if (h.masked) apply_mask(payload, length, h.mask_key, 0);
        pos += length;
        if (h.opcode == opcode::kText) {
          std::size_t valid = 0;
          utf8_.reset();
          if (!utf8_.feed(payload, length, valid) || !utf8_.at_boundary()) {
            fail_frame(close_code::kInvalidPayload, "invalid UTF-8 in a text message", h, payload, length, events);
            break;
          }
        }
        // After our close, data is still parsed (to find the peer's close), and delivered only
        // when asked for (set_deliver_after_close).
        if (delivering()) {
          if (frame_delivery_) {
            deliver_frame(h, payload, length, events);
          } else {
            events.on_message(h.opcode, payload, length);
          }
        }
        continue;
      }
      if (h.opcode != opcode::kContinuation) {
        in_message_ = true;
        message_opcode_ = h.opcode;
        message_compressed_ = (h.rsv & kRsv1) != 0;
        message_bytes_ = 0;
        message_.clear();
        utf8_.reset();
      }
      frame_ = h;
      in_frame_ = true;
      frame_received_ = 0;
    }
    // Stream the data frame's payload as it comes.
    const std::uint64_t remaining = frame_.payload_length - frame_received_;
    const std::size_t chunk = static_cast<std::size_t>(
        std::min<std::uint64_t>(remaining, static_cast<std::uint64_t>(size - pos)));
    if (chunk > 0) {
      if (frame_.masked) {
        apply_mask(data + pos, chunk, frame_.mask_key, static_cast<std::size_t>(frame_received_));
      }
      const bool ok = take_payload_chunk(data + pos, chunk, events);
      pos += chunk;
      frame_received_ += chunk;
      if (!ok) break;
    }
    if (frame_received_ < frame_.payload_length) break;  // wait for more of this frame
    in_frame_ = false;
    if (frame_.fin) {
      if (!finish_message(events)) break;
    } else if (frame_delivery_) {
      // A fragment is handed on as soon as it is whole; the message is not kept.
      if (delivering()) deliver_frame(frame_, message_.data(), message_.size(), events);
      message_.clear();
    }
  }
  // Input no longer matters (a peer that sent its close sends nothing more).
  if (state_ == State::kFailed || state_ == State::kClosed || state_ == State::kCloseReceived) return size;
  return pos;
}

// The common header (see kWholeText) needs none of decode_header's cases nor check_header's
// rules: it is valid when masked as the peer's role requires, outside a fragmented message, and
// within the message limit. False for anything else, which the general path then judges.
bool Session::decode_simple_header(const std::uint8_t* data, std::size_t size, FrameHeader& h) const {
  if (size < kBaseHeaderBytes || in_message_) return false;
  const std::uint8_t b0 = data[0];
  const std::uint8_t b1 = data[1];
  const std::size_t length = b1 & kLength7Bits;
  const bool masked = (b1 & kMaskBit) != 0;
  if ((b0 != kWholeText && b0 != kWholeBinary) || length > kMaxLength7 || length > max_message_bytes_ ||
      masked != (role_ == Role::kServer)) {
    return false;
  }
  const std::size_t header_bytes = kBaseHeaderBytes + (masked ? kMaskKeyBytes : 0);
  if (size < header_bytes) return false;
  h.fin = true;
  h.rsv = 0;
  h.opcode = static_cast<std::uint8_t>(b0 & ~kFinBit);
  h.masked = masked;
  if (masked) std::memcpy(&h.mask_key, data + kBaseHeaderBytes, kMaskKeyBytes);
  h.payload_length = length;
  h.header_length = header_bytes;
  return true;
}

// Any other header: decoded, reported and checked against every rule. False when consume must
// stop: the header (or a control frame) is incomplete, or the connection failed.
bool Session::decode_checked_header(std::uint8_t* data, std::size_t size, std::size_t pos, FrameHeader& h,
                                    SessionEvents& events) {
  const HeaderStatus status = decode_header(data + pos, size - pos, h);
  if (status == HeaderStatus::kIncomplete) return false;
  if (status == HeaderStatus::kNonMinimalLength) {
    fail_frame(close_code::kProtocolError, "frame length not minimally encoded", h, nullptr, 0, events);
    return false;
  }
  if (status == HeaderStatus::kLengthTooLarge) {
    fail_frame(close_code::kProtocolError, "frame length has its most significant bit set", h, nullptr, 0, events);
    return false;
  }
  const std::size_t available = size - pos - h.header_length;
  if (is_control_opcode(h.opcode) && h.payload_length <= kMaxControlPayloadBytes &&
      available < h.payload_length) {
    return false;  // control frames are handled whole; they are small
  }
  events.on_frame_header(h);
  if (const Violation v = check_header(h); v.code != 0) {
    // What has arrived of the offending frame's payload goes with the report, unmasked.
    const std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(available, h.payload_length));
    std::uint8_t* body = data + pos + h.header_length;
    if (v.code != close_code::kMessageTooBig && h.masked) apply_mask(body, have, h.mask_key, 0);
    fail_frame(v.code, v.why, h, body, have, events);
    return false;
  }
  return true;
}

bool Session::take_payload_chunk(std::uint8_t* data, std::size_t size, SessionEvents& events) {
  message_bytes_ += size;
  if (message_compressed_) return inflate_into_message(data, size, false, events);
  if (message_opcode_ == opcode::kText && !utf8_.feed(data, size)) {
    // The frame so far: its earlier chunks end the message buffer, this one follows.
    const std::size_t earlier = static_cast<std::size_t>(std::min<std::uint64_t>(frame_received_, message_.size()));
    std::vector<std::uint8_t> frame(message_.end() - static_cast<std::ptrdiff_t>(earlier), message_.end());
    frame.insert(frame.end(), data, data + size);
    fail_frame(close_code::kInvalidPayload, "invalid UTF-8 in a text message", frame_, frame.data(), frame.size(),
               events);
    return false;
  }
  message_.insert(message_.end(), data, data + size);
  return true;
}

// Inflates compressed payload onto the message, validating text as it appears (fail fast).
bool Session::inflate_into_message(const std::uint8_t* data, std::size_t size, bool final,
                                   SessionEvents& events) {
  const std::size_t before = message_.size();
  const InflateStatus status = deflate_->decompress(data, size, final, message_, max_message_bytes_);
  if (status == InflateStatus::kTooBig) {
    fail(close_code::kMessageTooBig, "decompressed message larger than the limit", events);
    return false;
  }
  if (status == InflateStatus::kCorrupt) {
    fail_frame(close_code::kInvalidPayload, "corrupt compressed data", frame_, data, size, events);
    return false;
  }
  if (message_opcode_ == opcode::kText && !utf8_.feed(message_.data() + before, message_.size() - before)) {
    fail_frame(close_code::kInvalidPayload, "invalid UTF-8 in a text message", frame_, data, size, events);
    return false;
  }
  return true;
}

bool Session::finish_message(SessionEvents& events) {
  in_message_ = false;
  if (message_compressed_ && !inflate_into_message(nullptr, 0, true, events)) return false;
  if (message_opcode_ == opcode::kText && !utf8_.at_boundary()) {
    const std::size_t tail = message_compressed_ ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(
                                                           frame_.payload_length, message_.size()));
    fail_frame(close_code::kInvalidPayload, "text message ends inside a UTF-8 sequence", frame_,
               message_.data() + (message_.size() - tail), tail, events);
    return false;
  }
  if (delivering()) {
    if (frame_delivery_) {
      deliver_frame(frame_, message_.data(), message_.size(), events);
    } else {
      events.on_message(message_opcode_, message_.data(), message_.size());
    }
  }
  // Keep the buffer for the next message, but do not let one huge message pin its memory.
  if (message_.capacity() > kKeptBufferBytes) {
    std::vector<std::uint8_t>().swap(message_);
  } else {
    message_.clear();
  }
  return true;
}

void Session::deliver_frame(const FrameHeader& h, const std::uint8_t* data, std::size_t size,
                            SessionEvents& events) {
  DataFrame frame;
  frame.opcode = h.opcode;
  frame.fin = h.fin;
  frame.rsv = h.rsv;
  frame.compressed = h.opcode == opcode::kContinuation ? message_compressed_ : (h.rsv & kRsv1) != 0;
  frame.data = data;
  frame.size = size;
  events.on_data_frame(frame);
}

void Session::release_idle_buffers() {
  if (out_.empty() && out_.capacity() > 0) OutputBuffer().swap(out_);
  if (scratch_.capacity() > 0) std::vector<std::uint8_t>().swap(scratch_);
  if (!in_message_ && message_.capacity() > 0) std::vector<std::uint8_t>().swap(message_);
}

void Session::handle_control(const FrameHeader& h, std::uint8_t* payload, SessionEvents& events) {
  const auto size = static_cast<std::size_t>(h.payload_length);
  switch (h.opcode) {
    case opcode::kPing:
      events.on_ping(payload, size);
      // In frame delivery mode the handler answers (a proxy relays the ping and its pong).
      if (state_ == State::kOpen && !frame_delivery_) append_frame(opcode::kPong, true, 0, payload, size);
      return;
    case opcode::kPong:
      events.on_pong(payload, size);
      return;
    case opcode::kClose: {
      ClosePayload close;
      switch (parse_close_payload(payload, size, close)) {
        case CloseStatus::kOk:
        case CloseStatus::kEmpty:
          break;
        case CloseStatus::kBadLength:
          fail_frame(close_code::kProtocolError, "close frame with a 1-byte payload", h, payload, size, events);
          return;
        case CloseStatus::kBadCode:
          fail_frame(close_code::kProtocolError, "close frame with a code not allowed on the wire", h, payload,
                     size, events);
          return;
        case CloseStatus::kBadReason:
          fail_frame(close_code::kInvalidPayload, "close reason is not valid UTF-8", h, payload, size, events);
          return;
      }
      close_received_ = true;
      received_close_code_ = close.code;
      received_close_reason_.assign(close.reason);
      events.on_close_frame(close.code, close.reason);
      if (state_ == State::kOpen && hold_close_reply_) {
        state_ = State::kCloseReceived;  // send_close answers it
        return;
      }
      if (state_ == State::kOpen) {
        // Echo the peer's code (RFC 6455 5.5.1); an empty close is answered with an empty one.
        sent_close_code_ = close.code;
        if (close.code == close_code::kNoStatus) {
          append_frame(opcode::kClose, true, 0, nullptr, 0);
        } else {
          const std::uint8_t code_bytes[2] = {static_cast<std::uint8_t>(close.code >> 8),
                                              static_cast<std::uint8_t>(close.code & 0xFF)};
          append_frame(opcode::kClose, true, 0, code_bytes, sizeof code_bytes);
        }
      }
      state_ = State::kClosed;
      return;
    }
    default:
      return;
  }
}

void Session::fail(std::uint16_t code, std::string_view why, SessionEvents& events, bool discard_output) {
  if (state_ == State::kFailed || state_ == State::kClosed) return;
  if (discard_output) out_.clear();
  const bool send = sending();
  state_ = State::kFailed;
  if (send) {
    sent_close_code_ = code;
    const std::uint8_t code_bytes[2] = {static_cast<std::uint8_t>(code >> 8),
                                        static_cast<std::uint8_t>(code & 0xFF)};
    append_frame(opcode::kClose, true, 0, code_bytes, sizeof code_bytes);
  }
  events.on_fail(code, why);
}

void Session::append_frame(std::uint8_t op, bool fin, std::uint8_t rsv, const std::uint8_t* data,
                           std::size_t size) {
  FrameHeader h;
  h.fin = fin;
  h.rsv = rsv;
  h.opcode = op;
  h.payload_length = size;
  h.masked = role_ == Role::kClient;
  if (h.masked) h.mask_key = next_mask_key();
  if (size <= kSmallFramePayloadBytes) {
    // Small frames (most control frames, chat-sized messages) are built whole on the stack,
    // masked as they are copied, and appended with one insert.
    std::uint8_t frame[kMaxFrameHeaderBytes + kSmallFramePayloadBytes];
    std::size_t header_bytes = 0;
    if (size <= kMaxLength7) {
      // The 7-bit length field holds the length itself: no general encoder needed.
      frame[0] = static_cast<std::uint8_t>((fin ? kFinBit : 0) | ((rsv & kRsvBits) << kRsvShift) | (op & kOpcodeBits));
      frame[1] = static_cast<std::uint8_t>((h.masked ? kMaskBit : 0) | size);
      header_bytes = kBaseHeaderBytes;
      if (h.masked) {
        std::memcpy(frame + header_bytes, &h.mask_key, kMaskKeyBytes);
        header_bytes += kMaskKeyBytes;
      }
    } else {
      header_bytes = encode_header(frame, h);
    }
    if (h.masked) {
      copy_masked_small(frame + header_bytes, data, size, h.mask_key);
    } else if (size > 0) {
      std::memcpy(frame + header_bytes, data, size);
    }
    append_bytes(out_, frame, header_bytes + size);
    return;
  }
  std::uint8_t header[kMaxFrameHeaderBytes];
  const std::size_t header_bytes = encode_header(header, h);
  const std::size_t payload_at = out_.size() + header_bytes;
  append_bytes(out_, header, header_bytes);
  if (h.masked) {
    // One pass: masked as it is copied (resize() leaves the new bytes unwritten: OutputBuffer).
    out_.resize(payload_at + size);
    copy_masked(out_.data() + payload_at, data, size, h.mask_key, 0);
  } else {
    append_bytes(out_, data, size);
  }
}

bool Session::send_encoded(std::uint8_t op, const std::uint8_t* frame, std::size_t frame_size,
                           std::size_t header_size) {
  if (!sending()) return false;
  if (role_ == Role::kClient || deflate_ != nullptr) {
    return send_message(op, frame + header_size, frame_size - header_size);
  }
  append_bytes(out_, frame, frame_size);
  return true;
}

bool Session::send_message(std::uint8_t op, const std::uint8_t* data, std::size_t size) {
  if (!sending()) return false;
  if (deflate_ != nullptr && (op == opcode::kText || op == opcode::kBinary)) {
    scratch_.clear();
    deflate_->compress(data, size, scratch_);
    append_frame(op, true, kRsv1, scratch_.data(), scratch_.size());
    return true;
  }
  append_frame(op, true, 0, data, size);
  return true;
}

bool Session::send_message_header(std::uint8_t op, std::size_t size) {
  if (!sending() || !payloads_verbatim()) return false;
  append_header(op, true, size);
  return true;
}

bool Session::start_frame(std::uint8_t op, bool fin) {
  if (!sending()) return false;
  const bool continuation = op == opcode::kContinuation;
  if (continuation != sending_fragments_) return false;
  if (!continuation && op != opcode::kText && op != opcode::kBinary) return false;
  sending_fragments_ = !fin;
  return true;
}

bool Session::send_frame(std::uint8_t op, bool fin, const std::uint8_t* data, std::size_t size) {
  if (!start_frame(op, fin)) return false;
  if (deflate_ != nullptr) {
    scratch_.clear();
    deflate_->compress_fragment(data, size, fin, scratch_);
    append_frame(op, fin, op == opcode::kContinuation ? 0 : kRsv1, scratch_.data(), scratch_.size());
    return true;
  }
  append_frame(op, fin, 0, data, size);
  return true;
}

bool Session::send_frame_header(std::uint8_t op, bool fin, std::size_t size) {
  if (!payloads_verbatim() || !start_frame(op, fin)) return false;
  append_header(op, fin, size);
  return true;
}

void Session::append_header(std::uint8_t op, bool fin, std::size_t size) {
  FrameHeader h;
  h.fin = fin;
  h.opcode = op;
  h.payload_length = size;
  std::uint8_t header[kMaxFrameHeaderBytes];
  const std::size_t header_bytes = encode_header(header, h);
  append_bytes(out_, header, header_bytes);
}

bool Session::send_ping(const std::uint8_t* data, std::size_t size) {
  if (!sending() || size > kMaxControlPayloadBytes) return false;
  append_frame(opcode::kPing, true, 0, data, size);
  return true;
}

bool Session::send_pong(const std::uint8_t* data, std::size_t size) {
  if (!sending() || size > kMaxControlPayloadBytes) return false;
  append_frame(opcode::kPong, true, 0, data, size);
  return true;
}

bool Session::send_close(std::uint16_t code, std::string_view reason) {
  if (!sending()) return false;
  sent_close_code_ = code;
  state_ = state_ == State::kCloseReceived ? State::kClosed : State::kCloseSent;
  if (code == close_code::kNoStatus) {
    append_frame(opcode::kClose, true, 0, nullptr, 0);
    return true;
  }
  // A close payload is at most 125 bytes: the code and up to 123 bytes of reason.
  constexpr std::size_t kMaxReasonBytes = kMaxControlPayloadBytes - 2;
  std::uint8_t payload[kMaxControlPayloadBytes];
  payload[0] = static_cast<std::uint8_t>(code >> 8);
  payload[1] = static_cast<std::uint8_t>(code & 0xFF);
  std::size_t reason_bytes = std::min(reason.size(), kMaxReasonBytes);
  // Never cut a UTF-8 sequence in half.
  while (reason_bytes > 0 && reason_bytes < reason.size() &&
         (static_cast<std::uint8_t>(reason[reason_bytes]) & 0xC0) == 0x80) {
    --reason_bytes;
  }
  if (reason_bytes > 0) std::memcpy(payload + 2, reason.data(), reason_bytes);
  append_frame(opcode::kClose, true, 0, payload, 2 + reason_bytes);
  return true;
}

void Session::send_raw_frame(const RawFrame& frame) {
  FrameHeader h;
  h.fin = frame.fin;
  h.rsv = frame.rsv;
  h.opcode = frame.opcode;
  h.payload_length = frame.declared_length.value_or(frame.payload.size());
  switch (frame.masking) {
    case RawFrame::Masking::kRoleDefault: h.masked = role_ == Role::kClient; break;
    case RawFrame::Masking::kMasked: h.masked = true; break;
    case RawFrame::Masking::kUnmasked: h.masked = false; break;
  }
  // value_or would draw a key (advancing the generator) even when the caller gave one.
  if (h.masked) h.mask_key = frame.mask_key ? *frame.mask_key : next_mask_key();
  const std::size_t start = out_.size();
  out_.resize(start + kMaxFrameHeaderBytes + frame.payload.size());
  const std::size_t header_bytes = encode_header(out_.data() + start, h);
  const auto* payload = reinterpret_cast<const std::uint8_t*>(frame.payload.data());
  if (h.masked) {
    copy_masked(out_.data() + start + header_bytes, payload, frame.payload.size(), h.mask_key, 0);
  } else if (!frame.payload.empty()) {
    std::memcpy(out_.data() + start + header_bytes, payload, frame.payload.size());
  }
  out_.resize(start + header_bytes + frame.payload.size());
}

void Session::send_raw_bytes(const std::uint8_t* data, std::size_t size) {
  append_bytes(out_, data, size);
}

}  // namespace wstool::ws
