"""Lesson 03 grading validity: stubs fail, solutions pass, typical mistakes are caught, other correct answers pass."""

import numpy as np

from nncourse import reference
from tests.validity import Exercises

ex = Exercises("03_forward_pass")
ACT = {"relu": reference.relu, "sigmoid": reference.sigmoid, "tanh": reference.tanh}


# --- dense_forward --------------------------------------------------------------------------------
@ex.wrong("dense_forward", "W transposed")
def dense_forward(X, W, b):
    return np.asarray(X, dtype=float) @ np.asarray(W, dtype=float).T + b


@ex.wrong("dense_forward", "bias dropped")
def dense_forward(X, W, b):
    return np.asarray(X, dtype=float) @ np.asarray(W, dtype=float)


@ex.wrong("dense_forward", "bias subtracted")
def dense_forward(X, W, b):
    return np.asarray(X, dtype=float) @ np.asarray(W, dtype=float) - b


@ex.wrong("dense_forward", "one column per example: W.T @ X.T")
def dense_forward(X, W, b):
    return np.asarray(W, dtype=float).T @ np.asarray(X, dtype=float).T + np.asarray(b, dtype=float).reshape(-1, 1)


@ex.wrong("dense_forward", "element-wise product instead of a matrix product")
def dense_forward(X, W, b):
    return np.asarray(X, dtype=float) * np.asarray(W, dtype=float).T + b


@ex.wrong("dense_forward", "no conversion: nested lists break")
def dense_forward(X, W, b):
    return X @ W + b


@ex.right("dense_forward", "triple loop")
def dense_forward(X, W, b):
    m, n_in, n_out = len(X), len(W), len(b)
    Z = np.zeros((m, n_out))
    for i in range(m):
        for j in range(n_out):
            Z[i, j] = b[j] + sum(X[i][k] * W[k][j] for k in range(n_in))
    return Z


@ex.right("dense_forward", "einsum on float32")
def dense_forward(X, W, b):
    return np.einsum("ik,kj->ij", np.asarray(X, dtype=np.float64), np.asarray(W, dtype=np.float64)) + np.asarray(b)


# --- count_params ---------------------------------------------------------------------------------
@ex.wrong("count_params", "biases forgotten")
def count_params(sizes):
    return sum(a * c for a, c in zip(sizes[:-1], sizes[1:]))


@ex.wrong("count_params", "biases counted on the input side")
def count_params(sizes):
    return sum(a * c + a for a, c in zip(sizes[:-1], sizes[1:]))


@ex.wrong("count_params", "a bias for the input layer too")
def count_params(sizes):
    return sum(a * c for a, c in zip(sizes[:-1], sizes[1:])) + sum(sizes)


@ex.wrong("count_params", "product of all sizes")
def count_params(sizes):
    return int(np.prod(sizes))


@ex.wrong("count_params", "a float count (115.0)")
def count_params(sizes):
    sizes = np.asarray(sizes, dtype=float)
    return float(np.sum(sizes[:-1] * sizes[1:] + sizes[1:]))


@ex.right("count_params", "(n_in + 1) * n_out in a loop")
def count_params(sizes):
    total = 0
    for index in range(1, len(sizes)):
        total += (sizes[index - 1] + 1) * sizes[index]
    return total


@ex.right("count_params", "vectorised with numpy")
def count_params(sizes):
    sizes = np.asarray(sizes, dtype=np.int64)
    return int(np.sum(sizes[:-1] * sizes[1:] + sizes[1:]))


# --- mlp_forward ----------------------------------------------------------------------------------
def forward_with(X, params, hidden, output, store):
    A, cache = np.asarray(X, dtype=float), []
    for index, (W, b) in enumerate(params):
        Z = A @ W + b
        last = index == len(params) - 1
        A_next = output(Z) if last else hidden(Z)
        cache.append(store(A, Z, A_next))
        A = A_next
    return A, cache


def keep(A, Z, A_next):
    return (A, Z)


@ex.wrong("mlp_forward", "softmax on hidden layers")
def mlp_forward(X, params, activation="relu"):
    return forward_with(X, params, reference.softmax, reference.softmax, keep)


@ex.wrong("mlp_forward", "no softmax on the output")
def mlp_forward(X, params, activation="relu"):
    return forward_with(X, params, ACT[activation], ACT[activation], keep)


