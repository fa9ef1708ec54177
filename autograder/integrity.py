"""Static integrity checks of a submitted notebook against its released version, before anything runs."""
import ast
import copy
import json
import re
from dataclasses import dataclass, field

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

MAX_BYTES = 5 * 1024 * 1024
CHECKED_KEYS = ("grade", "solution", "locked", "points", "task")
SUSPICIOUS = (
    (r"input_transformers|ast_transformers|input_transformer_manager", "IPython input/AST transformers"),
    (r"\.events\.(register|callbacks)|\bevents\.register", "IPython event callbacks"),
    (r"settrace|setprofile|sys\.monitoring", "trace/profile hooks"),
    (r"set_custom_exc|custom_exceptions|showtraceback", "exception handling of the shell"),
    (r"\b(np|numpy)(\.\w+)+\s*=(?!=)|setattr\(\s*(np|numpy)\b", "assigns into numpy"),
    (r"\bbuiltins\b|__builtins__", "touches builtins"),
    (r"\b(feedback|nncourse)(\.\w+)+\s*=(?!=)|setattr\(\s*(feedback|nncourse)\b|"
     r"\.(check_\w+|require|call|fail|show|try_it)\s*=(?!=)", "patches nncourse"),
    (r"_nncourse_call|nncourse-callback|GRADER|\braw_input\b", "references the grader's channel"),
    (r"\bthreading\b|\b_thread\b|concurrent\.futures", "starts threads"),
    (r"class\s+\w+\s*\(\s*(str|int|float|bool|list|tuple|dict|(np|numpy)\.ndarray)\s*\)", "subclasses a built-in type"),
    (r"__array\w*__|__eq__|__float__|__index__|__bool__", "defines comparison or conversion hooks"),
    (r"\bgc\.|ctypes|sys\.modules|__code__|_getframe|inspect\.(stack|currentframe)|f_locals|f_back",
     "interpreter introspection"),
    (r"os\._exit|sys\.exit|os\.kill|\bsignal\.|\bexit\(|\bquit\(|ask_exit", "kills or exits the kernel"),
    (r"gradebook|solutions/|autograded|/grader/|\.\./\.\.", "looks for the grader's files"),
    (r"\bsocket\b|urllib|requests\.|http\.client", "network access"),
    (r"os\.fork|subprocess|multiprocessing|os\.system|Popen", "starts processes"),
    (r"\bIn\[|\b_ih\b|history_manager|\.kernel\b|\.shell_handlers", "uses IPython internals"),
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


def text_of(source):
    """Cell source as one string that can be written as UTF-8 (lists joined, lone surrogates replaced)."""
    if type(source) is list:
        source = "".join(part for part in source if type(part) is str)
    if type(source) is not str:
        return ""
    return source.encode("utf-8", "replace").decode("utf-8")


def rebuild(data):
    """A clean v4 notebook from loosely valid v4 JSON: cell types, sources and nbgrader metadata; no outputs."""
    cells = data.get("cells") if type(data.get("cells")) is list else []
    notebook = new_notebook()
    for raw_cell in cells:
        if type(raw_cell) is not dict:
            continue
        make = {"code": new_code_cell, "raw": new_raw_cell}.get(raw_cell.get("cell_type"), new_markdown_cell)
        cell = make(text_of(raw_cell.get("source", "")))
        meta = raw_cell.get("metadata")
        if type(meta) is dict and "nbgrader" in meta:
            cell.metadata["nbgrader"] = meta["nbgrader"]
        notebook.cells.append(cell)
    return notebook


def load(raw, max_bytes=MAX_BYTES):
    """Parse submitted bytes into a clean v4 notebook; (notebook, fatal reason, flags)."""
    if not raw.strip():
        return None, "empty file", []
    if len(raw) > max_bytes:
        return None, f"oversized file ({len(raw) // 1024} kB > {max_bytes // 1024} kB)", []
    try:
        data = json.loads(raw.decode("utf-8", "surrogateescape"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return None, f"not valid notebook JSON ({type(error).__name__})", []
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, "not a notebook (JSON without cells)", []
    flags = []
    if data.get("nbformat") != 4:
        flags.append(f"wrong nbformat ({data.get('nbformat')}), converted")
        try:
            data = json.loads(json.dumps(nbformat.reads(json.dumps(data), as_version=4)))
        except Exception:  # nbformat raises many kinds; any of them means it cannot be converted
            return None, f"wrong nbformat ({data.get('nbformat')}) that cannot be converted", []
    notebook = rebuild(data)
    try:
        nbformat.validate(nbformat.reads(raw.decode("utf-8", "replace"), as_version=4))
    except Exception:  # noqa: BLE001 - any invalidity is only noted: the rebuilt notebook is clean
        flags.append("invalid notebook structure (repaired)")
    return notebook, None, flags


def valid_meta(meta, expected):
    """True for nbgrader metadata that names a cell of the released lesson."""
    return isinstance(meta, dict) and type(meta.get("grade_id")) is str and meta["grade_id"] in expected


def compare(notebook, released):
    """Flags for deleted, edited, duplicated or re-labelled nbgrader cells; restores the released cells in place."""
    flags, expected, seen = [], released_cells(released), {}
    for index, cell in enumerate(list(notebook.cells)):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            for grade_id, (cell_type, source, original) in expected.items():
                if original.get("grade") and not original.get("solution") and normal(cell.source) == normal(source):
                    flags.append(f"nbgrader metadata removed from test cell {grade_id}")
            continue
        if not valid_meta(meta, expected) or meta["grade_id"] in seen:
            label = meta.get("grade_id") if isinstance(meta, dict) else None
            flags.append(f"duplicated cell {label} (copy ignored)" if type(label) is str and label in seen else
                         f"unknown or malformed nbgrader cell {str(label)[:40]!r} (metadata removed)")
            del cell.metadata["nbgrader"]
            continue
        grade_id = meta["grade_id"]
        cell_type, source, original = expected[grade_id]
        if cell.cell_type != cell_type:
            flags.append(f"cell type of {grade_id} changed to {cell.cell_type} (restored)")
        if any(meta.get(key) != original.get(key) for key in CHECKED_KEYS + ("schema_version",)):
            flags.append(f"changed metadata of {grade_id} (restored)")
        if original.get("locked") and normal(cell.source) != normal(source):
            flags.append(f"edited test cell {grade_id} (restored)")
        keep = source if original.get("locked") else cell.source
        restored = (new_code_cell if cell_type == "code" else new_markdown_cell)(keep)
        restored.metadata["nbgrader"] = copy.deepcopy(original)
        notebook.cells[index] = seen[grade_id] = restored
    flags += restore_missing(notebook, released, seen)
    return flags


def restore_missing(notebook, released, seen):
    """Put deleted test cells back after the released cell before them; flag deleted answer cells."""
    flags, previous = [], None
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader") or {}
        grade_id = meta.get("grade_id")
        if grade_id and grade_id not in seen:
            if meta.get("locked"):
                copied = nbformat.from_dict(copy.deepcopy(cell))
                position = notebook.cells.index(previous) + 1 if previous is not None else len(notebook.cells)
                notebook.cells.insert(position, copied)
                seen[grade_id] = copied
                flags.append(f"deleted test cell {grade_id} (restored)")
            else:
                flags.append(f"deleted answer cell {grade_id}")
        if grade_id in seen:
            previous = seen[grade_id]
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
    notebook.metadata = copy.deepcopy(released.metadata)
    return Report(None, flags, notebook)


def code_trees(notebook, course_cells_only=False):
    """The parsed code cells of a notebook (magics and shell lines left out, cells that do not parse skipped)."""
    for cell in notebook.cells:
        if cell.cell_type != "code" or (course_cells_only and cell.metadata.get("nbgrader")):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            yield ast.parse(code)
        except SyntaxError:
            continue


def bindings(released):
    """Names the course's own (unmarked) code cells import: name -> [module, attribute or None]."""
    names = {}
    for tree in code_trees(released, course_cells_only=True):
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
