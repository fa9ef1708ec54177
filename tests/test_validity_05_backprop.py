"""Lesson 05 grading validity: stubs fail, solutions pass, typical backprop mistakes are caught, other correct answers pass."""

import numpy as np

from nncourse import data
from nncourse import reference as ref
from tests.validity import Exercises

ex = Exercises("05_backprop")


# --- chain rule by hand -------------------------------------------------------------------------
ex.wrong("chain_rule", "sign error: 2 (y - a)")({"dL_da": 2.0, "dL_dw": 6.0, "dL_db": 2.0})
ex.wrong("chain_rule", "factor 2 of the square forgotten")({"dL_da": -1.0, "dL_dw": -3.0, "dL_db": -1.0})
ex.wrong("chain_rule", "dz/dw = x forgotten")({"dL_da": -2.0, "dL_dw": -2.0, "dL_db": -2.0})
ex.wrong("chain_rule", "dL/dw multiplied by w instead of x")({"dL_da": -2.0, "dL_dw": -1.0, "dL_db": -2.0})
ex.right("chain_rule", "numpy floats from a calculation")(
    {"dL_da": np.float64(2 * (max(0.0, 0.5 * 3 - 0.5) - 2)), "dL_dw": np.float32(-6), "dL_db": -2})


# --- relu_backward ------------------------------------------------------------------------------
@ex.wrong("relu_backward", "returns the mask only")
def relu_backward(dA, Z):
    return (np.asarray(Z) > 0).astype(float)

@ex.wrong("relu_backward", "slope 1 at Z = 0")
def relu_backward(dA, Z):
    return np.asarray(dA) * (np.asarray(Z) >= 0)

@ex.wrong("relu_backward", "multiplies by relu(Z) instead of its slope")
def relu_backward(dA, Z):
    return np.asarray(dA) * np.maximum(0, Z)

@ex.wrong("relu_backward", "zeroes dA in place")
def relu_backward(dA, Z):
    dA[np.asarray(Z) <= 0] = 0.0
    return dA

@ex.right("relu_backward", "np.where")
def relu_backward(dA, Z):
    return np.where(np.asarray(Z) > 0, dA, 0.0)

@ex.right("relu_backward", "copy then mask")
def relu_backward(dA, Z):
    dZ = np.array(dA, dtype=float, copy=True)
    dZ[np.asarray(Z) <= 0] = 0
    return dZ


# --- sigmoid_backward ---------------------------------------------------------------------------
@ex.wrong("sigmoid_backward", "uses Z as if it were the activation A")
def sigmoid_backward(dA, Z):
    return dA * Z * (1 - Z)

@ex.wrong("sigmoid_backward", "dA * sigmoid(Z)")
def sigmoid_backward(dA, Z):
    return dA * ref.sigmoid(Z)

@ex.wrong("sigmoid_backward", "slope without dA")
def sigmoid_backward(dA, Z):
    return ref.sigmoid(Z) * (1 - ref.sigmoid(Z))

@ex.wrong("sigmoid_backward", "naive sigmoid overflows at -800")
def sigmoid_backward(dA, Z):
    s = 1 / (1 + np.exp(-np.asarray(Z, dtype=float)))
    return dA * s * (1 - s)

@ex.right("sigmoid_backward", "via tanh, without the lesson's sigmoid")
def sigmoid_backward(dA, Z):
    s = 0.5 * (1 + np.tanh(0.5 * np.asarray(Z, dtype=float)))
    return np.asarray(dA) * s * (1 - s)


# --- softmax_cross_entropy_backward -------------------------------------------------------------
@ex.wrong("softmax_cross_entropy_backward", "1/m missing")
def softmax_cross_entropy_backward(probs, y):
    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    return probs - (np.eye(probs.shape[1])[y] if y.ndim == 1 else y)

@ex.wrong("softmax_cross_entropy_backward", "sign error Y - P")
def softmax_cross_entropy_backward(probs, y):
    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    return ((np.eye(probs.shape[1])[y] if y.ndim == 1 else y) - probs) / len(probs)

@ex.wrong("softmax_cross_entropy_backward", "integer labels only")
def softmax_cross_entropy_backward(probs, y):
    probs = np.asarray(probs, dtype=float)
    return (probs - np.eye(probs.shape[1])[np.asarray(y)]) / len(probs)

