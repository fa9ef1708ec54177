"""Static integrity checks of a submitted notebook against its released version, before anything runs."""
import ast
import json
import re
from dataclasses import dataclass, field

import nbformat

MAX_BYTES = 5 * 1024 * 1024
CHECKED_KEYS = ("grade", "solution", "locked", "points", "task")
SUSPICIOUS = (
    (r"input_transformers|ast_transformers|input_transformer_manager", "IPython input/AST transformers"),
    (r"\.events\.(register|callbacks)|\bevents\.register", "IPython event callbacks"),
    (r"settrace|setprofile|sys\.monitoring", "trace/profile hooks"),
    (r"set_custom_exc|custom_exceptions|showtraceback", "exception handling of the shell"),
    (r"\b(np|numpy)(\.\w+)+\s*=(?!=)|setattr\(\s*(np|numpy)\b", "assigns into numpy"),
    (r"\bbuiltins\b|__builtins__", "touches builtins"),
    (r"\b(feedback|nncourse)(\.\w+)+\s*=(?!=)|setattr\(\s*(feedback|nncourse)\b", "patches nncourse"),
    (r"_grader_guard|GRADER", "references the grading guard"),
    (r"\bgc\.|ctypes|sys\.modules|__code__|_getframe|inspect\.(stack|currentframe)|f_locals|f_back",
     "interpreter introspection"),
    (r"os\._exit|sys\.exit|os\.kill|\bsignal\.|\bexit\(|\bquit\(|ask_exit", "kills or exits the kernel"),
    (r"\bsocket\b|urllib|requests\.|http\.client", "network access"),
    (r"\bopen\(|os\.listdir|os\.walk|\bglob\b|shutil|os\.remove|os\.unlink|\.write_text|\.read_text",
     "file access"),
    (r"os\.fork|subprocess|multiprocessing|os\.system|Popen", "starts processes"),
    (r"\bIn\[|\b_ih\b|history_manager|get_ipython\(\)", "uses IPython internals"),
)


@dataclass
class Report:
    """Outcome of the checks: fatal reason (nothing can be graded) or a repaired notebook, plus flags."""

    fatal: str | None = None
    flags: list = field(default_factory=list)
    notebook: object = None


def released_cells(released):
    """grade_id -> (cell_type, source, nbgrader metadata) of the released notebook's nbgrader cells."""
    cells = {}
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id"):
            cells[meta["grade_id"]] = (cell.cell_type, cell.source, meta)
    return cells


def normal(source):
    """Source with trailing whitespace ignored."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def load(raw, max_bytes=MAX_BYTES):
    """Parse submitted bytes into a v4 notebook; (notebook, fatal reason, flags)."""
    if not raw.strip():
        return None, "empty file", []
    if len(raw) > max_bytes:
        return None, f"oversized file ({len(raw) // 1024} kB > {max_bytes // 1024} kB)", []
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return None, f"not valid notebook JSON ({type(error).__name__})", []
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "not a notebook (JSON without cells)", []
    flags = []
    if data.get("nbformat") != 4:
        flags.append(f"wrong nbformat ({data.get('nbformat')}), converted")
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises many kinds; any of them means the structure is broken
        if flags:
            return None, f"wrong nbformat ({data.get('nbformat')}) that cannot be converted", []
        return None, f"invalid notebook structure ({type(error).__name__})", flags
    return notebook, None, flags


def compare(notebook, released):
    """Flags for deleted, edited, duplicated or re-labelled nbgrader cells; repairs metadata in place."""
    flags, expected, seen = [], released_cells(released), {}
    for index, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("nbgrader")
        if not meta:
            for grade_id, (cell_type, source, original) in expected.items():
                if original.get("grade") and not original.get("solution") and normal(cell.source) == normal(source):
                    flags.append(f"nbgrader metadata removed from test cell {grade_id}")
            continue
        grade_id = meta.get("grade_id")
        if grade_id not in expected:
            flags.append(f"unknown graded cell {grade_id!r} (metadata removed)")
            del cell.metadata["nbgrader"]
            continue
        if grade_id in seen:
            flags.append(f"duplicated cell {grade_id} (copy ignored)")
            del cell.metadata["nbgrader"]
            continue
        seen[grade_id] = cell
        cell_type, source, original = expected[grade_id]
        if cell.cell_type != cell_type:
            flags.append(f"cell type of {grade_id} changed to {cell.cell_type}")
        if any(meta.get(key) != original.get(key) for key in CHECKED_KEYS):
            flags.append(f"changed metadata of {grade_id} (restored)")
        if original.get("locked") and normal(cell.source) != normal(source):
            flags.append(f"edited test cell {grade_id} (restored)")
        if original.get("locked") and meta.get("checksum") and meta.get("checksum") != original.get("checksum"):
            flags.append(f"checksum of {grade_id} changed (restored)")
    for grade_id, (_, _, original) in expected.items():
        if grade_id not in seen:
            kind = "test cell" if original.get("locked") else "answer cell"
            flags.append(f"deleted {kind} {grade_id} (restored)" if original.get("locked") else f"deleted {kind} {grade_id}")
    return flags


def scan(notebook, released):
    """'suspicious code' flags for code the student wrote (answer cells, added or edited cells)."""
    found, course_code = [], {normal(c.source) for c in released.cells if c.cell_type == "code"}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked") or normal(cell.source) in course_code:
            continue
        for pattern, label in SUSPICIOUS:
            if re.search(pattern, cell.source) and label not in found:
                found.append(label)
    return [f"suspicious code: {label}" for label in found]


def check(raw, released, filename, lesson, max_bytes=MAX_BYTES, named_by_student=False):
    """All static checks for one submitted file; the notebook returned is ready for nbgrader."""
    notebook, fatal, flags = load(raw, max_bytes)
    if not named_by_student and lesson.lower() not in filename.lower():
        flags.append(f"renamed file ({filename})")
    if fatal:
        return Report(fatal, flags + [fatal])
    flags += compare(notebook, released)
    flags += scan(notebook, released)
    notebook.metadata["kernelspec"] = released.metadata.get("kernelspec", notebook.metadata.get("kernelspec"))
    return Report(None, flags, notebook)


def bindings(released):
    """Names the course's own (unmarked) code cells import: name -> [module, attribute or None]."""
    names = {}
    for cell in released.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader"):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = [alias.name, None]
                    else:
                        top = alias.name.split(".")[0]
                        names[top] = [top, None]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = [node.module, alias.name]
    return names
