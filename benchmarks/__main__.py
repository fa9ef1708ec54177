"""`python -m benchmarks`: one performance table for the whole course (see benchmarks/__init__.py).

    python -m benchmarks                 Run All per lesson, kernel-side widget p95 vs a full-redraw baseline,
                                         browser repaint (from the last browser-test run, if any)
    python -m benchmarks --browser       also measure browser input-to-repaint now (needs chromium)
    python -m benchmarks --suite         also time the test suite sequential (-n 0) vs parallel (-n auto)
    python -m benchmarks --grading       also grade 12 notebooks of 01 and 07: plain nbgrader (sequential) vs the course's grader
    python -m benchmarks --lessons 01_neuron --updates 50

It reports and exits 0 whatever the figures; results go to benchmarks/results/<timestamp>.json.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import stats
from benchmarks.runall import lessons as find_lessons, run_all_seconds, uses_keras

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def machine():
    """Where the figures were measured (printed and stored with them)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_1min": load}


def bench_run_all(lesson_list, rows, results):
    for lesson in lesson_list:
        try:
            seconds, startup, error = run_all_seconds(lesson)
        except Exception as failure:  # noqa: BLE001 - report, never crash
            seconds, startup, error = None, None, f"{type(failure).__name__}: {failure}"
        budget = stats.run_all_budget(uses_keras(lesson))
        results["run_all"][lesson] = {"seconds": seconds, "kernel_start_s": startup, "budget_s": budget, "error": error}
        print(f"  {lesson}: {stats.fmt(seconds, 1, ' s')}" + (f" ({error})" if error else ""), flush=True)
        note = f"kernel start {stats.fmt(startup, 1)} s" + (f"; ERROR {error}" if error else "")
        rows.append([lesson, "Run All (solution, nbclient)", stats.fmt(seconds, 2, " s"), f"< {budget:g} s",
                     stats.verdict(seconds, budget), "", note])


def bench_widgets(lesson_list, updates, rows, results):
    from benchmarks.widgets import lesson_widgets, time_widget
    budget = stats.BUDGETS["kernel_p95_ms"]
    for lesson in lesson_list:
        print(f"  {lesson}", flush=True)
        try:
            found = lesson_widgets(lesson)
        except Exception as failure:  # noqa: BLE001
            rows.append([lesson, "widgets", "-", "", "-", "", f"discovery failed: {type(failure).__name__}: {failure}"])
            continue
        if not found:
            rows.append([lesson, "widgets", "-", "", "-", "", "no LiveFigure widget found in the solution notebook"])
        for name, cls, args, kwargs, instance in found:
            try:
                timing = time_widget(cls, args, kwargs, instance, updates=updates)
            except Exception as failure:  # noqa: BLE001
                rows.append([lesson, f"{name} p95 update", "-", "", "-", "", f"failed: {type(failure).__name__}: {failure}"])
                continue
            if not timing["updates"]:
                rows.append([lesson, f"{name} p95 update (kernel, Agg)", "-", f"<= {budget:g} ms", "-", "",
                             "no numeric slider to sweep (dropdowns/toggles only)"])
                continue
            live, naive = stats.summary(timing["live"]), stats.summary(timing["naive"])
            changes = stats.summary(timing["changes"])
            speedup = stats.ratio(naive["p95"], changes["p95"])
            results["widgets"].setdefault(lesson, {})[name] = {
                "live_ms": live, "change_ms": changes, "naive_ms": naive, "ratio_naive_over_live_p95": speedup,
                "updates": timing["updates"], "status_error": timing["status_error"], "budget_ms": budget}
            note = f"naive full redraw p95 {stats.fmt(naive['p95'])} ms; median {stats.fmt(live['median'])} ms; n={live['n']}"
            if live["n"] > changes["n"]:  # a training widget: several steps per change
                note += f"; trains in steps: whole change median {stats.fmt(changes['median'])} ms"
            if timing["status_error"]:
                note += f"; widget error: {timing['status_error'][:80]}"
            rows.append([lesson, f"{name} p95 update (kernel, Agg)", stats.fmt(live["p95"], 1, " ms"), f"<= {budget:g} ms",
                         stats.verdict(live["p95"], budget), f"{stats.fmt(speedup, 1)}x" if speedup else "-", note])


