"""The setup every lesson runs first: version check, plot style, seeded random generator."""
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

import nncourse
from nncourse import plots

MIN_PYTHON = (3, 11)
CHECKED = ("numpy", "matplotlib", "ipywidgets", "anywidget", "ipympl", "scikit-learn")


def pinned_versions():
    """Versions pinned in the project's requirements.txt, or {} when it is not beside the package."""
    path = Path(__file__).resolve().parent.parent / "requirements.txt"
    if not path.exists():
        return {}
    pairs = (line.split("==") for line in path.read_text().splitlines() if "==" in line)
    return {name.strip().lower(): version.strip() for name, version in pairs}


def version_notes():
    """One line per checked package whose installed version differs from the pinned one."""
    notes = []
    for name, wanted in pinned_versions().items():
        if name not in CHECKED:
            continue
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            found = "nothing"
        if found != wanted:
            notes.append(f"Note: {name} {found} is installed; the course is tested with {wanted}.")
    return notes


def start(seed=0):
    """Check the environment, apply the course plot style and return a seeded random generator."""
    if sys.version_info[:2] < MIN_PYTHON:
        raise RuntimeError(f"This course needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+, found {sys.version.split()[0]}.")
    for note in version_notes():
        print(note)
    if not nncourse.HEADLESS:  # the grader's kernel draws nothing
        plots.apply_style()
    return np.random.default_rng(seed)
