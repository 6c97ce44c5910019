// The multi-call driver. The registry (tools/subcommands.def) feeds dispatch, the --help listing
// and the build's ws<name> symlinks; this file is also wstool's single exception barrier.
#include "tools/driver.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <exception>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "lib/error.h"
#include "lib/versions.h"
#include "tools/common_options.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

struct Entry {
  SubcommandInfo info;
  Runner (*make)(CLI::App& app);
};

const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries{
#define WSTOOL_SUBCOMMAND(name, summary) {{#name, summary}, &make_##name},
#include "tools/subcommands.def"
#undef WSTOOL_SUBCOMMAND
  };
  return entries;
}

const Entry* find_entry(std::string_view name) {
  for (const Entry& entry : registry()) {
    if (entry.info.name == name) return &entry;
  }
  return nullptr;
}

constexpr std::string_view kDriverName = "wstool";
constexpr std::string_view kLinkPrefix = "ws";
constexpr std::string_view kExeSuffix = ".exe";
// A typo this many edits away (or fewer) from a subcommand still gets a suggestion.
constexpr std::size_t kMaxSuggestDistance = 2;

// Writes to stdout or stderr, ignoring failures: a reader that went away (SIGPIPE is ignored,
// so the write fails with EPIPE) must not turn `wstool --help | head -1` into an error.
void write_to(std::FILE* stream, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

// CLI11 messages start with a capital and some end with a period; ours do neither.
std::string as_diagnostic(std::string message) {
  while (!message.empty() && (message.back() == '.' || message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  // Lowercase only a leading capital of a word ("The following..."), never an acronym ("TLS").
  if (message.size() > 1 && std::isupper(static_cast<unsigned char>(message[0])) != 0 &&
      std::islower(static_cast<unsigned char>(message[1])) != 0) {
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  }
  return message;
}

void report_error(std::string_view prog, std::string_view message) {
  write_to(stderr, fmt::format("{}: error: {}\n", prog, message));
}

std::string version_text() {
  std::string text = fmt::format("{} {}\n", kDriverName, wstool_version());
  for (const ComponentVersion& library : library_versions()) {
    text += fmt::format("  {} {}\n", library.name, library.version);
  }
  text.pop_back();  // CLI11 adds the final newline when it prints a version
  return text;
}

std::string listing() {
  std::size_t width = 0;
  for (const Entry& entry : registry()) width = std::max(width, entry.info.name.size());
  std::string text = fmt::format(
      "{0} {1}: a command-line toolkit for testing and debugging WebSockets\n"
      "\n"
      "usage: {0} <subcommand> [options]\n"
      "       ws<subcommand> [options]\n"
      "       {0} help <subcommand>\n"
      "       {0} --version\n"
      "\n"
      "subcommands:\n",
      kDriverName, wstool_version());
  for (const Entry& entry : registry()) {
    text += fmt::format("  {:<{}}  {}\n", entry.info.name, width, entry.info.summary);
  }
  text += fmt::format("\nrun '{} help <subcommand>' for its options; see wstool(1)\n", kDriverName);
  return text;
}

int usage_error(std::string_view message) {
  report_error(kDriverName, message);
  write_to(stderr, fmt::format("{}: note: run '{} --help' for the list of subcommands\n",
                               kDriverName, kDriverName));
  return static_cast<int>(ExitCode::kUsage);
}

int unknown_subcommand(std::string_view name) {
  std::string_view suggestion = suggest_subcommand(name);
  if (suggestion.empty()) return usage_error(fmt::format("unknown subcommand '{}'", name));
  return usage_error(fmt::format("unknown subcommand '{}' (did you mean '{}'?)", name, suggestion));
}

// Invoked as ws<name> for a <name> that is no subcommand (a mistyped or stale link): whatever
// follows was meant for that subcommand, so it is not read as the driver's arguments.
int unknown_link(std::string_view name) {
  std::string message = fmt::format("invoked as '{}{}', which names no subcommand", kLinkPrefix, name);
  const std::string_view suggestion = suggest_subcommand(name);
  if (!suggestion.empty()) message += fmt::format(" (did you mean '{}{}'?)", kLinkPrefix, suggestion);
  return usage_error(message);
}

// A repeatable option (-H, --send, --expect, --ignore...) takes one value each time it is given,
// so `connect --send hi ws://host/` keeps the URL as the URL. CLI11 lets an option bound to a
// vector swallow every following word instead; an option that really takes several values at
// once says so with an explicit expected(min, max), which this leaves alone.
void take_one_value_per_occurrence(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_items_expected_max() >= CLI::detail::expected_max_vector_size) {
      option->allow_extra_args(false);
    }
  }
}

// Unsigned integer options (CLI11 names their type UINT, validators add "UINT in [...]") take
// decimal digits only: CLI11 alone would read "--max-rooms -1" as 18446744073709551615.
void decimal_counts_only(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_type_name().find("UINT") != std::string::npos) option->transform(decimal_count());
  }
}

