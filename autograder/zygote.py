"""Testers forked from a pre-imported one: each notebook still gets a fresh tester, Keras is imported once per worker.

A worker (runner process or Dask worker) starts one zygote per tester sandbox: `tester.py --zygote MODULES` in the
same sandbox a tester gets, which imports MODULES and then only forks. The zygote never runs a test and never sees
a student's data; each notebook's tester is a new child with its own copy of that memory and its own pipes (passed
to the zygote over a Unix socket), killed when the notebook is done.
"""
import os
import socket
import subprocess
import threading

ZYGOTES = {}  # (argv, env, modules) -> the running zygote of this worker process
LOCK = threading.Lock()  # a Dask worker with several threads shares the zygote: one fork at a time


class ZygoteGone(Exception):
    """The zygote could not fork a tester."""


class Zygote:
    """One pre-imported tester process and its control socket."""

    def __init__(self, argv, env, modules):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control.settimeout(120)  # the first fork waits for the imports
        self.process = subprocess.Popen(argv + ["--zygote", *modules], stdin=theirs, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=env)  # bwrap clears env when sandboxed
        theirs.close()

    def fork(self):
        """(writer, reader descriptor, pid) of a new tester: its stdin and stdout pipes."""
        to_child, from_child = os.pipe(), os.pipe()
        try:
            socket.send_fds(self.control, [b"fork"], [to_child[0], from_child[1]])
            pid = int(self.control.recv(64) or b"0")
        except (OSError, ValueError):
            pid = 0
        finally:
            os.close(to_child[0])
            os.close(from_child[1])
        if pid <= 0:
            os.close(to_child[1])
            os.close(from_child[0])
            raise ZygoteGone("the tester could not be started")
        return os.fdopen(to_child[1], "wb"), from_child[0], pid

    def kill(self, pid):
        """Kill one of the zygote's testers (its pid is the zygote's view of it)."""
        try:
            self.control.send(f"kill {pid}".encode())
        except OSError:
            pass

    def close(self):
        """Stop the zygote (its testers die with it)."""
        self.control.close()
        self.process.kill()
        self.process.wait()


def zygote_for(argv, env, modules):
    """This worker's zygote for argv/env/modules, started (or restarted) when needed; only one is kept."""
    key = (tuple(argv), tuple(sorted(env.items())), tuple(modules))
    current = ZYGOTES.get(key)
    if current is not None and current.process.poll() is None:
        return current
    for old in ZYGOTES.values():
        old.close()
    ZYGOTES.clear()
    ZYGOTES[key] = Zygote(list(argv), env, list(modules))
    return ZYGOTES[key]


def fork_tester(argv, env, modules):
    """(writer, reader descriptor, kill) of a fresh tester; a zygote that died is restarted once."""
    for attempt in (1, 2):
        with LOCK:
            zygote = zygote_for(argv, env, modules)
            try:
                writer, reader, pid = zygote.fork()
                return writer, reader, lambda: zygote.kill(pid)
            except ZygoteGone:
                zygote.close()
                if attempt == 2:
                    raise
