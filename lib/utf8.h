// Incremental UTF-8 validation (RFC 3629, Unicode Table 3-7) that fails at the first byte that
// makes the input invalid, so a text message split across frames can be failed fast.
// An ASCII fast path checks a machine word at a time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wstool {

class Utf8Validator {
 public:
  // Validates the next piece of a stream. Returns false as soon as the bytes seen so far cannot
  // be the beginning of valid UTF-8 (overlongs, surrogates, > U+10FFFF, bad continuation bytes
  // are rejected at the first byte that proves them so). Once false, it stays false until reset().
  bool feed(const std::uint8_t* data, std::size_t size);

  // Like feed(), and also reports how many bytes of this piece were consumed before the failure
  // (the offset of the offending byte within `data`); equals `size` on success.
  bool feed(const std::uint8_t* data, std::size_t size, std::size_t& valid_bytes);

  // True when no code point is half-read: the stream may end here.
  bool at_boundary() const { return state_ == kAccept; }
  bool failed() const { return state_ == kReject; }
  void reset() { state_ = kAccept; }

 private:
  static constexpr std::uint8_t kAccept = 0;
  static constexpr std::uint8_t kReject = 1;
  std::uint8_t state_ = kAccept;
};

// Whole-buffer check: valid and complete.
bool is_valid_utf8(const std::uint8_t* data, std::size_t size);
inline bool is_valid_utf8(const char* data, std::size_t size) {
  return is_valid_utf8(reinterpret_cast<const std::uint8_t*>(data), size);
}

}  // namespace wstool
