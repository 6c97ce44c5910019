// The raw WebSocket peer: sockets with deadlines, hand-made handshakes, frames, zlib deflate.
#include "tests/conformance/ws_peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace conformance {
namespace {

constexpr std::size_t kReadChunkBytes = 256 * 1024;
constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr std::size_t kCompactThreshold = 1024 * 1024;
constexpr std::size_t kKeyBytes = 16;
constexpr std::size_t kShortLengthLimit = 125;
constexpr std::size_t kMediumLengthLimit = 0xFFFF;
constexpr std::uint8_t kLength16 = 126;
constexpr std::uint8_t kLength64 = 127;
constexpr std::size_t kMaxControlPayload = 125;
constexpr char kWebSocketGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t kZlibChunk = 64 * 1024;
constexpr int kMemLevel = 8;
constexpr std::size_t kShownBytes = 48;

// A write found the connection closed by the peer.
struct PeerGone : CaseFailure {
  using CaseFailure::CaseFailure;
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string hex_prefix(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kShownBytes; ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    out += digits[b >> 4];
    out += digits[b & 0xF];
  }
  if (s.size() > kShownBytes) out += "...";
  return out;
}

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Parses an HTTP head (request or response) that ends at "\r\n\r\n".
HttpHead parse_head(const std::string& head) {
  HttpHead h;
  std::size_t pos = head.find("\r\n");
  h.start_line = head.substr(0, pos);
  if (h.start_line.rfind("HTTP/", 0) == 0) {
    auto sp = h.start_line.find(' ');
    if (sp != std::string::npos) h.status = std::atoi(h.start_line.c_str() + sp + 1);
  }
  while (pos != std::string::npos && pos + 2 < head.size()) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = lower(line.substr(0, colon));
    std::string value = trim(std::string_view(line).substr(colon + 1));
    auto it = h.headers.find(name);
    if (it == h.headers.end()) h.headers[name] = value;
    else it->second += ", " + value;
  }
  return h;
}

// Reads until "\r\n\r\n"; returns the head (with the blank line) and leaves extra bytes in
// `leftover`. Throws on EOF or timeout.
std::string read_head(int fd, Clock::time_point deadline, std::string& leftover, bool allow_eof) {
  std::string buf;
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      leftover = buf.substr(end + 4);
      return buf.substr(0, end + 4);
    }
    if (buf.size() > kMaxHeadBytes) throw CaseFailure("HTTP head too large");
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) throw CaseFailure("timed out waiting for the HTTP head; got: " + buf.substr(0, 200));
    char tmp[4096];
    ssize_t got = recv(fd, tmp, sizeof tmp, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (allow_eof && !buf.empty()) return buf + "\r\n\r\n";
      throw CaseFailure("connection closed before the HTTP head ended; got: " + buf.substr(0, 200));
    }
    buf.append(tmp, static_cast<std::size_t>(got));
  }
}

// Writes everything, polling for writability; while blocked it keeps reading into `sink` (when
// given) so that a peer echoing as it reads can never deadlock us both.
void write_all(int fd, std::string_view data, Clock::time_point deadline, std::string* sink,
               bool* eof) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) throw PeerGone("the peer closed the connection");
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      throw CaseFailure(std::string("write failed: ") + std::strerror(errno));
    }
    pollfd p{fd, static_cast<short>(POLLOUT | (sink && !*eof ? POLLIN : 0)), 0};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r == 0) throw CaseFailure("timed out writing to the peer (it stopped reading)");
    if (r > 0 && (p.revents & POLLIN) && sink) {
      char tmp[kZlibChunk];
      ssize_t got = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
      if (got > 0) sink->append(tmp, static_cast<std::size_t>(got));
      else if (got == 0) *eof = true;
    }
  }
}

}  // namespace