def browser_figures(measure, lesson_list, rows, results):
    budget = stats.BUDGETS["repaint_p95_ms"]
    data, source, sweeps = None, None, {}
    if measure:
        from tests.browser import harness
        if not harness.chromium_available():
            rows.append(["course", "browser input-to-repaint", "-", f"<= {budget:g} ms", "-", "",
                         f"skipped: no chromium at {harness.CHROMIUM} (apt-get install -y chromium) or no playwright"])
            return
        data, source = measure_browser(harness, lesson_list), "measured now (--browser)"
    else:
        recorded = RESULTS / "browser_repaint.json"
        if recorded.exists():
            saved = json.loads(recorded.read_text())
            data, source = saved.get("lessons", {}), f"from the browser tests at {saved.get('measured_at')}"
            sweeps = saved.get("sweeps", {})
    if not data:
        rows.append(["course", "browser input-to-repaint", "-", f"<= {budget:g} ms", "-", "",
                     "skipped: run with --browser, or run the browser tests first"])
        return
    for lesson, kinds in sorted(data.items()):
        sweep_rows(lesson, kinds.get("sweeps", []) or sweeps.get(lesson, []), source, rows, results)
        both = kinds.get("mouse", []) + kinds.get("keyboard", [])
        summary = stats.summary(both)
        results["browser"][lesson] = {"all_ms": summary, "mouse_ms": stats.summary(kinds.get("mouse", [])),
                                      "keyboard_ms": stats.summary(kinds.get("keyboard", [])), "source": source}
        rows.append([lesson, "browser input-to-repaint p95", stats.fmt(summary["p95"], 0, " ms"), f"<= {budget:g} ms",
                     stats.verdict(summary["p95"], budget), "",
                     f"median {stats.fmt(summary['median'], 0)} ms, n={summary['n']} (mouse+keys), {source}"])


def sweep_rows(lesson, sweeps, source, rows, results):
    """Table rows for the 60 Hz sweeps: paints per second during the drag and the lag to the final paint."""
    for sweep in sweeps:
        training = sweep.get("trains", sweep["kind"] == "rate")  # older results knew only the slider's kind
        floor = stats.BUDGETS["sweep_paints_per_s_training" if training else "sweep_paints_per_s"]
        lag_budget = stats.BUDGETS["sweep_lag_ms"]
        results.setdefault("sweeps", {}).setdefault(lesson, []).append(dict(sweep, source=source))
        rows.append([lesson, f"60 Hz drag, {sweep['kind']} slider: paints/s", stats.fmt(sweep["paints_per_s"], 1),
                     f">= {floor:g}", stats.verdict_at_least(sweep["paints_per_s"], floor), "",
                     ("training widget; " if training else "") + source])
        rows.append([lesson, f"60 Hz drag, {sweep['kind']} slider: last input to final paint",
                     stats.fmt(sweep["lag_ms"], 0, " ms"), f"<= {lag_budget:g} ms",
                     stats.verdict(sweep["lag_ms"], lag_budget), "", source])


