#!/usr/bin/env python3
# Validates JSON documents against a JSON Schema (draft 2020-12) for the tests, e.g. the load
# results document against man/schemas/load-results-v1.json. Exit 0: all valid; 1: some document
# is invalid (each error printed with its path); 3: python3-jsonschema is not installed.
import json
import sys

MISSING_MODULE = 3

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(MISSING_MODULE)


def main(argv):
    if len(argv) < 3:
        print("usage: validate_json_schema.py SCHEMA DOCUMENT...", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    invalid = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(document)"
            print(f"{path}: {where}: {error.message}")
            invalid += 1
    return 1 if invalid else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
