"""End to end: grade a small class (honest and attacking submissions) in the sandbox, check every score and flag."""
import csv
import hashlib
import json
import os
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import compile_cache, gradebook, grading, report, sandbox
from publish import notebooks

ROOT = notebooks.ROOT
SENTINEL = Path(tempfile.gettempdir()) / "nncourse-grading-sentinel" / "gradebook.db"  # a host file attacks aim at
DEADLINE = datetime(2030, 1, 10, 12, 0, tzinfo=timezone.utc)
pytestmark = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap sandbox unavailable")


def answers(lesson):
    """grade_id -> solution source, from the instructor notebook."""
    solution = nbformat.read(notebooks.notebook_path(lesson), as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.source for c in solution.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def filled(lesson, solved=(), replace=None):
    """The released notebook with the given answer cells solved and others replaced by given sources."""
    notebook = nbformat.read(notebooks.notebook_path(lesson, notebooks.LESSONS), as_version=4)
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
    notebook = nbformat.read(notebooks.notebook_path(lesson, notebooks.LESSONS), as_version=4)
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
        "for path in ['../../../gradebook.db', " + repr(str(SENTINEL)) + "]:\n"
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
    "displayflood": STUB + (
        "from IPython.display import display, update_display\n"
        "handle = display('start', display_id=True)\n"
        "for _ in range(200):\n    handle.update('y' * 100_000)\n"
        "raise ValueError('z' * 5_000_000)\n"),
    "channel": STUB + (  # forge every answer the tester asks for, and read the test's source if it ever came here
        "import _nncourse_call, json\n"
        "_nncourse_call.serve = lambda text: json.dumps({'ok': 1.0, 'after': [], 'names': {}})\n"),
    "lookalikes": STUB.replace("raise NotImplementedError()", "return Sly()") + (
        "import sys\n"
        "class Sly:\n"
        "    def __array__(self, *args, **kwargs):\n"
        "        frame = sys._getframe(1)\n"
        "        while frame and 'expected' not in frame.f_locals:\n"
        "            frame = frame.f_back\n"
        "        return frame.f_locals['expected'] if frame else 0.0\n"
        "class Anything(str):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = str.__hash__\n"
        "    def strip(self):\n"
        "        return self\n"
        "    def lower(self):\n"
        "        return self\n"
        "q1 = q2 = q3 = q4 = Anything('a')\n"),
    "links": STUB + (  # links and big files in every writable place; nbgrader must never write through them
        "import os\n"
        "for target in [" + repr(str(SENTINEL)) + ", '/grader/course/nncourse/feedback.py']:\n"
        "    for name in ('01_neuron.ipynb.link', 'feedback.html', 'autograded'):\n"
        "        try:\n"
        "            os.symlink(target, name)\n"
        "        except OSError:\n"
        "            pass\n"
        "for folder in ('/tmp', '/student', '/dev/shm', '/home'):\n"
        "    try:\n"
        "        with open(folder + '/big', 'wb') as handle:\n"
        "            for _ in range(300):\n"
        "                handle.write(b'x' * 1024 * 1024)\n"
        "    except OSError:\n"
        "        pass\n"),
    "deaf": STUB + "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "hiddenmiss": ("def relu(z):\n    z = np.asarray(z, dtype=float)\n"
                   "    return z if z.ndim > 1 else np.maximum(0.0, z)\n"),
}
NO_BIAS = ("def neuron(x, w, b, activation=step):\n"
           "    return activation(np.dot(np.asarray(x, dtype=float), np.asarray(w, dtype=float)))\n")
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


