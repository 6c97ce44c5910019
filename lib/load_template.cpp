// Message templates and embedded-id search for `wstool load`.
#include "lib/load_template.h"

#include <array>

namespace wstool {

namespace {

constexpr char kRandomAlphabet[] = "ghijklmnopqrstuvwxyz";

constexpr std::uint8_t kNotADigit = 0xFF;
constexpr std::size_t kByteValues = 256;
using DigitTable = std::array<std::uint8_t, kByteValues>;

// Each character's value as a digit in `base` (lowercase letters past 9), kNotADigit otherwise:
// one load per character while a reply is searched for its id.
constexpr DigitTable digit_values(unsigned base) {
  DigitTable values{};
  for (auto& v : values) v = kNotADigit;
  for (unsigned d = 0; d < base; ++d) {
    const unsigned c = d < 10 ? '0' + d : 'a' + (d - 10);
    values[c] = static_cast<std::uint8_t>(d);
  }
  return values;
}
constexpr unsigned kHexBase = 16;
constexpr unsigned kDecimalBase = 10;
constexpr DigitTable kHexValues = digit_values(kHexBase);
constexpr DigitTable kDecimalValues = digit_values(kDecimalBase);

// The first run of exactly `length` digits (bounded by non-digits) as a number.
bool find_run(std::string_view text, std::size_t length, const DigitTable& values, unsigned base,
              std::uint64_t& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    if (values[p[i]] == kNotADigit) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    std::uint64_t value = 0;
    for (; i < n && values[p[i]] != kNotADigit; ++i) value = value * base + values[p[i]];
    if (i - start == length) {
      out = value;
      return true;
    }
  }
  return false;
}

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr unsigned kBitsPerHexDigit = 4;
constexpr std::size_t kHexDigitMask = 0xF;
constexpr std::size_t kMaxDecimalDigits = 20;  // 2^64 - 1
constexpr unsigned kBitsPerByte = 8;
constexpr std::uint64_t kByteMask = 0xFF;

// Each byte's two hex digits.
constexpr std::array<char, 2 * kByteValues> make_hex_pairs() {
  std::array<char, 2 * kByteValues> pairs{};
  for (std::size_t b = 0; b < kByteValues; ++b) {
    pairs[2 * b] = kHexDigits[b >> kBitsPerHexDigit];
    pairs[2 * b + 1] = kHexDigits[b & kHexDigitMask];
  }
  return pairs;
}
constexpr std::array<char, 2 * kByteValues> kHexPairs = make_hex_pairs();

// The id as kCorrelationIdDigits lowercase hex digits, most significant first (as {:016x}).
void write_hex(char* to, std::uint64_t value) {
  for (std::size_t i = kCorrelationIdDigits / 2; i-- > 0;) {
    const auto byte = static_cast<std::size_t>(value & kByteMask);
    to[2 * i] = kHexPairs[2 * byte];
    to[2 * i + 1] = kHexPairs[2 * byte + 1];
    value >>= kBitsPerByte;
  }
}

void append_decimal(std::string& out, std::uint64_t value) {
  char digits[kMaxDecimalDigits];
  std::size_t at = sizeof digits;
  do {
    digits[--at] = static_cast<char>('0' + value % kDecimalBase);
    value /= kDecimalBase;
  } while (value != 0);
  out.append(digits + at, sizeof digits - at);
}

}  // namespace

void append_random_text(std::string& out, std::size_t count, LoadRng& rng) {
  constexpr std::size_t kLetters = sizeof kRandomAlphabet - 1;
  for (std::size_t i = 0; i < count; ++i) out += kRandomAlphabet[rng() % kLetters];
}

