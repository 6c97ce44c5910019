// Holds the man pages to the code (curl's test1139): every subcommand has man/wstool-NAME.1,
// every long option its --help prints is documented there and every option documented exists,
// and man/wstool.1's EXIT STATUS table and precedence rule match lib/error's.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "lib/error.h"
#include "tests/e2e/registry.h"
#include "tests/support/run_process.h"

namespace wstool::test {
namespace {

const std::string kBinary = WSTOOL_BINARY;
const std::string kManDir = std::string(WSTOOL_SOURCE_DIR) + "/man";

// Options every subcommand gets from the driver; documented once, in wstool(1).
const std::set<std::string> kDriverOptions = {"--help", "--version"};

// roff source to the text a reader sees, enough to search it: font changes and zero-width
// escapes dropped, escaped hyphens made plain.
std::string roff_to_text(const std::string& roff) {
  static const std::regex kFont(R"(\\f(\[[A-Z]*\]|\(..|.))");
  std::string text = std::regex_replace(roff, kFont, "");
  static const std::vector<std::pair<std::string, std::string>> kEscapes = {
      {"\\-", "-"}, {"\\&", ""}, {"\\(aq", "'"}, {"\\(em", "--"}, {"\\e", "\\"}, {"\\ ", " "}};
  for (const auto& [escape, plain] : kEscapes) {
    for (std::size_t at = text.find(escape); at != std::string::npos; at = text.find(escape, at)) {
      text.replace(at, escape.size(), plain);
      at += plain.size();
    }
  }
  return text;
}

std::set<std::string> long_options_in(const std::string& text) {
  static const std::regex kLongOption(R"((^|[^A-Za-z0-9-])(--[a-z0-9][a-z0-9-]*))");
  std::set<std::string> options;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kLongOption);
       it != std::sregex_iterator(); ++it) {
    options.insert((*it)[2]);
  }
  return options;
}

// The roff lines of section `title` (.SH TITLE or .SH "TITLE"), up to the next .SH.
std::vector<std::string> section(const std::string& roff, const std::string& title) {
  std::vector<std::string> lines;
  bool inside = false;
  for (const std::string& line : lines_of(roff)) {
    if (line.rfind(".SH", 0) == 0) {
      std::string name = line.substr(3);
      name.erase(0, name.find_first_not_of(" \""));
      name.erase(name.find_last_not_of(" \"") + 1);
      inside = name == title;
      continue;
    }
    if (inside) lines.push_back(line);
  }
  return lines;
}

// The tags of the .TP entries in some section lines (the line after each .TP), as plain text.
std::vector<std::string> tp_tags(const std::vector<std::string>& lines) {
  std::vector<std::string> tags;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].rfind(".TP", 0) == 0) tags.push_back(roff_to_text(lines[i + 1]));
  }
  return tags;
}

std::string strip_macro(const std::string& line) {
  if (line.rfind(".B ", 0) == 0 || line.rfind(".I ", 0) == 0) return line.substr(3);
  if (line.rfind(".BR ", 0) == 0 || line.rfind(".IR ", 0) == 0) return line.substr(4);
  return line;
}

std::string help_of(const std::string& name) {
  const ProcessResult result = run_process({kBinary, name, "--help"});
  EXPECT_TRUE(result.exited_with(0)) << name << ": " << result.err;
  return result.out;
}

TEST(DocsTest, EverySubcommandHasAManPage) {
  for (const auto& sub : registered_subcommands()) {
    EXPECT_TRUE(std::filesystem::is_regular_file(kManDir + "/wstool-" + sub.name + ".1"))
        << "man/wstool-" << sub.name << ".1 is missing";
  }
}

TEST(DocsTest, OverviewPageListsEverySubcommand) {
  const std::string overview = roff_to_text(read_file(kManDir + "/wstool.1"));
  for (const auto& sub : registered_subcommands()) {
    EXPECT_NE(overview.find("wstool-" + sub.name + "(1)"), std::string::npos)
        << "wstool.1 does not refer to wstool-" << sub.name << "(1)";
  }
}