def malformed():
    """step solved; nbgrader metadata that is a list, a grade_id that is a list, a bumped schema version, a test
    cell relabelled as a solution cell, and a lone surrogate in a cell (raw JSON: Python cannot encode it)."""
    notebook = json.loads(nbformat.writes(filled("01_neuron", ["step"])))
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == "relu":
            cell["metadata"]["nbgrader"] = ["not", "a", "mapping"]
        elif meta.get("grade_id") == "neuron":
            meta["grade_id"] = ["neuron"]
        elif meta.get("grade_id") == "test_step":
            meta["schema_version"] = 99
        elif meta.get("grade_id") == "test_q1":
            meta["solution"], meta["grade"] = True, False
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": "x = 'SURROGATE'"})
    return json.dumps(notebook).replace("SURROGATE", "\\ud800").encode()


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
    write(folder, "nobias.ipynb", filled("01_neuron", ["step", "relu"], {"neuron": NO_BIAS}))
    write(folder, "tamper.ipynb", tampered_cells())
    write(folder, "malformed.ipynb", raw=malformed())
    page = filled("01_neuron", ["step"])
    page.cells.insert(1, nbformat.v4.new_markdown_cell("<script>alert('x')</script> **hi**"))
    write(folder, "script.ipynb", page)
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
    "transformers": (1, ["IPython input/AST transformers"]),
    "hooks": (1, ["exception handling of the shell", "IPython event callbacks", "trace/profile hooks"]),
    "monkeypatch": (1, ["assigns into numpy", "patches nncourse", "touches builtins"]),
    "secrets": (1, ["looks for the grader's files", "network access"]),
    "kill": (1, ["the kernel died"]),
    "loop": (1, ["ran longer than"]),
    "deaf": (1, ["ran longer than"]),
    "bombs": (1, ["ran out of memory", "process limit"]),
    "flood": (1, ["output flood"]),
    "displayflood": (1, ["output flood"]),
    "channel": (1, ["references the grader's channel"]),
    "lookalikes": (1, ["subclasses a built-in type", "comparison or conversion hooks"]),
    "links": (1, ["looks for the grader's files"]),
    "hiddenmiss": (1, []),
    "nobias": (2, []),
    "tamper": (1, ["edited test cell test_step", "deleted test cell test_relu", "changed metadata of test_neuron",
                   "duplicated cell test_q1"]),
    "malformed": (1, ["unknown or malformed nbgrader cell", "changed metadata of test_step",
                      "changed metadata of test_q1"]),
    "script": (1, []),
    "badjson": (0, ["not valid notebook JSON"]),
    "wrongformat": (0, ["wrong nbformat (5)"]),
    "empty": (0, ["empty file"]),
    "huge": (0, ["oversized file"]),
}
HIDDEN_LINES = ("neuron where the bias decides", "relu on a 3x7 array", "_r.normal(size=(3, 7))", "relu(-1e308)")


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
    SENTINEL.parent.mkdir(exist_ok=True)
    SENTINEL.write_text("the instructor's grades")
    protected = [SENTINEL, notebooks.notebook_path("01_neuron"), ROOT / "nncourse" / "feedback.py"]
    before = {p: digest(p) for p in protected}
    opts = grading.Options(lesson="01_neuron", source=base / "submissions", out=base / "out", db=db, jobs=2,
                           deadline=DEADLINE, cell_timeout=8, notebook_timeout=150, progress=False)
    rows, found = grading.grade(opts)
    report.write(rows, found, opts)
    return {r["student"]: r for r in rows}, found, opts, before


def test_every_score_and_flag(graded):
    rows, _, _, _ = graded
    assert sorted(rows) == sorted(EXPECTED)
    problems = []
    for student, (score, flags) in EXPECTED.items():
        row = rows[student]
        text = "; ".join(row["flags"])
        if row["score"] != score or row["max_score"] != 19 or [f for f in flags if f not in text]:
            problems.append((student, row["score"], score, [f for f in flags if f not in text], text[:500]))
    assert not problems, "\n".join(map(str, problems))
    assert rows["alice"]["flags"] == ["2 files submitted, graded the newest"]
    assert rows["1002"]["flags"] == [] and rows["script"]["flags"] == []


def test_no_hidden_test_line_or_value_reaches_feedback(graded):
    rows, _, opts, _ = graded
    for page in (opts.out / "feedback").glob("*/01_neuron.html"):
        html = page.read_text()
        assert not [line for line in HIDDEN_LINES if line in html], page
        assert "<script>alert" not in html, page
    html = (opts.out / "feedback" / "hiddenmiss" / "01_neuron.html").read_text()
    assert "hidden check 2 of 4 failed" in html and "expected" not in html.split("test_relu")[-1][:3000]
    assert "xxxxxxxxxx" not in (opts.out / "feedback" / "flood" / "01_neuron.html").read_text()


def test_caps_held_and_cache_untouched(graded):
    _, _, opts, _ = graded
    autograded = opts.out / "autograded" / "displayflood" / "01_neuron.ipynb"
    assert autograded.stat().st_size < 3_000_000
    caches = list((opts.out / ".work" / "cache").iterdir())
    assert caches and all(grading.cache_intact(cache) for cache in caches)
    assert not [p for p in opts.out.rglob("*") if p.is_symlink()]


