"""Instructor tooling: grading submissions on top of nbgrader, sandboxed (the course build lives in publish/)."""
import sys

# jsonschema (imported by nbformat) builds 39 lark grammars when rfc3987_syntax is installed: 1.5 s in every
# grading process, for an "iri" format check no notebook schema uses. Without it, jsonschema skips that check.
sys.modules.setdefault("rfc3987_syntax", None)
