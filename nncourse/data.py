"""Small toy datasets generated on the spot: nothing is ever downloaded."""
import importlib.util
from pathlib import Path

import numpy as np

GATES = {"and": (0, 0, 0, 1), "or": (0, 1, 1, 1), "xor": (0, 1, 1, 0), "nand": (1, 1, 1, 0)}


def logic_gate(name):
    """The four inputs of a two-input logic gate as X (4, 2) floats and its truth table as y (4,) ints."""
    key = name.lower()
    if key not in GATES:
        raise ValueError(f"Unknown gate {name!r}; choose one of {sorted(GATES)}.")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return X, np.array(GATES[key])


def blobs(n=40, separation=3.0, seed=0):
    """Two Gaussian clouds, one per class, `separation` apart: linearly separable for separation >= 3."""
    if n < 2:
        raise ValueError(f"blobs needs n >= 2 examples, got {n}.")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    centres = np.where(y[:, None] == 1, separation / 2, -separation / 2) * np.array([1.0, 0.6])
    X = centres + rng.normal(scale=0.5, size=(n, 2))
    return X, y


def _two_curves(first, second, noise, seed):
    """Stack two point curves as classes 0 and 1, then shuffle and add noise exactly as scikit-learn does."""
    X = np.vstack([first, second]).astype(float)
    y = np.hstack([np.zeros(len(first), dtype=np.intp), np.ones(len(second), dtype=np.intp)])
    rng = np.random.RandomState(seed)  # legacy generator: the same points as sklearn's make_moons/make_circles
    order = np.arange(len(y))
    rng.shuffle(order)
    X, y = X[order], y[order]
    if noise is not None:
        X += rng.normal(scale=noise, size=X.shape)
    return X, y


def moons(n=200, noise=0.2, seed=0):
    """Two interleaving half circles, identical to scikit-learn's make_moons (without importing it)."""
    n_out, n_in = n // 2, n - n // 2
    top, bottom = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    first = np.column_stack([np.cos(top), np.sin(top)])
    second = np.column_stack([1 - np.cos(bottom), 1 - np.sin(bottom) - 0.5])
    return _two_curves(first, second, noise, seed)


def circles(n=200, noise=0.1, factor=0.5, seed=0):
    """A small circle inside a large one, identical to scikit-learn's make_circles (without importing it)."""
    n_out, n_in = n // 2, n - n // 2
    outer = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    inner = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    first = np.column_stack([np.cos(outer), np.sin(outer)])
    second = np.column_stack([np.cos(inner), np.sin(inner)]) * factor
    return _two_curves(first, second, noise, seed)


def digits():
    """The 8x8 handwritten digits that ship with scikit-learn: X (1797, 64) scaled to [0, 1], y (1797,).

    Read straight from scikit-learn's bundled file: importing scikit-learn would cost seconds.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise RuntimeError("The digits data ships with scikit-learn; install the course requirements.")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1] / 16.0, table[:, -1].astype(int)


def noisy_line(n=30, w=1.5, b=0.5, noise=0.5, seed=0):
    """Points scattered around the line y = w x + b: x (n,) uniform in [-2, 2], y (n,) with Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2.0, 2.0, size=n))
    return x, w * x + b + rng.normal(scale=noise, size=n)
