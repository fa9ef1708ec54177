"""solutions/ and lessons/ agree: same lessons, lessons regenerate identically, nothing secret is released."""
import ast
import json
import os
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from autograder import pipeline
from nncourse import reference
from tests.validity import plain_python

SECRETS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS",
           "=== BEGIN MARK SCHEME ===")
LESSONS = pipeline.lesson_names(pipeline.LESSONS)


def test_there_are_lessons():
    assert LESSONS, "lessons/ holds no NN_topic folder"


def test_solutions_and_lessons_hold_the_same_lessons():
    assert pipeline.lesson_names(pipeline.SOLUTIONS) == LESSONS, (
        f"solutions/ and lessons/ differ; run: {pipeline.BUILD_COMMAND}")


def test_every_folder_is_named_nn_topic():
    for folder in (pipeline.SOLUTIONS, pipeline.LESSONS):
        odd = [p.name for p in folder.iterdir() if p.is_dir() and not pipeline.LESSON_NAME.match(p.name)]
        assert not odd, f"{folder.name}/ holds folders not named NN_topic: {odd}"


def test_lessons_are_regenerated_from_solutions(tmp_path):
    def release(lesson):  # one gradebook per lesson so the nbgrader runs can overlap
        pipeline.generate([lesson], release_dir=tmp_path / "release", db_path=tmp_path / f"{lesson}.db")

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(release, LESSONS))
    stale = [name for name in LESSONS
             if json.loads(pipeline.notebook_path(name, tmp_path / "release").read_text())
             != json.loads(pipeline.notebook_path(name, pipeline.LESSONS).read_text())]
    assert not stale, f"lessons/ is out of date for {stale}; run: {pipeline.BUILD_COMMAND}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_released_lesson_hides_solutions_and_hidden_tests(lesson):
    text = pipeline.notebook_path(lesson, pipeline.LESSONS).read_text()
    leaked = [marker for marker in SECRETS if marker in text]
    assert not leaked, f"lessons/{lesson} contains {leaked}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_released_lesson_has_no_outputs_and_says_it_is_generated(lesson):
    nb = nbformat.read(pipeline.notebook_path(lesson, pipeline.LESSONS), as_version=4)
    assert "generated from the instructor's `solutions/`" in nb.cells[0].source
    assert not [c for c in nb.cells if c.cell_type == "code" and c.outputs], "released cells must have no outputs"


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_notebook_is_executed_and_clean(lesson):
    nb = nbformat.read(pipeline.notebook_path(lesson), as_version=4)
    unrun = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.execution_count is None]
    assert not unrun, f"solutions/{lesson} has unexecuted cells {unrun}; run: {pipeline.BUILD_COMMAND} {lesson}"
    assert set(nb.metadata) == {"kernelspec", "language_info"}, "stray notebook metadata; rebuild to normalize it"


def reference_names(source):
    """Names a cell takes from nncourse.reference, as `reference.f` or `from nncourse.reference import f`."""
    names = set()
    for node in ast.walk(ast.parse(plain_python(source))):
        if isinstance(node, ast.ImportFrom) and node.module == "nncourse.reference":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "reference":
            names.add(node.attr)
    return names


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_uses_only_reference_functions_of_earlier_lessons(lesson):
    cells = nbformat.read(pipeline.notebook_path(lesson), as_version=4).cells
    used = set().union(*(reference_names(c.source) for c in cells if c.cell_type == "code"))
    too_early = {name for name in used if reference.INTRODUCED_IN.get(name, "99") >= lesson}
    assert not too_early, f"{lesson} uses reference functions it grades itself (or unknown ones): {sorted(too_early)}"
