// The protocol state machine driven as bytes in, events and bytes out: no sockets.
#include "lib/session.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "lib/permessage_deflate.h"

namespace wstool::ws {
namespace {

using Bytes = OutputBuffer;

struct GotFrame {
  std::uint8_t opcode;
  bool fin;
  std::uint8_t rsv;
  bool compressed;
  std::string payload;
};

struct Recorder : SessionEvents {
  std::vector<std::pair<std::uint8_t, std::string>> messages;
  std::vector<GotFrame> frames;
  std::vector<std::string> pings;
  std::vector<std::string> pongs;
  std::uint16_t close_code = 0;
  std::uint16_t fail_code = 0;
  std::string fail_why;
  int headers = 0;
  struct Invalid {
    FrameHeader header;
    std::string payload;
    std::string why;
  };
  std::vector<Invalid> invalid;

  void on_frame_header(const FrameHeader&) override { ++headers; }
  void on_message(std::uint8_t op, const std::uint8_t* data, std::size_t size) override {
    messages.emplace_back(op, std::string(reinterpret_cast<const char*>(data), size));
  }
  void on_ping(const std::uint8_t* data, std::size_t size) override {
    pings.emplace_back(reinterpret_cast<const char*>(data), size);
  }
  void on_pong(const std::uint8_t* data, std::size_t size) override {
    pongs.emplace_back(reinterpret_cast<const char*>(data), size);
  }
  void on_data_frame(const DataFrame& f) override {
    frames.push_back({f.opcode, f.fin, f.rsv, f.compressed,
                      std::string(reinterpret_cast<const char*>(f.data), f.size)});
  }
  void on_close_frame(std::uint16_t code, std::string_view) override { close_code = code; }
  void on_invalid_frame(const InvalidFrame& f) override {
    EXPECT_EQ(fail_code, 0) << "reported before on_fail";
    invalid.push_back({f.header, std::string(reinterpret_cast<const char*>(f.data), f.size), std::string(f.why)});
  }
  void on_fail(std::uint16_t code, std::string_view why) override {
    fail_code = code;
    fail_why = std::string(why);
  }
};

// A frame as a client would send it (masked with a fixed key) unless told otherwise.
Bytes frame(std::uint8_t op, std::string_view payload, bool fin = true, std::uint8_t rsv = 0, bool masked = true) {
  FrameHeader h;
  h.fin = fin;
  h.rsv = rsv;
  h.opcode = op;
  h.masked = masked;
  h.mask_key = 0x12345678;
  h.payload_length = payload.size();
  Bytes out(kMaxFrameHeaderBytes + payload.size());
  const std::size_t n = encode_header(out.data(), h);
  std::memcpy(out.data() + n, payload.data(), payload.size());
  out.resize(n + payload.size());
  if (masked) apply_mask(out.data() + n, payload.size(), h.mask_key, 0);
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Decodes the frames a session produced (unmasking them).
struct OutFrame {
  std::uint8_t opcode;
  bool fin;
  std::uint8_t rsv;
  bool masked;
  std::string payload;
};

std::vector<OutFrame> output_frames(Session& session) {
  Bytes out;
  session.take_output(out);
  std::vector<OutFrame> frames;
  std::size_t pos = 0;
  while (pos < out.size()) {
    FrameHeader h;
    EXPECT_EQ(decode_header(out.data() + pos, out.size() - pos, h), HeaderStatus::kComplete);
    pos += h.header_length;
    std::string payload(reinterpret_cast<const char*>(out.data() + pos), static_cast<std::size_t>(h.payload_length));
    if (h.masked) apply_mask(reinterpret_cast<std::uint8_t*>(payload.data()), payload.size(), h.mask_key, 0);
    frames.push_back({h.opcode, h.fin, h.rsv, h.masked, payload});
    pos += static_cast<std::size_t>(h.payload_length);
  }
  return frames;
}

std::size_t feed(Session& s, Bytes bytes, Recorder& r) { return s.consume(bytes.data(), bytes.size(), r); }

TEST(Session, DeliversAWholeTextMessage) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  EXPECT_EQ(feed(s, frame(opcode::kText, "hello"), r), 11u);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].first, opcode::kText);
  EXPECT_EQ(r.messages[0].second, "hello");
  EXPECT_EQ(s.state(), Session::State::kOpen);
}

