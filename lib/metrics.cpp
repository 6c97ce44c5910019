// The metrics registry and its two renderings: Prometheus text 0.0.4 and a JSON document.
#include "lib/metrics.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <stdexcept>
#include <utility>

namespace wstool {

struct MetricsRegistry::Entry {
  std::string name;   // without the prefix
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  // Exactly one is set, by the kind of registration.
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<CounterFamily> counter_family;
  std::unique_ptr<GaugeFamily> gauge_family;
  std::function<double()> read;
  std::function<std::vector<MetricsRegistry::Sample>()> read_family;
};

namespace {

// 2^53: doubles hold every integer up to here exactly.
constexpr double kMaxExactInteger = 9007199254740992.0;

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

std::string_view type_name(MetricType type) {
  return type == MetricType::kCounter ? "counter" : "gauge";
}

// HELP text: backslash and newline escaped (the format's rule for docstrings).
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Prometheus sample values: Go's ParseFloat syntax, with NaN and +Inf/-Inf spelled its way.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string labels_text(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  out += '}';
  return out;
}

template <typename Family>
void render_family(std::string& out, const std::string& full_name, const Family& family) {
  family.for_each([&](const std::vector<std::string>& values, const auto& metric) {
    out += full_name;
    out += labels_text(family.label_names(), values);
    out += ' ';
    out += std::to_string(metric.value());
    out += '\n';
  });
}

// Whole numbers stay integers in JSON (a byte count reads 1234, not 1234.0); NaN and
// infinities, which JSON cannot spell, become null.
nlohmann::json json_number(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < kMaxExactInteger) {
    return static_cast<std::int64_t>(v);
  }
  if (std::isfinite(v)) return v;
  return nullptr;
}

// The samples of a callback family, each checked against the label names.
std::vector<MetricsRegistry::Sample> read_samples(const MetricsRegistry::Entry& entry,
                                                  const std::string& full_name) {
  std::vector<MetricsRegistry::Sample> samples = entry.read_family();
  for (const auto& sample : samples) {
    if (sample.label_values.size() != entry.label_names.size()) {
      throw std::invalid_argument("metrics: " + full_name + ": a sample with " +
                                  std::to_string(sample.label_values.size()) + " label values, " +
                                  std::to_string(entry.label_names.size()) + " expected");
    }
  }
  return samples;
}

template <typename Family>
nlohmann::json family_json(const Family& family) {
  const bool one_label = family.label_names().size() == 1;
  nlohmann::json out = one_label ? nlohmann::json::object() : nlohmann::json::array();
  family.for_each([&](const std::vector<std::string>& values, const auto& metric) {
    if (one_label) {
      out[values.front()] = metric.value();
      return;
    }
    nlohmann::json labels = nlohmann::json::object();
    for (std::size_t i = 0; i < values.size(); ++i) labels[family.label_names()[i]] = values[i];
    out.push_back({{"labels", std::move(labels)}, {"value", metric.value()}});
  });
  return out;
}

}  // namespace

bool is_metric_name(std::string_view name) {
  if (name.empty() || !(is_name_start(name.front()) || name.front() == ':')) return false;
  for (const char c : name) {
    if (!is_name_char(c) && c != ':') return false;
  }
  return true;
}

