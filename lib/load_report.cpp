// The results of a load run as data: the versioned results document (written and strictly read
// back), merging runs, the human summary, the HTML page and the CI thresholds.
#include "lib/load_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>

#include <fmt/format.h>

#include "lib/units.h"

namespace wstool {
namespace {

using nlohmann::json;

constexpr const char* kFormatName = "wstool-load-results";
constexpr double kPercent = 100.0;

// The percentiles the document, the summary and the page report, in this order.
struct ReportedPercentile {
  const char* key;    // in the document's percentiles_ns
  const char* label;  // in the summary
  double percentile;
};
constexpr std::array<ReportedPercentile, 4> kReportedPercentiles{{
    {"p50", "p50", 50.0},
    {"p90", "p90", 90.0},
    {"p99", "p99", 99.0},
    {"p99_9", "p99.9", 99.9},
}};

// The four histograms of a report, by their name in the document (and threshold prefix).
struct HistogramField {
  const char* key;
  const char* label;         // in the summary and the page
  const char* metric_prefix; // in thresholds
  LatencyHistogram LoadReport::*member;
};
constexpr std::array<HistogramField, 4> kHistograms{{
    {"latency", "corrected", "", &LoadReport::latency},
    {"service", "service", "service_", &LoadReport::service},
    {"connect", "connect", "connect_", &LoadReport::connect},
    {"first_message", "first message", "first_message_", &LoadReport::first_message},
}};

std::string mode_of(const LoadReport& report) {
  if (report.config.is_object()) {
    const auto found = report.config.find("mode");
    if (found != report.config.end() && found->is_string()) return found->get<std::string>();
  }
  return "echo";
}

std::string config_string(const LoadReport& report, const char* key) {
  if (!report.config.is_object()) return {};
  const auto found = report.config.find(key);
  if (found == report.config.end()) return {};
  if (found->is_string()) return found->get<std::string>();
  return found->dump();
}

double per_second(std::uint64_t count, double elapsed_s) {
  return elapsed_s > 0 ? static_cast<double>(count) / elapsed_s : 0.0;
}

// fmt, not snprintf: the format is chosen at run time, and fmt ignores the C locale.
std::string formatted(const char* format, double value) {
  return fmt::format(fmt::runtime(format), value);
}

// 1234567 → "1,234,567": counts in the summary are read by people.
std::string grouped(std::uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  const std::size_t lead = digits.size() % 3;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (i % 3) == lead % 3) out += ',';
    out += digits[i];
  }
  return out;
}

// "12,345/s", or with decimals below 100/s.
std::string format_per_second(double value) {
  if (value >= 100) return grouped(static_cast<std::uint64_t>(std::llround(value))) + "/s";
  return formatted("{:.2f}/s", value);
}

std::string format_bytes_per_second(double bytes) {
  constexpr std::array<const char*, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
  constexpr double kStep = 1024.0;
  std::size_t unit = 0;
  while (bytes >= kStep && unit + 1 < kUnits.size()) {
    bytes /= kStep;
    ++unit;
  }
  return formatted(unit == 0 ? "{:.0f}" : "{:.2f}", bytes) + " " + kUnits[unit] + "/s";
}

std::string format_fraction_percent(double fraction) {
  return formatted("{:.3g}", fraction * kPercent) + "%";
}

std::string pad_left(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}
std::string pad_right(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

// --- the results document --------------------------------------------------------------------

json layout_json() {
  json layout = json::object();
  layout["lowest_ns"] = LatencyHistogram::kLowestNs;
  layout["highest_ns"] = LatencyHistogram::kHighestNs;
  layout["significant_digits"] = LatencyHistogram::kSignificantDigits;
  layout["counters"] = LatencyHistogram::bucket_count();
  return layout;
}

json histogram_json(const LatencyHistogram& histogram) {
  json out = json::object();
  out["count"] = histogram.count();
  out["min_ns"] = histogram.min();
  out["max_ns"] = histogram.max();
  out["mean_ns"] = histogram.mean();
  out["saturated"] = histogram.saturated();
  json percentiles = json::object();
  for (const auto& p : kReportedPercentiles) percentiles[p.key] = histogram.value_at_percentile(p.percentile);
  percentiles["max"] = histogram.max();
  out["percentiles_ns"] = std::move(percentiles);
  json buckets = json::array();
  for (const auto& bucket : histogram.nonzero_buckets()) {
    json item = json::object();
    item["lower_ns"] = bucket.lower_ns;
    item["upper_ns"] = bucket.upper_ns;
    item["count"] = bucket.count;
    buckets.push_back(std::move(item));
  }
  out["buckets"] = std::move(buckets);
  return out;
}

json counts_json(const LoadCounts& c) {
  json out = json::object();
  out["connections_attempted"] = c.connections_attempted;
  out["connections_opened"] = c.connections_opened;
  out["connections_failed"] = c.connections_failed;
  out["connections_dropped"] = c.connections_dropped;
  out["messages_sent"] = c.messages_sent;
  out["messages_received"] = c.messages_received;
  out["messages_answered"] = c.messages_answered;
  out["messages_unanswered"] = c.messages_unanswered;
  out["bytes_sent"] = c.bytes_sent;
  out["bytes_received"] = c.bytes_received;
  return out;
}

json second_json(const LoadSecond& s) {
  json out = json::object();
  out["elapsed_s"] = s.elapsed_s;
  out["connections_open"] = s.connections_open;
  out["sent"] = s.sent;
  out["received"] = s.received;
  out["errors"] = s.errors;
  out["p50_ns"] = s.p50_ns;
  out["p99_ns"] = s.p99_ns;
  out["max_ns"] = s.max_ns;
  return out;
}

// Strict reading with the path of the offending field in every error.
class Reader {
 public:
  explicit Reader(std::string& error) : error_(error) {}

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  bool fail(const std::string& path, const std::string& what) {
    error_ = path + ": " + what;
    return false;
  }

  bool object(const json& value, const std::string& path) {
    return value.is_object() || fail(path, "expected an object");
  }

  // Every key of `value` is one of `keys`, and every key in `keys` is present.
  bool exactly(const json& value, const std::string& path, std::initializer_list<const char*> keys) {
    if (!object(value, path)) return false;
    for (const char* key : keys) {
      if (!value.contains(key)) return fail(join(path, key), "missing");
    }
    for (const auto& item : value.items()) {
      bool known = false;
      for (const char* key : keys) known = known || item.key() == key;
      if (!known) return fail(join(path, item.key()), "unknown field");
    }
    return true;
  }

  bool unsigned_integer(const json& value, const std::string& path, std::uint64_t& out) {
    // Parsed text holds non-negative integers as unsigned; a document built in memory may hold
    // them as signed.
    if (value.is_number_unsigned()) {
      out = value.get<std::uint64_t>();
    } else if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
      out = static_cast<std::uint64_t>(value.get<std::int64_t>());
    } else {
      return fail(path, "expected an unsigned integer");
    }
    return true;
  }
  bool unsigned_integer(const json& object, const std::string& path, const char* key,
                        std::uint64_t& out) {
    return unsigned_integer(object.at(key), join(path, key), out);
  }

  bool number(const json& object, const std::string& path, const char* key, double& out) {
    const json& value = object.at(key);
    if (!value.is_number()) return fail(join(path, key), "expected a number");
    out = value.get<double>();
    if (!std::isfinite(out) || out < 0) return fail(join(path, key), "expected a number >= 0");
    return true;
  }

  bool string(const json& object, const std::string& path, const char* key, std::string& out) {
    const json& value = object.at(key);
    if (!value.is_string()) return fail(join(path, key), "expected a string");
    out = value.get<std::string>();
    return true;
  }

  bool boolean(const json& object, const std::string& path, const char* key, bool& out) {
    const json& value = object.at(key);
    if (!value.is_boolean()) return fail(join(path, key), "expected true or false");
    out = value.get<bool>();
    return true;
  }

 private:
  std::string& error_;
};