TEST(Session, ReassemblesFragmentsAroundAPing) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  feed(s, concat({frame(opcode::kBinary, "ab", false), frame(opcode::kPing, "p"),
                  frame(opcode::kContinuation, "cd", false), frame(opcode::kContinuation, "", true)}),
       r);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].first, opcode::kBinary);
  EXPECT_EQ(r.messages[0].second, "abcd");
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, opcode::kPong);
  EXPECT_EQ(out[0].payload, "p");
  EXPECT_FALSE(out[0].masked);  // a server never masks
}

TEST(Session, TakesAFrameByteByByte) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  Bytes bytes = concat({frame(opcode::kText, std::string(300, 'x')), frame(opcode::kPing, "hi")});
  Bytes pending;
  for (std::uint8_t b : bytes) {
    pending.push_back(b);
    const std::size_t used = s.consume(pending.data(), pending.size(), r);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
  }
  EXPECT_TRUE(pending.empty());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].second, std::string(300, 'x'));
  ASSERT_EQ(r.pings.size(), 1u);
  EXPECT_EQ(r.pings[0], "hi");
}

TEST(Session, FailsFastOnInvalidUtf8InTheMiddleFragment) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  feed(s, frame(opcode::kText, "valid", false), r);
  EXPECT_EQ(s.state(), Session::State::kOpen);
  feed(s, frame(opcode::kContinuation, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80", false), r);
  EXPECT_EQ(s.state(), Session::State::kFailed);
  EXPECT_EQ(r.fail_code, close_code::kInvalidPayload);
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, opcode::kClose);
  EXPECT_EQ(out[0].payload.substr(0, 2), std::string("\x03\xEF", 2));  // 1007
}

TEST(Session, FailsATextMessageEndingMidSequence) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  feed(s, frame(opcode::kText, "ok\xE2\x82"), r);
  EXPECT_EQ(r.fail_code, close_code::kInvalidPayload);
  EXPECT_TRUE(r.messages.empty());
}

TEST(Session, ProtocolErrorsClose1002) {
  struct Case {
    const char* name;
    Bytes bytes;
  };
  const std::vector<Case> cases = {
      {"rsv1 without extension", frame(opcode::kText, "x", true, kRsv1)},
      {"rsv2", frame(opcode::kText, "x", true, kRsv2)},
      {"reserved opcode 3", frame(3, "")},
      {"reserved control opcode 11", frame(11, "")},
      {"fragmented ping", frame(opcode::kPing, "x", false)},
      {"ping over 125 bytes", frame(opcode::kPing, std::string(126, 'p'))},
      {"continuation first", frame(opcode::kContinuation, "x")},
      {"text inside fragmented message", concat({frame(opcode::kText, "a", false), frame(opcode::kText, "b")})},
      {"unmasked client frame", frame(opcode::kText, "x", true, 0, false)},
      {"close with 1-byte payload", frame(opcode::kClose, "\x03")},
      {"close code 1005", frame(opcode::kClose, "\x03\xED")},
      {"close code 999", frame(opcode::kClose, "\x03\xE7")},
  };
  for (const Case& c : cases) {
    Session s(Role::kServer, 1 << 20);
    Recorder r;
    feed(s, c.bytes, r);
    EXPECT_EQ(s.state(), Session::State::kFailed) << c.name;
    EXPECT_EQ(r.fail_code, close_code::kProtocolError) << c.name;
    EXPECT_TRUE(r.messages.empty()) << c.name;
    // The offending frame is reported once, with the reason the connection fails for.
    ASSERT_EQ(r.invalid.size(), 1u) << c.name;
    EXPECT_EQ(r.invalid[0].why, r.fail_why) << c.name;
  }
}

