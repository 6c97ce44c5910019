// fork/exec with pipes and deadlines for end-to-end tests; see run_process.h.
#include "tests/support/run_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace wstool::test {

namespace {

using std::chrono::milliseconds;

// How often wait() looks at a child whose output pipes are already closed.
constexpr milliseconds kReapInterval{5};
// After the child exits, how long to keep reading output that a grandchild may still hold open.
constexpr milliseconds kDrainAfterExit{1000};
constexpr std::size_t kReadChunk = 65536;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int poll_timeout_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<decltype(left)>(left, 0));
}

// Reads everything available from a non-blocking fd; closes it at end of file or on error.
void read_available(int& fd, std::string& into) {
  char buffer[kReadChunk];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      into.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_fd(fd);
    return;
  }
}

// The child's environment: ours, with options.env applied (NAME=VALUE sets, NAME removes).
std::vector<std::string> child_environment(const std::vector<std::string>& changes) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  for (const std::string& change : changes) {
    const std::string name = change.substr(0, change.find('='));
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const std::string& e) { return e.compare(0, name.size() + 1, name + "=") == 0; }),
              env.end());
    if (change.find('=') != std::string::npos) env.push_back(change);
  }
  return env;
}

std::vector<char*> as_c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) throw std::invalid_argument("Process: empty argv");
  // Writing to a child that has exited must fail with EPIPE, not kill the test.
  ::signal(SIGPIPE, SIG_IGN);

  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls.
  std::vector<std::string> args = argv;
  std::vector<std::string> env = child_environment(options.env);
  std::vector<char*> c_args = as_c_strings(args);
  std::vector<char*> c_env = as_c_strings(env);

  int in[2], out[2], err[2], exec_status[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(exec_status, O_CLOEXEC) != 0) {
    fail("pipe2");
  }
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    // Its own process group, so a timeout kills whatever it started too.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signo : {SIGPIPE, SIGINT, SIGTERM}) ::signal(signo, SIG_DFL);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execve(c_args[0], c_args.data(), c_env.data());
    const int exec_errno = errno;
    ssize_t ignored = ::write(exec_status[1], &exec_errno, sizeof exec_errno);
    static_cast<void>(ignored);
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::close(exec_status[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_}) set_nonblocking(fd);

  // The status pipe closes on a successful exec and carries errno on a failed one.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_status[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(exec_status[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    errno = exec_errno;
    fail("cannot execute " + argv[0]);
  }
}

Process::~Process() {
  if (!reaped_) {
    kill_group();
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
}

void Process::kill_group() {
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
}

void Process::signal(int signo) {
  if (!reaped_) ::kill(pid_, signo);
}

bool Process::pump(Clock::time_point deadline) {
  pollfd fds[2];
  nfds_t count = 0;
  for (int fd : {stdout_fd_, stderr_fd_}) {
    if (fd >= 0) fds[count++] = pollfd{fd, POLLIN, 0};
  }
  if (count == 0) return false;
  const int ready = ::poll(fds, count, poll_timeout_ms(deadline));
  if (ready < 0 && errno != EINTR) fail("poll");
  if (ready > 0) {
    if (stdout_fd_ >= 0) read_available(stdout_fd_, out_);
    if (stderr_fd_ >= 0) read_available(stderr_fd_, err_);
  }
  return stdout_fd_ >= 0 || stderr_fd_ >= 0;
}

std::optional<std::string> Process::read_line(milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const std::size_t newline = out_.find('\n');
    if (newline != std::string::npos) {
      std::string line = out_.substr(0, newline);
      out_.erase(0, newline + 1);
      return line;
    }
    if (stdout_fd_ < 0 || Clock::now() >= deadline) return std::nullopt;
    pump(deadline);
  }
}

bool Process::write_stdin(const std::string& data, milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::size_t written = 0;
  while (written < data.size()) {
    if (stdin_fd_ < 0 || Clock::now() >= deadline) return false;
    // Keep reading the child's output meanwhile: a child blocked on a full stdout pipe would
    // never read its stdin.
    pollfd fds[3] = {{stdin_fd_, POLLOUT, 0}, {stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, 3, poll_timeout_ms(deadline));
    if (ready < 0 && errno != EINTR) fail("poll");
    if (ready <= 0) continue;
    if (stdout_fd_ >= 0 && fds[1].revents != 0) read_available(stdout_fd_, out_);
    if (stderr_fd_ >= 0 && fds[2].revents != 0) read_available(stderr_fd_, err_);
    if ((fds[0].revents & (POLLERR | POLLHUP)) != 0) return false;
    if ((fds[0].revents & POLLOUT) == 0) continue;
    const ssize_t n = ::write(stdin_fd_, data.data() + written, data.size() - written);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    }
  }
  return true;
}

void Process::close_stdin() { close_fd(stdin_fd_); }

ProcessResult Process::wait(milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  ProcessResult result;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (done < 0 && errno != EINTR) fail("waitpid");
    if (Clock::now() >= deadline) {
      kill_group();
      ::waitpid(pid_, &status, 0);
      result.timed_out = true;
      break;
    }
    if (stdout_fd_ >= 0 || stderr_fd_ >= 0) {
      pump(std::min(deadline, Clock::now() + kReapInterval));
    } else {
      std::this_thread::sleep_for(kReapInterval);
    }
  }
  reaped_ = true;
  const Clock::time_point drain_deadline = Clock::now() + kDrainAfterExit;
  while (Clock::now() < drain_deadline && pump(drain_deadline)) {
  }
  close_stdin();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  result.out = std::move(out_);
  result.err = std::move(err_);
  out_.clear();
  err_.clear();
  return result;
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  const Clock::time_point deadline = Clock::now() + options.timeout;
  Process process(argv, options);
  if (!options.stdin_data.empty()) {
    process.write_stdin(options.stdin_data, options.timeout);
  }
  process.close_stdin();
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  return process.wait(std::max(left, milliseconds{0}));
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/wstool-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) fail("mkdtemp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace wstool::test
