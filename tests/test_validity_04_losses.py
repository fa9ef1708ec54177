"""Lesson 04 grading validity: stubs fail, solutions pass, typical mistakes are caught, other correct answers pass."""

import numpy as np

from tests.validity import Exercises

ex = Exercises("04_losses")


def labels_to_one_hot(y, num_classes):
    """Integer labels or one-hot rows, always returned as one-hot floats (for the variants below)."""
    y = np.asarray(y)
    return np.eye(num_classes)[y.astype(int)] if y.ndim == 1 else y.astype(float)


# --- mse --------------------------------------------------------------------------------------
@ex.wrong("mse", "sum instead of mean (missing 1/m)")
def mse(y, y_hat):
    return float(np.sum((np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)) ** 2))

@ex.wrong("mse", "mean absolute error")
def mse(y, y_hat):
    return float(np.mean(np.abs(np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float))))

@ex.wrong("mse", "root mean squared error")
def mse(y, y_hat):
    return float(np.sqrt(np.mean((np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)) ** 2)))

@ex.wrong("mse", "averages over axis 0 only")
def mse(y, y_hat):
    return np.mean((np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)) ** 2, axis=0)

@ex.wrong("mse", "lists subtracted directly")
def mse(y, y_hat):
    return float(np.mean((y_hat - y) ** 2))

@ex.right("mse", "python loop over the flattened entries")
def mse(y, y_hat):
    pairs = list(zip(np.ravel(y).tolist(), np.ravel(y_hat).tolist()))
    return sum((b - a) * (b - a) for a, b in pairs) / len(pairs)

@ex.right("mse", "np.square and np.average, numpy scalar result")
def mse(y, y_hat):
    return np.float64(np.average(np.square(np.subtract(y, y_hat, dtype=float))))

# --- binary_cross_entropy -----------------------------------------------------------------------
@ex.wrong("binary_cross_entropy", "log without clipping (log 0 warns, 0 * -inf is nan)")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

@ex.wrong("binary_cross_entropy", "sign error")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

@ex.wrong("binary_cross_entropy", "sum instead of mean")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))

@ex.wrong("binary_cross_entropy", "clipping with eps = 1e-7 changes correct values")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

@ex.wrong("binary_cross_entropy", "only the label-1 term")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p)))

@ex.wrong("binary_cross_entropy", "log10")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log10(p) + (1 - y) * np.log10(1 - p)))

@ex.right("binary_cross_entropy", "select the probability of what happened, then clip")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    chosen = np.where(y == 1, p, 1.0 - p)
    return float(-np.log(np.clip(chosen, eps, None)).mean())

@ex.wrong("binary_cross_entropy", "eps ignored (always clips at 1e-12)")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

@ex.wrong("binary_cross_entropy", "another default eps (1e-15) than the one the lesson fixes")
def binary_cross_entropy(y, p, eps=1e-15):
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

@ex.wrong("binary_cross_entropy", "log overflow hidden with np.errstate, nan replaced afterwards")
def binary_cross_entropy(y, p, eps=1e-12):
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = y * np.log(p) + (1 - y) * np.log(1 - p)
    return float(-np.mean(np.nan_to_num(terms)))

@ex.right("binary_cross_entropy", "loop with math.log")
def binary_cross_entropy(y, p, eps=1e-12):
    import math
    total = 0.0
    for label, prob in zip(np.ravel(y).tolist(), np.ravel(p).tolist()):
        prob = min(max(prob, eps), 1 - eps)
        total -= math.log(prob) if label == 1 else math.log1p(-prob)
    return total / len(np.ravel(y))

# --- categorical_cross_entropy ------------------------------------------------------------------
@ex.wrong("categorical_cross_entropy", "log without clipping (zeros give nan and warnings)")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.asarray(probs, dtype=float)
    return float(-np.mean(np.sum(labels_to_one_hot(y, probs.shape[1]) * np.log(probs), axis=1)))

@ex.wrong("categorical_cross_entropy", "sum instead of mean over the batch")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.clip(np.asarray(probs, dtype=float), eps, 1.0)
    return float(-np.sum(labels_to_one_hot(y, probs.shape[1]) * np.log(probs)))

@ex.wrong("categorical_cross_entropy", "mean over classes as well")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.clip(np.asarray(probs, dtype=float), eps, 1.0)
    return float(-np.mean(labels_to_one_hot(y, probs.shape[1]) * np.log(probs)))

@ex.wrong("categorical_cross_entropy", "sums over the wrong axis")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.clip(np.asarray(probs, dtype=float), eps, 1.0)
    return float(-np.mean(np.sum(labels_to_one_hot(y, probs.shape[1]) * np.log(probs), axis=0)))

@ex.wrong("categorical_cross_entropy", "assumes one-hot labels only")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.clip(np.asarray(probs, dtype=float), eps, 1.0)
    return float(-np.mean(np.sum(np.asarray(y, dtype=float) * np.log(probs), axis=-1)))

@ex.wrong("categorical_cross_entropy", "clipping at 1e-3 changes correct values")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.clip(np.asarray(probs, dtype=float), 1e-3, 1.0)
    return float(-np.mean(np.sum(labels_to_one_hot(y, probs.shape[1]) * np.log(probs), axis=1)))

@ex.wrong("categorical_cross_entropy", "eps ignored (always clips at 1e-12)")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.clip(np.asarray(probs, dtype=float), 1e-12, 1.0)
    return float(-np.mean(np.sum(labels_to_one_hot(y, probs.shape[1]) * np.log(probs), axis=1)))

