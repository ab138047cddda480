"""Instructor tools: a student edition, sandboxed grading, the exercise index, nbgrader.

Modules (each a command of ``python -m klcourse.instructor``, see ``--help``):

* `klcourse.instructor.course`: a course folder's chapters and exercises, and the one
  definition of how the book is built (``book``);
* `klcourse.instructor.edition`: the student edition without solutions (``student``);
* `klcourse.instructor.grading`: grading a class in a sandbox (``grade``), with
  `sandbox`, `runner`, `capture`, `callserver` and `values` doing the parts;
* `klcourse.instructor.index`: the exercise index page (``index``);
* `klcourse.instructor.nbgrader_metadata`: nbgrader metadata for the chapters
  (``nbgrader-metadata``).

Every tool takes the course folder as an argument (default: the current folder), so it
works from a checkout and from an installed wheel alike.
"""

from klcourse.instructor.course import BOOK_FLAGS, JUPYTER_BOOK, book_command
from klcourse.instructor.edition import build_student_edition, student_notebook
from klcourse.instructor.grading import Options, grade, grade_notebook
from klcourse.instructor.index import exercise_index
from klcourse.instructor.nbgrader_metadata import with_nbgrader_metadata
from klcourse.instructor.sandbox import Limits, SandboxUnavailable

__all__ = [
    "BOOK_FLAGS",
    "JUPYTER_BOOK",
    "book_command",
    "build_student_edition",
    "student_notebook",
    "Options",
    "grade",
    "grade_notebook",
    "exercise_index",
    "with_nbgrader_metadata",
    "Limits",
    "SandboxUnavailable",
]
