// libedit through its readline interface, in callback mode so the event loop can print meanwhile.
#include "tools/line_editor.h"

#include <editline/readline.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace wstool::tools {

namespace {

constexpr int kHistoryLines = 1000;

// libedit's callback takes no context; one editor exists at a time.
std::vector<std::string>* g_lines = nullptr;
bool g_eof = false;

constexpr int kCtrlD = 4;

// libedit's callback mode does not report Ctrl-D on an empty line as end of input: this reader
// does, turning it into an Enter whose empty line on_line drops.
int read_key(FILE* /*stream*/) {
  unsigned char c = 0;
  const ssize_t n = ::read(STDIN_FILENO, &c, 1);
  if (n <= 0 || (c == kCtrlD && rl_end == 0)) {
    g_eof = true;
    return '\n';
  }
  return c;
}

void on_line(char* line) {
  if (line == nullptr || g_eof) {
    g_eof = true;
    std::free(line);
    return;
  }
  if (*line != '\0') add_history(line);
  if (g_lines != nullptr) g_lines->emplace_back(line);
  std::free(line);
}

void make_dirs(const std::string& path) {
  for (std::size_t at = path.find('/', 1); at != std::string::npos; at = path.find('/', at + 1)) {
    ::mkdir(path.substr(0, at).c_str(), 0700);
  }
  ::mkdir(path.c_str(), 0700);
}

}  // namespace

LineEditor::LineEditor(std::string prompt, std::string history_file)
    : prompt_(std::move(prompt)), history_file_(std::move(history_file)) {
  rl_readline_name = "wstool";
  rl_getc_function = read_key;
  rl_catch_signals = 0;  // SIGINT stays with ShutdownSignals
  stifle_history(kHistoryLines);
  if (!history_file_.empty()) read_history(history_file_.c_str());
  rl_callback_handler_install(prompt_.c_str(), on_line);
}

LineEditor::~LineEditor() {
  std::lock_guard<std::mutex> lock(mutex_);
  rl_callback_handler_remove();
  if (!history_file_.empty()) write_history(history_file_.c_str());
  std::fputs("\n", stdout);
  std::fflush(stdout);
}

std::vector<std::string> LineEditor::on_readable(bool& eof) {
  std::vector<std::string> lines;
  std::lock_guard<std::mutex> lock(mutex_);
  g_lines = &lines;
  g_eof = false;
  rl_callback_read_char();
  if (!lines.empty() && !g_eof) {
    // libedit leaves the terminal in cooked mode after handing over a line (the next line would be
    // echoed by the terminal, unknown to libedit, and lost at the next redraw): installing the
    // handler again restores raw mode, empties the buffer and draws the prompt.
    rl_callback_handler_install(prompt_.c_str(), on_line);
  }
  // Until the next key, libedit's rl_end and rl_point still describe the line just accepted.
  fresh_line_ = !lines.empty();
  g_lines = nullptr;
  eof = g_eof;
  return lines;
}

void LineEditor::print_above(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Clear the prompt line, print, then let libedit draw the prompt and the typed text again.
  std::fputs("\r\x1b[K", stdout);
  std::fwrite(text.data(), 1, text.size(), stdout);
  // Draw the prompt and the typed line exactly as libedit had them, cursor included, so its own
  // bookkeeping of the screen stays right. (Its forced redisplay loses the typed text once a line
  // was accepted in callback mode.) Until the next key, the buffer still holds the line just
  // accepted: then only the prompt.
  std::string line = prompt_;
  std::size_t back = 0;
  if (!fresh_line_ && rl_line_buffer != nullptr && rl_end > 0) {
    const auto end = static_cast<std::size_t>(rl_end);
    const auto point = std::min(static_cast<std::size_t>(rl_point < 0 ? 0 : rl_point), end);
    line.append(rl_line_buffer, end);
    // Columns from the cursor to the end: one per character (UTF-8 continuation bytes take none).
    for (std::size_t i = point; i < end; ++i) {
      if ((static_cast<unsigned char>(rl_line_buffer[i]) & 0xC0) != 0x80) ++back;
    }
  }
  if (back > 0) line += "\x1b[" + std::to_string(back) + "D";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void LineEditor::set_prompt(std::string prompt) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_ = std::move(prompt);
  rl_set_prompt(prompt_.c_str());
  std::fputs("\r\x1b[K", stdout);
  std::fflush(stdout);
  rl_forced_update_display();
}

std::string LineEditor::history_path(const std::string& name) {
  std::string dir;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
    dir = std::string(state) + "/wstool";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    dir = std::string(home) + "/.local/state/wstool";
  } else {
    return {};
  }
  make_dirs(dir);
  return dir + "/" + name;
}

}  // namespace wstool::tools
