"""Kernel-side widget timings: every live widget a lesson builds, driven without a browser (Agg).

Discovery is generic: the solution notebook's code cells run in-process (matplotlib Agg, tests
skipped) while `LiveFigure.registry` collects every widget a builder shows; each widget keeps the
arguments it was built with (`recipe`). So each lesson's widgets are found with the lesson's own
(solution) functions, and lessons added later are covered without a list of widgets.

Per widget: ~50 updates with varying slider values, each `update(...)`: the callback plus the repaint
it asks for (a blit of the changed artists, or a full draw) and the frame sent to the view; the
baseline rebuilds the widget (a fresh figure, as an `interact` callback would), draws it whole and sends
it for every change, in the same run.
"""
import contextlib
import io
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def recording():
    """While active, every LiveFigure shown is appended to the yielded list."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg", force=True)
    import nncourse.widgets  # noqa: F401 - imports every lesson's widget module
    from nncourse.live import LiveFigure

    made, before = [], LiveFigure.registry
    LiveFigure.registry = made
    try:
        yield made
    finally:
        LiveFigure.registry = before


def lesson_widgets(lesson, root=ROOT):
    """[(name, class, args, kwargs, instance)] for every widget the solution notebook builds."""
    import nbformat
    from tests.validity import is_test, plain_python

    nb = nbformat.read(root / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    namespace = {"__name__": "__lesson__"}
    with recording() as made, contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code" or is_test(cell):
                continue
            try:
                exec(compile(plain_python(cell.source), f"<{lesson}>", "exec"), namespace)
            except Exception:  # noqa: BLE001 - a failing cell must not stop the report; the widgets found still count
                continue
    names, found = {}, []
    for instance in made:
        cls, (args, kwargs) = type(instance), instance.recipe
        names[cls.__name__] = names.get(cls.__name__, 0) + 1
        name = cls.__name__ + (f"#{names[cls.__name__]}" if names[cls.__name__] > 1 else "")
        found.append((name, cls, args, kwargs, instance))
    return found


def control_sweeps(controls, updates=50, seed=0):
    """[(control name, value)] updates that cycle over the numeric sliders with spread-out values."""
    import ipywidgets as ipw
    from benchmarks.stats import sweep_values
    from nncourse.controls import Slider
    sliders = {}
    for name, control in controls.items():
        if isinstance(control, Slider):
            sliders[name] = dict(low=control.min, high=control.max, log=control.scale == "log",
                                 integer=control.scale == "int")
        elif isinstance(control, ipw.FloatLogSlider):
            sliders[name] = dict(low=control.min, high=control.max, log=True)
        elif isinstance(control, (ipw.FloatSlider, ipw.IntSlider)):
            sliders[name] = dict(low=control.min, high=control.max, integer=isinstance(control, ipw.IntSlider))
    if not sliders:
        return []
    per = -(-updates // len(sliders))
    values = {name: sweep_values(n=per, seed=seed + i, **spec) for i, (name, spec) in enumerate(sliders.items())}
    plan = [(name, values[name][k]) for k in range(per) for name in sliders]
    return plan[:updates]


def timed_change(instance, name, value):
    """[ms] of each step one change makes the kernel run: the first at once, then each scheduled one."""
    steps, passes = [], instance.in_steps(**{name: value})
    while True:
        start = time.perf_counter()
        try:
            next(passes)
        except StopIteration:
            return steps
        steps.append((time.perf_counter() - start) * 1000)


def time_widget(cls, args, kwargs, instance, updates=50, baseline_updates=None):
    """{'live': [ms per step], 'changes': [ms per change], 'naive': [ms...]} for in-place updates and rebuilds.

    A drawing widget makes one step per change; a training widget one per chunk of training, and between two
    steps the kernel handles the controls, so the step is what a student waits for."""
    plan = control_sweeps(instance.controls, updates)
    live, changes = [], []
    for name, value in plan:
        steps = timed_change(instance, name, value)
        live += steps
        changes.append(sum(steps))
    naive = []
    for name, value in plan[:baseline_updates or len(plan)]:
        start = time.perf_counter()
        fresh = cls(*args, **kwargs)          # a new figure per change, as an interact callback builds
        fresh.update(**{name: value})         # one computation for the new value, drawn whole and sent
        naive.append((time.perf_counter() - start) * 1000)
    return {"live": live, "changes": changes, "naive": naive, "updates": len(plan),
            "status_error": None if instance.error is None else f"{type(instance.error).__name__}: {instance.error}"}
