"""solutions/ and lessons/ agree: same lessons, lessons regenerate identically, nothing secret is released."""
import ast
import io
import json
import os
import re
import tokenize
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from publish import notebooks
from nncourse import reference
from tests.validity import plain_python

SECRETS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS",
           "=== BEGIN MARK SCHEME ===")
LESSONS = notebooks.lesson_names(notebooks.LESSONS)


def test_there_are_lessons():
    assert LESSONS, "lessons/ holds no NN_topic folder"


def test_solutions_and_lessons_hold_the_same_lessons():
    assert notebooks.lesson_names(notebooks.SOLUTIONS) == LESSONS, (
        f"solutions/ and lessons/ differ; run: {notebooks.BUILD_COMMAND}")


def test_every_folder_is_named_nn_topic():
    for folder in (notebooks.SOLUTIONS, notebooks.LESSONS):
        odd = [p.name for p in folder.iterdir() if p.is_dir() and not notebooks.LESSON_NAME.match(p.name)]
        assert not odd, f"{folder.name}/ holds folders not named NN_topic: {odd}"


def test_lessons_are_regenerated_from_solutions(tmp_path):
    def release(lesson):  # one gradebook per lesson so the nbgrader runs can overlap
        notebooks.generate([lesson], release_dir=tmp_path / "release", db_path=tmp_path / f"{lesson}.db")

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(release, LESSONS))
    stale = [name for name in LESSONS
             if json.loads(notebooks.notebook_path(name, tmp_path / "release").read_text())
             != json.loads(notebooks.notebook_path(name, notebooks.LESSONS).read_text())]
    assert not stale, f"lessons/ is out of date for {stale}; run: {notebooks.BUILD_COMMAND}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_released_lesson_hides_solutions_and_hidden_tests(lesson):
    text = notebooks.notebook_path(lesson, notebooks.LESSONS).read_text()
    leaked = [marker for marker in SECRETS if marker in text]
    assert not leaked, f"lessons/{lesson} contains {leaked}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_released_lesson_has_no_outputs_and_says_it_is_generated(lesson):
    nb = nbformat.read(notebooks.notebook_path(lesson, notebooks.LESSONS), as_version=4)
    assert "generated from the instructor's `solutions/`" in nb.cells[0].source
    assert not [c for c in nb.cells if c.cell_type == "code" and c.outputs], "released cells must have no outputs"


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_notebook_is_executed_and_clean(lesson):
    nb = nbformat.read(notebooks.notebook_path(lesson), as_version=4)
    unrun = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.execution_count is None]
    assert not unrun, f"solutions/{lesson} has unexecuted cells {unrun}; run: {notebooks.BUILD_COMMAND} {lesson}"
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
    cells = nbformat.read(notebooks.notebook_path(lesson), as_version=4).cells
    used = set().union(*(reference_names(c.source) for c in cells if c.cell_type == "code"))
    too_early = {name for name in used if reference.INTRODUCED_IN.get(name, "99") >= lesson}
    assert not too_early, f"{lesson} uses reference functions it grades itself (or unknown ones): {sorted(too_early)}"


# Words about how the course is made (issues, tickets, to-do notes, its authoring) mean nothing to a student.
BACKSTAGE = re.compile(r"\b(issues?|tickets?|todo|fixme|tbd|pull requests?|bug tracker|authoring|"
                       r"(the )?course'?s? authors?|grader engineer|erratum|errata)\b", re.IGNORECASE)


def student_facing_text(cell):
    """What a student reads in a cell: all of a markdown cell; the comments and strings of a code cell."""
    if cell.cell_type != "code":
        return cell.source
    tokens = tokenize.generate_tokens(io.StringIO(plain_python(cell.source)).readline)
    return "\n".join(t.string for t in tokens if t.type in (tokenize.COMMENT, tokenize.STRING))


