"""Lesson 07 helpers: the NumPy network and its Keras twin side by side (autodiff, optimizer steps, timed training).

Nothing here answers a lesson-07 exercise: the parity table and the training comparison take the
student's own `build_model`, `transfer_weights`, `compile_model` and `max_abs_diff` as arguments and
report "implement X above" while one of them is unfinished. The NumPy side uses `nncourse.reference`
(lessons 02-06). Importing this module imports Keras, on the JAX backend and the CPU unless the
environment already chose otherwise.
"""
import os
import statistics
import time

from nncourse import QUICK_XLA_FLAGS, demo

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")  # lets Keras hold float64 weights for the parity check
os.environ.setdefault("XLA_FLAGS", QUICK_XLA_FLAGS)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from nncourse import plots, reference  # noqa: E402

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
# Keras clips probabilities into [epsilon, 1 - epsilon] before the log (default 1e-7); the float64 column
# lowers that clip so that it cannot hide differences of order 1e-9.
LOSS_EPSILON = {"float32": None, "float64": 1e-15}
OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "momentum", "adam": "Adam"}


# --- data --------------------------------------------------------------------------------------------
def digits_split(num_train=1440, seed=0):
    """load_digits shuffled with a seed and split into (X_train, y_train, X_test, y_test).

    1440 training examples make 45 full batches of 32, so Keras compiles one batch shape only.
    """
    from nncourse import data

    X, y = data.digits()
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:num_train], order[num_train:]
    return X[train], y[train], X[test], y[test]


# --- the NumPy side (reference functions of lessons 03-06) -------------------------------------------
def flat(params):
    """[(W1, b1), (W2, b2), ...] as [W1, b1, W2, b2, ...]."""
    return [array for pair in params for array in pair]


def pairs(arrays):
    """[W1, b1, W2, b2, ...] as [(W1, b1), (W2, b2), ...]."""
    return list(zip(arrays[0::2], arrays[1::2]))


class NumpyOptimizer:
    """The lesson-06 update rules applied to a whole parameter list, with their state, as Keras does."""

    def __init__(self, setup, adam_epsilon="textbook"):
        self.setup, self.adam_epsilon = dict(setup), adam_epsilon
        self.state, self.t = None, 0

    def step(self, arrays, grads):
        """New parameter arrays after one update with these gradients."""
        kind, lr = self.setup["optimizer"], self.setup["lr"]
        if self.state is None:
            self.state = [[np.zeros_like(a) for a in arrays] for _ in range(2)]
        self.t += 1
        new = []
        for i, (w, dw) in enumerate(zip(arrays, grads)):
            if kind == "sgd":
                new.append(reference.sgd_update(w, dw, lr))
            elif kind == "momentum":
                w, self.state[0][i] = reference.momentum_update(w, dw, self.state[0][i], lr, self.setup.get("beta", 0.9))
                new.append(w)
            elif kind == "adam":
                rule = reference.adam_update if self.adam_epsilon == "textbook" else keras_style_adam_update
                w, self.state[0][i], self.state[1][i] = rule(
                    w, dw, self.state[0][i], self.state[1][i], self.t, lr, self.setup.get("beta1", 0.9),
                    self.setup.get("beta2", 0.999), self.setup.get("eps", 1e-7))
                new.append(w)
            else:
                raise ValueError(f"unknown optimizer {kind!r}: use 'sgd', 'momentum' or 'adam'")
        return new


def keras_style_adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    """Adam as Keras computes it: bias correction folded into the step size, eps added to sqrt(v) itself."""
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    step_size = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    return w - step_size * m / (np.sqrt(v) + eps), m, v


def numpy_gradients(params, X, y, activation="relu"):
    """(probabilities, mean loss, gradients as [(dW, db), ...]) from the reference forward and backward pass."""
    probs, cache = reference.mlp_forward(X, params, activation)
    loss = reference.categorical_cross_entropy(y, probs)
    return probs, loss, reference.mlp_backward(probs, y, cache, params, activation)


# --- the Keras side ----------------------------------------------------------------------------------
_GRADIENT_FUNCTIONS = {}


def architecture(model):
    """A hashable description of a model's layers (class, activation, weight shapes and dtypes)."""
    return tuple((type(layer).__name__, getattr(getattr(layer, "activation", None), "__name__", None),
                  tuple((tuple(w.shape), str(w.dtype)) for w in layer.weights)) for layer in model.layers)


def keras_gradients(model, X, y):
    """(mean loss, gradients [(dW, db), ...]) of the sparse categorical cross-entropy, by JAX autodiff."""
    return keras_pass(model, X, y)[:2]


