"""Local Sphinx fixes for the course book (each found by tests/test_book.py).

pydata-sphinx-theme writes the page's default colour mode from the `default_mode` entry
of `html_context`, which Jupyter Book leaves empty; a first-time visitor then gets `console.error("Got invalid
theme mode: ...")`. Setting it to "auto" (follow the reader's system) avoids that.

sphinx-thebe (loaded by Jupyter Book whether or not Thebe is used) can register its
inline configuration script twice; the page then declares `const THEBE_JS_URL` twice
and the browser reports a SyntaxError on every page (tests/test_book.py found it).
Dropping exact duplicate script entries fixes that without changing anything else.
"""


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


def setup(app):
    app.connect("config-inited", _default_colour_mode)
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
