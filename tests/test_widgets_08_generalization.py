"""Lesson 08 widgets and demos driven without a browser: the overfitting lab (curves and boundary follow every
control, runs are cached, unfinished or broken regularisers are named), the augmentation table, and the text of
the solution notebook against the numbers its cells print."""
import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from nncourse import generalization_widgets as gw  # noqa: E402
from nncourse import plots, widgets  # noqa: E402
from tests.test_math_08_generalization import SOLUTION, ex  # noqa: E402

plots.apply_style()
REGULARISERS = [SOLUTION[name] for name in gw.REGULARISERS]


class stub:
    """An exercise as released: named like the student's function, raising NotImplementedError when called."""

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError()


def curves(lab):
    return lab.train_curve.get_ydata().copy(), lab.val_curve.get_ydata().copy()


def image(lab):
    return np.asarray(lab.region.get_array()).copy()


@pytest.fixture(scope="module")
def lab():
    return widgets.overfitting_lab(*REGULARISERS, num_epochs=200)


def test_lab_draws_curves_and_a_boundary(lab):
    assert lab.status.value == "" and lab.error is None
    train, val = curves(lab)
    assert len(train) == len(val) == 201
    assert train[-1] < train[0] and val.min() < val[0], "training should lower both losses at first"
    probabilities = image(lab)
    assert probabilities.shape == (gw.GRID_STEPS, gw.GRID_STEPS) and probabilities.min() < 0.2 < 0.8 < probabilities.max()
    assert "epoch 200" in lab.ax.get_title() and "validation" in lab.curve_ax.get_title()


def test_lab_overfits_without_regularisation_and_l2_tames_it(lab):
    lab.update(num_epochs=600)
    train, val = curves(lab)
    assert train[-1] < 0.05 and val[-1] > 2 * val.min(), "32 units on 40 noisy points should overfit"
    best = int(np.argmin(val))
    assert np.allclose(lab.best_dot.get_data(), [[best], [val[best]]])
    lab.update(lam=0.01)
    train_l2, val_l2 = curves(lab)
    assert train_l2[-1] > train[-1] and val_l2[-1] < val[-1] / 2, "L2 should trade training fit for validation loss"
    assert "L2 penalty" in lab.curve_ax.get_title()
    lab.update(lam=0.3)
    assert abs(curves(lab)[0][-1] - np.log(2)) < 0.02, "a huge λ flattens the network to a 50/50 guess"
    lab.update(lam=gw.LAM_OFF)
    assert np.allclose(curves(lab)[1], val), "the slider's left end (no L2) brings back the cached unregularised run"
    assert len([key for key in lab.runs if key[2] == 0.0]) == 1


@pytest.mark.parametrize("control, value", [("lam", 0.003), ("dropout", 0.5), ("lr", 0.003), ("hidden", 8),
                                            ("dataset", "circles")])
def test_every_control_changes_curves_and_boundary(control, value):
    lab = widgets.overfitting_lab(*REGULARISERS, num_epochs=150, lam=1e-3)
    before_curves, before_image = curves(lab), image(lab)
    lab.update(**{control: value})
    after_curves, after_image = curves(lab), image(lab)
    assert lab.status.value == ""
    assert not np.allclose(before_curves[1], after_curves[1]), f"moving {control} left the validation curve unchanged"
    assert not np.allclose(before_image, after_image), f"moving {control} left the decision boundary unchanged"


def test_epochs_slider_rewinds_from_snapshots_and_keeps_the_prefix():
    lab = widgets.overfitting_lab(*REGULARISERS, num_epochs=300)
    long_train, long_val = curves(lab)
    lab.update(num_epochs=100)
    short_train, short_val = curves(lab)
    assert len(short_val) == 101 and np.allclose(short_val, long_val[:101]) and np.allclose(short_train, long_train[:101])
    lab.update(num_epochs=300)
    assert np.allclose(curves(lab)[1], long_val), "training forward again from a snapshot reproduces the run"
    assert len(lab.runs) == 1


def picture(lab):
    """Everything the lab shows: titles and limits, curves, the lowest-loss dot and the decision region."""
    texts = [(ax.get_title(), ax.get_xlim()) for ax in lab.fig.axes]
    return texts, [*curves(lab), np.asarray(lab.best_dot.get_data()), image(lab)]


def same(first, second):
    return first[0] == second[0] and all(np.array_equal(a, b) for a, b in zip(first[1], second[1], strict=True))


def test_lab_trains_in_steps_and_continues_a_dropped_frame_later(monkeypatch):
    monkeypatch.setattr(gw, "STEP_SECONDS", 0.0)  # a frame step trains one epoch
    lab = widgets.overfitting_lab(*REGULARISERS, lam=0.003, num_epochs=0)

    def reached():
        """The epoch the lab shows, checked against its curves, titles and boundary at every step."""
        train, val = curves(lab)
        epoch = len(val) - 1
        assert lab.ax.get_title().startswith(f"epoch {epoch}:") and lab.run.epoch == epoch
        assert f"train {train[-1]:.3f}, validation {val[-1]:.3f}" in lab.curve_ax.get_title()
        assert lab.best_dot.get_data()[0][0] == np.argmin(val)
        boundary = gw.forward(lab.grid, lab.run.params)[0][:, 1].reshape(gw.GRID_STEPS, gw.GRID_STEPS)
        assert np.array_equal(image(lab), boundary), "the boundary is the one of the epoch in the title"
        return epoch

    first = lab.in_steps(num_epochs=10)
    next(first), next(first)
    assert reached() == 2 and lab.status.value == "", "one epoch per frame step"
    assert [reached() for _ in lab.in_steps(lr=0.003)] == list(range(1, 11)), "a change drops the frame"
    assert [reached() for _ in lab.in_steps(lr=0.01)] == list(range(3, 11)), "the kept run goes on from epoch 2"
    assert lab.error is None and lab.steps is None
    reference = widgets.overfitting_lab(*REGULARISERS, lam=0.003, num_epochs=0)
    reference.update(num_epochs=10)
    assert same(picture(lab), picture(reference)), "the last step shows what update() shows"


