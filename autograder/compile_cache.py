"""XLA's compile cache for a Keras lesson: filled once by the instructor's solution, read-only while grading.

Every student's kernel and tester compile the same small Keras functions (layers, losses, optimizer steps) again;
JAX's persistent cache lets them load those compiled programs instead. The cache is built by executing the trusted
solution notebook (its tests included) and kept in the lesson cache, under its manifest; students' processes get it
read-only and are told never to write (a program they compile differently is simply compiled again).
"""
import ast
import os
import shutil
import sys
import tempfile
import nbformat

from autograder import integrity


def environment(folder, writable=False):
    """JAX's settings that use the cache at folder (never written unless writable)."""
    return {"JAX_COMPILATION_CACHE_DIR": str(folder), "JAX_COMPILATION_CACHE_MAX_SIZE": "-1",  # no eviction: reads only
            "JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES": "none",  # GPU caches would put folder's path in every key
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0" if writable else "1e12"}


def uses_keras(notebook):
    """True when a code cell of the notebook imports Keras (or JAX)."""
    for tree in integrity.code_trees(notebook):
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(m.split(".")[0] in ("keras", "jax") for m in modules):
                return True
    return False


def fill(folder, solution_path, course, grading_env):
    """Run the solution notebook (tests too) as the grader's kernel would, writing what it compiles into folder.

    A run that fails leaves no cache (grading is then only slower) and says so on stderr."""
    from nbclient import NotebookClient

    notebook = nbformat.read(solution_path, as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **grading_env, **environment(folder, writable=True), "PYTHONPATH": str(course)}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            client = NotebookClient(notebook, timeout=300, allow_errors=True, kernel_name="python3",
                                    resources={"metadata": {"path": scratch}})
            client.execute(env=env)
    except Exception as error:  # noqa: BLE001 - the cache only saves time
        shutil.rmtree(folder, ignore_errors=True)
        print(f"the compile cache was not built ({type(error).__name__}: {error}); grading runs without it",
              file=sys.stderr)


def folder_in(cache):
    """The compile cache inside a lesson cache folder, or "" for a lesson without one."""
    return str(cache / "xla") if (cache / "xla").is_dir() else ""
