"""Lesson 02 widgets: activation functions and their derivatives, softmax, vanishing gradients, saturation.

Every widget takes the student's own functions. A widget that needs several functions draws those that
work and names the ones still missing ("Implement relu, tanh_grad above") instead of showing a traceback.
"""
import math
from functools import partial

import numpy as np
from matplotlib.ticker import MaxNLocator

from nncourse import plots
from nncourse.live import LiveFigure, slider
from nncourse.student_code import StudentProblem

PALETTE = (plots.BLUE, plots.ORANGE, plots.GREEN, plots.PINK, plots.RED, plots.SKY)


def fewer_ticks(fig):
    """At most five ticks per linear axis: tick labels are the slowest thing Agg draws."""
    for ax in fig.axes:  # fewer tick labels: text is the slowest thing Agg draws
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear" and not axis.get_major_formatter().__class__.__name__.startswith("Str"):
                axis.set_major_locator(MaxNLocator(5))


def evaluate(function, *args):
    """function(*args) as a float array, with NumPy's overflow warnings silenced (the widget reports nan)."""
    with np.errstate(all="ignore"):
        return np.asarray(function(*args), dtype=float)


def attempt(code, name, *args):
    """The named student function's result as a float array, or None when it failed (the code records it)."""
    try:
        return evaluate(partial(code.call, name), *args)
    except StudentProblem:
        return None


# --- 1. every activation beside its derivative ---------------------------------------------------
class ActivationExplorer(LiveFigure):
    """Sliders for a neuron's w and b: a = g(w x + b) and its slope da/dz for every activation, side by side."""

    def __init__(self, activations, w=1.0, b=0.0, x_range=(-4.0, 4.0), points=161):
        self.pairs = dict(activations)  # name -> (function, derivative)
        functions = {}
        for name, (function, derivative) in self.pairs.items():
            functions[name], functions[name + "'"] = function, derivative
        self.x = np.linspace(*x_range, points)
        fig, (ax, dax) = plots.figure(ncols=2, figsize=(8.4, 3.4))
        self.ax, self.dax = ax, dax
        self.lines, self.dlines = {}, {}
        for color, name in zip(PALETTE, self.pairs):
            (self.lines[name],) = ax.plot([], [], color=color, lw=2, label=name)
            (self.dlines[name],) = dax.plot([], [], color=color, lw=2, label=name)
        for axis, title in ((ax, "output $a = g(wx + b)$"), (dax, "derivative $g'(wx + b)$")):
            axis.set_xlim(*x_range)
            axis.set_xlabel("input $x$")
            axis.set_title(title, fontsize=10)
        ax.set_ylim(-1.6, 4.1)
        dax.set_ylim(-0.15, 1.25)
        ax.legend(loc="upper left", fontsize=8)
        self.note = dax.text(0.02, 0.96, "", transform=dax.transAxes, va="top", fontsize=8)
        controls = {"w": slider("weight $w$", w, -3, 3), "b": slider("bias $b$", b, -4, 4)}
        super().__init__(functions, controls, fig)
        fewer_ticks(fig)

    def redraw(self, w, b):
        z = w * self.x + b
        for name in self.pairs:
            for line, key in ((self.lines[name], name), (self.dlines[name], name + "'")):
                values = attempt(self.code, key, z)
                if values is None:
                    line.set_data([], [])
                else:
                    line.set_data(self.x, np.broadcast_to(values, z.shape))
        sigmoid_slope = self.dlines.get("sigmoid")
        peak = np.nanmax(sigmoid_slope.get_ydata()) if sigmoid_slope is not None and len(sigmoid_slope.get_ydata()) else None
        self.note.set_text("" if peak is None else f"largest sigmoid slope here: {peak:.3f}")


def activation_explorer(activations, w=1.0, b=0.0):
    """Drag w and b of one neuron; see every activation's output and derivative, computed by your functions.

    activations maps a name to (function, derivative), e.g. {"relu": (relu, relu_grad), ...}.
    """
    return ActivationExplorer(activations, w, b).show()


