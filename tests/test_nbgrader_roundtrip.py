"""Plain nbgrader round trip on lesson 01: the solution scores full marks, the blank lesson 0, a partial one exactly its share."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parent.parent
LESSON = "01_neuron"
AUTO_POINTS = 17  # step 1, relu 1, neuron 2, neuron_batch 2, gate_weights 2, perceptron_update 2, train 3, q1-q4 1 each
MANUAL_POINTS = 2  # the written answer
SOLVED_IN_PARTIAL = ("step", "relu", "neuron", "q1")  # worth 1 + 1 + 2 + 1
PARTIAL_POINTS = 5


def nbgrader(course, *args):
    """Run an nbgrader command (project config, temporary course root); fail with its output if it fails."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}",
               f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}", "--log-level=WARN"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def cells_by_id(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def partial_submission(released, solution):
    """The released lesson with some exercises solved correctly and q2 answered wrongly."""
    nb = nbformat.from_dict(released)
    answers = cells_by_id(solution)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in SOLVED_IN_PARTIAL:
            lines = answers[grade_id].source.splitlines()
            cell.source = "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
        elif grade_id == "q2":
            cell.source = 'q2 = "d"'
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "solutions" / LESSON, course / "solutions" / LESSON)
    nbgrader(course, "generate_assignment", LESSON, "--force")
    released = nbformat.read(course / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
    solution = nbformat.read(course / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    submissions = {"full": solution, "blank": released, "partial": partial_submission(released, solution)}
    for student, nb in submissions.items():
        target = course / "submitted" / student / LESSON
        target.mkdir(parents=True)
        nbformat.write(nb, target / f"{LESSON}.ipynb")
    nbgrader(course, "autograde", LESSON, "--create")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        yield {student: gradebook.find_submission(LESSON, student) for student in submissions} | {
            "_max": gradebook.find_assignment(LESSON).max_score}


def auto_score(submission):
    return sum(grade.auto_score or 0 for nb in submission.notebooks for grade in nb.grades)


def test_assignment_is_worth_the_documented_points(graded):
    assert graded["_max"] == AUTO_POINTS + MANUAL_POINTS


def test_solution_gets_every_autograded_point(graded):
    assert auto_score(graded["full"]) == AUTO_POINTS
    assert graded["full"].needs_manual_grade  # the written answer waits for the instructor


def test_untouched_lesson_gets_zero(graded):
    assert auto_score(graded["blank"]) == 0


def test_partial_submission_gets_exactly_its_share(graded):
    assert auto_score(graded["partial"]) == PARTIAL_POINTS
