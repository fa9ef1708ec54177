"""Lesson 08 grading validity: stubs fail, solutions pass, typical generalization mistakes are caught, other correct
answers pass."""

import numpy as np

from tests.validity import Exercises

ex = Exercises("08_generalization", solutions_only=True)


# --- split ------------------------------------------------------------------------------------------
def cut(X, y, order, n_train, n_val):
    parts = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
    return tuple(a for rows in parts for a in (X[rows], y[rows]))


def splitter(order=lambda m, seed: np.random.default_rng(seed).permutation(m), size=round, swap=False):
    """A split variant: how the order is drawn, how fractions become sizes, whether the two fractions are swapped."""
    def split(X, y, val_fraction, test_fraction, seed=0):
        m = len(X)
        n_val, n_test = size(val_fraction * m), size(test_fraction * m)
        if swap:
            n_val, n_test = n_test, n_val
        return cut(X, y, order(m, seed), m - n_val - n_test, n_val)
    return split


ex.wrong("split", "int() instead of round() for the sizes")(splitter(size=int))
ex.wrong("split", "no shuffling")(splitter(order=lambda m, seed: np.arange(m)))
ex.wrong("split", "validation and test fractions swapped")(splitter(swap=True))
ex.wrong("split", "legacy RandomState(seed).permutation")(splitter(order=lambda m, seed: np.random.RandomState(seed).permutation(m)))
ex.wrong("split", "seed ignored")(splitter(order=lambda m, seed: np.random.default_rng(0).permutation(m)))


@ex.wrong("split", "test part first in the permutation")
def split(X, y, val_fraction, test_fraction, seed=0):
    m = len(X)
    n_val, n_test = round(val_fraction * m), round(test_fraction * m)
    order = np.random.default_rng(seed).permutation(m)
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return X[train], y[train], X[val], y[val], X[test], y[test]

@ex.wrong("split", "X and y shuffled with different permutations")
def split(X, y, val_fraction, test_fraction, seed=0):
    m = len(X)
    n_val, n_test = round(val_fraction * m), round(test_fraction * m)
    rng = np.random.default_rng(seed)
    ox, oy = rng.permutation(m), rng.permutation(m)
    xs, ys = cut(X, y, ox, m - n_val - n_test, n_val), cut(X, y, oy, m - n_val - n_test, n_val)
    return xs[0], ys[1], xs[2], ys[3], xs[4], ys[5]

@ex.wrong("split", "legacy RandomState(seed).permutation")
def split(X, y, val_fraction, test_fraction, seed=0):
    m = len(X)
    n_val, n_test = round(val_fraction * m), round(test_fraction * m)
    return cut(X, y, np.random.RandomState(seed).permutation(m), m - n_val - n_test, n_val)

@ex.wrong("split", "seed ignored")
def split(X, y, val_fraction, test_fraction, seed=0):
    m = len(X)
    n_val, n_test = round(val_fraction * m), round(test_fraction * m)
    return cut(X, y, np.random.default_rng(0).permutation(m), m - n_val - n_test, n_val)

@ex.wrong("split", "shuffles X and y in place")
def split(X, y, val_fraction, test_fraction, seed=0):
    m = len(X)
    n_val, n_test = round(val_fraction * m), round(test_fraction * m)
    order = np.random.default_rng(seed).permutation(m)
    X[:], y[:] = X[order], y[order]
    return cut(X, y, np.arange(m), m - n_val - n_test, n_val)

@ex.right("split", "np.split of a shuffled index array, returned as a tuple built from a list")
def split(X, y, val_fraction, test_fraction, seed=0):
    m = len(X)
    n_val = int(np.round(val_fraction * m))
    n_test = int(np.round(test_fraction * m))
    indices = np.arange(m)
    np.random.default_rng(seed).shuffle(indices)
    pieces = np.split(indices, [m - n_val - n_test, m - n_test])
    return tuple([part for rows in pieces for part in (np.take(X, rows, axis=0), np.take(y, rows, axis=0))])


