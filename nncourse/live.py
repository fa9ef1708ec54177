"""The base of every live widget: a figure built once, controls, and friendly errors.

A widget builds its artists and controls in its constructor and draws nothing; its builder returns
`Widget(...).show()`, which renders the first frame. Moving a control only updates the existing
artists (`redraw`). The base then repaints by blitting: the static part of the figure (axes, ticks,
fixed artists) is kept as pixels, and only the artists that changed are drawn again on top of it. A
change that moves the axes themselves (new limits or ticks) falls back to one full draw.

The student's functions are called through one StudentCode, which writes the status line
("implement X above" instead of a traceback). In a kernel, control changes are coalesced: a burst of
them (a dragged slider) makes one render with the newest values, never a backlog of stale frames.
A widget that trains writes `redraw` as a generator: it yields after each chunk of training, the base
repaints what it has so far and, in a kernel, runs the next chunk on a later pass of the event loop, so
other controls stay live; a change drops the unfinished frame. `update(**values)` is a plain
synchronous method (every chunk, then one repaint), so tests drive widgets without a browser.
"""
import asyncio
import inspect
import time
from functools import cached_property

import ipywidgets as ipw
from matplotlib.axis import Axis
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.spines import Spine
from matplotlib.text import Text

from nncourse import HEADLESS
from nncourse.controls import Slider
from nncourse.frames import FrameView
from nncourse.student_code import StudentCode

STEP_SECONDS = 0.02  # work a training widget does between two repaints (controls stay live while it trains)


def slider(description, value, low, high, step=None, log=False, integer=False, continuous=True, readout=".3g"):
    """A labelled slider: logarithmic when log=True (low, high and step in powers of ten), whole numbers when
    integer=True; continuous=False sends only the value it is released at (for a control that rebuilds a lot);
    readout: ".3g" shows 3 significant digits, ".4f" 4 decimals."""
    scale = "log" if log else "int" if integer else "linear"
    return Slider(description=description, value=value, min=low, max=high, step=step or (1 if integer else 0.1),
                  scale=scale, continuous_update=continuous, readout_format=readout)


