"""The tester: runs a lesson's test cells (hidden tests included) in its own process, never in the student's.

Started by autograder.executor inside its own sandbox as ``python tester.py``; talks JSON lines on stdin and
stdout. The student's names reach the tests as proxies: calling a student function sends plain data to the
student's kernel (through the executor) and decodes plain data back with this process's own decoder. So
expected values, comparisons and verdicts never enter the student's process, and nothing the student's code
does can change them. A verdict names a failing hidden check only by its number.
"""
import ast
import builtins
import contextlib
import importlib
import io
import os
import re
import signal
import socket
import sys
import traceback
import warnings

import numpy

import lean_keras
import wire

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*$", re.S | re.M)
HIDDEN_FILE = "<hidden tests>"


class Channel:
    """JSON lines to and from the executor, which relays calls to the student's kernel."""

    def __init__(self, reader, writer):
        self.reader, self.writer, self.callbacks = reader, writer, []

    def send(self, message):
        """Write one message."""
        self.writer.write(wire.dumps(message) + "\n")
        self.writer.flush()

    def receive(self):
        """Read one message (EOF ends the tester)."""
        line = self.reader.readline()
        if not line:
            raise SystemExit(0)
        return wire.loads(line)

    def request(self, message):
        """Send a request to the student's side; serve callbacks until its answer arrives."""
        self.send(message)
        while True:
            reply = self.receive()
            if "callback" not in reply:
                answer = reply.get("reply")
                return answer if type(answer) is dict else {"broken": "malformed answer"}
            self.send(self.run_callback(reply))

    def run_callback(self, message):
        """Call one of the test's own functions for the student's code (plain data both ways)."""
        try:
            function = self.callbacks[message["callback"]]
            args = wire.decode(message["args"])
            kwargs = wire.decode(message["kwargs"])
            return {"ok": wire.encode(function(*args, **kwargs), refer=self.refer)}
        except Exception as error:  # the student's code sees only that the test's function failed
            return {"raised": type(error).__name__}

    def refer(self, value):
        """Student functions by name; the test's own callables as callback numbers; Keras models described."""
        if isinstance(value, StudentFunction):
            return {"$student": value.__name__}
        if isinstance(value, Unavailable):
            value.fail()
        if is_keras_model(value):
            import keras_wire
            return keras_wire.describe(value)
        if callable(value) and not isinstance(value, type):
            self.callbacks.append(value)
            return {"$callback": len(self.callbacks) - 1}
        return None


def is_keras_model(value):
    """True for a Keras model (without importing Keras when it is not loaded)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


class StudentFunction:
    """A function in the student's kernel: calling it is a request with plain-data arguments."""

    def __init__(self, name, channel):
        self.__name__ = self.__qualname__ = name
        self.channel = channel

    def __repr__(self):
        return f"<your function {self.__name__}>"

    def __call__(self, *args, **kwargs):
        channel = self.channel
        try:
            request = {"op": "call", "target": self.__name__, "args": wire.encode(list(args), channel.refer),
                       "kwargs": wire.encode(kwargs, channel.refer), "numpy_errors": numpy.geterr()}
        except wire.NotPlainData as error:
            raise RuntimeError(f"the test cannot pass this argument to {self.__name__}: {error}") from None
        reply = channel.request(request)
        if "raised" in reply:
            raised = reply["raised"]
            if type(raised) is not dict:
                raise AssertionError(f"{self.__name__} gave a malformed answer")
            raise student_exception(raised)
        if "ok" not in reply:
            why = reply.get("unsupported") or reply.get("broken") or "no answer"
            raise AssertionError(f"{self.__name__}(...) did not return plain data: {why}")
        arguments = {"args": list(args), "kwargs": kwargs}
        try:
            result = wire.decode(reply["ok"], lambda tag, payload: resolve(tag, payload, arguments))
            write_back_all(args, kwargs, reply)
        except (wire.NotPlainData, KeyError, IndexError, TypeError, ValueError) as error:
            raise AssertionError(f"{self.__name__}(...) returned something that is not plain data ({error})") from None
        return result


class StudentError(Exception):
    """What the student's function raised, when it is not a built-in exception (only its name and message crossed)."""


