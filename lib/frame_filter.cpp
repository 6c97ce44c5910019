// The `record --filter` language: a hand-written tokenizer and parser (the grammar is a flat
// conjunction, so no parser generator), positions reported 1-based as people count columns.
#include "lib/frame_filter.h"

#include <charconv>

#include "lib/ascii.h"

namespace wstool {
namespace {

constexpr std::uint16_t kDataOpcodes = (1u << 0) | (1u << 1) | (1u << 2);
constexpr std::uint16_t kControlOpcodes = (1u << 8) | (1u << 9) | (1u << 10);
constexpr unsigned kOpcodeCount = 16;

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string at(std::size_t pos) { return "at " + std::to_string(pos + 1) + ": "; }

// Splits "a|b|c".
std::vector<std::string_view> alternatives(std::string_view value) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t bar = value.find('|', start);
    out.push_back(value.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start));
    if (bar == std::string_view::npos) return out;
    start = bar + 1;
  }
}

bool opcode_bits(std::string_view name, std::uint16_t& bits) {
  static constexpr struct {
    std::string_view name;
    std::uint16_t bits;
  } kNames[] = {{"cont", 1u << 0},  {"continuation", 1u << 0}, {"text", 1u << 1},
                {"binary", 1u << 2}, {"close", 1u << 8},        {"ping", 1u << 9},
                {"pong", 1u << 10},  {"data", kDataOpcodes},    {"control", kControlOpcodes}};
  for (const auto& entry : kNames) {
    if (name == entry.name) {
      bits |= entry.bits;
      return true;
    }
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec != std::errc() || end != name.data() + name.size() || name.empty() || number >= kOpcodeCount) {
    return false;
  }
  bits = static_cast<std::uint16_t>(bits | (1u << number));
  return true;
}

}  // namespace

std::optional<FrameFilter> FrameFilter::parse(std::string_view text, std::string& error) {
  FrameFilter filter;
  std::size_t pos = 0;
  bool negate_next = false;
  std::size_t negate_at = 0;
  for (;;) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    if (pos >= text.size()) break;
    const std::size_t start = pos;
    Term term;
    if (text[pos] == '/') {
      // /REGEX/ with \/ for a literal slash; other escapes go to PCRE2 as written.
      std::string pattern;
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos++];
        if (c == '\\' && pos < text.size() && text[pos] == '/') {
          pattern += '/';
          ++pos;
        } else if (c == '\\' && pos < text.size()) {
          pattern += c;
          pattern += text[pos++];
        } else if (c == '/') {
          closed = true;
          break;
        } else {
          pattern += c;
        }
      }
      if (!closed) {
        error = at(start) + "regular expression without its closing '/'";
        return std::nullopt;
      }
      UserRegexOptions options;
      if (pos < text.size() && text[pos] == 'i') {
        options.caseless = true;
        ++pos;
      }
      if (pos < text.size() && !is_space(text[pos])) {
        error = at(pos) + "expected a space after the regular expression";
        return std::nullopt;
      }
      std::string regex_error;
      term.kind = Term::Kind::kRegex;
      term.regex = UserRegex::compile(pattern, regex_error, options);
      if (!term.regex) {
        error = at(start) + "bad regular expression: " + regex_error;
        return std::nullopt;
      }
    } else {
      std::size_t end = pos;
      while (end < text.size() && !is_space(text[end])) ++end;
      const std::string_view word = text.substr(pos, end - pos);
      pos = end;
      if (word == "and") {
        if (filter.terms_.empty() && !negate_next) {
          error = at(start) + "'and' with nothing before it";
          return std::nullopt;
        }
        continue;
      }
      if (word == "not") {
        negate_next = !negate_next;
        negate_at = start;
        continue;
      }
      const std::size_t eq = word.find('=');
      if (eq == std::string_view::npos) {
        error = at(start) + "expected FIELD=VALUE or /REGEX/, got '" + std::string(word) + "'";
        return std::nullopt;
      }
      const std::string_view field = word.substr(0, eq);
      const std::string_view value = word.substr(eq + 1);
      const std::size_t value_at = start + eq + 1;
      if (value.empty()) {
        error = at(value_at) + "'" + std::string(field) + "' needs a value";
        return std::nullopt;
      }
      if (field == "conn") {
        term.kind = Term::Kind::kConn;
        for (std::string_view alt : alternatives(value)) {
          std::uint64_t id = 0;
          const auto [p, ec] = std::from_chars(alt.data(), alt.data() + alt.size(), id);
          if (alt.empty() || ec != std::errc() || p != alt.data() + alt.size()) {
            error = at(value_at) + "connection ids are numbers: '" + std::string(value) + "'";
            return std::nullopt;
          }
          term.conns.push_back(id);
        }
      } else if (field == "dir") {
        term.kind = Term::Kind::kDir;
        if (value == "client") {
          term.from_client = true;
        } else if (value == "server") {
          term.from_client = false;
        } else {
          error = at(value_at) + "dir is client or server, not '" + std::string(value) + "'";
          return std::nullopt;
        }
      } else if (field == "opcode") {
        term.kind = Term::Kind::kOpcode;
        for (std::string_view alt : alternatives(value)) {
          if (!opcode_bits(alt, term.opcodes)) {
            error = at(value_at) + "unknown opcode '" + std::string(alt) +
                    "' (text binary cont close ping pong data control, or 0-15)";
            return std::nullopt;
          }
        }
      } else {
        error = at(start) + "unknown field '" + std::string(field) + "' (conn, dir, opcode)";
        return std::nullopt;
      }
    }
    term.negated = negate_next;
    negate_next = false;
    filter.terms_.push_back(std::move(term));
  }
  if (negate_next) {
    error = at(negate_at) + "'not' with nothing after it";
    return std::nullopt;
  }
  return filter;
}

bool FrameFilter::matches(const FilterSubject& subject) const {
  for (const Term& term : terms_) {
    bool hit = false;
    switch (term.kind) {
      case Term::Kind::kConn:
        for (std::uint64_t id : term.conns) hit = hit || id == subject.conn;
        break;
      case Term::Kind::kDir:
        hit = term.from_client == subject.from_client;
        break;
      case Term::Kind::kOpcode:
        hit = subject.opcode < kOpcodeCount && (term.opcodes & (1u << subject.opcode)) != 0;
        break;
      case Term::Kind::kRegex:
        hit = term.regex->matches(subject.payload);
        break;
    }
    if (hit == term.negated) return false;
  }
  return true;
}

bool FrameFilter::may_match_connection(std::uint64_t conn) const {
  for (const Term& term : terms_) {
    if (term.kind != Term::Kind::kConn) continue;
    bool hit = false;
    for (std::uint64_t id : term.conns) hit = hit || id == conn;
    if (hit == term.negated) return false;
  }
  return true;
}

}  // namespace wstool
