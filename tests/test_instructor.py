"""Instructor tools: the student edition leaks no solution, and grading survives bad notebooks."""

import copy
import csv
import html
import pathlib
import re

import nbformat
import numpy as np
import pytest

import klcourse as kc
from klcourse import instructor

pytestmark = [pytest.mark.book, pytest.mark.slow]  # tiers: `make unit` skips these
ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
TEXT_SUFFIXES = {".html", ".js", ".json", ".txt", ".ipynb", ".md", ".css", ".xml", ".inv"}


def normalise(text):
    """Text stripped of markup that differs between a source and its rendering."""
    # Tags are dropped without a space: highlighted code is one <span> per token.
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"\\\(|\\\)|[$*`]", "", text)
    text = text.translate(
        str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
    )  # smartquotes
    text = re.sub(r"\s+", " ", text)
    return re.sub(r" ([.,;:])", r"\1", text).strip()


def solution_fragments(notebook):
    """(exercise label, fragment) for every solution's code lines and prose sentences.

    Fragments that also occur outside the solutions (the chapter's own text) are not
    secrets and are left out.
    """
    public, secret, label = [], [], None
    inside = False
    for cell in notebook.cells:
        source = cell.source
        if source.lstrip().startswith(":::{solution-start}"):
            inside, label = True, source.split()[1]
            prose = source.split(":::", 2)[-1]
            secret += [
                (label, s.strip())
                for s in re.split(r"(?<=[.:;])\s+", normalise(prose))
                if len(s.strip()) >= 25
            ]
            continue
        if source.lstrip().startswith(":::{solution-end}"):
            inside = False
            continue
        region = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S)
        if region:
            label = label or "?"
            secret += [
                (label, line.strip())
                for line in region.group(1).splitlines()
                if len(line.strip()) >= 20
            ]
        elif not inside:
            public.append(normalise(source))
    public_text = " ".join(public)
    return [
        (label, fragment) for label, fragment in secret if normalise(fragment) not in public_text
    ]


def tree_text(folder):
    chunks = []
    for path in pathlib.Path(folder).rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            chunks.append(normalise(path.read_text(errors="ignore")))
    return " ".join(chunks)


@pytest.fixture(scope="module")
def editions(tmp_path_factory, full_book):
    student = instructor.build_student_edition(tmp_path_factory.mktemp("editions") / "student")
    return student, full_book


def test_student_edition_has_every_chapter(editions):
    student, _ = editions
    for path in CHAPTERS:
        assert (student / "notebooks" / "chapters" / path.name).exists()
        assert (student / "html" / "chapters" / (path.stem + ".html")).exists()


def test_no_solution_reaches_the_student_edition(editions):
    student, full_html = editions
    student_text = tree_text(student)  # notebooks, pages, _sources, search index, scripts
    full_text = tree_text(full_html)
    labels = set()
    for path in CHAPTERS:
        fragments = solution_fragments(nbformat.read(path, as_version=4))
        assert fragments, f"{path.name}: no solution text found to test"
        for label, fragment in fragments:
            labels.add(label)
            assert normalise(fragment) in full_text, (
                f"{label}: not in the full edition: {fragment!r}"
            )
            assert normalise(fragment) not in student_text, (
                f"{label}: leaks into the student edition: {fragment!r}"
            )
    # every exercise with a solution was tested
    expected = {e.id for e in kc.check.exercises()}
    assert expected <= labels


def test_student_notebooks_run_and_report_unanswered(editions, tmp_path):
    student, _ = editions
    path = student / "notebooks" / "chapters" / "01_kl_basics.ipynb"
    report = instructor.grade_notebook(path, cell_timeout=60, notebook_timeout=300)
    assert report["score"] == 0 and report["problems"] == []


CHECKERS_WRONG_ANSWERS = [
    0.0,
    1.0,
    -1.0,
    123.456,
    np.zeros(2),
    np.eye(2),
    np.ones(3),
    "text",
    lambda p, q: 0.0,
]


