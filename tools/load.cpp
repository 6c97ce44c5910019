// wstool load: many WebSocket connections driven at a known rate, round-trip latency measured
// honestly (from the intended send time in open loop), results for people, for JSON and for CI.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/fd_limit.h"
#include "lib/json_limits.h"
#include "lib/latency_histogram.h"
#include "lib/load_report.h"
#include "lib/load_template.h"
#include "lib/redact.h"
#include "lib/units.h"
#include "lib/versions.h"
#include "lib/ws_url.h"
#include "tools/common_options.h"
#include "tools/shutdown_signals.h"
#include "tools/stderr_log.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr char kProgram[] = "wsload";
constexpr std::chrono::seconds kDefaultDuration{10};
constexpr std::uint64_t kDefaultSize = 32;
// More results documents than one --merge takes would be a mistake in a script (a glob gone wild).
constexpr int kMaxMergedDocuments = 10000;
// After sending stops, replies still on their way are awaited this long, then counted unanswered.
constexpr milliseconds kDrainTimeout{2000};
// Connections get this long to finish their closing handshake at the end of a run.
constexpr milliseconds kCloseGrace{1500};
// Schedules (open-loop sends, the connect ramp) advance in ticks no finer than this: a tick
// sends everything due, so a high rate costs no timer per message.
constexpr nanoseconds kScheduleTick = std::chrono::milliseconds(1);
// `--mode send` without --rate keeps each connection's unsent output below this, and sends at most
// this much per connection per tick.
constexpr std::size_t kSendWindowBytes = 64 * 1024;
// Connections opened "all at once" are opened this many per turn of the event loop.
constexpr std::size_t kConnectBurst = 64;
// A script step's expect waits this long unless it says otherwise.
constexpr milliseconds kDefaultExpectTimeout{5000};
// Non-terminal stderr gets a progress line this often (a terminal's line is refreshed each second).
constexpr std::uint64_t kPlainProgressEverySeconds = 5;
// The main thread wakes at least this often (signals, progress).
constexpr milliseconds kCollectorWait{250};
constexpr std::size_t kBinaryIdBytes = 8;
constexpr std::size_t kMaxScriptBytes = 1 << 20;
// The id is (connection index << kSeqBits) | sequence number.
constexpr unsigned kSeqBits = 40;
// Schedules count in nanoseconds: a rate above one per nanosecond would make the interval 0 and
// the send tick would never catch up with the clock.
constexpr double kMaxRatePerSecond = 1e9;
// Each connection keeps a slot per message in flight; a bound keeps that memory modest.
constexpr std::uint64_t kMaxInFlight = 65536;
// A message, and so its echo, is at most what the tool accepts back (the engine's default limit).
constexpr std::uint64_t kMaxPayloadBytes = ws::kDefaultMaxMessageBytes;
// A thread's message quota when the run has none (--duration only).
constexpr std::uint64_t kNoQuota = std::numeric_limits<std::uint64_t>::max();

// A binary id's bytes, least significant first, stored and loaded as one word: a loop of char
// stores into the message may alias the string itself, so the compiler reloads it every byte.
void store_binary_id(char* to, std::uint64_t id) {
  std::uint8_t bytes[kBinaryIdBytes];
  for (std::size_t b = 0; b < kBinaryIdBytes; ++b) bytes[b] = static_cast<std::uint8_t>(id >> (8 * b));
  std::memcpy(to, bytes, sizeof bytes);
}
std::uint64_t load_binary_id(const char* from) {
  std::uint8_t bytes[kBinaryIdBytes];
  std::memcpy(bytes, from, sizeof bytes);
  std::uint64_t id = 0;
  for (std::size_t b = 0; b < kBinaryIdBytes; ++b) id |= static_cast<std::uint64_t>(bytes[b]) << (8 * b);
  return id;
}

enum class Mode { kEcho, kSend, kSubscribe, kScript };

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kEcho: return "echo";
    case Mode::kSend: return "send";
    case Mode::kSubscribe: return "subscribe";
    case Mode::kScript: return "script";
  }
  return "echo";
}

struct LoadOptions {
  std::string url;
  // A second argument: the scenario of `--mode script FILE` (the same as --script FILE).
  std::string scenario;
  std::uint64_t connections = 1;
  double connect_rate = 0;
  nanoseconds duration{0};
  std::uint64_t messages = 0;
  unsigned threads = 0;
  std::uint64_t seed = 1;
  std::uint64_t in_flight = 1;
  double rate = 0;
  std::string mode = "echo";
  std::string script;
  std::uint64_t publishers = 1;
  std::string message;
  std::string message_file;
  std::uint64_t size = kDefaultSize;
  bool binary = false;
  std::string correlate;
  std::vector<std::string> on_open;
  bool json = false;
  std::string output;
  std::string html;
  std::vector<std::string> thresholds;
  std::vector<std::string> merge;
  ClientOptions client;
  bool quiet = false;
};

// Nanoseconds since the epoch: what {{time_ns}} holds, comparable between this process's threads.
std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(
      duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// --- script mode ---------------------------------------------------------------------------------

struct ScriptStep {
  enum class Kind { kSend, kExpect, kWait, kClose };
  Kind kind = Kind::kSend;
  LoadTemplate payload;  // send
  std::string expect;       // expect: a substring of a received message ({{conn}} replaced)
  milliseconds timeout = kDefaultExpectTimeout;
  milliseconds wait{0};
};

struct Script {
  std::vector<ScriptStep> setup;  // once per connection
  std::vector<ScriptStep> steps;  // repeated while the run lasts
  bool steps_wait = false;        // the repeated steps include an expect, wait or close
};

bool parse_steps(const nlohmann::json& list, const std::string& where, std::vector<ScriptStep>& out,
                 std::string& error) {
  if (!list.is_array()) {
    error = where + ": expected an array of steps";
    return false;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& item = list[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      error = at + ": expected an object";
      return false;
    }
    // Exactly one kind per step, and only that kind's fields: a misspelt field ("timout") would
    // otherwise be ignored and the run would silently do something else.
    static const std::map<std::string, std::vector<std::string>> kStepFields = {
        {"send", {"send"}}, {"expect", {"expect", "timeout"}}, {"wait", {"wait"}}, {"close", {"close"}}};
    std::string kind;
    for (const auto& [name, fields] : kStepFields) {
      if (!item.contains(name)) continue;
      if (!kind.empty()) {
        error = at + ": one of send, expect, wait, close per step, not both " + kind + " and " + name;
        return false;
      }
      kind = name;
    }
    if (!kind.empty()) {
      const std::vector<std::string>& allowed = kStepFields.at(kind);
      for (const auto& field : item.items()) {
        if (std::find(allowed.begin(), allowed.end(), field.key()) == allowed.end()) {
          std::string takes;
          for (const std::string& name : allowed) takes += (takes.empty() ? "" : ", ") + name;
          error = at + ": unknown field '" + field.key() + "' (a " + kind + " step takes " + takes + ")";
          return false;
        }
      }
    }
    ScriptStep step;
    auto duration_field = [&](const char* name, milliseconds& target) {
      const auto found = item.find(name);
      if (found == item.end()) return true;
      nanoseconds value{0};
      std::string why;
      if (!found->is_string() || !parse_duration(found->get<std::string>(), value, why)) {
        error = at + "." + name + ": expected a duration such as \"250ms\"" + (why.empty() ? "" : ": " + why);
        return false;
      }
      target = duration_cast<milliseconds>(value);
      return true;
    };
    if (item.contains("send")) {
      step.kind = ScriptStep::Kind::kSend;
      if (!item["send"].is_string()) {
        error = at + ".send: expected a string";
        return false;
      }
      if (!step.payload.parse(item["send"].get<std::string>(), error)) {
        error = at + ".send: " + error;
        return false;
      }
    } else if (item.contains("expect")) {
      step.kind = ScriptStep::Kind::kExpect;
      if (!item["expect"].is_string()) {
        error = at + ".expect: expected a string";
        return false;
      }
      step.expect = item["expect"].get<std::string>();
      if (!duration_field("timeout", step.timeout)) return false;
    } else if (item.contains("wait")) {
      step.kind = ScriptStep::Kind::kWait;
      if (!duration_field("wait", step.wait)) return false;
    } else if (item.contains("close")) {
      step.kind = ScriptStep::Kind::kClose;
    } else {
      error = at + ": expected one of send, expect, wait, close";
      return false;
    }
    out.push_back(std::move(step));
  }
  return true;
}

bool load_script(const std::string& path, Script& script, Error& failure) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    failure = Error(Errc::kMissingInput, path + ": cannot read the script");
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > kMaxScriptBytes) {
    failure = Error(Errc::kBadData, path + ": the script is larger than 1 MiB");
    return false;
  }
  nlohmann::json doc;
  if (std::optional<JsonError> bad = parse_untrusted_json(text, doc)) {
    failure = Error(Errc::kBadData, path + ": " + bad->message);
    return false;
  }
  std::string error;
  if (!doc.is_object()) error = "expected an object with \"setup\" and/or \"steps\"";
  if (error.empty()) {
    for (const auto& field : doc.items()) {
      if (field.key() != "setup" && field.key() != "steps") {
        error = "unknown field '" + field.key() + "' (a script has \"setup\" and \"steps\")";
        break;
      }
    }
  }
  if (error.empty() && doc.contains("setup")) parse_steps(doc["setup"], "setup", script.setup, error);
  if (error.empty() && doc.contains("steps")) parse_steps(doc["steps"], "steps", script.steps, error);
  if (error.empty() && script.setup.empty() && script.steps.empty()) error = "the script has no steps";
  for (const ScriptStep& step : script.steps) script.steps_wait = script.steps_wait || step.kind != ScriptStep::Kind::kSend;
  if (!error.empty()) {
    failure = Error(Errc::kBadData, path + ": " + error);
    return false;
  }
  return true;
}

