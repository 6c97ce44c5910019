// The multi-call driver: picks a subcommand from argv[0] or argv[1], parses its command line,
// handles --help and --version for all of them, and is the one place exceptions become exits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace wstool::tools {

struct SubcommandInfo {
  std::string_view name;
  std::string_view summary;
};

// Every subcommand in the registry (tools/subcommands.def), in --help order.
const std::vector<SubcommandInfo>& subcommands();

// The subcommand an invocation name selects: the stem of argv[0] (directory, `.exe` and a
// trailing `-N` removed) must read `ws<name>`. Empty when it names none, as for `wstool`.
std::string_view subcommand_for_program(std::string_view argv0);

// The <name> of an invocation that reads ws<name> when <name> is no subcommand (`wsechoo`, a
// stale link); empty otherwise, as for `wsecho` or `wstool`.
std::string_view unknown_link_name(std::string_view argv0);

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The registered subcommand closest to `name`, or empty when none is close enough to suggest.
std::string_view suggest_subcommand(std::string_view name);

// The whole of `main`: returns the process exit status.
int run_driver(int argc, char** argv);

}  // namespace wstool::tools
