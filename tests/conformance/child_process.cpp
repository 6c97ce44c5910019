// Spawning and reaping the binary under test, with deadlines and no sleeping-to-wait.
#include "tests/conformance/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace conformance {
namespace {

constexpr std::chrono::milliseconds kReapPollInterval{2};
constexpr std::size_t kReadChunkBytes = 4096;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited) return "exit code " + std::to_string(code);
  return std::string("killed by signal ") + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int err_pipe[2];  // carries errno from a failed exec; closed by a successful one
  if (pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ == 0) {
    // A test binary that dies (timeout, crash) must not leave the server running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], STDOUT_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    execvp(args[0], args.data());
    int e = errno;
    ssize_t ignored = write(err_pipe[1], &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  close(fds[1]);
  close(err_pipe[1]);
  int exec_errno = 0;
  ssize_t got = pid_ > 0 ? read(err_pipe[0], &exec_errno, sizeof exec_errno) : -1;
  close(err_pipe[0]);
  if (pid_ < 0 || got > 0) {
    close(fds[0]);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    status_ = ExitStatus{};
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(pid_ < 0 ? errno : exec_errno));
  }
  stdout_fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::optional<std::string> ChildProcess::read_line(Clock::time_point deadline) {
  for (;;) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    int n = poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char buf[kReadChunkBytes];
    ssize_t got = read(stdout_fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    buffered_.append(buf, static_cast<std::size_t>(got));
  }
}

void ChildProcess::send_signal(int sig) {
  if (!status_ && pid_ > 0) ::kill(pid_, sig);
}

std::optional<ExitStatus> ChildProcess::wait(Clock::time_point deadline) {
  if (status_) return status_;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      ExitStatus s;
      s.exited = WIFEXITED(st);
      s.code = s.exited ? WEXITSTATUS(st) : -1;
      s.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
      status_ = s;
      return status_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    // waitpid has no timeout; a short poll on the reaping is bounded by the deadline.
    std::this_thread::sleep_for(kReapPollInterval);
  }
}

}  // namespace conformance
