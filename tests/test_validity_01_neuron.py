"""Lesson 01 grading validity: stubs fail, solutions pass, typical mistakes are caught, other correct answers pass."""

import numpy as np

from tests.validity import Exercises

ex = Exercises("01_neuron")

# --- step -------------------------------------------------------------------------------------
@ex.wrong("step", "strict > fires too late at z = 0")
def step(z):
    return np.where(np.asarray(z) > 0, 1.0, 0.0)

@ex.wrong("step", "python if: only works for single numbers")
def step(z):
    return 1.0 if z >= 0 else 0.0

@ex.wrong("step", "inverted output")
def step(z):
    return np.where(np.asarray(z) >= 0, 0.0, 1.0)

@ex.wrong("step", "sign instead of step")
def step(z):
    return np.sign(z)

@ex.wrong("step", "booleans instead of the floats 1.0 and 0.0")
def step(z):
    return np.asarray(z) >= 0

@ex.wrong("step", "integers instead of the floats 1.0 and 0.0")
def step(z):
    return np.where(np.asarray(z) >= 0, 1, 0)

@ex.right("step", "boolean comparison cast to float")
def step(z):
    return (np.asarray(z) >= 0).astype(float)

@ex.right("step", "heaviside")
def step(z):
    return np.heaviside(z, 1.0)

# --- relu -------------------------------------------------------------------------------------
@ex.wrong("relu", "built-in max")
def relu(z):
    return max(0, z)

@ex.wrong("relu", "identity")
def relu(z):
    return z

@ex.wrong("relu", "absolute value")
def relu(z):
    return np.abs(z)

@ex.wrong("relu", "step instead of relu")
def relu(z):
    return np.where(np.asarray(z) >= 0, 1.0, 0.0)

@ex.right("relu", "z times a mask")
def relu(z):
    z = np.asarray(z, dtype=float)
    return z * (z > 0)

@ex.right("relu", "clip")
def relu(z):
    return np.clip(z, 0, None)

# --- neuron -----------------------------------------------------------------------------------
def reference_step(z):
    return np.where(np.asarray(z) >= 0, 1.0, 0.0)

@ex.wrong("neuron", "bias forgotten")
def neuron(x, w, b, activation=reference_step):
    return activation(np.dot(x, w))

@ex.wrong("neuron", "returns the pre-activation")
def neuron(x, w, b, activation=reference_step):
    return np.dot(x, w) + b

@ex.wrong("neuron", "ignores the activation argument")
def neuron(x, w, b, activation=reference_step):
    return reference_step(np.dot(x, w) + b)

@ex.wrong("neuron", "bias subtracted")
def neuron(x, w, b, activation=reference_step):
    return activation(np.dot(x, w) - b)

@ex.wrong("neuron", "list multiplication crashes")
def neuron(x, w, b, activation=reference_step):
    return activation(sum(x * w) + b)

@ex.right("neuron", "explicit loop over plain lists")
def neuron(x, w, b, activation=reference_step):
    total = b
    for x_i, w_i in zip(x, w):
        total += x_i * w_i
    return activation(total)

# --- neuron_batch -----------------------------------------------------------------------------
@ex.wrong("neuron_batch", "sums over the wrong axis")
def neuron_batch(X, w, b, activation=reference_step):
    return activation(np.sum(np.asarray(X) * w, axis=0) + b)

@ex.wrong("neuron_batch", "bias forgotten")
def neuron_batch(X, w, b, activation=reference_step):
    return activation(np.asarray(X) @ np.asarray(w))

@ex.wrong("neuron_batch", "returns a column (m, 1)")
def neuron_batch(X, w, b, activation=reference_step):
    return activation(np.asarray(X) @ np.asarray(w).reshape(-1, 1) + b)

@ex.wrong("neuron_batch", "returns the pre-activation")
def neuron_batch(X, w, b, activation=reference_step):
    return np.asarray(X) @ np.asarray(w) + b

@ex.right("neuron_batch", "loop over rows")
def neuron_batch(X, w, b, activation=reference_step):
    return np.array([activation(sum(x_j * w_j for x_j, w_j in zip(row, w)) + b) for row in X], dtype=float)

@ex.right("neuron_batch", "einsum")
def neuron_batch(X, w, b, activation=reference_step):
    return activation(np.einsum("mn,n->m", np.asarray(X, dtype=float), np.asarray(w, dtype=float)) + b)

# --- gate weights -----------------------------------------------------------------------------
ex.wrong("gate_weights", "AND and OR swapped")({"w_and": np.array([1.0, 1.0]), "b_and": -0.5,
                                                "w_or": np.array([1.0, 1.0]), "b_or": -1.5})
ex.wrong("gate_weights", "no bias: every input fires")({"w_and": np.array([1.0, 1.0]), "b_and": 0.0,
                                                        "w_or": np.array([1.0, 1.0]), "b_or": 0.0})
ex.wrong("gate_weights", "OR left unanswered")({"w_and": np.array([1.0, 1.0]), "b_and": -1.5,
                                                "w_or": np.array([1.0, 1.0]), "b_or": -3.0})
ex.wrong("gate_weights", "negative weights")({"w_and": np.array([-1.0, -1.0]), "b_and": 1.5,
                                              "w_or": np.array([-1.0, -1.0]), "b_or": 0.5})
ex.right("gate_weights", "lists, larger scale, boundary exactly through (1,1)")(
    {"w_and": [2, 2], "b_and": -4, "w_or": [3.0, 3.0], "b_or": -1})