def measure_browser(harness, lesson_list, presses=10, sweeps=3):
    """Open each completed lesson in chromium; time arrow-key presses, a drag and 60 Hz sweeps on its sliders."""
    data = {}
    with harness.LabServer(lessons=[l for l in lesson_list if l in harness.lesson_names()]) as server, \
            harness.browser() as context:
        for lesson in server.lessons:
            print(f"browser: {lesson}...", flush=True)
            page = harness.LessonPage(context, server, lesson, completed=True, tag="benchmark")
            times = data.setdefault(lesson, {"mouse": [], "keyboard": [], "sweeps": []})
            try:
                page.open()
                page.run_all()
                for kind in ("weight", "rate"):
                    info = page.find_slider(kind)
                    if info is None:
                        continue
                    page.settle_canvas(info["index"])
                    times["mouse"].append(page.drag(info["index"]))
                    page.settle_canvas(info["index"])
                    times["keyboard"] += [page.press(info["index"]) for _ in range(presses)]
                    measured = [page.sweep(info["index"]) for _ in range(sweeps)]
                    rates, lags = [m[0] for m in measured], [m[1] for m in measured if m[1] is not None]
                    times["sweeps"].append({"kind": kind, "trains": info["trains"],
                                            "paints_per_s": stats.percentile(rates, 50),
                                            "lag_ms": stats.percentile(lags, 50)})
            except Exception as failure:  # noqa: BLE001 - keep measuring the other lessons
                print(f"browser measurement of {lesson} stopped: {failure}", file=sys.stderr)
            finally:
                page.close()
    return data


def bench_suite(rows, results):
    python = sys.executable
    base = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "solutions", "lessons"]
    timings = {}
    for label, flags in (("sequential", ["-n", "0"]), ("parallel", ["-n", "auto"])):
        start = time.perf_counter()
        done = subprocess.run(base + flags, cwd=ROOT, capture_output=True, text=True)
        timings[label] = {"seconds": time.perf_counter() - start, "exit": done.returncode,
                          "summary": (done.stdout.strip().splitlines() or [""])[-1]}
    speedup = stats.ratio(timings["sequential"]["seconds"], timings["parallel"]["seconds"])
    results["suite"] = dict(timings, ratio=speedup)
    rows.append(["course", "test suite sequential (-n 0)", stats.fmt(timings["sequential"]["seconds"], 1, " s"), "",
                 "", "", timings["sequential"]["summary"]])
    rows.append(["course", "test suite parallel (-n auto)", stats.fmt(timings["parallel"]["seconds"], 1, " s"), "< 180 s",
                 stats.verdict(timings["parallel"]["seconds"], 180), f"{stats.fmt(speedup, 2)}x",
                 timings["parallel"]["summary"]])


