"""nbgrader metadata for the chapter notebooks, derived from their cells.

``python -m klcourse.instructor nbgrader-metadata chapters/*.ipynb`` writes it (and only
rewrites a notebook that changes; running it twice changes nothing). With the metadata,
``nbgrader generate_assignment`` and ``nbgrader autograde`` take the chapters as they are:

* a code cell tagged ``solution`` is an nbgrader *solution cell* (``<label>-code``);
* a check cell, ``kc.check.exercise("id", answer)``, is an *autograded test cell*
  (``<id>-check``, locked) worth the checker's registered points. Under nbgrader
  (``NBGRADER_EXECUTION`` set) `klcourse.check.exercise` raises on a wrong or missing
  answer, so nbgrader counts the test as failed;
* a written-answer cell (Markdown, tagged ``written-answer``, with
  ``{"klcourse": {"exercise": label, "points": N}}``) is a *manually graded answer*
  (``<label>-answer``);
* no other cell carries nbgrader metadata.
"""

import copy
import re

from klcourse.instructor import course

__all__ = ["with_nbgrader_metadata", "apply"]

LABEL = re.compile(
    r"^:::\{(?:exercise|solution-start)\}[^\n]*?(?:\s([\w-]+))?\s*\n(?::label:\s*([\w-]+))?"
)


def _meta(grade_id, *, grade, solution, locked, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def with_nbgrader_metadata(notebook, registry=None):
    """A copy of ``notebook`` whose cells carry exactly the nbgrader metadata above."""
    notebook = copy.deepcopy(notebook)
    exercises = course.chapter_exercises(notebook, registry)
    wanted = {}
    for exercise in exercises:
        if exercise.kind == "auto":
            wanted[exercise.cell] = _meta(
                f"{exercise.id}-check",
                grade=True,
                solution=False,
                locked=True,
                points=exercise.points,
            )
        else:
            wanted[exercise.cell] = _meta(
                f"{exercise.id}-answer",
                grade=True,
                solution=True,
                locked=False,
                points=exercise.points,
            )
    label, used = None, set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            match = LABEL.match(cell.source.lstrip())
            if match and (match.group(2) or match.group(1)):
                label = match.group(2) or match.group(1)
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and "solution" in tags and index not in wanted:
            grade_id = f"{label or 'solution'}-code"
            suffix = 2
            while grade_id in used:
                grade_id, suffix = f"{label or 'solution'}-code-{suffix}", suffix + 1
            used.add(grade_id)
            wanted[index] = _meta(grade_id, grade=False, solution=True, locked=False)
    for index, cell in enumerate(notebook.cells):
        if index in wanted:
            cell.metadata["nbgrader"] = wanted[index]
        else:
            cell.metadata.pop("nbgrader", None)
    return notebook


def apply(paths, *, check_only=False):
    """Write the metadata into the notebooks at ``paths``.

    Returns:
      ``list`` of the paths that changed (or, with ``check_only``, would change).
    """
    import nbformat

    changed = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        updated = with_nbgrader_metadata(notebook)
        if updated != notebook:
            changed.append(path)
            if not check_only:
                nbformat.write(updated, path)
    return changed
