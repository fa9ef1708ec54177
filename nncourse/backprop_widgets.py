"""Lesson 05 widgets: the worked example as a live computational graph, and a small training playground and a
one-weight nudge, both run on the student's backward pass.

Only functions from earlier lessons come from `nncourse.reference` (the forward pass, softmax, losses,
accuracy, initialisation); every gradient shown here comes from the student's own `train_step` or
`mlp_backward`.
"""
import time
from functools import cached_property

import ipywidgets as ipw
import numpy as np
from matplotlib.colors import LinearSegmentedColormap

from nncourse import data, plots
from nncourse import reference as ref
from nncourse.live import STEP_SECONDS, LiveFigure, slider

PROBABILITY_CMAP = LinearSegmentedColormap.from_list("class_probability", ["#9cc9e8", "#ffffff", "#f7d08a"])
GRID_STEPS = 50


def xor_cloud(n=200, noise=0.35, seed=0):
    """Points around the four corners (+-1, +-1); class 1 where the signs of x1 and x2 differ (XOR)."""
    rng = np.random.default_rng(seed)
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    which = np.arange(n) % 4
    X = corners[which] + rng.normal(scale=noise, size=(n, 2))
    return X, np.array([0, 1, 1, 0])[which]


def playground_data(n=200, seed=0):
    """The playground's datasets: name -> (X_train, y_train, X_test, y_test), all generated offline."""
    makers = {"moons": lambda s: data.moons(n, noise=0.2, seed=s),
              "circles": lambda s: data.circles(n, noise=0.1, factor=0.5, seed=s),
              "XOR": lambda s: xor_cloud(n, seed=s)}
    return {name: (*make(seed), *make(seed + 1)) for name, make in makers.items()}


