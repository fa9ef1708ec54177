"""Unit tests of the grading tool: student-id mapping, zip handling, integrity checks, bundle, CLI errors."""
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import datetime, timezone

import nbformat
import pytest
from nbgrader.api import MissingEntry

from autograder import class_report, compile_cache, gradebook, integrity, sandbox, submissions
from autograder.job import Job
from publish import bundle, notebooks

ROOT = notebooks.ROOT
LESSON = "01_neuron"
RELEASED = notebooks.notebook_path(LESSON, notebooks.LESSONS)


def released():
    """The released lesson 01 notebook."""
    return nbformat.read(RELEASED, as_version=4)


@pytest.mark.parametrize("path, sid, scheme", [
    ("Ada Lovelace_12345_assignsubmission_file_01_neuron.ipynb", "12345", "moodle"),
    ("Ada Lovelace_12345_assignsubmission_file_/01_neuron.ipynb", "12345", "moodle"),
    ("lovelaceada_12345_67890_01_neuron.ipynb", "12345", "canvas"),
    ("lovelaceada_late_12345_67890_01_neuron-1.ipynb", "12345", "canvas"),
    ("s1234567.ipynb", "s1234567", "plain"),
    ("ada/01_neuron.ipynb", "ada", "folder"),
    ("submitted/ada/01_neuron/01_neuron.ipynb", "ada", "exchange"),
    ("ada.lovelace.ipynb", "ada.lovelace", "plain"),
])
def test_default_patterns_map_common_lms_names(path, sid, scheme):
    patterns = submissions.compile_patterns(LESSON)
    assert submissions.match(path, patterns, LESSON)[:2] == (sid, scheme)


def test_canvas_late_marker_and_unmatched_lesson_name():
    patterns = submissions.compile_patterns(LESSON)
    assert submissions.match("lovelaceada_late_12345_67890_x.ipynb", patterns, LESSON)[2] is True
    assert submissions.match("01_neuron.ipynb", patterns, LESSON) is None
    assert submissions.match("wrapper/ada.lovelace.ipynb", patterns, LESSON) is None  # layouts start at the top


def test_custom_pattern_and_bad_patterns():
    patterns = submissions.compile_patterns(LESSON, r"(?P<sid>[a-z]+)-hw1\.ipynb$")
    assert submissions.match("x/ada-hw1.ipynb", patterns, LESSON)[0] == "ada"
    assert submissions.match("ada.ipynb", patterns, LESSON) is None
    with pytest.raises(submissions.SubmissionError, match="named group"):
        submissions.compile_patterns(LESSON, r"(\d+)")
    with pytest.raises(submissions.SubmissionError, match="not a valid regular expression"):
        submissions.compile_patterns(LESSON, r"(?P<sid>")


def test_ids_are_sanitised_for_nbgrader():
    assert submissions.safe_id("ada.lovelace-2") == "ada.lovelace-2"
    assert submissions.safe_id("ada lovelace/../x").startswith("ada_lovelace_x-")
    assert submissions.safe_id("...").startswith("id-")


def test_collect_reports_unmatched_duplicates_and_late(tmp_path):
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "01_neuron.ipynb").write_text("{}")
    (tmp_path / "ada.ipynb").write_text("{}")
    (tmp_path / "notes.pdf").write_text("x")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    os.utime(tmp_path / "ada" / "01_neuron.ipynb", (1_000_000_000, 1_000_000_000))
    deadline = datetime(2002, 1, 1, tzinfo=timezone.utc)
    found = submissions.collect(tmp_path, LESSON, deadline=deadline)
    assert list(found.submissions) == ["ada"]
    assert found.submissions["ada"].relpath == "ada.ipynb"
    assert found.duplicates[0][0] == "ada/01_neuron.ipynb"
    assert found.unmatched == [(".ipynb_checkpoints", "hidden or system folder (not searched)"),
                               ("notes.pdf", "not a notebook (.ipynb)")]
    assert any(f.startswith("late by") for f in found.submissions["ada"].flags)


def test_exchange_timestamp_is_used(tmp_path):
    folder = tmp_path / "ada" / LESSON
    folder.mkdir(parents=True)
    (folder / f"{LESSON}.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2030-01-02 03:04:05.000000 UTC")
    found = submissions.collect(tmp_path, LESSON)
    assert found.submissions["ada"].timestamp == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert found.unmatched == []


