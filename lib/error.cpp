// The single mapping from error kinds to exit codes, and the precedence between exit codes.
#include "lib/error.h"

#include <array>

namespace wstool {

ExitCode exit_code_for(Errc errc) {
  switch (errc) {
    case Errc::kOk: return ExitCode::kOk;
    case Errc::kCheckFailed: return ExitCode::kCheckFailed;
    case Errc::kUsage: return ExitCode::kUsage;
    case Errc::kBadData: return ExitCode::kDataError;
    case Errc::kMissingInput: return ExitCode::kNoInput;
    case Errc::kUnknownHost: return ExitCode::kUnknownHost;
    case Errc::kConnectionRefused:
    case Errc::kTlsFailure:
    case Errc::kHandshakeRejected: return ExitCode::kUnavailable;
    case Errc::kInternal: return ExitCode::kInternal;
    case Errc::kOsError: return ExitCode::kOsError;
    case Errc::kCannotCreateOutput: return ExitCode::kCannotCreate;
    case Errc::kIoError:
    case Errc::kConnectionLost: return ExitCode::kIoError;
    case Errc::kTimeout: return ExitCode::kTimeout;
    case Errc::kProtocolViolation: return ExitCode::kProtocolError;
    case Errc::kInterrupted: return ExitCode::kInterrupted;
  }
  return ExitCode::kInternal;
}

int exit_code_rank(ExitCode code) {
  switch (code) {
    case ExitCode::kInternal: return 8;
    case ExitCode::kUsage: return 7;
    case ExitCode::kDataError:
    case ExitCode::kNoInput:
    case ExitCode::kCannotCreate: return 6;
    case ExitCode::kUnknownHost:
    case ExitCode::kUnavailable:
    case ExitCode::kOsError:
    case ExitCode::kTimeout: return 5;
    case ExitCode::kInterrupted: return 4;
    case ExitCode::kCheckFailed: return 3;
    case ExitCode::kIoError:
    case ExitCode::kProtocolError: return 2;
    case ExitCode::kOk: return 0;
  }
  return 8;
}

ExitCode most_basic(ExitCode a, ExitCode b) {
  return exit_code_rank(b) > exit_code_rank(a) ? b : a;
}

namespace {
constexpr std::array<ExitCodeDoc, 14> kExitCodeDocs{{
    {ExitCode::kOk, "success; servers exit 0 after a graceful shutdown"},
    {ExitCode::kCheckFailed, "a check the user asked for failed (an unmet expectation or threshold)"},
    {ExitCode::kUsage, "usage error: bad flags, arguments or values"},
    {ExitCode::kDataError, "bad input data"},
    {ExitCode::kNoInput, "an input file is missing or unreadable"},
    {ExitCode::kUnknownHost, "the host name could not be resolved"},
    {ExitCode::kUnavailable, "could not connect: refused, TLS verification failed, or the server answered other than 101"},
    {ExitCode::kInternal, "internal error (a bug in wstool)"},
    {ExitCode::kOsError, "operating system error: bind failed, out of file descriptors"},
    {ExitCode::kCannotCreate, "an output file cannot be created"},
    {ExitCode::kIoError, "I/O error, or the connection was lost mid-session (1006)"},
    {ExitCode::kTimeout, "connect or handshake timed out"},
    {ExitCode::kProtocolError, "the peer violated the WebSocket protocol"},
    {ExitCode::kInterrupted, "a client was interrupted by SIGINT"},
}};
}  // namespace

const ExitCodeDoc* exit_code_docs(std::size_t& count) {
  count = kExitCodeDocs.size();
  return kExitCodeDocs.data();
}

}  // namespace wstool
