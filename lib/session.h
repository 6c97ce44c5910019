// The WebSocket protocol state machine of one connection, for either role: bytes in, events and
// bytes out, no sockets (RFC 6455 sections 5-7, with RFC 7692 compression when negotiated).
// The connection engine feeds it what the socket reads and writes what it produces; tests drive
// it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/frame.h"
#include "lib/utf8.h"

namespace wstool::ws {

class DeflateCodec;

// An allocator whose value-initialisation (what vector::resize does to new elements) leaves them
// as they are. Output is grown only to be written over at once: a client's payload is masked as
// it is copied in, and zero-filling it first cost one more pass over 16 KiB per message.
template <class T>
class UninitializedAllocator : public std::allocator<T> {
 public:
  using value_type = T;
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() noexcept = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>& /*other*/) noexcept {}
  template <class U>
  void construct(U* at) noexcept {
    ::new (static_cast<void*>(at)) U;
  }
  template <class U, class... Args>
  void construct(U* at, Args&&... args) {
    ::new (static_cast<void*>(at)) U(std::forward<Args>(args)...);
  }
};

// Bytes on their way to the socket: the session's output and the engine's write buffers.
using OutputBuffer = std::vector<std::uint8_t, UninitializedAllocator<std::uint8_t>>;

// Appends bytes with one memcpy (vector::insert with a custom allocator copies byte by byte).
inline void append_bytes(OutputBuffer& out, const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t at = out.size();
  out.resize(at + size);
  std::memcpy(out.data() + at, data, size);
}

// One data frame as frame delivery mode reports it (Session::set_frame_delivery): the payload
// decompressed when the message was, a continuation with opcode 0. Valid only during the call.
struct DataFrame {
  std::uint8_t opcode = opcode::kText;  // kText, kBinary, or kContinuation
  bool fin = true;
  std::uint8_t rsv = 0;       // the RSV bits as received (RSV1 only on a compressed first frame)
  bool compressed = false;    // the message this frame belongs to was compressed on the wire
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// A received frame that broke RFC 6455 (SessionEvents::on_invalid_frame): its header as decoded
// and what had arrived of its payload, unmasked and never decompressed, so possibly partial (a
// header-level violation is reported before its payload has come). Valid only during the call.
struct InvalidFrame {
  FrameHeader header;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::string_view why;  // "reserved bits set without a negotiated extension"
};

// What the session reports while consuming input. Pointers are valid only during the call.
class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  // Every frame header as it arrives (before validation), for frame logs.
  virtual void on_frame_header(const FrameHeader& /*header*/) {}
  // A complete, validated data message (text is valid UTF-8), decompressed.
  virtual void on_message(std::uint8_t opcode, const std::uint8_t* data, std::size_t size) = 0;
  // Frame delivery mode only, instead of on_message: each data frame once its payload is
  // complete, after the same validation (UTF-8 is checked across the message's frames).
  virtual void on_data_frame(const DataFrame& /*frame*/) {}
  virtual void on_ping(const std::uint8_t* /*data*/, std::size_t /*size*/) {}
  virtual void on_pong(const std::uint8_t* /*data*/, std::size_t /*size*/) {}
  // The peer's (valid) close frame; code is close_code::kNoStatus for an empty one.
  virtual void on_close_frame(std::uint16_t /*code*/, std::string_view /*reason*/) {}
  // A received frame broke the protocol (1002) or carried invalid data (1007); on_fail follows
  // at once. Not for frames that merely exceed a limit (1009): those are valid.
  virtual void on_invalid_frame(const InvalidFrame& /*frame*/) {}
  // We failed the connection: a close frame with `code` is queued and input is no longer read.
  virtual void on_fail(std::uint16_t /*code*/, std::string_view /*why*/) {}
};

// A frame exactly as a tester wants it on the wire, valid or not.
struct RawFrame {
  enum class Masking : std::uint8_t { kRoleDefault, kMasked, kUnmasked };
  // The header bits and payload as given (a recorded or hand-typed frame), masked as the role
  // does, its length the payload's: what replay and connect's /frame send. `payload` must
  // outlive the send_raw_frame call.
  static RawFrame from_bits(bool fin, std::uint8_t rsv, std::uint8_t opcode, std::string_view payload) {
    RawFrame frame;
    frame.fin = fin;
    frame.rsv = rsv;
    frame.opcode = opcode;
    frame.payload = payload;
    return frame;
  }

  bool fin = true;
  std::uint8_t rsv = 0;
  std::uint8_t opcode = opcode::kText;
  Masking masking = Masking::kRoleDefault;
  std::optional<std::uint32_t> mask_key;          // random when masked and not given
  std::optional<std::uint64_t> declared_length;   // a length field that lies, on purpose
  std::string_view payload;
};

