"""What the grader reads and writes on the instructor's side: repaired notebooks, a verified cache, no links followed."""
import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder import grading, integrity
from autograder.job import Job
from publish import notebooks

LESSON = "01_neuron"


def released():
    return nbformat.read(notebooks.notebook_path(LESSON, notebooks.LESSONS), as_version=4)


def grade_cells(notebook):
    """grade_id -> cell for every nbgrader cell."""
    return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells if "nbgrader" in c.metadata}


def mangled(change):
    """Released notebook JSON after change(cells) edits its raw cell dicts."""
    data = json.loads(nbformat.writes(released()))
    change({c["metadata"].get("nbgrader", {}).get("grade_id") if isinstance(c["metadata"].get("nbgrader"), dict)
            else None: c for c in data["cells"]}, data)
    return json.dumps(data).encode()


@pytest.mark.parametrize("name, change, flag", [
    ("metadata not a mapping", lambda c, d: c["relu"]["metadata"].update(nbgrader=[1, 2]), "malformed nbgrader cell"),
    ("grade_id a list", lambda c, d: c["neuron"]["metadata"]["nbgrader"].update(grade_id=["neuron"]), "malformed"),
    ("schema bumped", lambda c, d: c["test_step"]["metadata"]["nbgrader"].update(schema_version=99),
     "changed metadata of test_step"),
    ("test relabelled as answer", lambda c, d: c["test_relu"]["metadata"]["nbgrader"].update(solution=True, grade=False),
     "changed metadata of test_relu"),
    ("test turned into markdown", lambda c, d: c["test_relu"].update(cell_type="markdown", outputs=None),
     "cell type of test_relu changed"),
    ("test deleted", lambda c, d: d["cells"].remove(c["test_neuron"]), "deleted test cell test_neuron (restored)"),
    ("source not text", lambda c, d: c["step"].update(source={"a": 1}), None),
    ("outputs garbage", lambda c, d: c["step"].update(outputs="nope", execution_count="x"), "invalid notebook structure"),
])
def test_malformed_notebooks_are_repaired_not_fatal(name, change, flag):
    report = integrity.check(mangled(change), released(), f"{LESSON}.ipynb", LESSON)
    assert report.fatal is None, name
    assert flag is None or flag in "; ".join(report.flags), (name, report.flags)
    nbformat.validate(report.notebook)
    nbformat.writes(report.notebook).encode("utf-8")
    cells, original = grade_cells(report.notebook), grade_cells(released())
    for grade_id, cell in original.items():
        if cell.metadata.nbgrader.get("locked"):
            assert cells[grade_id].source == cell.source and cells[grade_id].metadata.nbgrader == cell.metadata.nbgrader
            assert cells[grade_id].cell_type == cell.cell_type
    order = [g for g in (c.metadata.get("nbgrader", {}).get("grade_id") for c in report.notebook.cells) if g]
    assert [g for g in order if g.startswith("test_")] == [g for g in original if g.startswith("test_")]


def test_lone_surrogates_are_replaced():
    raw = mangled(lambda c, d: c["step"].update(source="x = 'SURROGATE'")).replace(b"SURROGATE", b"\\ud800")
    report = integrity.check(raw, released(), f"{LESSON}.ipynb", LESSON)
    assert report.fatal is None
    assert "\ud800" not in nbformat.writes(report.notebook)


def make_cache(folder):
    """A small read-only cache with its manifest, as grading.prepare_lesson leaves it."""
    (folder / "course").mkdir(parents=True)
    (folder / "course" / "feedback.py").write_text("good = True\n")
    (folder / "template.db").write_bytes(b"db")
    manifest = {str(p.relative_to(folder)): grading.sha256(p) for p in folder.rglob("*") if p.is_file()}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("tamper", [
    lambda f: (f / "course" / "feedback.py").write_text("good = False\n"),
    lambda f: (f / "course" / "extra.py").write_text(""),
    lambda f: ((f / "template.db").unlink(), (f / "template.db").symlink_to(f / "course" / "feedback.py")),
    lambda f: (f / "template.db").unlink(),
])
def test_a_changed_cache_is_not_reused(tmp_path, tamper):
    cache = make_cache(tmp_path / "cache")
    assert grading.cache_intact(cache)
    tamper(cache)
    assert not grading.cache_intact(cache)


def test_copies_never_follow_links(tmp_path):
    secret, source = tmp_path / "secret.db", tmp_path / "feedback.html"
    secret.write_text("grades")
    source.write_text("<p>ok</p>")
    link = tmp_path / "link.html"
    link.symlink_to(secret)
    assert not grading.safe_copy(link, tmp_path / "out" / "copy.html")  # a link is never read
    target = tmp_path / "out" / "student" / "page.html"
    target.parent.mkdir(parents=True)
    target.symlink_to(secret)
    assert grading.safe_copy(source, target)
    assert secret.read_text() == "grades" and not target.is_symlink() and target.read_text() == "<p>ok</p>"
    os.mkfifo(tmp_path / "pipe")
    assert not grading.safe_copy(tmp_path / "pipe", tmp_path / "out" / "pipe.html")


def test_scan_leaves_honest_code_alone():
    notebook = released()
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import time\nstart = time.time()\nwith open('01_neuron.ipynb') as handle:\n    text = handle.read()\n"
        "np.random.seed(0)\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint(time.time() - start)\n"))
    assert integrity.scan(notebook, released()) == []
    notebook.cells.append(nbformat.v4.new_code_cell("import threading\nclass A(str):\n    pass\n"))
    assert len(integrity.scan(notebook, released())) == 2