bool is_label_name(std::string_view name) {
  if (name.empty() || !is_name_start(name.front()) || name.substr(0, 2) == "__") return false;
  for (const char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

MetricsRegistry::MetricsRegistry(std::string prefix) : prefix_(std::move(prefix)) {
  if (!prefix_.empty()) {
    if (!is_metric_name(prefix_)) throw std::invalid_argument("metrics: invalid prefix '" + prefix_ + "'");
    prefix_ += '_';
  }
}

MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry& MetricsRegistry::add(std::string_view name, std::string_view help,
                                             MetricType type, std::vector<std::string> label_names) {
  const std::string full_name = prefix_ + std::string(name);
  if (name.empty() || !is_metric_name(full_name)) {
    throw std::invalid_argument("metrics: invalid name '" + full_name + "'");
  }
  for (const auto& label : label_names) {
    if (!is_label_name(label)) {
      throw std::invalid_argument("metrics: invalid label name '" + label + "' in " + full_name);
    }
  }
  for (const auto& entry : entries_) {
    if (entry->name == name) throw std::invalid_argument("metrics: " + full_name + " registered twice");
  }
  auto entry = std::make_unique<Entry>();
  entry->name = std::string(name);
  entry->help = std::string(help);
  entry->type = type;
  entry->label_names = std::move(label_names);
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = add(name, help, MetricType::kCounter, {});
  entry.counter = std::make_unique<Counter>();
  return *entry.counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = add(name, help, MetricType::kGauge, {});
  entry.gauge = std::make_unique<Gauge>();
  return *entry.gauge;
}

CounterFamily& MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                               std::vector<std::string> label_names) {
  if (label_names.empty()) throw std::invalid_argument("metrics: a family needs at least one label");
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = add(name, help, MetricType::kCounter, label_names);
  entry.counter_family = std::make_unique<CounterFamily>(std::move(label_names));
  return *entry.counter_family;
}

GaugeFamily& MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                           std::vector<std::string> label_names) {
  if (label_names.empty()) throw std::invalid_argument("metrics: a family needs at least one label");
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = add(name, help, MetricType::kGauge, label_names);
  entry.gauge_family = std::make_unique<GaugeFamily>(std::move(label_names));
  return *entry.gauge_family;
}

void MetricsRegistry::callback(std::string_view name, std::string_view help, MetricType type,
                               std::function<double()> read) {
  if (!read) throw std::invalid_argument("metrics: empty callback for " + std::string(name));
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = add(name, help, type, {});
  entry.read = std::move(read);
}

void MetricsRegistry::callback_family(std::string_view name, std::string_view help, MetricType type,
                                      std::vector<std::string> label_names,
                                      std::function<std::vector<Sample>()> read) {
  if (!read) throw std::invalid_argument("metrics: empty callback for " + std::string(name));
  if (label_names.empty()) throw std::invalid_argument("metrics: a family needs at least one label");
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = add(name, help, type, std::move(label_names));
  entry.read_family = std::move(read);
}

std::string MetricsRegistry::render_prometheus() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& entry : entries_) {
    const std::string full_name = prefix_ + entry->name;
    out += "# HELP " + full_name + ' ' + escape_help(entry->help) + '\n';
    out += "# TYPE " + full_name + ' ' + std::string(type_name(entry->type)) + '\n';
    if (entry->counter) {
      out += full_name + ' ' + std::to_string(entry->counter->value()) + '\n';
    } else if (entry->gauge) {
      out += full_name + ' ' + std::to_string(entry->gauge->value()) + '\n';
    } else if (entry->counter_family) {
      render_family(out, full_name, *entry->counter_family);
    } else if (entry->gauge_family) {
      render_family(out, full_name, *entry->gauge_family);
    } else if (entry->read_family) {
      for (const auto& sample : read_samples(*entry, full_name)) {
        out += full_name + labels_text(entry->label_names, sample.label_values) + ' ' +
               format_value(sample.value) + '\n';
      }
    } else {
      out += full_name + ' ' + format_value(entry->read()) + '\n';
    }
  }
  return out;
}

nlohmann::json MetricsRegistry::to_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& entry : entries_) {
    nlohmann::json& slot = out[entry->name];
    if (entry->counter) {
      slot = entry->counter->value();
    } else if (entry->gauge) {
      slot = entry->gauge->value();
    } else if (entry->counter_family) {
      slot = family_json(*entry->counter_family);
    } else if (entry->gauge_family) {
      slot = family_json(*entry->gauge_family);
    } else if (entry->read_family) {
      const auto samples = read_samples(*entry, prefix_ + entry->name);
      const bool one_label = entry->label_names.size() == 1;
      slot = one_label ? nlohmann::json::object() : nlohmann::json::array();
      for (const auto& sample : samples) {
        if (one_label) {
          slot[sample.label_values.front()] = json_number(sample.value);
          continue;
        }
        nlohmann::json labels = nlohmann::json::object();
        for (std::size_t i = 0; i < sample.label_values.size(); ++i) {
          labels[entry->label_names[i]] = sample.label_values[i];
        }
        slot.push_back({{"labels", std::move(labels)}, {"value", json_number(sample.value)}});
      }
    } else {
      slot = json_number(entry->read());
    }
  }
  return out;
}

std::string MetricsRegistry::render_json() const { return to_json().dump() + "\n"; }

}  // namespace wstool
