"""nbgrader reads this file when run from the project root; the settings live in autograder/."""
load_subconfig("autograder/nbgrader_config.py")  # noqa: F821 - provided by traitlets