bool LoadTemplate::parse(std::string_view text, std::string& error) {
  pieces_.clear();
  id_offsets_.clear();
  has_id_ = has_time_ = false;
  auto add_text = [this](std::string_view literal) {
    if (literal.empty()) return;
    Piece piece;
    piece.text.assign(literal);
    pieces_.push_back(std::move(piece));
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      add_text(text.substr(pos));
      break;
    }
    add_text(text.substr(pos, open - pos));
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      error = "unterminated '{{' in the message template";
      return false;
    }
    const std::string name(text.substr(open + 2, close - open - 2));
    Piece piece;
    if (name == "id") {
      piece.kind = Kind::kId;
      has_id_ = true;
    } else if (name == "conn") {
      piece.kind = Kind::kConn;
    } else if (name == "seq") {
      piece.kind = Kind::kSeq;
    } else if (name == "time_ns") {
      piece.kind = Kind::kTimeNs;
      has_time_ = true;
    } else if (name.rfind("rand ", 0) == 0) {
      piece.kind = Kind::kRand;
      const std::string count = name.substr(5);
      constexpr std::size_t kMaxDigits = 9;
      if (count.empty() || count.size() > kMaxDigits || count.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(count) > kMaxRandomTemplateChars) {
        error = "'{{" + name + "}}': expected {{rand N}} with N a number of characters up to 16Mi";
        return false;
      }
      piece.count = static_cast<std::size_t>(std::stoul(count));
    } else {
      error = "unknown template field '{{" + name + "}}' (known: id, conn, seq, time_ns, rand N)";
      return false;
    }
    pieces_.push_back(std::move(piece));
    pos = close + 2;
  }
  // Where the ids go when nothing else varies: set_id rewrites them in a rendered message.
  std::size_t offset = 0;
  for (const Piece& piece : pieces_) {
    if (piece.kind == Kind::kText) {
      offset += piece.text.size();
    } else if (piece.kind == Kind::kId) {
      id_offsets_.push_back(offset);
      offset += kCorrelationIdDigits;
    } else {
      id_offsets_.clear();
      break;
    }
  }
  return true;
}

void LoadTemplate::render(std::string& out, const Fields& fields, LoadRng& rng) const {
  out.clear();
  for (const Piece& piece : pieces_) {
    switch (piece.kind) {
      case Kind::kText: out += piece.text; break;
      case Kind::kId: {
        char digits[kCorrelationIdDigits];
        write_hex(digits, fields.id);
        out.append(digits, sizeof digits);
        break;
      }
      case Kind::kConn: append_decimal(out, fields.conn); break;
      case Kind::kSeq: append_decimal(out, fields.seq); break;
      case Kind::kTimeNs: append_decimal(out, fields.time_ns); break;
      case Kind::kRand: append_random_text(out, piece.count, rng); break;
    }
  }
}

void LoadTemplate::set_id(std::string& out, std::uint64_t id) const {
  for (const std::size_t at : id_offsets_) write_hex(&out[at], id);
}

bool find_correlation_id(std::string_view text, std::uint64_t& id) {
  // Where load's own messages put it: at the start, then the first run is that one. Checked and
  // read in one pass (an echo's every reply goes through here).
  if (text.size() >= kCorrelationIdDigits &&
      (text.size() == kCorrelationIdDigits ||
       kHexValues[static_cast<unsigned char>(text[kCorrelationIdDigits])] == kNotADigit)) {
    std::uint64_t value = 0;
    unsigned bad = 0;
    for (std::size_t i = 0; i < kCorrelationIdDigits; ++i) {
      const unsigned digit = kHexValues[static_cast<unsigned char>(text[i])];
      bad |= digit;
      value = (value << kBitsPerHexDigit) | (digit & kHexDigitMask);
    }
    if (bad <= kHexDigitMask) {  // every digit below 16: none was kNotADigit
      id = value;
      return true;
    }
  }
  return find_run(text, kCorrelationIdDigits, kHexValues, kHexBase, id);
}

bool find_timestamp_ns(std::string_view text, std::uint64_t& ns) {
  return find_run(text, kTimestampDigits, kDecimalValues, kDecimalBase, ns);
}

}  // namespace wstool