TEST(DocsTest, EveryOptionInHelpIsInTheManPage) {
  const std::string overview = roff_to_text(read_file(kManDir + "/wstool.1"));
  const std::set<std::string> overview_options = long_options_in(overview);
  for (const auto& sub : registered_subcommands()) {
    const std::string page_path = kManDir + "/wstool-" + sub.name + ".1";
    if (!std::filesystem::exists(page_path)) continue;  // reported by EverySubcommandHasAManPage
    const std::set<std::string> documented = long_options_in(roff_to_text(read_file(page_path)));
    const std::set<std::string> offered = long_options_in(help_of(sub.name));
    ASSERT_FALSE(offered.empty()) << sub.name;
    for (const std::string& option : offered) {
      if (kDriverOptions.count(option) != 0) {
        EXPECT_EQ(overview_options.count(option), 1U) << option << " is not in wstool.1";
      } else {
        EXPECT_EQ(documented.count(option), 1U)
            << "wstool " << sub.name << " " << option << " is not in man/wstool-" << sub.name << ".1";
      }
    }
  }
}

// The other direction: an option described in the OPTIONS section must exist.
TEST(DocsTest, EveryOptionInTheManPageExists) {
  for (const auto& sub : registered_subcommands()) {
    const std::string page_path = kManDir + "/wstool-" + sub.name + ".1";
    if (!std::filesystem::exists(page_path)) continue;
    const std::string roff = read_file(page_path);
    const std::set<std::string> offered = long_options_in(help_of(sub.name));
    std::vector<std::string> tags;
    for (const char* title : {"OPTIONS", "CLIENT OPTIONS"}) {
      for (const std::string& tag : tp_tags(section(roff, title))) tags.push_back(tag);
    }
    ASSERT_FALSE(tags.empty()) << "man/wstool-" << sub.name << ".1 has no OPTIONS entries";
    for (const std::string& tag : tags) {
      for (const std::string& option : long_options_in(tag)) {
        EXPECT_EQ(offered.count(option), 1U)
            << "man/wstool-" << sub.name << ".1 documents " << option
            << " but `wstool " << sub.name << " --help` does not list it";
      }
    }
  }
}

// Each option's documented entries: the .TP tag naming it and the text up to the next entry.
std::multimap<std::string, std::string> option_entries(const std::string& roff) {
  std::multimap<std::string, std::string> entries;
  const std::vector<std::string> lines = lines_of(roff);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].rfind(".TP", 0) != 0) continue;
    const std::string tag = roff_to_text(lines[i + 1]);
    std::string body;
    for (std::size_t j = i + 2; j < lines.size(); ++j) {
      const std::string& line = lines[j];
      if (line.rfind(".TP", 0) == 0 || line.rfind(".SH", 0) == 0 || line.rfind(".SS", 0) == 0 ||
          line.rfind(".PP", 0) == 0) {
        break;
      }
      body += roff_to_text(strip_macro(line)) + "\n";
    }
    for (const std::string& option : long_options_in(tag)) entries.emplace(option, body);
  }
  return entries;
}

// The defaults CLI11 shows in --help (`--listen HOST:PORT=127.0.0.1:9001`), by option.
std::map<std::string, std::string> defaults_in_help(const std::string& help) {
  static const std::regex kOptionLine(R"(^ +(?:-[A-Za-z],)?(--[a-z0-9-]+)(.*)$)");
  std::map<std::string, std::string> defaults;
  for (const std::string& line : lines_of(help)) {
    std::smatch match;
    if (!std::regex_match(line, match, kOptionLine)) continue;
    std::string column = match[2];
    column = column.substr(0, column.find("  "));  // the description starts after the gap
    const std::size_t equals = column.find('=');
    if (equals == std::string::npos) continue;
    defaults[match[1]] = column.substr(equals + 1, column.find(' ', equals) - equals - 1);
  }
  return defaults;
}

// A default the binary shows must be the default the man page states: no silent drift.
TEST(DocsTest, EveryDefaultInHelpIsTheManPagesDefault) {
  for (const auto& sub : registered_subcommands()) {
    const std::string page_path = kManDir + "/wstool-" + sub.name + ".1";
    if (!std::filesystem::exists(page_path)) continue;
    const auto entries = option_entries(read_file(page_path));
    for (const auto& [option, value] : defaults_in_help(help_of(sub.name))) {
      bool stated = false;
      const auto [first, last] = entries.equal_range(option);
      for (auto it = first; it != last; ++it) {
        stated = stated || it->second.find(value) != std::string::npos;
      }
      EXPECT_TRUE(stated) << "man/wstool-" << sub.name << ".1 does not give " << option
                          << "'s default " << value << " (from --help)";
    }
  }
}

