"""Lesson 02 widgets driven without a browser (Agg): they draw the student's functions, name the unfinished
ones, report other errors, and update fast."""
from functools import partial

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import activation_widgets as aw  # noqa: E402
from nncourse import widgets  # noqa: E402
from tests.validity import Exercises  # noqa: E402


@pytest.fixture(scope="module")
def sol():
    """The solution notebook's functions (every exercise plus the given GELU cell)."""
    return Exercises("02_activations").context("q1")


def stub(name):
    def function(*args, **kwargs):
        raise NotImplementedError()
    function.__name__ = name
    return function


def explorer_pairs(s, **replace):
    functions = {"relu": s["relu"], "relu_grad": s["relu_grad"], "sigmoid": s["sigmoid"],
                 "sigmoid_grad": s["sigmoid_grad"], "tanh": s["tanh"], "tanh_grad": s["tanh_grad"], **replace}
    return {"relu": (functions["relu"], functions["relu_grad"]),
            "leaky_relu": (partial(s["leaky_relu"], alpha=0.1), partial(s["leaky_relu_grad"], alpha=0.1)),
            "sigmoid": (functions["sigmoid"], functions["sigmoid_grad"]),
            "tanh": (functions["tanh"], functions["tanh_grad"]),
            "gelu": (s["gelu"], s["gelu_grad"])}


def test_facade_exports_the_builders():
    for name in ("activation_explorer", "softmax_explorer", "gradient_depth", "saturation_trainer"):
        assert getattr(widgets, name) is getattr(aw, name)


