"""Checks on the chapters' Markdown source that need no build."""

import pathlib
import re

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted(ROOT.glob("*.md"))
LIST_MARKER = re.compile(r"\s*(?:[-+*]|\d+[.)])\s")


def markdown_of(path):
    if path.suffix == ".md":
        return [path.read_text()]
    notebook = nbformat.read(path, as_version=4)
    return [c.source for c in notebook.cells if c.cell_type == "markdown"]


def list_markers_inside_math(text):
    """Lines that continue inline math ($...$) but start like a list item.

    Markdown reads ``+ \\log s`` at the start of a line as a bullet, even inside ``$``:
    the maths breaks in two and the rest of the paragraph becomes a list.
    """
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        before = ""
        for line in paragraph.split("\n"):
            if before and LIST_MARKER.match(line):
                if before.replace("$$", "").count("$") % 2 == 1:
                    found.append(line)
            before += line + "\n"
    return found


def test_the_check_finds_a_list_marker_inside_math():
    assert list_markers_inside_math("so $a - 1\n+ b$ holds") == ["+ b$ holds"]
    assert list_markers_inside_math("so $a - 1$ holds\n- a list item") == []


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_line_of_inline_math_starts_like_a_list_item(path):
    bad = [line for text in markdown_of(path) for line in list_markers_inside_math(text)]
    assert not bad, f"{path.name}: move the operator to the end of the line before: {bad}"
