// Validating JSON documents against our JSON Schemas from the tests (see json_schema.h).
#include "tests/support/json_schema.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

namespace wstool::test {

namespace {

// python3 with jsonschema needs about a second of CPU to start and check four documents; on a
// busy 2-core host (CI, ctest -j, a build beside it) that took longer than run_process's default
// 10 s. Only a hung validator meets this bound (a passing check returns as soon as python does),
// and it stays below the e2e tests' own 60 s limit, so the test, not ctest, says what hung.
constexpr std::chrono::seconds kPythonTimeout{45};

}  // namespace

std::string python_with_jsonschema() {
  const char* path_env = std::getenv("PATH");
  std::vector<std::string> candidates;
  std::istringstream dirs(path_env != nullptr ? path_env : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty()) candidates.push_back(dir + "/python3");
  }
  // Debian's python3-jsonschema belongs to /usr/bin/python3, which a pyenv on PATH may shadow.
  candidates.push_back("/usr/bin/python3");
  for (const auto& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) != 0) continue;
    ProcessOptions options;
    options.timeout = kPythonTimeout;
    if (run_process({candidate, "-c", "import jsonschema"}, options).exited_with(0)) return candidate;
  }
  return "";
}

bool jsonschema_required() {
  const char* required = std::getenv("WSTOOL_REQUIRE_JSONSCHEMA");
  return required != nullptr && std::string(required) == "1";
}

ProcessResult validate_against_schema(const std::string& python, const std::string& schema_path,
                                      const std::vector<std::string>& documents) {
  std::vector<std::string> argv{python, std::string(WSTOOL_SOURCE_DIR) + "/tests/support/validate_json_schema.py",
                                schema_path};
  argv.insert(argv.end(), documents.begin(), documents.end());
  ProcessOptions options;
  options.timeout = kPythonTimeout;
  ProcessResult result = run_process(argv, options);
  // Callers print out and err when the check fails: say why when there is nothing else to say.
  if (result.timed_out) {
    result.err += "validate_json_schema.py did not finish within " + std::to_string(kPythonTimeout.count()) +
                  " s and was killed\n";
  }
  return result;
}

}  // namespace wstool::test
