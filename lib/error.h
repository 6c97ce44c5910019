// wstool's error kinds and the one mapping from them to process exit codes (EXIT STATUS in
// man/wstool.1). lib/ reports errors as values; only the driver turns them into an exit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace wstool {

// sysexits-style exit codes. The numeric values are a documented interface: never renumber.
enum class ExitCode : std::uint8_t {
  kOk = 0,
  kCheckFailed = 1,       // a check the user asked for failed (expectation, threshold)
  kUsage = 64,            // bad flags or arguments
  kDataError = 65,        // bad input data (file, JSON, session log)
  kNoInput = 66,          // an input file is missing or unreadable
  kUnknownHost = 68,      // DNS could not resolve the host
  kUnavailable = 69,      // could not connect: refused, TLS verification, non-101 answer
  kInternal = 70,         // a bug in wstool
  kOsError = 71,          // bind failed, out of file descriptors, other OS errors
  kCannotCreate = 73,     // an output file cannot be created
  kIoError = 74,          // I/O error, or the connection was lost mid-session (1006)
  kTimeout = 75,          // connect or handshake timed out
  kProtocolError = 76,    // the peer violated the protocol
  kInterrupted = 130,     // a client interrupted by SIGINT
};

// What went wrong, independent of how it is reported.
enum class Errc : std::uint8_t {
  kOk,
  kCheckFailed,
  kUsage,
  kBadData,
  kMissingInput,
  kUnknownHost,
  kConnectionRefused,
  kTlsFailure,
  kHandshakeRejected,
  kInternal,
  kOsError,
  kCannotCreateOutput,
  kIoError,
  kConnectionLost,
  kTimeout,
  kProtocolViolation,
  kInterrupted,
};

ExitCode exit_code_for(Errc errc);

// The documented precedence when several exit conditions apply: the most basic wins.
//   70 > 64 > 65/66/73 > 68/69/71/75 > 130 > 1 > 74/76 > 0
// (a check that ran and failed reads 1 even when the connection then dropped).
int exit_code_rank(ExitCode code);
ExitCode most_basic(ExitCode a, ExitCode b);

// Every exit code with its one-line meaning, in table order; the docs test holds
// man/wstool.1's EXIT STATUS table against this list.
struct ExitCodeDoc {
  ExitCode code;
  std::string_view meaning;
};
const ExitCodeDoc* exit_code_docs(std::size_t& count);

// An error as a value: what kind, and a message with context (lowercase, no trailing period).
struct Error {
  Errc code = Errc::kOk;
  std::string message;

  Error() = default;
  Error(Errc c, std::string m) : code(c), message(std::move(m)) {}
  explicit operator bool() const { return code != Errc::kOk; }
};

}  // namespace wstool
