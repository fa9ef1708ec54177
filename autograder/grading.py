"""Grade a class: collect, check, run every submission in parallel (one sandboxed runner each), merge, report."""
import compileall
import contextlib
import hashlib
import io
import json
import os
import queue
import select
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn
from rich.progress import TimeElapsedColumn, TimeRemainingColumn

from autograder import compile_cache, gradebook, integrity, sandbox, submissions
from autograder.job import Job
from publish import bundle, notebooks

VERSION = "3"  # bump when grading changes, so cached results are not reused


@dataclass
class Options:
    """Everything `grade` can be told."""

    lesson: str
    source: Path
    out: Path
    db: Path
    jobs: int = os.cpu_count() or 1
    pattern: str | None = None
    deadline: object = None
    allow_unsandboxed: bool = False
    cell_timeout: int = 30
    notebook_timeout: int = 300
    output_limit: int = 2_000_000
    max_bytes: int = integrity.MAX_BYTES
    limits: dict = field(default_factory=lambda: dict(sandbox.DEFAULT_LIMITS))
    progress: bool = True
    scheduler: str | None = None  # tcp://host:port of a Dask scheduler
    cluster: str | None = None  # "local" or "local:N": start a local Dask cluster


def sha256(path):
    """Hex digest of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def prepare_lesson(opts, work):
    """Template gradebook, sandbox copy of nncourse, font and compile caches; built once per lesson version, read-only."""
    solution = notebooks.notebook_path(opts.lesson)
    package = [p for p in sorted((notebooks.ROOT / "nncourse").rglob("*"))  # a changed course package: a new cache
               if p.is_file() and "__pycache__" not in p.parts]
    key = hashlib.sha256("".join([sha256(solution), VERSION, *map(sha256, package)]).encode()).hexdigest()[:16]
    cache = work / "cache" / key
    if not cache_intact(cache):
        if cache.exists():
            make_writable(cache)
            shutil.rmtree(cache)
        (cache / "mpl").mkdir(parents=True)
        with tempfile.TemporaryDirectory() as release:
            notebooks.generate([opts.lesson], release_dir=release, db_path=cache / "template.db")
        bundle.copy_package(cache / "course", opts.lesson)
        compileall.compile_dir(cache / "course", quiet=1)  # every kernel and tester then starts without compiling it
        env = dict(os.environ, MPLCONFIGDIR=str(cache / "mpl"))
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=True)
        if compile_cache.uses_keras(nbformat.read(solution, as_version=4)):
            compile_cache.fill(cache / "xla", solution, cache / "course", sandbox.GRADING_ENV)
        manifest = {str(p.relative_to(cache)): sha256(p) for p in sorted(cache.rglob("*")) if p.is_file()}
        (cache / "manifest.json").write_text(json.dumps(manifest))
        for path in cache.rglob("*"):  # nobody writes here during a run; changes are caught before reuse
            path.chmod(0o555 if path.is_dir() else 0o444)
        cache.chmod(0o555)
    return cache, key


def cache_intact(cache):
    """True when every cached file is a regular file with the hash its manifest recorded, and nothing else is there."""
    manifest_file = cache / "manifest.json"
    if cache.is_symlink() or not manifest_file.is_file() or manifest_file.is_symlink():
        return False
    try:
        manifest = json.loads(manifest_file.read_text())
        present = {str(p.relative_to(cache)) for p in cache.rglob("*") if not p.is_dir() or p.is_symlink()}
        if present != set(manifest) | {"manifest.json"}:
            return False
        return all(not (cache / name).is_symlink() and sha256(cache / name) == digest for name, digest in manifest.items())
    except (OSError, ValueError):
        return False


def make_writable(folder):
    """Undo the read-only modes of a cache folder so it can be removed (symlinks are not followed)."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def job_key(raw, lesson_key, opts):
    """Cache key of one graded submission: its bytes, the lesson version and the grading options."""
    text = f"{hashlib.sha256(raw).hexdigest()}{lesson_key}{opts.cell_timeout}{opts.notebook_timeout}{opts.limits}"
    return hashlib.sha256(text.encode()).hexdigest()


