"""Lesson 08 widgets and demos: an overfitting lab on noisy two-class data, trained with the student's own
L2 weight decay and dropout, and a small measured data-augmentation run on the 8x8 digits.

The forward and backward passes, the loss and Adam come from `nncourse.reference` (lessons 02-06); the
regularisers (`l2_penalty`, `l2_gradients`, `dropout_forward`, `dropout_backward`) and the image shifts
are the functions passed in, so the plots come alive when the student's exercises work.
"""
import time
from functools import cache, cached_property

import ipywidgets as ipw
import numpy as np
from threadpoolctl import ThreadpoolController

from nncourse import data, plots
from nncourse import reference as ref
from nncourse.backprop_widgets import GRID_STEPS, PROBABILITY_CMAP
from nncourse.live import STEP_SECONDS, LiveFigure, slider
from nncourse.student_code import StudentCode

REGULARISERS = ("l2_penalty", "l2_gradients", "dropout_forward", "dropout_backward")
LAM_OFF = 1e-5  # the weight-decay slider's left end stands for λ = 0 (a log slider cannot reach 0)


def one_thread():
    """Matrix products this small run fastest on one BLAS thread (several threads fight over a busy machine)."""
    return blas().limit(limits=1, user_api="blas")


@cache
def blas():
    """The BLAS libraries loaded (NumPy's), found once: finding them takes longer than a training step."""
    return ThreadpoolController()


# --- a small MLP trained with L2 and dropout ----------------------------------------------------------------
def forward(X, params, keep_prob=1.0, code=None, seed=0):
    """Probabilities and cache [(A_prev, Z, mask), ...]; with code, hidden activations pass the student's dropout.

    mask is the dropout mask applied to the layer's output (None for the output layer or without dropout);
    A_prev is the layer's input as it was used, i.e. after the previous layer's dropout.
    """
    A, cache = np.asarray(X, dtype=float), []
    for index, (W, b) in enumerate(params):
        Z = ref.dense_forward(A, W, b)
        A_prev, mask = A, None
        if index == len(params) - 1:
            A = ref.softmax(Z)
        else:
            A = ref.relu(Z)
            if code is not None:
                A, mask = code.pairs("dropout_forward", code("dropout_forward", A, keep_prob, seed * 100 + index, True),
                                     2, "a pair (A_out, mask)")
                A = np.asarray(A, dtype=float)
        cache.append((A_prev, Z, mask))
    return A, cache


def backward(probs, y, cache, params, keep_prob=1.0, code=None):
    """Gradients [(dW, db), ...] of the mean cross-entropy through ReLU layers and the student's dropout."""
    grads = [None] * len(params)
    dZ = ref.softmax_cross_entropy_backward(probs, y)
    for index in reversed(range(len(params))):
        dA_prev, dW, db = ref.dense_backward(dZ, cache[index][0], params[index][0])
        grads[index] = (dW, db)
        if index > 0:
            _, Z_prev, mask = cache[index - 1]
            if code is not None:
                dA_prev = np.asarray(code("dropout_backward", dA_prev, mask, keep_prob), dtype=float)
            dZ = dA_prev * ref.relu_grad(Z_prev)
    return grads


PLAIN = {"l2_penalty": lambda params, lam: 0.0, "l2_gradients": lambda params, grads, lam: grads,
         "dropout_forward": lambda A, keep_prob, seed, training=True: (A, None),
         "dropout_backward": lambda dA, mask, keep_prob: dA}  # no regularisation: stand-ins for the four functions


