"""Lesson 04 widgets driven without a browser (Agg): artists follow the controls, unfinished exercises show
a friendly status line, and an update (recompute + full Agg draw) stays cheap."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import data, widgets  # noqa: E402
from tests.test_math_04_losses import SOLUTION  # noqa: E402

mse, bce = SOLUTION["mse"], SOLUTION["binary_cross_entropy"]
X_LINE, Y_LINE = data.noisy_line(n=30, w=1.5, b=0.5, noise=0.5, seed=0)


def stub(name):
    """A released-stub stand-in called `name` that is not implemented yet."""
    def unfinished(*args, **kwargs):
        raise NotImplementedError()
    unfinished.__name__ = name
    return unfinished


def broken(*args, **kwargs):
    """A student function that crashes in some other way."""
    raise ValueError("shapes do not match")


def test_line_fit_explorer_follows_the_sliders():
    view = widgets.line_fit_explorer(mse, X_LINE, Y_LINE, w=0.5, b=-1.0)
    assert view.error is None and view.status.value == ""
    line_before = np.array(view.line.get_ydata())
    residuals_before = [s.copy() for s in view.residuals.get_segments()]
    title_before = view.ax.title.get_text()
    view.update(w=1.5, b=0.6)
    assert not np.allclose(view.line.get_ydata(), line_before)
    assert not np.allclose(view.residuals.get_segments()[0], residuals_before[0])
    assert np.allclose(np.column_stack(view.point.get_data()), [[1.5, 0.6]])
    assert view.ax.title.get_text() != title_before
    expected = mse(Y_LINE, 1.5 * X_LINE + 0.6)
    assert view.ax.title.get_text() == f"MSE = {expected:.3f}"
    assert view.surface is not None and view.surface.min() < expected + 0.05


def test_line_fit_explorer_with_unfinished_or_broken_mse():
    view = widgets.line_fit_explorer(stub("mse"), X_LINE, Y_LINE)
    assert isinstance(view.error, NotImplementedError)
    assert "Implement <code>mse</code> above" in view.status.value
    view.update(w=2.0)
    assert "Implement" in view.status.value and view.surface is None
    crashed = widgets.line_fit_explorer(broken, X_LINE, Y_LINE)
    assert "raised ValueError" in crashed.status.value and "shapes do not match" in crashed.status.value


def test_line_descent_path_and_divergence():
    view = widgets.line_descent(mse, X_LINE, Y_LINE, lr=0.1, num_steps=20)
    assert view.error is None and view.status.value == ""
    path = np.column_stack(view.path.get_data())
    assert path.shape == (21, 2) and np.allclose(path[0], view.start)
    losses = np.asarray(view.curve.get_ydata())
    assert np.all(np.diff(losses) < 0), "a small learning rate must lower the loss at every step"
    view.update(lr=0.3, num_steps=40)
    assert np.column_stack(view.path.get_data()).shape == (41, 2)
    assert "MSE =" in view.curve_ax.title.get_text()
    view.update(lr=1.0, num_steps=60)
    assert "diverged" in view.curve_ax.title.get_text()
    assert np.isfinite(np.asarray(view.curve.get_ydata())).all()


def test_line_descent_with_unfinished_mse():
    view = widgets.line_descent(stub("mse"), X_LINE, Y_LINE)
    assert "Implement <code>mse</code> above" in view.status.value
    assert len(view.path.get_xdata()) == 0


def test_probability_losses_curves_and_markers():
    view = widgets.probability_losses(bce, mse, p=0.3)
    assert view.error is None and view.status.value == ""
    grid, bce_label_1 = view.curves["BCE", 1].get_data()
    assert np.allclose(bce_label_1, -np.log(grid))
    assert np.allclose(view.curves["MSE", 0].get_ydata(), np.asarray(grid) ** 2)
    before = view.points["BCE", 1].get_ydata()[0]
    view.update(p=0.9)
    assert view.points["BCE", 1].get_ydata()[0] == pytest.approx(-np.log(0.9))
    assert view.points["BCE", 1].get_ydata()[0] != before
    assert view.points["MSE", 0].get_ydata()[0] == pytest.approx(0.81)
    assert "p = 0.900" in view.ax.title.get_text()
    view.update(p=0.0)  # the edge: the student's clipped BCE stays finite, the marker stays in the plot
    assert view.error is None and view.points["BCE", 1].get_ydata()[0] <= 5


@pytest.mark.parametrize("missing", ["binary_cross_entropy", "mse"])
def test_probability_losses_names_the_unfinished_function(missing):
    functions = {"binary_cross_entropy": bce, "mse": mse, missing: stub(missing)}
    view = widgets.probability_losses(functions["binary_cross_entropy"], functions["mse"])
    assert isinstance(view.error, NotImplementedError)
    assert f"Implement <code>{missing}</code> above" in view.status.value


