"""Grading a class: sandboxed, bounded in time, with verdicts a submission cannot forge.

How one notebook is graded (`grade_notebook`):

1. **The check cells are restored.** Each exercise's check cell is found in the
   submission (by its nbgrader ``grade_id``, its ``kc.check.exercise("id", ...)`` call or
   its cell id; if the student deleted it, after the exercise's solution cell) and
   replaced by a *capture cell* that reads the checked expression of the course's own
   chapter (``answer``, ``my_kl``), whatever the student wrote there.
2. **The notebook runs in a sandbox** (`klcourse.instructor.sandbox`, bubblewrap: no
   network, read-only system, nothing of the course but the ``klcourse`` package, limits
   on memory, processes, CPU and disk), fed on standard input to
   `klcourse.instructor.runner`, which streams each capture cell's output as it comes.
   At the notebook time limit the sandbox is killed with everything in it.
3. **Only values come out.** A capture sends the answer's *value* in a JSON format
   (`klcourse.instructor.values`) that the grader decodes without running code; a
   function is sent pickled, as opaque bytes the grader never unpickles.
4. **Verdicts are computed here, outside the sandbox**, by the trusted checkers of
   `klcourse.exercises`, in the grader's own process. For a function, the checker gets a
   `SandboxedFunction` stand-in: its calls are carried out by
   `klcourse.instructor.callserver`, one sandboxed server per notebook started from the
   course package (not from the student's kernel), and only the return value comes
   back (with the values of the arguments' trainable variables, copied into ours).
   Shortcut checks work as in the notebook: the server reports what the function's
   code refers to, and the library functions a checker forbids are patched there,
   for that call, never in this process (`klcourse.exercises._shortcuts`). So
   nothing a submission prints, patches
   (``kc.check``, ``np.allclose``, IPython hooks), places beside the notebook or writes
   into any pipe can change a verdict: at most it can choose the values that it hands
   in, which is what answering is.

`grade` does this for a folder ``submissions/<student>/<chapter>.ipynb`` against an
assignment (the chapters given), writing each notebook's record as soon as it is graded
(so ``resume`` continues an interrupted run), then ``grades.csv``, ``summary.md``, one
feedback file per student and a ``written.csv`` for the marks of written exercises.
"""

import concurrent.futures
import csv
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import threading
import time

from klcourse.instructor import course, sandbox, values

__all__ = ["Options", "grade_notebook", "grade", "SandboxedFunction", "VERDICTS"]

GRADER_VERSION = 2  # part of each record's key: records of another version are not resumed
MAX_NOTEBOOK_BYTES = 64 * 2**20
# The grader's first cell: the capture function, loaded by path so that it does not
# import `klcourse` (a submission that never imports it runs without TensorFlow).
CAPTURE_IMPORT = (
    f"import sys\nsys.path.insert(0, {str(pathlib.Path(__file__).resolve().parent)!r})\n"
    "from capture import capture as __klcourse_capture__\n"
    "del sys.path[0], sys"
)
VERDICTS = ("correct", "wrong", "not answered", "could not run")
COPY_PREFIX = re.compile(r"^(copy of\s+)+", re.I)
DOWNLOAD_SUFFIX = re.compile(r"\s*(\(\d+\)|-\d+|_\d+)$")


@dataclasses.dataclass(frozen=True)
class Options:
    """Time limits (seconds) and resource limits of grading one notebook."""

    cell_timeout: int = 60
    notebook_timeout: int = 600
    call_timeout: int = 30
    limits: sandbox.Limits = sandbox.Limits()

    def key(self):
        return f"v{GRADER_VERSION}:{self.cell_timeout}:{self.notebook_timeout}:{self.call_timeout}"


def _clean(text, size=300):
    """A submission's text made safe for one CSV or Markdown table cell."""
    text = re.sub(r"[\x00-\x1f\x7f|`<>]+", " ", str(text))
    return text[:size].strip()


