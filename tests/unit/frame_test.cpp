// Unit tests for the RFC 6455 frame codec: header decoding/encoding, masking, close payloads.
#include "lib/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace wstool::ws {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t kMaxLength = (std::uint64_t{1} << 63) - 1;

std::uint32_t key_from(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  const std::uint8_t bytes[4] = {a, b, c, d};
  std::uint32_t k = 0;
  std::memcpy(&k, bytes, sizeof(k));
  return k;
}

Bytes encode(const FrameHeader& h) {
  Bytes out(kMaxFrameHeaderBytes);
  out.resize(encode_header(out.data(), h));
  return out;
}

struct LengthCase {
  std::uint64_t length;
  Bytes length_bytes;  // the second byte's 7-bit field and any extended length
};

const std::vector<LengthCase>& length_cases() {
  static const std::vector<LengthCase> cases = {
      {0, {0x00}},
      {1, {0x01}},
      {125, {0x7D}},
      {126, {0x7E, 0x00, 0x7E}},
      {65535, {0x7E, 0xFF, 0xFF}},
      {65536, {0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
      {kMaxLength, {0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
  };
  return cases;
}

TEST(FrameHeader, EncodesEveryLengthInMinimalForm) {
  for (const auto& c : length_cases()) {
    for (bool masked : {false, true}) {
      FrameHeader h;
      h.opcode = opcode::kBinary;
      h.masked = masked;
      h.mask_key = key_from(1, 2, 3, 4);
      h.payload_length = c.length;
      Bytes expected = {0x82};
      expected.insert(expected.end(), c.length_bytes.begin(), c.length_bytes.end());
      if (masked) {
        expected[1] |= 0x80;
        expected.insert(expected.end(), {1, 2, 3, 4});
      }
      EXPECT_EQ(encode(h), expected) << "length " << c.length << " masked " << masked;
    }
  }
}

TEST(FrameHeader, DecodesEveryLengthEncoding) {
  for (const auto& c : length_cases()) {
    for (bool masked : {false, true}) {
      Bytes wire = {0x81};
      wire.insert(wire.end(), c.length_bytes.begin(), c.length_bytes.end());
      if (masked) {
        wire[1] |= 0x80;
        wire.insert(wire.end(), {0xA1, 0xB2, 0xC3, 0xD4});
      }
      FrameHeader h;
      ASSERT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kComplete)
          << "length " << c.length;
      EXPECT_TRUE(h.fin);
      EXPECT_EQ(h.rsv, 0);
      EXPECT_EQ(h.opcode, opcode::kText);
      EXPECT_EQ(h.masked, masked);
      EXPECT_EQ(h.payload_length, c.length);
      EXPECT_EQ(h.header_length, wire.size());
      if (masked) {
        EXPECT_EQ(h.mask_key, key_from(0xA1, 0xB2, 0xC3, 0xD4));
      }
    }
  }
}

TEST(FrameHeader, DecodesFlagsRsvAndRawOpcodes) {
  for (unsigned op = 0; op < 16; ++op) {
    for (unsigned rsv = 0; rsv < 8; ++rsv) {
      for (bool fin : {false, true}) {
        const Bytes wire = {static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv << 4) | op), 0x05};
        FrameHeader h;
        ASSERT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kComplete);
        EXPECT_EQ(h.fin, fin);
        EXPECT_EQ(h.rsv, rsv);
        EXPECT_EQ(h.opcode, op);
        EXPECT_FALSE(h.masked);
        EXPECT_EQ(h.payload_length, 5u);
        EXPECT_EQ(encode(h), wire);
      }
    }
  }
}

TEST(FrameHeader, RejectsNonMinimalLengths) {
  const std::vector<Bytes> cases = {
      {0x82, 0x7E, 0x00, 0x00},                          // 0 in 16 bits
      {0x82, 0x7E, 0x00, 0x7D},                          // 125 in 16 bits
      {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0x00},        // 0 in 64 bits
      {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0x7D},        // 125 in 64 bits
      {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF},        // 65535 in 64 bits
      {0x82, 0xFE, 0x00, 0x10, 1, 2, 3, 4},              // masked, 16 in 16 bits
  };
  for (const auto& wire : cases) {
    FrameHeader h;
    EXPECT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kNonMinimalLength);
  }
}

TEST(FrameHeader, RejectsLengthWithMostSignificantBit) {
  const std::vector<Bytes> cases = {
      {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0},
      {0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
      {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0x00, 0x01},  // would also be non-minimal without MSB
  };
  for (const auto& wire : cases) {
    FrameHeader h;
    EXPECT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kLengthTooLarge);
  }
}

