"""Small toy datasets generated on the spot: nothing is ever downloaded."""
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


def moons(n=200, noise=0.2, seed=0):
    """Two interleaving half circles (scikit-learn's make_moons), seeded."""
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n, noise=noise, random_state=seed)


def circles(n=200, noise=0.1, factor=0.5, seed=0):
    """A small circle inside a large one (scikit-learn's make_circles), seeded."""
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)


def digits():
    """The 8x8 handwritten digits bundled with scikit-learn: X (1797, 64) scaled to [0, 1], y (1797,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data / 16.0, bunch.target
