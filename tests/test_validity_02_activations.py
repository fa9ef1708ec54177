"""Lesson 02 grading validity: stubs fail, solutions pass, typical mistakes are caught, other correct answers pass."""
import math

import numpy as np
import scipy.special

from tests.validity import Exercises

ex = Exercises("02_activations")


def safe_sigmoid(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# --- relu -------------------------------------------------------------------------------------
@ex.wrong("relu", "built-in max")
def relu(z):
    return max(0, z)

@ex.wrong("relu", "absolute value")
def relu(z):
    return np.abs(z)

@ex.wrong("relu", "returns the slope")
def relu(z):
    return (np.asarray(z) > 0).astype(float)

@ex.wrong("relu", "clips from above instead of below")
def relu(z):
    return np.minimum(0.0, z)

@ex.right("relu", "multiply by a mask")
def relu(z):
    z = np.asarray(z)
    return z * (z > 0)

@ex.right("relu", "np.clip")
def relu(z):
    return np.clip(z, 0, None)


# --- relu_grad --------------------------------------------------------------------------------
@ex.wrong("relu_grad", "slope 1 at z = 0 (>=)")
def relu_grad(z):
    return (np.asarray(z) >= 0).astype(float)

@ex.wrong("relu_grad", "returns relu itself")
def relu_grad(z):
    return np.maximum(0.0, z)

@ex.wrong("relu_grad", "np.sign")
def relu_grad(z):
    return np.sign(z)

@ex.wrong("relu_grad", "python if (scalars only)")
def relu_grad(z):
    return 1.0 if z > 0 else 0.0

@ex.right("relu_grad", "heaviside with 0 at 0")
def relu_grad(z):
    return np.heaviside(z, 0.0)

@ex.wrong("relu_grad", "integers instead of the floats the lesson asks for")
def relu_grad(z):
    return np.where(np.asarray(z) > 0, 1, 0)

@ex.wrong("relu_grad", "booleans instead of floats")
def relu_grad(z):
    return np.asarray(z) > 0

@ex.right("relu_grad", "np.where with float constants")
def relu_grad(z):
    return np.where(np.asarray(z) > 0, 1.0, 0.0)


# --- leaky_relu -------------------------------------------------------------------------------
@ex.wrong("leaky_relu", "ignores alpha (always 0.01)")
def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, 0.01 * z)

@ex.wrong("leaky_relu", "plain relu")
def leaky_relu(z, alpha=0.01):
    return np.maximum(0.0, z)

@ex.wrong("leaky_relu", "constant alpha on the negative side")
def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, alpha)

@ex.wrong("leaky_relu", "alpha on the positive side")
def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, alpha * z, z)

@ex.right("leaky_relu", "maximum of z and alpha z")
def leaky_relu(z, alpha=0.01):
    return np.maximum(z, alpha * np.asarray(z))

@ex.right("leaky_relu", "relu plus a negative part")
def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=float)
    return np.maximum(z, 0) + alpha * np.minimum(z, 0)


# --- sigmoid ----------------------------------------------------------------------------------
@ex.wrong("sigmoid", "textbook formula overflows for z = -1000")
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))

@ex.wrong("sigmoid", "exp(z) / (1 + exp(z)) gives nan for z = 1000")
def sigmoid(z):
    e = np.exp(np.asarray(z, dtype=float))
    return e / (1.0 + e)

@ex.wrong("sigmoid", "np.where with both unsafe branches")
def sigmoid(z):
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))

@ex.wrong("sigmoid", "exp(z) / (1 + exp(z)) with the overflow hidden by np.errstate (nan for z = 1000)")
def sigmoid(z):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(z, dtype=float))
        return e / (1.0 + e)

@ex.wrong("sigmoid", "sign error")
def sigmoid(z):
    return safe_sigmoid(-np.asarray(z, dtype=float))

@ex.wrong("sigmoid", "float32 overflow (keeps float32 and uses the textbook formula)")
def sigmoid(z):
    z = np.asarray(z)
    if z.dtype == np.float32:
        return 1 / (1 + np.exp(-z))
    return safe_sigmoid(z)

@ex.right("sigmoid", "scipy expit")
def sigmoid(z):
    return scipy.special.expit(z)

@ex.right("sigmoid", "clipped textbook formula")
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(z, dtype=float), -500, 500)))

@ex.right("sigmoid", "via tanh")
def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))