# ------------------------------------------------------------------ preparing
def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def prepare(submission, exercises):
    """The submission with a capture cell in place of each exercise's check cell.

    Args:
      submission: ``nbformat.NotebookNode`` (modified copy returned).
      exercises: the chapter's `course.Exercise` list (from the course's own notebook).

    Returns:
      ``(notebook, notes)``: the notebook to run and a list of remarks (deleted
      check cells restored, ...).
    """
    import copy

    import nbformat

    notebook = copy.deepcopy(submission)
    notes, replace, insert_after = [], {}, {}
    for exercise in (e for e in exercises if e.kind == "auto"):
        capture = f'__klcourse_capture__("{exercise.id}", lambda: {exercise.expression})'
        found = None
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or index in replace:
                continue
            call = course.check_call(cell.source)
            if (
                _grade_id(cell) == f"{exercise.id}-check"
                or (call and call[0] == exercise.id)
                or (exercise.cell_id and cell.get("id") == exercise.cell_id)
            ):
                found = index
                break
        if found is not None:
            replace[found] = capture
            continue
        anchor = None
        for index, cell in enumerate(notebook.cells):
            if _grade_id(cell) == f"{exercise.id}-code" or (
                exercise.solution_cell_id and cell.get("id") == exercise.solution_cell_id
            ):
                anchor = index
        if anchor is None:
            notes.append(
                f"{exercise.id}: its check cell and its solution cell are missing; "
                "the answer was taken at the end of the notebook"
            )
            anchor = len(notebook.cells) - 1
        else:
            notes.append(f"{exercise.id}: its check cell was deleted; it was restored")
        insert_after.setdefault(anchor, []).append(capture)
    for index, source in replace.items():
        notebook.cells[index] = nbformat.v4.new_code_cell(source)
    for index in sorted(insert_after, reverse=True):
        for source in reversed(insert_after[index]):
            notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    notebook.cells.insert(0, nbformat.v4.new_code_cell(CAPTURE_IMPORT))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook, notes


def written_answers(submission, exercises):
    """``{label: text}`` of the written-answer cells in a submission."""
    found = {}
    for exercise in (e for e in exercises if e.kind == "written"):
        for cell in submission.cells:
            meta = cell.get("metadata", {})
            if (
                meta.get("klcourse", {}).get("exercise") == exercise.id
                or _grade_id(cell) == f"{exercise.id}-answer"
                or (exercise.cell_id and cell.get("id") == exercise.cell_id)
            ):
                found[exercise.id] = str(cell.source)[:20_000]
    return found


# ------------------------------------------------------------------ functions
class FunctionTimeout(BaseException):  # noqa: N818
    """A submitted function did not return in time (or its sandbox ended).

    A ``BaseException``, so that a checker's ``except Exception`` (which turns what a
    student's function raises into a hint) lets it through: the verdict is then "could
    not run", not "wrong".
    """


class SubmissionError(Exception):
    """A submitted function raised; the message is its type and text."""


