"""Lesson 11 widgets driven without a browser (Agg): the saliency explorer, the integrated-gradients convergence,
the saturated neuron and the side-by-side figure.

Built with the solution notebook's functions and with stubs; checks that the artists follow the controls, that what
is drawn is what the student's functions return, and that an unfinished exercise is named in the status line.
"""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import interpretability_widgets as iw  # noqa: E402
from nncourse import reference as ref  # noqa: E402
from nncourse import widgets  # noqa: E402
from tests.validity import Exercises  # noqa: E402

ex = Exercises("11_interpretability")


@pytest.fixture(scope="module")
def lesson():
    return ex.context("q1")


@pytest.fixture(scope="module")
def digits():
    X_train, y_train, X_test, y_test = iw.digits_split()
    return X_train[:300], y_train[:300], X_test[:20], y_test[:20]


def unfinished(name):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    stub.__name__ = name
    return stub


def test_digits_split_and_training_are_seeded():
    X_train, y_train, X_test, y_test = iw.digits_split()
    assert X_train.shape == (1400, 64) and X_test.shape == (397, 64) and 0 <= X_train.min() and X_train.max() <= 1
    first, losses = iw.train_digits(X_train[:200], y_train[:200], num_epochs=2)
    again, losses_again = iw.train_digits(X_train[:200], y_train[:200], num_epochs=2)
    assert len(first) == 3 and losses == losses_again
    np.testing.assert_array_equal(first[-1][0][0], again[-1][0][0])
    np.testing.assert_array_equal(first[0][0][0], ref.init_params([64, 32, 10], seed=0)[0][0])


def test_logits_are_the_pre_softmax_scores():
    params = ref.init_params([64, 32, 10], seed=1)
    X = np.random.default_rng(0).uniform(size=(3, 64))
    np.testing.assert_allclose(ref.softmax(iw.logits(X, params)), ref.mlp_forward(X, params)[0])


def test_saliency_explorer_draws_the_students_gradient(lesson, digits):
    X_train, y_train, X_show, y_show = digits
    explorer = widgets.saliency_explorer(lesson["input_gradient"], X_train, y_train, X_show, y_show, lr=0.1,
                                         num_epochs=3)
    assert explorer.error is None and explorer.status.value == ""
    explorer.update(image=5, explain="3")
    params = explorer.network(0.1, 3)[0]
    want = lesson["input_gradient"](X_show[5:6], params, 3, "relu")[0]
    np.testing.assert_allclose(explorer.saliency.get_array(), (want / np.abs(want).max()).reshape(8, 8))
    np.testing.assert_allclose(explorer.image.get_array(), X_show[5].reshape(8, 8))
    assert "logit[3]" in explorer.sal_ax.get_title()
    xs, ys = explorer.curve.get_data()
    assert list(xs) == [1, 2, 3] and len(explorer.runs) == 1


def test_saliency_explorer_learning_rate_and_epochs_change_the_network(lesson, digits):
    X_train, y_train, X_show, y_show = digits
    explorer = iw.SaliencyExplorer(lesson["input_gradient"], X_train, y_train, X_show, y_show, num_epochs=2).show()
    before = np.array(explorer.saliency.get_array())
    explorer.update(lr=0.01)
    assert len(explorer.runs) == 2 and not np.allclose(explorer.saliency.get_array(), before)
    explorer.update(num_epochs=0)
    assert "untrained" in explorer.loss_ax.get_title()
    explorer.update(lr=1.0, num_epochs=4)
    assert "lr 1" in explorer.loss_ax.get_title()


def test_saliency_explorer_names_the_unfinished_function(digits):
    explorer = iw.saliency_explorer(unfinished("input_gradient"), *digits)
    assert isinstance(explorer.error, NotImplementedError) and "input_gradient" in explorer.status.value


def test_ig_convergence_follows_steps_and_baseline(lesson, digits):
    X_train, y_train, X_show, _ = digits
    params = iw.train_digits(X_train, y_train, num_epochs=2)[0][-1]
    x = X_show[0]
    baselines = {"black": np.zeros(64), "mean": X_train.mean(axis=0)}
    demo = widgets.ig_convergence(lesson["integrated_gradients"], lesson["input_gradient"], x, params, 2, baselines,
                                  steps=4)
    assert demo.error is None
    grad_fn = lambda P: lesson["input_gradient"](P, params, 2, "relu")
    want = lesson["integrated_gradients"](x, np.zeros(64), grad_fn, 4)
    np.testing.assert_allclose(demo.attribution.get_array(), (want / np.abs(want).max()).reshape(8, 8))
    gaps = demo.curve.get_ydata()
    assert len(gaps) == len(iw.STEP_GRID) and gaps[-1] < gaps[0]
    demo.update(steps=64, baseline="mean")
    change = iw.logits(x, params)[0, 2] - iw.logits(baselines["mean"], params)[0, 2]
    assert "64 steps" in demo.map_ax.get_title() and f"{change:.3f}" in demo.map_ax.get_title()
    assert set(demo.gaps) == {"black", "mean"}


