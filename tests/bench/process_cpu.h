// The CPU time another process has used, read from /proc: the benchmark clients report a server's
// CPU per message with it, a figure round-trip latency does not bound.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace wstool::bench {

// The CPU seconds (user + system) process `pid` has used, from /proc/PID/stat; 0 when unknown.
inline double process_cpu_seconds(long pid) {
  if (pid <= 0) return 0;
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char text[1024];
  std::size_t n = std::fread(text, 1, sizeof text - 1, f);
  std::fclose(f);
  text[n] = '\0';
  // Fields after the command name (which may hold blanks, so it is skipped up to its last ')'):
  // state is field 3; utime and stime are fields 14 and 15.
  const char* p = std::strrchr(text, ')');
  if (p == nullptr) return 0;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace wstool::bench
