// A terminal for end-to-end tests: a tmux server of its own running one command in a pane, keys
// sent to it and the screen read back, to assert on what a person would see.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace wstool::test {

class Tmux {
 public:
  // Starts `command` (a shell command line) in a detached 100x20 pane.
  explicit Tmux(const std::string& command);
  ~Tmux();  // kills its tmux server
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  // Whether tmux is installed (tests skip without it).
  static bool available();
  bool ok() const { return ok_; }
  // tmux send-keys arguments: {"-l", "literal text"}, {"Enter"}, {"C-d"}.
  void keys(const std::vector<std::string>& keys);
  // What the pane shows now.
  std::string capture();
  // Polls the pane until `text` shows (bounded).
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // The pane's lines without trailing blank ones.
  std::vector<std::string> screen_lines();

 private:
  std::string socket_;
  bool ok_ = false;
};

}  // namespace wstool::test
