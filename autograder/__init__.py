"""Instructor tooling: grading submissions on top of nbgrader, sandboxed (the course build lives in publish/)."""