class LiveFigure:
    """A figure built once whose artists `redraw` updates in place whenever a control moves."""

    registry = None  # a list while a benchmark records every widget shown

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self.recipe = (args, kwargs)  # how it was built: the benchmark rebuilds it from scratch to compare
        return self

    def __init__(self, functions, controls, fig):
        """functions: the student's functions the widget calls, {name: function} (or one function, or None)."""
        self.code, self.controls, self.fig = StudentCode.of(functions), controls, fig
        names = list(self.code.functions)
        self.function = self.code.caller(names[0]) if names else None  # the widget's main function
        self.status = ipw.HTML()
        self.quiet = False
        self.view = FrameView()
        self.view.observe(self.on_screen, names="screen_ratio")
        self.dpi = fig.dpi
        self.background, self.animated = None, []
        self.frames = Coalescer(self.render)
        self.steps = None  # the unfinished frame of a training widget (a generator), if any
        trains = inspect.isgeneratorfunction(self.redraw)
        for control in controls.values():
            control.observe(self.on_change, names="value")
            if isinstance(control, Slider):  # the course's slider never echoes a move back
                control.paced = trains  # a training run per value: the newest waits until the kernel took the last
            else:
                no_echo(control)
        self.laid_out = False
        settle(fig)  # as built: what the first frame changes is what a control moves (animated from the start)

    def show(self):
        """Render the first frame and return the widget (what every builder returns)."""
        if LiveFigure.registry is not None:
            LiveFigure.registry.append(self)
        if not HEADLESS:  # nobody watches a grading kernel: the first frame would cost CPU for no one
            self.render()
        return self

    @property
    def error(self):
        """The first failure of the last frame (None when it rendered cleanly)."""
        return self.code.error

    def values(self):
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def on_change(self, _change):
        """Observer attached to every control (quiet while update() sets several values at once)."""
        if not self.quiet:
            self.steps = None  # the values it was computing for are stale: stop at its next step
            self.frames.want()

    def update(self, **values):
        """Set the given control values, then recompute with the student's function and redraw once, now."""
        self.set_values(**values)
        self.render(loop=None)

    def set_values(self, **values):
        """Set control values without rendering."""
        self.quiet = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self.quiet = False

    def render(self, loop=...):
        """Start a frame for the current values (dropping an unfinished one): the one place a frame is made.

        In a kernel the frame's first step is painted now and each further step on a later pass of the loop;
        with loop=None every step runs now, then one repaint."""
        self.code.begin()
        self.steps = self.frame_steps(self.values())
        self.advance(self.steps, self.frames.current_loop() if loop is ... else loop)

    def in_steps(self, **values):
        """Make a change as a kernel would, without one: yields after its first step and after each later one."""
        loop = ManualLoop()
        self.set_values(**values)
        self.render(loop=loop)
        yield
        while loop.queue:
            loop.step()
            yield

    def frame_steps(self, values):
        """The steps of one frame: a training widget's redraw yields between chunks; any other is one step."""
        steps = self.redraw(**values)
        if inspect.isgenerator(steps):
            yield from steps

    def advance(self, steps, loop):
        """Run the frame's next step (all of them without a loop), repaint, and schedule the step after it."""
        if steps is not self.steps:
            return  # a newer frame took over
        finished = False
        while not finished:
            try:
                finished = next(steps, StopIteration) is StopIteration
            except Exception as error:  # the student's code may fail in any way; show it, don't crash the widget
                self.code.blame(error, type(self).__name__)
                finished = True
            if loop is not None:
                break
        self.status.value = self.code.status()
        if finished:
            self.steps = None
        else:
            loop.call_later(0, self.advance, steps, loop)
        self.repaint()

    def repaint(self):
        """Blit the changed artists over the kept background (or draw everything when the axes changed), then show it."""
        if not self.laid_out:  # after the first compute, so the titles and labels it set get their room
            self.animate(stale_artists(self.fig))  # no second full draw when the first move changes the same artists
            freeze_layout(self.fig)
            self.laid_out = True
        changed = stale_artists(self.fig)
        if self.background is None or any(map(is_frame, changed)):  # new limits or ticks: a new scene, drawn whole
            self.draw_whole()
        elif not set(changed) <= set(self.animated):
            self.animate(changed)  # the old pixels still hold artists that are now animated
            self.draw_whole()
        else:
            self.fig.canvas.restore_region(self.background)
            for artist in self.animated:
                self.fig.draw_artist(artist)
        self.view.show(self.fig.canvas)

    def draw_whole(self):
        """Draw the figure without its moving artists, keep those pixels as background, then paint the moving ones."""
        canvas = self.fig.canvas
        canvas.draw()
        self.background = canvas.copy_from_bbox(self.fig.bbox)
        for artist in self.animated:
            self.fig.draw_artist(artist)
        settle(self.fig)

    def on_screen(self, change):
        """The browser's screen has another pixel ratio: render that much finer, so the figure stays sharp."""
        self.fig.set_dpi(self.dpi * change["new"])
        self.background = None
        with self.view.hold_sync():  # the new ratio arrives with the first frame drawn for it
            self.view.ratio = change["new"]
            self.repaint()

    def animate(self, changed):
        """Take changed artists out of the background, with what must stay drawn above them.

        Within an axes, whatever is stacked above a changed artist is animated too, so the order on
        screen stays the same; a legend only when an image (which would cover it) is animated below it.
        The titles stand above the plotting area, where nothing can cover them: only a changed one moves.
        """
        chosen = set(self.animated) | {a for a in changed if not is_frame(a)}
        for ax in self.fig.axes:
            moving = [a for a in ax.get_children() if a in chosen]
            if not moving:
                continue
            floor = min(a.get_zorder() for a in moving)
            covers = any(isinstance(a, AxesImage) for a in moving)
            titles = {getattr(ax, name, None) for name in ("title", "_left_title", "_right_title")}
            chosen |= {a for a in ax.get_children()
                       if a.get_zorder() >= floor and a.get_visible() and not is_frame(a) and a is not ax.patch
                       and (covers or not isinstance(a, Legend)) and a not in titles}
        self.animated = sorted(chosen, key=lambda a: a.get_zorder())
        for artist in self.animated:
            artist.set_animated(True)

    def redraw(self, **values):
        """Update the artists for these control values (implemented by each widget)."""
        raise NotImplementedError

    @cached_property
    def widget(self):
        """The controls, the status line and the figure stacked in one widget."""
        return ipw.VBox([ipw.HBox(list(self.controls.values()), layout=ipw.Layout(flex_flow="row wrap")),
                         self.status, self.view])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class Coalescer:
    """Turns a burst of control changes into one call of `render` with the newest values.

    Outside a kernel (tests, scripts) `want()` renders at once. In a kernel it only notes the change and,
    if no render is scheduled, schedules one on the event loop, `quiet` seconds later. ipykernel handles
    one queued comm message per pass of its loop, so the render waits while changes keep arriving (each
    within `quiet` of the last), up to `patience` seconds; then it renders the newest values. A change
    that arrives while a render runs schedules exactly one more render.
    """

    def __init__(self, render, quiet=0.001, patience=0.1, loop=None, clock=time.monotonic):
        self.render, self.quiet, self.patience, self.clock = render, quiet, patience, clock
        self.loop = loop
        self.scheduled, self.changes, self.seen, self.since = False, 0, 0, 0.0

    def current_loop(self):
        """The loop renders run on: the given one, the kernel's, or None outside a kernel."""
        return self.loop or _kernel_loop()

    def want(self):
        """A control changed: render now (no loop) or make sure one render is scheduled."""
        loop = self.current_loop()
        if loop is None:
            self.render()
            return
        self.changes += 1
        if not self.scheduled:
            self.scheduled, self.seen, self.since = True, self.changes, self.clock()
            loop.call_later(self.quiet, self.fire, loop)

    def fire(self, loop):
        """Render, unless more changes arrived lately (then look again `quiet` later, within `patience`)."""
        if self.changes != self.seen and self.clock() - self.since < self.patience:
            self.seen = self.changes
            loop.call_later(self.quiet, self.fire, loop)
            return
        self.scheduled = False  # from here on, a change schedules the next render
        self.render()