@pytest.mark.parametrize("lesson", LESSONS)
def test_notebook_does_not_talk_about_how_the_course_is_made(lesson):
    cells = nbformat.read(notebooks.notebook_path(lesson), as_version=4).cells
    found = [(index, match.group(0)) for index, cell in enumerate(cells)
             for match in BACKSTAGE.finditer(student_facing_text(cell))]
    assert not found, f"solutions/{lesson} speaks of issues, tickets or its authoring (cell, word): {found}"


@pytest.mark.parametrize("text, hit", [("In the notation of the issue you may have seen", True), ("TODO: explain", True),
                                       ("see ticket 12", True), ("a note on the course's authoring", True),
                                       ("the tissue of a leaf", False), ("Tissues and todos-list", False),
                                       ("Adam's default rate", False)])
def test_backstage_words_pattern(text, hit):
    assert bool(BACKSTAGE.search(text)) == hit


# Every "section N" in a lesson's text points at one of its own numbered headings ("## N · Title"). Each reference is
# registered below with a word of the heading it means, so inserting or renumbering a section cannot leave it stale.
SECTION_HEADING = re.compile(r"^## (\d+) · (.+)$", re.MULTILINE)
SECTION_REFERENCE = re.compile(r"\bsections?\s+(\d+)\b", re.IGNORECASE)
SECTION_REFERENCES = {  # lesson: [(the reference in its sentence, (\d+) for the number, a space for any white space;
                        #          a word of the heading it means)]
    "02_activations": [(r"as section (\d+) shows, is why deep ReLU networks train", "vanishing gradient")],
    "03_forward_pass": [(r"\(section (\d+) showed one failure\)", "first weights")],
    "04_losses": [(r"\(section (\d+) shows why this is only a patch\)", "from logits")],
    "05_backprop": [(r"section (\d+) shows you how to catch it", "gradient checking"),
                    (r"see the convention in section (\d+)", "softmax + cross-entropy"),
                    (r"softmax \+ cross-entropy, section (\d+)", "softmax + cross-entropy")],
    "06_optimizers": [(r"plus a schedule, section (\d+)", "schedules"),
                      (r"which is what section (\d+) does", "real network")],
    "07_keras": [(r"and `Dropout` of section (\d+)", "where keras goes next")],
}


def spaced(pattern):
    return pattern.replace(" ", r"\s+")


def markdown_of(lesson):
    return "\n".join(c.source for c in nbformat.read(notebooks.notebook_path(lesson), as_version=4).cells
                     if c.cell_type == "markdown")


@pytest.mark.parametrize("lesson", LESSONS)
def test_section_references_point_at_the_right_heading(lesson):
    text = markdown_of(lesson)
    headings = {int(number): title for number, title in SECTION_HEADING.findall(text)}
    assert sorted(headings) == list(range(1, len(headings) + 1)), f"{lesson}: sections are not numbered 1, 2, ...: {headings}"
    registered = SECTION_REFERENCES.get(lesson, [])
    found = [match for match in SECTION_REFERENCE.finditer(text)]
    for match in found:
        sentence = text[max(0, match.start() - 60):match.end() + 60].replace("\n", " ")
        owners = [(pattern, word) for pattern, word in registered
                  if any(m.start(1) == match.start(1) for m in re.finditer(spaced(pattern), text))]
        assert len(owners) == 1, (f"{lesson}: register this reference in SECTION_REFERENCES with a word of the heading it "
                                  f"means: ...{sentence}...")
        number = int(match.group(1))
        assert number in headings, f"{lesson}: 'section {number}' does not exist: ...{sentence}..."
        word = owners[0][1]
        assert word.lower() in headings[number].lower(), (
            f"{lesson}: 'section {number}' is '{headings[number]}', but the sentence means the section about "
            f"'{word}': ...{sentence}...")
    unused = [pattern for pattern, _ in registered if not re.search(spaced(pattern), text)]
    assert not unused, f"{lesson}: SECTION_REFERENCES lists references the text no longer makes: {unused}"