def test_zip_is_unpacked_safely(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle_zip:
        bundle_zip.writestr("Ada_1_assignsubmission_file_/01_neuron.ipynb", "{}")
        bundle_zip.writestr("../../escape.ipynb", "{}")
        bundle_zip.writestr("__MACOSX/._junk.ipynb", "{}")
    target = submissions.extract_zip(archive, tmp_path / "out")
    assert (target / "Ada_1_assignsubmission_file_" / "01_neuron.ipynb").exists()
    assert not (tmp_path / "escape.ipynb").exists()
    assert list(submissions.collect(target, LESSON).submissions) == ["1"]


def test_corrupt_zip_is_one_clear_error(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(submissions.SubmissionError, match="not a readable zip"):
        submissions.extract_zip(archive, tmp_path / "out")


def raw(notebook):
    """Notebook bytes."""
    return nbformat.writes(notebook).encode()


def test_integrity_accepts_the_released_notebook():
    report = integrity.check(RELEASED.read_bytes(), released(), RELEASED.name, LESSON)
    assert report.fatal is None and report.flags == []


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"), (b"   \n", "empty file"), (b"{nope", "not valid notebook JSON"),
    (b"[1, 2]", "not a notebook"), (json.dumps({"nbformat": 5, "cells": []}).encode(), "wrong nbformat (5)"),
])
def test_integrity_fatal_files(data, reason):
    assert reason in integrity.check(data, released(), "x_01_neuron.ipynb", LESSON).fatal


def test_integrity_repairs_invalid_structure():
    data = json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}], "metadata": {}})
    report = integrity.check(data.encode(), released(), "x_01_neuron.ipynb", LESSON)
    assert report.fatal is None and "invalid notebook structure (repaired)" in report.flags


def test_integrity_oversized_and_renamed():
    report = integrity.check(RELEASED.read_bytes(), released(), "homework.ipynb", LESSON, max_bytes=1000)
    assert report.fatal.startswith("oversized file")
    assert "renamed file (homework.ipynb)" in report.flags


def test_integrity_flags_edited_deleted_duplicated_and_relabelled_cells():
    notebook = released()
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    cells["test_step"].source += "\nprint('edited')"
    cells["test_neuron"].metadata.nbgrader["points"] = 50
    cells["relu"].metadata.nbgrader["grade"] = True
    duplicate = nbformat.from_dict(json.loads(json.dumps(cells["test_q1"])))
    notebook.cells = [c for c in notebook.cells if c is not cells["test_relu"]] + [duplicate]
    stripped = nbformat.from_dict(json.loads(json.dumps(cells["test_q2"])))
    del stripped.metadata["nbgrader"]
    notebook.cells.append(stripped)
    report = integrity.check(raw(notebook), released(), "01_neuron.ipynb", LESSON)
    text = "; ".join(report.flags)
    for expected in ("edited test cell test_step", "changed metadata of test_neuron", "changed metadata of relu",
                     "deleted test cell test_relu", "duplicated cell test_q1",
                     "nbgrader metadata removed from test cell test_q2"):
        assert expected in text
    assert "nbgrader" not in report.notebook.cells[-2].metadata  # the duplicate no longer counts


def test_integrity_converts_nbformat3_and_flags_it():
    old = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""},
           "worksheets": [{"metadata": {}, "cells": [{"cell_type": "code", "input": "1", "language": "python",
                                                       "metadata": {}, "outputs": [], "collapsed": False}]}]}
    report = integrity.check(json.dumps(old).encode(), released(), "01_neuron.ipynb", LESSON)
    assert report.fatal is None and "wrong nbformat (3), converted" in report.flags


def test_scan_flags_student_code_only():
    notebook = released()
    answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "step")
    answer.source = "import numpy as np\nnp.allclose = lambda *a: True\nget_ipython().ast_transformers.append(1)"
    flags = integrity.scan(notebook, released())
    assert "suspicious code: assigns into numpy" in flags
    assert "suspicious code: IPython input/AST transformers" in flags
    assert integrity.scan(released(), released()) == []


def test_bindings_of_the_setup_cell():
    names = integrity.bindings(released())
    assert names["np"] == ["numpy", None] and names["feedback"] == ["nncourse", "feedback"]


def test_reference_stubs_open_lessons():
    source = ('def a(x):\n    """Doc."""\n    return x + 1\n\n\ndef b(x):\n    return 2 * x\n\n\ndef helper():\n'
              '    return 3\n')
    text = bundle.reference_text(source, "02_x", {"a": "01_y", "b": "02_x"})
    namespace = {}
    exec(text, namespace)
    assert namespace["a"](1) == 2 and namespace["helper"]() == 3
    with pytest.raises(NotImplementedError, match="02_x"):
        namespace["b"](1)