TEST(Session, AnInvalidFrameIsReportedWithItsHeaderAndUnmaskedPayload) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  feed(s, frame(opcode::kText, "payload", true, kRsv2), r);
  ASSERT_EQ(r.invalid.size(), 1u);
  EXPECT_EQ(r.invalid[0].header.opcode, opcode::kText);
  EXPECT_EQ(r.invalid[0].header.rsv, kRsv2);
  EXPECT_TRUE(r.invalid[0].header.fin);
  EXPECT_EQ(r.invalid[0].payload, "payload");
  EXPECT_EQ(r.invalid[0].why, "reserved bits set without a negotiated extension");

  // Invalid data inside a fragment: the fragment's bytes, not the whole message's.
  Session t(Role::kServer, 1 << 20);
  Recorder q;
  feed(t, frame(opcode::kText, "first", false), q);
  feed(t, frame(opcode::kContinuation, "ok\xFF"), q);
  ASSERT_EQ(q.invalid.size(), 1u);
  EXPECT_EQ(q.invalid[0].header.opcode, opcode::kContinuation);
  EXPECT_EQ(q.invalid[0].payload, "ok\xFF");
  EXPECT_EQ(q.fail_code, close_code::kInvalidPayload);

  // A message over the limit is valid, only too big: not reported as invalid.
  Session u(Role::kServer, 10);
  Recorder b;
  feed(u, frame(opcode::kBinary, std::string(20, 'a')), b);
  EXPECT_EQ(b.fail_code, close_code::kMessageTooBig);
  EXPECT_TRUE(b.invalid.empty());
}

TEST(Session, ClientRejectsMaskedServerFrames) {
  Session s(Role::kClient, 1 << 20);
  Recorder r;
  feed(s, frame(opcode::kText, "x", true, 0, true), r);
  EXPECT_EQ(r.fail_code, close_code::kProtocolError);
  // And its own frames are masked.
  Session c(Role::kClient, 1 << 20);
  c.send_message(opcode::kText, reinterpret_cast<const std::uint8_t*>("abc"), 3);
  auto out = output_frames(c);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].masked);
  EXPECT_EQ(out[0].payload, "abc");
}

TEST(Session, MessageOverTheLimitCloses1009BeforeBuffering) {
  Session s(Role::kServer, 100);
  Recorder r;
  feed(s, frame(opcode::kBinary, std::string(60, 'a'), false), r);
  EXPECT_EQ(s.state(), Session::State::kOpen);
  // The header alone of the second fragment is enough to know the message is too big.
  Bytes second = frame(opcode::kContinuation, std::string(60, 'b'));
  s.consume(second.data(), 6, r);  // its header (with mask key) alone
  EXPECT_EQ(r.fail_code, close_code::kMessageTooBig);
}

TEST(Session, EchoesThePeersCloseCodeAndCompletes) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  feed(s, frame(opcode::kClose, std::string("\x0F\xA0", 2) + "bye"), r);  // 4000
  EXPECT_EQ(r.close_code, 4000);
  EXPECT_EQ(s.state(), Session::State::kClosed);
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, std::string("\x0F\xA0", 2));
  // Nothing more is sent after the close.
  EXPECT_FALSE(s.send_message(opcode::kText, reinterpret_cast<const std::uint8_t*>("x"), 1));
}

TEST(Session, AnswersAnEmptyCloseWithAnEmptyClose) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  feed(s, frame(opcode::kClose, ""), r);
  EXPECT_EQ(s.state(), Session::State::kClosed);
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "");
}

TEST(Session, OurCloseThenTheirsIsClean) {
  Session s(Role::kServer, 1 << 20);
  Recorder r;
  ASSERT_TRUE(s.send_close(close_code::kGoingAway, "bye"));
  EXPECT_EQ(s.state(), Session::State::kCloseSent);
  // Data that crosses our close is parsed but not delivered.
  feed(s, concat({frame(opcode::kText, "late"), frame(opcode::kClose, "\x03\xE9")}), r);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(s.state(), Session::State::kClosed);
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);  // only our close: no echo of theirs
}