# --- fit_standardizer ---------------------------------------------------------------------------------
@ex.wrong("fit_standardizer", "sample std (ddof=1)")
def fit_standardizer(X_train):
    std = np.std(X_train, axis=0, ddof=1) if len(X_train) > 1 else np.zeros(np.shape(X_train)[1])
    return np.mean(X_train, axis=0), np.where(std == 0, 1.0, std)

@ex.wrong("fit_standardizer", "zero std left at zero")
def fit_standardizer(X_train):
    return np.mean(X_train, axis=0), np.std(X_train, axis=0)

@ex.wrong("fit_standardizer", "statistics of every row instead of every column")
def fit_standardizer(X_train):
    std = np.std(X_train, axis=1)
    return np.mean(X_train, axis=1), np.where(std == 0, 1.0, std)

@ex.wrong("fit_standardizer", "small stds replaced too (threshold instead of exactly 0)")
def fit_standardizer(X_train):
    std = np.std(X_train, axis=0)
    return np.mean(X_train, axis=0), np.where(std < 1e-8, 1.0, std)

@ex.wrong("fit_standardizer", "variance instead of std")
def fit_standardizer(X_train):
    return X_train.mean(axis=0), np.var(X_train, axis=0) + (np.var(X_train, axis=0) == 0)

@ex.wrong("fit_standardizer", "adds a small epsilon to every std")
def fit_standardizer(X_train):
    return np.mean(X_train, axis=0), np.std(X_train, axis=0) + 1e-8

@ex.right("fit_standardizer", "explicit loops over the columns")
def fit_standardizer(X_train):
    X_train = np.asarray(X_train, dtype=float)
    means, stds = [], []
    for column in X_train.T:
        mean = sum(column) / len(column)
        std = float(np.sqrt(np.mean((column - column.mean()) ** 2)))
        means.append(column.mean())
        stds.append(1.0 if std == 0 else std)
    return np.array(means), np.array(stds)


# --- standardize --------------------------------------------------------------------------------------
@ex.wrong("standardize", "recomputes the statistics from X (a leak)")
def standardize(X, stats):
    std = np.std(X, axis=0)
    return (X - np.mean(X, axis=0)) / np.where(std == 0, 1.0, std)

@ex.wrong("standardize", "multiplies by the std")
def standardize(X, stats):
    return (X - stats[0]) * stats[1]

@ex.wrong("standardize", "only centres")
def standardize(X, stats):
    return X - stats[0]

@ex.wrong("standardize", "modifies X in place")
def standardize(X, stats):
    X -= stats[0]
    X /= stats[1]
    return X

@ex.right("standardize", "np.divide and np.subtract with lists of statistics")
def standardize(X, stats):
    mean, std = (np.asarray(s, dtype=float) for s in stats)
    return np.divide(np.subtract(X, mean[None, :]), std[None, :])


# --- l2_penalty ---------------------------------------------------------------------------------------
@ex.wrong("l2_penalty", "biases penalised too")
def l2_penalty(params, lam):
    return lam * sum(np.sum(W ** 2) + np.sum(b ** 2) for W, b in params)

@ex.wrong("l2_penalty", "factor 1/2")
def l2_penalty(params, lam):
    return 0.5 * lam * sum(np.sum(W ** 2) for W, b in params)

@ex.wrong("l2_penalty", "mean instead of sum")
def l2_penalty(params, lam):
    return lam * sum(np.mean(W ** 2) for W, b in params)

@ex.wrong("l2_penalty", "L1 (absolute values)")
def l2_penalty(params, lam):
    return lam * sum(np.sum(np.abs(W)) for W, b in params)

@ex.wrong("l2_penalty", "Frobenius norm, not squared")
def l2_penalty(params, lam):
    return lam * sum(np.linalg.norm(W) for W, b in params)

@ex.wrong("l2_penalty", "only the first layer")
def l2_penalty(params, lam):
    return lam * np.sum(params[0][0] ** 2)