TEST(FrameHeader, BadLengthFailsBeforeTheMaskKeyArrives) {
  // Masked, 64-bit length with MSB: judged once the length bytes are in, key still missing.
  const Bytes wire = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0};
  FrameHeader h;
  EXPECT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kLengthTooLarge);
  const Bytes short16 = {0x82, 0xFE, 0x00, 0x05};
  EXPECT_EQ(decode_header(short16.data(), short16.size(), h), HeaderStatus::kNonMinimalLength);
}

TEST(FrameHeader, IncompletePrefixesReportTheTotalHeaderLength) {
  for (const auto& c : length_cases()) {
    for (bool masked : {false, true}) {
      Bytes wire = {0x82};
      wire.insert(wire.end(), c.length_bytes.begin(), c.length_bytes.end());
      if (masked) {
        wire[1] |= 0x80;
        wire.insert(wire.end(), {9, 8, 7, 6});
      }
      for (std::size_t n = 0; n < wire.size(); ++n) {
        FrameHeader h;
        ASSERT_EQ(decode_header(wire.data(), n, h), HeaderStatus::kIncomplete)
            << "prefix " << n << " of length " << c.length;
        // Before the second byte only the minimum is known.
        EXPECT_EQ(h.header_length, n < 2 ? 2 : wire.size()) << "prefix " << n;
      }
      FrameHeader h;
      EXPECT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kComplete);
    }
  }
}

TEST(FrameHeader, DecodeIgnoresBytesAfterTheHeader) {
  const Bytes wire = {0x89, 0x03, 'a', 'b', 'c', 0xFF};
  FrameHeader h;
  ASSERT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kComplete);
  EXPECT_EQ(h.header_length, 2u);
  EXPECT_EQ(h.opcode, opcode::kPing);
  EXPECT_EQ(h.payload_length, 3u);
}

TEST(FrameHeader, RandomRoundTrip) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    FrameHeader h;
    h.fin = (rng() & 1) != 0;
    h.rsv = static_cast<std::uint8_t>(rng() & 7);
    h.opcode = static_cast<std::uint8_t>(rng() & 15);
    h.masked = (rng() & 1) != 0;
    h.mask_key = h.masked ? static_cast<std::uint32_t>(rng()) : 0;
    const unsigned bits = static_cast<unsigned>(rng() % 64);  // spread over every magnitude
    h.payload_length = (rng() >> 1) >> bits;
    const Bytes wire = encode(h);
    FrameHeader d;
    ASSERT_EQ(decode_header(wire.data(), wire.size(), d), HeaderStatus::kComplete);
    EXPECT_EQ(d.fin, h.fin);
    EXPECT_EQ(d.rsv, h.rsv);
    EXPECT_EQ(d.opcode, h.opcode);
    EXPECT_EQ(d.masked, h.masked);
    EXPECT_EQ(d.mask_key, h.mask_key);
    EXPECT_EQ(d.payload_length, h.payload_length);
    EXPECT_EQ(d.header_length, wire.size());
  }
}

TEST(Opcode, NamesAndClasses) {
  EXPECT_EQ(opcode_name(opcode::kContinuation), "cont");
  EXPECT_EQ(opcode_name(opcode::kText), "text");
  EXPECT_EQ(opcode_name(opcode::kBinary), "binary");
  EXPECT_EQ(opcode_name(opcode::kClose), "close");
  EXPECT_EQ(opcode_name(opcode::kPing), "ping");
  EXPECT_EQ(opcode_name(opcode::kPong), "pong");
  EXPECT_EQ(opcode_name(0x3), "op3");
  EXPECT_EQ(opcode_name(0x7), "op7");
  EXPECT_EQ(opcode_name(0xB), "opB");
  EXPECT_EQ(opcode_name(0xF), "opF");
  for (std::uint8_t op = 0; op < 16; ++op) {
    EXPECT_EQ(is_control_opcode(op), op >= 8);
    EXPECT_EQ(is_defined_opcode(op), op <= 2 || (op >= 8 && op <= 10));
  }
}

void reference_mask(std::uint8_t* data, std::size_t size, std::uint32_t key, std::size_t offset) {
  std::uint8_t k[4];
  std::memcpy(k, &key, sizeof(k));
  for (std::size_t i = 0; i < size; ++i) data[i] ^= k[(offset + i) % 4];
}

