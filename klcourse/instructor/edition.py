"""The student edition: notebooks and a book without solutions.

Built on the standard tools: solution code sits between nbgrader's ``### BEGIN
SOLUTION`` / ``### END SOLUTION`` in cells tagged ``solution`` and is removed by
nbgrader's own ``ClearSolutions``; the solution prose lives in sphinx-exercise's gated
``solution-start``/``solution-end`` blocks, which are dropped, and the student book is
also built with sphinx-exercise's ``hide_solutions`` as a second guard. ``_config.yml``
and ``_toc.yml`` are read and written with PyYAML.

Where the student book's launch buttons lead: by default nowhere (the buttons are
switched off, so none opens the full edition's notebooks with their solutions) and the
student notebooks are in ``<out>/student-notebooks/``; with an instructor's repository
(``repository_url``), the buttons open that repository, which should hold the contents
of ``<out>/student-notebooks/`` at ``repository_path``.

What the student notebooks install: the Colab set-up cell of each chapter installs
``klcourse @ git+<the course repository>``, the full repository with every solution.
In the student edition it installs ``package_source`` instead (`with_package_source`):
a pip requirement the instructor gives (``--package-source``), by default ``klcourse``
(the package from the index pip uses). It must name the package only: a wheel's URL, an
index name, or a repository that holds ``klcourse/`` and no ``chapters/``. The student
pages show the same requirement wherever they tell students what to ``pip install``
(``@PACKAGE@`` in a ``student-only`` block).
"""

import copy
import json
import pathlib
import re
import shutil
import subprocess

from klcourse.instructor import course

__all__ = [
    "student_notebook",
    "with_package_source",
    "build_student_edition",
    "STUB",
    "NOTEBOOKS",
    "DEFAULT_PACKAGE_SOURCE",
]

# A stub that is valid at top level and as a function body, and displays nothing.
STUB = "# YOUR CODE HERE\npass"
NOTEBOOKS = "student-notebooks"  # the folder of the build that students open
INSTRUCTOR_PAGES = ("instructors", "exercises")
DEFAULT_PACKAGE_SOURCE = "klcourse"  # what students pip-install: the package, no solutions
PACKAGE_PLACEHOLDER = "@PACKAGE@"  # in the pages' student-only blocks
# The requirement the chapters' Colab set-up cell installs: "klcourse" or "klcourse @ URL",
# the last item of its pip command's list (not the `find_spec("klcourse")` before it).
_SETUP_REQUIREMENT = re.compile(
    r"""(?P<quote>["'])klcourse(?:\s*@[^"'\n]*)?(?P=quote)(?=,?\s*\])"""
)


def _check_package_source(package_source):
    if not package_source or not package_source.strip() or "\n" in package_source:
        raise ValueError(f"`package_source` must be one pip requirement; got {package_source!r}")
    return package_source.strip()


def with_package_source(notebook, package_source=DEFAULT_PACKAGE_SOURCE):
    """The notebook with its Colab set-up cell installing ``package_source`` (a new object).

    Args:
      notebook: an ``nbformat.NotebookNode`` whose first code cell is the set-up cell.
      package_source: a pip requirement for the ``klcourse`` package.

    Returns:
      ``nbformat.NotebookNode``.

    Raises:
      ValueError: the set-up cell names no ``klcourse`` requirement to replace.
    """
    package_source = _check_package_source(package_source)
    notebook = copy.deepcopy(notebook)
    setup = next((c for c in notebook.cells if c.cell_type == "code"), None)
    if setup is None or "Colab set-up" not in setup.source:
        return notebook
    source, count = _SETUP_REQUIREMENT.subn(
        lambda _: json.dumps(package_source, ensure_ascii=False), setup.source
    )
    if count != 1:
        raise ValueError(f"the Colab set-up cell names {count} klcourse requirements, not 1")
    setup.source = source
    return notebook


def _is_gate(cell, name):
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(f":::{{{name}")


