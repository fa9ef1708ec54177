"""Lesson 03 widgets and small demos: solve XOR by hand, watch initialisation through depth, classify digits.

Every widget takes the student's own functions (dense_forward, init_params, mlp_forward, predict) and
shows "implement X above" until they work. The lesson's demos of universal approximation and of
depth (piecewise-linear functions built from ReLUs) live here too, so the tests can check them.
"""
import ipywidgets as ipw
import numpy as np
from matplotlib.collections import PolyCollection

from nncourse import plots, reference
from nncourse.live import LiveFigure, slider

HIDDEN = {"relu": reference.relu, "tanh": reference.tanh, "sigmoid": reference.sigmoid}


# --- 1. XOR by hand -------------------------------------------------------------------------------
XOR_CONTROLS = (("w11", "$W^{[1]}_{11}$"), ("w21", "$W^{[1]}_{21}$"), ("b1", "$b^{[1]}_1$"),
                ("w12", "$W^{[1]}_{12}$"), ("w22", "$W^{[1]}_{22}$"), ("b2", "$b^{[1]}_2$"),
                ("v1", "$W^{[2]}_{1}$"), ("v2", "$W^{[2]}_{2}$"), ("c", "$b^{[2]}$"))


def xor_network(dense_forward, X, W1, b1, W2, b2):
    """The 2-2-1 network of the lesson: relu hidden layer, then one output logit per example (m,)."""
    hidden = reference.relu(np.asarray(dense_forward(X, W1, b1), dtype=float))
    return np.asarray(dense_forward(hidden, W2, b2), dtype=float).reshape(len(X))


