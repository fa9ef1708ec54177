"""Instructor tooling: grading submissions on top of nbgrader, sandboxed (the course build lives in publish/)."""
import os
import sys

# jsonschema (imported by nbformat) builds 39 lark grammars when rfc3987_syntax is installed: 1.5 s in every
# grading process, for an "iri" format check no notebook schema uses. Without it, jsonschema skips that check.
sys.modules.setdefault("rfc3987_syntax", None)
# nbgrader reads, validates and writes each notebook several times: nbformat's fastjsonschema validator checks
# the same schema 20x faster (inherited by the runner processes)
os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