class Playground(LiveFigure):
    """TensorFlow-Playground-style trainer: the epoch slider (or Play) trains the student's network live.

    Training runs forward from the epochs already done; moving the slider back restores a snapshot,
    and changing the data, learning rate, width or activation starts again from the same seeded weights.
    """

    def __init__(self, train_step, datasets=None, lr=0.5, hidden=8, activation="relu", max_epochs=1000,
                 epoch_step=25, seed=0, num_epochs=100):
        self.datasets = datasets or playground_data()
        self.seed, self.epoch_step = seed, epoch_step
        self.key, self.params, self.losses, self.snapshots = None, None, [], {}
        fig, (ax, curve_ax) = plots.figure(ncols=2, figsize=(8.4, 3.6))
        self.ax, self.curve_ax = ax, curve_ax
        self.region = ax.imshow(np.zeros((GRID_STEPS, GRID_STEPS)), origin="lower", cmap=PROBABILITY_CMAP,
                                vmin=0, vmax=1, aspect="auto", interpolation="bilinear")
        self.points = [ax.scatter([], [], s=18, c=plots.CLASS_COLORS[k], marker=plots.class_marker(k),
                                  edgecolors="white", linewidths=0.4, zorder=3, label=f"class {k}") for k in (0, 1)]
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.legend(loc="upper right", fontsize=8)
        (self.curve,) = curve_ax.plot([], [], color=plots.RED, lw=1.5, label="training loss")
        curve_ax.set_xlabel("epoch")
        curve_ax.set_ylabel("mean cross-entropy")
        self.shown = None
        self.progress = ipw.IntProgress(value=0, min=0, max=max_epochs, description="trained",
                                        layout=ipw.Layout(width="260px"))
        self.speed = ipw.Label()
        controls = {
            "dataset": ipw.Dropdown(options=list(self.datasets), description="data", layout=ipw.Layout(width="170px")),
            "lr": slider("learning rate", lr, -3, 0.5, step=0.05, log=True),
            "hidden": slider("hidden units", hidden, 1, 32, integer=True, continuous=False),
            "activation": ipw.Dropdown(options=list(ref.ACTIVATIONS), value=activation, description="activation",
                                       layout=ipw.Layout(width="190px")),
            "num_epochs": slider("epochs", num_epochs, 0, max_epochs, step=epoch_step, integer=True),
        }
        self.play = ipw.Play(value=num_epochs, min=0, max=max_epochs, step=epoch_step, interval=120, description="train")
        ipw.jslink((self.play, "value"), (controls["num_epochs"], "value"))
        self.show_dataset(next(iter(self.datasets)))
        super().__init__(train_step, controls, fig)

    def show_dataset(self, name):
        """Move the points, grid and limits to another dataset."""
        X, y = self.datasets[name][:2]
        self.grid, extent = plots.grid_over(X, margin=0.4, steps=GRID_STEPS)
        for k, points in enumerate(self.points):
            points.set_offsets(X[y == k])
        self.region.set_extent(extent)
        self.ax.set_xlim(extent[:2])
        self.ax.set_ylim(extent[2:])
        self.shown = name

    def restart(self, key):
        """Fresh seeded weights for this (dataset, lr, hidden, activation); the loss at epoch 0 uses a zero step."""
        dataset, _, hidden, activation = key
        X, y = self.datasets[dataset][:2]
        start = ref.init_params([2, hidden, 2], seed=self.seed)
        _, loss = self.function(X, y, start, 0.0, activation)  # the loss at epoch 0; surfaces NotImplementedError
        self.key, self.params, self.snapshots, self.losses = key, start, {0: start}, [float(loss)]

    def train_to(self, num_epochs, seconds=float("inf")):
        """Train towards exactly num_epochs epochs (full batch, the student's train_step) for at most `seconds`.

        Returns the epoch reached. Moving back restores the nearest snapshot at or before num_epochs."""
        dataset, lr, _, activation = self.key
        X, y = self.datasets[dataset][:2]
        done = len(self.losses) - 1
        if num_epochs < done:
            done = max(epoch for epoch in self.snapshots if epoch <= num_epochs)
            self.params, self.losses = self.snapshots[done], self.losses[:done + 1]
        start, began = done, time.perf_counter()
        while done < num_epochs and time.perf_counter() - began < seconds:
            self.params, loss = self.function(X, y, self.params, lr, activation)
            self.losses[-1] = float(loss)  # train_step returns the loss *before* its update
            done += 1
            self.losses.append(self.losses[-1])
            if done % self.epoch_step == 0:
                self.snapshots[done] = self.params
        if done > start:  # the loss after the last step is measured with one more forward pass
            probs = ref.mlp_forward(X, self.params, activation)[0]
            self.losses[-1] = ref.categorical_cross_entropy(y, probs)
        self.progress.value = done
        return done

    def redraw(self, dataset, lr, hidden, activation, num_epochs):
        """Train in chunks of about STEP_SECONDS towards num_epochs, showing the network after each chunk."""
        if dataset != self.shown:
            self.show_dataset(dataset)
        key, began = (dataset, lr, hidden, activation), time.perf_counter()
        with np.errstate(all="ignore"):  # a too-large learning rate may overflow; the title says so instead
            if key != self.key:
                self.key = None
                self.restart(key)
        start = len(self.losses) - 1
        while True:
            with np.errstate(all="ignore"):
                reached = self.train_to(num_epochs, STEP_SECONDS)
                self.show_network(reached, num_epochs)
            if reached == num_epochs:
                trained = max(reached - start, 0)
                self.speed.value = (f"last update trained {trained} epochs in "
                                    f"{(time.perf_counter() - began) * 1e3:.0f} ms") if trained else ""
                return
            yield

    def show_network(self, epoch, num_epochs):
        """Decision region, accuracies and loss curve of the network at this epoch."""
        dataset, _, _, activation = self.key
        X, y, X_test, y_test = self.datasets[dataset]
        probs = ref.mlp_forward(self.grid, self.params, activation)[0][:, 1]
        self.region.set_data(probs.reshape(GRID_STEPS, GRID_STEPS))
        train_acc = ref.accuracy(y, ref.predict(X, self.params, activation))
        test_acc = ref.accuracy(y_test, ref.predict(X_test, self.params, activation))
        losses = np.asarray(self.losses, dtype=float)
        self.curve.set_data(np.arange(len(losses)), losses)
        finite = losses[np.isfinite(losses)]
        self.curve_ax.set_xlim(0, plots.nice_ceiling(max(num_epochs, self.epoch_step)))
        self.curve_ax.set_ylim(0, plots.nice_ceiling(max(float(finite.max()) * 1.05 if finite.size else 1.0, 0.1)))
        if not np.isfinite(losses[-1]):
            self.ax.set_title("the loss blew up (nan/inf): lower the learning rate", fontsize=10)
        else:
            self.ax.set_title(f"epoch {epoch}: train {train_acc:.0%}, held-out {test_acc:.0%}", fontsize=10)
        self.curve_ax.set_title(f"loss {losses[-1]:.4f}", fontsize=10)

    @cached_property
    def widget(self):
        """Controls (with a Play button that advances the epoch slider), progress, status and the figure."""
        row = ipw.HBox(list(self.controls.values()) + [self.play], layout=ipw.Layout(flex_flow="row wrap"))
        return ipw.VBox([row, ipw.HBox([self.progress, self.speed]), self.status, self.view])