bool read_histogram(Reader& r, const json& value, const std::string& path, LatencyHistogram& out) {
  if (!r.exactly(value, path,
                 {"count", "min_ns", "max_ns", "mean_ns", "saturated", "percentiles_ns", "buckets"}))
    return false;
  std::uint64_t count = 0, min_ns = 0, max_ns = 0, saturated = 0;
  double mean_ns = 0;
  if (!r.unsigned_integer(value, path, "count", count) ||
      !r.unsigned_integer(value, path, "min_ns", min_ns) ||
      !r.unsigned_integer(value, path, "max_ns", max_ns) ||
      !r.number(value, path, "mean_ns", mean_ns) ||
      !r.unsigned_integer(value, path, "saturated", saturated))
    return false;

  // The percentiles are derived (recomputed from the buckets); only their shape is checked.
  const std::string percentiles_path = Reader::join(path, "percentiles_ns");
  const json& percentiles = value.at("percentiles_ns");
  if (!r.exactly(percentiles, percentiles_path, {"p50", "p90", "p99", "p99_9", "max"})) return false;
  for (const auto& item : percentiles.items()) {
    std::uint64_t ignored = 0;
    if (!r.unsigned_integer(item.value(), Reader::join(percentiles_path, item.key()), ignored))
      return false;
  }

  const std::string buckets_path = Reader::join(path, "buckets");
  const json& list = value.at("buckets");
  if (!list.is_array()) return r.fail(buckets_path, "expected an array");
  std::vector<LatencyHistogram::Bucket> buckets;
  buckets.reserve(list.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = Reader::index(buckets_path, i);
    LatencyHistogram::Bucket bucket;
    if (!r.exactly(list[i], item_path, {"lower_ns", "upper_ns", "count"}) ||
        !r.unsigned_integer(list[i], item_path, "lower_ns", bucket.lower_ns) ||
        !r.unsigned_integer(list[i], item_path, "upper_ns", bucket.upper_ns) ||
        !r.unsigned_integer(list[i], item_path, "count", bucket.count))
      return false;
    if (bucket.count == 0) return r.fail(Reader::join(item_path, "count"), "must be at least 1");
    const std::size_t slot = LatencyHistogram::index_of(bucket.lower_ns);
    if (LatencyHistogram::lowest_equivalent(slot) != bucket.lower_ns ||
        LatencyHistogram::highest_equivalent(slot) != bucket.upper_ns) {
      return r.fail(item_path, "[" + std::to_string(bucket.lower_ns) + ", " +
                                   std::to_string(bucket.upper_ns) +
                                   "] is not a bucket of this histogram layout");
    }
    if (!buckets.empty() && bucket.lower_ns <= buckets.back().upper_ns)
      return r.fail(item_path, "buckets must be in ascending order, each once");
    if (bucket.count > std::numeric_limits<std::uint64_t>::max() - total)
      return r.fail(Reader::join(item_path, "count"), "the counts overflow");
    total += bucket.count;
    buckets.push_back(bucket);
  }
  if (total != count) {
    return r.fail(Reader::join(path, "count"),
                  std::to_string(count) + ", but the buckets hold " + std::to_string(total));
  }
  if (saturated > count) return r.fail(Reader::join(path, "saturated"), "more than count");
  if (count == 0) {
    if (min_ns != 0 || max_ns != 0) return r.fail(path, "min_ns and max_ns must be 0 when empty");
    return true;
  }
  const long double sum = static_cast<long double>(mean_ns) * static_cast<long double>(count);
  if (!out.add_buckets(buckets, min_ns, max_ns, sum, saturated)) {
    return r.fail(path, "min_ns and max_ns must lie in the first and the last bucket");
  }
  return true;
}

