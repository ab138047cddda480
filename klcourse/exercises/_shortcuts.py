"""Detect a library shortcut inside a student's function, for implement-it-yourself checks.

An exercise such as "write your own KL, without ``kl_discrete`` or ``rel_entr``" cannot
be checked by its values alone: the library call returns the very same numbers. So the
checker does two things, with one mechanism whether the function runs here (the
notebook) or in a grading sandbox:

* `forbidden_calls` looks at what the function's code refers to: the names and
  attributes it uses (``kc.kl_discrete``, ``scipy.special.rel_entr``), in nested
  functions, lambdas and comprehensions too, any global or closure variable bound to a
  forbidden function (``shortcut = kc.kl_discrete``), and helpers defined beside it.
  The facts come from `code_summary`; a grading stand-in for a sandboxed function
  (``klcourse.instructor.grading.SandboxedFunction``) has no code object here, so it
  answers ``code_summary()`` with the summary its call server computed, with this very
  function, from the real code object inside the sandbox.
* `forbidding` makes chosen library functions raise `Shortcut` while the student's
  function runs. In the notebook it patches them for the duration of the ``with``
  block; in the grader (`remote`) it patches nothing in the grader's process (its
  threads share it) and the stand-in sends the targets with each call, to be patched
  inside the call server for that call.

Both are heuristics for honest work, not defences: a determined student can hide a call
(``getattr``) from either. Verdicts still rest on the values the function returns.
"""

import contextlib
import contextvars
import importlib
import sys
import types

__all__ = [
    "forbidden_calls",
    "code_summary",
    "object_key",
    "Shortcut",
    "forbidding",
    "remote",
    "active_targets",
    "patched",
]

_ACTIVE = contextvars.ContextVar("klcourse_forbidden_targets", default=())
_REMOTE = contextvars.ContextVar("klcourse_remote_calls", default=False)


class Shortcut(Exception):  # noqa: N818  (a verdict, not an error)
    """A forbidden library function was called; the message is the checker's hint."""


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


def object_key(value):
    """A name for a function that is the same in every process (``None`` for non-callables).

    Examples:
      >>> import math
      >>> object_key(math.log)
      'builtins.builtin_function_or_method:math.log'
    """
    if isinstance(value, types.ModuleType | type) or not callable(value):
        return None
    try:
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", "")
        return f"{kind}:{getattr(value, '__module__', None)}.{name}"
    except Exception:  # noqa: BLE001  (an odd object's attributes may raise)
        return None


def code_summary(function, _seen=None):
    """What ``function``'s code refers to: ``{"names": [...], "objects": {key: name}}``.

    ``names`` are all global and attribute names its code (nested code included) uses;
    ``objects`` are the functions bound to its globals and closure, by `object_key`.
    Helper functions defined beside it (same module, e.g. the notebook) are included.
    Anything without a ``__code__`` has an empty summary.
    """
    if hasattr(function, "code_summary") and not isinstance(function, types.FunctionType):
        return function.code_summary()
    code = getattr(function, "__code__", None)
    seen = set() if _seen is None else _seen
    summary = {"names": set(), "objects": {}}
    if not isinstance(code, types.CodeType) or id(function) in seen:
        return {"names": [], "objects": {}}
    seen.add(id(function))
    for inner in _code_objects(code):
        summary["names"].update(inner.co_names)
    for value in _bound_values(function):
        key = object_key(value)
        if key is not None:
            summary["objects"][key] = str(getattr(value, "__name__", key))
        if isinstance(value, types.FunctionType) and value.__module__ == function.__module__:
            inner = code_summary(value, seen)
            summary["names"].update(inner["names"])
            summary["objects"].update(inner["objects"])
    return {"names": sorted(summary["names"]), "objects": summary["objects"]}


def forbidden_calls(function, names, objects=()):
    """The forbidden names that ``function``'s code uses, sorted (empty if none).

    Helper functions it calls that were defined beside it (same module, e.g. the
    notebook) are searched too.

    Args:
      function: a Python function, or a grading stand-in with ``code_summary()``
        (anything else is reported as clean: the caller's value checks still apply).
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
    try:
        summary = code_summary(function)
        used = set(summary["names"]) & set(names)
        keys = {object_key(o) for o in objects} - {None}
        used.update(str(name) for key, name in dict(summary["objects"]).items() if key in keys)
    except (TypeError, ValueError, KeyError, AttributeError):
        return []
    return sorted(used)


def _target(text):
    """``"tensorflow_probability:math.minimize"`` -> (owner object, attribute name)."""
    module, _, path = text.partition(":")
    owner = sys.modules.get(module) or importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, name


@contextlib.contextmanager
def patched(targets, message):
    """Make each target (``"module:attribute.path"``) raise `Shortcut` within the block.

    Used in this process by `forbidding` and inside a grading call server.
    """

    def refuse(*args, **kwargs):
        raise Shortcut(message)

    saved = []
    try:
        for text in targets:
            try:
                owner, name = _target(text)
                saved.append((owner, name, getattr(owner, name)))
            except (ImportError, AttributeError):  # not there: nothing can call it
                continue
            setattr(owner, name, refuse)
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


@contextlib.contextmanager
def forbidding(targets, message):
    """While the block runs, calling any of ``targets`` raises `Shortcut` (``message``).

    Args:
      targets: ``"module:attribute.path"`` strings, e.g. ``"klcourse.vi:cavi_linear_gaussian"``.
      message: the hint `Shortcut` carries.

    In the notebook the targets are patched in this process for the block's duration.
    Under `remote` (the grader) nothing is patched here: a sandboxed function's
    stand-in sends `active_targets` with each call, to be patched in its call server.

    Examples:
      >>> import math
      >>> with forbidding(["math:sqrt"], "no sqrt"):
      ...     try:
      ...         math.sqrt(4.0)
      ...     except Shortcut as error:
      ...         print(error)
      no sqrt
      >>> math.sqrt(4.0)
      2.0
    """
    token = _ACTIVE.set((*_ACTIVE.get(), (tuple(targets), str(message))))
    try:
        if _REMOTE.get():
            yield Shortcut
        else:
            with patched(targets, message):
                yield Shortcut
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def remote():
    """Checkers run in this block call their functions elsewhere: `forbidding` patches nothing.

    The grader runs every checker in it: its checkers run in several threads at once,
    and a patch here would hit another thread's reference computation.
    """
    token = _REMOTE.set(True)
    try:
        yield
    finally:
        _REMOTE.reset(token)


def active_targets():
    """The ``(targets, message)`` pairs of the `forbidding` blocks around this call."""
    return list(_ACTIVE.get())
