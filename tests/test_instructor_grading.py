"""Grading a hostile class: fair verdicts, bounded time, nothing left behind or written outside.

The class hands in the small chapter of `conftest.tiny_chapter` (two code exercises worth
1 and 2 points, one written exercise worth 2), so each notebook runs in seconds.
"""

import copy
import csv
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import nbformat
import pytest

from klcourse import instructor
from klcourse.instructor import grading, sandbox, values

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="grading's sandbox is Linux's bubblewrap"
)
pytestmark = [pytestmark, pytest.mark.slow]  # tiers: `make unit` skips these

SLEEP = f"{400 + uuid.uuid4().int % 1000 / 1000:.3f}"  # a `sleep` we can find afterwards
# Cells of the honest tiny chapter take seconds (importing TensorFlow the most, about 10 s
# on a busy 2-core machine); three students loop until the cell limit stops them.
OPTIONS = instructor.Options(cell_timeout=25, notebook_timeout=120, call_timeout=10)
V4 = nbformat.v4


def with_cell(notebook, source, *, after=None, replace=None):
    """A copy of ``notebook`` with a code cell added after the cell containing ``after``
    (default: at the end), or with ``replace``'s cell source swapped for ``source``."""
    notebook = copy.deepcopy(notebook)
    if replace is not None:
        cell = next(c for c in notebook.cells if replace in c.source)
        cell.source = source
        return notebook
    index = len(notebook.cells) - 1
    if after is not None:
        index = next(i for i, c in enumerate(notebook.cells) if after in c.source)
    notebook.cells.insert(index + 1, V4.new_code_cell(source))
    return notebook


