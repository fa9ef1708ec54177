#!/usr/bin/env python3
"""One entry point for the course: set up the environment, open the lessons, run the tests.

    python3 course.py lab        # set up (first time only) and open the lessons in JupyterLab
    python3 course.py test       # set up (first time only) and run every test
    python3 course.py build      # re-execute solutions/ and regenerate lessons/ (instructors)
    python3 course.py release    # regenerate lessons/ and build the student bundle (instructors)
    python3 course.py grade ...  # autograde a folder or zip of submissions (instructors)
    python3 course.py browser    # the student journey in a real browser (needs Debian's chromium)
    python3 course.py bench      # print the performance report (maintainers)

Kept compatible with old Pythons on purpose, so that they get one clear line instead of a traceback.
"""
from __future__ import print_function

import hashlib
import os
import subprocess
import sys

MIN_PYTHON = (3, 11)
ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
BIN = os.path.join(VENV, "Scripts" if os.name == "nt" else "bin")
PYTHON = os.path.join(BIN, "python.exe" if os.name == "nt" else "python")
STAMP = os.path.join(VENV, "course-stamp.txt")
INPUTS = ("requirements.txt", "pyproject.toml")
COMMANDS = {  # sub-command -> what runs inside the environment (after the fixed part come the user's arguments)
    "lab": ("jupyter", "lab", "--ServerApp.root_dir=" + os.path.join(ROOT, "lessons")),
    "test": ("python", "-m", "pytest"),
    "build": ("python", "-m", "publish", "build"),
    "release": ("python", "-m", "publish", "release"),
    "grade": ("python", "-m", "autograder", "grade"),
    "browser": ("python", "-m", "pytest", "tests/browser", "--browser", "-n", "0"),
    "bench": ("python", "-m", "benchmarks"),
}
USAGE = "usage: python3 course.py {%s} [extra arguments]" % "|".join(COMMANDS)


def fail(message):
    """Print one line to stderr and exit with status 1."""
    sys.stderr.write("course.py: " + message + "\n")
    sys.exit(1)


def check_python():
    """Refuse Pythons older than MIN_PYTHON with one readable line."""
    if sys.version_info[:2] < MIN_PYTHON:
        fail("Python %d.%d or newer is required, but this is Python %d.%d (%s). "
             "Run this command with a newer python3." % (MIN_PYTHON + sys.version_info[:2] + (sys.executable,)))


def fingerprint():
    """Hash of everything that decides what the environment contains."""
    digest = hashlib.sha256(sys.version.encode())
    for name in INPUTS:
        with open(os.path.join(ROOT, name), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def run(*command):
    """Run a command from the project root; stop with its name if it fails."""
    if subprocess.call(command, cwd=ROOT) != 0:
        fail("this step failed: " + " ".join(command))


def ensure_environment():
    """Create or update .venv from the pinned requirements; a no-op when nothing changed."""
    wanted = fingerprint()
    if os.path.exists(STAMP) and os.path.exists(PYTHON):
        with open(STAMP) as handle:
            if handle.read().strip() == wanted:
                return
    print("Setting up the course environment in .venv (first run takes a few minutes)...", flush=True)
    if not os.path.exists(PYTHON):
        run(sys.executable, "-m", "venv", VENV)
    pip = (PYTHON, "-m", "pip", "--disable-pip-version-check", "install", "--quiet")
    run(*pip + ("-r", "requirements.txt"))
    run(*pip + ("--no-deps", "-e", "."))
    # ipywidgets, anywidget, ipympl and nbgrader ship prebuilt JupyterLab extensions; check they are enabled.
    run(PYTHON, "-m", "nncourse.environment")
    with open(STAMP, "w") as handle:
        handle.write(wanted + "\n")
    print("Environment ready.", flush=True)


def replace_process(*command, caller_dir=None):
    """Hand over to a command from the environment (its exit status becomes ours)."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), VIRTUAL_ENV=VENV)
    if caller_dir:  # relative paths the user typed stay relative to where they typed them
        env["COURSE_CALLER_DIR"] = caller_dir
    os.chdir(ROOT)
    if os.name == "nt":
        sys.exit(subprocess.call(command, env=env))
    os.execve(command[0], command, env)


def main(argv):
    """Dispatch the sub-command."""
    check_python()
    if not argv or argv[0] not in COMMANDS:
        fail(USAGE)
    ensure_environment()
    program, arguments = COMMANDS[argv[0]][0], COMMANDS[argv[0]][1:]
    if argv[0] == "lab" and hasattr(os, "geteuid") and os.geteuid() == 0:
        arguments += ("--allow-root",)  # containers and CI machines often run as root
    replace_process(PYTHON if program == "python" else os.path.join(BIN, program), *arguments + tuple(argv[1:]),
                    caller_dir=os.getcwd() if argv[0] in ("grade", "release") else None)


if __name__ == "__main__":
    main(sys.argv[1:])