def playground(train_step, lr=0.5, hidden=8, activation="relu", max_epochs=1000, num_epochs=100):
    """Train `train_step(X, y, params, lr, activation)` live on moons, circles or XOR; press Play or drag epochs."""
    return Playground(train_step, lr=lr, hidden=hidden, activation=activation, max_epochs=max_epochs,
                      num_epochs=num_epochs).show()


class WeightNudge(LiveFigure):
    """Move one weight by delta: the true change of the loss against the gradient's straight-line prediction."""

    def __init__(self, mlp_backward, X, y, params, activation="relu", weights=None, span=2.0):
        self.X, self.y, self.activation = np.asarray(X, dtype=float), np.asarray(y), activation
        self.params = [(np.array(W, dtype=float), np.array(b, dtype=float)) for W, b in params]
        self.base_loss = self.loss(self.params)
        self.deltas = np.linspace(-span, span, 81)
        self.weights = weights or {f"W{k + 1}[0, 0]": (k, 0, 0) for k in range(len(self.params))}
        self.actual_curves, self.grads = {}, None
        fig, ax = plots.figure(figsize=(5.4, 3.6))
        self.ax = ax
        (self.actual,) = ax.plot(self.deltas, np.zeros_like(self.deltas), color=plots.BLUE, lw=2,
                                 label=r"true change $L(w+\delta) - L(w)$")
        (self.predicted,) = ax.plot(self.deltas, np.zeros_like(self.deltas), color=plots.ORANGE, lw=2, ls="--",
                                    label=r"prediction $\delta \cdot \partial L / \partial w$")
        (self.marks,) = ax.plot([0, 0], [0, 0], ls="none", marker="o", ms=7, color=plots.BLACK)
        ax.axhline(0, color=plots.BLACK, lw=0.6)
        ax.set_xlabel(r"nudge $\delta$ added to the weight")
        ax.set_ylabel("change of the loss")
        ax.legend(loc="upper center", fontsize=8)
        controls = {"weight": ipw.Dropdown(options=list(self.weights), description="weight",
                                           layout=ipw.Layout(width="170px")),
                    "delta": slider(r"$\delta$", 0.0, -span, span, step=0.02)}
        ax.set_title("\n", fontsize=10)  # reserve room for the two-line title before the layout is frozen
        super().__init__(mlp_backward, controls, fig)

    def loss(self, params):
        """Mean cross-entropy of the network on the widget's data."""
        return ref.categorical_cross_entropy(self.y, ref.mlp_forward(self.X, params, self.activation)[0])

    def nudged(self, where, delta):
        """The parameters with weight `where` = (layer, row, column) increased by delta."""
        layer, i, j = where
        params = list(self.params)
        W = params[layer][0].copy()
        W[i, j] += delta
        params[layer] = (W, params[layer][1])
        return params

    def actual_curve(self, name):
        """True loss changes over the slider's range for one weight (computed once per weight)."""
        if name not in self.actual_curves:
            where = self.weights[name]
            self.actual_curves[name] = np.array([self.loss(self.nudged(where, d)) for d in self.deltas]) - self.base_loss
        return self.actual_curves[name]

    def gradient(self, where):
        """dL/dw for one weight from the student's mlp_backward (one backward pass, then cached)."""
        if self.grads is None:
            probs, cache = ref.mlp_forward(self.X, self.params, self.activation)
            grads = self.function(probs, self.y, cache, self.params, self.activation)
            self.grads = [np.asarray(dW, dtype=float) for dW, _ in grads]
        layer, i, j = where
        return float(self.grads[layer][i, j])

    def redraw(self, weight, delta):
        where = self.weights[weight]
        slope = self.gradient(where)
        curve = self.actual_curve(weight)
        self.actual.set_ydata(curve)
        self.predicted.set_ydata(slope * self.deltas)
        true_change = self.loss(self.nudged(where, delta)) - self.base_loss
        self.marks.set_data([delta, delta], [true_change, slope * delta])
        low, high = float(min(curve.min(), 0.0)), float(max(curve.max(), 0.0))
        pad = 0.1 * (high - low) + 1e-3
        self.ax.set_ylim(low - pad, high + pad)
        self.ax.set_title(f"{weight}: dL/dw = {slope:+.4f}\n"
                          f"true change {true_change:+.5f}, predicted {slope * delta:+.5f}", fontsize=10)


