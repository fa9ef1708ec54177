"""Command line: `python -m autograder release` and `python -m autograder grade LESSON SUBMISSIONS`."""
import argparse
import os
import sys
import tempfile
from pathlib import Path

from autograder import bundle, grading, pipeline, sandbox, submissions

PROG = "python -m autograder"


def release(args):
    """Regenerate lessons/ through nbgrader, then build and verify the student zip."""
    known = pipeline.lesson_names()
    if not known:
        raise grading.GradingError("no lessons in solutions/")
    upto = args.upto or known[-1]
    if upto not in known:
        raise grading.GradingError(f"no such lesson: {upto} (lessons: {', '.join(known)})")
    chosen = [lesson for lesson in known if lesson <= upto]
    if not args.no_generate:
        pipeline.generate(chosen, db_path=Path(args.db).resolve())
        print(f"regenerated lessons/ for {', '.join(chosen)}")
    with tempfile.TemporaryDirectory() as staging:
        files = bundle.collect(chosen, upto, staging)
        bundle.verify(files, [upto])
    target = bundle.write_zip(files, args.out / f"nncourse-student-{upto}.zip")
    print(f"verified: no solution markers, hidden tests, mark schemes, solutions/ files or {upto} solution code")
    print(f"wrote {target} ({len(files)} files; nncourse/reference.py functions of {upto} and later are stubs)")


def grade(args):
    """Grade a class and print the summary table."""
    opts = grading.Options(lesson=args.lesson, source=args.submissions, out=args.out or pipeline.ROOT / "grading" / args.lesson,
                           db=args.db, jobs=args.jobs, pattern=args.pattern,
                           deadline=submissions.parse_deadline(args.deadline), allow_unsandboxed=args.allow_unsandboxed,
                           cell_timeout=args.cell_timeout, notebook_timeout=args.timeout, progress=not args.quiet,
                           limits={**sandbox.DEFAULT_LIMITS, "memory_mb": args.memory_mb},
                           scheduler=args.scheduler, cluster=args.cluster)
    rows, found = grading.grade(opts)
    from autograder import report
    report.write(rows, found, opts)


def cluster_spec(text):
    """'local' or 'local:N' for --cluster."""
    name, _, size = text.partition(":")
    if name != "local" or (size and not (size.isdigit() and int(size) > 0)):
        raise argparse.ArgumentTypeError("use local or local:N with N a positive number of workers")
    return text


def parser():
    """The argparse parser with both subcommands."""
    top = argparse.ArgumentParser(prog=PROG, description="Release lessons and grade submissions (nbgrader underneath).")
    sub = top.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="regenerate lessons/ and build the verified student zip",
                         description=release.__doc__)
    rel.add_argument("--upto", help="newest lesson in the bundle (default: the last one); its answers stay hidden")
    rel.add_argument("--out", type=Path, default=pipeline.ROOT / "dist", help="folder for the zip (default: %(default)s)")
    rel.add_argument("--db", type=Path, default=pipeline.ROOT / "gradebook.db", help="nbgrader gradebook (default: %(default)s)")
    rel.add_argument("--no-generate", action="store_true", help="bundle lessons/ as they are, without regenerating")
    rel.set_defaults(run=release)
    gr = sub.add_parser("grade", help="autograde a folder or LMS zip of submissions", description=grade.__doc__,
                        epilog="Default layouts, read from the top of SUBMISSIONS: Moodle "
                               "'Name_12345_assignsubmission_file_x.ipynb' (file or folder), "
                               "Canvas 'name_12345_67890_x.ipynb', 'studentid.ipynb', 'studentid/LESSON.ipynb', "
                               "nbgrader exchange 'submitted/<student>/<LESSON>/<LESSON>.ipynb'.")
    gr.add_argument("lesson", help="lesson folder name, e.g. 01_neuron")
    gr.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks")
    gr.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel graders (default: all cores, %(default)s)")
    gr.add_argument("--pattern", help="regex with a (?P<sid>...) group mapping a file path to a student id")
    gr.add_argument("--deadline", help="ISO date/time; later submissions are flagged late")
    gr.add_argument("--allow-unsandboxed", action="store_true", help="grade even when bubblewrap is unavailable (unsafe)")
    gr.add_argument("--out", type=Path, help="results folder (default: grading/LESSON)")
    gr.add_argument("--db", type=Path, default=pipeline.ROOT / "gradebook.db", help="instructor gradebook (default: %(default)s)")
    gr.add_argument("--cell-timeout", type=int, default=30, help="seconds per cell (default: %(default)s)")
    gr.add_argument("--timeout", type=int, default=300, help="seconds per notebook (default: %(default)s)")
    gr.add_argument("--memory-mb", type=int, default=sandbox.DEFAULT_LIMITS["memory_mb"],
                    help="address-space limit per kernel in MB (default: %(default)s; JAX reserves a lot)")
    gr.add_argument("--quiet", action="store_true", help="no progress bar")
    where = gr.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="send the notebooks to this Dask scheduler's workers (as data; this machine writes the gradebook)")
    where.add_argument("--cluster", metavar="local[:N]", type=cluster_spec,
                       help="start a local Dask cluster of N worker processes (default: --jobs) and grade on it")
    gr.set_defaults(run=grade)
    return top


def absolute_paths(args):
    """Make every path argument absolute against the folder the user typed the command in (runners work elsewhere)."""
    base = os.environ.get("COURSE_CALLER_DIR") or os.getcwd()  # course.py changes into the project root
    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, Path(os.path.normpath(os.path.join(base, value.expanduser()))))
    return args


def main(argv=None):
    """Run a subcommand; bad input ends with one line and status 1."""
    args = absolute_paths(parser().parse_args(argv))
    try:
        args.run(args)
    except (grading.GradingError, submissions.SubmissionError, bundle.BundleError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; finished results are kept, run the same command again to resume.",
              file=sys.stderr)
        sys.exit(130)