class Worker:
    """A long-lived runner process (`python -m autograder.runner --serve`), restarted when it dies or hangs."""

    def __init__(self, log):
        self.log, self.process = log, None

    def start(self):
        """Start the process in its own session, so one kill stops its kernels too."""
        command = [sys.executable, "-m", "autograder.runner", "--serve"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=notebooks.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=log, start_new_session=True,
                                            env=dict(os.environ, PYTHONPATH=str(notebooks.ROOT)))

    def stop(self):
        """Kill the process group."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, 9)
            except OSError:
                pass
            self.process.wait()
            self.process = None

    def run(self, job, timeout):
        """Grade one job within the hard timeout; the result dictionary."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        try:
            self.process.stdin.write((job.to_json() + "\n").encode())
            self.process.stdin.flush()
            ready = select.select([self.process.stdout], [], [], timeout)[0]
            finished = bool(ready) and self.process.stdout.readline().strip() == b"done"
        except OSError:
            finished = False
        if not finished:
            self.stop()
            if not ready:
                return {"sid": job.sid, "autograde_ok": False, "findings": [f"hard time limit ({timeout} s): killed"],
                        "error": "killed after the hard time limit"}
        result_file = Path(job.result_file)
        if finished and result_file.exists():
            return json.loads(result_file.read_text())
        return {"sid": job.sid, "autograde_ok": False, "findings": [], "error": "the grading process stopped"}


def lesson_bundle(cache):
    """The lesson cache as a tar archive (bytes), sent once to every Dask worker."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in ("course", "mpl", "template.db", "xla"):
            if (cache / name).exists():
                archive.add(cache / name, arcname=name)
    return buffer.getvalue()


def run_on_dask(jobs, opts, cache, collect):
    """Send every job as data to a Dask cluster (opts.scheduler, or a local one for opts.cluster); collect results."""
    from distributed import Client, LocalCluster, as_completed as finished

    from autograder import runner

    cluster = None
    if opts.scheduler:
        client = Client(opts.scheduler, timeout="30s")
    else:
        size = opts.cluster.partition(":")[2]
        cluster = LocalCluster(n_workers=int(size) if size else max(1, opts.jobs), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        bundle = client.scatter(lesson_bundle(cache), broadcast=True)
        futures = {}
        for job in jobs:
            payload = {"job": job.to_json(), "notebook": Path(job.notebook).read_bytes()}
            future = client.submit(runner.grade_data, payload, bundle, key=f"grade-{job.key[:20]}-{job.sid}",
                                   retries=2, pure=False)
            futures[future] = job
        for future in finished(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - a task that failed everywhere scores 0 with its reason
                result = {"sid": job.sid, "autograde_ok": False, "findings": [],
                          "error": f"{type(error).__name__}: {error}"}
            collect(job, result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_all(jobs, opts, work, collect):
    """Run jobs on opts.jobs long-lived workers; collect(job, result) as each finishes (in this thread)."""
    idle = queue.Queue()
    workers = [Worker(work / f"worker-{n}.log") for n in range(max(1, opts.jobs))]
    for worker in workers:
        idle.put(worker)

    def run(job):
        worker = idle.get()
        try:
            return worker.run(job, opts.notebook_timeout + 120)
        finally:
            idle.put(worker)

    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            futures = {pool.submit(run, job): job for job in jobs}
            for future in as_completed(futures):
                collect(futures[future], future.result())
    finally:
        for worker in workers:
            worker.stop()


class Progress:
    """A progress bar on stderr (rich.progress): finished submissions, rate and the last student."""

    def __init__(self, total, enabled=True):
        self.bar = None
        if enabled and total > 0:
            columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                       TextColumn("{task.fields[student]}", markup=False))
            self.bar = RichProgress(*columns, console=Console(stderr=True, highlight=False), transient=False)
            self.task = self.bar.add_task("grading", total=total, student="")
            self.bar.start()

    def step(self, label):
        """Count one finished submission."""
        if self.bar is not None:
            self.bar.update(self.task, advance=1, student=submissions.printable(label)[:40])

    def close(self):
        """Stop redrawing."""
        if self.bar is not None:
            self.bar.stop()


class GradingError(Exception):
    """A problem with the instructor's input or setup (one line, exit status 1)."""


