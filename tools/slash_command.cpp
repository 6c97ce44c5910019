// Slash command parsing for connect (see slash_command.h).
#include "tools/slash_command.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "lib/utf8.h"

namespace wstool::tools {

namespace {

constexpr std::uint8_t kMaxOpcode = 15;
constexpr std::uint8_t kMaxRsv = 7;

// The next space-separated word of `rest`, which is advanced past it.
std::string_view next_word(std::string_view& rest) {
  const std::size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const std::size_t end = rest.find(' ');
  const std::string_view word = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return word;
}

std::optional<unsigned> parse_number(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

std::optional<std::uint8_t> parse_opcode(std::string_view text) {
  static const std::vector<std::pair<std::string_view, std::uint8_t>> kNames = {
      {"continuation", 0x0}, {"cont", 0x0}, {"text", 0x1}, {"binary", 0x2},
      {"close", 0x8},        {"ping", 0x9}, {"pong", 0xA}};
  for (const auto& [name, code] : kNames) {
    if (text == name) return code;
  }
  if (const auto n = parse_number(text, kMaxOpcode)) return static_cast<std::uint8_t>(*n);
  if (text.size() == 3 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') && std::isxdigit(static_cast<unsigned char>(text[2]))) {
    return static_cast<std::uint8_t>(std::stoi(std::string(text.substr(2)), nullptr, 16));
  }
  return std::nullopt;
}

std::optional<std::string> parse_hex(std::string_view text) {
  std::string digits;
  for (const char c : text) {
    if (c == ' ' || c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    digits += c;
  }
  if (digits.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    out += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
  }
  return out;
}

}  // namespace

std::optional<SlashCommand> parse_slash_command(std::string_view line, std::string& error) {
  SlashCommand out;
  if (line.size() >= 2 && line[1] == '/') {  // "//x" is the message "/x"
    out.payload = std::string(line.substr(1));
    return out;
  }
  std::string_view rest = line.substr(1);
  const std::string_view name = next_word(rest);
  if (name == "ping" || name == "pong") {
    out.kind = name == "ping" ? SlashCommand::Kind::kPing : SlashCommand::Kind::kPong;
    out.payload = std::string(rest);
    if (out.payload.size() > 125) {
      error = "/" + std::string(name) + ": a control frame carries at most 125 bytes";
      return std::nullopt;
    }
  } else if (name == "close") {
    out.kind = SlashCommand::Kind::kClose;
    const std::string_view code = next_word(rest);
    if (!code.empty()) {
      const auto n = parse_number(code, 4999);
      if (!n) {
        error = "/close: '" + std::string(code) + "' is not a close code";
        return std::nullopt;
      }
      out.close_code = static_cast<std::uint16_t>(*n);
    }
    out.payload = std::string(rest);
  } else if (name == "binary") {
    const auto bytes = parse_hex(rest);
    if (!bytes) {
      error = "/binary: give the bytes in hex, e.g. /binary 00 ff 10";
      return std::nullopt;
    }
    out.opcode = 0x2;
    out.payload = *bytes;
  } else if (name == "file") {
    const std::string path(rest);
    std::ifstream file(path, std::ios::binary);
    if (path.empty() || !file) {
      error = "/file: cannot read '" + path + "'";
      return std::nullopt;
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    out.payload = contents.str();
    out.opcode = is_valid_utf8(out.payload.data(), out.payload.size()) ? 0x1 : 0x2;
  } else if (name == "frame") {
    out.kind = SlashCommand::Kind::kFrame;
    bool have_opcode = false;
    for (;;) {
      std::string_view before = rest;
      const std::string_view word = next_word(rest);
      if (word.rfind("fin=", 0) == 0) {
        const auto n = parse_number(word.substr(4), 1);
        if (!n) break;
        out.fin = *n == 1;
      } else if (word.rfind("rsv=", 0) == 0) {
        const auto n = parse_number(word.substr(4), kMaxRsv);
        if (!n) break;
        out.rsv = static_cast<std::uint8_t>(*n);
      } else if (word.rfind("op=", 0) == 0) {
        const auto op = parse_opcode(word.substr(3));
        if (!op) break;
        out.opcode = *op;
        have_opcode = true;
      } else {
        rest = before;
        break;
      }
    }
    if (!have_opcode) {
      error = "/frame: usage: /frame [fin=0|1] [rsv=0-7] op=OPCODE [payload] (OPCODE: text, binary, cont, close, ping, pong or 0-15)";
      return std::nullopt;
    }
    const std::size_t start = rest.find_first_not_of(' ');
    out.payload = start == std::string_view::npos ? std::string() : std::string(rest.substr(start));
  } else if (name == "pretty") {
    out.kind = SlashCommand::Kind::kPretty;
  } else if (name == "quit" || name == "exit") {
    out.kind = SlashCommand::Kind::kQuit;
  } else if (name == "help") {
    out.kind = SlashCommand::Kind::kHelp;
  } else {
    error = "unknown command /" + std::string(name) + " (/help lists them; //text sends /text)";
    return std::nullopt;
  }
  return out;
}

const char* slash_help() {
  return "/ping [data]          send a ping\n"
         "/pong [data]          send an unsolicited pong\n"
         "/close [code [reason]] close the connection (default 1000)\n"
         "/binary HEX           send a binary message, e.g. /binary 00 ff 10\n"
         "/file PATH            send a file as one message\n"
         "/frame [fin=0|1] [rsv=0-7] op=OPCODE [payload]\n"
         "                      send a hand-built frame, valid or not\n"
         "/pretty               toggle JSON pretty-printing\n"
         "/quit                 close and exit\n"
         "/help                 this list\n"
         "//text                send the message /text\n";
}

}  // namespace wstool::tools