def keras_pass(model, X, y):
    """(mean loss, gradients [(dW, db), ...], probabilities) from one compiled forward and backward pass.

    The jitted loss-and-gradient function is compiled once per architecture and reused for every model
    with the same layers (the weights are its arguments, so any twin of the same shape can use it).
    """
    key = (architecture(model), keras.config.epsilon())
    if key not in _GRADIENT_FUNCTIONS:
        template, loss_fn = model, keras.losses.SparseCategoricalCrossentropy()

        def loss_of(trainable, non_trainable, X, y):
            probs, _ = template.stateless_call(trainable, non_trainable, X)
            return loss_fn(y, probs), probs

        _GRADIENT_FUNCTIONS[key] = jax.jit(jax.value_and_grad(loss_of, has_aux=True))
    X = np.asarray(X, dtype=model.trainable_variables[0].dtype)
    (loss, probs), grads = _GRADIENT_FUNCTIONS[key]([v.value for v in model.trainable_variables],
                                                    [v.value for v in model.non_trainable_variables], X,
                                                    np.asarray(y))
    return float(loss), pairs([np.asarray(g) for g in grads]), np.asarray(probs)


def keras_weights(model):
    """The model's trainable weights as NumPy arrays, in the order [W1, b1, W2, b2, ...]."""
    return [np.asarray(v.value) for v in model.trainable_variables]


class floatx:
    """Context manager: build Keras layers with this float type, then restore the previous settings.

    In Keras 3 the global dtype *policy* decides the dtype of new layers' weights; once it has been used,
    `keras.config.set_floatx` alone no longer changes it, so both are set here.
    """

    def __init__(self, dtype, epsilon=None):
        self.dtype, self.epsilon, self.previous = dtype, epsilon, None

    def __enter__(self):
        self.previous = (keras.config.floatx(), keras.config.dtype_policy().name, keras.config.epsilon())
        keras.config.set_floatx(self.dtype)
        keras.config.set_dtype_policy(self.dtype)
        if self.epsilon is not None:
            keras.config.set_epsilon(self.epsilon)
        return self

    def __exit__(self, *exc):
        keras.config.set_floatx(self.previous[0])
        keras.config.set_dtype_policy(self.previous[1])
        keras.config.set_epsilon(self.previous[2])
        return False


# --- the parity table --------------------------------------------------------------------------------
PARITY_ROWS = (
    ("forward: probabilities", "forward", None),
    ("loss (mean cross-entropy)", "loss", None),
    ("gradients: backprop vs autodiff", "gradients", None),
    ("SGD", "step", {"optimizer": "sgd", "lr": 0.1}),
    ("momentum (beta 0.9)", "step", {"optimizer": "momentum", "lr": 0.1, "beta": 0.9}),
    ("Adam, Keras's epsilon placement", "step", {"optimizer": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999,
                                                 "eps": 1e-7, "keras_eps": True}),
    ("Adam, textbook epsilon placement", "step", {"optimizer": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999,
                                                  "eps": 1e-7}),
)


def parity_checks(build_model, transfer_weights, compile_model, max_abs_diff, X, y, sizes, activation="relu",
                  steps=3, seed=0, dtypes=("float32", "float64")):
    """{row label: {dtype: max |NumPy - Keras|}} for every row of PARITY_ROWS, using the student's functions."""
    params = reference.init_params(sizes, seed=seed)
    X = np.asarray(X, dtype=float)
    results = {label: {} for label, _, _ in PARITY_ROWS}
    for dtype in dtypes:
        with floatx(dtype, LOSS_EPSILON[dtype]):
            parity_rows(results, dtype, build_model, transfer_weights, compile_model, max_abs_diff, params, X, y,
                        sizes, activation, steps)
    return results


