"""The instructor gradebook: make sure a lesson is in it, merge scratch results without losing grades, export CSV."""
import csv
import shutil
import tempfile
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from publish import notebooks
from autograder.submissions import printable

COURSE_ID = "nncourse"


def db_url(path):
    """SQLAlchemy URL of a gradebook file."""
    return f"sqlite:///{Path(path).resolve()}"


def has_assignment(db_path, lesson):
    """True when the gradebook already knows the lesson."""
    if not Path(db_path).exists():
        return False
    with Gradebook(db_url(db_path), COURSE_ID) as gb:
        try:
            gb.find_assignment(lesson)
            return True
        except MissingEntry:
            return False


def ensure_assignment(db_path, lesson, template=None):
    """Add the lesson (cells, points, checksums) to a gradebook through nbgrader, without touching lessons/."""
    if template and not Path(db_path).exists():
        shutil.copyfile(template, db_path)  # a new gradebook: the template holds exactly this lesson
    if not has_assignment(db_path, lesson):
        with tempfile.TemporaryDirectory() as release:
            notebooks.generate([lesson], release_dir=release, db_path=Path(db_path).resolve())


class Book:
    """The instructor gradebook, opened once for a whole grading run (one connection, one commit per student)."""

    def __init__(self, db_path):
        warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy noise
        self.gb = Gradebook(db_url(db_path), COURSE_ID)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.gb.close()

    def merge(self, lesson, sid, grades, timestamp=None, flagged=False):
        """Write one student's autograde results; manual scores and other students stay as they are."""
        gb = self.gb
        try:
            gb.update_or_create_student(sid)
            extra = {"timestamp": timestamp} if timestamp else {}
            submission = gb.update_or_create_submission(lesson, sid, **extra)
            for entry in grades:
                grade = gb.find_grade(entry["name"], entry["notebook"], lesson, sid)
                grade.auto_score = entry["auto_score"]
                grade.needs_manual_grade = grade.manual_score is None if entry["auto_score"] is None else False
            for notebook in submission.notebooks:
                notebook.flagged = flagged
            gb.db.commit()
        except Exception:
            gb.db.rollback()  # one student's failed merge leaves nothing half-written for the next one
            raise

    def totals(self, lesson, sid):
        """(score, max score, manual grading pending) of a student's lesson in the gradebook."""
        try:
            submission = self.gb.find_submission(lesson, sid)
        except MissingEntry:
            return None, None, False
        return submission.score, submission.max_score, submission.needs_manual_grade


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A cell spreadsheets show as text: student strings made printable, formula starts behind a quote."""
    if not isinstance(value, str):
        return value
    return ("'" if value.startswith(FORMULA_STARTS) else "") + printable(value)


def write_csv(path, rows):
    """grades.csv: one row per student (and one per file that could not be used)."""
    fields = ["student", "score", "max_score", "auto_score", "needs_manual_grade", "late", "file", "flags"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            cells = {**row, "flags": "; ".join(row.get("flags", []))}
            writer.writerow({name: csv_cell(cells.get(name)) for name in fields})
