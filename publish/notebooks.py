"""solutions/ -> lessons/: re-execute the instructor notebooks, then release them through nbgrader.

    python -m publish build                 # every lesson
    python -m publish build 01_neuron       # just one
    python -m publish build --no-execute    # regenerate lessons/ only
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, LESSONS = ROOT / "solutions", ROOT / "lessons"
LESSON_NAME = re.compile(r"^\d\d_[a-z0-9_]+$")
BUILD_COMMAND = "python3 course.py build"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def lesson_names(folder=SOLUTIONS):
    """Sorted NN_topic folder names under folder."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and LESSON_NAME.match(p.name)) if folder.exists() else []


def notebook_path(lesson, folder=SOLUTIONS):
    """The one notebook of a lesson: folder/NN_topic/NN_topic.ipynb."""
    return folder / lesson / f"{lesson}.ipynb"


def normalize(nb):
    """Strip what changes from run to run or machine to machine (timings, widget state, versions)."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
    return nb


def execute(path, timeout=300):
    """Run a notebook top to bottom in a fresh kernel and store its normalized outputs in place."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(normalize(nb), path)


def generate(lessons, release_dir=LESSONS, db_path=ROOT / "gradebook.db"):
    """Release lessons from solutions/ into release_dir with nbgrader generate_assignment."""
    for lesson in lessons:
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", lesson, "--force", "--log-level=WARN",
                   f"--CourseDirectory.root={ROOT}", f"--CourseDirectory.release_directory={release_dir}",
                   f"--CourseDirectory.db_url=sqlite:///{db_path}"]
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)  # nbgrader runs alembic
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {lesson} failed:\n{done.stdout}{done.stderr}")
        released = notebook_path(lesson, Path(release_dir))
        nbformat.write(normalize(nbformat.read(released, as_version=4)), released)


def build(args):
    """Execute the chosen solutions (unless --no-execute) and regenerate their lessons."""
    known = lesson_names()
    unknown = [name for name in args.lessons if name not in known]
    if unknown:
        raise ValueError(f"no such lesson: {', '.join(unknown)} (lessons: {', '.join(known)})")
    chosen = args.lessons or known
    for lesson in chosen:
        path = notebook_path(lesson)
        if not path.exists():
            raise ValueError(f"{path.relative_to(ROOT)} is missing: each lesson folder holds a notebook of the same name")
        if not args.no_execute:
            print(f"executing {path.relative_to(ROOT)}", flush=True)
            execute(path)
    generate(chosen, db_path=args.db.resolve())
    print(f"regenerated lessons/ for {', '.join(chosen)}")
