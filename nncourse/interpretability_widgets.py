"""Lesson 11 widgets: a saliency explorer (with a training run at the chosen learning rate), the convergence of
integrated gradients with the number of steps, a saturated neuron that fools plain gradients, and a side-by-side
figure of the three attribution methods.

The network is trained with `nncourse.reference` (lessons 02-06); every gradient, integrated gradient and occlusion
map drawn here comes from the student's own functions.
"""
import time

import ipywidgets as ipw
import numpy as np

from nncourse import data, plots
from nncourse import reference as ref
from nncourse.live import STEP_SECONDS, LiveFigure, slider

SIDE = 8  # the digits are 8 x 8 images
STEP_GRID = (1, 2, 4, 8, 16, 32, 64)


def digits_split(n_train=1400, seed=0):
    """The scikit-learn digits, shuffled once with default_rng(seed): (X_train, y_train, X_test, y_test)."""
    X, y = data.digits()
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:n_train], order[n_train:]
    return X[train], y[train], X[test], y[test]


def train_digits(X, y, lr=0.1, num_epochs=10, hidden=32, batch_size=32, seed=0):
    """A 64-hidden-10 ReLU network trained by minibatch SGD with the reference train_step.

    Epoch e shuffles with minibatches(..., seed=seed + e). Returns (params after every epoch, epoch 0 first,
    mean training loss of every epoch)."""
    params = ref.init_params([X.shape[1], hidden, 10], seed=seed)
    snapshots, losses = [params], []
    for epoch in range(num_epochs):
        params, batch_losses = extend_epoch(X, y, params, lr, batch_size, seed + epoch)
        snapshots.append(params)
        losses.append(float(np.mean(batch_losses)))
    return snapshots, losses


def extend_epoch(X, y, params, lr, batch_size, seed):
    """One epoch of minibatch SGD: (new params, the loss of every batch)."""
    batch_losses = []
    for X_batch, y_batch in ref.minibatches(X, y, batch_size, seed=seed):
        params, loss = ref.train_step(X_batch, y_batch, params, lr, "relu")
        batch_losses.append(loss)
    return params, batch_losses


def logits(X, params, activation="relu"):
    """The last layer's pre-activations (the scores before the softmax), shape (m, K)."""
    _, cache = ref.mlp_forward(np.atleast_2d(X), params, activation)
    return cache[-1][1]