std::string HttpHead::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::vector<ExtensionElement> parse_extensions(std::string_view header) {
  std::vector<ExtensionElement> out;
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    std::string_view element = header.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    ExtensionElement e;
    std::size_t p = 0;
    bool first = true;
    while (p <= element.size()) {
      std::size_t semi = element.find(';', p);
      std::string part = trim(element.substr(p, semi == std::string_view::npos ? std::string_view::npos : semi - p));
      if (first) {
        e.name = lower(part);
        first = false;
      } else if (!part.empty()) {
        auto eq = part.find('=');
        std::string key = lower(trim(part.substr(0, eq)));
        std::string value = eq == std::string::npos ? "" : trim(part.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        e.params[key] = value;
      }
      if (semi == std::string_view::npos) break;
      p = semi + 1;
    }
    if (!e.name.empty()) out.push_back(std::move(e));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

int connect_loopback(int port, Clock::time_point deadline) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw CaseFailure("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    close(fd);
    throw CaseFailure(std::string("connect failed: ") + std::strerror(errno));
  }
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, remaining_ms(deadline)) != 1) {
    close(fd);
    throw CaseFailure("connect timed out");
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close(fd);
    throw CaseFailure(std::string("connect failed: ") + std::strerror(err));
  }
  set_nodelay(fd);
  return fd;
}

int listen_loopback(int& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4) != 0) {
    throw CaseFailure("cannot listen on 127.0.0.1:0");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

int accept_with_deadline(int listen_fd, Clock::time_point deadline) {
  pollfd p{listen_fd, POLLIN, 0};
  if (poll(&p, 1, remaining_ms(deadline)) != 1) throw CaseFailure("the client never connected");
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) throw CaseFailure("accept failed");
  set_nodelay(fd);
  return fd;
}