// A tester (replay) asks for what crosses its close: whole messages, fragmented ones and, in frame
// delivery mode, each frame, until the peer's close; nothing after that.
TEST(Session, DataThatCrossesOurCloseIsDeliveredWhenAskedFor) {
  Session s(Role::kServer, 1 << 20);
  s.set_deliver_after_close(true);
  Recorder r;
  ASSERT_TRUE(s.send_close(close_code::kNormal, ""));
  feed(s, concat({frame(opcode::kText, "late"), frame(opcode::kBinary, "fr", false),
                  frame(opcode::kContinuation, "ag", true), frame(opcode::kClose, "\x03\xE8"),
                  frame(opcode::kText, "after theirs")}),
       r);
  ASSERT_EQ(r.messages.size(), 2u) << r.fail_why;
  EXPECT_EQ(r.messages[0], std::make_pair(opcode::kText, std::string("late")));
  EXPECT_EQ(r.messages[1], std::make_pair(opcode::kBinary, std::string("frag")));
  EXPECT_EQ(s.state(), Session::State::kClosed);

  Session frames(Role::kServer, 1 << 20);
  frames.set_frame_delivery(true);
  frames.set_deliver_after_close(true);
  Recorder f;
  ASSERT_TRUE(frames.send_close(close_code::kNormal, ""));
  feed(frames, concat({frame(opcode::kText, "la", false), frame(opcode::kContinuation, "te", true)}), f);
  ASSERT_EQ(f.frames.size(), 2u) << f.fail_why;
  EXPECT_EQ(f.frames[0].payload, "la");
  EXPECT_FALSE(f.frames[0].fin);
  EXPECT_EQ(f.frames[1].payload, "te");
  EXPECT_TRUE(f.frames[1].fin);
}

// A proxy holds its reply to a peer's close until the other side's close arrives (RFC 6455
// 5.5.1): meanwhile it still sends what that side says; the reply, with any code, completes the
// handshake; whatever the peer sends after its own close is ignored.
TEST(Session, AHeldCloseReplyLetsDataOutThenAnswersWithAnyCode) {
  Session s(Role::kServer, 1 << 20);
  s.set_hold_close_reply(true);
  Recorder r;
  feed(s, concat({frame(opcode::kClose, std::string("\x03\xE8", 2) + "bye"), frame(opcode::kText, "after its close")}),
       r);
  EXPECT_EQ(r.close_code, 1000);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(s.state(), Session::State::kCloseReceived);
  EXPECT_TRUE(output_frames(s).empty());  // no automatic echo
  const std::string late = "late";
  EXPECT_TRUE(s.send_message(opcode::kText, reinterpret_cast<const std::uint8_t*>(late.data()), late.size()));
  EXPECT_TRUE(s.send_frame(opcode::kBinary, false, reinterpret_cast<const std::uint8_t*>("x"), 1));
  EXPECT_TRUE(s.send_ping(nullptr, 0));
  EXPECT_TRUE(s.send_close(4001, "done"));
  EXPECT_EQ(s.state(), Session::State::kClosed);
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].payload, "late");
  EXPECT_FALSE(out[1].fin);
  EXPECT_EQ(out[2].opcode, opcode::kPing);
  EXPECT_EQ(out[3].opcode, opcode::kClose);
  EXPECT_EQ(out[3].payload, std::string("\x0F\xA1", 2) + "done");
  EXPECT_EQ(s.sent_close_code(), 4001);
  EXPECT_FALSE(s.send_message(opcode::kText, reinterpret_cast<const std::uint8_t*>(late.data()), late.size()));

  // Failing while the reply is held still sends a close (none went out yet).
  Session f(Role::kServer, 1 << 20);
  f.set_hold_close_reply(true);
  Recorder fr;
  feed(f, frame(opcode::kClose, ""), fr);
  f.fail(close_code::kPolicyViolation, "send queue full", fr);
  auto failed = output_frames(f);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].payload, std::string("\x03\xF0", 2));
}

