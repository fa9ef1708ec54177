"""The live-widget base on its own: the boundary with the student's code, the coalescing of control changes
into renders, the partial repaint (blit or full draw) on an Agg figure, and a constructor that draws nothing."""
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import ipywidgets as ipw  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nncourse import plots  # noqa: E402
from nncourse.live import Coalescer, LiveFigure, is_frame, stale_artists  # noqa: E402
from nncourse.student_code import StudentCode, StudentProblem  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def unfinished(*args):
    raise NotImplementedError()


def broken(*args):
    raise ValueError("shapes <2> & <3> do not match")


def named(function, name):
    """A new function that calls function, named name (as the student's own would be)."""
    def call(*args):
        return function(*args)
    call.__name__ = name
    return call


# --- the boundary ----------------------------------------------------------------------------------
def test_a_function_that_works_leaves_no_status():
    code = StudentCode(double=lambda x: 2 * x)
    assert code.call("double", 3) == 6 and code("double", 4) == 8 and code.double(5) == 10
    assert code.problems == {} and code.error is None and code.status() == ""


def test_unfinished_and_raised_are_told_apart_and_named_exactly():
    code = StudentCode(fine=lambda x: x, todo=named(unfinished, "todo"), bad=named(broken, "bad"),
                       unused=named(unfinished, "unused"))
    code.call("fine", 1)
    for name in ("todo", "bad"):
        with pytest.raises(StudentProblem):
            code.call(name, 1)
    assert isinstance(code.problems["todo"], NotImplementedError) and isinstance(code.problems["bad"], ValueError)
    status = code.status()
    assert "<b><code>bad</code> raised ValueError:</b> shapes &lt;2&gt; &amp; &lt;3&gt; do not match" in status
    assert "<b>Implement <code>todo</code> above, then re-run this cell to bring the plot to life.</b>" in status
    assert "fine" not in status and "unused" not in status  # it worked / this frame never needed it
    assert isinstance(code.error, NotImplementedError)  # the first failure


def test_several_unfinished_are_named_in_one_line_in_the_order_they_failed():
    code = StudentCode(relu=named(unfinished, "relu"), tanh_grad=named(unfinished, "tanh_grad"))
    for name in ("tanh_grad", "relu"):
        with pytest.raises(StudentProblem):
            code.call(name, 0.0)
    assert code.status() == ("<b>Implement <code>tanh_grad</code>, <code>relu</code> above, then re-run this cell "
                             "to bring the plot to life.</b>")


def test_the_status_speaks_of_the_current_frame_only():
    code = StudentCode(todo=named(unfinished, "todo"))
    with pytest.raises(StudentProblem):
        code.todo()
    code.begin()
    assert code.status() == "" and code.error is None


def test_names_come_from_the_functions_and_messages_are_escaped_and_short():
    code = StudentCode(**{"relu'": named(lambda z: z, "relu_grad"), "<lambda>": lambda: 0})
    assert code.label("relu'") == "relu_grad"
    code.blame(RuntimeError("x" * 1000), "Widget")  # nothing called yet, two functions: the fallback is named
    assert "<code>Widget</code> raised RuntimeError" in code.status() and len(code.status()) < 400


def test_an_error_after_a_call_is_put_on_the_function_called_last():
    code = StudentCode(first=lambda: 1, second=lambda: 2)
    code.first(), code.second()
    code.blame(ValueError("wrong shape"), "Widget")
    assert list(code.problems) == ["second"]


def test_outside_a_widget_the_students_own_exception_passes_through():
    code = StudentCode(report=False, todo=unfinished)
    with pytest.raises(NotImplementedError):
        code.todo()
    assert "todo" in code.problems


def test_an_optional_function_may_be_unfinished_silently_but_not_broken():
    code = StudentCode(extra=unfinished, bad=broken)
    assert code.optional("extra") is None and code.status() == ""
    with pytest.raises(StudentProblem):
        code.optional("bad")


# --- coalescing ------------------------------------------------------------------------------------
class FakeLoop:
    """An event loop and a clock in one: call_later queues, run() advances time and runs what is due."""

    def __init__(self):
        self.now, self.queue = 0.0, []

    def clock(self):
        return self.now

    def call_later(self, delay, function, *args):
        self.queue.append((self.now + delay, function, args))

    def run(self, until=float("inf")):
        while self.queue and min(t for t, _, _ in self.queue) <= until:
            self.queue.sort(key=lambda item: item[0])
            when, function, args = self.queue.pop(0)
            self.now = max(self.now, when)
            function(*args)


