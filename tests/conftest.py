"""Shared test set-up.

klcourse is imported before any test module imports TensorFlow, so TensorFlow loads
quietly; the full HTML book is built once per session for every test that reads it,
with the same command as `make book` (`klcourse.instructor.book_command`).
"""

import pathlib
import subprocess

import pytest

import klcourse  # noqa: F401
from klcourse.instructor import book_command

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def full_book(tmp_path_factory):
    """The course's HTML book, built from the working tree as `make book` builds it."""
    out = tmp_path_factory.mktemp("full-book")
    subprocess.run(book_command(ROOT, path_output=out), check=True, stdout=subprocess.DEVNULL)
    return pathlib.Path(out) / "_build" / "html"


def tiny_chapter():
    """A small chapter with two of chapter 1's code exercises and one written one.

    Graded, it runs no TensorFlow (its check cells are replaced by the grader), so the
    grading tests can run a whole class of it in little time.
    """
    import nbformat

    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# A tiny chapter"),
        v4.new_code_cell("import numpy as np\nimport scipy.special"),
        v4.new_markdown_cell(
            ":::{exercise} Loaded die\n:label: ch1-die-bits\n\nKL(loaded ‖ fair) in bits.\n:::"
        ),
        v4.new_code_cell(
            "answer = ...  # replace ... with your answer\n### BEGIN SOLUTION\n"
            "loaded = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.5])\n"
            "answer = np.sum(scipy.special.rel_entr(loaded, np.full(6, 1 / 6))) / np.log(2)\n"
            "### END SOLUTION",
            metadata={"tags": ["solution"]},
        ),
        v4.new_code_cell('kc.check.exercise("ch1-die-bits", answer)'),
        v4.new_markdown_cell(
            ":::{exercise} Your own discrete KL\n:label: ch1-my-kl\n\nWrite `my_kl`.\n:::"
        ),
        v4.new_code_cell(
            # written out: the checker rejects a call to rel_entr as the shortcut
            "def my_kl(p, q):\n    ### BEGIN SOLUTION\n"
            "    p, q = np.asarray(p, float), np.asarray(q, float)\n"
            "    if np.any((p > 0) & (q == 0)):\n        return np.inf\n"
            "    m = p > 0\n"
            "    return np.sum(p[m] * np.log(p[m] / q[m]))\n    ### END SOLUTION",
            metadata={"tags": ["solution"]},
        ),
        v4.new_code_cell('kc.check.exercise("ch1-my-kl", my_kl)'),
        v4.new_markdown_cell(
            ":::{exercise} Gibbs' inequality\n:label: ch1-gibbs\n\nProve it.\n:::"
        ),
        v4.new_markdown_cell(
            "✏️ *Your answer (exercise ch1-gibbs):* write it here.",
            metadata={
                "tags": ["written-answer", "remove-cell"],
                "klcourse": {"exercise": "ch1-gibbs", "points": 2},
            },
        ),
    ]
    return v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory):
    """A course folder holding only `tiny_chapter` as ``chapters/01_tiny.ipynb``."""
    import nbformat

    root = tmp_path_factory.mktemp("tiny-course")
    (root / "chapters").mkdir()
    nbformat.write(tiny_chapter(), root / "chapters" / "01_tiny.ipynb")
    return root
