// Standard input for the interactive clients (connect, chat), read on a thread of its own: lines
// (or NUL-terminated records, or all of it) from a pipe, or edited lines at a terminal.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace wstool::tools {

class LineEditor;

enum class InputMode { kLines, kNul, kWhole };

class StdinReader {
 public:
  // `on_item` gets each line or record (a line's CR LF or LF stripped) and returns false to stop
  // reading; `on_end` runs once when input ended (EOF, Ctrl-D), not after stop(). With an
  // editor, lines come from it.
  StdinReader(InputMode mode, LineEditor* editor, std::function<bool(std::string)> on_item,
              std::function<void()> on_end);
  ~StdinReader();  // stop()
  StdinReader(const StdinReader&) = delete;
  StdinReader& operator=(const StdinReader&) = delete;

  // Interrupts the read and joins the thread. Call it from another thread than the callbacks'.
  void stop();

 private:
  void loop();

  InputMode mode_;
  LineEditor* editor_;
  std::function<bool(std::string)> on_item_;
  std::function<void()> on_end_;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace wstool::tools