HttpHead raw_http_exchange(int port, const std::string& request, Clock::time_point deadline) {
  int fd = connect_loopback(port, deadline);
  bool eof = false;
  try {
    write_all(fd, request, deadline, nullptr, &eof);
  } catch (const CaseFailure&) {
    // A server may refuse (and close) before reading all of an oversized head.
  }
  std::string leftover;
  std::string head;
  try {
    head = read_head(fd, deadline, leftover, true);
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
  return parse_head(head);
}

std::string websocket_accept_for(std::string_view key) {
  std::string input(key);
  input += kWebSocketGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return base64(digest, sizeof digest);
}

// ---- zlib ----

Deflater::Deflater(int window_bits, bool no_context_takeover) : no_context_takeover_(no_context_takeover) {
  // zlib cannot deflate with a 256-byte window; 9 is the smallest it does.
  int bits = std::max(window_bits, 9);
  // The fastest level: any valid stream tests the peer equally, and the harness stays cheap.
  if (deflateInit2(&z_, Z_BEST_SPEED, Z_DEFLATED, -bits, kMemLevel, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw CaseFailure("deflateInit2 failed");
  }
}
Deflater::~Deflater() { deflateEnd(&z_); }

std::string Deflater::compress(std::string_view message) {
  std::string out;
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z_.avail_in = static_cast<uInt>(message.size());
  unsigned char buf[kZlibChunk];
  do {
    z_.next_out = buf;
    z_.avail_out = sizeof buf;
    int rc = deflate(&z_, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw CaseFailure("deflate failed");
    out.append(reinterpret_cast<char*>(buf), sizeof buf - z_.avail_out);
  } while (z_.avail_out == 0 || z_.avail_in > 0);
  if (out.size() >= 4 && out.compare(out.size() - 4, 4, std::string("\0\0\xff\xff", 4)) == 0) {
    out.resize(out.size() - 4);
  }
  if (no_context_takeover_) deflateReset(&z_);
  return out;
}

Inflater::Inflater(int window_bits, bool no_context_takeover) : no_context_takeover_(no_context_takeover) {
  if (inflateInit2(&z_, -window_bits) != Z_OK) throw CaseFailure("inflateInit2 failed");
}
Inflater::~Inflater() { inflateEnd(&z_); }

std::string Inflater::decompress(std::string_view payload, std::size_t max_output) {
  std::string input(payload);
  input.append("\0\0\xff\xff", 4);
  z_.next_in = reinterpret_cast<Bytef*>(input.data());
  z_.avail_in = static_cast<uInt>(input.size());
  std::string out;
  unsigned char buf[kZlibChunk];
  while (z_.avail_in > 0) {
    z_.next_out = buf;
    z_.avail_out = sizeof buf;
    int rc = inflate(&z_, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
      throw CaseFailure(std::string("the peer's compressed message does not inflate: ") +
                        (z_.msg ? z_.msg : "zlib error"));
    }
    out.append(reinterpret_cast<char*>(buf), sizeof buf - z_.avail_out);
    if (out.size() > max_output) throw CaseFailure("inflated message too large");
    if (rc == Z_BUF_ERROR && z_.avail_out != 0) break;
  }
  if (no_context_takeover_) inflateReset(&z_);
  return out;
}

// ---- Peer ----

std::string Event::describe() const {
  switch (kind) {
    case Kind::kMessage:
      return std::string(opcode == kOpText ? "text" : "binary") + " message of " +
             std::to_string(payload.size()) + " bytes: " + hex_prefix(payload);
    case Kind::kPing: return "ping " + hex_prefix(payload);
    case Kind::kPong: return "pong " + hex_prefix(payload);
    case Kind::kClose:
      return "close " + (close_code ? std::to_string(*close_code) : std::string("(no code)")) +
             (payload.empty() ? "" : " '" + payload + "'");
    case Kind::kEof: return "TCP close without a close frame";
    case Kind::kTimeout: return "nothing (timeout)";
  }
  return "?";
}

Peer::Peer(int fd, Role role, std::string already_read, DeflateState deflate)
    : fd_(fd), role_(role), in_(std::move(already_read)), deflate_(deflate) {
  if (deflate_.enabled) {
    deflater_.emplace(deflate_.own_window_bits, deflate_.own_no_context_takeover);
    inflater_.emplace(deflate_.peer_window_bits, deflate_.peer_no_context_takeover);
  }
}

Peer::~Peer() {
  if (fd_ >= 0) close(fd_);
}

Peer::Peer(Peer&& o) noexcept
    : fd_(o.fd_), role_(o.role_), in_(std::move(o.in_)), in_pos_(o.in_pos_), eof_(o.eof_),
      deflate_(o.deflate_), expect_timeout_(o.expect_timeout_) {
  o.fd_ = -1;
  if (deflate_.enabled) {
    deflater_.emplace(deflate_.own_window_bits, deflate_.own_no_context_takeover);
    inflater_.emplace(deflate_.peer_window_bits, deflate_.peer_no_context_takeover);
  }
}

void Peer::send_raw(std::string_view bytes, Chops chops) {
  auto deadline = Clock::now() + expect_timeout_;
  std::size_t chop = chops.chop == 0 ? bytes.size() : chops.chop;
  for (std::size_t off = 0; off < bytes.size(); off += chop) {
    if (off > 0 && chops.delay.count() > 0) std::this_thread::sleep_for(chops.delay);
    std::string sink;
    try {
      write_all(fd_, bytes.substr(off, chop), deadline, &sink, &eof_);
    } catch (const PeerGone&) {
      // The peer failed the connection and closed while we were still sending (Autobahn sends
      // on regardless too); what it said before closing is read by the next expectation.
      in_ += sink;
      return;
    }
    in_ += sink;
  }
}

std::string Peer::build_frame(std::uint8_t opcode, std::string_view payload, bool fin, std::uint8_t rsv,
                              std::optional<bool> masked) const {
  bool mask = masked.value_or(role_ == Role::kClient);
  std::string f;
  f.reserve(payload.size() + 14);
  f += static_cast<char>((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xF));
  std::uint8_t mask_bit = mask ? 0x80 : 0;
  std::size_t n = payload.size();
  if (n <= kShortLengthLimit) {
    f += static_cast<char>(mask_bit | n);
  } else if (n <= kMediumLengthLimit) {
    f += static_cast<char>(mask_bit | kLength16);
    f += static_cast<char>((n >> 8) & 0xFF);
    f += static_cast<char>(n & 0xFF);
  } else {
    f += static_cast<char>(mask_bit | kLength64);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xFF);
  }
  if (mask) {
    // A varying key: a peer that ignores the mask cannot pass by luck.
    std::uint32_t seed = mask_seed_ ^ static_cast<std::uint32_t>(n * 2654435761u);
    char key[4] = {static_cast<char>(seed >> 24), static_cast<char>(seed >> 16),
                   static_cast<char>(seed >> 8), static_cast<char>(seed | 1)};
    f.append(key, 4);
    std::size_t base = f.size();
    f.append(payload);
    for (std::size_t i = 0; i < n; ++i) f[base + i] = static_cast<char>(f[base + i] ^ key[i & 3]);
  } else {
    f.append(payload);
  }
  return f;
}

void Peer::send_frame(std::uint8_t opcode, std::string_view payload, bool fin, std::uint8_t rsv, Chops chops) {
  send_raw(build_frame(opcode, payload, fin, rsv), chops);
}

void Peer::send_message(std::uint8_t opcode, std::string_view payload, std::size_t fragment_bytes, Chops chops) {
  std::string compressed;
  std::string_view wire = payload;
  std::uint8_t rsv = 0;
  if (deflate_.enabled) {
    compressed = deflater_->compress(payload);
    wire = compressed;
    rsv = 4;
  }
  if (fragment_bytes == 0 || wire.size() <= fragment_bytes) {
    send_frame(opcode, wire, true, rsv, chops);
    return;
  }
  std::string all;
  for (std::size_t off = 0; off < wire.size(); off += fragment_bytes) {
    bool first = off == 0;
    bool last = off + fragment_bytes >= wire.size();
    all += build_frame(first ? opcode : kOpContinuation, wire.substr(off, fragment_bytes), last,
                       first ? rsv : 0);
  }
  send_raw(all, chops);
}

void Peer::send_close(std::optional<int> code, std::string_view reason) {
  std::string payload;
  if (code) {
    payload += static_cast<char>((*code >> 8) & 0xFF);
    payload += static_cast<char>(*code & 0xFF);
    payload.append(reason);
  }
  try {
    send_frame(kOpClose, payload);
  } catch (const CaseFailure&) {
    // The peer may already have closed TCP after failing the connection.
  }
}

bool Peer::fill(Clock::time_point deadline) {
  if (in_pos_ > kCompactThreshold && in_pos_ * 2 > in_.size()) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int n = poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return false;
    std::size_t old = in_.size();
    in_.resize(old + kReadChunkBytes);
    ssize_t got = recv(fd_, in_.data() + old, kReadChunkBytes, MSG_DONTWAIT);
    in_.resize(old + (got > 0 ? static_cast<std::size_t>(got) : 0));
    if (got > 0) return true;
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    eof_ = true;  // EOF, or a reset: either way no more bytes
    return true;
  }
}

void Peer::drain_readable() {
  for (;;) {
    std::size_t old = in_.size();
    in_.resize(old + kReadChunkBytes);
    ssize_t got = recv(fd_, in_.data() + old, kReadChunkBytes, MSG_DONTWAIT);
    in_.resize(old + (got > 0 ? static_cast<std::size_t>(got) : 0));
    if (got > 0) continue;
    if (got == 0 || (errno != EAGAIN && errno != EINTR)) eof_ = true;
    return;
  }
}

std::optional<Frame> Peer::parse_frame() {
  std::size_t avail = in_.size() - in_pos_;
  const auto* b = reinterpret_cast<const unsigned char*>(in_.data() + in_pos_);
  if (avail < 2) return std::nullopt;
  Frame f;
  f.fin = (b[0] & 0x80) != 0;
  f.rsv = static_cast<std::uint8_t>((b[0] >> 4) & 7);
  f.opcode = static_cast<std::uint8_t>(b[0] & 0xF);
  f.masked = (b[1] & 0x80) != 0;
  std::uint64_t len = b[1] & 0x7F;
  std::size_t header = 2;
  if (len == kLength16) {
    if (avail < 4) return std::nullopt;
    len = (std::uint64_t{b[2]} << 8) | b[3];
    header = 4;
  } else if (len == kLength64) {
    if (avail < 10) return std::nullopt;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
    header = 10;
  }
  if (len > kMaxMessageBytes + 1024) throw CaseFailure("the peer sent a frame of " + std::to_string(len) + " bytes");
  std::size_t key_at = header;
  if (f.masked) header += 4;
  if (avail < header + len) return std::nullopt;
  f.payload.assign(in_.data() + in_pos_ + header, static_cast<std::size_t>(len));
  if (f.masked) {
    const unsigned char* key = b + key_at;
    for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ key[i & 3]);
  }
  in_pos_ += header + static_cast<std::size_t>(len);
  return f;
}