TEST(Mask, MatchesBytewiseReferenceForEveryOffsetSizeAndAlignment) {
  const std::uint32_t key = key_from(0x12, 0x34, 0xAB, 0xCD);
  std::vector<std::uint8_t> base(64 + 16);
  for (std::size_t i = 0; i < base.size(); ++i) base[i] = static_cast<std::uint8_t>(i * 7 + 3);
  for (std::size_t align = 0; align < 8; ++align) {
    for (std::size_t offset = 0; offset < 16; ++offset) {
      for (std::size_t size = 0; size <= 64; ++size) {
        auto ours = base;
        auto ref = base;
        apply_mask(ours.data() + align, size, key, offset);
        reference_mask(ref.data() + align, size, key, offset);
        ASSERT_EQ(ours, ref) << "align " << align << " offset " << offset << " size " << size;
      }
    }
  }
}

// copy_masked is what a client does with every payload it sends: the source must come out
// masked exactly as the byte-wise reference does, at every length (the vector, word and byte
// tails), source and destination alignment and key phase, and the source left untouched.
TEST(Mask, CopyMaskedMatchesBytewiseReferenceForEveryOffsetSizeAndAlignment) {
  const std::uint32_t key = key_from(0x12, 0x34, 0xAB, 0xCD);
  constexpr std::size_t kSlack = 16;
  std::vector<std::size_t> sizes;
  for (std::size_t size = 0; size <= 70; ++size) sizes.push_back(size);
  const std::size_t big_sizes[] = {127, 128, 129, 255, 256, 257, 389, 1000, 4096, 16383, 16384, 16385, 65536 + 3};
  for (std::size_t size : big_sizes) sizes.push_back(size);
  for (std::size_t size : sizes) {
    Bytes source(size + kSlack);
    for (std::size_t i = 0; i < source.size(); ++i) source[i] = static_cast<std::uint8_t>(i * 7 + 3);
    const Bytes original = source;
    for (std::size_t from_align = 0; from_align < 8; from_align += (size > 70 ? 3 : 1)) {
      for (std::size_t to_align = 0; to_align < 8; to_align += (size > 70 ? 5 : 1)) {
        for (std::size_t offset = 0; offset < 8; ++offset) {
          Bytes ours(size + kSlack, 0xEE);
          Bytes ref(size + kSlack, 0xEE);
          copy_masked(ours.data() + to_align, source.data() + from_align, size, key, offset);
          std::memcpy(ref.data() + to_align, source.data() + from_align, size);
          reference_mask(ref.data() + to_align, size, key, offset);
          ASSERT_EQ(ours, ref) << "size " << size << " from " << from_align << " to " << to_align << " offset "
                               << offset;
          ASSERT_EQ(source, original);
        }
      }
    }
  }
}

TEST(Mask, CopyMaskedInPlaceEqualsApplyMask) {
  const std::uint32_t key = key_from(0xDE, 0xAD, 0xBE, 0xEF);
  std::mt19937 rng(11);
  Bytes payload(5000);
  for (auto& b : payload) b = static_cast<std::uint8_t>(rng());
  Bytes in_place = payload;
  copy_masked(in_place.data(), in_place.data(), in_place.size(), key, 3);
  Bytes applied = payload;
  apply_mask(applied.data(), applied.size(), key, 3);
  EXPECT_EQ(in_place, applied);
}

TEST(Mask, PiecewiseEqualsWholeAndIsAnInvolution) {
  const std::uint32_t key = key_from(0xDE, 0xAD, 0xBE, 0xEF);
  std::mt19937 rng(7);
  Bytes payload(1000);
  for (auto& b : payload) b = static_cast<std::uint8_t>(rng());
  Bytes whole = payload;
  apply_mask(whole.data(), whole.size(), key, 0);
  Bytes pieces = payload;
  for (std::size_t at = 0; at < pieces.size();) {
    const std::size_t n = std::min<std::size_t>(rng() % 37, pieces.size() - at);
    apply_mask(pieces.data() + at, n, key, at);
    at += n;
  }
  EXPECT_EQ(pieces, whole);
  apply_mask(whole.data(), whole.size(), key, 0);
  EXPECT_EQ(whole, payload);
}

TEST(Mask, KnownVectorFromRfc) {
  // RFC 6455 5.7: a masked "Hello" with key 37 fa 21 3d.
  Bytes data = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  apply_mask(data.data(), data.size(), key_from(0x37, 0xfa, 0x21, 0x3d), 0);
  EXPECT_EQ(std::string(data.begin(), data.end()), "Hello");
  const Bytes wire = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d};
  FrameHeader h;
  ASSERT_EQ(decode_header(wire.data(), wire.size(), h), HeaderStatus::kComplete);
  EXPECT_EQ(h.mask_key, key_from(0x37, 0xfa, 0x21, 0x3d));
}