@ex.wrong("softmax_cross_entropy_backward", "divides by m K (np.mean over everything)")
def softmax_cross_entropy_backward(probs, y):
    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    return (probs - (np.eye(probs.shape[1])[y] if y.ndim == 1 else y)) / probs.size

@ex.right("softmax_cross_entropy_backward", "subtract 1 at the true class")
def softmax_cross_entropy_backward(probs, y):
    dZ = np.array(probs, dtype=float)
    labels = np.asarray(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    dZ[np.arange(len(dZ)), labels] -= 1
    return dZ / len(dZ)


# --- dense_backward -----------------------------------------------------------------------------
@ex.wrong("dense_backward", "1/m applied again")
def dense_backward(dZ, A_prev, W):
    m = len(A_prev)
    return dZ @ W.T, A_prev.T @ dZ / m, dZ.sum(axis=0) / m

@ex.wrong("dense_backward", "missing transpose in dA_prev")
def dense_backward(dZ, A_prev, W):
    return dZ @ W, A_prev.T @ dZ, dZ.sum(axis=0)

@ex.wrong("dense_backward", "dW transposed (dZ^T A_prev)")
def dense_backward(dZ, A_prev, W):
    return dZ @ W.T, dZ.T @ A_prev, dZ.sum(axis=0)

@ex.wrong("dense_backward", "db summed over the wrong axis")
def dense_backward(dZ, A_prev, W):
    return dZ @ W.T, A_prev.T @ dZ, dZ.sum(axis=1)

@ex.wrong("dense_backward", "db as a (1, n_out) row")
def dense_backward(dZ, A_prev, W):
    return dZ @ W.T, A_prev.T @ dZ, dZ.sum(axis=0, keepdims=True)

@ex.wrong("dense_backward", "sign error in dW")
def dense_backward(dZ, A_prev, W):
    return dZ @ W.T, -(A_prev.T @ dZ), dZ.sum(axis=0)

@ex.right("dense_backward", "einsum")
def dense_backward(dZ, A_prev, W):
    return np.einsum("mk,jk->mj", dZ, W), np.einsum("mj,mk->jk", A_prev, dZ), np.einsum("mk->k", dZ)

@ex.right("dense_backward", "sum of per-example outer products")
def dense_backward(dZ, A_prev, W):
    dW = sum(np.outer(a, d) for a, d in zip(A_prev, dZ))
    return np.array([W @ d for d in dZ]), dW, np.array(sum(dZ))


# --- mlp_backward -------------------------------------------------------------------------------
SLOPE = {"relu": lambda Z: (Z > 0).astype(float), "sigmoid": lambda Z: ref.sigmoid(Z) * (1 - ref.sigmoid(Z)),
         "tanh": lambda Z: 1 - np.tanh(Z) ** 2}
FORWARD = {"relu": lambda Z: np.maximum(0, Z), "sigmoid": ref.sigmoid, "tanh": np.tanh}


def output_gradient(probs, y):
    probs, y = np.asarray(probs, dtype=float), np.asarray(y)
    return (probs - (np.eye(probs.shape[1])[y] if y.ndim == 1 else y)) / len(probs)


@ex.wrong("mlp_backward", "slope evaluated at A (the activation) instead of Z")
def mlp_backward(probs, y, cache, params, activation="relu"):
    grads, dZ = [None] * len(params), output_gradient(probs, y)
    for layer in reversed(range(len(params))):
        A_prev = cache[layer][0]
        grads[layer] = (A_prev.T @ dZ, dZ.sum(axis=0))
        if layer > 0:
            dZ = (dZ @ params[layer][0].T) * SLOPE[activation](A_prev)
    return grads

@ex.wrong("mlp_backward", "gradients listed output layer first")
def mlp_backward(probs, y, cache, params, activation="relu"):
    grads, dZ = [], output_gradient(probs, y)
    for layer in reversed(range(len(params))):
        A_prev = cache[layer][0]
        grads.append((A_prev.T @ dZ, dZ.sum(axis=0)))
        if layer > 0:
            dZ = (dZ @ params[layer][0].T) * SLOPE[activation](cache[layer - 1][1])
    return grads

@ex.wrong("mlp_backward", "activation derivative skipped")
def mlp_backward(probs, y, cache, params, activation="relu"):
    grads, dZ = [None] * len(params), output_gradient(probs, y)
    for layer in reversed(range(len(params))):
        A_prev = cache[layer][0]
        grads[layer] = (A_prev.T @ dZ, dZ.sum(axis=0))
        dZ = dZ @ params[layer][0].T
    return grads

@ex.wrong("mlp_backward", "slope taken from the layer's own Z")
def mlp_backward(probs, y, cache, params, activation="relu"):
    grads, dZ = [None] * len(params), output_gradient(probs, y)
    for layer in reversed(range(len(params))):
        A_prev, Z = cache[layer]
        grads[layer] = (A_prev.T @ dZ, dZ.sum(axis=0))
        if layer > 0:
            dZ = (dZ @ params[layer][0].T) * SLOPE[activation](Z)
    return grads

@ex.wrong("mlp_backward", "1/m applied in every layer")
def mlp_backward(probs, y, cache, params, activation="relu"):
    grads, dZ, m = [None] * len(params), output_gradient(probs, y), len(probs)
    for layer in reversed(range(len(params))):
        A_prev = cache[layer][0]
        grads[layer] = (A_prev.T @ dZ / (m if layer < len(params) - 1 else 1), dZ.sum(axis=0))
        if layer > 0:
            dZ = (dZ @ params[layer][0].T) * SLOPE[activation](cache[layer - 1][1])
    return grads

@ex.wrong("mlp_backward", "integer labels only (one-hot rows break it)")
def mlp_backward(probs, y, cache, params, activation="relu"):
    probs = np.asarray(probs, dtype=float)
    grads, dZ = [None] * len(params), (probs - np.eye(probs.shape[1])[np.asarray(y)]) / len(probs)
    for layer in reversed(range(len(params))):
        A_prev = cache[layer][0]
        grads[layer] = (A_prev.T @ dZ, dZ.sum(axis=0))
        if layer > 0:
            dZ = (dZ @ params[layer][0].T) * SLOPE[activation](cache[layer - 1][1])
    return grads

@ex.right("mlp_backward", "recursive, recomputing activations from the cache")
def mlp_backward(probs, y, cache, params, activation="relu"):
    def back(layer, dZ):
        A_prev = cache[layer][0]
        pair = (A_prev.T @ dZ, dZ.sum(axis=0))
        if layer == 0:
            return [pair]
        Z_below = cache[layer - 1][1]
        dA = dZ @ params[layer][0].T
        if activation == "sigmoid":
            s = FORWARD["sigmoid"](Z_below)
            dZ_below = dA * s * (1 - s)
        else:
            dZ_below = dA * SLOPE[activation](Z_below)
        return back(layer - 1, dZ_below) + [pair]
    return back(len(params) - 1, output_gradient(probs, y))


# --- gradient_check -----------------------------------------------------------------------------
def relative(numeric, grad):
    scale = np.linalg.norm(numeric) + np.linalg.norm(grad)
    return 0.0 if scale == 0 else float(np.linalg.norm(numeric - grad) / scale)


def central_differences(f, x, eps, divide_by):
    """(f(x + eps e_i) - f(x - eps e_i)) / divide_by for every entry i (divide_by = 2 eps is the right one)."""
    x, numeric = np.asarray(x, dtype=float), np.zeros(np.shape(x))
    for i in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[i] += eps
        minus.flat[i] -= eps
        numeric.flat[i] = (f(plus) - f(minus)) / divide_by
    return numeric


@ex.wrong("gradient_check", "forward differences")
def gradient_check(f, x, grad, eps=1e-5):
    x, numeric = np.asarray(x, dtype=float), np.zeros(np.shape(x))
    for i in range(x.size):
        plus = x.copy()
        plus.flat[i] += eps
        numeric.flat[i] = (f(plus) - f(x)) / eps
    return relative(numeric, grad)

@ex.wrong("gradient_check", "divides by eps instead of 2 eps")
def gradient_check(f, x, grad, eps=1e-5):
    return relative(central_differences(f, x, eps, divide_by=eps), grad)

@ex.wrong("gradient_check", "relative to the analytic norm only")
def gradient_check(f, x, grad, eps=1e-5):
    numeric = central_differences(f, x, eps, divide_by=2 * eps)
    return float(np.linalg.norm(numeric - grad) / np.linalg.norm(grad))

@ex.wrong("gradient_check", "nudges x in place and never restores it")
def gradient_check(f, x, grad, eps=1e-5):
    numeric = np.zeros(np.shape(x))
    for i in range(x.size):
        x.flat[i] += eps
        up = f(x)
        x.flat[i] -= 2 * eps
        numeric.flat[i] = (up - f(x)) / (2 * eps)
    return relative(numeric, grad)

@ex.wrong("gradient_check", "ignores the eps argument")
def gradient_check(f, x, grad, eps=1e-5):
    return relative(central_differences(f, x, 1e-5, divide_by=2e-5), grad)

@ex.wrong("gradient_check", "nudges every entry at once")
def gradient_check(f, x, grad, eps=1e-5):
    x = np.asarray(x, dtype=float)
    numeric = np.full(x.shape, (f(x + eps) - f(x - eps)) / (2 * eps))
    return relative(numeric, grad)

@ex.wrong("gradient_check", "returns a 0-d array instead of a float")
def gradient_check(f, x, grad, eps=1e-5):
    return np.array(relative(central_differences(f, x, eps, divide_by=2 * eps), grad))

@ex.wrong("gradient_check", "returns the integer 0 when both gradients are zero")
def gradient_check(f, x, grad, eps=1e-5):
    result = relative(central_differences(f, x, eps, divide_by=2 * eps), grad)
    return 0 if result == 0 else result

@ex.right("gradient_check", "perturb in place and restore, np.ndindex")
def gradient_check(f, x, grad, eps=1e-5):
    numeric = np.zeros(np.shape(x))
    for index in np.ndindex(*np.shape(x)):
        old = x[index]
        x[index] = old + eps
        up = f(x)
        x[index] = old - eps
        down = f(x)
        x[index] = old
        numeric[index] = (up - down) / (2 * eps)
    difference, total = np.sqrt(np.sum((numeric - grad) ** 2)), np.sqrt(np.sum(numeric ** 2)) + np.sqrt(np.sum(np.square(grad)))
    return difference / total if total > 0 else 0.0


# --- train_step ---------------------------------------------------------------------------------
def gradients(X, y, params, activation):
    probs, cache = ref.mlp_forward(X, params, activation)
    grads, dZ = [None] * len(params), output_gradient(probs, y)
    for layer in reversed(range(len(params))):
        A_prev = cache[layer][0]
        grads[layer] = (A_prev.T @ dZ, dZ.sum(axis=0))
        if layer > 0:
            dZ = (dZ @ params[layer][0].T) * SLOPE[activation](cache[layer - 1][1])
    return ref.categorical_cross_entropy(y, probs), grads


@ex.wrong("train_step", "steps up the gradient")
def train_step(X, y, params, lr, activation="relu"):
    loss, grads = gradients(X, y, params, activation)
    return [(W + lr * dW, b + lr * db) for (W, b), (dW, db) in zip(params, grads)], loss

@ex.wrong("train_step", "returns the loss after the step")
def train_step(X, y, params, lr, activation="relu"):
    _, grads = gradients(X, y, params, activation)
    new = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]
    return new, gradients(X, y, new, activation)[0]

