// lib/load_report: the results document (round trip, strict reading, its JSON Schema), merging
// runs, the summary table, the HTML page and the CI thresholds.
#include "lib/load_report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "tests/support/json_schema.h"
#include "tests/support/run_process.h"

namespace wstool {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMicro = 1'000;
constexpr std::uint64_t kMilli = 1'000'000;

// A run as the runner would fill it: `values` are the corrected latencies; service is a bit
// lower; one connect and one first-message latency per connection.
LoadReport make_report(const std::vector<std::uint64_t>& values, std::uint64_t connections,
                       double elapsed_s, std::uint64_t first_connection = 0) {
  LoadReport report;
  report.config = {{"url", "ws://127.0.0.1:9000/"}, {"mode", "echo"}, {"connections", connections}};
  report.tool_version = "0.1.0";
  report.started_at = "2026-11-26T04:00:00Z";
  report.elapsed_s = elapsed_s;
  report.counts.connections_attempted = connections;
  report.counts.connections_opened = connections;
  report.counts.messages_sent = values.size() + 2;
  report.counts.messages_received = values.size();
  report.counts.messages_answered = values.size();
  report.counts.messages_unanswered = 2;
  report.counts.bytes_sent = 32 * (values.size() + 2);
  report.counts.bytes_received = 32 * values.size();
  for (std::uint64_t v : values) {
    report.latency.record(v);
    report.service.record(v - v / 10);
  }
  for (std::uint64_t c = first_connection; c < first_connection + connections; ++c) {
    report.connect.record(200 * kMicro + c * kMicro);
    report.first_message.record(300 * kMicro + c * kMicro);
  }
  report.errors["unanswered"] = 2;
  const auto seconds = static_cast<std::size_t>(elapsed_s);
  for (std::size_t s = 0; s < seconds; ++s) {
    LoadSecond second;
    second.elapsed_s = static_cast<double>(s + 1);
    second.connections_open = connections;
    second.sent = values.size() / seconds;
    second.received = values.size() / seconds;
    second.p50_ns = 1 * kMilli + s;
    second.p99_ns = 5 * kMilli + s;
    second.max_ns = 9 * kMilli + s;
    report.series.push_back(second);
  }
  return report;
}

std::vector<std::uint64_t> random_latencies(std::size_t n, unsigned seed) {
  std::mt19937_64 random(seed);
  std::lognormal_distribution<double> distribution(std::log(3e6), 0.8);
  std::vector<std::uint64_t> values;
  for (std::size_t i = 0; i < n; ++i)
    values.push_back(static_cast<std::uint64_t>(distribution(random)) + kMicro);
  return values;
}

LoadReport sample_report() { return make_report(random_latencies(5000, 1), 10, 5.0); }

// from_json's error for `document`, or "" when it reads.
std::string read_error(const json& document) {
  LoadReport report;
  std::string error;
  if (from_json(document, report, error)) return "";
  return error;
}

// --- the results document ---------------------------------------------------------------------

TEST(LoadReportJson, RoundTripsEveryField) {
  const LoadReport original = sample_report();
  const json document = to_json(original);
  EXPECT_EQ(document.at("format"), "wstool-load-results");
  EXPECT_EQ(document.at("version"), kLoadResultsVersion);
  LoadReport back;
  std::string error;
  ASSERT_TRUE(from_json(document, back, error)) << error;
  EXPECT_EQ(to_json(back), document);
  EXPECT_EQ(back.latency.count(), 5000u);
  EXPECT_EQ(back.latency.value_at_percentile(99.9), original.latency.value_at_percentile(99.9));
  EXPECT_DOUBLE_EQ(back.latency.mean(), original.latency.mean());
  EXPECT_EQ(back.config.at("url"), "ws://127.0.0.1:9000/");
}

TEST(LoadReportJson, ReportsPercentilesRatesAndTheLayout) {
  const LoadReport report = sample_report();
  const json document = to_json(report);
  const json& latency = document.at("latency");
  EXPECT_EQ(latency.at("percentiles_ns").at("p99"), report.latency.value_at_percentile(99));
  EXPECT_EQ(latency.at("percentiles_ns").at("p99_9"), report.latency.value_at_percentile(99.9));
  EXPECT_EQ(latency.at("percentiles_ns").at("max"), report.latency.max());
  EXPECT_EQ(document.at("histogram_layout").at("counters"), LatencyHistogram::bucket_count());
  EXPECT_DOUBLE_EQ(document.at("rates").at("throughput_per_s").get<double>(), 5000 / 5.0);
  // 2 unanswered of 5002 messages and 10 connections.
  EXPECT_DOUBLE_EQ(document.at("rates").at("error_rate").get<double>(), 2.0 / 5012.0);
}

TEST(LoadReportJson, AnEmptyRunRoundTrips) {
  LoadReport empty;
  const json document = to_json(empty);
  EXPECT_EQ(document.at("latency").at("buckets").size(), 0u);
  LoadReport back;
  std::string error;
  ASSERT_TRUE(from_json(document, back, error)) << error;
  EXPECT_EQ(to_json(back), document);
}

TEST(LoadReportJson, ErrorsNameTheField) {
  const json good = to_json(sample_report());
  {
    json bad = good;
    bad["latency"]["buckets"][3]["count"] = "7";
    EXPECT_EQ(read_error(bad), "latency.buckets[3].count: expected an unsigned integer");
  }
  {
    json bad = good;
    bad["counts"]["messages_sent"] = -1;
    EXPECT_EQ(read_error(bad), "counts.messages_sent: expected an unsigned integer");
  }
  {
    json bad = good;
    bad["counts"].erase("bytes_sent");
    EXPECT_EQ(read_error(bad), "counts.bytes_sent: missing");
  }
  {
    json bad = good;
    bad["counts"]["bytes_snet"] = 1;
    EXPECT_EQ(read_error(bad), "counts.bytes_snet: unknown field");
  }
  {
    json bad = good;
    bad["series"][1]["elapsed_s"] = "2";
    EXPECT_EQ(read_error(bad), "series[1].elapsed_s: expected a number");
  }
  {
    json bad = good;
    bad["interrupted"] = 0;
    EXPECT_EQ(read_error(bad), "interrupted: expected true or false");
  }
  {
    json bad = good;
    bad["errors"]["Close 1011"] = 1;
    EXPECT_EQ(read_error(bad), "errors.Close 1011: error classes are lowercase letters, digits and '_'");
  }
  {
    json bad = good;
    bad["generators"] = 0;
    EXPECT_EQ(read_error(bad), "generators: expected 1 or more");
  }
  EXPECT_EQ(read_error(json::array()), "(document): expected a JSON object");
}

TEST(LoadReportJson, RefusesOtherVersionsAndFormats) {
  json document = to_json(sample_report());
  document["version"] = 2;
  EXPECT_EQ(read_error(document), "version: 2 is not a version this wstool reads (1)");
  document.erase("version");
  EXPECT_EQ(read_error(document), "version: missing");
  document = to_json(sample_report());
  document["format"] = "wstool-session-log";
  EXPECT_EQ(read_error(document), "format: expected \"wstool-load-results\"");
  EXPECT_EQ(read_error(json{{"hello", 1}}), "format: missing (not a wstool load results document)");
}

TEST(LoadReportJson, RefusesHistogramsThatDoNotAddUp) {
  const json good = to_json(sample_report());
  {
    json bad = good;
    bad["latency"]["count"] = bad["latency"]["count"].get<std::uint64_t>() + 1;
    EXPECT_EQ(read_error(bad), "latency.count: 5001, but the buckets hold 5000");
  }
  {
    json bad = good;
    std::swap(bad["service"]["buckets"][0], bad["service"]["buckets"][1]);
    EXPECT_EQ(read_error(bad), "service.buckets[1]: buckets must be in ascending order, each once");
  }
  {
    json bad = good;
    bad["connect"]["buckets"][0]["upper_ns"] = bad["connect"]["buckets"][0]["upper_ns"].get<std::uint64_t>() + 5000;
    EXPECT_NE(read_error(bad).find("connect.buckets[0]: ["), std::string::npos);
    EXPECT_NE(read_error(bad).find("is not a bucket of this histogram layout"), std::string::npos);
  }
  {
    json bad = good;
    bad["latency"]["min_ns"] = 0;  // below the first bucket
    EXPECT_EQ(read_error(bad), "latency: min_ns and max_ns must lie in the first and the last bucket");
  }
  {
    json bad = good;
    bad["histogram_layout"]["significant_digits"] = 2;
    EXPECT_EQ(read_error(bad).rfind("histogram_layout: another histogram layout", 0), 0u);
  }
}

// --- merging ------------------------------------------------------------------------------------

TEST(LoadReportMerge, TwoRunsEqualOneRunOfAllTheValues) {
  const auto a_values = random_latencies(3000, 2);
  auto b_values = random_latencies(2000, 3);
  b_values.push_back(2 * LatencyHistogram::kHighestNs);  // a saturated value survives the merge
  std::vector<std::uint64_t> all = a_values;
  all.insert(all.end(), b_values.begin(), b_values.end());

  const LoadReport a = make_report(a_values, 4, 5.0);
  const LoadReport b = make_report(b_values, 6, 5.0, 4);
  // Merged through their documents, as `wstool load --merge` does.
  LoadReport a_read, b_read;
  std::string error;
  ASSERT_TRUE(from_json(to_json(a), a_read, error)) << error;
  ASSERT_TRUE(from_json(to_json(b), b_read, error)) << error;
  const LoadReport merged = merge_reports({a_read, b_read});

  const LoadReport one = make_report(all, 10, 5.0);
  const json merged_doc = to_json(merged);
  const json one_doc = to_json(one);
  for (const char* histogram : {"latency", "service", "connect", "first_message"}) {
    json m = merged_doc.at(histogram), o = one_doc.at(histogram);
    // The mean goes through a decimal rendering of each part: equal to ~1e-12.
    EXPECT_NEAR(m.at("mean_ns").get<double>(), o.at("mean_ns").get<double>(),
                o.at("mean_ns").get<double>() * 1e-12) << histogram;
    m.erase("mean_ns");
    o.erase("mean_ns");
    EXPECT_EQ(m, o) << histogram;
  }
  EXPECT_EQ(merged.latency.saturated(), 1u);
  EXPECT_EQ(merged_doc.at("counts").at("messages_sent"), a.counts.messages_sent + b.counts.messages_sent);
  EXPECT_EQ(merged_doc.at("counts").at("connections_opened"), 10u);
  EXPECT_EQ(merged.errors.at("unanswered"), 4u);
  EXPECT_EQ(merged.generators, 2u);
  EXPECT_EQ(merged.config, a.config);
}

TEST(LoadReportMerge, SeriesAlignBySecondAndElapsedIsTheLongest) {
  LoadReport a = make_report(random_latencies(100, 4), 2, 3.0);
  LoadReport b = make_report(random_latencies(100, 5), 3, 5.0);
  a.started_at = "2026-11-26T04:00:01Z";
  b.started_at = "2026-11-26T04:00:00Z";
  b.interrupted = true;
  const LoadReport merged = merge_reports({a, b});
  ASSERT_EQ(merged.series.size(), 5u);
  EXPECT_EQ(merged.series[0].sent, a.series[0].sent + b.series[0].sent);
  EXPECT_EQ(merged.series[0].connections_open, 5u);
  EXPECT_EQ(merged.series[4].sent, b.series[4].sent);  // only b ran this long
  EXPECT_EQ(merged.series[2].max_ns, std::max(a.series[2].max_ns, b.series[2].max_ns));
  EXPECT_EQ(merged.elapsed_s, 5.0);
  EXPECT_EQ(merged.started_at, "2026-11-26T04:00:00Z");
  EXPECT_TRUE(merged.interrupted);
  EXPECT_EQ(merge_reports({}).generators, 1u);
}

// --- derived values -------------------------------------------------------------------------------

TEST(LoadReportDerived, ThroughputCountsWhatTheModeDoes) {
  LoadReport report;
  report.elapsed_s = 2;
  report.counts.messages_sent = 100;
  report.counts.messages_received = 60;
  report.counts.messages_answered = 40;
  EXPECT_DOUBLE_EQ(report.throughput_per_s(), 20);  // echo by default: answered
  report.config = {{"mode", "send"}};
  EXPECT_DOUBLE_EQ(report.throughput_per_s(), 50);
  // Subscribe: deliveries measured (messages carrying the send time), not every message received
  // (a room's join notices and acknowledgements are no throughput).
  report.config = {{"mode", "subscribe"}};
  report.latency.record(1000, 24);
  EXPECT_DOUBLE_EQ(report.throughput_per_s(), 12);
  report.elapsed_s = 0;
  EXPECT_DOUBLE_EQ(report.throughput_per_s(), 0);
}

TEST(LoadReportDerived, ErrorRateCountsFailedConnectionsAndMessages) {
  LoadReport report;
  EXPECT_EQ(report.error_rate(), 0.0);  // nothing attempted
  report.counts.connections_attempted = 10;
  report.counts.connections_failed = 1;
  report.counts.connections_dropped = 1;
  report.counts.messages_sent = 990;
  report.counts.messages_unanswered = 8;
  EXPECT_DOUBLE_EQ(report.error_rate(), 10.0 / 1000.0);
}

TEST(LoadReportFormat, LatencyHasThreeSignificantDigits) {
  EXPECT_EQ(format_latency(0), "0ns");
  EXPECT_EQ(format_latency(850), "850ns");
  EXPECT_EQ(format_latency(1'000), "1.00us");
  EXPECT_EQ(format_latency(23'456), "23.5us");
  EXPECT_EQ(format_latency(999'499), "999us");
  EXPECT_EQ(format_latency(999'600), "1.00ms");  // not "1000us"
  EXPECT_EQ(format_latency(23'400'000), "23.4ms");
  EXPECT_EQ(format_latency(1'500'000'000), "1.50s");
  EXPECT_EQ(format_latency(3'600'000'000'000), "3600s");
}

TEST(LoadReportErrors, ClassNamesAreValidDocumentKeys) {
  EXPECT_EQ(error_class(Errc::kConnectionRefused), "refused");
  EXPECT_EQ(error_class(Errc::kUnknownHost), "dns");
  EXPECT_EQ(error_class(Errc::kProtocolViolation), "protocol");
  EXPECT_EQ(handshake_status_class(403), "handshake_status_403");
  EXPECT_EQ(close_code_class(1011), "close_1011");
  // Every class the runner can produce reads back from a document.
  LoadReport report;
  for (Errc errc : {Errc::kUnknownHost, Errc::kConnectionRefused, Errc::kTlsFailure, Errc::kTimeout,
                    Errc::kConnectionLost, Errc::kIoError, Errc::kProtocolViolation, Errc::kOsError,
                    Errc::kInternal, Errc::kHandshakeRejected, Errc::kUsage})
    report.errors[error_class(errc)] += 1;
  report.errors[handshake_status_class(503)] = 1;
  report.errors[close_code_class(4000)] = 1;
  report.errors[kUnansweredClass] = 1;
  report.errors[kSendQueueFullClass] = 1;
  LoadReport back;
  std::string error;
  EXPECT_TRUE(from_json(to_json(report), back, error)) << error;
  EXPECT_EQ(back.errors, report.errors);
}

// --- the summary ----------------------------------------------------------------------------------

TEST(LoadReportSummary, ShowsCountsRatesPercentilesAndErrors) {
  LoadReport report = sample_report();
  report.errors["refused"] = 3;
  const std::string table = summary_table(report);
  EXPECT_NE(table.find("wstool load ws://127.0.0.1:9000/  (echo mode, 5.0s)"), std::string::npos) << table;
  EXPECT_NE(table.find("10 attempted, 10 opened, 0 failed, 0 dropped"), std::string::npos) << table;
  EXPECT_NE(table.find("5,002 sent, 5,000 received, 5,000 answered, 2 unanswered"), std::string::npos) << table;
  EXPECT_NE(table.find("1,000/s"), std::string::npos) << table;
  EXPECT_NE(table.find(format_latency(report.latency.value_at_percentile(99))), std::string::npos);
  EXPECT_NE(table.find(format_latency(report.service.value_at_percentile(99.9))), std::string::npos);
  EXPECT_NE(table.find("refused"), std::string::npos);
  EXPECT_EQ(table.find("interrupted"), std::string::npos);

  // The latency table's rows line up: the header and each row end at the same column.
  std::istringstream lines(table);
  std::string line;
  std::vector<std::size_t> widths;
  bool in_table = false;
  while (std::getline(lines, line)) {
    if (line.rfind("latency", 0) == 0) in_table = true;
    if (in_table && line.empty()) break;
    if (in_table) widths.push_back(line.size());
  }
  ASSERT_EQ(widths.size(), 5u) << table;
  for (std::size_t w : widths) EXPECT_EQ(w, widths[0]) << table;
}

TEST(LoadReportSummary, SaysWhenPartialAndWhenNothingWasMeasured) {
  LoadReport report;
  report.interrupted = true;
  const std::string table = summary_table(report);
  EXPECT_NE(table.find("interrupted: partial results"), std::string::npos);
  EXPECT_NE(table.find("corrected"), std::string::npos);
  EXPECT_NE(table.find("errors         none"), std::string::npos) << table;
}

// --- the HTML page ------------------------------------------------------------------------------

TEST(LoadReportHtml, SelfContainedWithChartsAndEscaped) {
  LoadReport report = sample_report();
  report.config["url"] = "ws://example.test/<script>alert(1)</script>";
  report.config["message"] = "\"quoted\" & 'single'";
  report.errors["close_1011"] = 1;
  const std::string html = html_report(report);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("Latency by percentile"), std::string::npos);
  EXPECT_NE(html.find("Throughput over time"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  EXPECT_NE(html.find("99.9%"), std::string::npos);  // the log percentile axis
  EXPECT_NE(html.find("close_1011"), std::string::npos);
  // Escaped everywhere it appears; no script, no external resource.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;quoted&quot; &amp; &#39;single&#39;"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find(" href="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

TEST(LoadReportHtml, AnEmptyRunStillRenders) {
  const std::string html = html_report(LoadReport());
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("No per-second series"), std::string::npos);
}

// --- thresholds ----------------------------------------------------------------------------------

Threshold parsed(std::string_view text) {
  Threshold threshold;
  std::string error;
  EXPECT_TRUE(parse_threshold(text, threshold, error)) << text << ": " << error;
  return threshold;
}

std::string parse_error(std::string_view text) {
  Threshold threshold;
  std::string error;
  EXPECT_FALSE(parse_threshold(text, threshold, error)) << text;
  return error;
}

TEST(LoadReportThreshold, ParsesMetricsComparisonsAndUnits) {
  Threshold t = parsed("p99<20ms");
  EXPECT_EQ(t.metric, "p99");
  EXPECT_EQ(t.comparison, "<");
  EXPECT_EQ(t.value, 20e6);
  EXPECT_EQ(t.value_text, "20ms");
  EXPECT_EQ(t.text, "p99<20ms");
  EXPECT_EQ(parsed("p99.9 <= 1.5s").value, 1.5e9);
  EXPECT_EQ(parsed("service_p99<250us").metric, "service_p99");
  EXPECT_EQ(parsed("connect_p95<50ms").comparison, "<");
  EXPECT_EQ(parsed("first_message_max>=1s").comparison, ">=");
  EXPECT_EQ(parsed("mean==2ms").comparison, "==");
  EXPECT_DOUBLE_EQ(parsed("error_rate<0.1%").value, 0.001);
  EXPECT_DOUBLE_EQ(parsed("error_rate<0.001").value, 0.001);
  EXPECT_DOUBLE_EQ(parsed("throughput>=5000/s").value, 5000);
  EXPECT_DOUBLE_EQ(parsed("throughput>60000/m").value, 1000);
  EXPECT_EQ(parsed("p99<2").value, 2e9);  // a bare number is seconds, as everywhere
}

TEST(LoadReportThreshold, ClearErrorsForBadExpressions) {
  EXPECT_EQ(parse_error("p99 20ms"),
            "threshold 'p99 20ms': missing comparison (<, <=, >, >= or ==), as in p99<20ms");
  EXPECT_EQ(parse_error("p99=20ms"), "threshold 'p99=20ms': '=' is not a comparison; use <, <=, >, >= or ==");
  EXPECT_EQ(parse_error("p99<"), "threshold 'p99<': missing value after '<'");
  EXPECT_NE(parse_error("<20ms").find("missing metric"), std::string::npos);
  EXPECT_NE(parse_error("latency<20ms").find("unknown metric 'latency'"), std::string::npos);
  EXPECT_NE(parse_error("p101<20ms").find("unknown metric 'p101'"), std::string::npos);
  EXPECT_NE(parse_error("connect_p0<20ms").find("unknown metric"), std::string::npos);
  EXPECT_NE(parse_error("p99<20parsecs").find("p99 takes a duration such as 20ms"), std::string::npos);
  EXPECT_NE(parse_error("throughput>5000/fortnight").find("throughput takes a rate"), std::string::npos);
  EXPECT_NE(parse_error("error_rate<1ms").find("error_rate takes a percentage"), std::string::npos);
  EXPECT_NE(parse_error("error_rate<200%").find("at most 100%"), std::string::npos);
  EXPECT_EQ(parse_error("p99!=20ms"), "threshold 'p99!=20ms': '!=' is not a comparison; use <, <=, >, >= or ==");
  EXPECT_NE(parse_error("p99<20ms<30ms").find("more than one comparison"), std::string::npos);
}

TEST(LoadReportThreshold, EvaluatesAndNamesEachFailure) {
  LoadReport report;
  report.config = {{"mode", "echo"}};
  report.elapsed_s = 10;
  report.counts.messages_sent = 1000;
  report.counts.messages_answered = 999;
  report.counts.messages_unanswered = 1;
  report.counts.connections_attempted = 0;
  report.latency.record(10 * kMilli, 980);
  report.latency.record(23'400'000, 20);  // p99 = 23.4ms
  report.service.record(5 * kMilli, 1000);
  const auto results = evaluate_thresholds(
      report, {parsed("p99<20ms"), parsed("p50<20ms"), parsed("service_p99<=5ms"),
               parsed("error_rate<0.05%"), parsed("throughput>=90/s"), parsed("connect_p95<50ms")});
  ASSERT_EQ(results.size(), 6u);
  EXPECT_FALSE(results[0].passed);
  EXPECT_EQ(results[0].message, "p99 = 23.4ms, not < 20ms");
  EXPECT_DOUBLE_EQ(results[0].actual, 23'400'000.0);
  EXPECT_TRUE(results[1].passed);
  EXPECT_EQ(results[1].message, "p50 = 10.0ms < 20ms");
  EXPECT_TRUE(results[2].passed) << results[2].message;
  EXPECT_FALSE(results[3].passed);
  EXPECT_EQ(results[3].message, "error_rate = 0.1%, not < 0.05%");
  EXPECT_TRUE(results[4].passed);
  EXPECT_EQ(results[4].message, "throughput = 99.90/s >= 90/s");
  // Nothing measured cannot prove a bound.
  EXPECT_FALSE(results[5].passed);
  EXPECT_EQ(results[5].message, "connect_p95: nothing was measured, so not < 50ms");
}

// --- the schema -----------------------------------------------------------------------------------

TEST(LoadReportSchema, DocumentsValidateAgainstTheSchema) {
  const std::string python = test::python_with_jsonschema();
  if (python.empty()) {
    // scripts/test requires it (as it requires the browser): there a skip would hide a gap.
    if (test::jsonschema_required()) {
      FAIL() << "python3 with jsonschema is missing (scripts/install-deps installs "
                "python3-jsonschema) and WSTOOL_REQUIRE_JSONSCHEMA=1";
    }
    GTEST_SKIP() << "python3-jsonschema is not installed (scripts/install-deps installs it)";
  }
  const std::string schema = std::string(WSTOOL_SOURCE_DIR) + "/man/schemas/load-results-v1.json";
  test::TempDir dir;
  LoadReport interrupted = sample_report();
  interrupted.interrupted = true;
  interrupted.latency.record(5 * LatencyHistogram::kHighestNs);
  interrupted.errors["handshake_status_403"] = 2;
  interrupted.errors["close_1011"] = 1;
  const std::vector<std::pair<std::string, json>> documents{
      {"full.json", to_json(sample_report())},
      {"empty.json", to_json(LoadReport())},
      {"interrupted.json", to_json(interrupted)},
      {"merged.json", to_json(merge_reports({sample_report(), interrupted}))},
  };
  std::vector<std::string> paths;
  for (const auto& [name, document] : documents) {
    paths.push_back(dir.path() + "/" + name);
    std::ofstream(paths.back()) << document.dump(2);
  }
  const auto valid = test::validate_against_schema(python, schema, paths);
  EXPECT_TRUE(valid.exited_with(0)) << valid.out << valid.err;

  // And the schema is not vacuous: it refuses what from_json refuses.
  json bad = to_json(sample_report());
  bad["latency"]["buckets"][0]["count"] = 0;
  bad["counts"]["surprise"] = 1;
  bad["version"] = 2;
  const std::string bad_path = dir.path() + "/bad.json";
  std::ofstream(bad_path) << bad.dump();
  const auto invalid = test::validate_against_schema(python, schema, {bad_path});
  EXPECT_TRUE(invalid.exited_with(1)) << invalid.out << invalid.err;
  EXPECT_NE(invalid.out.find("latency/buckets/0/count"), std::string::npos) << invalid.out;
  EXPECT_NE(invalid.out.find("surprise"), std::string::npos) << invalid.out;
  EXPECT_NE(invalid.out.find("version"), std::string::npos) << invalid.out;
}

}  // namespace
}  // namespace wstool