bool read_counts(Reader& r, const json& value, const std::string& path, LoadCounts& c) {
  if (!r.exactly(value, path,
                 {"connections_attempted", "connections_opened", "connections_failed",
                  "connections_dropped", "messages_sent", "messages_received", "messages_answered",
                  "messages_unanswered", "bytes_sent", "bytes_received"}))
    return false;
  return r.unsigned_integer(value, path, "connections_attempted", c.connections_attempted) &&
         r.unsigned_integer(value, path, "connections_opened", c.connections_opened) &&
         r.unsigned_integer(value, path, "connections_failed", c.connections_failed) &&
         r.unsigned_integer(value, path, "connections_dropped", c.connections_dropped) &&
         r.unsigned_integer(value, path, "messages_sent", c.messages_sent) &&
         r.unsigned_integer(value, path, "messages_received", c.messages_received) &&
         r.unsigned_integer(value, path, "messages_answered", c.messages_answered) &&
         r.unsigned_integer(value, path, "messages_unanswered", c.messages_unanswered) &&
         r.unsigned_integer(value, path, "bytes_sent", c.bytes_sent) &&
         r.unsigned_integer(value, path, "bytes_received", c.bytes_received);
}

bool read_second(Reader& r, const json& value, const std::string& path, LoadSecond& s) {
  if (!r.exactly(value, path,
                 {"elapsed_s", "connections_open", "sent", "received", "errors", "p50_ns", "p99_ns",
                  "max_ns"}))
    return false;
  return r.number(value, path, "elapsed_s", s.elapsed_s) &&
         r.unsigned_integer(value, path, "connections_open", s.connections_open) &&
         r.unsigned_integer(value, path, "sent", s.sent) &&
         r.unsigned_integer(value, path, "received", s.received) &&
         r.unsigned_integer(value, path, "errors", s.errors) &&
         r.unsigned_integer(value, path, "p50_ns", s.p50_ns) &&
         r.unsigned_integer(value, path, "p99_ns", s.p99_ns) &&
         r.unsigned_integer(value, path, "max_ns", s.max_ns);
}