def weight_nudge(mlp_backward, X, y, params, activation="relu", weights=None):
    """Nudge one weight with a slider and compare the loss change with `mlp_backward`'s gradient times the nudge."""
    return WeightNudge(mlp_backward, X, y, params, activation, weights).show()


# --- the worked example as a computational graph --------------------------------------------------
def chain_example(x, w, b, y=1.0):
    """Forward values and backward gradients of z = w x + b, a = sigmoid(z), L = (a - y)^2, as plain floats.

    "dL/dz" and the like are derivatives of L; "da/dz" and the like are the local derivatives on the edges,
    whose products along a path give them (the chain rule).
    """
    z = w * x + b
    a = float(ref.sigmoid(z))
    L = (a - y) ** 2
    dL_da, da_dz = 2 * (a - y), a * (1 - a)
    dL_dz = dL_da * da_dz
    return {"x": float(x), "w": float(w), "b": float(b), "y": float(y), "z": float(z), "a": a, "L": float(L),
            "dL/dL": 1.0, "dL/da": dL_da, "da/dz": da_dz, "dL/dz": dL_dz, "dz/dw": float(x), "dz/dx": float(w),
            "dz/db": 1.0, "dL/dw": dL_dz * x, "dL/dx": dL_dz * w, "dL/db": dL_dz}


GRAPH_NODES = {  # name: (position, how the forward value is shown)
    "x": ((0.0, 2.0), "x = {x:.2f}"), "w": ((0.0, 1.0), "w = {w:.2f}"), "b": ((0.0, 0.0), "b = {b:.2f}"),
    "z": ((2.3, 1.0), "z = wx + b\n= {z:.4f}"), "a": ((4.6, 1.0), "a = σ(z)\n= {a:.4f}"),
    "L": ((6.9, 1.0), "L = (a − y)², y = {y:g}\n= {L:.4f}"),
}
GRAPH_EDGES = {  # (from, to): how the local derivative on the edge is shown
    ("x", "z"): "∂z/∂x = w = {dz/dx:.2f}", ("w", "z"): "∂z/∂w = x = {dz/dw:.2f}", ("b", "z"): "∂z/∂b = 1",
    ("z", "a"): "∂a/∂z = a(1 − a)\n= {da/dz:.4f}", ("a", "L"): "∂L/∂a = 2(a − y)\n= {dL/da:.4f}",
}


def split_label(label):
    """(fixed, moving) parts of a graph label: a formula line above the value stays, a constant label is all fixed.

    Both parts keep the label's two lines (one of them empty), so each line lands where the whole label puts it."""
    if "{" not in label:
        return label, ""
    formula, _, value = label.rpartition("\n")
    return (formula + "\n", "\n" + value) if formula else ("", label)


