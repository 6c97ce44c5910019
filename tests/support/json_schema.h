// Validating JSON documents against the JSON Schemas in man/schemas/ from the tests: through
// python3-jsonschema (tests/support/validate_json_schema.py), which scripts/install-deps installs.
#pragma once

#include <string>
#include <vector>

#include "tests/support/run_process.h"

namespace wstool::test {

// A python3 (along PATH, then /usr/bin) that can import jsonschema, or "" when none can.
std::string python_with_jsonschema();

// True under scripts/test (WSTOOL_REQUIRE_JSONSCHEMA=1): a missing validator is then a failure,
// not a skip, as a missing browser is for the browser tests.
bool jsonschema_required();

// Runs the validator on `documents` (file paths): exit 0 all valid, 1 some invalid (the errors
// on stdout, one a line, "FILE: PATH: MESSAGE").
ProcessResult validate_against_schema(const std::string& python, const std::string& schema_path,
                                      const std::vector<std::string>& documents);

}  // namespace wstool::test