bool valid_error_class(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

// --- derived values ----------------------------------------------------------------------------

double LoadReport::throughput_per_s() const {
  const std::string mode = mode_of(*this);
  // Subscribe: the deliveries measured (messages carrying the send time), not every message
  // received: a room's join notices and acknowledgements are no fan-out.
  std::uint64_t done = latency.count();
  if (mode == "echo" || mode == "script") done = counts.messages_answered;
  if (mode == "send") done = counts.messages_sent;
  return per_second(done, elapsed_s);
}

double LoadReport::error_rate() const {
  const std::uint64_t attempted = counts.messages_sent + counts.connections_attempted;
  if (attempted == 0) return 0;
  const std::uint64_t failed =
      counts.messages_unanswered + counts.connections_failed + counts.connections_dropped;
  return static_cast<double>(failed) / static_cast<double>(attempted);
}

std::string error_class(Errc errc) {
  switch (errc) {
    case Errc::kUnknownHost: return "dns";
    case Errc::kConnectionRefused: return "refused";
    case Errc::kTlsFailure: return "tls";
    case Errc::kHandshakeRejected: return "handshake_status";
    case Errc::kTimeout: return "timeout";
    case Errc::kConnectionLost: return "connection_lost";
    case Errc::kIoError: return "io";
    case Errc::kProtocolViolation: return "protocol";
    case Errc::kOsError: return "os";
    case Errc::kInternal: return "internal";
    default: return "other";
  }
}

std::string handshake_status_class(int http_status) {
  return "handshake_status_" + std::to_string(http_status);
}

std::string close_code_class(int close_code) { return "close_" + std::to_string(close_code); }

std::string format_latency(std::uint64_t nanoseconds) {
  struct Unit {
    const char* suffix;
    double ns;
  };
  constexpr std::array<Unit, 4> kUnits{{{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}}};
  if (nanoseconds < 1000) return std::to_string(nanoseconds) + "ns";
  const auto value = static_cast<double>(nanoseconds);
  for (std::size_t i = 1; i < kUnits.size(); ++i) {
    const double scaled = value / kUnits[i].ns;
    const bool last = i + 1 == kUnits.size();
    // Three significant digits; move up a unit when rounding would print 1000.
    if (!last && scaled >= 999.5) continue;
    const char* format = scaled < 9.995 ? "{:.2f}" : scaled < 99.95 ? "{:.1f}" : "{:.0f}";
    return formatted(format, scaled) + kUnits[i].suffix;
  }
  return {};  // unreachable: the last unit always returns
}

// --- the results document ----------------------------------------------------------------------

nlohmann::json to_json(const LoadReport& report) {
  json doc = json::object();
  doc["format"] = kFormatName;
  doc["version"] = kLoadResultsVersion;
  doc["tool_version"] = report.tool_version;
  doc["started_at"] = report.started_at;
  doc["elapsed_s"] = report.elapsed_s;
  doc["interrupted"] = report.interrupted;
  doc["generators"] = report.generators;
  doc["config"] = report.config.is_object() ? report.config : json::object();
  doc["counts"] = counts_json(report.counts);

  json rates = json::object();
  rates["throughput_per_s"] = report.throughput_per_s();
  rates["sent_per_s"] = per_second(report.counts.messages_sent, report.elapsed_s);
  rates["received_per_s"] = per_second(report.counts.messages_received, report.elapsed_s);
  rates["bytes_sent_per_s"] = per_second(report.counts.bytes_sent, report.elapsed_s);
  rates["bytes_received_per_s"] = per_second(report.counts.bytes_received, report.elapsed_s);
  rates["error_rate"] = report.error_rate();
  doc["rates"] = std::move(rates);

  doc["histogram_layout"] = layout_json();
  for (const auto& field : kHistograms) doc[field.key] = histogram_json(report.*field.member);

  json errors = json::object();
  for (const auto& [name, count] : report.errors) errors[name] = count;
  doc["errors"] = std::move(errors);

  json series = json::array();
  for (const auto& second : report.series) series.push_back(second_json(second));
  doc["series"] = std::move(series);
  return doc;
}

bool from_json(const nlohmann::json& document, LoadReport& report, std::string& error) {
  Reader r(error);
  LoadReport out;
  if (!document.is_object()) return r.fail("(document)", "expected a JSON object");
  // The format and the version first: a newer document gets that message, not a field error.
  const auto format = document.find("format");
  if (format == document.end()) return r.fail("format", "missing (not a wstool load results document)");
  if (!format->is_string() || format->get<std::string>() != kFormatName)
    return r.fail("format", "expected \"" + std::string(kFormatName) + "\"");
  const auto version = document.find("version");
  if (version == document.end()) return r.fail("version", "missing");
  if (!version->is_number_integer()) return r.fail("version", "expected an integer");
  if (version->get<std::int64_t>() != kLoadResultsVersion) {
    return r.fail("version", std::to_string(version->get<std::int64_t>()) +
                                 " is not a version this wstool reads (" +
                                 std::to_string(kLoadResultsVersion) + ")");
  }
  if (!r.exactly(document, "",
                 {"format", "version", "tool_version", "started_at", "elapsed_s", "interrupted",
                  "generators", "config", "counts", "rates", "histogram_layout", "latency",
                  "service", "connect", "first_message", "errors", "series"}))
    return false;

  std::uint64_t generators = 0;
  if (!r.string(document, "", "tool_version", out.tool_version) ||
      !r.string(document, "", "started_at", out.started_at) ||
      !r.number(document, "", "elapsed_s", out.elapsed_s) ||
      !r.boolean(document, "", "interrupted", out.interrupted) ||
      !r.unsigned_integer(document, "", "generators", generators))
    return false;
  if (generators == 0 || generators > std::numeric_limits<std::uint32_t>::max())
    return r.fail("generators", "expected 1 or more");
  out.generators = static_cast<std::uint32_t>(generators);

  if (!r.object(document.at("config"), "config")) return false;
  out.config = document.at("config");
  if (!read_counts(r, document.at("counts"), "counts", out.counts)) return false;

  // Rates are derived (recomputed from the counts); only their shape is checked.
  const json& rates = document.at("rates");
  if (!r.exactly(rates, "rates",
                 {"throughput_per_s", "sent_per_s", "received_per_s", "bytes_sent_per_s",
                  "bytes_received_per_s", "error_rate"}))
    return false;
  for (const auto& item : rates.items()) {
    double ignored = 0;
    if (!r.number(rates, "rates", item.key().c_str(), ignored)) return false;
  }

  if (document.at("histogram_layout") != layout_json()) {
    return r.fail("histogram_layout", "another histogram layout than this wstool's (" +
                                          layout_json().dump() + "); the buckets cannot be merged");
  }
  for (const auto& field : kHistograms) {
    if (!read_histogram(r, document.at(field.key), field.key, out.*field.member)) return false;
  }

  const json& errors = document.at("errors");
  if (!r.object(errors, "errors")) return false;
  for (const auto& item : errors.items()) {
    const std::string path = Reader::join("errors", item.key());
    if (!valid_error_class(item.key()))
      return r.fail(path, "error classes are lowercase letters, digits and '_'");
    std::uint64_t count = 0;
    if (!r.unsigned_integer(item.value(), path, count)) return false;
    out.errors[item.key()] = count;
  }

  const json& series = document.at("series");
  if (!series.is_array()) return r.fail("series", "expected an array");
  out.series.reserve(series.size());
  for (std::size_t i = 0; i < series.size(); ++i) {
    LoadSecond second;
    if (!read_second(r, series[i], Reader::index("series", i), second)) return false;
    out.series.push_back(second);
  }

  report = std::move(out);
  return true;
}

// --- merging ---------------------------------------------------------------------------------------

LoadReport merge_reports(const std::vector<LoadReport>& reports) {
  LoadReport out;
  if (reports.empty()) return out;
  out.config = reports.front().config;
  out.tool_version = reports.front().tool_version;
  out.generators = 0;
  for (const LoadReport& report : reports) {
    // RFC 3339 UTC timestamps of one format sort as text: the earliest start is the run's.
    if (!report.started_at.empty() && (out.started_at.empty() || report.started_at < out.started_at))
      out.started_at = report.started_at;
    out.elapsed_s = std::max(out.elapsed_s, report.elapsed_s);
    out.interrupted = out.interrupted || report.interrupted;
    out.generators += report.generators;

    LoadCounts& c = out.counts;
    const LoadCounts& o = report.counts;
    c.connections_attempted += o.connections_attempted;
    c.connections_opened += o.connections_opened;
    c.connections_failed += o.connections_failed;
    c.connections_dropped += o.connections_dropped;
    c.messages_sent += o.messages_sent;
    c.messages_received += o.messages_received;
    c.messages_answered += o.messages_answered;
    c.messages_unanswered += o.messages_unanswered;
    c.bytes_sent += o.bytes_sent;
    c.bytes_received += o.bytes_received;

    for (const auto& field : kHistograms) (out.*field.member).merge(report.*field.member);
    for (const auto& [name, count] : report.errors) out.errors[name] += count;

    // Second i of every run is the same second of the combined run (generators started
    // together). Per-second percentiles cannot be merged without their histograms: the merged
    // p50 and p99 are the highest of the generators' (an upper bound); max is exact.
    if (out.series.size() < report.series.size()) out.series.resize(report.series.size());
    for (std::size_t i = 0; i < report.series.size(); ++i) {
      LoadSecond& s = out.series[i];
      const LoadSecond& o2 = report.series[i];
      s.elapsed_s = std::max(s.elapsed_s, o2.elapsed_s);
      s.connections_open += o2.connections_open;
      s.sent += o2.sent;
      s.received += o2.received;
      s.errors += o2.errors;
      s.p50_ns = std::max(s.p50_ns, o2.p50_ns);
      s.p99_ns = std::max(s.p99_ns, o2.p99_ns);
      s.max_ns = std::max(s.max_ns, o2.max_ns);
    }
  }
  return out;
}

// --- the summary -----------------------------------------------------------------------------------

std::string summary_table(const LoadReport& report) {
  constexpr std::size_t kLabelWidth = 15;
  constexpr std::size_t kColumnWidth = 10;
  const LoadCounts& c = report.counts;
  const std::string mode = mode_of(report);
  std::string out;

  const std::string url = config_string(report, "url");
  out += "wstool load" + (url.empty() ? std::string() : " " + url) + "  (" + mode + " mode, " +
         formatted("{:.1f}", report.elapsed_s) + "s";
  if (report.generators > 1) out += ", " + std::to_string(report.generators) + " generators";
  out += ")\n";
  if (report.interrupted) out += "interrupted: partial results\n";
  out += "\n";

  const auto line = [&out](const std::string& label, const std::string& text) {
    out += pad_right(label, kLabelWidth) + text + "\n";
  };
  line("connections", grouped(c.connections_attempted) + " attempted, " +
                          grouped(c.connections_opened) + " opened, " +
                          grouped(c.connections_failed) + " failed, " +
                          grouped(c.connections_dropped) + " dropped");
  std::string messages = grouped(c.messages_sent) + " sent, " + grouped(c.messages_received) +
                         " received";
  if (mode == "echo" || mode == "script") {
    messages += ", " + grouped(c.messages_answered) + " answered, " +
                grouped(c.messages_unanswered) + " unanswered";
  }
  line("messages", messages);
  line("throughput", format_per_second(report.throughput_per_s()) + "  (sent " +
                         format_per_second(per_second(c.messages_sent, report.elapsed_s)) + ", " +
                         format_bytes_per_second(per_second(c.bytes_sent, report.elapsed_s)) +
                         "; received " +
                         format_bytes_per_second(per_second(c.bytes_received, report.elapsed_s)) +
                         ")");
  line("error rate", format_fraction_percent(report.error_rate()));
  out += "\n";

  // Latency table: one row per histogram, percentiles side by side.
  std::string header = pad_right("latency", kLabelWidth);
  for (const auto& p : kReportedPercentiles) header += pad_left(p.label, kColumnWidth);
  header += pad_left("max", kColumnWidth) + pad_left("mean", kColumnWidth) +
            pad_left("count", kColumnWidth + 2);
  out += header + "\n";
  for (const auto& field : kHistograms) {
    const LatencyHistogram& h = report.*field.member;
    std::string row = pad_right("  " + std::string(field.label), kLabelWidth);
    if (h.count() == 0) {
      row += pad_left("-", kColumnWidth);
    } else {
      for (const auto& p : kReportedPercentiles)
        row += pad_left(format_latency(h.value_at_percentile(p.percentile)), kColumnWidth);
      row += pad_left(format_latency(h.max()), kColumnWidth);
      row += pad_left(format_latency(static_cast<std::uint64_t>(std::llround(h.mean()))),
                      kColumnWidth);
      row += pad_left(grouped(h.count()), kColumnWidth + 2);
    }
    out += row + "\n";
  }
  bool saturated = false;
  for (const auto& field : kHistograms) saturated = saturated || (report.*field.member).saturated() > 0;
  if (saturated) out += "  (some latencies exceeded 1h and are counted as 1h)\n";

  out += "\n";
  if (report.errors.empty()) {
    out += "errors         none\n";
  } else {
    out += "errors\n";
    std::size_t width = 0;
    for (const auto& [name, count] : report.errors) width = std::max(width, name.size());
    for (const auto& [name, count] : report.errors)
      out += "  " + pad_right(name, width + 2) + pad_left(grouped(count), kColumnWidth) + "\n";
  }
  return out;
}

// --- the HTML page ------------------------------------------------------------------------------

namespace {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string coordinate(double value) { return formatted("{:.1f}", value); }

struct Line {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;  // data coordinates
};
struct Tick {
  double at;
  std::string label;
};

// A line chart in inline SVG: linear axes over the data's range, ticks as given.
std::string svg_chart(const std::string& title, const std::string& x_label,
                      const std::string& y_label, const std::vector<Line>& lines,
                      const std::vector<Tick>& x_ticks, double x_max,
                      const std::function<std::string(double)>& y_format) {
  constexpr double kWidth = 760, kHeight = 320;
  constexpr double kLeft = 80, kRight = 40, kTop = 50, kBottom = 50;
  constexpr int kYTicks = 5;
  constexpr double kLegendY = 38, kLegendCharWidth = 6.5, kLegendGap = 34;
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  double highest = 0;
  for (const auto& l : lines)
    for (const auto& p : l.points) highest = std::max(highest, p.second);
  // A round tick step (1, 2 or 5 times a power of ten) and the axis up to the next tick.
  const double rough_step = (highest > 0 ? highest : 1) / kYTicks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough_step)));
  double step = magnitude;
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= rough_step) break;
  }
  const double y_max = std::max(step, std::ceil(highest / step) * step);
  if (x_max <= 0) x_max = 1;
  const auto sx = [&](double x) { return kLeft + x / x_max * plot_w; };
  const auto sy = [&](double y) { return kTop + plot_h - y / y_max * plot_h; };

  std::string svg = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                    coordinate(kWidth) + " " + coordinate(kHeight) +
                    "\" role=\"img\" aria-label=\"" + html_escape(title) + "\">\n";
  svg += "<text x=\"" + coordinate(kLeft) + "\" y=\"18\" class=\"title\">" + html_escape(title) +
         "</text>\n";
  // Grid and y ticks.
  for (int i = 0; step * i <= y_max * (1 + 1e-9); ++i) {
    const double value = step * i;
    const std::string y = coordinate(sy(value));
    svg += "<line x1=\"" + coordinate(kLeft) + "\" x2=\"" + coordinate(kLeft + plot_w) +
           "\" y1=\"" + y + "\" y2=\"" + y + "\" class=\"grid\"/>\n";
    svg += "<text x=\"" + coordinate(kLeft - 6) + "\" y=\"" + y +
           "\" class=\"ytick\">" + html_escape(y_format(value)) + "</text>\n";
  }
  for (const auto& tick : x_ticks) {
    const std::string x = coordinate(sx(tick.at));
    svg += "<line x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + coordinate(kTop) + "\" y2=\"" +
           coordinate(kTop + plot_h) + "\" class=\"grid\"/>\n";
    svg += "<text x=\"" + x + "\" y=\"" + coordinate(kTop + plot_h + 16) +
           "\" class=\"xtick\">" + html_escape(tick.label) + "</text>\n";
  }
  svg += "<text x=\"" + coordinate(kLeft + plot_w / 2) + "\" y=\"" + coordinate(kHeight - 6) +
         "\" class=\"xlabel\">" + html_escape(x_label) + "</text>\n";
  svg += "<text x=\"14\" y=\"" + coordinate(kTop + plot_h / 2) +
         "\" class=\"ylabel\" transform=\"rotate(-90 14 " + coordinate(kTop + plot_h / 2) +
         ")\">" + html_escape(y_label) + "</text>\n";
  svg += "<rect x=\"" + coordinate(kLeft) + "\" y=\"" + coordinate(kTop) + "\" width=\"" +
         coordinate(plot_w) + "\" height=\"" + coordinate(plot_h) + "\" class=\"frame\"/>\n";
  // The lines, and their legend in a row between the title and the plot.
  double legend_x = kLeft;
  for (const auto& l : lines) {
    if (l.points.empty()) continue;
    std::string points;
    for (const auto& p : l.points) points += coordinate(sx(p.first)) + "," + coordinate(sy(p.second)) + " ";
    svg += "<polyline fill=\"none\" stroke=\"" + l.color + "\" stroke-width=\"2\" points=\"" +
           points + "\"/>\n";
    svg += "<rect x=\"" + coordinate(legend_x) + "\" y=\"" + coordinate(kLegendY - 5) +
           "\" width=\"12\" height=\"4\" fill=\"" + l.color + "\"/>";
    svg += "<text x=\"" + coordinate(legend_x + 18) + "\" y=\"" + coordinate(kLegendY) +
           "\" class=\"legend\">" + html_escape(l.name) + "</text>\n";
    legend_x += kLegendGap + kLegendCharWidth * static_cast<double>(l.name.size());
  }
  svg += "</svg></figure>\n";
  return svg;
}

