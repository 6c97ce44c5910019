// The contract between the driver and a subcommand: a factory that adds the subcommand's options
// to its CLI11 app and returns the function that runs it once the command line is parsed.
#pragma once

#include <functional>

#include "lib/error.h"

namespace CLI {
class App;
}

namespace wstool::tools {

using Runner = std::function<ExitCode()>;

// tools/subcommands.def lists every subcommand once; for each NAME it declares
//   Runner make_NAME(CLI::App& app);
#define WSTOOL_SUBCOMMAND(name, summary) Runner make_##name(CLI::App& app);
#include "tools/subcommands.def"
#undef WSTOOL_SUBCOMMAND

}  // namespace wstool::tools
