"""Lesson 11 grading validity: stubs fail, solutions pass, typical attribution mistakes are caught, other correct answers pass."""

import itertools
from math import factorial

import numpy as np

from nncourse import reference as ref
from tests.validity import Exercises

ex = Exercises("11_interpretability")
DERIVATIVE = {"relu": ref.relu_grad, "sigmoid": ref.sigmoid_grad, "tanh": ref.tanh_grad}


# --- input_gradient -----------------------------------------------------------------------------
def back_to_input(X, params, k, activation, start=1.0, derivative_of=None, skip_derivative=False, probability=False):
    """A backward pass from the output to the input, with the knobs that produce the typical mistakes."""
    probs, cache = ref.mlp_forward(X, params, activation)
    dZ = np.zeros_like(cache[-1][1])
    dZ[:, k] = 1.0
    dZ = probs[:, [k]] * (dZ - probs) if probability else start * dZ if np.ndim(start) == 0 else start
    for index in reversed(range(len(params))):
        dA = dZ @ params[index][0].T
        if index > 0:
            dZ = dA if skip_derivative else dA * DERIVATIVE[derivative_of or activation](cache[index - 1][1])
    return dA


@ex.wrong("input_gradient", "divides by m, written with the notebook's names only (typed by the browser test)")
def input_gradient(X, params, k, activation="relu"):
    _, cache = mlp_forward(X, params, activation)
    dZ = np.zeros_like(cache[-1][1])
    dZ[:, k] = 1.0 / len(X)
    for index in reversed(range(len(params))):
        dA = dZ @ params[index][0].T
        if index > 0:
            dZ = dA * {"relu": relu_grad, "sigmoid": sigmoid_grad, "tanh": tanh_grad}[activation](cache[index - 1][1])
    return dA

@ex.wrong("input_gradient", "divides by m as for the batch-mean loss")
def input_gradient(X, params, k, activation="relu"):
    return back_to_input(X, params, k, activation, start=1.0 / len(X))

@ex.wrong("input_gradient", "forgets the activation derivative")
def input_gradient(X, params, k, activation="relu"):
    return back_to_input(X, params, k, activation, skip_derivative=True)

@ex.wrong("input_gradient", "gradient of the sum of all logits")
def input_gradient(X, params, k, activation="relu"):
    return back_to_input(X, params, k, activation, start=np.ones((len(X), params[-1][0].shape[1])))

@ex.wrong("input_gradient", "gradient of the softmax probability")
def input_gradient(X, params, k, activation="relu"):
    return back_to_input(X, params, k, activation, probability=True)

@ex.wrong("input_gradient", "always uses relu's derivative")
def input_gradient(X, params, k, activation="relu"):
    return back_to_input(X, params, k, activation, derivative_of="relu")

@ex.right("input_gradient", "own forward pass and dense_backward, activation by name")
def input_gradient(X, params, k, activation="relu"):
    A, Zs = np.asarray(X, dtype=float), []
    for index, (W, b) in enumerate(params):
        Z = A @ W + b
        Zs.append(Z)
        A = ref.FORWARD[activation](Z) if index < len(params) - 1 else Z
    dZ = ref.one_hot(np.full(len(X), k), Zs[-1].shape[1])
    for index in reversed(range(len(params))):
        A_prev = np.asarray(X, dtype=float) if index == 0 else ref.FORWARD[activation](Zs[index - 1])
        dA, _, _ = ref.dense_backward(dZ, A_prev, params[index][0])
        if index > 0:
            dZ = dA * DERIVATIVE[activation](Zs[index - 1])
    return dA

@ex.right("input_gradient", "row by row with a Jacobian product")
def input_gradient(X, params, k, activation="relu"):
    rows = []
    for x in np.asarray(X, dtype=float):
        J, a = np.eye(len(x)), x
        for index, (W, b) in enumerate(params):
            z = a @ W + b
            J = J @ W
            if index < len(params) - 1:
                J = J * DERIVATIVE[activation](z)[None, :]
                a = ref.FORWARD[activation](z)
        rows.append(J[:, k])
    return np.array(rows)


