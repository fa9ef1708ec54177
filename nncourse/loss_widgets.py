"""Lesson 04 widgets: fit a line by its mean squared error, descend that error, and compare BCE with MSE.

Every loss value shown is computed by the student's own function (`mse`, `binary_cross_entropy`);
the only formulas here are the gradients used to take descent steps, which lesson 04 explains but
does not grade.
"""
import numpy as np
from matplotlib.collections import LineCollection

from nncourse import plots, reference
from nncourse.live import LiveFigure, slider

W_RANGE, B_RANGE = (-1.0, 4.0), (-2.0, 3.0)   # the window of the (w, b) plane that the contour plots show
SURFACE_STEPS = 40                              # grid points per axis of the contour surface
DIVERGED = 1e4                                  # |w| or |b| beyond this counts as a diverged descent


def line_mse_gradient(x, y, w, b):
    """Gradient (dw, db) of mean((w x + b - y)^2) with respect to the line's slope w and intercept b."""
    residual = w * np.asarray(x, dtype=float) + b - np.asarray(y, dtype=float)
    return 2.0 * float(np.mean(residual * x)), 2.0 * float(np.mean(residual))


def logit_gradients(y, z):
    """For p = sigmoid(z) and one example: (dBCE/dz, dMSE/dz) = (p - y, 2 (p - y) p (1 - p))."""
    p = reference.sigmoid(z)
    return p - y, 2.0 * (p - y) * p * (1.0 - p)


def mse_surface(mse, x, y, steps=SURFACE_STEPS):
    """Grids (W, B, L): the loss mse(y, w x + b) of every line on a steps x steps grid over the window."""
    ws, bs = np.linspace(*W_RANGE, steps), np.linspace(*B_RANGE, steps)
    W, B = np.meshgrid(ws, bs)
    L = np.array([float(mse(y, w * x + b)) for w, b in zip(W.ravel(), B.ravel())]).reshape(W.shape)
    return W, B, L


class MSESurfaceFigure(LiveFigure):
    """A LiveFigure with a contour panel of the student's MSE over (w, b), drawn on the first working update."""

    def setup_surface(self, ax, x, y):
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.surface_ax, self.surface = ax, None
        ax.set_xlim(W_RANGE)
        ax.set_ylim(B_RANGE)
        ax.set_xlabel("slope $w$")
        ax.set_ylabel("intercept $b$")
        ax.grid(False)

    def loss(self, w, b):
        """The student's mse for the line (w, b), as a float."""
        return float(self.function(self.y, w * self.x + b))

    def ensure_surface(self):
        """Compute and draw the contour once, with the student's mse (raises while it is unfinished)."""
        if self.surface is None:
            W, B, L = mse_surface(self.function, self.x, self.y)
            levels = np.geomspace(max(L.min(), 1e-3) * 1.02, L.max(), 12)
            self.surface_ax.contour(W, B, L, levels=levels, cmap="viridis", linewidths=0.8)
            self.surface = L


class LineFitExplorer(MSESurfaceFigure):
    """Sliders for w and b: the line, its residuals and MSE on the data, and the point (w, b) on the MSE contour."""

    def __init__(self, mse, x, y, w=0.0, b=0.0):
        fig, (ax, surface_ax) = plots.figure(ncols=2, figsize=(8.4, 3.4))
        self.setup_surface(surface_ax, x, y)
        self.ax = ax
        self.residuals = LineCollection([], colors=plots.RED, linewidths=1.0, label="residuals")
        ax.add_collection(self.residuals)
        ax.scatter(self.x, self.y, s=18, marker=plots.dot(), color=plots.BLUE, zorder=3, label="data")
        self.grid_x = np.array([self.x.min() - 0.3, self.x.max() + 0.3])
        (self.line,) = ax.plot([], [], color=plots.BLACK, lw=2, label=r"$\hat y = w x + b$")
        ax.set_xlim(self.grid_x)
        ax.set_ylim(self.y.min() - 2.5, self.y.max() + 2.5)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$y$")
        ax.legend(loc="upper left", fontsize=8)
        (self.point,) = surface_ax.plot([], [], "o", color=plots.RED, ms=8, zorder=4)
        controls = {"w": slider("slope $w$", w, *W_RANGE, step=0.05), "b": slider("intercept $b$", b, *B_RANGE, step=0.05)}
        super().__init__(mse, controls, fig)

    def redraw(self, w, b):
        loss = self.loss(w, b)
        self.ensure_surface()
        y_hat = w * self.x + b
        self.line.set_data(self.grid_x, w * self.grid_x + b)
        self.residuals.set_segments(np.stack([np.column_stack([self.x, self.y]), np.column_stack([self.x, y_hat])], axis=1))
        self.point.set_data([w], [b])
        self.ax.title.set_text(f"MSE = {loss:.3f}")
        self.surface_ax.title.set_text(f"MSE surface: you are at ({w:.2f}, {b:.2f})")


def line_fit_explorer(mse, x, y, w=0.0, b=0.0):
    """Drag w and b of a line over noisy data; `mse(y, y_hat)` scores it and places it on the MSE surface."""
    return LineFitExplorer(mse, x, y, w, b).show()


