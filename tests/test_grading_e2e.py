"""End to end: grade a small class (honest and attacking submissions) in the sandbox, check every score and flag."""
import hashlib
import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import gradebook, grading, pipeline, report, sandbox

ROOT = pipeline.ROOT
DEADLINE = datetime(2030, 1, 10, 12, 0, tzinfo=timezone.utc)
pytestmark = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap sandbox unavailable")


def answers(lesson):
    """grade_id -> solution source, from the instructor notebook."""
    solution = nbformat.read(pipeline.notebook_path(lesson), as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.source for c in solution.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def filled(lesson, solved=(), replace=None):
    """The released notebook with the given answer cells solved and others replaced by given sources."""
    notebook = nbformat.read(pipeline.notebook_path(lesson, pipeline.LESSONS), as_version=4)
    known = answers(lesson)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in (replace or {}):
            cell.source = replace[grade_id]
        elif grade_id in known and (solved == "all" or grade_id in solved):
            cell.source = known[grade_id]
    return notebook


def auto_points(lesson):
    """Total points of the auto-graded (code) test cells of a lesson."""
    notebook = nbformat.read(pipeline.notebook_path(lesson, pipeline.LESSONS), as_version=4)
    return sum(c.metadata.nbgrader["points"] for c in notebook.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))


STUB = "def relu(z):\n    raise NotImplementedError()\n"
ATTACKS = {
    "transformers": STUB + (
        "import ast\n"
        "get_ipython().input_transformers_cleanup.append(\n"
        "    lambda lines: ['pass\\n'] if any('check' in l or 'assert' in l for l in lines) else lines)\n"
        "class Skip(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        node.body = [n for n in node.body if not isinstance(n, (ast.Assert, ast.Expr))]\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(Skip())\n"),
    "hooks": STUB + (
        "import sys\n"
        "get_ipython().set_custom_exc((AssertionError, NotImplementedError), lambda *a, **k: None)\n"
        "get_ipython().events.register('post_run_cell', lambda result: None)\n"
        "def tracer(frame, event, arg):\n"
        "    return None\n"
        "sys.settrace(tracer)\n"),
    "monkeypatch": STUB + (
        "import builtins, numpy, numpy.testing\n"
        "import nncourse.feedback as fb\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "fb.check_close = lambda *a, **k: None\n"
        "fb.check_equal = lambda *a, **k: None\n"
        "fb.check_choice = lambda *a, **k: 'b'\n"
        "fb.require = lambda name, value: value\n"
        "fb.call.__code__ = (lambda function, *args, label=None, **kwargs: 0.0).__code__\n"
        "builtins.NotImplementedError = type('Fine', (Exception,), {})\n"),
    "secrets": STUB + (
        "import socket\n"
        f"for path in [{str(ROOT / 'solutions' / '01_neuron' / '01_neuron.ipynb')!r}, '../../../gradebook.db']:\n"
        "    try:\n"
        "        print(open(path).read()[:50])\n"
        "    except OSError:\n"
        "        pass\n"
        "for path in ['../../../gradebook.db', " + repr(str(ROOT / 'gradebook.db')) + "]:\n"
        "    try:\n"
        "        open(path, 'w').write('pwned')\n"
        "    except OSError:\n"
        "        pass\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "except OSError:\n"
        "    pass\n"),
    "kill": STUB + "import os\nos._exit(0)\n",
    "loop": STUB + "while True:\n    pass\n",
    "bombs": STUB + (
        "import os, time\n"
        "hog = bytearray(64 * 1024 ** 3)\n"),
    "flood": STUB + "for _ in range(300):\n    print('x' * 100_000)\n",
}
FORK_BOMB = ("import os, time\n"
             "while True:\n"
             "    if os.fork() == 0:\n"
             "        time.sleep(300)\n"
             "        os._exit(0)\n")


def tampered_cells():
    """step solved, test cells edited, deleted, re-pointed and duplicated."""
    notebook = filled("01_neuron", solved=["step"])
    cells = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "test_relu":
            continue
        if grade_id == "test_step":
            cell.source = "pass"
        if grade_id == "test_neuron":
            cell.metadata.nbgrader["points"] = 100
        cells.append(cell)
        if grade_id == "test_q1":
            cells.append(nbformat.from_dict(json.loads(json.dumps(cell))))
    notebook.cells = cells
    return notebook


