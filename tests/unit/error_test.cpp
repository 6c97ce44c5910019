// Tests of lib/error: the error-to-exit-code mapping and the precedence rule when several exit
// conditions apply (EXIT STATUS in man/wstool.1; scripts rely on these numbers).
#include "lib/error.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace wstool {
namespace {

// Every exit code, listed by hand: a new one must be added here and to the docs table.
const std::vector<ExitCode> kAllCodes = {
    ExitCode::kOk,           ExitCode::kCheckFailed, ExitCode::kUsage,       ExitCode::kDataError,
    ExitCode::kNoInput,      ExitCode::kUnknownHost, ExitCode::kUnavailable, ExitCode::kInternal,
    ExitCode::kOsError,      ExitCode::kCannotCreate, ExitCode::kIoError,    ExitCode::kTimeout,
    ExitCode::kProtocolError, ExitCode::kInterrupted,
};

int value(ExitCode code) { return static_cast<int>(code); }

TEST(ExitCodeTest, NumbersAreTheDocumentedSysexitsValues) {
  EXPECT_EQ(value(ExitCode::kOk), 0);
  EXPECT_EQ(value(ExitCode::kCheckFailed), 1);
  EXPECT_EQ(value(ExitCode::kUsage), 64);
  EXPECT_EQ(value(ExitCode::kDataError), 65);
  EXPECT_EQ(value(ExitCode::kNoInput), 66);
  EXPECT_EQ(value(ExitCode::kUnknownHost), 68);
  EXPECT_EQ(value(ExitCode::kUnavailable), 69);
  EXPECT_EQ(value(ExitCode::kInternal), 70);
  EXPECT_EQ(value(ExitCode::kOsError), 71);
  EXPECT_EQ(value(ExitCode::kCannotCreate), 73);
  EXPECT_EQ(value(ExitCode::kIoError), 74);
  EXPECT_EQ(value(ExitCode::kTimeout), 75);
  EXPECT_EQ(value(ExitCode::kProtocolError), 76);
  EXPECT_EQ(value(ExitCode::kInterrupted), 130);
}

TEST(ExitCodeTest, ErrorKindsMapToTheirExitCodes) {
  EXPECT_EQ(exit_code_for(Errc::kOk), ExitCode::kOk);
  EXPECT_EQ(exit_code_for(Errc::kUsage), ExitCode::kUsage);
  EXPECT_EQ(exit_code_for(Errc::kConnectionRefused), ExitCode::kUnavailable);
  EXPECT_EQ(exit_code_for(Errc::kTlsFailure), ExitCode::kUnavailable);
  EXPECT_EQ(exit_code_for(Errc::kHandshakeRejected), ExitCode::kUnavailable);
  EXPECT_EQ(exit_code_for(Errc::kConnectionLost), ExitCode::kIoError);
  EXPECT_EQ(exit_code_for(Errc::kIoError), ExitCode::kIoError);
  EXPECT_EQ(exit_code_for(Errc::kTimeout), ExitCode::kTimeout);
  EXPECT_EQ(exit_code_for(Errc::kProtocolViolation), ExitCode::kProtocolError);
  EXPECT_EQ(exit_code_for(Errc::kInterrupted), ExitCode::kInterrupted);
  EXPECT_EQ(exit_code_for(Errc::kCannotCreateOutput), ExitCode::kCannotCreate);
}

TEST(PrecedenceTest, UsageBeatsEverythingButInternal) {
  for (ExitCode other : kAllCodes) {
    if (other == ExitCode::kInternal) continue;
    EXPECT_EQ(most_basic(ExitCode::kUsage, other), ExitCode::kUsage) << value(other);
    EXPECT_EQ(most_basic(other, ExitCode::kUsage), ExitCode::kUsage) << value(other);
  }
  EXPECT_EQ(most_basic(ExitCode::kUsage, ExitCode::kInternal), ExitCode::kInternal);
}

TEST(PrecedenceTest, FailedCheckReadsOneEvenWhenTheConnectionThenDropped) {
  EXPECT_EQ(most_basic(ExitCode::kCheckFailed, ExitCode::kIoError), ExitCode::kCheckFailed);
  EXPECT_EQ(most_basic(ExitCode::kIoError, ExitCode::kCheckFailed), ExitCode::kCheckFailed);
  EXPECT_EQ(most_basic(ExitCode::kProtocolError, ExitCode::kCheckFailed), ExitCode::kCheckFailed);
}

TEST(PrecedenceTest, CouldNotConnectBeatsAFailedCheck) {
  for (ExitCode connect : {ExitCode::kUnknownHost, ExitCode::kUnavailable, ExitCode::kOsError,
                           ExitCode::kTimeout}) {
    EXPECT_EQ(most_basic(ExitCode::kCheckFailed, connect), connect) << value(connect);
    EXPECT_EQ(most_basic(ExitCode::kInterrupted, connect), connect) << value(connect);
  }
}

TEST(PrecedenceTest, BadInputBeatsConnectionProblems) {
  EXPECT_EQ(most_basic(ExitCode::kNoInput, ExitCode::kUnavailable), ExitCode::kNoInput);
  EXPECT_EQ(most_basic(ExitCode::kTimeout, ExitCode::kDataError), ExitCode::kDataError);
  EXPECT_EQ(most_basic(ExitCode::kCannotCreate, ExitCode::kOsError), ExitCode::kCannotCreate);
}

TEST(PrecedenceTest, InterruptBeatsAFailedCheckAndOkLosesToAll) {
  EXPECT_EQ(most_basic(ExitCode::kCheckFailed, ExitCode::kInterrupted), ExitCode::kInterrupted);
  for (ExitCode other : kAllCodes) {
    EXPECT_EQ(most_basic(ExitCode::kOk, other), other) << value(other);
    EXPECT_EQ(most_basic(other, ExitCode::kOk), other) << value(other);
  }
}

TEST(PrecedenceTest, IsCommutativeWhereRanksDiffer) {
  for (ExitCode a : kAllCodes) {
    for (ExitCode b : kAllCodes) {
      if (exit_code_rank(a) != exit_code_rank(b)) {
        EXPECT_EQ(most_basic(a, b), most_basic(b, a)) << value(a) << " vs " << value(b);
      }
    }
  }
}

TEST(ExitCodeDocsTest, ListsEveryCodeOnceWithAMeaning) {
  std::size_t count = 0;
  const ExitCodeDoc* docs = exit_code_docs(count);
  ASSERT_EQ(count, kAllCodes.size());
  std::set<int> seen;
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(seen.insert(value(docs[i].code)).second) << value(docs[i].code);
    EXPECT_FALSE(docs[i].meaning.empty()) << value(docs[i].code);
  }
}

}  // namespace
}  // namespace wstool
