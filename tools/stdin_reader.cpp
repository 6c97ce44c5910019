// Standard input on a thread of its own, interruptible through a pipe (see stdin_reader.h).
#include "tools/stdin_reader.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "tools/line_editor.h"

namespace wstool::tools {

namespace {
constexpr std::size_t kStdinChunk = 64 * 1024;
}  // namespace

StdinReader::StdinReader(InputMode mode, LineEditor* editor, std::function<bool(std::string)> on_item,
                         std::function<void()> on_end)
    : mode_(mode), editor_(editor), on_item_(std::move(on_item)), on_end_(std::move(on_end)) {
  if (pipe(stop_pipe_) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
  thread_ = std::thread([this] { loop(); });
}

StdinReader::~StdinReader() { stop(); }

void StdinReader::stop() {
  if (!thread_.joinable()) return;
  stopped_ = true;
  if (stop_pipe_[1] >= 0) {
    const char byte = 0;
    [[maybe_unused]] const ssize_t n = ::write(stop_pipe_[1], &byte, 1);
  }
  thread_.join();
  for (int fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void StdinReader::loop() {
  std::string buffer;
  std::vector<char> chunk(kStdinChunk);
  const char delimiter = mode_ == InputMode::kNul ? '\0' : '\n';
  auto emit = [this](std::string item) {
    if (!on_item_(std::move(item))) stopped_ = true;
  };
  while (!stopped_) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) return;  // stopped: the session is over
    if (editor_ != nullptr) {
      // Readable with nothing to read: the terminal's end of input (Ctrl-D on an empty line).
      int available = 0;
      if (::ioctl(STDIN_FILENO, FIONREAD, &available) == 0 && available == 0) break;
      bool eof = false;
      for (std::string& line : editor_->on_readable(eof)) emit(std::move(line));
      if (eof) break;
      continue;
    }
    const ssize_t n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    buffer.append(chunk.data(), static_cast<std::size_t>(n));
    if (mode_ == InputMode::kWhole) continue;
    std::size_t start = 0;
    for (std::size_t end = buffer.find(delimiter); end != std::string::npos && !stopped_;
         end = buffer.find(delimiter, start)) {
      std::size_t stop = end;
      if (mode_ == InputMode::kLines && stop > start && buffer[stop - 1] == '\r') --stop;
      emit(buffer.substr(start, stop - start));
      start = end + 1;
    }
    buffer.erase(0, start);
  }
  if (stopped_) return;
  if (!buffer.empty()) {
    if (mode_ == InputMode::kLines && buffer.back() == '\r') buffer.pop_back();
    emit(std::move(buffer));
  }
  on_end_();
}

}  // namespace wstool::tools
