"""Instructor tooling: the solutions-to-lessons pipeline and grading on top of nbgrader."""
