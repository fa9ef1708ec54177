"""The one boundary between a widget and the student's code: calls by name, failures recorded, one status line.

A widget never calls the student's functions directly. It calls them through a StudentCode, which
remembers, frame by frame, which were still unfinished (NotImplementedError) and which raised, and
writes the status line that names exactly those. "Implement X above" is written here and nowhere else.
"""
import html

SHORT = 300  # characters of an error message shown in the status line


class StudentProblem(Exception):
    """One of the student's functions is unfinished or failed (the StudentCode's `problems` say which)."""

    def __init__(self, problems):
        super().__init__(", ".join(problems))
        self.problems = problems


class StudentCode:
    """The student's functions by name: calls them, records which are unfinished or raised, writes the status.

    In a widget (report=True) a failure is recorded and raised as a StudentProblem, which the widget may
    catch to draw the rest; in a demo cell (report=False) the student's own exception passes through
    unchanged (a NotImplementedError stays one), after being recorded.
    """

    def __init__(self, report=True, **functions):
        self.functions = {name: f for name, f in functions.items() if f is not None}
        self.report, self.problems, self.last = report, {}, None

    @classmethod
    def of(cls, functions):
        """A StudentCode for a dict {name: function}, one function (named after itself) or None."""
        if isinstance(functions, cls):
            return functions
        if functions is None:
            return cls()
        if callable(functions):
            return cls(**{getattr(functions, "__name__", "function"): functions})
        return cls(**functions)

    def __contains__(self, name):
        return name in self.functions

    def __getattr__(self, name):
        """code.sigmoid(z) is code.call("sigmoid", z)."""
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return self.caller(name)
        raise AttributeError(name)

    def __getitem__(self, name):
        """code["sigmoid"] is a plain function calling sigmoid through this boundary."""
        return self.caller(name)

    def __call__(self, name, *args, **kwargs):
        return self.call(name, *args, **kwargs)

    def call(self, name, *args, **kwargs):
        """The named function's result; a failure is recorded under its name and raised."""
        self.last = name
        try:
            return self.functions[name](*args, **kwargs)
        except Exception as error:  # the student's code may fail in any way: record it, stop this computation
            self.fail(name, error)

    def optional(self, name, *args):
        """The named function's result, or None while it is unfinished (an optional extra, not reported)."""
        try:
            return self.call(name, *args)
        except StudentProblem as problem:
            if not isinstance(problem.problems.get(name), NotImplementedError):
                raise
            del self.problems[name]
            return None

    def caller(self, name):
        """A plain function that calls the named one through this boundary."""
        def call(*args, **kwargs):
            return self.call(name, *args, **kwargs)
        call.__name__ = self.label(name)
        return call

    def fail(self, name, error):
        """Record that the named function failed with error, then raise (a StudentProblem when reporting)."""
        self.problems.setdefault(name, error)
        if not self.report:
            raise error
        raise StudentProblem(self.problems) from error

    def check(self, name, ok, message):
        """Record a ValueError(message) against the named function unless ok (its result had the wrong form)."""
        if not ok:
            self.fail(name, ValueError(message))

    def pairs(self, name, value, count, what):
        """value, checked to be a sequence of `count` items (what describes them), else a recorded problem."""
        length = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
        self.check(name, isinstance(value, (tuple, list)) and len(value) == count,
                   f"{name} should return {what}, got {type(value).__name__}{length}")
        return value

    def probe(self, calls):
        """Call each function once on small inputs {name: args}, so that all unfinished ones are named at once."""
        for name, args in calls.items():
            try:
                self.functions[name](*args)
            except Exception as error:  # noqa: BLE001 - any failure of the student's code is reported
                self.problems.setdefault(name, error)
        if self.problems:
            raise StudentProblem(self.problems)

    def begin(self):
        """Forget the last frame's failures: the status line speaks of the current frame only."""
        self.problems, self.last = {}, None

    def blame(self, error, fallback):
        """Record an error raised outside the student's functions (mostly by what one of them returned).

        It is put on the function called last in this frame, else on the only function, else on `fallback`.
        """
        if isinstance(error, StudentProblem):
            return
        name = self.last or (next(iter(self.functions)) if len(self.functions) == 1 else fallback)
        self.problems.setdefault(name, error)

    @property
    def error(self):
        """The first failure of this frame (None when everything ran)."""
        return next(iter(self.problems.values()), None)

    def label(self, name):
        """How the status line names a function: its own name when it has one, else the name it was given."""
        own = getattr(self.functions.get(name), "__name__", "")
        return own if own.isidentifier() else name

    def status(self):
        """The HTML status line: what raised, then what is still unfinished ('' when everything ran)."""
        unfinished = [name for name, error in self.problems.items() if isinstance(error, NotImplementedError)]
        lines = [f"<b><code>{html.escape(self.label(name))}</code> raised {type(error).__name__}:</b> "
                 f"{html.escape(short(error))}"
                 for name, error in self.problems.items() if name not in unfinished]
        if unfinished:
            names = ", ".join(f"<code>{html.escape(label)}</code>" for label in dict.fromkeys(map(self.label, unfinished)))
            lines.append(f"<b>Implement {names} above, then re-run this cell to bring the plot to life.</b>")
        return "<br>".join(lines)


def short(error):
    """The error's message, cut to SHORT characters."""
    text = str(error)
    return text if len(text) <= SHORT else text[:SHORT - 1] + "…"
