// The threads around a client session (stdin, signals, --timeout) and the connection they act
// on, shared by connect and chat: a Link posts into whichever connection is current (across
// reconnects) and a Deadline fires once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "lib/engine.h"

namespace wstool::tools {

// The way from other threads (stdin, the deadline, signals) to whichever connection is current:
// a post into its event loop, or a shutdown when nothing is open yet.
class Link {
 public:
  using Post = std::function<void(std::function<void()>)>;
  void attach(Post post) {
    std::lock_guard<std::mutex> lock(mutex_);
    post_ = std::move(post);
  }
  void detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    post_ = nullptr;
  }
  void post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (post_) post_(std::move(task));
  }
  // Runs `client` as the current connection until it ends (not at all when the session was
  // stopped before): meanwhile post() and abandon_if_connecting() reach it.
  ws::ClientResult run(ws::Client& client) {
    {
      std::lock_guard<std::mutex> lock(client_mutex_);
      client_ = &client;
    }
    attach([&client](std::function<void()> task) { client.post(std::move(task)); });
    ws::ClientResult result;
    if (!stopped()) result = client.run();
    detach();
    std::lock_guard<std::mutex> lock(client_mutex_);
    client_ = nullptr;
    return result;
  }
  // Gives up a connection still being opened, with `code`; an open one is left alone (it closes
  // through a post). `open` is asked on the connection's own thread.
  void abandon_if_connecting(std::function<bool()> open, std::uint16_t code) {
    std::lock_guard<std::mutex> lock(client_mutex_);
    if (client_ == nullptr) return;
    client_->post([this, open = std::move(open), code] {
      if (open()) return;
      // Its own mutex, not mutex_: shutdown may call handlers that post().
      std::lock_guard<std::mutex> inner(client_mutex_);
      if (client_ != nullptr) client_->shutdown(code);
    });
  }
  // Asks the whole session to end (timeout, signal); wakes a reconnect wait.
  void stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    wake_.notify_all();
  }
  bool stopped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopped_;
  }
  // Sleeps `delay` unless stop() comes first; false when stopped.
  bool sleep_unless_stopped(std::chrono::milliseconds delay) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, delay, [this] { return stopped_; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Post post_;
  bool stopped_ = false;
  std::mutex client_mutex_;
  ws::Client* client_ = nullptr;  // the connection run() runs, under client_mutex_
};

// A deadline thread for --timeout: at the deadline it calls `fire` unless cancelled first.
class Deadline {
 public:
  Deadline(std::chrono::nanoseconds after, std::function<void()> fire) {
    if (after <= std::chrono::nanoseconds(0)) return;
    thread_ = std::thread([this, after, fire = std::move(fire)] {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!cv_.wait_for(lock, after, [this] { return cancelled_; })) {
        fired_ = true;
        lock.unlock();
        fire();
      }
    });
  }
  ~Deadline() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  bool fired() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fired_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace wstool::tools
