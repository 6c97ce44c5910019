// The scanner is an explicit state machine over one pass of the text (no recursion, no
// allocation): a bit per open container says object or array. Every rule here mirrors what
// nlohmann/json 3.11's lexer and parser accept, and errs towards "not accepted".
#include "lib/json_scan.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lib/utf8.h"

namespace wstool::json_scan {
namespace {

// strtod turns a decimal with more than this many digits before the point (exponent included)
// into infinity, which nlohmann refuses: DBL_MAX is about 1.8e308.
constexpr long kMaxFiniteDigits = 308;
// Exponents are summed up to this and no further (any larger one is already beyond the above).
constexpr long kExponentCap = 100000;

constexpr std::uint32_t kHighSurrogateFirst = 0xD800;
constexpr std::uint32_t kHighSurrogateLast = 0xDBFF;
constexpr std::uint32_t kLowSurrogateFirst = 0xDC00;
constexpr std::uint32_t kLowSurrogateLast = 0xDFFF;
constexpr std::size_t kHexDigits = 4;
constexpr unsigned char kFirstNonControl = 0x20;
constexpr unsigned char kFirstNonAscii = 0x80;

bool is_plain(unsigned char c) { return c >= kFirstNonControl && c < kFirstNonAscii && c != '"' && c != '\\'; }

// Word-at-a-time: whether any of the 8 bytes in `word` is not plain. (v - 0x01..01) & ~v &
// 0x80..80 is non-zero exactly when some byte of v is zero (a borrow can only mark bytes above
// a real zero, so "any" is exact); the same with 0x20 finds bytes below 0x20, and the high bits
// are the non-ASCII bytes.
constexpr std::uint64_t kOnes = std::numeric_limits<std::uint64_t>::max() / 0xFF;  // 0x0101...01
constexpr std::uint64_t kHighs = kOnes * 0x80;
// The high bit of every such byte, and perhaps of some bytes after the first one (a borrow
// runs towards the more significant bytes only): the lowest set bit is always exact.
std::uint64_t special_bytes(std::uint64_t word) {
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  const std::uint64_t zero_quote = (quote - kOnes) & ~quote;
  const std::uint64_t zero_backslash = (backslash - kOnes) & ~backslash;
  const std::uint64_t control = (word - kOnes * kFirstNonControl) & ~word;
  return (zero_quote | zero_backslash | control | word) & kHighs;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr bool kLittleEndian = true;
#else
constexpr bool kLittleEndian = false;
#endif
constexpr unsigned kBitsPerByte = 8;

bool is_whitespace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Scanner {
 public:
  Scanner(std::string_view text, std::size_t max_depth, MemberSink* sink)
      : begin_(reinterpret_cast<const unsigned char*>(text.data())),
        p_(begin_),
        end_(begin_ + text.size()),
        max_depth_(max_depth),
        sink_(sink) {}

  bool run(Kind& top);

 private:
  enum class State : unsigned char { kValue, kKey, kAfterValue };

  void skip_whitespace() {
    while (p_ != end_ && is_whitespace(*p_)) ++p_;
  }

  bool open(bool object) {
    if (depth_ >= max_depth_ || depth_ >= kMaxScanDepth) return false;
    const std::size_t word = depth_ / 64;
    const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
    if (object) {
      objects_[word] |= bit;
    } else {
      objects_[word] &= ~bit;
    }
    ++depth_;
    return true;
  }
  // Whether the innermost open container is an object.
  bool in_object() const {
    const std::size_t at = depth_ - 1;
    return (objects_[at / 64] >> (at % 64)) & 1u;
  }

  // At the opening quote; leaves p_ past the closing one. `escaped`: a backslash was seen.
  bool string(bool& escaped);
  bool escape();
  bool number();
  bool literal(const char* word, std::size_t size) {
    if (static_cast<std::size_t>(end_ - p_) < size || std::memcmp(p_, word, size) != 0) return false;
    p_ += size;
    return true;
  }

  const unsigned char* begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  std::size_t max_depth_;
  MemberSink* sink_;
  std::size_t depth_ = 0;
  std::array<std::uint64_t, kMaxScanDepth / 64> objects_{};
};

bool Scanner::escape() {
  // p_ is just past the backslash.
  if (p_ == end_) return false;
  const unsigned char c = *p_++;
  switch (c) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return true;
    case 'u':
      break;
    default:
      return false;
  }
  const auto code_unit = [this](std::uint32_t& out) {
    if (static_cast<std::size_t>(end_ - p_) < kHexDigits) return false;
    out = 0;
    for (std::size_t i = 0; i < kHexDigits; ++i) {
      const int v = hex_value(*p_++);
      if (v < 0) return false;
      out = (out << 4) | static_cast<std::uint32_t>(v);
    }
    return true;
  };
  std::uint32_t first = 0;
  if (!code_unit(first)) return false;
  if (first >= kLowSurrogateFirst && first <= kLowSurrogateLast) return false;  // a lone low half
  if (first < kHighSurrogateFirst || first > kHighSurrogateLast) return true;
  // A high half must be followed at once by an escaped low half.
  if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
  p_ += 2;
  std::uint32_t second = 0;
  return code_unit(second) && second >= kLowSurrogateFirst && second <= kLowSurrogateLast;
}

bool Scanner::string(bool& escaped) {
  ++p_;  // the opening quote
  escaped = false;
  bool non_ascii = false;
  const unsigned char* const start = p_;
  while (true) {
    // The common run: printable ASCII other than the quote and the backslash.
    p_ += plain_run(std::string_view(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(end_ - p_)));
    if (p_ == end_) return false;
    const unsigned char c = *p_;
    if (c == '"') break;
    if (c == '\\') {
      escaped = true;
      ++p_;
      if (!escape()) return false;
    } else if (c < kFirstNonControl) {
      return false;  // control characters must be escaped
    } else {
      non_ascii = true;
      ++p_;
    }
  }
  // Escapes are ASCII, so they cannot hide or split a multi-byte sequence: checking the raw
  // bytes is checking the string.
  if (non_ascii && !is_valid_utf8(start, static_cast<std::size_t>(p_ - start))) return false;
  ++p_;  // the closing quote
  return true;
}

bool Scanner::number() {
  if (*p_ == '-') ++p_;
  if (p_ == end_) return false;
  long digits = 0;  // before the point
  if (*p_ == '0') {
    ++p_;
    digits = 1;
  } else if (is_digit(*p_)) {
    while (p_ != end_ && is_digit(*p_)) {
      ++p_;
      if (digits <= kMaxFiniteDigits) ++digits;
    }
  } else {
    return false;
  }
  if (p_ != end_ && *p_ == '.') {
    ++p_;
    if (p_ == end_ || !is_digit(*p_)) return false;
    while (p_ != end_ && is_digit(*p_)) ++p_;
  }
  long exponent = 0;
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    bool negative = false;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) negative = *p_++ == '-';
    if (p_ == end_ || !is_digit(*p_)) return false;
    while (p_ != end_ && is_digit(*p_)) {
      if (exponent < kExponentCap) exponent = exponent * 10 + (*p_ - '0');
      ++p_;
    }
    if (negative) exponent = -exponent;
  }
  // Below 10^308 the value is certainly finite; anything larger may not be (strtod then gives
  // infinity and nlohmann refuses it): let the full parser decide.
  return digits + exponent <= kMaxFiniteDigits;
}

