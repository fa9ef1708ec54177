"""Reference implementations of what earlier lessons teach, for later lessons' demos and widgets.

A lesson may use a function from here only if the lesson that grades it comes earlier
(`INTRODUCED_IN` records which one; tests enforce the rule), so no lesson's own exercise is answered here.

Conventions used across the course: X has one row per example; a dense layer is Z = X @ W + b with
W of shape (n_in, n_out); params is a list of (W, b) pairs, one per layer; the output layer is a
softmax over K classes; every dZ passed backwards is the gradient of the *batch-mean* loss.
"""
import numpy as np

INTRODUCED_IN = {
    **dict.fromkeys(("relu", "relu_grad", "leaky_relu", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad",
                     "softmax"), "02_activations"),
    **dict.fromkeys(("dense_forward", "init_params", "mlp_forward", "count_params", "predict"), "03_forward_pass"),
    **dict.fromkeys(("mse", "binary_cross_entropy", "categorical_cross_entropy", "cross_entropy_from_logits",
                     "accuracy", "one_hot"), "04_losses"),
    **dict.fromkeys(("dense_backward", "softmax_cross_entropy_backward", "mlp_backward", "train_step"),
                    "05_backprop"),
    **dict.fromkeys(("sgd_update", "momentum_update", "rmsprop_update", "adam_update", "minibatches"),
                    "06_optimizers"),
}

ACTIVATIONS = ("relu", "sigmoid", "tanh")


# --- activations (lesson 02) ---------------------------------------------------------------------
def relu(z):
    """max(0, z) element by element."""
    return np.maximum(0.0, z)


def relu_grad(z):
    """Derivative of relu: 1 where z > 0, else 0."""
    return (np.asarray(z) > 0).astype(float)


def leaky_relu(z, alpha=0.01):
    """z where z > 0, else alpha * z."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, alpha * z)


def sigmoid(z):
    """1 / (1 + exp(-z)), computed without overflow for large |z|."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z):
    """Derivative of sigmoid: s (1 - s)."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    """Hyperbolic tangent."""
    return np.tanh(z)


def tanh_grad(z):
    """Derivative of tanh: 1 - tanh(z)^2."""
    return 1.0 - np.tanh(z) ** 2


def softmax(z):
    """Row-wise softmax along the last axis, shifted by the row maximum for stability."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


FORWARD = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}
DERIVATIVE = {"relu": relu_grad, "sigmoid": sigmoid_grad, "tanh": tanh_grad}


# --- forward pass (lesson 03) ----------------------------------------------------------------------
def dense_forward(X, W, b):
    """Pre-activations of a dense layer: X @ W + b, shape (m, n_out)."""
    return np.asarray(X, dtype=float) @ W + b


def init_params(sizes, scheme="he", seed=0):
    """Random weights for layer sizes [n_in, ..., n_out]: 'he' (std sqrt(2/n_in)) or 'xavier' (sqrt(2/(n_in+n_out)))."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        scale = np.sqrt(2.0 / n_in) if scheme == "he" else np.sqrt(2.0 / (n_in + n_out))
        params.append((rng.normal(0.0, scale, size=(n_in, n_out)), np.zeros(n_out)))
    return params


def mlp_forward(X, params, activation="relu"):
    """Probabilities (softmax output) and the cache [(A_prev, Z), ...] of every layer."""
    A, cache = np.asarray(X, dtype=float), []
    for index, (W, b) in enumerate(params):
        Z = dense_forward(A, W, b)
        cache.append((A, Z))
        A = softmax(Z) if index == len(params) - 1 else FORWARD[activation](Z)
    return A, cache


def count_params(sizes):
    """Number of weights and biases in a dense network with these layer sizes."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def predict(X, params, activation="relu"):
    """Most probable class for every row of X."""
    return np.argmax(mlp_forward(X, params, activation)[0], axis=1)


# --- losses (lesson 04) ----------------------------------------------------------------------------
def one_hot(y, num_classes):
    """Integer labels (m,) as a one-hot matrix (m, num_classes)."""
    return np.eye(num_classes)[np.asarray(y, dtype=int)]


