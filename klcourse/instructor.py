"""Instructor tools: a student edition without solutions, and grading in one command.

Built on the standard tools rather than a home-made system:

* solution code follows **nbgrader**'s convention (``### BEGIN SOLUTION`` ...
  ``### END SOLUTION`` inside cells tagged ``solution``) and is removed by nbgrader's
  own ``ClearSolutions`` preprocessor; the solution *prose* lives in
  **sphinx-exercise**'s gated ``solution-start``/``solution-end`` blocks, which are
  dropped, and the student book is also built with sphinx-exercise's
  ``hide_solutions`` option;
* notebooks are executed for grading by **nbclient**, with a per-cell and a
  per-notebook time limit, and each exercise's verdict comes from the same
  `klcourse.check` call that gives students instant feedback.

Command line (the Makefile's ``student`` and ``grade`` targets call these)::

    python -m klcourse.instructor student [--out _build/student]
    python -m klcourse.instructor grade SUBMISSIONS [--out _build/grades]
    python -m klcourse.instructor index            # prints the exercise index (Markdown)
"""

import argparse
import concurrent.futures
import copy
import csv
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

__all__ = ["student_notebook", "build_student_edition", "grade_notebook", "grade", "exercise_index"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The jupyter-book of the running environment (the venv's, not whatever is on PATH).
JUPYTER_BOOK = str(pathlib.Path(sys.executable).parent / "jupyter-book")
STUB = "# YOUR CODE HERE\n..."  # `...` keeps a stubbed function body valid Python
CHECK_CALL = re.compile(r"kc\.check\.exercise\(\s*[\"']([\w-]+)[\"']")
RESULTS_MARKER = "KLCOURSE-GRADING-RESULTS "
INSTRUCTOR_PAGES = ("instructors", "exercises")


# ------------------------------------------------------------------ student edition
def _is_gate(cell, name):
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(f":::{{{name}")


def student_notebook(notebook):
    """The student version of a chapter notebook (a new object; the input is untouched).

    * code between nbgrader's solution delimiters becomes ``# YOUR CODE HERE``
      (nbgrader's ``ClearSolutions``); the ``answer = ...`` line before it stays, so
      the notebook still runs top to bottom and each check reports "not answered";
    * the gated solution prose (``solution-start`` ... ``solution-end``) is removed,
      keeping the stubbed code cells that sat inside it;
    * outputs of the stubbed cells and of the ``kc.check`` cells are cleared.

    Args:
      notebook: an ``nbformat.NotebookNode``.

    Returns:
      ``nbformat.NotebookNode``.
    """
    from nbgrader.preprocessors import ClearSolutions

    notebook = copy.deepcopy(notebook)
    clear = ClearSolutions(
        enforce_metadata=False, code_stub={"python": STUB}, text_stub="YOUR ANSWER HERE"
    )
    notebook, _ = clear.preprocess(notebook, {"language": "python"})
    kept, inside_solution = [], False
    for cell in notebook.cells:
        if _is_gate(cell, "solution-start"):
            inside_solution = True
            continue
        if _is_gate(cell, "solution-end"):
            inside_solution = False
            continue
        if inside_solution and cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and ("solution" in tags or CHECK_CALL.search(cell.source)):
            cell.outputs, cell.execution_count = [], None
        kept.append(cell)
    notebook.cells = kept
    return notebook


def _student_toc(toc_text):
    """The book's _toc.yml without the instructor pages."""
    lines = toc_text.splitlines()
    out, skip = [], False
    for line in lines:
        if line.strip().startswith("- caption:"):
            skip = "nstructor" in line
        if not skip and not any(f"file: {page}" in line for page in INSTRUCTOR_PAGES):
            out.append(line)
    return "\n".join(out) + "\n"


def build_student_edition(out=ROOT / "_build" / "student", *, repository_url=None, build_html=True):
    """Write the student notebooks and build the student HTML book.

    Produces ``out/notebooks/chapters/*.ipynb`` and ``out/html/``. The book is built
    from the *student* notebooks, so nothing of a solution reaches the pages, the
    downloadable notebooks or the search index, and sphinx-exercise's
    ``hide_solutions`` is switched on as a second guard.

    Args:
      out: output folder (replaced).
      repository_url: optional repository for the launch and repository buttons (an
        instructor's copy holding the student notebooks); default: the course's own.
      build_html: also build the HTML book (Jupyter Book).

    Returns:
      ``pathlib.Path`` of ``out``.
    """
    import nbformat

    from klcourse.jupyter_flavour import jupyter_notebook

    out = pathlib.Path(out)
    source = out / "source"
    if out.exists():
        shutil.rmtree(out)
    (source / "chapters").mkdir(parents=True)
    (out / "notebooks" / "chapters").mkdir(parents=True)
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        student = student_notebook(nbformat.read(path, as_version=4))
        nbformat.write(student, source / "chapters" / path.name)
        flavoured = jupyter_notebook(student, root=ROOT, name=path.name)
        nbformat.write(flavoured, out / "notebooks" / "chapters" / path.name)
    # Everything _config.yml refers to, besides the chapters.
    for name in ("references.md", "references.bib", "favicon.png", "students.md"):
        shutil.copy(ROOT / name, source / name)
    # The landing page's pointer to the instructor pages, which the student book omits.
    intro = re.sub(
        r"<!-- instructor-only -->.*?<!-- /instructor-only -->\n?",
        "",
        (ROOT / "intro.md").read_text(),
        flags=re.S,
    )
    (source / "intro.md").write_text(intro)
    shutil.copytree(ROOT / "_ext", source / "_ext")
    (source / "_toc.yml").write_text(_student_toc((ROOT / "_toc.yml").read_text()))
    config = (ROOT / "_config.yml").read_text()
    config = config.replace(
        'title: "KL divergence: an executable course"',
        'title: "KL divergence: an executable course (student edition)"',
    )
    # No launch button may open the full edition's notebooks (with solutions): without
    # the instructor's repository (holding notebooks/chapters/ of this build) there are none.
    launch = "true" if repository_url else "false"
    config = config.replace(
        "  config:\n",
        f"  config:\n    hide_solutions: true\n    klcourse_launch_buttons: {launch}\n"
        '    klcourse_notebooks: ""\n',
        1,
    )
    if repository_url:
        config = re.sub(r"(repository:\n  url: ).*", rf"\g<1>{repository_url}", config)
    (source / "_config.yml").write_text(config)
    if build_html:
        subprocess.run(
            [JUPYTER_BOOK, "build", str(source), "--all", "--warningiserror", "--keep-going"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        shutil.move(str(source / "_build" / "html"), str(out / "html"))
        shutil.rmtree(source / "_build")
    return out


# ------------------------------------------------------------------ grading
_RUNNER = r"""
import json, sys
import nbformat
from nbclient import NotebookClient
path, cell_timeout = sys.argv[1], int(sys.argv[2])
report = {"results": {}, "problems": []}
try:
    nb = nbformat.read(path, as_version=4)
except Exception as error:
    report["problems"].append(f"cannot read the notebook ({type(error).__name__}): not valid notebook JSON")
    print(json.dumps(report)); sys.exit(0)
nb.cells.insert(0, nbformat.v4.new_code_cell("import klcourse as kc\nkc.check.reset()"))
nb.cells.append(nbformat.v4.new_code_cell(
    "import json\nprint(" + repr(%(marker)r) + " + json.dumps(kc.check.results()))"))
client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                        interrupt_on_timeout=True, resources={"metadata": {"path": %(cwd)r}})
try:
    client.execute()
except Exception as error:
    report["problems"].append(f"execution stopped: {type(error).__name__}: {str(error)[:200]}")
for index, cell in enumerate(nb.cells[1:-1], start=1):
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error" and output.get("ename") == "KeyboardInterrupt":
            report["problems"].append(f"cell {index} was stopped at the cell time limit of {cell_timeout} s")
        elif output.get("output_type") == "error":
            report["problems"].append(f"cell {index} raised {output.get('ename')}: {output.get('evalue', '')[:120]}")
for output in nb.cells[-1].get("outputs", []):
    for line in output.get("text", "").splitlines():
        if line.startswith(%(marker)r):
            report["results"] = json.loads(line[len(%(marker)r):])
print(json.dumps(report))
"""


def _chapter_of(path):
    match = re.match(r"(\d+)_", pathlib.Path(path).name)
    return int(match.group(1)) if match else None


def grade_notebook(path, *, cell_timeout=60, notebook_timeout=600):
    """Execute one submitted notebook and grade its exercises.

    The notebook runs in a fresh kernel with errors allowed, so a crashing cell is
    reported and the rest still runs; a cell over ``cell_timeout`` seconds is
    interrupted; the whole run is stopped after ``notebook_timeout`` seconds.

    Args:
      path: the submitted ``.ipynb``; its file name must be the chapter's
        (``01_kl_basics.ipynb``), which says which exercises to expect.
      cell_timeout, notebook_timeout: seconds.

    Returns:
      ``dict`` with ``points`` (per exercise id), ``score``, ``max_score`` and
      ``problems`` (list of strings).
    """
    from klcourse import check

    chapter = _chapter_of(path)
    expected = [e for e in check.exercises() if e.chapter == chapter]
    report = {"results": {}, "problems": []}
    if not expected:
        report["problems"].append(
            f"{pathlib.Path(path).name}: not a chapter notebook name; nothing to grade"
        )
    else:
        code = _RUNNER % {"marker": RESULTS_MARKER, "cwd": str(pathlib.Path(path).parent)}
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(path), str(cell_timeout)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, _ = process.communicate(timeout=notebook_timeout)
            report = json.loads(stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the kernel too
            process.communicate()
            report["problems"].append(
                f"stopped after the notebook time limit of {notebook_timeout} s"
            )
        except (json.JSONDecodeError, IndexError):
            report["problems"].append("the grading run ended without a report")
    points = {}
    for exercise in expected:
        passed = report["results"].get(exercise.id)
        points[exercise.id] = exercise.points if passed else 0
        if passed is None and report["results"]:
            report["problems"].append(
                f"{exercise.id}: its check did not run (cell deleted or never reached)"
            )
    return {
        "points": points,
        "score": sum(points.values()),
        "max_score": sum(e.points for e in expected),
        "problems": report["problems"],
    }


def grade(
    submissions, out=ROOT / "_build" / "grades", *, cell_timeout=60, notebook_timeout=600, jobs=None
):
    """Grade a folder of submissions: ``submissions/<student>/<chapter>.ipynb``.

    Writes ``out/grades.csv`` (one row per student: total, maximum, points per
    exercise, problems) and ``out/summary.md``, and returns the rows. One student's
    broken notebook never stops the others.

    Args:
      submissions: folder with one sub-folder per student.
      out: output folder.
      cell_timeout, notebook_timeout: seconds, passed to `grade_notebook`.
      jobs: notebooks graded in parallel (default: the number of CPUs).

    Returns:
      ``list`` of ``dict`` rows, sorted by student.

    Raises:
      ValueError: if ``submissions`` is not a folder.
    """
    from klcourse import check

    submissions, out = pathlib.Path(submissions), pathlib.Path(out)
    if not submissions.is_dir():
        raise ValueError(f"`submissions` must be a folder of student folders; got {submissions}")
    students = sorted(p for p in submissions.iterdir() if p.is_dir())
    tasks = [
        (student.name, path) for student in students for path in sorted(student.glob("*.ipynb"))
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs or os.cpu_count()) as pool:
        graded = list(
            pool.map(
                lambda task: (
                    task[0],
                    task[1].name,
                    grade_notebook(
                        task[1], cell_timeout=cell_timeout, notebook_timeout=notebook_timeout
                    ),
                ),
                tasks,
            )
        )
    all_ids = [e.id for e in check.exercises()]
    rows = []
    for student in students:
        mine = [(name, report) for who, name, report in graded if who == student.name]
        points = {k: v for _, report in mine for k, v in report["points"].items()}
        problems = [f"{name}: {p}" for name, report in mine for p in report["problems"]]
        if not mine:
            problems.append("no notebooks submitted")
        rows.append(
            {
                "student": student.name,
                "score": sum(r["score"] for _, r in mine),
                "max_score": sum(r["max_score"] for _, r in mine),
                "points": points,
                "problems": problems,
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    graded_ids = [i for i in all_ids if any(i in row["points"] for row in rows)]
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", *graded_ids, "problems"])
        for row in rows:
            writer.writerow(
                [
                    row["student"],
                    row["score"],
                    row["max_score"],
                    *[row["points"].get(i, "") for i in graded_ids],
                    " | ".join(row["problems"]),
                ]
            )
    (out / "summary.md").write_text(_summary(rows, graded_ids))
    return rows


def _summary(rows, ids):
    lines = ["# Grading summary", "", f"{len(rows)} students graded.", ""]
    if rows:
        scores = [r["score"] / r["max_score"] for r in rows if r["max_score"]]
        if scores:
            lines += [
                f"Mean score: {100 * sum(scores) / len(scores):.0f}% of the available points.",
                "",
            ]
        lines += ["| exercise | students who passed |", "| --- | ---: |"]
        for exercise_id in ids:
            attempted = [r for r in rows if exercise_id in r["points"]]
            passed = sum(1 for r in attempted if r["points"][exercise_id] > 0)
            lines.append(f"| `{exercise_id}` | {passed} of {len(attempted)} |")
        flagged = [r for r in rows if r["problems"]]
        lines += ["", f"{len(flagged)} students with problems to look at:"]
        lines += [f"- **{r['student']}**: {'; '.join(r['problems'])}" for r in flagged]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ exercise index
def _exercises_in_notebooks():
    """(chapter, label, title) of every sphinx-exercise ``exercise`` in chapters/, in order."""
    import nbformat

    found = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            match = re.match(r":::\{exercise\}\s*(.*)\n:label:\s*([\w-]+)", cell.source.lstrip())
            if cell.cell_type == "markdown" and match:
                found.append((_chapter_of(path), match.group(2), match.group(1).strip()))
    return found


def exercise_index():
    """The Markdown table of every exercise: chapter, id, title, how it is checked, points.

    Code exercises come from `klcourse.check`'s registry (checked instantly, graded by
    `grade`); written ones (derivations) have no checker and are marked by hand.
    """
    from klcourse import check

    registry = {e.id: e for e in check.exercises()}
    lines = [
        "| chapter | exercise | title | topic | checked | points |",
        "| ---: | --- | --- | --- | --- | ---: |",
    ]
    for chapter, label, title in _exercises_in_notebooks():
        exercise = registry.get(label)
        if exercise:
            lines.append(
                f"| {chapter} | `{label}` | {title} | {exercise.topic} | automatically | {exercise.points} |"
            )
        else:
            lines.append(
                f"| {chapter} | `{label}` | {title} | derivation | by the instructor | — |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m klcourse.instructor", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="build the student edition")
    student.add_argument("--out", default=str(ROOT / "_build" / "student"))
    student.add_argument("--repository-url", default=None)
    student.add_argument("--no-html", action="store_true")
    grading = commands.add_parser("grade", help="grade a folder of submissions")
    grading.add_argument("submissions")
    grading.add_argument("--out", default=str(ROOT / "_build" / "grades"))
    grading.add_argument("--cell-timeout", type=int, default=60)
    grading.add_argument("--notebook-timeout", type=int, default=600)
    commands.add_parser("index", help="print the exercise index")
    args = parser.parse_args(argv)
    if args.command == "student":
        out = build_student_edition(
            args.out, repository_url=args.repository_url, build_html=not args.no_html
        )
        print(f"Student notebooks: {out / 'notebooks' / 'chapters'}")
        if not args.no_html:
            print(f"Student book: {out / 'html' / 'index.html'}")
    elif args.command == "grade":
        rows = grade(
            args.submissions,
            args.out,
            cell_timeout=args.cell_timeout,
            notebook_timeout=args.notebook_timeout,
        )
        print((pathlib.Path(args.out) / "summary.md").read_text())
        print(f"Grades: {pathlib.Path(args.out) / 'grades.csv'} ({len(rows)} students)")
    else:
        print(exercise_index(), end="")


if __name__ == "__main__":
    main()