bool Scanner::run(Kind& top) {
  skip_whitespace();
  if (p_ == end_) return false;
  State state = State::kValue;
  // The top-level member being read: its key, and where its value starts.
  Member member;
  const unsigned char* value_start = nullptr;
  bool first_value = true;
  while (true) {
    switch (state) {
      case State::kValue: {
        const unsigned char c = *p_;
        Kind kind = Kind::kNull;
        const bool member_value = depth_ == 1 && sink_ != nullptr;
        if (member_value) value_start = p_;
        bool escaped = false;
        bool container = false;
        switch (c) {
          case '{':
          case '[': {
            kind = c == '{' ? Kind::kObject : Kind::kArray;
            if (!open(c == '{')) return false;
            ++p_;
            skip_whitespace();
            if (p_ == end_) return false;
            const unsigned char close = c == '{' ? '}' : ']';
            if (*p_ == close) {
              ++p_;
              --depth_;
            } else {
              container = true;
            }
            break;
          }
          case '"':
            kind = Kind::kString;
            if (!string(escaped)) return false;
            break;
          case 't':
            kind = Kind::kTrue;
            if (!literal("true", 4)) return false;
            break;
          case 'f':
            kind = Kind::kFalse;
            if (!literal("false", 5)) return false;
            break;
          case 'n':
            kind = Kind::kNull;
            if (!literal("null", 4)) return false;
            break;
          default:
            if (c != '-' && !is_digit(c)) return false;
            kind = Kind::kNumber;
            if (!number()) return false;
            break;
        }
        if (first_value) {
          top = kind;
          first_value = false;
        }
        if (member_value) {
          member.kind = kind;
          member.value_escaped = escaped;
        }
        if (container) {
          state = kind == Kind::kObject ? State::kKey : State::kValue;
        } else {
          state = State::kAfterValue;
        }
        break;
      }
      case State::kKey: {
        if (*p_ != '"') return false;
        const unsigned char* const key_start = p_ + 1;
        bool escaped = false;
        if (!string(escaped)) return false;
        if (depth_ == 1) {
          member.key = std::string_view(reinterpret_cast<const char*>(key_start),
                                        static_cast<std::size_t>(p_ - 1 - key_start));
          member.key_escaped = escaped;
        }
        skip_whitespace();
        if (p_ == end_ || *p_ != ':') return false;
        ++p_;
        skip_whitespace();
        if (p_ == end_) return false;
        state = State::kValue;
        break;
      }
      case State::kAfterValue: {
        // A value just ended at p_. If it was a member of the top-level object, hand it over.
        if (depth_ == 1 && sink_ != nullptr && in_object()) {
          member.value = std::string_view(reinterpret_cast<const char*>(value_start),
                                          static_cast<std::size_t>(p_ - value_start));
          sink_->member(member);
        }
        skip_whitespace();
        if (depth_ == 0) return p_ == end_;
        if (p_ == end_) return false;
        const bool object = in_object();
        const unsigned char c = *p_++;
        if (c == ',') {
          skip_whitespace();
          if (p_ == end_) return false;
          state = object ? State::kKey : State::kValue;
        } else if (c == (object ? '}' : ']')) {
          --depth_;
          // Closing a container ends the value that holds it: stay in kAfterValue.
        } else {
          return false;
        }
        break;
      }
    }
  }
}

}  // namespace