def test_released_notebook_is_unchanged_by_the_repair():
    raw = Path(notebooks.notebook_path(LESSON, notebooks.LESSONS)).read_bytes()
    report = integrity.check(raw, released(), f"{LESSON}.ipynb", LESSON)
    assert report.flags == []
    assert [c.source for c in report.notebook.cells] == [c.source for c in released().cells]


def test_a_worker_that_dies_is_replaced(tmp_path):
    worker = grading.Worker(tmp_path / "worker.log")
    try:
        broken = Job(sid="x", lesson=LESSON, key="k", notebook=str(tmp_path / "missing.ipynb"), scratch=str(tmp_path / "s"),
                     template_db=str(tmp_path / "missing.db"), course=str(tmp_path), mplconfig=str(tmp_path), sandbox=False,
                     limits={}, bindings={}, cell_timeout=5, notebook_budget=5, output_limit=1000,
                     result_file=str(tmp_path / "x.result.json"))
        first = worker.run(broken, timeout=120)
        assert first["autograde_ok"] is False
        worker.process.stdin.close()  # the worker ends; the next job must start a new one
        worker.process.wait(timeout=30)
        second = worker.run(broken, timeout=120)
        assert second["autograde_ok"] is False and worker.process.poll() is None
    finally:
        worker.stop()


def test_an_oversized_kernel_message_never_reaches_the_grader(tmp_path, monkeypatch):
    """A reply over the cap is dropped by the grader's sockets (the executor then stops that kernel at its deadline)."""
    import asyncio

    from autograder import sandbox

    monkeypatch.setattr(sandbox, "MAX_MESSAGE_BYTES", 1_000_000)
    job = Job(sid="x", lesson=LESSON, key="k", notebook=str(tmp_path / "n.ipynb"), scratch=str(tmp_path / "s"),
              template_db="", course=str(notebooks.ROOT), mplconfig=str(tmp_path), sandbox=False, limits={},
              bindings={}, cell_timeout=30, notebook_budget=60, output_limit=1000, kerneldir=str(tmp_path))

    async def replies():
        km = sandbox.SandboxKernelManager(job=job)
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            got = []
            for size in (10, 5_000_000):
                msg_id = kc.execute("", silent=True, user_expressions={"r": f"'x' * {size}"})
                try:
                    while True:
                        reply = await kc.get_shell_msg(timeout=5)
                        if reply["parent_header"].get("msg_id") == msg_id:
                            got.append(len(reply["content"]["user_expressions"]["r"]["data"]["text/plain"]))
                            break
                except Exception:  # noqa: BLE001 - queue.Empty or a timeout: nothing arrived
                    got.append(None)
            return got
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    assert asyncio.run(replies()) == [12, None]


def job_for_tester(tmp_path, sandboxed):
    """A job whose tester runs with the course's own package (sandboxed when bubblewrap works here)."""
    return Job(sid="x", lesson=LESSON, key="k", notebook=str(tmp_path / "n.ipynb"), scratch=str(tmp_path / "s"),
               template_db="", course=str(notebooks.ROOT), mplconfig=str(tmp_path), sandbox=sandboxed, limits={},
               bindings={}, cell_timeout=30, notebook_budget=60, output_limit=1000)


@pytest.fixture(params=["sandboxed", "unsandboxed"])
def tester_argv(request, tmp_path):
    from autograder import sandbox, zygote
    if request.param == "sandboxed" and sandbox.bwrap_path() is None:
        pytest.skip("bubblewrap sandbox unavailable")
    yield sandbox.tester_argv(job_for_tester(tmp_path, request.param == "sandboxed"))
    for running in zygote.ZYGOTES.values():
        running.close()
    zygote.ZYGOTES.clear()


def verdict_of(tester, source, seconds=60):
    """The tester's verdict on one test cell (after its setup)."""
    import time
    tester.send({"op": "setup", "bindings": {}})
    assert tester.receive(time.monotonic() + seconds) == {"ok": True}
    tester.send({"op": "test", "source": source})
    return tester.receive(time.monotonic() + seconds)["verdict"]


def test_every_notebook_gets_a_fresh_tester_from_one_zygote(tester_argv):
    from autograder import zygote
    from autograder.executor import TesterProcess
    first = TesterProcess(*tester_argv, ["nncourse.feedback"])
    leak = "import numpy, builtins\nnumpy.leaked = 1\nbuiltins.leaked = 2"
    assert verdict_of(first, leak) == {"status": "ok", "stdout": ""}
    first.close()
    (started,) = zygote.ZYGOTES.values()
    second = TesterProcess(*tester_argv, ["nncourse.feedback"])
    try:
        verdict = verdict_of(second, "import numpy, builtins\n"
                                     "assert not hasattr(numpy, 'leaked') and not hasattr(builtins, 'leaked')")
    finally:
        second.close()
    assert verdict["status"] == "ok", verdict
    assert list(zygote.ZYGOTES.values()) == [started]  # forked from the same pre-imported process


def test_a_tester_stuck_in_a_test_is_killed_and_a_dead_zygote_is_replaced(tester_argv):
    import time

    from autograder import zygote
    from autograder.executor import TesterGone, TesterProcess
    stuck = TesterProcess(*tester_argv, [])
    stuck.send({"op": "test", "source": "while True:\n    pass"})
    with pytest.raises(TesterGone):
        stuck.receive(time.monotonic() + 2)
    stuck.kill()
    with pytest.raises(TesterGone, match="stopped"):  # killed: its end of the pipe closes at once
        stuck.receive(time.monotonic() + 10)
    stuck.close()
    (running,) = zygote.ZYGOTES.values()
    running.process.kill()
    running.process.wait()
    fresh = TesterProcess(*tester_argv, [])
    try:
        assert verdict_of(fresh, "assert 1 + 1 == 2")["status"] == "ok"
    finally:
        fresh.close()
    assert list(zygote.ZYGOTES.values()) != [running]