class Run:
    """One training run: parameters, Adam state and the loss history, advanced epoch by epoch."""

    def __init__(self, data_sets, hidden, lam, keep_prob, lr, code=None, seed=0):
        code = StudentCode(report=False, **PLAIN) if code is None else code
        self.X, self.y, self.X_val, self.y_val = data_sets
        self.lam, self.keep_prob, self.lr, self.code, self.seed = lam, keep_prob, lr, code, seed
        self.params = ref.init_params([self.X.shape[1], hidden, hidden, int(self.y.max()) + 1], seed=seed)
        self.moments = [[(np.zeros_like(W), np.zeros_like(b)) for W, b in self.params] for _ in range(2)]
        self.epoch, self.snapshots = 0, {0: self.params}
        self.train_losses, self.val_losses = [self.loss(self.X, self.y)], [self.loss(self.X_val, self.y_val)]

    def loss(self, X, y):
        """Mean cross-entropy of the current network in inference mode (no dropout, no penalty)."""
        return reference_loss(self.params, X, y)

    def step(self):
        """One full-batch Adam step on cross-entropy + L2, with dropout on the hidden layers."""
        self.epoch += 1
        probs, cache = forward(self.X, self.params, self.keep_prob, self.code, seed=self.seed * 100003 + self.epoch)
        grads = backward(probs, self.y, cache, self.params, self.keep_prob, self.code)
        grads = self.code.pairs("l2_gradients", self.code("l2_gradients", self.params, grads, self.lam),
                                len(self.params), f"{len(self.params)} (dW, db) pairs, one per layer")
        new, (m_all, v_all) = [], self.moments
        for i, ((W, b), (dW, db)) in enumerate(zip(self.params, grads)):
            W, mW, vW = ref.adam_update(W, np.asarray(dW, dtype=float), m_all[i][0], v_all[i][0], self.epoch, self.lr)
            b, mb, vb = ref.adam_update(b, np.asarray(db, dtype=float), m_all[i][1], v_all[i][1], self.epoch, self.lr)
            new.append((W, b))
            m_all[i], v_all[i] = (mW, mb), (vW, vb)
        self.params = new
        self.train_losses.append(self.loss(self.X, self.y))
        self.val_losses.append(self.loss(self.X_val, self.y_val))

    def train_to(self, num_epochs, every=50, seconds=float("inf")):
        """Advance (or rewind to the last snapshot and advance) towards num_epochs epochs.

        Stops at num_epochs, or at the first epoch that ends after `seconds` (so a call always makes progress)."""
        if num_epochs < self.epoch:
            self.rewind(max(e for e in self.snapshots if e <= num_epochs))
        if self.epoch == num_epochs:
            return self
        began = time.perf_counter()
        with one_thread():
            while self.epoch < num_epochs:
                self.step()
                if self.epoch % every == 0:
                    self.snapshots[self.epoch] = (self.params, [list(m) for m in self.moments])
                if time.perf_counter() - began >= seconds:
                    break
        return self

    def rewind(self, epoch):
        """Go back to a kept snapshot (its parameters and Adam state)."""
        snapshot = self.snapshots[epoch]
        if epoch == 0:
            self.params = snapshot
            self.moments = [[(np.zeros_like(W), np.zeros_like(b)) for W, b in self.params] for _ in range(2)]
        else:
            self.params, moments = snapshot
            self.moments = [list(m) for m in moments]
        self.epoch = epoch
        self.train_losses, self.val_losses = self.train_losses[:epoch + 1], self.val_losses[:epoch + 1]


def train(X, y, X_val, y_val, hidden=32, lam=0.0, keep_prob=1.0, lr=0.01, num_epochs=300, seed=0, **functions):
    """Train the [n, hidden, hidden, K] ReLU network with Adam; returns (train losses, val losses, params).

    The regularisers passed in (l2_penalty=..., l2_gradients=..., dropout_forward=..., dropout_backward=...)
    are used; without them it trains plainly (no L2, no dropout).
    """
    code = StudentCode(report=False, **(functions or PLAIN))
    run = Run((X, y, X_val, y_val), hidden, lam, keep_prob, lr, code, seed).train_to(num_epochs)
    return np.array(run.train_losses), np.array(run.val_losses), run.params


def reference_loss(params, X, y):
    """Mean cross-entropy of the network with these params on (X, y), in inference mode."""
    return ref.categorical_cross_entropy(y, forward(X, params)[0])


