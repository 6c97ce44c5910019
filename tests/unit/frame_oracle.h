// A differential harness for the frame decoder: wstool's codec under the session rules every
// endpoint applies, against websocketpp's hybi13 processor as an independent oracle. Shared by
// frame_oracle_test and the frame_differential fuzz target.
#pragma once

#include <websocketpp/extensions/permessage_deflate/disabled.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/message_buffer/alloc.hpp>
#include <websocketpp/message_buffer/message.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/random/none.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/frame.h"
#include "lib/utf8.h"

namespace wstool::oracle {

// Small enough that a generated length can exceed it; both sides enforce it the same way.
constexpr std::size_t kMaxMessageBytes = 1 << 20;

struct Message {
  std::uint8_t opcode = 0;
  std::string payload;
  bool operator==(const Message& o) const { return opcode == o.opcode && payload == o.payload; }
};

enum class End : std::uint8_t {
  kWaiting,    // every byte consumed, nothing wrong so far (at a frame boundary or mid-frame)
  kRejected,   // a protocol error
  kUndefined,  // the two legitimately differ here (see run_ours); the case is skipped
};

struct Verdict {
  std::vector<Message> messages;  // the messages completed before the end
  End end = End::kWaiting;
};

// The minimum websocketpp needs for a processor outside a connection: no extensions, no rng.
struct ProcessorConfig {
  using request_type = websocketpp::http::parser::request;
  using response_type = websocketpp::http::parser::response;
  using message_type =
      websocketpp::message_buffer::message<websocketpp::message_buffer::alloc::con_msg_manager>;
  using con_msg_manager_type = websocketpp::message_buffer::alloc::con_msg_manager<message_type>;
  using rng_type = websocketpp::random::none::int_generator<std::uint32_t>;
  struct permessage_deflate_config {
    using request_type = ProcessorConfig::request_type;
    static const std::size_t max_message_size = kMaxMessageBytes;
  };
  using permessage_deflate_type =
      websocketpp::extensions::permessage_deflate::disabled<permessage_deflate_config>;
  static const std::size_t max_message_size = kMaxMessageBytes;
  static const bool enable_extensions = false;
};

// Feeds `wire` to websocketpp in pieces of at most `chunk` bytes (0: all at once).
inline Verdict run_websocketpp(std::vector<std::uint8_t> wire, ws::Role role,
                               std::size_t chunk = 0) {
  auto manager = std::make_shared<ProcessorConfig::con_msg_manager_type>();
  ProcessorConfig::rng_type rng;
  websocketpp::processor::hybi13<ProcessorConfig> processor(false, role == ws::Role::kServer,
                                                            manager, rng);
  Verdict v;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const std::size_t piece = chunk == 0 ? wire.size() - pos : std::min(chunk, wire.size() - pos);
    websocketpp::lib::error_code ec;
    const std::size_t used = processor.consume(wire.data() + pos, piece, ec);
    if (ec) {
      v.end = End::kRejected;
      return v;
    }
    pos += used;
    if (processor.ready()) {
      auto msg = processor.get_message();
      v.messages.push_back({static_cast<std::uint8_t>(msg->get_opcode()), msg->get_payload()});
    } else if (used == 0) {
      break;  // defensive: no progress without a message or an error
    }
  }
  return v;
}

