"""The class report: per exercise, how many students earned it fully, partly or not at all, and the class's
most frequent feedback hints ("the bias is missing": 23 students). One HTML page (with a chart) and one CSV."""
import base64
import csv
import html
import io
import re
from collections import Counter

from autograder.gradebook import csv_cell

TOP_HINTS = 5
HINT = re.compile(r"^\s*hint:\s*(.+)$", re.M)


def hint_of(message):
    """The class-level reading of one failed test: its hint line, else its first line with numbers removed."""
    message = str(message or "")
    found = HINT.search(message)
    if found:
        return found.group(1).strip()[:200]
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    if first.startswith("Not implemented yet"):
        return "not answered (still raises NotImplementedError)"
    if first.startswith("hidden check"):
        return first[:200]
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", first)[:200]


def summarise(rows):
    """[(exercise, max points, full, partly, none, [(hint, students)])] over the graded students."""
    table = {}
    for row in rows:
        for grade in row.get("grades") or []:
            if grade.get("max_score") is None or grade.get("auto_score") is None:
                continue
            entry = table.setdefault(grade["name"], {"max": grade["max_score"], "counts": Counter(), "hints": Counter()})
            score, top = grade["auto_score"], grade["max_score"]
            entry["counts"]["full" if score >= top else "partly" if score > 0 else "none"] += 1
            verdict = (row.get("verdicts") or {}).get(grade["name"])
            if verdict:
                entry["hints"][hint_of(verdict)] += 1
    return [(name, e["max"], e["counts"]["full"], e["counts"]["partly"], e["counts"]["none"],
             e["hints"].most_common(TOP_HINTS)) for name, e in table.items()]


def chart(summary):
    """A stacked bar chart (PNG, base64) of full / partly / none per exercise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s[0] for s in summary]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    left = [0] * len(names)
    for column, label, color in ((2, "full", "#2e7d32"), (3, "partly", "#f9a825"), (4, "none", "#c62828")):
        values = [s[column] for s in summary]
        ax.barh(names, values, left=left, color=color, label=label)
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("students")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write(rows, lesson, folder):
    """Write class_report.html and class_report.csv into folder; return the HTML path."""
    summary = summarise(rows)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "class_report.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["exercise", "points", "full", "partly", "none", "hint", "students"])
        for name, points, full, partly, none, hints in summary:
            for hint, count in hints or [("", "")]:
                writer.writerow([csv_cell(name), points, full, partly, none, csv_cell(hint), count])
    lines = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(lesson)}: class report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .6em;"
             "border-bottom:1px solid #ddd;text-align:left;vertical-align:top}</style></head><body>",
             f"<h1>{html.escape(lesson)}: class report</h1>",
             f"<p>{len(rows)} students. Per exercise: how many earned it fully, partly or not at all, and the most "
             "frequent feedback the class received.</p>"]
    if summary:
        lines.append(f"<img alt='full, partly, none per exercise' src='data:image/png;base64,{chart(summary)}'>")
    lines.append("<table><tr><th>exercise</th><th>points</th><th>full</th><th>partly</th><th>none</th>"
                 "<th>most frequent feedback (students)</th></tr>")
    for name, points, full, partly, none, hints in summary:
        listed = "<br>".join(f"{html.escape(hint)} ({count})" for hint, count in hints)
        lines.append(f"<tr><td>{html.escape(name)}</td><td>{points:g}</td><td>{full}</td><td>{partly}</td>"
                     f"<td>{none}</td><td>{listed}</td></tr>")
    lines.append("</table></body></html>")
    target = folder / "class_report.html"
    target.write_text("\n".join(lines), encoding="utf-8")
    return target
