"""Lesson 07 widget: the NumPy/Keras race driven without a browser (matplotlib Agg)."""
import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import keras_tools  # noqa: E402
from nncourse.keras_widgets import KerasRace, keras_race  # noqa: E402
from tests.test_parity_07_keras import solution_namespace  # noqa: E402
from tests.validity import ROOT  # noqa: E402

SETUP = {"optimizer": "momentum", "lr": 0.05, "beta": 0.9}


@pytest.fixture(scope="module")
def lesson():
    return solution_namespace()


@pytest.fixture(scope="module")
def digits():
    X, y, _, _ = keras_tools.digits_split()
    return X[:96], y[:96]


def lines_data(race):
    return [np.array(line.get_ydata(), dtype=float).copy() for pair in race.lines.values() for line in pair]


def test_importing_the_widget_module_does_not_import_keras():
    code = "import sys, nncourse.keras_widgets; print('keras' in sys.modules, 'jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_race_trains_both_and_redraws_on_change(lesson, digits):
    race = keras_race(lesson["build_model"], lesson["transfer_weights"], lesson["compile_model"], *digits, SETUP,
                      num_epochs=2)
    assert race.error is None and race.status.value == ""
    first = lines_data(race)
    assert all(len(line) == 2 and np.all(np.isfinite(line)) for line in first)
    assert "NumPy" in race.acc_ax.get_title() and "Keras" in race.acc_ax.get_title()
    race.update(lr=0.5)
    second = lines_data(race)
    assert race.error is None
    assert any(not np.allclose(a, b) for a, b in zip(first, second)), "changing the learning rate changed nothing"
    assert "lr 0.5" in race.loss_ax.get_title()


def test_same_width_reuses_the_compiled_model_and_restarts_from_the_same_weights(lesson, digits):
    race = KerasRace(lesson["build_model"], lesson["transfer_weights"], lesson["compile_model"], *digits, SETUP,
                     hidden=(8, 16), num_epochs=2).show()
    before = lines_data(race)
    race.update(hidden=8)
    race.update(hidden=16)
    assert len(race.models) == 2
    after = lines_data(race)
    # NumPy is deterministic; the Keras curve starts from the same weights with fresh optimizer state.
    assert np.allclose(before[0], after[0]) and np.allclose(before[1], after[1])
    model = race.models[(64, 16, 10)]
    assert int(np.asarray(model.optimizer.iterations.value)) == 2 * 3  # 96 / 32 batches * 2 epochs, then reset
    for lr in (0.01, 0.16):
        race.update(lr=lr)
    assert len(race.models) == 2, "a new learning rate must reuse the compiled model"


@pytest.mark.parametrize("missing", ["build_model", "transfer_weights", "compile_model"])
def test_unfinished_function_is_named_in_the_status(lesson, digits, missing):
    functions = {name: lesson[name] for name in ("build_model", "transfer_weights", "compile_model")}
    def unfinished(*args, **kwargs):
        raise NotImplementedError()
    unfinished.__name__ = missing  # as in the released lesson, where the stub has the exercise's name
    functions[missing] = unfinished
    race = keras_race(functions["build_model"], functions["transfer_weights"], functions["compile_model"], *digits,
                      SETUP, num_epochs=1)
    assert isinstance(race.error, NotImplementedError)
    assert f"<code>{missing}</code>" in race.status.value and "Implement" in race.status.value
    assert all(len(line) == 0 for line in lines_data(race))


def test_other_errors_are_shown_not_raised(lesson, digits):
    def broken_compile(model, setup):
        raise KeyError("beta")
    race = keras_race(lesson["build_model"], lesson["transfer_weights"], broken_compile, *digits, SETUP, num_epochs=1)
    assert isinstance(race.error, KeyError)
    assert "KeyError" in race.status.value


def test_race_trains_an_epoch_per_step_and_ends_as_one_fit_would(lesson, digits, monkeypatch):
    from nncourse import keras_widgets
    from nncourse.reference import init_params
    monkeypatch.setattr(keras_widgets, "STEP_SECONDS", 0.0)  # one epoch of one twin per pass of the loop
    race = KerasRace(lesson["build_model"], lesson["transfer_weights"], lesson["compile_model"], *digits, SETUP,
                     hidden=(8, 16), num_epochs=2).show()
    numpy_run = keras_tools.train_numpy(init_params([64, 16, 10], seed=0), *digits, {**SETUP, "lr": 0.3}, 2, 32)
    shown = []
    np.random.seed(0)  # Keras shuffles with NumPy's global generator
    for _ in race.in_steps(lr=0.3):
        numpy_loss, _, keras_loss, _ = lines_data(race)
        shown.append((len(numpy_loss), len(keras_loss)))
        np.testing.assert_array_equal(numpy_loss, numpy_run["loss"][:len(numpy_loss)])
        if shown[-1] != (2, 2):
            assert race.acc_ax.get_title() == f"training: NumPy {shown[-1][0]}, Keras {shown[-1][1]} of 2 epochs"
    assert shown == [(1, 0), (1, 1), (2, 1), (2, 2)] and race.steps is None
    assert race.acc_ax.get_title().startswith("2 epochs: NumPy ")
    stepped = lines_data(race)
    model = race.keras_model([64, 16, 10], init_params([64, 16, 10], seed=0), 0.3)
    np.random.seed(0)
    one_fit = keras_tools.train_keras(model, digits[0].astype(model.trainable_variables[0].dtype), digits[1], 2, 32)
    np.testing.assert_array_equal(stepped[2], one_fit["loss"])  # an epoch per fit is the run of one fit
    np.testing.assert_array_equal(stepped[3], one_fit["accuracy"])
    np.random.seed(0)
    race.update(lr=0.3)
    assert all(np.array_equal(a, b) for a, b in zip(stepped, lines_data(race))), "the same end as update()"