def coalescer(on_render=None):
    loop, seen = FakeLoop(), []
    slider = {"value": None}

    def render():
        seen.append(slider["value"])
        if on_render:
            on_render(slider)
    frames = Coalescer(render, loop=loop, clock=loop.clock)
    return loop, frames, slider, seen


def test_a_burst_of_changes_makes_one_render_with_the_last_value():
    loop, frames, slider, seen = coalescer()
    for value in range(30):  # all queued before the loop gets to run
        slider["value"] = value
        frames.want()
    assert seen == [] and len(loop.queue) == 1
    loop.run()
    assert seen == [29]


def test_changes_that_keep_arriving_delay_the_render_but_only_up_to_the_patience():
    loop, frames, slider, seen = coalescer()
    for value in range(1000):  # one change every 0.5 ms, faster than the quiet time
        slider["value"] = value
        frames.want()
        loop.run(until=loop.now + 0.0005)
        loop.now += 0.0005
    loop.run()
    assert 3 <= len(seen) <= 8 and seen[-1] == 999  # about one render per patience (0.1 s) of a 0.5 s drag


def test_a_change_during_a_render_makes_exactly_one_more_render():
    changes = iter([[5, 6, 7]])

    def meanwhile(slider):  # changes that arrive while the first render runs
        for value in next(changes, []):
            slider["value"] = value
            frames.want()
    loop, frames, slider, seen = coalescer(meanwhile)
    slider["value"] = 1
    frames.want()
    loop.run()
    assert seen == [1, 7]


def test_without_a_kernel_a_change_renders_at_once():
    seen = []
    Coalescer(lambda: seen.append("frame")).want()
    assert seen == ["frame"]


# --- a minimal widget ------------------------------------------------------------------------------
class Line(LiveFigure):
    """One line y = a x (and a fixed title, if given), driven by a slider a."""

    def __init__(self, function, title=None):
        fig, ax = plots.figure(figsize=(3, 2))
        if title:
            ax.set_title(title)
        self.ax, self.x = ax, np.linspace(0, 1, 5)
        (self.line,) = ax.plot(self.x, 0 * self.x)
        (self.fixed,) = ax.plot(self.x, self.x, zorder=1)
        (self.above,) = ax.plot(self.x, 1 - self.x, zorder=5)
        ax.set_ylim(-3, 3)
        self.legend = ax.legend(["a x", "x", "1 - x"])
        super().__init__(function, {"a": ipw.FloatSlider(value=1.0, min=-2, max=2)}, fig)

    def redraw(self, a):
        self.line.set_ydata(self.function(a, self.x))


def scaled(a, x):
    return a * x


def counting_draws(fig):
    draws = []
    fig.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    return draws


def test_construction_calls_no_student_function_and_show_renders_once():
    calls = []

    def function(a, x):
        calls.append(a)
        return a * x
    widget = Line(function)
    assert calls == [] and widget.status.value == ""
    assert widget.show() is widget and calls == [1.0]
    widget.controls["a"].value = 0.5  # outside a kernel a change renders at once
    assert calls == [1.0, 0.5]
    np.testing.assert_allclose(widget.line.get_ydata(), 0.5 * widget.x)


def test_a_headless_kernel_builds_widgets_without_rendering_them(monkeypatch):
    import nncourse.live
    calls = []
    monkeypatch.setattr(nncourse.live, "HEADLESS", True)  # what NNCOURSE_HEADLESS=1 (the grader's kernel) sets
    widget = Line(lambda a, x: calls.append(a) or a * x)
    assert widget.show() is widget and calls == []
    widget.update(a=0.5)  # asked explicitly, it still computes
    assert calls == [0.5]


def test_a_demonstration_is_not_run_while_grading(monkeypatch, capsys):
    import nncourse
    calls = []

    @nncourse.demo
    def twice(x):
        calls.append(x)
        return 2 * x

    assert twice(2) == 4 and twice.__name__ == "twice"
    monkeypatch.setattr(nncourse, "HEADLESS", True)  # what NNCOURSE_HEADLESS=1 (the grader's kernel) sets
    capsys.readouterr()
    assert twice(3) is None and calls == [2]
    assert "twice: a demonstration, not run while grading" in capsys.readouterr().out


