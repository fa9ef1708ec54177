"""Grading on a Dask cluster (a LocalCluster of 2 worker processes) gives the same scores as the local workers."""
import pytest

from autograder import grading, report, sandbox
from tests.test_grading_e2e import NO_BIAS, filled, write

pytestmark = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap sandbox unavailable")
LESSON = "01_neuron"


def grade(folder, out, **where):
    """{student: (score, flags)} after grading folder into out."""
    opts = grading.Options(lesson=LESSON, source=folder, out=out, db=out / "gradebook.db", jobs=2, cell_timeout=60,
                           notebook_timeout=300, progress=False, **where)
    rows, found = grading.grade(opts)
    report.write(rows, found, opts)
    return {r["student"]: (r["score"], r["flags"]) for r in rows}, opts


def test_dask_cluster_grades_like_the_local_workers(tmp_path):
    folder = tmp_path / "submissions"
    write(folder, "full.ipynb", filled(LESSON, "all"))
    write(folder, "blank.ipynb", filled(LESSON))
    write(folder, "nobias.ipynb", filled(LESSON, ["step", "relu"], {"neuron": NO_BIAS}))
    local, _ = grade(folder, tmp_path / "local")
    remote, opts = grade(folder, tmp_path / "dask", cluster="local:2")
    assert remote == local
    assert local["full"][0] > local["nobias"][0] > local["blank"][0] == 0
    assert (opts.out / "feedback" / "full" / f"{LESSON}.html").is_file()
    assert "the bias is missing" in (opts.out / "class_report.html").read_text()
