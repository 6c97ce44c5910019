// Payload comparison for replay: bytes, or JSON with ignored pointers and a path-level diff; the
// frame structure of matched messages (--compare-frames); the pairing of expected and received.
#include "lib/replay_compare.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "lib/json_limits.h"
#include "lib/utf8.h"

namespace wstool::replay {
namespace {

using Json = nlohmann::json;

constexpr std::uint8_t kText = 1;
constexpr std::uint8_t kBinary = 2;
constexpr std::uint8_t kPing = 9;
constexpr std::uint8_t kPong = 10;
constexpr std::uint8_t kRsv1 = 4;
// Binary previews show this many bytes in hex at most, whatever the text limit.
constexpr std::size_t kMaxHexPreviewBytes = 16;

std::optional<Json> parse_json(const std::string& text) {
  Json j;
  if (parse_untrusted_json(text, j)) return std::nullopt;
  return j;
}

std::string escape_token(const std::string& token) {
  std::string out;
  for (const char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Removes what `tokens[i..]` points to under `node`: object members are erased (so present on
// one side and absent on the other is also ignored), array elements become null (so the indices
// of the others stay aligned).
void remove_pointer(Json& node, const std::vector<std::string>& tokens, std::size_t i) {
  const std::string& token = tokens[i];
  const bool last = i + 1 == tokens.size();
  if (node.is_object()) {
    if (token == "*") {
      if (last) {
        node = Json::object();
        return;
      }
      for (auto& [key, child] : node.items()) remove_pointer(child, tokens, i + 1);
      return;
    }
    const auto it = node.find(token);
    if (it == node.end()) return;
    if (last) {
      node.erase(it);
    } else {
      remove_pointer(*it, tokens, i + 1);
    }
  } else if (node.is_array()) {
    if (token == "*") {
      for (auto& child : node) {
        if (last) {
          child = nullptr;
        } else {
          remove_pointer(child, tokens, i + 1);
        }
      }
      return;
    }
    if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos) return;
    const std::size_t index = std::stoul(token);
    if (index >= node.size()) return;
    if (last) {
      node[index] = nullptr;
    } else {
      remove_pointer(node[index], tokens, i + 1);
    }
  }
}

bool apply_ignores(Json& doc, const std::vector<std::vector<std::string>>& ignores) {
  for (const auto& tokens : ignores) {
    if (tokens.empty()) return true;  // "" ignores the whole document
    remove_pointer(doc, tokens, 0);
  }
  return false;
}

std::string compact(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void diff(const Json& expected, const Json& got, const std::string& path, std::size_t max_paths,
          Comparison& out) {
  if (expected == got) return;
  const auto add = [&](const std::string& p, std::string e, std::string g) {
    if (out.paths.size() < max_paths) {
      out.paths.push_back({p, std::move(e), std::move(g)});
    } else {
      ++out.more_paths;
    }
  };
  if (expected.is_object() && got.is_object()) {
    for (const auto& [key, value] : expected.items()) {
      const std::string child = path + "/" + escape_token(key);
      const auto it = got.find(key);
      if (it == got.end()) {
        add(child, compact(value), "(absent)");
      } else {
        diff(value, *it, child, max_paths, out);
      }
    }
    for (const auto& [key, value] : got.items()) {
      if (!expected.contains(key)) add(path + "/" + escape_token(key), "(absent)", compact(value));
    }
    return;
  }
  if (expected.is_array() && got.is_array()) {
    const std::size_t n = std::max(expected.size(), got.size());
    for (std::size_t i = 0; i < n; ++i) {
      const std::string child = fmt::format("{}/{}", path, i);
      if (i >= got.size()) {
        add(child, compact(expected[i]), "(absent)");
      } else if (i >= expected.size()) {
        add(child, "(absent)", compact(got[i]));
      } else {
        diff(expected[i], got[i], child, max_paths, out);
      }
    }
    return;
  }
  add(path, compact(expected), compact(got));
}

std::string_view kind_name(std::uint8_t opcode) {
  switch (opcode) {
    case kText: return "text";
    case kBinary: return "binary";
    case kPing: return "ping";
    case kPong: return "pong";
    default: return "frame";
  }
}

std::string frame_bits(const FrameShape& f) {
  return fmt::format("opcode {}{}", f.opcode, f.fin ? " FIN" : "");
}

}  // namespace

std::string describe_frames(const std::vector<FrameShape>& frames) {
  const std::size_t n = frames.size();
  const bool compressed = !frames.empty() && frames.front().compressed;
  const std::string count = fmt::format("{} {}frame{}", n, compressed ? "compressed " : "", n == 1 ? "" : "s");
  // A compressed message's per-frame sizes are where the inflater stopped, not the wire's.
  if (compressed || n == 0) return count;
  std::string sizes;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    total += frames[i].size;
    if (i < kMaxListedFrameSizes) {
      if (i > 0) sizes += '+';
      sizes += std::to_string(frames[i].size);
    }
  }
  if (n > kMaxListedFrameSizes) return fmt::format("{} ({}+… bytes, {} in all)", count, sizes, total);
  return fmt::format("{} ({} bytes)", count, sizes);
}

std::string_view frame_kind_name(FrameComparison::Kind kind) {
  switch (kind) {
    case FrameComparison::Kind::kNone: break;
    case FrameComparison::Kind::kFragmentation: return "fragmentation";
    case FrameComparison::Kind::kCompression: return "compression";
    case FrameComparison::Kind::kRsv: return "rsv";
  }
  return "";
}

FrameComparison compare_frames(const std::vector<FrameShape>& expected, const std::vector<FrameShape>& got,
                               const FrameRule& rule) {
  FrameComparison out;
  if (!rule.enabled || expected.empty() || got.empty()) return out;
  const bool expected_compressed = expected.front().compressed;
  const bool got_compressed = got.front().compressed;
  if (expected_compressed != got_compressed) {
    if (rule.compression) {
      out.kind = FrameComparison::Kind::kCompression;
      out.text = fmt::format("recorded {} (RSV1), got it {}", expected_compressed ? "compressed" : "uncompressed",
                             got_compressed ? "compressed" : "uncompressed");
    }
    // Otherwise the compressed side's frames carry other bytes than the other's: nothing to compare.
    out.compared = false;
    return out;
  }
  const auto fragmentation = [&](std::string text) {
    out.kind = FrameComparison::Kind::kFragmentation;
    out.text = std::move(text);
    return out;
  };
  const std::string shapes = fmt::format("recorded as {}, got {}", describe_frames(expected), describe_frames(got));
  if (expected.size() != got.size()) return fragmentation(shapes);
  const std::size_t n = expected.size();
  for (std::size_t i = 0; i < n; ++i) {
    const FrameShape& e = expected[i];
    const FrameShape& g = got[i];
    if (e.opcode != g.opcode || e.fin != g.fin) {
      return fragmentation(fmt::format("frame {} of {}: recorded {}, got {}", i + 1, n, frame_bits(e), frame_bits(g)));
    }
    if (!expected_compressed && e.size != g.size) return fragmentation(shapes);
  }
  const auto other_bits = [](const FrameShape& f) { return static_cast<std::uint8_t>(f.rsv & ~kRsv1); };
  for (std::size_t i = 0; i < n; ++i) {
    if (other_bits(expected[i]) != other_bits(got[i])) {
      out.kind = FrameComparison::Kind::kRsv;
      out.text = fmt::format("frame {} of {}: recorded rsv {}, got rsv {} (RSV1 aside)", i + 1, n,
                             other_bits(expected[i]), other_bits(got[i]));
      return out;
    }
  }
  return out;
}

bool PayloadComparer::parse_pointer(std::string_view text, std::vector<std::string>& tokens, std::string& error) {
  tokens.clear();
  if (text.empty()) return true;
  if (text.front() != '/') {
    error = fmt::format("'{}' is not a JSON pointer (it must start with '/', as in /data/id)", text);
    return false;
  }
  text.remove_prefix(1);
  while (true) {
    const std::size_t slash = text.find('/');
    const std::string_view raw = text.substr(0, slash);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token += raw[i];
        continue;
      }
      if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      error = fmt::format("'~' must be followed by 0 or 1 in a JSON pointer");
      return false;
    }
    tokens.push_back(std::move(token));
    if (slash == std::string_view::npos) break;
    text.remove_prefix(slash + 1);
  }
  return true;
}

PayloadComparer::PayloadComparer(CompareMode mode, std::vector<std::vector<std::string>> ignores)
    : mode_(mode), ignores_(std::move(ignores)) {}

bool PayloadComparer::equal(const Message& expected, const Message& got) const {
  if (expected.opcode != got.opcode) return false;
  if (expected.payload == got.payload && ignores_.empty()) return true;
  if (mode_ == CompareMode::kBytes || expected.opcode != kText) return expected.payload == got.payload;
  return compare(expected, got, 0).equal;
}

Comparison PayloadComparer::compare(const Message& expected, const Message& got, std::size_t max_paths) const {
  Comparison out;
  if (expected.opcode != got.opcode) {
    out.equal = false;
    return out;
  }
  if (mode_ == CompareMode::kJson && expected.opcode == kText) {
    auto e = parse_json(expected.payload);
    auto g = parse_json(got.payload);
    if (e && g) {
      out.as_json = true;
      if (apply_ignores(*e, ignores_) || apply_ignores(*g, ignores_)) return out;
      diff(*e, *g, "", max_paths, out);
      out.equal = out.paths.empty() && out.more_paths == 0;
      return out;
    }
  }
  out.equal = expected.payload == got.payload;
  return out;
}

ReplayMatcher::ReplayMatcher(const PayloadComparer& comparer, std::size_t window, std::chrono::milliseconds timeout,
                             std::size_t max_unmatched)
    : comparer_(comparer), window_(window == 0 ? 1 : window), timeout_(timeout),
      max_unmatched_(max_unmatched == 0 ? 1 : max_unmatched) {}

void ReplayMatcher::expect(ExpectedMessage expected, TimePoint now) {
  if (expected_.empty()) front_since_ = now;
  expected_.push_back(std::move(expected));
}

void ReplayMatcher::settle(const ExpectedMessage& e) {
  last_settled_.index = e.index;
  last_settled_.where = e.where;
  last_settled_.line = e.line;
  last_settled_.server_frame = e.server_frame;
}

void ReplayMatcher::receive(Message message, std::vector<Mismatch>& out) {
  received_.push_back(Received{std::move(message), last_settled_, ++received_count_});
  if (received_.size() > max_unmatched_) {
    Received& r = received_.front();
    out.push_back(Mismatch{Mismatch::Kind::kExtra, std::move(r.after), std::move(r.message), {}, r.number});
    received_.pop_front();
  }
}

std::size_t ReplayMatcher::match(bool more_may_come, TimePoint now, std::vector<Mismatch>& out) {
  std::size_t matched = 0;
  while (!received_.empty() && !expected_.empty()) {
    Message& got = received_.front().message;
    const std::size_t window = std::min(window_, expected_.size());
    std::size_t found = window;
    for (std::size_t j = 0; j < window; ++j) {
      if (comparer_.equal(expected_[j].message, got)) {
        found = j;
        break;
      }
    }
    if (found < window) {
      const auto it = expected_.begin() + static_cast<std::ptrdiff_t>(found);
      settle(*it);
      FrameComparison frames = compare_frames(it->message.frames, got.frames, frame_rule_);
      if (frames.equal()) {
        ++matched;
        if (!frames.compared) ++frames_not_compared_;
      } else {
        out.push_back(Mismatch{Mismatch::Kind::kFramed, std::move(*it), std::move(got), std::move(frames)});
      }
      expected_.erase(it);
      received_.pop_front();
      if (found == 0) front_since_ = now;
      continue;
    }
    // Its match may be an expectation not added yet: wait while the window has room.
    if (more_may_come && expected_.size() < window_) break;
    settle(expected_.front());
    out.push_back(Mismatch{Mismatch::Kind::kDifferent, std::move(expected_.front()), std::move(got), {}});
    expected_.pop_front();
    received_.pop_front();
    front_since_ = now;
  }
  return matched;
}

bool ReplayMatcher::expire(TimePoint now, std::vector<Mismatch>& out) {
  if (expected_.empty() || now < deadline()) return false;
  settle(expected_.front());
  out.push_back(Mismatch{Mismatch::Kind::kMissing, std::move(expected_.front()), {}, {}});
  expected_.pop_front();
  front_since_ = now;
  return true;
}

void ReplayMatcher::finish(bool quiet, std::vector<Mismatch>& out) {
  for (auto& e : expected_) {
    if (!quiet) out.push_back(Mismatch{Mismatch::Kind::kMissing, std::move(e), {}, {}});
  }
  expected_.clear();
  for (auto& r : received_) {
    out.push_back(Mismatch{Mismatch::Kind::kExtra, std::move(r.after), std::move(r.message), {}, r.number});
  }
  received_.clear();
}

std::string describe(const Message& message, std::size_t max_bytes) {
  const std::string_view kind = kind_name(message.opcode);
  const std::string& p = message.payload;
  if (message.opcode != kBinary && is_valid_utf8(p.data(), p.size())) {
    std::string shown = p;
    bool cut = false;
    if (shown.size() > max_bytes) {
      // Cut at a code point boundary so the line stays valid UTF-8.
      std::size_t n = max_bytes;
      while (n > 0 && (static_cast<unsigned char>(shown[n]) & 0xC0) == 0x80) --n;
      shown.resize(n);
      cut = true;
    }
    return fmt::format("{} {}{}", kind, compact(Json(shown)), cut ? fmt::format("… ({} bytes)", p.size()) : "");
  }
  std::string hex;
  const std::size_t n = std::min({p.size(), max_bytes, kMaxHexPreviewBytes});
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) hex += ' ';
    hex += fmt::format("{:02x}", static_cast<unsigned char>(p[i]));
  }
  return fmt::format("{} {}{} ({} bytes)", kind, hex, n < p.size() ? " …" : "", p.size());
}

