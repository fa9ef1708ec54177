"""Unit tests of the benchmark helpers (fast, no kernel, no browser)."""
import ipywidgets as ipw
import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")

from benchmarks import stats  # noqa: E402
from benchmarks.runall import lessons  # noqa: E402
from benchmarks.widgets import control_sweeps, recording, time_widget  # noqa: E402
from nncourse.live import LiveFigure, slider  # noqa: E402


def test_percentile_interpolates_between_ranks():
    assert stats.percentile([1, 2, 3, 4, 5], 50) == 3
    assert stats.percentile([10, 20], 95) == pytest.approx(19.5)
    assert stats.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert stats.percentile([5, 1, 3], 0) == 1 and stats.percentile([5, 1, 3], 100) == 5
    assert stats.percentile([], 95) is None
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_summary_verdict_ratio_and_budgets():
    s = stats.summary([4.0, 1.0, 2.0, 3.0])
    assert s == {"n": 4, "median": 2.5, "p95": pytest.approx(3.85), "max": 4.0}
    assert stats.summary([])["p95"] is None
    assert stats.verdict(20.0, 20) == "ok" and stats.verdict(20.1, 20) == "OVER" and stats.verdict(None, 20) == "-"
    assert stats.ratio(30.0, 10.0) == 3.0 and stats.ratio(None, 1.0) is None and stats.ratio(1.0, 0) is None
    assert stats.run_all_budget(True) == 20 and stats.run_all_budget(False) == 10
    assert stats.verdict_at_least(21, 20) == "ok" and stats.verdict_at_least(4, 5) == "UNDER"
    assert stats.verdict_at_least(None, 5) == "-"


def test_table_aligns_columns_and_formats_missing_values():
    text = stats.table([["01_neuron", stats.fmt(1.234, 2, " s")], ["x", stats.fmt(None)]], ["lesson", "value"])
    lines = text.splitlines()
    assert lines[0].startswith("lesson     value") and set(lines[1]) <= {"-", " "}
    assert "1.23 s" in lines[2] and lines[3].split() == ["x", "-"]
    assert lines[2].index("1.23 s") == lines[0].index("value") == lines[3].index("-")


def test_sweep_values_cover_the_range_reproducibly():
    values = stats.sweep_values(-3, 3, 7, seed=1)
    assert sorted(values) == pytest.approx([-3, -2, -1, 0, 1, 2, 3])
    assert values == stats.sweep_values(-3, 3, 7, seed=1) and values != sorted(values)
    assert sorted(stats.sweep_values(-2, 0, 3, log=True)) == pytest.approx([0.01, 0.1, 1.0])
    assert all(isinstance(v, int) for v in stats.sweep_values(1, 30, 5, integer=True))
    assert stats.sweep_values(0, 1, 0) == []


def test_control_sweeps_cycle_over_numeric_sliders_only():
    controls = {"w": slider("w", 0.0, -3, 3), "lr": slider("lr", 0.1, -2, 0.5, log=True),
                "n": ipw.IntSlider(value=5, min=1, max=30), "data": ipw.Dropdown(options=["a", "b"])}
    plan = control_sweeps(controls, updates=9)
    assert len(plan) == 9 and [name for name, _ in plan[:3]] == ["w", "lr", "n"]
    assert all(-3 <= v <= 3 for name, v in plan if name == "w")
    assert all(0.01 - 1e-12 <= v <= 10 ** 0.5 + 1e-9 for name, v in plan if name == "lr")
    assert not any(name == "data" for name, _ in plan)
    assert control_sweeps({"data": ipw.Dropdown(options=["a"])}) == []


class Line(LiveFigure):
    """A tiny live widget: a line whose slope follows a slider."""
    redraws = 0

    def __init__(self, function):
        import matplotlib.pyplot as plt
        self.fig, self.ax = plt.subplots()
        (self.line,) = self.ax.plot([0, 1], [0, 0])
        super().__init__(function, {"slope": slider("slope", 1.0, -2, 2)}, self.fig)

    def redraw(self, slope):
        Line.redraws += 1
        self.line.set_ydata([0, self.function(slope)])


def test_recording_captures_shown_widgets_and_time_widget_measures_both_paths():
    with recording() as made:
        widget = Line(lambda s: s).show()
        Line(lambda s: s)  # built but never shown: not a widget the lesson displays
    assert made == [widget] and widget.recipe == ((widget.recipe[0][0],), {})
    Line.redraws = 0
    timing = time_widget(Line, *widget.recipe, widget, updates=6)
    assert len(timing["live"]) == len(timing["naive"]) == timing["updates"] == 6
    assert all(t > 0 for t in timing["live"] + timing["naive"])
    assert Line.redraws == 12, "each live update and each rebuild must compute exactly once"
    assert timing["status_error"] is None


def test_a_rebuilt_widget_computes_nothing_until_updated():
    Line.redraws = 0
    fresh = Line(lambda s: s)
    assert Line.redraws == 0
    fresh.update(slope=0.5)
    assert Line.redraws == 1 and fresh.line.get_ydata()[1] == 0.5


def test_time_widget_reports_an_unfinished_function():
    def unfinished(slope):
        raise NotImplementedError
    timing = time_widget(Line, (unfinished,), {}, Line(unfinished).show(), updates=2)
    assert timing["status_error"].startswith("NotImplementedError")


def test_lessons_are_discovered_generically(tmp_path):
    for name in ("01_neuron", "02_activations", "notes", "03_empty"):
        (tmp_path / "solutions" / name).mkdir(parents=True)
    for name in ("01_neuron", "02_activations"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / "solutions" / name / f"{name}.ipynb")
    assert lessons(tmp_path) == ["01_neuron", "02_activations"]
    assert lessons(tmp_path / "nowhere") == []
