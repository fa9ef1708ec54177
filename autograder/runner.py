"""Grade one submission in its own scratch course: nbgrader autograde + the feedback page, result as JSON.

    python -m autograder.runner --serve     (a long-lived worker started by autograder.grading: one job per line)
"""
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import types
from functools import lru_cache
from pathlib import Path

import jsonschema
import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import Preprocessor
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.preprocessors import Execute, GetGrades
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import common as nbgrader_format
from traitlets import Bool
from traitlets.config import Config

from autograder import compile_cache, sandbox
from autograder.executor import TestedExecute
from autograder.job import Job


@lru_cache(maxsize=8)
def schema_validator(schema_text):
    """A checked jsonschema validator for one schema (given as JSON text), built once."""
    schema = json.loads(schema_text)
    kind = jsonschema.validators.validator_for(schema)
    kind.check_schema(schema)
    return kind(schema)


def validate_once_checked(instance, schema):
    """`jsonschema.validate` for nbgrader's cell metadata, without checking nbgrader's fixed schema on every cell
    (that check was 0.2 s of each notebook's grading)."""
    error = jsonschema.exceptions.best_match(schema_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance))
    if error is not None:
        raise error


nbgrader_format.jsonschema = types.SimpleNamespace(validate=validate_once_checked)


class FeedbackView(Preprocessor):
    """Feedback shows the tests' verdicts, never hidden test code or what the student's own cells printed."""

    enabled = Bool(True)

    def preprocess_cell(self, cell, resources, index):
        """Replace hidden test regions; keep outputs of test cells only (written by the tester)."""
        if cell.cell_type != "code":
            return cell, resources
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "# (hidden tests)",
                                 cell.source, flags=re.S)
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        else:
            cell.outputs = []
        return cell, resources


def prepare(job):
    """Lay out the scratch course (gradebook copy, submitted notebook); the kernel never sees this folder."""
    scratch, lesson, sid = Path(job.scratch), job.lesson, job.sid
    if scratch.exists():
        shutil.rmtree(scratch)
    submitted = scratch / "submitted" / sid / lesson
    submitted.mkdir(parents=True)
    shutil.copyfile(job.notebook, submitted / f"{lesson}.ipynb")
    if job.timestamp:
        (submitted / "timestamp.txt").write_text(job.timestamp)
    (scratch / "source" / lesson).mkdir(parents=True)
    shutil.copyfile(job.template_db, scratch / "gradebook.db")
    return scratch


def config_for(job, scratch, cgroup=None):
    """nbgrader configuration for the scratch course, with test cells run by the sandboxed tester."""
    c = Config()
    c.CourseDirectory.root = str(scratch)
    c.CourseDirectory.course_id = "nncourse"
    c.CourseDirectory.db_url = f"sqlite:///{scratch / 'gradebook.db'}"
    c.CourseDirectory.source_directory = "source"
    defaults = Autograde().autograde_preprocessors
    c.Autograde.autograde_preprocessors = [TestedExecute if step is Execute else step for step in defaults]
    c.TestedExecute.job = c.SandboxKernelManager.job = job
    c.SandboxKernelManager.cgroup_wrap = cgroup.wrap if cgroup else None
    c.TestedExecute.findings_path = str(scratch / "findings.json")
    return c


class FeedbackPage(HTMLExporter):
    """nbgrader's feedback page without HTMLExporter's second pass, which parses the finished 200 kB page again to
    add image alt texts and tab stops to JupyterLab-template cells: the feedback template is a classic one that has
    none of those cells, and the student's own outputs are not shown. The pass cost 40 % of the page's time."""

    def from_notebook_node(self, nb, resources=None, **kw):
        """HTMLExporter's filters, then the template, nothing after."""
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        resources = self._init_resources(resources)
        highlight = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
        self.register_filter("highlight_code", highlight)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                                       resources=resources))
        return TemplateExporter.from_notebook_node(self, nb, resources, **kw)


@lru_cache(maxsize=1)
def feedback_exporter():
    """nbgrader's feedback page exporter, built once per worker (its templates compile once, not per notebook)."""
    config = Config()
    config.SanitizeHTML.enabled = True  # student markdown may hold <script>: escape it in the feedback page
    config.HTMLExporter.exclude_anchor_links = True  # each heading's anchor costs an XML parse; nobody links into it
    exporter = FeedbackPage(config=GenerateFeedback(config=config).config)
    for step in (GetGrades, FeedbackView, SanitizeHTML):  # the exporter brings its own CSSHTMLHeaderPreprocessor
        exporter.register_preprocessor(step, enabled=True)
    return exporter


def write_feedback(scratch, lesson, sid):
    """The student's feedback page (scores from the scratch gradebook, hidden tests blanked); its path."""
    resources = {"unique_key": lesson, "output_files_dir": f"{lesson}_files",
                 "nbgrader": {"student": sid, "assignment": lesson, "notebook": lesson,
                              "db_url": f"sqlite:///{scratch / 'gradebook.db'}"}}
    page, _ = feedback_exporter().from_filename(str(scratch / "autograded" / sid / lesson / f"{lesson}.ipynb"),
                                                resources=resources)
    html = scratch / "feedback" / sid / lesson / f"{lesson}.html"
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(page, encoding="utf-8")
    return html