// --- the plan every thread runs from (read-only once the threads start) -------------------------

struct Plan {
  Mode mode = Mode::kEcho;
  ws::ClientConfig client;
  // The same, shared by every connection (made once the plan is complete).
  std::shared_ptr<const ws::ClientConfig> shared_client;
  std::uint64_t connections = 1;
  unsigned threads = 1;
  double connect_rate = 0;   // total per second; 0: all at once
  double rate = 0;           // total per second; 0: closed loop
  std::uint64_t in_flight = 1;
  std::uint64_t messages = 0;  // total; 0: until the duration ends
  bool has_end = false;
  Clock::time_point start;
  Clock::time_point end;
  std::uint64_t publishers = 0;
  std::uint64_t seed = 1;
  std::uint8_t opcode = ws::opcode::kText;
  bool binary_ids = false;   // --binary without --message: the id is the first 8 bytes
  std::size_t binary_size = 0;
  LoadTemplate payload;
  std::vector<LoadTemplate> on_open;
  std::string correlate;     // a JSON pointer, or ""
  nlohmann::json::json_pointer correlate_pointer;
  Script script;
  // Connections opened or given up, over every thread: subscribe publishers wait for all.
  std::atomic<std::uint64_t> settled{0};
};

// --- what threads hand the main thread once a second ---------------------------------------------

struct SecondPartial {
  std::uint64_t index = 0;   // second number since the start
  bool last = false;         // the thread's final (possibly partial) second
  double elapsed_s = 0;      // for the last one: when it ended
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t errors = 0;
  std::uint64_t open = 0;
  std::unique_ptr<LatencyHistogram> latency;
};

class Collector {
 public:
  explicit Collector(unsigned threads) : covered_(threads, 0), finished_(threads, false) {}

  void publish(unsigned thread, SecondPartial partial) {
    std::lock_guard<std::mutex> lock(mutex_);
    Aggregate& agg = seconds_[partial.index];
    if (!agg.latency) agg.latency = std::make_unique<LatencyHistogram>();
    agg.sent += partial.sent;
    agg.received += partial.received;
    agg.errors += partial.errors;
    agg.open += partial.open;
    if (partial.latency) agg.latency->merge(*partial.latency);
    if (partial.last) agg.end_s = std::max(agg.end_s, partial.elapsed_s);
    covered_[thread] = partial.index + 1;
    if (partial.last) finished_[thread] = true;
    changed_.notify_all();
  }

  // Progress shows the run so far: the latency of every second taken so far, and its errors.
  struct SoFar {
    std::uint64_t p50_ns = 0, p99_ns = 0, errors = 0;
  };
  // Main thread: the seconds every thread has reported (in order), waiting up to `timeout`; with
  // each, the run so far up to it.
  std::vector<std::pair<LoadSecond, SoFar>> take_ready(milliseconds timeout, bool& all_finished) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout);
    std::vector<std::pair<LoadSecond, SoFar>> ready;
    for (;;) {
      auto first = seconds_.begin();
      if (first == seconds_.end()) break;
      const std::uint64_t index = first->first;
      bool complete = true;
      for (std::size_t t = 0; t < covered_.size(); ++t) {
        if (!finished_[t] && covered_[t] <= index) complete = false;
      }
      if (!complete) break;
      const Aggregate& agg = first->second;
      LoadSecond second;
      second.elapsed_s = agg.end_s > 0 ? std::min(agg.end_s, static_cast<double>(index + 1))
                                       : static_cast<double>(index + 1);
      second.connections_open = agg.open;
      second.sent = agg.sent;
      second.received = agg.received;
      second.errors = agg.errors;
      second.p50_ns = agg.latency->value_at_percentile(50);
      second.p99_ns = agg.latency->value_at_percentile(99);
      second.max_ns = agg.latency->max();
      so_far_latency_.merge(*agg.latency);
      so_far_errors_ += agg.errors;
      ready.emplace_back(second, SoFar{so_far_latency_.value_at_percentile(50),
                                       so_far_latency_.value_at_percentile(99), so_far_errors_});
      seconds_.erase(first);
    }
    all_finished = std::all_of(finished_.begin(), finished_.end(), [](bool f) { return f; }) && seconds_.empty();
    return ready;
  }

 private:
  struct Aggregate {
    std::uint64_t sent = 0, received = 0, errors = 0, open = 0;
    double end_s = 0;
    std::unique_ptr<LatencyHistogram> latency;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, Aggregate> seconds_;
  LatencyHistogram so_far_latency_;
  std::uint64_t so_far_errors_ = 0;
  std::vector<std::uint64_t> covered_;
  std::vector<bool> finished_;
};

// --- one thread: a ClientLoop and the connections it drives --------------------------------------

constexpr std::size_t kNotListed = std::numeric_limits<std::size_t>::max();

// A message in flight: when it should have gone (open loop) and when it went.
struct Pending {
  std::int64_t intended_ns = 0;
  std::int64_t sent_ns = 0;
  bool waiting = false;
};

class LoadThread;

// One connection's state; also its handler, forwarding to its thread with itself in hand.
struct ConnState final : ws::ConnectionHandler {
  LoadThread* owner = nullptr;
  ws::Connection* conn = nullptr;
  std::uint64_t index = 0;     // over the whole run
  bool publisher = false;
  bool open = false;
  bool got_first = false;
  bool closing_by_us = false;
  Clock::time_point connect_started;
  Clock::time_point opened_at;
  std::uint64_t seq = 0;       // the next message's sequence number
  std::uint64_t base = 0;      // the oldest sequence number that may still be waiting
  std::uint64_t waiting = 0;
  std::vector<Pending> ring;   // indexed by seq & (size - 1); grows by doubling, never shrinks
  // Script mode.
  bool in_setup = true;
  std::size_t step = 0;
  bool expecting = false;
  bool in_wait = false;
  std::string expect_text;
  Clock::time_point last_send;
  bool sent_since_expect = false;
  // Where it sits in its thread's open and sender lists (kNotListed: not there).
  std::size_t open_at = kNotListed;
  std::size_t sender_at = kNotListed;

