"""Keras and JAX trimmed for grading: optional extras not loaded, one MLIR context for every small program.

`import keras` imports scikit-learn (for `keras.wrappers`) and matplotlib.pyplot (for `keras.visualization`) when
they are installed, and JAX's sparse package imports its sparse linear algebra, which loads SciPy's: together well
over half of its import time, paid by every student's kernel. Keras treats the first two as optional (it catches
the ImportError) and grading uses none of them. Only imports made by those Keras packages are refused; the
student's own code can still import scikit-learn or matplotlib, and the sparse linear algebra loads on first use.

A student's Keras code and the tests run many tiny programs, each lowered once; JAX builds a fresh MLIR context
(every dialect loaded again) for each lowering, a third of the work. Grading processes are short-lived, so one
context serves them all.
"""
import functools
import importlib.abc
import importlib.machinery
import importlib.util
import sys

EXTRAS = ("sklearn", "matplotlib")
IMPORTERS = ("keras.src.wrappers", "keras.src.visualization")
MACHINERY = ("importlib", "_frozen_importlib")
ON_FIRST_USE = ("jax.experimental.sparse.linalg",)
LOWERING = "jax._src.interpreters.mlir"


class SkipKerasExtras:
    """A meta-path finder that refuses EXTRAS to IMPORTERS, defers ON_FIRST_USE, shares JAX's lowering context."""

    def find_spec(self, name, path=None, target=None):
        """Raise ModuleNotFoundError for an extra imported by a Keras extra; a changed spec for the two JAX modules."""
        if name in ON_FIRST_USE or name == LOWERING:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = importlib.util.LazyLoader(spec.loader) if name in ON_FIRST_USE else AfterLoad(spec.loader)
            return spec
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


class AfterLoad(importlib.abc.Loader):
    """Loads JAX's lowering module as usual, then makes it build one MLIR context and reuse it."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        module.make_ir_context = functools.lru_cache(maxsize=1)(module.make_ir_context)
