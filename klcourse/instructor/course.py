"""What the instructor tools know about a course folder: chapters, exercises, the book.

Everything takes the course root as an argument (the command line's ``--course``,
by default the current folder), so the tools work the same from a checkout or from an
installed wheel. The exercises of a chapter are read from its cells:

* an **auto-graded** exercise is a code cell calling ``kc.check.exercise("id", expr)``
  (its *check cell*), after a code cell tagged ``solution``; its points come from the
  checker's registration in `klcourse.check`;
* a **written** exercise (a derivation) is a Markdown cell tagged ``written-answer``
  with cell metadata ``{"klcourse": {"exercise": "<label>", "points": N}}``, where the
  student writes the answer; it is marked by hand.
"""

import ast
import dataclasses
import pathlib
import re
import sys

__all__ = [
    "JUPYTER_BOOK",
    "BOOK_FLAGS",
    "book_command",
    "Exercise",
    "chapter_exercises",
    "chapters",
    "chapter_number",
    "check_call",
]

# The jupyter-book of the running environment (the venv's, not whatever is on PATH).
JUPYTER_BOOK = str(pathlib.Path(sys.executable).parent / "jupyter-book")
# The book is built one way everywhere (make book, the tests, the student edition):
# any warning is an error, and so is any reference that does not resolve.
BOOK_FLAGS = ("--warningiserror", "--nitpick")


def book_command(source, *, path_output=None):
    """The command that builds the Jupyter Book in ``source`` (``make book`` runs it).

    Args:
      source: the book's folder (with ``_config.yml`` and ``_toc.yml``).
      path_output: folder for ``_build`` (default: inside ``source``).

    Returns:
      ``list`` of ``str`` for ``subprocess.run``.
    """
    command = [JUPYTER_BOOK, "build", str(source), *BOOK_FLAGS]
    if path_output is not None:
        command += ["--path-output", str(path_output)]
    return command


def chapters(root):
    """The chapter notebooks of the course in ``root`` (``chapters/*.ipynb``), sorted.

    Only numbered notebooks count (``01_kl_basics.ipynb``, not ``notes.ipynb``).

    Args:
      root: the course folder.

    Returns:
      ``list`` of ``pathlib.Path``.

    Examples:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as root:
      ...     (pathlib.Path(root) / "chapters").mkdir()
      ...     for name in ("02_b.ipynb", "notes.ipynb", "01_a.ipynb"):
      ...         _ = (pathlib.Path(root) / "chapters" / name).write_text("{}")
      ...     names = [path.name for path in chapters(root)]
      >>> names
      ['01_a.ipynb', '02_b.ipynb']
    """
    return sorted((pathlib.Path(root) / "chapters").glob("[0-9]*.ipynb"))


def chapter_number(name):
    """``1`` for ``01_kl_basics.ipynb`` (any path or stem); ``None`` if not numbered.

    Args:
      name: a notebook's path or name (``str`` or ``pathlib.Path``).

    Returns:
      ``int`` or ``None``.

    Examples:
      >>> chapter_number("chapters/01_kl_basics.ipynb"), chapter_number("notes.ipynb")
      (1, None)
    """
    match = re.match(r"(\d+)_", pathlib.Path(str(name)).name)
    return int(match.group(1)) if match else None


def check_call(source):
    """``(exercise id, answer expression)`` if ``source`` calls ``kc.check.exercise``.

    The expression is the second argument's source text (``"answer"``, ``"my_kl"``).

    Examples:
      >>> check_call('kc.check.exercise("ch1-my-kl", my_kl)')
      ('ch1-my-kl', 'my_kl')
    """
    if "check.exercise" not in source:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        match = re.search(r"check\.exercise\(\s*[\"']([\w-]+)[\"']\s*,\s*([^)]*)\)", source)
        return (match.group(1), match.group(2).strip()) if match else None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "exercise"
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "check"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value, ast.get_source_segment(source, node.args[1])
    return None


@dataclasses.dataclass
class Exercise:
    """One graded exercise of a chapter, as its cells define it."""

    id: str
    kind: str  # "auto" or "written"
    points: int
    cell: int  # the check cell (auto) or the answer cell (written)
    cell_id: str | None
    expression: str | None = None  # auto: the checked expression
    solution_cell: int | None = None  # auto: the code cell tagged `solution` before it
    solution_cell_id: str | None = None


def chapter_exercises(notebook, registry=None):
    """The graded exercises of a chapter notebook, in the order they appear.

    Args:
      notebook: ``nbformat.NotebookNode``.
      registry: ``dict`` id -> `klcourse.check.Exercise` (default: the registered ones).

    Returns:
      ``list`` of `Exercise`.

    Examples:
      A three-cell notebook and a one-exercise registry (only ``points`` is read):

      >>> import types, nbformat
      >>> nb = nbformat.v4.new_notebook()
      >>> nb.cells = [
      ...     nbformat.v4.new_markdown_cell("Compute KL."),
      ...     nbformat.v4.new_code_cell("answer = 0.5", metadata={"tags": ["solution"]}),
      ...     nbformat.v4.new_code_cell('kc.check.exercise("ch1-kl", answer)'),
      ... ]
      >>> [found] = chapter_exercises(nb, {"ch1-kl": types.SimpleNamespace(points=2)})
      >>> found.id, found.kind, found.points, found.cell, found.solution_cell, found.expression
      ('ch1-kl', 'auto', 2, 2, 1, 'answer')
    """
    if registry is None:
        from klcourse import check

        registry = {e.id: e for e in check.exercises()}
    found, last_solution = [], None
    for index, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and "solution" in tags:
            last_solution = index
        call = check_call(cell.source) if cell.cell_type == "code" else None
        if call and call[0] in registry:
            solution = last_solution
            found.append(
                Exercise(
                    id=call[0],
                    kind="auto",
                    points=registry[call[0]].points,
                    cell=index,
                    cell_id=cell.get("id"),
                    expression=call[1],
                    solution_cell=solution,
                    solution_cell_id=notebook.cells[solution].get("id") if solution else None,
                )
            )
            last_solution = None
        meta = cell.get("metadata", {}).get("klcourse", {})
        if cell.cell_type == "markdown" and "written-answer" in tags and "exercise" in meta:
            found.append(
                Exercise(
                    id=str(meta["exercise"]),
                    kind="written",
                    points=int(meta.get("points", 1)),
                    cell=index,
                    cell_id=cell.get("id"),
                )
            )
    return found
