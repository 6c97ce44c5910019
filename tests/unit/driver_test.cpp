// In-process tests of the driver's name handling: which subcommand a program name selects, and
// the "did you mean" suggestion. Run against whatever the registry lists.
#include "tools/driver.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool::tools {
namespace {

std::string first_name() { return std::string(subcommands().front().name); }

TEST(SubcommandForProgramTest, LinkNameSelectsTheSubcommand) {
  const std::string name = first_name();
  EXPECT_EQ(subcommand_for_program("ws" + name), name);
  EXPECT_EQ(subcommand_for_program("/usr/local/bin/ws" + name), name);
  EXPECT_EQ(subcommand_for_program("./ws" + name), name);
}

TEST(SubcommandForProgramTest, ToleratesExeAndNumberSuffixes) {
  const std::string name = first_name();
  EXPECT_EQ(subcommand_for_program("ws" + name + ".exe"), name);
  EXPECT_EQ(subcommand_for_program("ws" + name + "-2"), name);
  EXPECT_EQ(subcommand_for_program("ws" + name + "-14.exe"), name);
  EXPECT_EQ(subcommand_for_program("C:\\tools\\ws" + name + ".exe"), name);
}

TEST(SubcommandForProgramTest, OtherNamesSelectNothing) {
  const std::string name = first_name();
  EXPECT_EQ(subcommand_for_program("wstool"), "");
  EXPECT_EQ(subcommand_for_program("/usr/bin/wstool-2"), "");
  EXPECT_EQ(subcommand_for_program(name), "");             // the prefix is required
  EXPECT_EQ(subcommand_for_program("ws" + name + "x"), "");
  EXPECT_EQ(subcommand_for_program("ws" + name + "-"), "");    // no number after the dash
  EXPECT_EQ(subcommand_for_program("ws" + name + "-2a"), "");
  EXPECT_EQ(subcommand_for_program("/ws" + name + "/wstool"), "");  // only the last component
  EXPECT_EQ(subcommand_for_program(""), "");
}

TEST(UnknownLinkNameTest, NamesWhatAWsLinkAskedForWhenItIsNoSubcommand) {
  const std::string name = first_name();
  EXPECT_EQ(unknown_link_name("/usr/bin/ws" + name + "x-2"), name + "x");
  EXPECT_EQ(unknown_link_name("wsfoo.exe"), "foo");
  EXPECT_EQ(unknown_link_name("ws" + name), "");    // a real link
  EXPECT_EQ(unknown_link_name("wstool"), "");       // the driver under its own names
  EXPECT_EQ(unknown_link_name("wstool-dev"), "");
  EXPECT_EQ(unknown_link_name("ws"), "");           // the prefix alone names nothing
  EXPECT_EQ(unknown_link_name("a.out"), "");
}

TEST(EditDistanceTest, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("", ""), 0U);
  EXPECT_EQ(edit_distance("echo", "echo"), 0U);
  EXPECT_EQ(edit_distance("ecko", "echo"), 1U);
  EXPECT_EQ(edit_distance("srve", "serve"), 1U);
  EXPECT_EQ(edit_distance("serve", "srve"), 1U);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3U);
  EXPECT_EQ(edit_distance("", "abc"), 3U);
}

TEST(SuggestSubcommandTest, SuggestsOnlyCloseNames) {
  const std::string name = first_name();
  std::string typo = name;
  typo.back() = typo.back() == 'z' ? 'y' : 'z';
  EXPECT_EQ(suggest_subcommand(typo), name);
  EXPECT_EQ(suggest_subcommand(name + "s"), name);
  EXPECT_EQ(suggest_subcommand("zzzzzzzzzzzz"), "");
  EXPECT_EQ(suggest_subcommand(""), "");
}

}  // namespace
}  // namespace wstool::tools