@pytest.mark.parametrize("missing", gw.REGULARISERS)
def test_unfinished_regulariser_shows_implement_message(missing):
    functions = [stub(name) if name == missing else SOLUTION[name] for name in gw.REGULARISERS]
    lab = widgets.overfitting_lab(*functions, num_epochs=50)
    assert "Implement" in lab.status.value and f"<code>{missing}</code>" in lab.status.value
    assert len(lab.val_curve.get_xdata()) == 0 and lab.runs == {}
    assert all(f"<code>{name}</code>" not in lab.status.value for name in gw.REGULARISERS if name != missing)


def test_all_unfinished_regularisers_are_named_at_once():
    lab = widgets.overfitting_lab(*(stub(name) for name in gw.REGULARISERS), num_epochs=50)
    assert lab.status.value.startswith("<b>Implement")
    assert all(f"<code>{name}</code>" in lab.status.value for name in gw.REGULARISERS)


def test_broken_function_is_reported_and_the_lab_recovers():
    def dropout_forward(A, keep_prob, seed, training=True):
        return A * 2                       # forgot the mask
    functions = dict(zip(gw.REGULARISERS, REGULARISERS))
    functions["dropout_forward"] = dropout_forward
    lab = widgets.overfitting_lab(**functions, num_epochs=20)
    assert "dropout_forward" in lab.status.value and "raised" in lab.status.value and "Implement" not in lab.status.value
    functions["dropout_forward"] = SOLUTION["dropout_forward"]
    fixed = widgets.overfitting_lab(**functions, num_epochs=20)
    assert fixed.status.value == ""


def test_the_lab_uses_the_students_regularisers():
    """A student's L2 that is ten times too strong changes what the lab shows (the widget is wired to their code)."""
    def l2_gradients(params, grads, lam):
        return [(dW + 20 * lam * W, db) for (W, _), (dW, db) in zip(params, grads)]
    right = widgets.overfitting_lab(*REGULARISERS, lam=0.01, num_epochs=100)
    wrong = widgets.overfitting_lab(REGULARISERS[0], l2_gradients, *REGULARISERS[2:], lam=0.01, num_epochs=100)
    assert right.values()["lam"] == 0.01 and not np.allclose(curves(right)[1], curves(wrong)[1])


def test_train_without_regularisers_matches_the_solutions_at_zero_strength():
    X, y, X_val, y_val = gw.lab_data()["moons"]
    plain = gw.train(X, y, X_val, y_val, num_epochs=60)
    with_code = gw.train(X, y, X_val, y_val, num_epochs=60, lam=0.0, keep_prob=1.0, **dict(zip(gw.REGULARISERS, REGULARISERS)))
    np.testing.assert_allclose(plain[1], with_code[1], rtol=1e-12)
    with pytest.raises(NotImplementedError):
        gw.train(X, y, X_val, y_val, num_epochs=5, l2_penalty=stub("l2_penalty"), l2_gradients=stub("l2_gradients"),
                 dropout_forward=SOLUTION["dropout_forward"], dropout_backward=SOLUTION["dropout_backward"])


def test_augmentation_table_helps_on_shifted_digits():
    rows = gw.augmentation_table(SOLUTION["shift_images"], num_train=150, num_val=200, num_epochs=60)
    (name0, n0, _, _, shifted0), (name1, n1, _, _, shifted1) = rows
    assert (n0, n1) == (150, 750) and shifted1 > shifted0 + 0.1
    with pytest.raises(NotImplementedError):
        gw.augmentation_table(stub("shift_images"), num_train=20, num_val=20, num_epochs=1)


# --- the text matches the printed numbers -----------------------------------------------------------
def outputs_text():
    return "\n".join(o.get("text", "") for c in ex.solution.cells if c.cell_type == "code" for o in c.outputs)


def test_every_number_quoted_in_the_discussion_is_printed_by_a_cell():
    printed = outputs_text()
    discussion = [c for c in ex.solution.cells if c.cell_type == "markdown" and "nbgrader" not in c.metadata
                  and not c.source.startswith(("**q", "## 9 · Knowledge check", "**Written answer"))]
    markdown = "\n".join(c.source for c in discussion)
    quoted = set(re.findall(r"\b\d\.\d{3}\b", markdown)) | set(re.findall(r"\b\d+\.\d%", markdown))
    assert len(quoted) >= 25, sorted(quoted)
    missing = sorted(q for q in quoted if q not in printed)
    assert not missing, f"numbers quoted in the text but printed by no cell: {missing}"
    assert "stopped after 32 epochs; best epoch 12" in printed


def test_regularisation_and_rate_sliders_blit_instead_of_redrawing():
    lab = widgets.overfitting_lab(*REGULARISERS, lam=1e-3, num_epochs=100)
    full_draws, draw = [0], lab.fig.draw

    def counting_draw(renderer):
        full_draws[0] += 1
        return draw(renderer)
    lab.fig.draw = counting_draw
    for values in ({"lam": 0.01}, {"lr": 0.003}, {"dropout": 0.3}, {"lam": 0.001}, {"lr": 0.01}):
        lab.update(**values)
    assert lab.status.value == ""
    assert full_draws[0] == 0, "moving λ, dropout or the learning rate redrew the whole figure instead of blitting"