class CallServer:
    """A sandboxed `klcourse.instructor.callserver`, started on first use."""

    def __init__(self, box, options):
        self.box, self.options, self.run = box, options, None
        self.loaded, self.imported = {}, set()

    def _ask(self, request, timeout):
        """The server's reply to ``request``: ``dict`` (its ``ok`` checked)."""
        if self.run is None:
            self.run = sandbox.Run(self.box, "callserver.py", [])
            timeout += 120  # the server's start-up (Python, NumPy, the function's imports)
        self.run.send((json.dumps(request) + "\n").encode())
        deadline = time.monotonic() + timeout
        try:
            line = self.run.line(deadline)
        except TimeoutError:
            self.stop()
            raise FunctionTimeout(f"did not return within {self.options.call_timeout} s") from None
        if line is None:
            self.stop()
            raise FunctionTimeout("ended the process it ran in")
        try:
            reply = json.loads(line)
            if not reply.get("ok"):
                if "shortcut" in reply:
                    from klcourse.exercises._shortcuts import Shortcut

                    raise Shortcut(str(reply["shortcut"]))
                raise SubmissionError(_clean(reply.get("error", "an error"), 200))
            return reply
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            raise SubmissionError("returned something that is not a plain value") from None

    def load(self, exercise_id, data):
        """Load the function (once per server); its `_shortcuts.code_summary`."""
        if exercise_id not in self.loaded:
            reply = self._ask({"op": "load", "id": exercise_id, "pickle": data}, 60)
            try:
                summary = values.decode(reply.get("value"))
                summary = {
                    "names": [str(n) for n in summary["names"]],
                    "objects": {str(k): str(v) for k, v in dict(summary["objects"]).items()},
                }
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                summary = {"names": [], "objects": {}}
            self.loaded[exercise_id] = summary
        return self.loaded[exercise_id]

    def call(self, exercise_id, args, kwargs, forbid=()):
        """The function's return value; ``args``' trainable variables take the new values."""
        import base64

        import cloudpickle  # the checkers' arguments may hold lambdas (ch6's decoder)

        data = cloudpickle.dumps((args, kwargs))
        forbid = [[list(targets), message] for targets, message in forbid]
        modules = {t.partition(":")[0] for targets, _ in forbid for t in targets}
        timeout = self.options.call_timeout
        if modules - self.imported:  # importing TensorFlow Probability there takes a while
            timeout += 60
            self.imported |= modules
        request = {
            "op": "call",
            "id": exercise_id,
            "args": base64.b64encode(data).decode(),
            "forbid": forbid,
        }
        reply = self._ask(request, timeout)
        try:
            value = values.decode(reply["value"]) if "value" in reply else None
        except (ValueError, TypeError, RecursionError):
            raise SubmissionError("returned something that is not a plain value") from None
        _copy_variables(reply.get("variables"), args, kwargs)
        return value

    def stop(self):
        if self.run is not None:
            self.run.stop()
            self.run = None
            self.loaded, self.imported = {}, set()


def _copy_variables(reported, args, kwargs):
    """Assign the sandbox's values of the arguments' trainable variables to ours."""
    if not isinstance(reported, dict):
        return
    import numpy as np

    for key, items in reported.items():
        target = args[int(key)] if str(key).isdigit() and int(key) < len(args) else None
        target = kwargs.get(key, target) if not str(key).isdigit() else target
        ours = list(getattr(target, "trainable_variables", None) or [])
        if not isinstance(items, list) or len(items) != len(ours):
            continue
        for variable, item in zip(ours, items, strict=True):
            try:
                value = np.asarray(values.decode(item), dtype=variable.dtype.as_numpy_dtype)
                shape = tuple(variable.shape)
                if value.size == np.prod(shape, dtype=int):  # a pickled scalar comes back (1,)
                    variable.assign(value.reshape(shape))
            except (ValueError, TypeError, AttributeError, RecursionError):
                pass


class SandboxedFunction:
    """Stands in for a submitted function: each call runs it in the sandbox.

    ``code_summary()`` answers `klcourse.exercises._shortcuts.forbidden_calls` with what
    the real function's code refers to, and each call carries the targets of the
    checker's ``_shortcuts.forbidding`` blocks, patched in the call server (never here,
    where other notebooks' checkers run in other threads).
    """

    def __init__(self, server, exercise_id, data):
        self._server, self._id, self._data = server, exercise_id, data

    def code_summary(self):
        return self._server.load(self._id, self._data)

    def __call__(self, *args, **kwargs):
        from klcourse.exercises._shortcuts import active_targets

        self._server.load(self._id, self._data)
        return self._server.call(self._id, args, kwargs, active_targets())

    def __repr__(self):
        return f"<submitted function for {self._id}>"


