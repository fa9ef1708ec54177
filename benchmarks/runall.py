"""Run All seconds per lesson: execute the solution notebook with nbclient in a fresh kernel."""
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lessons(root=ROOT, folder="solutions"):
    """Every NN_topic folder with its notebook, in order (lessons that land later are picked up)."""
    import re
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if re.match(r"^\d\d_[a-z0-9_]+$", p.name) and (p / f"{p.name}.ipynb").exists())


def uses_keras(lesson, root=ROOT):
    """True when the solution notebook's code builds Keras models (its Run All budget is larger)."""
    import nbformat
    nb = nbformat.read(root / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    return any("keras" in cell.source for cell in nb.cells if cell.cell_type == "code")


def run_all_seconds(lesson, root=ROOT, timeout=600):
    """(seconds to run every cell, seconds to start the kernel, error or None) for the solution notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = root / "solutions" / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    with client.setup_kernel():
        ready = time.perf_counter()
        error = None
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except CellExecutionError as failure:
            error = str(failure).strip().splitlines()[-1][:200]
        done = time.perf_counter()
    return done - ready, ready - started, error
