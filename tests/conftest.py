"""Shared test set-up.

klcourse is imported before any test module imports TensorFlow, so TensorFlow loads
quietly; the full HTML book is built once per session for every test that reads it.
"""

import pathlib
import subprocess

import pytest

import klcourse  # noqa: F401
from klcourse.instructor import JUPYTER_BOOK, ROOT


@pytest.fixture(scope="session")
def full_book(tmp_path_factory):
    """The course's HTML book, built from the working tree with warnings as errors."""
    out = tmp_path_factory.mktemp("full-book")
    subprocess.run(
        [JUPYTER_BOOK, "build", str(ROOT), "--all", "--warningiserror", "--path-output", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return pathlib.Path(out) / "_build" / "html"