def hostile_class(folder, right, stub, escape_targets, port):
    """Write the class; returns ``{student: (auto-graded score, {exercise: verdict})}``."""
    die = 'exercise("ch1-die-bits"'
    wrong = with_cell(right, "answer = 1.0", after="BEGIN SOLUTION\nloaded")
    wrong = with_cell(wrong, "def my_kl(p, q):\n    return 0.0", after="def my_kl")
    escape = "\n".join(
        [
            "import glob, os, socket",
            "found = []",
            "for path in ['/etc/hostname', '/etc/shadow', '/etc/machine-id', '/proc/1/environ']:",
            "    try:",
            "        text = open(path, 'rb').read()",
            "        if b'KLCOURSE_SECRET' in text or not path.startswith('/proc'):",
            "            found.append('read ' + path)",
            "    except OSError:",
            "        pass",
            "skip = {'proc', 'sys', 'dev', 'usr', 'site-packages', 'lib', 'include', 'versions'}",
            "for folder, subfolders, files in os.walk('/'):",
            "    subfolders[:] = [d for d in subfolders if d not in skip]",
            "    found += [f'notebook {folder}/{f}' for f in files if f.endswith('.ipynb')]",
            f"for path in {escape_targets!r}:",
            "    try:",
            "        open(path, 'w').write('escaped')",
            "        if not path.startswith('/tmp/'):  # the sandbox's own /tmp is private",
            "            found.append('wrote ' + path)",
            "    except OSError:",
            "        pass",
            "import importlib.util",
            "try:",
            "    package = importlib.util.find_spec('klcourse').submodule_search_locations[0]",
            "    open(os.path.join(package, 'x.py'), 'w')",
            "    found.append('wrote the course package')",
            "except OSError:",
            "    pass",
            # no network device but loopback, and the host's own ports are out of reach
            "devices = [line.split(':')[0].strip() for line in open('/proc/net/dev')][2:]",
            "if devices != ['lo']:",
            "    found.append('network devices ' + ' '.join(devices))",
            f"for address in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:",
            "    try:",
            "        socket.create_connection(address, timeout=3)",
            "        found.append(f'network {address}')",
            "    except OSError:",
            "        pass",
            "try:",
            "    big = bytearray(20 * 2**30)",
            "    found.append('20 GiB of memory')",
            "except MemoryError:",
            "    pass",
            "raise RuntimeError('escaped: ' + (', '.join(found) or 'nothing'))",
        ]
    )
    # Forgeries: each hands in wrong answers and tries to be graded as right.
    forge_check = with_cell(
        wrong,
        "import klcourse as kc\n"
        "kc.check.exercise = lambda id, answer: print(f'✅ {id}: correct.')\n"
        "kc.check.results = lambda: {'ch1-die-bits': True, 'ch1-my-kl': True}\n"
        "import klcourse.hints\nklcourse.hints.close = lambda *a, **k: None",
        after="import numpy",
    )
    forge_allclose = with_cell(
        wrong,
        "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True",
        after="import numpy",
    )
    fake = {"event": "answer", "id": "ch1-die-bits", "payload": {"verdict": "correct"}}
    forge_hook = with_cell(
        wrong,
        "from IPython.display import display\n"
        "def fake(*args):\n"
        "    print('KLCOURSE-GRADING-RESULTS ' + "
        f"{json.dumps(json.dumps({'ch1-die-bits': True}))})\n"
        "    display({'application/vnd.klcourse.answer+json': "
        "{'id': 'ch1-my-kl', 'payload': {'verdict': 'correct'}}}, raw=True)\n"
        "get_ipython().events.register('post_run_cell', fake)",
        after="import numpy",
    )
    forge_pipe = with_cell(
        wrong,
        "import os, subprocess\n"
        f"line = {json.dumps(json.dumps(fake))}\n"
        "for pid in os.listdir('/proc'):\n"
        "    for fd in ('1', '2', '3', '4', '5'):\n"
        "        try:\n"
        "            with open(f'/proc/{pid}/fd/{fd}', 'w') as out:\n"
        "                out.write(line + '\\n')\n"
        "        except (OSError, ValueError):\n"
        "            pass\n"
        "subprocess.run(['sh', '-c', f\"echo '{line}'; echo '{line}' >&2\"])\n"
        "os.write(1, (line + '\\n').encode())",
        after="import numpy",
    )
    shadow = with_cell(
        wrong,
        "open('klcourse.py', 'w').write('class check:\\n    exercise = print\\n')\n"
        "import importlib, sys\nsys.modules.pop('klcourse', None)\n"
        "import klcourse as kc",
        after="import numpy",
    )
    function_forges = with_cell(
        stub,
        "def my_kl(p, q):\n"
        "    import sys\n"
        "    np.allclose = np.isclose = lambda *a, **k: True\n"
        '    sys.stdout.write(\'{"ok": true, "value": 0.0}\\n\')\n'
        "    return 0.0",
        after="def my_kl",
    )
    cases = {
        # student: (notebook, score, verdicts of ch1-die-bits and ch1-my-kl)
        "right": (right, 3, ("correct", "correct")),
        "stubs": (stub, 0, ("not answered", "not answered")),
        "wrong": (wrong, 0, ("wrong", "wrong")),
        # a loop inside one C call ignores the interrupt: the run stops there, and
        # verdicts reached before it are kept
        "c-loop-at-end": (with_cell(right, "sum(range(10**13))"), 3, ("correct", "correct")),
        "c-loop-early": (
            with_cell(right, "sum(range(10**13))", after=die),
            1,
            ("correct", "could not run"),
        ),
        "python-loop": (
            with_cell(right, "while True:\n    pass", after=die),
            3,
            ("correct", "correct"),
        ),
        "kernel-killed": (
            with_cell(right, "import os\nos.kill(os.getpid(), 9)", after=die),
            1,
            ("correct", "could not run"),
        ),
        "function-hangs": (
            with_cell(right, "def my_kl(p, q):\n    return sum(range(10**13))", after="def my_kl"),
            1,
            ("correct", "could not run"),
        ),
        "function-forges": (function_forges, 0, ("not answered", "wrong")),
        "forge-check": (forge_check, 0, ("wrong", "wrong")),
        "forge-allclose": (forge_allclose, 0, ("wrong", "wrong")),
        "forge-hook": (forge_hook, 0, ("wrong", "wrong")),
        "forge-pipe": (forge_pipe, 0, ("wrong", "wrong")),
        "shadow-module": (shadow, 0, ("wrong", "wrong")),
        "deleted-check": (
            type(right)({**right, "cells": [c for c in right.cells if die not in c.source]}),
            3,
            ("correct", "correct"),
        ),
        "bad-bytes": (
            with_cell(
                right,
                "import os\nos.write(1, b'\\xff\\xfe\\x80 not utf-8\\n')\n"
                "os.write(2, b'\\xc3\\x28\\n')\nprint('\\udcff', end='')",
                after="import numpy",
            ),
            3,
            ("correct", "correct"),
        ),
        "background": (
            with_cell(
                right,
                "import subprocess\n"
                f"subprocess.Popen(['sleep', '{SLEEP}'], start_new_session=True)\n"
                f"subprocess.Popen(['sh', '-c', '(setsid sleep {SLEEP} &) &'])",
                after="import numpy",
            ),
            3,
            ("correct", "correct"),
        ),
        "escape": (with_cell(stub, escape, after="import numpy"), 0, ("not answered",) * 2),
    }
    for name, (notebook, _, _) in cases.items():
        (folder / name).mkdir(parents=True)
        nbformat.write(notebook, folder / name / "01_tiny.ipynb")
    (folder / "shadow-module" / "klcourse.py").write_text("class check:\n    exercise = print\n")
    # Files: misnamed, duplicated, foreign, corrupt, missing.
    (folder / "colab-copy").mkdir()
    nbformat.write(right, folder / "colab-copy" / "Copy of 01_tiny.ipynb")
    (folder / "renamed").mkdir()
    nbformat.write(right, folder / "renamed" / "homework.ipynb")
    (folder / "duplicate").mkdir()
    nbformat.write(stub, folder / "duplicate" / "01_tiny.ipynb")
    nbformat.write(right, folder / "duplicate" / "01_tiny (1).ipynb")
    (folder / "foreign").mkdir()
    nbformat.write(right, folder / "foreign" / "01_tiny.ipynb")
    (folder / "foreign" / "notes.txt").write_text("hello")
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / "01_tiny.ipynb").write_text('{"cells": [ not json')
    (folder / "not-utf8").mkdir()
    (folder / "not-utf8" / "01_tiny.ipynb").write_bytes(b'{"cells": "\xff\xfe"}')
    (folder / "nothing").mkdir()
    (folder / "linker").mkdir()  # a link to another student's work
    (folder / "linker" / "01_tiny.ipynb").symlink_to(folder / "right" / "01_tiny.ipynb")
    expected = {name: (score, verdicts) for name, (_, score, verdicts) in cases.items()}
    expected |= {
        "colab-copy": (3, ("correct", "correct")),
        "renamed": (3, ("correct", "correct")),
        "duplicate": (0, ("not answered", "not answered")),
        "foreign": (3, ("correct", "correct")),
        "corrupt": (0, ("could not run", "could not run")),
        "not-utf8": (0, ("could not run", "could not run")),
        "nothing": (0, ("missing", "missing")),
        "linker": (0, ("missing", "missing")),
    }
    return expected