@ex.right("sigmoid", "masks, keeps float32")
def sigmoid(z):
    z = np.asarray(z)
    z = z if z.dtype.kind == "f" else z.astype(float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out


# --- sigmoid_grad -----------------------------------------------------------------------------
@ex.wrong("sigmoid_grad", "z (1 - z) applied to z")
def sigmoid_grad(z):
    z = np.asarray(z, dtype=float)
    return z * (1 - z)

@ex.wrong("sigmoid_grad", "returns sigmoid")
def sigmoid_grad(z):
    return safe_sigmoid(z)

@ex.wrong("sigmoid_grad", "s (1 + s)")
def sigmoid_grad(z):
    s = safe_sigmoid(z)
    return s * (1 + s)

@ex.wrong("sigmoid_grad", "naive exp formula overflows")
def sigmoid_grad(z):
    e = np.exp(-np.asarray(z, dtype=float))
    return e / (1 + e) ** 2

@ex.right("sigmoid_grad", "s(z) s(-z)")
def sigmoid_grad(z):
    return safe_sigmoid(z) * safe_sigmoid(-np.asarray(z, dtype=float))

@ex.right("sigmoid_grad", "exp(-|z|) formula")
def sigmoid_grad(z):
    e = np.exp(-np.abs(np.asarray(z, dtype=float)))
    return e / (1 + e) ** 2


# --- tanh -------------------------------------------------------------------------------------
@ex.wrong("tanh", "textbook exponentials overflow")
def tanh(z):
    z = np.asarray(z, dtype=float)
    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))

@ex.wrong("tanh", "textbook exponentials with the overflow hidden by np.errstate (nan)")
def tanh(z):
    z = np.asarray(z, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))

@ex.wrong("tanh", "sigmoid instead")
def tanh(z):
    return safe_sigmoid(z)

@ex.wrong("tanh", "sinh")
def tanh(z):
    return np.sinh(np.clip(z, -700, 700))

@ex.wrong("tanh", "2 sigmoid(z) - 1 (forgot the 2z)")
def tanh(z):
    return 2 * safe_sigmoid(z) - 1

@ex.right("tanh", "2 sigmoid(2z) - 1")
def tanh(z):
    return 2 * safe_sigmoid(2 * np.asarray(z, dtype=float)) - 1

@ex.right("tanh", "stable exp(-2|z|) with the sign")
def tanh(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-2 * np.abs(z))
    return np.sign(z) * (1 - e) / (1 + e)

@ex.right("tanh", "math.tanh in a vectorize")
def tanh(z):
    return np.vectorize(math.tanh, otypes=[float])(z)


# --- tanh_grad --------------------------------------------------------------------------------
@ex.wrong("tanh_grad", "1 - z^2")
def tanh_grad(z):
    return 1 - np.asarray(z, dtype=float) ** 2

@ex.wrong("tanh_grad", "1 - tanh (no square)")
def tanh_grad(z):
    return 1 - np.tanh(z)

@ex.wrong("tanh_grad", "tanh squared")
def tanh_grad(z):
    return np.tanh(z) ** 2

@ex.wrong("tanh_grad", "1 / cosh^2 overflows")
def tanh_grad(z):
    return 1 / np.cosh(np.asarray(z, dtype=float)) ** 2

@ex.right("tanh_grad", "(1 - t)(1 + t)")
def tanh_grad(z):
    t = np.tanh(z)
    return (1 - t) * (1 + t)

@ex.right("tanh_grad", "4 sigmoid'(2z)")
def tanh_grad(z):
    s = safe_sigmoid(2 * np.asarray(z, dtype=float))
    return 4 * s * (1 - s)


# --- softmax ----------------------------------------------------------------------------------
@ex.wrong("softmax", "over axis 0 (columns)")
def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)

@ex.wrong("softmax", "unstable: no max shift, overflows")
def softmax(z):
    e = np.exp(np.asarray(z, dtype=float))
    return e / e.sum(axis=-1, keepdims=True)

@ex.wrong("softmax", "normalises over the whole batch")
def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()

@ex.wrong("softmax", "one global max shift (rows on different scales underflow)")
def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)

@ex.wrong("softmax", "no max shift, overflow hidden by np.errstate (nan for huge logits)")
def softmax(z):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(z, dtype=float))
        return e / e.sum(axis=-1, keepdims=True)

@ex.wrong("softmax", "subtracts the max in place")
def softmax(z):
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)

@ex.wrong("softmax", "axis=1 fails on a single vector")
def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

@ex.right("softmax", "scipy.special.softmax")
def softmax(z):
    return scipy.special.softmax(z, axis=-1)

