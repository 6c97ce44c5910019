// An independent raw WebSocket peer for the conformance suite: hand-made HTTP handshakes (both
// roles), hand-built frames with any bits, chopped writes, frame reading with deadlines, and
// permessage-deflate done with zlib directly. It shares no code with wstool's lib on purpose.
#pragma once

#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/conformance/child_process.h"

namespace conformance {

// Thrown by every expectation that does not hold; a test turns it into a failure.
struct CaseFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::uint8_t kOpContinuation = 0x0;
constexpr std::uint8_t kOpText = 0x1;
constexpr std::uint8_t kOpBinary = 0x2;
constexpr std::uint8_t kOpClose = 0x8;
constexpr std::uint8_t kOpPing = 0x9;
constexpr std::uint8_t kOpPong = 0xA;

// In a list of acceptable close codes: a close frame without a code.
constexpr int kNoCloseCode = -1;

// The role the HARNESS plays: kClient tests a server, kServer tests a client.
enum class Role { kClient, kServer };

// permessage-deflate as negotiated, seen from the harness ("own" = what the harness sends).
struct DeflateState {
  bool enabled = false;
  bool own_no_context_takeover = false;
  int own_window_bits = 15;
  bool peer_no_context_takeover = false;
  int peer_window_bits = 15;
};

// One offer or response element: name plus parameters (value "" when it has none).
struct ExtensionElement {
  std::string name;
  std::map<std::string, std::string> params;
};
std::vector<ExtensionElement> parse_extensions(std::string_view header);

struct HttpHead {
  std::string start_line;
  int status = 0;                              // responses only
  std::map<std::string, std::string> headers;  // names lower-cased, repeats joined by ", "
  std::string header(const std::string& lower_name) const;
};

// Connects to 127.0.0.1:port (blocking, bounded by `deadline`); throws CaseFailure on failure.
int connect_loopback(int port, Clock::time_point deadline);
// A listening socket on 127.0.0.1:0; `port` receives the bound port.
int listen_loopback(int& port);
// Accepts one connection or throws at the deadline.
int accept_with_deadline(int listen_fd, Clock::time_point deadline);

// Sends `request` raw and reads the answer head (until the blank line, EOF, or the deadline).
HttpHead raw_http_exchange(int port, const std::string& request, Clock::time_point deadline);

// base64(SHA-1(key + GUID)).
std::string websocket_accept_for(std::string_view key);

class Deflater {
 public:
  Deflater(int window_bits, bool no_context_takeover);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  std::string compress(std::string_view message);  // without the trailing 00 00 FF FF

 private:
  z_stream z_{};
  bool no_context_takeover_;
};

class Inflater {
 public:
  Inflater(int window_bits, bool no_context_takeover);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  // Throws CaseFailure on corrupt data (including a window larger than negotiated).
  std::string decompress(std::string_view payload, std::size_t max_output);

 private:
  z_stream z_{};
  bool no_context_takeover_;
};

struct Frame {
  bool fin = true;
  std::uint8_t rsv = 0;  // the three RSV bits, RSV1 = 4
  std::uint8_t opcode = 0;
  bool masked = false;
  std::string payload;
};

// How to put bytes on the wire: in chops of `chop` bytes (0 = one write), with `delay`
// between chops, as Autobahn's chopped and synced sends do.
struct Chops {
  std::size_t chop = 0;
  std::chrono::microseconds delay{0};
};

// What arrived from the peer, at message level.
struct Event {
  enum class Kind { kMessage, kPing, kPong, kClose, kEof, kTimeout } kind = Kind::kTimeout;
  std::uint8_t opcode = 0;  // kMessage: text or binary
  std::string payload;      // message payload, ping/pong payload, close reason
  std::optional<int> close_code;
  std::string describe() const;
};

class Peer {
 public:
  Peer(int fd, Role role, std::string already_read, DeflateState deflate);
  ~Peer();
  Peer(Peer&& other) noexcept;
  Peer& operator=(Peer&&) = delete;
  Peer(const Peer&) = delete;

  Role role() const { return role_; }
  const DeflateState& deflate() const { return deflate_; }

