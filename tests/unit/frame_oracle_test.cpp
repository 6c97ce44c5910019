// Differential test of the frame decoder against websocketpp's hybi13 processor: generated frame
// streams (edge cases and random, masked and unmasked, whole and truncated) must get the same
// verdict and the same unmasked messages from both, wherever both define the outcome.
#include "tests/unit/frame_oracle.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>

namespace wstool::oracle {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string describe(const Verdict& v) {
  std::string s = v.end == End::kWaiting ? "waiting" : v.end == End::kRejected ? "rejected" : "undefined";
  s += ", " + std::to_string(v.messages.size()) + " messages:";
  for (const auto& m : v.messages) {
    s += " [" + std::string(ws::opcode_name(m.opcode)) + " " + std::to_string(m.payload.size()) + "]";
  }
  return s;
}

std::string hex(const Bytes& b) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < std::min<std::size_t>(b.size(), 40); ++i) {
    s += kDigits[b[i] >> 4];
    s += kDigits[b[i] & 15];
  }
  return b.size() > 40 ? s + "..." : s;
}

struct Tally {
  int compared = 0;
  int undefined = 0;
  int rejected = 0;
  int with_messages = 0;
};

// Counts the case under `tally`; a case where the two legitimately differ is skipped.
void expect_agreement(const Bytes& wire, ws::Role role, Tally& tally, std::size_t chunk = 0) {
  const Verdict ours = run_ours(wire.data(), wire.size(), role);
  if (ours.end == End::kUndefined) {
    ++tally.undefined;
    return;
  }
  ++tally.compared;
  tally.rejected += ours.end == End::kRejected;
  tally.with_messages += !ours.messages.empty();
  const Verdict theirs = run_websocketpp(wire, role, chunk);
  EXPECT_TRUE(ours == theirs) << "ours: " << describe(ours) << "\nwebsocketpp: " << describe(theirs)
                              << "\nwire " << hex(wire) << " role "
                              << (role == ws::Role::kServer ? "server" : "client");
}

struct FrameSpec {
  bool fin = true;
  std::uint8_t rsv = 0;
  std::uint8_t opcode = ws::opcode::kBinary;
  bool masked = true;
  std::uint32_t key = 0x12345678;
  std::string payload;
};

void append_frame(Bytes& wire, const FrameSpec& f) {
  ws::FrameHeader h;
  h.fin = f.fin;
  h.rsv = f.rsv;
  h.opcode = f.opcode;
  h.masked = f.masked;
  h.mask_key = f.key;
  h.payload_length = f.payload.size();
  std::uint8_t header[ws::kMaxFrameHeaderBytes];
  const std::size_t n = ws::encode_header(header, h);
  wire.insert(wire.end(), header, header + n);
  const std::size_t at = wire.size();
  wire.insert(wire.end(), f.payload.begin(), f.payload.end());
  if (f.masked) ws::apply_mask(wire.data() + at, f.payload.size(), f.key, 0);
}

Bytes frames(std::initializer_list<FrameSpec> specs) {
  Bytes wire;
  for (const auto& f : specs) append_frame(wire, f);
  return wire;
}

