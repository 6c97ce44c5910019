// Incremental UTF-8 validation as a small DFA over byte classes (Unicode Table 3-7), run as a
// "shift DFA" (one table row per byte holding every state's successor, so a step is one load
// and one shift), with a word-at-a-time ASCII fast path. Runs over every text message.
#include "lib/utf8.h"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace wstool {
namespace {

// Byte classes: every byte range of Table 3-7 that leads to a different transition. Plain
// constants rather than an enum class: they index the transition table.
constexpr std::uint8_t kAscii = 0;    // 00..7F
constexpr std::uint8_t kCont80 = 1;   // 80..8F
constexpr std::uint8_t kCont90 = 2;   // 90..9F
constexpr std::uint8_t kContA0 = 3;   // A0..BF
constexpr std::uint8_t kNever = 4;    // C0, C1, F5..FF
constexpr std::uint8_t kLead2 = 5;    // C2..DF
constexpr std::uint8_t kLeadE0 = 6;   // E0: next A0..BF (no overlongs)
constexpr std::uint8_t kLead3 = 7;    // E1..EC, EE, EF
constexpr std::uint8_t kLeadED = 8;   // ED: next 80..9F (no surrogates)
constexpr std::uint8_t kLeadF0 = 9;   // F0: next 90..BF (no overlongs)
constexpr std::uint8_t kLead4 = 10;   // F1..F3
constexpr std::uint8_t kLeadF4 = 11;  // F4: next 80..8F (nothing above U+10FFFF)
constexpr std::uint8_t kClassCount = 12;

// States, by what the next bytes must be. Utf8Validator::state_ holds the index; kAccept and
// kReject keep the values utf8.h gives them.
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

// The DFA run as a shift DFA: state k is the bit offset k * kStateBits, and kRows[byte] holds
// the successor offset of every state at that state's offset. The byte's row does not depend on
// the state, so the only serial dependency per byte is a shift.
constexpr unsigned kStateBits = 6;
constexpr std::uint64_t kStateMask = (1u << kStateBits) - 1;
static_assert(kStateCount * kStateBits <= 64, "every state's successor must fit in a row");

constexpr std::array<std::uint64_t, 256> make_rows() {
  constexpr auto classes = make_classes();
  constexpr auto transitions = make_transitions();
  std::array<std::uint64_t, 256> rows{};
  for (std::size_t b = 0; b < rows.size(); ++b) {
    std::uint64_t row = 0;
    for (std::size_t state = 0; state < kStateCount; ++state) {
      const std::uint64_t next = transitions[state * kClassCount + classes[b]];
      row |= (next * kStateBits) << (state * kStateBits);
    }
    rows[b] = row;
  }
  return rows;
}

constexpr std::array<std::uint64_t, 256> kRows = make_rows();
constexpr std::uint64_t kAcceptOffset = kAccept * kStateBits;
constexpr std::uint64_t kRejectOffset = kReject * kStateBits;

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
constexpr std::uint8_t kFirstNonAscii = 0x80;
// Bytes run through the DFA between checks for rejection (rejection is absorbing, so the exact
// offending byte is found by rerunning the block only when it failed).
constexpr std::size_t kBlockBytes = 16;

}  // namespace

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t size) {
  std::size_t ignored = 0;
  return feed(data, size, ignored);
}

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t size, std::size_t& valid_bytes) {
  if (state_ == kReject) {
    valid_bytes = 0;
    return false;
  }
  std::uint64_t s = std::uint64_t{state_} * kStateBits;
  std::size_t i = 0;
  while (i < size) {
    if (s == kAcceptOffset && data[i] < kFirstNonAscii) {
      // Between code points: skip ASCII 64 bytes (SSE2, every x86-64 has it), then two words,
      // then one word, at a time.
      constexpr std::size_t kWord = sizeof(std::uint64_t);
#if defined(__SSE2__)
      constexpr std::size_t kVectorBytes = sizeof(__m128i);
      constexpr std::size_t kVectorsPerStep = 4;
      while (size - i >= kVectorBytes * kVectorsPerStep) {
        const auto* at = reinterpret_cast<const __m128i*>(data + i);
        const __m128i any = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(at), _mm_loadu_si128(at + 1)),
                                         _mm_or_si128(_mm_loadu_si128(at + 2), _mm_loadu_si128(at + 3)));
        if (_mm_movemask_epi8(any) != 0) break;  // a byte with its high bit set: not ASCII
        i += kVectorBytes * kVectorsPerStep;
      }
#endif
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
    const std::size_t end = size - i > kBlockBytes ? i + kBlockBytes : size;
    std::uint64_t t = s;
    for (std::size_t j = i; j < end; ++j) t = kRows[data[j]] >> (t & kStateMask);
    t &= kStateMask;
    if (t == kRejectOffset) {
      for (;; ++i) {
        s = (kRows[data[i]] >> s) & kStateMask;
        if (s == kRejectOffset) break;
      }
      state_ = kReject;
      valid_bytes = i;
      return false;
    }
    s = t;
    i = end;
  }
  state_ = static_cast<std::uint8_t>(s / kStateBits);
  valid_bytes = size;
  return true;
}

bool is_valid_utf8(const std::uint8_t* data, std::size_t size) {
  Utf8Validator v;
  return v.feed(data, size) && v.at_boundary();
}

}  // namespace wstool
