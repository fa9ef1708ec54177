"""Lesson 09 widgets driven without a browser (Agg): the depth lab and the architecture plot.

Built with the solution notebook's functions and with stubs; checks that the artists follow the controls, that the
gradients shown are the ones of the networks described in the lesson, and that an unfinished exercise is named.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from nncourse import deep_widgets as dw
from nncourse import reference as ref
from nncourse import widgets
from tests.validity import Exercises

ex = Exercises("09_deep_networks")
NAMES = ("layer_gradient_norms", "residual_forward", "residual_backward", "clip_by_global_norm")


@pytest.fixture(scope="module")
def lesson():
    return ex.context("q1")


def functions(lesson, **replaced):
    chosen = {name: lesson[name] for name in NAMES}
    chosen.update(replaced)
    return chosen


def unfinished(name):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    stub.__name__ = name
    return stub


def test_xor_data_is_seeded_balanced_and_xor_labelled():
    X, y = dw.xor_data(200, seed=3)
    X2, y2 = dw.xor_data(200, seed=3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2) and np.bincount(y).tolist() == [100, 100]
    X, y = dw.xor_data(400, noise=0.0)
    assert np.array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


def test_deep_init_scale_and_draws():
    params = dw.deep_init(3, width=8, n_in=2, n_out=2, scale=2.0, seed=5)
    assert [W.shape for W, _ in params] == [(2, 8), (8, 8), (8, 8), (8, 2)]
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(params[0][0], rng.normal(0.0, 2.0 / np.sqrt(2), size=(2, 8)))
    big = dw.deep_init(1, width=4000, n_in=4000, scale=1.5, seed=0)[1][0]
    assert np.std(big) * np.sqrt(4000) == pytest.approx(1.5, rel=0.01)


def test_depth_lab_plots_the_students_norms_of_the_plain_network(lesson):
    lab = dw.depth_lab(lesson["layer_gradient_norms"], depth=12, activation="sigmoid", scale=1.0, lr=0.5)
    assert lab.error is None and lab.status.value == ""
    xs, ys = lab.norm_lines["plain"].get_data()
    params = dw.deep_init(12, 16, scale=1.0, seed=0)
    _, grads = dw.plain_gradients(lab.X, lab.y, params, "sigmoid")
    assert list(xs) == list(range(1, 14))
    np.testing.assert_allclose(ys, [np.linalg.norm(dW) for dW, _ in grads], rtol=1e-12)
    assert ys[0] < 1e-4 * ys[-1], "a 12-layer sigmoid stack should show a vanishing gradient"
    assert "residual" not in lab.norm_lines, "without residual functions only the plain network is drawn"
    lab.update(activation="relu", scale=3.0)
    _, ys = lab.norm_lines["plain"].get_data()
    assert np.min(ys) > 500, "ReLU with weight scale 3 should show exploding gradients"
    assert "blew up" in lab.loss_ax.get_title()


def test_depth_lab_residual_gradient_reaches_layer_one_at_depth_24(lesson):
    lab = dw.DepthLab(functions(lesson), depth=24, activation="tanh", scale=1.0, lr=0.1, num_steps=40).show()
    plain = lab.norm_lines["plain"].get_data()[1]
    residual = lab.norm_lines["residual"].get_data()[1]
    assert len(plain) == len(residual) == 25
    assert residual[0] > 100 * plain[0], "the residual network's first layer should get far more gradient"
    assert residual[0] > 0.2 * residual[-1], "and about as much as its last layer"
    losses = {k: lab.loss_lines[k].get_data()[1] for k in ("plain", "residual")}
    assert len(losses["residual"]) == 41 and losses["residual"][-1] < 0.1 < losses["plain"][-1]
    assert "gradient norm reaching layer 1" in lab.ax.get_title()


def test_depth_lab_training_matches_train_deep_and_keeps_runs(lesson):
    lab = dw.DepthLab(functions(lesson), depth=6, activation="tanh", scale=1.0, lr=0.2, num_steps=20).show()
    lab.update(num_steps=60)
    key = ("residual", 6, "tanh", 1.0, 0.2, "no clipping")
    assert len(lab.runs[key].losses) == 61
    _, expected = dw.train_deep(lab.X, lab.y, dw.deep_init(6, 16, scale=1.0, seed=0), "tanh", 0.2, 60, "residual",
                                functions=functions(lesson))
    np.testing.assert_allclose(lab.loss_lines["residual"].get_data()[1], expected, rtol=1e-9)
    lab.update(num_steps=20)
    assert len(lab.loss_lines["residual"].get_data()[1]) == 21 and len(lab.runs[key].losses) == 61, "no retraining"


def picture(lab):
    """Everything the depth lab shows: titles and limits, and the data of every line."""
    lines = [*lab.norm_lines.values(), *lab.loss_lines.values()]
    return [(ax.get_title(), ax.get_xlim()) for ax in lab.fig.axes], [np.asarray(line.get_data()) for line in lines]


def same(first, second):
    return first[0] == second[0] and all(np.array_equal(a, b, equal_nan=True)
                                         for a, b in zip(first[1], second[1], strict=True))


def test_depth_lab_trains_in_steps_and_continues_a_dropped_frame_later(lesson, monkeypatch):
    monkeypatch.setattr(dw, "STEP_SECONDS", 0.0)  # a frame step takes one gradient step
    lab = dw.DepthLab(functions(lesson), depth=6, lr=0.2, num_steps=0).show()
    expected = {kind: np.clip(dw.train_deep(lab.X, lab.y, dw.deep_init(6, 16, seed=0), "tanh", 0.2, 5, kind,
                                            functions=functions(lesson))[1], 0, 2.0) for kind in lab.kinds}

    def reached():
        """The steps each loss line has reached, checked against train_deep and the title at every step."""
        steps = []
        for kind in lab.kinds:
            xs, ys = lab.loss_lines[kind].get_data()
            count = int(np.isfinite(ys).sum())
            assert list(xs) == list(range(6)) and np.array_equal(ys[:count], expected[kind][:count])
            steps.append(count - 1)
        title = lab.loss_ax.get_title()
        if steps[-1] < 5:
            assert title.startswith("training to 5 steps: ") and f"at step {steps[-1]}" in title
        else:
            assert title.startswith("loss after 5 steps: ") and "at step" not in title
        assert len(lab.norm_lines["residual"].get_data()[1]) == 7, "the gradient norms are all there from the start"
        return tuple(steps)

    first = lab.in_steps(num_steps=5)
    next(first), next(first)
    assert reached() == (2, 0), "one gradient step per frame step, the plain network first"
    for _ in lab.in_steps(lr=0.05):  # a change drops the frame; its runs stay where they got to
        pass
    assert [reached() for _ in lab.in_steps(lr=0.2)] == [(3, 0), (4, 0), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5)], \
        "the kept runs go on"
    assert lab.error is None and lab.steps is None
    reference = dw.DepthLab(functions(lesson), depth=6, lr=0.2, num_steps=0).show()
    reference.update(num_steps=5)
    assert same(picture(lab), picture(reference)), "the last step shows what update() shows"


def test_depth_lab_clipping_tames_the_exploding_run(lesson):
    calls = []

    def counted(grads, max_norm):
        calls.append(max_norm)
        return lesson["clip_by_global_norm"](grads, max_norm)
    counted.__name__ = "clip_by_global_norm"
    lab = dw.DepthLab(functions(lesson, clip_by_global_norm=counted), depth=10, activation="relu", scale=2.0,
                      lr=0.05, num_steps=40).show()
    assert not calls and not np.isfinite(lab.loss_lines["plain"].get_data()[1][-1])
    lab.update(clip="clip at norm 1")
    assert calls and set(calls) == {1.0}
    assert lab.loss_lines["plain"].get_data()[1][-1] < 0.5


@pytest.mark.parametrize("missing", NAMES)
def test_depth_lab_names_the_unfinished_function(lesson, missing):
    lab = dw.DepthLab(functions(lesson, **{missing: unfinished(missing)}), depth=6).show()
    if missing == "clip_by_global_norm":  # only called once a clipping option is chosen
        assert lab.error is None
        lab.update(clip="clip at norm 5")
    assert isinstance(lab.error, NotImplementedError)
    assert f"Implement <code>{missing}</code> above" in lab.status.value
    lab.update(depth=8)  # still friendly, no exception escapes
    assert f"Implement <code>{missing}</code> above" in lab.status.value


def test_depth_lab_reports_a_wrong_shape(lesson):
    lab = dw.depth_lab(lambda grads: np.zeros(3))
    assert "raised ValueError" in lab.status.value and "one norm per layer" in lab.status.value


def test_depth_lab_has_a_weight_and_a_learning_rate_slider(lesson):
    lab = widgets.depth_lab(lesson["layer_gradient_norms"])
    descriptions = [c.description for c in lab.controls.values()]
    assert "weight scale" in descriptions and "learning rate" in descriptions


def test_architecture_plot_draws_every_row(lesson):
    table = [{"width": 4, "depth": 1, "params": 22, "epochs_to_target": 5, "val_accuracy": 0.9},
             {"width": 4, "depth": 2, "params": 42, "epochs_to_target": None, "val_accuracy": 0.7}]
    fig = dw.architecture_plot(table)
    accuracy_ax, epochs_ax = fig.axes
    assert [p.get_height() for p in accuracy_ax.patches] == [0.9, 0.7]
    assert any(t.get_text() == "never" for t in epochs_ax.texts)