@pytest.mark.parametrize("missing", ["integrated_gradients", "input_gradient"])
def test_ig_convergence_names_whichever_function_is_unfinished(lesson, digits, missing):
    functions = {name: lesson[name] for name in ("integrated_gradients", "input_gradient")}
    functions[missing] = unfinished(missing)
    params = ref.init_params([64, 32, 10], seed=0)
    demo = iw.ig_convergence(functions["integrated_gradients"], functions["input_gradient"], digits[2][0], params, 0,
                             {"black": np.zeros(64)})
    assert f"<code>{missing}</code>" in demo.status.value


def test_saturation_demo_shows_the_gradient_vanish_and_ig_keep_the_change(lesson):
    demo = widgets.saturation_demo(lesson["integrated_gradients"], w=0.2, steps=32)
    small_plain = [bar.get_height() for bar in demo.grad_bars]
    small_ig = [bar.get_height() for bar in demo.ig_bars]
    assert np.allclose(small_plain, small_ig, rtol=0.03)
    demo.update(w=8.0)
    plain = [bar.get_height() for bar in demo.grad_bars]
    ig = [bar.get_height() for bar in demo.ig_bars]
    assert max(plain) < 1e-3, "a saturated neuron's gradient x input should vanish"
    assert sum(ig) == pytest.approx(ref.sigmoid(12.0) - 0.5, rel=1e-2)
    assert ig[0] == pytest.approx(2 * ig[1], rel=1e-9)
    assert demo.controls["w"].description == "weight w"


def test_saturation_demo_names_the_unfinished_function():
    demo = iw.saturation_demo(unfinished("integrated_gradients"))
    assert "integrated_gradients" in demo.status.value


def test_compare_methods_draws_every_map():
    images = np.random.default_rng(0).uniform(size=(2, 64))
    maps = {"a": list(images), "b": list(-images)}
    fig = iw.compare_methods(images, maps, ["one", "two"])
    assert len(fig.axes) == 6
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), -(images[0] / images[0].max()).reshape(8, 8))


def test_saliency_explorer_reuses_a_given_run_identical_to_its_own(lesson, digits):
    X_train, y_train, X_show, y_show = digits
    trained = iw.train_digits(X_train, y_train, lr=0.1, num_epochs=3)
    given = iw.saliency_explorer(lesson["input_gradient"], X_train, y_train, X_show, y_show, num_epochs=3, trained=trained)
    own = iw.saliency_explorer(lesson["input_gradient"], X_train, y_train, X_show, y_show, num_epochs=3)
    np.testing.assert_array_equal(given.saliency.get_array(), own.saliency.get_array())
    np.testing.assert_array_equal(given.curve.get_ydata(), own.curve.get_ydata())


def saliency_picture(explorer):
    images = [np.asarray(image.get_array()).tolist() for image in (explorer.image, explorer.saliency)]
    curves = [np.asarray(line.get_xydata()).tolist() for line in (explorer.curve, explorer.mark)]
    return images + curves + [ax.get_title() for ax in (explorer.im_ax, explorer.sal_ax, explorer.loss_ax)]


def test_saliency_explorer_trains_in_steps_each_explaining_the_epoch_reached(lesson, digits, monkeypatch):
    monkeypatch.setattr(iw, "STEP_SECONDS", 0.0)  # one epoch per pass of the loop
    X_train, y_train, X_show, y_show = digits
    explorer = iw.SaliencyExplorer(lesson["input_gradient"], X_train, y_train, X_show, y_show, num_epochs=0).show()
    shown = []
    for _ in explorer.in_steps(image=4, explain="7", lr=0.3, num_epochs=4):
        shown.append(len(explorer.curve.get_xdata()))
        params = explorer.runs[0.3][0][shown[-1]]
        want = lesson["input_gradient"](X_show[4:5], params, 7, "relu")[0]
        np.testing.assert_allclose(explorer.saliency.get_array(), (want / np.abs(want).max()).reshape(8, 8))
        assert f"epoch {shown[-1]}:" in explorer.loss_ax.get_title(), "the map is the network's at the epoch shown"
    assert shown == [1, 2, 3, 4] and explorer.steps is None
    fresh = iw.SaliencyExplorer(lesson["input_gradient"], X_train, y_train, X_show, y_show, lr=0.3, num_epochs=4,
                                index=4).show()
    fresh.update(explain="7")
    assert saliency_picture(explorer) == saliency_picture(fresh), "the same end as update()"
    assert len(list(explorer.in_steps(image=9))) == 1, "another image needs no training: one step"
    assert len(list(explorer.in_steps(num_epochs=6))) == 2, "more epochs continue the kept run"
