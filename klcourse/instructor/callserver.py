"""Call a submission's functions inside the sandbox, for checkers that run outside it.

An exercise whose answer is a function (``my_kl``) is judged by its trusted checker in
the grader's own process, which calls a stand-in (`klcourse.instructor.grading`'s
``SandboxedFunction``). Each call comes here, to a sandboxed process started from the
course package and not from the submission's kernel: it loads the
function (pickled by value when its capture cell ran), calls it with the checker's
arguments, and sends back only the *return value*, in `klcourse.instructor.values`' JSON
format, or the name and message of the exception it raised.

One server serves one notebook: it is started on the first call and reused for every
call of that notebook's functions (a function that never returns ends it; the next call
starts a new one).

The shortcut checks of `klcourse.exercises._shortcuts` work here as in the notebook: on
load, the server answers with the function's ``code_summary`` (computed from the real
code object, which only exists here), and a call carries the targets that the checker's
``forbidding`` blocks name, patched here, in this process, for the call's duration.
A call also sends back the values of the ``trainable_variables`` of its arguments (a
fit loop trains the ``q`` it is given), which the grader copies into its own arguments.

Protocol, one JSON object per line. In: ``{"op": "load", "id": ..., "pickle": base64}``
and ``{"op": "call", "id": ..., "args": base64 cloudpickle of (args, kwargs), "forbid":
[[targets, message], ...]}`` (arguments come from the trusted checker, so unpickling
them here is safe). Out: ``{"ok": true, "value": summary}`` (load), ``{"ok": true,
"value": ..., "variables": {"0": [...], "q": [...]}}`` (call), ``{"ok": false,
"shortcut": message}`` or ``{"ok": false, "error": "TypeError: ..."}``.
A function that never returns is stopped by the grader, which kills the sandbox.
"""

import argparse
import base64
import contextlib
import importlib.util
import json
import os
import pathlib
import pickle
import sys

if __package__:
    from klcourse.instructor import sandbox, values
else:  # run by path inside the sandbox
    import sandbox
    import values


def _shortcuts():
    """`klcourse.exercises._shortcuts`, loaded by path (no `klcourse`, TensorFlow, import)."""
    path = pathlib.Path(__file__).resolve().parents[1] / "exercises" / "_shortcuts.py"
    spec = importlib.util.spec_from_file_location("klcourse_shortcuts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _variables(call_args, call_kwargs):
    """The values of the arguments' ``trainable_variables`` after a call (by position, name)."""
    out = {}
    for key, value in [*enumerate(call_args), *call_kwargs.items()]:
        try:
            variables = list(getattr(value, "trainable_variables", None) or [])
            if variables:
                out[str(key)] = [values.encode(v.numpy()) for v in variables]
        except Exception:  # noqa: BLE001  (the function may have broken its argument)
            pass
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sandbox.add_limit_arguments(parser)
    args = parser.parse_args(argv)
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what the functions print goes nowhere
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    sandbox.make_undumpable()
    sandbox.apply_limits(args)
    shortcuts = _shortcuts()
    functions = {}
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if request["op"] == "load":
                function = pickle.loads(base64.b64decode(request["pickle"]))
                functions[request["id"]] = function
                reply = {"ok": True, "value": values.encode(shortcuts.code_summary(function))}
            else:
                call_args, call_kwargs = pickle.loads(base64.b64decode(request["args"]))
                with contextlib.ExitStack() as stack:
                    for targets, message in request.get("forbid", []):
                        stack.enter_context(shortcuts.patched(targets, message))
                    result = functions[request["id"]](*call_args, **call_kwargs)
                reply = {
                    "ok": True,
                    "value": values.encode(result),
                    "variables": _variables(call_args, call_kwargs),
                }
        except shortcuts.Shortcut as shortcut:
            reply = {"ok": False, "shortcut": str(shortcut)[:300]}
        except BaseException as error:  # noqa: BLE001  (the function may raise anything)
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
        channel.write(json.dumps(reply) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
