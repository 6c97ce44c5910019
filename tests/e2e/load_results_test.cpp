// The results document `wstool load -o` really writes, and what `--merge` makes of two, checked
// against its published JSON Schema (man/schemas/load-results-v1.json) and read back strictly by
// lib/load_report, so the schema, the man page's promises and the writer cannot drift apart.
#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/json_limits.h"
#include "lib/load_report.h"
#include "tests/support/json_schema.h"
#include "tests/support/raw_socket.h"
#include "tests/support/run_process.h"

namespace wstool::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = WSTOOL_BINARY;
const std::string kSchema = std::string(WSTOOL_SOURCE_DIR) + "/man/schemas/load-results-v1.json";
constexpr auto kRunTimeout = 30s;

ProcessResult run_load(std::vector<std::string> args) {
  std::vector<std::string> argv = {kBinary, "load", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = kRunTimeout;
  return run_process(argv, options);
}

LoadReport read_report(const std::string& path) {
  nlohmann::json document;
  const auto parse_error = parse_untrusted_json(read_file(path), document);
  EXPECT_FALSE(parse_error) << path << ": " << (parse_error ? parse_error->message : "");
  LoadReport report;
  std::string error;
  EXPECT_TRUE(from_json(document, report, error)) << path << ": " << error;
  return report;
}

TEST(LoadResults, WrittenAndMergedDocumentsMatchTheSchema) {
  const std::string python = python_with_jsonschema();
  if (python.empty() && !jsonschema_required()) {
    GTEST_SKIP() << "python3-jsonschema is not installed (scripts/install-deps installs it)";
  }
  ASSERT_FALSE(python.empty()) << "python3-jsonschema is missing and WSTOOL_REQUIRE_JSONSCHEMA=1";

  Process echo({kBinary, "echo", "--listen", "127.0.0.1:0"});
  const auto ready = echo.read_line(5s);
  ASSERT_TRUE(ready) << "wstool echo printed no readiness line";
  const std::string url = "ws://127.0.0.1:" + std::to_string(port_from_readiness_line(*ready)) + "/";

  TempDir dir;
  const std::string a = dir.path() + "/a.json";
  const std::string b = dir.path() + "/b.json";
  const std::string merged = dir.path() + "/merged.json";
  // A closed-loop run and an open-loop one (the corrected and service histograms then differ).
  const auto run_a = run_load({url, "--connections", "3", "--messages", "300", "-o", a});
  ASSERT_TRUE(run_a.exited_with(0)) << run_a.err;
  const auto run_b = run_load({url, "--connections", "2", "--rate", "400/s", "--duration", "1s", "-o", b});
  ASSERT_TRUE(run_b.exited_with(0)) << run_b.err;
  const auto merge = run_load({"--merge", a, b, "-o", merged});
  ASSERT_TRUE(merge.exited_with(0)) << merge.err;

  const auto valid = validate_against_schema(python, kSchema, {a, b, merged});
  EXPECT_TRUE(valid.exited_with(0)) << valid.out << valid.err;

  const LoadReport report_a = read_report(a);
  const LoadReport report_b = read_report(b);
  const LoadReport report_merged = read_report(merged);
  EXPECT_EQ(report_a.counts.messages_answered, 300u);
  EXPECT_EQ(report_a.latency.count(), 300u);
  EXPECT_EQ(report_a.connect.count(), 3u);
  EXPECT_EQ(report_merged.generators, 2u);
  EXPECT_EQ(report_merged.latency.count(), report_a.latency.count() + report_b.latency.count());
  EXPECT_EQ(report_merged.counts.messages_sent,
            report_a.counts.messages_sent + report_b.counts.messages_sent);
  // Merged exactly: the same as merging the two histograms here.
  LatencyHistogram both = report_a.latency;
  both.merge(report_b.latency);
  EXPECT_EQ(report_merged.latency.value_at_percentile(99), both.value_at_percentile(99));
  EXPECT_EQ(report_merged.latency.max(), both.max());

  echo.signal(SIGTERM);
  EXPECT_TRUE(echo.wait(5s).exited_with(0));
}

}  // namespace
}  // namespace wstool::test