class Session {
 public:
  enum class State : std::uint8_t {
    kOpen,        // data flows both ways
    kCloseSent,   // we sent a close frame and wait for the peer's
    // The peer's close arrived and our reply is held (set_hold_close_reply): we may still send
    // until send_close answers it; the peer's input is over.
    kCloseReceived,
    kClosed,      // close frames went both ways: the TCP connection may be closed
    kFailed,      // we failed the connection (close frame queued); ignore further input
  };

  Session(Role role, std::size_t max_message_bytes);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Turns on permessage-deflate once negotiated.
  void enable_deflate(std::unique_ptr<DeflateCodec> codec);
  bool deflate_enabled() const { return deflate_ != nullptr; }

  // Frame delivery mode (a proxy's): data arrives through SessionEvents::on_data_frame, one call
  // per frame, fragment boundaries kept, instead of whole messages through on_message. The
  // message limit still applies to the whole message. Pings are not answered automatically
  // in this mode: the handler answers or relays them. Off by default; costs one predictable
  // branch per message when off.
  void set_frame_delivery(bool on) { frame_delivery_ = on; }
  // Data the peer sends after our close frame and before its own (RFC 6455 5.5.1 allows it) is
  // parsed either way, to find the peer's close; with this on it is also delivered, as before our
  // close: for a tester, where everything the peer said counts. Off by default (a handler that
  // closed is done with the connection's data).
  void set_deliver_after_close(bool on) { deliver_after_close_ = on; }
  // The peer's close frame is not answered at once: the state becomes kCloseReceived, data,
  // pings and pongs may still be sent, and send_close sends the reply (with any code). For a
  // proxy, which answers one side's close when the other side's close arrives, relaying what
  // that side sends meanwhile (RFC 6455 5.5.1 lets the reply wait). Off by default: the peer's
  // code is echoed at once.
  void set_hold_close_reply(bool on) { hold_close_reply_ = on; }

  // Consumes received bytes, unmasking them in place. Returns how many were consumed; the rest
  // (at most an incomplete frame header or control frame) must be passed again, followed by
  // more data. Data frame payloads are taken as they come, so big frames need no big buffer.
  std::size_t consume(std::uint8_t* data, std::size_t size, SessionEvents& events);

  // Queues a whole data message (compressed when deflate is on). False when the state no longer
  // allows data (a close was sent or the connection failed).
  bool send_message(std::uint8_t opcode, const std::uint8_t* data, std::size_t size);
  // Queues one data frame of a message, to relay fragmentation as it came: `opcode` kText or
  // kBinary starts a message, kContinuation continues it, `fin` ends it. With deflate on, the
  // message is compressed as one stream across its frames (RFC 7692 6.1: RSV1 on the first frame
  // only; each frame's data is flushed so it goes out at once). False when the state no longer
  // allows data, or when the opcode does not fit the sequence (a continuation with no message
  // started, a new message before the previous one's final frame). Whole messages and frames
  // must not be interleaved.
  bool send_frame(std::uint8_t opcode, bool fin, const std::uint8_t* data, std::size_t size);
  bool send_ping(const std::uint8_t* data, std::size_t size);
  bool send_pong(const std::uint8_t* data, std::size_t size);
  // Zero-copy sending. A server without compression puts data payloads on the wire unchanged,
  // so the engine may write a large payload straight from the caller's buffer: these queue
  // only the frame's header, under exactly the rules (and with the same false) of send_message
  // and send_frame, and the caller must put the `size` payload bytes on the wire right after
  // the bytes queued so far and before any queued later. Only while payloads_verbatim().
  bool payloads_verbatim() const { return role_ == Role::kServer && deflate_ == nullptr; }
  bool send_message_header(std::uint8_t opcode, std::size_t size);
  bool send_frame_header(std::uint8_t opcode, bool fin, std::size_t size);
  // Queues a data message whose frame was encoded elsewhere (a server's shared broadcast frame):
  // `frame` is one complete, unmasked, uncompressed data frame. Server role without compression
  // only; otherwise the payload is sent with send_message. False as for send_message.
  bool send_encoded(std::uint8_t opcode, const std::uint8_t* frame, std::size_t frame_size,
                    std::size_t header_size);
  // Starts the closing handshake; close_code::kNoStatus sends an empty close frame. In
  // kCloseReceived it is the held reply, and the handshake is complete (kClosed).
  bool send_close(std::uint16_t code, std::string_view reason);
  // Queues a frame as given, bypassing every protocol rule (the testing tool's raw mode).
  void send_raw_frame(const RawFrame& frame);
  // Queues bytes verbatim.
  void send_raw_bytes(const std::uint8_t* data, std::size_t size);