namespace {

// A piece of a payload for describe_first_difference: JSON-escaped text cut at code point
// boundaries, or hex; "…" where it was cut.
std::string excerpt(const Message& m, std::size_t from, std::size_t bytes) {
  const std::string& p = m.payload;
  const bool text = m.opcode != kBinary && is_valid_utf8(p.data(), p.size());
  std::size_t start = std::min(from, p.size());
  std::size_t end = std::min(start + bytes, p.size());
  if (text) {
    while (start > 0 && (static_cast<unsigned char>(p[start]) & 0xC0) == 0x80) --start;
    while (end < p.size() && (static_cast<unsigned char>(p[end]) & 0xC0) == 0x80) --end;
  }
  std::string shown;
  if (text) {
    shown = compact(Json(p.substr(start, end - start)));
  } else {
    for (std::size_t i = start; i < end; ++i) {
      if (i > start) shown += ' ';
      shown += fmt::format("{:02x}", static_cast<unsigned char>(p[i]));
    }
  }
  return fmt::format("{}{}{}", start > 0 ? "…" : "", shown, end < p.size() ? "…" : "");
}

}  // namespace

std::string describe_first_difference(const Message& expected, const Message& got, std::size_t max_bytes) {
  // Bytes shown before the difference, and in all, of each side.
  constexpr std::size_t kBefore = 12;
  constexpr std::size_t kShown = 32;
  if (expected.opcode != got.opcode) return "";
  const std::string& a = expected.payload;
  const std::string& b = got.payload;
  const std::size_t common = std::min(a.size(), b.size());
  const std::size_t at = static_cast<std::size_t>(
      std::mismatch(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(common), b.begin()).first - a.begin());
  if (at == common && a.size() == b.size()) return "";
  const bool text = expected.opcode != kBinary && is_valid_utf8(a.data(), a.size()) && is_valid_utf8(b.data(), b.size());
  const std::size_t visible = text ? max_bytes : std::min(max_bytes, kMaxHexPreviewBytes);
  if (at < visible) return "";
  const std::size_t from = at > kBefore ? at - kBefore : 0;
  return fmt::format("first difference at byte {}: expected {}, got {}", at, excerpt(expected, from, kShown),
                     excerpt(got, from, kShown));
}

}  // namespace wstool::replay
