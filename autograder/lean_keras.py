"""Keras without its optional extras while grading: its scikit-learn wrappers and plotting helpers are not loaded.

`import keras` imports scikit-learn (for `keras.wrappers`) and matplotlib.pyplot (for `keras.visualization`) when
they are installed: half of its import time, paid by every student's kernel and tester. Both are optional to
Keras (it catches the ImportError), and grading uses neither. Only imports made by those two Keras packages are
refused; the student's own code can still import scikit-learn or matplotlib.
"""
import sys

EXTRAS = ("sklearn", "matplotlib")
IMPORTERS = ("keras.src.wrappers", "keras.src.visualization")
MACHINERY = ("importlib", "_frozen_importlib")


class SkipKerasExtras:
    """A meta-path finder that refuses EXTRAS to IMPORTERS and defers every other import."""

    def find_spec(self, name, path=None, target=None):
        """Raise ModuleNotFoundError for an extra imported by a Keras extra; otherwise None (not mine)."""
        if name.split(".")[0] not in EXTRAS:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(MACHINERY):
            frame = frame.f_back
        if frame is not None and frame.f_globals.get("__name__", "").startswith(IMPORTERS):
            raise ModuleNotFoundError(f"{name} is not loaded for Keras while grading", name=name)
        return None


def install():
    """Put the finder first on sys.meta_path (once)."""
    if not any(isinstance(finder, SkipKerasExtras) for finder in sys.meta_path):
        sys.meta_path.insert(0, SkipKerasExtras())
