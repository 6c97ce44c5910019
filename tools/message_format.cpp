// Message display helpers for connect: hex dumps, base64, pretty JSON, terminal-safe text.
#include "tools/message_format.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "lib/json_limits.h"

namespace wstool::tools {

namespace {

constexpr std::size_t kHexDumpWidth = 16;
constexpr const char* kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// ANSI colours for JSON: keys blue, strings green, numbers cyan, literals magenta.
constexpr const char* kKeyColor = "\x1b[34m";
constexpr const char* kStringColor = "\x1b[32m";
constexpr const char* kNumberColor = "\x1b[36m";
constexpr const char* kLiteralColor = "\x1b[35m";
constexpr const char* kReset = "\x1b[0m";

std::string paint(const std::string& text, const char* color, bool enabled) {
  return enabled ? color + text + kReset : text;
}

void pretty(const nlohmann::json& value, int indent, bool color, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
  const auto dump = [](const nlohmann::json& v) {
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (value.is_object()) {
    if (value.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    std::size_t i = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++i) {
      out += inner + paint(dump(nlohmann::json(it.key())), kKeyColor, color) + ": ";
      pretty(it.value(), indent + 1, color, out);
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (value.is_array()) {
    if (value.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < value.size(); ++i) {
      out += inner;
      pretty(value[i], indent + 1, color, out);
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else if (value.is_string()) {
    out += paint(dump(value), kStringColor, color);
  } else if (value.is_number()) {
    out += paint(dump(value), kNumberColor, color);
  } else {
    out += paint(dump(value), kLiteralColor, color);
  }
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto at = [&bytes](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out += kBase64Alphabet[(n >> shift) & 0x3F];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    const std::uint32_t n = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += kBase64Alphabet[(n >> 18) & 0x3F];
    out += kBase64Alphabet[(n >> 12) & 0x3F];
    out += rest == 2 ? kBase64Alphabet[(n >> 6) & 0x3F] : '=';
    out += '=';
  }
  return out;
}

std::string hex_dump(std::string_view bytes) {
  std::string out;
  for (std::size_t line = 0; line < bytes.size(); line += kHexDumpWidth) {
    out += fmt::format("{:08x} ", line);
    std::string ascii;
    for (std::size_t k = 0; k < kHexDumpWidth; ++k) {
      if (k == kHexDumpWidth / 2) out += ' ';
      if (line + k < bytes.size()) {
        const auto c = static_cast<unsigned char>(bytes[line + k]);
        out += fmt::format(" {:02x}", c);
        ascii += c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '.';
      } else {
        out += "   ";
      }
    }
    out += "  |" + ascii + "|\n";
  }
  return out;
}

std::string pretty_json(std::string_view text, bool color) {
  nlohmann::json value;
  if (parse_untrusted_json(text, value) || !value.is_structured()) return {};
  std::string out;
  pretty(value, 0, color, out);
  return out;
}

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

std::string truncate_for_display(std::string_view text, std::size_t max_bytes) {
  if (max_bytes == 0 || text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  // Back off continuation bytes (10xxxxxx) so a character is never split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}… ({} bytes)", text.substr(0, cut), text.size());
}

std::string iso_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buffer, millis);
}

std::string clock_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%H:%M:%S", &tm);
  return fmt::format("{}.{:03}", buffer, millis);
}

}  // namespace wstool::tools