def test_a_headless_lesson_setup_builds_no_figure_and_never_imports_matplotlib():
    """The grader's kernel runs the lesson's setup and widget cells without paying for matplotlib."""
    import subprocess
    import sys
    script = ("import sys, nncourse\n"
              "from nncourse import data, feedback, plots, widgets\n"
              "nncourse.start(seed=0)\n"
              "shown = widgets.neuron_explorer(None, *data.logic_gate('and'))\n"
              "print(repr(shown), sorted(m for m in sys.modules if m.startswith(('matplotlib', 'ipympl'))))\n")
    env = {**os.environ, "NNCOURSE_HEADLESS": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(neuron_explorer: not drawn while grading) []"


def test_every_builder_is_found_where_the_widgets_module_says():
    from nncourse import widgets
    for name in widgets.__all__:
        assert callable(getattr(widgets, name)), name
    with pytest.raises(AttributeError):
        widgets.no_such_builder


def test_the_grader_starts_every_sandbox_headless():
    from autograder import sandbox
    from autograder.job import Job
    command = sandbox.base_command(sandbox.DEFAULT_LIMITS)
    assert "NNCOURSE_HEADLESS" in command and command[command.index("NNCOURSE_HEADLESS") + 1] == "1"
    job = Job(sid="s", lesson="01_neuron", key="k", notebook="", scratch="", template_db="", course="/course",
              mplconfig="", sandbox=False, limits={}, bindings={}, cell_timeout=1, notebook_budget=1, output_limit=1)
    assert sandbox.unsandboxed_env(job)["NNCOURSE_HEADLESS"] == "1"


def test_a_widget_shows_the_students_failure_in_its_status():
    widget = Line(named(unfinished, "scaled")).show()
    assert "Implement <code>scaled</code>" in widget.status.value and isinstance(widget.error, NotImplementedError)


def test_stale_artists_are_the_ones_changed_since_the_last_draw():
    widget = Line(scaled).show()
    widget.draw_whole()  # a full draw settles everything, titles included (Axes.draw moves them)
    assert stale_artists(widget.fig) == []
    widget.line.set_ydata(widget.x * 2)
    assert stale_artists(widget.fig) == [widget.line]
    widget.ax.set_ylim(-4, 4)
    assert any(map(is_frame, stale_artists(widget.fig)))


def test_a_static_title_is_never_redrawn_with_the_moving_artists():
    widget = Line(scaled, title="a fixed title").show()
    widget.update(a=0.5)
    widget.update(a=0.7)
    assert widget.line in widget.animated and widget.ax.title not in widget.animated


def test_a_text_set_again_to_what_it_showed_has_not_changed():
    widget = Line(scaled).show()
    widget.ax.set_title("same words", fontsize=9)
    widget.draw_whole()
    widget.ax.set_title("same words", fontsize=9)  # marks the title stale, although it looks the same
    assert stale_artists(widget.fig) == []
    widget.ax.set_title("other words", fontsize=9)
    assert stale_artists(widget.fig) == [widget.ax.title]


def test_animate_takes_the_changed_artist_and_what_stands_above_it():
    widget = Line(scaled)
    widget.animate([widget.line])
    assert widget.line in widget.animated and widget.above in widget.animated
    assert widget.fixed not in widget.animated and widget.legend not in widget.animated  # no image below it
    assert all(artist.get_animated() for artist in widget.animated)


def test_repaint_draws_whole_then_blits_until_the_axes_change():
    widget = Line(scaled).show()  # the first frame: a full draw, the line it set already animated
    assert widget.animated == [widget.line, widget.above] and widget.background is not None
    draws = counting_draws(widget.fig)
    widget.update(a=0.5)
    widget.update(a=-0.5)
    widget.update(a=1.5)
    assert draws == [], "changing only animated artists blits, from the first move on"
    widget.ax.set_ylim(-5, 5)  # a new frame (limits, ticks): drawn whole
    widget.update(a=0.25)
    assert len(draws) == 1 and widget.background is not None
    widget.ax.set_ylim(-5, 5)  # the same limits again: nothing moved
    widget.update(a=0.5)
    assert len(draws) == 1, "limits set again to the same values are not a new frame"
    widget.ax.set_yticks([-4, 0, 4])  # new tick rules at the same limits: a new frame
    widget.update(a=0.75)
    assert len(draws) == 2
    widget.fixed.set_ydata(widget.x / 2)  # an artist the first frame left alone moves: it leaves the background
    widget.update(a=0.5)
    assert len(draws) == 3 and widget.fixed in widget.animated
    widget.ax.set_ylabel("y")
    widget.update(a=1.0)
    assert len(draws) == 4, "a new axis label is a new frame"


# --- training widgets: frames in steps ---------------------------------------------------------------
class Trainer(LiveFigure):
    """Counts up to the slider's value in steps of one, yielding after each, as a training widget does."""

    def __init__(self, function, fail_at=None):
        fig, ax = plots.figure(figsize=(3, 2))
        (self.line,) = ax.plot([0, 1], [0, 0])
        ax.set_ylim(0, 10)
        self.ran, self.fail_at = [], fail_at
        super().__init__(function, {"n": ipw.IntSlider(value=3, min=0, max=10)}, fig)

    def redraw(self, n):
        for k in range(1, n + 1):
            if k == self.fail_at:
                self.function(k)
            self.ran.append((n, k))
            self.line.set_ydata([0, k])
            yield


def test_update_runs_every_step_of_a_training_frame_then_paints_once():
    widget = Trainer(scaled).show()
    paints = []
    widget.repaint = lambda: paints.append(list(widget.line.get_ydata()))
    widget.update(n=4)
    assert widget.ran[-4:] == [(4, 1), (4, 2), (4, 3), (4, 4)] and widget.steps is None
    assert paints == [[0, 4]]


def test_in_a_kernel_each_step_is_painted_and_a_change_drops_the_stale_frame():
    loop = FakeLoop()
    widget = Trainer(scaled)
    widget.frames = Coalescer(widget.render, loop=loop, clock=loop.clock)
    widget.show()
    assert widget.ran == [(3, 1)] and widget.steps is not None, "only the first step runs at once"
    _, step, args = loop.queue.pop(0)  # one pass of the loop: one more step
    step(*args)
    assert widget.ran == [(3, 1), (3, 2)] and len(loop.queue) == 1
    widget.controls["n"].value = 5  # a change: the frame for 3 stops, a frame for 5 starts after the pause
    loop.run()
    assert (3, 3) not in widget.ran and widget.ran[-5:] == [(5, k) for k in range(1, 6)]
    assert widget.steps is None and list(widget.line.get_ydata()) == [0, 5]


def test_a_step_that_fails_ends_the_frame_with_the_students_error_in_the_status():
    def unfinished(k):
        raise NotImplementedError
    widget = Trainer(unfinished, fail_at=2)
    widget.update(n=5)
    assert widget.ran == [(5, 1)] and widget.steps is None
    assert "unfinished" in widget.status.value and widget.error is not None


class TitledLine(Line):
    """Line with a title that tells the slider's value (set_title also re-positions the other titles)."""

    def redraw(self, a):
        super().redraw(a)
        self.ax.set_title(f"a = {a:.2f}")


def test_a_live_figure_lives_outside_pyplot_so_no_full_draw_follows_each_slider_message():
    from matplotlib._pylab_helpers import Gcf
    widget = TitledLine(scaled).show()
    draws = counting_draws(widget.fig)
    widget.update(a=0.5)
    widget.update(a=-0.5)  # the title telling the value is blitted with the line
    assert widget.ax.title in widget.animated and draws == []
    # ipykernel runs pyplot's draw_all (every stale pyplot figure) after each comm message
    assert all(manager.canvas.figure is not widget.fig for manager in Gcf.get_all_fig_managers())


class Heat(LiveFigure):
    """An image scaled by a slider under a legend: the legend is animated with the image."""

    def __init__(self, function):
        fig, ax = plots.figure(figsize=(3, 2))
        self.image = ax.imshow(np.zeros((4, 4)), vmin=-2, vmax=2)
        ax.plot([0, 3], [0, 3], label="diagonal")
        self.legend = ax.legend()
        super().__init__(function, {"a": ipw.FloatSlider(value=1.0, min=-2, max=2)}, fig)

    def redraw(self, a):
        self.image.set_data(self.function(a, np.ones((4, 4))))


def test_a_full_draw_with_an_animated_legend_leaves_nothing_stale_so_the_next_frame_blits():
    widget = Heat(scaled).show()
    widget.update(a=0.5)
    assert widget.legend in widget.animated
    widget.draw_whole()  # drawing the animated legend re-sets its box
    assert not widget.fig.stale and stale_artists(widget.fig) == []
    draws = counting_draws(widget.fig)
    widget.update(a=0.7)
    assert draws == []


def test_a_control_of_a_live_figure_is_not_echoed_back_but_still_renders():
    widget = Line(scaled).show()
    control, plain = widget.controls["a"], ipw.FloatSlider(value=1.0, min=-2, max=2)
    sent = {control: [], plain: []}
    for slider in sent:
        slider._send = lambda msg, buffers=None, slider=slider: sent[slider].append(msg["method"])
        slider.set_state({"value": 0.5})  # what the browser sends when the slider moves
    assert sent[plain] == ["echo_update"], "the check needs ipywidgets' echo"
    assert sent[control] == [] and widget.line.get_ydata()[-1] == pytest.approx(0.5 * widget.x[-1])
