"""The class report: per exercise, how many students earned it fully, partly or not at all, and the class's
most frequent feedback hints ("the bias is missing": 23 students). One HTML page (with a chart) and one CSV."""
import csv
import html
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


KINDS = (("full", "#2e7d32"), ("partly", "#f9a825"), ("none", "#c62828"))


def chart(summary, label=170, width=420, row=20):
    """A stacked bar chart (inline SVG, no plotting library) of full / partly / none per exercise."""
    most = max(sum(entry[2:5]) for entry in summary) or 1
    height = row * len(summary) + 26
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label + width + 10}' height='{height}' role='img' "
             "aria-label='full, partly, none per exercise' font-family='sans-serif' font-size='12'>"]
    for index, (name, _, *counts, _) in enumerate(summary):
        top, left = index * row, label
        parts.append(f"<text x='{label - 6}' y='{top + 14}' text-anchor='end'>{html.escape(name)}</text>")
        for count, (kind, color) in zip(counts, KINDS):
            if count:
                size = width * count / most
                parts.append(f"<rect x='{left:.1f}' y='{top + 3}' width='{size:.1f}' height='{row - 6}' fill='{color}'>"
                             f"<title>{kind}: {count}</title></rect>")
                left += size
    for index, (kind, color) in enumerate(KINDS):
        x = label + 70 * index
        parts.append(f"<rect x='{x}' y='{height - 16}' width='10' height='10' fill='{color}'/>"
                     f"<text x='{x + 14}' y='{height - 7}'>{kind}</text>")
    return "".join(parts) + "</svg>"


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
        lines.append(chart(summary))
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
