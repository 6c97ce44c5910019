// Signal handling by sigwait on a dedicated thread: no async-signal-safety traps, and the
// graceful-stop callback may take locks or post to event loops.
#include "tools/shutdown_signals.h"

#include <pthread.h>
#include <signal.h>

namespace wstool::tools {

namespace {
// Sent by the destructor to wake the waiting thread; never a user-facing signal here.
constexpr int kStopWaiting = SIGUSR2;

sigset_t waited_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, kStopWaiting);
  return set;
}
}  // namespace

ShutdownSignals::ShutdownSignals(std::function<void(int)> on_first_signal)
    : on_first_signal_(std::move(on_first_signal)) {
  const sigset_t set = waited_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  waiter_ = std::thread([this, set] {
    for (;;) {
      int signo = 0;
      if (sigwait(&set, &signo) != 0) continue;
      if (signo == kStopWaiting) return;
      int expected = 0;
      if (received_.compare_exchange_strong(expected, signo)) {
        on_first_signal_(signo);
        continue;
      }
      // A second signal: stop at once, with the signal's own default action.
      signal(signo, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, signo);
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      raise(signo);
    }
  });
}

ShutdownSignals::~ShutdownSignals() {
  pthread_kill(waiter_.native_handle(), kStopWaiting);
  waiter_.join();
}

}  // namespace wstool::tools
