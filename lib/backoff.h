// Reconnect delays: exponential backoff with full jitter (each delay uniform in [0, cap], the cap
// doubling from `initial` up to `max`), so many clients dropped at once do not return in step.
// The random source is injected so tests drive it without chance.
#pragma once

#include <chrono>
#include <functional>

namespace wstool {

class Backoff {
 public:
  // `uniform01` returns a number in [0, 1).
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
          std::function<double()> uniform01);

  // The delay before the next attempt; each call doubles the cap (up to max).
  std::chrono::milliseconds next_delay();
  // A connection succeeded: the next delay starts from `initial` again.
  void reset() { cap_ = initial_; }
  std::chrono::milliseconds cap() const { return cap_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds cap_;
  std::function<double()> uniform01_;
};

}  // namespace wstool