TEST(FrameOracle, EdgeCases) {
  const std::string text = "h\xC3\xA9llo \xF0\x9F\x98\x80";
  std::vector<Bytes> cases = {
      frames({{true, 0, ws::opcode::kText, true, 0x37fa213d, "Hello"}}),
      frames({{true, 0, ws::opcode::kBinary, true, 0, ""}}),
      frames({{true, 0, ws::opcode::kText, true, 1, text}}),
      frames({{true, 0, ws::opcode::kText, true, 1, "bad \xED\xA0\x80"}}),
      frames({{true, 0, ws::opcode::kText, true, 1, "cut \xC3"}}),
      frames({{false, 0, ws::opcode::kText, true, 1, "\xF0\x9F"},
              {true, 0, ws::opcode::kPing, true, 2, "ping"},
              {true, 0, ws::opcode::kContinuation, true, 3, "\x98\x80"}}),
      frames({{true, 0, ws::opcode::kContinuation, true, 1, "x"}}),
      frames({{false, 0, ws::opcode::kBinary, true, 1, "x"}, {true, 0, ws::opcode::kBinary, true, 1, "y"}}),
      frames({{false, 0, ws::opcode::kPing, true, 1, ""}}),
      frames({{true, 0, ws::opcode::kPing, true, 1, std::string(125, 'p')}}),
      frames({{true, 0, ws::opcode::kPing, true, 1, std::string(126, 'p')}}),
      frames({{true, 0, ws::opcode::kClose, true, 1, "\x03\xE8"}}),
      frames({{true, ws::kRsv1, ws::opcode::kBinary, true, 1, "x"}}),
      frames({{true, ws::kRsv3, ws::opcode::kBinary, true, 1, "x"}}),
      frames({{true, 0, 0x3, true, 1, "x"}}),
      frames({{true, 0, 0xB, true, 1, ""}}),
      frames({{true, 0, ws::opcode::kBinary, false, 0, "unmasked"}}),
      frames({{true, 0, ws::opcode::kBinary, true, 5, std::string(126, 'a')}}),
      frames({{true, 0, ws::opcode::kBinary, true, 5, std::string(65535, 'b')}}),
      frames({{true, 0, ws::opcode::kBinary, true, 5, std::string(65536, 'c')}}),
      {0x82, 0xFE, 0x00, 0x7D, 1, 2, 3, 4},                          // non-minimal 16-bit
      {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4},        // non-minimal 64-bit
      {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},           // 64-bit MSB
      {0x82, 0xFF, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4},           // beyond the message limit
      // A continuation with a 64-bit length whose top bit is set: websocketpp's size check
      // wraps around, so only ours rejects it; the case must be recognised as undefined.
      {0x02, 0x81, 1, 2, 3, 4, 'x', 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4},
  };
  Tally tally;
  for (const auto& wire : cases) {
    for (ws::Role role : {ws::Role::kServer, ws::Role::kClient}) {
      // Every truncation, so incomplete headers and payloads are compared too.
      const std::size_t step = wire.size() > 300 ? wire.size() / 97 : 1;
      for (std::size_t n = 0; n <= wire.size(); n += step) {
        expect_agreement(Bytes(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n)), role, tally);
      }
      expect_agreement(wire, role, tally, 3);
    }
  }
  EXPECT_GT(tally.compared, 1000);
  EXPECT_GT(tally.rejected, 100);
  EXPECT_GT(tally.with_messages, 20);
}

// Random frame streams: mostly well-formed frames with a chance of every kind of defect.
TEST(FrameOracle, RandomStreams) {
  std::mt19937_64 rng(2026);
  auto chance = [&rng](unsigned percent) { return rng() % 100 < percent; };
  const std::uint8_t opcodes[] = {0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3, 0xB};
  const std::string text_pieces[] = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "plain "};
  Tally tally;
  constexpr int kIterations = 10000;
  for (int i = 0; i < kIterations; ++i) {
    const ws::Role role = chance(50) ? ws::Role::kServer : ws::Role::kClient;
    Bytes wire;
    const int frame_count = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < frame_count; ++f) {
      FrameSpec spec;
      spec.fin = chance(75);
      spec.rsv = chance(5) ? static_cast<std::uint8_t>(rng() % 8) : 0;
      spec.opcode = chance(90) ? opcodes[rng() % 6] : opcodes[rng() % std::size(opcodes)];
      spec.masked = chance(95) == (role == ws::Role::kServer);
      spec.key = static_cast<std::uint32_t>(rng());
      const std::size_t length = chance(90) ? rng() % 140 : (chance(50) ? 65535 + rng() % 3 : rng() % 70000);
      if (spec.opcode == ws::opcode::kText || (spec.opcode == 0 && chance(50))) {
        while (spec.payload.size() < length) spec.payload += text_pieces[rng() % std::size(text_pieces)];
        if (chance(10) && !spec.payload.empty()) spec.payload[rng() % spec.payload.size()] = static_cast<char>(rng());
        if (chance(10)) spec.payload.resize(length);  // may cut a code point
      } else {
        spec.payload.resize(length);
        for (auto& c : spec.payload) c = static_cast<char>(rng());
      }
      append_frame(wire, spec);
    }
    if (chance(30)) wire.resize(rng() % (wire.size() + 1));
    if (chance(5) && wire.size() > 1) wire[rng() % wire.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    const std::size_t chunk = chance(50) ? 0 : 1 + rng() % 200;
    expect_agreement(wire, role, tally, chunk);
    if (HasFailure()) break;
  }
  // Both outcomes must be well represented, or the comparison proves little.
  EXPECT_GT(tally.compared, kIterations * 9 / 10) << tally.undefined << " skipped as undefined";
  EXPECT_GT(tally.rejected, kIterations / 10);
  EXPECT_GT(tally.with_messages, kIterations / 10);
  std::printf("compared %d (rejected %d, with messages %d), skipped %d\n", tally.compared,
              tally.rejected, tally.with_messages, tally.undefined);
}

}  // namespace
}  // namespace wstool::oracle
