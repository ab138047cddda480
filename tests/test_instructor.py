"""Instructor tools: the student edition leaks no solution and leads nowhere near one.

Grading is tested in `test_instructor_grading.py`, nbgrader in `test_instructor_nbgrader.py`.
"""

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
    student = instructor.build_student_edition(
        tmp_path_factory.mktemp("editions") / "student", root=ROOT
    )
    return student, full_book


def test_student_edition_has_every_chapter(editions):
    student, _ = editions
    for path in CHAPTERS:
        assert (student / "student-notebooks" / "chapters" / path.name).exists()
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


def test_student_notebooks_run_and_report_unanswered(tmp_path, tiny_course):
    # The student version of a chapter runs top to bottom: every exercise "not answered".
    right = nbformat.read(tiny_course / "chapters" / "01_tiny.ipynb", as_version=4)
    (tmp_path / "class" / "student").mkdir(parents=True)
    nbformat.write(
        instructor.student_notebook(right), tmp_path / "class" / "student" / "01_tiny.ipynb"
    )
    (row,) = instructor.grade(tmp_path / "class", tmp_path / "out", root=tiny_course)
    assert row["score"] == 0 and row["problems"] == []
    assert {v["verdict"] for v in row["verdicts"].values()} == {"not answered"}


def test_stub_cells_print_nothing():
    # A stubbed cell ending in `...` used to display `Ellipsis`.
    for path in CHAPTERS:
        student = instructor.student_notebook(nbformat.read(path, as_version=4))
        for cell in student.cells:
            if "YOUR CODE HERE" in cell.source:
                last = cell.source.rstrip().splitlines()[-1].strip()
                assert last == "pass", (path.name, cell.source)


def test_student_code_cells_compile():
    # nbgrader indents its stub like the `### BEGIN SOLUTION` line: a delimiter at another
    # indentation than the code around it (once in chapter 3) left the stub outside its
    # function, and the student edition stopped with an IndentationError at that cell.
    for path in CHAPTERS:
        student = instructor.student_notebook(nbformat.read(path, as_version=4))
        for index, cell in enumerate(student.cells):
            if cell.cell_type != "code":
                continue
            lines = cell.source.splitlines()
            source = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
            compile(source, f"{path.name} cell {index}", "exec")  # raises SyntaxError


def test_student_book_has_no_path_to_solutions(editions):
    student, _ = editions
    pages = " ".join(p.read_text() for p in (student / "html").rglob("*.html"))
    assert "colab.research.google.com" not in pages and "mybinder.org" not in pages
    assert "github.com/klcourse/klcourse/" not in pages  # no repository, issue or launch button
    assert 'href="https://github.com/klcourse/klcourse"' not in pages
    assert "git clone" not in pages  # the course repository holds the solutions
    landing = (student / "html" / "intro.html").read_text()  # index.html redirects there
    assert "solutions" not in normalise(landing).lower(), "the landing page speaks to students"
    assert "For instructors" not in landing and "git clone" not in landing
    assert "exercises left for you" in landing
    # the download button gives the notebook students open
    for path in CHAPTERS:
        downloaded = student / "html" / "_sources" / "chapters" / path.name
        assert (
            downloaded.read_bytes()
            == (student / "student-notebooks" / "chapters" / path.name).read_bytes()
        )


def test_students_page_of_the_student_book_speaks_to_students(editions):
    student, _ = editions
    page = normalise((student / "html" / "students.html").read_text())
    assert "Your instructor tells you where to open the notebooks" in page
    assert "download button" in page
    assert not re.search(r"solutions?[^.]*collapsed", page, re.I), "no solutions here"
    assert "rocket" not in page.lower() and "Binder" not in page  # no launch buttons
    assert 'pip install "klcourse"' in page  # the package, not the course repository


# The course repository holds the solutions: nothing of the student edition may name it
# (pages, downloadable notebooks, search index, the set-up cells, the build's sources).
COURSE_REPOSITORY = re.compile(r"github\.com[/:]+klcourse/klcourse|klcourse/klcourse\.git", re.I)


def test_student_edition_never_names_the_course_repository(editions):
    student, _ = editions
    named = [
        path.relative_to(student).as_posix()
        for path in student.rglob("*")
        if path.is_file()
        and path.suffix in TEXT_SUFFIXES | {".yml", ".py"}
        and COURSE_REPOSITORY.search(path.read_text(errors="ignore"))
    ]
    assert not named, f"the course repository (with solutions) is named in {named}"
    for path in (student / "student-notebooks" / "chapters").glob("*.ipynb"):
        setup = nbformat.read(path, as_version=4).cells[0].source
        assert '"klcourse"]' in setup, (path.name, setup)


def test_package_source_goes_into_the_setup_cell_and_the_students_page():
    chapter = nbformat.read(CHAPTERS[0], as_version=4)
    wheel = "klcourse @ https://example.org/dist/klcourse-1.0-py3-none-any.whl"
    made = instructor.edition.with_package_source(chapter, wheel)
    assert f'"{wheel}"' in made.cells[0].source
    assert "git+" not in made.cells[0].source and "git+" in chapter.cells[0].source
    assert made.cells[1:] == chapter.cells[1:]
    page = instructor.edition.student_landing_page((ROOT / "students.md").read_text(), wheel)
    assert f'pip install "{wheel}"' in page and "@PACKAGE@" not in page
    assert not COURSE_REPOSITORY.search(page)
    for bad in ("", "a\nb"):
        with pytest.raises(ValueError, match="package_source"):
            instructor.edition.with_package_source(chapter, bad)


def test_student_config_with_a_repository_points_there():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    made = instructor.edition._student_config(config, "https://example.org/me/course", "nb", "x")
    assert made["repository"] == {
        "url": "https://example.org/me/course",
        "path_to_book": "nb",
        "branch": "x",
    }
    assert made["sphinx"]["config"]["hide_solutions"] is True
    assert made["title"].endswith("(student edition)")
    assert made["launch_buttons"] == config["launch_buttons"]


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
    assert instructor.exercise_index(ROOT) in page, (
        "regenerate with: python -m klcourse.instructor index"
    )
