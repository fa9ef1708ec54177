"""What `grade` prints and writes: the summary table, unused files and grades.csv."""
from rich.console import Console
from rich.table import Table

from autograder import gradebook


def fmt(value):
    """A score for the table."""
    return "-" if value is None else f"{value:g}"


def write(rows, found, opts):
    """Print the summary table and the unused files; write grades.csv."""
    console = Console(width=160)
    table = Table(title=f"{opts.lesson}: {len(rows)} submissions graded")
    for column in ("student", "score", "max", "flags"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["student"], fmt(row.get("score")), fmt(row.get("max_score")),
                      "; ".join(row["flags"]) or "")
    console.print(table)
    extra = [{"student": "(unmatched)", "file": path, "flags": [reason]} for path, reason in found.unmatched]
    extra += [{"student": "(duplicate)", "file": path, "flags": [reason]} for path, reason in found.duplicates]
    for row in extra:
        console.print(f"not graded: {row['file']}: {row['flags'][0]}")
    opts.out.mkdir(parents=True, exist_ok=True)
    gradebook.write_csv(opts.out / "grades.csv", rows + extra)
    flagged = sum(1 for row in rows if row["flags"])
    console.print(f"{len(rows)} graded, {flagged} flagged, {len(extra)} files not used. "
                  f"CSV: {opts.out / 'grades.csv'}  feedback: {opts.out / 'feedback'}  gradebook: {opts.db}")
