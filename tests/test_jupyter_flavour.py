"""The Jupyter-flavoured notebooks: every MyST construct, the real chapters, and what
plain Jupyter shows (nbconvert's HTML export) of every notebook a student can open."""

import base64
import copy
import html
import json
import pathlib
import re
import textwrap

import nbformat
import pytest

from klcourse import jupyter_flavour
from klcourse.jupyter_flavour import convert_folder, jupyter_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
NOTEBOOKS = ROOT / "notebooks"
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
    )
).decode()

BIB = """
@article{kullback1951,
  author = {Kullback, Solomon and Leibler, Richard A.},
  title = {On Information and Sufficiency},
  journal = {The Annals of Mathematical Statistics},
  volume = {22}, number = {1}, pages = {79--86}, year = {1951},
  doi = {10.1214/aoms/1177729694}
}
@misc{three2020,
  author = {One, Ann and Two, Bob and Three, Cy},
  title = {A Note (with parentheses)},
  howpublished = {Blog post, \\url{http://example.org/x}},
  year = {2020}
}
"""
CONFIG = """
title: test
parse:
  myst_enable_extensions: [amsmath, dollarmath, colon_fence, deflist, substitution]
bibtex_bibfiles: [references.bib]
sphinx:
  config:
    bibtex_reference_style: author_year
"""
TOC = """
format: jb-book
root: intro
chapters:
  - file: chapters/01_first
  - file: chapters/02_second
  - file: references
"""