  void on_open(ws::Connection& c) override;
  void on_message(ws::Connection& c, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override;
  void on_close(ws::Connection& c, const ws::CloseEvent& event) override;
  void on_timer(ws::Connection& c) override;
};

std::int64_t since(Clock::time_point start, Clock::time_point t) {
  return duration_cast<nanoseconds>(t - start).count();
}

class LoadThread {
 public:
  LoadThread(Plan& plan, unsigned index, std::uint64_t first_conn, std::uint64_t conn_count,
             std::uint64_t quota, double rate, Collector& collector, Logger& log)
      : plan_(plan),
        index_(index),
        quota_(quota),
        rate_(rate),
        collector_(collector),
        loop_(log),
        rng_(plan.seed * 0x9E3779B97F4A7C15ULL + index),
        second_latency_(std::make_unique<LatencyHistogram>()) {
    conns_.resize(static_cast<std::size_t>(conn_count));
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].owner = this;
      conns_[i].index = first_conn + i;
      conns_[i].publisher = plan.mode == Mode::kSubscribe && conns_[i].index < plan.publishers;
    }
    open_list_.reserve(conns_.size());
    senders_.reserve(conns_.size());
    scratch_.reserve(256);
  }

  void run() {
    loop_.call_at(plan_.start, [this] { begin(); });
    loop_.run();
  }

  // Thread-safe: SIGINT.
  void interrupt() {
    loop_.post([this] {
      interrupted_ = true;
      finish();
    });
  }

  // --binary without --message: what follows the id (the same random bytes every message).
  std::string binary_padding_;

  // Read after the thread has ended.
  LatencyHistogram latency, service, connect, first_message;
  LoadCounts counts;
  std::map<std::string, std::uint64_t> errors;
  Error first_failure;       // the first connection that never opened
  Error first_drop;          // the first connection lost mid-run
  std::uint64_t given_up = 0;  // still connecting when the run ended (in no count)
  std::uint64_t deflate_declined = 0;  // --compress: opened without permessage-deflate
  Clock::time_point ended_at;

 private:
  // --- scheduling ---
  void begin() {
    now_ = Clock::now();
    schedule_second(1);
    if (plan_.has_end) loop_.call_at(plan_.end, [this] { begin_drain(); });
    if (plan_.connect_rate > 0 && !conns_.empty()) {
      const double per_thread = plan_.connect_rate / plan_.threads;
      connect_interval_ = nanoseconds(static_cast<std::int64_t>(1e9 / std::max(per_thread, 1e-9)));
      next_connect_at_ = plan_.start;
      connect_tick();
    } else {
      open_burst();
    }
    if (open_loop()) {
      send_interval_ = nanoseconds(static_cast<std::int64_t>(1e9 / rate_));
      // Threads start a fraction of an interval apart, so their sends interleave.
      next_send_at_ = plan_.start + send_interval_ * index_ / plan_.threads;
      loop_.call_at(next_send_at_, [this] { send_tick(); });
    } else if (plan_.mode == Mode::kSend) {
      loop_.call_at(plan_.start, [this] { fill_tick(); });
    }
    if (conns_.empty()) finish();
  }

  bool open_loop() const {
    return rate_ > 0 && (plan_.mode == Mode::kEcho || plan_.mode == Mode::kSend || plan_.mode == Mode::kSubscribe);
  }

  void schedule_second(std::uint64_t n) {
    loop_.call_at(plan_.start + std::chrono::seconds(n), [this, n] {
      if (finished_) return;  // the last second went out with finish()
      publish_second(n - 1, false);
      schedule_second(n + 1);
    });
  }

  void publish_second(std::uint64_t index, bool last) {
    SecondPartial partial;
    partial.index = index;
    partial.last = last;
    partial.elapsed_s = std::chrono::duration<double>(Clock::now() - plan_.start).count();
    partial.sent = second_.sent;
    partial.received = second_.received;
    partial.errors = second_.errors;
    partial.open = open_list_.size();
    // The run's latency is the sum of its seconds': recorded once per reply, merged once a second.
    latency.merge(*second_latency_);
    partial.latency = std::move(second_latency_);
    second_latency_ = std::make_unique<LatencyHistogram>();
    second_ = {};
    second_index_ = index + 1;
    collector_.publish(index_, std::move(partial));
  }

  void connect_tick() {
    if (finished_) return;
    now_ = Clock::now();
    while (next_to_connect_ < conns_.size() && next_connect_at_ <= now_) {
      open_one(next_to_connect_);
      next_connect_at_ += connect_interval_;
    }
    if (next_to_connect_ < conns_.size()) {
      loop_.call_at(std::max(next_connect_at_, now_ + kScheduleTick), [this] { connect_tick(); });
    }
  }

  // "All at once": in bursts, each after the I/O already waiting, so the first connections'
  // handshakes go on while the rest are still being opened.
  void open_burst() {
    if (finished_) return;
    const std::size_t end = std::min(conns_.size(), next_to_connect_ + kConnectBurst);
    for (std::size_t i = next_to_connect_; i < end; ++i) open_one(i);
    if (next_to_connect_ < conns_.size()) loop_.post([this] { open_burst(); });
  }

  void open_one(std::size_t i) {
    next_to_connect_ = std::max(next_to_connect_, i + 1);
    ConnState& state = conns_[i];
    state.connect_started = Clock::now();
    ++counts.connections_attempted;
    loop_.connect(plan_.shared_client, state, [this, i](const ws::ClientResult& result) { on_done(i, result); });
  }

  bool may_send() const { return !draining_ && counts.messages_sent < quota_; }
  bool past_end(Clock::time_point t) const { return plan_.has_end && t >= plan_.end; }

  // Open loop: everything due by now goes out, each with the time it should have gone.
  void send_tick() {
    if (finished_ || draining_) return;
    now_ = Clock::now();
    if (plan_.mode == Mode::kSubscribe && plan_.settled.load(std::memory_order_relaxed) < plan_.connections) {
      // Publishing starts once every connection is up, or subscribers would miss messages.
      next_send_at_ = now_ + kScheduleTick;
      loop_.call_at(next_send_at_, [this] { send_tick(); });
      return;
    }
    // Only what was due before the end goes out, also when this tick runs late (a busy host):
    // a late tick past the end would otherwise send everything due until now.
    while (next_send_at_ <= now_ && may_send() && !past_end(next_send_at_)) {
      ConnState* target = next_sender();
      if (target != nullptr) send_message(*target, next_send_at_);
      next_send_at_ += send_interval_;
    }
    if (!may_send()) {
      // Subscribers (here and on other threads) go on receiving until the run's end.
      if (plan_.mode != Mode::kSubscribe) begin_drain();
      return;
    }
    if (past_end(next_send_at_)) return;  // the call at plan_.end drains (or ends) the run
    loop_.call_at(std::max(next_send_at_, now_ + kScheduleTick), [this] { send_tick(); });
  }

  // Round robin over the open connections that send (publishers in subscribe mode).
  ConnState* next_sender() {
    if (senders_.empty()) return nullptr;
    return senders_[round_robin_++ % senders_.size()];
  }

  // `--mode send` in closed loop: keep every connection's output queue topped up.
  void fill_tick() {
    if (finished_ || draining_) return;
    now_ = Clock::now();
    // Nothing goes out after the end, also when this tick runs late: the call at plan_.end ends
    // the run.
    if (past_end(now_)) return;
    // By index: a send can end its connection, which leaves the list (the last one moves into
    // its place and waits for the next tick).
    // At most a window per connection per tick, counted as sent: a socket that takes everything
    // at once would otherwise keep the queue empty and this loop going forever.
    for (std::size_t k = 0; k < open_list_.size(); ++k) {
      ConnState& state = *open_list_[k];
      const std::uint64_t start_bytes = counts.bytes_sent;
      while (may_send() && state.conn != nullptr && counts.bytes_sent - start_bytes < kSendWindowBytes &&
             state.conn->queued_bytes() < kSendWindowBytes) {
        send_message(state, now_);
      }
    }
    if (!may_send()) {
      begin_drain();
      return;
    }
    loop_.call_at(now_ + kScheduleTick, [this] { fill_tick(); });
  }

  // --- sending and matching ---
  Pending& slot(ConnState& state, std::uint64_t seq) {
    return state.ring[static_cast<std::size_t>(seq) & (state.ring.size() - 1)];
  }

  void reserve_slot(ConnState& state) {
    if (state.ring.empty()) state.ring.resize(std::max<std::size_t>(4, next_pow2(plan_.in_flight)));
    if (state.seq - state.base < state.ring.size()) return;
    // More in flight than the ring holds (open loop against a slow server): double it.
    std::vector<Pending> bigger(state.ring.size() * 2);
    for (std::uint64_t s = state.base; s < state.seq; ++s) {
      bigger[static_cast<std::size_t>(s) & (bigger.size() - 1)] = slot(state, s);
    }
    state.ring.swap(bigger);
  }

  static std::size_t next_pow2(std::uint64_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }

  // `sent_at`: when the caller already read the clock at this moment (a closed-loop reply that
  // frees the slot: the reply's time is the next message's intended and send time alike).
  void send_message(ConnState& state, Clock::time_point intended,
                    std::optional<Clock::time_point> sent_at = std::nullopt) {
    if (state.conn == nullptr) return;  // ended by an earlier send (its queue overflowed, say)
    const std::uint64_t seq = state.seq;
    const std::uint64_t id = (state.index << kSeqBits) | (seq & ((std::uint64_t{1} << kSeqBits) - 1));
    // The message is built once; later ones only get their id rewritten (no copy of the rest).
    std::string& message = message_;
    if (plan_.binary_ids) {
      if (message.empty()) message.assign(kBinaryIdBytes, '\0').append(binary_padding_);
      store_binary_id(message.data(), id);
    } else if (plan_.payload.id_only() && !message.empty()) {
      plan_.payload.set_id(message, id);
    } else {
      plan_.payload.render(message, {id, state.index, seq, plan_.payload.has_time() ? wall_ns() : 0}, rng_);
    }
    Clock::time_point sent{};
    if (plan_.mode == Mode::kEcho) sent = sent_at ? *sent_at : Clock::now();
    if (!state.conn->send(plan_.opcode, reinterpret_cast<const std::uint8_t*>(message.data()), message.size())) {
      return;
    }
    ++counts.messages_sent;
    ++second_.sent;
    counts.bytes_sent += message.size();
    if (plan_.mode != Mode::kEcho) {
      ++state.seq;
      state.base = state.seq;
      return;
    }
    reserve_slot(state);
    Pending& p = slot(state, seq);
    p.intended_ns = since(plan_.start, intended);
    p.sent_ns = since(plan_.start, sent);
    p.waiting = true;
    ++state.seq;
    ++state.waiting;
    ++waiting_;
  }

  // The sequence number a reply carries, or false.
  bool reply_seq(ConnState& state, std::uint8_t opcode, std::string_view text, std::uint64_t& seq) {
    std::uint64_t id = 0;
    if (plan_.binary_ids) {
      if (opcode != ws::opcode::kBinary || text.size() < kBinaryIdBytes) return false;
      id = load_binary_id(text.data());
    } else if (!plan_.payload.has_id()) {
      // No id in the message: replies are taken to come back in order.
      if (state.waiting == 0) return false;
      seq = state.base;
      while (!slot(state, seq).waiting) ++seq;
      return true;
    } else if (!find_correlation_id(correlated(text), id)) {
      return false;
    }
    if ((id >> kSeqBits) != state.index) return false;
    seq = id & ((std::uint64_t{1} << kSeqBits) - 1);
    return true;
  }

  // With --correlate, the part of a JSON reply that holds the id or timestamp; else the reply.
  std::string_view correlated(std::string_view text) {
    if (plan_.correlate.empty()) return text;
    correlated_.clear();
    nlohmann::json doc;
    if (parse_untrusted_json(text, doc)) return {};
    try {
      const nlohmann::json& value = doc.at(plan_.correlate_pointer);
      correlated_ = value.is_string() ? value.get<std::string>() : value.dump();
    } catch (const nlohmann::json::exception&) {
      return {};
    }
    return correlated_;
  }

  // `now`: when the read that delivered it completed (the engine reads the clock once per read;
  // the replies one read delivers arrived together).
  void handle_message(ConnState& state, Clock::time_point now, std::uint8_t opcode, const std::uint8_t* data,
                      std::size_t size) {
    ++counts.messages_received;
    ++second_.received;
    counts.bytes_received += size;
    if (!state.got_first) {
      state.got_first = true;
      first_message.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, since(state.opened_at, now))));
    }
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    switch (plan_.mode) {
      case Mode::kEcho: on_echo_reply(state, opcode, text, now); break;
      case Mode::kSubscribe: on_delivery(text); break;
      case Mode::kScript: on_script_message(state, text, now); break;
      case Mode::kSend: break;
    }
  }

  void on_echo_reply(ConnState& state, std::uint8_t opcode, std::string_view text, Clock::time_point now) {
    // A reply after the end was counted unanswered then (and its connection's waiting count
    // cleared): it must not count again, nor into latency.
    if (finished_) return;
    std::uint64_t seq = 0;
    if (!reply_seq(state, opcode, text, seq)) return;
    if (seq < state.base || seq >= state.seq) return;
    Pending& p = slot(state, seq);
    if (!p.waiting) return;
    p.waiting = false;
    const std::int64_t at = since(plan_.start, now);
    second_latency_->record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, at - p.intended_ns)));
    service.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, at - p.sent_ns)));
    ++counts.messages_answered;
    --state.waiting;
    --waiting_;
    while (state.base < state.seq && !slot(state, state.base).waiting) ++state.base;
    if (draining_) {
      if (waiting_ == 0) finish();
      return;
    }
    // Closed loop: an answer frees a slot for the next message.
    if (!open_loop()) {
      if (may_send()) {
        send_message(state, now, now);
      } else if (waiting_ == 0) {
        begin_drain();
      }
    }
  }

  void on_delivery(std::string_view text) {
    std::uint64_t sent_ns = 0;
    if (!find_timestamp_ns(correlated(text), sent_ns)) return;
    const std::uint64_t now_ns = wall_ns();
    const std::uint64_t took = now_ns > sent_ns ? now_ns - sent_ns : 0;
    service.record(took);
    second_latency_->record(took);
  }

  // --- script mode ---
  const std::vector<ScriptStep>& steps(const ConnState& state) const {
    return state.in_setup ? plan_.script.setup : plan_.script.steps;
  }

  void run_script(ConnState& state) {
    while (!finished_ && state.open && !state.closing_by_us) {
      const std::vector<ScriptStep>& list = steps(state);
      if (state.step >= list.size()) {
        if (state.in_setup) {
          state.in_setup = false;
          state.step = 0;
          continue;
        }
        if (list.empty() || !may_send()) {
          if (!may_send() && !draining_ && waiting_ == 0) begin_drain();
          return;
        }
        state.step = 0;
        if (!plan_.script.steps_wait && state.conn->queued_bytes() >= kSendWindowBytes) {
          // Steps that never wait would fill the send queue in one go: go on at the next tick.
          loop_.call_at(Clock::now() + kScheduleTick, [this, &state] { run_script(state); });
          return;
        }
      }
      const ScriptStep& step = list[state.step];
      switch (step.kind) {
        case ScriptStep::Kind::kSend: {
          if (!state.in_setup && !may_send()) {
            state.step = list.size();
            continue;
          }
          const std::uint64_t id = (state.index << kSeqBits) | state.seq;
          step.payload.render(scratch_, {id, state.index, state.seq, step.payload.has_time() ? wall_ns() : 0}, rng_);
          if (!state.conn->send(plan_.opcode, reinterpret_cast<const std::uint8_t*>(scratch_.data()), scratch_.size())) {
            return;
          }
          ++state.seq;
          ++counts.messages_sent;
          ++second_.sent;
          counts.bytes_sent += scratch_.size();
          state.last_send = Clock::now();
          state.sent_since_expect = true;
          ++state.step;
          break;
        }
        case ScriptStep::Kind::kExpect: {
          state.expecting = true;
          state.expect_text = step.expect;
          const std::string conn_field = "{{conn}}";
          for (std::size_t at = state.expect_text.find(conn_field); at != std::string::npos;
               at = state.expect_text.find(conn_field, at)) {
            state.expect_text.replace(at, conn_field.size(), std::to_string(state.index));
          }
          ++state.waiting;
          ++waiting_;
          state.conn->set_timer(step.timeout);
          return;
        }
        case ScriptStep::Kind::kWait:
          state.in_wait = true;
          state.conn->set_timer(step.wait);
          return;
        case ScriptStep::Kind::kClose:
          state.closing_by_us = true;
          state.conn->close(ws::close_code::kNormal, "script done");
          return;
      }
    }
  }

  void on_script_message(ConnState& state, std::string_view text, Clock::time_point now) {
    if (!state.expecting || text.find(state.expect_text) == std::string_view::npos) return;
    state.expecting = false;
    state.conn->set_timer(milliseconds(-1));
    --state.waiting;
    --waiting_;
    // An expect that follows a send ends that message's round trip; one that follows none (the
    // server's greeting, say) only waits.
    if (state.sent_since_expect) {
      state.sent_since_expect = false;
      const auto took = static_cast<std::uint64_t>(std::max<std::int64_t>(0, since(state.last_send, now)));
      service.record(took);
      second_latency_->record(took);
      ++counts.messages_answered;
    }
    ++state.step;
    if (draining_) {
      if (waiting_ == 0) finish();
      return;
    }
    run_script(state);
  }

  void handle_timer(ConnState& state) {
    ws::Connection& conn = *state.conn;
    if (state.in_wait) {
      state.in_wait = false;
      ++state.step;
      run_script(state);
      return;
    }
    if (state.expecting) {
      // The expected message never came: counted unanswered, and the connection ends (a script
      // cannot go on from a step that did not happen).
      state.expecting = false;
      --state.waiting;
      --waiting_;
      if (state.sent_since_expect) ++counts.messages_unanswered;
      ++errors["unanswered"];
      ++second_.errors;
      state.closing_by_us = true;
      conn.close(ws::close_code::kNormal, "expected message did not arrive");
      if (draining_ && waiting_ == 0) finish();
    }
  }

  // --- connection lifecycle ---

  void on_done(std::size_t i, const ws::ClientResult& result) {
    ConnState& state = conns_[i];
    if (!result.opened && finished_) {
      // Still connecting when the run ended: given up, not failed.
      --counts.connections_attempted;
      ++given_up;
      ++done_;
      return;
    }
    if (!result.opened) {
      plan_.settled.fetch_add(1, std::memory_order_relaxed);
      ++counts.connections_failed;
      ++second_.errors;
      ++errors[failure_class(result)];
      if (!first_failure) first_failure = result.error ? result.error : Error(Errc::kConnectionLost, "connection failed");
    } else {
      const bool ours = state.closing_by_us || finished_;
      if (!ours) {
        ++counts.connections_dropped;
        ++second_.errors;
        ++errors[close_class(result.close)];
        if (!first_drop) {
          first_drop = Error(result.close.we_failed ? Errc::kProtocolViolation : Errc::kConnectionLost,
                             describe(result.close));
        }
      }
      if (state.waiting > 0) {
        counts.messages_unanswered += state.waiting;
        if (!finished_) errors["unanswered"] += state.waiting;
        waiting_ -= state.waiting;
        state.waiting = 0;
      }
    }
    ++done_;
    if (finished_) return;
    if (done_ == conns_.size()) {
      finish();
    } else if (draining_ && waiting_ == 0) {
      finish();
    }
  }

  static std::string failure_class(const ws::ClientResult& result) {
    switch (result.error.code) {
      case Errc::kConnectionRefused: return "refused";
      case Errc::kUnknownHost: return "dns";
      case Errc::kTlsFailure: return "tls";
      case Errc::kTimeout: return "timeout";
      case Errc::kHandshakeRejected:
        return result.response.status > 0 ? "handshake_status_" + std::to_string(result.response.status)
                                           : "handshake";
      case Errc::kProtocolViolation: return "protocol";
      case Errc::kInterrupted: return "interrupted";
      default: return "connection_lost";
    }
  }

  static std::string close_class(const ws::CloseEvent& event) {
    if (event.we_failed) return "protocol";
    if (event.code == ws::close_code::kAbnormal) return "connection_lost";
    return "close_" + std::to_string(event.code);
  }

  static std::string describe(const ws::CloseEvent& event) {
    if (event.code == ws::close_code::kAbnormal) {
      return event.error.empty() ? std::string("no close frame") : event.error;
    }
    return "close " + std::to_string(event.code) + (event.reason.empty() ? "" : " \"" + event.reason + "\"");
  }

  // --- ending ---
  void begin_drain() {
    if (draining_ || finished_) return;
    draining_ = true;
    if (waiting_ == 0 || plan_.mode == Mode::kSend || plan_.mode == Mode::kSubscribe) {
      // Subscribers may still be receiving: give deliveries a moment only when publishing ran.
      if (plan_.mode == Mode::kSubscribe) {
        loop_.call_at(Clock::now() + kDrainTimeout / 4, [this] { finish(); });
        return;
      }
      finish();
      return;
    }
    loop_.call_at(Clock::now() + kDrainTimeout, [this] { finish(); });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    ended_at = Clock::now();
    counts.messages_unanswered += waiting_;
    if (waiting_ > 0 && !interrupted_) errors["unanswered"] += waiting_;
    for (ConnState& state : conns_) state.waiting = 0;
    waiting_ = 0;
    publish_second(second_index_, true);
    loop_.stop(ws::close_code::kNormal, kCloseGrace);
  }

  void handle_open(ConnState& state, ws::Connection& conn) {
    state.conn = &conn;
    state.open = true;
    state.opened_at = Clock::now();
    ++counts.connections_opened;
    if (plan_.client.deflate.enabled && conn.extensions().find("permessage-deflate") == std::string::npos) {
      ++deflate_declined;
    }
    connect.record(static_cast<std::uint64_t>(since(state.connect_started, state.opened_at)));
    plan_.settled.fetch_add(1, std::memory_order_relaxed);
    state.open_at = open_list_.size();
    open_list_.push_back(&state);
    if (plan_.mode != Mode::kSubscribe || state.publisher) {
      state.sender_at = senders_.size();
      senders_.push_back(&state);
    }
    for (const LoadTemplate& text : plan_.on_open) {
      text.render(scratch_, {0, state.index, 0, text.has_time() ? wall_ns() : 0}, rng_);
      conn.send(plan_.opcode == ws::opcode::kBinary ? ws::opcode::kText : plan_.opcode,
                reinterpret_cast<const std::uint8_t*>(scratch_.data()), scratch_.size());
    }
    if (finished_ || draining_) return;
    switch (plan_.mode) {
      case Mode::kEcho:
        if (!open_loop()) {
          for (std::uint64_t k = 0; k < plan_.in_flight && may_send(); ++k) send_message(state, state.opened_at);
        }
        break;
      case Mode::kScript:
        run_script(state);
        break;
      case Mode::kSend:
      case Mode::kSubscribe:
        break;
    }
  }

  void handle_close(ConnState& state) {
    state.open = false;
    state.conn = nullptr;
    // Order does not matter to round robin: the last takes its place, no search, no shifting
    // (10,000 connections closing at the end of a run would otherwise scan 10,000 each).
    unlist(open_list_, &ConnState::open_at, state);
    unlist(senders_, &ConnState::sender_at, state);
  }

  static void unlist(std::vector<ConnState*>& list, std::size_t ConnState::*at, ConnState& state) {
    const std::size_t position = state.*at;
    if (position == kNotListed) return;
    ConnState* last = list.back();
    list[position] = last;
    last->*at = position;
    list.pop_back();
    state.*at = kNotListed;
  }

  friend struct ConnState;  // its callbacks are this thread's handle_*

  Plan& plan_;
  unsigned index_;
  std::uint64_t quota_;
  double rate_;
  Collector& collector_;
  ws::ClientLoop loop_;
  LoadRng rng_;
  std::vector<ConnState> conns_;
  std::vector<ConnState*> open_list_;
  std::vector<ConnState*> senders_;  // the open ones that send (all but subscribers)
  std::size_t next_to_connect_ = 0;
  std::size_t round_robin_ = 0;
  std::size_t done_ = 0;
  std::uint64_t waiting_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  bool interrupted_ = false;
  Clock::time_point now_;
  Clock::time_point next_connect_at_;
  nanoseconds connect_interval_{0};
  Clock::time_point next_send_at_;
  nanoseconds send_interval_{0};
  std::string scratch_;
  std::string message_;  // send_message's, kept between messages
  std::string correlated_;

  struct SecondCounts {
    std::uint64_t sent = 0, received = 0, errors = 0;
  } second_;
  std::uint64_t second_index_ = 0;
  std::unique_ptr<LatencyHistogram> second_latency_;
};

