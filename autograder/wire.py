"""Plain data on the wire between the tester and the student's process: JSON with tagged arrays, nothing else.

Both sides run this file (the student's copy may be tampered with, so the tester trusts only what its own
decoder builds): None, bool, int, float, complex, str, bytes, NumPy (and JAX) arrays and scalars of
bool/int/uint/float/complex dtype, and lists, tuples and str-keyed dicts of those. Callables and objects that must keep
their identity travel as references the caller resolves (`refer`/`resolve`). Keras models of the course's
layer kinds travel as a description and are rebuilt (see keras_codec below). Stdlib and NumPy only.
"""
import base64
import json

import numpy as np

KINDS = "biufc"
MAX_DEPTH = 40
MAX_ITEMS = 2_000_000
MAX_ARRAY_BYTES = 64 * 1024 * 1024


class NotPlainData(TypeError):
    """A value that may not cross between the tester and the student's code."""


def describe(value):
    """The short type name used in messages."""
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def encode(value, refer=None, depth=0, budget=None):
    """value as JSON-able data; refer(value) may return a reference dict for values that stay at home."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH or budget[0] < 0:
        raise NotPlainData("the value is nested too deeply or has too many parts")
    if refer is not None:
        reference = refer(value)
        if reference is not None:
            return reference
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**53 else {"$int": str(value)}
    if kind is float:
        return value if value == value and abs(value) != float("inf") else {"$float": repr(value)}
    if kind is complex:
        return {"$complex": [repr(value.real), repr(value.imag)]}
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode()}
    if kind in (list, tuple):
        items = [encode(item, refer, depth + 1, budget) for item in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise NotPlainData("dictionary keys must be strings")
        return {"$dict": [[key, encode(item, refer, depth + 1, budget)] for key, item in value.items()]}
    if kind is np.ndarray or isinstance(value, np.generic):
        return encode_array(value)
    if kind.__module__.startswith(("jax", "jaxlib")) and hasattr(value, "dtype") and hasattr(value, "__array__"):
        return {"$jax": encode_array(np.asarray(value))["$array"]}
    raise NotPlainData(f"a {describe(value)} is not plain data (numbers, strings, NumPy arrays, lists, tuples, dicts)")


def encode_array(value):
    """A NumPy array or scalar of a plain dtype."""
    dtype = value.dtype
    if dtype.kind not in KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise NotPlainData(f"NumPy values of dtype {dtype} are not plain data")
    if value.nbytes > MAX_ARRAY_BYTES:
        raise NotPlainData(f"an array of {value.nbytes // 1024**2} MB is too large")
    data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()
    tag = "$array" if type(value) is np.ndarray else "$scalar"
    return {tag: [dtype.str, list(value.shape), data]}


def decode(data, resolve=None, depth=0):
    """Build plain Python/NumPy values from encoded data; resolve(tag, payload) handles references."""
    if depth > MAX_DEPTH:
        raise NotPlainData("the value is nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, str, float):
        return data
    if kind is int:
        return data
    if kind is list:
        return [decode(item, resolve, depth + 1) for item in data]
    if kind is not dict or len(data) != 1:
        raise NotPlainData("malformed data")
    (tag, payload), = data.items()
    if tag == "$tuple":
        return tuple(decode(item, resolve, depth + 1) for item in expect(payload, list))
    if tag == "$dict":
        pairs = expect(payload, list)
        return {expect(expect(pair, list)[0], str): decode(pair[1], resolve, depth + 1) for pair in pairs}
    if tag == "$int":
        return int(expect(payload, str))
    if tag == "$float":
        return float(expect(payload, str))
    if tag == "$complex":
        real, imag = expect(payload, list)
        return complex(float(expect(real, str)), float(expect(imag, str)))
    if tag == "$bytes":
        return base64.b64decode(expect(payload, str))
    if tag in ("$array", "$scalar"):
        return decode_array(tag, payload)
    if tag == "$jax":
        import jax.numpy

        return jax.numpy.asarray(decode_array("$array", payload))
    if resolve is not None:
        return resolve(tag, payload)
    raise NotPlainData(f"unexpected {tag}")


def decode_array(tag, payload):
    """An array (a fresh, writable copy) or NumPy scalar from its tagged form."""
    dtype_text, shape, data = expect(payload, list)
    dtype = np.dtype(expect(dtype_text, str))
    if dtype.kind not in KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise NotPlainData(f"dtype {dtype} is not allowed")
    shape = tuple(int(expect(n, int)) for n in expect(shape, list))
    raw = base64.b64decode(expect(data, str))
    if any(n < 0 for n in shape) or len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise NotPlainData("array data does not match its shape")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return array if tag == "$array" else array[()]


def expect(value, kind):
    """value when it has exactly this type, else NotPlainData."""
    if type(value) is not kind:
        raise NotPlainData("malformed data")
    return value


def dumps(message):
    """One protocol message as a JSON text line."""
    return json.dumps(message, separators=(",", ":"))


def loads(text):
    """Parse one protocol message; anything but a JSON object is NotPlainData."""
    try:
        message = json.loads(text)
    except (TypeError, ValueError, RecursionError) as error:
        raise NotPlainData(f"malformed message ({type(error).__name__})") from None
    if type(message) is not dict:
        raise NotPlainData("malformed message")
    return message


def write_back(target, data):
    """Copy a decoded after-call value into target in place (arrays and lists), so argument mutations show."""
    if type(target) is np.ndarray and type(data) is np.ndarray:
        if target.shape == data.shape and target.flags.writeable:
            np.copyto(target, data, casting="unsafe")
    elif type(target) is list and type(data) is list:
        if len(target) == len(data):
            for index, (old, new) in enumerate(zip(target, data)):
                if type(old) in (np.ndarray, list, tuple, dict):
                    write_back(old, new)
                else:
                    target[index] = new
        else:
            target[:] = data
    elif type(target) is tuple and type(data) is tuple and len(target) == len(data):
        for old, new in zip(target, data):
            write_back(old, new)
    elif type(target) is dict and type(data) is dict:
        for key, new in data.items():
            if key in target and type(target[key]) in (np.ndarray, list, tuple, dict):
                write_back(target[key], new)
            else:
                target[key] = new
