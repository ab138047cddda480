"""The explorers (klcourse.explore, issue 20) in a real browser, offline.

A test-only book with one page, `explorers.ipynb`, holding the three explorers (executed
here with ``KLCOURSE_EXPLORE_JS=book``, as `make execute` does), is built with the
course's own `_config.yml` and `_ext/`, served on localhost and opened in Debian's
headless Chromium with every host but localhost blocked (the `browser` and `server`
fixtures of test_book.py). The tests move sliders from the keyboard and check that the
numbers the page computes equal klcourse's NumPy/SciPy values to the digits shown.
Screenshots go to _build/screenshots/explorer_*.png.

The last tests leave that page: the explorers of the real chapters 1-4 in the course's
own book (the `full_book` fixture), and the notebook mode (BokehJS inline in the
output, as JupyterLab and Colab get it) exported by nbconvert and opened from a file.
"""

import os
import pathlib
import shutil
import subprocess

import nbformat
import pytest
from nbclient import NotebookClient

from klcourse import explore
from klcourse.instructor import JUPYTER_BOOK
from tests.test_book import SCREENSHOTS, browser, load, serve, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.book, pytest.mark.browser]  # tiers: `make unit` skips these

ROOT = pathlib.Path(__file__).resolve().parents[1]
CELLS = [
    "import klcourse as kc",
    "kc.explore.divergence(p=(0.0, 2.0, 0.0), q=(2.0, 2.0, 0.0), spacing=0.5)",
    "kc.explore.fits(weight=0.6, separation=4.0, width1=0.7, width2=0.7)",
    'kc.explore.estimators(num_samples=100, estimator="k1", mu_q=0.5)',
]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    if os.environ.get("KLCOURSE_EXPLORER_BOOK"):  # reuse a build while developing
        return pathlib.Path(os.environ["KLCOURSE_EXPLORER_BOOK"])
    src = tmp_path_factory.mktemp("explorer-book")
    for name in ("_config.yml", "favicon.png"):
        shutil.copy(ROOT / name, src / name)
    (src / "references.bib").write_text("")  # the page cites nothing
    shutil.copytree(ROOT / "_ext", src / "_ext")
    shutil.copytree(ROOT / "_extra", src / "_extra")
    (src / "_toc.yml").write_text("format: jb-book\nroot: explorers\n")
    with (src / "_config.yml").open("a") as config:
        config.write("    klcourse_notebooks: ''\n")  # no Jupyter-flavoured twin here
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_markdown_cell("# Explorers\n\nMove the sliders.")]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in CELLS]
    env = {**os.environ, "KLCOURSE_EXPLORE_JS": "book", "PYTHONPATH": str(ROOT)}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    nbformat.write(nb, src / "explorers.ipynb")
    size = (src / "explorers.ipynb").stat().st_size
    assert size < 200_000, f"explorer outputs are {size} bytes: BokehJS leaked into them?"
    subprocess.run(
        [JUPYTER_BOOK, "build", str(src), "--warningiserror"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return src / "_build" / "html"


DEEP_TEXT = """
const root = arguments[0], sel = arguments[1], out = [];
function walk(node) {
  if (node.shadowRoot) walk(node.shadowRoot);
  if (node.querySelectorAll) node.querySelectorAll(sel).forEach(e => out.push(e));
  for (const child of node.children || []) walk(child);
}
walk(root);
return [...new Set(out)];
"""


def deep(browser, selector, root=None):  # noqa: F811
    """Elements matching `selector`, looking inside Bokeh's shadow roots."""
    root = root or browser.find_element("tag name", "body")
    return browser.execute_script(DEEP_TEXT, root, selector)


def container(browser, name):  # noqa: F811
    return browser.find_element("css selector", f".klcourse-explorer[data-explorer='{name}']")


def readout(browser, name, selector):  # noqa: F811
    return [
        e.get_attribute("textContent") for e in deep(browser, selector, container(browser, name))
    ]


def sliders(browser, name):  # noqa: F811
    return deep(browser, "[role='slider']", container(browser, name))


def press(browser, element, key, times):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()  # focus, as a reader tabbing to it would
    chain = ActionChains(browser)
    for _ in range(times):
        chain.send_keys(key)
    chain.perform()


def slider_value(element):
    # noUiSlider writes aria-valuenow with toFixed(1) (0.75 reads "0.8"); aria-valuetext
    # is the value in the slider's own format, with every digit its step needs.
    text = element.get_attribute("aria-valuetext") or element.get_attribute("aria-valuenow")
    return float(text.replace(",", ""))


# How far the page's JavaScript and klcourse's NumPy/SciPy twins may differ before
# rounding: the JS uses a log-erfc approximation (relative error 1.2e-7) and its own
# quadrature and BFGS, so a value within this of a rounding boundary may round either
# way. Elsewhere the shown digits must be exactly the twin's value rounded.
AGREEMENT = 1e-5


def close(shown, value, decimals):
    """`shown` is `value` rounded to `decimals` (up to `AGREEMENT` at a boundary)."""
    if shown == f"{value:.{decimals}f}" or float(shown) == round(value, decimals):
        return True
    return abs(float(shown) - value) <= 0.5 * 10**-decimals + AGREEMENT


@pytest.fixture(scope="module")
def page(book, server, browser):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    log = load(browser, f"{server}/explorers.html")
    WebDriverWait(browser, 60).until(
        lambda b: len(b.find_elements("css selector", "[data-ready='1']")) == 3
    )
    severe = [e["message"] for e in log + browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"console errors: {severe}"
    return browser


def test_bokehjs_is_served_from_the_book_once(book):
    html = (book / "explorers.html").read_text()
    for name in ("bokeh.min.js", "bokeh-widgets.min.js"):
        assert html.count(f"_static/bokeh/{name}") == 1, name
        assert (book / "_static" / "bokeh" / name).exists()
    assert "cdn.bokeh.org" not in html
    assert '<script type="text/x-bokehjs">' not in html  # no inline copy of BokehJS


def test_nothing_loads_from_the_internet(page, server):  # noqa: F811
    urls = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(server) for u in urls), [
        u for u in urls if not u.startswith(server)
    ]


def test_controls_have_labels(page):
    for name, count in (("divergence", 7), ("fits", 4), ("estimators", 3)):
        handles = sliders(page, name)
        assert len(handles) == count, (name, len(handles))
        for handle in handles:
            assert handle.get_attribute("aria-label") or handle.get_attribute("aria-labelledby"), (
                f"{name}: a slider without a label"
            )
            assert handle.get_attribute("tabindex") == "0", f"{name}: slider not focusable"
        group = container(page, name).find_element("css selector", "[role='group']")
        assert group.get_attribute("aria-label"), f"{name}: explorer without a label"
    (buttons,) = deep(page, ".bk-btn-group", container(page, "estimators"))
    assert buttons.get_attribute("role") == "group"
    assert buttons.get_attribute("aria-label") == "estimator"  # the label shown above it


def _divergence_values(page):
    handles = sliders(page, "divergence")
    mp, sp, ap, mq, sq, aq, dx = (round(slider_value(h), 4) for h in handles)
    return (mp, sp, ap), (mq, sq, aq), dx


def check_divergence(page):
    """The shown KLs of the divergence explorer equal klcourse's at its sliders' values."""
    p, q, dx = _divergence_values(page)
    exact = readout(page, "divergence", "[data-kl='exact']")
    grid = readout(page, "divergence", "[data-kl='grid']")
    for shown, value in zip(
        exact, (explore.skewnorm_kl(p, q), explore.skewnorm_kl(q, p)), strict=True
    ):
        assert close(shown, value, 4), (p, q, shown, value)
    for shown, value in zip(
        grid, (explore.grid_kl(p, q, dx), explore.grid_kl(q, p, dx)), strict=True
    ):
        assert close(shown, value, 4), (p, q, dx, shown, value)
    return p, q


def check_fits(page):
    w, d, s1, s2 = (round(slider_value(h), 4) for h in sliders(page, "fits"))
    optima = explore.reverse_kl_optima(w, d, s1, s2)
    shown = readout(page, "fits", "[data-kl]")
    assert len(shown) == len(optima), (w, d, s1, s2, shown, optima)
    for text, optimum in zip(shown, optima, strict=True):
        assert close(text, optimum["kl"], 4), (w, d, s1, s2, text, optimum)
    m, s = explore.forward_fit(w, d, s1, s2)
    text = readout(page, "fits", "p")[0]
    assert f"m = {m:.3f}, s = {s:.3f}" in text.replace("-0.000", "0.000"), (text, m, s)


def check_estimators(page, estimator):
    import klcourse as kc

    n, mu_q, sigma_q = (slider_value(h) for h in sliders(page, "estimators"))
    values = explore.estimator_spread(int(n), f"k{estimator + 1}", mu_q, sigma_q)
    true, mean, sd = (
        readout(page, "estimators", f"[data-kl='{k}']")[0] for k in ("true", "mean", "sd")
    )
    assert close(true, kc.kl_normal(0, 1, mu_q, sigma_q), 4)
    assert close(mean, values.mean(), 4), (n, mu_q, sigma_q, estimator, mean)
    assert close(sd, values.std(ddof=1), 4), (n, mu_q, sigma_q, estimator, sd)


def active_estimator(page):
    buttons = deep(page, "button", container(page, "estimators"))
    return next(i for i, b in enumerate(buttons) if "bk-active" in b.get_attribute("class"))


def test_divergence_matches_klcourse_as_sliders_move(page):
    from selenium.webdriver.common.keys import Keys

    moves = [
        (None, None, 0),
        (0, Keys.ARROW_RIGHT, 5),
        (4, Keys.ARROW_LEFT, 10),
        (2, Keys.ARROW_RIGHT, 6),
        (6, Keys.ARROW_LEFT, 6),
        (5, Keys.ARROW_LEFT, 4),
    ]
    for index, key, times in moves:
        if key is not None:
            press(page, sliders(page, "divergence")[index], key, times)
        p, q = check_divergence(page)
    assert p[2] != 0 and q[2] != 0  # the skewed option was exercised (quadrature)


def test_fits_match_klcourse_as_sliders_move(page):
    from selenium.webdriver.common.keys import Keys

    for index, key, times in (
        (None, None, 0),
        (1, Keys.ARROW_LEFT, 15),
        (0, Keys.ARROW_LEFT, 4),
        (3, Keys.ARROW_RIGHT, 10),
    ):
        if key is not None:
            press(page, sliders(page, "fits")[index], key, times)
        check_fits(page)


def test_estimators_match_klcourse(page):
    from selenium.webdriver.common.keys import Keys

    buttons = deep(page, "button", container(page, "estimators"))
    for index, key, times, estimator in (
        (None, None, 0, 0),
        (0, Keys.ARROW_RIGHT, 3, 2),
        (1, Keys.ARROW_RIGHT, 5, 1),
    ):
        if key is not None:
            press(page, sliders(page, "estimators")[index], key, times)
        buttons[estimator].send_keys(Keys.ENTER)
        assert active_estimator(page) == estimator
        check_estimators(page, estimator)


def test_screenshots(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("divergence", "fits", "estimators"):
        element = container(page, name)
        page.execute_script("arguments[0].scrollIntoView();", element)
        element.screenshot(str(SCREENSHOTS / f"explorer_{name}.png"))


# ---------------------------------------------------------------- after the test page
# These tests navigate the shared browser away from explorers.html: they stay last.
CHAPTER_EXPLORERS = {
    "01_kl_basics": "divergence",
    "02_asymmetry": "divergence",
    "03_forward_vs_reverse": "fits",
    "04_monte_carlo": "estimators",
}


def wait_ready(browser, count):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 90).until(
        lambda b: (
            len(b.find_elements("css selector", ".klcourse-explorer [data-ready='1']")) == count
        )
    )


def move_and_check(browser, name):  # noqa: F811
    """Check the shown KL, move the first slider three steps, check it again."""
    from selenium.webdriver.common.keys import Keys

    checks = {
        "divergence": check_divergence,
        "fits": check_fits,
        "estimators": lambda b: check_estimators(b, active_estimator(b)),
    }
    checks[name](browser)
    before = readout(browser, name, "[data-kl]")
    handle = sliders(browser, name)[0]
    value = slider_value(handle)
    press(browser, handle, Keys.ARROW_RIGHT, 3)
    assert slider_value(sliders(browser, name)[0]) > value, f"{name}: the slider did not move"
    checks[name](browser)
    assert readout(browser, name, "[data-kl]") != before, f"{name}: the KL shown did not change"


@pytest.fixture(scope="module")
def chapters_server(full_book):
    yield from serve(full_book)


@pytest.mark.parametrize("chapter", list(CHAPTER_EXPLORERS))
def test_explorers_work_in_the_chapters(chapter, chapters_server, browser):  # noqa: F811
    log = load(browser, f"{chapters_server}/chapters/{chapter}.html")
    wait_ready(browser, 1)
    move_and_check(browser, CHAPTER_EXPLORERS[chapter])
    severe = [e["message"] for e in log + browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"{chapter}: console errors {severe}"


def test_explorers_work_in_a_notebook_exported_to_html(tmp_path, browser):  # noqa: F811
    """Notebook mode: BokehJS inline in each output (the default outside the book), as
    JupyterLab and Colab display it; nbconvert's HTML export of the notebook is opened
    from a file, offline, and each explorer computes its KL there."""
    from nbconvert import HTMLExporter

    mode = os.environ.pop("KLCOURSE_EXPLORE_JS", None)
    try:
        explorers = [eval(code, {"kc": __import__("klcourse")}) for code in CELLS[1:]]
        bundles = [e._repr_mimebundle_() for e in explorers]
    finally:
        if mode is not None:
            os.environ["KLCOURSE_EXPLORE_JS"] = mode
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Explorers in a notebook")]
    for count, (code, bundle) in enumerate(zip(CELLS[1:], bundles, strict=True), start=1):
        output = nbformat.v4.new_output("execute_result", data=bundle, execution_count=count)
        nb.cells.append(nbformat.v4.new_code_cell(code, outputs=[output], execution_count=count))
    assert all('<script type="text/x-bokehjs">' in b["text/html"] for b in bundles)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    (tmp_path / "explorers.html").write_text(body, encoding="utf-8")
    load(browser, (tmp_path / "explorers.html").as_uri())
    wait_ready(browser, 3)
    assert browser.execute_script("return typeof window.Bokeh.embed") == "object"
    # BokehJS came from the outputs: nothing of Bokeh was requested from anywhere.
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert not [u for u in urls if "bokeh" in u.lower()], urls
    for name in ("divergence", "fits", "estimators"):
        move_and_check(browser, name)
