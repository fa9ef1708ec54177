"""Lesson 06 widgets driven without a browser: the race, the batch-noise view and the digits curves, built
with the solution functions and with unfinished stubs; slider changes on the interactive canvas only blit."""
import time

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from nncourse import data, plots, reference, widgets  # noqa: E402
from nncourse import optimizer_widgets as ow  # noqa: E402
from tests.test_math_06_optimizers import SOLUTION, ex  # noqa: E402

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
    assert not any(name in stubbed.status.value for name in ("sgd_update", "momentum_update", "rmsprop_update",
                                                              "adam_update")), "only minibatches is unfinished"


def timed_updates(widget, moves, count=40):
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


def test_slider_changes_blit_instead_of_redrawing_everything():
    rng = np.random.default_rng(0)
    race = widgets.optimizer_race(*UPDATES)
    draws, wall, cpu = timed_updates(race, lambda i: {"lr": 10 ** rng.uniform(-3, 0.3), "x0": rng.uniform(-4, 4)})
    print(f"\nrace update (blit + frame sent): wall p50 {wall[0]:.1f} p95 {wall[1]:.1f} ms, cpu p50 {cpu[0]:.1f} p95 {cpu[1]:.1f} ms")
    assert draws == 0, "slider changes redrew the whole figure instead of blitting"
    assert race.status.value == "" and len(race.paths["Adam"].get_xdata()) > 1
    background = race.background
    race.update(surface="banana valley")
    assert race.background is not background, "a new surface needs one full redraw"
    view = widgets.batch_noise(SOLUTION["minibatches"])
    draws, wall, cpu = timed_updates(view, lambda i: {"batch_size": int(rng.integers(1, 121))})
    print(f"batch noise update (blit + frame sent): wall p50 {wall[0]:.1f} p95 {wall[1]:.1f} ms, cpu p50 {cpu[0]:.1f} p95 {cpu[1]:.1f} ms")
    assert draws == 0


# --- how a run ended: the legend's verdicts ----------------------------------------------------------
@pytest.mark.parametrize("losses, accuracy, verdict", [
    ([2.3, 1.2, 0.4], 0.91, "accuracy 91%"),
    ([2.3, 40.0, np.inf], 0.1, "diverged"),
    ([2.3, np.nan], 0.0, "diverged"),
    ([2.3, 3.1, 5.2], 0.3, "diverged"),                   # finite but more than twice the start: exploding
    ([2.3, 2.38, 2.33, 2.32], 0.106, "stuck at chance"),  # ln 10 = 2.303 and about 1 in 10 right
    ([2.3, 2.31], 0.6, "accuracy 60%"),                   # loss near ln K but clearly better than chance
    ([2.3, 1.9], 0.09, "accuracy 9%"),                    # poor but its loss has moved away from ln K
])
def test_outcome_names_divergence_and_chance(losses, accuracy, verdict):
    from nncourse.optimizer_widgets import outcome
    assert outcome(losses, accuracy, 10) == verdict


def test_outcome_uses_the_number_of_classes():
    from nncourse.optimizer_widgets import outcome
    assert outcome([0.70, 0.69], 0.52, 2) == "stuck at chance"   # ln 2 = 0.693
    assert outcome([0.70, 0.69], 0.52, 10) == "accuracy 52%"