@ex.wrong("train_step", "biases never updated")
def train_step(X, y, params, lr, activation="relu"):
    loss, grads = gradients(X, y, params, activation)
    return [(W - lr * dW, b) for (W, b), (dW, db) in zip(params, grads)], loss

@ex.wrong("train_step", "updates params in place")
def train_step(X, y, params, lr, activation="relu"):
    loss, grads = gradients(X, y, params, activation)
    for (W, b), (dW, db) in zip(params, grads):
        W -= lr * dW
        b -= lr * db
    return params, loss

@ex.wrong("train_step", "always uses relu")
def train_step(X, y, params, lr, activation="relu"):
    loss, grads = gradients(X, y, params, "relu")
    return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)], loss

@ex.right("train_step", "explicit loop with the course's mlp_backward signature")
def train_step(X, y, params, lr, activation="relu"):
    loss, grads = gradients(np.asarray(X, dtype=float), y, params, activation)
    new_params = []
    for index in range(len(params)):
        new_params.append((params[index][0] - lr * grads[index][0], params[index][1] - lr * grads[index][1]))
    return new_params, np.float64(loss)


# --- train --------------------------------------------------------------------------------------
def descend(params, X, y, lr, num_epochs, activation):
    """num_epochs reference train_steps from params: (params, losses), as train returns them."""
    losses = []
    for _ in range(num_epochs):
        params, loss = ref.train_step(X, y, params, lr, activation)
        losses.append(loss)
    return params, losses


