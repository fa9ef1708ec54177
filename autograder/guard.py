"""In-kernel grading guard: snapshot pristine state before student code, restore and verify around test cells.

Run as the kernel launcher inside the sandbox: ``python guard.py -f CONNECTION_FILE``. It imports what the
tests rely on, snapshots it, installs an (irremovable) audit hook, then starts ipykernel. The executor
(autograder.executor) calls ``before(nonce)`` / ``after(nonce)`` around every test cell and appends
``mark(nonce)`` to the test cell, so a cell that was skipped or rewritten never counts as passed.
Stdlib only: this file is copied into the sandbox on its own.
"""
import builtins
import importlib
import json
import os
import signal
import sys
import threading
import types

SENSITIVE = ("builtins", "numpy", "numpy.testing", "numpy.linalg", "math", "operator", "functools", "json",
             "signal", "threading", "importlib", "nncourse", "nncourse.feedback")
VOLATILE = {("builtins", n) for n in ("input", "raw_input", "_", "__", "___", "exit", "quit", "get_ipython")}
SHELL_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
MANAGER_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")
TAINT_EVENTS = {"sys.addaudithook": "added an audit hook", "gc.get_objects": "inspected interpreter objects (gc)",
                "gc.get_referrers": "inspected interpreter objects (gc)",
                "gc.get_referents": "inspected interpreter objects (gc)", "ctypes.dlsym": "used ctypes",
                "ctypes.addressof": "used ctypes", "ctypes.cdata": "used ctypes", "ctypes.string_at": "used ctypes"}
NOTE_EVENTS = {"socket.connect": "tried to open a network connection", "socket.getaddrinfo": "tried a network lookup",
               "os.kill": "sent a signal", "os.killpg": "sent a signal", "signal.pthread_kill": "sent a signal",
               "os.fork": "started a process", "os.forkpty": "started a process", "subprocess.Popen": "started a process",
               "os.system": "started a process", "os.posix_spawn": "started a process", "os.exec": "started a process",
               "sys.settrace": "installed a trace hook", "sys.setprofile": "installed a profile hook"}
SECRET_WORDS = ("solutions", "gradebook", "autograded", "submitted", "hidden", "source/", "release")


def trusted(callback):
    """True for event callbacks the course's own setup registers (matplotlib, ipympl, IPython)."""
    module = getattr(callback, "__module__", None) or getattr(getattr(callback, "__func__", None), "__module__", "")
    return str(module).split(".")[0] in ("matplotlib", "matplotlib_inline", "ipympl", "IPython", "ipykernel")


