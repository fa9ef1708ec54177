"""pytest configuration shared by every test: how the notebooks are collected and run with nbval.

- solutions/**.ipynb run with nbval in strict mode: every stored text output must be reproduced.
- lessons/**.ipynb run as released: outputs are not compared, and only an unfinished exercise (an
  nbgrader solution cell) or the test cell that checks it may raise, and only NotImplementedError.
"""
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # in-process tests draw off screen; notebooks pick ipympl themselves

import pytest  # noqa: E402
from nbval.plugin import IPyNbCell, IPyNbFile  # noqa: E402

ROOT = Path(__file__).resolve().parent
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
UNFINISHED = "NotImplementedError"


def pytest_configure(config):
    """Run notebooks in this environment's kernel with the repository's sanitize file."""
    option = config.option
    option.nbval_current_env = True
    option.nbval_sanitize_with = option.nbval_sanitize_with or str(SANITIZE)
    option.nbval_cell_timeout = option.nbval_cell_timeout or 120


def pytest_collect_file(file_path, parent):
    """Collect solution notebooks strictly and lesson notebooks as released (no --nbval flag needed)."""
    if file_path.suffix != ".ipynb" or parent.config.option.nbval or parent.config.option.nbval_lax:
        return None
    relative = file_path.resolve().relative_to(ROOT) if file_path.resolve().is_relative_to(ROOT) else None
    if relative is None or ".ipynb_checkpoints" in relative.parts:
        return None
    if relative.parts[0] == "solutions":
        return SolutionNotebook.from_parent(parent, path=file_path)
    if relative.parts[0] == "lessons":
        return ReleasedLesson.from_parent(parent, path=file_path)
    return None


class SolutionNotebook(IPyNbFile):
    """An instructor notebook: runs top to bottom and must reproduce its stored outputs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = True


class ReleasedLesson(IPyNbFile):
    """A student notebook as released: outputs are not compared; see LessonCell for errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False

    def collect(self):
        for item in super().collect():
            yield LessonCell.from_parent(self, name=item.name, cell_num=item.cell_num, cell=item.cell,
                                         options=item.options)


class LessonCell(IPyNbCell):
    """A released cell: exercise and test cells may report 'unfinished'; any other error fails."""

    def runtest(self):
        grading = self.cell.metadata.get("nbgrader", {})
        self.options["check_exception"] = bool(grading.get("solution") or grading.get("grade"))
        super().runtest()
        errors = [out for out in self.test_outputs if out.get("output_type") == "error"]
        for error in errors:
            if error["ename"] != UNFINISHED:
                pytest.fail(f"cell {self.cell_num} ({grading.get('grade_id', 'exercise')}) raised "
                            f"{error['ename']}: {error['evalue']}; an untouched exercise may only raise "
                            f"{UNFINISHED}", pytrace=False)


def pytest_addoption(parser):
    """--browser: also run the tests marked `browser` (they drive JupyterLab in chromium; see tests/browser)."""
    parser.addoption("--browser", action="store_true", default=False,
                     help="run the real-browser tests in tests/browser (needs chromium)")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `browser` unless --browser is given."""
    if config.getoption("--browser"):
        return
    skip = pytest.mark.skip(reason="real-browser test: run with --browser (needs chromium)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)