// A close with a code and no reason: a default string_view has no data pointer at all (the
// sanitizer build caught a memcpy from it).
TEST(Session, CloseWithACodeAndNoReason) {
  Session s(Role::kServer, 1 << 20);
  ASSERT_TRUE(s.send_close(close_code::kNormal, std::string_view()));
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, std::string("\x03\xE8", 2));
}

TEST(Session, CloseReasonIsCutAtACodePointBoundary) {
  Session s(Role::kServer, 1 << 20);
  std::string reason;
  for (int i = 0; i < 60; ++i) reason += "\xC3\xA9";  // 120 bytes of 2-byte characters
  reason = "x" + reason;                              // 121 bytes: the cut falls mid-character
  ASSERT_TRUE(s.send_close(close_code::kNormal, reason));
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LE(out[0].payload.size(), kMaxControlPayloadBytes);
  ClosePayload parsed;
  EXPECT_EQ(parse_close_payload(reinterpret_cast<const std::uint8_t*>(out[0].payload.data()), out[0].payload.size(), parsed),
            CloseStatus::kOk);
}

TEST(Session, RawFramesBypassTheRules) {
  Session s(Role::kServer, 1 << 20);
  RawFrame raw;
  raw.fin = false;
  raw.rsv = kRsv2 | kRsv3;
  raw.opcode = 0xB;
  raw.masking = RawFrame::Masking::kMasked;
  raw.payload = "odd";
  s.send_raw_frame(raw);
  auto out = output_frames(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opcode, 0xB);
  EXPECT_FALSE(out[0].fin);
  EXPECT_EQ(out[0].rsv, kRsv2 | kRsv3);
  EXPECT_TRUE(out[0].masked);
  EXPECT_EQ(out[0].payload, "odd");
}