def student_notebook(notebook):
    """The student version of a chapter notebook (a new object; the input is untouched).

    * code between nbgrader's solution delimiters becomes ``# YOUR CODE HERE`` and
      ``pass`` (nbgrader's ``ClearSolutions``); the ``answer = ...`` line before it
      stays, so the notebook runs top to bottom, prints nothing there, and each check
      reports "not answered";
    * the gated solution prose (``solution-start`` ... ``solution-end``) is removed,
      keeping the stubbed code cells that sat inside it;
    * outputs of the stubbed cells and of the ``kc.check`` cells are cleared;
    * written-answer cells keep their prompt.

    Args:
      notebook: an ``nbformat.NotebookNode``.

    Returns:
      ``nbformat.NotebookNode``.
    """
    from nbgrader.preprocessors import ClearSolutions

    notebook = copy.deepcopy(notebook)
    prompts = {
        index: cell.source
        for index, cell in enumerate(notebook.cells)
        if "written-answer" in cell.get("metadata", {}).get("tags", [])
    }
    clear = ClearSolutions(
        enforce_metadata=False, code_stub={"python": STUB}, text_stub="YOUR ANSWER HERE"
    )
    notebook, _ = clear.preprocess(notebook, {"language": "python"})
    for index, source in prompts.items():
        notebook.cells[index].source = source
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
        if cell.cell_type == "code" and ("solution" in tags or course.check_call(cell.source)):
            cell.outputs, cell.execution_count = [], None
        kept.append(cell)
    notebook.cells = kept
    return notebook


def for_students_to_open(notebook, root, name):
    """The notebook as students open it in Jupyter or Colab (the one call site).

    `klcourse.jupyter_flavour` rewrites the MyST as plain Jupyter Markdown, with the
    glued numbers filled in; cells, their tags and metadata (which grading and nbgrader
    use) are kept.
    """
    from klcourse.jupyter_flavour import jupyter_notebook

    return jupyter_notebook(notebook, root=root, name=name)


def _student_toc(toc, root):
    """The table of contents without the instructor pages, with the students' page."""
    toc = copy.deepcopy(toc)
    parts = []
    for part in toc.get("parts", []):
        if "instructor" in str(part.get("caption", "")).lower():
            continue
        part["chapters"] = [
            c for c in part.get("chapters", []) if c.get("file") not in INSTRUCTOR_PAGES
        ]
        if part["chapters"]:
            parts.append(part)
    listed = {c.get("file") for part in parts for c in part["chapters"]}
    if (pathlib.Path(root) / "students.md").exists() and "students" not in listed:
        parts.insert(0, {"caption": "For students", "chapters": [{"file": "students"}]})
    toc["parts"] = parts
    return toc


def _student_config(config, repository_url, repository_path, repository_branch):
    config = copy.deepcopy(config)
    config["title"] = f"{config.get('title', 'Course')} (student edition)"
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["hide_solutions"] = True
    # The course's Sphinx extension (_ext) removes the launch buttons when told to, and
    # would point them at notebooks/; here the student notebooks are the page sources'
    # neighbours in the instructor's repository, and the download button is set below.
    sphinx_config["klcourse_launch_buttons"] = bool(repository_url)
    sphinx_config["klcourse_notebooks"] = ""
    html = config.setdefault("html", {})
    if repository_url:
        config["repository"] = {
            "url": repository_url,
            "path_to_book": repository_path,
            "branch": repository_branch,
        }
    else:  # no button may lead to the full edition's notebooks
        config.pop("repository", None)
        config["launch_buttons"] = {
            "notebook_interface": "classic",
            "binderhub_url": "",
            "jupyterhub_url": "",
            "colab_url": "",
            "thebe": False,
        }
        html.update(
            use_repository_button=False, use_issues_button=False, use_edit_page_button=False
        )
    return config


