"""The environment files agree with each other and with what is installed."""
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)")
CORE = ("jupyterlab", "notebook", "ipywidgets", "anywidget", "ipympl", "nbgrader", "nbval", "numpy", "matplotlib",
        "scikit-learn", "pytest", "pytest-xdist", "keras", "jax", "jaxlib")


def pins():
    """{package: version} from requirements.txt, asserting every requirement line is an exact pin."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.match(line.strip())
            assert match, f"requirements.txt line is not an exact pin: {line!r}"
            name = match.group(1).lower().replace("_", "-")
            assert name not in found, f"{name} is pinned twice"
            found[name] = match.group(2)
    return found


def test_every_core_package_is_pinned():
    missing = [name for name in CORE if name not in pins()]
    assert not missing, f"requirements.txt lacks pins for {missing}"


def test_environment_yml_delegates_to_requirements():
    text = (ROOT / "environment.yml").read_text()
    assert "-r requirements.txt" in text and "-e ." in text
    python = re.search(r"python=(\d+\.\d+)", text).group(1)
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert required == f">={python}", f"environment.yml python={python} but pyproject says {required}"
    assert not re.search(r"^\s*-\s*(numpy|matplotlib|jupyterlab|nbgrader)\b", text, re.M), "pin versions only in requirements.txt"


def test_installed_versions_match_the_pins():
    wrong = {}
    for name, version in pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"pinned vs installed: {wrong}; run python3 course.py test to resync"


def test_course_py_refuses_old_python_in_one_line(tmp_path):
    script = (ROOT / "course.py").read_text().replace("MIN_PYTHON = (3, 11)", "MIN_PYTHON = (9, 0)")
    (tmp_path / "course.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "course.py"), "test"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Python 9.0 or newer is required" in done.stderr, done.stderr


def test_course_py_rejects_unknown_commands():
    done = subprocess.run([sys.executable, str(ROOT / "course.py"), "frobnicate"], capture_output=True, text=True)
    assert done.returncode == 1 and "usage: python3 course.py" in done.stderr


def test_jupyterlab_extensions_are_enabled():
    from nncourse.environment import missing_extensions

    assert missing_extensions() == []


def test_missing_extensions_are_reported(tmp_path):
    from nncourse.environment import LAB_EXTENSIONS, SERVER_EXTENSIONS, missing_extensions

    assert missing_extensions(tmp_path) == [*LAB_EXTENSIONS, *SERVER_EXTENSIONS]