def descend_line(mse, x, y, lr, num_steps, start=(-0.5, 2.5)):
    """Gradient descent on the line's MSE: path (num_steps + 1, 2) and losses, stopped early if it diverges."""
    w, b = start
    path, losses = [(w, b)], [float(mse(y, w * x + b))]
    for _ in range(num_steps):
        dw, db = line_mse_gradient(x, y, w, b)
        w, b = w - lr * dw, b - lr * db
        if max(abs(w), abs(b)) > DIVERGED:
            break
        path.append((w, b))
        losses.append(float(mse(y, w * x + b)))
    return np.array(path), np.array(losses)


class LineDescent(MSESurfaceFigure):
    """Sliders for the learning rate and the number of steps: the descent path on the MSE contour and the loss curve."""

    def __init__(self, mse, x, y, lr=0.1, num_steps=20, max_steps=60, start=(-0.5, 2.5)):
        fig, (surface_ax, curve_ax) = plots.figure(ncols=2, figsize=(8.4, 3.4))
        self.setup_surface(surface_ax, x, y)
        self.start, self.curve_ax = start, curve_ax
        surface_ax.plot(*start, "s", color=plots.BLACK, ms=6, zorder=4)
        (self.path,) = surface_ax.plot([], [], "o-", color=plots.RED, ms=3, lw=1.2, zorder=4)
        (self.curve,) = curve_ax.plot([], [], "o-", color=plots.RED, ms=3, lw=1.2)
        curve_ax.set_yscale("log")
        curve_ax.set_xlim(-0.5, max_steps + 0.5)
        curve_ax.set_xlabel("step")
        curve_ax.set_ylabel("MSE (log scale)")
        controls = {"lr": slider("learning rate", lr, -3, 0, step=0.05, log=True),
                    "num_steps": slider("steps", num_steps, 1, max_steps, integer=True)}
        super().__init__(mse, controls, fig)

    def redraw(self, lr, num_steps):
        path, losses = descend_line(self.function, self.x, self.y, lr, num_steps, self.start)
        if self.surface is None:
            self.ensure_surface()
            self.curve_ax.set_ylim(self.surface.min() * 0.8, self.surface.max() * 3)
        self.path.set_data(path[:, 0], path[:, 1])
        self.curve.set_data(np.arange(len(losses)), losses)
        if len(path) <= num_steps:
            verdict = f"diverged after {len(path)} steps: the learning rate is too large"
        else:
            verdict = f"after {num_steps} steps: MSE = {losses[-1]:.3f}"
        self.curve_ax.title.set_text(verdict)


def line_descent(mse, x, y, lr=0.1, num_steps=20):
    """Run gradient descent on the line fit live; the loss at every step comes from `mse(y, y_hat)`."""
    return LineDescent(mse, x, y, lr, num_steps).show()


class ProbabilityLosses(LiveFigure):
    """A slider for a predicted probability p: BCE and MSE of p for label 1 and for label 0, curves and values."""

    def __init__(self, binary_cross_entropy, mse, p=0.3):
        self.losses = {"BCE": "binary_cross_entropy", "MSE": "mse"}
        self.grid = np.linspace(0.001, 0.999, 150)
        fig, ax = plots.figure(figsize=(5.8, 3.6))
        self.ax, self.curves, self.points = ax, {}, {}
        for name, style in (("BCE", "-"), ("MSE", "--")):
            for label, colour in ((1, plots.BLUE), (0, plots.ORANGE)):
                (self.curves[name, label],) = ax.plot([], [], style, color=colour, lw=1.8, label=f"{name}, label {label}")
                (self.points[name, label],) = ax.plot([], [], "o", color=colour, ms=6, zorder=4)
        self.marker = ax.axvline(p, color=plots.BLACK, lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 5)
        ax.set_xlabel(r"predicted probability $p$ of class 1")
        ax.set_ylabel("loss for this one example")
        ax.legend(loc="upper center", fontsize=8, ncols=2)
        self.drawn = False
        super().__init__({"binary_cross_entropy": binary_cross_entropy, "mse": mse},
                         {"p": slider("predicted $p$", p, 0.0, 1.0, step=0.005)}, fig)

    def value(self, name, label, p):
        """The student's loss for one example with this label and prediction."""
        return float(self.code.call(self.losses[name], np.array([float(label)]), np.array([p])))

    def redraw(self, p):
        values = {(name, label): self.value(name, label, p) for name in self.losses for label in (1, 0)}
        if not self.drawn:
            for (name, label), curve in self.curves.items():
                curve.set_data(self.grid, [self.value(name, label, q) for q in self.grid])
            self.drawn = True
        for key, point in self.points.items():
            point.set_data([p], [min(values[key], 4.9)])
        self.marker.set_xdata([p, p])
        self.ax.title.set_text(f"p = {p:.3f}   label 1: BCE {values['BCE', 1]:.3g}, MSE {values['MSE', 1]:.3g}   "
                          f"label 0: BCE {values['BCE', 0]:.3g}, MSE {values['MSE', 0]:.3g}")


def probability_losses(binary_cross_entropy, mse, p=0.3):
    """Slide a predicted probability and compare how BCE and MSE punish it for each label."""
    return ProbabilityLosses(binary_cross_entropy, mse, p).show()
