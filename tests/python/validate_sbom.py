"""Validate an SBOM with the reference implementations.

Usage: validate_sbom.py cyclonedx|spdx FILE
CycloneDX: cyclonedx-python-lib's strict JSON-schema validation (1.6).
SPDX: spdx-tools' parser and full document validation (2.3).
Prints "valid", or the errors and exits 1.
"""
import sys

kind, path = sys.argv[1], sys.argv[2]
if kind == "cyclonedx":
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
    if err is not None:
        print(err)
        sys.exit(1)
else:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    doc = parse_file(path)
    msgs = validate_full_spdx_document(doc)
    if msgs:
        print("\n".join(m.validation_message for m in msgs))
        sys.exit(1)
print("valid")
