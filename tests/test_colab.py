"""Notebooks run as in Colab: only Colab's packages and the klcourse wheel, no repository files."""

import json
import pathlib
import re
import shutil
import subprocess
import sys
import types
import unittest.mock

import nbformat
import pytest

pytestmark = pytest.mark.colab  # tiers: `make unit` skips these
ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# What a Colab runtime ships that the notebooks use (plus the kernel machinery).
COLAB_PACKAGES = [
    "tensorflow==2.21.*",
    "tensorflow-probability==0.25.*",
    "tf-keras==2.21.*",
    "numpy",
    "scipy",
    "matplotlib",
    "seaborn",
    "scikit-learn",
    "ipython",
    "bokeh",
    "ipykernel",
    "nbclient",
    "nbformat",
]

RUN = r"""
import json, sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3").execute()
bad = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
       if o.output_type == "error" or o.get("name") == "stderr"]
print(json.dumps([o.get("ename") or o.get("text", "")[:300] for o in bad]))
"""


@pytest.fixture(scope="module")
def colab_python(tmp_path_factory, pytestconfig):
    root = tmp_path_factory.mktemp("colab")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(root / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next((root / "dist").glob("klcourse-*.whl"))
    # uv, which `make` installs beside pip: it builds this environment in about 25 s,
    # where pip took over two minutes of every CI run.
    uv = [str(pathlib.Path(sys.executable).parent / "uv"), "--quiet"]
    subprocess.run([*uv, "venv", "--python", sys.executable, str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    target = ["--python", str(python)]
    # Compiled now: with PYTHONDONTWRITEBYTECODE set, each kernel would compile TF again.
    compiled = ["--compile-bytecode"]
    subprocess.run([*uv, "pip", "install", *target, *compiled, *COLAB_PACKAGES], check=True)
    subprocess.run([*uv, "pip", "install", *target, "--no-deps", str(wheel)], check=True)
    # The wheel needs nothing beyond what Colab ships:
    subprocess.run([*uv, "pip", "check", *target], check=True, stdout=subprocess.DEVNULL)
    # Unlocked on purpose (it stands for Colab's ever-moving runtime): say what it ran with.
    freeze = subprocess.run(
        [*uv, "pip", "freeze", *target], capture_output=True, text=True, check=True
    ).stdout.split()
    wanted = {re.split(r"[=<>~]", p)[0].lower() for p in COLAB_PACKAGES}
    versions = [line for line in freeze if line.split("==")[0].lower() in wanted]
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("Colab-like environment (unlocked): " + ", ".join(versions))
    return python


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_alone_with_colab_packages(colab_python, chapter, tmp_path):
    alone = tmp_path / chapter.name
    shutil.copy(chapter, alone)  # an empty folder: no repository files within reach
    result = subprocess.run(
        [str(colab_python), "-c", RUN, str(alone)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    problems = json.loads(result.stdout.strip().splitlines()[-1])
    assert problems == [], problems


def test_setup_cell_installs_from_the_configured_repository_only_in_colab():
    repository = re.search(r"repository:\n  url: (\S+)", (ROOT / "_config.yml").read_text()).group(
        1
    )
    for chapter in CHAPTERS:
        first = nbformat.read(chapter, as_version=4).cells[0]
        assert first.cell_type == "code" and "remove-cell" in first.metadata.get("tags", [])
        assert f"git+{repository}" in first.source, (
            f"{chapter.name}: set-up cell does not use {repository}"
        )
        # Elsewhere: nothing happens.
        with unittest.mock.patch("subprocess.run") as run:
            exec(first.source, {})
        run.assert_not_called()
        # In Colab (google.colab importable, klcourse not installed): pip install from the
        # repository.
        fake_colab = types.ModuleType("google.colab")
        real_find_spec = __import__("importlib.util").util.find_spec

        def find_spec(name, *args):
            if name == "google.colab":
                return object()
            if name == "klcourse":
                return None
            return real_find_spec(name, *args)  # noqa: B023  (called inside this iteration)

        with (
            unittest.mock.patch("subprocess.run") as run,
            unittest.mock.patch("importlib.util.find_spec", side_effect=find_spec),
            unittest.mock.patch.dict(sys.modules, {"google.colab": fake_colab}),
        ):
            exec(first.source, {})
        command = run.call_args.args[0]
        assert (
            command[1:4] == ["-m", "pip", "install"] and f"klcourse @ git+{repository}" in command
        )