# ------------------------------------------------------------------ one notebook
def _verdict(exercise, checker, payload, server, reached):
    """``(verdict, hint)`` for one auto-graded exercise."""
    if payload is None:
        return "could not run", reached or "its check cell was never reached"
    if "error" in payload:
        error = _clean(payload["error"], 200)
        if error.startswith("NameError"):
            return "not answered", f"`{exercise.expression}` is not defined ({error})"
        return "could not run", f"evaluating `{exercise.expression}` raised {error}"
    if "callable" in payload:
        answer = SandboxedFunction(server, exercise.id, payload["callable"])
    else:
        try:
            answer = values.decode(payload.get("value"))
        except (ValueError, TypeError, RecursionError, OverflowError):
            return "could not run", "the answer could not be read"
    if answer is None or answer is Ellipsis:
        return "not answered", "replace `...` with your answer"
    from klcourse.exercises import _shortcuts

    try:
        with _shortcuts.remote():
            hint = checker(answer)
    except FunctionTimeout as error:
        return "could not run", f"your function {error}"
    except SubmissionError as error:
        return "wrong", f"your function raised {error}"
    except Exception as error:  # noqa: BLE001  (an odd answer may upset a checker)
        return "wrong", f"checking your answer raised {type(error).__name__}: {_clean(error)}"
    if hint is None:
        return "correct", ""
    if str(hint).startswith("not answered"):
        return "not answered", _clean(hint)
    return "wrong", _clean(hint)


