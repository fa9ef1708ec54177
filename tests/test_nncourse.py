"""Unit tests of the nncourse helpers: feedback messages, data, plots, lesson setup and lesson-01 widgets."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nncourse  # noqa: E402
from nncourse import data, feedback, lesson, plots, widgets  # noqa: E402
from nncourse.neuron_widgets import NeuronExplorer, PerceptronTrainer  # noqa: E402


# --- feedback ------------------------------------------------------------------------------------
def test_check_close_passes_on_close_values_and_lists():
    feedback.check_close("f(x)", [1.0, 2.0 + 1e-9], np.array([1.0, 2.0]))


def test_check_close_message_has_expected_got_and_known_mistake():
    with pytest.raises(AssertionError) as error:
        feedback.check_close("neuron(x)", 1.2, 1.5, hint="generic", mistakes={"the bias is missing": 1.2})
    message = str(error.value)
    assert "neuron(x): wrong value" in message and "expected: 1.5" in message and "got:      1.2" in message
    assert "hint:     the bias is missing" in message and "generic" not in message


def test_check_close_falls_back_to_the_generic_hint():
    with pytest.raises(AssertionError, match="hint:     generic"):
        feedback.check_close("f", 3.0, 1.5, hint="generic", mistakes={"other": 9.0})


def test_check_close_reports_shape_and_none_and_nan():
    with pytest.raises(AssertionError, match=r"wrong shape, expected \(3,\) but got \(3, 1\)"):
        feedback.check_close("f", np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(AssertionError, match="forget the return"):
        feedback.check_close("f", None, 1.0)
    with pytest.raises(AssertionError, match="nan or inf"):
        feedback.check_close("f", [np.inf], [1.0])
    with pytest.raises(AssertionError, match="not a number or array"):
        feedback.check_close("f", "text", 1.0)


def test_check_equal_shape_dtype_true():
    feedback.check_equal("labels", [1, 0], np.array([1, 0]))
    with pytest.raises(AssertionError, match="hint:     swapped"):
        feedback.check_equal("labels", [0, 1], [1, 0], mistakes={"swapped": [0, 1]})
    feedback.check_shape("W", np.zeros((2, 3)), (2, 3))
    with pytest.raises(AssertionError, match=r"expected: \(3, 2\)"):
        feedback.check_shape("W", np.zeros((2, 3)), (3, 2))
    feedback.check_dtype("p", np.zeros(2, dtype=np.float32))
    with pytest.raises(AssertionError, match="floating point"):
        feedback.check_dtype("p", np.zeros(2, dtype=int))
    with pytest.raises(AssertionError, match="custom"):
        feedback.check_true(False, "custom")


def test_unanswered_is_unfinished_not_wrong():
    with pytest.raises(NotImplementedError, match="q1 is still unanswered"):
        feedback.check_choice("q1", None)
    with pytest.raises(AssertionError, match="one of"):
        feedback.check_choice("q1", "e")
    assert feedback.check_choice("q1", " B ") == "b"
    assert feedback.require("w", 0) == 0


def test_call_keeps_not_implemented_and_turns_crashes_into_feedback():
    def stub(x):
        raise NotImplementedError()

    def broken(x):
        return x.nope

    with pytest.raises(NotImplementedError):
        feedback.call(stub, 1)
    with pytest.raises(AssertionError, match="broken.*raised AttributeError"):
        feedback.call(broken, 1)
    assert feedback.call(abs, -2) == 2


def test_try_it_prints_result_or_friendly_note(capsys):
    def stub(x):
        raise NotImplementedError()

    feedback.try_it(stub, 1)
    feedback.try_it(np.sqrt, 4.0)
    out = capsys.readouterr().out
    assert "Implement stub above" in out and "sqrt returned 2" in out


# --- data ----------------------------------------------------------------------------------------
def test_logic_gates():
    X, y = data.logic_gate("XOR")
    assert X.shape == (4, 2) and y.tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="Unknown gate 'nor'"):
        data.logic_gate("nor")


def test_blobs_are_seeded_balanced_and_linearly_separable():
    X, y = data.blobs(40, seed=3)
    assert X.shape == (40, 2) and np.bincount(y).tolist() == [20, 20]
    np.testing.assert_array_equal(X, data.blobs(40, seed=3)[0])
    from sklearn.svm import LinearSVC

    assert LinearSVC(C=100.0).fit(X, y).score(X, y) == 1.0
    with pytest.raises(ValueError, match="n >= 2"):
        data.blobs(1)


@pytest.mark.parametrize("n, noise, seed", [(200, 0.2, 0), (51, 0.05, 7), (10, None, 3)])
def test_moons_and_circles_equal_scikit_learns(n, noise, seed):
    from sklearn.datasets import make_circles, make_moons

    for ours, theirs in ((data.moons(n, noise, seed), make_moons(n, noise=noise, random_state=seed)),
                         (data.circles(n, noise, 0.5, seed), make_circles(n, noise=noise, factor=0.5, random_state=seed))):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])


def test_digits_equal_scikit_learns():
    from sklearn.datasets import load_digits

    X, y = data.digits()
    bunch = load_digits()
    np.testing.assert_array_equal(X, bunch.data / 16.0)
    np.testing.assert_array_equal(y, bunch.target)


def test_sklearn_datasets_are_offline_and_seeded():
    X, y = data.moons(50, seed=1)
    assert X.shape == (50, 2) and set(y) == {0, 1}
    np.testing.assert_array_equal(X, data.moons(50, seed=1)[0])
    X, y = data.circles(30)
    assert X.shape == (30, 2)
    X, y = data.digits()
    assert X.shape == (1797, 64) and X.max() == 1.0 and set(y) == set(range(10))


# --- plots and lesson setup ----------------------------------------------------------------------
def test_boundary_line_lies_on_the_boundary():
    w, b = np.array([2.0, -1.0]), 0.5
    xs, ys = plots.boundary_line(w, b, (-1, 1, -1, 1))
    np.testing.assert_allclose(w[0] * xs + w[1] * ys + b, 0.0, atol=1e-12)
    xs, ys = plots.boundary_line([2.0, 0.0], 1.0, (-1, 1, -1, 1))
    np.testing.assert_allclose(xs, -0.5)
    assert plots.boundary_line([0.0, 0.0], 1.0, (-1, 1, -1, 1))[0].size == 0


def test_grid_covers_the_points():
    points, extent = plots.grid_over(np.array([[0.0, 0.0], [1.0, 2.0]]), margin=0.5, steps=10)
    assert points.shape == (100, 2) and extent == (-0.5, 1.5, -0.5, 2.5)


def test_start_applies_style_and_returns_a_seeded_generator():
    rng = nncourse.start(seed=7)
    assert rng.integers(1000) == np.random.default_rng(7).integers(1000)
    assert matplotlib.rcParams["axes.spines.top"] is False
    assert lesson.version_notes() == []


def test_version_notes_name_mismatches(monkeypatch):
    monkeypatch.setattr(lesson, "pinned_versions", lambda: {"numpy": "0.0.1", "unchecked": "1"})
    assert lesson.version_notes() == [f"Note: numpy {np.__version__} is installed; the course is tested with 0.0.1."]


# --- lesson-01 widgets, driven without a browser --------------------------------------------------
def step(z):
    return np.where(np.asarray(z) >= 0, 1.0, 0.0)


def neuron_batch(X, w, b, activation=step):
    return activation(np.asarray(X) @ np.asarray(w) + b)


def not_yet(*args, **kwargs):
    raise NotImplementedError()


def train_perceptron(X, y, lr=0.1, num_epochs=10, w0=None, b0=0.0):
    w, b, history = np.array(w0, dtype=float), b0, []
    for _ in range(num_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y):
            error = y_i - step(x_i @ w + b)
            mistakes += int(error != 0)
            w, b = w + lr * error * x_i, b + lr * error
        history.append(mistakes)
    return w, b, history


def test_neuron_explorer_moves_the_boundary_and_reports_accuracy():
    explorer = widgets.neuron_explorer(neuron_batch, *data.logic_gate("and"), w=(1.0, 1.0), b=-0.5)
    assert explorer.status.value == ""
    before = np.array(explorer.line.get_xydata())
    explorer.update(b=-1.5)
    assert not np.allclose(before, explorer.line.get_xydata())
    assert explorer.ax.get_title().endswith("4 of 4 correct")
    assert explorer.region.get_array().sum() > 0
    assert [t.get_text() for t in explorer.labels] == ["0", "0", "0", "1"]


def test_neuron_explorer_reacts_to_slider_changes_like_a_browser_would():
    explorer = NeuronExplorer(neuron_batch, *data.logic_gate("or")).show()
    explorer.controls["w2"].value = -2.0
    assert "w=(1, -2)" in explorer.ax.get_title()


def test_widgets_show_a_friendly_message_until_implemented():
    explorer = widgets.neuron_explorer(not_yet, *data.logic_gate("and"))
    assert "Implement <code>not_yet</code> above" in explorer.status.value
    assert isinstance(explorer.error, NotImplementedError)


def test_widgets_show_other_errors_briefly():
    def broken(X, w, b):
        raise ValueError("shapes (4,2) and (3,) not aligned")

    explorer = widgets.neuron_explorer(broken, *data.logic_gate("and"))
    assert "raised ValueError" in explorer.status.value and "not aligned" in explorer.status.value


def test_perceptron_trainer_converges_on_and_never_on_xor():
    gates = {name: data.logic_gate(name) for name in ("and", "xor")}
    trainer = PerceptronTrainer(train_perceptron, gates, lr=0.5, num_epochs=20).show()
    assert trainer.ax.get_title() == "epoch 20: converged"
    assert len(trainer.curve.get_xdata()) == 20
    trainer.update(dataset="xor")
    assert "still wrong" in trainer.ax.get_title()
    assert trainer.points[1].get_offsets().shape == (2, 2)


def test_perceptron_trainer_learning_rate_changes_the_result():
    trainer = widgets.perceptron_trainer(train_perceptron, {"and": data.logic_gate("and")}, lr=0.01, num_epochs=3)
    slow = np.array(trainer.curve.get_ydata())
    trainer.update(lr=1.0)
    assert not np.array_equal(slow, trainer.curve.get_ydata())


def test_widget_bundle_contains_controls_status_and_figure():
    explorer = widgets.neuron_explorer(neuron_batch, *data.logic_gate("and"))
    assert explorer.widget is explorer.widget
    assert len(explorer.widget.children) == 3
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()


def test_the_polygon_dot_marker_looks_like_matplotlibs_circle():
    """plots.dot() replaces the curved "o" (whose extent matplotlib measures on every draw): same size and shape."""
    import matplotlib.pyplot as plt
    pictures = []
    for marker in ("o", plots.dot()):
        fig, ax = plt.subplots(figsize=(2, 2), dpi=100)
        ax.set_axis_off()
        ax.scatter([0, 1, 2], [0, 1, 0], s=140, marker=marker, color="black")
        ax.set_xlim(-1, 3)
        ax.set_ylim(-1, 2)
        fig.canvas.draw()
        pictures.append(np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128)
        plt.close(fig)
    circle, dot = pictures
    assert circle.sum() > 300 and abs(int(dot.sum()) - int(circle.sum())) <= 0.05 * circle.sum()
    assert (circle != dot).sum() <= 0.06 * circle.sum()


def test_nice_ceilings_cover_the_value_change_seldom_and_stay_close():
    values = np.concatenate([np.arange(25, 1001, 25), np.geomspace(1e-3, 1e4, 500), [0.1, 0.25, 1, 100, 1000]])
    ceilings = np.array([plots.nice_ceiling(v) for v in values])
    assert np.all(ceilings >= values * (1 - 1e-12)) and np.all(ceilings < 2.0001 * values)
    mantissas = ceilings / 10.0 ** np.floor(np.log10(ceilings) + 1e-12)
    assert np.all(np.isclose(mantissas[:, None], [1, 2, 2.5, 5]).any(axis=1))
    assert plots.nice_ceiling(100) == 100 and plots.nice_ceiling(0.7) == pytest.approx(1.0)
    assert len(set(ceilings[:40])) == 7, "dragging 25 to 1000 epochs moves the axis 7 times, not 40"
