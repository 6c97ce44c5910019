// Runs tests/browser/drive_page.js (headless system Chromium through npm playwright-core) from a
// GoogleTest: finds node, chromium and playwright-core, runs the driver with a deadline, parses
// its JSON, and checks that no browser process outlived it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wstool::test {

// Where scripts/install-deps puts playwright-core (WSTOOL_BROWSER_DEPS overrides it): the
// directory holding node_modules/playwright-core.
std::string browser_deps_dir();

// Why the browser tests cannot run here (node, chromium or playwright-core missing), or nullopt
// when they can. Tests GTEST_SKIP with this reason, unless WSTOOL_REQUIRE_BROWSER=1 (set by
// scripts/test, so CI never skips them silently), in which case they fail.
std::optional<std::string> browser_unavailable();
bool browser_required();

struct BrowserPage {
  std::string url;
  std::string ready = "true";  // JS expression; must hold before the next page opens
};

struct BrowserRun {
  int exit_code = -1;           // the driver's: 0 all held, 1 a condition did not, 2 broken
  nlohmann::json document;      // its JSON output (null when it printed none)
  std::string stderr_text;      // its diagnostics
  std::vector<int> leftovers;   // browser processes still alive after the driver ended
  bool ok() const { return exit_code == 0 && document.is_object() && document.value("ok", false); }
  // The report of page `index` (0-based) or null.
  nlohmann::json report(std::size_t index) const;
  // Console messages of type "error" and uncaught page errors, all pages: a CSP violation or a
  // script error shows up here.
  std::vector<std::string> page_errors() const;
};

// Runs the driver: `pages` in order, then `done` on every page, then `report` on every page.
// Bounded by `timeout` (the driver's own deadline) plus a grace period after which the driver is
// killed. `done_timeout` (0: none of its own) bounds the wait for `done` once every page is ready.
BrowserRun run_browser(const std::vector<BrowserPage>& pages, const std::string& done,
                       const std::string& report, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds done_timeout = std::chrono::milliseconds(0));

// Percent-encodes `text` for a URL query value.
std::string url_encode(const std::string& text);

}  // namespace wstool::test
