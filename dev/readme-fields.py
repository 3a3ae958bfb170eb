#!/usr/bin/env python3
"""Copies the field table of docs/fields.md into README.md between the fields markers."""
import sys

fields_path, readme_path = sys.argv[1], sys.argv[2]
fields = open(fields_path, encoding="utf-8").read()
table = fields[fields.index("| field |"):]
readme = open(readme_path, encoding="utf-8").read()
head, rest = readme.split("<!-- fields:start -->\n", 1)
_, tail = rest.split("<!-- fields:end -->", 1)
open(readme_path, "w", encoding="utf-8").write(
    head + "<!-- fields:start -->\n" + table + "<!-- fields:end -->" + tail
)
