"""Take an answer's value out of the kernel (the code of the grader's capture cells).

During grading, each exercise's check cell is replaced by a capture cell,
``__klcourse_capture__("ch1-die-bits", lambda: answer)``, which shows the answer's
*value* as a display output of type ``application/vnd.klcourse.answer+json``: numbers,
arrays and containers in `klcourse.instructor.values`' JSON format, a function pickled by
value with cloudpickle (to be called later in a fresh sandboxed process, never unpickled
by the grader), or the error that evaluating the answer raised. The grader judges the
value with the trusted checkers; nothing here decides a verdict.
"""

import base64

if __package__:
    from klcourse.instructor import values
else:  # loaded by path by the grader's first cell: no `klcourse` (and TensorFlow) import
    import values

__all__ = ["capture", "ANSWER_MIME", "MAX_PICKLE"]

ANSWER_MIME = "application/vnd.klcourse.answer+json"
MAX_PICKLE = 16 * 2**20


def _payload(get):
    try:
        value = get()
    except BaseException as error:  # noqa: BLE001  (NameError if the cell never ran, ...)
        return {"error": f"{type(error).__name__}: {error}"[:300]}
    if callable(value) and not isinstance(value, type):
        try:
            import cloudpickle

            data = cloudpickle.dumps(value)
        except BaseException as error:  # noqa: BLE001
            return {"error": f"your function could not be saved: {type(error).__name__}"}
        if len(data) > MAX_PICKLE:
            return {"error": "your function refers to too much data to be saved"}
        return {"callable": base64.b64encode(data).decode("ascii")}
    return {"value": values.encode(value)}


def capture(exercise_id, get):
    """Show the value of ``get()`` for exercise ``exercise_id`` as a grading output."""
    from IPython.display import display

    display({ANSWER_MIME: {"id": exercise_id, "payload": _payload(get)}}, raw=True)