def test_class_report_counts_exercises_and_hints(graded):
    rows, _, opts, _ = graded
    page = (opts.out / "class_report.html").read_text()
    assert "the bias is missing: add b to the weighted sum" in page and "<svg" in page
    table = list(csv.DictReader((opts.out / "class_report.csv").open()))
    step = next(r for r in table if r["exercise"] == "test_step")
    assert int(step["full"]) + int(step["partly"]) + int(step["none"]) == len(rows)
    assert int(step["full"]) == sum(1 for r in rows.values() if any(
        g["name"] == "test_step" and g["auto_score"] == 1 for g in r.get("grades") or []))


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
    return [name for name in notebooks.lesson_names(notebooks.LESSONS)
            if name != "01_neuron" and notebooks.notebook_path(name).exists()]


POISON = ("\nimport os, pathlib\n"  # overwrite every compiled program that later students would load
          "for _entry in pathlib.Path(os.environ.get('JAX_COMPILATION_CACHE_DIR', '/nowhere')).glob('*'):\n"
          "    try:\n"
          "        _entry.write_bytes(b'poison')\n"
          "    except OSError:\n"
          "        pass\n")


@pytest.mark.parametrize("lesson", other_lessons())
def test_smoke_class_for_lesson(lesson, tmp_path):
    folder = tmp_path / "submissions"
    solutions = [g for g in answers(lesson)]
    keras = compile_cache.uses_keras(nbformat.read(notebooks.notebook_path(lesson), as_version=4))
    write(folder, "full.ipynb", filled(lesson, "all"))
    write(folder, "blank.ipynb", filled(lesson))
    write(folder, "partial.ipynb", filled(lesson, solutions[:1]))
    if keras:
        write(folder, "poison.ipynb", filled(lesson, "all", {solutions[0]: answers(lesson)[solutions[0]] + POISON}))
    opts = grading.Options(lesson=lesson, source=folder, out=tmp_path / "out", db=tmp_path / "gb.db", jobs=2,
                           cell_timeout=60, notebook_timeout=300, progress=False)
    rows = {r["student"]: r for r in grading.grade(opts)[0]}
    assert (opts.out / ".work" / "results" / "full.json").exists(), f"the full submission was not graded: {rows['full']}"
    full = sum(g["auto_score"] or 0 for g in json.loads((opts.out / ".work" / "results" / "full.json").read_text())["grades"])
    assert full == auto_points(lesson), rows["full"]
    assert rows["blank"]["score"] == 0, rows["blank"]
    assert 0 <= rows["partial"]["score"] < full
    assert not [f for f in rows["full"]["flags"] if not f.startswith("renamed")], rows["full"]["flags"]
    caches = list((opts.out / ".work" / "cache").iterdir())
    assert len(caches) == 1 and grading.cache_intact(caches[0])
    if keras:  # filled by the solution, read-only to every student: the poisoner scores fully and changed nothing
        assert len(list((caches[0] / "xla").glob("*-cache"))) > 20, "the compile cache was not filled"
        assert rows["poison"]["score"] == full, rows["poison"]


def test_a_feedback_page_that_cannot_be_made_costs_the_page_not_the_score(tmp_path, monkeypatch):
    from autograder import runner

    folder = tmp_path / "submissions" / "ada"
    folder.mkdir(parents=True)
    nbformat.write(filled("01_neuron", solved="all"), folder / "01_neuron.ipynb")
    opts = grading.Options(lesson="01_neuron", source=tmp_path / "submissions", out=tmp_path / "out",
                           db=tmp_path / "gradebook.db", jobs=1, progress=False)
    jobs = []
    monkeypatch.setattr(grading, "run_all", lambda planned, *rest: jobs.extend(planned))
    grading.grade(opts)

    def broken(*args):
        raise ValueError("template trouble")
    monkeypatch.setattr(runner, "write_feedback", broken)
    result = runner.run(jobs[0])
    assert result["autograde_ok"] and result["feedback"] is None
    assert "no feedback page (ValueError)" in result["findings"]
    assert sum(g["auto_score"] for g in result["grades"] if g["auto_score"] is not None) == auto_points("01_neuron")
