"""The precision rule: numbers compared at their shown precision, and nothing hidden.

`klcourse.precision.numbers_agree` is tested on its own; then nbval itself is run on a
small notebook whose stored outputs are mutated, to show that float noise passes while a
change in the 4th significant digit, a changed integer or a changed word still fails; and
the chapters' prose is checked never to show more digits than are glued.
"""

import json
import pathlib
import re
import subprocess
import sys

import hypothesis.strategies as st
import nbformat
import pytest
from hypothesis import given
from nbclient import NotebookClient

from klcourse.precision import numbers_agree, round_significant, tokenize

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


# ------------------------------------------------------------ the comparison itself
@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("log evidence -153.2127", "log evidence -153.2128"),  # last digit flipped
        ("glued -153.21270388951837", "glued -153.2127038895184"),  # the case
        ("[1.5854 0.461 ]", "[1.5854 0.4611]"),  # NumPy pads to the widest number
        ("-0.0000", "0.0000"),
        ("corr 3.1e-08", "corr 3.2e-08"),
        ("0.349397", "0.349397"),
    ],
)
def test_float_noise_agrees(stored, new):
    assert numbers_agree(stored, new)


@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("KL 0.349397", "KL 0.349497"),  # 4th significant digit
        ("KL 9.49543", "KL 9.49643"),
        ("KL 0.3494", "KL 0.3496"),  # two units in the last shown digit
        ("100 draws", "101 draws"),  # integers are exact
        ("KL 0.3494 nats", "KL 0.3494 bits"),  # a word
        ("KL 0.3494", "KL 0.3494 0.1"),  # an extra number
        ("-153.21270388951837", "-153.2137038895184"),  # beyond noise in full repr
    ],
)
def test_real_differences_fail(stored, new):
    assert not numbers_agree(stored, new)


def test_identifiers_with_digits_are_text():
    parts, numbers = tokenize("k1 and float64 and ch3-2")
    assert numbers == ["2"]
    assert not numbers_agree("k1 estimate", "k2 estimate")


@given(
    st.floats(min_value=1e-6, max_value=1e6),
    st.integers(min_value=4, max_value=12),
)
def test_rounding_noise_never_fails_and_4th_digit_always_does(value, digits):
    shown = f"{round_significant(value, digits):.{digits - 1}e}"
    noisy = f"{round_significant(value * (1 + 1e-12), digits):.{digits - 1}e}"
    assert numbers_agree(shown, noisy)
    mantissa, exponent = shown.split("e")
    fourth = int(mantissa[4])
    changed = mantissa[:4] + str((fourth + 5) % 10) + mantissa[5:]
    assert not numbers_agree(shown, changed + "e" + exponent)


@given(
    st.floats(min_value=1e-6, max_value=1e6),
    st.integers(min_value=1, max_value=7),
    st.integers(min_value=2, max_value=9),
)
def test_one_unit_in_the_last_shown_digit_passes_and_two_fail(value, digits, units):
    # The rule exactly: numbers shown with up to 7 significant digits (3 or 4 in most
    # prose) pass a change of one unit in their last digit and fail from two units on.
    shown = f"{value:.{digits - 1}e}"
    mantissa, exponent = shown.split("e")
    last = int(mantissa[-1])
    for step, agrees in ((1, True), (units, False)):
        moved = last + step if last + step <= 9 else last - step
        if not 0 <= moved <= 9:
            continue
        assert numbers_agree(shown, f"{mantissa[:-1]}{moved}e{exponent}") is agrees


def test_round_significant_validates():
    with pytest.raises(ValueError, match="`digits` must be a positive int"):
        round_significant(1.0, 0)


# ------------------------------------------------------------ nbval with the plugin
NOTEBOOK_CELLS = [
    "import numpy as np\nx = np.linspace(0, 1, 101)\nkl = float(np.sum(x * np.log1p(x)) / 100)",
    'print(f"KL is {kl:.6f} nats over {x.size} points")',
    "round(kl, 6)",
    'print(f"in short: {kl:.3f} nats, or {100 * kl:.2f} centinats")',
]
SHORT = "in short:"


def _shift_digit(text, position):
    """Add 5 (mod 10) to the ``position``-th significant digit of the first decimal."""
    match = re.search(r"\d+\.\d+", text)
    if not match:
        return text
    number = match.group()
    digits = [i for i, c in enumerate(number) if c.isdigit()]
    first = next(i for i in digits if number[i] != "0")
    significant = [i for i in digits if i >= first]
    if len(significant) < position:  # too short to have that digit: left alone
        return text
    at = significant[position - 1]
    changed = number[:at] + str((int(number[at]) + 5) % 10) + number[at + 1 :]
    return text[: match.start()] + changed + text[match.end() :]


