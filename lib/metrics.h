// A small metrics registry for servers: counters and gauges (optionally labelled) that hot paths
// update with relaxed atomics, rendered as Prometheus text (GET /metrics) or JSON (GET /stats).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace wstool {

// The Content-Type of render_prometheus()'s output (the text exposition format 0.0.4).
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// A labelled family keeps at most this many series; label values beyond it are counted under
// kOverflowLabelValue, so a peer that sends every close code cannot grow the registry.
inline constexpr std::size_t kMaxSeriesPerFamily = 512;
inline constexpr std::string_view kOverflowLabelValue = "_other";

enum class MetricType { kCounter, kGauge };

// Only ever goes up. Updates are relaxed atomics: safe from any thread, no ordering implied.
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Goes up and down (open connections, rooms).
class Gauge {
 public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// One metric name with its label names; series are created on first use of their label values
// and never removed (Prometheus expects series to persist). `with` takes a lock: hot paths look
// a series up once and keep the reference, which stays valid as long as the registry.
template <typename Metric>
class MetricFamily {
 public:
  explicit MetricFamily(std::vector<std::string> label_names) : label_names_(std::move(label_names)) {}
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  // The series for these label values, one per label name (std::invalid_argument otherwise).
  Metric& with(const std::vector<std::string>& label_values);

  const std::vector<std::string>& label_names() const { return label_names_; }
  // A snapshot of (label values, value), ordered by label values.
  template <typename Visit>
  void for_each(Visit visit) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [values, metric] : series_) visit(values, *metric);
  }

 private:
  std::vector<std::string> label_names_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;

// The registry. Registration (at start, usually) and rendering lock; updates never do. Names
// get the registry's prefix: MetricsRegistry("wstool_serve").counter("connections_total", ...)
// is wstool_serve_connections_total. Registering an invalid or duplicate name is a programming
// error: std::invalid_argument.
class MetricsRegistry {
 public:
  explicit MetricsRegistry(std::string prefix);
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  ~MetricsRegistry();

  Counter& counter(std::string_view name, std::string_view help);
  Gauge& gauge(std::string_view name, std::string_view help);
  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names);
  // A value read when rendering, from state kept elsewhere (rooms in the hub, the engine's byte
  // counts). `read` runs on the rendering thread, with the registry locked: it must not call
  // back into the registry.
  void callback(std::string_view name, std::string_view help, MetricType type,
                std::function<double()> read);

  // A labelled family whose series are read when rendering: `read` returns (label values,
  // value) pairs, e.g. from an array of atomics indexed by error code. Same rules as callback;
  // each pair needs one value per label name (std::invalid_argument at render otherwise).
  struct Sample {
    std::vector<std::string> label_values;
    double value = 0;
  };
  void callback_family(std::string_view name, std::string_view help, MetricType type,
                       std::vector<std::string> label_names, std::function<std::vector<Sample>()> read);

  // The Prometheus text exposition format 0.0.4: per metric `# HELP`, `# TYPE`, then its
  // samples, in registration order; ends with a newline.
  std::string render_prometheus() const;
  // {"connections_total": 3, "errors_total": {"NOT_IN_ROOM": 1}, ...}: names without the
  // prefix; a family with one label is an object keyed by its value, one with several an
  // array of {"labels": {...}, "value": n}.
  nlohmann::json to_json() const;
  // to_json() as text (GET /stats), with a trailing newline.
  std::string render_json() const;

  struct Entry;

 private:
  Entry& add(std::string_view name, std::string_view help, MetricType type,
             std::vector<std::string> label_names);

  std::string prefix_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// True for a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) and label name
// ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", which Prometheus reserves).
bool is_metric_name(std::string_view name);
bool is_label_name(std::string_view name);

// A label value inside its double quotes: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

// ---- template implementation ----

template <typename Metric>
Metric& MetricFamily<Metric>::with(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument("metric family: " + std::to_string(label_names_.size()) +
                                " label values expected, got " + std::to_string(label_values.size()));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = series_.find(label_values);
  if (found != series_.end()) return *found->second;
  if (series_.size() + 1 >= kMaxSeriesPerFamily) {
    // The last slot is kept for the overflow series.
    std::vector<std::string> overflow(label_names_.size(), std::string(kOverflowLabelValue));
    auto& slot = series_[overflow];
    if (!slot) slot = std::make_unique<Metric>();
    return *slot;
  }
  auto& slot = series_[label_values];
  slot = std::make_unique<Metric>();
  return *slot;
}

}  // namespace wstool
