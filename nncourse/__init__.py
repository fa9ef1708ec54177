"""Helpers for the neural-networks course: live widgets, plots, toy data and feedback checks."""
import functools
import os

__version__ = "0.1.0"
__all__ = ["start", "__version__", "HEADLESS", "QUICK_XLA_FLAGS", "demo"]
HEADLESS = os.environ.get("NNCOURSE_HEADLESS") == "1"  # set by the grader: nobody watches, so nothing is drawn
# Networks this small run in microseconds, but XLA spends a tenth of a second optimising each operation it
# compiles (every operation, once per shape and float type): compiling them plainly halves a Keras lesson's time,
# and XLA's older loop emitters compile a further two to four times faster than its fusion emitters.
QUICK_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def demo(function):
    """Mark a lesson's demonstration: in the grader's kernel (HEADLESS) it is not run, prints why, returns None."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        if HEADLESS:
            print(f"({function.__name__}: a demonstration, not run while grading; the tests call your functions)")
            return None
        return function(*args, **kwargs)
    return run


def __getattr__(name):
    """`nncourse.start` on first use, so code that needs only nncourse.feedback (the grader's tester) skips matplotlib."""
    if name == "start":
        from nncourse.lesson import start
        return start
    raise AttributeError(f"module 'nncourse' has no attribute {name!r}")