def symmetric_image(ax, title):
    """An 8 x 8 image artist on a red-white-blue scale from -1 to 1, without ticks."""
    image = ax.imshow(np.zeros((SIDE, SIDE)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    hide_ticks(ax)
    ax.set_title(title, fontsize=9)
    return image


def hide_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def normalised(values):
    """values / max |values| (all zeros stay zeros), as an 8 x 8 image."""
    values = np.asarray(values, dtype=float).reshape(SIDE, SIDE)
    peak = np.max(np.abs(values))
    return values / peak if peak > 0 else values


class SaliencyExplorer(LiveFigure):
    """Pick an image and a class; the student's input_gradient of that class's logit, for a network trained at the
    chosen learning rate for the chosen number of epochs (training runs are kept per learning rate)."""

    def __init__(self, input_gradient, X_train, y_train, X_show, y_show, lr=0.1, num_epochs=10, max_epochs=20,
                 index=0, trained=None):
        self.X_train, self.y_train = np.asarray(X_train, dtype=float), np.asarray(y_train)
        self.X_show, self.y_show = np.asarray(X_show, dtype=float), np.asarray(y_show)
        self.runs = {}  # lr -> (snapshots, losses)
        if trained is not None:  # train_digits(X_train, y_train, lr) already ran: the same run, not trained again
            self.runs[round(float(lr), 8)] = (list(trained[0]), list(trained[1]))
        fig, (im_ax, sal_ax, loss_ax) = plots.figure(ncols=3, figsize=(9.6, 3.3))
        self.im_ax, self.sal_ax, self.loss_ax = im_ax, sal_ax, loss_ax
        self.image = im_ax.imshow(np.zeros((SIDE, SIDE)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        hide_ticks(im_ax)
        im_ax.set_title(" \n ", fontsize=9)
        self.saliency = symmetric_image(sal_ax, " \n ")
        (self.curve,) = loss_ax.plot([], [], "-o", ms=3, color=plots.BLUE, label="training loss")
        (self.mark,) = loss_ax.plot([], [], "o", ms=8, color=plots.RED)
        loss_ax.set_xlim(0, max_epochs)
        loss_ax.set_ylim(0, 2.5)
        loss_ax.set_xlabel("epoch")
        loss_ax.set_ylabel("mean cross-entropy")
        loss_ax.set_title(" ", fontsize=9)
        controls = {
            "image": slider("image", index, 0, len(self.X_show) - 1, integer=True),
            "explain": ipw.Dropdown(options=["predicted"] + [str(k) for k in range(10)], description="class",
                                    layout=ipw.Layout(width="180px")),
            "lr": slider("learning rate", lr, -3, 0, step=0.1, log=True),
            "num_epochs": slider("epochs", num_epochs, 0, max_epochs, integer=True, continuous=False),
        }
        super().__init__(input_gradient, controls, fig)

    def network(self, lr, num_epochs, seconds=float("inf")):
        """The parameters after num_epochs epochs at this learning rate, and the losses so far (runs are kept).

        With `seconds`, trains for about that long at most (one epoch at least): then those of the epoch reached."""
        key = round(float(lr), 8)
        if key not in self.runs:
            self.runs[key] = ([ref.init_params([SIDE * SIDE, 32, 10], seed=0)], [])
        snapshots, losses = self.runs[key]
        began = time.perf_counter()
        with np.errstate(all="ignore"):
            while len(snapshots) <= num_epochs:
                params, batch_losses = extend_epoch(self.X_train, self.y_train, snapshots[-1], key, 32,
                                                    len(snapshots) - 1)
                snapshots.append(params)
                losses.append(float(np.mean(batch_losses)))
                if time.perf_counter() - began >= seconds:
                    break
        reached = min(len(losses), num_epochs)
        return snapshots[reached], losses[:reached]

    def redraw(self, image, explain, lr, num_epochs):
        """Train towards num_epochs in chunks of about STEP_SECONDS, explaining the network reached after each."""
        while True:
            params, losses = self.network(lr, num_epochs, STEP_SECONDS)
            self.explain(image, explain, lr, params, losses)
            if len(losses) == num_epochs:
                return
            yield

    def explain(self, image, explain, lr, params, losses):
        """The image, the saliency map of the chosen class and the loss curve, for these parameters."""
        x = self.X_show[image:image + 1]
        with np.errstate(all="ignore"):
            probs = ref.mlp_forward(x, params)[0][0]
        predicted = int(np.argmax(probs))
        k = predicted if explain == "predicted" else int(explain)
        self.image.set_data(x.reshape(SIDE, SIDE))
        self.im_ax.set_title(f"true label {self.y_show[image]}\npredicted {predicted} (p = {probs[predicted]:.2f})",
                             fontsize=9)
        gradient = np.asarray(self.function(x, params, k, "relu"), dtype=float)
        self.saliency.set_data(normalised(gradient))
        self.sal_ax.set_title(f"d logit[{k}] / d pixel\n(red: more ink raises it)", fontsize=9)
        epochs = np.arange(1, len(losses) + 1)
        self.curve.set_data(epochs, losses)
        self.mark.set_data(epochs[-1:], losses[-1:])
        last = f"loss {losses[-1]:.3f}" if losses and np.isfinite(losses[-1]) else (
            "the loss blew up: lower the learning rate" if losses else "untrained network")
        self.loss_ax.set_title(f"lr {lr:.3g}, epoch {len(losses)}: {last}", fontsize=9)


def saliency_explorer(input_gradient, X_train, y_train, X_show, y_show, lr=0.1, num_epochs=10, index=0, trained=None):
    """Image, class, learning rate and epochs: the saliency map from your input_gradient (trained: the
    (snapshots, losses) of train_digits at this lr, reused instead of training again)."""
    return SaliencyExplorer(input_gradient, X_train, y_train, X_show, y_show, lr=lr, num_epochs=num_epochs,
                            index=index, trained=trained).show()


class IGConvergence(LiveFigure):
    """Integrated gradients of one image's class logit: the attribution map for the chosen number of steps and
    baseline, and how far the attributions' sum is from f(x) - f(baseline) as the steps grow."""

    def __init__(self, integrated_gradients, input_gradient, x, params, k, baselines, steps=8):
        self.x, self.params, self.k = np.asarray(x, dtype=float), params, int(k)
        self.baselines = {name: np.asarray(b, dtype=float) for name, b in baselines.items()}
        self.gaps = {}  # baseline name -> gaps over STEP_GRID
        fig, (im_ax, map_ax, gap_ax) = plots.figure(ncols=3, figsize=(9.6, 3.3))
        self.map_ax, self.gap_ax = map_ax, gap_ax
        im_ax.imshow(self.x.reshape(SIDE, SIDE), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        hide_ticks(im_ax)
        im_ax.set_title(f"the image; explaining logit[{self.k}]", fontsize=9)
        self.attribution = symmetric_image(map_ax, " \n ")
        (self.curve,) = gap_ax.plot(STEP_GRID, np.ones(len(STEP_GRID)), "-o", ms=3, color=plots.BLUE)
        (self.mark,) = gap_ax.plot([], [], "o", ms=8, color=plots.RED)
        gap_ax.set_xscale("log", base=2)
        gap_ax.set_yscale("log")
        gap_ax.set_ylim(1e-6, 1e2)
        gap_ax.set_xlabel("steps")
        gap_ax.set_ylabel("|sum of attributions - (f(x) - f(b))|")
        gap_ax.set_title(" ", fontsize=9)
        controls = {"steps": slider("steps", steps, 1, 64, integer=True),
                    "baseline": ipw.Dropdown(options=list(self.baselines), description="baseline",
                                             layout=ipw.Layout(width="220px"))}
        super().__init__({"integrated_gradients": integrated_gradients, "input_gradient": input_gradient},
                         controls, fig)

    def score(self, z):
        return float(logits(z, self.params)[0, self.k])

    def attributions(self, baseline, steps):
        def grad_fn(points):
            return np.asarray(self.code("input_gradient", np.atleast_2d(points), self.params, self.k, "relu"),
                              dtype=float)
        return np.asarray(self.code("integrated_gradients", self.x, baseline, grad_fn, steps), dtype=float)

    def redraw(self, steps, baseline):
        b = self.baselines[baseline]
        change = self.score(self.x) - self.score(b)
        if baseline not in self.gaps:
            self.gaps[baseline] = [abs(float(np.sum(self.attributions(b, s))) - change) for s in STEP_GRID]
        attribution = self.attributions(b, steps)
        gap = abs(float(np.sum(attribution)) - change)
        self.attribution.set_data(normalised(attribution))
        self.map_ax.set_title(f"attributions, {steps} steps\nsum {np.sum(attribution):.3f}, "
                              f"f(x) - f(b) = {change:.3f}", fontsize=9)
        self.curve.set_ydata(np.maximum(self.gaps[baseline], 1e-6))
        self.mark.set_data([steps], [max(gap, 1e-6)])
        self.gap_ax.set_title(f"gap at {steps} steps: {gap:.2g}", fontsize=9)


def ig_convergence(integrated_gradients, input_gradient, x, params, k, baselines, steps=8):
    """Steps and baseline: your integrated gradients of logit k and the completeness gap against the steps."""
    return IGConvergence(integrated_gradients, input_gradient, x, params, k, baselines, steps=steps).show()


SATURATION_X = np.array([1.0, 0.5])


class SaturationDemo(LiveFigure):
    """One sigmoid neuron f(x) = sigmoid(w (x1 + x2)) at x = (1, 0.5), baseline 0: as the weight grows the neuron
    saturates, gradient x input fades to nothing while integrated gradients still share out f(x) - f(0)."""

    def __init__(self, integrated_gradients, w=1.0, steps=16):
        fig, (path_ax, bar_ax) = plots.figure(ncols=2, figsize=(8.6, 3.3))
        self.path_ax, self.bar_ax = path_ax, bar_ax
        self.alphas = np.linspace(0, 1, 101)
        (self.path,) = path_ax.plot(self.alphas, np.zeros_like(self.alphas), color=plots.BLUE, lw=2,
                                    label=r"$f(\alpha x)$")
        (self.tangent,) = path_ax.plot([], [], color=plots.ORANGE, ls="--", lw=1.5, label="slope at x")
        path_ax.set_xlim(0, 1)
        path_ax.set_ylim(0.45, 1.02)
        path_ax.set_xlabel(r"$\alpha$ along the path from the baseline 0 to x")
        path_ax.legend(loc="lower right", fontsize=8)
        path_ax.set_title(" ", fontsize=9)
        positions = np.arange(2)
        self.grad_bars = bar_ax.bar(positions - 0.2, [0, 0], width=0.4, color=plots.BLUE, label="gradient x input")
        self.ig_bars = bar_ax.bar(positions + 0.2, [0, 0], width=0.4, color=plots.ORANGE, label="integrated gradients")
        bar_ax.set_xticks(positions, ["feature 1 (x1 = 1)", "feature 2 (x2 = 0.5)"])
        bar_ax.set_ylim(0, 0.4)
        bar_ax.set_ylabel("attribution")
        bar_ax.legend(loc="upper left", fontsize=8)
        bar_ax.set_title(" \n ", fontsize=9)
        controls = {"w": slider("weight w", w, 0.1, 8.0, step=0.1),
                    "steps": slider("steps", steps, 1, 64, integer=True)}
        super().__init__(integrated_gradients, controls, fig)

    def redraw(self, w, steps):
        def grad_fn(points):
            points = np.atleast_2d(np.asarray(points, dtype=float))
            s = ref.sigmoid(w * points.sum(axis=1))
            return np.repeat((w * s * (1 - s))[:, None], 2, axis=1)
        fx = float(ref.sigmoid(w * SATURATION_X.sum()))
        slope = float(grad_fn(SATURATION_X)[0, 0]) * SATURATION_X.sum()  # d f(alpha x) / d alpha at alpha = 1
        attribution = np.asarray(self.function(SATURATION_X.copy(), np.zeros(2), grad_fn, steps), dtype=float)
        plain = grad_fn(SATURATION_X)[0] * SATURATION_X
        self.path.set_ydata(ref.sigmoid(w * SATURATION_X.sum() * self.alphas))
        self.tangent.set_data([0.6, 1.0], [fx - 0.4 * slope, fx])
        for bar, value in zip(self.grad_bars, plain):
            bar.set_height(value)
        for bar, value in zip(self.ig_bars, attribution):
            bar.set_height(value)
        self.path_ax.set_title(f"w = {w:.2g}: f(x) = {fx:.3f}, slope at x {slope:.3f}", fontsize=9)
        self.bar_ax.set_title(f"sums: gradient x input {plain.sum():.3f}, IG {attribution.sum():.3f}\n"
                              f"f(x) - f(0) = {fx - 0.5:.3f}", fontsize=9)


def saturation_demo(integrated_gradients, w=1.0, steps=16):
    """Weight and steps: gradient x input against your integrated gradients for a saturating sigmoid neuron."""
    return SaturationDemo(integrated_gradients, w=w, steps=steps).show()


def compare_methods(images, maps, labels):
    """One row per image: the image, then every attribution map of `maps` (name -> list of 8 x 8 maps)."""
    rows, cols = len(images), 1 + len(maps)
    fig, axes = plots.figure(ncols=cols, nrows=rows, figsize=(1.9 * cols, 1.9 * rows))
    axes = np.atleast_2d(axes)
    for r, image in enumerate(images):
        axes[r, 0].imshow(np.reshape(image, (SIDE, SIDE)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[r, 0].set_title(labels[r], fontsize=8)
        for c, (name, values) in enumerate(maps.items(), start=1):
            axes[r, c].imshow(normalised(values[r]), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
    for ax in axes.ravel():
        hide_ticks(ax)
    return fig
