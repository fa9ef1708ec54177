"""Command line: `python -m publish build [LESSON ...]` and `python -m publish release [--upto LESSON]`."""
import argparse
import os
import sys
from pathlib import Path

from publish import bundle, notebooks

PROG = "python -m publish"


def parser():
    """The argparse parser with both subcommands."""
    top = argparse.ArgumentParser(prog=PROG, description="Build lessons/ from solutions/ (nbgrader) and the verified student bundle.")
    sub = top.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="re-execute solutions/ and regenerate lessons/", description=notebooks.build.__doc__)
    build.add_argument("lessons", nargs="*", help="lesson folders such as 01_neuron (default: all)")
    build.add_argument("--no-execute", action="store_true", help="only regenerate lessons/ from solutions/")
    build.add_argument("--db", type=Path, default=notebooks.ROOT / "gradebook.db", help="nbgrader gradebook (default: %(default)s)")
    build.set_defaults(run=notebooks.build)
    rel = sub.add_parser("release", help="regenerate lessons/ and build the verified student zip",
                         description=bundle.release.__doc__)
    rel.add_argument("--upto", help="newest lesson in the bundle (default: the last one); its answers stay hidden")
    rel.add_argument("--out", type=Path, default=notebooks.ROOT / "dist", help="folder for the zip (default: %(default)s)")
    rel.add_argument("--db", type=Path, default=notebooks.ROOT / "gradebook.db", help="nbgrader gradebook (default: %(default)s)")
    rel.add_argument("--no-generate", action="store_true", help="bundle lessons/ as they are, without regenerating")
    rel.set_defaults(run=bundle.release)
    return top


def absolute_paths(args):
    """Make every path argument absolute against the folder the user typed the command in (course.py moves to the root)."""
    base = os.environ.get("COURSE_CALLER_DIR") or os.getcwd()
    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, Path(os.path.normpath(os.path.join(base, value.expanduser()))))
    return args


def main(argv=None):
    """Run a subcommand; bad input ends with one line and status 1."""
    args = absolute_paths(parser().parse_args(argv))
    try:
        args.run(args)
    except (ValueError, bundle.BundleError, RuntimeError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        sys.exit(1)