std::string ms_label(double ns) { return formatted("{:.3g}", ns / 1e6) + "ms"; }

// Latency by percentile with a logarithmic x axis of 1/(1-p): 90%, 99%, 99.9% ... equally
// spaced, as HdrHistogram's plots draw it, so the tail gets the room it deserves.
std::string percentile_chart(const LoadReport& report) {
  constexpr int kPointsPerDecade = 40;
  const std::uint64_t count = std::max(report.latency.count(), report.service.count());
  // Decades of tail worth drawing: as many nines as the count can tell apart, at least 2, at
  // most 6 (99.9999%).
  constexpr int kMinDecades = 2, kMaxDecades = 6;
  const int decades = std::clamp(
      static_cast<int>(std::ceil(std::log10(static_cast<double>(std::max<std::uint64_t>(count, 1))))),
      kMinDecades, kMaxDecades);
  std::vector<Line> lines;
  const std::pair<const LatencyHistogram*, std::pair<const char*, const char*>> sources[] = {
      {&report.latency, {"corrected (from the intended send time)", "#d62728"}},
      {&report.service, {"service (from the actual send time)", "#1f77b4"}},
  };
  for (const auto& [histogram, style] : sources) {
    if (histogram->count() == 0) continue;
    Line line{style.first, style.second, {}};
    for (int i = 0; i <= decades * kPointsPerDecade; ++i) {
      const double x = static_cast<double>(i) / kPointsPerDecade;
      const double percentile = kPercent * (1.0 - std::pow(10.0, -x));
      line.points.emplace_back(
          x, static_cast<double>(histogram->value_at_percentile(std::max(percentile, 1e-9))));
    }
    lines.push_back(std::move(line));
  }
  // 0%, 90%, 99%, 99.9%, 99.99%, ...
  std::vector<Tick> ticks{{0, "0%"}, {1, "90%"}, {2, "99%"}};
  for (int d = 3; d <= decades; ++d)
    ticks.push_back({static_cast<double>(d), "99." + std::string(static_cast<std::size_t>(d - 2), '9') + "%"});
  return svg_chart("Latency by percentile", "percentile", "latency", lines, ticks,
                   static_cast<double>(decades), ms_label);
}

