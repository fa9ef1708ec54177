"""Small, pure helpers for the report: percentiles, budget verdicts, ratios and the table."""
import math

BUDGETS = {
    "run_all_s": 10.0,         # per lesson
    "run_all_s_keras": 20.0,   # a lesson that builds Keras models
    "kernel_p95_ms": 20.0,     # callback + redraw, per widget
    "repaint_p95_ms": 100.0,   # browser input to repaint
    "sweep_paints_per_s": 20.0,           # a 60 Hz drag over a drawing widget
    "sweep_paints_per_s_training": 5.0,   # ... over a widget that trains a network per value
    "sweep_lag_ms": 100.0,     # last input of the drag to the final paint
}


def percentile(values, q):
    """The q-th percentile (0-100) by linear interpolation between closest ranks; None for no values."""
    values = sorted(float(v) for v in values)
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    k = (len(values) - 1) * q / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summary(values):
    """n, median, p95 and max of a list of timings (None entries when empty)."""
    return {"n": len(values), "median": percentile(values, 50), "p95": percentile(values, 95),
            "max": max(values) if values else None}


def run_all_budget(uses_keras):
    """Run All budget in seconds (a lesson that builds Keras models gets more)."""
    return BUDGETS["run_all_s_keras"] if uses_keras else BUDGETS["run_all_s"]


def verdict_at_least(value, floor):
    """'ok' at or above floor, 'UNDER' below it, '-' when there is no figure."""
    if value is None:
        return "-"
    return "ok" if value >= floor else "UNDER"


def verdict(value, budget):
    """'ok' within budget, 'OVER' above it, '-' when there is no figure."""
    if value is None:
        return "-"
    return "ok" if value <= budget else "OVER"


def ratio(baseline, measured):
    """How many times faster `measured` is than `baseline` (None when either is missing or zero)."""
    if not baseline or not measured:
        return None
    return baseline / measured


def fmt(value, digits=1, suffix=""):
    """A number for the table ('-' for None)."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


def table(rows, headers):
    """A plain-text table with aligned columns (every cell turned into a string)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells[1:]]
    return "\n".join(out)


def sweep_values(low, high, n, log=False, integer=False, seed=0):
    """n slider positions spread over [low, high] in a shuffled but reproducible order."""
    import numpy as np
    if n <= 0:
        return []
    if log:
        values = 10.0 ** np.linspace(low, high, n)
    else:
        values = np.linspace(low, high, n)
    if integer:
        values = np.rint(values).astype(int)
    order = np.random.default_rng(seed).permutation(n)
    return [v.item() for v in values[order]]
