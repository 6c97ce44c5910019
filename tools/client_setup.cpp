// The shared way to a client connection: engine configuration, passphrase prompt, redirects
// and refusal display (see client_setup.h).
#include "tools/client_setup.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lib/ascii.h"
#include "lib/redact.h"
#include "tools/message_format.h"

namespace wstool::tools {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// A PEM key is a few KiB; reading more than this to look for the encryption marker is pointless.
constexpr std::size_t kMaxKeyFileBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxPassphraseBytes = 1024;

constexpr char kCtrlC = 3;

enum class PromptResult { kOk, kNoTerminal, kInterrupted };

// Reads a line from the terminal without echo. Ctrl-C is read as a key (ISIG off), so the
// terminal's echo is always restored before the process goes.
PromptResult prompt_without_echo(const std::string& prompt, std::string& out) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return PromptResult::kNoTerminal;
  termios saved{};
  const bool have_termios = ::tcgetattr(fd, &saved) == 0;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ISIG);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  [[maybe_unused]] ssize_t written = ::write(fd, prompt.data(), prompt.size());
  out.clear();
  char c = 0;
  PromptResult result = PromptResult::kNoTerminal;
  while (out.size() < kMaxPassphraseBytes) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) break;
    if (c == kCtrlC) {
      result = PromptResult::kInterrupted;
      break;
    }
    if (c == '\n' || c == '\r') {
      result = PromptResult::kOk;
      break;
    }
    out += c;
  }
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &saved);
  written = ::write(fd, "\n", 1);
  ::close(fd);
  return result;
}

// Whether the key file is an encrypted PEM key; false when unreadable (the engine then reports
// the file itself).
bool key_file_is_encrypted(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::string text(kMaxKeyFileBytes, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  return is_encrypted_pem_key(text);
}

}  // namespace

Error make_client_config(const ClientOptions& options, const std::string& url_text, const ws::WsUrl& url,
                         bool credentials, ws::ClientConfig& config) {
  config.url = url_text;
  config.headers.clear();
  for (ws::HttpHeader& header : extra_request_headers(options)) {
    if (!credentials && (ascii_iequals(header.name, "Authorization") || ascii_iequals(header.name, "Cookie"))) continue;
    config.headers.push_back(std::move(header));
  }
  config.subprotocols = options.subprotocols;
  config.proxy = effective_proxy(options, url, [](const char* name) { return std::getenv(name); });
  config.connect_timeout = duration_cast<milliseconds>(options.connect_timeout);
  config.deflate.enabled = options.compress;
  config.ca_file = options.ca_file;
  config.insecure = options.insecure;
  config.cert_file = options.cert_file;
  config.key_file = options.key_file;
  config.key_passphrase = options.key_passphrase;
  const std::string key = options.key_file.empty() ? options.cert_file : options.key_file;
  if (!options.cert_file.empty() && config.key_passphrase.empty() && key_file_is_encrypted(key)) {
    const PromptResult asked = ::isatty(STDIN_FILENO) == 1
                                   ? prompt_without_echo("Enter the passphrase for " + key + ": ", config.key_passphrase)
                                   : PromptResult::kNoTerminal;
    if (asked == PromptResult::kInterrupted) return Error(Errc::kInterrupted, "interrupted at the passphrase prompt");
    if (asked != PromptResult::kOk) {
      return Error(Errc::kUsage, key + ": the key is encrypted: give its passphrase with --key-passphrase");
    }
  }
  return {};
}

std::string describe_refusal(const ws::UpgradeResponse& response) {
  if (response.status == 0) return "";
  std::string out = terminal_safe((response.version.empty() ? "HTTP/1.1" : response.version) + " " +
                                  std::to_string(response.status) + " " + response.reason) + "\n";
  for (const ws::HttpHeader& header : redact_headers(response.headers)) {
    out += terminal_safe(header.name + ": " + header.value) + "\n";
  }
  if (!response.body.empty()) {
    out += "\n";
    std::string body = response.body;
    // Line breaks stay line breaks; a CR before them is the server's line ending, not content.
    std::string cleaned;
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') continue;
      cleaned += body[i];
    }
    out += terminal_safe(cleaned);
    if (out.back() != '\n') out += "\n";
  }
  return out;
}

bool is_redirect_status(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

RedirectFollower::RedirectFollower(const ws::WsUrl& start, bool follow, std::uint64_t max_redirects)
    : start_(start), current_(start), follow_(follow), max_redirects_(max_redirects) {
  seen_.insert(ws::to_string(start));
}

std::string RedirectFollower::current_text() const { return ws::to_string(current_); }

RedirectFollower::Verdict RedirectFollower::on_refusal(const ws::UpgradeResponse& response, std::string& message) {
  if (!is_redirect_status(response.status)) return Verdict::kNotRedirect;
  const std::string status = std::to_string(response.status) + " " + terminal_safe(response.reason);
  const std::string location = ws::header_value(response.headers, "Location");
  if (location.empty()) {
    message = "server answered " + status + " without a Location";
    return Verdict::kStop;
  }
  ws::WsUrl next;
  std::string error;
  if (!ws::resolve_location(current_, location, next, error)) {
    message = "server answered " + status + ": cannot follow Location '" + terminal_safe(location) + "': " + error;
    return Verdict::kStop;
  }
  const std::string target = ws::to_string(next);
  if (!follow_) {
    message = "server answered " + status + ", redirecting to " + redact_url(target) + " (use -L to follow)";
    return Verdict::kStop;
  }
  if (followed_ >= max_redirects_) {
    message = "server answered " + status + " to " + redact_url(target) + ": more than --max-redirects " +
              std::to_string(max_redirects_) + " redirects";
    return Verdict::kStop;
  }
  if (!seen_.insert(target).second) {
    message = "server answered " + status + ": redirect loop back to " + redact_url(target);
    return Verdict::kStop;
  }
  ++followed_;
  current_ = next;
  return Verdict::kFollow;
}

}  // namespace wstool::tools