Event Peer::next_event(Clock::time_point deadline) {
  for (;;) {
    std::optional<Frame> f = parse_frame();
    if (!f) {
      if (eof_) {
        Event e;
        e.kind = Event::Kind::kEof;
        return e;
      }
      if (!fill(deadline)) return Event{};
      continue;
    }
    // What the RFC demands of every frame from the peer, checked on each one.
    bool want_masked = role_ == Role::kServer;
    if (f->masked != want_masked) {
      throw CaseFailure(role_ == Role::kServer ? "the client sent an unmasked frame"
                                               : "the server sent a masked frame");
    }
    bool control = (f->opcode & 0x8) != 0;
    std::uint8_t allowed_rsv = (deflate_.enabled && !control && f->opcode != kOpContinuation) ? 4 : 0;
    if ((f->rsv & ~allowed_rsv) != 0) throw CaseFailure("the peer set reserved bits " + std::to_string(f->rsv));
    if (control) {
      if (!f->fin || f->payload.size() > kMaxControlPayload) throw CaseFailure("the peer sent a fragmented or long control frame");
      Event e;
      if (f->opcode == kOpPing) {
        e.kind = Event::Kind::kPing;
      } else if (f->opcode == kOpPong) {
        e.kind = Event::Kind::kPong;
      } else if (f->opcode == kOpClose) {
        e.kind = Event::Kind::kClose;
        if (f->payload.size() == 1) throw CaseFailure("the peer sent a close frame with a 1-byte payload");
        if (f->payload.size() >= 2) {
          e.close_code = (static_cast<unsigned char>(f->payload[0]) << 8) | static_cast<unsigned char>(f->payload[1]);
          f->payload.erase(0, 2);
        }
      } else {
        throw CaseFailure("the peer sent reserved control opcode " + std::to_string(f->opcode));
      }
      e.payload = std::move(f->payload);
      return e;
    }
    if (f->opcode == kOpContinuation) {
      if (!in_message_) throw CaseFailure("the peer sent a continuation frame outside a message");
    } else if (f->opcode == kOpText || f->opcode == kOpBinary) {
      if (in_message_) throw CaseFailure("the peer started a new message inside a fragmented one");
      in_message_ = true;
      message_opcode_ = f->opcode;
      message_compressed_ = (f->rsv & 4) != 0;
      message_.clear();
    } else {
      throw CaseFailure("the peer sent reserved data opcode " + std::to_string(f->opcode));
    }
    message_ += f->payload;
    if (message_.size() > kMaxMessageBytes) throw CaseFailure("the peer's message exceeds 16 MiB");
    if (!f->fin) continue;
    in_message_ = false;
    Event e;
    e.kind = Event::Kind::kMessage;
    e.opcode = message_opcode_;
    e.payload = message_compressed_ ? inflater_->decompress(message_, kMaxMessageBytes) : std::move(message_);
    message_.clear();
    return e;
  }
}