class ManualLoop:
    """Stands in for a kernel's event loop: keeps the steps a training widget schedules, runs them on demand."""

    def __init__(self):
        self.queue = []

    def call_later(self, _delay, function, *args):
        self.queue.append((function, args))

    def step(self):
        """Run the oldest step waiting."""
        function, args = self.queue.pop(0)
        function(*args)


def no_echo(control):
    """Stop the kernel from echoing the control's value back to the browser after each move.

    ipywidgets echoes every value a browser sends (to keep other open views in step); during a drag that is one
    more message per move for the page to handle, and the page's main thread is what limits how often the figure
    repaints. traitlets reads a trait's metadata from `_<name>_metadata` on the instance first."""
    control._value_metadata = {"echo_update": False}
    return control


def _kernel_loop():
    """The running event loop of an IPython kernel, or None outside one."""
    if not _in_kernel():
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _in_kernel():
    """True inside a running IPython kernel (where an Output widget can display)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def freeze_layout(fig):
    """Solve the figure's layout once and keep it: re-solving it costs more than drawing the plot."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")
    return fig


def children(fig):
    """The artists of every axes and the figure's own (legends, texts), without the axes and the figure patch."""
    found = [child for ax in fig.axes for child in ax.get_children()]
    return found + [child for child in fig.get_children() if child not in fig.axes and child is not fig.patch]


def stale_artists(fig):
    """The artists of the figure that changed since they were last drawn.

    A text set again to what it already showed (a title re-set with the same words, size and colour on
    every frame) has not changed: redrawing it would cost more than anything else in the frame. Nor has
    an axis whose limits were set again to the same values (that would cost a whole draw).
    """
    return [child for child in children(fig)
            if child.stale and not (isinstance(child, (Text, Axis)) and getattr(child, "drawn_as", None) == looks(child))]


def settle(fig):
    """Mark every artist as drawn after a full draw, and remember how each text looked.

    Drawing an axes re-positions its titles, which marks them stale although nothing changed; left so,
    every title would be taken for a moving artist and redrawn on every frame (text is what Agg draws
    slowest). The figure too: drawing an animated legend re-sets its box and so marks the figure stale, and a
    figure left stale would be drawn again by anything that redraws stale figures (pyplot, for one made there).
    """
    for child in children(fig):
        child.stale = False
        if isinstance(child, (Text, Axis)):
            child.drawn_as = looks(child)
    fig.stale = False


def looks(artist):
    """What decides how a text artist, or an axis (limits, scale, tick rules, label), looks on screen."""
    if isinstance(artist, Axis):
        ticks = (artist.major.locator, artist.major.formatter, artist.minor.locator, artist.minor.formatter)
        return (tuple(artist.axes.viewLim.bounds), artist.get_scale(), *map(id, ticks), looks(artist.label),
                artist.get_visible())
    return (artist.get_text(), artist.get_color(), artist.get_fontproperties(), artist.get_position(),
            artist.get_rotation(), artist.get_visible(), artist.get_horizontalalignment(),
            artist.get_verticalalignment(), artist.get_alpha())


def is_frame(artist):
    """True for parts of the axes frame (axis, ticks, spines): when they change, everything is redrawn."""
    return isinstance(artist, (Axis, Spine))