  // Fails the connection from outside (e.g. a full send queue): queues a close frame with
  // `code` unless one was already sent, and stops reading. Pending output is dropped first
  // when `discard_output` is set.
  void fail(std::uint16_t code, std::string_view why, SessionEvents& events, bool discard_output = false);

  // Bytes waiting to be written. The engine takes them with take_output().
  bool has_output() const { return !out_.empty(); }
  std::size_t output_size() const { return out_.size(); }
  // Swaps the pending output into `buffer` (which should be empty); avoids copies.
  void take_output(OutputBuffer& buffer) { buffer.swap(out_); }
  // Swaps the (empty) output buffer with `buffer`: the engine lends a connection its thread's
  // cache-hot buffer before a big send. Only while has_output() is false.
  void swap_output_buffer(OutputBuffer& buffer) { buffer.swap(out_); }

  // Gives back the output and message buffers while they hold nothing (an idle connection's
  // memory: the engine calls it once a connection has gone quiet).
  void release_idle_buffers();

  State state() const { return state_; }
  Role role() const { return role_; }
  // The close code we sent and the peer's, when known (kNoStatus otherwise).
  std::uint16_t sent_close_code() const { return sent_close_code_; }
  std::uint16_t received_close_code() const { return received_close_code_; }
  const std::string& received_close_reason() const { return received_close_reason_; }
  bool close_received() const { return close_received_; }

 private:
  // A rule a frame header breaks: code 0 when it breaks none.
  struct Violation {
    std::uint16_t code = 0;
    const char* why = "";
  };
  Violation check_header(const FrameHeader& h) const;
  bool decode_simple_header(const std::uint8_t* data, std::size_t size, FrameHeader& h) const;
  bool decode_checked_header(std::uint8_t* data, std::size_t size, std::size_t pos, FrameHeader& h,
                             SessionEvents& events);
  // Fails the connection because of a received frame, reporting the frame first.
  void fail_frame(std::uint16_t code, std::string_view why, const FrameHeader& h, const std::uint8_t* data,
                  std::size_t size, SessionEvents& events);
  void handle_control(const FrameHeader& h, std::uint8_t* payload, SessionEvents& events);
  bool take_payload_chunk(std::uint8_t* data, std::size_t size, SessionEvents& events);
  bool inflate_into_message(const std::uint8_t* data, std::size_t size, bool final, SessionEvents& events);
  bool finish_message(SessionEvents& events);
  // Received data goes to the handler: the connection is open, or our close is out and the
  // handler asked for what follows it (set_deliver_after_close).
  // Data may be sent: the connection is open, or the peer's close waits for our held reply.
  bool sending() const { return state_ == State::kOpen || state_ == State::kCloseReceived; }
  bool delivering() const {
    return state_ == State::kOpen || (state_ == State::kCloseSent && deliver_after_close_);
  }
  void deliver_frame(const FrameHeader& h, const std::uint8_t* data, std::size_t size,
                     SessionEvents& events);
  void append_frame(std::uint8_t opcode, bool fin, std::uint8_t rsv, const std::uint8_t* data,
                    std::size_t size);
  // send_frame's sequence rules: whether a frame with `opcode` and `fin` may be sent now; when it
  // may, the sequence advances past it.
  bool start_frame(std::uint8_t opcode, bool fin);
  // Queues the header of an unmasked, uncompressed frame whose payload the caller sends.
  void append_header(std::uint8_t opcode, bool fin, std::size_t size);

  Role role_;
  State state_ = State::kOpen;
  std::size_t max_message_bytes_;
  std::unique_ptr<DeflateCodec> deflate_;
  bool frame_delivery_ = false;
  bool deliver_after_close_ = false;
  bool hold_close_reply_ = false;

  // Receive state.
  FrameHeader frame_;             // the data frame whose payload is being received
  bool in_frame_ = false;
  std::uint64_t frame_received_ = 0;
  bool in_message_ = false;
  std::uint8_t message_opcode_ = 0;
  bool message_compressed_ = false;
  std::size_t message_bytes_ = 0;  // payload bytes received for the message (compressed or not)
  std::vector<std::uint8_t> message_;
  Utf8Validator utf8_;

  OutputBuffer out_;
  std::vector<std::uint8_t> scratch_;  // compression output
  bool sending_fragments_ = false;     // send_frame started a message not yet finished

  std::uint16_t sent_close_code_ = close_code::kNoStatus;
  std::uint16_t received_close_code_ = close_code::kNoStatus;
  std::string received_close_reason_;
  bool close_received_ = false;
};

}  // namespace wstool::ws