# --- integrated_gradients -----------------------------------------------------------------------
def ig(x, baseline, grad_fn, steps, alphas, multiply=True, total=np.mean):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    gradients = np.asarray(grad_fn(baseline + alphas[:, None] * (x - baseline)), dtype=float)
    return (x - baseline) * total(gradients, axis=0) if multiply else total(gradients, axis=0)


@ex.wrong("integrated_gradients", "right endpoints")
def integrated_gradients(x, baseline, grad_fn, steps):
    return ig(x, baseline, grad_fn, steps, (np.arange(steps) + 1) / steps)

@ex.wrong("integrated_gradients", "left endpoints")
def integrated_gradients(x, baseline, grad_fn, steps):
    return ig(x, baseline, grad_fn, steps, np.arange(steps) / steps)

@ex.wrong("integrated_gradients", "np.linspace(0, 1, steps)")
def integrated_gradients(x, baseline, grad_fn, steps):
    return ig(x, baseline, grad_fn, steps, np.linspace(0, 1, steps))

@ex.wrong("integrated_gradients", "not multiplied by x - baseline")
def integrated_gradients(x, baseline, grad_fn, steps):
    return ig(x, baseline, grad_fn, steps, (np.arange(steps) + 0.5) / steps, multiply=False)

@ex.wrong("integrated_gradients", "sum instead of mean")
def integrated_gradients(x, baseline, grad_fn, steps):
    return ig(x, baseline, grad_fn, steps, (np.arange(steps) + 0.5) / steps, total=np.sum)

@ex.wrong("integrated_gradients", "multiplied by x instead of x - baseline")
def integrated_gradients(x, baseline, grad_fn, steps):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    return x * ig(x, baseline, grad_fn, steps, (np.arange(steps) + 0.5) / steps, multiply=False)

@ex.wrong("integrated_gradients", "steps ignored (always 50)")
def integrated_gradients(x, baseline, grad_fn, steps):
    return ig(x, baseline, grad_fn, 50, (np.arange(50) + 0.5) / 50)

@ex.wrong("integrated_gradients", "grad_fn called with 1-D points")
def integrated_gradients(x, baseline, grad_fn, steps):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    total = sum(np.asarray(grad_fn(baseline + (i + 0.5) / steps * (x - baseline))).reshape(-1)[:len(x)]
                for i in range(steps))
    return (x - baseline) * total / steps

@ex.right("integrated_gradients", "one point at a time, as 1-row arrays")
def integrated_gradients(x, baseline, grad_fn, steps):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    total = np.zeros_like(x)
    for i in range(steps):
        total += np.asarray(grad_fn((baseline + (i + 0.5) / steps * (x - baseline))[None, :]), dtype=float)[0]
    return (x - baseline) * (total / steps)

@ex.right("integrated_gradients", "midpoints by linspace of the interval ends")
def integrated_gradients(x, baseline, grad_fn, steps):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    edges = np.linspace(0.0, 1.0, steps + 1)
    alphas = (edges[:-1] + edges[1:]) / 2
    points = np.outer(1 - alphas, baseline) + np.outer(alphas, x)
    return np.mean(np.asarray(grad_fn(points), dtype=float), axis=0) * (x - baseline)


# --- occlusion_map ------------------------------------------------------------------------------
def occlude(image, score_fn, patch, fill, stride=None, sign=1.0, use_fill=True, keep_edges=True, in_place=False):
    image = np.asarray(image, dtype=float)
    height, width = image.shape
    original = score_fn(image)
    result = np.zeros((height, width))
    step = stride or patch
    for top in range(0, height, step):
        for left in range(0, width, step):
            if not keep_edges and (top + patch > height or left + patch > width):
                continue
            occluded = image if in_place else image.copy()
            occluded[top:top + patch, left:left + patch] = fill if use_fill else 0.0
            result[top:top + patch, left:left + patch] = sign * (original - score_fn(occluded))
    return result


@ex.wrong("occlusion_map", "stride 1 (overlapping patches)")
def occlusion_map(image, score_fn, patch, fill=0.0):
    return occlude(image, score_fn, patch, fill, stride=1)