@ex.wrong("mlp_forward", "cache missing the last layer")
def mlp_forward(X, params, activation="relu"):
    probs, cache = forward_with(X, params, ACT[activation], reference.softmax, keep)
    return probs, cache[:-1]


@ex.wrong("mlp_forward", "cache stores the layer's output instead of its input")
def mlp_forward(X, params, activation="relu"):
    return forward_with(X, params, ACT[activation], reference.softmax, lambda A, Z, A_next: (A_next, Z))


@ex.wrong("mlp_forward", "cache pairs in the wrong order (Z, A_prev)")
def mlp_forward(X, params, activation="relu"):
    return forward_with(X, params, ACT[activation], reference.softmax, lambda A, Z, A_next: (Z, A))


@ex.wrong("mlp_forward", "activation argument ignored (always relu)")
def mlp_forward(X, params, activation="relu"):
    return forward_with(X, params, reference.relu, reference.softmax, keep)


@ex.wrong("mlp_forward", "unstable softmax overflows")
def mlp_forward(X, params, activation="relu"):
    def naive(z):
        with np.errstate(all="ignore"):
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
    return forward_with(X, params, ACT[activation], naive, keep)


@ex.right("mlp_forward", "explicit hidden loop then output layer, tuple cache")
def mlp_forward(X, params, activation="relu"):
    A = np.array(X, dtype=np.float64)
    cache = []
    for W, b in params[:-1]:
        Z = np.einsum("ik,kj->ij", A, W) + b
        cache.append((A, Z))
        A = ACT[activation](Z)
    W, b = params[-1]
    logits = A @ W + b
    cache.append((A, logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True), tuple(cache)


# --- predict --------------------------------------------------------------------------------------
@ex.wrong("predict", "argmax over the wrong axis")
def predict(X, params, activation="relu"):
    return np.argmax(reference.mlp_forward(X, params, activation)[0], axis=0)


@ex.wrong("predict", "flattened argmax")
def predict(X, params, activation="relu"):
    return np.argmax(reference.mlp_forward(X, params, activation)[0])


@ex.wrong("predict", "returns the largest probability, not its class")
def predict(X, params, activation="relu"):
    return np.max(reference.mlp_forward(X, params, activation)[0], axis=1)


@ex.wrong("predict", "argmin")
def predict(X, params, activation="relu"):
    return np.argmin(reference.mlp_forward(X, params, activation)[0], axis=1)


@ex.wrong("predict", "ignores the activation")
def predict(X, params, activation="relu"):
    return np.argmax(reference.mlp_forward(X, params)[0], axis=1)


@ex.right("predict", "argmax of the logits from the cache (softmax keeps the order)")
def predict(X, params, activation="relu"):
    _, cache = reference.mlp_forward(X, params, activation)
    return cache[-1][1].argmax(axis=-1)


@ex.right("predict", "python loop over rows")
def predict(X, params, activation="relu"):
    probs = reference.mlp_forward(X, params, activation)[0]
    return np.array([max(range(len(row)), key=lambda k: row[k]) for row in probs])


# --- init_params ----------------------------------------------------------------------------------
def init_with(std_of, shape_of=lambda a, c: (a, c), bias=lambda rng, c: np.zeros(c), seeded=True):
    def init_params(sizes, scheme="he", seed=0):
        rng = np.random.default_rng(seed if seeded else None)
        return [(rng.normal(0.0, std_of(scheme, a, c), size=shape_of(a, c)), bias(rng, c))
                for a, c in zip(sizes[:-1], sizes[1:])]
    return init_params


def he_or_xavier(scheme, a, c):
    return np.sqrt(2.0 / a) if scheme == "he" else np.sqrt(2.0 / (a + c))


ex.wrong("init_params", "He scale used for Xavier")(init_with(lambda s, a, c: np.sqrt(2.0 / a)))
ex.wrong("init_params", "variance passed as the standard deviation")(
    init_with(lambda s, a, c: 2.0 / a if s == "he" else 2.0 / (a + c)))
ex.wrong("init_params", "LeCun sqrt(1/n_in) for He")(
    init_with(lambda s, a, c: np.sqrt(1.0 / a) if s == "he" else np.sqrt(2.0 / (a + c))))
ex.wrong("init_params", "W transposed (n_out, n_in)")(init_with(he_or_xavier, shape_of=lambda a, c: (c, a)))
ex.wrong("init_params", "random biases")(init_with(he_or_xavier, bias=lambda rng, c: rng.normal(size=c) * 0.1))
ex.wrong("init_params", "seed ignored")(init_with(he_or_xavier, seeded=False))
ex.wrong("init_params", "Xavier with n_out only")(
    init_with(lambda s, a, c: np.sqrt(2.0 / a) if s == "he" else np.sqrt(1.0 / c)))


@ex.wrong("init_params", "a new generator per layer with the same seed (all layers alike)")
def init_params(sizes, scheme="he", seed=0):
    params = []
    for a, c in zip(sizes[:-1], sizes[1:]):
        z = np.random.default_rng(seed).standard_normal((a, c))
        params.append((z * he_or_xavier(scheme, a, c), np.zeros(c)))
    return params


@ex.wrong("init_params", "legacy RandomState instead of the default_rng the lesson names")
def init_params(sizes, scheme="he", seed=0):
    rng = np.random.RandomState(seed)
    out = []
    for i in range(len(sizes) - 1):
        n_in, n_out = sizes[i], sizes[i + 1]
        var = 2.0 / n_in if scheme == "he" else 2.0 / (n_in + n_out)
        out.append((rng.standard_normal((n_in, n_out)) * var ** 0.5, np.zeros((n_out,))))
    return out


ex.right("init_params", "the course reference")(reference.init_params)


@ex.right("init_params", "default_rng standard normal times the std, tuples, sizes as a tuple")
def init_params(sizes, scheme="he", seed=0):
    rng = np.random.default_rng(seed)
    pairs = []
    for n_in, n_out in zip(tuple(sizes)[:-1], tuple(sizes)[1:]):
        std = (2.0 / n_in) ** 0.5 if scheme == "he" else (2.0 / (n_in + n_out)) ** 0.5
        pairs.append((std * rng.standard_normal((n_in, n_out)), np.zeros(n_out)))
    return pairs


@ex.wrong("init_params", "draws each W as (n_out, n_in) and transposes it (other numbers)")
def init_params(sizes, scheme="he", seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0.0, he_or_xavier(scheme, a, c), size=(c, a)).T, np.zeros(c)) for a, c in zip(sizes[:-1], sizes[1:])]