class ComputationGraph(LiveFigure):
    """The lesson's worked example drawn as a graph: forward values on the nodes (blue), the gradient of L
    at every node (red) and the local derivatives on the edges; sliders move the input x, the weight w and b."""

    def __init__(self, x=1.5, w=0.8, b=-0.2, y=1.0):
        self.y = y
        fig, ax = plots.figure(figsize=(8.6, 3.4))
        self.ax = ax
        ax.set_xlim(-0.8, 7.9)
        ax.set_ylim(-0.75, 2.75)
        ax.axis("off")
        box = dict(boxstyle="round,pad=0.35", fc="white", ec=plots.BLACK, lw=0.9)
        # Each box is drawn once, around an invisible label as wide as any value makes it, with the label's formula
        # line; only the value line moves.
        widest = {key: -8.8888 for key in chain_example(x, w, b, y)} | {"z": -18.8888, "y": y}  # |z| <= 12
        self.labels, self.grads = {}, {}  # labels: {node name or edge: (fixed text, moving text, its format)}
        for name, ((px, py), label) in GRAPH_NODES.items():
            ax.text(px, py, label.format(**widest), ha="center", va="center", fontsize=9, color="none", bbox=box,
                    zorder=2)
            self.labels[name] = self.label(label, widest, (px, py), zorder=2, ha="center", va="center",
                                           fontsize=9, color=plots.BLUE)
            self.grads[name] = ax.text(px, py - 0.5, "", ha="center", va="top", fontsize=9, color=plots.RED,
                                       zorder=3)
        for (start, end), label in GRAPH_EDGES.items():
            (x0, y0), (x1, y1) = GRAPH_NODES[start][0], GRAPH_NODES[end][0]
            tail, head = np.array([x0 + 0.45, y0]), np.array([x1 - 0.6, y1 + 0.12 * (y0 - y1)])
            ax.annotate("", xy=head, xytext=tail, arrowprops=dict(arrowstyle="->", color="0.45", lw=1.1), zorder=1)
            where = tail + (0.45 if y0 != y1 else 0.5) * (head - tail)
            ax.text(where[0], where[1] + 0.08, label.format(**widest), ha="center", va="bottom", fontsize=8,
                    color="none", zorder=2, bbox=dict(fc="white", ec="none", pad=0.5))
            self.labels[(start, end)] = self.label(label, widest, (where[0], where[1] + 0.08), zorder=2,
                                                   ha="center", va="bottom", fontsize=8, color="0.3")
        ax.set_title("forward values (blue) flow right; the gradient of L (red) flows back left, "
                     "multiplied by each edge's local derivative", fontsize=9)
        controls = {"x": slider("input x", x, -3.0, 3.0, step=0.1), "w": slider("weight w", w, -3.0, 3.0, step=0.1),
                    "b": slider("bias b", b, -3.0, 3.0, step=0.1)}
        super().__init__(None, controls, fig)

    def label(self, label, widest, where, zorder, **style):
        """The fixed text of a label (drawn into the background) and its moving one, above the box at `zorder`."""
        fixed, moving = split_label(label)
        return (self.ax.text(*where, fixed.format(**widest), zorder=zorder, **style),
                self.ax.text(*where, "", zorder=zorder + 1, **style), moving)

    def shown(self, key):
        """The text a node (by name) or an edge (start, end) shows: its fixed and moving lines together."""
        fixed, moving, _ = self.labels[key]
        parts = [text.get_text().split("\n") for text in (fixed, moving) if text.get_text()]
        return "\n".join(max(lines, key=len) for lines in zip(*parts))

    def redraw(self, x, w, b):
        values = chain_example(x, w, b, self.y)
        for _, text, moving in self.labels.values():
            text.set_text(moving.format(**values))
        for name, text in self.grads.items():
            text.set_text(f"∂L/∂{name} = {values['dL/d' + name]:+.4f}")


def computation_graph(x=1.5, w=0.8, b=-0.2, y=1.0):
    """The worked example z = w x + b, a = sigmoid(z), L = (a - y)^2 as a live graph with x, w and b sliders."""
    return ComputationGraph(x, w, b, y).show()
