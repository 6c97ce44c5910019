// A child process for the conformance suite: spawn with a piped stdout, read lines with a
// deadline, signal, and reap with a deadline. Small on purpose; tests/support may absorb it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace conformance {

using Clock = std::chrono::steady_clock;

// How a reaped child ended.
struct ExitStatus {
  bool exited = false;   // normal exit (as opposed to a signal)
  int code = -1;         // exit code when `exited`
  int signal = 0;        // terminating signal otherwise
  std::string describe() const;
};

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH) with argv; stdout is a pipe, stdin is /dev/null, stderr
  // is inherited so a failing child explains itself in the test log. Throws on failure.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();  // kills (SIGKILL) and reaps a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next stdout line (without '\n'), or nullopt on EOF or when the deadline passes.
  std::optional<std::string> read_line(Clock::time_point deadline);

  void send_signal(int sig);
  // Reaps the child; nullopt when it is still running at the deadline.
  std::optional<ExitStatus> wait(Clock::time_point deadline);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
  std::optional<ExitStatus> status_;
};

}  // namespace conformance