# --- 2. softmax: logits, temperature and probability bars ---------------------------------------
class SoftmaxExplorer(LiveFigure):
    """Sliders for the logits, a temperature and a common offset: softmax(z / T) as probability bars."""

    def __init__(self, softmax, logits=(2.0, 1.0, 0.1, -1.0), temperature=1.0):
        self.k = len(logits)
        fig, (lax, pax) = plots.figure(ncols=2, figsize=(8.0, 3.2))
        labels = [f"class {i}" for i in range(self.k)]
        self.logit_bars = lax.bar(labels, np.zeros(self.k), color=plots.SKY)
        lax.set_ylim(-6, 6)
        lax.set_title("logits $z / T$ (offset not shown)", fontsize=10)
        self.bars = pax.bar(labels, np.zeros(self.k), color=[PALETTE[i % len(PALETTE)] for i in range(self.k)])
        self.texts = [pax.text(i, 0.0, "", ha="center", va="bottom", fontsize=9) for i in range(self.k)]
        pax.set_ylim(0, 1.12)
        pax.set_title("probabilities softmax$(z / T)$", fontsize=10)
        self.pax = pax
        controls = {f"z{i}": slider(f"$z_{i}$", v, -5, 5) for i, v in enumerate(logits)}
        controls["temperature"] = slider("temperature $T$", temperature, -1, 1, step=0.02, log=True)
        controls["offset"] = slider("add to every logit", 0.0, 0, 1000, step=10)
        super().__init__(softmax, controls, fig)
        fewer_ticks(fig)

    def redraw(self, temperature, offset, **logits):
        z = np.array([logits[f"z{i}"] for i in range(self.k)]) / temperature
        for bar, value in zip(self.logit_bars, z):
            bar.set_height(value)
        probs = evaluate(self.function, (z + offset)[None, :]).reshape(-1)
        finite = np.all(np.isfinite(probs))
        for bar, text, p in zip(self.bars, self.texts, probs):
            bar.set_height(p if np.isfinite(p) else 0.0)
            text.set_y(p + 0.02 if np.isfinite(p) else 0.02)
            text.set_text(f"{p:.3f}" if np.isfinite(p) else "nan")
        total = float(np.sum(probs))
        self.pax.set_title(f"probabilities (sum {total:.3f})" if finite else
                           "your softmax returned nan or inf: did exp overflow?", fontsize=10,
                           color=plots.BLACK if finite else plots.RED)


def softmax_explorer(softmax, logits=(2.0, 1.0, 0.1, -1.0), temperature=1.0):
    """Move logits, temperature and a huge common offset; the bars show your softmax's probabilities."""
    return SoftmaxExplorer(softmax, logits, temperature).show()


# --- 3. gradients through a chain of units ----------------------------------------------------------
def chain_gradients(function, derivative, depth, w, x):
    """|d a_depth / d z_k| for k = 1..depth in a chain a_k = g(w a_{k-1}), a_0 = x (one unit per layer)."""
    a, slopes = float(x), []
    with np.errstate(all="ignore"):  # once around the loop: entering it costs more than a scalar step
        for _ in range(depth):
            z = w * a
            slopes.append(scalar(derivative(z)))
            a = scalar(function(z))
    # the gradient reaching layer k's pre-activation is g'(z_k) times (w g'(z_j)) for every later layer j
    later = np.cumprod(([1.0] + [w * s for s in reversed(slopes[1:])]))[::-1]
    return np.abs(np.array(slopes) * later)


class GradientDepth(LiveFigure):
    """A depth slider: how large the gradient is at every layer of a chain of sigmoid units vs ReLU units."""

    def __init__(self, sigmoid, sigmoid_grad, relu, relu_grad, depth=10, w=1.0, x=1.0, max_depth=40):
        functions = {"sigmoid": sigmoid, "sigmoid_grad": sigmoid_grad, "relu": relu, "relu_grad": relu_grad}
        fig, ax = plots.figure(figsize=(6.4, 3.4))
        self.ax = ax
        (self.sig_line,) = ax.plot([], [], marker="o", ms=3, color=plots.BLUE, label="sigmoid chain")
        (self.relu_line,) = ax.plot([], [], marker="s", ms=3, color=plots.ORANGE, label="ReLU chain")
        ax.set_yscale("log")
        ax.set_ylim(1e-25, 1e4)
        ax.set_xlim(0.5, max_depth + 0.5)
        ax.set_xlabel("layer $k$ (1 = first layer)")
        ax.set_ylabel("gradient size at layer $k$")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("gradient reaching layer 1:", loc="left", fontsize=10)  # fixed; the numbers go on the right
        controls = {"depth": slider("depth", depth, 1, max_depth, integer=True),
                    "w": slider("weight $w$", w, 0.25, 4, step=0.05), "x": slider("input $x$", x, 0.1, 3)}
        super().__init__(functions, controls, fig)
        fewer_ticks(fig)

    def redraw(self, depth, w, x):
        layers = np.arange(1, depth + 1)
        titles = []
        for line, name in ((self.sig_line, "sigmoid"), (self.relu_line, "relu")):
            try:
                grads = chain_gradients(partial(self.code.call, name), partial(self.code.call, name + "_grad"),
                                        depth, w, x)
            except StudentProblem:
                line.set_data([], [])
                continue
            line.set_data(layers, np.clip(grads, 1e-30, None))
            titles.append(f"{name} {grads[0]:.1e}")
        self.ax.set_title(", ".join(titles), loc="right", fontsize=10)


