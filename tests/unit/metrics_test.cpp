// Tests for the metrics registry: updates, labelled families and their bound, and both
// renderings — the Prometheus text checked line by line against the 0.0.4 format's rules.
#include "lib/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace wstool {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// One sample line parsed: name, labels (unescaped) and value text.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;
};

// Parses `name{a="x",b="y"} value` strictly; fails the test on anything else.
Sample parse_sample(const std::string& line) {
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  EXPECT_TRUE(is_metric_name(s.name)) << line;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const std::size_t eq = line.find('=', i);
      EXPECT_NE(eq, std::string::npos) << line;
      if (eq == std::string::npos) return s;
      const std::string label = line.substr(i, eq - i);
      EXPECT_TRUE(is_label_name(label)) << line;
      i = eq + 1;
      EXPECT_EQ(line[i], '"') << line;
      ++i;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          ++i;
          EXPECT_TRUE(line[i] == '\\' || line[i] == '"' || line[i] == 'n') << "bad escape in " << line;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          EXPECT_NE(line[i], '\n');
          value += line[i];
        }
        ++i;
      }
      ++i;  // closing quote
      EXPECT_TRUE(s.labels.emplace(label, value).second) << "label repeated in " << line;
      if (i < line.size() && line[i] == ',') ++i;
    }
    ++i;  // '}'
  }
  EXPECT_EQ(line[i], ' ') << line;
  s.value = line.substr(i + 1);
  EXPECT_FALSE(s.value.empty()) << line;
  EXPECT_EQ(s.value.find(' '), std::string::npos) << "a timestamp or junk after the value: " << line;
  return s;
}

// Checks the whole exposition against the format's rules and returns its samples by
// "name{sorted labels}".
std::map<std::string, std::string> check_exposition(const std::string& text) {
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the exposition must end with a newline";
  std::map<std::string, std::string> samples;
  std::set<std::string> helped;
  std::set<std::string> typed;
  std::string current;  // the metric whose samples may follow
  for (const std::string& line : split_lines(text)) {
    EXPECT_FALSE(line.empty()) << "blank line in the exposition";
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      EXPECT_TRUE(is_metric_name(name)) << line;
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice for " << name;
      EXPECT_EQ(typed.count(name), 0U) << "HELP after TYPE for " << name;
      current = name;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      const std::string type = rest.substr(rest.find(' ') + 1);
      EXPECT_TRUE(type == "counter" || type == "gauge") << line;
      EXPECT_TRUE(typed.insert(name).second) << "TYPE twice for " << name;
      EXPECT_EQ(name, current) << "TYPE without its HELP just before: " << line;
    } else {
      EXPECT_NE(line.front(), '#') << "unexpected comment: " << line;
      const Sample s = parse_sample(line);
      EXPECT_EQ(s.name, current) << "a sample outside its metric's block: " << line;
      EXPECT_EQ(typed.count(s.name), 1U) << "a sample before its TYPE: " << line;
      std::string key = s.name + "{";
      for (const auto& [k, v] : s.labels) key += k + "=" + v + ",";
      key += "}";
      EXPECT_TRUE(samples.emplace(key, s.value).second) << "series twice: " << line;
    }
  }
  return samples;
}

TEST(Metrics, CountersAndGauges) {
  MetricsRegistry registry("wstool_serve");
  Counter& total = registry.counter("connections_total", "Connections accepted.");
  Gauge& open = registry.gauge("connections_open", "Connections open now.");
  total.inc();
  total.inc(4);
  open.add(3);
  open.sub();
  EXPECT_EQ(total.value(), 5U);
  EXPECT_EQ(open.value(), 2);
  open.set(-1);
  EXPECT_EQ(open.value(), -1);

  const auto samples = check_exposition(registry.render_prometheus());
  EXPECT_EQ(samples.at("wstool_serve_connections_total{}"), "5");
  EXPECT_EQ(samples.at("wstool_serve_connections_open{}"), "-1");
}

