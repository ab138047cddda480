"""Call a submission's functions inside the sandbox, for checkers that run outside it.

An exercise whose answer is a function (``my_kl``) is judged by its trusted checker in
the grader's own process, which calls a stand-in (`klcourse.instructor.grading`'s
``SandboxedFunction``). Each call comes here, to a fresh process in a fresh sandbox,
started from the course package and not from the submission's kernel: it loads the
function (pickled by value when its capture cell ran), calls it with the checker's
arguments, and sends back only the *return value*, in `klcourse.instructor.values`' JSON
format, or the name and message of the exception it raised.

Protocol, one JSON object per line. In: ``{"op": "load", "id": ..., "pickle": base64}``
and ``{"op": "call", "id": ..., "args": base64 pickle of (args, kwargs)}`` (arguments
come from the trusted checker, so unpickling them here is safe). Out: ``{"ok": true}``,
``{"ok": true, "value": ...}`` or ``{"ok": false, "error": "TypeError: ..."}``.
A function that never returns is stopped by the grader, which kills the sandbox.
"""

import argparse
import base64
import json
import os
import pickle
import sys

if __package__:
    from klcourse.instructor import sandbox, values
else:  # run by path inside the sandbox
    import sandbox
    import values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sandbox.add_limit_arguments(parser)
    args = parser.parse_args(argv)
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what the functions print goes nowhere
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    sandbox.make_undumpable()
    sandbox.apply_limits(args)
    functions = {}
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if request["op"] == "load":
                functions[request["id"]] = pickle.loads(base64.b64decode(request["pickle"]))
                reply = {"ok": True}
            else:
                call_args, call_kwargs = pickle.loads(base64.b64decode(request["args"]))
                result = functions[request["id"]](*call_args, **call_kwargs)
                reply = {"ok": True, "value": values.encode(result)}
        except BaseException as error:  # noqa: BLE001  (the function may raise anything)
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
        channel.write(json.dumps(reply) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
