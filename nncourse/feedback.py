"""Checks for visible tests: every failure says what was expected, what came back and the likely mistake.

A failed check raises AssertionError. An answer that is still missing raises NotImplementedError,
so an unfinished exercise always reads as unfinished rather than wrong.
"""
import numpy as np

UNANSWERED = "Not implemented yet: {name} is still unanswered. Set it in the exercise cell above, then re-run this test."


def show(value, precision=4):
    """A short, readable rendering of a number, array or other value for a message."""
    if isinstance(value, (np.ndarray, list, tuple)) and not isinstance(value, str):
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return repr(value)
        with np.printoptions(precision=precision, suppress=True, threshold=12, edgeitems=3):
            text = np.array2string(array, separator=", ")
        return f"{text} (shape {array.shape})" if array.ndim > 0 else text
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{precision}g}"
    return repr(value)


def fail(label, expected, got, hint=None):
    """Raise the course's standard AssertionError for `label`."""
    message = f"{label}\n  expected: {show(expected)}\n  got:      {show(got)}"
    if hint:
        message += f"\n  hint:     {hint}"
    raise AssertionError(message)


def require(name, value):
    """Raise NotImplementedError when an answer variable is still None."""
    if value is None:
        raise NotImplementedError(UNANSWERED.format(name=name))
    return value


def call(function, *args, label=None, **kwargs):
    """Call the student's function; unfinished stays NotImplementedError, any other crash becomes feedback."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:
        name = label or f"{getattr(function, '__name__', 'your function')}(...)"
        raise AssertionError(f"{name} raised {type(error).__name__}: {error}") from error


def as_array(label, got):
    """Convert a returned value to a float array, or fail saying what type came back."""
    if got is None:
        raise AssertionError(f"{label} returned None.\n  hint:     did you forget the return statement?")
    try:
        return np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{label} returned {type(got).__name__}, which is not a number or array.") from None


def matches(got, value, rtol, atol):
    """True when got has value's shape (after broadcasting checks) and is numerically close to it."""
    value = np.asarray(value, dtype=float)
    return got.shape == value.shape and np.allclose(got, value, rtol=rtol, atol=atol, equal_nan=True)


def diagnose(got, mistakes, rtol, atol):
    """The description of the first known mistake whose result equals got, or None."""
    for description, value in (mistakes or {}).items():
        try:
            if matches(got, value, rtol, atol):
                return description
        except (TypeError, ValueError):
            continue
    return None


def check_close(label, got, expected, hint=None, mistakes=None, rtol=1e-6, atol=1e-8):
    """Check that got is numerically close to expected, with the same shape.

    mistakes maps a description of a typical error to the value that error produces; when the
    student's result equals one of them, that description becomes the hint.
    """
    array, expected = as_array(label, got), np.asarray(expected, dtype=float)
    if array.shape != expected.shape:
        fail(f"{label}: wrong shape, expected {expected.shape} but got {array.shape}", expected, got,
             diagnose(array, mistakes, rtol, atol) or hint)
    if not np.all(np.isfinite(array)) and np.all(np.isfinite(expected)):
        fail(f"{label}: result contains nan or inf", expected, got, hint or "look for overflow or a division by zero")
    if not np.allclose(array, expected, rtol=rtol, atol=atol):
        fail(f"{label}: wrong value", expected, got, diagnose(array, mistakes, rtol, atol) or hint)


def check_equal(label, got, expected, hint=None, mistakes=None):
    """Check exact equality (integers, labels, strings, tuples)."""
    same = np.array_equal(np.asarray(got), np.asarray(expected)) if not isinstance(expected, str) else got == expected
    if not same:
        known = next((d for d, v in (mistakes or {}).items() if np.array_equal(np.asarray(got), np.asarray(v))), None)
        fail(f"{label}: wrong value", expected, got, known or hint)


def check_shape(label, got, shape, hint=None):
    """Check that got is an array-like of exactly this shape."""
    array = as_array(label, got)
    if array.shape != tuple(shape):
        raise AssertionError(f"{label}: wrong shape\n  expected: {tuple(shape)}\n  got:      {array.shape}"
                             + (f"\n  hint:     {hint}" if hint else ""))


def check_dtype(label, got, kind="f", hint=None):
    """Check the numpy dtype kind of got: 'f' float, 'i' signed int, 'u' unsigned, 'b' bool."""
    actual = np.asarray(got).dtype
    if actual.kind != kind:
        names = {"f": "floating point", "i": "integer", "u": "unsigned integer", "b": "boolean"}
        raise AssertionError(f"{label}: expected {names.get(kind, kind)} values, got dtype {actual}"
                             + (f"\n  hint:     {hint}" if hint else ""))


def check_true(condition, message):
    """Fail with message unless condition holds."""
    if not condition:
        raise AssertionError(message)


def check_choice(name, answer, options="abcd"):
    """Check a multiple-choice answer is given and is one of the options (not whether it is right)."""
    require(name, answer)
    if not isinstance(answer, str) or answer.strip().lower() not in options:
        listed = ", ".join(repr(o) for o in options)
        raise AssertionError(f"{name} should be one of {listed}, got {answer!r}.")
    return answer.strip().lower()


def try_it(function, *args):
    """Print function(*args), or a friendly note while the function is not implemented yet (returns None)."""
    name = getattr(function, "__name__", "the function")
    try:
        result = function(*args)
    except NotImplementedError:
        print(f"Implement {name} above, then re-run this cell to see its output.")
        return
    print(f"{name} returned {show(result)}")