def _read_notebook(path):
    import nbformat

    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is too large ({size // 2**20} MiB)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001  (nbformat raises many kinds)
        raise ValueError(f"not valid notebook JSON ({type(error).__name__})") from None
    if not isinstance(notebook.get("cells"), list):
        raise ValueError("not valid notebook JSON (no cells)")
    return notebook, hashlib.sha256(data).hexdigest()


def grade_notebook(path, exercises, *, box, options=Options()):
    """Run one submitted notebook in the sandbox and judge its exercises.

    Args:
      path: the submitted ``.ipynb``.
      exercises: the chapter's `course.Exercise` list (from the course's own notebook).
      box: the `sandbox.Sandbox` to run it in.
      options: `Options`.

    Returns:
      ``dict`` record: ``exercises`` (id -> verdict, points, max, hint), ``written``
      (label -> the student's text), ``problems`` and ``seconds``.
    """
    from klcourse import check

    start = time.monotonic()
    path = pathlib.Path(path)
    checkers = {e.id: e.checker for e in check.exercises()}
    record = {"file": path.name, "exercises": {}, "written": {}, "problems": []}
    payloads, reached = {}, None
    try:
        submission, record["sha256"] = _read_notebook(path)
    except (ValueError, OSError) as error:
        record["problems"].append(str(error))
        submission = None
    if submission is not None:
        record["written"] = written_answers(submission, exercises)
        prepared, notes = prepare(submission, exercises)
        record["problems"] += notes
        payloads, reached, problems = _execute(prepared, box, options)
        record["problems"] += problems
    server = CallServer(box, options)
    try:
        for exercise in (e for e in exercises if e.kind == "auto"):
            verdict, hint = (
                _verdict(
                    exercise, checkers[exercise.id], payloads.get(exercise.id), server, reached
                )
                if submission is not None
                else ("could not run", "the notebook could not be read")
            )
            record["exercises"][exercise.id] = {
                "verdict": verdict,
                "points": exercise.points if verdict == "correct" else 0,
                "max": exercise.points,
                "hint": hint,
            }
    finally:
        server.stop()
    record["seconds"] = round(time.monotonic() - start, 1)
    return record


def _execute(prepared, box, options):
    """Run the prepared notebook; ``(payloads by id, why it stopped early, problems)``."""
    import nbformat

    payloads, problems, stopped = {}, [], None
    run = sandbox.Run(
        box,
        "runner.py",
        [f"--cell-timeout={options.cell_timeout}"],
        stdin=nbformat.writes(prepared).encode("utf-8"),
    )
    run.close_stdin()
    deadline = time.monotonic() + options.notebook_timeout
    done = False
    try:
        while True:
            try:
                line = run.line(deadline)
            except TimeoutError:
                stopped = (
                    f"the notebook was stopped at its time limit of {options.notebook_timeout} s"
                )
                problems.append(stopped)
                break
            if line is None:
                break
            try:
                event = json.loads(line)
                kind = event.get("event")
            except (ValueError, AttributeError, RecursionError):
                continue  # not ours: ignore
            cell = event.get("cell")
            where = f"cell {cell}" if isinstance(cell, int) else "a cell"
            if kind == "answer" and isinstance(event.get("payload"), dict):
                payloads[str(event.get("id"))] = event["payload"]
            elif kind == "error":
                problems.append(
                    f"{where} raised {_clean(event.get('ename'), 80)}: "
                    f"{_clean(event.get('evalue'), 160)}"
                )
            elif kind == "interrupted":
                problems.append(
                    f"{where} was stopped at the cell time limit of {options.cell_timeout} s"
                )
            elif kind == "stuck":
                stopped = f"{where} ran past the cell time limit and could not be interrupted"
                problems.append(stopped + "; the rest of the notebook did not run")
            elif kind == "died":
                stopped = f"the kernel died in {where} (a resource limit?)"
                problems.append(stopped)
            elif kind == "done":
                done = True
    finally:
        run.stop()
    if not done and stopped is None:
        stopped = "the run ended early"
        detail = _clean(run.stderr_tail(), 200)
        problems.append(stopped + (f" ({detail})" if detail else ""))
    return payloads, stopped, problems


# ------------------------------------------------------------------ a class
def _normalised(stem):
    stem = COPY_PREFIX.sub("", stem.strip())
    return DOWNLOAD_SUFFIX.sub("", stem).strip().lower()


def match_files(files, chapter_exercises):
    """Map a student's files to the assigned chapters.

    Args:
      files: ``list`` of ``pathlib.Path`` in the student's folder.
      chapter_exercises: ``dict`` chapter stem -> its `course.Exercise` list.

    Returns:
      ``(chosen, notes)``: chapter stem -> path, and remarks naming misnamed,
      duplicate and foreign files.
    """
    candidates, notes = {}, []
    for path in sorted(files):
        stem = path.stem if path.suffix.lower() == ".ipynb" else path.name
        if path.suffix.lower() == ".ipynb" and stem in chapter_exercises:
            candidates.setdefault(stem, []).append((0, path))
            continue
        by_name = [c for c in chapter_exercises if _normalised(stem) == c.lower()]
        if path.suffix.lower() == ".ipynb" and by_name:
            candidates.setdefault(by_name[0], []).append((1, path))
            continue
        by_content = _identify(path, chapter_exercises) if path.suffix.lower() == ".ipynb" else None
        if by_content:
            candidates.setdefault(by_content, []).append((2, path))
        else:
            notes.append(f"{path.name}: not a notebook of this assignment; not graded")
    chosen = {}
    for chapter, found in candidates.items():
        found.sort(key=lambda item: (item[0], -item[1].stat().st_mtime))
        rank, chosen[chapter] = found[0]
        if rank == 1:
            notes.append(f"{chosen[chapter].name}: misnamed; graded as {chapter}.ipynb")
        elif rank == 2:
            notes.append(
                f"{chosen[chapter].name}: misnamed; its exercises are {chapter}'s, graded as such"
            )
        for _, other in found[1:]:
            notes.append(
                f"{other.name}: another copy of {chapter}; not graded (graded {found[0][1].name})"
            )
    return chosen, notes


def _identify(path, chapter_exercises):
    try:
        text = path.read_bytes()[:MAX_NOTEBOOK_BYTES].decode("utf-8", errors="replace")
    except OSError:
        return None
    ids = set(re.findall(r"check\.exercise\(\s*\\?[\"']([\w-]+)", text))
    for chapter, exercises in chapter_exercises.items():
        if ids & {e.id for e in exercises if e.kind == "auto"}:
            return chapter
    return None


def assignment(root, chapters=None):
    """``{chapter stem: exercises}`` for the chapters given (names, stems or numbers).

    Raises:
      ValueError: if a chapter given is not in the course.
    """
    import nbformat

    available = {p.stem: p for p in course.chapters(root)}
    if chapters:
        chosen = []
        for name in chapters:
            name = pathlib.Path(str(name)).stem
            match = [s for s in available if s == name or course.chapter_number(s) == _int(name)]
            if not match:
                raise ValueError(
                    f"`chapters`: no chapter {name!r} in the course; have {', '.join(available)}"
                )
            chosen += match
    else:
        chosen = list(available)
    out = {}
    for stem in chosen:
        exercises = course.chapter_exercises(nbformat.read(available[stem], as_version=4))
        if exercises:
            out[stem] = exercises
    return out


def _int(text):
    return int(text) if str(text).isdigit() else None


def _file_digest(path):
    """A file's SHA-256, read in chunks, at most `MAX_NOTEBOOK_BYTES` (``None`` on error)."""
    try:
        digest, left = hashlib.sha256(), MAX_NOTEBOOK_BYTES + 1
        with open(path, "rb") as handle:
            while left > 0 and (chunk := handle.read(min(left, 2**20))):
                digest.update(chunk)
                left -= len(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def grade(
    submissions,
    out,
    *,
    root=".",
    chapters=None,
    options=Options(),
    jobs=None,
    resume=False,
    no_sandbox=False,
    progress=None,
):
    """Grade ``submissions/<student>/<chapter>.ipynb`` against an assignment.

    Writes, in ``out``: ``records/<student>/<chapter>.json`` as each notebook is
    graded; ``grades.csv`` (``student,score,max_score``, one column per exercise,
    ``problems``); ``summary.md``; ``feedback/<student>.md``; ``written/<student>.md``
    (the written answers, to mark) and ``written.csv`` (created once, for the marks of
    the written exercises, which later runs merge).

    Args:
      submissions: folder with one sub-folder per student.
      out: output folder.
      root: the course folder (its ``chapters/`` hold the original check cells).
      chapters: the assigned chapters (stems or numbers); default: all with exercises.
      options: `Options` (time and resource limits).
      jobs: notebooks graded at once (default: the number of CPUs).
      resume: reuse the records of notebooks already graded, unchanged, in ``out``.
      no_sandbox: run submissions without a sandbox, with your permissions.
      progress: optional ``callable(str)`` told about each notebook graded.

    Returns:
      ``list`` of ``dict`` rows, sorted by student.

    Raises:
      ValueError: if ``submissions`` is not a folder or a chapter is unknown.
      sandbox.SandboxUnavailable: if no sandbox can run here and ``no_sandbox`` is false.
    """
    submissions, out = pathlib.Path(submissions), pathlib.Path(out)
    if not submissions.is_dir():
        raise ValueError(f"`submissions` must be a folder of student folders; got {submissions}")
    plan = assignment(root, chapters)
    if not plan:
        raise ValueError("`chapters`: the assignment has no exercises")
    box = sandbox.find_sandbox(no_sandbox, options.limits)
    jobs = jobs or os.cpu_count() or 1
    box.threads = max(1, (os.cpu_count() or 1) // jobs)
    try:
        return _grade(submissions, out, plan, box, options, jobs, resume, no_sandbox, progress)
    finally:
        box.close()


def _grade(submissions, out, plan, box, options, jobs, resume, no_sandbox, progress):
    out.mkdir(parents=True, exist_ok=True)
    students = sorted(p for p in submissions.iterdir() if p.is_dir())
    loose = sorted(p.name for p in submissions.iterdir() if not p.is_dir())
    matched, tasks = {}, []
    for student in students:
        files, links = [], []
        for path in sorted(student.rglob("*")):
            if path.is_symlink():  # it could point at another student's work
                links.append(f"{path.name}: a symbolic link; not graded")
            elif path.is_file() and ".ipynb_checkpoints" not in path.parts:
                files.append(path)
        chosen, notes = match_files(files, plan)
        notes = links + notes
        matched[student.name] = (chosen, notes)
        tasks += [(student.name, chapter, path) for chapter, path in chosen.items()]
    key = options.key() + (":none" if no_sandbox else ":bwrap")
    records, lock = {}, threading.Lock()

    def run(task):
        name, chapter, path = task
        record_path = out / "records" / name / f"{chapter}.json"
        # a record is reused only for the same settings, submission and exercises
        exercises = hashlib.sha256(repr(plan[chapter]).encode()).hexdigest()[:16]
        chapter_key = f"{key}:{exercises}"
        digest = _file_digest(path)  # None if it cannot be read: grade_notebook says why
        if resume and digest and record_path.exists():
            try:
                old = json.loads(record_path.read_text())
                if old.get("key") == chapter_key and old.get("sha256") == digest:
                    return task, old
            except (ValueError, OSError):
                pass
        try:
            record = grade_notebook(path, plan[chapter], box=box, options=options)
        except Exception as error:  # noqa: BLE001  (one notebook never stops the class)
            record = {
                "file": path.name,
                "exercises": {},
                "written": {},
                "problems": [f"grading failed: {type(error).__name__}: {_clean(error)}"],
            }
        record.update(key=chapter_key, sha256=digest, chapter=chapter)
        _write_json(record_path, record)
        return task, record

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for (name, chapter, _), record in map(
            lambda f: f.result(),
            concurrent.futures.as_completed(pool.submit(run, t) for t in tasks),
        ):
            with lock:
                records[name, chapter] = record
            if progress:
                progress(f"{name}/{chapter}: {record.get('seconds', 0)} s")
    marks = _written_marks(out / "written.csv", plan, [s.name for s in students])
    rows = [
        _row(student.name, plan, records, matched[student.name][1], marks) for student in students
    ]
    _write_reports(out, rows, plan, records, loose, box, options)
    return rows


def _written_marks(path, plan, students):
    """The hand-filled marks of written exercises: ``{(student, label): points}``."""
    labels = [e.id for exercises in plan.values() for e in exercises if e.kind == "written"]
    marks = {}
    if not labels:
        return marks
    if not path.exists():
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["student", *labels])
            writer.writerows([[s] + [""] * len(labels) for s in students])
        return marks
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        listed = set()
        for row in reader:
            listed.add(row.get("student"))
            for label in labels:
                text = (row.get(label) or "").strip()
                if text:
                    marks[row.get("student"), label] = text
    new = [s for s in students if s not in listed]
    if new and header[:1] == ["student"]:  # students added since: a row each, to fill in
        ends_a_line = path.read_bytes().endswith(b"\n")
        with open(path, "a", newline="") as handle:
            handle.write("" if ends_a_line else "\r\n")
            csv.writer(handle).writerows([[s] + [""] * (len(header) - 1) for s in new])
    return marks


def _row(student, plan, records, notes, marks):
    row = {"student": student, "score": 0, "max_score": 0, "points": {}, "verdicts": {}}
    problems = list(notes)
    for chapter, exercises in plan.items():
        record = records.get((student, chapter))
        if record is None:
            problems.append(f"{chapter}.ipynb: missing")
        else:
            problems += [f"{chapter}: {_clean(p)}" for p in record["problems"]]
        for exercise in exercises:
            row["max_score"] += exercise.points
            if exercise.kind == "written":
                text = marks.get((student, exercise.id))
                if text is None:
                    row["points"][exercise.id] = ""
                    continue
                try:
                    points = float(text)
                    if not 0 <= points <= exercise.points:
                        raise ValueError
                except ValueError:
                    problems.append(
                        f"written.csv: {exercise.id} mark {text!r} is not a number "
                        f"from 0 to {exercise.points}; not counted"
                    )
                    row["points"][exercise.id] = ""
                    continue
                points = int(points) if points.is_integer() else points
                row["points"][exercise.id] = points
                row["score"] += points
                continue
            result = (record or {}).get("exercises", {}).get(exercise.id)
            if result is None:
                result = {
                    "verdict": "could not run" if record else "missing",
                    "points": 0,
                    "hint": "the notebook was not submitted" if not record else "not graded",
                }
            row["points"][exercise.id] = result["points"]
            row["verdicts"][exercise.id] = result
            row["score"] += result["points"]
    row["problems"] = problems
    return row


def _write_reports(out, rows, plan, records, loose, box, options):
    ids = [e.id for exercises in plan.values() for e in exercises]
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", *ids, "problems"])
        for row in rows:
            writer.writerow(
                [row["student"], row["score"], row["max_score"]]
                + [row["points"].get(i, "") for i in ids]
                + [" | ".join(row["problems"])]
            )
    for row in rows:
        _write_feedback(out / "feedback" / f"{row['student']}.md", row, plan)
        answers = [
            f"## {label}\n\n{text}\n"
            for (student, _), record in records.items()
            if student == row["student"]
            for label, text in record.get("written", {}).items()
        ]
        if answers:
            path = out / "written" / f"{row['student']}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# Written answers of {row['student']}\n\n" + "\n".join(answers))
    (out / "summary.md").write_text(_summary(rows, plan, records, loose, box, options))


def _write_feedback(path, row, plan):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Feedback for {row['student']}",
        "",
        f"Score: {row['score']} of {row['max_score']}.",
    ]
    for chapter, exercises in plan.items():
        lines += ["", f"## {chapter}", "", "| exercise | result | points | comment |"]
        lines += ["| --- | --- | ---: | --- |"]
        for exercise in exercises:
            if exercise.kind == "written":
                given = row["points"].get(exercise.id, "")
                result = "marked by hand" if given != "" else "not marked yet"
                lines.append(
                    f"| `{exercise.id}` (written) | {result} | {given or '–'}/{exercise.points} | |"
                )
            else:
                result = row["verdicts"][exercise.id]
                lines.append(
                    f"| `{exercise.id}` | {result['verdict']} "
                    f"| {result['points']}/{exercise.points}"
                    f" | {_clean(result.get('hint', ''))} |"
                )
    if row["problems"]:
        lines += ["", "## Problems found", ""] + [f"- {_clean(p, 400)}" for p in row["problems"]]
    path.write_text("\n".join(lines) + "\n")


def _summary(rows, plan, records, loose, box, options):
    lines = ["# Grading summary", ""]
    if box.kind == "none":
        lines += [
            "**Graded without a sandbox (`--no-sandbox`)**: submissions ran with your "
            "permissions, with network access and your files in reach.",
            "",
        ]
    else:
        limits = options.limits
        lines += [
            f"Sandbox: bubblewrap, no network, read-only system; per notebook "
            f"{options.notebook_timeout} s (cells {options.cell_timeout} s), "
            f"{limits.memory_mb} MiB per process, {limits.processes} processes, "
            f"{limits.disk_mb} MiB of disk.",
            "",
        ]
    lines += [f"{len(rows)} students graded; assignment: {', '.join(plan)}.", ""]
    auto_max = sum(e.points for ex in plan.values() for e in ex if e.kind == "auto")
    if rows:
        mean = sum(r["score"] for r in rows) / len(rows)
        lines += [f"Mean score: {mean:.1f} of {rows[0]['max_score']} points.", ""]
    lines += [
        "| exercise | points | " + " | ".join(VERDICTS) + " | missing |",
        "| --- | ---: | " + " | ".join("---:" for _ in VERDICTS) + " | ---: |",
    ]
    for exercises in plan.values():
        for exercise in exercises:
            if exercise.kind == "written":
                marked = sum(1 for r in rows if r["points"].get(exercise.id, "") != "")
                lines.append(
                    f"| `{exercise.id}` (written: marked {marked} of {len(rows)} in written.csv)"
                    f" | {exercise.points} | " + " | ".join("" for _ in VERDICTS) + " | |"
                )
                continue
            counts = [
                sum(1 for r in rows if r["verdicts"][exercise.id]["verdict"] == v)
                for v in (*VERDICTS, "missing")
            ]
            lines.append(
                f"| `{exercise.id}` | {exercise.points} | " + " | ".join(map(str, counts)) + " |"
            )
    seconds = [r["seconds"] for r in records.values() if "seconds" in r]
    if seconds:
        lines += [
            "",
            f"{len(seconds)} notebooks run, {sum(seconds) / len(seconds):.1f} s each on average "
            f"(auto-graded points available: {auto_max}).",
        ]
    flagged = [r for r in rows if r["problems"]]
    lines += ["", f"{len(flagged)} students with problems to look at:"]
    lines += [
        f"- **{r['student']}**: {'; '.join(_clean(p) for p in r['problems'])}" for r in flagged
    ]
    if loose:
        lines += ["", "Files outside any student folder (not graded): " + ", ".join(loose)]
    return "\n".join(lines) + "\n"