TEST(CloseCode, WireValidity) {
  for (unsigned code = 0; code <= 0xFFFF; ++code) {
    const bool expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                          (code >= 3000 && code <= 4999);
    ASSERT_EQ(is_valid_wire_close_code(static_cast<std::uint16_t>(code)), expected) << code;
  }
  EXPECT_FALSE(is_valid_wire_close_code(close_code::kNoStatus));
  EXPECT_FALSE(is_valid_wire_close_code(close_code::kAbnormal));
  EXPECT_FALSE(is_valid_wire_close_code(close_code::kTlsHandshake));
  EXPECT_FALSE(is_valid_wire_close_code(1004));
  EXPECT_FALSE(is_valid_wire_close_code(1016));
  EXPECT_FALSE(is_valid_wire_close_code(2999));
  EXPECT_FALSE(is_valid_wire_close_code(5000));
}

CloseStatus parse(const Bytes& b, ClosePayload& out) {
  return parse_close_payload(b.data(), b.size(), out);
}

TEST(ClosePayload, EmptyReadsAsNoStatus) {
  ClosePayload p;
  EXPECT_EQ(parse_close_payload(nullptr, 0, p), CloseStatus::kEmpty);
  EXPECT_EQ(p.code, close_code::kNoStatus);
  EXPECT_TRUE(p.reason.empty());
}

TEST(ClosePayload, OneByteIsBadLength) {
  ClosePayload p;
  EXPECT_EQ(parse({0x03}, p), CloseStatus::kBadLength);
}

TEST(ClosePayload, CodeOnlyAndCodeWithReason) {
  ClosePayload p;
  EXPECT_EQ(parse({0x03, 0xE8}, p), CloseStatus::kOk);
  EXPECT_EQ(p.code, 1000);
  EXPECT_TRUE(p.reason.empty());
  const Bytes with_reason = {0x0F, 0xA0, 'b', 'y', 'e', 0xC3, 0xA9};  // 4000, "byeé"
  EXPECT_EQ(parse(with_reason, p), CloseStatus::kOk);
  EXPECT_EQ(p.code, 4000);
  EXPECT_EQ(p.reason, "bye\xC3\xA9");
}

TEST(ClosePayload, EachCodeClass) {
  struct Case {
    std::uint16_t code;
    CloseStatus status;
  };
  const Case cases[] = {
      {0, CloseStatus::kBadCode},     {999, CloseStatus::kBadCode},
      {1000, CloseStatus::kOk},       {1003, CloseStatus::kOk},
      {1004, CloseStatus::kBadCode},  {1005, CloseStatus::kBadCode},
      {1006, CloseStatus::kBadCode},  {1007, CloseStatus::kOk},
      {1014, CloseStatus::kOk},       {1015, CloseStatus::kBadCode},
      {1016, CloseStatus::kBadCode},  {2000, CloseStatus::kBadCode},
      {2999, CloseStatus::kBadCode},  {3000, CloseStatus::kOk},
      {3999, CloseStatus::kOk},       {4000, CloseStatus::kOk},
      {4999, CloseStatus::kOk},       {5000, CloseStatus::kBadCode},
      {65535, CloseStatus::kBadCode},
  };
  for (const auto& c : cases) {
    ClosePayload p;
    const Bytes b = {static_cast<std::uint8_t>(c.code >> 8), static_cast<std::uint8_t>(c.code),
                     'o', 'k'};
    EXPECT_EQ(parse(b, p), c.status) << c.code;
    EXPECT_EQ(p.code, c.code);
  }
}

TEST(ClosePayload, BadUtf8Reason) {
  ClosePayload p;
  EXPECT_EQ(parse({0x03, 0xE8, 'a', 0xFF}, p), CloseStatus::kBadReason);
  EXPECT_EQ(parse({0x03, 0xE8, 0xC3}, p), CloseStatus::kBadReason);  // truncated at the end
  EXPECT_EQ(parse({0x03, 0xE8, 0xED, 0xA0, 0x80}, p), CloseStatus::kBadReason);  // surrogate
  // A bad code is reported before a bad reason.
  EXPECT_EQ(parse({0x03, 0xED, 0xFF}, p), CloseStatus::kBadCode);
}

}  // namespace
}  // namespace wstool::ws
