"""The built book, tested as a reader uses it: a real headless Chromium, offline.

The book is built once into a temporary folder and served on localhost. Chromium (the
Debian package; `make test` installs it) resolves no host but localhost, so any page
that needs the internet (a CDN script, a web font) shows up as a console error or a
missing resource. Screenshots of every chapter go to _build/screenshots/.
"""

import functools
import html.parser
import http.server
import pathlib
import re
import shutil
import threading
import urllib.parse

import pytest
from PIL import Image

pytestmark = [pytest.mark.book, pytest.mark.browser]  # tiers: `make unit` skips these
ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def book(full_book):
    return full_book


def serve(folder):
    """Serve `folder` on localhost while the generator is open; yields its URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(book):
    yield from serve(book)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail(
            "chromium and chromedriver are required: `make test` installs Debian's packages"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--window-size=1280,1600",
        # Offline: every host but this machine fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def load(browser, url):
    """Load `url` once and return what the console logged during that load."""
    browser.get_log("browser")  # discard anything from the previous page
    browser.get(url)
    # Wait until MathJax (if the page has math) has finished typesetting.
    browser.set_script_timeout(60)
    browser.execute_async_script(
        "const done = arguments[0];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise) {"
        "  MathJax.startup.promise.then(() => done(true)); } else { done(false); }"
    )
    return browser.get_log("browser")


def pages(book):
    return sorted(
        p.relative_to(book).as_posix()
        for p in book.rglob("*.html")
        if "_static" not in p.parts and p.name not in ("genindex.html", "search.html")
    )


def test_every_page_renders_offline(book, server, browser):
    for page in pages(book):
        log = load(browser, f"{server}/{page}")
        severe = [entry["message"] for entry in log if entry["level"] == "SEVERE"]
        assert not severe, f"{page}: console errors {severe}"
        broken = browser.execute_script(
            "return [...document.images]"
            ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        assert not broken, f"{page}: images that did not load: {broken}"
        # Code shows TeX on purpose (students.md: how to type maths in an answer cell).
        text = browser.execute_script(
            "const shown = document.body.innerText;"
            "const code = [...document.querySelectorAll('code, pre')].map(e => e.innerText);"
            "return code.reduce((t, c) => t.replace(c, ''), shown);"
        )
        raw_tex = re.findall(r"\\frac|\\mathrm|\\sum_|\$\$", text)
        assert not raw_tex, f"{page}: untypeset math in the visible text: {raw_tex[:5]}"


def test_chapters_have_typeset_math_and_screenshots(book, server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for chapter in CHAPTERS:
        load(browser, f"{server}/chapters/{chapter}.html")
        typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length")
        assert typeset > 10, f"{chapter}: only {typeset} typeset formulas"
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1280, min(height, 16000))
        browser.save_screenshot(str(SCREENSHOTS / f"{chapter}.png"))
        browser.set_window_size(1280, 1600)


def test_animations_have_controls_that_step_frames(server, browser):
    for chapter in ("03_forward_vs_reverse", "04_monte_carlo"):
        load(browser, f"{server}/chapters/{chapter}.html")
        players = browser.find_elements("css selector", "img[id^='_anim_img']")
        assert players, f"{chapter}: no animation player"
        player_id = players[0].get_attribute("id").removeprefix("_anim_img")
        first = players[0].get_attribute("src")
        next_button = browser.find_element(
            "css selector", f"button[onclick='anim{player_id}.next_frame()']"
        )
        assert next_button.get_attribute("title") == "Next frame"
        browser.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", next_button)
        assert players[0].get_attribute("src") != first, (
            f"{chapter}: 'next frame' did not change the frame"
        )
        icons = browser.execute_script(
            "return document.querySelector('button[title=\"Play\"]').innerText"
        )
        assert icons.strip(), f"{chapter}: play button has no visible symbol"


def test_search_finds_reparameterization(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    load(browser, f"{server}/search.html?q=reparameterization")
    WebDriverWait(browser, 30).until(
        lambda b: b.find_elements("css selector", "#search-results ul.search li")
    )
    hits = [
        a.get_attribute("href")
        for a in browser.find_elements("css selector", "#search-results ul.search li a")
    ]
    assert any("04_monte_carlo" in h for h in hits), hits


def test_colab_links_point_at_each_chapters_jupyter_notebook(book):
    config = (ROOT / "_config.yml").read_text()
    repository = re.search(r"repository:\n  url: https://github.com/(\S+)", config).group(1)
    for chapter in CHAPTERS:
        page = (book / "chapters" / f"{chapter}.html").read_text()
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page)
        assert links, f"{chapter}: no Colab launch link"
        assert all(
            link.endswith(f"/github/{repository}/blob/main/notebooks/{chapter}.ipynb")
            for link in links
        ), links
        # Binder and the download button open the same Jupyter-flavoured notebook.
        assert f"urlpath=lab/tree/notebooks/{chapter}.ipynb" in page
        assert f'href="../notebooks/{chapter}.ipynb"' in page
        assert (book / "notebooks" / f"{chapter}.ipynb").read_bytes() == (
            ROOT / "notebooks" / f"{chapter}.ipynb"
        ).read_bytes()


class LinkCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images, self.external = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            value = attrs.get(key)
            if not value:
                continue
            if value.startswith(("http://", "https://", "//")):
                if (
                    tag == "script"
                    or (tag == "link" and "stylesheet" in attrs.get("rel", ""))
                    or tag == "img"
                ):
                    self.external.append(value)
            elif not value.startswith(("mailto:", "javascript:", "data:")):
                self.links.append(value)
        if tag == "img":
            self.images.append(attrs)


def parsed(path):
    collector = LinkCollector()
    collector.feed(path.read_text())
    return collector


def test_no_broken_internal_links_and_nothing_from_a_cdn(book):
    cache = {}
    for page in pages(book) + ["search.html", "genindex.html"]:
        path = book / page
        collected = cache.setdefault(path, parsed(path))
        assert not collected.external, f"{page} loads from the internet: {collected.external}"
        for link in collected.links:
            target, _, fragment = urllib.parse.unquote(link).partition("#")
            target = target.split("?")[0]
            target_path = (path.parent / target).resolve() if target else path
            assert target_path.exists(), f"{page}: broken link {link}"
            if fragment and target_path.suffix == ".html":
                ids = cache.setdefault(target_path, parsed(target_path)).ids
                assert fragment in ids, f"{page}: link {link} names a missing anchor"


def test_figures_have_alt_text_captions_and_opaque_backgrounds(book):
    for chapter in CHAPTERS:
        page = (book / "chapters" / f"{chapter}.html").read_text()
        for attrs in parsed(book / "chapters" / f"{chapter}.html").images:
            assert attrs.get("alt", "").strip(), (
                f"{chapter}: image without alt text: {attrs.get('src', '')[:60]}"
            )
        figures = re.findall(r"<figure.*?</figure>", page, re.S)
        images_outside_figures = re.sub(r"<figure.*?</figure>", "", page, flags=re.S)
        stray = [
            src
            for src in re.findall(
                r'<img [^>]*src="(_images/[^"]+|\.\./_images/[^"]+)"', images_outside_figures
            )
        ]
        assert not stray, f"{chapter}: figures without a caption: {stray}"
        assert all("<figcaption" in f for f in figures), f"{chapter}: a figure without a caption"
    for image in (book / "_images").glob("*.png"):
        with Image.open(image) as picture:
            rgba = picture.convert("RGBA")
            corners = [rgba.getpixel(xy) for xy in ((0, 0), (rgba.width - 1, rgba.height - 1))]
        # Opaque backgrounds keep black axes visible in the theme's dark mode.
        assert all(pixel[3] == 255 for pixel in corners), f"{image.name}: transparent background"
