// SIGINT/SIGTERM for long-running subcommands: the first signal asks for a graceful stop (a
// callback on a dedicated thread), a second one ends the process at once.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace wstool::tools {

class ShutdownSignals {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread — construct it before starting any other
  // thread, so that every thread inherits the mask — and waits for them on a thread of its own.
  explicit ShutdownSignals(std::function<void(int signo)> on_first_signal);
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // The first signal received, or 0.
  int received() const { return received_.load(); }

 private:
  std::function<void(int)> on_first_signal_;
  std::atomic<int> received_{0};
  std::thread waiter_;
};

}  // namespace wstool::tools