@ex.wrong("categorical_cross_entropy", "log(0) hidden with np.errstate, nan replaced afterwards")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.asarray(probs, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = labels_to_one_hot(y, probs.shape[1]) * np.log(probs)
    return float(-np.mean(np.sum(np.nan_to_num(terms), axis=1)))

@ex.right("categorical_cross_entropy", "index the true-class probabilities")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    classes = y.argmax(axis=1) if y.ndim == 2 else y.astype(int)
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(probs)), classes], eps))))

@ex.right("categorical_cross_entropy", "np.where instead of clipping, float32 arithmetic")
def categorical_cross_entropy(y, probs, eps=1e-12):
    probs = np.asarray(probs, dtype=np.float64)
    one_hot = labels_to_one_hot(y, probs.shape[1])
    safe = np.where(one_hot > 0, np.maximum(probs, eps), 1.0)
    return -np.sum(one_hot * np.log(safe)) / probs.shape[0]

# --- cross_entropy_from_logits ------------------------------------------------------------------
@ex.wrong("cross_entropy_from_logits", "naive softmax then log (overflows for large logits)")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return float(-np.mean(np.sum(labels_to_one_hot(y, logits.shape[1]) * np.log(probs), axis=1)))

@ex.wrong("cross_entropy_from_logits", "stable softmax, then clipped log: a patch, not the fix")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = np.clip(e / e.sum(axis=1, keepdims=True), 1e-12, 1.0)
    return float(-np.mean(np.sum(labels_to_one_hot(y, logits.shape[1]) * np.log(probs), axis=1)))

@ex.wrong("cross_entropy_from_logits", "log-sum-exp over the wrong axis")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=0, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    return float(-np.mean(np.sum(labels_to_one_hot(y, logits.shape[1]) * log_probs, axis=1)))

@ex.wrong("cross_entropy_from_logits", "sum instead of mean")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.sum(labels_to_one_hot(y, logits.shape[1]) * log_probs))

@ex.wrong("cross_entropy_from_logits", "log-sum-exp term left out (shifted logits used as log-probabilities)")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return float(-np.mean(np.sum(labels_to_one_hot(y, logits.shape[1]) * shifted, axis=1)))

@ex.wrong("cross_entropy_from_logits", "one max shift for the whole batch (rows on other scales underflow)")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max()
    with np.errstate(divide="ignore"):
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(labels_to_one_hot(y, logits.shape[1]) * log_probs, axis=1)))

@ex.wrong("cross_entropy_from_logits", "naive log-sum-exp with the overflow hidden by np.errstate")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(labels_to_one_hot(y, logits.shape[1]) * log_probs, axis=1)))

@ex.right("cross_entropy_from_logits", "np.logaddexp.reduce per row, integer indexing")
def cross_entropy_from_logits(y, logits):
    logits = np.asarray(logits, dtype=float)
    y = np.asarray(y)
    classes = y.argmax(axis=1) if y.ndim == 2 else y.astype(int)
    lse = np.logaddexp.reduce(logits, axis=1)
    return float(np.mean(lse - logits[np.arange(len(logits)), classes]))

@ex.right("cross_entropy_from_logits", "scipy.special.log_softmax")
def cross_entropy_from_logits(y, logits):
    from scipy.special import log_softmax
    logits = np.asarray(logits, dtype=float)
    return float(-(labels_to_one_hot(y, logits.shape[1]) * log_softmax(logits, axis=1)).sum() / len(logits))

# --- accuracy -----------------------------------------------------------------------------------
def as_classes(values):
    values = np.asarray(values)
    return values.argmax(axis=1) if values.ndim == 2 else values

@ex.wrong("accuracy", "count instead of fraction")
def accuracy(y, y_hat):
    return float(np.sum(as_classes(y) == as_classes(y_hat)))

@ex.wrong("accuracy", "argmax over the wrong axis")
def accuracy(y, y_hat):
    y, y_hat = np.asarray(y), np.asarray(y_hat)
    y = y.argmax(axis=0) if y.ndim == 2 else y
    y_hat = y_hat.argmax(axis=0) if y_hat.ndim == 2 else y_hat
    return float(np.mean(y == y_hat))

@ex.wrong("accuracy", "compares labels with scores directly")
def accuracy(y, y_hat):
    return float(np.mean(as_classes(y) == np.asarray(y_hat)))

@ex.wrong("accuracy", "error rate instead of accuracy")
def accuracy(y, y_hat):
    return float(np.mean(as_classes(y) != as_classes(y_hat)))

@ex.wrong("accuracy", "ignores one-hot labels")
def accuracy(y, y_hat):
    return float(np.mean(np.asarray(y) == as_classes(y_hat)))

@ex.right("accuracy", "python loop, argmax per example")
def accuracy(y, y_hat):
    correct = 0
    for truth, guess in zip(y, y_hat):
        truth = int(np.argmax(truth)) if np.ndim(truth) else int(truth)
        guess = int(np.argmax(guess)) if np.ndim(guess) else int(guess)
        correct += truth == guess
    return correct / len(y)

# --- knowledge check ----------------------------------------------------------------------------
ex.multiple_choice({"q1": "c", "q2": "b", "q3": "d", "q4": "a", "q5": "c"})


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    code = [e for e in ex.exercise_ids() if not e.startswith("q")]
    assert {"mse", "binary_cross_entropy", "categorical_cross_entropy", "cross_entropy_from_logits", "accuracy"} <= set(code)
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 4


def test_lesson_has_a_written_answer():
    written = [c for c in ex.solution.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    assert written, "lesson 04 needs a manually graded written answer"
