"""Tests that test the tests: run an exercise's grading cells against the stub, the solution and variants.

Each lesson's test module registers wrong and alternative-correct implementations with an
`Exercises` registry; `Exercises.cases()` turns them into fast, in-process checks:
the released stub must leave the exercise unfinished (NotImplementedError), the solution must pass
without a warning, every wrong variant must fail with an AssertionError (feedback), and every right
variant must pass.
"""
import warnings
from functools import cached_property
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
MIN_WRONG, MIN_RIGHT = 3, 1


def grade_id(cell):
    """The nbgrader grade id of a cell, or None."""
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_solution(cell):
    """True for an nbgrader code cell the student writes in."""
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution", False)


def is_test(cell):
    """True for an nbgrader auto-graded test cell."""
    return cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade", False) and not is_solution(cell)


def plain_python(source):
    """Cell source without IPython magics and shell escapes, runnable by exec()."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


class Exercises:
    """The graded exercises of one lesson plus the wrong and right variants registered for them."""

    def __init__(self, lesson, solutions_only=False):
        self.lesson = lesson
        self.solutions_only = solutions_only  # contexts skip demos and widgets: only setup and answers run
        self.variants = {}  # (grade_id, kind) -> {label: variant}
        self.contexts = {}  # solution-cell position -> namespace before it

    @cached_property
    def solution(self):
        return nbformat.read(ROOT / "solutions" / self.lesson / f"{self.lesson}.ipynb", as_version=4)

    @cached_property
    def released(self):
        return nbformat.read(ROOT / "lessons" / self.lesson / f"{self.lesson}.ipynb", as_version=4)

    def exercise_ids(self):
        """Grade ids of every auto-graded code exercise (solution cells followed by a test cell)."""
        return [grade_id(cell) for cell in self.solution.cells if is_solution(cell) and self.test_sources(grade_id(cell))]

    def index(self, exercise):
        """Position of the exercise's solution cell in the solution notebook."""
        for position, cell in enumerate(self.solution.cells):
            if is_solution(cell) and grade_id(cell) == exercise:
                return position
        raise KeyError(f"{self.lesson} has no exercise {exercise!r}")

    def test_sources(self, exercise):
        """Sources of the test cells between this exercise and the next one (hidden tests included)."""
        sources = []
        for cell in self.solution.cells[self.index(exercise) + 1:]:
            if is_solution(cell):
                break
            if is_test(cell):
                sources.append(cell.source)
        return sources

    def stub_source(self, exercise):
        """The exercise cell as students receive it."""
        for cell in self.released.cells:
            if grade_id(cell) == exercise:
                return cell.source
        raise KeyError(f"lessons/{self.lesson} has no cell {exercise!r}: run python3 course.py build")

    def context(self, exercise):
        """Namespace after running, with solutions, every code cell before the exercise (cached).

        Builds on the nearest cached earlier context, so each cell runs once per lesson.
        """
        stop = self.index(exercise)
        if stop not in self.contexts:
            start = max((p for p in self.contexts if p < stop), default=0)
            namespace = dict(self.contexts.get(start, {"__name__": "__lesson__"}))
            for position, cell in enumerate(self.solution.cells[start:stop], start):
                if self.runs_in_context(position, cell):
                    exec(compile(plain_python(cell.source), f"<{self.lesson} cell>", "exec"), namespace)
            self.contexts[stop] = namespace
            plt.close("all")  # figures made by widget cells are not needed to grade
        return dict(self.contexts[stop])

    def runs_in_context(self, position, cell):
        """Whether a cell before an exercise runs to build its context."""
        if cell.cell_type != "code" or is_test(cell):
            return False
        first_code = next(i for i, c in enumerate(self.solution.cells) if c.cell_type == "code")
        return not self.solutions_only or position == first_code or is_solution(cell)

    def outcome(self, exercise, variant):
        """Run the exercise cell (or install the variant), then its tests; return the exception or None."""
        namespace = self.context(exercise)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nbgrader scores a test cell 0 if it writes to stderr
            try:
                install(variant, namespace)
            except NotImplementedError:
                pass  # a released stub may raise at the top level; its test must then report unfinished
            try:
                for source in self.test_sources(exercise):
                    exec(compile(source, f"<test of {exercise}>", "exec"), namespace)
            except Exception as error:  # every failure kind is an outcome to inspect
                return error
        return None

    def wrong(self, exercise, label):
        """Decorator/registrar: a typical wrong implementation that the tests must reject."""
        return self.register(exercise, "wrong", label)

    def right(self, exercise, label):
        """Decorator/registrar: a differently written correct implementation the tests must accept."""
        return self.register(exercise, "right", label)

    def register(self, exercise, kind, label):
        def add(variant):
            self.variants.setdefault((exercise, kind), {})[label] = variant
            return variant
        return add

    def cases(self):
        """(exercise, kind, label) for the stub, the solution and every registered variant."""
        cases = []
        for exercise in self.exercise_ids():
            cases += [(exercise, "stub", "released stub"), (exercise, "solution", "solution")]
            for kind in ("wrong", "right"):
                cases += [(exercise, kind, label) for label in self.variants.get((exercise, kind), {})]
        return cases

    def check(self, exercise, kind, label):
        """Assert the expected outcome for one case."""
        if kind == "stub":
            error = self.outcome(exercise, self.stub_source(exercise))
            assert isinstance(error, NotImplementedError), f"the released stub of {exercise} gave {error!r}, not NotImplementedError"
        elif kind == "solution":
            source = next(c.source for c in self.solution.cells if is_solution(c) and grade_id(c) == exercise)
            error = self.outcome(exercise, source)
            assert error is None, f"the solution of {exercise} fails its own tests: {error!r}"
        elif kind == "wrong":
            error = self.outcome(exercise, self.variants[(exercise, kind)][label])
            assert isinstance(error, AssertionError), (
                f"wrong variant '{label}' of {exercise} was not rejected with feedback: got {error!r}")
            assert str(error).strip(), f"wrong variant '{label}' of {exercise} failed without a message"
        else:
            error = self.outcome(exercise, self.variants[(exercise, kind)][label])
            assert error is None, f"correct variant '{label}' of {exercise} was rejected: {error!r}"

    def missing_variants(self):
        """Exercises with fewer than the required wrong or right variants."""
        return {exercise: (len(self.variants.get((exercise, "wrong"), {})), len(self.variants.get((exercise, "right"), {})))
                for exercise in self.exercise_ids()
                if len(self.variants.get((exercise, "wrong"), {})) < MIN_WRONG
                or len(self.variants.get((exercise, "right"), {})) < MIN_RIGHT}


    def multiple_choice(self, answers, options="abcd"):
        """Register every wrong letter and a differently typed right letter for each question {qN: letter}."""
        for question, right in answers.items():
            for letter in sorted(set(options) - {right}):
                self.wrong(question, f"answer {letter}")({question: letter})
            self.right(question, "upper case with spaces")({question: f" {right.upper()} "})

    def pytest_functions(self):
        """The module-level pytest tests for this lesson: every case, plus the minimum variant counts."""
        @pytest.mark.parametrize("exercise, kind, label", self.cases())
        def test_grading(exercise, kind, label):
            self.check(exercise, kind, label)

        def test_every_exercise_has_enough_variants():
            assert self.missing_variants() == {}, "exercise: (wrong, right) variant counts below the minimum"

        return test_grading, test_every_exercise_has_enough_variants


def install(variant, namespace):
    """Put a variant into the namespace: cell source (str), function (by its name) or dict of values."""
    if isinstance(variant, str):
        exec(compile(plain_python(variant), "<exercise cell>", "exec"), namespace)
    elif callable(variant):
        namespace[variant.__name__] = variant
    else:
        namespace.update(variant)
