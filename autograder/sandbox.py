"""The grading sandboxes: bubblewrap jails (no network, read-only system, capped scratch) for the kernel and the tester."""
import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any, Instance

from autograder import compile_cache
from autograder.job import Job
from nncourse import QUICK_XLA_FLAGS

HERE = Path(__file__).resolve().parent
KERNEL_FILES = ("student_kernel.py", "wire.py", "keras_wire.py", "lean_keras.py")
TESTER_FILES = ("tester.py", "wire.py", "keras_wire.py", "lean_keras.py")
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")
MAX_MESSAGE_BYTES = 64 * 2**20  # the largest message the grader accepts from the student's kernel
# what the kernel and the tester run with, sandboxed or not: one thread each, no screen, the course's Keras setup
# (the tester too, so that both compile alike), and nncourse.HEADLESS (nobody watches a grading kernel: widgets
# are not drawn, demonstrations not run, and matplotlib not imported for them)
GRADING_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "agg",
               "KERAS_BACKEND": "jax", "JAX_ENABLE_X64": "1", "XLA_FLAGS": QUICK_XLA_FLAGS, "NNCOURSE_HEADLESS": "1"}
DEFAULT_LIMITS = {"memory_mb": 8192, "cpu_seconds": 120, "file_mb": 64, "open_files": 256, "processes": 64,
                  "scratch_mb": 64}


@lru_cache(maxsize=1)
def bwrap_path():
    """Path of a working bwrap binary, or None when no sandbox can be made here."""
    found = shutil.which("bwrap")
    if not found:
        return None
    probe = [found, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return found if ok else None


def system_binds():
    """Read-only binds for the interpreter and system libraries (mirroring top-level symlinks)."""
    args = []
    for top in ("usr", "lib", "lib64", "lib32", "bin", "sbin"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for etc in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
                "fonts", "alternatives", "ssl/certs", "mime.types"):
        path = Path("/etc") / etc
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix)}
    for prefix in sorted(prefixes):
        if not str(prefix).startswith("/usr/"):
            args += ["--ro-bind", str(prefix), str(prefix)]
    return args


def capped_tmpfs(path, megabytes):
    """bwrap arguments for a size-capped tmpfs at path (whatever is written there counts against the cap)."""
    return ["--size", str(megabytes * 1024 * 1024), "--tmpfs", path]


def base_command(limits):
    """bwrap argv prefix shared by the kernel and the tester: no network, read-only system, capped tmpfs."""
    scratch_mb = int(limits.get("scratch_mb", 64))
    args = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv", "--proc", "/proc", "--dev", "/dev"]
    args += capped_tmpfs("/tmp", scratch_mb) + capped_tmpfs("/home", 1) + capped_tmpfs("/dev/shm", 1)
    args += system_binds()
    env = {**GRADING_ENV, "HOME": "/tmp", "PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/mpl", "LANG": "C.UTF-8", "JUPYTER_PLATFORM_DIRS": "1",
           "KERAS_HOME": "/tmp/keras", "JAX_PLATFORMS": "cpu"}
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def lesson_binds(job):
    """Read-only binds of the lesson cache both sandboxes use: the course copy, the font cache, the compile cache."""
    args = ["--ro-bind", job.course, "/grader/course", "--ro-bind", job.mplconfig, "/grader/mpl"]
    if job.xla_cache:
        args += ["--ro-bind", job.xla_cache, "/grader/xla"]
        for key, value in compile_cache.environment("/grader/xla").items():
            args += ["--setenv", key, value]
    return args


def program_binds(target, names):
    """Read-only binds of autograder files (by name) into target."""
    args = []
    for name in names:
        args += ["--ro-bind", str(HERE / name), f"{target}/{name}"]
    return args


def kernel_notebook(job):
    """The student's own notebook as the kernel sees it: a copy in the kernel's socket folder."""
    return Path(job.kerneldir) / f"{job.lesson}.ipynb"