@ex.right("l2_penalty", "a loop with np.dot of the flattened weights, returning a NumPy float")
def l2_penalty(params, lam):
    total = np.float64(0.0)
    for layer in params:
        flat = np.ravel(layer[0])
        total += np.dot(flat, flat)
    return total * lam


# --- l2_gradients -------------------------------------------------------------------------------------
@ex.wrong("l2_gradients", "factor 2 missing")
def l2_gradients(params, grads, lam):
    return [(dW + lam * W, db) for (W, b), (dW, db) in zip(params, grads)]

@ex.wrong("l2_gradients", "biases decayed")
def l2_gradients(params, grads, lam):
    return [(dW + 2 * lam * W, db + 2 * lam * b) for (W, b), (dW, db) in zip(params, grads)]

@ex.wrong("l2_gradients", "sign error")
def l2_gradients(params, grads, lam):
    return [(dW - 2 * lam * W, db) for (W, b), (dW, db) in zip(params, grads)]

@ex.wrong("l2_gradients", "data gradient dropped")
def l2_gradients(params, grads, lam):
    return [(2 * lam * W, db) for (W, b), (dW, db) in zip(params, grads)]

@ex.wrong("l2_gradients", "updates dW in place")
def l2_gradients(params, grads, lam):
    for (W, b), (dW, db) in zip(params, grads):
        dW += 2 * lam * W
    return grads

@ex.wrong("l2_gradients", "1/m convention: divides by the number of weights")
def l2_gradients(params, grads, lam):
    return [(dW + 2 * lam * W / W.size, db) for (W, b), (dW, db) in zip(params, grads)]

@ex.right("l2_gradients", "index loop building lists of pairs")
def l2_gradients(params, grads, lam):
    result = []
    for index in range(len(params)):
        W = np.asarray(params[index][0], dtype=float)
        dW, db = grads[index]
        result.append([np.add(dW, np.multiply(2.0 * lam, W)), np.array(db, copy=True)])
    return result


# --- dropout_forward ----------------------------------------------------------------------------------
@ex.wrong("dropout_forward", "no 1/keep_prob scaling (plain dropout)")
def dropout_forward(A, keep_prob, seed, training=True):
    if not training:
        return A, None
    mask = np.random.default_rng(seed).random(A.shape) < keep_prob
    return A * mask, mask

@ex.wrong("dropout_forward", "keep_prob used as the drop probability")
def dropout_forward(A, keep_prob, seed, training=True):
    if not training:
        return A, None
    mask = np.random.default_rng(seed).random(A.shape) < 1 - keep_prob
    return A * mask / keep_prob, mask

@ex.wrong("dropout_forward", "scales by keep_prob at inference (non-inverted)")
def dropout_forward(A, keep_prob, seed, training=True):
    if not training:
        return A * keep_prob, None
    mask = np.random.default_rng(seed).random(A.shape) < keep_prob
    return A * mask / keep_prob, mask

@ex.wrong("dropout_forward", "binomial draws instead of random() < keep_prob")
def dropout_forward(A, keep_prob, seed, training=True):
    if not training:
        return A, None
    mask = np.random.default_rng(seed).binomial(1, keep_prob, size=A.shape).astype(bool)
    return A * mask / keep_prob, mask

@ex.wrong("dropout_forward", "mask as floats 0/1")
def dropout_forward(A, keep_prob, seed, training=True):
    if not training:
        return A, None
    mask = (np.random.default_rng(seed).random(A.shape) < keep_prob).astype(float)
    return A * mask / keep_prob, mask

@ex.wrong("dropout_forward", "dropout applied at inference too")
def dropout_forward(A, keep_prob, seed, training=True):
    mask = np.random.default_rng(seed).random(A.shape) < keep_prob
    return A * mask / keep_prob, (mask if training else None)

