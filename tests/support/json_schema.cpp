// Validating JSON documents against our JSON Schemas from the tests (see json_schema.h).
#include "tests/support/json_schema.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace wstool::test {

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
    if (run_process({candidate, "-c", "import jsonschema"}).exited_with(0)) return candidate;
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
  return run_process(argv);
}

}  // namespace wstool::test