void ConnState::on_open(ws::Connection& c) { owner->handle_open(*this, c); }
void ConnState::on_message(ws::Connection& c, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) {
  owner->handle_message(*this, c.event_time(), opcode, data, size);
}
void ConnState::on_close(ws::Connection& /*c*/, const ws::CloseEvent& /*event*/) { owner->handle_close(*this); }
void ConnState::on_timer(ws::Connection& /*c*/) { owner->handle_timer(*this); }

// --- the run, on the main thread --------------------------------------------------------------

// Diagnostics and progress for people, unchecked: a stderr whose reader went away (`2>&1 | head`)
// is no reason to lose the results (fmt::print would throw).
template <typename... Args>
void print_stderr(fmt::format_string<Args...> format, Args&&... args) {
  const std::string text = fmt::format(format, std::forward<Args>(args)...);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// Standard output carries the results. A reader that went away (`| head`: SIGPIPE is ignored,
// so the write fails with EPIPE) is no error, as for every wstool command; another failure (a
// full disk) is remembered and reported once the results document is safe. Never a throw: the
// -o file would be lost with it.
class ResultsOut {
 public:
  void write(std::string_view text) {
    if (failed_errno_ != 0 || reader_gone_) return;
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
      if (errno == EPIPE) {
        reader_gone_ = true;
      } else {
        failed_errno_ = errno;
      }
    }
  }
  // Exit 74 with a message when stdout failed other than by its reader leaving.
  ExitCode check() const;

 private:
  bool reader_gone_ = false;
  int failed_errno_ = 0;
};

