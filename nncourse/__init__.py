"""Helpers for the neural-networks course: live widgets, plots, toy data and feedback checks."""
import os

__version__ = "0.1.0"
__all__ = ["start", "__version__", "HEADLESS"]
HEADLESS = os.environ.get("NNCOURSE_HEADLESS") == "1"  # set by the grader: nobody watches, so nothing is drawn


def __getattr__(name):
    """`nncourse.start` on first use, so code that needs only nncourse.feedback (the grader's tester) skips matplotlib."""
    if name == "start":
        from nncourse.lesson import start
        return start
    raise AttributeError(f"module 'nncourse' has no attribute {name!r}")
