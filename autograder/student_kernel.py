"""The student's kernel under the grader: resource limits, then ipykernel, plus the call service the tester uses.

Runs inside the sandbox as ``python student_kernel.py -f CONNECTION_FILE``. Nothing here is trusted: the
student's code can read and rewrite all of it, and can only change what its own functions answer. The tester
(autograder.tester) sends requests through the grader as user expressions ``_nncourse_call.serve(JSON)``;
callbacks into the tester go out through the kernel's stdin channel (``input``), which only these requests
may use.
"""
import json
import os
import shutil
import sys
import types

import numpy

import lean_keras
import wire

CALLBACK_PROMPT = "\x00nncourse-callback:"


class Call:
    """One request from the tester: decode the arguments, run the student's function, encode what came out."""

    def __init__(self, shell):
        self.shell, self.homes = shell, {}

    def resolve(self, tag, payload):
        """Student functions by name, tester callbacks as stubs, course Keras models rebuilt."""
        if tag == "$student":
            return self.shell.user_ns[wire.expect(payload, str)]
        if tag == "$callback":
            return callback_stub(wire.expect(payload, int))
        if tag == "$keras":
            import keras_wire
            return keras_wire.build(payload)
        raise wire.NotPlainData(f"unexpected {tag}")

    def remember(self, value, path):
        """Record where mutable arguments live, so a result that is an argument travels as a reference."""
        kind = type(value)
        if kind in (list, dict) or kind.__module__.split(".")[0] in ("numpy", "keras"):
            self.homes[id(value)] = (value, path)
        if kind in (list, tuple):
            for index, item in enumerate(value):
                self.remember(item, path + [index])
        elif kind is dict:
            for key, item in value.items():
                self.remember(item, path + [key])

    def refer(self, value):
        """A reference to an argument, or a Keras model's description, or None for plain data."""
        home = self.homes.get(id(value))
        if home is not None and home[0] is value:
            return {"$arg": home[1]}
        return self.after_refer(value)

    def run(self, request):
        """Answer one request: lookup of names or a call."""
        if request.get("op") == "lookup":
            return {"names": {name: self.lookup(name) for name in request["names"]}}
        function = self.shell.user_ns.get(request["target"])
        args = wire.decode(request["args"], self.resolve)
        kwargs = wire.decode(request["kwargs"], self.resolve)
        self.remember(args, ["args"])
        self.remember(kwargs, ["kwargs"])
        errors = {k: v for k, v in (request.get("numpy_errors") or {}).items()
                  if k in ("divide", "over", "under", "invalid") and v in ("ignore", "warn", "raise", "call", "print")}
        try:
            with numpy.errstate(**errors):  # a test's np.errstate(over="raise") reaches the student's code
                result = function(*args, **kwargs)
        except BaseException as error:  # reported to the tester as what the student's function raised
            return {"raised": {"type": type(error).__name__, "message": str(error)[:2000],
                               "unfinished": isinstance(error, NotImplementedError)}}
        try:
            answer = wire.encode(result, self.refer)
        except wire.NotPlainData as error:
            return {"unsupported": str(error)}
        after = [wire.encode(arg, self.after_refer) if mutable(arg) else None for arg in args]
        after_kwargs = {key: wire.encode(arg, self.after_refer) for key, arg in kwargs.items() if mutable(arg)}
        return {"ok": answer, "after": after, "after_kwargs": after_kwargs}

    def after_refer(self, value):
        """Keras models are described again after the call (their weights may have changed)."""
        if "keras" in type(value).__module__:
            import keras_wire
            return keras_wire.describe(value)
        return None

    def lookup(self, name):
        """What a name holds: a function, a plain value, nothing, or something that cannot cross."""
        if name not in self.shell.user_ns:
            return {"kind": "missing"}
        value = self.shell.user_ns[name]
        if callable(value) and not isinstance(value, type) and "keras" not in type(value).__module__:
            return {"kind": "function"}
        try:
            return {"kind": "value", "value": wire.encode(value, self.after_refer)}
        except wire.NotPlainData as error:
            return {"kind": "unsupported", "why": str(error)}


def mutable(value):
    """True for arguments whose changes the tester should see."""
    return type(value).__name__ in ("ndarray", "list", "dict") or "keras" in type(value).__module__ or (
        type(value) is tuple and any(mutable(item) for item in value))


def callback_stub(number):
    """A function that calls the tester's callable `number` with plain data and returns its answer."""
    def callback(*args, **kwargs):
        request = wire.dumps({"callback": number, "args": wire.encode(args), "kwargs": wire.encode(kwargs)})
        kernel = sys.modules["IPython"].get_ipython().kernel  # its stdin channel is open only during requests
        reply = wire.loads(kernel.raw_input(CALLBACK_PROMPT + request))
        if "raised" in reply:
            raise RuntimeError(f"the test's function raised {reply['raised']}")
        return wire.decode(reply["ok"])
    callback.__name__ = f"test_function_{number}"
    return callback


def serve(text):
    """Entry point of a request (a JSON string); returns the JSON answer."""
    shell = sys.modules["IPython"].get_ipython()
    try:
        answer = Call(shell).run(wire.loads(text))
    except wire.NotPlainData as error:
        answer = {"unsupported": str(error)}
    except Exception as error:  # a malformed request or a broken namespace: the tester reports it
        answer = {"broken": f"{type(error).__name__}: {error}"[:500]}
    return wire.dumps(answer)


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
    """Limits, the font cache, Keras without extras, then the kernel with the call service and a no-op `%matplotlib`."""
    apply_limits(json.loads(os.environ.pop("GRADER_LIMITS", "{}")))
    cache = os.environ.get("MPLCONFIGDIR")
    if os.path.isdir("/grader/mpl") and cache:  # a writable copy of matplotlib's prebuilt font cache
        shutil.copytree("/grader/mpl", cache, dirs_exist_ok=True, copy_function=shutil.copyfile)
        os.chmod(cache, 0o700)
    lean_keras.install()
    module = types.ModuleType("_nncourse_call")
    module.serve = serve
    sys.modules["_nncourse_call"] = module
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    app.shell.register_magic_function(lambda line="": None, "line", "matplotlib")  # nothing is drawn while grading
    app.start()


if __name__ == "__main__":
    main()