def parity_rows(results, dtype, build_model, transfer_weights, compile_model, max_abs_diff, params, X, y, sizes,
                activation, steps):
    """Fill one float type's column of the parity results (called with that float type active)."""
    model = transfer_weights(build_model(sizes, activation), params)
    probs, loss, grads = numpy_gradients(params, X, y, activation)
    k_loss, k_grads, k_probs = keras_pass(model, X, y)  # one compiled pass instead of eager operations
    results["forward: probabilities"][dtype] = max_abs_diff(probs, k_probs)
    results["loss (mean cross-entropy)"][dtype] = max_abs_diff(np.array(loss), np.array(k_loss))
    results["gradients: backprop vs autodiff"][dtype] = max_abs_diff(grads, k_grads)
    keras_runs = {}  # both Adam rows compare their NumPy rule with the same Keras run
    for label, kind, setup in PARITY_ROWS:
        if kind != "step":
            continue
        keras_setup = {k: v for k, v in setup.items() if k != "keras_eps"}
        key = tuple(sorted(keras_setup.items()))
        if key not in keras_runs:  # the same twin, reset to the starting weights and compiled with this optimizer
            twin = compile_model(transfer_weights(model, params), keras_setup)
            keras_runs[key] = keras_steps(twin, X, y, steps)
        arrays = flat(params)
        numpy_opt = NumpyOptimizer(setup, "keras" if setup.get("keras_eps") else "textbook")
        for _ in range(steps):
            arrays = numpy_opt.step(arrays, flat(numpy_gradients(pairs(arrays), X, y, activation)[2]))
        results[label][dtype] = max_abs_diff(arrays, keras_runs[key])
    return results


def keras_steps(model, X, y, steps):
    """The model's weights after `steps` steps of its compiled optimizer on the gradients of (X, y).

    The update is Keras's own (`optimizer.stateless_apply`, the rule `apply_gradients` runs), compiled as one
    function: run operation by operation, each of its small operations would be compiled separately.
    """
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    apply = jax.jit(optimizer.stateless_apply)
    weights, state = [v.value for v in model.trainable_variables], [v.value for v in optimizer.variables]
    for _ in range(steps):
        weights, state = apply(state, flat(keras_gradients(model, X, y)[1]), weights)
        for variable, value in zip(model.trainable_variables, weights):
            variable.assign(value)
    for variable, value in zip(optimizer.variables, state):
        variable.assign(value)
    return keras_weights(model)


@demo
def parity_table(build_model, transfer_weights, compile_model, max_abs_diff, X, y, sizes, activation="relu",
                 steps=3, seed=0):
    """Print the NumPy-vs-Keras parity table and return its numbers (None while an exercise is unfinished)."""
    try:
        results = parity_checks(build_model, transfer_weights, compile_model, max_abs_diff, X, y, sizes,
                                activation, steps, seed)
    except NotImplementedError:
        print("Implement build_model, transfer_weights, compile_model and max_abs_diff above, "
              "then re-run this cell to fill the parity table.")
        return None
    print(format_parity(results, steps))
    return results


def format_parity(results, steps=3):
    """The parity results as a fixed-width text table with the tolerance and a verdict per float type."""
    dtypes = list(next(iter(results.values())))
    head = f"{'check':<42}" + "".join(f"{d + ' |diff|':>17}{'ok?':>5}" for d in dtypes)
    lines = [head, "-" * len(head)]
    for label, by_dtype in results.items():
        name = label if label.startswith(("forward", "loss", "gradients")) else f"{label}, {steps} steps"
        cells = "".join(f"{by_dtype[d]:>17.1e}{('yes' if by_dtype[d] <= TOLERANCE[d] else 'NO'):>5}" for d in dtypes)
        lines.append(f"{name:<42}{cells}")
    tolerances = ", ".join(f"{d}: {TOLERANCE[d]:.0e}" for d in dtypes)
    lines.append(f"tolerance (max absolute difference) {tolerances}")
    return "\n".join(lines)


def parity_verdicts(results):
    """One deterministic line per row: which float types agree within the tolerance."""
    if results is None:
        return "The parity table is still empty."
    lines = []
    for label, by_dtype in results.items():
        agree = [d for d, diff in by_dtype.items() if diff <= TOLERANCE[d]]
        lines.append(f"{label:<34} agrees in: {', '.join(agree) if agree else 'neither float type'}")
    return "\n".join(lines)


# --- training both twins -----------------------------------------------------------------------------
class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every epoch of model.fit."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def train_numpy(params, X, y, setup, num_epochs, batch_size, seed=0, activation="relu"):
    """Mini-batch training with the reference functions; per-epoch mean batch loss and accuracy, like fit."""
    history = {"loss": [], "accuracy": [], "seconds": [], "params": pairs(flat(params))}  # for num_epochs = 0
    for history in numpy_epochs(params, X, y, setup, num_epochs, batch_size, seed, activation):
        pass
    return history


