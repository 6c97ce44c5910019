// tmux driven through its command line, one server per Tmux (-L), so tests never meet a user's
// tmux or each other (see tmux.h).
#include "tests/support/tmux.h"

#include <unistd.h>

#include <thread>

#include "tests/support/run_process.h"

namespace wstool::test {

namespace {

constexpr const char* kTmux = "/usr/bin/tmux";
constexpr std::chrono::milliseconds kCommandTimeout{5000};
constexpr std::chrono::milliseconds kPoll{20};

int next_id() {
  static int id = 0;
  return id++;
}

ProcessResult run_tmux(const std::string& socket, std::vector<std::string> args) {
  args.insert(args.begin(), {kTmux, "-L", socket});
  return run_process(args, {{}, {}, kCommandTimeout});
}

}  // namespace

Tmux::Tmux(const std::string& command)
    : socket_("wstool-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_id())) {
  ok_ = run_tmux(socket_, {"new-session", "-d", "-x", "100", "-y", "20", command}).exited_with(0);
}

Tmux::~Tmux() { run_tmux(socket_, {"kill-server"}); }

bool Tmux::available() { return ::access(kTmux, X_OK) == 0; }

void Tmux::keys(const std::vector<std::string>& keys) {
  std::vector<std::string> args = {"send-keys", "-t", "0"};
  args.insert(args.end(), keys.begin(), keys.end());
  run_tmux(socket_, args);
}

std::string Tmux::capture() { return run_tmux(socket_, {"capture-pane", "-p", "-t", "0"}).out; }

bool Tmux::wait_for(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (capture().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(kPoll);  // a screen has no event to wait on
  }
  return false;
}

std::vector<std::string> Tmux::screen_lines() {
  std::vector<std::string> lines = lines_of(capture());
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

}  // namespace wstool::test