def lab_data(n_train=40, n_val=200, seed=0):
    """The lab's datasets: name -> (X_train, y_train, X_val, y_val), noisy moons and circles made offline."""
    return {"moons": (*data.moons(n_train, noise=0.3, seed=seed), *data.moons(n_val, noise=0.3, seed=seed + 1)),
            "circles": (*data.circles(n_train, noise=0.15, factor=0.5, seed=seed),
                        *data.circles(n_val, noise=0.15, factor=0.5, seed=seed + 1))}


# --- the overfitting lab --------------------------------------------------------------------------------------
class OverfittingLab(LiveFigure):
    """Decision boundary and train/validation loss curves of a small network; capacity, L2, dropout and lr controls.

    Runs are kept per setting (dataset, hidden units, λ, keep probability, lr), with snapshots every
    `epoch_step` epochs, so moving the epoch slider back and forth only trains what was not trained yet.
    A change trains about STEP_SECONDS between two repaints, each showing the run at the epoch it reached.
    """

    def __init__(self, functions, datasets=None, hidden=32, lam=0.0, dropout=0.0, lr=0.01, num_epochs=400,
                 max_epochs=1500, epoch_step=50, seed=0):
        self.datasets = datasets or lab_data()
        self.seed, self.epoch_step, self.runs, self.run = seed, epoch_step, {}, None
        fig, (ax, curve_ax) = plots.figure(ncols=2, figsize=(9.0, 3.8))
        self.ax, self.curve_ax = ax, curve_ax
        self.region = ax.imshow(np.zeros((GRID_STEPS, GRID_STEPS)), origin="lower", cmap=PROBABILITY_CMAP,
                                vmin=0, vmax=1, aspect="auto", interpolation="bilinear")
        self.boundary = None
        self.train_points = [ax.scatter([], [], s=26, c=plots.CLASS_COLORS[k], marker=plots.class_marker(k),
                                        edgecolors="black", linewidths=0.6, zorder=4, label=f"train, class {k}")
                             for k in (0, 1)]
        self.val_points = [ax.scatter([], [], s=7, c=plots.CLASS_COLORS[k], marker=plots.class_marker(k),
                                      alpha=0.45, linewidths=0, zorder=3) for k in (0, 1)]
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.legend(loc="upper right", fontsize=7)
        (self.train_curve,) = curve_ax.plot([], [], color=plots.BLUE, lw=1.6, label="training loss")
        (self.val_curve,) = curve_ax.plot([], [], color=plots.RED, lw=1.6, label="validation loss")
        (self.best_dot,) = curve_ax.plot([], [], "o", color=plots.RED, ms=6, label="lowest validation loss")
        curve_ax.set_xlabel("epoch")
        curve_ax.set_ylabel("mean cross-entropy")
        curve_ax.set_ylim(0, 1.2)
        curve_ax.legend(loc="upper right", fontsize=8)
        self.shown = None
        controls = {
            "dataset": ipw.Dropdown(options=list(self.datasets), description="data", layout=ipw.Layout(width="170px")),
            "hidden": slider("hidden units", hidden, 2, 64, integer=True, continuous=False),
            "num_epochs": slider("epochs", num_epochs, 0, max_epochs, step=epoch_step, integer=True, continuous=False),
            "lam": slider("weight decay λ (left end: off)", max(lam, LAM_OFF), np.log10(LAM_OFF), -0.5, step=0.25,
                          log=True, continuous=False),
            "dropout": slider("dropout rate", dropout, 0.0, 0.8, step=0.05, continuous=False),
            "lr": slider("learning rate", lr, -3.5, -0.5, step=0.25, log=True),
        }
        self.show_dataset(next(iter(self.datasets)))
        super().__init__(StudentCode(**functions), controls, fig)

    def values(self):
        values = super().values()
        values["lam"] = 0.0 if values["lam"] <= LAM_OFF * 1.0001 else values["lam"]  # the left end means no L2
        return values

    def show_dataset(self, name):
        """Move the points, grid and limits to another dataset."""
        X, y, X_val, y_val = self.datasets[name]
        self.grid, extent = plots.grid_over(np.vstack([X, X_val]), margin=0.3, steps=GRID_STEPS)
        for k in (0, 1):
            self.train_points[k].set_offsets(X[y == k])
            self.val_points[k].set_offsets(X_val[y_val == k])
        self.region.set_extent(extent)
        self.ax.set_xlim(extent[:2])
        self.ax.set_ylim(extent[2:])
        self.shown = name

    def run_for(self, key):
        """The (cached) training run for one setting (dataset, hidden, lam, dropout, lr) of the controls."""
        if key not in self.runs:
            dataset, hidden, lam, dropout, lr = key
            self.runs[key] = Run(self.datasets[dataset], hidden, lam, 1.0 - dropout, lr, self.code, self.seed)
        return self.runs[key]

    def redraw(self, dataset, hidden, num_epochs, lam, dropout, lr):
        """Train this setting's run towards num_epochs in steps of about STEP_SECONDS, showing it after each."""
        if dataset != self.shown:
            self.show_dataset(dataset)
        key = (dataset, hidden, round(lam, 12), round(dropout, 6), round(lr, 12))
        while self.train_step(key, lam, num_epochs).epoch != num_epochs:
            yield

    def train_step(self, key, lam, num_epochs):
        """Train the run for about STEP_SECONDS towards num_epochs and show it; returns the run."""
        try:
            with np.errstate(all="ignore"), one_thread():
                run = self.run_for(key)
                if run.epoch != num_epochs:  # training needs all four: name every unfinished one at once
                    pair = [(np.ones((2, 2)), np.zeros(2))]
                    self.code.probe({"l2_penalty": (pair, lam), "l2_gradients": (pair, pair, lam),
                                     "dropout_forward": (np.ones((2, 2)), 0.5, 0, True),
                                     "dropout_backward": (np.ones((2, 2)), np.ones((2, 2), dtype=bool), 0.5)})
                run.train_to(num_epochs, self.epoch_step, STEP_SECONDS)
                penalty = float(self.code("l2_penalty", run.params, lam))
                probs = forward(self.grid, run.params)[0][:, 1]
        except Exception:
            self.forget(key)
            raise
        self.show_run(run, probs, penalty, num_epochs)
        return run

    def forget(self, key):
        """Drop a run an error interrupted (it cannot be continued) and clear the plots."""
        self.runs.pop(key, None)
        self.run = None
        self.train_curve.set_data([], [])
        self.val_curve.set_data([], [])
        self.best_dot.set_data([], [])
        self.region.set_data(np.full((GRID_STEPS, GRID_STEPS), 0.5))

    def show_run(self, run, probs, penalty, num_epochs):
        """Boundary, loss curves, accuracies and penalty of the run at the epoch it reached."""
        self.run = run
        self.region.set_data(probs.reshape(GRID_STEPS, GRID_STEPS))
        epochs = np.arange(len(run.train_losses))
        train_losses, val_losses = np.asarray(run.train_losses), np.asarray(run.val_losses)
        self.train_curve.set_data(epochs, train_losses)
        self.val_curve.set_data(epochs, val_losses)
        best = int(np.nanargmin(val_losses))
        self.best_dot.set_data([best], [val_losses[best]])
        self.curve_ax.set_xlim(0, plots.nice_ceiling(max(num_epochs, self.epoch_step)))
        with one_thread():
            train_acc = ref.accuracy(run.y, ref.predict(run.X, run.params))
            val_acc = ref.accuracy(run.y_val, ref.predict(run.X_val, run.params))
        self.ax.set_title(f"epoch {run.epoch}: train {train_acc:.0%}, validation {val_acc:.0%}", fontsize=10)
        self.curve_ax.set_title(f"train {train_losses[-1]:.3f}, validation {val_losses[-1]:.3f} "
                                f"(lowest {val_losses[best]:.3f} at epoch {best})\nL2 penalty of these weights: "
                                f"{penalty:.3g}", fontsize=9)

    @cached_property
    def widget(self):
        names = ("dataset", "hidden", "num_epochs", "lr")
        first = ipw.HBox([self.controls[n] for n in names], layout=ipw.Layout(flex_flow="row wrap"))
        second = ipw.HBox([self.controls["lam"], self.controls["dropout"]],
                          layout=ipw.Layout(flex_flow="row wrap"))
        return ipw.VBox([first, second, self.status, self.view])


