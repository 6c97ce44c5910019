// StderrLog: see stderr_log.h.
#include "tools/stderr_log.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace wstool::tools {

namespace {

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "info";
}

// RFC 3339 UTC with milliseconds.
std::string utc_now() {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", text, ms);
}

}  // namespace

void StderrLog::log(LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  std::string line;
  if (format_ == LogFormat::kJson) {
    const nlohmann::json record = {{"time", utc_now()}, {"level", level_name(level)}, {"message", message}};
    line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    line = fmt::format("{}: {}{}\n", program_,
                       level == LogLevel::kError ? "error: " : level == LogLevel::kWarning ? "warning: " : "", message);
  }
  // Unchecked, unlike fmt::print: a log is called from event-loop threads, and a stderr whose
  // reader went away (`2>&1 | head`) must not throw there (std::terminate) nor stop the work.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace wstool::tools