# --- xor_params -----------------------------------------------------------------------------------
def xor_net(W1, b1, W2, b2):
    return {"xor_params": [(np.array(W1, dtype=float), np.array(b1, dtype=float)),
                           (np.array(W2, dtype=float), np.array(b2, dtype=float))]}


ex.wrong("xor_params", "computes OR (the widget's start)")(xor_net([[1, 1], [1, 1]], [0, 0], [[1], [1]], [-0.5]))
ex.wrong("xor_params", "computes AND")(xor_net([[1, 1], [1, 1]], [0, -1], [[0], [1]], [-0.5]))
ex.wrong("xor_params", "output weights zero: constant answer")(xor_net([[1, 1], [1, 1]], [0, -1], [[0], [0]], [0.5]))
ex.wrong("xor_params", "sign flipped (XNOR)")(xor_net([[1, 1], [1, 1]], [0, -1], [[-1], [2]], [0.5]))
ex.wrong("xor_params", "three hidden units")(xor_net([[1, 1, 0], [1, 1, 0]], [0, -1, 0], [[1], [-2], [0]], [-0.5]))
ex.wrong("xor_params", "logit exactly 0 on (0,0)")(xor_net([[1, 1], [1, 1]], [0, -1], [[1], [-2]], [0.0]))
ex.right("xor_params", "|x1 - x2| with lists, W2 flat and b2 a number")(
    {"xor_params": [([[1, -1], [-1, 1]], [0, 0]), ([1, 1], -0.5)]})
ex.right("xor_params", "larger weights")(xor_net([[3, 3], [3, 3]], [-1.5, -4.5], [[2], [-8]], [-0.2]))


# --- knowledge check ------------------------------------------------------------------------------
ex.multiple_choice({"q1": "b", "q2": "c", "q3": "b", "q4": "a", "q5": "b"})


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    code = [e for e in ex.exercise_ids() if not e.startswith("q")]
    assert set(code) >= {"dense_forward", "init_params", "mlp_forward", "count_params", "predict", "xor_params"}
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 4


def test_lesson_has_a_written_answer():
    written = [c for c in ex.solution.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert written, "the knowledge check needs one manually graded written answer"
