"""Helpers for the neural-networks course: live widgets, plots, toy data and feedback checks."""
from nncourse.lesson import start

__version__ = "0.1.0"
__all__ = ["start", "__version__"]