def overfitting_lab(l2_penalty, l2_gradients, dropout_forward, dropout_backward, hidden=32, lam=0.0, dropout=0.0,
                    lr=0.01, num_epochs=400):
    """Watch a network overfit 40 noisy points, then tame it with your L2 weight decay and dropout."""
    functions = {"l2_penalty": l2_penalty, "l2_gradients": l2_gradients,
                 "dropout_forward": dropout_forward, "dropout_backward": dropout_backward}
    return OverfittingLab(functions, hidden=hidden, lam=lam, dropout=dropout, lr=lr, num_epochs=num_epochs).show()


# --- data augmentation on the digits ----------------------------------------------------------------------
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def augmentation_table(shift_images, num_train=300, num_val=500, hidden=32, num_epochs=150, lr=0.01, seed=0):
    """Train the same small network on num_train digits with and without shifted copies; returns rows of
    (name, training examples, train accuracy, validation accuracy, shifted-validation accuracy)."""
    X, y = data.digits()
    order = np.random.default_rng(seed).permutation(len(X))
    train_rows, val_rows = order[:num_train], order[num_train:num_train + num_val]
    X_train, y_train, X_val, y_val = X[train_rows], y[train_rows], X[val_rows], y[val_rows]
    directions = np.random.default_rng(seed + 1).integers(0, len(SHIFTS), size=num_val)
    X_val_shifted = np.empty_like(X_val)
    for index, (dx, dy) in enumerate(SHIFTS):
        chosen = directions == index
        X_val_shifted[chosen] = np.asarray(shift_images(X_val[chosen], dx, dy), dtype=float)
    augmented_X = np.vstack([X_train] + [np.asarray(shift_images(X_train, dx, dy), dtype=float) for dx, dy in SHIFTS])
    augmented_y = np.concatenate([y_train] * (1 + len(SHIFTS)))
    rows = []
    for name, (Xs, ys) in (("original digits", (X_train, y_train)),
                           ("+ 4 shifted copies", (augmented_X, augmented_y))):
        _, _, params = train(Xs, ys, X_val, y_val, hidden=hidden, lr=lr, num_epochs=num_epochs, seed=seed)
        rows.append((name, len(ys), ref.accuracy(y_train, ref.predict(X_train, params)),
                     ref.accuracy(y_val, ref.predict(X_val, params)),
                     ref.accuracy(y_val, ref.predict(X_val_shifted, params))))
    return rows


# --- a Keras model in inference mode, computed with NumPy --------------------------------------------------
def inference_probabilities(model, X):
    """Class probabilities of a Sequential model of Dense, BatchNormalization and Dropout layers, in inference mode.

    Computed with NumPy from the layers' weights (a Keras call would compile every operation for these shapes):
    Dropout is the identity, BatchNormalization uses its running mean and variance.
    """
    A = np.asarray(X, dtype=float)
    for layer in model.layers:
        kind, weights = type(layer).__name__, [np.asarray(w, dtype=float) for w in layer.get_weights()]
        if kind == "Dense":
            A = A @ weights[0] + weights[1]
            activation = layer.activation.__name__
            A = ref.relu(A) if activation == "relu" else ref.softmax(A) if activation == "softmax" else A
        elif kind == "BatchNormalization":
            gamma, beta, mean, variance = weights
            A = gamma * (A - mean) / np.sqrt(variance + layer.epsilon) + beta
        elif kind != "Dropout":
            raise ValueError(f"inference_probabilities does not know {kind} layers")
    return A
