"""Jupyter-flavoured notebooks: the chapters' MyST rewritten as plain Jupyter Markdown.

The chapters are written for the book (Jupyter Book, MyST Markdown): numbers come from
``{glue:text}`` roles, exercises and admonitions are ``:::{...}`` directives, citations
are ``{cite}`` roles. Jupyter and Colab render CommonMark with ``$...$`` math and show
all of that as raw markup. `jupyter_notebook` makes the notebook a student opens there:

* glued values are filled in from the notebook's own glue outputs, formatted exactly as
  myst-nb formats them in the book (its ``format_plain_text``); glued figures become
  Markdown images (cell attachments);
* exercises and solutions become headings and ``<details>`` blocks, numbered as in the
  book; admonitions and proofs become block quotes; a ``:class: dropdown`` becomes a
  ``<details>`` block;
* citations become the book's author-year text (sphinxcontrib-bibtex's own reference
  style) with a References section at the end, formatted by pybtex from references.bib;
* ``{ref}``, ``{numref}``, ``{doc}``, ``{eq}`` and labels become links and anchors;
  figures become images with their captions; math stays ``$...$`` / ``$$...$$``;
* an explorer's saved output (the book's version: no BokehJS) becomes a note asking to
  run the cell (`EXPLORER_PLACEHOLDER`);
* the hidden Colab set-up cell, the cells the book hides and the solution code inside a
  gated solution are collapsed (``jupyter.source_hidden``; Colab's form view for the
  set-up cell).

The Markdown is parsed with myst-parser's own markdown-it parser (configured from
``_config.yml``), and only the MyST constructs are rewritten: everything else is copied
character for character. A construct this module does not know raises ``ValueError``
rather than reaching a student unconverted.

Command line (``make notebooks``)::

    python -m klcourse.jupyter_flavour chapters/ notebooks/          # write
    python -m klcourse.jupyter_flavour chapters/ notebooks/ --check  # exit 1 if stale
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import functools
import html
import json
import mimetypes
import pathlib
import re
import sys
import types

__all__ = ["jupyter_notebook", "convert_folder"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
GLUE_PREFIX = "application/papermill.record/"
COLAB_TITLE = "#@title Colab set-up: installs klcourse in Colab, does nothing elsewhere\n"
BIBLIOGRAPHY_ANCHOR = "bibliography"  # the appended References section's anchor

# Admonition directives (docutils and sphinx) and the title each shows by default.
ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
    "admonition": "",
    "topic": "",
    "sidebar": "",
    "margin": "",
    "epigraph": "",
    "pull-quote": "",
    "highlights": "",
}
# sphinx-proof directives; all but the proof are titled "<Kind> (<title>)".
PROOF_KINDS = (
    "algorithm axiom assumption conjecture corollary criterion definition example lemma "
    "notation observation property proposition remark theorem"
).split()
# Inline roles that keep their text, wrapped in Markdown or HTML.
TEXT_ROLES = {
    "sub": "<sub>{}</sub>",
    "sup": "<sup>{}</sup>",
    "subscript": "<sub>{}</sub>",
    "superscript": "<sup>{}</sup>",
    "kbd": "<kbd>{}</kbd>",
    "code": "`{}`",
    "literal": "`{}`",
    "samp": "`{}`",
    "file": "`{}`",
    "command": "**{}**",
    "program": "**{}**",
    "guilabel": "*{}*",
    "menuselection": "*{}*",
    "dfn": "*{}*",
    "emphasis": "*{}*",
    "strong": "**{}**",
    "term": "{}",
}
_ROLE_WITH_TARGET = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)


# ------------------------------------------------------------------ the parser
@functools.cache
def _parser(extensions):
    """myst-parser's markdown-it parser with the book's MyST extensions."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = MdParserConfig(enable_extensions=set(extensions))
    return create_md_parser(config, RendererHTML)


def _directive(token):
    """(name, argument, options, body) of a ``:::{name}`` or ```` ```{name} ```` token."""
    match = re.match(r"\{([^}]+)\}\s*(.*)$", token.info.strip(), re.S)
    name, argument = match.group(1), match.group(2).strip()
    lines = token.content.splitlines(keepends=True)
    options = {}
    if lines and lines[0].strip() == "---":  # a YAML block of options
        import yaml

        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        options = {str(k): str(v) for k, v in (yaml.safe_load("".join(lines[1:end])) or {}).items()}
        lines = lines[end + 1 :]
    else:
        while lines and (m := re.match(r"^:([\w-]+):\s*(.*?)\s*$", lines[0])):
            options[m.group(1)] = m.group(2)
            lines = lines[1:]
    body = "".join(lines).strip("\n")
    return name, argument, options, body


def _is_directive(token):
    return token.type in ("colon_fence", "fence") and token.info.strip().startswith("{")


