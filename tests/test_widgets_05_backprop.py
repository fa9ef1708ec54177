"""Lesson 05 widgets driven without a browser (Agg): the playground and the weight nudge.

Built with the solution notebook's functions and with stubs; checks that artists change, that the
status line is friendly for an unfinished exercise, and measures kernel-side update times.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from nncourse import backprop_widgets as bw
from nncourse import data, widgets
from nncourse import reference as ref
from tests.validity import Exercises

ex = Exercises("05_backprop")


@pytest.fixture(scope="module")
def lesson():
    return ex.context("q1")


def unfinished(*args, **kwargs):
    raise NotImplementedError()


# --- data ---------------------------------------------------------------------------------------
def test_playground_data_are_small_labelled_and_offline():
    sets = bw.playground_data(n=120)
    assert set(sets) == {"moons", "circles", "XOR"}
    for X, y, X_test, y_test in sets.values():
        assert X.shape == X_test.shape == (120, 2) and set(np.unique(y)) == {0, 1}
        assert not np.array_equal(X, X_test), "the held-out set must differ from the training set"
    X, y = bw.xor_cloud(400, noise=0.0)
    assert np.array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


# --- playground ---------------------------------------------------------------------------------
def test_playground_trains_with_the_students_train_step(lesson):
    calls = []

    def counted(*args):
        calls.append(1)
        return lesson["train_step"](*args)

    counted.__name__ = "train_step"
    widget = bw.Playground(counted, lr=0.5, hidden=8, activation="tanh", num_epochs=0).show()
    assert widget.status.value == "" and widget.error is None
    region_before = np.array(widget.region.get_array())
    widget.update(num_epochs=100)
    assert len(calls) == 1 + 100, "one lr-0 call for the start loss, then one call per epoch"
    assert not np.allclose(region_before, widget.region.get_array()), "the decision region did not move"
    xs, losses = widget.curve.get_data()
    assert len(xs) == 101 and losses[-1] < losses[0], "the loss curve should cover epochs 0..100 and fall"
    assert widget.progress.value == 100
    assert "held-out" in widget.ax.get_title()


def test_playground_rewinds_from_snapshots_and_restarts_on_new_settings(lesson):
    widget = bw.Playground(lesson["train_step"], lr=0.5, hidden=6).show()
    widget.update(num_epochs=75)
    losses_75 = np.array(widget.losses)
    widget.update(num_epochs=25)
    assert len(widget.losses) == 26
    np.testing.assert_allclose(widget.losses[:25], losses_75[:25])
    widget.update(num_epochs=75)
    np.testing.assert_allclose(widget.losses, losses_75, rtol=1e-12, err_msg="retraining from a snapshot must give the same run")
    widget.update(hidden=12)
    assert widget.key[2] == 12 and len(widget.losses) == 76
    assert widget.params[0][0].shape == (2, 12)
    widget.update(dataset="circles", num_epochs=0)
    assert len(widget.losses) == 1
    offsets = widget.points[0].get_offsets()
    X, y = widget.datasets["circles"][:2]
    np.testing.assert_allclose(offsets, X[y == 0])


def test_playground_matches_the_reference_run(lesson):
    """What the widget shows after N epochs is exactly N steps of gradient descent."""
    widget = bw.Playground(lesson["train_step"], lr=0.3, hidden=5, activation="sigmoid").show()
    widget.update(num_epochs=50)
    X, y = widget.datasets["moons"][:2]
    params = ref.init_params([2, 5, 2], seed=0)
    for _ in range(50):
        params, _ = ref.train_step(X, y, params, 0.3, "sigmoid")
    for (W, b), (rW, rb) in zip(widget.params, params):
        np.testing.assert_allclose(W, rW, rtol=1e-10)
        np.testing.assert_allclose(b, rb, rtol=1e-10)


def test_playground_explains_an_unfinished_or_broken_train_step():
    unfinished.__name__ = "train_step"
    widget = bw.Playground(unfinished).show()
    assert isinstance(widget.error, NotImplementedError)
    assert "Implement <code>train_step</code> above" in widget.status.value
    widget.update(num_epochs=50)  # still friendly, no exception escapes
    assert "Implement" in widget.status.value

    def broken(X, y, params, lr, activation="relu"):
        return params  # forgot to return the loss
    broken.__name__ = "train_step"
    widget = bw.Playground(broken).show()
    assert "raised ValueError" in widget.status.value or "raised TypeError" in widget.status.value


def test_playground_reports_a_diverging_run(lesson):
    def exploding(X, y, params, lr, activation="relu"):
        return [(W * 1e200, b) for W, b in params], np.inf
    exploding.__name__ = "train_step"
    widget = bw.Playground(exploding).show()
    widget.update(num_epochs=25)
    assert "blew up" in widget.ax.get_title() and widget.status.value == ""


def test_facade_exports_the_builders(lesson):
    assert isinstance(widgets.playground(lesson["train_step"]), bw.Playground)
    X, y = data.moons(50, seed=1)
    assert isinstance(widgets.weight_nudge(lesson["mlp_backward"], X, y, ref.init_params([2, 3, 2])), bw.WeightNudge)


# --- weight nudge -------------------------------------------------------------------------------
def nudge(function):
    X, y = data.moons(100, seed=3)
    weights = {"W1[0, 0]": (0, 0, 0), "W2[2, 1]": (1, 2, 1)}
    return bw.WeightNudge(function, X, y, ref.init_params([2, 6, 2], seed=4), "tanh", weights).show()


def test_weight_nudge_prediction_is_the_tangent_of_the_true_curve(lesson):
    widget = nudge(lesson["mlp_backward"])
    assert widget.status.value == ""
    for name in widget.weights:
        widget.update(weight=name, delta=0.02)
        true_change, predicted = widget.marks.get_ydata()
        assert predicted != 0
        assert abs(true_change - predicted) < 0.02 * abs(predicted), "near 0 the gradient must predict the change"
        widget.update(delta=0.0)
        assert widget.marks.get_ydata() == pytest.approx([0.0, 0.0], abs=1e-15)
    widget.update(weight="W1[0, 0]", delta=1.5)
    marks_far = widget.marks.get_ydata()
    assert marks_far[0] != pytest.approx(marks_far[1], rel=1e-3), "far from 0 the loss bends away from the line"
    widget.update(weight="W2[2, 1]")
    assert not np.allclose(widget.actual.get_ydata(), widget.actual_curves["W1[0, 0]"]), "switching weight redraws the curve"


def test_weight_nudge_shows_a_wrong_gradient(lesson):
    def doubled(*args):
        return [(2 * dW, db) for dW, db in lesson["mlp_backward"](*args)]
    widget = nudge(doubled)
    widget.update(delta=0.02)
    true_change, predicted = widget.marks.get_ydata()
    assert predicted == pytest.approx(2 * true_change, rel=0.05)


def test_weight_nudge_explains_an_unfinished_mlp_backward():
    unfinished.__name__ = "mlp_backward"
    widget = nudge(unfinished)
    assert "Implement <code>mlp_backward</code> above" in widget.status.value
    widget.update(delta=0.3)
    assert "Implement" in widget.status.value


# --- the computational graph of section 2 --------------------------------------------------------
def central(f, value, eps=1e-6):
    return (f(value + eps) - f(value - eps)) / (2 * eps)


@pytest.mark.parametrize("x, w, b, y", [(1.5, 0.8, -0.2, 1.0), (-2.0, 2.5, 0.3, 0.0), (0.7, -1.1, 0.9, 1.0), (3.0, -3.0, -0.2, 1.0)])
def test_chain_example_gradients_match_finite_differences(x, w, b, y):
    values = bw.chain_example(x, w, b, y)
    assert all(isinstance(v, float) for v in values.values()), "plain floats only"
    loss = lambda x_, w_, b_: bw.chain_example(x_, w_, b_, y)["L"]
    assert values["dL/dw"] == pytest.approx(central(lambda v: loss(x, v, b), w), rel=1e-6, abs=1e-10)
    assert values["dL/db"] == pytest.approx(central(lambda v: loss(x, w, v), b), rel=1e-6, abs=1e-10)
    assert values["dL/dx"] == pytest.approx(central(lambda v: loss(v, w, b), x), rel=1e-6, abs=1e-10)
    z = w * x + b
    assert values["dL/dz"] == pytest.approx(central(lambda v: (float(ref.sigmoid(v)) - y) ** 2, z), rel=1e-6, abs=1e-10)
    assert values["dL/da"] == pytest.approx(central(lambda v: (v - y) ** 2, values["a"]), rel=1e-6, abs=1e-10)
    assert values["da/dz"] == pytest.approx(central(lambda v: float(ref.sigmoid(v)), z), rel=1e-6, abs=1e-12)
    # every gradient is the one to its right times the local derivative on the edge between them
    assert values["dL/dz"] == pytest.approx(values["dL/da"] * values["da/dz"], rel=1e-12)
    for leaf in "xwb":
        assert values[f"dL/d{leaf}"] == pytest.approx(values["dL/dz"] * values[f"dz/d{leaf}"], rel=1e-12)


def test_chain_example_is_the_worked_table():
    values = bw.chain_example(1.5, 0.8, -0.2, 1.0)
    table = {"z": 1.0, "a": 0.7311, "L": 0.0723, "dL/da": -0.5379, "da/dz": 0.1966, "dL/dz": -0.1058,
             "dL/dw": -0.1586, "dL/db": -0.1058}
    assert {key: round(values[key], 4) for key in table} == table
    lesson_text = "\n".join(c.source for c in ex.solution.cells if c.cell_type == "markdown")
    for number in ("0.7311", "0.0723", "-0.5379", "0.1966", "-0.1058", "-0.1586"):
        assert f"${number}$" in lesson_text


def test_chain_example_claims_of_the_things_to_try():
    """x = 0 gives w no gradient at all; w = -3, x = 3 is confidently wrong yet passes almost nothing back."""
    assert bw.chain_example(0.0, 0.8, -0.2, 1.0)["dL/dw"] == 0.0
    wrong = bw.chain_example(3.0, -3.0, -0.2, 1.0)
    assert wrong["a"] < 1e-3 and wrong["L"] > 0.99
    assert 5e-5 < wrong["da/dz"] < 5e-4 and abs(wrong["dL/dz"]) < 1e-3 and abs(wrong["dL/dw"]) < 1e-3
    text = next(c.source for c in ex.solution.cells if c.cell_type == "markdown" and "The same graph, live" in c.source)
    assert "set $x = 0$" in text and "set $w = -3$ and $x = 3$" in text and "about $10^{-4}$" in text


def test_computation_graph_widget_shows_both_passes_and_follows_the_sliders():
    graph = widgets.computation_graph()
    assert isinstance(graph, bw.ComputationGraph) and graph.error is None and graph.status.value == ""
    assert graph.shown("a") == "a = σ(z)\n= 0.7311"
    assert graph.grads["w"].get_text() == "∂L/∂w = -0.1586" and graph.grads["L"].get_text() == "∂L/∂L = +1.0000"
    assert graph.shown(("w", "z")) == "∂z/∂w = x = 1.50"
    before = {name: text.get_text() for name, text in graph.grads.items()}
    graph.update(x=-2.0)                       # the input: both passes change
    assert graph.shown("x") == "x = -2.00" and graph.shown("z") == "z = wx + b\n= -1.8000"
    after = {name: text.get_text() for name, text in graph.grads.items()}
    assert all(after[name] != before[name] for name in "xwbza"), (before, after)
    graph.update(w=2.5)                        # the weight
    values = bw.chain_example(-2.0, 2.5, -0.2, 1.0)
    assert graph.grads["w"].get_text() == f"∂L/∂w = {values['dL/dw']:+.4f}"
    assert graph.shown(("x", "z")) == "∂z/∂x = w = 2.50"
    assert graph.shown("L") == f"L = (a − y)², y = 1\n= {values['L']:.4f}"


def test_lesson_shows_the_graph_widget():
    cells = [c for c in ex.solution.cells if c.cell_type == "code" and "widgets.computation_graph(" in c.source]
    assert len(cells) == 1 and "nbval-ignore-output" in cells[0].metadata.get("tags", [])
    assert "x=1.5, w=0.8, b=-0.2, y=1.0" in cells[0].source, "the widget opens on the worked example"


# --- timing -------------------------------------------------------------------------------------


