"""Lesson 06 widgets: an optimizer race on a 2-D loss surface, mini-batch gradient noise, and
training curves of the four optimizers on the digits, all driven by the student's own functions."""
import math

import ipywidgets as ipw
import numpy as np

from nncourse import plots, reference
from nncourse.live import LiveFigure, slider
from nncourse.student_code import StudentProblem

OPTIMIZERS = ("SGD", "momentum", "RMSprop", "Adam")
COLORS = {"SGD": plots.BLUE, "momentum": plots.ORANGE, "RMSprop": plots.GREEN, "Adam": plots.PINK}
MARKERS = {"SGD": "o", "momentum": "s", "RMSprop": "^", "Adam": "D"}
DIVERGED = 1e3  # a trajectory that leaves this box has blown up


# --- two loss surfaces: value and gradient of (x, y) ---------------------------------------------
class Surface:
    """A 2-D loss f(x, y) with its gradient, its minimum, a default start and a plotting window."""

    def __init__(self, name, value, gradient, minimum, start, extent):
        self.name, self.value, self.gradient = name, value, gradient
        self.minimum, self.start, self.extent = np.array(minimum, dtype=float), start, extent


def bowl_value(x, y):
    """Elongated quadratic bowl: gentle along x (curvature 0.1), steep along y (curvature 2)."""
    return 0.05 * x ** 2 + y ** 2


def bowl_gradient(p):
    """Gradient of bowl_value at the point p = (x, y)."""
    return BOWL_CURVATURE * p


BOWL_CURVATURE = np.array([0.1, 2.0])


def valley_value(x, y):
    """A Rosenbrock-like curved valley (1 - x)^2 + 5 (y - x^2)^2 with its minimum at (1, 1)."""
    return (1 - x) ** 2 + 5.0 * (y - x ** 2) ** 2


def valley_gradient(p):
    """Gradient of valley_value at the point p = (x, y)."""
    x, y = p[0], p[1]
    inner = y - x * x
    return np.array([-2.0 * (1 - x) - 20.0 * x * inner, 10.0 * inner])


SURFACES = {
    "elongated bowl": Surface("elongated bowl", bowl_value, bowl_gradient, (0, 0), (-4.0, 2.0), (-5, 5, -3, 3)),
    "banana valley": Surface("banana valley", valley_value, valley_gradient, (1, 1), (-1.5, 2.0), (-2, 2, -1, 3)),
}


def optimizer_steps(updates, lr, beta=0.9, beta1=0.9, beta2=0.999, rho=None):
    """For each optimizer (step, initial_state): step(p, g, state, t) -> (new p, new state) using the given updates.

    lr is one learning rate for all four or a dict {optimizer name: lr}; RMSprop's rho defaults to beta2.
    """
    lrs = lr if isinstance(lr, dict) else dict.fromkeys(OPTIMIZERS, lr)
    rho = beta2 if rho is None else rho
    sgd, momentum, rmsprop, adam = (updates[name] for name in ("sgd_update", "momentum_update",
                                                                "rmsprop_update", "adam_update"))

    def adam_step(p, g, state, t):
        w, m, v = adam(p, g, state[0], state[1], t, lrs["Adam"], beta1, beta2)
        return w, (m, v)

    return {
        "SGD": (lambda p, g, s, t: (sgd(p, g, lrs["SGD"]), s), lambda p: None),
        "momentum": (lambda p, g, s, t: momentum(p, g, s, lrs["momentum"], beta), np.zeros_like),
        "RMSprop": (lambda p, g, s, t: rmsprop(p, g, s, lrs["RMSprop"], rho), np.zeros_like),
        "Adam": (adam_step, lambda p: (np.zeros_like(p), np.zeros_like(p))),
    }


def trajectory(step, initial_state, gradient, start, num_steps):
    """Points visited by an optimizer from start (num_steps + 1 rows at most; stops early if it blows up)."""
    p = np.array(start, dtype=float)
    state, path = initial_state(p), [p]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, num_steps + 1):
            p, state = step(p, gradient(p), state, t)
            p = np.asarray(p, dtype=float).reshape(2)
            path.append(p)
            if not (abs(p[0]) < DIVERGED and abs(p[1]) < DIVERGED):  # scalar tests: cheaper than np.all per step
                break
    return np.array(path)


