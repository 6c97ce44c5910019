// End-to-end tests of the multi-call driver, run against the real wstool binary: the --help
// listing, help/--version for every subcommand, usage errors (64, never CLI11's 100+) and
// dispatch through ws<name> symlinks (LLVM's tool-name test).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "tests/e2e/registry.h"
#include "tests/support/run_process.h"

namespace wstool::test {
namespace {

constexpr int kUsage = 64;
const std::string kBinary = WSTOOL_BINARY;

ProcessResult wstool(std::vector<std::string> args) {
  args.insert(args.begin(), kBinary);
  return run_process(args);
}

// A diagnostic reads `PROG: error: message`: lowercase start, no trailing period.
void expect_diagnostic(const std::string& line, const std::string& prog) {
  const std::string prefix = prog + ": error: ";
  ASSERT_EQ(line.rfind(prefix, 0), 0U) << line;
  ASSERT_GT(line.size(), prefix.size()) << line;
  EXPECT_FALSE(std::isupper(static_cast<unsigned char>(line[prefix.size()]))) << line;
  EXPECT_NE(line.back(), '.') << line;
}

// A misspelling of `name` that is no registered name itself: one letter changed.
std::string typo_of(const std::string& name) {
  std::string typo = name;
  const std::size_t at = std::min<std::size_t>(2, typo.size() - 1);
  typo[at] = typo[at] == 'k' ? 'q' : 'k';
  return typo;
}

TEST(DispatchTest, HelpListsExactlyTheRegistrySubcommandsWithTheirSummaries) {
  const ProcessResult result = wstool({"--help"});
  ASSERT_TRUE(result.exited_with(0)) << result.err;
  std::vector<RegisteredSubcommand> listed;
  bool in_list = false;
  for (const std::string& line : lines_of(result.out)) {
    if (line == "subcommands:") {
      in_list = true;
    } else if (in_list && line.empty()) {
      break;
    } else if (in_list) {
      static const std::regex kEntry(R"(^  ([a-z][a-z0-9_]*) +(.+)$)");
      std::smatch match;
      ASSERT_TRUE(std::regex_match(line, match, kEntry)) << line;
      listed.push_back({match[1], match[2]});
    }
  }
  const auto& registry = registered_subcommands();
  ASSERT_EQ(listed.size(), registry.size()) << result.out;
  for (std::size_t i = 0; i < registry.size(); ++i) {
    EXPECT_EQ(listed[i].name, registry[i].name);
    EXPECT_EQ(listed[i].summary, registry[i].summary);
  }
}

TEST(DispatchTest, HelpWordWithoutSubcommandIsTheListing) {
  const ProcessResult help = wstool({"help"});
  const ProcessResult flag = wstool({"--help"});
  ASSERT_TRUE(help.exited_with(0)) << help.err;
  EXPECT_EQ(help.out, flag.out);
}

TEST(DispatchTest, HelpSubcommandIsTheSubcommandsOwnHelp) {
  for (const auto& sub : registered_subcommands()) {
    const ProcessResult word = wstool({"help", sub.name});
    const ProcessResult flag = wstool({sub.name, "--help"});
    ASSERT_TRUE(word.exited_with(0)) << sub.name << ": " << word.err;
    ASSERT_TRUE(flag.exited_with(0)) << sub.name << ": " << flag.err;
    EXPECT_EQ(word.out, flag.out) << sub.name;
    EXPECT_NE(flag.out.find("--help"), std::string::npos) << flag.out;
    EXPECT_NE(flag.out.find("--version"), std::string::npos) << flag.out;
    EXPECT_TRUE(flag.err.empty()) << flag.err;
  }
}

TEST(DispatchTest, VersionNamesWstoolAndEveryLibrary) {
  const ProcessResult result = wstool({"--version"});
  ASSERT_TRUE(result.exited_with(0)) << result.err;
  EXPECT_TRUE(std::regex_search(result.out, std::regex(R"(^wstool [0-9]+\.[0-9]+\.[0-9]+\n)")))
      << result.out;
  for (const char* library :
       {"Asio", "websocketpp", "OpenSSL", "zlib", "fmt", "CLI11", "nlohmann/json", "PCRE2"}) {
    const std::regex versioned(std::string("\n  ") + library + R"( [0-9]+\.[0-9]+)");
    EXPECT_TRUE(std::regex_search(result.out, versioned)) << library << " missing in\n" << result.out;
  }
}

TEST(DispatchTest, EverySubcommandAnswersVersionLikeTheDriver) {
  const ProcessResult driver = wstool({"--version"});
  for (const auto& sub : registered_subcommands()) {
    const ProcessResult result = wstool({sub.name, "--version"});
    ASSERT_TRUE(result.exited_with(0)) << sub.name << ": " << result.err;
    EXPECT_EQ(result.out, driver.out) << sub.name;
  }
}

TEST(DispatchTest, UnknownSubcommandSuggestsTheClosestAndExits64) {
  for (const auto& sub : registered_subcommands()) {
    const std::string typo = typo_of(sub.name);
    const ProcessResult result = wstool({typo});
    EXPECT_TRUE(result.exited_with(kUsage)) << typo << ": " << result.exit_code;
    EXPECT_TRUE(result.out.empty()) << result.out;
    const std::string first_line = lines_of(result.err).at(0);
    expect_diagnostic(first_line, "wstool");
    EXPECT_EQ(first_line,
              "wstool: error: unknown subcommand '" + typo + "' (did you mean '" + sub.name + "'?)");
  }
}

TEST(DispatchTest, UnknownSubcommandFarFromAnyNameGetsNoSuggestion) {
  const ProcessResult result = wstool({"zzzzzzzzzzzz"});
  EXPECT_TRUE(result.exited_with(kUsage)) << result.exit_code;
  EXPECT_EQ(lines_of(result.err).at(0), "wstool: error: unknown subcommand 'zzzzzzzzzzzz'");
}

TEST(DispatchTest, HelpForAnUnknownSubcommandExits64) {
  const ProcessResult result = wstool({"help", "zzzzzzzzzzzz"});
  EXPECT_TRUE(result.exited_with(kUsage)) << result.exit_code;
  expect_diagnostic(lines_of(result.err).at(0), "wstool");
}

TEST(DispatchTest, NoSubcommandPrintsUsageOnStderrAndExits64) {
  const ProcessResult result = wstool({});
  EXPECT_TRUE(result.exited_with(kUsage)) << result.exit_code;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_NE(result.err.find("usage: wstool <subcommand>"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("wstool: error: missing subcommand"), std::string::npos) << result.err;
}

TEST(DispatchTest, UnknownDriverOptionExits64) {
  const ProcessResult result = wstool({"--frobnicate"});
  EXPECT_TRUE(result.exited_with(kUsage)) << result.exit_code;
  expect_diagnostic(lines_of(result.err).at(0), "wstool");
}

// CLI11 would exit 109 for an unexpected argument; wstool's contract is 64 for every usage error.
TEST(DispatchTest, BadFlagIsAUsageErrorNotCli11sExitCode) {
  for (const auto& sub : registered_subcommands()) {
    const ProcessResult result = wstool({sub.name, "--no-such-flag"});
    EXPECT_TRUE(result.exited_with(kUsage)) << sub.name << ": exit " << result.exit_code;
    EXPECT_TRUE(result.out.empty()) << result.out;
    const std::string first_line = lines_of(result.err).at(0);
    expect_diagnostic(first_line, "ws" + sub.name);
    EXPECT_NE(first_line.find("--no-such-flag"), std::string::npos) << first_line;
  }
}

TEST(DispatchTest, StrayPositionalArgumentIsAUsageError) {
  for (const auto& sub : registered_subcommands()) {
    const ProcessResult result = wstool({sub.name, "stray-argument"});
    EXPECT_TRUE(result.exited_with(kUsage)) << sub.name << ": exit " << result.exit_code;
  }
}

// Counts are whole decimal numbers: CLI11 alone reads "-1" for an unsigned option as
// 18446744073709551615 (serve then started with --max-rooms unlimited).
TEST(DispatchTest, CountOptionsTakeDecimalDigitsOnly) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"serve", "--max-rooms", "-1"},
                                             {"serve", "--abuse-limit", "-5"},
                                             {"serve", "--burst", "0x10"},
                                             {"echo", "--threads", "+2"},
                                             {"load", "--connections", "-1", "ws://127.0.0.1:1/"},
                                             {"connect", "--count", "-1", "ws://127.0.0.1:1/"},
                                             {"chat", "--reconnect-max-attempts", "1.5", "ws://127.0.0.1:1/"}}) {
    const ProcessResult result = wstool(args);
    EXPECT_TRUE(result.exited_with(kUsage)) << args[0] << " " << args[1] << " " << args[2] << ": exit "
                                            << result.exit_code << ": " << result.err;
    EXPECT_TRUE(result.out.empty()) << result.out;  // no server started
    EXPECT_NE(result.err.find(args[1]), std::string::npos) << result.err;
  }
}

