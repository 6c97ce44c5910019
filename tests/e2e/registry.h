// The subcommand registry as the tests see it: read from tools/subcommands.def itself, so the
// tests check the binary and the docs against the one list, whatever it holds.
#pragma once

#include <string>
#include <vector>

namespace wstool::test {

struct RegisteredSubcommand {
  std::string name;
  std::string summary;
};

inline const std::vector<RegisteredSubcommand>& registered_subcommands() {
  static const std::vector<RegisteredSubcommand> list{
#define WSTOOL_SUBCOMMAND(name, summary) {#name, summary},
#include "tools/subcommands.def"
#undef WSTOOL_SUBCOMMAND
  };
  return list;
}

}  // namespace wstool::test
