// Incremental UTF-8 validation as a small DFA over byte classes (Unicode Table 3-7), with a
// word-at-a-time ASCII fast path. Runs over every text message, so the loop is kept tight.
#include "lib/utf8.h"

#include <array>
#include <cstring>

namespace wstool {
namespace {

// Byte classes: every byte range of Table 3-7 that leads to a different transition.
enum ByteClass : std::uint8_t {
  kAscii,      // 00..7F
  kCont80,     // 80..8F
  kCont90,     // 90..9F
  kContA0,     // A0..BF
  kNever,      // C0, C1, F5..FF
  kLead2,      // C2..DF
  kLeadE0,     // E0: next A0..BF (no overlongs)
  kLead3,      // E1..EC, EE, EF
  kLeadED,     // ED: next 80..9F (no surrogates)
  kLeadF0,     // F0: next 90..BF (no overlongs)
  kLead4,      // F1..F3
  kLeadF4,     // F4: next 80..8F (nothing above U+10FFFF)
  kClassCount,
};

// States beyond the header's kAccept (0) and kReject (1): what the next bytes must be.
constexpr std::uint8_t kAccept = 0;
constexpr std::uint8_t kReject = 1;
constexpr std::uint8_t kNeed1 = 2;    // one more 80..BF
constexpr std::uint8_t kNeed2 = 3;    // two more 80..BF
constexpr std::uint8_t kNeed3 = 4;    // three more 80..BF
constexpr std::uint8_t kAfterE0 = 5;  // A0..BF, then one more
constexpr std::uint8_t kAfterED = 6;  // 80..9F, then one more
constexpr std::uint8_t kAfterF0 = 7;  // 90..BF, then two more
constexpr std::uint8_t kAfterF4 = 8;  // 80..8F, then two more
constexpr std::uint8_t kStateCount = 9;

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> c{};
  for (unsigned b = 0; b < 256; ++b) {
    std::uint8_t k = kNever;
    if (b <= 0x7F) k = kAscii;
    else if (b <= 0x8F) k = kCont80;
    else if (b <= 0x9F) k = kCont90;
    else if (b <= 0xBF) k = kContA0;
    else if (b <= 0xC1) k = kNever;
    else if (b <= 0xDF) k = kLead2;
    else if (b == 0xE0) k = kLeadE0;
    else if (b == 0xED) k = kLeadED;
    else if (b <= 0xEF) k = kLead3;
    else if (b == 0xF0) k = kLeadF0;
    else if (b <= 0xF3) k = kLead4;
    else if (b == 0xF4) k = kLeadF4;
    c[b] = k;
  }
  return c;
}

constexpr std::array<std::uint8_t, kStateCount * kClassCount> make_transitions() {
  std::array<std::uint8_t, kStateCount * kClassCount> t{};
  for (auto& x : t) x = kReject;
  auto set = [&t](std::uint8_t state, std::uint8_t cls, std::uint8_t next) {
    t[std::size_t{state} * kClassCount + cls] = next;
  };
  set(kAccept, kAscii, kAccept);
  set(kAccept, kLead2, kNeed1);
  set(kAccept, kLeadE0, kAfterE0);
  set(kAccept, kLead3, kNeed2);
  set(kAccept, kLeadED, kAfterED);
  set(kAccept, kLeadF0, kAfterF0);
  set(kAccept, kLead4, kNeed3);
  set(kAccept, kLeadF4, kAfterF4);
  for (std::uint8_t cont : {kCont80, kCont90, kContA0}) {
    set(kNeed1, cont, kAccept);
    set(kNeed2, cont, kNeed1);
    set(kNeed3, cont, kNeed2);
  }
  set(kAfterE0, kContA0, kNeed1);
  set(kAfterED, kCont80, kNeed1);
  set(kAfterED, kCont90, kNeed1);
  set(kAfterF0, kCont90, kNeed2);
  set(kAfterF0, kContA0, kNeed2);
  set(kAfterF4, kCont80, kNeed2);
  return t;
}

constexpr std::array<std::uint8_t, 256> kClasses = make_classes();
constexpr std::array<std::uint8_t, kStateCount * kClassCount> kTransitions = make_transitions();

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
constexpr std::uint8_t kFirstNonAscii = 0x80;

}  // namespace

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t size) {
  std::size_t ignored = 0;
  return feed(data, size, ignored);
}

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t size, std::size_t& valid_bytes) {
  std::uint8_t s = state_;
  if (s == kReject) {
    valid_bytes = 0;
    return false;
  }
  std::size_t i = 0;
  while (i < size) {
    if (s == kAccept && data[i] < kFirstNonAscii) {
      // Between code points: skip ASCII two words, then one word, at a time.
      constexpr std::size_t kWord = sizeof(std::uint64_t);
      while (size - i >= 2 * kWord) {
        std::uint64_t w[2];
        std::memcpy(w, data + i, sizeof(w));
        if (((w[0] | w[1]) & kHighBits) != 0) break;
        i += 2 * kWord;
      }
      while (size - i >= kWord) {
        std::uint64_t w;
        std::memcpy(&w, data + i, sizeof(w));
        if ((w & kHighBits) != 0) break;
        i += kWord;
      }
      while (i < size && data[i] < kFirstNonAscii) ++i;
      if (i == size) break;
    }
    s = kTransitions[std::size_t{s} * kClassCount + kClasses[data[i]]];
    if (s == kReject) {
      state_ = s;
      valid_bytes = i;
      return false;
    }
    ++i;
  }
  state_ = s;
  valid_bytes = size;
  return true;
}

bool is_valid_utf8(const std::uint8_t* data, std::size_t size) {
  Utf8Validator v;
  return v.feed(data, size) && v.at_boundary();
}

}  // namespace wstool
