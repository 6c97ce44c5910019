// connect's slash commands (/ping, /close, /frame, ...): one typed line to one action. Parsing
// only; the session carries them out on the connection's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wstool::tools {

struct SlashCommand {
  enum class Kind { kSend, kPing, kPong, kClose, kFrame, kPretty, kQuit, kHelp };
  Kind kind = Kind::kSend;
  std::uint8_t opcode = 0x1;     // kSend, kFrame
  std::string payload;           // kSend, kPing, kPong, kFrame; the reason for kClose
  std::uint16_t close_code = 1000;  // kClose; 1005 sends an empty close frame
  bool fin = true;               // kFrame
  std::uint8_t rsv = 0;          // kFrame: the RSV bits as a number 0-7 (RSV1 = 4)
};

// Parses a line that starts with '/'. "//text" sends "/text". nullopt with `error` for an unknown
// command or bad arguments. /file reads its file here (`error` names it when it cannot).
std::optional<SlashCommand> parse_slash_command(std::string_view line, std::string& error);

// The /help text, one command a line.
const char* slash_help();

}  // namespace wstool::tools