def test_hints_never_reveal_an_answer(capsys):
    # A hint may say what kind of mistake it sees, never a number to copy: no decimals at
    # all in what a student reads, including when checking the answer raises.
    for exercise in kc.check.exercises():
        for wrong in CHECKERS_WRONG_ANSWERS:
            kc.check.exercise(exercise.id, wrong)
            message = capsys.readouterr().out
            assert message.startswith(("✅", "❌")), (exercise.id, message)
            if message.startswith("❌"):
                assert not re.search(r"\d\.\d", message), (exercise.id, wrong, message)
    kc.check.reset()


def test_exercise_index_page_is_current():
    page = (ROOT / "exercises.md").read_text()
    assert instructor.exercise_index() in page, (
        "regenerate with: python -m klcourse.instructor index"
    )


def submissions(folder):
    folder.mkdir(parents=True)
    full = nbformat.read(ROOT / "chapters" / "01_kl_basics.ipynb", as_version=4)
    student = instructor.student_notebook(full)
    cases = {"all-correct": full, "all-stubs": student}
    crash = copy.deepcopy(full)
    for cell in crash.cells:
        cell.source = cell.source.replace("x = np.arange(lo, hi, dx)", "x = undefined_name")
    cases["crashing-cell"] = crash
    loop = copy.deepcopy(full)
    index = next(i for i, c in enumerate(loop.cells) if 'exercise("ch1-my-kl"' in c.source)
    loop.cells.insert(index + 1, nbformat.v4.new_code_cell("while True:\n    pass"))
    cases["infinite-loop"] = loop
    deleted = copy.deepcopy(full)
    deleted.cells = [c for c in deleted.cells if 'exercise("ch1-die-bits"' not in c.source]
    cases["deleted-check"] = deleted
    for name, notebook in cases.items():
        (folder / name).mkdir()
        nbformat.write(notebook, folder / name / "01_kl_basics.ipynb")
    (folder / "corrupt-file").mkdir()
    (folder / "corrupt-file" / "01_kl_basics.ipynb").write_text('{"cells": [ not json')
    (folder / "no-notebook").mkdir()


def test_grading_synthetic_submissions(tmp_path):
    submissions(tmp_path / "in")
    rows = instructor.grade(
        tmp_path / "in", tmp_path / "out", cell_timeout=10, notebook_timeout=180, jobs=2
    )
    by_student = {row["student"]: row for row in rows}
    expected_scores = {
        "all-correct": 6,
        "all-stubs": 0,
        "crashing-cell": 5,
        "infinite-loop": 6,
        "deleted-check": 5,
        "corrupt-file": 0,
        "no-notebook": 0,
    }
    assert {s: by_student[s]["score"] for s in expected_scores} == expected_scores
    assert all(by_student[s]["max_score"] == 6 for s in expected_scores if s != "no-notebook")
    problems = {s: " ".join(by_student[s]["problems"]) for s in expected_scores}
    assert problems["all-correct"] == "" and problems["all-stubs"] == ""
    assert "NameError" in problems["crashing-cell"]
    assert "cell time limit" in problems["infinite-loop"]
    assert "ch1-die-bits: its check did not run" in problems["deleted-check"]
    assert "not valid notebook JSON" in problems["corrupt-file"]
    assert "no notebooks submitted" in problems["no-notebook"]
    with open(tmp_path / "out" / "grades.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 7 and {r["student"]: int(r["score"]) for r in table} == expected_scores
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "7 students graded" in summary


def test_notebook_time_limit_stops_the_kernel(tmp_path):
    slow = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    )
    path = tmp_path / "01_kl_basics.ipynb"
    nbformat.write(slow, path)
    report = instructor.grade_notebook(path, cell_timeout=120, notebook_timeout=8)
    assert report["score"] == 0
    assert any("notebook time limit" in p for p in report["problems"])


def test_grade_rejects_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="`submissions` must be a folder"):
        instructor.grade(tmp_path / "nowhere")
