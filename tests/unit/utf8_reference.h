// A plain reference UTF-8 decoder for tests and fuzz targets, deliberately built differently
// from the validator's DFA (bit patterns, and the code point range a partial sequence can still
// reach), reporting the first byte that proves the input invalid.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wstool::utf8_reference {

struct RefResult {
  std::size_t fail_at;  // index of the first byte that proves the input invalid, or size
  bool complete;        // valid and no code point half-read
};

inline bool partial_can_be_valid(std::uint32_t bits, unsigned length, unsigned missing) {
  const std::uint32_t lo = bits << (6 * missing);
  const std::uint32_t hi = lo | ((1u << (6 * missing)) - 1);
  auto overlaps = [lo, hi](std::uint32_t a, std::uint32_t b) { return lo <= b && hi >= a; };
  switch (length) {
    case 1: return overlaps(0x0, 0x7F);
    case 2: return overlaps(0x80, 0x7FF);
    case 3: return overlaps(0x800, 0xD7FF) || overlaps(0xE000, 0xFFFF);
    case 4: return overlaps(0x10000, 0x10FFFF);
    default: return false;
  }
}

inline RefResult reference(const std::uint8_t* data, std::size_t size) {
  std::size_t i = 0;
  while (i < size) {
    const std::uint8_t lead = data[i];
    unsigned length = 0;
    std::uint32_t bits = 0;
    if ((lead & 0x80) == 0) {
      length = 1;
      bits = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      bits = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      bits = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      bits = lead & 0x07u;
    } else {
      return {i, false};
    }
    for (unsigned m = 1;; ++m) {
      if (!partial_can_be_valid(bits, length, length - m)) return {i + m - 1, false};
      if (m == length) break;
      if (i + m == size) return {size, false};  // truncated, but could still be completed
      const std::uint8_t c = data[i + m];
      if ((c & 0xC0) != 0x80) return {i + m, false};
      bits = (bits << 6) | (c & 0x3Fu);
    }
    i += length;
  }
  return {size, true};
}

}  // namespace wstool::utf8_reference