TEST(Session, CompressedMessagesRoundTrip) {
  DeflateOptions options;
  DeflateParams params;
  Session server(Role::kServer, 1 << 20);
  Session client(Role::kClient, 1 << 20);
  server.enable_deflate(std::make_unique<DeflateCodec>(Role::kServer, params, options));
  client.enable_deflate(std::make_unique<DeflateCodec>(Role::kClient, params, options));
  const std::string text(1000, 'z');
  for (int round = 0; round < 3; ++round) {  // context takeover across messages
    ASSERT_TRUE(client.send_message(opcode::kText, reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    Bytes wire;
    client.take_output(wire);
    EXPECT_LT(wire.size(), text.size() / 4);
    Recorder r;
    EXPECT_EQ(server.consume(wire.data(), wire.size(), r), wire.size());
    ASSERT_EQ(r.messages.size(), 1u) << r.fail_why;
    EXPECT_EQ(r.messages[0].second, text);
  }
}

TEST(Session, CompressedBitOnAContinuationIsAnError) {
  Session s(Role::kServer, 1 << 20);
  s.enable_deflate(std::make_unique<DeflateCodec>(Role::kServer, DeflateParams{}, DeflateOptions{}));
  Recorder r;
  feed(s, concat({frame(opcode::kBinary, "a", false), frame(opcode::kContinuation, "b", true, kRsv1)}), r);
  EXPECT_EQ(r.fail_code, close_code::kProtocolError);
}

// --- frame delivery (a proxy's view) and send_frame ---

const std::uint8_t* bytes_of(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

// A client masks every data payload as it queues it (small frames on the stack, big ones into
// the output): what the server reads back is the payload, at every size around the small-frame
// bound and the 16-bit length, and every frame has a key of its own (RFC 6455 5.3).
TEST(Session, ClientFramesAreMaskedWithAFreshKeyEachAndUnmaskToThePayload) {
  const std::size_t sizes[] = {0, 1, 7, 8, 9, 125, 126, 127, 128, 129, 1000, 16384, 65535, 65536, 70001};
  Session client(Role::kClient, 1 << 20);
  Session server(Role::kServer, 1 << 20);
  std::vector<std::string> sent;
  for (std::size_t size : sizes) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (i * 13 + size) % 26);
    ASSERT_TRUE(client.send_message(opcode::kBinary, bytes_of(payload), payload.size()));
    sent.push_back(payload);
  }
  Bytes wire;
  client.take_output(wire);
  std::set<std::uint32_t> keys;
  for (std::size_t pos = 0; pos < wire.size();) {
    FrameHeader h;
    ASSERT_EQ(decode_header(wire.data() + pos, wire.size() - pos, h), HeaderStatus::kComplete);
    ASSERT_TRUE(h.masked);
    keys.insert(h.mask_key);
    pos += h.header_length + static_cast<std::size_t>(h.payload_length);
  }
  EXPECT_EQ(keys.size(), sent.size());  // 15 draws of a 32-bit CSPRNG key: a repeat means a bug
  Recorder r;
  EXPECT_EQ(server.consume(wire.data(), wire.size(), r), wire.size());
  ASSERT_EQ(r.messages.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(r.messages[i].second, sent[i]) << sent[i].size();
}

// The engine lends a session a buffer that held earlier frames (cleared, capacity kept), and
// output grows without zero-filling: every byte of a new frame must still be its own, whatever
// was there before (bigger and smaller messages over a buffer full of another's bytes).
TEST(Session, AReusedOutputBufferCarriesNoStaleBytes) {
  Session client(Role::kClient, 1 << 20);
  Session server(Role::kServer, 1 << 20);
  OutputBuffer lent;
  const std::size_t sizes[] = {70001, 16384, 3, 200, 16384, 129};
  for (std::size_t round = 0; round < std::size(sizes); ++round) {
    const std::size_t size = sizes[round];
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('A' + (i * 7 + round) % 26);
    lent.clear();  // stale bytes stay in its capacity
    client.swap_output_buffer(lent);
    ASSERT_TRUE(client.send_message(opcode::kBinary, bytes_of(payload), payload.size()));
    ASSERT_TRUE(client.send_ping(bytes_of("p"), 1));
    Bytes wire;
    client.take_output(wire);
    Recorder r;
    EXPECT_EQ(server.consume(wire.data(), wire.size(), r), wire.size());
    ASSERT_EQ(r.messages.size(), 1u) << size;
    EXPECT_EQ(r.messages[0].second, payload) << size;
    ASSERT_EQ(r.pings.size(), 1u) << size;
    EXPECT_EQ(r.pings[0], "p");
    lent.swap(wire);  // what was written goes back to be lent again, bytes and all
  }
}

TEST(SessionFrames, FragmentsArriveOneCallbackPerFrameWithTheirBoundaries) {
  Session s(Role::kServer, 1 << 20);
  s.set_frame_delivery(true);
  Recorder r;
  feed(s, concat({frame(opcode::kText, "hel", false), frame(opcode::kPing, "p"),
                  frame(opcode::kContinuation, "", false), frame(opcode::kContinuation, "lo", true),
                  frame(opcode::kBinary, "whole")}),
       r);
  EXPECT_TRUE(r.messages.empty());  // frames replace messages in this mode
  ASSERT_EQ(r.frames.size(), 4u) << r.fail_why;
  EXPECT_EQ(r.frames[0].opcode, opcode::kText);
  EXPECT_FALSE(r.frames[0].fin);
  EXPECT_EQ(r.frames[0].payload, "hel");
  EXPECT_EQ(r.frames[1].opcode, opcode::kContinuation);
  EXPECT_EQ(r.frames[1].payload, "");
  EXPECT_FALSE(r.frames[1].fin);
  EXPECT_EQ(r.frames[2].opcode, opcode::kContinuation);
  EXPECT_TRUE(r.frames[2].fin);
  EXPECT_EQ(r.frames[2].payload, "lo");
  EXPECT_EQ(r.frames[3].opcode, opcode::kBinary);
  EXPECT_EQ(r.frames[3].payload, "whole");
  EXPECT_FALSE(r.frames[3].compressed);
  ASSERT_EQ(r.pings.size(), 1u);
}

TEST(SessionFrames, PingsAreLeftToTheHandler) {
  Session s(Role::kServer, 1 << 20);
  s.set_frame_delivery(true);
  Recorder r;
  feed(s, frame(opcode::kPing, "p"), r);
  ASSERT_EQ(r.pings.size(), 1u);
  EXPECT_FALSE(s.has_output());  // a proxy relays the ping; the pong comes from the far side
}

TEST(SessionFrames, AFragmentIsDeliveredBeforeTheNextArrives) {
  Session s(Role::kServer, 1 << 20);
  s.set_frame_delivery(true);
  Recorder r;
  feed(s, frame(opcode::kBinary, "first", false), r);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].payload, "first");
}

