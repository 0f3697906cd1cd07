"""Validate the OpenAPI description in docs/api.md (openapi-spec-validator)
and print its paths, one per line, for the Rust test to compare with the
endpoints the server answers."""
import re
import sys

import yaml
from openapi_spec_validator import validate

text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"## OpenAPI\n.*?```yaml\n(.*?)```", text, re.S)
if not block:
    sys.exit("no ```yaml block under '## OpenAPI'")
spec = yaml.safe_load(block.group(1))
validate(spec)
for path, ops in spec["paths"].items():
    print(path, " ".join(sorted(k.upper() for k in ops if k in ("get", "head"))))