void Peer::expect_message(std::uint8_t opcode, std::string_view payload) {
  Event e = next_event();
  if (e.kind != Event::Kind::kMessage || e.opcode != opcode || e.payload != payload) {
    std::string want = std::string(opcode == kOpText ? "text" : "binary") + " message of " +
                       std::to_string(payload.size()) + " bytes: " + hex_prefix(payload);
    std::string detail;
    if (e.kind == Event::Kind::kMessage && e.payload.size() == payload.size()) {
      auto mismatch = std::mismatch(payload.begin(), payload.end(), e.payload.begin());
      detail = " (first difference at byte " + std::to_string(mismatch.first - payload.begin()) + ")";
    }
    throw CaseFailure("expected echo of " + want + ", got " + e.describe() + detail);
  }
}

void Peer::expect_pong(std::string_view payload) {
  Event e = next_event();
  if (e.kind != Event::Kind::kPong || e.payload != payload) {
    throw CaseFailure("expected pong " + hex_prefix(payload) + ", got " + e.describe());
  }
}

void Peer::expect_quiet(std::chrono::milliseconds quiet) {
  Event e = next_event(Clock::now() + quiet);
  if (e.kind != Event::Kind::kTimeout) throw CaseFailure("expected nothing yet, got " + e.describe());
}