std::vector<Tick> time_ticks(double seconds) {
  constexpr int kTicks = 6;
  std::vector<Tick> ticks;
  for (int i = 0; i <= kTicks; ++i) {
    const double at = seconds * i / kTicks;
    ticks.push_back({at, formatted("{:.3g}", at) + "s"});
  }
  return ticks;
}

std::string series_charts(const LoadReport& report) {
  if (report.series.empty()) return "<p>No per-second series was recorded.</p>\n";
  double x_max = 0;
  for (const auto& s : report.series) x_max = std::max(x_max, s.elapsed_s);
  Line sent{"sent/s", "#1f77b4", {}}, received{"received/s", "#2ca02c", {}},
      errors{"errors/s", "#d62728", {}};
  Line p50{"p50", "#1f77b4", {}}, p99{"p99", "#ff7f0e", {}}, max{"max", "#d62728", {}};
  for (const auto& s : report.series) {
    sent.points.emplace_back(s.elapsed_s, static_cast<double>(s.sent));
    received.points.emplace_back(s.elapsed_s, static_cast<double>(s.received));
    errors.points.emplace_back(s.elapsed_s, static_cast<double>(s.errors));
    p50.points.emplace_back(s.elapsed_s, static_cast<double>(s.p50_ns));
    p99.points.emplace_back(s.elapsed_s, static_cast<double>(s.p99_ns));
    max.points.emplace_back(s.elapsed_s, static_cast<double>(s.max_ns));
  }
  const auto per_s = [](double v) {
    return v >= 1 || v == 0 ? grouped(static_cast<std::uint64_t>(std::llround(v))) : formatted("{:.2g}", v);
  };
  return svg_chart("Throughput over time", "elapsed", "messages per second",
                   {sent, received, errors}, time_ticks(x_max), x_max, per_s) +
         svg_chart("Latency over time (corrected)", "elapsed", "latency", {p50, p99, max},
                   time_ticks(x_max), x_max, ms_label);
}

}  // namespace