ExitCode report_error(const Error& error) {
  print_stderr("{}: error: {}\n", kProgram, error.message);
  return exit_code_for(error.code);
}

ExitCode ResultsOut::check() const {
  if (failed_errno_ == 0) return ExitCode::kOk;
  return report_error(Error(Errc::kIoError, std::string("standard output: ") + std::strerror(failed_errno_)));
}

std::string rfc3339_now() {
  const std::time_t t = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::json config_json(const LoadOptions& o, const Plan& plan) {
  nlohmann::json c = nlohmann::json::object();
  c["url"] = redact_url(o.url);
  c["mode"] = mode_name(plan.mode);
  c["connections"] = o.connections;
  c["threads"] = plan.threads;
  if (o.connect_rate > 0) c["connect_rate"] = format_rate(o.connect_rate);
  if (o.rate > 0) c["rate"] = format_rate(o.rate);
  else c["in_flight"] = o.in_flight;
  if (plan.has_end) c["duration"] = format_duration(o.duration.count() > 0 ? o.duration : kDefaultDuration);
  if (o.messages > 0) c["messages"] = o.messages;
  if (plan.mode == Mode::kSubscribe) c["publishers"] = plan.publishers;
  if (!o.script.empty()) c["script"] = o.script;
  if (!o.message.empty()) c["message"] = o.message;
  if (!o.message_file.empty()) c["message_file"] = o.message_file;
  if (o.message.empty() && o.message_file.empty()) c["size"] = o.size;
  if (o.binary) c["binary"] = true;
  if (!o.correlate.empty()) c["correlate"] = o.correlate;
  c["compress"] = o.client.compress;
  c["seed"] = o.seed;
  return c;
}

bool write_file(const std::string& path, const std::string& text, Error& error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out << text;
  if (!out) {
    error = Error(Errc::kCannotCreateOutput, path + ": cannot write: " + std::strerror(errno));
    return false;
  }
  return true;
}

// Whether `path` could be written, without creating or truncating it (an -o that names one of the
// --merge inputs must survive until they are read): a writable file, or a new one in a writable
// directory. Checked before a run, so a long run is not lost to a typo in a path.
bool can_write(const std::string& path, Error& error) {
  struct stat info {};
  int failure = 0;
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) failure = EISDIR;
    else if (::access(path.c_str(), W_OK) != 0) failure = errno;
  } else if (errno != ENOENT) {
    failure = errno;
  } else {
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (::stat(dir.c_str(), &info) != 0) failure = errno;
    else if (!S_ISDIR(info.st_mode)) failure = ENOTDIR;
    else if (::access(dir.c_str(), W_OK | X_OK) != 0) failure = errno;
  }
  if (failure == 0) return true;
  error = Error(Errc::kCannotCreateOutput, path + ": cannot write: " + std::strerror(failure));
  return false;
}