TEST(SessionFrames, InvalidUtf8AcrossFragmentsStillFails1007) {
  Session s(Role::kServer, 1 << 20);
  s.set_frame_delivery(true);
  Recorder r;
  feed(s, concat({frame(opcode::kText, "\xC3", false), frame(opcode::kContinuation, "(", true)}), r);
  EXPECT_EQ(r.fail_code, close_code::kInvalidPayload);
}

TEST(SessionFrames, CompressedFragmentsRoundTripWithRsv1OnTheFirstOnly) {
  Session client(Role::kClient, 1 << 20);
  Session server(Role::kServer, 1 << 20);
  client.enable_deflate(std::make_unique<DeflateCodec>(Role::kClient, DeflateParams{}, DeflateOptions{}));
  server.enable_deflate(std::make_unique<DeflateCodec>(Role::kServer, DeflateParams{}, DeflateOptions{}));
  server.set_frame_delivery(true);
  const std::string a(400, 'a');
  const std::string b(300, 'b');
  for (int round = 0; round < 2; ++round) {  // the context carries into the next message
    ASSERT_TRUE(client.send_frame(opcode::kText, false, bytes_of(a), a.size()));
    ASSERT_TRUE(client.send_frame(opcode::kContinuation, false, nullptr, 0));
    ASSERT_TRUE(client.send_frame(opcode::kContinuation, true, bytes_of(b), b.size()));
    Bytes wire;
    client.take_output(wire);
    Bytes copy = wire;
    Recorder r;
    EXPECT_EQ(server.consume(wire.data(), wire.size(), r), wire.size());
    ASSERT_EQ(r.frames.size(), 3u) << r.fail_why;
    EXPECT_EQ(r.frames[0].rsv, kRsv1);
    EXPECT_TRUE(r.frames[0].compressed);
    EXPECT_EQ(r.frames[0].payload, a);
    EXPECT_EQ(r.frames[1].rsv, 0);
    EXPECT_TRUE(r.frames[1].compressed);
    EXPECT_EQ(r.frames[1].payload, "");
    EXPECT_EQ(r.frames[2].rsv, 0);
    EXPECT_EQ(r.frames[2].payload, b);
    // And a message-level receiver reads the same bytes as one message.
    Session whole(Role::kServer, 1 << 20);
    whole.enable_deflate(std::make_unique<DeflateCodec>(Role::kServer, DeflateParams{}, DeflateOptions{}));
    if (round == 0) {
      Recorder m;
      whole.consume(copy.data(), copy.size(), m);
      ASSERT_EQ(m.messages.size(), 1u) << m.fail_why;
      EXPECT_EQ(m.messages[0].second, a + b);
    }
  }
}

TEST(SessionFrames, SendFrameWritesExactlyTheFramesAsked) {
  Session s(Role::kServer, 1 << 20);
  ASSERT_TRUE(s.send_frame(opcode::kBinary, false, bytes_of("ab"), 2));
  ASSERT_TRUE(s.send_ping(bytes_of("p"), 1));  // control frames may come between fragments
  ASSERT_TRUE(s.send_frame(opcode::kContinuation, true, bytes_of("c"), 1));
  Bytes wire;
  s.take_output(wire);
  const Bytes expected = {0x02, 0x02, 'a', 'b', 0x89, 0x01, 'p', 0x80, 0x01, 'c'};
  EXPECT_EQ(wire, expected);
}

