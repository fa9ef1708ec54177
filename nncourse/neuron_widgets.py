"""Lesson 01 widgets: the neuron's decision boundary and perceptron training, live."""
import ipywidgets as ipw
import numpy as np
from matplotlib.lines import Line2D

from nncourse import plots
from nncourse.live import LiveFigure, slider


class NeuronExplorer(LiveFigure):
    """Sliders for w1, w2 and b: the neuron's decision region, boundary line and outputs on the points."""

    def __init__(self, neuron_batch, X, y, w=(1.0, 1.0), b=-1.5):
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y)
        self.grid, extent = plots.grid_over(self.X, steps=60)
        fig, ax = plots.figure(figsize=(4.6, 3.8))
        self.ax, self.extent = ax, extent
        self.region = ax.imshow(np.zeros((60, 60)), extent=extent, origin="lower", cmap=plots.region_cmap(),
                                vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        (self.line,) = ax.plot([], [], color=plots.BLACK, lw=2, label="boundary $z = 0$")
        plots.scatter_classes(ax, self.X, self.y)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        self.labels = [ax.annotate("", xy, xytext=(6, 6), textcoords="offset points", fontsize=9)
                       for xy in self.X] if len(self.X) <= 8 else []
        handles = ax.get_legend_handles_labels()[0] + [Line2D([], [], ls="none", label="numbers: output ŷ")
                                                       for _ in self.labels[:1]]
        fig.legend(handles=handles, loc="outside right upper", fontsize=8)  # outside the axes: never redrawn
        controls = {"w1": slider("$w_1$", w[0], -3, 3), "w2": slider("$w_2$", w[1], -3, 3), "b": slider("$b$", b, -4, 4)}
        super().__init__(neuron_batch, controls, fig)

    def redraw(self, w1, w2, b):
        w = np.array([w1, w2])
        outputs = np.asarray(self.function(self.X, w, b), dtype=float).reshape(-1)
        region = np.asarray(self.function(self.grid, w, b), dtype=float).reshape(self.region.get_array().shape)
        self.region.set_data(region >= 0.5)
        self.line.set_data(*plots.boundary_line(w, b, self.extent))
        for text, output in zip(self.labels, outputs):
            text.set_text(f"{output:.2g}")  # text is slow to draw: ŷ is named once, in the legend
        correct = int(np.sum((outputs >= 0.5) == self.y))
        self.ax.set_title(f"w=({w1:.3g}, {w2:.3g}), b={b:.3g}: {correct} of {len(self.y)} correct", fontsize=10)


def neuron_explorer(neuron_batch, X, y, w=(1.0, 1.0), b=-1.5):
    """Drag w1, w2 and b and watch the decision boundary of `neuron_batch(X, w, b)` move over the points."""
    return NeuronExplorer(neuron_batch, X, y, w, b).show()


class PerceptronTrainer(LiveFigure):
    """Sliders for the dataset, learning rate and epochs: the trained boundary and the errors per epoch."""

    def __init__(self, train_perceptron, datasets, lr=0.1, num_epochs=10, max_epochs=30, w0=(-1.0, 0.5), b0=0.5):
        self.w0, self.b0 = np.array(w0, dtype=float), b0
        self.datasets = {name: (np.asarray(X, dtype=float), np.asarray(y)) for name, (X, y) in datasets.items()}
        fig, (ax, curve_ax) = plots.figure(ncols=2, figsize=(8.0, 3.4))
        self.ax, self.curve_ax = ax, curve_ax
        self.region = ax.imshow(np.zeros((60, 60)), origin="lower", cmap=plots.region_cmap(), vmin=0, vmax=1,
                                aspect="auto", interpolation="nearest")
        (self.line,) = ax.plot([], [], color=plots.BLACK, lw=2)
        self.points = [ax.scatter([], [], s=40, c=plots.CLASS_COLORS[k], marker=plots.class_marker(k),
                                  edgecolors="white", linewidths=0.6, zorder=3, label=f"class {k}") for k in (0, 1)]
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        (self.curve,) = curve_ax.plot([], [], marker="o", ms=3, color=plots.RED)
        curve_ax.set_xlabel("epoch")
        curve_ax.set_ylabel("misclassified examples")
        curve_ax.set_xlim(0.5, max_epochs + 0.5)
        self.shown = None
        controls = {
            "dataset": ipw.Dropdown(options=list(self.datasets), description="data", layout=ipw.Layout(width="160px")),
            "lr": slider("learning rate", lr, -2, 0.5, step=0.05, log=True),
            "num_epochs": slider("epochs", num_epochs, 1, max_epochs, integer=True),
        }
        super().__init__(train_perceptron, controls, fig)

    def show_dataset(self, name):
        """Move the points, region grid and limits to another dataset (only when it changes)."""
        X, y = self.datasets[name]
        self.grid, self.extent = plots.grid_over(X, steps=60)
        for k, points in enumerate(self.points):
            points.set_offsets(X[y == k])
        self.region.set_extent(self.extent)
        self.ax.set_xlim(self.extent[:2])
        self.ax.set_ylim(self.extent[2:])
        self.curve_ax.set_ylim(-0.3, len(y) / 2 + 0.5)
        self.shown = name

    def redraw(self, dataset, lr, num_epochs):
        if dataset != self.shown:
            self.show_dataset(dataset)
        X, y = self.datasets[dataset]
        w, b, history = self.function(X, y, lr, num_epochs, self.w0.copy(), self.b0)
        w = np.asarray(w, dtype=float)
        self.region.set_data((self.grid @ w + b >= 0).reshape(60, 60))
        self.line.set_data(*plots.boundary_line(w, b, self.extent))
        history = np.asarray(history, dtype=float)
        self.curve.set_data(np.arange(1, len(history) + 1), history)
        final = int(history[-1]) if len(history) else len(y)
        verdict = "converged" if final == 0 else f"{final} still wrong"
        self.ax.set_title(f"epoch {num_epochs}: {verdict}", fontsize=10)


def perceptron_trainer(train_perceptron, datasets, lr=0.1, num_epochs=10):
    """Train `train_perceptron(X, y, lr, num_epochs, w0, b0)` live as the learning rate and epoch sliders move."""
    return PerceptronTrainer(train_perceptron, datasets, lr, num_epochs).show()