def zero_grades(released, lesson):
    """All-zero grades for a file that could not be graded at all."""
    return [{"notebook": lesson, "name": c.metadata.nbgrader["grade_id"], "auto_score": 0.0,
             "max_score": c.metadata.nbgrader.get("points") if c.cell_type == "code" else None}
            for c in released.cells if c.metadata.get("nbgrader", {}).get("grade")]


def check_sandbox(opts, warn):
    """True when bubblewrap works; without it, stop unless --allow-unsandboxed was given."""
    if sandbox.bwrap_path():
        return True
    message = ("NO SANDBOX: bubblewrap (bwrap) is missing or cannot create namespaces here. Student code would run "
               "with YOUR permissions, network and files.")
    if not opts.allow_unsandboxed:
        raise GradingError(message + " Install bubblewrap (apt-get install bubblewrap) or rerun with "
                                     "--allow-unsandboxed if you accept the risk.")
    warn("!" * 78 + "\n" + message + "\nContinuing only because --allow-unsandboxed was given.\n" + "!" * 78)
    return False


def find_submissions(opts, tmp):
    """Collect from a folder or a zip."""
    source = Path(opts.source)
    if not source.exists():
        raise GradingError(f"{source}: no such file or folder")
    if source.is_file():
        if not source.name.lower().endswith(".zip"):
            raise GradingError(f"{source}: SUBMISSIONS must be a folder or a .zip file")
        source = submissions.extract_zip(source, Path(tmp) / "unzipped")
    return submissions.collect(source, opts.lesson, opts.pattern, opts.deadline)


def publish(result, opts, sid):
    """Write feedback HTML and the autograded notebook into the results folder, never through a link."""
    outputs = {}
    for key in ("feedback", "autograded"):
        if result.get(key):  # a local runner left a file in its scratch course
            data, name = read_regular(Path(result[key])), Path(result[key]).name
        else:  # a Dask worker sent the bytes
            data, name = result.pop(f"{key}_bytes", None), result.pop(f"{key}_name", None)
        if data is not None and name and safe_write(data, opts.out / key / sid / Path(name).name):
            outputs[key] = str(opts.out / key / sid / Path(name).name)
    return outputs


def read_regular(source):
    """The bytes of a regular file, opened without following links; None for anything else."""
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a fifo must not block
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read() if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) else None


def safe_copy(source, target):
    """Copy a regular file (opened without following links) to a new file that replaces target; False if refused."""
    data = read_regular(source)
    return data is not None and safe_write(data, target)


def safe_write(data, target):
    """Write data to a new file that replaces target (a link there is replaced, never followed); False if refused."""
    for parent in reversed(target.parents):
        if parent.is_symlink():
            return False
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, target)  # replaces a link at target instead of writing through it
    return True


def plan(sub, row, released, opts, work, cache, lesson_key, use_sandbox, bindings):
    """Check one submission and return its job; None when it is fatal (zero) or its result is cached."""
    lesson, sid = opts.lesson, sub.sid
    raw = sub.path.read_bytes()
    report = integrity.check(raw, released, sub.path.name, lesson, opts.max_bytes, sub.scheme == "plain")
    row["flags"] += report.flags
    if report.fatal:
        row["auto_score"] = 0.0
        return None
    key = job_key(raw, lesson_key, opts)
    result_file = work / "results" / f"{sid}.json"
    if result_file.is_file() and not result_file.is_symlink():
        cached = json.loads(result_file.read_text())
        if cached.get("key") == key:
            row["cached"] = cached
            return None
    notebook_file = work / "jobs" / f"{sid}.ipynb"
    nbformat.write(report.notebook, notebook_file)
    return Job(sid=sid, lesson=lesson, key=key, notebook=str(notebook_file), scratch=str(work / "scratch" / sid),
               template_db=str(cache / "template.db"), course=str(cache / "course"), mplconfig=str(cache / "mpl"),
               xla_cache=compile_cache.folder_in(cache), sandbox=use_sandbox, limits=opts.limits,
               bindings=bindings, cell_timeout=opts.cell_timeout, notebook_budget=opts.notebook_timeout,
               output_limit=opts.output_limit,
               result_file=str(work / "jobs" / f"{sid}.result.json"),
               timestamp=sub.timestamp.isoformat() if sub.timestamp and sub.scheme == "exchange" else None)