def student_landing_page(text, package_source=DEFAULT_PACKAGE_SOURCE):
    """A page of the student book: instructor-only parts out, student-only parts in.

    ``<!-- instructor-only -->`` ... ``<!-- /instructor-only -->`` is removed;
    ``<!-- student-only`` ... ``-->`` (a comment in the full edition) is shown, with
    ``@PACKAGE@`` replaced by ``package_source``.
    """
    package_source = _check_package_source(package_source)
    text = re.sub(r"<!-- instructor-only -->.*?<!-- /instructor-only -->\n?", "", text, flags=re.S)
    return re.sub(
        r"<!-- student-only\n(.*?)-->\n?",
        lambda m: m.group(1).replace(PACKAGE_PLACEHOLDER, package_source),
        text,
        flags=re.S,
    )


def build_student_edition(
    out,
    *,
    root=".",
    repository_url=None,
    repository_path="",
    repository_branch="main",
    package_source=DEFAULT_PACKAGE_SOURCE,
    build_html=True,
):
    """Write the student notebooks and build the student HTML book.

    Produces ``out/student-notebooks/chapters/*.ipynb`` (what students open) and
    ``out/html/`` (the student book, built from the student notebooks, so nothing of a
    solution reaches its pages, downloadable notebooks or search index).

    Args:
      out: output folder (replaced).
      root: the course folder (with ``_config.yml``, ``_toc.yml`` and ``chapters/``).
      repository_url: the instructor's repository holding ``out/student-notebooks``'
        contents, for the launch and repository buttons; default: no such buttons.
      repository_path: where in that repository (``path_to_book``); default its root.
      repository_branch: its branch.
      package_source: the pip requirement the notebooks' Colab set-up cell installs and
        the students' page names (see the module docstring); default ``klcourse``.
      build_html: also build the HTML book (`course.book_command`).

    Returns:
      ``pathlib.Path`` of ``out``.
    """
    import nbformat
    import yaml

    package_source = _check_package_source(package_source)
    root, out = pathlib.Path(root).resolve(), pathlib.Path(out).resolve()
    source = out / "source"
    if out.exists():
        shutil.rmtree(out)
    (source / "chapters").mkdir(parents=True)
    (out / NOTEBOOKS / "chapters").mkdir(parents=True)
    for path in course.chapters(root):
        student = student_notebook(nbformat.read(path, as_version=4))
        student = with_package_source(student, package_source)
        nbformat.write(student, source / "chapters" / path.name)
        flavoured = for_students_to_open(student, root, path.name)
        nbformat.write(flavoured, out / NOTEBOOKS / "chapters" / path.name)
    config = yaml.safe_load((root / "_config.yml").read_text())
    toc = _student_toc(yaml.safe_load((root / "_toc.yml").read_text()), root)
    pages = {c["file"] for part in toc["parts"] for c in part["chapters"]} | {toc["root"]}
    for page in pages - {f"chapters/{p.stem}" for p in course.chapters(root)}:
        (source / f"{page}.md").parent.mkdir(parents=True, exist_ok=True)
        text = student_landing_page((root / f"{page}.md").read_text(), package_source)
        (source / f"{page}.md").write_text(text)
    for name in config.get("bibtex_bibfiles", []) + [config.get("html", {}).get("favicon")]:
        if name:
            shutil.copy(root / name, source / name)
    for local in config.get("sphinx", {}).get("local_extensions", {}).values():
        shutil.copytree(root / local, source / local)
    for extra in config.get("sphinx", {}).get("config", {}).get("html_extra_path", []):
        shutil.copytree(root / extra, source / extra)  # e.g. the root favicon.ico
    config = _student_config(config, repository_url, repository_path, repository_branch)
    (source / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (source / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    if build_html:
        subprocess.run(
            course.book_command(source), check=True, stdout=subprocess.DEVNULL, cwd=source
        )
        shutil.move(str(source / "_build" / "html"), str(out / "html"))
        shutil.rmtree(source / "_build")
        # The page's download button offers the notebook students open, too.
        for path in (out / NOTEBOOKS / "chapters").glob("*.ipynb"):
            target = out / "html" / "_sources" / "chapters" / path.name
            if target.exists():
                shutil.copy(path, target)
    return out
