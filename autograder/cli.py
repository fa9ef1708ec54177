"""Command line: `python -m autograder grade LESSON SUBMISSIONS`."""
import argparse
import os
import sys
from pathlib import Path

from autograder import grading, sandbox, submissions
from publish.cli import absolute_paths
from publish.notebooks import ROOT

PROG = "python -m autograder"


def grade(args):
    """Grade a class and print the summary table."""
    opts = grading.Options(lesson=args.lesson, source=args.submissions, out=args.out or ROOT / "grading" / args.lesson,
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
    """The argparse parser (one subcommand, grade)."""
    top = argparse.ArgumentParser(prog=PROG, description="Grade submissions (nbgrader underneath).")
    sub = top.add_subparsers(dest="command", required=True)
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
    gr.add_argument("--db", type=Path, default=ROOT / "gradebook.db", help="instructor gradebook (default: %(default)s)")
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


def main(argv=None):
    """Run a subcommand; bad input ends with one line and status 1."""
    args = absolute_paths(parser().parse_args(argv))
    try:
        args.run(args)
    except (grading.GradingError, submissions.SubmissionError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; finished results are kept, run the same command again to resume.",
              file=sys.stderr)
        sys.exit(130)