// Writes -o / --html, prints the summary (or the JSON summary record) and the threshold
// verdicts; returns the exit code the thresholds and outputs call for.
constexpr std::size_t kMinThresholdColumn = 20;

ExitCode finish_report(const LoadOptions& o, const LoadReport& report, const std::vector<Threshold>& thresholds,
                       ResultsOut& out) {
  ExitCode code = ExitCode::kOk;
  const std::vector<ThresholdResult> verdicts = evaluate_thresholds(report, thresholds);
  if (o.json) {
    nlohmann::json record = {{"type", "summary"}, {"results", to_json(report)}};
    nlohmann::json list = nlohmann::json::array();
    for (const ThresholdResult& v : verdicts) {
      list.push_back({{"threshold", v.threshold.text}, {"actual", v.actual}, {"passed", v.passed}, {"message", v.message}});
    }
    record["thresholds"] = std::move(list);
    out.write(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } else {
    out.write(summary_table(report));
    // The verdicts line up however long the expressions are (at least as wide as before).
    std::size_t width = kMinThresholdColumn;
    for (const ThresholdResult& v : verdicts) width = std::max(width, v.threshold.text.size());
    for (const ThresholdResult& v : verdicts) {
      out.write(fmt::format("threshold {:<{}} {}  ({})\n", v.threshold.text, width, v.passed ? "passed" : "FAILED",
                            v.message));
    }
  }
  for (const ThresholdResult& v : verdicts) {
    if (v.passed) continue;
    print_stderr("{}: threshold failed: {}\n", kProgram, v.message);
    code = most_basic(code, ExitCode::kCheckFailed);
  }
  Error error;
  if (!o.output.empty() && !write_file(o.output, to_json(report).dump(2) + "\n", error)) {
    code = most_basic(code, report_error(error));
  }
  if (!o.html.empty() && !write_file(o.html, html_report(report), error)) {
    code = most_basic(code, report_error(error));
  }
  return most_basic(code, out.check());
}

ExitCode run_merge(const LoadOptions& o, const std::vector<Threshold>& thresholds) {
  std::vector<LoadReport> reports;
  for (const std::string& path : o.merge) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return report_error(Error(Errc::kMissingInput, path + ": cannot read"));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json doc;
    if (std::optional<JsonError> bad = parse_untrusted_json(text, doc)) {
      return report_error(Error(Errc::kBadData, path + ": " + bad->message));
    }
    LoadReport report;
    std::string error;
    if (!from_json(doc, report, error)) return report_error(Error(Errc::kBadData, path + ": " + error));
    reports.push_back(std::move(report));
  }
  ResultsOut out;
  return finish_report(o, merge_reports(reports), thresholds, out);
}