def kernel_command(job):
    """bwrap argv prefix for the student's kernel: the course copy, its own notebook, a capped scratch folder."""
    args = base_command(job.limits)
    args += capped_tmpfs("/student", int(job.limits.get("scratch_mb", 64)))
    notebook = kernel_notebook(job)
    args += lesson_binds(job)
    args += ["--bind", job.kerneldir, job.kerneldir, "--ro-bind", str(notebook), f"/student/{notebook.name}"]
    args += program_binds("/grader/kernel", KERNEL_FILES)
    args += ["--chdir", "/student", "--setenv", "PYTHONPATH", "/grader/course:/grader/kernel"]
    return args


def tester_command(job):
    """Full argv of the tester: like the kernel's sandbox, without the student's files or any writable host folder."""
    args = base_command(job.limits)
    args += lesson_binds(job)
    args += program_binds("/grader/tester", TESTER_FILES)
    args += ["--chdir", "/tmp", "--setenv", "PYTHONPATH", "/grader/course:/grader/tester"]
    return args + [sys.executable, "/grader/tester/tester.py"]


def unsandboxed_env(job):
    """Environment for the kernel or tester when the instructor explicitly allowed running without a sandbox."""
    cache = compile_cache.environment(job.xla_cache) if job.xla_cache else {}
    return {**GRADING_ENV, **cache, "PYTHONPATH": os.pathsep.join([str(job.course), str(HERE)]),
            "PATH": os.environ.get("PATH", "")}


def tester_argv(job):
    """(argv, environment) that start the tester for this job."""
    if job.sandbox:
        return tester_command(job), {}
    return [sys.executable, str(HERE / "tester.py")], unsandboxed_env(job)


class PidsCgroup:
    """A pids cgroup (cgroup v1, when writable) capping how many processes one kernel may start."""

    def __init__(self, name, limit):
        self.path = PIDS_CGROUP / "nncourse-grader" / name
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "pids.max").write_text(str(limit))
        except OSError:
            self.path = None

    def wrap(self, argv):
        """argv that first joins this cgroup, then execs argv."""
        if self.path is None:
            return argv
        return ["/bin/sh", "-c", f'echo $$ > "{self.path}/cgroup.procs" && exec "$@"', "sh", *argv]

    def close(self):
        """Kill whatever is left in the cgroup and remove it."""
        if self.path is None:
            return
        try:
            for pid in (self.path / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            self.path.rmdir()
        except OSError:
            pass


class SandboxKernelManager(AsyncKernelManager):
    """Kernel manager that starts the student kernel launcher inside bubblewrap and talks to it over unix sockets."""

    job = Instance(Job, help="the job being graded (autograder.runner puts it in the configuration)").tag(config=True)
    cgroup_wrap = Any(None, help="argv -> argv that starts it inside the job's pids cgroup").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"  # unix sockets in the job's short kernel folder, bound into the sandbox
        self.ip = str(Path(self.job.kerneldir) / "kernel")
        self.connection_file = str(Path(self.job.kerneldir) / "connection.json")

    def client(self, **kwargs):
        """A client whose sockets drop any message over MAX_MESSAGE_BYTES before the grader reads it (a test call
        answered with gigabytes costs the student that call, never the grader's memory)."""
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        return kc

    @property
    def kernel_spec(self):
        """The python3 spec, interrupted by message (signals do not cross the sandbox boundary)."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        """Replace `python -m ipykernel_launcher` with the student kernel launcher, wrapped in the sandbox."""
        cmd = super().format_kernel_cmd(extra_arguments)
        rest = cmd[cmd.index("-f"):] if "-f" in cmd else ["-f", self.connection_file]
        limits = json.dumps(self.job.limits)
        if self.job.sandbox:
            argv = kernel_command(self.job) + ["--setenv", "GRADER_LIMITS", limits,
                                               sys.executable, "/grader/kernel/student_kernel.py"]
        else:
            env = dict(unsandboxed_env(self.job), GRADER_LIMITS=limits)
            argv = ["/usr/bin/env", *(f"{key}={value}" for key, value in env.items()),
                    sys.executable, str(HERE / "student_kernel.py")]
        argv += rest
        return self.cgroup_wrap(argv) if self.cgroup_wrap else argv
