"""Fast checks of the browser-test plan (no browser needed; these run in the normal suite)."""
import nbformat
import pytest

from tests.browser import harness


def test_every_released_lesson_is_discovered(tmp_path):
    for name in ("01_neuron", "02_activations", "drafts", "03_x"):
        (tmp_path / "lessons" / name).mkdir(parents=True)
    for name in ("01_neuron", "02_activations", "drafts"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / "lessons" / name / f"{name}.ipynb")
    assert harness.lesson_names(tmp_path) == ["01_neuron", "02_activations"]
    assert harness.lesson_names() and all(harness.LESSON_NAME.match(n) for n in harness.lesson_names())


def test_strip_markers_and_feedback_line():
    assert harness.strip_markers("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION") == "def f():\n    return 1"
    assert harness.feedback_line(AssertionError("f(1): wrong value\n  expected: 1\n  got:      2\n  hint:     sign error")) == "sign error"
    assert harness.feedback_line(AssertionError("f(1): wrong shape")) == "f(1): wrong shape"


@pytest.mark.parametrize("lesson", harness.lesson_names())
def test_completed_copy_has_every_answer_filled_in(lesson):
    nb = harness.completed_notebook(lesson)
    answers = [c for c in nb.cells if harness.nbgrader_meta(c).get("solution")]
    assert answers, f"{lesson} has no exercise"
    for cell in answers:
        assert "raise NotImplementedError" not in cell.source and "YOUR ANSWER HERE" not in cell.source, cell.source[:200]
    assert harness.allowed_to_fail(nb)


def test_lesson_01_plan_types_the_missing_bias_mistake():
    grade_id, correct, wrong, expected = harness.exercise_plan("01_neuron")
    assert (grade_id, expected) == ("neuron", "the bias is missing")
    assert "+ b" in correct and "+ b" not in wrong and "BEGIN SOLUTION" not in correct