def numpy_epochs(params, X, y, setup, num_epochs, batch_size, seed=0, activation="relu"):
    """train_numpy one epoch at a time: yields its history (with the params reached) after every epoch."""
    arrays, optimizer = flat(params), NumpyOptimizer(setup)
    history = {"loss": [], "accuracy": [], "seconds": []}
    for epoch in range(num_epochs):
        started, losses, hits = time.perf_counter(), [], 0
        for X_batch, y_batch in reference.minibatches(X, y, batch_size, seed=seed + epoch):
            probs, loss, grads = numpy_gradients(pairs(arrays), X_batch, y_batch, activation)
            arrays = optimizer.step(arrays, flat(grads))
            losses.append(loss * len(y_batch))
            hits += int(np.sum(np.argmax(probs, axis=1) == y_batch))
        history["loss"].append(sum(losses) / len(y))
        history["accuracy"].append(hits / len(y))
        history["seconds"].append(time.perf_counter() - started)
        history["params"] = pairs(arrays)
        yield history


def train_keras(model, X, y, num_epochs, batch_size):
    """model.fit with an epoch timer; the history has the same keys as train_numpy's."""
    timer = EpochTimer()
    fitted = model.fit(X, y, batch_size=batch_size, epochs=num_epochs, verbose=0, shuffle=True, callbacks=[timer])
    return {"loss": list(fitted.history["loss"]), "accuracy": list(fitted.history["accuracy"]),
            "seconds": timer.seconds}


@demo
def train_both(build_model, transfer_weights, compile_model, X, y, sizes, setup, num_epochs=15, batch_size=32,
               seed=0, activation="relu"):
    """Train the NumPy network and its Keras twin from the same weights with the same hyper-parameters.

    Returns {"numpy": history, "keras": history, "model": the Keras model}, or None (with a note)
    while one of the student's functions is unfinished.
    """
    params = reference.init_params(sizes, seed=seed)
    try:
        model = compile_model(transfer_weights(build_model(sizes, activation), params), setup)
    except NotImplementedError:
        print("Implement build_model, transfer_weights and compile_model above, then re-run this cell.")
        return None
    X = np.asarray(X, dtype=float)
    return {"numpy": train_numpy(params, X, y, setup, num_epochs, batch_size, seed, activation),
            "keras": train_keras(model, X.astype(keras.config.floatx()), y, num_epochs, batch_size),
            "model": model}


def seconds_per_epoch(history):
    """Median seconds of the epochs after the first (the first one includes Keras's compilation)."""
    later = history["seconds"][1:] or history["seconds"]
    return statistics.median(later)


def timing_report(results):
    """Seconds per epoch of both twins and their ratio, as printable text."""
    if results is None:
        return "Nothing was trained yet."
    numpy_s, keras_s = seconds_per_epoch(results["numpy"]), seconds_per_epoch(results["keras"])
    first = results["keras"]["seconds"][0]
    return (f"seconds per epoch (median after epoch 1): NumPy {numpy_s:.4f}, Keras {keras_s:.4f}; "
            f"Keras / NumPy = {keras_s / numpy_s:.2f}\n"
            f"Keras's first epoch took {first:.2f} s: that includes tracing and compiling the training step once.")


def test_report(evaluate_model, results, X_test, y_test):
    """Test accuracy of the trained NumPy network and, through the student's evaluate_model, of the Keras twin."""
    if results is None:
        print("Nothing was trained yet.")
        return
    numpy_acc = reference.accuracy(y_test, reference.predict(X_test, results["numpy"]["params"]))
    print(f"test accuracy   NumPy {numpy_acc:.3f}")
    try:
        y_hat, acc = evaluate_model(results["model"], X_test, y_test)
    except NotImplementedError:
        print("Implement evaluate_model above, then re-run this cell to see the Keras twin's test accuracy.")
        return
    agree = float(np.mean(np.asarray(y_hat) == reference.predict(X_test, results["numpy"]["params"])))
    print(f"test accuracy   Keras {float(acc):.3f}   (the twins predict the same class for {agree:.1%} of the test images)")


def plot_curves(results, title="the same network, two implementations"):
    """Side-by-side training loss and accuracy per epoch for both twins; returns the figure."""
    fig, (loss_ax, acc_ax) = plots.figure(ncols=2, figsize=(8.0, 3.2))
    for name, colour, style in (("numpy", plots.BLUE, "-"), ("keras", plots.ORANGE, "--")):
        if results is None:
            continue
        history = results[name]
        epochs = np.arange(1, len(history["loss"]) + 1)
        label = "NumPy (lessons 03-06)" if name == "numpy" else "Keras on JAX"
        loss_ax.plot(epochs, history["loss"], style, color=colour, marker="o", ms=3, label=label)
        acc_ax.plot(epochs, history["accuracy"], style, color=colour, marker="o", ms=3, label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("training accuracy")
    loss_ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