@ex.wrong("train", "ignores the seed")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    return descend(ref.init_params(sizes, seed=0), X, y, lr, num_epochs, activation)

@ex.wrong("train", "also appends the final loss")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    params, losses = ref.init_params(sizes, seed=seed), []
    for _ in range(num_epochs):
        params, loss = ref.train_step(X, y, params, lr, activation)
        losses.append(loss)
    losses.append(ref.categorical_cross_entropy(y, ref.mlp_forward(X, params, activation)[0]))
    return params, losses

@ex.wrong("train", "off by one epoch")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    params, losses = ref.init_params(sizes, seed=seed), []
    for epoch in range(1, num_epochs):
        params, loss = ref.train_step(X, y, params, lr, activation)
        losses.append(loss)
    return params, losses

@ex.wrong("train", "ignores the activation")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    params, losses = ref.init_params(sizes, seed=seed), []
    for _ in range(num_epochs):
        params, loss = ref.train_step(X, y, params, lr)
        losses.append(loss)
    return params, losses

@ex.wrong("train", "own He init from the legacy global generator (np.random.seed)")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    np.random.seed(seed)
    params = [(np.random.randn(n_in, n_out) * np.sqrt(2 / n_in), np.zeros(n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return descend(params, X, y, lr, num_epochs, activation)

@ex.wrong("train", "own init from default_rng(seed), uniform with the He spread")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    rng, params = np.random.default_rng(seed), []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(3) * np.sqrt(2 / n_in)     # the same standard deviation as He's normal
        params.append((rng.uniform(-limit, limit, size=(n_in, n_out)), np.zeros(n_out)))
    return descend(params, X, y, lr, num_epochs, activation)

@ex.wrong("train", "biases start at 0.01 instead of init_params's zeros")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    return descend([(W, b + 0.01) for W, b in ref.init_params(sizes, seed=seed)], X, y, lr, num_epochs, activation)

@ex.right("train", "while loop, positional init arguments, losses as an array")
def train(X, y, sizes, lr, num_epochs, activation="relu", seed=0):
    params, losses, epoch = ref.init_params(list(sizes), "he", seed), [], 0
    while epoch < num_epochs:
        params, loss = ref.train_step(X, y, params, lr, activation)
        losses.append(float(loss))
        epoch += 1
    return params, np.array(losses)


# --- moons_params -------------------------------------------------------------------------------
def fitted(sizes, lr, num_epochs, activation, seed=0):
    X, y = data.moons(200, noise=0.2, seed=0)
    params = ref.init_params(sizes, seed=seed)
    for _ in range(num_epochs):
        params, _ = ref.train_step(X, y, params, lr, activation)
    return params


ex.wrong("moons_params", "untrained network")({"moons_params": ref.init_params([2, 16, 2]), "moons_activation": "relu"})
ex.wrong("moons_params", "stopped after 20 epochs")({"moons_params": fitted([2, 16, 2], 0.5, 20, "relu"),
                                                     "moons_activation": "relu"})
ex.wrong("moons_params", "a linear model (no hidden layer)")({"moons_params": fitted([2, 2], 1.0, 300, "relu"),
                                                               "moons_activation": "relu"})
ex.wrong("moons_params", "activation label does not match the training")(
    {"moons_params": fitted([2, 16, 2], 1.0, 600, "relu"), "moons_activation": "sigmoid"})
ex.wrong("moons_params", "activation given as a function")(
    {"moons_params": fitted([2, 16, 2], 1.0, 600, "relu"), "moons_activation": ref.relu})
ex.right("moons_params", "two tanh hidden layers")({"moons_params": fitted([2, 12, 12, 2], 0.5, 800, "tanh"),
                                                   "moons_activation": "tanh"})


# --- knowledge check ----------------------------------------------------------------------------
ex.multiple_choice({"q1": "b", "q2": "c", "q3": "a", "q4": "d"})


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    code = [e for e in ex.exercise_ids() if not e.startswith("q")]
    for name in ("dense_backward", "relu_backward", "sigmoid_backward", "softmax_cross_entropy_backward",
                 "mlp_backward", "gradient_check", "train_step", "moons_params"):
        assert name in code
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 4


def test_lesson_imports_earlier_functions_explicitly():
    """The notebook imports earlier lessons' functions by name (which ones is checked for every lesson in
    tests/test_consistency.py)."""
    source = "\n".join(cell.source for cell in ex.solution.cells if cell.cell_type == "code")
    assert "from nncourse.reference import" in source, "expected the lesson to import earlier lessons' functions"
    assert "reference." not in source, "use explicit imports of earlier functions, not reference.<name>"