def grade(opts, warn=lambda text: print(text, file=sys.stderr)):
    """Grade every submission of opts.lesson; return (rows, collection)."""
    lesson, opts.out, opts.db = opts.lesson, Path(opts.out), Path(opts.db)
    released_path = notebooks.notebook_path(lesson, notebooks.LESSONS)
    if lesson not in notebooks.lesson_names() or not released_path.exists():
        raise GradingError(f"no such lesson: {lesson} (lessons: {', '.join(notebooks.lesson_names(notebooks.LESSONS))})")
    use_sandbox = check_sandbox(opts, warn)
    released = nbformat.read(released_path, as_version=4)
    work = opts.out / ".work"
    for folder in ("results", "jobs", "scratch"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        found = find_submissions(opts, tmp)
        cache, lesson_key = prepare_lesson(opts, work)
        gradebook.ensure_assignment(opts.db, lesson, cache / "template.db")
        book = stack.enter_context(gradebook.Book(opts.db))
        bindings = integrity.bindings(released)
        rows, jobs = {}, []
        for sid, sub in sorted(found.submissions.items()):
            rows[sid] = {"student": sid, "file": sub.relpath, "flags": list(sub.flags),
                         "late": any(f.startswith("late") for f in sub.flags)}
            try:
                job = plan(sub, rows[sid], released, opts, work, cache, lesson_key, use_sandbox, bindings)
            except Exception as error:  # noqa: BLE001 - one student's files never stop the batch
                rows[sid]["flags"].append(f"could not be prepared for grading ({type(error).__name__}): scored 0")
                rows[sid]["auto_score"] = 0.0
                job = None
            if job:
                jobs.append(job)
            elif "cached" not in rows[sid]:
                rows[sid]["grades"] = zero_grades(released, lesson)
                book.merge(lesson, sid, rows[sid]["grades"], flagged=True)
        progress = Progress(len(rows), opts.progress)
        stack.callback(progress.close)
        for sid, row in rows.items():
            if "cached" in row or "auto_score" in row:
                finish(row, row.pop("cached", None), book, lesson, released)
                progress.step(sid)

        def collect(job, result):
            try:
                collect_result(job, result, rows[job.sid], opts, book, released, work)
            except Exception as error:  # noqa: BLE001 - one student's result never stops the batch
                finish(rows[job.sid], {"autograde_ok": False, "error": f"{type(error).__name__}: {error}"},
                       book, lesson, released)
            progress.step(job.sid)

        if opts.scheduler or opts.cluster:
            run_on_dask(jobs, opts, cache, collect)
        else:
            run_all(jobs, opts, work, collect)
    return [rows[sid] for sid in sorted(rows)], found


def collect_result(job, result, row, opts, book, released, work):
    """Publish one runner's outputs, cache its result, merge it into the gradebook."""
    result["key"] = job.key
    if result.get("autograde_ok"):
        result.update(publish(result, opts, job.sid))
        (work / "results" / f"{job.sid}.json").write_text(json.dumps(result))
    shutil.rmtree(job.scratch, ignore_errors=True)
    finish(row, result, book, opts.lesson, released)


def parse_time(text):
    """A datetime from an ISO string, or None."""
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def finish(row, result, book, lesson, released):
    """Merge one result into the gradebook (a gradebook.Book) and fill in the summary row."""
    sid = row["student"]
    if result is not None:
        row["flags"] = row["flags"] + [f for f in result.get("findings", []) if f not in row["flags"]]
        if not result.get("autograde_ok"):
            reason = str(result.get("error", "")).strip().splitlines()[-1:] or ["unknown"]
            row["flags"].append(f"the notebook could not be graded, scored 0 ({reason[0][:300]})")
            result = {"grades": zero_grades(released, lesson)}
        row["auto_score"] = sum(g["auto_score"] or 0 for g in result["grades"])
        row["grades"], row["verdicts"] = result["grades"], result.get("verdicts", {})
        book.merge(lesson, sid, result["grades"], timestamp=parse_time(result.get("timestamp")), flagged=bool(row["flags"]))
    row["score"], row["max_score"], row["needs_manual_grade"] = book.totals(lesson, sid)