def verdicts(path):
    """grade_id -> what the tester said about each failed test cell (for the class report)."""
    found = {}
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                found[meta["grade_id"]] = str(errors[0].get("evalue", ""))[:2000]
    return found


def scores(scratch, lesson, sid):
    """Per-cell grades and totals of the student's submission in the scratch gradebook."""
    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}", "nncourse") as gb:
        submission = gb.find_submission(lesson, sid)
        grades = [{"notebook": nb.name, "name": g.name, "auto_score": g.auto_score, "max_score": g.max_score,
                   "needs_manual_grade": g.needs_manual_grade}
                  for nb in submission.notebooks for g in nb.grades]
        return grades, submission.timestamp.isoformat() if submission.timestamp else None


def run(job):
    """Autograde and generate feedback for one job; return the result dictionary."""
    scratch = prepare(job)
    lesson, sid = job.lesson, job.sid
    cgroup = sandbox.PidsCgroup(f"{os.getpid()}-{sid}", job.limits["processes"]) if job.sandbox else None
    # unix socket paths must stay under ~107 characters, so the kernel's sockets live in a short /tmp folder
    job = job.placed(kerneldir=tempfile.mkdtemp(prefix="nnk-"))
    shutil.copyfile(job.notebook, sandbox.kernel_notebook(job))  # the student's own notebook, readable in the kernel's folder
    config = config_for(job, scratch, cgroup)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    try:
        graded = api.autograde(lesson, sid, force=True, create=True)
    finally:
        shutil.rmtree(job.kerneldir, ignore_errors=True)
        if cgroup:
            cgroup.close()
    result = {"sid": sid, "autograde_ok": bool(graded.get("success")), "log": graded.get("log", "")[-4000:]}
    findings_file = scratch / "findings.json"
    found = json.loads(findings_file.read_text()) if findings_file.exists() else {"findings": []}
    result["findings"] = found["findings"]
    if not result["autograde_ok"]:
        result["error"] = (graded.get("log") or "")[-1500:] + (graded.get("error") or "")[-500:]
        return result
    result["grades"], result["timestamp"] = scores(scratch, lesson, sid)
    result["verdicts"] = verdicts(scratch / "autograded" / sid / lesson / f"{lesson}.ipynb")
    try:
        result["feedback"] = str(write_feedback(scratch, lesson, sid))
    except Exception as error:  # noqa: BLE001 - a page that cannot be made costs the student the page, not the score
        result["feedback"], result["findings"] = None, result["findings"] + [f"no feedback page ({type(error).__name__})"]
    result["autograded"] = str(scratch / "autograded" / sid / lesson / f"{lesson}.ipynb")
    return result


BUNDLES = {}  # hash of a lesson bundle -> the folder it was unpacked into, once per worker process


def unpack_bundle(bundle):
    """The lesson cache (a tar archive as bytes) unpacked once per worker process."""
    key = hashlib.sha256(bundle).hexdigest()[:16]
    if key not in BUNDLES:
        folder = Path(tempfile.mkdtemp(prefix="nnlesson-"))
        with tarfile.open(fileobj=io.BytesIO(bundle)) as archive:
            archive.extractall(folder, filter="data")
        BUNDLES[key] = folder
    return BUNDLES[key]


def grade_data(payload, bundle):
    """Grade one submission sent as data (a Dask task): the result, with feedback and notebook as bytes."""
    folder = unpack_bundle(bundle)
    with tempfile.TemporaryDirectory(prefix="nngrade-") as tmp:
        tmp = Path(tmp)
        (tmp / "submission.ipynb").write_bytes(payload["notebook"])
        job = Job.from_json(payload["job"]).placed(
            notebook=str(tmp / "submission.ipynb"), scratch=str(tmp / "scratch"), template_db=str(folder / "template.db"),
            course=str(folder / "course"), mplconfig=str(folder / "mpl"),
            xla_cache=compile_cache.folder_in(folder))
        try:
            result = run(job)
        except Exception as error:  # reported as a grading failure for this student
            result = {"sid": job.sid, "autograde_ok": False, "error": f"{type(error).__name__}: {error}",
                      "findings": []}
        for key in ("feedback", "autograded"):
            path = result.pop(key, None)
            result[f"{key}_bytes"] = Path(path).read_bytes() if path and Path(path).is_file() else None
            result[f"{key}_name"] = Path(path).name if path else None
    return result


def grade_line(line):
    """Grade the job given as one line of JSON and write its result file; never raises."""
    try:
        job = Job.from_json(line)
    except (TypeError, ValueError):
        return
    try:
        result = run(job)
    except Exception as error:  # reported as a grading failure for this student, never a crash of the batch
        result = {"sid": job.sid, "autograde_ok": False, "error": f"{type(error).__name__}: {error}", "findings": []}
    Path(job.result_file).write_text(json.dumps(result))


def main():
    """`runner --serve` grades one job per stdin line, a Job as JSON (a long-lived worker: nbgrader and nbconvert
    are imported once, not once per notebook)."""
    if sys.argv[1:] != ["--serve"]:
        sys.exit("usage: python -m autograder.runner --serve   (one job per stdin line, as JSON)")
    # the protocol keeps private copies of stdin/stdout: kernels started later inherit /dev/null and the log
    requests, replies = os.fdopen(os.dup(0), "r"), os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    for line in requests:
        grade_line(line.strip())
        replies.write("done\n")
        replies.flush()


if __name__ == "__main__":
    main()