def gradient_depth(sigmoid, sigmoid_grad, relu, relu_grad, depth=10):
    """Slide the depth of a chain of units and compare the gradient size per layer, sigmoid vs ReLU."""
    return GradientDepth(sigmoid, sigmoid_grad, relu, relu_grad, depth).show()


def scalar(value):
    """A student's result for one number as a float (a NumPy scalar, a 0-d or one-element array, or a list)."""
    try:
        return float(value)
    except TypeError:
        return float(np.asarray(value, dtype=float))


# --- 4. training one neuron: saturation slows learning -----------------------------------------
def train_neuron(function, derivative, x, y, w0, b0, lr, num_epochs):
    """Gradient descent on the loss (a - y)^2 / 2 of one neuron a = g(w x + b); returns the loss per step."""
    w, b, losses = float(w0), float(b0), np.empty(num_epochs)
    with np.errstate(all="ignore"):  # once around the loop: entering it costs more than a scalar step
        for step in range(num_epochs):
            z = w * x + b
            a = scalar(function(z))
            losses[step] = 0.5 * (a - y) ** 2
            dz = (a - y) * scalar(derivative(z))
            w, b = w - lr * dz * x, b - lr * dz
            if not math.isfinite(w + b):  # math's test: a tenth of NumPy's cost on one number
                losses[step + 1:] = np.nan
                break
    return losses


class SaturationTrainer(LiveFigure):
    """Learning-rate and start sliders: the loss of one neuron trained with each activation, step by step."""

    def __init__(self, activations, x=1.0, y=0.2, lr=0.5, start=2.0, num_epochs=150):
        self.pairs = dict(activations)
        functions = {}
        for name, (function, derivative) in self.pairs.items():
            functions[name], functions[name + "'"] = function, derivative
        self.x, self.y, self.num_epochs = x, y, num_epochs
        fig, ax = plots.figure(figsize=(6.4, 3.4))
        self.ax = ax
        self.lines = {name: ax.plot([], [], color=color, lw=2, label=name)[0] for color, name in zip(PALETTE, self.pairs)}
        ax.set_yscale("log")
        ax.set_ylim(1e-8, 10)
        ax.set_xlim(0, num_epochs)
        ax.set_xlabel("training step")
        ax.set_ylabel("loss $(a - y)^2 / 2$")
        ax.legend(loc="lower left", fontsize=8)
        ax.set_title(f"target {y}, input {x}; final loss:", loc="left", fontsize=9)  # fixed; the numbers go right
        controls = {"lr": slider("learning rate", lr, -2, 0.3, step=0.05, log=True),
                    "start": slider("starting $w = b$", start, -3, 3)}
        super().__init__(functions, controls, fig)
        fewer_ticks(fig)

    def redraw(self, lr, start):
        steps, finals = np.arange(self.num_epochs), []
        for name, line in self.lines.items():
            try:
                losses = train_neuron(partial(self.code.call, name), partial(self.code.call, name + "'"), self.x,
                                      self.y, start, start, lr, self.num_epochs)
            except StudentProblem:
                line.set_data([], [])
                continue
            line.set_data(steps, np.clip(losses, 1e-12, None))
            finals.append(f"{name} {losses[-1]:.0e}")
        self.ax.set_title(" ".join(finals), loc="right", fontsize=9)


def saturation_trainer(activations, lr=0.5, start=2.0):
    """Train one neuron (input 1, target 0.2) with each activation; compare how fast the loss falls."""
    return SaturationTrainer(activations, lr=lr, start=start).show()