def student_exception(raised):
    """The exception to raise here for what the student's function raised: built-in kinds keep their class."""
    name, message = str(raised.get("type"))[:100], str(raised.get("message"))[:2000]
    if raised.get("unfinished") is True:
        return NotImplementedError(message)
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        return kind(message)
    return StudentError(f"{name}: {message}")


def resolve(tag, payload, arguments):
    """A reference to one of the call's own arguments, or a Keras model rebuilt from its description."""
    if tag == "$arg":
        value = arguments
        for step in wire.expect(payload, list):
            value = value[step]
        return value
    if tag == "$keras":
        import keras_wire
        return keras_wire.build(payload)
    raise wire.NotPlainData(f"unexpected {tag}")


def write_back_all(args, kwargs, reply):
    """Apply the student's changes to mutable arguments, as if the call had happened here."""
    after = reply.get("after") or []
    for arg, data in zip(args, after):
        if data is not None:
            update(arg, data)
    for key, data in (reply.get("after_kwargs") or {}).items():
        if key in kwargs:
            update(kwargs[key], data)


def update(target, data):
    """Write a described value back into target."""
    if is_keras_model(target):
        import keras_wire
        keras_wire.update(target, wire.expect(data, dict).get("$keras"))
        return
    wire.write_back(target, wire.decode(data, lambda tag, payload: resolve(tag, payload, {"args": [], "kwargs": {}})
                                        if tag != "$arg" else None))


class Unavailable:
    """A student name whose value cannot cross (not plain data): any use fails the check with the reason."""

    def __init__(self, name, why):
        self.name, self.why = name, why

    def fail(self, *args, **kwargs):
        raise AssertionError(f"{self.name} holds a value the grader cannot use: {self.why}")

    __call__ = __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = __float__ = __array__ = fail
    __eq__ = __lt__ = __gt__ = __add__ = __sub__ = __mul__ = __truediv__ = fail


def names(source):
    """(names a cell reads, names it binds itself), builtins excluded from the first."""
    loaded, bound = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return loaded - bound - set(dir(builtins)), bound


def split(source):
    """[(kind, code, first line)] with kind 'visible' or 'hidden', line numbers kept."""
    parts, position = [], 0
    for found in HIDDEN.finditer(source):
        parts.append(("visible", source[position:found.start(1)]))
        parts.append(("hidden", found.group(1)))
        position = found.end()
    parts.append(("visible", source[position:]))
    return [(kind, code) for kind, code in parts if code.strip()]


def hidden_check_number(code, error):
    """1-based index of the hidden part's top-level statement that raised."""
    line = next((frame.lineno for frame in reversed(traceback.extract_tb(error.__traceback__))
                 if frame.filename == HIDDEN_FILE), None)
    body = ast.parse(code).body
    for number, statement in enumerate(body, 1):
        if line is not None and statement.lineno <= line <= (statement.end_lineno or statement.lineno):
            return number, len(body)
    return None, len(body)