std::string html_report(const LoadReport& report) {
  const std::string url = config_string(report, "url");
  const std::string title = "wstool load" + (url.empty() ? std::string() : " " + url);
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>" + html_escape(title) + "</title>\n";
  html += "<style>\n"
          "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:800px;color:#222}\n"
          "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}\n"
          "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}\n"
          "td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}\n"
          "pre{background:#f8f8f8;padding:1em;overflow-x:auto}\n"
          "svg{width:100%;height:auto;font-size:11px}figure{margin:1em 0}\n"
          ".grid{stroke:#ddd}.frame{fill:none;stroke:#999}.title{font-weight:bold;font-size:13px}\n"
          ".ytick{text-anchor:end;dominant-baseline:middle}.xtick,.xlabel{text-anchor:middle}\n"
          ".ylabel{text-anchor:middle}.warn{color:#b00}\n"
          "</style>\n</head>\n<body>\n";
  html += "<h1>" + html_escape(title) + "</h1>\n";
  html += "<p>" + html_escape(mode_of(report)) + " mode, " +
          html_escape(formatted("{:.1f}", report.elapsed_s)) + " s";
  if (!report.started_at.empty()) html += ", started " + html_escape(report.started_at);
  if (report.generators > 1) html += ", " + std::to_string(report.generators) + " generators";
  if (!report.tool_version.empty()) html += ", wstool " + html_escape(report.tool_version);
  html += "</p>\n";
  if (report.interrupted) html += "<p class=\"warn\">Interrupted: partial results.</p>\n";

  html += "<h2>Latency</h2>\n<table>\n<tr><th></th>";
  for (const auto& p : kReportedPercentiles) html += std::string("<th>") + p.label + "</th>";
  html += "<th>max</th><th>mean</th><th>count</th></tr>\n";
  for (const auto& field : kHistograms) {
    const LatencyHistogram& h = report.*field.member;
    html += std::string("<tr><td>") + field.label + "</td>";
    for (const auto& p : kReportedPercentiles)
      html += "<td>" + (h.count() ? format_latency(h.value_at_percentile(p.percentile)) : "-") + "</td>";
    html += "<td>" + (h.count() ? format_latency(h.max()) : "-") + "</td>";
    html += "<td>" + (h.count() ? format_latency(static_cast<std::uint64_t>(std::llround(h.mean()))) : "-") + "</td>";
    html += "<td>" + grouped(h.count()) + "</td></tr>\n";
  }
  html += "</table>\n";
  html += percentile_chart(report);

  html += "<h2>Over time</h2>\n" + series_charts(report);

  html += "<h2>Errors</h2>\n";
  if (report.errors.empty()) {
    html += "<p>None.</p>\n";
  } else {
    html += "<table>\n<tr><th>class</th><th>count</th></tr>\n";
    for (const auto& [name, count] : report.errors)
      html += "<tr><td>" + html_escape(name) + "</td><td>" + grouped(count) + "</td></tr>\n";
    html += "</table>\n";
  }

  html += "<h2>Summary</h2>\n<pre>" + html_escape(summary_table(report)) + "</pre>\n";
  if (report.config.is_object() && !report.config.empty()) {
    html += "<h2>Configuration</h2>\n<table>\n";
    for (const auto& item : report.config.items()) {
      const std::string value =
          item.value().is_string() ? item.value().get<std::string>() : item.value().dump();
      html += "<tr><td>" + html_escape(item.key()) + "</td><td>" + html_escape(value) + "</td></tr>\n";
    }
    html += "</table>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

// --- thresholds ------------------------------------------------------------------------------------

namespace {

enum class MetricKind { kLatency, kErrorRate, kThroughput };

struct ParsedMetric {
  MetricKind kind = MetricKind::kLatency;
  const LatencyHistogram LoadReport::*histogram = nullptr;
  std::string statistic;  // "p99.9", "max", "min", "mean"
  double percentile = 0;  // for pN
};

constexpr const char* kMetricHelp =
    "p50, p90, p99, p99.9 (any pN), max, min, mean; the same with service_, connect_ or "
    "first_message_ before them; error_rate; throughput";

bool parse_metric(const std::string& metric, ParsedMetric& out) {
  if (metric == "error_rate") {
    out.kind = MetricKind::kErrorRate;
    return true;
  }
  if (metric == "throughput") {
    out.kind = MetricKind::kThroughput;
    return true;
  }
  // Longest prefix first: "" matches everything.
  const HistogramField* field = nullptr;
  for (const auto& candidate : kHistograms) {
    const std::string prefix = candidate.metric_prefix;
    if (metric.compare(0, prefix.size(), prefix) != 0) continue;
    if (field == nullptr || prefix.size() > std::string(field->metric_prefix).size()) field = &candidate;
  }
  if (field == nullptr) return false;
  const std::string statistic = metric.substr(std::string(field->metric_prefix).size());
  out.kind = MetricKind::kLatency;
  out.histogram = field->member;
  out.statistic = statistic;
  if (statistic == "max" || statistic == "min" || statistic == "mean") return true;
  if (statistic.size() < 2 || statistic[0] != 'p') return false;
  // pN: digits with at most one decimal point, 0 < N <= 100.
  const std::string number = statistic.substr(1);
  if (number.front() == '.' || number.back() == '.') return false;
  if (std::count(number.begin(), number.end(), '.') > 1) return false;
  if (!std::all_of(number.begin(), number.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
    return false;
  out.percentile = std::strtod(number.c_str(), nullptr);
  return out.percentile > 0 && out.percentile <= kPercent;
}

bool compare(double actual, const std::string& comparison, double limit) {
  if (comparison == "<") return actual < limit;
  if (comparison == "<=") return actual <= limit;
  if (comparison == ">") return actual > limit;
  if (comparison == ">=") return actual >= limit;
  return actual == limit;  // "=="
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace

bool parse_threshold(std::string_view text, Threshold& out, std::string& error) {
  const std::string given(text);
  const auto fail = [&](const std::string& what) {
    error = "threshold '" + given + "': " + what;
    return false;
  };
  const std::size_t op_at = given.find_first_of("<>=!");
  if (op_at == std::string::npos)
    return fail("missing comparison (<, <=, >, >= or ==), as in p99<20ms");
  const std::string metric = trim(std::string_view(given).substr(0, op_at));
  std::string comparison;
  for (const char* candidate : {"<=", ">=", "==", "<", ">"}) {
    if (given.compare(op_at, std::string(candidate).size(), candidate) == 0) {
      comparison = candidate;
      break;
    }
  }
  if (comparison.empty()) {
    const bool two = op_at + 1 < given.size() && std::strchr("<>=!", given[op_at + 1]) != nullptr;
    return fail("'" + given.substr(op_at, two ? 2 : 1) +
                "' is not a comparison; use <, <=, >, >= or ==");
  }
  const std::string value_text = trim(std::string_view(given).substr(op_at + comparison.size()));
  if (metric.empty()) return fail("missing metric before '" + comparison + "' (" + kMetricHelp + ")");
  if (value_text.empty()) return fail("missing value after '" + comparison + "'");
  if (value_text.find_first_of("<>=!") != std::string::npos)
    return fail("more than one comparison");

  ParsedMetric parsed;
  if (!parse_metric(metric, parsed)) return fail("unknown metric '" + metric + "' (" + kMetricHelp + ")");

  double value = 0;
  std::string unit_error;
  switch (parsed.kind) {
    case MetricKind::kLatency: {
      std::chrono::nanoseconds ns{};
      if (!parse_duration(value_text, ns, unit_error))
        return fail(metric + " takes a duration such as 20ms, 1.5s or 250us: " + unit_error);
      value = static_cast<double>(ns.count());
      break;
    }
    case MetricKind::kErrorRate: {
      // "0.1%" or a fraction "0.001"; both read as the same fraction.
      const bool percent = value_text.back() == '%';
      const std::string number = percent ? trim(value_text.substr(0, value_text.size() - 1)) : value_text;
      const bool digits = !number.empty() &&
                          std::all_of(number.begin(), number.end(),
                                      [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) &&
                          std::count(number.begin(), number.end(), '.') <= 1 &&
                          number.front() != '.' && number.back() != '.';
      if (!digits) return fail("error_rate takes a percentage (0.1%) or a fraction (0.001)");
      value = std::strtod(number.c_str(), nullptr) / (percent ? kPercent : 1.0);
      if (value > 1) return fail("error_rate is at most 100% (a fraction at most 1)");
      break;
    }
    case MetricKind::kThroughput:
      if (!parse_rate(value_text, value, unit_error))
        return fail("throughput takes a rate such as 5000/s or 300000/m: " + unit_error);
      break;
  }
  out.text = given;
  out.metric = metric;
  out.comparison = comparison;
  out.value = value;
  out.value_text = value_text;
  return true;
}

std::vector<ThresholdResult> evaluate_thresholds(const LoadReport& report,
                                                 const std::vector<Threshold>& thresholds) {
  std::vector<ThresholdResult> results;
  for (const Threshold& threshold : thresholds) {
    ThresholdResult result;
    result.threshold = threshold;
    ParsedMetric parsed;
    const std::string limit = threshold.comparison + " " + threshold.value_text;
    if (!parse_metric(threshold.metric, parsed)) {
      result.message = threshold.metric + ": unknown metric";
      results.push_back(std::move(result));
      continue;
    }
    std::string shown;
    bool measured = true;
    switch (parsed.kind) {
      case MetricKind::kLatency: {
        const LatencyHistogram& h = report.*parsed.histogram;
        if (h.count() == 0) {
          measured = false;  // no value cannot prove a bound: a CI verdict must fail
          break;
        }
        std::uint64_t ns = 0;
        if (parsed.statistic == "max") ns = h.max();
        else if (parsed.statistic == "min") ns = h.min();
        else if (parsed.statistic == "mean") ns = static_cast<std::uint64_t>(std::llround(h.mean()));
        else ns = h.value_at_percentile(parsed.percentile);
        result.actual = static_cast<double>(ns);
        shown = format_latency(ns);
        break;
      }
      case MetricKind::kErrorRate:
        result.actual = report.error_rate();
        shown = format_fraction_percent(result.actual);
        break;
      case MetricKind::kThroughput:
        result.actual = report.throughput_per_s();
        shown = format_per_second(result.actual);
        break;
    }
    if (!measured) {
      result.passed = false;
      result.message = threshold.metric + ": nothing was measured, so not " + limit;
    } else {
      result.passed = compare(result.actual, threshold.comparison, threshold.value);
      result.message = threshold.metric + " = " + shown + (result.passed ? " " : ", not ") + limit;
    }
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace wstool