@ex.wrong("dropout_forward", "<= instead of < (keeps a unit whose draw equals keep_prob) and a mask per row only")
def dropout_forward(A, keep_prob, seed, training=True):
    if not training:
        return A, None
    mask = np.random.default_rng(seed).random((A.shape[0], 1)) <= keep_prob
    mask = np.broadcast_to(mask, A.shape)
    return A * mask / keep_prob, mask

@ex.right("dropout_forward", "uniform() draws (the same stream as random()) and multiplication")
def dropout_forward(A, keep_prob, seed, training=True):
    if training is False:
        return A, None
    draws = np.random.default_rng(seed).uniform(size=np.shape(A))
    mask = draws < keep_prob
    return A * mask.astype(float) * (1.0 / keep_prob), mask


# --- dropout_backward ---------------------------------------------------------------------------------
@ex.wrong("dropout_backward", "no scaling")
def dropout_backward(dA_out, mask, keep_prob):
    return dA_out if mask is None else dA_out * mask

@ex.wrong("dropout_backward", "multiplies by keep_prob")
def dropout_backward(dA_out, mask, keep_prob):
    return dA_out if mask is None else dA_out * mask * keep_prob

@ex.wrong("dropout_backward", "mask ignored")
def dropout_backward(dA_out, mask, keep_prob):
    return dA_out if mask is None else dA_out / keep_prob

@ex.wrong("dropout_backward", "fails without a mask")
def dropout_backward(dA_out, mask, keep_prob):
    return dA_out * mask / keep_prob

@ex.right("dropout_backward", "np.where with explicit zeros")
def dropout_backward(dA_out, mask, keep_prob):
    if mask is None:
        return np.array(dA_out, dtype=float)
    return np.where(np.asarray(mask, dtype=bool), np.true_divide(dA_out, keep_prob), np.zeros_like(dA_out, dtype=float))


# --- early_stopping -----------------------------------------------------------------------------------
def stopping(improves=lambda loss, best: loss < best, stop=lambda epoch, best_epoch, patience: epoch - best_epoch >= patience,
             keep="new", first_epoch=1):
    """An early_stopping variant: when a loss counts as a new best, when to stop, which params to keep."""
    def early_stopping(step, params, num_epochs, patience):
        best, best_params, best_epoch, seen = np.inf, params, 0, []
        for epoch in range(first_epoch, num_epochs + first_epoch):
            previous = params
            params, loss = step(params)
            seen.append(loss)
            if improves(loss, best):
                best, best_params, best_epoch = loss, (previous if keep == "previous" else params), epoch
            elif stop(epoch, best_epoch, patience):
                break
        return (params if keep == "last" else best_params), best_epoch, seen
    return early_stopping


ex.wrong("early_stopping", "returns the last parameters")(stopping(keep="last"))
ex.wrong("early_stopping", "ties count as improvements")(stopping(improves=lambda loss, best: loss <= best))
ex.wrong("early_stopping", "stops one epoch late (patience + 1)")(stopping(stop=lambda e, b, p: e - b > p))
ex.wrong("early_stopping", "never stops early")(stopping(stop=lambda e, b, p: False))
ex.wrong("early_stopping", "epochs numbered from 0")(stopping(first_epoch=0))
ex.wrong("early_stopping", "keeps the parameters from before the best epoch")(stopping(keep="previous"))


@ex.wrong("early_stopping", "wait counter not reset after an improvement")
def early_stopping(step, params, num_epochs, patience):
    best, best_params, best_epoch, seen, waited = np.inf, params, 0, [], 0
    for epoch in range(1, num_epochs + 1):
        params, loss = step(params)
        seen.append(loss)
        if loss < best:
            best, best_params, best_epoch = loss, params, epoch
        else:
            waited += 1
            if waited >= patience:
                break
    return best_params, best_epoch, seen

