// Exponential backoff with full jitter (see backoff.h).
#include "lib/backoff.h"

#include <algorithm>
#include <utility>

namespace wstool {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                 std::function<double()> uniform01)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      cap_(initial_),
      uniform01_(std::move(uniform01)) {}

std::chrono::milliseconds Backoff::next_delay() {
  const double fraction = std::clamp(uniform01_(), 0.0, 1.0);
  const auto delay = std::chrono::milliseconds(
      static_cast<std::chrono::milliseconds::rep>(fraction * static_cast<double>(cap_.count())));
  cap_ = cap_ > max_ / 2 ? max_ : cap_ * 2;
  return delay;
}

}  // namespace wstool