class Tester:
    """The namespace the tests run in: the course's trusted imports plus the test cells' own names."""

    def __init__(self, channel):
        self.channel = channel
        self.namespace = {"__name__": "__test__", "__builtins__": builtins}
        self.trusted, self.bindings = set(), {}

    def setup(self, bindings):
        """Remember what the lesson's own setup cell imports (name -> [module, attribute or None])."""
        self.bindings = {name: pair for name, pair in bindings.items() if type(pair) is list and len(pair) == 2}
        return {"ok": True}

    def import_binding(self, name):
        """Import one of the setup cell's names here, on first use (the tests get the course's own objects)."""
        module, attr = self.bindings.pop(name)
        try:
            value = importlib.import_module(module)
            if attr:
                try:
                    value = importlib.import_module(f"{module}.{attr}")
                except ImportError:
                    value = getattr(value, attr)
        except Exception:  # noqa: BLE001 - a setup import that fails here stays the student's name
            return
        self.namespace[name] = value
        self.trusted.add(name)

    def bind_student_names(self, free):
        """Put proxies or copies of the student's names the cell reads into the namespace."""
        for name in free & set(self.bindings):
            self.import_binding(name)
        wanted = sorted(free - self.trusted)
        if not wanted:
            return
        reply = self.channel.request({"op": "lookup", "names": wanted})
        found = reply.get("names") if type(reply.get("names")) is dict else {}
        for name in wanted:
            entry = found.get(name)
            self.namespace.pop(name, None)
            if type(entry) is not dict or entry.get("kind") == "missing":
                continue
            if entry.get("kind") == "function":
                self.namespace[name] = StudentFunction(name, self.channel)
            elif entry.get("kind") == "value":
                try:
                    self.namespace[name] = wire.decode(entry.get("value"), lambda t, p: resolve(t, p, {}))
                except (wire.NotPlainData, KeyError, TypeError, ValueError) as error:
                    self.namespace[name] = Unavailable(name, str(error))
            else:
                self.namespace[name] = Unavailable(name, str(entry.get("why", "not plain data")))

    def run(self, source):
        """Run one test cell; the verdict and what the test itself printed (visible parts only)."""
        printed = io.StringIO()
        try:
            free, bound = names(source)
            self.bind_student_names(free)
        except SyntaxError as error:
            return {"status": "error", "ename": "SyntaxError", "evalue": str(error), "stdout": ""}
        self.trusted |= bound  # names a test binds stay the tests' own in later test cells
        for kind, code in split(source):
            capture = printed if kind == "visible" else io.StringIO()
            try:
                with contextlib.redirect_stdout(capture), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(compile(code, HIDDEN_FILE if kind == "hidden" else "<test>", "exec"), self.namespace)
            except Exception as error:  # noqa: BLE001 - every failure of a test is its verdict
                return {**self.verdict(kind, code, error), "stdout": printed.getvalue()}
        return {"status": "ok", "stdout": printed.getvalue()}

    @staticmethod
    def verdict(kind, code, error):
        """What the feedback may say about a failure."""
        if kind == "hidden":
            number, total = hidden_check_number(code, error)
            where = f"hidden check {number} of {total}" if number else "a hidden check"
            return {"status": "error", "ename": "AssertionError", "evalue": f"{where} failed"}
        return {"status": "error", "ename": type(error).__name__, "evalue": str(error)}


def zygote(modules):
    """Import modules once, then fork a fresh tester for each request on the control socket (stdin); never test.

    A request is b"fork" with the new tester's stdin and stdout descriptors (the answer is its pid), or b"kill PID".
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a tester that needs it imports it again (and reports the failure)
            pass
    control = socket.socket(fileno=0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished testers are reaped by the system
    while True:
        message, descriptors, _, _ = socket.recv_fds(control, 64, 2)
        if not message:
            os._exit(0)  # the worker closed the socket
        if message == b"fork":
            pid = os.fork() if len(descriptors) == 2 else -1
            if pid == 0:
                control.detach()  # fd 0 becomes the tester's stdin below; the socket object must not close it
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                die_with_parent()
                os.dup2(descriptors[0], 0)
                os.dup2(descriptors[1], 1)
                for descriptor in descriptors:
                    os.close(descriptor)
                try:
                    main()
                finally:
                    os._exit(0)  # never return into the zygote's loop, nor run its exit handlers
            control.send(str(pid).encode())
        elif message.startswith(b"kill ") and message[5:].isdigit():
            with contextlib.suppress(OSError):
                os.kill(int(message[5:]), signal.SIGKILL)
        for descriptor in descriptors:
            os.close(descriptor)


def die_with_parent():
    """Ask Linux to kill this process when its parent (the zygote) dies."""
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main():
    """Serve setup and test requests until stdin closes."""
    writer = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # stray prints of libraries must not corrupt the channel
    channel = Channel(sys.stdin, writer)
    tester = Tester(channel)
    while True:
        message = channel.receive()
        channel.callbacks = []
        if message.get("op") == "setup":
            channel.send(tester.setup(message["bindings"]))
        elif message.get("op") == "test":
            channel.send({"verdict": tester.run(message["source"])})


if __name__ == "__main__":
    lean_keras.install()  # before any import of Keras, here or in the zygote
    if sys.argv[1:2] == ["--zygote"]:
        zygote(sys.argv[2:])
    else:
        main()
