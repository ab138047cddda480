"""A safe format for the values that cross the sandbox wall: JSON, never pickle.

Inside the sandbox a submission's answer (a number, an array, a list...) is turned into
plain JSON by `encode`; the grader, outside, turns it back with `decode`, which accepts
only the forms below and builds NumPy arrays from raw bytes of an allowed dtype. Nothing
in the data can make the grader run code, so the grader never trusts more than the
*value* a submission produced. (The grader does pickle data it sends *into* the sandbox:
unpickling trusted data there is harmless.)

Forms: ``null``, booleans, numbers, strings; ``{"__float__": "nan"}`` for non-finite
floats; ``{"__complex__": [re, im]}``; ``{"__ellipsis__": true}`` (an unanswered stub);
``{"__list__": [...]}``, ``{"__tuple__": [...]}``, ``{"__dict__": [[key, value], ...]}``;
``{"__ndarray__": {"dtype": "<f8", "shape": [2, 3], "data": base64}}``; and
``{"__unrepresentable__": "TypeName"}`` for anything else.
"""

import base64
import json
import math

import numpy as np

__all__ = ["Unrepresentable", "encode", "decode", "dumps", "loads", "MAX_BYTES"]

MAX_BYTES = 32 * 2**20  # one encoded value
MAX_ELEMENTS = 4 * 10**6  # one array
MAX_DEPTH = 16
MAX_STRING = 10_000
_KINDS = "biufc"  # bool, signed, unsigned, float, complex


class Unrepresentable:
    """Stands for an answer the format cannot carry (a module, a distribution...)."""

    def __init__(self, type_name):
        self.type_name = str(type_name)[:100]

    def __repr__(self):
        return f"<{self.type_name} object>"


def _array(value):
    if value.dtype.kind not in _KINDS:
        raise TypeError(f"arrays of dtype {value.dtype} are not supported")
    if value.size > MAX_ELEMENTS:
        raise ValueError(f"array with {value.size} elements is too large")
    value = np.ascontiguousarray(value)
    return {
        "__ndarray__": {
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "data": base64.b64encode(value.tobytes()).decode("ascii"),
        }
    }