class Guard:
    """Pristine snapshot plus the checks run around each test cell."""

    def __init__(self, shell, kernel, bindings):
        self.shell, self.kernel, self.quiet = shell, kernel, False
        self.findings, self.taint, self.marks, self.in_test, self.test_dirty = [], [], set(), False, []
        with shell.builtin_trap:  # snapshot builtins as they look while a cell runs
            self.modules = {n: (sys.modules[n], dict(vars(sys.modules[n]))) for n in SENSITIVE if n in sys.modules}
        self.functions = {}
        for name, (module, snapshot) in self.modules.items():
            for attr, value in snapshot.items():
                if isinstance(value, types.FunctionType):
                    self.functions[id(value)] = (value, f"{name}.{attr}", value.__code__, value.__defaults__,
                                                 value.__kwdefaults__)
        classes = [c for c in type(shell).__mro__ + type(kernel).__mro__ if c.__module__ != "builtins"]
        classes += [type(shell.events), type(shell.input_transformer_manager), type(shell.compile)]
        self.classes = {id(c): (c, dict(vars(c))) for c in classes}
        self.protected = set(self.classes) | set(self.functions)
        self.shell_lists = {n: list(getattr(shell, n)) for n in SHELL_LISTS}
        self.manager_lists = {n: list(getattr(shell.input_transformer_manager, n)) for n in MANAGER_LISTS}
        self.callbacks = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.instances = [(obj, dict(vars(obj))) for obj in (shell, kernel, shell.events, shell.input_transformer_manager)]
        self.handlers = dict(kernel.shell_handlers)
        self.sys_modules = {n: m for n, m in sys.modules.items()}
        self.sys_attrs = {n: getattr(sys, n) for n in ("stdout", "stderr", "displayhook", "excepthook")}
        self.hooks = (list(sys.meta_path), list(sys.path_hooks))
        self.bindings = {}
        for name, (module, attr) in bindings.items():
            try:
                if attr:
                    try:
                        value = importlib.import_module(f"{module}.{attr}")
                    except ImportError:
                        value = getattr(importlib.import_module(module), attr)
                else:
                    value = importlib.import_module(module)
                self.bindings[name] = value
            except Exception:  # a binding the course setup cell makes but that fails here is simply not restored
                continue
        self.sigint = signal.getsignal(signal.SIGINT)
        sys.addaudithook(self.audit)

    def note(self, text):
        """Record one finding (once)."""
        if text not in self.findings:
            self.findings.append(text)
        if self.in_test and text not in self.test_dirty:
            self.test_dirty.append(text)

    def audit(self, event, args):
        """Audit hook: taint on interpreter tampering, note attacks, watch patched protected objects."""
        if self.quiet:
            return
        if event in TAINT_EVENTS:
            self.note(TAINT_EVENTS[event])
            if TAINT_EVENTS[event] not in self.taint:
                self.taint.append(TAINT_EVENTS[event])
        elif event in NOTE_EVENTS:
            self.note(NOTE_EVENTS[event])
        elif event in ("object.__setattr__", "object.__delattr__"):
            if args and id(args[0]) in self.protected:
                target = getattr(args[0], "__qualname__", type(args[0]).__name__)
                self.note(f"patched {target}.{args[1]}")
        elif event == "open" and args and isinstance(args[0], str):
            path = args[0]
            if any(word in path for word in SECRET_WORDS) and "site-packages" not in path:
                self.note(f"tried to open {path}")

    def restore(self):
        """Put every protected object back to its pristine state; return what had changed."""
        changed = []
        self.quiet = True
        try:
            if sys.gettrace() is not None or sys.getprofile() is not None:
                changed.append("trace/profile hook active")
            sys.settrace(None)
            sys.setprofile(None)
            threading.settrace(None)
            threading.setprofile(None)
            for name, (module, snapshot) in self.modules.items():
                current = vars(module)
                for attr, value in snapshot.items():
                    if current.get(attr, snapshot) is not value and (name, attr) not in VOLATILE:
                        changed.append(f"{name}.{attr} replaced")
                        current[attr] = value
                if sys.modules.get(name) is not module:
                    changed.append(f"sys.modules[{name!r}] replaced")
            for function, label, code, defaults, kwdefaults in self.functions.values():
                if function.__code__ is not code or function.__defaults__ is not defaults \
                        or function.__kwdefaults__ is not kwdefaults:
                    changed.append(f"{label} rewritten")
                    function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
            for cls, snapshot in self.classes.values():
                current = vars(cls)
                for attr, value in snapshot.items():
                    if current.get(attr, snapshot) is not value:
                        changed.append(f"{cls.__qualname__}.{attr} patched")
                        setattr(cls, attr, value)
                for attr in [a for a in current if a not in snapshot and callable(current[a])]:
                    changed.append(f"{cls.__qualname__}.{attr} added")
                    delattr(cls, attr)
            for obj, snapshot in self.instances:
                current = vars(obj)
                shadowing = [a for a in current if a not in snapshot and callable(getattr(type(obj), a, None))]
                for attr in shadowing:
                    changed.append(f"{type(obj).__name__}.{attr} overridden")
                    del current[attr]
                for attr, value in snapshot.items():
                    if callable(value) and current.get(attr, snapshot) is not value:
                        changed.append(f"{type(obj).__name__}.{attr} replaced")
                        current[attr] = value
            for owner, lists in ((self.shell, self.shell_lists), (self.shell.input_transformer_manager,
                                                                  self.manager_lists)):
                for name, pristine in lists.items():
                    if getattr(owner, name) != pristine:
                        changed.append(f"IPython {name} changed")
                    getattr(owner, name)[:] = pristine
            extra = [k for k, v in self.shell.events.callbacks.items()
                     if any(c not in self.callbacks.get(k, []) and not trusted(c) for c in v)]
            if extra:
                changed.append("IPython event callbacks registered: " + ", ".join(sorted(extra)))
            self.shell.events.callbacks.clear()
            self.shell.events.callbacks.update({k: list(v) for k, v in self.callbacks.items()})
            if self.shell.custom_exceptions:
                changed.append("custom exception handler installed")
            self.shell.custom_exceptions = ()
            if dict(self.kernel.shell_handlers) != self.handlers:
                changed.append("kernel message handlers replaced")
                self.kernel.shell_handlers.clear()
                self.kernel.shell_handlers.update(self.handlers)
            for name, module in self.sys_modules.items():
                if name in SENSITIVE and sys.modules.get(name) is not module:
                    sys.modules[name] = module
            for name, value in self.sys_attrs.items():
                if getattr(sys, name) is not value:
                    setattr(sys, name, value)
            if sys.meta_path != self.hooks[0] or sys.path_hooks != self.hooks[1]:
                changed.append("import hooks changed")
                sys.meta_path[:], sys.path_hooks[:] = self.hooks[0], self.hooks[1]
            user_ns = self.shell.user_ns
            if user_ns.get("__builtins__") not in (builtins, vars(builtins)):
                changed.append("__builtins__ replaced")
                user_ns["__builtins__"] = builtins
            for name, value in self.bindings.items():
                if name in user_ns and user_ns[name] is not value:
                    user_ns[name] = value
            signal.signal(signal.SIGINT, self.sigint)
        finally:
            self.quiet = False
        return changed

    def report(self, nonce, **extra):
        """The JSON string the executor reads back from the user expression."""
        return json.dumps({"nonce": nonce, **extra})

    def before(self, nonce):
        """Restore everything, then open the test window for nonce."""
        for change in self.restore():
            self.note(f"tampering before a test: {change}")
        self.in_test, self.test_dirty = True, []
        return self.report(nonce, findings=self.findings, taint=self.taint)

    def mark(self, nonce):
        """Called by the last line of a test cell: proves the cell ran to its end."""
        self.marks.add(nonce)

    def after(self, nonce):
        """Close the test window: the test counts only if it completed untouched."""
        self.in_test = False
        changes = self.restore()
        dirty = list(self.test_dirty) + [f"tampering during a test: {c}" for c in changes]
        for change in changes:
            self.note(f"tampering during a test: {change}")
        completed = nonce in self.marks
        return self.report(nonce, completed=completed, dirty=dirty, taint=self.taint, findings=self.findings)


