"""The base of every live widget: a figure drawn once, controls, and friendly errors.

Each builder draws its figure once; moving a control only updates the existing artists. The base
then repaints by blitting: the static part of the figure (axes, ticks, fixed artists) is kept as
pixels, and only the artists that changed are drawn again on top of it. A change that moves the axes
themselves (new limits or ticks) falls back to one full draw. Until the student's function works, the
widget shows "implement X above" instead of a traceback. `update(**values)` is a plain method, so
tests drive widgets without a browser.
"""
import html
from functools import cached_property

import ipywidgets as ipw
from IPython.display import clear_output, display
from matplotlib.axis import Axis
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.spines import Spine



def slider(description, value, low, high, step=0.1, log=False):
    """A labelled float slider (logarithmic when log=True, with low/high given as powers of ten)."""
    common = dict(description=description, continuous_update=True, readout_format=".3g",
                  style={"description_width": "initial"}, layout=ipw.Layout(width="260px"))
    if log:
        return ipw.FloatLogSlider(value=value, base=10, min=low, max=high, step=step, **common)
    return ipw.FloatSlider(value=value, min=low, max=high, step=step, **common)


class LiveFigure:
    """A figure drawn once whose artists `redraw` updates in place whenever a control moves."""

    def __init__(self, function, controls, fig):
        self.function, self.controls, self.fig = function, controls, fig
        self.status = ipw.HTML()
        self.error, self.quiet = None, False
        self.output = None if isinstance(fig.canvas, ipw.DOMWidget) else ipw.Output()
        self.background, self.animated = None, []
        self.blitting = self.output is None or not _in_kernel()  # a static inline figure is re-shown whole
        fig.stale_callback = None  # pyplot would otherwise redraw the whole figure on every artist change
        for control in controls.values():
            control.observe(self.on_change, names="value")
        self.laid_out = False
        self.render()

    def values(self):
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def on_change(self, _change):
        """Observer attached to every control (quiet while update() sets several values at once)."""
        if not self.quiet:
            self.render()

    def update(self, **values):
        """Set the given control values, then recompute with the student's function and redraw once."""
        self.quiet = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self.quiet = False
        self.render()

    def render(self):
        """Recompute for the current values and repaint."""
        self.compute()
        self.repaint()

    def compute(self):
        """Run `redraw` for the current values, turning the student's errors into a status line."""
        name = getattr(self.function, "__name__", "the function")
        try:
            self.redraw(**self.values())
            self.error, self.status.value = None, ""
        except NotImplementedError as error:
            self.error = error
            self.status.value = f"<b>Implement <code>{name}</code> above, then re-run this cell to bring the plot to life.</b>"
        except Exception as error:  # the student's code may fail in any way; show it, don't crash the widget
            self.error = error
            self.status.value = (f"<b><code>{name}</code> raised {type(error).__name__}:</b> "
                                 f"{html.escape(str(error))}")

    def repaint(self):
        """Blit the changed artists over the kept background, or draw everything when the axes changed."""
        canvas = self.fig.canvas
        if not self.laid_out:  # after the first compute, so the titles and labels it set get their room
            freeze_layout(self.fig)
            canvas.mpl_connect("draw_event", self.on_draw)
            self.laid_out = True
        if not self.blitting:
            canvas.draw_idle()
            with self.output:
                clear_output(wait=True)
                display(self.fig)
            return
        if self.background is None:  # not drawn yet (or being redrawn): a full draw comes first
            canvas.draw_idle()
            return
        changed = stale_artists(self.fig)
        if any(map(is_frame, changed)):  # new limits or ticks: a new scene, drawn whole
            self.background = None
            canvas.draw_idle()
            return
        if not set(changed) <= set(self.animated):
            self.animate(changed)
            self.background = None  # the old pixels still hold artists that are now animated
            canvas.draw_idle()  # on_draw keeps the new background and paints the animated artists
            return
        canvas.restore_region(self.background)
        for artist in self.animated:
            self.fig.draw_artist(artist)
        canvas.blit(self.fig.bbox)

    def animate(self, changed):
        """Take changed artists out of the background, with what must stay drawn above them.

        Within an axes, whatever is stacked above a changed artist is animated too, so the order on
        screen stays the same; a legend only when an image (which would cover it) is animated below it.
        """
        chosen = set(self.animated) | {a for a in changed if not is_frame(a)}
        for ax in self.fig.axes:
            moving = [a for a in ax.get_children() if a in chosen]
            if not moving:
                continue
            floor = min(a.get_zorder() for a in moving)
            covers = any(isinstance(a, AxesImage) for a in moving)
            chosen |= {a for a in ax.get_children()
                       if a.get_zorder() >= floor and a.get_visible() and not is_frame(a) and a is not ax.patch
                       and (covers or not isinstance(a, Legend))}
        self.animated = sorted(chosen, key=lambda a: a.get_zorder())
        for artist in self.animated:
            artist.set_animated(True)

    def on_draw(self, event):
        """After a full draw of the canvas: keep its pixels as background, then paint the moving artists."""
        if event.canvas is self.fig.canvas and self.blitting:
            self.background = event.canvas.copy_from_bbox(self.fig.bbox)
        for artist in self.animated:
            artist.draw(event.renderer)

    def redraw(self, **values):
        """Update the artists for these control values (implemented by each widget)."""
        raise NotImplementedError

    @cached_property
    def widget(self):
        """The controls, the status line and the figure stacked in one widget."""
        view = self.fig.canvas if self.output is None else self.output
        return ipw.VBox([ipw.HBox(list(self.controls.values()), layout=ipw.Layout(flex_flow="row wrap")),
                         self.status, view])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


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


def stale_artists(fig):
    """The artists of the figure that changed since they were last drawn."""
    children = [child for ax in fig.axes for child in ax.get_children()]
    children += [child for child in fig.get_children() if child not in fig.axes and child is not fig.patch]
    return [child for child in children if child.stale]


def is_frame(artist):
    """True for parts of the axes frame (axis, ticks, spines): when they change, everything is redrawn."""
    return isinstance(artist, (Axis, Spine))