# --- the optimizer race ----------------------------------------------------------------------------
class OptimizerRace(LiveFigure):
    """Trajectories of SGD, momentum, RMSprop and Adam on one loss surface, plus their loss per step."""

    def __init__(self, updates, num_steps=150, lr=0.1, surface="elongated bowl"):
        self.num_steps = num_steps
        fig, (ax, loss_ax) = plots.figure(ncols=2, figsize=(9.0, 3.8), width_ratios=(1.5, 1))
        self.ax, self.loss_ax = ax, loss_ax
        self.contours, self.shown = None, None
        (self.start_dot,) = ax.plot([], [], "o", color=plots.BLACK, ms=7, zorder=5)
        (self.goal,) = ax.plot([], [], "*", color=plots.RED, ms=12, zorder=5)
        self.paths, self.curves = {}, {}
        for name in OPTIMIZERS:
            (self.paths[name],) = ax.plot([], [], "-", marker=MARKERS[name], ms=2.5, lw=1.4, color=COLORS[name],
                                          label=name, zorder=4)
            (self.curves[name],) = loss_ax.plot([], [], lw=1.6, color=COLORS[name], label=name)
        ax.set_xlabel("$w_1$")
        ax.set_ylabel("$w_2$")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{num_steps} steps from the black dot", fontsize=10)
        self.report = loss_ax.text(0.98, 0.97, "", transform=loss_ax.transAxes, ha="right", va="top", fontsize=8,
                                   family="monospace", bbox=dict(boxstyle="round", fc="white", ec="0.8", alpha=0.9))
        loss_ax.set_yscale("log")
        loss_ax.set_xlim(0, num_steps)
        loss_ax.set_ylim(1e-6, 1e3)
        loss_ax.set_xlabel("step")
        loss_ax.set_ylabel("loss (log scale)")
        controls = {
            "surface": ipw.Dropdown(options=list(SURFACES), value=surface, description="surface",
                                    layout=ipw.Layout(width="230px")),
            "lr": slider("learning rate", lr, -3, 0.3, step=0.05, log=True),
            "beta": slider("β (momentum)", 0.9, 0.0, 0.99, step=0.01),
            "beta1": slider("β1 (Adam)", 0.9, 0.0, 0.99, step=0.01),
            "beta2": slider("β2 (Adam, RMSprop ρ)", 0.999, 0.5, 0.9999, step=0.0001, readout=".4f"),
            "x0": slider("start $w_1$", SURFACES[surface].start[0], -5, 5),
            "y0": slider("start $w_2$", SURFACES[surface].start[1], -3, 3),
        }
        self.show_surface(surface)  # before the first frame: contours drawn into the background, never redrawn per move
        super().__init__(updates, controls, fig)

    def show_surface(self, name):
        """Draw the contour lines of a surface (only when the surface changes)."""
        surface = SURFACES[name]
        x_lo, x_hi, y_lo, y_hi = surface.extent
        gx, gy = np.meshgrid(np.linspace(x_lo, x_hi, 120), np.linspace(y_lo, y_hi, 120))
        if self.contours is not None:
            self.contours.remove()
        levels = np.geomspace(1e-3, 1e2, 16)
        self.contours = self.ax.contour(gx, gy, surface.value(gx, gy) + 1e-9, levels=levels, cmap="Greys_r",
                                        linewidths=0.7, alpha=0.7, zorder=1)
        self.ax.set_xlim(x_lo, x_hi)
        self.ax.set_ylim(y_lo, y_hi)
        self.goal.set_data([surface.minimum[0]], [surface.minimum[1]])
        self.shown = name

    def redraw(self, surface, lr, beta, beta1, beta2, x0, y0):
        if surface != self.shown:
            self.show_surface(surface)
        chosen = SURFACES[surface]
        self.start_dot.set_data([x0], [y0])
        steps = optimizer_steps(self.code, lr, beta, beta1, beta2)
        finals = {}
        for name in OPTIMIZERS:
            step, initial = steps[name]
            try:
                path = trajectory(step, initial, chosen.gradient, (x0, y0), self.num_steps)
            except StudentProblem:  # recorded for the status line; the other optimizers are still drawn
                path = None
            shown = np.empty((0, 2)) if path is None else path
            self.paths[name].set_data(shown[:, 0], shown[:, 1])
            with np.errstate(over="ignore", invalid="ignore"):
                losses = chosen.value(shown[:, 0], shown[:, 1])
            self.curves[name].set_data(np.arange(len(losses)), np.clip(losses, 1e-12, 1e12))
            if path is None:
                finals[name] = "not running"
            elif len(path) < self.num_steps + 1:
                finals[name] = f"diverged at step {len(path) - 1}"
            else:
                finals[name] = f"loss {float(losses[-1]):.2g}"
        self.report.set_text("\n".join([f"learning rate {lr:.3g}"] +
                                        [f"{name:<8} {finals[name]}" for name in OPTIMIZERS]))