ex.right("gate_weights", "column vectors")({"w_and": np.array([[1.0], [1.0]]), "b_and": np.float32(-1.2),
                                            "w_or": np.array([[0.5], [0.5]]), "b_or": -0.2})

# --- perceptron_update ------------------------------------------------------------------------
@ex.wrong("perceptron_update", "sign error")
def perceptron_update(w, b, x, y, lr):
    error = reference_step(np.dot(x, w) + b) - y
    return np.asarray(w) + lr * error * np.asarray(x), b + lr * error

@ex.wrong("perceptron_update", "learning rate forgotten")
def perceptron_update(w, b, x, y, lr):
    error = y - reference_step(np.dot(x, w) + b)
    return np.asarray(w) + error * np.asarray(x), b + error

@ex.wrong("perceptron_update", "bias never updated")
def perceptron_update(w, b, x, y, lr):
    error = y - reference_step(np.dot(x, w) + b)
    return np.asarray(w) + lr * error * np.asarray(x), b

@ex.wrong("perceptron_update", "modifies w in place")
def perceptron_update(w, b, x, y, lr):
    error = y - reference_step(np.dot(x, w) + b)
    w += lr * error * np.asarray(x)
    return w, b + lr * error

@ex.wrong("perceptron_update", "updates even when right (uses y instead of the error)")
def perceptron_update(w, b, x, y, lr):
    return np.asarray(w) + lr * y * np.asarray(x), b + lr * y

@ex.right("perceptron_update", "explicit branches on the kind of mistake")
def perceptron_update(w, b, x, y, lr):
    fired = sum(w_i * x_i for w_i, x_i in zip(w, x)) + b >= 0
    if fired and y == 0:
        return np.array([w_i - lr * x_i for w_i, x_i in zip(w, x)]), b - lr
    if not fired and y == 1:
        return np.array([w_i + lr * x_i for w_i, x_i in zip(w, x)]), b + lr
    return np.array(w, dtype=float), b

@ex.right("perceptron_update", "array arithmetic without any conversion (the text promises arrays)")
def perceptron_update(w, b, x, y, lr):
    error = y - (1.0 if w @ x + b >= 0 else 0.0)
    return w + lr * error * x, b + lr * error

# --- train_perceptron -------------------------------------------------------------------------
def reference_update(w, b, x, y, lr):
    error = y - reference_step(x @ w + b)
    return w + lr * error * x, b + lr * error

@ex.wrong("train_perceptron", "stops early once an epoch is clean")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    X = np.asarray(X, dtype=float)
    w, b, history = (np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=float)), float(b0), []
    for _ in range(num_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y):
            mistakes += int(reference_step(x_i @ w + b) != y_i)
            w, b = reference_update(w, b, x_i, y_i, lr)
        history.append(mistakes)
        if mistakes == 0:
            break
    return w, b, history

@ex.wrong("train_perceptron", "counts mistakes after the update")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    X = np.asarray(X, dtype=float)
    w, b, history = (np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=float)), float(b0), []
    for _ in range(num_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y):
            w, b = reference_update(w, b, x_i, y_i, lr)
            mistakes += int(reference_step(x_i @ w + b) != y_i)
        history.append(mistakes)
    return w, b, history

@ex.wrong("train_perceptron", "ignores the given start w0, b0")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    X = np.asarray(X, dtype=float)
    w, b, history = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y):
            mistakes += int(reference_step(x_i @ w + b) != y_i)
            w, b = reference_update(w, b, x_i, y_i, lr)
        history.append(mistakes)
    return w, b, history

@ex.wrong("train_perceptron", "shuffles the examples")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    w, b, history = (np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=float)), float(b0), []
    order = np.random.default_rng(1).permutation(len(y))
    for _ in range(num_epochs):
        mistakes = 0
        for i in order:
            mistakes += int(reference_step(X[i] @ w + b) != y[i])
            w, b = reference_update(w, b, X[i], y[i], lr)
        history.append(mistakes)
    return w, b, history

@ex.wrong("train_perceptron", "mistake counts stored as floats")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    w, b, history = ex.variants[("train_perceptron", "right")]["index loop with its own update"](X, y, lr, num_epochs, w0, b0)
    return w, b, [float(count) for count in history]

@ex.wrong("train_perceptron", "updates the given w0 in place")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    X = np.asarray(X, dtype=float)
    w, b, history = (np.zeros(X.shape[1]) if w0 is None else w0), float(b0), []
    for _ in range(num_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y):
            error = y_i - reference_step(x_i @ w + b)
            mistakes += int(error != 0)
            w += lr * error * x_i
            b += lr * error
        history.append(mistakes)
    return w, b, history

@ex.right("train_perceptron", "index loop with its own update")
def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    X = np.asarray(X, dtype=float)
    w = np.zeros(X.shape[1]) if w0 is None else np.asarray(w0, dtype=float).copy()
    b, history = b0, []
    for _ in range(num_epochs):
        history.append(0)
        for i in range(len(X)):
            y_hat = 1 if X[i] @ w + b >= 0 else 0
            if y_hat != y[i]:
                history[-1] += 1
                w = w + lr * (y[i] - y_hat) * X[i]
                b = b + lr * (y[i] - y_hat)
    return w, b, history

# --- knowledge check --------------------------------------------------------------------------
ex.multiple_choice({"q1": "b", "q2": "a", "q3": "b", "q4": "c"})

test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    assert len([e for e in ex.exercise_ids() if not e.startswith("q")]) >= 5
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 3