# --- 1. activation explorer --------------------------------------------------------------------
def test_explorer_draws_every_activation_and_follows_the_sliders(sol):
    view = widgets.activation_explorer(explorer_pairs(sol))
    assert view.status.value == ""
    before = {name: line.get_ydata().copy() for name, line in view.lines.items()}
    view.update(w=2.0, b=-1.0)
    assert view.status.value == ""
    for name, line in view.lines.items():
        assert not np.allclose(line.get_ydata(), before[name]), name
    z = 2.0 * view.x - 1.0
    np.testing.assert_allclose(view.lines["sigmoid"].get_ydata(), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(view.dlines["tanh"].get_ydata(), 1 - np.tanh(z) ** 2)
    assert "0.250" in view.note.get_text() or "largest sigmoid slope" in view.note.get_text()


def test_explorer_names_every_unfinished_function_and_draws_the_rest(sol):
    view = widgets.activation_explorer(explorer_pairs(sol, relu=stub("relu"), tanh_grad=stub("tanh_grad")))
    assert "Implement" in view.status.value and "relu" in view.status.value and "tanh_grad" in view.status.value
    assert "sigmoid" not in view.status.value
    assert len(view.lines["relu"].get_xdata()) == 0 and len(view.dlines["tanh"].get_xdata()) == 0
    assert len(view.lines["sigmoid"].get_xdata()) == len(view.x)
    view.update(w=-1.0)
    assert "relu" in view.status.value


def test_explorer_reports_other_errors_with_the_right_name(sol):
    def sigmoid(z):
        return max(0, z)  # a typical bug: Python's max on an array
    view = widgets.activation_explorer(explorer_pairs(sol, sigmoid=sigmoid))
    assert "<code>sigmoid</code> raised ValueError" in view.status.value


def test_explorer_calls_each_function_once_per_frame(sol):
    calls = []

    def counted(function, name):
        def run(z):
            calls.append(name)
            return function(z)
        run.__name__ = name
        return run
    pairs = {name: (counted(sol[name], name), counted(sol[name + "_grad"], name + "_grad"))
             for name in ("relu", "sigmoid", "tanh")}
    view = widgets.activation_explorer(pairs)
    calls.clear()
    view.update(w=2.0)
    assert sorted(calls) == sorted(["relu", "relu_grad", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad"])


def test_explorer_with_all_stubs_is_friendly():
    pairs = {name: (stub(name), stub(name + "_grad")) for name in ("relu", "sigmoid", "tanh")}
    view = aw.ActivationExplorer(pairs).show()
    assert view.status.value.startswith("<b>Implement <code>relu</code>, <code>relu_grad</code>, <code>sigmoid</code>")


# --- 2. softmax explorer -------------------------------------------------------------------------
def test_softmax_bars_follow_logits_temperature_and_offset(sol):
    view = widgets.softmax_explorer(sol["softmax"], logits=(2.0, 1.0, 0.1, -1.0))
    heights = lambda: np.array([bar.get_height() for bar in view.bars])  # noqa: E731
    first = heights()
    np.testing.assert_allclose(first.sum(), 1.0)
    assert np.argmax(first) == 0 and view.status.value == ""
    view.update(temperature=10.0)
    assert heights().max() < first.max()          # a high temperature flattens
    view.update(temperature=0.1)
    assert heights().max() > 0.99                  # a low one sharpens
    sharp = heights()
    view.update(offset=1000.0)
    np.testing.assert_allclose(heights(), sharp)   # only differences matter
    assert view.texts[0].get_text() == f"{sharp[0]:.3f}"


def test_softmax_explorer_stub_and_naive_softmax():
    view = widgets.softmax_explorer(stub("softmax"))
    assert "Implement <code>softmax</code>" in view.status.value

    def softmax(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    view = widgets.softmax_explorer(softmax)
    assert "sum 1.000" in view.pax.get_title()
    view.update(offset=1000.0)
    assert "nan" in view.pax.get_title() and view.texts[0].get_text() == "nan"


# --- 3. depth --------------------------------------------------------------------------------------
def test_depth_widget_shows_sigmoid_vanishing_and_relu_not(sol):
    view = widgets.gradient_depth(sol["sigmoid"], sol["sigmoid_grad"], sol["relu"], sol["relu_grad"], depth=5)
    assert view.status.value == "" and len(view.sig_line.get_xdata()) == 5
    view.update(depth=30)
    sig, rel = view.sig_line.get_ydata(), view.relu_line.get_ydata()
    assert len(sig) == 30 and sig[0] < 1e-18 and np.allclose(rel, 1.0)
    assert "sigmoid" in view.ax.get_title(loc="right") and "relu" in view.ax.get_title(loc="right")
    view.update(w=2.0)
    assert view.relu_line.get_ydata()[0] > 1e8     # a large weight explodes the ReLU chain


def test_depth_widget_names_missing_functions(sol):
    view = widgets.gradient_depth(sol["sigmoid"], stub("sigmoid_grad"), sol["relu"], sol["relu_grad"])
    assert "sigmoid_grad" in view.status.value and "relu" not in view.status.value.replace("sigmoid_grad", "")
    assert len(view.sig_line.get_xdata()) == 0 and len(view.relu_line.get_xdata()) == 10


# --- 4. saturation trainer --------------------------------------------------------------------------
def saturation_pairs(s, **replace):
    f = {**s, **replace}
    return {"sigmoid": (f["sigmoid"], f["sigmoid_grad"]), "tanh": (f["tanh"], f["tanh_grad"]),
            "relu": (f["relu"], f["relu_grad"])}


def test_saturation_trainer_curves_follow_the_sliders(sol):
    view = widgets.saturation_trainer(saturation_pairs(sol), lr=0.5, start=2.0)
    assert view.status.value == ""
    sig = view.lines["sigmoid"].get_ydata().copy()
    assert view.lines["relu"].get_ydata()[20] < 1e-6 < sig[20]   # saturated sigmoid is still on its plateau
    view.update(lr=1.5)
    assert not np.allclose(view.lines["sigmoid"].get_ydata(), sig)
    view.update(start=-2.0, lr=0.5)
    relu = view.lines["relu"].get_ydata()
    np.testing.assert_allclose(relu, relu[0])                     # dead ReLU: flat
    assert "final loss" in view.ax.get_title(loc="left") and "relu" in view.ax.get_title(loc="right")


def test_saturation_trainer_stub_and_divergence(sol):
    view = widgets.saturation_trainer(saturation_pairs(sol, tanh_grad=stub("tanh_grad")))
    assert "tanh_grad" in view.status.value and len(view.lines["tanh"].get_xdata()) == 0
    assert len(view.lines["sigmoid"].get_xdata()) == view.num_epochs
    view = widgets.saturation_trainer(saturation_pairs(sol), lr=10 ** 0.3, start=3.0)  # ReLU overshoots
    assert view.status.value == ""


# --- speed ---------------------------------------------------------------------------------------