TEST(Metrics, PrometheusTextIsExact) {
  MetricsRegistry registry("wstool_serve");
  registry.counter("messages_in_total", "Messages received.").inc(2);
  registry.counter_family("errors_total", "Error replies by code.", {"code"}).with({"NOT_IN_ROOM"}).inc();
  EXPECT_EQ(registry.render_prometheus(),
            "# HELP wstool_serve_messages_in_total Messages received.\n"
            "# TYPE wstool_serve_messages_in_total counter\n"
            "wstool_serve_messages_in_total 2\n"
            "# HELP wstool_serve_errors_total Error replies by code.\n"
            "# TYPE wstool_serve_errors_total counter\n"
            "wstool_serve_errors_total{code=\"NOT_IN_ROOM\"} 1\n");
}

TEST(Metrics, LabelledFamilies) {
  MetricsRegistry registry("wstool_serve");
  CounterFamily& closes = registry.counter_family("closes_total", "Closes by code.", {"code"});
  Counter& normal = closes.with({"1000"});
  normal.inc();
  closes.with({"1000"}).inc();  // the same series
  closes.with({"1008"}).inc(3);
  EXPECT_EQ(&normal, &closes.with({"1000"}));
  GaugeFamily& members = registry.gauge_family("queue_bytes", "Bytes queued.", {"worker", "kind"});
  members.with({"0", "text"}).set(7);
  EXPECT_THROW(members.with({"0"}), std::invalid_argument);

  const auto samples = check_exposition(registry.render_prometheus());
  EXPECT_EQ(samples.at("wstool_serve_closes_total{code=1000,}"), "2");
  EXPECT_EQ(samples.at("wstool_serve_closes_total{code=1008,}"), "3");
  EXPECT_EQ(samples.at("wstool_serve_queue_bytes{kind=text,worker=0,}"), "7");
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry registry("x");
  CounterFamily& family = registry.counter_family("t_total", "Help with \\ and\nnewline.", {"v"});
  family.with({"a\"b\\c\nd"}).inc();
  const std::string text = registry.render_prometheus();
  EXPECT_NE(text.find("x_t_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP x_t_total Help with \\\\ and\\nnewline.\n"), std::string::npos) << text;
  const auto samples = check_exposition(text);  // and the parser unescapes it back
  EXPECT_EQ(samples.count("x_t_total{v=a\"b\\c\nd,}"), 1U);
}

TEST(Metrics, FamiliesAreBounded) {
  MetricsRegistry registry("x");
  CounterFamily& family = registry.counter_family("codes_total", "Codes.", {"code"});
  for (std::size_t i = 0; i < kMaxSeriesPerFamily + 100; ++i) family.with({std::to_string(i)}).inc();
  std::size_t series = 0;
  std::uint64_t total = 0;
  std::uint64_t overflow = 0;
  family.for_each([&](const std::vector<std::string>& values, const Counter& c) {
    ++series;
    total += c.value();
    if (values.front() == kOverflowLabelValue) overflow = c.value();
  });
  EXPECT_EQ(series, kMaxSeriesPerFamily);
  EXPECT_EQ(total, kMaxSeriesPerFamily + 100);  // nothing lost, only folded
  EXPECT_EQ(overflow, 101U);
  check_exposition(registry.render_prometheus());
}

TEST(Metrics, CallbacksAreReadWhenRendering) {
  MetricsRegistry registry("wstool_serve");
  double rooms = 2;
  registry.callback("rooms", "Rooms now.", MetricType::kGauge, [&] { return rooms; });
  registry.callback("bytes_in_total", "Bytes read.", MetricType::kCounter, [] { return 123456789012.0; });
  registry.callback("ratio", "A fraction.", MetricType::kGauge, [] { return 0.25; });
  registry.callback("broken", "Not a number.", MetricType::kGauge,
                    [] { return std::numeric_limits<double>::quiet_NaN(); });
  rooms = 5;
  const auto samples = check_exposition(registry.render_prometheus());
  EXPECT_EQ(samples.at("wstool_serve_rooms{}"), "5");
  EXPECT_EQ(samples.at("wstool_serve_bytes_in_total{}"), "123456789012");
  EXPECT_EQ(samples.at("wstool_serve_ratio{}"), "0.25");
  EXPECT_EQ(samples.at("wstool_serve_broken{}"), "NaN");

  const nlohmann::json json = registry.to_json();
  EXPECT_EQ(json.at("rooms"), 5);
  EXPECT_TRUE(json.at("rooms").is_number_integer());
  EXPECT_EQ(json.at("bytes_in_total"), 123456789012);
  EXPECT_DOUBLE_EQ(json.at("ratio").get<double>(), 0.25);
  EXPECT_TRUE(json.at("broken").is_null());
}