PLAIN_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "nncourse"
c.CourseDirectory.db_url = "sqlite:///{db}"
"""


def plain_nbgrader_seconds(lesson, notebooks, tmp):
    """Seconds for sequential plain `nbgrader autograde` (no sandbox, no tester) of the same notebooks."""
    from autograder import gradebook

    course = tmp / "plain"
    for sid, notebook in notebooks.items():
        folder = course / "submitted" / sid / lesson
        folder.mkdir(parents=True)
        shutil.copyfile(notebook, folder / f"{lesson}.ipynb")
    gradebook.ensure_assignment(course / "gradebook.db", lesson)
    (course / "nbgrader_config.py").write_text(PLAIN_CONFIG.format(db=course / "gradebook.db"))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", lesson, "--create", "--force"], cwd=course,
                          capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode


def course_grader_seconds(lesson, folder, tmp, jobs, warmup):
    """Seconds for `python -m autograder grade` (every protection on) of the same notebooks, after a one-notebook
    run that builds the lesson cache once (plain nbgrader's gradebook is likewise prepared outside the timing)."""
    def grade(source):
        return subprocess.run([sys.executable, "-m", "autograder", "grade", lesson, str(source), "--jobs", str(jobs),
                               "--db", str(tmp / "course.db"), "--out", str(tmp / "out"), "--quiet"],
                              cwd=ROOT, capture_output=True, text=True)

    grade(warmup)
    start = time.perf_counter()
    done = grade(folder)
    return time.perf_counter() - start, done.returncode


def bench_grading(rows, results, lessons=("01_neuron", "07_keras"), copies=12):
    """Grade `copies` completed submissions per lesson: sequential plain nbgrader vs the course's grader on all cores."""
    from tests.browser.harness import completed_notebook
    import nbformat

    jobs = os.cpu_count() or 1
    for lesson in lessons:
        print(f"grading {copies} notebooks of {lesson}: plain nbgrader, then the course's grader...", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix="nncourse-bench-grade-"))
        try:
            folder, notebooks = tmp / "submissions", {}
            for k in range(copies):
                notebooks[f"student{k + 1}"] = folder / f"student{k + 1}" / f"{lesson}.ipynb"
                notebooks[f"student{k + 1}"].parent.mkdir(parents=True)
                nbformat.write(completed_notebook(lesson), notebooks[f"student{k + 1}"])
            warmup = tmp / "warmup" / "warmup" / f"{lesson}.ipynb"
            warmup.parent.mkdir(parents=True)
            nbformat.write(completed_notebook(lesson), warmup)
            plain, plain_exit = plain_nbgrader_seconds(lesson, notebooks, tmp)
            ours, our_exit = course_grader_seconds(lesson, folder, tmp, jobs, warmup.parent.parent)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        ratio = stats.ratio(plain, ours)
        per_notebook = ours * jobs / copies
        results.setdefault("grading", {})[lesson] = {"plain_seconds": plain, "course_seconds": ours, "copies": copies,
                                                     "jobs": jobs, "ratio": ratio, "exits": [plain_exit, our_exit]}
        rows.append(["course", f"grading {lesson} ({jobs} jobs)", f"{stats.fmt(per_notebook, 1)} s/notebook/worker", "",
                     "", f"{stats.fmt(ratio, 2)}x", f"{copies} notebooks: plain nbgrader sequential "
                     f"{stats.fmt(plain, 1)} s, course grader {stats.fmt(ours, 1)} s; exits {plain_exit}/{our_exit}"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", nargs="*", help="lesson folders (default: every solutions/NN_topic)")
    parser.add_argument("--updates", type=int, default=50, help="slider updates per widget (default: %(default)s)")
    parser.add_argument("--no-run-all", action="store_true", help="skip executing the notebooks")
    parser.add_argument("--no-widgets", action="store_true", help="skip the kernel-side widget timings")
    parser.add_argument("--browser", action="store_true", help="measure browser input-to-repaint now (chromium)")
    parser.add_argument("--suite", action="store_true", help="time the test suite sequential vs parallel (slow)")
    parser.add_argument("--grading", action="store_true", help="grade 12 notebooks of 01 and 07: sequential plain nbgrader vs the course's grader on all cores")
    args = parser.parse_args(argv)
    lesson_list = args.lessons or find_lessons()
    where = machine()
    results = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": where, "budgets": stats.BUDGETS,
               "run_all": {}, "widgets": {}, "browser": {}}
    rows = []
    if not args.no_run_all:
        print("Run All per lesson...", flush=True)
        bench_run_all(lesson_list, rows, results)
    if not args.no_widgets:
        print("kernel-side widget updates per lesson...", flush=True)
        bench_widgets(lesson_list, args.updates, rows, results)
    browser_figures(args.browser, lesson_list, rows, results)
    if args.suite:
        bench_suite(rows, results)
    if args.grading:
        bench_grading(rows, results)
    else:
        rows.append(["course", "grading throughput", "-", "", "-", "", "not measured: add --grading"])
    if not args.suite:
        rows.append(["course", "test suite sequential vs parallel", "-", "< 180 s", "-", "", "not measured: add --suite"])
    rows.sort(key=lambda row: (row[0] == "course", row[0]))
    print(f"Course performance report, {results['measured_at']}")
    print(f"machine: {where['cpu']}, {where['cores']} cores, Python {where['python']}, load (1 min) "
          f"{stats.fmt(where['load_1min'], 2)}")
    print(stats.table(rows, ["lesson", "measure", "value", "budget", "verdict", "vs baseline", "notes"]))
    print("ratio 'vs baseline' = naive full-redraw p95 / live p95 (widgets), sequential / parallel (suite), plain nbgrader / course grader (grading).")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"report-{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {RESULTS / f'report-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
