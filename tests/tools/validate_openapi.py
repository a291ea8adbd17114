#!/usr/bin/python3
"""Validates an OpenAPI 3.1 document, and optionally real answers against its schemas.

  validate_openapi.py OAS_SCHEMA DOCUMENT [SCHEMA_NAME=INSTANCE_FILE ...]

OAS_SCHEMA is the OpenAPI Initiative's JSON Schema for 3.1 documents (tests/data/openapi/). The
document must validate against it (JSON Schema 2020-12), every schema under components/schemas must
be a valid 2020-12 schema, and every "$ref" in the document must resolve inside it. Each
SCHEMA_NAME=INSTANCE_FILE validates the JSON in INSTANCE_FILE against #/components/schemas/SCHEMA_NAME.
Prints every problem found; exit status 0 when there is none, 1 otherwise, 2 on bad usage.
Written for Debian bookworm's python3-jsonschema (4.10).
"""
import json
import sys

import jsonschema
from jsonschema import Draft202012Validator


def refs(node, where="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, where + "/" + key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, where + "/" + str(i))


def resolve_pointer(document, pointer):
    node = document
    for part in pointer.lstrip("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        oas_schema = json.load(f)
    with open(argv[2], encoding="utf-8") as f:
        document = json.load(f)
    problems = []

    Draft202012Validator.check_schema(oas_schema)
    for error in Draft202012Validator(oas_schema).iter_errors(document):
        problems.append("OpenAPI 3.1: at /%s: %s" % ("/".join(map(str, error.absolute_path)), error.message))

    schemas = document.get("components", {}).get("schemas", {}) if isinstance(document, dict) else {}
    for name, schema in schemas.items():
        for error in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema):
            problems.append("components/schemas/%s is not a JSON Schema 2020-12: %s" % (name, error.message))

    for where, target in refs(document):
        if not target.startswith("#/") or not resolve_pointer(document, target):
            problems.append("%s: $ref %s does not resolve in the document" % (where, target))

    resolver = jsonschema.RefResolver.from_schema(document)
    for pair in argv[3:]:
        name, _, path = pair.partition("=")
        if name not in schemas:
            problems.append("%s: no schema %s in components/schemas" % (path, name))
            continue
        with open(path, encoding="utf-8") as f:
            instance = json.load(f)
        validator = Draft202012Validator({"$ref": "#/components/schemas/" + name}, resolver=resolver)
        for error in validator.iter_errors(instance):
            problems.append("%s against %s: at /%s: %s" % (path, name, "/".join(map(str, error.absolute_path)), error.message))

    for problem in problems:
        print(problem)
    if not problems:
        print("valid: OpenAPI 3.1 document, %d component schemas, %d answers" % (len(schemas), len(argv) - 3))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