@ex.right("softmax", "log-sum-exp")
def softmax(z):
    z = np.asarray(z, dtype=float)
    return np.exp(z - scipy.special.logsumexp(z, axis=-1, keepdims=True))

@ex.right("softmax", "row loop with math.exp, keeps float32")
def softmax(z):
    z = np.asarray(z)
    out = np.zeros(z.shape, dtype=z.dtype if z.dtype.kind == "f" else float)
    for index in np.ndindex(z.shape[:-1]):
        row = z[index]
        top = max(row) if len(row) else 0.0
        exps = [math.exp(float(v) - float(top)) for v in row]
        total = sum(exps)
        out[index] = [e / total for e in exps]
    return out


# --- softmax_backward -------------------------------------------------------------------------
def weighted_sum(dA, A, axis=1):
    return np.sum(np.asarray(dA, dtype=float) * np.asarray(A, dtype=float), axis=axis, keepdims=True)


@ex.wrong("softmax_backward", "diagonal of the Jacobian only: A * dA")
def softmax_backward(dA, A):
    return np.asarray(A, dtype=float) * np.asarray(dA, dtype=float)

@ex.wrong("softmax_backward", "the sigmoid's slope A (1 - A) dA")
def softmax_backward(dA, A):
    A = np.asarray(A, dtype=float)
    return A * (1 - A) * np.asarray(dA, dtype=float)

@ex.wrong("softmax_backward", "unweighted sum of dA")
def softmax_backward(dA, A):
    dA, A = np.asarray(dA, dtype=float), np.asarray(A, dtype=float)
    return A * (dA - dA.sum(axis=1, keepdims=True))

@ex.wrong("softmax_backward", "one weighted sum for the whole batch")
def softmax_backward(dA, A):
    dA, A = np.asarray(dA, dtype=float), np.asarray(A, dtype=float)
    return A * (dA - np.sum(dA * A))

@ex.wrong("softmax_backward", "weighted sum over the examples (axis 0)")
def softmax_backward(dA, A):
    return np.asarray(A, dtype=float) * (np.asarray(dA, dtype=float) - weighted_sum(dA, A, axis=0))

@ex.wrong("softmax_backward", "sign error in the subtraction")
def softmax_backward(dA, A):
    return np.asarray(A, dtype=float) * (np.asarray(dA, dtype=float) + weighted_sum(dA, A))

@ex.wrong("softmax_backward", "modifies dA in place")
def softmax_backward(dA, A):
    dA -= weighted_sum(dA, A)
    dA *= A
    return dA

@ex.right("softmax_backward", "the full Jacobian diag(a) - a a^T for every row")
def softmax_backward(dA, A):
    A, dA = np.asarray(A, dtype=float), np.asarray(dA, dtype=float)
    rows = [(np.diag(a) - np.outer(a, a)) @ d for a, d in zip(A, dA)]
    return np.array(rows).reshape(A.shape)

@ex.right("softmax_backward", "einsum with an explicit Kronecker delta, float32 kept")
def softmax_backward(dA, A):
    A, dA = np.asarray(A), np.asarray(dA)
    if A.dtype.kind != "f":
        A = A.astype(float)
    eye = np.eye(A.shape[-1], dtype=A.dtype)
    jacobian = A[:, :, None] * (eye[None] - A[:, None, :])  # [m, i, j] = a_i (delta_ij - a_j)
    return np.einsum("mi,mij->mj", dA.astype(A.dtype), jacobian)

@ex.right("softmax_backward", "python loops over rows and classes")
def softmax_backward(dA, A):
    out = []
    for a_row, d_row in zip(np.asarray(A, dtype=float).tolist(), np.asarray(dA, dtype=float).tolist()):
        average = sum(a * d for a, d in zip(a_row, d_row))
        out.append([a * (d - average) for a, d in zip(a_row, d_row)])
    return np.array(out, dtype=float).reshape(np.shape(A))


# --- knowledge check --------------------------------------------------------------------------
ex.multiple_choice({"q1": "b", "q2": "c", "q3": "b", "q4": "d", "q5": "a"})

test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()


def test_lesson_has_the_promised_exercises():
    code = [e for e in ex.exercise_ids() if not e.startswith("q")]
    assert set(code) >= {"relu", "relu_grad", "leaky_relu", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "softmax",
                        "softmax_backward"}
    assert len([e for e in ex.exercise_ids() if e.startswith("q")]) >= 4


def test_lesson_has_a_manually_graded_written_answer():
    written = [c for c in ex.solution.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(written) == 1 and written[0].metadata["nbgrader"]["points"] > 0