def optimizer_race(sgd_update, momentum_update, rmsprop_update, adam_update, num_steps=150, lr=0.1,
                   surface="elongated bowl"):
    """Race your four optimizers on one 2-D loss surface; sliders for lr, the betas and the start point."""
    updates = {"sgd_update": sgd_update, "momentum_update": momentum_update,
               "rmsprop_update": rmsprop_update, "adam_update": adam_update}
    return OptimizerRace(updates, num_steps, lr, surface).show()


# --- mini-batch noise ------------------------------------------------------------------------------
def line_data(m=120, seed=0):
    """A noisy line y = 2x - 1 + noise: the data for a two-parameter (w, b) regression."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=m)
    return x.reshape(-1, 1), 2.0 * x - 1.0 + rng.normal(scale=1.0, size=m)


def line_gradient(X, y, params):
    """Gradient of the mean of (w x + b - y)^2 / 2 over the rows of X, with respect to (w, b)."""
    error = X[:, 0] * params[0] + params[1] - y
    return np.array([error @ X[:, 0], error.sum()]) / len(error)  # np.mean costs more than the sums themselves


class BatchNoise(LiveFigure):
    """A batch-size slider: one epoch of mini-batch gradients around the full gradient, and the noisy path."""

    def __init__(self, minibatches, X=None, y=None, batch_size=8, lr=0.1, num_epochs=3, point=(-0.5, 1.5)):
        if X is None:
            X, y = line_data()
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.lr, self.num_epochs, self.point = lr, num_epochs, np.array(point, dtype=float)
        self.full = line_gradient(self.X, self.y, self.point)
        fig, (ax, path_ax) = plots.figure(ncols=2, figsize=(9.0, 3.6))
        self.ax, self.path_ax = ax, path_ax
        self.cloud = ax.scatter([], [], s=12, marker=plots.dot(), color=plots.BLUE, alpha=0.6,
                                label="one mini-batch each")
        ax.plot([self.full[0]], [self.full[1]], "*", color=plots.RED, ms=14, label="full-batch gradient", zorder=4)
        ax.set_xlabel("gradient for $w$")
        ax.set_ylabel("gradient for $b$")
        spread = 3.5
        ax.set_xlim(self.full[0] - spread, self.full[0] + spread)
        ax.set_ylim(self.full[1] - spread, self.full[1] + spread)
        ax.legend(loc="upper left", fontsize=8)
        ax.set_title("gradient noise (RMS):", loc="left", fontsize=10)  # fixed; what changes goes on the right
        solution = np.linalg.lstsq(np.column_stack([self.X[:, 0], np.ones(len(self.y))]), self.y, rcond=None)[0]
        gw, gb = np.meshgrid(np.linspace(-1, 4, 80), np.linspace(-3, 2.5, 80))
        errors = self.X[:, 0, None, None] * gw + gb - self.y[:, None, None]
        path_ax.contour(gw, gb, 0.5 * np.mean(errors ** 2, axis=0), levels=12, cmap="Greys_r", linewidths=0.7)
        path_ax.plot(*solution, "*", color=plots.RED, ms=12, zorder=4)
        (self.path,) = path_ax.plot([], [], "-o", ms=2, lw=1, color=plots.BLUE)
        path_ax.set_xlabel("$w$")
        path_ax.set_ylabel("$b$")
        path_ax.set_title(f"{num_epochs} epochs at lr = {lr}:", loc="left", fontsize=10)
        controls = {"batch_size": slider("batch size", batch_size, 1, len(self.y), integer=True)}
        super().__init__(minibatches, controls, fig)

    def redraw(self, batch_size):
        batches = list(self.function(self.X, self.y, batch_size, 0))
        grads = np.array([line_gradient(np.asarray(Xb, dtype=float), np.asarray(yb, dtype=float), self.point)
                          for Xb, yb in batches]).reshape(-1, 2)
        self.cloud.set_offsets(grads)
        spread = float(np.sqrt(np.mean(np.sum((grads - self.full) ** 2, axis=1))))
        self.ax.set_title(f"{spread:.2f}, {len(batches)} steps per epoch", loc="right", fontsize=10)
        params, path = np.zeros(2), [np.zeros(2)]
        for epoch in range(self.num_epochs):
            for Xb, yb in self.function(self.X, self.y, batch_size, epoch + 1):
                params = params - self.lr * line_gradient(np.asarray(Xb, dtype=float), np.asarray(yb, dtype=float),
                                                          params)
                path.append(params)
        path = np.array(path)
        self.path.set_data(path[:, 0], path[:, 1])
        self.path_ax.set_title(f"{len(path) - 1} steps", loc="right", fontsize=10)


def batch_noise(minibatches, batch_size=8):
    """Drag the batch size and watch the mini-batch gradients (from your `minibatches`) spread and the path wobble."""
    return BatchNoise(minibatches, batch_size=batch_size).show()


# --- training curves on the digits -----------------------------------------------------------------
LR_SCALES = {"learning rates × 0.1": 0.1, "learning rates × 1": 1.0, "learning rates × 10": 10.0}
EXPLODED = 2.0          # a run whose final loss is above this many times its starting loss has diverged
CHANCE_LOSS_GAP = 0.15  # a final loss this close to ln K (a uniform guess over K classes) ...
CHANCE_ACCURACY = 1.5   # ... with an accuracy below this many times 1/K is stuck at chance


def outcome(losses, accuracy, num_classes):
    """How a training run ended, for a legend: "diverged", "stuck at chance" or "accuracy NN%".

    Diverged: a loss became nan or inf, or the final loss is above EXPLODED times the first one.
    Stuck at chance: the final loss is within CHANCE_LOSS_GAP of ln K, what a network scores by giving
    every one of the K classes probability 1/K, and the accuracy is below CHANCE_ACCURACY / K.
    """
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0 or not np.all(np.isfinite(losses)) or losses[-1] > EXPLODED * losses[0]:
        return "diverged"
    if abs(losses[-1] - math.log(num_classes)) < CHANCE_LOSS_GAP and accuracy < CHANCE_ACCURACY / num_classes:
        return "stuck at chance"
    return f"accuracy {accuracy:.0%}"


def epoch_batches(minibatches, X, y, batch_size, num_epochs, seed=0):
    """The mini-batches of every epoch, drawn once and shared by the four optimizers (epoch e: seed + e)."""
    return [list(minibatches(X, y, batch_size, seed + epoch)) for epoch in range(num_epochs)]


def train_curve(step, initial, batches, X, y, sizes, seed=0):
    """Train the small MLP with one optimizer over the epochs of batches; (loss per epoch, final accuracy).

    The forward and backward passes are the course's reference versions from lessons 03-05.
    """
    params = [array for layer in reference.init_params(sizes, seed=seed) for array in layer]
    state = [initial(p) for p in params]
    losses, t = [], 0
    with np.errstate(all="ignore"):
        probs = reference.mlp_forward(X, pairs(params))[0]
        losses.append(reference.categorical_cross_entropy(y, probs))
        for epoch in batches:
            for Xb, yb in epoch:
                probs, cache = reference.mlp_forward(Xb, pairs(params))
                grads = [g for layer in reference.mlp_backward(probs, yb, cache, pairs(params)) for g in layer]
                t += 1
                for i, (p, g) in enumerate(zip(params, grads)):
                    params[i], state[i] = step(p, g, state[i], t)
            probs = reference.mlp_forward(X, pairs(params))[0]
            losses.append(reference.categorical_cross_entropy(y, probs))
            if not math.isfinite(losses[-1]):
                break
    return np.array(losses), reference.accuracy(y, np.argmax(probs, axis=1))


def train_curves(updates, minibatches, X, y, sizes, lrs, num_epochs=8, batch_size=32, seed=0, beta=0.9):
    """Train the same small MLP with each optimizer; returns {name: (loss per epoch, final accuracy)}.

    Only the optimizers and the mini-batches come from the functions passed in.
    """
    steps = optimizer_steps(updates, lrs, beta=beta, rho=0.9)
    batches = epoch_batches(minibatches, X, y, batch_size, num_epochs, seed)
    return {name: train_curve(*steps[name], batches, X, y, sizes, seed) for name in OPTIMIZERS}


def pairs(flat):
    """[W1, b1, W2, b2, ...] as [(W1, b1), (W2, b2), ...]."""
    return list(zip(flat[0::2], flat[1::2]))


class OptimizerCurves(LiveFigure):
    """Training loss per epoch of the four optimizers on the same network; a dropdown scales every lr."""

    def __init__(self, updates, minibatches, X, y, sizes, lrs, num_epochs=8, batch_size=32):
        self.X, self.y, self.sizes, self.lrs = X, y, sizes, lrs
        self.num_epochs, self.batch_size, self.cache, self.batches = num_epochs, batch_size, {}, None
        fig, ax = plots.figure(figsize=(6.0, 3.6))
        self.ax = ax
        self.curves = {name: ax.plot([], [], "-o", ms=3, color=COLORS[name], label=name)[0] for name in OPTIMIZERS}
        ax.set_xlim(0, num_epochs)
        ax.set_ylim(0, 2.6)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (cross-entropy)")
        self.legend = ax.legend(loc="upper right", fontsize=8)
        controls = {"scale": ipw.Dropdown(options=list(LR_SCALES), value="learning rates × 1",
                                          description="", layout=ipw.Layout(width="200px"))}
        super().__init__({**updates, "minibatches": minibatches}, controls, fig)

    def results(self, scale):
        """{optimizer: (losses, accuracy), or None while its update fails} for one learning-rate scale.

        The mini-batches are drawn once; the curves of a scale are kept once all four optimizers ran.
        """
        if scale in self.cache:
            return self.cache[scale]
        if self.batches is None:
            self.batches = epoch_batches(self.code.minibatches, self.X, self.y, self.batch_size, self.num_epochs)
        steps = optimizer_steps(self.code, {name: lr * LR_SCALES[scale] for name, lr in self.lrs.items()}, rho=0.9)
        results = {}
        for name in OPTIMIZERS:
            try:
                results[name] = train_curve(*steps[name], self.batches, self.X, self.y, self.sizes)
            except StudentProblem:  # recorded for the status line; the other optimizers are still drawn
                results[name] = None
        if all(result is not None for result in results.values()):
            self.cache[scale] = results
        return results

    def redraw(self, scale):
        try:
            results = self.results(scale)
        except StudentProblem:
            results = dict.fromkeys(OPTIMIZERS)
        for text, name in zip(self.legend.get_texts(), OPTIMIZERS):
            lr = self.lrs[name] * LR_SCALES[scale]
            if results[name] is None:
                self.curves[name].set_data([], [])
                text.set_text(f"{name} (lr {lr:.3g}): not running")
                continue
            losses, accuracy = results[name]
            self.curves[name].set_data(np.arange(len(losses)), np.clip(losses, 0, 10))
            text.set_text(f"{name} (lr {lr:.3g}): {outcome(losses, accuracy, self.sizes[-1])}")
        self.ax.set_title(f"{self.sizes} network, batch size {self.batch_size}", fontsize=10)


def optimizer_curves(sgd_update, momentum_update, rmsprop_update, adam_update, minibatches, X, y, sizes, lrs,
                     num_epochs=8, batch_size=32):
    """Loss curves of the same network trained with each of your four optimizers and your `minibatches`."""
    updates = {"sgd_update": sgd_update, "momentum_update": momentum_update,
               "rmsprop_update": rmsprop_update, "adam_update": adam_update}
    return OptimizerCurves(updates, minibatches, X, y, sizes, lrs, num_epochs, batch_size).show()
