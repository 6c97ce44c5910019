// The Logger every subcommand gives lib/: lines on stderr prefixed with the program's name
// ("wsecho: warning: ..."), or JSON Lines for servers run under a log collector.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "lib/logger.h"

namespace wstool::tools {

enum class LogFormat { kText, kJson };

// Thread-safe: stderr is shared by every event-loop thread, and one lock keeps lines whole.
class StderrLog final : public Logger {
 public:
  StderrLog(std::string program, LogLevel level, LogFormat format = LogFormat::kText)
      : program_(std::move(program)), level_(level), format_(format) {}
  bool enabled(LogLevel level) const override { return level <= level_; }
  // Text: "PROGRAM: [error: |warning: ]MESSAGE". JSON: {"time", "level", "message"}, with the
  // time in RFC 3339 UTC with milliseconds; invalid UTF-8 in the message is replaced.
  void log(LogLevel level, std::string_view message) override;

 private:
  std::string program_;
  LogLevel level_;
  LogFormat format_;
  std::mutex mutex_;
};

}  // namespace wstool::tools