// Everything a run needs that can be wrong in the options, checked before any connection.
bool make_plan(const LoadOptions& o, Plan& plan, Error& error) {
  if (o.mode == "echo") plan.mode = Mode::kEcho;
  else if (o.mode == "send") plan.mode = Mode::kSend;
  else if (o.mode == "subscribe") plan.mode = Mode::kSubscribe;
  else if (o.mode == "script") plan.mode = Mode::kScript;
  else {
    error = Error(Errc::kUsage, "--mode: expected echo, send, subscribe or script, not '" + o.mode + "'");
    return false;
  }
  if (!o.script.empty()) plan.mode = Mode::kScript;
  if (plan.mode == Mode::kScript && o.script.empty()) {
    error = Error(Errc::kUsage, "--mode script needs --script FILE");
    return false;
  }
  if (o.connections == 0) {
    error = Error(Errc::kUsage, "--connections: must be at least 1");
    return false;
  }
  if (o.in_flight == 0) {
    error = Error(Errc::kUsage, "--in-flight: must be at least 1");
    return false;
  }
  if (o.in_flight > kMaxInFlight) {
    error = Error(Errc::kUsage, fmt::format("--in-flight: at most {} per connection", kMaxInFlight));
    return false;
  }
  for (const auto& [flag, rate] :
       {std::pair<const char*, double>{"--rate", o.rate}, {"--connect-rate", o.connect_rate}}) {
    if (rate > kMaxRatePerSecond) {
      error = Error(Errc::kUsage,
                    fmt::format("{}: at most {} (one per nanosecond)", flag, format_rate(kMaxRatePerSecond)));
      return false;
    }
  }
  if (o.size > kMaxPayloadBytes) {
    error = Error(Errc::kUsage, "--size: at most 16MiB (the largest reply the tool accepts back)");
    return false;
  }
  if (plan.mode == Mode::kSubscribe && o.rate <= 0) {
    error = Error(Errc::kUsage, "--mode subscribe needs --rate (how fast the publishers send)");
    return false;
  }
  if (plan.mode == Mode::kSubscribe && (o.publishers == 0 || o.publishers > o.connections)) {
    error = Error(Errc::kUsage, "--publishers: must be between 1 and --connections");
    return false;
  }
  if (!o.message.empty() && !o.message_file.empty()) {
    error = Error(Errc::kUsage, "--message and --message-file exclude each other");
    return false;
  }
  ws::WsUrl url;
  std::string why;
  if (!ws::parse_ws_url(o.url, url, why)) {
    error = Error(Errc::kUsage, redact_url(o.url) + ": " + why);
    return false;
  }
  plan.client.url = o.url;
  plan.client.headers = extra_request_headers(o.client);
  plan.client.subprotocols = o.client.subprotocols;
  plan.client.proxy = effective_proxy(o.client, url, [](const char* name) { return std::getenv(name); });
  plan.client.connect_timeout = duration_cast<milliseconds>(o.client.connect_timeout);
  plan.client.deflate.enabled = o.client.compress;
  plan.client.ca_file = o.client.ca_file;
  plan.client.insecure = o.client.insecure;
  plan.client.cert_file = o.client.cert_file;
  plan.client.key_file = o.client.key_file;
  plan.client.key_passphrase = o.client.key_passphrase;
  // Results count the status of each answer, never its headers.
  plan.client.keep_response = false;

  std::string message = o.message;
  if (!o.message_file.empty()) {
    std::ifstream in(o.message_file, std::ios::binary);
    if (!in) {
      error = Error(Errc::kMissingInput, o.message_file + ": cannot read");
      return false;
    }
    // Read at most one byte past the limit: a huge file is refused without being read whole.
    std::string text(static_cast<std::size_t>(kMaxPayloadBytes) + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    message = std::move(text);
    if (message.size() > kMaxPayloadBytes) {
      error = Error(Errc::kUsage, "--message-file: " + o.message_file +
                                      " is larger than 16MiB (the largest reply the tool accepts back)");
      return false;
    }
  }
  plan.opcode = o.binary ? ws::opcode::kBinary : ws::opcode::kText;
  LoadRng rng(o.seed);
  if (message.empty()) {
    if (o.binary) {
      plan.binary_ids = true;
      plan.binary_size = static_cast<std::size_t>(std::max<std::uint64_t>(o.size, kBinaryIdBytes));
    } else {
      // The id (and the send time, for subscribers) first, then random text up to --size.
      message = plan.mode == Mode::kSubscribe ? "{{time_ns}} {{id}} " : "{{id}} ";
      const std::size_t fixed = plan.mode == Mode::kSubscribe ? kTimestampDigits + kCorrelationIdDigits + 2 : kCorrelationIdDigits + 1;
      if (o.size > fixed) {
        std::string padding;
        append_random_text(padding, static_cast<std::size_t>(o.size - fixed), rng);
        message += padding;
      }
    }
  }
  std::string template_error;
  if (!plan.binary_ids && !plan.payload.parse(message, template_error)) {
    error = Error(Errc::kUsage, "--message: " + template_error);
    return false;
  }
  if (plan.mode == Mode::kSubscribe && !plan.binary_ids && !plan.payload.has_time()) {
    error = Error(Errc::kUsage, "--mode subscribe: the message needs {{time_ns}} (subscribers measure from it)");
    return false;
  }
  for (const std::string& text : o.on_open) {
    LoadTemplate t;
    if (!t.parse(text, template_error)) {
      error = Error(Errc::kUsage, "--on-open: " + template_error);
      return false;
    }
    plan.on_open.push_back(std::move(t));
  }
  if (!o.correlate.empty() && o.correlate.front() != '/') {
    error = Error(Errc::kUsage, "--correlate: a JSON pointer starts with '/' (e.g. /data)");
    return false;
  }
  if (!o.correlate.empty()) {
    try {
      plan.correlate_pointer = nlohmann::json::json_pointer(o.correlate);
    } catch (const nlohmann::json::exception& e) {
      error = Error(Errc::kUsage, std::string("--correlate: ") + e.what());
      return false;
    }
  }
  plan.correlate = o.correlate;
  if (plan.mode == Mode::kScript && !load_script(o.script, plan.script, error)) return false;
  if (plan.mode == Mode::kScript && plan.script.steps.empty() && o.messages > 0 && o.duration.count() == 0) {
    error = Error(Errc::kUsage, "--messages: the script has no steps to repeat, so the run would never send " +
                                    std::to_string(o.messages) + " messages (give --duration)");
    return false;
  }

  plan.connections = o.connections;
  plan.threads = o.threads == 0 ? ws::available_cpus() : o.threads;
  plan.threads = static_cast<unsigned>(std::min<std::uint64_t>(plan.threads, o.connections));
  // Every thread gets at least one message of a --messages quota (subscribe: by publishers).
  if (o.messages > 0 && plan.mode != Mode::kSubscribe) {
    plan.threads = static_cast<unsigned>(std::min<std::uint64_t>(plan.threads, o.messages));
  }
  plan.connect_rate = o.connect_rate;
  plan.rate = o.rate;
  plan.in_flight = o.in_flight;
  plan.messages = o.messages;
  plan.publishers = plan.mode == Mode::kSubscribe ? o.publishers : 0;
  plan.seed = o.seed;
  // Subscribers cannot tell when publishers on other threads are done: subscribe runs end by time.
  plan.has_end = o.duration.count() > 0 || o.messages == 0 || plan.mode == Mode::kSubscribe;
  plan.shared_client = std::make_shared<const ws::ClientConfig>(plan.client);
  return true;
}

// `--mode script FILE`: the scenario given as a second argument, before or after the URL, is
// --script FILE. Anywhere else a second argument is a usage error rather than ignored.
bool take_scenario_argument(LoadOptions& o, Error& error) {
  if (o.scenario.empty()) return true;
  ws::WsUrl url;
  std::string why;
  if (!ws::parse_ws_url(o.url, url, why) && ws::parse_ws_url(o.scenario, url, why)) std::swap(o.url, o.scenario);
  if (o.mode != "script") {
    error = Error(Errc::kUsage, "'" + o.scenario +
                                    "': a second argument is taken only with --mode script (its scenario file)");
    return false;
  }
  if (!o.script.empty() && o.script != o.scenario) {
    error = Error(Errc::kUsage, "two scenarios: --script " + o.script + " and '" + o.scenario + "'");
    return false;
  }
  o.script = o.scenario;
  return true;
}

ExitCode run_load(LoadOptions o) {
  std::vector<Threshold> thresholds;
  for (const std::string& text : o.thresholds) {
    Threshold t;
    std::string error;
    if (!parse_threshold(text, t, error)) return report_error(Error(Errc::kUsage, "--threshold: " + error));
    thresholds.push_back(t);
  }
  for (const std::string* path : {&o.output, &o.html}) {
    Error error;
    if (!path->empty() && !can_write(*path, error)) return report_error(error);
  }
  if (!o.merge.empty()) {
    if (!o.url.empty()) return report_error(Error(Errc::kUsage, "--merge takes results documents, not a URL"));
    return run_merge(o, thresholds);
  }
  Error scenario_error;
  if (!take_scenario_argument(o, scenario_error)) return report_error(scenario_error);
  if (o.url.empty()) return report_error(Error(Errc::kUsage, "a URL is required (or --merge FILE...)"));

  auto plan = std::make_unique<Plan>();
  Error plan_error;
  if (!make_plan(o, *plan, plan_error)) return report_error(plan_error);
  std::string fd_error;
  const std::uint64_t fds = raise_fd_limit(&fd_error);
  StderrLog log(kProgram, LogLevel::kWarning);
  if (!fd_error.empty()) log.log(LogLevel::kWarning, fd_error);
  if (fds < o.connections + 64) {
    log.log(LogLevel::kWarning, fmt::format("{} connections need more file descriptors than the limit of {}",
                                            o.connections, fds));
  }

  LoadReport report;
  report.config = config_json(o, *plan);
  report.tool_version = std::string(wstool_version());
  report.started_at = rfc3339_now();
  ResultsOut out;
  if (o.json) out.write(nlohmann::json({{"type", "config"}, {"config", report.config}}).dump() + "\n");

  // Connections, message quota and rate split as evenly as the numbers allow.
  const unsigned threads = plan->threads;
  Collector collector(threads);
  std::vector<std::unique_ptr<LoadThread>> workers;
  std::uint64_t first = 0;
  const std::chrono::nanoseconds duration = o.duration.count() > 0 ? o.duration : nanoseconds(kDefaultDuration);
  plan->start = Clock::now() + std::chrono::milliseconds(5);
  plan->end = plan->start + duration;
  LoadRng padding_rng(o.seed + 1);
  for (unsigned t = 0; t < threads; ++t) {
    const std::uint64_t count = o.connections / threads + (t < o.connections % threads ? 1 : 0);
    std::uint64_t quota = o.messages == 0 ? kNoQuota : o.messages / threads + (t < o.messages % threads ? 1 : 0);
    double rate = 0;
    if (plan->mode == Mode::kSubscribe) {
      // Only publishers send: rate and quota follow the publishers before and on this thread.
      const std::uint64_t before = std::min(first, plan->publishers);
      const std::uint64_t through = std::min(first + count, plan->publishers);
      rate = o.rate * static_cast<double>(through - before) / static_cast<double>(plan->publishers);
      if (o.messages > 0) {
        quota = o.messages * through / plan->publishers - o.messages * before / plan->publishers;
      }
    } else if (o.rate > 0) {
      rate = o.rate * static_cast<double>(count) / static_cast<double>(o.connections);
    }
    auto worker = std::make_unique<LoadThread>(*plan, t, first, count, quota, rate, collector, log);
    if (plan->binary_ids) append_random_text(worker->binary_padding_, plan->binary_size - kBinaryIdBytes, padding_rng);
    workers.push_back(std::move(worker));
    first += count;
  }

  std::atomic<bool> interrupted{false};
  ShutdownSignals signals([&](int) {
    interrupted.store(true);
    for (auto& w : workers) w->interrupt();
  });
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->run(); });

  const bool tty = isatty(STDERR_FILENO) == 1;
  const double total_s = plan->has_end ? std::chrono::duration<double>(duration).count() : 0;
  bool all_done = false;
  bool progress_shown = false;
  while (!all_done) {
    for (const auto& [second, so_far] : collector.take_ready(kCollectorWait, all_done)) {
      report.series.push_back(second);
      if (o.json) {
        nlohmann::json record = {{"type", "second"},        {"elapsed_s", second.elapsed_s},
                                 {"connections_open", second.connections_open}, {"sent", second.sent},
                                 {"received", second.received}, {"errors", second.errors},
                                 {"p50_ns", second.p50_ns},      {"p99_ns", second.p99_ns},
                                 {"max_ns", second.max_ns}};
        out.write(record.dump() + "\n");
      }
      if (o.quiet) continue;
      const std::uint64_t n = report.series.size();
      if (!tty && n % kPlainProgressEverySeconds != 0) continue;
      const std::string line = fmt::format(
          "{}: {:.0f}s{}  open {}  sent/s {}  recv/s {}  so far: p50 {}  p99 {}  errors {}", kProgram,
          second.elapsed_s, total_s > 0 ? fmt::format("/{:.0f}s", total_s) : std::string(), second.connections_open,
          second.sent, second.received, format_latency(so_far.p50_ns), format_latency(so_far.p99_ns), so_far.errors);
      if (tty) {
        print_stderr("\r{}\x1b[K", line);
        progress_shown = true;
      } else {
        print_stderr("{}\n", line);
      }
      std::fflush(stderr);
    }
  }
  for (auto& t : running) t.join();
  if (progress_shown) print_stderr("\n");

  Clock::time_point ended = plan->start;
  Error first_failure, first_drop;
  std::uint64_t given_up = 0, deflate_declined = 0;
  for (auto& w : workers) {
    given_up += w->given_up;
    deflate_declined += w->deflate_declined;
    report.latency.merge(w->latency);
    report.service.merge(w->service);
    report.connect.merge(w->connect);
    report.first_message.merge(w->first_message);
    LoadCounts& c = report.counts;
    const LoadCounts& t = w->counts;
    c.connections_attempted += t.connections_attempted;
    c.connections_opened += t.connections_opened;
    c.connections_failed += t.connections_failed;
    c.connections_dropped += t.connections_dropped;
    c.messages_sent += t.messages_sent;
    c.messages_received += t.messages_received;
    c.messages_answered += t.messages_answered;
    c.messages_unanswered += t.messages_unanswered;
    c.bytes_sent += t.bytes_sent;
    c.bytes_received += t.bytes_received;
    for (const auto& [name, count] : w->errors) report.errors[name] += count;
    if (!first_failure) first_failure = w->first_failure;
    if (!first_drop) first_drop = w->first_drop;
    ended = std::max(ended, w->ended_at);
  }
  report.elapsed_s = std::chrono::duration<double>(ended - plan->start).count();
  report.interrupted = interrupted.load();

  ExitCode code = finish_report(o, report, thresholds, out);
  // What went wrong with connections, for people, after the results.
  const LoadCounts& c = report.counts;
  if (c.connections_failed > 0) {
    print_stderr("{}: error: {} of {} connections failed; first: {}\n", kProgram, c.connections_failed,
                 c.connections_attempted, redact_url(first_failure.message));
    code = most_basic(code, exit_code_for(first_failure.code));
  }
  if (c.connections_dropped > 0) {
    print_stderr("{}: error: {} connections lost mid-run; first: {}\n", kProgram, c.connections_dropped,
                 first_drop.message);
    code = most_basic(code, exit_code_for(first_drop.code));
  }
  // Handshakes still going at the end are in no count (a ramp's last ones are not failures), but
  // a run in which none finished measured nothing: that is a timeout, not a pass.
  if (given_up > 0 && c.connections_opened == 0 && c.connections_failed == 0 && report.interrupted) {
    // The person stopped it: nothing timed out.
    print_stderr("{}: note: interrupted before any connection opened ({} still connecting)\n", kProgram,
                 given_up);
  } else if (given_up > 0 && c.connections_opened == 0 && c.connections_failed == 0) {
    print_stderr("{}: error: no connection opened before the run ended ({} still connecting)\n", kProgram,
                 given_up);
    code = most_basic(code, ExitCode::kTimeout);
  } else if (given_up > 0) {
    print_stderr("{}: note: {} connection(s) were still connecting when the run ended (not counted)\n",
                 kProgram, given_up);
  }
  // --compress measures the compression path only where the server took it.
  if (deflate_declined > 0) {
    print_stderr("{}: warning: --compress: the server declined permessage-deflate on {} of {} connections (their "
                 "messages went uncompressed)\n",
                 kProgram, deflate_declined, c.connections_opened);
  }
  // Publishers wait for every connection: when some were still connecting (or not yet started by
  // the ramp) at the end, nothing was published and nothing measured. That is no pass.
  const std::uint64_t settled = plan->settled.load();
  if (plan->mode == Mode::kSubscribe && settled < plan->connections && !report.interrupted &&
      c.connections_opened > 0) {
    print_stderr("{}: error: publishing never started: {} of {} connections had opened or failed when the run ended "
                 "(publishers wait for every connection; a longer --duration or a faster --connect-rate)\n",
                 kProgram, settled, plan->connections);
    code = most_basic(code, ExitCode::kTimeout);
  }
  // SIGINT reads 130 (a person stopped it); SIGTERM ends a run as its duration would.
  if (signals.received() == SIGINT) code = most_basic(code, ExitCode::kInterrupted);
  return code;
}

}  // namespace

