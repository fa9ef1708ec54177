"""The base of every live widget: a figure drawn once, controls, and friendly errors.

Each builder draws its figure once; moving a control only updates the existing artists and asks
for a redraw. Until the student's function works, the widget shows "implement X above" instead of
a traceback. `update(**values)` is a plain method, so tests drive widgets without a browser.
"""
import html
from functools import cached_property

import ipywidgets as ipw
from IPython.display import clear_output, display



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
        for control in controls.values():
            control.observe(self.on_change, names="value")
        self.update()

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
        self.fig.canvas.draw_idle()
        if self.output is not None and _in_kernel():
            with self.output:
                clear_output(wait=True)
                display(self.fig)

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