// A repeatable option takes one value per occurrence: the URL after `--send hi` is the URL, so
// the connection is attempted (refused on port 1: 69), not reported missing (64).
TEST(DispatchTest, ARepeatableOptionDoesNotSwallowTheArgumentsAfterIt) {
  const ProcessResult result =
      wstool({"connect", "--send", "one", "--send", "two", "ws://127.0.0.1:1/"});
  EXPECT_TRUE(result.exited_with(69)) << "exit " << result.exit_code << ": " << result.err;
  EXPECT_EQ(result.err.find("URL is required"), std::string::npos) << result.err;
}

// The binary linked under ws<name>, ws<name>-2 and ws<name>.exe runs that subcommand.
TEST(DispatchTest, SymlinkNameSelectsTheSubcommand) {
  const TempDir dir;
  for (const auto& sub : registered_subcommands()) {
    const ProcessResult reference = wstool({"help", sub.name});
    ASSERT_TRUE(reference.exited_with(0)) << reference.err;
    for (const char* suffix : {"", "-2", ".exe"}) {
      const std::string link = dir.path() + "/ws" + sub.name + suffix;
      std::filesystem::create_symlink(kBinary, link);
      const ProcessResult help = run_process({link, "--help"});
      EXPECT_TRUE(help.exited_with(0)) << link << ": " << help.err;
      EXPECT_EQ(help.out, reference.out) << link;

      const ProcessResult bad = run_process({link, "--no-such-flag"});
      EXPECT_TRUE(bad.exited_with(kUsage)) << link << ": exit " << bad.exit_code;
      expect_diagnostic(lines_of(bad.err).at(0), "ws" + sub.name);
    }
  }
}