def apply_limits(limits):
    """Cap memory, CPU time, file size, open files and processes of this kernel and its children."""
    import resource

    mb = 1024 * 1024
    wanted = {"memory_mb": (resource.RLIMIT_AS, mb), "cpu_seconds": (resource.RLIMIT_CPU, 1),
              "file_mb": (resource.RLIMIT_FSIZE, mb), "open_files": (resource.RLIMIT_NOFILE, 1),
              "processes": (resource.RLIMIT_NPROC, 1)}
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, (kind, scale) in wanted.items():
        if limits.get(key):
            value = int(limits[key]) * scale
            if kind == resource.RLIMIT_NPROC and os.getuid() != 0:
                value += len([p for p in os.listdir("/proc") if p.isdigit()])
            try:
                resource.setrlimit(kind, (value, value))
            except (ValueError, OSError):
                pass


def main():
    """Pre-import the course, snapshot it, install the guard, run the kernel."""
    config = json.loads(os.environ.pop("GRADER_GUARD_CONFIG", "{}"))
    apply_limits(config.get("limits", {}))
    for name in ("numpy", "numpy.testing", "numpy.linalg", "math", "operator", "functools",
                 *config.get("modules", [])):
        try:
            importlib.import_module(name)
        except Exception:
            pass
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    guard = Guard(app.shell, app.kernel, config.get("bindings", {}))
    module = types.ModuleType("_grader_guard")
    module.before, module.after, module.mark = guard.before, guard.after, guard.mark
    sys.modules["_grader_guard"] = module
    app.start()


if __name__ == "__main__":
    main()