def mse(y, y_hat):
    """Mean squared error over all entries."""
    return float(np.mean((np.asarray(y_hat, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def binary_cross_entropy(y, p, eps=1e-12):
    """Mean of -[y log p + (1 - y) log(1 - p)], with p clipped away from 0 and 1."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def categorical_cross_entropy(y, probs, eps=1e-12):
    """Mean of -log(probability of the true class); y is one-hot (m, K) or integer labels (m,)."""
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    if y.ndim == 1:
        y = one_hot(y, probs.shape[1])
    return float(-np.mean(np.sum(y * np.log(np.clip(probs, eps, 1.0)), axis=1)))


def cross_entropy_from_logits(y, logits):
    """Categorical cross-entropy computed from logits with log-sum-exp (finite for any logits)."""
    logits = np.asarray(logits, dtype=float)
    y = np.asarray(y)
    if y.ndim == 1:
        y = one_hot(y, logits.shape[1])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(y * log_probs, axis=1)))


def accuracy(y, y_hat):
    """Fraction of predicted labels equal to the true labels."""
    return float(np.mean(np.asarray(y) == np.asarray(y_hat)))


# --- backpropagation (lesson 05) -------------------------------------------------------------------
def softmax_cross_entropy_backward(probs, y):
    """Gradient of the mean cross-entropy with respect to the logits: (probs - one_hot(y)) / m."""
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    if y.ndim == 1:
        y = one_hot(y, probs.shape[1])
    return (probs - y) / probs.shape[0]


def dense_backward(dZ, A_prev, W):
    """Gradients of a dense layer given dZ of the mean loss: (dA_prev, dW, db)."""
    return dZ @ W.T, A_prev.T @ dZ, dZ.sum(axis=0)


def mlp_backward(probs, y, cache, params, activation="relu"):
    """Gradients [(dW, db), ...] of the mean cross-entropy for every layer, from mlp_forward's cache."""
    grads = [None] * len(params)
    dZ = softmax_cross_entropy_backward(probs, y)
    for index in reversed(range(len(params))):
        A_prev, _ = cache[index]
        dA_prev, dW, db = dense_backward(dZ, A_prev, params[index][0])
        grads[index] = (dW, db)
        if index > 0:
            dZ = dA_prev * DERIVATIVE[activation](cache[index - 1][1])
    return grads


def train_step(X, y, params, lr, activation="relu"):
    """One gradient-descent step on a batch; returns (new params, loss before the step)."""
    probs, cache = mlp_forward(X, params, activation)
    loss = categorical_cross_entropy(y, probs)
    grads = mlp_backward(probs, y, cache, params, activation)
    return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)], loss


# --- optimizers (lesson 06); conventions match Keras so lesson 07 can compare step by step ----------
def sgd_update(w, dw, lr):
    """Plain gradient descent: w - lr * dw."""
    return w - lr * dw


def momentum_update(w, dw, velocity, lr, beta=0.9):
    """Momentum as in Keras: velocity = beta * velocity - lr * dw; w + velocity. Returns (w, velocity)."""
    velocity = beta * velocity - lr * dw
    return w + velocity, velocity


def rmsprop_update(w, dw, square_avg, lr, rho=0.9, eps=1e-7):
    """RMSprop: running mean of dw^2, step lr * dw / (sqrt(mean) + eps). Returns (w, square_avg)."""
    square_avg = rho * square_avg + (1 - rho) * dw ** 2
    return w - lr * dw / (np.sqrt(square_avg) + eps), square_avg


def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    """Adam with bias correction; t counts steps from 1. Returns (w, m, v)."""
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def minibatches(X, y, batch_size, seed=0):
    """Shuffled (X_batch, y_batch) pairs covering every example once; the last batch may be smaller."""
    order = np.random.default_rng(seed).permutation(len(X))
    for start in range(0, len(X), batch_size):
        chosen = order[start:start + batch_size]
        yield X[chosen], y[chosen]
