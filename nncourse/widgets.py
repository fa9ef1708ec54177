"""Slider-driven live plots wired to the student's own functions.

Each builder draws its figure once; moving a control only updates the existing artists and asks
for a redraw. Until the student's function works, the widget shows "implement X above" instead of
a traceback. `update(**values)` is a plain method, so tests drive widgets without a browser.
"""
import html
from functools import cached_property

import ipywidgets as ipw
import numpy as np
from IPython.display import clear_output, display

from nncourse import plots


def slider(description, value, low, high, step=0.1, log=False):
    """A labelled float slider (logarithmic when log=True, with low/high given as powers of ten)."""
    common = dict(description=description, continuous_update=True, readout_format=".3g",
                  style={"description_width": "initial"}, layout=ipw.Layout(width="260px"))
    if log:
        return ipw.FloatLogSlider(value=value, base=10, min=low, max=high, step=step, **common)
    return ipw.FloatSlider(value=value, min=low, max=high, step=step, **common)


class LiveFigure:
    """A figure drawn once whose artists `redraw` updates in place whenever a control moves."""

    def __init__(self, function, controls, fig):
        self.function, self.controls, self.fig = function, controls, fig
        self.status = ipw.HTML()
        self.error, self.quiet = None, False
        self.output = None if isinstance(fig.canvas, ipw.DOMWidget) else ipw.Output()
        for control in controls.values():
            control.observe(self.on_change, names="value")
        self.update()

    def values(self):
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def on_change(self, _change):
        """Observer attached to every control (quiet while update() sets several values at once)."""
        if not self.quiet:
            self.render()

    def update(self, **values):
        """Set the given control values, then recompute with the student's function and redraw once."""
        self.quiet = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self.quiet = False
        self.render()

    def render(self):
        """Run `redraw` for the current values, turning the student's errors into a status line."""
        name = getattr(self.function, "__name__", "the function")
        try:
            self.redraw(**self.values())
            self.error, self.status.value = None, ""
        except NotImplementedError as error:
            self.error = error
            self.status.value = f"<b>Implement <code>{name}</code> above, then re-run this cell to bring the plot to life.</b>"
        except Exception as error:  # the student's code may fail in any way; show it, don't crash the widget
            self.error = error
            self.status.value = (f"<b><code>{name}</code> raised {type(error).__name__}:</b> "
                                 f"{html.escape(str(error))}")
        self.fig.canvas.draw_idle()
        if self.output is not None and _in_kernel():
            with self.output:
                clear_output(wait=True)
                display(self.fig)

    def redraw(self, **values):
        """Update the artists for these control values (implemented by each widget)."""
        raise NotImplementedError

    @cached_property
    def widget(self):
        """The controls, the status line and the figure stacked in one widget."""
        view = self.fig.canvas if self.output is None else self.output
        return ipw.VBox([ipw.HBox(list(self.controls.values()), layout=ipw.Layout(flex_flow="row wrap")),
                         self.status, view])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _in_kernel():
    """True inside a running IPython kernel (where an Output widget can display)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class NeuronExplorer(LiveFigure):
    """Sliders for w1, w2 and b: the neuron's decision region, boundary line and outputs on the points."""

    def __init__(self, neuron_batch, X, y, w=(1.0, 1.0), b=-1.5):
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y)
        self.grid, extent = plots.grid_over(self.X, steps=60)
        fig, ax = plots.figure(figsize=(4.6, 3.8))
        self.ax, self.extent = ax, extent
        self.region = ax.imshow(np.zeros((60, 60)), extent=extent, origin="lower", cmap=plots.REGION_CMAP,
                                vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        (self.line,) = ax.plot([], [], color=plots.BLACK, lw=2, label="boundary $z = 0$")
        plots.scatter_classes(ax, self.X, self.y)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        self.labels = [ax.annotate("", xy, xytext=(6, 6), textcoords="offset points", fontsize=9)
                       for xy in self.X] if len(self.X) <= 8 else []
        ax.legend(loc="upper left", fontsize=8)
        controls = {"w1": slider("$w_1$", w[0], -3, 3), "w2": slider("$w_2$", w[1], -3, 3), "b": slider("$b$", b, -4, 4)}
        super().__init__(neuron_batch, controls, fig)

    def redraw(self, w1, w2, b):
        w = np.array([w1, w2])
        outputs = np.asarray(self.function(self.X, w, b), dtype=float).reshape(-1)
        region = np.asarray(self.function(self.grid, w, b), dtype=float).reshape(self.region.get_array().shape)
        self.region.set_data(region >= 0.5)
        self.line.set_data(*plots.boundary_line(w, b, self.extent))
        for text, output in zip(self.labels, outputs):
            text.set_text(f"$\\hat y$={output:.3g}")
        correct = int(np.sum((outputs >= 0.5) == self.y))
        self.ax.set_title(f"w = ({w1:.2f}, {w2:.2f}), b = {b:.2f}: {correct} of {len(self.y)} correct", fontsize=10)


def neuron_explorer(neuron_batch, X, y, w=(1.0, 1.0), b=-1.5):
    """Drag w1, w2 and b and watch the decision boundary of `neuron_batch(X, w, b)` move over the points."""
    return NeuronExplorer(neuron_batch, X, y, w, b)


class PerceptronTrainer(LiveFigure):
    """Sliders for the dataset, learning rate and epochs: the trained boundary and the errors per epoch."""

    def __init__(self, train_perceptron, datasets, lr=0.1, num_epochs=10, max_epochs=30, w0=(-1.0, 0.5), b0=0.5):
        self.w0, self.b0 = np.array(w0, dtype=float), b0
        self.datasets = {name: (np.asarray(X, dtype=float), np.asarray(y)) for name, (X, y) in datasets.items()}
        fig, (ax, curve_ax) = plots.figure(ncols=2, figsize=(8.0, 3.4))
        self.ax, self.curve_ax = ax, curve_ax
        self.region = ax.imshow(np.zeros((60, 60)), origin="lower", cmap=plots.REGION_CMAP, vmin=0, vmax=1,
                                aspect="auto", interpolation="nearest")
        (self.line,) = ax.plot([], [], color=plots.BLACK, lw=2)
        self.points = [ax.scatter([], [], s=40, c=plots.CLASS_COLORS[k], marker=plots.CLASS_MARKERS[k],
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
            "num_epochs": ipw.IntSlider(value=num_epochs, min=1, max=max_epochs, description="epochs",
                                        continuous_update=True),
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
        self.ax.set_title(f"after {num_epochs} epochs: {verdict}", fontsize=10)


def perceptron_trainer(train_perceptron, datasets, lr=0.1, num_epochs=10):
    """Train `train_perceptron(X, y, lr, num_epochs, w0, b0)` live as the learning rate and epoch sliders move."""
    return PerceptronTrainer(train_perceptron, datasets, lr, num_epochs)
