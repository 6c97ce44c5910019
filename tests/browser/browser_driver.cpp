// The GoogleTest side of the browser tests: prerequisites, running drive_page.js, and the check
// that Chromium left no process behind (this process becomes a child subreaper, so whatever the
// browser leaves running is re-parented here, where it can be seen, killed and reaped).
#include "tests/browser/browser_driver.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/run_process.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kDriverScript = WSTOOL_BROWSER_DRIVER;
// After its own deadline the driver closes the browser; past this it is killed.
constexpr std::chrono::milliseconds kDriverGrace = 15s;
// How long browser processes may take to exit once the driver has.
constexpr std::chrono::milliseconds kLeftoverDeadline = 5s;
constexpr std::chrono::milliseconds kLeftoverPoll = 20ms;

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

bool is_executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string find_in_path(const std::vector<std::string>& names) {
  const std::string path = env_or("PATH", "/usr/local/bin:/usr/bin:/bin");
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const auto& name : names) {
      const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
      if (is_executable(candidate)) return candidate;
    }
  }
  return "";
}

std::string node_path() { return env_or("WSTOOL_NODE", find_in_path({"node", "nodejs"})); }
std::string chromium_path() { return env_or("WSTOOL_CHROMIUM", find_in_path({"chromium", "chromium-browser"})); }
std::string playwright_dir() { return browser_deps_dir() + "/node_modules/playwright-core"; }

// Live (state, parent) of every process whose parent is this one.
struct Child {
  int pid;
  char state;
};
std::vector<Child> own_children() {
  std::vector<Child> children;
  const int self = static_cast<int>(::getpid());
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = ::readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = '?';
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == self) children.push_back({pid, state});
  }
  ::closedir(proc);
  return children;
}

void become_subreaper() {
  static const bool done = [] { return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }();
  static_cast<void>(done);
}

// Reaps exited strays; returns those still running once `deadline` passes (then killed).
std::vector<int> collect_leftovers(const std::set<int>& known) {
  const auto deadline = Clock::now() + kLeftoverDeadline;
  std::vector<int> alive;
  while (true) {
    alive.clear();
    for (const Child& child : own_children()) {
      if (known.count(child.pid) != 0) continue;
      if (child.state == 'Z') {
        ::waitpid(child.pid, nullptr, WNOHANG);
      } else {
        alive.push_back(child.pid);
      }
    }
    if (alive.empty() || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(kLeftoverPoll);  // nothing to wait on: processes of others' making
  }
  for (const int pid : alive) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  return alive;
}

}  // namespace

std::string browser_deps_dir() { return env_or("WSTOOL_BROWSER_DEPS", WSTOOL_BROWSER_DEPS_DEFAULT); }

bool browser_required() { return env_or("WSTOOL_REQUIRE_BROWSER", "0") == "1"; }

std::optional<std::string> browser_unavailable() {
  const std::string hint = " (scripts/install-deps installs it)";
  if (node_path().empty()) return "node is not installed" + hint;
  if (chromium_path().empty()) return "chromium is not installed" + hint;
  if (::access((playwright_dir() + "/package.json").c_str(), R_OK) != 0) {
    return "playwright-core is not in " + browser_deps_dir() + "/node_modules" + hint +
           "; WSTOOL_BROWSER_DEPS names another directory";
  }
  return std::nullopt;
}

nlohmann::json BrowserRun::report(std::size_t index) const {
  if (!document.is_object() || !document.contains("pages")) return nullptr;
  const auto& pages = document.at("pages");
  if (index >= pages.size()) return nullptr;
  return pages.at(index).value("report", nlohmann::json());
}

std::vector<std::string> BrowserRun::page_errors() const {
  std::vector<std::string> errors;
  if (!document.is_object() || !document.contains("pages")) return errors;
  for (const auto& page : document.at("pages")) {
    for (const auto& message : page.value("console", nlohmann::json::array())) {
      if (message.value("type", "") == "error") errors.push_back("console: " + message.value("text", ""));
    }
    for (const auto& error : page.value("pageErrors", nlohmann::json::array())) {
      errors.push_back("page error: " + error.get<std::string>());
    }
  }
  return errors;
}

BrowserRun run_browser(const std::vector<BrowserPage>& pages, const std::string& done,
                       const std::string& report, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds done_timeout) {
  become_subreaper();
  std::set<int> known;
  for (const Child& child : own_children()) known.insert(child.pid);

  std::vector<std::string> argv = {node_path(), kDriverScript, "--chromium", chromium_path(),
                                   "--playwright", playwright_dir(), "--timeout-ms",
                                   std::to_string(timeout.count())};
  if (done_timeout.count() > 0) argv.insert(argv.end(), {"--done-timeout-ms", std::to_string(done_timeout.count())});
  for (const auto& page : pages) {
    argv.insert(argv.end(), {"--page", page.url, "--ready", page.ready});
  }
  argv.insert(argv.end(), {"--done", done, "--report", report});

  BrowserRun run;
  {
    Process driver(argv);
    const ProcessResult result = driver.wait(timeout + kDriverGrace);
    run.exit_code = result.timed_out ? -1 : result.exit_code;
    run.stderr_text = result.err;
    if (result.timed_out) run.stderr_text += "\n(the driver overstayed its deadline and was killed)";
    const std::vector<std::string> lines = lines_of(result.out);
    for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
      if (line->empty()) continue;
      run.document = nlohmann::json::parse(*line, nullptr, false);
      if (run.document.is_discarded()) run.document = nullptr;
      break;
    }
  }
  run.leftovers = collect_leftovers(known);
  return run;
}

std::string url_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9') ||
        byte == '-' || byte == '_' || byte == '.' || byte == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

}  // namespace wstool::test
