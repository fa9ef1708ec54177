"""What `grade` prints and writes: the summary table, unused files and grades.csv."""
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autograder import class_report, gradebook
from autograder.submissions import printable


def fmt(value):
    """A score for the table."""
    return "-" if value is None else f"{value:g}"


def literal(value):
    """Student-controlled text as a rich Text: shown as written, never read as markup, emoji or highlights."""
    return Text(printable(value))


def write(rows, found, opts):
    """Print the summary table and the unused files; write grades.csv."""
    console = Console(width=160, markup=False, highlight=False, emoji=False)
    table = Table(title=literal(f"{opts.lesson}: {len(rows)} submissions graded"))
    for column in ("student", "score", "max", "flags"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(literal(row["student"]), fmt(row.get("score")), fmt(row.get("max_score")),
                      literal("; ".join(row["flags"])))
    console.print(table)
    extra = [{"student": "(unmatched)", "file": path, "flags": [reason]} for path, reason in found.unmatched]
    extra += [{"student": "(duplicate)", "file": path, "flags": [reason]} for path, reason in found.duplicates]
    for row in extra:
        console.print(literal(f"not graded: {row['file']}: {row['flags'][0]}"))
    opts.out.mkdir(parents=True, exist_ok=True)
    gradebook.write_csv(opts.out / "grades.csv", rows + extra)
    flagged = sum(1 for row in rows if row["flags"])
    page = class_report.write(rows, opts.lesson, opts.out)
    console.print(literal(f"{len(rows)} graded, {flagged} flagged, {len(extra)} files not used. "
                          f"CSV: {opts.out / 'grades.csv'}  feedback: {opts.out / 'feedback'}  gradebook: {opts.db}"))
    console.print(literal(f"class report: {page.as_uri()} (and {opts.out / 'class_report.csv'})"))