def glue_output(name, plain=None, png=None):
    data = {}
    if plain is not None:
        data["application/papermill.record/text/plain"] = plain
    if png is not None:
        data["application/papermill.record/image/png"] = png
    return nbformat.v4.new_output(
        "display_data",
        data=data,
        metadata={"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}},
    )


def notebook(*cells):
    """cells: strings (Markdown) or (source, tags, outputs) tuples (code)."""
    nb = nbformat.v4.new_notebook()
    for index, cell in enumerate(cells):
        if isinstance(cell, str):
            new = nbformat.v4.new_markdown_cell(textwrap.dedent(cell).strip("\n"))
        else:
            source, tags, outputs = cell
            new = nbformat.v4.new_code_cell(source, outputs=outputs)
            new.metadata["tags"] = tags
        new.id = f"cell{index}"
        nb.cells.append(new)
    return nb


SETUP = ("# Colab set-up\nimport sys", ["remove-cell"], [])


@pytest.fixture
def root(tmp_path):
    """A two-chapter book: the first chapter has two exercises and a labelled section."""
    (tmp_path / "_config.yml").write_text(CONFIG)
    (tmp_path / "_toc.yml").write_text(TOC)
    (tmp_path / "references.bib").write_text(BIB)
    (tmp_path / "intro.md").write_text("# The intro page\n")
    (tmp_path / "references.md").write_text("# References\n\n```{bibliography}\n```\n")
    (tmp_path / "chapters").mkdir()
    first = notebook(
        SETUP,
        "# 1. First chapter\n\n(sec-one)=\n## 1.1 A section",
        ":::{exercise} One\n:label: ex-one\n\nDo it.\n:::",
        ":::{exercise} Two\n:label: ex-two\n\nDo it again.\n:::",
    )
    nbformat.write(first, tmp_path / "chapters" / "01_first.ipynb")
    second = notebook(SETUP, "# 2. Second chapter", ":::{exercise} Three\n:label: ex-three\n:::")
    nbformat.write(second, tmp_path / "chapters" / "02_second.ipynb")
    return tmp_path


def markdown(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def convert(root, *cells, name="02_second.ipynb"):
    return jupyter_notebook(notebook(SETUP, *cells), root=root, name=name)


# ------------------------------------------------------------------ glue
def test_glue_text_is_formatted_as_myst_nb_formats_it(root):
    nb = convert(
        root,
        (
            "kc.glue(...)",
            [],
            [
                glue_output("x", "0.0822805"),
                glue_output("n", "100000"),
                glue_output("s", "'a *b* $c$'"),
            ],
        ),
        "KL is {glue:text}`x:.4f` nats ({glue:text}`x:.1e`), n = {glue:text}`n:,d`;\n"
        "raw {glue:text}`x`, any {glue}`x`, string {glue:text}`s`.",
    )
    (text,) = markdown(nb)
    assert text == (
        "KL is 0.0823 nats (8.2e-02), n = 100,000;\n"
        "raw 0.0822805, any 0.0822805, string a \\*b\\* \\$c\\$."
    )


def test_glue_outputs_that_jupyter_does_not_show_are_dropped(root):
    shown = nbformat.v4.new_output("stream", text="KL = 0.08\n")
    nb = convert(root, ("x", [], [glue_output("x", "1"), shown]), "{glue:text}`x`")
    assert nb.cells[1].outputs == [shown]


def test_glued_figure_becomes_an_attached_image_with_its_caption(root):
    nb = convert(
        root,
        ("fig", [], [glue_output("fig", "<Figure>", png=PNG)]),
        ":::{glue:figure} fig\n:name: fig-one\n\nThe caption, see {numref}`fig-one`.\n:::",
        "Inline {glue}`fig` too.",
    )
    figure, inline = [c for c in nb.cells if c.cell_type == "markdown"]
    assert figure.source.startswith('<a id="fig-one"></a>\n![fig](attachment:fig.png)')
    assert figure.source.endswith("*Figure 1*: The caption, see [Figure 1](#fig-one).")
    assert figure.attachments == {"fig.png": {"image/png": PNG}}
    assert inline.source == "Inline ![fig](attachment:fig.png) too."


def test_a_missing_glue_key_is_an_error_naming_it(root):
    with pytest.raises(ValueError, match="no glue output named 'nope'"):
        convert(root, "{glue:text}`nope:.2f`")


# ------------------------------------------------------------------ exercises
def test_exercises_are_numbered_as_in_the_book_and_solutions_fold(root):
    nb = convert(
        root,
        "## Exercises",
        ":::{exercise} Three\n:label: ex-three\n\nCompute $x$ with {cite}`kullback1951`.\n:::",
        ":::{solution-start} ex-three\n:class: dropdown\n:::\n\nUse *this*.",
        ("answer = ...\n### BEGIN SOLUTION\nanswer = 1\n### END SOLUTION", ["solution"], []),
        ":::{solution-end}\n:::",
        ('kc.check.exercise("ex-three", answer)', [], []),
        "See {ref}`ex-three` and {ref}`ex-one`.",
    )
    texts = markdown(nb)
    # Chapter 1 has two exercises, so this one is the book's Exercise 3.
    assert texts[1] == (
        '<a id="ex-three"></a>\n### Exercise 3 (Three)\n\n'
        "Compute $x$ with [Kullback and Leibler, 1951]."
    )
    assert texts[2] == (
        "<details>\n<summary><b>Solution to Exercise 3 (Three)</b> (click to show)</summary>"
        "\n\nUse *this*.\n\n</details>"
    )
    # The solution-end cell is gone; the solution code is collapsed, the check is not.
    solution, check = [c for c in nb.cells if c.cell_type == "code"][1:]
    assert solution.metadata["jupyter"] == {"source_hidden": True}
    assert "jupyter" not in check.metadata
    assert texts[3] == "See [Exercise 3](#ex-three) and [Exercise 1](01_first.ipynb#ex-one)."


def test_student_edition_stubs_stay_visible(root):
    """Without the gates (the student edition) the stubbed cell is not collapsed."""
    nb = convert(
        root,
        ":::{exercise} Three\n:label: ex-three\n:::",
        ("answer = ...\n# YOUR CODE HERE\n...", ["solution"], []),
    )
    assert "jupyter" not in nb.cells[-1].metadata


# ------------------------------------------------------------------ blocks
def test_admonitions_and_proofs_become_quotes_with_one_line_math(root):
    nb = convert(
        root,
        """
        :::{admonition} Learning objectives
        :class: tip
        1. read $\\mathrm{KL}(p
           \\| q)$;
        2. show

        $$
        a = b
        $$
        :::

        :::{note}
        Plain.
        :::

        :::{prf:proof}
        Trivial.
        :::

        :::{prf:theorem} Gibbs
        KL is never negative.
        :::
        """,
    )
    (text,) = markdown(nb)
    assert text == (
        "> **Learning objectives**\n>\n> 1. read $\\mathrm{KL}(p \\| q)$;\n> 2. show\n>\n"
        "> $$ a = b $$\n\n"
        "> **Note**\n>\n> Plain.\n\n"
        "> **Proof.**\n>\n> Trivial.\n\n"
        "> **Theorem (Gibbs)**\n>\n> KL is never negative."
    )


def test_dropdown_admonition_becomes_details(root):
    nb = convert(root, ":::{admonition} Why?\n:class: dropdown\nBecause.\n:::")
    assert markdown(nb) == ["<details>\n<summary><b>Why?</b></summary>\n\nBecause.\n\n</details>"]


def test_math_and_plain_markdown_are_copied_unchanged(root):
    source = (
        "# Title\n\nText with $a_{b}$ and *emphasis*, `{cite}`code``, a [link](x).\n\n"
        "$$\n\\begin{aligned} x &= 1 \\\\ y &= 2 \\end{aligned}\n$$\n\n"
        "\\begin{align}\na &= b\n\\end{align}\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n"
        "```python\n:::{note}\n```"
    )
    assert markdown(convert(root, source)) == [source]


def test_labels_refs_equations_docs_and_citations(root):
    nb = convert(
        root,
        """
        (sec-two)=
        ## 2.1 Here

        $$ e = mc^2 $$ (eq-energy)

        By {eq}`eq-energy`, see {ref}`sec-two`, {ref}`the section <sec-one>`,
        {numref}`Exercise %s <ex-one>`, {doc}`01_first`, {doc}`../intro` and
        {cite:t}`kullback1951`; also {cite:p}`kullback1951,three2020`, {math}`x^2`,
        H{sub}`2`O.

        % a comment
        """,
    )
    text, _ = markdown(nb)
    assert text == (
        '<a id="sec-two"></a>\n## 2.1 Here\n\n'
        '<a id="eq-energy"></a>\n\n$$\ne = mc^2 \\tag{1}\n$$\n\n'
        "By [(1)](#eq-energy), see [2.1 Here](#sec-two), "
        "[the section](01_first.ipynb#sec-one),\n"
        "[Exercise 1](01_first.ipynb#ex-one), [1. First chapter](01_first.ipynb), "
        "The intro page and\n"
        "Kullback and Leibler [1951]; also [Kullback and Leibler, 1951, One et al., 2020], "
        "$x^2$,\nH<sub>2</sub>O."
    )
    assert nb.cells[-1].source == (
        '<a id="bibliography"></a>\n## References\n\n'
        "- Solomon Kullback and Richard A. Leibler. On information and sufficiency. "
        "*The Annals of Mathematical Statistics*, 22(1):79–86, 1951. "
        "[doi:10.1214/aoms/1177729694](https://doi.org/10.1214/aoms/1177729694).\n"
        "- Ann One, Bob Two, and Cy Three. A note (with parentheses). "
        "Blog post, http://example.org/x, 2020."
    )


def test_doc_links_lead_where_jupyter_and_colab_can_follow(root):
    # A MyST page (the intro) cannot be opened from Colab and shows raw in Jupyter: no
    # link, unless the book's URL is configured. The bibliography page becomes the
    # notebook's own appended references; a chapter with its own "References" section
    # gets them under another heading, not a second "References".
    nb = convert(
        root,
        "See {doc}`../intro` and {cite:t}`kullback1951`.",
        "## References\n\nFull entries on the {doc}`../references` page.",
    )
    text, own, appended = markdown(nb)
    assert text == "See The intro page and Kullback and Leibler [1951]."
    assert own == "## References\n\nFull entries on the [Bibliography](#bibliography) page."
    assert appended.startswith('<a id="bibliography"></a>\n## Bibliography\n\n- Solomon')
    assert sum(re.search(r"^#+ References$", t, re.M) is not None for t in markdown(nb)) == 1
    with (root / "_config.yml").open("a") as config:
        config.write("html:\n  baseurl: https://example.org/book/\n")
    (text,) = markdown(convert(root, "See {doc}`../intro`."))
    assert text == "See [The intro page](https://example.org/book/intro.html)."


def test_explorer_outputs_of_the_book_ask_to_run_the_cell(root):
    book_output = nbformat.v4.new_output(
        "execute_result",
        data={
            "text/html": '<div class="klcourse-explorer" data-explorer="fits"><script>'
            "querySelectorAll(\"script[type='text/x-bokehjs']\")</script></div>",
            "text/plain": "<klcourse explorer: fits>",
        },
        execution_count=3,
    )
    inline = copy.deepcopy(book_output)
    inline["data"]["text/html"] += '<script type="text/x-bokehjs">/* BokehJS */</script>'
    nb = convert(root, ("kc.explore.fits()", [], [book_output]), ("again", [], [inline]))
    first, second = [c.outputs for c in nb.cells if c.cell_type == "code"][1:]
    assert first[0]["data"]["text/html"] == (
        f"<p><em>{jupyter_flavour.EXPLORER_PLACEHOLDER}</em></p>"
    )
    assert "Run this cell" in first[0]["data"]["text/plain"]
    assert "BokehJS" not in json.dumps(first[0]["data"])
    assert second == [inline]  # an output that works in Jupyter is kept


def test_figure_directive_embeds_the_image(root):
    (root / "chapters" / "plot.png").write_bytes(base64.b64decode(PNG))
    nb = convert(root, "```{figure} plot.png\n:alt: a dot\n:name: fig-dot\n\nA dot.\n```")
    (cell,) = [c for c in nb.cells if c.cell_type == "markdown"]
    assert (
        cell.source == '<a id="fig-dot"></a>\n![a dot](attachment:plot.png)\n\n*Figure 1*: A dot.'
    )
    assert cell.attachments["plot.png"] == {"image/png": PNG}


@pytest.mark.parametrize(
    "source, message",
    [
        ("{unknownrole}`x`", "role {unknownrole}"),
        (":::{unknowndirective}\nx\n:::", "directive {unknowndirective}"),
        ("{ref}`no-such-label`", "unknown label 'no-such-label'"),
        ("{cite}`nobody2000`", "'nobody2000' is not in the .bib files"),
        ("- item\n\n  :::{note}\n  nested\n  :::", "inside a list or quote"),
    ],
)
def test_what_cannot_be_converted_is_an_error_not_a_leak(root, source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        convert(root, source)


# ------------------------------------------------------------------ cells
def test_setup_cell_and_hidden_cells_are_collapsed(root):
    original = notebook(
        SETUP,
        ("kc.glue('x', 1)", ["remove-input"], []),
        ("plot()", ["hide-input"], []),
        ("shown()", [], []),
    )
    before = nbformat.writes(original)
    nb = jupyter_notebook(original, root=root, name="02_second.ipynb")
    assert nbformat.writes(original) == before  # the input is not modified
    setup, plumbing, plot, shown = nb.cells
    assert setup.metadata["jupyter"] == {"source_hidden": True}
    assert setup.metadata["cellView"] == "form" and setup.metadata["collapsed"] is True
    assert setup.source == jupyter_flavour.COLAB_TITLE + SETUP[0]
    assert plumbing.metadata["jupyter"] == plot.metadata["jupyter"] == {"source_hidden": True}
    assert "jupyter" not in shown.metadata
    nbformat.validate(nb)


# ------------------------------------------------------------------ the real chapters
@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_committed_notebooks_are_up_to_date():
    stale = convert_folder(ROOT / "chapters", NOTEBOOKS, check=True)
    assert stale == [], (
        f"notebooks/ is out of date for {stale}: run `make notebooks` "
        "(python -m klcourse.jupyter_flavour chapters notebooks) and commit the result"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_flavoured_notebooks_run_the_chapters_code(chapter):
    """Same code cells, in the same order: the chapter stays the one source of truth."""
    source = json.loads(chapter.read_text())["cells"]
    flavoured = json.loads((NOTEBOOKS / chapter.name).read_text())["cells"]
    code = [("".join(c["source"]), c.get("id")) for c in source if c["cell_type"] == "code"]
    code_flavoured = [
        ("".join(c["source"]).removeprefix(jupyter_flavour.COLAB_TITLE), c.get("id"))
        for c in flavoured
        if c["cell_type"] == "code"
    ]
    assert code == code_flavoured


# ------------------------------------------------------------------ what students see
# A role is its name followed by a backtick (rendered: <code>); a bare "{ref}" can be
# math, as in $\pi_{\text{ref}}$.
MYST_LEFT = re.compile(
    r"\{glue|\{cite|\{prf:|\{exercise|\{solution"
    r"|:::|```\{|\{[a-z][\w:+-]*\}(?:`|<code>)|^\s*\([\w-]+\)=\s*$|^\s*:(?:label|class|name):",
    re.M,
)


def rendered_markdown(nb):
    """{cell id: HTML of the rendered Markdown} of nbconvert's HTML export (lab template)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    cells = re.split(r'(?=<div class="jp-Cell )', body)
    out = {}
    for cell in cells:
        match = re.match(r'<div class="jp-Cell jp-MarkdownCell[^"]*" id="cell-id=([^"]+)"', cell)
        if match:
            out[match.group(1)] = cell
    return out


def glued_numbers(source):
    """The text each ``{glue:text}`` of a MyST Markdown source shows in the book."""
    return re.findall(r"\{glue:text\}`([\w-]+)(?::([^`]*))?`", source)


def check_students_see_no_myst(flavoured, chapter):
    """Assert what plain Jupyter shows of ``flavoured`` (made from ``chapter``)."""
    glue = jupyter_flavour._glue_data(chapter)
    rendered = rendered_markdown(flavoured)
    assert len(rendered) == sum(c.cell_type == "markdown" for c in flavoured.cells)
    checked = 0
    for cell in chapter.cells:
        if cell.cell_type != "markdown" or cell.id not in rendered:
            continue
        shown = html.unescape(rendered[cell.id])
        left = MYST_LEFT.findall(shown)
        assert not left, f"cell {cell.id}: MyST left in what Jupyter shows: {left}"
        # Tags go before entities are decoded: a decoded "<" in math ($|x| < 1.2$) would
        # otherwise open a "tag" that swallows the text up to the next ">".
        text = html.unescape(re.sub(r"<[^>]+>", "", rendered[cell.id]))
        for key, fmt in glued_numbers(cell.source):
            value = jupyter_flavour._format_plain_text(
                "".join(glue[key]["text/plain"]), fmt if fmt else ""
            )
            assert value in text, f"cell {cell.id}: glued {key} = {value!r} not shown"
            checked += 1
    return checked


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_full_edition_notebooks_show_no_myst_and_every_glued_number(chapter):
    source = nbformat.read(chapter, as_version=4)
    flavoured = nbformat.read(NOTEBOOKS / chapter.name, as_version=4)
    expected = sum(len(glued_numbers(c.source)) for c in source.cells if c.cell_type == "markdown")
    assert check_students_see_no_myst(flavoured, source) == expected > 0
    assert re.search(r"^## (References|Bibliography)$", flavoured.cells[-1].source, re.M)


@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_chapter_7_links_its_own_references_and_has_one_references_heading():
    name = "07_kl_in_training.ipynb"
    flavoured = jupyter_notebook(nbformat.read(ROOT / "chapters" / name, as_version=4), name=name)
    text = "\n".join(markdown(flavoured))
    assert "references.md" not in text and "{bibliography}" not in text
    assert len(re.findall(r"^#+ References\s*$", text, re.M)) == 1
    assert "[Bibliography](#bibliography)" in text
    assert flavoured.cells[-1].source.startswith('<a id="bibliography"></a>\n## Bibliography')


MAX_NOTEBOOK_BYTES = 3 * 2**20  # issue 20: every notebook stays under 3 MiB


@pytest.mark.parametrize(
    "path",
    CHAPTERS + sorted(NOTEBOOKS.glob("*.ipynb")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_notebooks_are_under_3_mib(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name}: {path.stat().st_size} bytes"


def student_notebooks():
    """The student edition's notebooks: those built by `make student` if present, else
    the chapters through the same two steps (nbgrader's stubs, then this converter)."""
    built = sorted((ROOT / "_build" / "student").glob("*notebooks/**/*.ipynb"))
    if built:
        return [(path.name, path) for path in built]
    return [(path.name, None) for path in CHAPTERS]


@pytest.mark.parametrize("name, path", student_notebooks(), ids=[n for n, _ in student_notebooks()])
@pytest.mark.slow  # tiers: seconds of work; `make unit` skips it
def test_student_edition_notebooks_show_no_myst_and_every_glued_number(name, path):
    from klcourse.instructor import student_notebook

    chapter = nbformat.read(ROOT / "chapters" / name, as_version=4)
    if path is None:
        flavoured = jupyter_notebook(student_notebook(chapter), name=name)
    else:
        flavoured = nbformat.read(path, as_version=4)
    check_students_see_no_myst(flavoured, chapter)
    assert "BEGIN SOLUTION" not in nbformat.writes(flavoured)


# ------------------------------------------------------------------ the book's buttons
def load_extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "klcourse_sphinx", ROOT / "_ext" / "klcourse_sphinx.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_context(path):
    """Header buttons as sphinx-book-theme 1.x makes them for a chapter (its URL formats)."""
    hub = "https://hub.example.org/hub/user-redirect/git-pull?repo=https://github.com/o/r"
    return {
        "page_source_suffix": ".ipynb",
        "pathto": lambda target, resource: f"../{target}",
        "header_buttons": [
            {
                "label": "download-buttons",
                "buttons": [
                    {
                        "label": "download-source-button",
                        "text": ".ipynb",
                        "url": f"../_sources/{path}",
                    },
                    {"label": "download-pdf-button", "text": ".pdf", "javascript": "print()"},
                ],
            },
            {
                "label": "launch-buttons",
                "buttons": [
                    {
                        "text": "Binder",
                        "url": f"https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/{path}",
                    },
                    {"text": "JupyterHub", "url": f"{hub}&urlpath=lab/tree/r/{path}&branch=main"},
                    {
                        "text": "Colab",
                        "url": f"https://colab.research.google.com/github/o/r/blob/main/{path}",
                    },
                ],
            },
        ],
    }


@pytest.mark.parametrize("path_to_docs", ["", "book/"])
def test_launch_and_download_buttons_open_the_flavoured_notebook(tmp_path, path_to_docs):
    import types

    extension = load_extension()
    config = types.SimpleNamespace(
        klcourse_notebooks="notebooks",
        klcourse_launch_buttons=True,
        html_theme_options={"path_to_docs": path_to_docs},
    )
    app = types.SimpleNamespace(config=config, srcdir=str(ROOT), outdir=str(tmp_path))
    name = CHAPTERS[0].stem
    context = page_context(f"{path_to_docs}chapters/{name}.ipynb")
    extension._launch_flavoured_notebooks(app, f"chapters/{name}", "page.html", context, None)
    download, launch = context["header_buttons"]
    urls = [b["url"] for b in launch["buttons"]]
    assert all(f"{path_to_docs}notebooks/{name}.ipynb" in url for url in urls), urls
    assert not any("chapters/" in url for url in urls), urls
    assert download["buttons"][0]["url"] == f"../notebooks/{name}.ipynb"
    assert (tmp_path / "notebooks" / f"{name}.ipynb").read_bytes() == (
        NOTEBOOKS / f"{name}.ipynb"
    ).read_bytes()
    # Without a repository holding the notebooks, no launch buttons at all.
    config.klcourse_launch_buttons = False
    context = page_context(f"{path_to_docs}chapters/{name}.ipynb")
    extension._launch_flavoured_notebooks(app, f"chapters/{name}", "page.html", context, None)
    assert [g["label"] for g in context["header_buttons"]] == ["download-buttons"]


def test_students_page_names_the_configured_repository_and_real_chapters():
    page = (ROOT / "students.md").read_text()
    repository = re.search(r"repository:\n  url: (\S+)", (ROOT / "_config.yml").read_text())[1]
    assert set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", page)) == {repository}
    for name in re.findall(r"`(?:Copy of )?(\d\d_\w+\.ipynb)`", page):
        assert (ROOT / "chapters" / name).exists(), name
    assert "students" in (ROOT / "_toc.yml").read_text()


def test_myst_left_finds_roles_but_not_math():
    assert MYST_LEFT.findall("see {ref}<code>ch3-watershed</code>")
    assert MYST_LEFT.findall("see {numref}`fig-bands`")
    assert not MYST_LEFT.findall(r"$\mathrm{KL}(\pi\,\|\,\pi_{\text{ref}})$ and {x}")