// A name that selects no subcommand behaves like `wstool`: the subcommand comes from argv[1].
TEST(DispatchTest, OtherProgramNamesFallBackToTheFirstArgument) {
  const TempDir dir;
  const std::string link = dir.path() + "/wstool-2";
  std::filesystem::create_symlink(kBinary, link);
  const ProcessResult none = run_process({link});
  EXPECT_TRUE(none.exited_with(kUsage)) << none.exit_code;
  const auto& first = registered_subcommands().front();
  const ProcessResult help = run_process({link, "help", first.name});
  EXPECT_TRUE(help.exited_with(0)) << help.err;
  EXPECT_EQ(help.out, wstool({"help", first.name}).out);
}

// A ws<name> link whose <name> is no subcommand (a typo, a link left from an older install) says
// so and exits 64, whatever follows: its arguments were meant for that subcommand.
TEST(DispatchTest, LinkNamingNoSubcommandIsAUsageError) {
  const TempDir dir;
  const auto& first = registered_subcommands().front();
  const std::string link = dir.path() + "/ws" + first.name + "x";
  std::filesystem::create_symlink(kBinary, link);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{link}, {link, "--help"}, {link, "help", first.name}}) {
    const ProcessResult result = run_process(args);
    EXPECT_TRUE(result.exited_with(kUsage)) << "exit " << result.exit_code;
    EXPECT_TRUE(result.out.empty()) << result.out;
    EXPECT_EQ(lines_of(result.err).at(0),
              "wstool: error: invoked as 'ws" + first.name + "x', which names no subcommand (did you mean 'ws" +
                  first.name + "'?)")
        << result.err;
  }
}

// SIGPIPE is ignored (as curl does): a reader that went away must not kill wstool with a
// signal. Its stdout here is a pipe whose read end is already closed, so the first write fails.
TEST(DispatchTest, StdoutWithoutReaderDoesNotKillWithSigpipe) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ::close(pipe_fds[0]);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDERR_FILENO);
    ::execl(kBinary.c_str(), kBinary.c_str(), "--help", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_TRUE(WIFEXITED(status));
}

}  // namespace
}  // namespace wstool::test