# ------------------------------------------------------------------ the book's index
@dataclasses.dataclass
class _Target:
    docname: str
    kind: str  # "exercise", "section", "figure", "equation", "other"
    number: int | None
    title: str


@dataclasses.dataclass
class _Book:
    """What a chapter needs to know about the book: its pages, labels and references."""

    root: pathlib.Path
    extensions: tuple
    docs: list  # docnames in the toc's order
    targets: dict  # label -> _Target (whole book)
    exercise_offset: dict  # docname -> exercises numbered before it
    titles: dict  # docname -> title
    bib: object  # pybtex BibliographyData or None
    reference_style: str
    bibliography_pages: frozenset = frozenset()  # docnames holding a {bibliography}
    baseurl: str = ""  # the published book's URL (html.baseurl), if any


def _toc_docnames(toc):
    docs = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    docs.append(str(node[key]).removesuffix(".md").removesuffix(".ipynb"))
            for value in node.values():
                if isinstance(value, list):
                    for item in value:
                        walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return docs


def _markdown_sources(path):
    if path.suffix == ".ipynb":  # plain JSON: nbformat's validation is slow on big notebooks
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [_text(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    return [path.read_text(encoding="utf-8")]


def _doc_path(root, docname):
    for suffix in (".ipynb", ".md"):
        if (root / (docname + suffix)).exists():
            return root / (docname + suffix)
    return None


def _scan(sources, docname, extensions, exercise_start=0):
    """Labels, title and exercise count of one document's Markdown sources."""
    md = _parser(extensions)
    targets, title, exercises, figures, equations = {}, None, exercise_start, 0, 0
    pending = []

    def visit(tokens):
        nonlocal title, exercises, figures, equations, pending
        for index, token in enumerate(tokens):
            if token.type == "myst_target":
                pending.append(token.content)
            elif token.type == "heading_open":
                text = tokens[index + 1].content
                if title is None and token.tag == "h1":
                    title = text
                for label in pending:
                    targets[label] = _Target(docname, "section", None, text)
                pending = []
            elif token.type == "math_block_label":
                equations += 1
                targets[token.info] = _Target(docname, "equation", equations, "")
            elif _is_directive(token):
                name, argument, options, body = _directive(token)
                label = options.get("label") or options.get("name")
                if name in ("exercise", "exercise-start"):
                    if "nonumber" not in options:
                        exercises += 1
                    if label:
                        targets[label] = _Target(docname, "exercise", exercises, argument)
                elif name in ("figure", "glue:figure"):
                    figures += 1
                    if label:
                        targets[label] = _Target(docname, "figure", figures, "")
                elif name == "math" and label:
                    equations += 1
                    targets[label] = _Target(docname, "equation", equations, "")
                elif label:
                    targets[label] = _Target(docname, "other", None, argument)
                if body and name not in ("code-block", "code", "sourcecode", "raw", "math"):
                    visit(md.parse(body))

    for source in sources:
        visit(md.parse(source))
    return targets, title, exercises


def _book(root):
    """The book's index, re-read whenever one of its files changes."""
    root = pathlib.Path(root).resolve()
    files = [root / "_config.yml", root / "_toc.yml", *root.glob("*.bib"), *root.glob("*.md")]
    files += [*root.glob("chapters/*.ipynb"), *root.glob("chapters/*.md")]
    stamp = tuple(sorted((str(f), f.stat().st_mtime_ns) for f in files if f.exists()))
    return _read_book(root, stamp)


@functools.lru_cache(maxsize=8)
def _read_book(root, stamp):
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    extensions = tuple(sorted(config.get("parse", {}).get("myst_enable_extensions", [])))
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    docs = _toc_docnames(toc)
    targets, offsets, titles, count, bibliography_pages = {}, {}, {}, 0, set()
    for docname in docs:
        path = _doc_path(root, docname)
        if path is None:
            continue
        offsets[docname] = count
        sources = _markdown_sources(path)
        if re.search(r"^\s*(```|:::)\{bibliography\}", "\n".join(sources), re.M):
            bibliography_pages.add(docname)
        found, title, count = _scan(sources, docname, extensions, count)
        targets.update(found)
        titles[docname] = title or docname
    bib = None
    files = config.get("bibtex_bibfiles") or []
    if files:
        import pybtex.database

        bib = pybtex.database.BibliographyData()
        for name in files:
            for key, entry in pybtex.database.parse_file(str(root / name)).entries.items():
                bib.add_entry(key, entry)
    style = (config.get("sphinx", {}).get("config", {}) or {}).get(
        "bibtex_reference_style", "label"
    )
    baseurl = str((config.get("html", {}) or {}).get("baseurl") or "").rstrip("/")
    return _Book(
        root,
        extensions,
        docs,
        targets,
        offsets,
        titles,
        bib,
        style,
        frozenset(bibliography_pages),
        baseurl,
    )


# ------------------------------------------------------------------ citations
def _citation_text(book, role, target):
    """The book's text for ``{cite:role}`target``` (sphinxcontrib-bibtex's own style)."""
    import importlib.metadata

    import pybtex.plugin
    import pybtex_docutils
    from sphinxcontrib.bibtex.citation_target import parse_citation_targets
    from sphinxcontrib.bibtex.style.referencing import format_references
    from sphinxcontrib.bibtex.style.template import SphinxReferenceInfo

    if book.bib is None:
        raise ValueError(f"{{cite}}`{target}`: the book has no bibtex_bibfiles")
    (entry_point,) = importlib.metadata.entry_points(
        group="sphinxcontrib.bibtex.style.referencing", name=book.reference_style
    )
    style = entry_point.load()()
    formatting = pybtex.plugin.find_plugin("pybtex.style.formatting", "plain")()
    references = []
    for citation in parse_citation_targets(target):
        if citation.key not in book.bib.entries:
            raise ValueError(f"{{cite}}`{target}`: {citation.key!r} is not in the .bib files")
        entry = book.bib.entries[citation.key]
        formatted = formatting.format_entry(citation.key, entry)
        # Same document, so the reference needs no builder to compute a URI.
        info = SphinxReferenceInfo(
            builder=types.SimpleNamespace(name="html"),
            fromdocname="page",
            todocname="page",
            citation_id=citation.key,
            title=None,
            pre_text=citation.pre,
            post_text=citation.post,
        )
        references.append((entry, formatted, info))
    text = format_references(style, role, references)
    nodes = text.render(pybtex_docutils.Backend())
    return "".join(node.astext() for node in nodes), [c.key for c in parse_citation_targets(target)]


def _markdown_backend():
    """pybtex's Markdown backend, escaping only what Markdown and math would misread.

    The stock backend escapes ``( ) . -`` too; an escaped ``\\(`` opens inline math for
    some renderers, and the source becomes hard to read.
    """
    import pybtex.backends.markdown

    class Backend(pybtex.backends.markdown.Backend):
        symbols = {**pybtex.backends.markdown.Backend.symbols, "ndash": "–"}

        def format_str(self, text):
            return _escape(text.replace("\\url ", ""))

        def format_protected(self, text):
            return text

    return Backend()


def _bibliography(book, keys):
    """A Markdown list of the cited entries, sorted and formatted as in the book."""
    import pybtex.plugin

    formatting = pybtex.plugin.find_plugin("pybtex.style.formatting", "plain")()
    backend = _markdown_backend()
    entries = [book.bib.entries[key] for key in dict.fromkeys(keys)]
    lines = []
    for formatted in formatting.format_entries(entries):
        lines.append("- " + " ".join(formatted.text.render(backend).split()))
    return "\n".join(lines)


# ------------------------------------------------------------------ glue
def _glue_data(notebook):
    """{key: output data (prefix removed)} from the notebook's glue outputs."""
    data = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                prefix = len(scrapbook.get("mime_prefix", ""))
                data[scrapbook["name"]] = {k[prefix:]: v for k, v in output["data"].items()}
    return data


def _format_plain_text(text, fmt_spec):
    """myst-nb's ``format_plain_text``: how the book formats ``{glue:text}`key:fmt```."""
    try:
        from myst_nb.core.variables import format_plain_text
    except ImportError:  # pragma: no cover - the book's extra is not installed
        from ast import literal_eval

        def format_plain_text(text, fmt_spec):
            try:
                value = literal_eval(text)
            except (SyntaxError, ValueError):
                value = text
            if fmt_spec == "":
                return str(value)
            kind = fmt_spec[-1]
            if kind == "s":
                value = str(value)
            elif kind in "bcdoxX":
                value = int(value)
            elif kind in "eEfFgGn%":
                value = float(value)
            return format(value, fmt_spec)

    return format_plain_text(text, fmt_spec)


def _escape(text, brackets=True):
    """Plain text as Markdown that shows exactly that text (no markup, no math, no link).

    Brackets become entities rather than ``\\[``, which some renderers take for math;
    ``brackets=False`` keeps them (a citation's brackets never start a link).
    """
    text = re.sub(r"([\\`*_<>|$~])", r"\\\1", text)
    return text.replace("[", "&#91;").replace("]", "&#93;") if brackets else text


def _text(value):
    return "".join(value) if isinstance(value, list) else str(value)


# ------------------------------------------------------------------ one notebook
@dataclasses.dataclass
class _Context:
    book: _Book
    docname: str
    glue: dict
    local: dict  # label -> _Target for this notebook (overrides the book's)
    exercise: int = 0  # last exercise number used
    exercises: dict = dataclasses.field(default_factory=dict)  # label -> (number, title)
    citations: list = dataclasses.field(default_factory=list)
    attachments: dict = dataclasses.field(default_factory=dict)  # for the current cell
    heading_level: int = 2
    figure: int = 0
    pending_solution: str | None = None  # summary of a gated solution that starts
    solution_ended: bool = False
    bibliography_linked: bool = False  # a {doc} link to the appended references
    bibliography_heading: str = "References"  # the appended references' heading

    def target(self, label):
        if label in self.local:
            return self.local[label]
        if label in self.book.targets:
            return self.book.targets[label]
        raise ValueError(f"reference to an unknown label {label!r}")

    def link(self, target, label):
        if target.docname == self.docname:
            return f"#{label}"
        if target.docname in self.book.docs and target.docname.startswith("chapters/"):
            return f"{pathlib.PurePosixPath(target.docname).name}.ipynb#{label}"
        return f"../{target.docname}.md#{label}"

    def doc_link(self, docname):
        """Where a ``{doc}`` link leads from the notebook, or None (text only).

        A chapter: its notebook beside this one. The bibliography page: this notebook's
        own References section, appended at the end. Another page (MyST Markdown, which
        Colab cannot open and Jupyter shows raw): the published book's page when
        ``html.baseurl`` is configured, else no link.
        """
        if docname.startswith("chapters/") and (self.book.root / f"{docname}.ipynb").exists():
            return f"{pathlib.PurePosixPath(docname).name}.ipynb"
        if docname in self.book.bibliography_pages:
            self.bibliography_linked = True
            return f"#{BIBLIOGRAPHY_ANCHOR}"
        if self.book.baseurl:
            return f"{self.book.baseurl}/{docname}.html"
        return None


def _attach(context, name, mime, data):
    name = re.sub(r"[^\w.-]", "_", name)
    context.attachments[name] = {mime: _text(data).replace("\n", "")}
    return f"attachment:{name}"


def _glue_inline(context, key, fmt=None):
    if key not in context.glue:
        raise ValueError(f"{{glue}}`{key}`: no glue output named {key!r} in the notebook")
    data = context.glue[key]
    if fmt is not None:  # {glue:text}
        if "text/plain" not in data:
            raise ValueError(f"{{glue:text}}`{key}`: the glued value has no text/plain")
        return _escape(_format_plain_text(_text(data["text/plain"]), fmt))
    for mime in ("text/html", "image/svg+xml", "image/png", "image/jpeg"):
        if mime in data:
            if mime == "text/html":
                return " ".join(_text(data[mime]).split())
            suffix = mimetypes.guess_extension(mime) or ".img"
            return f"![{key}]({_attach(context, key + suffix, mime, data[mime])})"
    if "text/markdown" in data:
        return _text(data["text/markdown"]).strip()
    if "text/latex" in data:
        return "$" + _text(data["text/latex"]).strip().strip("$") + "$"
    return _escape(_format_plain_text(_text(data["text/plain"]), ""))


def _role(context, name, content):
    """Markdown for one inline role."""
    if name in ("glue:text",):
        key, _, fmt = content.rpartition(":") if ":" in content else (content, "", "s")
        if "::" in key:
            raise ValueError(f"{{glue:text}}`{content}`: glue from another document")
        return _glue_inline(context, key, fmt)
    if name in ("glue", "glue:", "glue:any"):
        return _glue_inline(context, content)
    if name == "glue:md":
        key = content.rsplit(":", 1)[0] if ":" in content else content
        return _text(context.glue[key]["text/markdown"]).strip()
    if name == "cite" or name.startswith("cite:") or name == "footcite":
        role = "p" if name in ("cite", "footcite") else name.split(":", 1)[1]
        text, keys = _citation_text(context.book, role, content)
        context.citations.extend(keys)
        return _escape(text, brackets=False)
    if name in ("ref", "numref", "prf:ref", "eq", "doc", "download"):
        match = _ROLE_WITH_TARGET.match(content)
        explicit, target = (match["text"], match["target"]) if match else (None, content)
        target = target.strip()
        if name == "doc":
            docname = str(
                pathlib.PurePosixPath(context.docname).parent / target
                if not target.startswith("/")
                else target.lstrip("/")
            )
            docname = re.sub(r"\.(md|ipynb)$", "", docname)
            docname = str(pathlib.PurePosixPath(*_normalise(docname.split("/"))))
            title = explicit or context.book.titles.get(docname) or docname
            link = context.doc_link(docname)
            if link == f"#{BIBLIOGRAPHY_ANCHOR}" and not explicit:
                title = context.bibliography_heading
            return f"[{title}]({link})" if link else _escape(title)
        if name == "download":
            return f"[{explicit or target}]({target})"
        found = context.target(target)
        if name == "eq":
            return f"[({found.number})]({context.link(found, target)})"
        words = {"exercise": "Exercise", "figure": "Figure", "equation": "Equation"}
        number = (
            f"{words.get(found.kind, '')} {found.number}".strip()
            if found.number is not None
            else found.title
        )
        if explicit:
            text = explicit.replace("%s", str(found.number)).replace("{number}", str(found.number))
        elif name == "numref" or found.kind in ("exercise", "figure", "equation"):
            text = number
        else:
            text = found.title or target
        return f"[{text}]({context.link(found, target)})"
    if name == "math":
        return f"${content}$"
    if name == "abbr":
        return re.sub(r"\s*\([^()]*\)\s*$", "", content)
    if name == "index":
        return _ROLE_WITH_TARGET.match(content)["text"] if "<" in content else ""
    if name in TEXT_ROLES:
        return TEXT_ROLES[name].format(content)
    raise ValueError(f"the role {{{name}}}`{content}` has no Jupyter equivalent here")


def _normalise(parts):
    out = []
    for part in parts:
        if part == "..":
            out.pop()
        elif part not in (".", ""):
            out.append(part)
    return out


def _one_line(tex):
    if re.search(r"(?<!\\)%", tex):
        raise ValueError(f"a TeX comment cannot be kept inside a quote: {tex[:60]!r}")
    return " ".join(line.strip() for line in tex.splitlines()).strip()


def _blockquote(title, body):
    parts = [f"**{title}**"] if title else []
    if body:
        parts.append(body)
    text = "\n\n".join(parts)
    return "\n".join("> " + line if line.strip() else ">" for line in text.splitlines())


def _details(summary, body):
    return f"<details>\n<summary>{summary}</summary>\n\n{body}\n\n</details>".replace(
        "\n\n\n\n", "\n\n"
    )


def _inline_title(context, text):
    return _convert(context, text).strip() if text else ""


def _render_directive(context, token, quoted):
    """Markdown for one directive token."""
    name, argument, options, body = _directive(token)
    label = options.get("label") or options.get("name")
    anchor = f'<a id="{label}"></a>\n' if label else ""
    convert = functools.partial(_convert, context)
    if name in ("exercise", "exercise-start"):
        if "nonumber" in options:
            number = None
        else:
            context.exercise += 1
            number = context.exercise
        title = _inline_title(context, argument)
        if label:
            context.exercises[label] = (number, title)
        heading = "Exercise" + (f" {number}" if number else "") + (f" ({title})" if title else "")
        level = "#" * min(context.heading_level + 1, 6)
        return f"{anchor}{level} {heading}" + (f"\n\n{convert(body)}" if body else "")
    if name == "exercise-end":
        return ""
    if name in ("solution", "solution-start"):
        number, title = context.exercises.get(argument, (None, ""))
        summary = "Solution" + (
            f" to Exercise {number}" + (f" ({title})" if title else "") if number else ""
        )
        summary = f"<b>{html.escape(summary, quote=False)}</b> (click to show)"
        if name == "solution-start":
            return ("<details>", summary)  # closed by the notebook pass
        return _details(summary, convert(body))
    if name == "solution-end":
        context.solution_ended = True
        return ""
    if name in ("dropdown", "toggle") or (
        name in ADMONITIONS and "dropdown" in options.get("class", "").split()
    ):
        title = _inline_title(context, argument) or ADMONITIONS.get(name) or "Details"
        return anchor + _details(f"<b>{html.escape(title, quote=False)}</b>", convert(body))
    if name in ADMONITIONS or name == "prf:proof" or name.removeprefix("prf:") in PROOF_KINDS:
        if name == "prf:proof":
            title = "Proof."
        elif name.startswith("prf:"):
            kind = name.removeprefix("prf:").capitalize()
            title = kind + (f" ({_inline_title(context, argument)})" if argument else "")
        else:
            title = _inline_title(context, argument) or ADMONITIONS[name]
        return anchor + _blockquote(title, _convert(context, body, one_line_math=True))
    if name in ("figure", "image"):
        path = context.book.root / pathlib.PurePosixPath(context.docname).parent / argument
        mime = mimetypes.guess_type(str(path))[0] or "image/png"
        if argument.startswith(("http://", "https://")):
            source = argument
        else:
            encoded = base64.b64encode(path.read_bytes()).decode()
            source = _attach(context, path.name, mime, encoded)
        image = f"![{_escape(options.get('alt', ''))}]({source})"
        if name == "image":
            return anchor + image
        context.figure += 1
        caption = convert(body).strip() if body else ""
        return f"{anchor}{image}\n\n*Figure {context.figure}*" + (f": {caption}" if caption else "")
    if name in ("glue", "glue:", "glue:any", "glue:figure"):
        image = _glue_inline(context, argument)
        if name != "glue:figure":
            return anchor + image
        context.figure += 1
        caption = convert(body).strip() if body else ""
        return f"{anchor}{image}\n\n*Figure {context.figure}*" + (f": {caption}" if caption else "")
    if name in ("glue:math",):
        tex = _text(context.glue[argument]["text/latex"]).strip().strip("$")
        return f"{anchor}$$\n{tex}\n$$"
    if name in ("glue:md",):
        return anchor + _text(context.glue[argument]["text/markdown"]).strip()
    if name == "math":
        tex = body
        if label:
            tex += f" \\tag{{{context.target(label).number}}}"
        return anchor + (f"$$ {_one_line(tex)} $$" if quoted else f"$$\n{tex}\n$$")
    if name in ("code-block", "code", "sourcecode"):
        return f"```{argument}\n{body}\n```"
    if name == "raw" and argument == "html":
        return body
    if name in ("tableofcontents", "toctree", "bibliography"):
        return ""
    if name in ("div", "container"):
        return anchor + convert(body)
    raise ValueError(f"the directive {{{name}}} has no Jupyter equivalent here")


def _block_end(tokens, start):
    """Index after the token that closes ``tokens[start]``."""
    token = tokens[start]
    if token.nesting != 1:
        return start + 1
    depth = 0
    for index in range(start, len(tokens)):
        depth += tokens[index].nesting
        if depth == 0:
            return index + 1
    return len(tokens)


def _flexible(text):
    return r"\s*".join(re.escape(part) for part in text.split()) if text.strip() else r"\s*"


def _convert(context, text, *, one_line_math=False):
    """Plain Jupyter Markdown for a MyST Markdown source (a cell or a directive's body)."""
    if not text:
        return text
    md = _parser(context.book.extensions)
    tokens = md.parse(text)
    lines = text.splitlines(keepends=True)
    out, line = [], 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        end = _block_end(tokens, index)
        if token.map is None:
            index = end
            continue
        first, last = token.map
        out.append("".join(lines[line:first]))
        source = "".join(lines[first:last])
        if token.type == "heading_open":
            context.heading_level = int(token.tag[1])
        if _is_directive(token):
            rendered = _render_directive(context, token, one_line_math)
            if isinstance(rendered, tuple):  # a gated solution's start
                context.pending_solution = rendered[1]
                rendered = ""
            out.append(rendered + ("\n" if rendered else ""))
        elif token.type == "myst_target":
            out.append(f'<a id="{token.content}"></a>\n')
        elif token.type == "myst_line_comment":
            pass
        elif token.type == "myst_block_break":
            out.append("---\n")
        elif token.type == "math_block_label":
            number = context.target(token.info).number
            tex = f"{token.content.strip()} \\tag{{{number}}}"
            if one_line_math:
                out.append(f'<a id="{token.info}"></a>\n\n$$ {_one_line(tex)} $$\n')
            else:
                out.append(f'<a id="{token.info}"></a>\n\n$$\n{tex}\n$$\n')
        elif token.type in ("substitution_block",):
            raise ValueError(f"the substitution {{{{{token.content}}}}} is not supported")
        else:
            out.append(_convert_block(context, tokens[index:end], source, one_line_math))
        line = last
        index = end
    out.append("".join(lines[line:]))
    return "".join(out)


def _convert_block(context, tokens, source, one_line_math):
    """Rewrite the roles (and, in a quote, multi-line math) inside one block's source."""
    pieces, cursor = [], 0

    def replace(pattern, make):
        nonlocal cursor
        match = re.compile(pattern, re.S).search(source, cursor)
        if match is None:
            raise ValueError(f"cannot locate {pattern!r} in {source[cursor : cursor + 80]!r}")
        pieces.append(source[cursor : match.start()])
        pieces.append(make(match))
        cursor = match.end()

    for token in tokens:
        if _is_directive(token):
            raise ValueError(
                f"the directive {token.info.strip()} sits inside a list or quote; "
                "move it to the top level of the cell"
            )
        if token.type == "math_block" and one_line_math:
            replace(r"\$\$(.*?)\$\$", lambda m: f"$$ {_one_line(m.group(1))} $$")
        if token.type == "amsmath" and one_line_math:
            raise ValueError("an amsmath environment cannot be kept inside a quote")
        if token.type == "substitution_inline":
            raise ValueError(f"the substitution {{{{{token.content}}}}} is not supported")
        for child in token.children or []:
            if child.type == "myst_role":
                name = child.meta["name"]
                replace(
                    r"\{" + re.escape(name) + r"\}(`+)" + _flexible(child.content) + r"\1",
                    lambda m, n=name, c=child.content: _role(context, n, c),
                )
            elif child.type == "code_inline":
                replace(
                    r"(?<!`)" + re.escape(child.markup) + r"(?!`).*?" + re.escape(child.markup),
                    lambda m: m.group(0),
                )
            elif child.type == "math_inline":
                if one_line_math and "\n" in child.content:
                    replace(
                        r"\$" + _flexible(child.content) + r"\$",
                        lambda m, c=child.content: f"${_one_line(c)}$",
                    )
            elif child.type == "substitution_inline":
                raise ValueError(f"the substitution {{{{{child.content}}}}} is not supported")
    pieces.append(source[cursor:])
    return "".join(pieces)


def _leftovers(context, text):
    """MyST constructs still in converted Markdown (there should be none)."""
    found = []

    def visit(tokens):
        for token in tokens:
            if token.type in ("myst_target", "myst_line_comment", "math_block_label"):
                found.append(token.type)
            elif _is_directive(token):
                found.append(token.info.strip())
            for child in token.children or []:
                if child.type == "myst_role":
                    found.append(f"{{{child.meta['name']}}}`{child.content}`")

    visit(_parser(context.book.extensions).parse(text))
    return found


def _docname_of(book, notebook, name):
    if name is not None:
        stem = pathlib.PurePosixPath(str(name)).stem
        for docname in book.docs:
            if pathlib.PurePosixPath(docname).name == stem:
                return docname
        return f"chapters/{stem}"
    labels = set(
        re.findall(
            r"^:label:\s*(\S+)",
            "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown"),
            re.M,
        )
    )
    for docname in book.docs:
        if labels and any(
            t.docname == docname and t.kind == "exercise" and label in labels
            for label, t in book.targets.items()
        ):
            return docname
    return "chapters/notebook"


def jupyter_notebook(nb, *, root=ROOT, name=None):
    r"""The chapter notebook with its MyST rewritten as plain Jupyter Markdown.

    Code cells and their outputs are kept (glue-only outputs, which Jupyter does not
    show, are dropped); Markdown cells are rewritten as the module docstring says; a
    References cell is appended when the chapter cites anything.

    Args:
      nb: an ``nbformat.NotebookNode`` (version 4): a chapter, or its student edition.
      root: the course root (``_config.yml``, ``_toc.yml``, the .bib files), which gives
        the MyST extensions, exercise numbers, labels and references of the whole book.
      name: the chapter's file name (``"01_kl_basics.ipynb"``), so that exercise numbers
        and links match the book; default: found from the notebook's exercise labels.

    Returns:
      A new ``nbformat.NotebookNode``; ``nb`` is not modified.

    Raises:
      ValueError: a MyST construct that has no plain-Markdown rendering here (an unknown
        role or directive, a missing glue key, label or citation), naming it and the cell.

    Examples:
      A tiny notebook read against this course's book (a note becomes a block quote):

      >>> import nbformat
      >>> nb = nbformat.v4.new_notebook()
      >>> nb.cells = [nbformat.v4.new_markdown_cell(":::{note}\nKL is never negative.\n:::")]
      >>> print(jupyter_notebook(nb, name="01_kl_basics.ipynb").cells[0].source)
      > **Note**
      >
      > KL is never negative.
      >>> nb.cells[0].source
      ':::{note}\nKL is never negative.\n:::'
    """
    import nbformat

    book = _book(pathlib.Path(root).resolve())
    nb = copy.deepcopy(nb)
    docname = _docname_of(book, nb, name)
    local, _, _ = _scan(
        [c.source for c in nb.cells if c.cell_type == "markdown"],
        docname,
        book.extensions,
        book.exercise_offset.get(docname, 0),
    )
    context = _Context(book, docname, _glue_data(nb), local)
    # A chapter with its own "References" section (a list of what it draws on) gets the
    # full entries under another heading: two "References" in one notebook's table of
    # contents would be ambiguous.
    if any(
        re.search(r"^#{1,6}\s+References\s*$", c.source, re.M)
        for c in nb.cells
        if c.cell_type == "markdown"
    ):
        context.bibliography_heading = "Bibliography"
    context.exercise = book.exercise_offset.get(docname, 0)
    cells, inside_solution, first_code = [], False, True
    for position, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            _collapse(cell, first_code, inside_solution)
            first_code = False
            cell.outputs = [
                _explorer_placeholder(o) for o in cell.get("outputs", []) if not _glue_only(o)
            ]
            cells.append(cell)
            continue
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        context.attachments = dict(cell.get("attachments", {}))
        context.pending_solution, context.solution_ended = None, False
        try:
            text = _convert(context, cell.source).strip("\n")
        except (ValueError, KeyError) as error:
            raise ValueError(f"{docname}, cell {position}: {error}") from error
        if context.pending_solution is not None:
            inside_solution = True
            text = _details(context.pending_solution, text)
        if context.solution_ended:
            inside_solution = False
        left = _leftovers(context, text)
        if left:
            raise ValueError(f"{docname}, cell {position}: MyST left after conversion: {left}")
        if not text.strip() and not context.attachments:
            continue  # a cell that only held a directive's end
        cell.source = text
        if context.attachments:
            cell.attachments = context.attachments
        cells.append(cell)
    if context.citations or context.bibliography_linked:
        entries = _bibliography(book, context.citations) if context.citations else ""
        references = nbformat.v4.new_markdown_cell(
            f'<a id="{BIBLIOGRAPHY_ANCHOR}"></a>\n## {context.bibliography_heading}\n\n'
            + (entries or "This chapter cites no work.")
        )
        references.id = "references"
        cells.append(references)
    nb.cells = cells
    nb.metadata.setdefault("colab", {})["toc_visible"] = True
    return nb


EXPLORER_PLACEHOLDER = (
    "Run this cell to open the explorer: it draws in your browser, with no internet needed."
)


def _explorer_placeholder(output):
    """An explorer's saved output as the book has it (the plot's JSON, no BokehJS, which
    the book's pages load) shows only "needs BokehJS" in Jupyter; a short note instead.
    Running the cell makes the full output, BokehJS included (`klcourse.explore`)."""
    data = output.get("data", {})
    page = _text(data.get("text/html", ""))
    if 'class="klcourse-explorer"' not in page or '<script type="text/x-bokehjs">' in page:
        return output
    text = _text(data.get("text/plain", "")).strip()
    note = copy.deepcopy(output)
    note["data"] = {
        "text/html": f"<p><em>{html.escape(EXPLORER_PLACEHOLDER)}</em></p>",
        "text/plain": f"{text}: {EXPLORER_PLACEHOLDER}" if text else EXPLORER_PLACEHOLDER,
    }
    return note


def _glue_only(output):
    scrapbook = output.get("metadata", {}).get("scrapbook")
    return bool(scrapbook and scrapbook.get("mime_prefix"))


def _collapse(cell, first_code, inside_solution):
    """Collapse in Jupyter (and Colab) what the book hides."""
    tags = set(cell.metadata.get("tags", []))
    jupyter = {}
    if first_code and "remove-cell" in tags:
        # The Colab set-up cell: Colab shows a form's title instead of the code.
        jupyter = {"source_hidden": True}
        cell.metadata["cellView"] = "form"
        cell.metadata["collapsed"] = True
        if not cell.source.startswith("#@title"):
            cell.source = COLAB_TITLE + cell.source
    elif tags & {"remove-cell"}:
        jupyter = {"source_hidden": True, "outputs_hidden": True}
    elif tags & {"remove-input", "hide-input"} or inside_solution:
        jupyter = {"source_hidden": True}
    if tags & {"remove-output", "hide-output"}:
        jupyter["outputs_hidden"] = True
    if jupyter:
        cell.metadata.setdefault("jupyter", {}).update(jupyter)


# ------------------------------------------------------------------ folders
def convert_folder(source, target, *, root=ROOT, check=False):
    r"""Write the Jupyter-flavoured version of every ``source/*.ipynb`` to ``target/``.

    Args:
      source, target: folders; ``target`` is created, and notebooks in it that have
        no source are removed.
      root: the course root (see `jupyter_notebook`).
      check: write nothing; return the names that are missing or out of date.

    Returns:
      ``list`` of the file names that changed (or, with ``check``, would change).

    Raises:
      ValueError: as `jupyter_notebook`, for a notebook it cannot convert.

    Examples:
      One tiny notebook in a temporary folder: written once, then up to date.

      >>> import tempfile, nbformat
      >>> nb = nbformat.v4.new_notebook()
      >>> nb.cells = [nbformat.v4.new_markdown_cell("# KL\n\nText.")]
      >>> with tempfile.TemporaryDirectory() as folder:
      ...     source, target = pathlib.Path(folder, "chapters"), pathlib.Path(folder, "out")
      ...     source.mkdir()
      ...     nbformat.write(nb, source / "01_kl_basics.ipynb")
      ...     written = convert_folder(source, target)
      ...     again = convert_folder(source, target, check=True)
      >>> written, again
      (['01_kl_basics.ipynb'], [])
    """
    import nbformat

    source, target = pathlib.Path(source), pathlib.Path(target)
    if not check:
        target.mkdir(parents=True, exist_ok=True)
    changed, names = [], set()
    for path in sorted(source.glob("*.ipynb")):
        names.add(path.name)
        text = (
            nbformat.writes(
                jupyter_notebook(nbformat.read(path, as_version=4), root=root, name=path.name)
            )
            + "\n"
        )
        out = target / path.name
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            changed.append(path.name)
            if not check:
                out.write_text(text, encoding="utf-8")
    for stale in sorted(target.glob("*.ipynb")) if target.exists() else []:
        if stale.name not in names:
            changed.append(stale.name)
            if not check:
                stale.unlink()
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m klcourse.jupyter_flavour", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", type=pathlib.Path, help="folder of chapter notebooks")
    parser.add_argument("target", type=pathlib.Path, help="folder to write")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="course root")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any is out of date"
    )
    args = parser.parse_args(argv)
    changed = convert_folder(args.source, args.target, root=args.root, check=args.check)
    verb = "out of date" if args.check else "written"
    for name in changed:
        print(f"{args.target / name}: {verb}")
    if args.check and changed:
        print("Run: make notebooks  (python -m klcourse.jupyter_flavour chapters notebooks)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
