"""The grading sandbox: a bubblewrap jail (no network, read-only system) around each student's kernel."""
import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

GUARD = Path(__file__).with_name("guard.py")
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")
DEFAULT_LIMITS = {"memory_mb": 8192, "cpu_seconds": 120, "file_mb": 64, "open_files": 256, "processes": 64}


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


def bwrap_command(workdir, kerneldir, course_path, mplconfig):
    """bwrap argv prefix: only the venv, the course package copy, the kernel dir and the work dir are visible."""
    args = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home"]
    args += system_binds()
    args += ["--ro-bind", str(course_path), "/grader/course", "--ro-bind", str(GUARD), "/grader/guard.py",
             "--bind", str(mplconfig), "/grader/mpl",
             "--bind", str(kerneldir), str(kerneldir), "--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    env = {"HOME": "/home", "PATH": "/usr/bin:/bin", "PYTHONPATH": "/grader/course", "MPLCONFIGDIR": "/grader/mpl",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1",
           "MPLBACKEND": "agg", "LANG": "C.UTF-8", "JUPYTER_PLATFORM_DIRS": "1"}
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def unsandboxed_env(course_path, mplconfig):
    """Environment for the kernel when the instructor explicitly allowed running without a sandbox."""
    return {"PYTHONPATH": str(course_path), "MPLCONFIGDIR": str(mplconfig), "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}


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
    """Kernel manager that starts the guard launcher inside bubblewrap and talks to it over unix sockets."""

    settings = {}  # filled in by autograder.runner before nbgrader starts the kernel

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        kerneldir = Path(self.settings["kerneldir"])
        kwargs.setdefault("ip", str(kerneldir / "kernel"))
        kwargs.setdefault("connection_file", str(kerneldir / "connection.json"))
        super().__init__(**kwargs)

    @property
    def kernel_spec(self):
        """The python3 spec, interrupted by message (signals do not cross the sandbox boundary)."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        """Replace `python -m ipykernel_launcher` with the guard launcher, wrapped in the sandbox."""
        cmd = super().format_kernel_cmd(extra_arguments)
        rest = cmd[cmd.index("-f"):] if "-f" in cmd else ["-f", self.connection_file]
        s = self.settings
        config = json.dumps({"modules": s.get("modules", []), "bindings": s.get("bindings", {}),
                             "limits": s.get("limits", DEFAULT_LIMITS)})
        if s.get("sandbox"):
            prefix = bwrap_command(s["workdir"], s["kerneldir"], s["course"], s["mplconfig"])
            prefix += ["--setenv", "GRADER_GUARD_CONFIG", config]
            argv = prefix + [sys.executable, "/grader/guard.py"] + rest
        else:
            os.environ.update(unsandboxed_env(s["course"], s["mplconfig"]), GRADER_GUARD_CONFIG=config)
            argv = [sys.executable, str(GUARD)] + rest
        return s["cgroup_wrap"](argv) if s.get("cgroup_wrap") else argv