// Parses the subcommand's command line and runs it. --help and --version are added here, once,
// so every subcommand answers them the same way.
int run_subcommand(const Entry& entry, std::vector<std::string> args) {
  const std::string prog = fmt::format("{}{}", kLinkPrefix, entry.info.name);
  CLI::App app{std::string(entry.info.summary), prog};
  app.set_version_flag("--version", version_text, "Print the versions of wstool and its libraries and exit")
      ->trigger_on_parse();
  app.footer(fmt::format("See wstool-{}(1) and wstool(1).", entry.info.name));
  try {
    Runner runner = entry.make(app);
    take_one_value_per_occurrence(app);
    decimal_counts_only(app);
    std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
    app.parse(args);
    return static_cast<int>(runner());
  } catch (const CLI::CallForHelp&) {
    write_to(stdout, app.help());
    return static_cast<int>(ExitCode::kOk);
  } catch (const CLI::CallForAllHelp&) {
    write_to(stdout, app.help("", CLI::AppFormatMode::All));
    return static_cast<int>(ExitCode::kOk);
  } catch (const CLI::CallForVersion& version) {
    write_to(stdout, fmt::format("{}\n", version.what()));
    return static_cast<int>(ExitCode::kOk);
  } catch (const CLI::Success&) {
    return static_cast<int>(ExitCode::kOk);
  } catch (const CLI::ParseError& error) {
    // Every other parse error is a usage error: exit 64, never CLI11's own 100-127 codes.
    // (CLI11's construction errors are bugs in a subcommand's options and fall through to 70.)
    report_error(prog, as_diagnostic(error.what()));
    write_to(stderr, fmt::format("{}: note: run '{} help {}' for its options\n", prog,
                                 kDriverName, entry.info.name));
    return static_cast<int>(ExitCode::kUsage);
  } catch (const std::exception& error) {
    report_error(prog, fmt::format("internal error: {}", error.what()));
    return static_cast<int>(ExitCode::kInternal);
  }
}

int dispatch(int argc, char** argv) {
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (argc > 0) {
    std::string_view linked = subcommand_for_program(argv[0]);
    if (!linked.empty()) return run_subcommand(*find_entry(linked), std::move(args));
    if (!unknown_link_name(argv[0]).empty()) return unknown_link(unknown_link_name(argv[0]));
  }
  if (args.empty()) {
    report_error(kDriverName, "missing subcommand");
    write_to(stderr, "\n" + listing());
    return static_cast<int>(ExitCode::kUsage);
  }
  const std::string first = args.front();
  args.erase(args.begin());
  if (first == "--help" || first == "-h" || (first == "help" && args.empty())) {
    write_to(stdout, listing());
    return static_cast<int>(ExitCode::kOk);
  }
  if (first == "--version") {
    write_to(stdout, version_text() + "\n");
    return static_cast<int>(ExitCode::kOk);
  }
  if (first == "help") {
    const Entry* entry = find_entry(args.front());
    if (entry == nullptr) return unknown_subcommand(args.front());
    return run_subcommand(*entry, {"--help"});
  }
  if (!first.empty() && first.front() == '-') {
    return usage_error(fmt::format("unknown option '{}' (options follow the subcommand)", first));
  }
  const Entry* entry = find_entry(first);
  if (entry == nullptr) return unknown_subcommand(first);
  return run_subcommand(*entry, std::move(args));
}

}  // namespace

const std::vector<SubcommandInfo>& subcommands() {
  static const std::vector<SubcommandInfo> infos = [] {
    std::vector<SubcommandInfo> result;
    for (const Entry& entry : registry()) result.push_back(entry.info);
    return result;
  }();
  return infos;
}

namespace {

// argv[0] without its directory, a `.exe` suffix and a trailing `-N` (wsecho-2, as versioned
// installs name their tools).
std::string_view program_stem(std::string_view argv0) {
  std::string_view stem = argv0.substr(argv0.find_last_of("/\\") + 1);
  if (stem.size() > kExeSuffix.size() &&
      stem.substr(stem.size() - kExeSuffix.size()) == kExeSuffix) {
    stem.remove_suffix(kExeSuffix.size());
  }
  const std::size_t dash = stem.find_last_of('-');
  if (dash != std::string_view::npos && dash + 1 < stem.size() &&
      stem.find_first_not_of("0123456789", dash + 1) == std::string_view::npos) {
    stem = stem.substr(0, dash);
  }
  return stem;
}

// The <name> of a ws<name> invocation; empty for the driver itself (wstool, wstool-dev).
std::string_view linked_name(std::string_view stem) {
  if (stem.substr(0, kDriverName.size()) == kDriverName) return {};
  if (stem.substr(0, kLinkPrefix.size()) != kLinkPrefix) return {};
  return stem.substr(kLinkPrefix.size());
}

}  // namespace

std::string_view subcommand_for_program(std::string_view argv0) {
  const Entry* entry = find_entry(linked_name(program_stem(argv0)));
  return entry == nullptr ? std::string_view{} : entry->info.name;
}

std::string_view unknown_link_name(std::string_view argv0) {
  const std::string_view name = linked_name(program_stem(argv0));
  return find_entry(name) == nullptr ? name : std::string_view{};
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view suggest_subcommand(std::string_view name) {
  std::string_view best;
  std::size_t best_distance = kMaxSuggestDistance + 1;
  for (const Entry& entry : registry()) {
    const std::size_t distance = edit_distance(name, entry.info.name);
    // Never suggest a name that shares nothing with the typo ("ab" is two edits from "cd").
    if (distance < best_distance && distance < entry.info.name.size()) {
      best = entry.info.name;
      best_distance = distance;
    }
  }
  return best;
}

int run_driver(int argc, char** argv) {
  // A peer or reader that goes away must show up as an error on the write, not kill us (curl).
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return dispatch(argc, argv);
  } catch (const std::exception& error) {
    report_error(kDriverName, fmt::format("internal error: {}", error.what()));
    return static_cast<int>(ExitCode::kInternal);
  }
}

}  // namespace wstool::tools
