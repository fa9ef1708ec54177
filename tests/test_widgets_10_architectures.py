"""Lesson 10 widgets driven without a browser (Agg): the kernel explorer, the gradient through time, the attention
explorer, the bottleneck explorer and the GAN lab.

Built with the solution notebook's functions and with stubs; checks that the artists follow the controls and show what
the lesson says, that an unfinished exercise is named, and that the sliders a browser test looks for exist.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import architecture_widgets as aw  # noqa: E402
from nncourse import data, widgets  # noqa: E402
from tests.validity import Exercises  # noqa: E402

ex = Exercises("10_architectures", solutions_only=True)


@pytest.fixture(scope="module")
def lesson():
    return ex.context("q1")


def unfinished(name):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    stub.__name__ = name
    return stub


def test_conv_explorer_shows_the_students_feature_map_and_pooling(lesson):
    explorer = widgets.conv_explorer(lesson["conv2d"], lesson["max_pool"])
    assert explorer.error is None and explorer.status.value == ""
    image = data.digits()[0][5].reshape(8, 8)
    kernel = np.array(aw.KERNELS["horizontal edges"])
    explorer.update(index=5, **{f"w{r + 1}{c + 1}": kernel[r, c] for r in range(3) for c in range(3)})
    feature = lesson["conv2d"](image, kernel)
    np.testing.assert_allclose(explorer.artists[0].get_array(), image)
    np.testing.assert_allclose(explorer.artists[1].get_array(), kernel)
    np.testing.assert_allclose(explorer.artists[2].get_array(), feature)
    np.testing.assert_allclose(explorer.artists[3].get_array(), lesson["max_pool"](feature, 2))
    explorer.update(w11=-1.0)
    assert explorer.artists[1].get_array()[0, 0] == -1.0
    assert not np.allclose(explorer.artists[2].get_array(), feature)


def test_conv_explorer_names_the_unfinished_conv2d_and_waits_for_max_pool(lesson):
    explorer = widgets.conv_explorer(unfinished("conv2d"), lesson["max_pool"])
    assert isinstance(explorer.error, NotImplementedError) and "conv2d" in explorer.status.value
    explorer = widgets.conv_explorer(lesson["conv2d"], unfinished("max_pool"))  # the convolution works without it
    assert explorer.error is None and "max_pool" in explorer.axes[3].get_title()
    assert np.all(explorer.artists[3].get_array() == 0.0) and explorer.artists[2].get_array().any()


def test_conv_explorer_reports_a_wrong_shape(lesson):
    explorer = widgets.conv_explorer(lambda image, kernel: np.zeros((8, 8)), lesson["max_pool"])
    assert isinstance(explorer.error, ValueError) and "(6, 6)" in explorer.status.value


def test_time_gradient_vanishes_for_small_recurrent_weights(lesson):
    lab = widgets.time_gradient(lesson["rnn_forward"], scale=0.5, length=40)
    assert lab.error is None
    x, norms = lab.line.get_data()
    assert len(x) == 40 and norms[-1] == pytest.approx(4.0)  # the gradient of sum(h_T) has norm sqrt(16)
    assert norms[-21] < 1e-5 * norms[-1]  # as the lesson says: 20 steps back it is below 1e-5
    lab.update(scale=1.3)
    _, slower = lab.line.get_data()
    assert slower[0] > 1e3 * norms[0]


def test_time_gradient_names_the_unfinished_function():
    lab = widgets.time_gradient(unfinished("rnn_forward"))
    assert isinstance(lab.error, NotImplementedError) and "rnn_forward" in lab.status.value


def test_attention_explorer_shows_the_students_weights(lesson):
    explorer = widgets.attention_explorer(lesson["attention"], query=7, temperature=1.0)
    assert explorer.error is None
    Q, K, V = aw.token_vectors()
    weights = lesson["attention"](Q, K, V)[1]
    np.testing.assert_allclose(explorer.image.get_array(), weights)
    np.testing.assert_allclose([bar.get_height() for bar in explorer.bars], weights[7])
    explorer.update(temperature=0.1)
    sharp = np.array([bar.get_height() for bar in explorer.bars])
    assert sharp.max() > weights[7].max()
    explorer.update(causal=True, query=3)
    shown = explorer.image.get_array()
    assert np.all(np.asarray(shown)[np.triu_indices(len(aw.TOKENS), 1)] == 0.0)
    assert [bar.get_height() for bar in explorer.bars][4:] == [0.0] * (len(aw.TOKENS) - 4)


def test_attention_explorer_names_the_unfinished_function_and_a_wrong_result():
    explorer = widgets.attention_explorer(unfinished("attention"))
    assert isinstance(explorer.error, NotImplementedError) and "attention" in explorer.status.value
    explorer = widgets.attention_explorer(lambda Q, K, V, causal=False: Q @ K.T)
    assert isinstance(explorer.error, ValueError) and "tuple" in explorer.status.value


def test_bottleneck_explorer_reconstructs_better_with_more_units():
    explorer = widgets.bottleneck_explorer(units=2)
    X = data.digits()[0]
    mean, W_enc, W_dec = aw.pca_autoencoder(X, 2)
    np.testing.assert_allclose(explorer.images[0].get_array(),
                               np.clip(((X[:1] - mean) @ W_enc @ W_dec + mean).reshape(8, 8), 0, 1), atol=1e-12)
    errors = []
    for units in (2, 16, 64):
        explorer.update(units=units)
        errors.append(float(explorer.title.get_text().split("pixel ")[1].split()[0]))
        mean, W_enc, W_dec = aw.pca_autoencoder(X, units)  # the title's error is the whole set's, reconstructed
        whole = aw.reconstruction_error(X, (X - mean) @ W_enc @ W_dec + mean)
        assert explorer.errors[units] == pytest.approx(whole, rel=1e-9, abs=1e-15)
        assert f"per pixel {whole:.4f} over all {len(X)} digits" in explorer.title.get_text()
    assert errors[0] > errors[1] > errors[2] == 0.0
    np.testing.assert_allclose(explorer.images[0].get_array(), X[0].reshape(8, 8), atol=1e-12)


def test_gan_lab_plots_the_run_of_the_chosen_learning_rate():
    lab = widgets.gan_lab(lr=0.05, num_steps=300)
    assert lab.error is None
    run = aw.train_gan(lr=0.05, num_steps=300)
    steps, means = lab.mean_line.get_data()
    assert len(steps) == 301 and np.allclose(means, run["c"])
    lab.update(lr=0.5)
    _, means = lab.mean_line.get_data()
    assert np.allclose(means, aw.train_gan(lr=0.5, num_steps=300)["c"])
    lab.update(num_steps=0)
    assert len(lab.mean_line.get_data()[0]) == 1


def test_the_lesson_has_a_weight_and_a_learning_rate_slider(lesson):
    """What the browser journey drags: a slider labelled like a weight and one labelled learning rate."""
    import re
    weight, rate = re.compile(r"^w\d|weight", re.I), re.compile(r"learning\s*rate", re.I)
    labels = [c.description for c in widgets.conv_explorer(lesson["conv2d"], lesson["max_pool"]).controls.values()]
    labels += [c.description for c in widgets.time_gradient(lesson["rnn_forward"]).controls.values()]
    assert any(weight.search(label) for label in labels)
    assert any(rate.search(c.description) for c in widgets.gan_lab(num_steps=100).controls.values())


def gan_picture(lab):
    lines = (lab.fake_line, lab.d_line, lab.mean_line, lab.std_line)
    return [np.asarray(line.get_xydata()).tolist() for line in lines] + [lab.ax.get_title(), lab.path_ax.get_xlim()]


def test_gan_lab_trains_in_steps_each_showing_the_run_so_far(monkeypatch):
    monkeypatch.setattr(aw, "STEP_SECONDS", 0.0)  # one training step per pass of the loop
    lab, shown = aw.GanLab(lr=0.05, num_steps=0).show(), []
    for _ in lab.in_steps(lr=0.3, num_steps=20):
        steps, means = lab.mean_line.get_data()
        shown.append(len(steps) - 1)
        assert list(means) == aw.train_gan(lr=0.3, num_steps=shown[-1])["c"], "the curve is the run up to its end"
        assert lab.ax.get_title().startswith(f"after {shown[-1]} steps")
    assert shown == list(range(1, 21)) and lab.steps is None
    assert gan_picture(lab) == gan_picture(aw.GanLab(lr=0.3, num_steps=20).show()), "the same end as update()"


def test_gan_lab_drops_a_stale_frame_and_continues_the_run_of_the_same_rate(monkeypatch):
    monkeypatch.setattr(aw, "STEP_SECONDS", 0.0)
    lab = aw.GanLab(lr=0.3, num_steps=0).show()
    for done, _ in enumerate(lab.in_steps(num_steps=100)):
        if done == 9:  # 10 steps shown, the 11th scheduled; then the slider moves
            break
    shown = [len(lab.mean_line.get_data()[0]) - 1 for _ in lab.in_steps(num_steps=15)]
    assert shown == [11, 12, 13, 14, 15], "the new frame continues the run from step 10"
    assert lab.runs[0.3].steps == 15 and lab.steps is None
    lab.update(num_steps=5)  # fewer steps: the kept run, cut, without training
    assert lab.runs[0.3].steps == 15 and gan_picture(lab) == gan_picture(aw.GanLab(lr=0.3, num_steps=5).show())
