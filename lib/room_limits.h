// The clock-driven state machines of `wstool serve`, free of sockets and threads so tests drive
// them with an injected time: the token bucket (rate limits), the dedupe window (acknowledged
// requests not processed twice), the sliding error count (abuse limit) and the retry backoff.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace wstool::room {

using Clock = std::chrono::steady_clock;

// `rate` tokens per second refill a bucket of `burst`; each event takes one. A rate of 0 means
// unlimited.
class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double rate_per_second, double burst, Clock::time_point now);
  // Takes a token if one is there.
  bool take(Clock::time_point now);
  double tokens() const { return tokens_; }

 private:
  double rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  Clock::time_point last_{};
};

// Remembers keys for `window` after they were recorded. Bounded: beyond `max_entries` the
// oldest are forgotten first (a client would have to send faster than the rate limit allows
// for that to matter).
class DedupeWindow {
 public:
  DedupeWindow(std::chrono::milliseconds window, std::size_t max_entries);
  bool contains(const std::string& key, Clock::time_point now);
  void record(const std::string& key, Clock::time_point now);
  std::size_t size() const { return expiry_.size(); }

 private:
  std::size_t queued() const { return order_.size() - head_; }
  void expire(Clock::time_point now);

  std::chrono::milliseconds window_;
  std::size_t max_entries_;
  std::unordered_map<std::string, Clock::time_point> expiry_;
  // Oldest first from head_; a vector compacted as it drains, not a deque, which allocates when
  // constructed: every session has one.
  std::vector<std::pair<Clock::time_point, std::string>> order_;
  std::size_t head_ = 0;
};

// Counts events in the last `window`; over_limit() once more than `limit` happened in it.
class EventWindow {
 public:
  EventWindow(std::size_t limit, std::chrono::milliseconds window) : limit_(limit), window_(window) {}
  // Records an event; true when the window now holds more than `limit`. A limit of 0: never.
  bool record(Clock::time_point now);

 private:
  std::size_t limit_;
  std::chrono::milliseconds window_;
  // Oldest first; a vector (not a deque, which allocates when constructed) since every
  // connection has one and most never see an error.
  std::vector<Clock::time_point> events_;
};

// The wait before resend number `attempt` (1-based) of an unacknowledged delivery: the ack
// timeout, doubled per resend, capped.
std::chrono::milliseconds retry_delay(std::chrono::milliseconds ack_timeout, unsigned attempt);
inline constexpr std::chrono::milliseconds kMaxRetryDelay{60000};

}  // namespace wstool::room