Runner make_load(CLI::App& app) {
  auto o = std::make_shared<LoadOptions>();
  app.description(
      "A WebSocket load generator: opens many connections, drives them at a known rate, measures "
      "message round-trip latency (coordinated-omission corrected in open loop) and checks CI "
      "thresholds. Results on stdout; progress on stderr.");
  app.add_option("url", o->url, "the ws:// or wss:// URL to load");
  app.add_option("scenario", o->scenario, "with --mode script: the scenario FILE (as --script FILE)");
  app.add_option("-c,--connections", o->connections, "connections to open")->capture_default_str();
  add_rate_option(app, "--connect-rate", o->connect_rate, "open connections at this rate (0: all at once)");
  add_duration_option(app, "--duration", o->duration,
                      "how long to send (default 10s unless --messages is given)");
  app.add_option("--messages", o->messages, "total messages to send, then stop (0: until --duration ends)");
  app.add_option("--threads", o->threads, "event-loop threads (0: the CPUs this process may use)")
      ->capture_default_str();
  app.add_option("--seed", o->seed, "seed for random payloads and {{rand N}}")->capture_default_str();
  app.add_option("--in-flight", o->in_flight, "closed loop: messages outstanding per connection")
      ->capture_default_str();
  add_rate_option(app, "--rate", o->rate,
                  "open loop: total messages per second, spread over the connections (0: closed loop)");
  app.add_option("--mode", o->mode, "echo, send, subscribe or script")->capture_default_str();
  app.add_option("--script", o->script, "the JSON scenario for --mode script (implies it)");
  app.add_option("--publishers", o->publishers, "subscribe mode: how many connections publish")
      ->capture_default_str();
  app.add_option("--message", o->message, "message template ({{id}} {{conn}} {{seq}} {{time_ns}} {{rand N}})");
  app.add_option("--message-file", o->message_file, "read the message template from FILE");
  add_size_option(app, "--size", o->size, "random payload size when no message is given");
  app.add_flag("--binary", o->binary, "send binary messages");
  app.add_option("--correlate", o->correlate, "JSON pointer to the id (or timestamp) inside JSON replies");
  app.add_option("--on-open", o->on_open, "send TEXT once on every connection when it opens (repeatable)");
  app.add_flag("--json", o->json, "stream JSON Lines on stdout: config, one record per second, summary");
  app.add_option("-o,--output", o->output, "write the results document (JSON) to FILE");
  app.add_option("--html", o->html, "write a self-contained HTML report to FILE");
  app.add_option("--threshold", o->thresholds, "fail (exit 1) unless EXPR holds, e.g. p99<20ms (repeatable)");
  // Takes every following word (`--merge a.json b.json ...`), so it says how many it may take: the
  // driver limits options without a bound to one value per occurrence.
  app.add_option("--merge", o->merge, "merge results documents (no URL) into one report")
      ->expected(1, kMaxMergedDocuments);
  // A load run measures the server's plain path unless --compress asks for permessage-deflate.
  o->client.compress = false;
  add_client_options(app, o->client);
  app.add_flag("-q,--quiet", o->quiet, "no progress on stderr");
  return [o]() -> ExitCode { return run_load(*o); };
}

}  // namespace wstool::tools
