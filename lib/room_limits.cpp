// Token bucket, dedupe window, sliding event count and retry backoff for `wstool serve`.
#include "lib/room_limits.h"

#include <algorithm>

namespace wstool::room {

TokenBucket::TokenBucket(double rate_per_second, double burst, Clock::time_point now)
    : rate_(rate_per_second), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

bool TokenBucket::take(Clock::time_point now) {
  if (rate_ <= 0) return true;
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

DedupeWindow::DedupeWindow(std::chrono::milliseconds window, std::size_t max_entries)
    : window_(window), max_entries_(std::max<std::size_t>(max_entries, 1)) {}

void DedupeWindow::expire(Clock::time_point now) {
  while (queued() > 0 && (order_[head_].first <= now || queued() > max_entries_)) {
    const auto it = expiry_.find(order_[head_].second);
    // A key recorded again later has a later expiry: only its last entry removes it.
    if (it != expiry_.end() && it->second == order_[head_].first) expiry_.erase(it);
    ++head_;
  }
  if (head_ > 0 && head_ * 2 >= order_.size()) {
    order_.erase(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

bool DedupeWindow::contains(const std::string& key, Clock::time_point now) {
  expire(now);
  return expiry_.count(key) != 0;
}

void DedupeWindow::record(const std::string& key, Clock::time_point now) {
  if (window_.count() <= 0) return;
  const Clock::time_point until = now + window_;
  expiry_[key] = until;
  order_.emplace_back(until, key);
  expire(now);
}

bool EventWindow::record(Clock::time_point now) {
  if (limit_ == 0) return false;
  const auto live = std::find_if(events_.begin(), events_.end(),
                                 [&](Clock::time_point at) { return at + window_ > now; });
  events_.erase(events_.begin(), live);
  events_.push_back(now);
  // Only limit + 1 entries matter; older ones cannot change the verdict.
  if (events_.size() > limit_ + 1) events_.erase(events_.begin());
  return events_.size() > limit_;
}

std::chrono::milliseconds retry_delay(std::chrono::milliseconds ack_timeout, unsigned attempt) {
  std::chrono::milliseconds delay = ack_timeout;
  for (unsigned i = 1; i < attempt && delay < kMaxRetryDelay; ++i) delay *= 2;
  return std::min(delay, kMaxRetryDelay);
}

}  // namespace wstool::room
