"""Lesson 06 grading validity: stubs fail, solutions pass, typical optimizer mistakes are caught, other correct answers pass."""

import numpy as np

from tests.validity import Exercises

ex = Exercises("06_optimizers")

# --- sgd_update -------------------------------------------------------------------------------
@ex.wrong("sgd_update", "steps uphill")
def sgd_update(w, dw, lr):
    return w + lr * dw

@ex.wrong("sgd_update", "learning rate forgotten")
def sgd_update(w, dw, lr):
    return w - dw

@ex.wrong("sgd_update", "returns the step instead of the new weights")
def sgd_update(w, dw, lr):
    return -lr * dw

@ex.wrong("sgd_update", "modifies w in place")
def sgd_update(w, dw, lr):
    w -= lr * dw
    return w

@ex.right("sgd_update", "element by element through np.subtract and a copy")
def sgd_update(w, dw, lr):
    new = np.array(w, dtype=np.result_type(w, dw, float), copy=True)
    np.subtract(new, np.multiply(lr, dw), out=new)
    return new

# --- momentum_update --------------------------------------------------------------------------
@ex.wrong("momentum_update", "wrong sign: velocity points uphill")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    velocity = beta * velocity + lr * dw
    return w + velocity, velocity

@ex.wrong("momentum_update", "PyTorch convention (v = beta v + dw, w - lr v)")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    velocity = beta * velocity + dw
    return w - lr * velocity, velocity

@ex.wrong("momentum_update", "velocity not kept: restarts from zero every step")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    velocity = -lr * dw
    return w + velocity, velocity

@ex.wrong("momentum_update", "beta forgotten")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    velocity = velocity - lr * dw
    return w + velocity, velocity

@ex.wrong("momentum_update", "returns the old velocity")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    new_velocity = beta * velocity - lr * dw
    return w + new_velocity, velocity

@ex.wrong("momentum_update", "updates the velocity in place")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    velocity *= beta
    velocity -= lr * dw
    return w + velocity, velocity

@ex.right("momentum_update", "expanded: w + beta v - lr dw")
def momentum_update(w, dw, velocity, lr, beta=0.9):
    new_w = w + beta * velocity - lr * dw
    return new_w, new_w - w

# --- rmsprop_update ---------------------------------------------------------------------------
@ex.wrong("rmsprop_update", "eps inside the square root (the Keras form)")
def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    square_avg = rho * square_avg + (1 - rho) * dw ** 2
    return w - lr * dw / np.sqrt(square_avg + eps), square_avg

@ex.wrong("rmsprop_update", "(1 - rho) factor missing")
def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    square_avg = rho * square_avg + dw ** 2
    return w - lr * dw / (np.sqrt(square_avg) + eps), square_avg

@ex.wrong("rmsprop_update", "no square root")
def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    square_avg = rho * square_avg + (1 - rho) * dw ** 2
    return w - lr * dw / (square_avg + eps), square_avg

@ex.wrong("rmsprop_update", "average of |dw| instead of dw squared")
def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    square_avg = rho * square_avg + (1 - rho) * np.abs(dw)
    return w - lr * dw / (square_avg + eps), square_avg

@ex.wrong("rmsprop_update", "average not carried over (uses only this gradient)")
def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    square_avg = (1 - rho) * dw ** 2
    return w - lr * dw / (np.sqrt(square_avg) + eps), square_avg

@ex.right("rmsprop_update", "written as an exponential moving average with np.hypot-free algebra")
def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    new_avg = square_avg + (1 - rho) * (np.square(dw) - square_avg)
    scale = 1.0 / (new_avg ** 0.5 + eps)
    return w - lr * scale * dw, new_avg

# --- adam_update ------------------------------------------------------------------------------
@ex.wrong("adam_update", "no bias correction")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    return w - lr * m / (np.sqrt(v) + eps), m, v

@ex.wrong("adam_update", "step counter ignored (always t = 1)")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    return w - lr * (m / (1 - beta1)) / (np.sqrt(v / (1 - beta2)) + eps), m, v

@ex.wrong("adam_update", "returns the bias-corrected averages as state")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = (beta1 * m + (1 - beta1) * dw) / (1 - beta1 ** t)
    v = (beta2 * v + (1 - beta2) * dw ** 2) / (1 - beta2 ** t)
    return w - lr * m / (np.sqrt(v) + eps), m, v

@ex.wrong("adam_update", "off-by-one step counter (t - 1 + 1 twice)")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    return w - lr * (m / (1 - beta1 ** (t + 1))) / (np.sqrt(v / (1 - beta2 ** (t + 1))) + eps), m, v

@ex.wrong("adam_update", "betas swapped")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta2 * m + (1 - beta2) * dw
    v = beta1 * v + (1 - beta1) * dw ** 2
    return w - lr * (m / (1 - beta2 ** t)) / (np.sqrt(v / (1 - beta1 ** t)) + eps), m, v

@ex.wrong("adam_update", "eps inside the square root")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    return w - lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps), m, v