void Peer::await_eof(Clock::time_point deadline) {
  for (;;) {
    drain_readable();
    if (eof_) return;
    if (!fill(deadline)) throw CaseFailure("the server did not close the TCP connection after the closing handshake");
    in_pos_ = in_.size();  // bytes after the close frame are ignored
  }
}

void Peer::finish_close_exchange(const Event& close_event, bool we_started) {
  if (!we_started) {
    // Echo the code as Autobahn does; the peer may already be gone after failing.
    send_close(close_event.close_code);
  }
  if (role_ == Role::kClient) {
    // RFC 6455 7.1.1: the server closes the TCP connection first.
    await_eof(Clock::now() + expect_timeout_);
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

static bool close_code_matches(const Event& e, const std::vector<int>& codes) {
  if (!e.close_code) return codes.empty() || std::find(codes.begin(), codes.end(), kNoCloseCode) != codes.end();
  return std::find(codes.begin(), codes.end(), *e.close_code) != codes.end();
}

static std::string codes_text(const std::vector<int>& codes) {
  if (codes.empty()) return "(no code)";
  std::string s;
  for (int c : codes) s += (s.empty() ? "" : " or ") + (c == kNoCloseCode ? std::string("(no code)") : std::to_string(c));
  return s;
}

void Peer::expect_close(const std::vector<int>& codes) {
  Event e = next_event();
  if (e.kind != Event::Kind::kClose) {
    throw CaseFailure("expected the peer to fail the connection with close " + codes_text(codes) +
                      ", got " + e.describe());
  }
  bool ok = close_code_matches(e, codes);
  if (!ok) throw CaseFailure("expected close " + codes_text(codes) + ", got " + e.describe());
  peer_failed_ = true;
  finish_close_exchange(e, false);
}

void Peer::close_with(std::optional<int> code, const std::vector<int>& codes) {
  send_close(code);
  expect_close_answer(codes);
}

void Peer::expect_close_answer(const std::vector<int>& codes) {
  closed_by_harness_ = true;
  Event e = next_event();
  if (e.kind != Event::Kind::kClose) {
    throw CaseFailure("expected a close frame answering ours, got " + e.describe());
  }
  bool ok = close_code_matches(e, codes);
  if (!ok) throw CaseFailure("expected close answer " + codes_text(codes) + ", got " + e.describe());
  finish_close_exchange(e, true);
}

Peer open_client(int port, const std::string& target, const std::string& extensions_offer,
                 HttpHead* response, Clock::time_point deadline) {
  int fd = connect_loopback(port, deadline);
  unsigned char raw_key[kKeyBytes];
  for (std::size_t i = 0; i < kKeyBytes; ++i) raw_key[i] = static_cast<unsigned char>((i * 37 + 11 + static_cast<std::size_t>(port)) & 0xFF);
  std::string key = base64(raw_key, kKeyBytes);
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                    "\r\nSec-WebSocket-Version: 13\r\n";
  if (!extensions_offer.empty()) req += "Sec-WebSocket-Extensions: " + extensions_offer + "\r\n";
  req += "\r\n";
  bool eof = false;
  std::string leftover;
  HttpHead head;
  try {
    write_all(fd, req, deadline, nullptr, &eof);
    head = parse_head(read_head(fd, deadline, leftover, false));
  } catch (...) {
    close(fd);
    throw;
  }
  if (response) *response = head;
  auto fail = [&](const std::string& why) {
    close(fd);
    throw CaseFailure("bad handshake answer (" + why + "): " + head.start_line);
  };
  if (head.status != 101) fail("status is not 101");
  if (lower(head.header("upgrade")) != "websocket") fail("Upgrade is not websocket");
  if (lower(head.header("connection")).find("upgrade") == std::string::npos) fail("Connection lacks upgrade");
  if (head.header("sec-websocket-accept") != websocket_accept_for(key)) fail("wrong Sec-WebSocket-Accept");
  DeflateState d;
  auto ext = parse_extensions(head.header("sec-websocket-extensions"));
  if (!ext.empty()) {
    if (ext.size() != 1 || ext[0].name != "permessage-deflate") fail("unexpected extension answer");
    d.enabled = true;
    for (const auto& [k, v] : ext[0].params) {
      if (k == "server_no_context_takeover") d.peer_no_context_takeover = true;
      else if (k == "client_no_context_takeover") d.own_no_context_takeover = true;
      else if (k == "server_max_window_bits") d.peer_window_bits = std::atoi(v.c_str());
      else if (k == "client_max_window_bits") d.own_window_bits = std::atoi(v.c_str());
      else fail("unknown permessage-deflate parameter " + k);
    }
    if (d.peer_window_bits < 8 || d.peer_window_bits > 15 || d.own_window_bits < 8 || d.own_window_bits > 15) {
      fail("window bits out of range");
    }
  }
  return Peer(fd, Role::kClient, leftover, d);
}

AcceptedRequest read_upgrade_request(int fd, Clock::time_point deadline) {
  AcceptedRequest r;
  r.head = parse_head(read_head(fd, deadline, r.leftover, false));
  const std::string& line = r.head.start_line;
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 + 1);
  if (line.rfind("GET ", 0) != 0 || sp2 == std::string::npos) throw CaseFailure("bad request line: " + line);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (lower(r.head.header("upgrade")) != "websocket") throw CaseFailure("the client's Upgrade is not websocket");
  if (lower(r.head.header("connection")).find("upgrade") == std::string::npos) throw CaseFailure("the client's Connection lacks upgrade");
  if (r.head.header("sec-websocket-version") != "13") throw CaseFailure("the client's Sec-WebSocket-Version is not 13");
  if (r.head.header("sec-websocket-key").size() != 24) throw CaseFailure("the client's Sec-WebSocket-Key is not 16 bytes of base64");
  return r;
}

Peer answer_upgrade(int fd, const AcceptedRequest& request, const std::string& extensions, DeflateState deflate) {
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                     websocket_accept_for(request.head.header("sec-websocket-key")) + "\r\n";
  if (!extensions.empty()) resp += "Sec-WebSocket-Extensions: " + extensions + "\r\n";
  resp += "\r\n";
  bool eof = false;
  write_all(fd, resp, Clock::now() + std::chrono::seconds(5), nullptr, &eof);
  return Peer(fd, Role::kServer, request.leftover, deflate);
}

}  // namespace conformance