def sleeping():
    """Processes of this test's `sleep` still alive."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and SLEEP.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def graded(tiny_course, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    right = nbformat.read(tiny_course / "chapters" / "01_tiny.ipynb", as_version=4)
    stub = instructor.student_notebook(right)
    targets = [str(base / "escaped.txt"), str(tiny_course / "escaped.txt"), "/tmp/escaped-" + SLEEP]
    listener = socket.create_server(("127.0.0.1", 0))  # a host port no sandbox may reach
    expected = hostile_class(base / "class", right, stub, targets, listener.getsockname()[1])
    before = {p for p in base.rglob("*")}
    os.environ["KLCOURSE_SECRET"] = "an instructor's variable no submission may read"
    start = time.monotonic()
    try:
        rows = instructor.grade(
            base / "class", base / "out", root=tiny_course, options=OPTIONS, jobs=2
        )
    finally:
        del os.environ["KLCOURSE_SECRET"]
        listener.close()
    seconds = time.monotonic() - start
    print(f"graded {len(rows)} students in {seconds:.0f} s")
    return {
        "rows": {r["student"]: r for r in rows},
        "expected": expected,
        "out": base / "out",
        "new": {p for p in base.rglob("*")} - before,
        "base": base,
        "targets": targets,
        "seconds": seconds,
    }


def test_hostile_class_is_graded_fairly(graded):
    rows, expected = graded["rows"], graded["expected"]
    got = {
        name: (
            row["score"],
            tuple(row["verdicts"][e]["verdict"] for e in ("ch1-die-bits", "ch1-my-kl")),
        )
        for name, row in rows.items()
    }
    assert got == expected
    assert all(row["max_score"] == 5 for row in rows.values())  # 1 + 2 auto, 2 written


def test_hostile_class_problems_are_named(graded):
    problems = {name: " ".join(row["problems"]) for name, row in graded["rows"].items()}
    assert "could not be interrupted" in problems["c-loop-early"]
    assert "cell time limit" in problems["python-loop"]
    assert "kernel died" in problems["kernel-killed"]
    assert "check cell was deleted" in problems["deleted-check"]
    assert "Copy of 01_tiny.ipynb: misnamed" in problems["colab-copy"]
    assert "homework.ipynb: misnamed" in problems["renamed"]
    assert "01_tiny (1).ipynb: another copy" in problems["duplicate"]
    assert "notes.txt: not a notebook of this assignment" in problems["foreign"]
    assert "klcourse.py: not a notebook of this assignment" in problems["shadow-module"]
    assert "not valid notebook JSON" in problems["corrupt"]
    assert "not UTF-8" in problems["not-utf8"]
    assert "01_tiny.ipynb: missing" in problems["nothing"]
    assert "01_tiny.ipynb: a symbolic link; not graded" in problems["linker"]
    assert "escaped: nothing" in problems["escape"], problems["escape"]
    hang = graded["rows"]["function-hangs"]["verdicts"]["ch1-my-kl"]["hint"]
    assert "did not return within 10 s" in hang


def test_nothing_is_left_running_or_written_outside(graded):
    assert sleeping() == []
    for target in graded["targets"]:
        assert not os.path.exists(target), target
    outside = [p for p in graded["new"] if graded["out"] not in p.parents and p != graded["out"]]
    assert outside == []


def test_hostile_class_time_is_bounded(graded):
    # 26 students on 2 workers; the slowest are bounded by the cell limit plus grace
    # (C loops) and the call limit (a function that never returns).
    assert graded["seconds"] < 600


def test_reports(graded):
    out = graded["out"]
    with open(out / "grades.csv") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0])[:3] == ["student", "score", "max_score"]
    assert {"ch1-die-bits", "ch1-my-kl", "ch1-gibbs", "problems"} <= set(table[0])
    assert {r["student"]: int(r["score"]) for r in table} == {
        name: score for name, (score, _) in graded["expected"].items()
    }
    feedback = (out / "feedback" / "wrong.md").read_text()
    assert "| `ch1-die-bits` | wrong | 0/1 |" in feedback
    assert "| `ch1-gibbs` (written) | not marked yet |" in feedback
    assert "not answered" in (out / "feedback" / "stubs.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "Sandbox: bubblewrap" in summary and "26 students graded" in summary
    assert (out / "written.csv").exists()
    assert "Your answer (exercise ch1-gibbs)" in (out / "written" / "right.md").read_text()


def test_written_marks_are_merged_and_resume_reuses_records(graded, tiny_course):
    out = graded["out"]
    with open(out / "written.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["ch1-gibbs"] = {"right": "2", "wrong": "1", "stubs": "seven"}.get(row["student"], "")
    with open(out / "written.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["student", "ch1-gibbs"])
        writer.writeheader()
        writer.writerows(rows)
    start = time.monotonic()
    again = instructor.grade(
        graded["base"] / "class", out, root=tiny_course, options=OPTIONS, jobs=2, resume=True
    )
    assert time.monotonic() - start < 30  # nothing re-run
    by_student = {r["student"]: r for r in again}
    assert by_student["right"]["score"] == 5 and by_student["wrong"]["score"] == 1
    assert by_student["stubs"]["score"] == 0
    assert any("'seven' is not a number" in p for p in by_student["stubs"]["problems"])


def test_an_interrupted_run_resumes(graded, tiny_course, tmp_path):
    """A run stopped part-way (one record never written, one cut off mid-write, no
    reports yet) resumes: only those two notebooks run again, and the reports are whole."""
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    for name in ("grades.csv", "summary.md", "written.csv"):
        (out / name).unlink()
    shutil.rmtree(out / "feedback")
    records = out / "records"
    (records / "right" / "01_tiny.json").unlink()
    (records / "wrong" / "01_tiny.json").write_text('{"key": "v')
    kept = {
        p: p.stat().st_mtime_ns
        for p in records.rglob("*.json")
        if p.parent.name not in ("right", "wrong")
    }
    rows = instructor.grade(
        graded["base"] / "class", out, root=tiny_course, options=OPTIONS, jobs=2, resume=True
    )
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # not graded again
    assert {r["student"]: r["score"] for r in rows} == {
        name: score for name, (score, _) in graded["expected"].items()
    }
    assert json.loads((records / "wrong" / "01_tiny.json").read_text())["exercises"]
    assert (out / "feedback" / "right.md").exists() and (out / "grades.csv").exists()


def test_grading_refuses_without_a_sandbox(tmp_path, tiny_course, monkeypatch):
    (tmp_path / "class" / "a").mkdir(parents=True)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
        instructor.grade(tmp_path / "class", tmp_path / "out", root=tiny_course)
    monkeypatch.undo()
    command = [sys.executable, "-m", "klcourse.instructor", "--course", str(tiny_course)]
    done = subprocess.run(
        [*command, "grade", str(tmp_path / "class"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": os.path.dirname(sys.executable)},
    )
    assert done.returncode != 0 and "Grading refused" in done.stderr


def test_cpu_time_limit_ends_a_busy_kernel(tmp_path, tiny_course):
    """A loop that keeps a core busy is ended by the CPU-time limit (RLIMIT_CPU), well
    before the cell limit, and the answers reached before it keep their verdicts."""
    right = nbformat.read(tiny_course / "chapters" / "01_tiny.ipynb", as_version=4)
    busy = with_cell(right, "while True:\n    pass")  # after the last check cell
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(busy, path)
    limits = sandbox.Limits(cpu_s=15)
    options = instructor.Options(cell_timeout=300, notebook_timeout=400, limits=limits)
    box = sandbox.find_sandbox(limits=limits)
    try:
        record = grading.grade_notebook(
            path, instructor.course.chapter_exercises(right), box=box, options=options
        )
    finally:
        box.close()
    assert "kernel died" in " ".join(record["problems"]), record["problems"]
    assert {e["verdict"] for e in record["exercises"].values()} == {"correct"}
    assert record["seconds"] < 300


def test_no_sandbox_still_grades_and_kills_what_it_started(tmp_path, tiny_course):
    right = nbformat.read(tiny_course / "chapters" / "01_tiny.ipynb", as_version=4)
    (tmp_path / "class" / "a").mkdir(parents=True)
    notebook = with_cell(
        right, f"import subprocess\nsubprocess.Popen(['sleep', '{SLEEP}'], start_new_session=True)"
    )
    nbformat.write(notebook, tmp_path / "class" / "a" / "01_tiny.ipynb")
    rows = instructor.grade(
        tmp_path / "class", tmp_path / "out", root=tiny_course, options=OPTIONS, no_sandbox=True
    )
    assert rows[0]["score"] == 3
    assert "without a sandbox" in (tmp_path / "out" / "summary.md").read_text()
    assert sleeping() == []


def as_nobody(*command):
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    return [setpriv, f"--reuid={sandbox.NOBODY}", f"--regid={sandbox.NOBODY}", "--clear-groups"] + [
        str(c) for c in command
    ]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="run as root only: as an ordinary user every grading test takes this path",
)
def test_grading_as_an_ordinary_user(tiny_course):
    """As root the sandbox drops to nobody with setpriv; an ordinary user's grading takes
    bubblewrap's user namespace (``--unshare-user``) instead: grade one notebook so."""
    probe = subprocess.run(
        as_nobody("bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"), capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"no user namespaces for ordinary users here: {probe.stderr[-200:]!r}")
    where = subprocess.run(
        as_nobody(sys.executable, "-c", "import sys; print(sys.base_prefix)"),
        capture_output=True,
        text=True,
    )
    if where.stdout.strip() != sys.base_prefix:  # e.g. a Python under root's 0700 home
        pytest.skip(f"`nobody` cannot read this Python's installation ({sys.base_prefix})")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="klcourse-as-nobody-"))
    try:
        shutil.copytree(tiny_course, folder / "course")
        (folder / "class" / "a").mkdir(parents=True)
        shutil.copy(folder / "course" / "chapters" / "01_tiny.ipynb", folder / "class" / "a")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o666)
        done = subprocess.run(
            as_nobody(sys.executable, "-m", "klcourse.instructor", "--course", folder / "course")
            + ["grade", str(folder / "class"), "--out", str(folder / "out"), "--jobs", "1"],
            capture_output=True,
            text=True,
            cwd=folder,
            env={"PATH": os.environ["PATH"], "HOME": str(folder), "LANG": "C.UTF-8"},
            timeout=400,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        with open(folder / "out" / "grades.csv") as handle:
            (row,) = csv.DictReader(handle)
        assert (row["score"], row["ch1-die-bits"], row["ch1-my-kl"]) == ("3", "1", "2"), row
        assert not any(p.owner() == "root" for p in (folder / "out").rglob("*"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_values_format_refuses_what_it_did_not_write():
    for text in [
        '{"__pickle__": "x"}',
        '{"__ndarray__": {"dtype": "O", "shape": [1], "data": ""}}',
        '{"__ndarray__": {"dtype": "<f8", "shape": [10], "data": "AAAA"}}',
        "[" * 100_000,
        '{"__float__": "1e999"}',
    ]:
        with pytest.raises(ValueError):
            values.loads(text)
    array = values.loads(values.dumps([1.5, float("nan"), ..., {"a": (1, 2)}]))
    assert array[0] == 1.5 and array[2] is Ellipsis and array[3] == {"a": (1, 2)}


def test_capture_cells_take_the_course_expression(tiny_course):
    right = nbformat.read(tiny_course / "chapters" / "01_tiny.ipynb", as_version=4)
    exercises = instructor.course.chapter_exercises(right)
    edited = with_cell(right, 'kc.check.exercise("ch1-my-kl", np.sum)', replace='"ch1-my-kl"')
    prepared, notes = grading.prepare(edited, exercises)
    captures = [c.source for c in prepared.cells if "__klcourse_capture__(" in c.source]
    assert captures == [
        '__klcourse_capture__("ch1-die-bits", lambda: answer)',
        '__klcourse_capture__("ch1-my-kl", lambda: my_kl)',
    ]
    assert notes == []


# ------------------------------------------------------------------ the real chapters
COURSE = pathlib.Path(__file__).resolve().parents[1]
# Planted shortcuts, each in a cell just before its exercise's check cell: (chapter stem
# prefix, the shortcut's code, exercise). ch1-my-kl is caught by reading the function's
# code (`_shortcuts.forbidden_calls`), which the call server does from the real code
# object; ch4-policy-pitfall by patching the library inside the call server
# (`_shortcuts.forbidding`): neither function exists outside the sandbox.
SHORTCUTS = [
    (
        "01",
        "import scipy.special\n\n\ndef my_kl(p, q):\n"
        "    return float(np.sum(scipy.special.rel_entr(p, q)))",
        "ch1-my-kl",
    ),
    (
        "04",
        "def naive_k3_gradient(logits, ref_logits):\n"
        "    from klcourse import gradients as g\n\n"
        "    return g.expected_kl_penalty_gradient(logits, ref_logits, estimator='k3')\n\n\n"
        "answer = naive_k3_gradient",
        "ch4-policy-pitfall",
    ),
]


def before_check(notebook, exercise, source):
    """A copy of ``notebook`` with a code cell inserted before ``exercise``'s check cell."""
    notebook = copy.deepcopy(notebook)
    index = next(i for i, c in enumerate(notebook.cells) if f'exercise("{exercise}"' in c.source)
    notebook.cells.insert(index, V4.new_code_cell(source))
    return notebook


# Student editions graded: the chapters with planted shortcuts, and chapter 3, whose stub
# once landed outside its function. Every student cell of every chapter is compiled by
# tests/test_instructor.py; grading all eight again would cost CI about 80 s more.
STUDENT_EDITIONS = ("01", "03", "04")
# Generous limits: a busy 2-core machine runs a chapter's slowest cell in minutes.
CHAPTER = instructor.Options(cell_timeout=300, notebook_timeout=1200, call_timeout=120)


@pytest.fixture(scope="module")
def chapters_graded(tmp_path_factory):
    """Every chapter, graded once as its solution notebook and once as its student
    edition (chapters `STUDENT_EDITIONS`, with the two shortcuts above planted), through
    the sandbox, on two workers: one pass, eleven chapter runs."""
    base = tmp_path_factory.mktemp("chapters")
    plan = grading.assignment(COURSE)
    for stem in plan:
        notebook = nbformat.read(COURSE / "chapters" / f"{stem}.ipynb", as_version=4)
        for student, version in (
            ("solutions", notebook),
            ("student-edition", instructor.student_notebook(notebook)),
        ):
            if student == "student-edition":
                if not stem.startswith(STUDENT_EDITIONS):
                    continue
                for prefix, source, exercise in SHORTCUTS:
                    if stem.startswith(prefix):
                        version = before_check(version, exercise, source)
            (base / "class" / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(version, base / "class" / student / f"{stem}.ipynb")
    start = time.monotonic()
    rows = instructor.grade(base / "class", base / "out", root=COURSE, options=CHAPTER, jobs=2)
    seconds = time.monotonic() - start
    print(
        f"graded {len(plan)} solution and {len(STUDENT_EDITIONS)} student notebooks"
        f" in {seconds:.0f} s"
    )
    return {"plan": plan, "rows": {r["student"]: r for r in rows}, "seconds": seconds}


def test_every_solution_notebook_gets_full_auto_marks(chapters_graded):
    row, plan = chapters_graded["rows"]["solutions"], chapters_graded["plan"]
    auto = {e.id: e.points for exercises in plan.values() for e in exercises if e.kind == "auto"}
    verdicts = {i: (v["verdict"], v["hint"]) for i, v in row["verdicts"].items()}
    assert verdicts == {i: ("correct", "") for i in auto}
    assert row["score"] == sum(auto.values())
    assert row["problems"] == []


def test_student_edition_is_not_answered_and_shortcuts_are_wrong(chapters_graded):
    row, plan = chapters_graded["rows"]["student-edition"], chapters_graded["plan"]
    planted = {exercise for *_, exercise in SHORTCUTS}
    graded = {
        e.id
        for stem, exercises in plan.items()
        if stem.startswith(STUDENT_EDITIONS)
        for e in exercises
        if e.kind == "auto"
    }
    verdicts = {i: v["verdict"] for i, v in row["verdicts"].items() if i in graded}
    assert len(verdicts) == len(graded) and planted <= graded
    assert {i for i, v in verdicts.items() if v != "not answered"} == planted
    for exercise in planted:
        assert verdicts[exercise] == "wrong"
        assert "calls" in row["verdicts"][exercise]["hint"], row["verdicts"][exercise]
    assert row["score"] == 0


def test_forbidding_patches_nothing_in_the_grader():
    import math

    from klcourse.exercises import _shortcuts

    with _shortcuts.remote(), _shortcuts.forbidding(["math:sqrt"], "no sqrt"):
        assert math.sqrt(4.0) == 2.0  # another thread's reference answer is safe
        assert _shortcuts.active_targets() == [(("math:sqrt",), "no sqrt")]
    assert _shortcuts.active_targets() == []