@ex.right("adam_update", "Kingma-Ba form with the correction folded into the step size and eps rescaled")
def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    m = m + (1 - beta1) * (dw - m)
    v = v + (1 - beta2) * (dw * dw - v)
    root = np.sqrt(1 - beta2 ** t)
    alpha = lr * root / (1 - beta1 ** t)
    return w - alpha * m / (np.sqrt(v) + eps * root), m, v

# --- minibatches ------------------------------------------------------------------------------
def chunks(X, y, order, batch_size):
    return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(order), batch_size)]


@ex.wrong("minibatches", "drops the last partial batch")
def minibatches(X, y, batch_size, seed=0):
    order = np.random.default_rng(seed).permutation(len(X))
    return [(X[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(X) - batch_size + 1, batch_size)]

@ex.wrong("minibatches", "no shuffling")
def minibatches(X, y, batch_size, seed=0):
    return chunks(X, y, np.arange(len(X)), batch_size)

@ex.wrong("minibatches", "shuffles X and y with different orders")
def minibatches(X, y, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    X, y = X[rng.permutation(len(X))], y[rng.permutation(len(y))]
    return chunks(X, y, np.arange(len(X)), batch_size)

@ex.wrong("minibatches", "samples with replacement")
def minibatches(X, y, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    return chunks(X, y, rng.integers(0, len(X), size=len(X)), batch_size)

@ex.wrong("minibatches", "ignores the seed")
def minibatches(X, y, batch_size, seed=0):
    return chunks(X, y, np.random.default_rng().permutation(len(X)), batch_size)

@ex.wrong("minibatches", "same order for every seed")
def minibatches(X, y, batch_size, seed=0):
    return chunks(X, y, np.random.default_rng(42).permutation(len(X)), batch_size)

@ex.wrong("minibatches", "legacy global generator: np.random.seed(seed), np.random.permutation")
def minibatches(X, y, batch_size, seed=0):
    np.random.seed(seed)
    return chunks(X, y, np.random.permutation(len(X)), batch_size)

@ex.wrong("minibatches", "legacy RandomState(seed).permutation")
def minibatches(X, y, batch_size, seed=0):
    return chunks(X, y, np.random.RandomState(seed).permutation(len(X)), batch_size)

@ex.wrong("minibatches", "default_rng(seed).choice without replacement (other draws than permutation)")
def minibatches(X, y, batch_size, seed=0):
    return chunks(X, y, np.random.default_rng(seed).choice(len(X), len(X), replace=False), batch_size)

@ex.wrong("minibatches", "right batches, but a generator instead of a list")
def minibatches(X, y, batch_size, seed=0):
    order = np.random.default_rng(seed).permutation(len(X))
    for start in range(0, len(X), batch_size):
        yield X[order[start:start + batch_size]], y[order[start:start + batch_size]]

@ex.wrong("minibatches", "batches taken from the end of the order first")
def minibatches(X, y, batch_size, seed=0):
    return chunks(X, y, np.random.default_rng(seed).permutation(len(X)), batch_size)[::-1]

@ex.right("minibatches", "default_rng(seed).shuffle of an index array (same draws as permutation)")
def minibatches(X, y, batch_size, seed=0):
    order = np.arange(len(X))
    np.random.default_rng(seed).shuffle(order)
    return chunks(X, y, order, batch_size)

@ex.right("minibatches", "np.array_split on a permutation, batches as lists")
def minibatches(X, y, batch_size, seed=0):
    order = np.random.default_rng(seed).permutation(len(X))
    return [[X[chosen], y[chosen]] for chosen in np.array_split(order, range(batch_size, len(X), batch_size))]

# --- knowledge check --------------------------------------------------------------------------
ANSWERS = (("q1", "d"), ("q2", "b"), ("q3", "b"), ("q4", "a"), ("q5", "c"))
ex.multiple_choice(dict(ANSWERS))


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    assert {"sgd_update", "momentum_update", "rmsprop_update", "adam_update", "minibatches"} <= set(ex.exercise_ids())
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 4


def test_the_written_answer_is_manually_graded():
    cells = [c for c in ex.solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "adam_default_explanation"]
    assert len(cells) == 1 and cells[0].cell_type == "markdown"
    assert cells[0].metadata["nbgrader"]["solution"] and cells[0].metadata["nbgrader"]["points"] > 0


def test_wrong_variants_really_differ_from_the_solution():
    """The eps-inside and no-bias-correction variants change results on the tests' inputs (not a vacuous check)."""
    ns = ex.context("rmsprop_update")
    exec(next(c.source for c in ex.solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "rmsprop_update"), ns)
    inside = ex.variants[("rmsprop_update", "wrong")]["eps inside the square root (the Keras form)"]
    g = np.array([0.5, 1e-5])
    right, wrong = ns["rmsprop_update"](np.zeros(2), g, np.zeros(2), 0.01)[0], inside(np.zeros(2), g, np.zeros(2), 0.01)[0]
    assert abs(right[1] - wrong[1]) > 1e-2 and abs(right[0] - wrong[0]) < 1e-6
