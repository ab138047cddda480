"""Local Sphinx fixes for the course book (each found by tests/test_book.py).

pydata-sphinx-theme writes the page's default colour mode from the `default_mode` entry
of `html_context`, which Jupyter Book leaves empty; a first-time visitor then gets `console.error("Got invalid
theme mode: ...")`. Setting it to "auto" (follow the reader's system) avoids that.

sphinx-thebe (loaded by Jupyter Book whether or not Thebe is used) can register its
inline configuration script twice; the page then declares `const THEBE_JS_URL` twice
and the browser reports a SyntaxError on every page (tests/test_book.py found it).
Dropping exact duplicate script entries fixes that without changing anything else.

Launch and download buttons open the Jupyter-flavoured notebooks (issue 15).
sphinx-book-theme builds each launch URL (Binder, JupyterHub, Colab) from the page's own
source path, ``<path_to_docs><pagename>.ipynb``, so a student in Colab would get the MyST
chapter, raw ``{glue:text}`` roles and all. After the theme has made its buttons (its
handlers run at priority 501), `_launch_flavoured_notebooks` swaps that path for the
notebook of the same name in ``klcourse_notebooks`` (default ``notebooks/``, made by
``make notebooks``), points the ``.ipynb`` download button at a copy of it in the
build, and warns (so the build fails) when that notebook is missing. With
``klcourse_launch_buttons = False`` the launch buttons are removed (a student edition
whose notebooks are in no repository); ``klcourse_notebooks = ""`` leaves the theme's
URLs alone (a book whose ``chapters/`` already hold notebooks for Jupyter).
"""

import pathlib
import shutil

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # The two registrations differ only in filename None vs "", which render alike.
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", repr(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _default_colour_mode(app, config):
    # pydata-sphinx-theme reads it from html_context (it is not a theme option).
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def _group(buttons, label):
    return next((b for b in buttons if b.get("label") == label), None)


def _launch_flavoured_notebooks(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons") or []
    launch = _group(buttons, "launch-buttons")
    if launch is not None and not app.config.klcourse_launch_buttons:
        buttons.remove(launch)
        launch = None
    folder = app.config.klcourse_notebooks.strip("/")
    if not folder or context.get("page_source_suffix") != ".ipynb":
        return
    name = pagename.rsplit("/", 1)[-1] + ".ipynb"
    notebook = pathlib.Path(app.srcdir) / folder / name
    if not notebook.exists():
        LOGGER.warning(
            "%s: no Jupyter-flavoured notebook %s for its launch buttons; run `make notebooks`",
            pagename,
            notebook,
            location=pagename,
        )
        return
    prefix = app.config.html_theme_options.get("path_to_docs", "").strip("/")
    prefix = f"{prefix}/" if prefix else ""
    old, new = f"{prefix}{pagename}.ipynb", f"{prefix}{folder}/{name}"
    for button in launch["buttons"] if launch else []:
        if "url" in button:
            if old not in button["url"]:
                LOGGER.warning("%s: launch URL %s does not hold %s", pagename, button["url"], old)
            button["url"] = button["url"].replace(old, new)
    download = _group(buttons, "download-buttons")
    for button in download["buttons"] if download else []:
        if button.get("text") == ".ipynb":
            target = pathlib.Path(app.outdir) / folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target)
            button["url"] = context["pathto"](f"{folder}/{name}", 1)
            button["tooltip"] = "Download the notebook (for Jupyter and Colab)"


def setup(app):
    app.add_config_value("klcourse_notebooks", "notebooks", "html", [str])
    app.add_config_value("klcourse_launch_buttons", True, "html", [bool])
    app.connect("config-inited", _default_colour_mode)
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.connect("html-page-context", _launch_flavoured_notebooks, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