class XorExplorer(LiveFigure):
    """Nine sliders, one per weight and bias of a 2-2-1 ReLU network; the regions it calls 1 are shaded."""

    STEPS = 60

    def __init__(self, dense_forward, X, y, start=(1, 1, 0, 1, 1, 0, 1, 1, -0.5)):
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y)
        self.grid, self.extent = plots.grid_over(self.X, margin=0.5, steps=self.STEPS)
        fig, ax = plots.figure(figsize=(4.2, 3.6))
        self.ax = ax
        self.region = ax.imshow(np.zeros((self.STEPS, self.STEPS)), extent=self.extent, origin="lower",
                                cmap=plots.region_cmap(), vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        self.unit_lines = [ax.plot([], [], ls="--", lw=1.5, color=color)[0] for color in (plots.GREEN, plots.PINK)]
        plots.scatter_classes(ax, self.X, self.y, labels=["XOR = 0", "XOR = 1"])
        ax.set_xlim(self.extent[:2])
        ax.set_ylim(self.extent[2:])
        ax.set_xticks([0, 1])
        ax.set_yticks([0, 1])
        self.labels = [ax.annotate("", xy, xytext=(6, 6), textcoords="offset points", fontsize=9) for xy in self.X]
        self.title = ax.set_title("", fontsize=10)
        controls = {name: slider(label, value, -3, 3, step=0.1) for (name, label), value in zip(XOR_CONTROLS, start)}
        super().__init__(dense_forward, controls, fig)

    def redraw(self, w11, w21, b1, w12, w22, b2, v1, v2, c):
        W1, hidden_b = np.array([[w11, w12], [w21, w22]]), np.array([b1, b2])
        W2, out_b = np.array([[v1], [v2]]), np.array([c])
        logits = xor_network(self.function, self.X, W1, hidden_b, W2, out_b)
        region = xor_network(self.function, self.grid, W1, hidden_b, W2, out_b)
        self.region.set_data((region > 0).reshape(self.STEPS, self.STEPS))
        for line, column, bias in zip(self.unit_lines, W1.T, hidden_b):
            line.set_data(*plots.boundary_line(column, bias, self.extent))
        probabilities = reference.sigmoid(logits)
        for text, p in zip(self.labels, probabilities):
            text.set_text(f"{p:.2f}")
        correct = int(np.sum((logits > 0) == (self.y == 1)))
        self.title.set_text(f"{correct} of {len(self.y)} correct" + ("  - XOR solved!" if correct == len(self.y) else ""))


def xor_explorer(dense_forward, X, y, start=(1, 1, 0, 1, 1, 0, 1, 1, -0.5)):
    """Drag the 9 parameters of a 2-2-1 ReLU network (built with `dense_forward`) until it computes XOR."""
    return XorExplorer(dense_forward, X, y, start).show()


# --- 2. initialisation through depth ----------------------------------------------------------------
def layer_activations(init_params, dense_forward, X, sizes, scheme, gain, activation, seed=0):
    """Activations of every hidden layer of a deep net initialised by `init_params` with weights times gain."""
    g = HIDDEN[activation]
    A, outputs = X, []
    for W, b in init_params(sizes, scheme, seed):
        A = g(np.asarray(dense_forward(A, gain * np.asarray(W, dtype=float), b), dtype=float))
        outputs.append(A)
    return outputs


class InitExplorer(LiveFigure):
    """Per-layer activation histograms of a deep net (stacked rows, one per layer) as the initial weight scale changes."""

    BINS = 24
    ROW = 1.2  # vertical distance between two layers' histograms; a bar of height 1 holds every unit
    RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "relu": (0.0, 3.0)}

    def __init__(self, init_params, dense_forward, depth=10, width=64, batch=128, shown=(1, 2, 4, 6, 8, 10), seed=0):
        self.sizes = [width] * (depth + 1)
        self.X = np.random.default_rng(seed).normal(size=(batch, width))
        self.shown = [layer for layer in shown if layer <= depth]
        fig, (ax, std_ax) = plots.figure(ncols=2, figsize=(8.0, 3.4), gridspec_kw={"width_ratios": [1.4, 1]})
        self.ax, self.std_ax = ax, std_ax
        bottoms = self.ROW * np.arange(len(self.shown))[::-1]
        self.bottoms = bottoms
        # every bar of every row in one artist: a frame draws one collection, not one rectangle per bin
        self.histograms = PolyCollection(self.bar_corners(np.zeros((len(self.shown), self.BINS))),
                                         facecolors=plots.BLUE, edgecolors="white", linewidths=0.3)
        ax.add_collection(self.histograms)
        ax.set_xlim(0, self.BINS)
        ax.set_ylim(-0.1, bottoms[0] + self.ROW)
        ax.set_yticks(bottoms + 0.3, [f"layer {layer}" for layer in self.shown], fontsize=8)
        ax.set_xticks([0, self.BINS / 2, self.BINS])
        ax.grid(False)
        self.title = ax.set_title("", fontsize=9)
        self.depths = np.arange(1, depth + 1)
        (self.std_line,) = std_ax.plot(self.depths, np.ones(depth), marker="o", ms=3, color=plots.RED)
        std_ax.set_yscale("log")
        std_ax.set_ylim(1e-6, 1e6)
        std_ax.set_yticks([1e-6, 1e-3, 1, 1e3, 1e6])
        std_ax.minorticks_off()
        std_ax.set_xlim(0.5, depth + 0.5)
        std_ax.set_xticks([1, depth // 2, depth])
        std_ax.set_xlabel("layer", fontsize=8)
        std_ax.set_title("std of the activations", fontsize=9)
        self.range_shown = None
        controls = {
            "activation": ipw.Dropdown(options=list(HIDDEN), value="tanh", description="activation",
                                       layout=ipw.Layout(width="180px")),
            "scheme": ipw.Dropdown(options=["xavier", "he"], value="xavier", description="init",
                                   layout=ipw.Layout(width="150px")),
            "gain": slider("weights x", 1.0, -1.5, 1.0, step=0.05, log=True),
        }
        super().__init__({"init_params": init_params, "dense_forward": dense_forward}, controls, fig)

    def bar_corners(self, heights):
        """The four corners of every bar: heights[row, bin] drawn upwards from that row's bottom."""
        rows, bins = heights.shape
        left = np.broadcast_to(np.arange(bins, dtype=float), (rows, bins))
        low = np.broadcast_to(self.bottoms[:rows, None], (rows, bins))
        high = low + heights
        corners = [(left, low), (left + 1, low), (left + 1, high), (left, high)]
        return np.stack([np.stack(xy, axis=-1) for xy in corners], axis=2).reshape(rows * bins, 4, 2)

    def show_range(self, activation):
        """Relabel the histogram x axis for this activation's value range (only when it changes)."""
        lo, hi = self.RANGES[activation]
        self.ax.set_xticklabels([f"{lo:g}", f"{(lo + hi) / 2:g}", f"{hi:g}" + ("+" if activation == "relu" else "")],
                                fontsize=8)
        self.range_shown = activation

    def redraw(self, activation, scheme, gain):
        if activation != self.range_shown:
            self.show_range(activation)
        outputs = layer_activations(self.code.init_params, self.code.dense_forward, self.X, self.sizes, scheme, gain, activation)
        lo, hi = self.RANGES[activation]
        counts = []
        for layer in self.shown:
            values = np.clip(outputs[layer - 1].ravel(), lo, hi)  # relu: the last bin collects everything above hi
            counts.append(np.bincount(np.minimum(((values - lo) / (hi - lo) * self.BINS).astype(int), self.BINS - 1),
                                      minlength=self.BINS) / values.size)
        self.histograms.set_verts(self.bar_corners(np.array(counts)))
        stds = np.array([max(A.std(), 1e-12) for A in outputs])
        self.std_line.set_ydata(np.clip(stds, 1e-6, 1e6))
        self.title.set_text(f"{activation}, {scheme} x {gain:.2g}: last layer std {stds[-1]:.2g}")


def init_explorer(init_params, dense_forward, depth=10, width=64):
    """Scale the weights your `init_params` draws and watch each layer's activations collapse or explode."""
    return InitExplorer(init_params, dense_forward, depth, width).show()


# --- 3. a forward pass on the digits --------------------------------------------------------------
def fit_output_layer(hidden, y, num_classes, target=6.0, ridge=1e-3):
    """Weights (W, b) of a last layer whose logits approach `target` for the true class and 0 elsewhere.

    A least-squares shortcut (no gradient descent yet) so the digits demo has a trained-looking net.
    """
    H = np.column_stack([hidden, np.ones(len(hidden))])
    T = target * np.eye(num_classes)[np.asarray(y, dtype=int)]
    Wb = np.linalg.solve(H.T @ H + ridge * np.eye(H.shape[1]), H.T @ T)
    return Wb[:-1], Wb[-1]


class DigitsExplorer(LiveFigure):
    """Pick a held-out digit: the image, and the ten probabilities your mlp_forward gives it."""

    def __init__(self, init_params, mlp_forward, predict, X, y, hidden=64, num_train=1000, seed=0):
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y)
        self.num_train, self.hidden, self.seed = num_train, hidden, seed
        self.nets = {}
        fig, (image_ax, bar_ax) = plots.figure(ncols=2, figsize=(7.0, 2.8), gridspec_kw={"width_ratios": [1, 2.2]})
        self.image = image_ax.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        image_ax.set_xticks([])
        image_ax.set_yticks([])
        image_ax.grid(False)
        self.image_title = image_ax.set_title("", fontsize=9)
        self.bars = bar_ax.bar(np.arange(10), np.zeros(10), color=plots.SKY)
        bar_ax.set_xticks(np.arange(10))
        bar_ax.set_ylim(0, 1.05)
        bar_ax.set_xlabel("digit")
        bar_ax.set_ylabel("probability")
        self.bar_title = bar_ax.set_title("", fontsize=9)
        held_out = len(self.X) - num_train
        controls = {
            "weights": ipw.Dropdown(options=["random (untrained)", "last layer fitted"], value="last layer fitted",
                                    description="weights", layout=ipw.Layout(width="260px")),
            "index": slider("held-out example", 0, 0, held_out - 1, integer=True),
        }
        super().__init__({"init_params": init_params, "mlp_forward": mlp_forward, "predict": predict}, controls, fig)

    def network(self, weights):
        """The params for this choice of weights and their held-out predictions, built once and cached."""
        init_params, mlp_forward, predict = self.code.init_params, self.code.mlp_forward, self.code.predict
        if weights not in self.nets:
            params = init_params([64, self.hidden, 10], "he", self.seed)
            if weights == "last layer fitted":
                _, cache = mlp_forward(self.X[:self.num_train], params)
                params = [params[0], fit_output_layer(cache[-1][0], self.y[:self.num_train], 10)]
            labels = np.asarray(predict(self.X[self.num_train:], params)).reshape(-1)
            self.nets[weights] = params, float(np.mean(labels == self.y[self.num_train:]))
        return self.nets[weights]

    def redraw(self, weights, index):
        params, accuracy = self.network(weights)
        example = self.num_train + index
        probs, _ = self.code.mlp_forward(self.X[example:example + 1], params)
        probs = np.asarray(probs, dtype=float).reshape(-1)
        guess = int(np.argmax(probs))
        self.image.set_data(self.X[example].reshape(8, 8))
        self.image_title.set_text(f"true label: {self.y[example]}")
        for digit, (bar, p) in enumerate(zip(self.bars, probs)):
            bar.set_height(p)
            bar.set_color(plots.GREEN if digit == self.y[example] else (plots.RED if digit == guess else plots.SKY))
        self.bar_title.set_text(f"predicted {guess} (p = {probs[guess]:.2f}); "
                                f"held-out accuracy {accuracy:.1%}")


def digits_explorer(init_params, mlp_forward, predict, X, y, hidden=64):
    """A 64-hidden-10 net on the 8x8 digits: choose an example and see your mlp_forward's probabilities."""
    return DigitsExplorer(init_params, mlp_forward, predict, X, y, hidden).show()


# --- demos: universal approximation and depth ------------------------------------------------------
def relu_interpolant(f, knots):
    """One hidden layer of ReLUs, (W1, b1, W2, b2), joining the points (k, f(k)) with straight lines.

    Unit j computes relu(x - knot_j); its output weight is the change of slope at that knot.
    """
    knots = np.asarray(knots, dtype=float)
    values = f(knots)
    slopes = np.diff(values) / np.diff(knots)
    W1, b1 = np.ones((1, len(knots) - 1)), -knots[:-1]
    W2 = np.diff(slopes, prepend=0.0).reshape(-1, 1)
    return W1, b1, W2, np.array([values[0]])


def one_hidden_layer(x, W1, b1, W2, b2):
    """Output of a 1-hidden-layer ReLU network for a column of inputs x (m,) -> (m,)."""
    return (reference.relu(x.reshape(-1, 1) @ W1 + b1) @ W2 + b2).ravel()


def tent(x):
    """The tent map on [0, 1] written with two ReLU units: 2 relu(x) - 4 relu(x - 1/2)."""
    return 2 * reference.relu(x) - 4 * reference.relu(x - 0.5)


def linear_pieces(values, x):
    """Number of straight pieces of a piecewise-linear function sampled at x (counts slope changes)."""
    slopes = np.diff(values) / np.diff(x)
    return 1 + int(np.sum(~np.isclose(slopes[1:], slopes[:-1], atol=1e-6)))


def network_diagram(sizes, names=None):
    """A static picture of a dense network (one column of circles per layer, neighbours all joined), ready to display."""
    from matplotlib.collections import LineCollection

    fig, ax = plots.figure(figsize=(1.5 * len(sizes) + 1.0, 3.0))
    ys = [np.linspace(-1, 1, n) * min(1.0, n / 8) for n in sizes]
    segments = [[(i, y0), (i + 1, y1)] for i in range(len(sizes) - 1) for y0 in ys[i] for y1 in ys[i + 1]]
    ax.add_collection(LineCollection(segments, colors=plots.BLACK, linewidths=0.4, alpha=0.35))
    names = names or ["input"] + ["hidden"] * (len(sizes) - 2) + ["output"]
    colors = [plots.SKY] + [plots.ORANGE] * (len(sizes) - 2) + [plots.GREEN]
    for i, (column, n, name, color) in enumerate(zip(ys, sizes, names, colors)):
        ax.scatter(np.full(n, i), column, s=140, c=color, edgecolors=plots.BLACK, linewidths=0.8, zorder=3)
        ax.text(i, -1.35, f"{name}\n{n} units", ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-1.9, 1.2)
    ax.axis("off")
    return fig