def write(folder, name, notebook=None, raw=None, when=DEADLINE - timedelta(days=1)):
    """Write a submission file and set its modification time."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
    else:
        nbformat.write(notebook, path)
    os.utime(path, (when.timestamp(), when.timestamp()))


def build_class(folder):
    """Fifteen submissions in mixed LMS naming, plus an unmatched file and an older duplicate."""
    write(folder, "alice.ipynb", filled("01_neuron", "all"))
    write(folder, "alice/01_neuron.ipynb", filled("01_neuron"), when=DEADLINE - timedelta(days=3))
    write(folder, "Bob Blank_1002_assignsubmission_file_01_neuron.ipynb", filled("01_neuron"))
    write(folder, "partialpat_1003_555_homework.ipynb", filled("01_neuron", ["step", "relu", "q1"]))
    write(folder, "lateleo.ipynb", filled("01_neuron", ["step"]), when=DEADLINE + timedelta(hours=2))
    for name, attack in ATTACKS.items():
        notebook = filled("01_neuron", ["step"], {"relu": attack})
        if name == "bombs":
            index = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "relu")
            notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(FORK_BOMB))
        write(folder, f"{name}.ipynb", notebook)
    write(folder, "tamper.ipynb", tampered_cells())
    write(folder, "badjson.ipynb", raw=b'{"cells": [')
    write(folder, "wrongformat.ipynb", raw=json.dumps({"nbformat": 5, "nbformat_minor": 0, "metadata": {}, "cells": []}).encode())
    write(folder, "empty.ipynb", raw=b"")
    big = filled("01_neuron")
    big.cells[0].source += "\n" + "x" * (6 * 1024 * 1024)
    write(folder, "huge.ipynb", big)
    write(folder, "readme.txt", raw=b"not a notebook")


EXPECTED = {  # student: (score without the written answer, flags that must be present)
    "alice": (17, ["2 files submitted"]),
    "1002": (0, []),
    "1003": (3, ["renamed file"]),
    "lateleo": (1, ["late by 2.0 h"]),
    "transformers": (1, ["IPython input/AST transformers", "input_transformers_cleanup changed"]),
    "hooks": (1, ["custom exception handler installed", "event callbacks registered: post_run_cell",
                  "trace hook"]),
    "monkeypatch": (1, ["numpy.allclose replaced", "nncourse.feedback.check_close replaced",
                        "call rewritten", "builtins.NotImplementedError replaced"]),
    "secrets": (1, ["tried to open " + str(ROOT / "solutions"), "tried to open a network connection"]),
    "kill": (1, ["the kernel died"]),
    "loop": (1, ["time limit"]),
    "bombs": (1, ["ran out of memory", "process limit"]),
    "flood": (1, ["output flood"]),
    "tamper": (1, ["edited test cell test_step", "deleted test cell test_relu", "changed metadata of test_neuron",
                   "duplicated cell test_q1"]),
    "badjson": (0, ["not valid notebook JSON"]),
    "wrongformat": (0, ["wrong nbformat (5)"]),
    "empty": (0, ["empty file"]),
    "huge": (0, ["oversized file"]),
}


def digest(path):
    """sha256 of a file, or None when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the class once with 2 workers; return (rows, collection, options, hashes before)."""
    base = tmp_path_factory.mktemp("class")
    build_class(base / "submissions")
    db = base / "gradebook.db"
    gradebook.ensure_assignment(db, "01_neuron")
    with Gradebook(gradebook.db_url(db), gradebook.COURSE_ID) as gb:  # a grade from earlier, entered by hand
        gb.update_or_create_student("zed")
        gb.update_or_create_submission("01_neuron", "zed")
        gb.find_grade("xor_explanation", "01_neuron", "01_neuron", "zed").manual_score = 1.5
        gb.db.commit()
    protected = [ROOT / "gradebook.db", pipeline.notebook_path("01_neuron")]
    before = {p: digest(p) for p in protected}
    opts = grading.Options(lesson="01_neuron", source=base / "submissions", out=base / "out", db=db, jobs=2,
                           deadline=DEADLINE, cell_timeout=8, notebook_timeout=150, progress=False)
    rows, found = grading.grade(opts)
    report.write(rows, found, opts)
    return {r["student"]: r for r in rows}, found, opts, before


def test_every_score_and_flag(graded):
    rows, _, _, _ = graded
    assert sorted(rows) == sorted(EXPECTED)
    for student, (score, flags) in EXPECTED.items():
        row = rows[student]
        assert row["score"] == score, (student, row)
        assert row["max_score"] == 19, (student, row)
        text = "; ".join(row["flags"])
        for flag in flags:
            assert flag in text, (student, flag, text)
    assert rows["alice"]["flags"] == ["2 files submitted, graded the newest"]
    assert rows["1002"]["flags"] == []


def test_unused_files_are_reported(graded):
    _, found, _, _ = graded
    assert [p for p, _ in found.unmatched] == ["readme.txt"]
    assert [p for p, _ in found.duplicates] == ["alice/01_neuron.ipynb"]


def test_gradebook_intact_and_outputs_written(graded):
    rows, _, opts, before = graded
    assert {p: digest(p) for p in before} == before
    with sqlite3.connect(opts.db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Gradebook(gradebook.db_url(opts.db), gradebook.COURSE_ID) as gb:
        assert gb.find_grade("xor_explanation", "01_neuron", "01_neuron", "zed").manual_score == 1.5
        assert gb.find_submission("01_neuron", "alice").needs_manual_grade
        assert gb.find_submission_notebook("01_neuron", "01_neuron", "monkeypatch").flagged
        assert not gb.find_submission_notebook("01_neuron", "01_neuron", "1002").flagged
    assert (opts.out / "feedback" / "alice" / "01_neuron.html").exists()
    html = (opts.out / "feedback" / "1003" / "01_neuron.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in html and "(hidden tests)" in html
    csv_text = (opts.out / "grades.csv").read_text()
    assert csv_text.count("\n") == 1 + len(rows) + 2  # header, students, the unmatched file and the duplicate


def test_rerun_is_idempotent_and_keeps_manual_grades(graded):
    rows, _, opts, _ = graded
    with Gradebook(gradebook.db_url(opts.db), gradebook.COURSE_ID) as gb:
        gb.find_grade("xor_explanation", "01_neuron", "01_neuron", "alice").manual_score = 2
        gb.db.commit()
    again, _ = grading.grade(opts)
    again = {r["student"]: r for r in again}
    assert again["alice"]["score"] == 19
    assert {s: r["score"] for s, r in again.items() if s != "alice"} == {s: r["score"] for s, r in rows.items() if s != "alice"}


def other_lessons():
    """Every released lesson except 01 (discovered when the tests run)."""
    return [name for name in pipeline.lesson_names(pipeline.LESSONS)
            if name != "01_neuron" and pipeline.notebook_path(name).exists()]


@pytest.mark.parametrize("lesson", other_lessons())
def test_smoke_class_for_lesson(lesson, tmp_path):
    folder = tmp_path / "submissions"
    solutions = [g for g in answers(lesson)]
    write(folder, "full.ipynb", filled(lesson, "all"))
    write(folder, "blank.ipynb", filled(lesson))
    write(folder, "partial.ipynb", filled(lesson, solutions[:1]))
    opts = grading.Options(lesson=lesson, source=folder, out=tmp_path / "out", db=tmp_path / "gb.db", jobs=2,
                           cell_timeout=60, notebook_timeout=300, progress=False)
    rows = {r["student"]: r for r in grading.grade(opts)[0]}
    assert (opts.out / ".work" / "results" / "full.json").exists(), f"the full submission was not graded: {rows['full']}"
    full = sum(g["auto_score"] or 0 for g in json.loads((opts.out / ".work" / "results" / "full.json").read_text())["grades"])
    assert full == auto_points(lesson), rows["full"]
    assert rows["blank"]["score"] == 0, rows["blank"]
    assert 0 <= rows["partial"]["score"] < full
    assert not [f for f in rows["full"]["flags"] if not f.startswith("renamed")], rows["full"]["flags"]