TEST(SessionFrames, SendFrameRefusesAnImpossibleSequence) {
  Session s(Role::kServer, 1 << 20);
  EXPECT_FALSE(s.send_frame(opcode::kContinuation, true, nullptr, 0));  // nothing to continue
  ASSERT_TRUE(s.send_frame(opcode::kText, false, bytes_of("a"), 1));
  EXPECT_FALSE(s.send_frame(opcode::kText, true, bytes_of("b"), 1));  // previous not finished
  EXPECT_FALSE(s.send_frame(opcode::kPing, true, nullptr, 0));
  EXPECT_TRUE(s.send_frame(opcode::kContinuation, true, bytes_of("b"), 1));
}

// --- zero copy: the header alone, the caller writes the payload ---

// What send_message queues for `payload`, and what send_message_header queues for its size
// followed by the payload itself: the same bytes.
TEST(SessionHeaderOnly, AHeaderAndItsPayloadAreTheBytesSendMessageQueues) {
  for (std::size_t size : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{65535},
                           std::size_t{65536}, std::size_t{300000}}) {
    const std::string payload(size, 'q');
    Session whole(Role::kServer, 1 << 20);
    ASSERT_TRUE(whole.send_message(opcode::kBinary, bytes_of(payload), size));
    Bytes expected;
    whole.take_output(expected);
    Session split(Role::kServer, 1 << 20);
    ASSERT_TRUE(split.payloads_verbatim());
    ASSERT_TRUE(split.send_message_header(opcode::kBinary, size));
    Bytes wire;
    split.take_output(wire);
    append_bytes(wire, bytes_of(payload), payload.size());
    EXPECT_EQ(wire, expected) << size;
  }
}

TEST(SessionHeaderOnly, FollowsTheRulesOfSendMessageAndSendFrame) {
  Session s(Role::kServer, 1 << 20);
  EXPECT_FALSE(s.send_frame_header(opcode::kContinuation, true, 2000));  // nothing to continue
  ASSERT_TRUE(s.send_frame_header(opcode::kText, false, 2000));
  EXPECT_FALSE(s.send_frame_header(opcode::kBinary, true, 2000));  // previous not finished
  EXPECT_FALSE(s.send_frame(opcode::kBinary, true, bytes_of("b"), 1));  // one sequence for both
  ASSERT_TRUE(s.send_frame_header(opcode::kContinuation, true, 3));
  Bytes wire;
  s.take_output(wire);
  const Bytes expected = {0x01, 126, 0x07, 0xD0, 0x80, 0x03};
  EXPECT_EQ(wire, expected);
  // After our close, nothing more, as for send_message.
  ASSERT_TRUE(s.send_close(close_code::kNormal, ""));
  EXPECT_FALSE(s.send_message_header(opcode::kBinary, 2000));
  EXPECT_FALSE(s.send_frame_header(opcode::kBinary, true, 2000));
  Bytes after;
  s.take_output(after);
  EXPECT_EQ(after.size(), 4u);  // the close frame alone
}

TEST(SessionHeaderOnly, OnlyWherePayloadsGoOutUnchanged) {
  Session client(Role::kClient, 1 << 20);  // masks payloads
  EXPECT_FALSE(client.payloads_verbatim());
  EXPECT_FALSE(client.send_message_header(opcode::kBinary, 2000));
  EXPECT_FALSE(client.send_frame_header(opcode::kBinary, true, 2000));
  EXPECT_FALSE(client.has_output());
  Session compressed(Role::kServer, 1 << 20);  // compresses them
  compressed.enable_deflate(std::make_unique<DeflateCodec>(Role::kServer, DeflateParams{}, DeflateOptions{}));
  EXPECT_FALSE(compressed.payloads_verbatim());
  EXPECT_FALSE(compressed.send_message_header(opcode::kBinary, 2000));
  EXPECT_FALSE(compressed.has_output());
}

}  // namespace
}  // namespace wstool::ws
