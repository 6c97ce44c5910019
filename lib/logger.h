// How lib/ reports what it does: through a logger the tool provides (lib/ never prints).
#pragma once

#include <string_view>

namespace wstool {

enum class LogLevel : unsigned char { kError, kWarning, kInfo, kDebug };

class Logger {
 public:
  virtual ~Logger() = default;
  virtual bool enabled(LogLevel level) const = 0;
  virtual void log(LogLevel level, std::string_view message) = 0;
};

// Discards everything; for callers that want no reports.
class NullLogger final : public Logger {
 public:
  bool enabled(LogLevel /*level*/) const override { return false; }
  void log(LogLevel /*level*/, std::string_view /*message*/) override {}
};

}  // namespace wstool