TEST(Metrics, CallbackFamiliesReadLabelledSeriesWhenRendering) {
  MetricsRegistry registry("wstool_serve");
  std::array<std::atomic<std::uint64_t>, 2> errors{};
  const std::array<const char*, 2> names = {"PARSE_ERROR", "NOT_IN_ROOM"};
  registry.callback_family("errors_total", "Error replies by code.", MetricType::kCounter, {"code"}, [&] {
    std::vector<MetricsRegistry::Sample> samples;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      samples.push_back({{names[i]}, static_cast<double>(errors[i].load())});
    }
    return samples;
  });
  errors[1] += 3;
  const auto samples = check_exposition(registry.render_prometheus());
  EXPECT_EQ(samples.at("wstool_serve_errors_total{code=NOT_IN_ROOM,}"), "3");
  EXPECT_EQ(samples.at("wstool_serve_errors_total{code=PARSE_ERROR,}"), "0");
  EXPECT_EQ(registry.to_json().at("errors_total"), nlohmann::json::parse(R"({"PARSE_ERROR": 0, "NOT_IN_ROOM": 3})"));

  registry.callback_family("bad", "Wrong arity.", MetricType::kGauge, {"a", "b"},
                           [] { return std::vector<MetricsRegistry::Sample>{{{"only-one"}, 1}}; });
  EXPECT_THROW(registry.render_prometheus(), std::invalid_argument);
}

TEST(Metrics, JsonDocument) {
  MetricsRegistry registry("wstool_serve");
  registry.counter("connections_total", "c").inc(3);
  registry.gauge("connections_open", "g").set(1);
  CounterFamily& errors = registry.counter_family("errors_total", "e", {"code"});
  errors.with({"NOT_IN_ROOM"}).inc();
  errors.with({"PARSE_ERROR"}).inc(2);
  registry.counter_family("empty_total", "e", {"code"});
  registry.gauge_family("pairs", "p", {"a", "b"}).with({"1", "2"}).set(9);
  const std::string text = registry.render_json();
  EXPECT_EQ(text.back(), '\n');
  const nlohmann::json json = nlohmann::json::parse(text);
  EXPECT_EQ(json, nlohmann::json::parse(R"({
    "connections_total": 3,
    "connections_open": 1,
    "errors_total": {"NOT_IN_ROOM": 1, "PARSE_ERROR": 2},
    "empty_total": {},
    "pairs": [{"labels": {"a": "1", "b": "2"}, "value": 9}]
  })"));
}

TEST(Metrics, RegistrationErrorsAreProgrammingErrors) {
  MetricsRegistry registry("wstool_serve");
  registry.counter("a_total", "a");
  EXPECT_THROW(registry.counter("a_total", "again"), std::invalid_argument);
  EXPECT_THROW(registry.gauge("a_total", "again as a gauge"), std::invalid_argument);
  EXPECT_THROW(registry.counter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("f_total", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("g_total", "x", {"1abc"}), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("h_total", "x", {}), std::invalid_argument);
  EXPECT_THROW(MetricsRegistry("bad prefix"), std::invalid_argument);
  EXPECT_TRUE(is_metric_name("a:b_c1"));
  EXPECT_FALSE(is_metric_name("1a"));
  EXPECT_TRUE(is_label_name("code"));
  EXPECT_FALSE(is_label_name("a:b"));
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry("x");
  Counter& counter = registry.counter("n_total", "n");
  CounterFamily& family = registry.counter_family("by_total", "b", {"k"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = family.with({std::to_string(t % 2)});
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        mine.inc();
      }
      (void)registry.render_prometheus();  // rendering while others update is safe
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), static_cast<std::uint64_t>(kThreads) * kPerThread);
  const auto samples = check_exposition(registry.render_prometheus());
  EXPECT_EQ(samples.at("x_by_total{k=0,}"), std::to_string(2 * kPerThread));
}

}  // namespace
}  // namespace wstool