// wstool's codec with the session rules of RFC 6455 5.2-5.5 as websocketpp applies them in its
// processor: rsv bits clear (no extensions), defined opcodes, control frames final and at most
// 125 bytes, continuation only inside a message, masking by role, text valid UTF-8 (checked as
// bytes arrive), and kMaxMessageBytes per message. Masking is undone in two pieces to exercise
// apply_mask's offset.
inline std::uint64_t big_endian(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

inline Verdict run_ours(const std::uint8_t* data, std::size_t size, ws::Role role) {
  constexpr std::size_t kBasicHeaderBytes = 2;
  constexpr std::size_t kMaskKeyBytes = 4;
  Verdict v;
  bool in_message = false;
  std::uint8_t message_opcode = 0;
  std::string message_payload;
  Utf8Validator utf8;
  std::size_t pos = 0;
  while (pos < size) {
    const std::uint8_t* p = data + pos;
    const std::size_t left = size - pos;
    ws::FrameHeader h;
    const ws::HeaderStatus status = ws::decode_header(p, left, h);
    if (left < kBasicHeaderBytes) return v;

    // Rules known from the first two bytes.
    const bool control = ws::is_control_opcode(h.opcode);
    const bool extended_length = h.header_length > kBasicHeaderBytes + (h.masked ? kMaskKeyBytes : 0);
    const bool continuation = h.opcode == ws::opcode::kContinuation;
    if (h.rsv != 0 || !ws::is_defined_opcode(h.opcode) || (control && (!h.fin || extended_length)) ||
        (continuation && !in_message) || (!control && !continuation && in_message) ||
        h.masked != (role == ws::Role::kServer)) {
      v.end = End::kRejected;
      return v;
    }
    if (status == ws::HeaderStatus::kNonMinimalLength ||
        status == ws::HeaderStatus::kLengthTooLarge) {
      // We judge the length as soon as its bytes are in, websocketpp only once the masking key
      // is too: in between, we have rejected and it is still waiting.
      v.end = left < h.header_length ? End::kUndefined : End::kRejected;
      if (status == ws::HeaderStatus::kLengthTooLarge && in_message &&
          message_payload.size() > UINT64_MAX - big_endian(p + kBasicHeaderBytes, sizeof(std::uint64_t))) {
        // websocketpp checks a continuation frame with size-so-far + length > limit, which
        // wraps around for lengths this close to 2^64 and lets the frame through: its bug.
        v.end = End::kUndefined;
      }
      return v;
    }
    if (status == ws::HeaderStatus::kIncomplete) return v;

    // websocketpp has no length limit of its own beyond the message size (control frames are
    // bounded above); a 64-bit length with its top bit set is too big for any message.
    if (!control && (in_message ? message_payload.size() : 0) + h.payload_length > kMaxMessageBytes) {
      v.end = End::kRejected;
      return v;
    }
    const std::size_t available =
        static_cast<std::size_t>(std::min<std::uint64_t>(h.payload_length, left - h.header_length));
    std::string payload(reinterpret_cast<const char*>(p + h.header_length), available);
    auto* bytes = reinterpret_cast<std::uint8_t*>(payload.data());
    if (h.masked) {
      const std::size_t first = available / 3;
      ws::apply_mask(bytes, first, h.mask_key, 0);
      ws::apply_mask(bytes + first, available - first, h.mask_key, first);
    }
    const std::uint8_t opcode = control ? h.opcode : (in_message ? message_opcode : h.opcode);
    if (opcode == ws::opcode::kText && !utf8.feed(bytes, payload.size())) {
      v.end = End::kRejected;
      return v;
    }
    if (available < h.payload_length) return v;
    pos += h.header_length + available;

    if (control) {
      v.messages.push_back({h.opcode, payload});
      continue;
    }
    if (!in_message) {
      in_message = true;
      message_opcode = h.opcode;
    }
    message_payload += payload;
    const bool was_fragmented = h.opcode == ws::opcode::kContinuation;
    if (h.fin) {
      if (message_opcode == ws::opcode::kText && !utf8.at_boundary()) {
        // websocketpp checks that a text message ends on a code point boundary only when its
        // last frame is the text frame itself, not a continuation: a websocketpp bug.
        v.end = was_fragmented ? End::kUndefined : End::kRejected;
        return v;
      }
      v.messages.push_back({message_opcode, message_payload});
      in_message = false;
      message_payload.clear();
      utf8.reset();
    }
  }
  return v;
}

inline bool operator==(const Verdict& a, const Verdict& b) {
  return a.end == b.end && a.messages == b.messages;
}

}  // namespace wstool::oracle
