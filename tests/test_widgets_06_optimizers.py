"""Lesson 06 widgets driven without a browser: the race, the batch-noise view and the digits curves, built
with the solution functions and with unfinished stubs; slider changes on the interactive canvas only blit."""
import time

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from nncourse import data, plots, widgets  # noqa: E402
from tests.test_math_06_optimizers import SOLUTION  # noqa: E402

plots.apply_style()
UPDATES = [SOLUTION[name] for name in ("sgd_update", "momentum_update", "rmsprop_update", "adam_update")]


def stub(name):
    def unfinished(*args, **kwargs):
        raise NotImplementedError()
    unfinished.__name__ = name
    return unfinished


def path_data(race):
    return {name: np.column_stack(line.get_data()) for name, line in race.paths.items()}


def test_race_draws_four_trajectories_and_reacts_to_every_control():
    race = widgets.optimizer_race(*UPDATES)
    assert race.error is None and race.status.value == ""
    before = path_data(race)
    assert all(len(p) == 151 for p in before.values()), "150 steps from the start point on the default bowl"
    for control, value in (("lr", 0.02), ("beta", 0.5), ("beta1", 0.5), ("beta2", 0.9), ("x0", 3.0), ("y0", -1.0)):
        race.update(**{control: value})
        after = path_data(race)
        changed = [name for name in before if before[name].shape != after[name].shape or not np.allclose(before[name], after[name])]
        assert changed, f"moving {control} changed no trajectory"
        before = after
    assert np.allclose(race.start_dot.get_data(), [[3.0], [-1.0]])


def test_race_reports_divergence_and_the_valley():
    race = widgets.optimizer_race(*UPDATES)
    race.update(lr=1.5)
    lines = race.report.get_text().splitlines()
    assert lines[0] == "learning rate 1.5" and lines[1].startswith("SGD      diverged at step"), lines
    race.update(surface="banana valley", lr=0.1, x0=-1.5, y0=2.0)
    assert race.ax.get_xlim() == (-2.0, 2.0) and race.goal.get_data()[0][0] == 1.0
    final = {name: np.column_stack(line.get_data())[-1] for name, line in race.paths.items()}
    assert np.linalg.norm(final["Adam"] - [1.0, 1.0]) < 0.5, "Adam should reach the valley minimum at lr 0.1"


def test_race_with_stubs_names_the_missing_functions():
    race = widgets.optimizer_race(UPDATES[0], stub("momentum_update"), stub("rmsprop_update"), UPDATES[3])
    assert "Implement" in race.status.value and "momentum_update" in race.status.value
    assert "rmsprop_update" in race.status.value and "sgd_update" not in race.status.value
    assert len(race.paths["SGD"].get_xdata()) == 151 and len(race.paths["momentum"].get_xdata()) == 0
    all_stubs = widgets.optimizer_race(*(stub(n) for n in ("sgd_update", "momentum_update", "rmsprop_update", "adam_update")))
    assert "Implement" in all_stubs.status.value


def test_race_shows_other_errors_without_crashing():
    def adam_update(w, dw, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-7):
        return w - lr * dw   # forgot to return the state
    race = widgets.optimizer_race(*UPDATES[:3], adam_update)
    assert "adam_update" in race.status.value and "raised" in race.status.value and "Implement" not in race.status.value
    race = widgets.optimizer_race(*UPDATES)
    assert race.status.value == ""


def test_batch_noise_cloud_and_path_follow_the_batch_size():
    view = widgets.batch_noise(SOLUTION["minibatches"], batch_size=8)
    assert view.status.value == ""
    assert len(view.cloud.get_offsets()) == 15                      # 120 examples / 8
    small_path = np.column_stack(view.path.get_data())
    view.update(batch_size=120)
    assert len(view.cloud.get_offsets()) == 1
    assert np.allclose(view.cloud.get_offsets()[0], view.full), "one batch of everything is the full gradient"
    assert len(view.path.get_xdata()) == 4 and len(small_path) == 46  # 3 epochs: 3 steps vs 45 steps
    view.update(batch_size=7)
    assert len(view.cloud.get_offsets()) == 18                      # the last partial batch counts


