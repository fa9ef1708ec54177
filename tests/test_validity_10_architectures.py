"""Lesson 10 grading validity: stubs fail, solutions pass, typical convolution, recurrence and attention mistakes are
caught, other correct answers pass."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.validity import Exercises

ex = Exercises("10_architectures", solutions_only=True)  # skip the Keras comparison and the demos


# --- conv2d -------------------------------------------------------------------------------------------
def correlate(image, kernel, flip=False, transpose=False, mean=False, shrink=0):
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    if flip:
        kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    rows, cols = image.shape[0] - kh + 1 - shrink, image.shape[1] - kw + 1 - shrink
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            patch = image[i:i + kh, j:j + kw]
            out[i, j] = np.mean(patch * kernel) if mean else np.sum((patch.T if transpose else patch) * (kernel.T if transpose else kernel))
    return out


@ex.wrong("conv2d", "flips the kernel (mathematical convolution)")
def conv2d(image, kernel):
    return correlate(image, kernel, flip=True)

@ex.wrong("conv2d", "mean of each patch instead of the sum")
def conv2d(image, kernel):
    return correlate(image, kernel, mean=True)

@ex.wrong("conv2d", "output one row and column too small (H - kh)")
def conv2d(image, kernel):
    return correlate(image, kernel, shrink=1)

@ex.wrong("conv2d", "zero-padded to the input's shape ('same')")
def conv2d(image, kernel):
    out = np.zeros(np.shape(image))
    valid = correlate(image, kernel)
    out[:valid.shape[0], :valid.shape[1]] = valid
    return out

@ex.wrong("conv2d", "keeps the integer dtype of the image")
def conv2d(image, kernel):
    out = correlate(image, kernel)
    return out.astype(np.asarray(image).dtype) if np.asarray(image).dtype.kind == "i" else out

@ex.wrong("conv2d", "square kernels only (uses kh for both sizes)")
def conv2d(image, kernel):
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    k = kernel.shape[0]
    return np.array([[np.sum(image[i:i + k, j:j + k] * kernel[:k, :k]) if kernel.shape[1] >= k else 0.0
                      for j in range(image.shape[1] - k + 1)] for i in range(image.shape[0] - k + 1)])

@ex.right("conv2d", "sliding_window_view and einsum")
def conv2d(image, kernel):
    windows = sliding_window_view(np.asarray(image, dtype=float), np.shape(kernel))
    return np.einsum("ijuv,uv->ij", windows, np.asarray(kernel, dtype=float))

@ex.right("conv2d", "sum of shifted images weighted by the kernel")
def conv2d(image, kernel):
    image = np.asarray(image, dtype=float)
    kh, kw = np.shape(kernel)
    rows, cols = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((rows, cols))
    for u in range(kh):
        for v in range(kw):
            out = out + kernel[u][v] * image[u:u + rows, v:v + cols]
    return out


# --- max_pool -----------------------------------------------------------------------------------------
@ex.wrong("max_pool", "average pooling")
def max_pool(image, size):
    image = np.asarray(image, dtype=float)
    r, c = image.shape[0] // size, image.shape[1] // size
    return image[:r * size, :c * size].reshape(r, size, c, size).mean(axis=(1, 3))

@ex.wrong("max_pool", "leftovers pooled as smaller windows (ceil)")
def max_pool(image, size):
    image = np.asarray(image)
    r, c = -(-image.shape[0] // size), -(-image.shape[1] // size)
    return np.array([[image[i * size:(i + 1) * size, j * size:(j + 1) * size].max() for j in range(c)] for i in range(r)])

@ex.wrong("max_pool", "overlapping windows with stride 1")
def max_pool(image, size):
    return sliding_window_view(np.asarray(image), (size, size)).max(axis=(2, 3))

@ex.wrong("max_pool", "ignores size (always 2)")
def max_pool(image, size):
    image = np.asarray(image)
    r, c = image.shape[0] // 2, image.shape[1] // 2
    return image[:r * 2, :c * 2].reshape(r, 2, c, 2).max(axis=(1, 3))

@ex.wrong("max_pool", "maximum started from 0")
def max_pool(image, size):
    image = np.asarray(image)
    r, c = image.shape[0] // size, image.shape[1] // size
    return np.maximum(image[:r * size, :c * size].reshape(r, size, c, size).max(axis=(1, 3)), 0.0)

@ex.right("max_pool", "two loops over the windows")
def max_pool(image, size):
    out = np.zeros((len(image) // size, len(image[0]) // size))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.max(image[i * size:(i + 1) * size, j * size:(j + 1) * size])
    return out


# --- rnn_step -----------------------------------------------------------------------------------------
@ex.wrong("rnn_step", "no bias")
def rnn_step(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + h @ Wh)

@ex.wrong("rnn_step", "no tanh")
def rnn_step(x, h, Wx, Wh, b):
    return x @ Wx + h @ Wh + b

@ex.wrong("rnn_step", "h @ Wh.T")
def rnn_step(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + h @ Wh.T + b)

@ex.wrong("rnn_step", "sigmoid instead of tanh")
def rnn_step(x, h, Wx, Wh, b):
    return 1.0 / (1.0 + np.exp(-(x @ Wx + h @ Wh + b)))

@ex.wrong("rnn_step", "the previous state is ignored")
def rnn_step(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + b)

@ex.right("rnn_step", "einsum and tanh from exponentials")
def rnn_step(x, h, Wx, Wh, b):
    z = np.einsum("mi,ih->mh", x, Wx) + np.einsum("mk,kh->mh", h, Wh) + b
    return 1.0 - 2.0 / (np.exp(2.0 * z) + 1.0)


# --- rnn_forward --------------------------------------------------------------------------------------
def run(X_seq, h0, Wx, Wh, b, carry=True):
    h, states = h0, []
    for t in range(X_seq.shape[1]):
        h_new = np.tanh(X_seq[:, t] @ Wx + (h if carry else h0) @ Wh + b)
        states.append(h_new)
        h = h_new
    return states


@ex.wrong("rnn_forward", "h0 fed to every step")
def rnn_forward(X_seq, h0, Wx, Wh, b):
    return np.stack(run(X_seq, h0, Wx, Wh, b, carry=False), axis=1)

@ex.wrong("rnn_forward", "time-major output (T, m, n_h)")
def rnn_forward(X_seq, h0, Wx, Wh, b):
    return np.stack(run(X_seq, h0, Wx, Wh, b), axis=0)

@ex.wrong("rnn_forward", "h0 included (T + 1 states)")
def rnn_forward(X_seq, h0, Wx, Wh, b):
    return np.stack([h0] + run(X_seq, h0, Wx, Wh, b), axis=1)

@ex.wrong("rnn_forward", "the last state only")
def rnn_forward(X_seq, h0, Wx, Wh, b):
    return run(X_seq, h0, Wx, Wh, b)[-1]

@ex.wrong("rnn_forward", "updates h0 in place")
def rnn_forward(X_seq, h0, Wx, Wh, b):
    H = np.stack(run(X_seq, h0, Wx, Wh, b), axis=1)
    h0[...] = H[:, -1]
    return H

@ex.right("rnn_forward", "preallocated output, rnn_step not used")
def rnn_forward(X_seq, h0, Wx, Wh, b):
    m, T, _ = np.shape(X_seq)
    H = np.empty((m, T, np.shape(Wh)[0]))
    h = np.array(h0, dtype=float)
    for t in range(T):
        h = np.tanh(X_seq[:, t, :] @ Wx + h @ Wh + b)
        H[:, t, :] = h
    return H


# --- attention ----------------------------------------------------------------------------------------
def attend(Q, K, V, causal=False, scale="sqrt", axis=1, mask="past", stable=True, renormalise=True):
    S = Q @ K.T
    S = S / {"sqrt": np.sqrt(Q.shape[1]), "d": Q.shape[1], "none": 1.0}[scale]
    i, j = np.indices(S.shape)
    keep = {"past": j <= i, "future": j >= i}[mask] if causal else np.ones(S.shape, bool)
    with np.errstate(all="ignore"):
        if renormalise:
            S = np.where(keep, S, -np.inf)
        if stable:
            S = S - S.max(axis=axis, keepdims=True)
        E = np.exp(S)
        A = E / E.sum(axis=axis, keepdims=True)
        if not renormalise:
            A = np.where(keep, A, 0.0)
    return A @ V, A


@ex.wrong("attention", "no 1/sqrt(d) scaling")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, causal, scale="none")

@ex.wrong("attention", "scaled by 1/d")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, causal, scale="d")

@ex.wrong("attention", "softmax along the columns")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, causal, axis=0)

@ex.wrong("attention", "mask the wrong way round (future visible)")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, causal, mask="future")

@ex.wrong("attention", "mask applied after the softmax, rows not renormalised")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, causal, renormalise=False)

@ex.wrong("attention", "softmax without subtracting the maximum (overflows)")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, causal, stable=False)

@ex.wrong("attention", "causal flag ignored")
def attention(Q, K, V, causal=False):
    return attend(Q, K, V, False)

@ex.right("attention", "row by row, masked with a large negative number")
def attention(Q, K, V, causal=False):
    d = len(Q[0])
    weights = np.zeros((len(Q), len(K)))
    for i in range(len(Q)):
        scores = np.array([np.dot(Q[i], K[j]) / d ** 0.5 if (not causal or j <= i) else -1e300 for j in range(len(K))])
        e = np.exp(scores - scores.max())
        weights[i] = e / e.sum()
    return weights @ V, weights


ex.multiple_choice({"q1": "b", "q2": "c", "q3": "a", "q4": "d", "q5": "b", "q6": "c"})


test_grading, test_every_exercise_has_enough_variants = ex.pytest_functions()