// The EXIT STATUS table: one .TP entry per code, tag = the number, body = the meaning, in the
// order and words of exit_code_docs().
// In a macro line's quoted argument, \e" prints a backslash and ends the argument: an example
// written that way renders as something else than the text a reader should type (\(dq is a quote).
TEST(DocsTest, NoMacroArgumentIsCutByAnEscapedQuote) {
  for (const auto& entry : std::filesystem::directory_iterator(kManDir)) {
    if (!entry.is_regular_file()) continue;
    const std::string text = read_file(entry.path().string());
    std::size_t line_no = 0;
    for (const std::string& line : lines_of(text)) {
      ++line_no;
      if (line.empty() || line[0] != '.') continue;
      EXPECT_EQ(line.find("\\e\""), std::string::npos)
          << entry.path().filename().string() << ":" << line_no << ": " << line;
    }
  }
}

TEST(DocsTest, ExitStatusTableMatchesTheCode) {
  const std::vector<std::string> lines = section(read_file(kManDir + "/wstool.1"), "EXIT STATUS");
  ASSERT_FALSE(lines.empty()) << "wstool.1 has no EXIT STATUS section";
  std::vector<std::pair<std::string, std::string>> table;  // code, meaning
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(".TP", 0) != 0 || i + 1 >= lines.size()) continue;
    std::string code = roff_to_text(strip_macro(lines[++i]));
    std::string meaning;
    while (i + 1 < lines.size() && !lines[i + 1].empty() && lines[i + 1][0] != '.') {
      meaning += (meaning.empty() ? "" : " ") + roff_to_text(lines[++i]);
    }
    table.emplace_back(code, meaning);
  }
  std::size_t count = 0;
  const ExitCodeDoc* docs = exit_code_docs(count);
  ASSERT_EQ(table.size(), count) << "wstool.1 lists " << table.size() << " exit codes, lib has " << count;
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_EQ(table[i].first, std::to_string(static_cast<int>(docs[i].code)));
    EXPECT_EQ(table[i].second, std::string(docs[i].meaning)) << "exit code " << table[i].first;
  }
}

// The precedence sentence, derived from exit_code_rank(): groups of equal rank, highest first.
TEST(DocsTest, ExitStatusPrecedenceMatchesTheCode) {
  std::size_t count = 0;
  const ExitCodeDoc* docs = exit_code_docs(count);
  std::map<int, std::vector<int>, std::greater<>> by_rank;
  for (std::size_t i = 0; i < count; ++i) {
    by_rank[exit_code_rank(docs[i].code)].push_back(static_cast<int>(docs[i].code));
  }
  std::string rule;
  for (auto& [rank, codes] : by_rank) {
    std::sort(codes.begin(), codes.end());
    if (!rule.empty()) rule += " > ";
    for (std::size_t i = 0; i < codes.size(); ++i) rule += (i == 0 ? "" : "/") + std::to_string(codes[i]);
  }
  std::string text;
  for (const std::string& line : section(read_file(kManDir + "/wstool.1"), "EXIT STATUS")) {
    text += roff_to_text(line) + "\n";
  }
  EXPECT_NE(text.find(rule), std::string::npos) << "wstool.1 EXIT STATUS lacks the precedence " << rule;
}

// Regression: `.BR {{rand N}} ,` rendered as "{{randN}}," (the alternating font macros take
// each space-separated word as an argument and join them without spaces), so wstool-load(1)
// named a template field that does not exist. A template field in a font macro is quoted.
TEST(DocsTest, TemplateFieldsInFontMacrosAreNotSplitAcrossArguments) {
  static const std::regex kMacro(R"(^\.(BR|RB|BI|IB|IR|RI) )");
  for (const auto& entry : std::filesystem::directory_iterator(kManDir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".json" || !entry.is_regular_file()) continue;
    for (const std::string& line : lines_of(read_file(entry.path().string()))) {
      if (!std::regex_search(line, kMacro)) continue;
      // Unquoted words: one that opens a field without closing it splits the field.
      bool quoted = false;
      std::string word;
      for (std::size_t i = line.find(' '); i <= line.size(); ++i) {
        const char c = i < line.size() ? line[i] : ' ';
        if (c == '"') quoted = !quoted;
        if (c == ' ' && !quoted) {
          const std::size_t open = word.rfind("{{"), close = word.rfind("}}");
          EXPECT_FALSE(open != std::string::npos && (close == std::string::npos || close < open))
              << name << ": a template field split across macro arguments: " << line;
          word.clear();
        } else {
          word += c;
        }
      }
    }
  }
}

}  // namespace
}  // namespace wstool::test