def test_verify_catches_markers_and_instructor_files():
    with pytest.raises(bundle.BundleError, match="BEGIN HIDDEN TESTS"):
        bundle.verify({"top/lessons/x.ipynb": b"### BEGIN HIDDEN TESTS"}, [])
    with pytest.raises(bundle.BundleError, match="instructor files"):
        bundle.verify({"top/solutions/x.ipynb": b"{}"}, [])
    block = sorted(bundle.solution_lines(LESSON))[0]
    indented = "\n".join("        " + line for line in block.splitlines())
    with pytest.raises(bundle.BundleError, match="solution code of 01_neuron"):
        bundle.verify({"top/nncourse/x.py": indented.encode()}, [LESSON])


def cli(*args):
    """Run `python -m autograder grade ...` or `python -m publish release ...`; return the completed process."""
    package = "autograder" if args[0] == "grade" else "publish"
    return subprocess.run([sys.executable, "-m", package, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_release_bundle_has_no_answers(tmp_path):
    done = cli("release", "--no-generate", "--upto", LESSON, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / f"nncourse-student-{LESSON}.zip") as made:
        names = made.namelist()
        texts = {n: made.read(n).decode("utf-8", "replace") for n in names}
    assert f"nncourse-lessons/lessons/{LESSON}/{LESSON}.ipynb" in names
    assert "nncourse-lessons/README.md" in names and "nncourse-lessons/nncourse/feedback.py" in names
    assert not any("solutions/" in n or n.endswith(".db") for n in names)
    assert not any("BEGIN SOLUTION" in t or "HIDDEN TESTS" in t for t in texts.values())
    reference = texts.get("nncourse-lessons/nncourse/reference.py", "")
    assert "np.maximum(0.0, z)" not in reference  # relu is an exercise of lesson 01


@pytest.mark.parametrize("args, message", [
    (["grade", "99_nothing", "."], "no such lesson: 99_nothing"),
    (["grade", LESSON, "/nonexistent/folder"], "no such file or folder"),
    (["release", "--upto", "99_nothing", "--no-generate"], "no such lesson"),
])
def test_cli_errors_are_one_line(args, message):
    done = cli(*args, "--allow-unsandboxed") if args[0] == "grade" else cli(*args)
    assert done.returncode == 1
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cli_corrupt_zip(tmp_path):
    archive = tmp_path / "class.zip"
    archive.write_bytes(b"garbage")
    done = cli("grade", LESSON, str(archive), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "gb.db"))
    assert done.returncode == 1 and "not a readable zip" in done.stderr


def test_help_for_every_command():
    for command in ([], ["release"], ["grade"]):
        done = cli(*command, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout


def test_job_travels_as_one_line_of_json_and_refuses_unknown_fields():
    job = Job(sid="ada", lesson=LESSON, key="k", notebook="/n.ipynb", scratch="/s", template_db="/t.db", course="/c",
              mplconfig="/m", sandbox=True, limits={"memory_mb": 1}, bindings={"np": ["numpy", None]}, cell_timeout=30,
              notebook_budget=300, output_limit=1000, timestamp="2026-01-01T00:00:00")
    text = job.to_json()
    assert "\n" not in text and Job.from_json(text) == job
    assert job.placed(course="/elsewhere").course == "/elsewhere" and job.course == "/c"
    with pytest.raises(TypeError):
        Job.from_json(text.replace('"sid"', '"student"'))


def test_keras_imports_without_its_extras_while_grading_and_the_student_still_can():
    code = ("import sys, lean_keras\n"
            "lean_keras.install()\n"
            "import keras\n"
            "assert not {'sklearn', 'matplotlib', 'scipy'} & set(sys.modules), 'extras loaded'\n"
            "model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])\n"
            "assert tuple(model(keras.ops.ones((1, 3))).shape) == (1, 2)\n"
            "from jax._src.interpreters import mlir\n"
            "assert mlir.make_ir_context() is mlir.make_ir_context(), 'a new MLIR context per program'\n"
            "import jax.experimental.sparse, jax.numpy as jnp\n"
            "assert 'scipy' not in sys.modules, 'scipy loaded before its first use'\n"
            "A = jax.experimental.sparse.BCSR.fromdense(jnp.array([[2.0, 0.0], [0.0, 4.0]]))\n"
            "x = jax.experimental.sparse.linalg.spsolve(A.data, A.indices, A.indptr, jnp.array([2.0, 8.0]))\n"
            "assert jnp.allclose(x, jnp.array([1.0, 2.0])), x\n"
            "import sklearn.base, matplotlib.pyplot\n")
    env = {**os.environ, **sandbox.GRADING_ENV, "PYTHONPATH": str(ROOT / "autograder")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_compile_cache_is_read_only_in_both_sandboxes_and_only_for_keras_lessons(tmp_path):
    assert compile_cache.uses_keras(nbformat.read(notebooks.notebook_path("07_keras"), as_version=4))
    assert not compile_cache.uses_keras(nbformat.read(notebooks.notebook_path("01_neuron"), as_version=4))
    job = Job(sid="ada", lesson=LESSON, key="k", notebook=str(tmp_path / "n.ipynb"), scratch="/s", template_db="/t.db",
              course=str(tmp_path), mplconfig=str(tmp_path), xla_cache=str(tmp_path / "xla"), sandbox=True, limits={},
              bindings={}, cell_timeout=30, notebook_budget=300, output_limit=1000, kerneldir=str(tmp_path))
    for command in (sandbox.kernel_command(job), sandbox.tester_command(job)):
        at = command.index(str(tmp_path / "xla"))
        assert command[at - 1] == "--ro-bind" and command[at + 1] == "/grader/xla"
        settings = {command[i + 1]: command[i + 2] for i, arg in enumerate(command) if arg == "--setenv"}
        assert settings["JAX_COMPILATION_CACHE_DIR"] == "/grader/xla"
        assert float(settings["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) > 1e9  # never tries to write
    plain = sandbox.tester_command(job.placed(xla_cache=""))
    assert "/grader/xla" not in plain and "JAX_COMPILATION_CACHE_DIR" not in plain


def test_a_compile_cache_run_that_fails_leaves_no_cache_and_says_so(tmp_path, capfd):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nos._exit(3)")])
    nbformat.write(notebook, tmp_path / "dies.ipynb")
    compile_cache.fill(tmp_path / "xla", tmp_path / "dies.ipynb", ROOT, sandbox.GRADING_ENV)
    assert not (tmp_path / "xla").exists() and compile_cache.folder_in(tmp_path) == ""
    assert "the compile cache was not built" in capfd.readouterr().err


def test_class_report_chart_bars_are_proportional_and_names_escaped():
    summary = [("test_<b>", 2, 3, 1, 0, []), ("test_relu", 1, 0, 0, 4, [])]
    svg = class_report.chart(summary, width=400)
    bars = re.findall(r"<rect x='[\d.]+' y='\d+' width='([\d.]+)' height='\d+' fill='[^']+'><title>(\w+): (\d+)</title>", svg)
    assert [(kind, int(count)) for _, kind, count in bars] == [("full", 3), ("partly", 1), ("none", 4)]
    assert [float(width) for width, _, _ in bars] == [300.0, 100.0, 400.0]  # 4 students fill the 400 px
    assert "test_&lt;b&gt;" in svg and "<b>" not in svg


def test_gradebook_book_merges_many_students_on_one_connection(tmp_path):
    db = tmp_path / "gradebook.db"
    gradebook.ensure_assignment(db, "01_neuron")
    released = nbformat.read(notebooks.notebook_path("01_neuron", notebooks.LESSONS), as_version=4)
    cells = [c.metadata.nbgrader for c in released.cells if c.metadata.get("nbgrader", {}).get("grade")
             and c.cell_type == "code"]
    with gradebook.Book(db) as book:
        for k in range(3):
            grades = [{"notebook": "01_neuron", "name": m["grade_id"], "auto_score": m["points"] * (k == 2)} for m in cells]
            book.merge("01_neuron", f"s{k}", grades, flagged=k == 0)
        with pytest.raises(MissingEntry):
            book.merge("01_neuron", "s3", [{"notebook": "01_neuron", "name": "no_such_cell", "auto_score": 1}])
        assert book.totals("01_neuron", "s0")[0] == 0 and book.totals("01_neuron", "s2")[0] == sum(m["points"] for m in cells)
        assert book.totals("01_neuron", "nobody") == (None, None, False)
        book.merge("01_neuron", "s4", [])  # the session still works after a failed merge
    with gradebook.Book(db) as book:
        assert book.totals("01_neuron", "s2")[0] == sum(m["points"] for m in cells)
        assert book.gb.find_submission_notebook("01_neuron", "01_neuron", "s0").flagged
