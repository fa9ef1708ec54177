"""Lesson 03 widgets driven without a browser: artists change, unfinished functions show a friendly line."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import data, forward_widgets, reference, widgets  # noqa: E402
from tests.validity import Exercises  # noqa: E402

ex = Exercises("03_forward_pass")


@pytest.fixture(scope="module")
def lesson():
    """The solution notebook's namespace just before the knowledge check (every graded function defined)."""
    return ex.context("q1")


def stub(name):
    def unfinished(*args, **kwargs):
        raise NotImplementedError()
    unfinished.__name__ = name
    return unfinished


def test_facade_exports_the_builders():
    for name in ("xor_explorer", "init_explorer", "digits_explorer", "network_diagram"):
        assert callable(getattr(widgets, name))


# --- XOR explorer ---------------------------------------------------------------------------------
def test_xor_explorer_moves_regions_and_counts_correct_points(lesson):
    X, y = data.logic_gate("xor")
    w = widgets.xor_explorer(lesson["dense_forward"], X, y)
    assert w.error is None and w.status.value == ""
    assert w.title.get_text().startswith("3 of 4 correct")
    before = np.array(w.region.get_array()).copy()
    w.update(w12=1.0, w22=1.0, b2=-1.0, v1=1.0, v2=-2.0, c=-0.5)
    assert "4 of 4 correct" in w.title.get_text() and "solved" in w.title.get_text()
    assert not np.array_equal(before, np.array(w.region.get_array()))
    assert [t.get_text() for t in w.labels] == ["0.38", "0.62", "0.62", "0.38"]
    xs, ys = w.unit_lines[1].get_data()
    assert len(xs) == 2 and np.allclose(np.asarray(xs) + np.asarray(ys), 1.0)  # x1 + x2 - 1 = 0


def test_xor_explorer_with_a_stub_says_implement(lesson):
    X, y = data.logic_gate("xor")
    w = widgets.xor_explorer(stub("dense_forward"), X, y)
    assert isinstance(w.error, NotImplementedError)
    assert "Implement <code>dense_forward</code>" in w.status.value
    w.update(v1=2.0)
    assert "Implement" in w.status.value


def test_xor_network_matches_the_graded_solution(lesson):
    X, y = data.logic_gate("xor")
    (W1, b1), (W2, b2) = lesson["xor_params"]
    z = forward_widgets.xor_network(reference.dense_forward, X, W1, b1, W2, b2)
    assert np.array_equal((z > 0).astype(int), y)


# --- initialisation explorer ----------------------------------------------------------------------
def heights(w):
    """The drawn height of every histogram bar, one row per layer shown."""
    corners = np.array([path.vertices[:4] for path in w.histograms.get_paths()])
    assert np.allclose(corners[:, 0, 1].reshape(len(w.shown), -1), w.bottoms[:, None]), "each row stands on its floor"
    return (corners[:, 2, 1] - corners[:, 0, 1]).reshape(len(w.shown), w.BINS)


def test_init_explorer_histograms_collapse_and_explode(lesson):
    w = widgets.init_explorer(lesson["init_params"], lesson["dense_forward"])
    assert w.error is None and w.status.value == ""
    stable = heights(w)
    assert np.allclose(stable.sum(axis=1), 1.0)
    w.update(gain=0.1)
    small = heights(w)
    middle = forward_widgets.InitExplorer.BINS // 2
    assert small[-1, middle - 1:middle + 1].sum() > 0.99  # tanh activations collapse onto 0
    assert w.std_line.get_ydata()[-1] < 1e-3
    w.update(activation="relu", scheme="he", gain=3.0)
    assert heights(w)[-1, -1] > 0.3  # relu values pile up beyond the last bin
    assert w.std_line.get_ydata()[-1] > 100
    assert w.title.get_text().startswith("relu, he x 3")
    w.update(activation="relu", scheme="xavier", gain=1.0)
    xavier = w.std_line.get_ydata().copy()
    w.update(scheme="he")
    he = w.std_line.get_ydata()
    assert xavier[-1] < 0.2 * xavier[0] and 0.3 < he[-1] / he[0] < 3  # He keeps relu signals, Xavier lets them fade


@pytest.mark.parametrize("missing", ["init_params", "dense_forward"])
def test_init_explorer_names_the_missing_function(lesson, missing):
    functions = {"init_params": lesson["init_params"], "dense_forward": lesson["dense_forward"], missing: stub(missing)}
    w = widgets.init_explorer(functions["init_params"], functions["dense_forward"])
    assert isinstance(w.error, NotImplementedError)
    assert f"Implement <code>{missing}</code>" in w.status.value


# --- digits explorer ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return data.digits()


def test_digits_explorer_shows_probabilities_for_the_chosen_example(lesson, digits):
    X, y = digits
    w = widgets.digits_explorer(lesson["init_params"], lesson["mlp_forward"], lesson["predict"], X, y)
    assert w.error is None and w.status.value == ""
    probs = np.array([bar.get_height() for bar in w.bars])
    assert np.isclose(probs.sum(), 1.0)
    image = np.array(w.image.get_array()).copy()
    accuracy = float(w.bar_title.get_text().split("accuracy ")[1].rstrip("%")) / 100
    assert accuracy > 0.8  # the fitted last layer classifies held-out digits well
    w.update(index=5)
    assert not np.array_equal(image, np.array(w.image.get_array()))
    assert w.image_title.get_text() == f"true label: {y[1000 + 5]}"
    w.update(weights="random (untrained)")
    untrained = float(w.bar_title.get_text().split("accuracy ")[1].rstrip("%")) / 100
    assert untrained < 0.4


@pytest.mark.parametrize("missing", ["init_params", "mlp_forward", "predict"])
def test_digits_explorer_names_the_missing_function(lesson, digits, missing):
    functions = {name: lesson[name] for name in ("init_params", "mlp_forward", "predict")}
    functions[missing] = stub(missing)
    w = widgets.digits_explorer(*functions.values(), *digits)
    assert isinstance(w.error, NotImplementedError)
    assert f"Implement <code>{missing}</code>" in w.status.value


def test_digits_explorer_reports_other_errors(lesson, digits):
    def mlp_forward(X, params, activation="relu"):
        raise ValueError("shapes (1,64) and (10,32) not aligned")
    w = widgets.digits_explorer(lesson["init_params"], mlp_forward, lesson["predict"], *digits)
    assert "ValueError" in w.status.value and "mlp_forward" in w.status.value


def test_network_diagram_draws_every_connection():
    fig = widgets.network_diagram([4, 8, 6, 3])
    ax = fig.axes[0]
    assert len(ax.collections[0].get_segments()) == 4 * 8 + 8 * 6 + 6 * 3


# --- speed ----------------------------------------------------------------------------------------
