// Line editing for connect and chat at a terminal (libedit): a prompt with editing and persistent history,
// and output printed above the line being typed without mangling it. libedit stays in the .cpp.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace wstool::tools {

class LineEditor {
 public:
  // Installs the prompt on the terminal and loads the history file (if any).
  LineEditor(std::string prompt, std::string history_file);
  ~LineEditor();  // restores the terminal and saves the history
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // stdin is readable: lets libedit take what is there. Returns the lines completed (Enter) and
  // sets `eof` on Ctrl-D.
  std::vector<std::string> on_readable(bool& eof);

  // Thread-safe: prints `text` (whole lines) above the prompt and redraws the typed line.
  void print_above(const std::string& text);

  // Thread-safe: a new prompt (chat shows the active room in it), drawn at once.
  void set_prompt(std::string prompt);

  // The history file: $XDG_STATE_HOME/wstool/NAME, else ~/.local/state/wstool/NAME ("" when
  // neither is known); its directory is created.
  static std::string history_path(const std::string& name);

 private:
  std::mutex mutex_;
  std::string prompt_;
  std::string history_file_;
  bool fresh_line_ = true;  // nothing typed since the prompt appeared
};

}  // namespace wstool::tools
