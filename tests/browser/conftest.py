"""Fixtures for the real-browser tests: one JupyterLab server and one chromium for the whole run.

Run with:  .venv/bin/python -m pytest tests/browser --browser -n 0
Needs Debian's chromium (/usr/bin/chromium, or set NNCOURSE_CHROMIUM) and playwright from requirements.txt.
"""
import json
import time

import pytest

from tests.browser import harness

LATENCIES = {}  # lesson -> {"mouse": [...], "keyboard": [...]} (input-to-repaint ms), saved at the end
SWEEPS = {}  # lesson -> [{"kind", "trains", "paints_per_s", "lag_ms"}] of the fast 60 Hz sweeps, saved at the end


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in chromium (skipped unless --browser is given)")


@pytest.fixture(scope="session")
def lab():
    if not harness.chromium_available():
        pytest.skip(f"no chromium at {harness.CHROMIUM} or playwright missing: apt-get install -y chromium; "
                    "pip install -r requirements.txt")
    server = harness.LabServer()
    try:
        server.start()
    except harness.StepFailed as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chrome(lab):
    with harness.browser() as context:
        yield context


@pytest.fixture
def open_lesson(chrome, lab):
    """Open a lesson notebook in a new tab; every tab (and its kernel) is closed after the test."""
    pages = []

    def make(lesson, completed=False, tag=None):
        page = harness.LessonPage(chrome, lab, lesson, completed=completed, tag=tag)
        pages.append(page)
        return page.open()

    yield make
    for page in pages:
        page.close()


@pytest.fixture(scope="session", autouse=True)
def record_latencies():
    """After the run, write the measured input-to-repaint times for `python -m benchmarks`."""
    yield
    if LATENCIES:
        out = harness.ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "browser_repaint.json").write_text(json.dumps(
            {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "source": "tests/browser", "lessons": LATENCIES,
             "sweeps": SWEEPS}, indent=2))