  // Default time budget of an expectation; large cases raise it.
  void set_expect_timeout(std::chrono::milliseconds t) { expect_timeout_ = t; }
  std::chrono::milliseconds expect_timeout() const { return expect_timeout_; }

  // ---- sending ----
  void send_raw(std::string_view bytes, Chops chops = {});
  // A frame with any bits; masked when the harness is the client (as the RFC demands).
  // `masked` overrides the role's rule, for cases that send a wrongly masked frame.
  std::string build_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                          std::uint8_t rsv = 0, std::optional<bool> masked = std::nullopt) const;
  void send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                  std::uint8_t rsv = 0, Chops chops = {});
  // A whole message, compressed when deflate was negotiated, split into frames of
  // `fragment_bytes` (0 = one frame).
  void send_message(std::uint8_t opcode, std::string_view payload, std::size_t fragment_bytes = 0,
                    Chops chops = {});
  void send_close(std::optional<int> code, std::string_view reason = {});

  // ---- receiving ----
  Event next_event(Clock::time_point deadline);
  Event next_event() { return next_event(Clock::now() + expect_timeout_); }

  // ---- expectations (throw CaseFailure) ----
  void expect_message(std::uint8_t opcode, std::string_view payload);
  void expect_pong(std::string_view payload);
  // Nothing at all (no frame, no EOF) arrives for `quiet`.
  void expect_quiet(std::chrono::milliseconds quiet);
  // The peer closes with one of `codes` (empty = a close with no code): the harness answers
  // the close and expects the TCP close (a server) or closes TCP itself (a client).
  void expect_close(const std::vector<int>& codes);
  // The harness starts the closing handshake with `code` and expects one of `codes` back.
  void close_with(std::optional<int> code, const std::vector<int>& codes);
  // The second half of close_with: after the harness sent its close (by any means), one of
  // `codes` must come back (empty = no code), then the TCP close.
  void expect_close_answer(const std::vector<int>& codes);
  void close_normally() { close_with(1000, {1000}); }

  // Ends a closing handshake the harness started, once the peer's close `answer` was read.
  void finish_harness_close(const Event& answer) {
    closed_by_harness_ = true;
    finish_close_exchange(answer, true);
  }

  bool peer_failed_connection() const { return peer_failed_; }
  bool closed_by_harness() const { return closed_by_harness_; }

 private:
  bool fill(Clock::time_point deadline);  // false on timeout; sets eof_ on EOF
  void drain_readable();                  // reads whatever is readable now, without blocking
  std::optional<Frame> parse_frame();     // from in_ at in_pos_
  void finish_close_exchange(const Event& close_event, bool we_started);
  void await_eof(Clock::time_point deadline);

  int fd_;
  Role role_;
  std::string in_;
  std::size_t in_pos_ = 0;
  bool eof_ = false;
  DeflateState deflate_;
  std::optional<Deflater> deflater_;
  std::optional<Inflater> inflater_;
  // A data message being assembled.
  bool in_message_ = false;
  std::uint8_t message_opcode_ = 0;
  bool message_compressed_ = false;
  std::string message_;
  std::chrono::milliseconds expect_timeout_{5000};
  bool peer_failed_ = false;
  bool closed_by_harness_ = false;
  std::uint32_t mask_seed_ = 0x9e3779b9u;
};

// Harness as client: connects, sends the upgrade request (with `extensions_offer` when not
// empty), checks the 101 answer and its Sec-WebSocket-Accept. `response` receives the head.
Peer open_client(int port, const std::string& target, const std::string& extensions_offer,
                 HttpHead* response, Clock::time_point deadline);

// Harness as server: reads the upgrade request from `fd`; `request` receives it.
struct AcceptedRequest {
  HttpHead head;
  std::string target;
  std::string leftover;
};
AcceptedRequest read_upgrade_request(int fd, Clock::time_point deadline);
// Answers with 101 (with the extensions header when not empty) and returns the peer.
Peer answer_upgrade(int fd, const AcceptedRequest& request, const std::string& extensions,
                    DeflateState deflate);

// Maximum message size the harness will accept (matches wstool's --max-message-size default).
constexpr std::size_t kMaxMessageBytes = 16u * 1024u * 1024u;

}  // namespace conformance
