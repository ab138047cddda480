"""The exercise index (the book's exercise page): every exercise, how it is graded, points."""

import re

from klcourse.instructor import course

__all__ = ["exercise_index"]


def _exercises_in_notebooks(root):
    """(chapter, label, title, notebook) of every sphinx-exercise ``exercise``, in order."""
    import nbformat

    found = []
    for path in course.chapters(root):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            match = re.match(r":::\{exercise\}\s*(.*)\n:label:\s*([\w-]+)", cell.source.lstrip())
            if cell.cell_type == "markdown" and match:
                found.append(
                    (course.chapter_number(path), match.group(2), match.group(1).strip(), notebook)
                )
    return found


def exercise_index(root="."):
    """The Markdown table of every exercise: chapter, id, title, how it is graded, points.

    Code exercises come from `klcourse.check`'s registry (checked instantly, graded by
    ``grade``); written ones carry their points in their answer cell's metadata and are
    marked by the instructor.
    """
    from klcourse import check

    registry = {e.id: e for e in check.exercises()}
    lines = [
        "| chapter | exercise | title | topic | checked | points |",
        "| ---: | --- | --- | --- | --- | ---: |",
    ]
    cache = {}
    for chapter, label, title, notebook in _exercises_in_notebooks(root):
        exercise = registry.get(label)
        if exercise:
            lines.append(
                f"| {chapter} | `{label}` | {title} | {exercise.topic} | automatically "
                f"| {exercise.points} |"
            )
            continue
        if id(notebook) not in cache:
            cache[id(notebook)] = {
                e.id: e for e in course.chapter_exercises(notebook, registry) if e.kind == "written"
            }
        written = cache[id(notebook)].get(label)
        points = written.points if written else "—"
        lines.append(
            f"| {chapter} | `{label}` | {title} | derivation | by the instructor | {points} |"
        )
    return "\n".join(lines) + "\n"
