// Message templates and embedded-id search for `wstool load`.
#include "lib/load_template.h"

#include <fmt/format.h>

#include <iterator>

namespace wstool {

namespace {

constexpr char kRandomAlphabet[] = "ghijklmnopqrstuvwxyz";

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The first run of exactly `length` characters of a class, read as a number in `base`.
template <class Pred>
bool find_run(std::string_view text, std::size_t length, Pred pred, unsigned base, std::uint64_t& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!pred(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && pred(text[j])) ++j;
    if (j - i == length) {
      std::uint64_t value = 0;
      for (std::size_t k = i; k < j; ++k) {
        const char c = text[k];
        const unsigned digit = c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>(c - 'a' + 10);
        value = value * base + digit;
      }
      out = value;
      return true;
    }
    i = j;
  }
  return false;
}

}  // namespace

void append_random_text(std::string& out, std::size_t count, LoadRng& rng) {
  constexpr std::size_t kLetters = sizeof kRandomAlphabet - 1;
  for (std::size_t i = 0; i < count; ++i) out += kRandomAlphabet[rng() % kLetters];
}

bool LoadTemplate::parse(std::string_view text, std::string& error) {
  pieces_.clear();
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
  return true;
}

void LoadTemplate::render(std::string& out, const Fields& fields, LoadRng& rng) const {
  out.clear();
  auto to = std::back_inserter(out);
  for (const Piece& piece : pieces_) {
    switch (piece.kind) {
      case Kind::kText: out += piece.text; break;
      case Kind::kId: fmt::format_to(to, "{:016x}", fields.id); break;
      case Kind::kConn: fmt::format_to(to, "{}", fields.conn); break;
      case Kind::kSeq: fmt::format_to(to, "{}", fields.seq); break;
      case Kind::kTimeNs: fmt::format_to(to, "{}", fields.time_ns); break;
      case Kind::kRand: append_random_text(out, piece.count, rng); break;
    }
  }
}

bool find_correlation_id(std::string_view text, std::uint64_t& id) {
  return find_run(text, kCorrelationIdDigits, is_hex, 16, id);
}

bool find_timestamp_ns(std::string_view text, std::uint64_t& ns) {
  return find_run(text, kTimestampDigits, is_digit, 10, ns);
}

}  // namespace wstool