@ex.right("early_stopping", "a while loop with a wait counter, as Keras's callback counts")
def early_stopping(step, params, num_epochs, patience):
    history, wait, epoch = [], 0, 0
    best = (float("inf"), params, 0)
    while epoch < num_epochs:
        epoch += 1
        params, loss = step(params)
        history.append(float(loss))
        if loss < best[0]:
            best, wait = (loss, params, epoch), 0
        else:
            wait += 1
            if wait >= patience:
                break
    return best[1], best[2], history


# --- shift_images -------------------------------------------------------------------------------------
@ex.wrong("shift_images", "np.roll wraps around")
def shift_images(X, dx, dy):
    images = np.asarray(X, dtype=float).reshape(-1, 8, 8)
    return np.roll(images, (dy, dx), axis=(1, 2)).reshape(len(images), 64)

def window(X, down, right):
    """Every image moved `down` rows and `right` columns through zero padding and a window."""
    images = np.asarray(X, dtype=float).reshape(-1, 8, 8)
    padded = np.pad(images, ((0, 0), (8, 8), (8, 8)))
    return padded[:, 8 - down:16 - down, 8 - right:16 - right].reshape(len(images), 64)


def shifter(moves):
    """A shift_images variant: moves(dx, dy) gives the (down, right) it actually applies."""
    def shift_images(X, dx, dy):
        return window(X, *moves(dx, dy))
    return shift_images


ex.wrong("shift_images", "directions reversed")(shifter(lambda dx, dy: (-dy, -dx)))
ex.wrong("shift_images", "dx and dy swapped")(shifter(lambda dx, dy: (dx, dy)))

@ex.wrong("shift_images", "shifts the flat row of 64 (pixels wrap onto the next line)")
def shift_images(X, dx, dy):
    X = np.asarray(X, dtype=float)
    k = dx + 8 * dy
    out = np.zeros_like(X)
    if k >= 0:
        out[:, k:] = X[:, :64 - k]
    else:
        out[:, :64 + k] = X[:, -k:]
    return out

@ex.wrong("shift_images", "shifts X in place")
def shift_images(X, dx, dy):
    images = X.reshape(-1, 8, 8)
    padded = np.pad(images, ((0, 0), (8, 8), (8, 8)))
    images[:] = padded[:, 8 - dy:16 - dy, 8 - dx:16 - dx]
    return X.astype(float)

@ex.right("shift_images", "zero padding, then a window")
def shift_images(X, dx, dy):
    return window(X, dy, dx)

@ex.right("shift_images", "pixel loops")
def shift_images(X, dx, dy):
    X = np.asarray(X, dtype=float)
    out = np.zeros((len(X), 64))
    for r in range(8):
        for c in range(8):
            if 0 <= r - dy < 8 and 0 <= c - dx < 8:
                out[:, 8 * r + c] = X[:, 8 * (r - dy) + (c - dx)]
    return out


# --- knowledge check ----------------------------------------------------------------------------------
ANSWERS = (("q1", "b"), ("q2", "b"), ("q3", "c"), ("q4", "a"), ("q5", "a"))
ex.multiple_choice(dict(ANSWERS))


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    graded = {"split", "fit_standardizer", "standardize", "l2_penalty", "l2_gradients", "dropout_forward",
              "dropout_backward", "early_stopping", "shift_images"}
    assert graded <= set(ex.exercise_ids())
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 4
    tests = [c for c in ex.solution.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
             and c.metadata["nbgrader"]["grade_id"][5:] in graded]
    assert len(tests) >= 8 and all("### BEGIN HIDDEN TESTS" in c.source for c in tests)


def test_the_written_answer_is_manually_graded():
    cells = [c for c in ex.solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "validation_vs_test_explanation"]
    assert len(cells) == 1 and cells[0].cell_type == "markdown"
    assert cells[0].metadata["nbgrader"]["solution"] and cells[0].metadata["nbgrader"]["points"] > 0


def test_int_rounding_really_differs_in_the_hidden_sizes():
    """The hidden test's m = 100, 0.29 case is where int() and round() disagree (not a vacuous check)."""
    assert int(0.29 * 100) == 28 and round(0.29 * 100) == 29