def _flip_last(text):
    """Add one unit to the last digit of the first decimal number (no carry needed)."""
    return re.sub(
        r"(\d+\.\d*)([0-8])(?!\d)", lambda m: m.group(1) + str(int(m.group(2)) + 1), text, count=1
    )


def _two_units(text, which):
    """Move the last digit of the ``which``-th number after "in short:" by two units."""
    if SHORT not in text:
        return text
    head, tail = text.split(SHORT, 1)
    match = list(re.finditer(r"\d+\.\d+", tail))[which]
    number, last = match.group(), int(match.group()[-1])
    moved = last + 2 if last <= 7 else last - 2  # no carry: exactly two units
    tail = tail[: match.start()] + number[:-1] + str(moved) + tail[match.end() :]
    return head + SHORT + tail


MUTATIONS = {
    "unchanged": (lambda text: text, True),
    "last_digit": (_flip_last, True),
    "fourth_digit": (lambda text: _shift_digit(text, 4), False),
    # a number shown with 3 (then 4) significant digits, two units off in its last one
    "three_digits_two_units": (lambda text: _two_units(text, 0), False),
    "four_digits_two_units": (lambda text: _two_units(text, 1), False),
    "word": (lambda text: text.replace("nats", "bits"), False),
    "integer": (lambda text: text.replace("101 points", "100 points"), False),
}


@pytest.fixture(scope="module")
def nbval_outcomes(tmp_path_factory):
    """``{mutation: passed}`` from one nbval run over a notebook and its mutated copies."""
    folder = tmp_path_factory.mktemp("precision")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    stored = json.loads(nbformat.writes(nb))
    for name, (change, _) in MUTATIONS.items():
        copy = json.loads(json.dumps(stored))
        for cell in copy["cells"]:
            for output in cell.get("outputs", []):
                if "text" in output:
                    output["text"] = change("".join(output["text"]))
                for mime, value in output.get("data", {}).items():
                    output["data"][mime] = change("".join(value))
        if name != "unchanged":
            assert copy != stored, f"the mutation {name} changed nothing"
        (folder / f"{name}.ipynb").write_text(json.dumps(copy))
    report = folder / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "klcourse.nbval_plugin",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            *sorted(str(p) for p in folder.glob("*.ipynb")),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
    )
    failed = set(re.findall(r'classname="([\w]+)\.ipynb"[^>]*>\s*<failure', report.read_text()))
    return {name: name not in failed for name in MUTATIONS}


@pytest.mark.slow  # tiers: one nbval run over mutated notebooks; `make test` runs it
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_nbval_fails_real_differences_only(nbval_outcomes, mutation):
    expected = MUTATIONS[mutation][1]
    assert nbval_outcomes[mutation] is expected, (
        f"{mutation}: nbval {'failed' if expected else 'passed'}, expected the opposite"
    )


# ------------------------------------------------------------ the chapters' prose
GLUE_TEXT = re.compile(r"\{glue:text\}`([\w.-]+):([^`]+)`")


def _glued(nb):
    """``{name: (stored text, digits claimed)}`` for every glue output of a notebook."""
    values = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {})
            name = meta.get("scrapbook", {}).get("name")
            if name is None:
                continue
            text = "".join(output["data"].get("application/papermill.record/text/plain", ""))
            values[name] = (text, meta.get("klcourse", {}).get("digits"))
    return values


def _significant_shown(text):
    digits = re.sub(r"[^0-9]", "", text.split("e")[0].split("E")[0]).lstrip("0")
    return len(digits)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_prose_never_shows_more_digits_than_are_glued(path):
    nb = json.loads(path.read_text())
    glued = _glued(nb)
    too_many = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for name, spec in GLUE_TEXT.findall("".join(cell["source"])):
            text, digits = glued.get(name, (None, None))
            if text is None or digits is None:
                continue
            try:
                shown = format(float(text), spec)
            except ValueError:
                continue
            if spec.endswith("%"):
                shown = shown.rstrip("%")
            if float(text) != 0 and _significant_shown(shown) > digits:
                too_many.append(f"{name}:{spec} shows {shown} but {digits} digits are glued")
    assert not too_many, "\n".join(too_many)
