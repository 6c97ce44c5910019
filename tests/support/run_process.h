// Runs a program as a child process for end-to-end tests: pipes for stdin/stdout/stderr,
// deadlines on every wait, and a child that is killed (with its process group) if it overstays.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wstool::test {

using Clock = std::chrono::steady_clock;

// How a finished (or killed) child ended, with everything it wrote.
struct ProcessResult {
  int exit_code = -1;      // the exit status when the child exited, else -1
  int term_signal = 0;     // the signal that ended it, else 0
  bool timed_out = false;  // the deadline passed and the child was killed
  std::string out;         // all of its stdout
  std::string err;         // all of its stderr

  bool exited_with(int code) const { return term_signal == 0 && !timed_out && exit_code == code; }
};

struct ProcessOptions {
  // Extra environment: NAME=VALUE replaces NAME, a bare NAME removes it. The rest is inherited.
  std::vector<std::string> env;
  // run_process only: written to the child's stdin, which is then closed. (A Process leaves
  // stdin open for write_stdin.)
  std::string stdin_data;
  // run_process only: how long it waits before killing the child.
  std::chrono::milliseconds timeout{10000};
};

// A running child. Its stdout is read line by line (a server's readiness line), its stderr is
// collected in the background of every wait so the child never blocks on a full pipe.
class Process {
 public:
  // Starts argv[0] (a path; no PATH search) with arguments argv[1...]. Throws std::runtime_error
  // when the process cannot be started (the path does not exist or is not executable).
  explicit Process(const std::vector<std::string>& argv, const ProcessOptions& options = {});
  ~Process();  // kills the child's process group if it is still running, and reaps it
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of stdout without its newline, or nothing if stdout closed or the deadline
  // passed first.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  // Writes to the child's stdin; false if it is closed or would not take the data in time.
  bool write_stdin(const std::string& data, std::chrono::milliseconds timeout);
  void close_stdin();

  // Sends a signal to the child (e.g. SIGTERM for a graceful shutdown).
  void signal(int signo);

  // Waits for the child to end, reading its output; kills it (SIGKILL) when the deadline passes.
  // The result's `out` holds stdout not yet consumed by read_line.
  ProcessResult wait(std::chrono::milliseconds timeout);

 private:
  // Reads whatever stdout/stderr have, waiting at most until `deadline`; false once both closed.
  bool pump(Clock::time_point deadline);
  void kill_group();

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string out_;
  std::string err_;
  bool reaped_ = false;
};

// Runs a program to completion (see ProcessOptions) and returns how it ended.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// A fresh temporary directory, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The lines of `text`, without their newlines (a last line without one included).
std::vector<std::string> lines_of(const std::string& text);

// The whole contents of a file; throws std::runtime_error when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace wstool::test