std::size_t plain_run(std::string_view text) {
  constexpr std::size_t kWord = sizeof(std::uint64_t);
  const char* const begin = text.data();
  const char* p = begin;
  const char* const end = begin + text.size();
  if constexpr (kLittleEndian) {
#if defined(__SSE2__)
    // Sixteen at a time: a signed compare below 0x20 takes the control bytes and the non-ASCII
    // ones (negative as signed) together.
    constexpr std::size_t kVector = sizeof(__m128i);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i first_plain = _mm_set1_epi8(static_cast<char>(kFirstNonControl));
    while (static_cast<std::size_t>(end - p) >= kVector) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)),
                                           _mm_cmplt_epi8(bytes, first_plain));
      if (const int mask = _mm_movemask_epi8(special); mask != 0) {
        return static_cast<std::size_t>(p - begin) + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
      }
      p += kVector;
    }
#endif
    // The first special byte of a word is its lowest marked one: no byte loop after the words.
    while (static_cast<std::size_t>(end - p) >= kWord) {
      std::uint64_t word = 0;
      std::memcpy(&word, p, kWord);
      if (const std::uint64_t special = special_bytes(word); special != 0) {
        return static_cast<std::size_t>(p - begin) + static_cast<std::size_t>(__builtin_ctzll(special)) / kBitsPerByte;
      }
      p += kWord;
    }
    if (p == end) return text.size();
    // The last few bytes padded with zeros, which count as special (control) bytes: the run
    // stops at the first real special byte or at the end.
    std::uint64_t word = 0;
    std::memcpy(&word, p, static_cast<std::size_t>(end - p));
    return static_cast<std::size_t>(p - begin) +
           static_cast<std::size_t>(__builtin_ctzll(special_bytes(word))) / kBitsPerByte;
  }
  while (static_cast<std::size_t>(end - p) >= kWord) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, kWord);
    if (special_bytes(word) != 0) break;
    p += kWord;
  }
  while (p != end && is_plain(static_cast<unsigned char>(*p))) ++p;
  return static_cast<std::size_t>(p - begin);
}

bool scan(std::string_view text, std::size_t max_depth, Kind& top, MemberSink* sink) {
  Scanner scanner(text, max_depth, sink);
  return scanner.run(top);
}

}  // namespace wstool::json_scan