# --- the digits race of section 7: the text describes the curves the widget draws -----------------------
class Capture:
    """Stands in for nncourse.widgets: records the arguments the lesson's cell passes to optimizer_curves."""

    def optimizer_curves(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def race_cell_settings():
    """The lesson's race cell, run with the solution functions and a recording stand-in for the widget."""
    source = next(c.source for c in ex.solution.cells if c.cell_type == "code" and "optimizer_curves(" in c.source)
    capture = Capture()
    exec(source, {**SOLUTION, "data": data, "widgets": capture})
    updates, minibatches, X, y = capture.args[:4], capture.args[4], capture.args[5], capture.args[6]
    return updates, minibatches, X, y, capture.kwargs


@pytest.fixture(scope="module")
def race():
    """{scale: {optimizer: (losses, accuracy, legend text)}} as the widget computes and labels them."""
    updates, minibatches, X, y, settings = race_cell_settings()
    curves = widgets.optimizer_curves(*updates, minibatches, X, y, **settings)
    runs = {}
    for label, scale in ow.LR_SCALES.items():
        curves.update(scale=label)
        legend = {name: text.get_text() for name, text in zip(ow.OPTIMIZERS, curves.legend.get_texts())}
        runs[scale] = {name: (*curves.results(label)[name], legend[name]) for name in ow.OPTIMIZERS}
    return runs, settings, len(y)


def race_text():
    return next(c.source for c in ex.solution.cells if c.cell_type == "markdown" and "What the curves show" in c.source)


def final(runs, scale):
    return {name: float(losses[-1]) for name, (losses, _, _) in runs[scale].items()}


def test_race_text_matches_the_settings(race):
    runs, settings, m = race
    text, intro = race_text(), next(c.source for c in ex.solution.cells if "7 · The four optimizers" in c.source)
    steps_per_epoch = -(-m // 32)
    assert settings["num_epochs"] == 6 and m == 500 and settings["sizes"] == [64, 32, 10]
    assert f"6 epochs of {steps_per_epoch} batches ({6 * steps_per_epoch} steps)" in text
    assert settings["lrs"] == {"SGD": 0.3, "momentum": 0.05, "RMSprop": 0.003, "Adam": 0.003}
    assert "SGD 0.3, momentum 0.05" in intro and "RMSprop and Adam 0.003" in intro


def test_race_at_the_given_rates(race):
    runs, _, _ = race
    text, loss = race_text(), final(runs, 1.0)
    ranked = sorted(loss, key=loss.get)
    assert set(ranked[:2]) == {"SGD", "momentum"} and set(ranked[2:]) == {"RMSprop", "Adam"}, loss
    for name, quoted in (("SGD", "0.18"), ("momentum", "0.09"), ("RMSprop", "0.44"), ("Adam", "0.50")):
        assert f"{loss[name]:.2f}" == quoted and quoted in text, (name, loss[name])
    assert all(legend.startswith(f"{name} (lr") and "accuracy" in legend for name, (_, _, legend) in runs[1.0].items())


def test_race_at_ten_times_the_rates(race):
    runs, _, _ = race
    loss, first_epoch = final(runs, 10.0), {name: float(r[0][1]) for name, r in runs[10.0].items()}
    ranked = sorted(loss, key=loss.get)
    assert set(ranked[:2]) == {"RMSprop", "Adam"}, loss
    assert abs(loss["Adam"] - 0.03) < 0.01
    assert min(first_epoch, key=first_epoch.get) == "momentum", first_epoch
    momentum = runs[10.0]["momentum"][0]
    assert momentum[-1] > 2 * momentum.min(), "momentum's loss should climb back up after its best epoch"
    sgd_losses, sgd_accuracy, sgd_legend = runs[10.0]["SGD"]
    assert np.all(np.isfinite(sgd_losses)) and sgd_legend.endswith("stuck at chance"), sgd_legend
    assert abs(sgd_losses[-1] - np.log(10)) < 0.05 and sgd_accuracy < 0.15
    assert not any("diverged" in legend or "stuck" in legend for name, (_, _, legend) in runs[10.0].items() if name != "SGD")


def test_race_at_a_tenth_of_the_rates(race):
    runs, _, _ = race
    loss = final(runs, 0.1)
    assert min(loss, key=loss.get) == "momentum" and all(value > 1.0 for value in loss.values()), loss


def test_adams_best_rate_is_the_largest_and_above_the_quoted_range(race):
    runs, settings, _ = race
    adam = {scale: float(runs[scale]["Adam"][0][-1]) for scale in runs}
    best = min(adam, key=adam.get)
    assert best == 10.0 and settings["lrs"]["Adam"] * best > 0.01 and "Adam's best rate of the three is 0.03" in race_text()
    assert adam[1.0] > final(runs, 1.0)["SGD"], "the text says Adam at 0.003 is slower than plain SGD"


def test_sgd_at_ten_times_the_rate_kills_every_hidden_unit():
    """The text's explanation of 'stuck at chance': after SGD at lr 3, no hidden ReLU unit is active for any
    image and the network predicts one digit for every image."""
    updates, minibatches, X, y, settings = race_cell_settings()
    params = reference.init_params(settings["sizes"], seed=0)
    with np.errstate(all="ignore"):
        for epoch in range(settings["num_epochs"]):
            for Xb, yb in minibatches(X, y, 32, epoch):
                probs, cache = reference.mlp_forward(Xb, params)
                grads = reference.mlp_backward(probs, yb, cache, params)
                params = [(updates[0](W, dW, 10 * settings["lrs"]["SGD"]), updates[0](b, db, 10 * settings["lrs"]["SGD"]))
                          for (W, b), (dW, db) in zip(params, grads)]
    hidden = reference.relu(X @ params[0][0] + params[0][1])
    assert not np.any(hidden > 0)
    assert len(np.unique(reference.predict(X, params))) == 1
    assert "predicts the same digit for every image" in race_text() and "every hidden ReLU unit" in race_text()