@ex.wrong("occlusion_map", "occluded minus original (sign flipped)")
def occlusion_map(image, score_fn, patch, fill=0.0):
    return occlude(image, score_fn, patch, fill, sign=-1.0)

@ex.wrong("occlusion_map", "fill ignored (always 0)")
def occlusion_map(image, score_fn, patch, fill=0.0):
    return occlude(image, score_fn, patch, fill, use_fill=False)

@ex.wrong("occlusion_map", "edge patches that do not fit are skipped")
def occlusion_map(image, score_fn, patch, fill=0.0):
    return occlude(image, score_fn, patch, fill, keep_edges=False)

@ex.wrong("occlusion_map", "occludes the image in place")
def occlusion_map(image, score_fn, patch, fill=0.0):
    return occlude(image, score_fn, patch, fill, in_place=True)

@ex.wrong("occlusion_map", "one value per patch (a small grid) instead of a full-size map")
def occlusion_map(image, score_fn, patch, fill=0.0):
    full = occlude(image, score_fn, patch, fill)
    return full[::patch, ::patch]

@ex.right("occlusion_map", "index grids and a mask")
def occlusion_map(image, score_fn, patch, fill=0.0):
    image = np.array(image, dtype=float)
    rows, cols = np.indices(image.shape)
    blocks = (rows // patch) * (image.shape[1] // patch + 1) + cols // patch
    base = score_fn(image)
    result = np.empty(image.shape)
    for block in np.unique(blocks):
        mask = blocks == block
        result[mask] = base - score_fn(np.where(mask, fill, image))
    return result


# --- shapley_values -----------------------------------------------------------------------------
def shapley(f, x, baseline, weight):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    n = len(x)
    value = lambda S: float(f(np.where(np.isin(np.arange(n), list(S)), x, baseline)))
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            for S in itertools.combinations(others, size):
                phi[i] += weight(n, size) * (value(S + (i,)) - value(S))
    return phi


@ex.wrong("shapley_values", "equal weights for every coalition")
def shapley_values(f, x, baseline):
    return shapley(f, x, baseline, lambda n, s: 1 / 2 ** (n - 1))

@ex.wrong("shapley_values", "leave-one-out")
def shapley_values(f, x, baseline):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    return np.array([f(x) - f(np.where(np.arange(len(x)) == i, baseline, x)) for i in range(len(x))], dtype=float)

@ex.wrong("shapley_values", "add-one to the baseline")
def shapley_values(f, x, baseline):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    return np.array([f(np.where(np.arange(len(x)) == i, x, baseline)) - f(baseline) for i in range(len(x))], dtype=float)

@ex.wrong("shapley_values", "weights without the 1/n! (counts of orderings)")
def shapley_values(f, x, baseline):
    return shapley(f, x, baseline, lambda n, s: factorial(s) * factorial(n - s - 1))

@ex.wrong("shapley_values", "x and baseline swapped")
def shapley_values(f, x, baseline):
    return shapley(f, baseline, x, lambda n, s: factorial(s) * factorial(n - s - 1) / factorial(n))

@ex.right("shapley_values", "average over all orderings")
def shapley_values(f, x, baseline):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    phi = np.zeros(len(x))
    orders = list(itertools.permutations(range(len(x))))
    for order in orders:
        z = baseline.copy()
        before = f(z)
        for i in order:
            z[i] = x[i]
            after = f(z)
            phi[i] += after - before
            before = after
    return phi / len(orders)

@ex.right("shapley_values", "bit masks with a cache of coalition values")
def shapley_values(f, x, baseline):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    n = len(x)
    values = {mask: float(f(np.where([(mask >> j) & 1 for j in range(n)], x, baseline))) for mask in range(2 ** n)}
    phi = np.zeros(n)
    for mask, v in values.items():
        size = bin(mask).count("1")
        for i in range(n):
            if not (mask >> i) & 1:
                phi[i] += factorial(size) * factorial(n - size - 1) / factorial(n) * (values[mask | 1 << i] - v)
    return phi


ex.multiple_choice({"q1": "b", "q2": "c", "q3": "a", "q4": "b", "q5": "d"})


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()
