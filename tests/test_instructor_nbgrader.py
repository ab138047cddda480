"""nbgrader accepts the chapters as they are, and its autograder fails wrong answers."""

import os
import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest

from klcourse.instructor import course, nbgrader_metadata

pytestmark = pytest.mark.slow  # tiers: nbgrader runs notebooks; `make unit` skips these
ROOT = pathlib.Path(__file__).resolve().parents[1]
NBGRADER = str(pathlib.Path(sys.executable).parent / "nbgrader")
CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
# Released notebooks run top to bottom: a stub that does nothing, not NotImplementedError.
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\npass"}}
c.ExecutePreprocessor.timeout = 300
"""
REMEDY = "python -m klcourse.instructor nbgrader-metadata chapters/*.ipynb"


def nbgrader(course_root, *args):
    # nbgrader runs `alembic` from PATH: the environment's own bin folder comes first
    path = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        [NBGRADER, *args, "--debug"],
        cwd=course_root,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def new_course(folder):
    folder.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text(CONFIG.format(root=str(folder)))
    return folder


def test_committed_chapters_carry_current_nbgrader_metadata():
    stale = nbgrader_metadata.apply(course.chapters(ROOT), check_only=True)
    assert stale == [], f"out of date: {stale}; run `{REMEDY}`"


def test_metadata_tool_is_idempotent_and_complete(tiny_course):
    notebook = nbformat.read(tiny_course / "chapters" / "01_tiny.ipynb", as_version=4)
    once = nbgrader_metadata.with_nbgrader_metadata(notebook)
    assert nbgrader_metadata.with_nbgrader_metadata(once) == once
    meta = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]
        for c in once.cells
        if "nbgrader" in c.metadata
    }
    assert set(meta) == {
        "ch1-die-bits-code",
        "ch1-die-bits-check",
        "ch1-my-kl-code",
        "ch1-my-kl-check",
        "ch1-gibbs-answer",
    }
    assert meta["ch1-my-kl-check"]["points"] == 2 and meta["ch1-my-kl-check"]["locked"]
    assert meta["ch1-gibbs-answer"] == {
        "grade": True,
        "grade_id": "ch1-gibbs-answer",
        "locked": False,
        "points": 2,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }


def test_nbgrader_generates_every_chapter(tmp_path):
    root = new_course(tmp_path / "course")
    (root / "source" / "all").mkdir(parents=True)
    for path in course.chapters(ROOT):
        notebook = nbgrader_metadata.with_nbgrader_metadata(nbformat.read(path, as_version=4))
        nbformat.write(notebook, root / "source" / "all" / path.name)
    nbgrader(root, "generate_assignment", "all", "--force")
    for path in course.chapters(ROOT):
        released = nbformat.read(root / "release" / "all" / path.name, as_version=4)
        text = "\n".join(c.source for c in released.cells)
        assert "### BEGIN SOLUTION" not in text and "# YOUR CODE HERE\npass" in text


def test_nbgrader_autograde_passes_right_and_fails_wrong(tmp_path):
    """Chapter 1 itself (not a toy): its solution notebook gets every auto-graded point,
    the released notebook answered wrongly gets none."""
    name = "01_kl_basics.ipynb"
    root = new_course(tmp_path / "course")
    chapter = nbformat.read(ROOT / "chapters" / name, as_version=4)
    exercises = course.chapter_exercises(chapter)
    chapter = nbgrader_metadata.with_nbgrader_metadata(chapter)
    (root / "source" / "ps1").mkdir(parents=True)
    nbformat.write(chapter, root / "source" / "ps1" / name)
    nbgrader(root, "generate_assignment", "ps1", "--force")
    released = nbformat.read(root / "release" / "ps1" / name, as_version=4)
    right = nbformat.read(root / "source" / "ps1" / name, as_version=4)
    wrong = nbformat.read(root / "release" / "ps1" / name, as_version=4)
    for cell in wrong.cells:  # the released notebook, answered wrongly
        cell.source = cell.source.replace("# YOUR CODE HERE\npass", "answer = 1.0")
        cell.source = cell.source.replace("    # YOUR CODE HERE\n    pass", "    return 0.0")
    assert released.cells != wrong.cells
    students = {"alice": right, "bob": wrong}
    for student, notebook in students.items():
        folder = root / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        for cell in notebook.cells:  # what a student's Jupyter would keep
            cell.metadata.get("nbgrader", {}).pop("checksum", None)
        nbformat.write(notebook, folder / name)
    nbgrader(root, "autograde", "ps1", "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        scores = {student: gradebook.find_submission("ps1", student).score for student in students}
        max_score = gradebook.find_assignment("ps1").max_score
    # the written answers' points wait for manual grading
    assert max_score == sum(e.points for e in exercises)
    auto = sum(e.points for e in exercises if e.kind == "auto")
    assert scores == {"alice": auto, "bob": 0}
    shutil.rmtree(root)