def encode(value, _depth=0):
    """A JSON-ready form of ``value`` (see the module docstring); never raises.

    Args:
      value: any Python object (a submission's answer, run inside the sandbox).
      _depth: internal: how deep inside containers this call is.

    Returns:
      ``None``, a ``bool``, number or ``str``, or a one-key ``dict`` of the forms in the
      module docstring; ``{"__unrepresentable__": "TypeName"}`` for anything else.

    Examples:
      >>> encode((1, float("nan"), ...))
      {'__tuple__': [1, {'__float__': 'nan'}, {'__ellipsis__': True}]}
      >>> encode(len)
      {'__unrepresentable__': 'builtin_function_or_method'}
    """
    try:
        if _depth > MAX_DEPTH:
            return {"__unrepresentable__": "nested too deeply"}
        if value is None or isinstance(value, bool | str):
            return value[:MAX_STRING] if isinstance(value, str) else value
        if value is Ellipsis:
            return {"__ellipsis__": True}
        if isinstance(value, int):
            return value if abs(value) < 2**63 else float(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": str(float(value))}
        if isinstance(value, complex):
            return {"__complex__": [encode(value.real), encode(value.imag)]}
        if isinstance(value, np.ndarray | np.generic):
            return _array(np.asarray(value))
        if isinstance(value, list | tuple):
            key = "__list__" if isinstance(value, list) else "__tuple__"
            return {key: [encode(item, _depth + 1) for item in value[:MAX_ELEMENTS]]}
        if isinstance(value, dict):
            return {
                "__dict__": [
                    [encode(k, _depth + 1), encode(v, _depth + 1)]
                    for k, v in list(value.items())[:10_000]
                ]
            }
        if hasattr(value, "__array__") and not callable(value):  # a tf.Tensor, say
            return _array(np.asarray(value))
    except Exception:  # noqa: BLE001  (a hostile __array__ may raise anything)
        pass
    return {"__unrepresentable__": type(value).__name__}


def decode(data, _depth=0):
    """The value ``encode`` described, from untrusted JSON data.

    Args:
      data: parsed JSON (``json.loads``'s result), from outside the grader's trust.
      _depth: internal: how deep inside containers this call is.

    Returns:
      The value: ``None``, a ``bool``, number, ``str``, ``Ellipsis``, ``list``,
      ``tuple``, ``dict``, ``numpy.ndarray`` (or NumPy scalar) or `Unrepresentable`.

    Raises:
      ValueError: if ``data`` is not one of the forms ``encode`` writes.

    Examples:
      >>> decode({"__tuple__": [1, {"__float__": "nan"}, {"__ellipsis__": True}]})
      (1, nan, Ellipsis)
      >>> decode({"__unrepresentable__": "module"})
      <module object>
      >>> decode({"__eval__": "1 + 1"})
      Traceback (most recent call last):
      ...
      ValueError: not a value written by klcourse.instructor.values.encode
    """
    if _depth > MAX_DEPTH + 1:
        raise ValueError("nested too deeply")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, dict) and len(data) == 1:
        ((key, item),) = data.items()
        if key == "__ellipsis__":
            return Ellipsis
        if key == "__float__" and item in ("nan", "inf", "-inf"):
            return float(item)
        if key == "__complex__" and isinstance(item, list) and len(item) == 2:
            return complex(*(float(decode(part, _depth + 1)) for part in item))
        if key in ("__list__", "__tuple__") and isinstance(item, list):
            items = [decode(part, _depth + 1) for part in item]
            return items if key == "__list__" else tuple(items)
        if key == "__dict__" and isinstance(item, list):
            out = {}
            for pair in item:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ValueError("malformed dict entry")
                k = decode(pair[0], _depth + 1)
                if not isinstance(k, str | int | float | bool | type(None) | tuple):
                    raise ValueError("unhashable dict key")
                out[k] = decode(pair[1], _depth + 1)
            return out
        if key == "__unrepresentable__" and isinstance(item, str):
            return Unrepresentable(item)
        if key == "__ndarray__" and isinstance(item, dict):
            return _decode_array(item)
    raise ValueError("not a value written by klcourse.instructor.values.encode")


def _decode_array(item):
    dtype = np.dtype(str(item.get("dtype")))
    if dtype.kind not in _KINDS or dtype.hasobject:
        raise ValueError(f"dtype {dtype} not allowed")
    shape = item.get("shape")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError("malformed shape")
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise ValueError("array too large")
    raw = base64.b64decode(str(item.get("data")), validate=True)
    if len(raw) != size * dtype.itemsize:
        raise ValueError("array data does not match its shape")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return array[()] if array.ndim == 0 else array


def dumps(value):
    """``encode`` then JSON text.

    Args:
      value: any Python object (see `encode`).

    Returns:
      ``str``: strict JSON (no ``NaN`` or ``Infinity`` literals).

    Examples:
      >>> dumps({"kl": float("inf")})
      '{"__dict__": [["kl", {"__float__": "inf"}]]}'
    """
    return json.dumps(encode(value), allow_nan=False)


def loads(text):
    """The value in ``text`` (from `dumps`), checked; raises ``ValueError`` if malformed.

    Args:
      text: JSON text written by `dumps` (untrusted: it comes out of the sandbox).

    Returns:
      The value, as `decode` returns it.

    Raises:
      ValueError: if ``text`` is too large, not JSON, or not a form `encode` writes.

    Examples:
      >>> import numpy as np
      >>> loads(dumps([np.arange(3.0), ..., float("inf")]))
      [array([0., 1., 2.]), Ellipsis, inf]
      >>> loads('{"__pickle__": "gASV..."}')
      Traceback (most recent call last):
      ...
      ValueError: not a value written by klcourse.instructor.values.encode
    """
    if len(text) > MAX_BYTES:
        raise ValueError("value too large")
    try:
        data = json.loads(text)
    except (RecursionError, json.JSONDecodeError) as error:
        raise ValueError(f"not valid JSON: {type(error).__name__}") from None
    try:
        return decode(data)
    except (RecursionError, TypeError, OverflowError) as error:
        raise ValueError(f"malformed value: {type(error).__name__}") from None
