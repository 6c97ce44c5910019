// The results of a `wstool load` run as data: what the runner fills in, what the results
// document (JSON, versioned schema man/schemas/load-results-v1.json), the summary table, the
// HTML page and the CI thresholds are made from, and how several runs merge into one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/error.h"
#include "lib/latency_histogram.h"

namespace wstool {

inline constexpr int kLoadResultsVersion = 1;

struct LoadCounts {
  std::uint64_t connections_attempted = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_failed = 0;   // never opened (refused, DNS, TLS, status, timeout)
  std::uint64_t connections_dropped = 0;  // opened, then ended other than by us (close != ours)
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;    // every data message received
  std::uint64_t messages_answered = 0;    // sent messages whose reply was matched (echo, script)
  std::uint64_t messages_unanswered = 0;  // sent, no reply by the end of the run (echo mode)
  std::uint64_t bytes_sent = 0;           // payload bytes
  std::uint64_t bytes_received = 0;
};

// One second of the run (per-second series; also what --json streams live).
struct LoadSecond {
  double elapsed_s = 0;          // end of this second since the run started
  std::uint64_t connections_open = 0;
  std::uint64_t sent = 0;        // in this second
  std::uint64_t received = 0;
  std::uint64_t errors = 0;
  std::uint64_t p50_ns = 0;      // corrected latency of replies received in this second
  std::uint64_t p99_ns = 0;
  std::uint64_t max_ns = 0;
};

struct LoadReport {
  nlohmann::json config = nlohmann::json::object();  // the run's options as given (see schema)
  std::string tool_version;
  std::string started_at;        // RFC 3339 UTC
  double elapsed_s = 0;
  bool interrupted = false;      // SIGINT: partial results
  std::uint32_t generators = 1;  // > 1 after --merge
  LoadCounts counts;
  LatencyHistogram latency;        // corrected: from the intended send time (open loop)
  LatencyHistogram service;        // uncorrected: from the actual send time
  LatencyHistogram connect;        // TCP connect to 101 (TLS included)
  LatencyHistogram first_message;  // open to the first data message received
  // Errors by class: "refused", "dns", "tls", "timeout", "handshake_status_403",
  // "close_1011", "protocol", "unanswered", "connection_lost", ... (documented in the man page).
  std::map<std::string, std::uint64_t> errors;
  std::vector<LoadSecond> series;

  // Derived.
  double throughput_per_s() const;  // messages answered (echo/script), sent (send) or delivered
                                     // (subscribe: the deliveries measured, latency.count()) per
                                     // second of elapsed time; the mode is config["mode"], echo
                                     // when absent
  double error_rate() const;         // (failed messages + failed connections) / attempted:
                                     // (unanswered + connections failed + dropped) /
                                     // (messages sent + connections attempted); 0 when nothing
                                     // was attempted
};

// The error classes of LoadReport::errors, one spelling for the runner, the document and
// wstool-load-results(5): "dns", "refused", "tls", "timeout", "connection_lost", "io",
// "protocol", "os", "internal", "other" (and "handshake_status" without a status).
std::string error_class(Errc errc);
std::string handshake_status_class(int http_status);  // "handshake_status_403"
std::string close_code_class(int close_code);         // "close_1011"
inline constexpr const char* kUnansweredClass = "unanswered";      // no reply by the end
inline constexpr const char* kSendQueueFullClass = "send_queue_full";  // the peer stopped reading

// A latency for people: three significant digits in the largest unit that keeps the value at
// least 1 ("850ns", "23.4us", "1.50ms", "12.3s"); parse_duration reads it back (within 0.5%).
std::string format_latency(std::uint64_t nanoseconds);

// The results document, and back (for --merge). from_json checks the version and the shape,
// errors name the field ("latency.buckets[3].count: expected an unsigned integer").
nlohmann::json to_json(const LoadReport& report);
bool from_json(const nlohmann::json& document, LoadReport& report, std::string& error);

// One report from several (histograms merged exactly, counts summed, series summed by second,
// elapsed = the longest); config of the first, generators = the sum.
LoadReport merge_reports(const std::vector<LoadReport>& reports);

// The human summary printed on stdout.
std::string summary_table(const LoadReport& report);

// A self-contained HTML page (inline SVG charts of latency percentiles and throughput over time,
// the summary; no external assets, no script needed to read it).
std::string html_report(const LoadReport& report);

// --threshold EXPR: metric, comparison, value with unit.
//   p50 p90 p99 p99.9 max mean   (corrected latency)   service_p99 ...   connect_p95 ...
//   first_message_p99 ...   error_rate (%, or a fraction)   throughput (/s)
//   comparisons: < <= > >= ==        durations per lib/units (20ms, 1.5s, 250us)
struct Threshold {
  std::string text;     // as given, for messages
  std::string metric;
  std::string comparison;
  double value = 0;     // nanoseconds, a fraction (error_rate), or per second
  std::string value_text;  // the value as given ("20ms"), for messages
};
bool parse_threshold(std::string_view text, Threshold& out, std::string& error);

struct ThresholdResult {
  Threshold threshold;
  double actual = 0;
  bool passed = false;
  std::string message;  // "p99 = 23.4ms, not < 20ms"
};
std::vector<ThresholdResult> evaluate_thresholds(const LoadReport& report,
                                                 const std::vector<Threshold>& thresholds);

}  // namespace wstool
