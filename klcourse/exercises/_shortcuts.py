"""Detect a library shortcut inside a student's function, for implement-it-yourself checks.

An exercise such as "write your own KL, without ``kl_discrete`` or ``rel_entr``" cannot
be checked by its values alone: the library call returns the very same numbers. So the
checker also looks at what the function's code refers to: the names and attributes it
uses (``kc.kl_discrete``, ``scipy.special.rel_entr``), in nested functions, lambdas and
comprehensions too, and any global or closure variable bound to a forbidden function
(``shortcut = kc.kl_discrete``).
"""

import types

__all__ = ["forbidden_calls"]


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _bound_values(function):
    names = set()
    for code in _code_objects(function.__code__):
        names.update(code.co_names)
    globals_ = getattr(function, "__globals__", {})
    values = [globals_[name] for name in names if name in globals_]
    for cell in function.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty closure cell
            pass
    return values


def forbidden_calls(function, names, objects=(), _seen=None):
    """The forbidden names that ``function``'s code uses, sorted (empty if none).

    Helper functions it calls that were defined beside it (same module, e.g. the
    notebook) are searched too.

    Args:
      function: a Python function (anything else is reported as clean: the caller's
        value checks still apply).
      names: attribute or global names the exercise forbids, e.g. ``{"rel_entr"}``.
      objects: the forbidden functions themselves, caught when bound to another name.

    Returns:
      ``list`` of ``str``.

    Examples:
      >>> import math
      >>> forbidden_calls(lambda x: math.log(x), {"log"})
      ['log']
      >>> forbidden_calls(lambda x: x + 1, {"log"})
      []
    """
    code = getattr(function, "__code__", None)
    seen = set() if _seen is None else _seen
    if code is None or id(function) in seen:
        return []
    seen.add(id(function))
    used = set()
    for inner in _code_objects(code):
        used.update(set(inner.co_names) & set(names))
    for value in _bound_values(function):
        if any(value is forbidden for forbidden in objects):
            used.add(getattr(value, "__name__", repr(value)))
        elif isinstance(value, types.FunctionType) and value.__module__ == function.__module__:
            used.update(forbidden_calls(value, names, objects, seen))
    return sorted(used)