def test_batch_noise_with_a_stub():
    view = widgets.batch_noise(stub("minibatches"))
    assert "Implement <code>minibatches</code>" in view.status.value


def test_optimizer_curves_train_cache_and_report():
    X, y = data.digits()
    curves = widgets.optimizer_curves(*UPDATES, SOLUTION["minibatches"], X[:200], y[:200], sizes=[64, 16, 10],
                                      lrs={"SGD": 0.3, "momentum": 0.05, "RMSprop": 0.003, "Adam": 0.003}, num_epochs=3)
    assert curves.status.value == ""
    for name, line in curves.curves.items():
        losses = line.get_ydata()
        assert len(losses) == 4 and losses[-1] < losses[0], f"{name} should lower the loss"
    labels = [t.get_text() for t in curves.legend.get_texts()]
    assert all("accuracy" in label for label in labels), labels
    curves.update(scale="learning rates × 10")
    assert set(curves.cache) == {"learning rates × 1", "learning rates × 10"}
    assert any("diverged" in t.get_text() or "accuracy" in t.get_text() for t in curves.legend.get_texts())
    stubbed = widgets.optimizer_curves(*UPDATES, stub("minibatches"), X[:50], y[:50], [64, 8, 10],
                                       {"SGD": 0.1, "momentum": 0.1, "RMSprop": 0.01, "Adam": 0.01})
    assert "Implement" in stubbed.status.value and "minibatches" in stubbed.status.value


@pytest.fixture
def interactive_backend():
    """The ipympl canvas (what students get with %matplotlib widget), without a browser."""
    previous = matplotlib.get_backend()
    matplotlib.use("module://ipympl.backend_nbagg")
    yield
    matplotlib.use(previous)


def timed_updates(widget, moves, count=40):
    widget.fig.canvas.syncing_data_url = False   # as with a front end attached: only image diffs are sent
    widget.fig.canvas.draw()                      # the first display
    full_draws, draw = [0], widget.fig.draw

    def counting_draw(renderer):
        full_draws[0] += 1
        return draw(renderer)
    widget.fig.draw = counting_draw
    wall, cpu = [], []
    for i in range(count):
        start, start_cpu = time.perf_counter(), time.process_time()
        widget.update(**moves(i))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return full_draws[0], np.percentile(wall, [50, 95]) * 1e3, np.percentile(cpu, [50, 95]) * 1e3


def test_slider_changes_blit_instead_of_redrawing_everything(interactive_backend):
    rng = np.random.default_rng(0)
    race = widgets.optimizer_race(*UPDATES)
    assert race.output is None, "expected the ipympl canvas"
    draws, wall, cpu = timed_updates(race, lambda i: {"lr": 10 ** rng.uniform(-3, 0.3), "x0": rng.uniform(-4, 4)})
    print(f"\nrace update (ipympl, blit): wall p50 {wall[0]:.1f} p95 {wall[1]:.1f} ms, cpu p50 {cpu[0]:.1f} p95 {cpu[1]:.1f} ms")
    assert draws <= 1, "slider changes redrew the whole figure instead of blitting (one first draw allowed)"
    assert race.status.value == "" and len(race.paths["Adam"].get_xdata()) > 1
    race.update(surface="banana valley")
    assert race.background is None, "a new surface needs one full redraw"
    view = widgets.batch_noise(SOLUTION["minibatches"])
    draws, wall, cpu = timed_updates(view, lambda i: {"batch_size": int(rng.integers(1, 121))})
    print(f"batch noise update (ipympl, blit): wall p50 {wall[0]:.1f} p95 {wall[1]:.1f} ms, cpu p50 {cpu[0]:.1f} p95 {cpu[1]:.1f} ms")
    assert draws <= 1
