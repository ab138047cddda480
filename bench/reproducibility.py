"""Every machine, rehearsed on one: nbval over every notebook under other numerical kernels.

`make reproducibility` runs this. Each setting re-runs nbval (strict, with the course's
precision rule from `klcourse.precision`) over every notebook in ``chapters/`` in a
fresh process whose environment changes how the numbers are computed:

* ``OPENBLAS_CORETYPE`` makes NumPy's OpenBLAS use another CPU's kernels (the last bits
  of float64 linear algebra differ between them);
* one thread for OpenBLAS, OpenMP and TensorFlow (sums reduced in another order);
* TensorFlow with oneDNN's optimisations off, then forced on.

The table (notebook × setting: passed, or which cells failed) replaces the
"Reproducibility" section of ``bench/RESULTS.md``. Settings whose kernel this CPU
cannot run (AVX-512 kernels on a CPU without AVX-512) are skipped and said so.

    python bench/reproducibility.py                  # all settings, all notebooks
    python bench/reproducibility.py --jobs 2         # two settings at a time
    python bench/reproducibility.py --settings Zen one-thread chapters/01_kl_basics.ipynb
"""

import argparse
import concurrent.futures
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
START, END = "<!-- reproducibility:start -->", "<!-- reproducibility:end -->"

ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
SETTINGS = {
    "native": {},
    "Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "Zen": {"OPENBLAS_CORETYPE": "Zen"},
    "SandyBridge": {"OPENBLAS_CORETYPE": "SandyBridge"},
    "Nehalem": {"OPENBLAS_CORETYPE": "Nehalem"},
    "Prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    "SkylakeX": {"OPENBLAS_CORETYPE": "SkylakeX"},
    "one-thread": ONE_THREAD,
    "oneDNN-off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "oneDNN-on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
}
# Said under every table until a GPU run replaces it (the GPU is a device, not a setting).
GPU_NOTE = (
    "No GPU column: no GPU machine was lent to the task of 2026-12-08, and the one lent on "
    "2026-11-22 (one H100, no network) had no TensorFlow and CUDA 13, where TensorFlow "
    "2.21's GPU build needs CUDA 12.5. The GPU path is untested; the precision rule "
    "(float32 TensorFlow results glued and printed at 3-4 significant digits) is designed "
    "so that its noise falls inside the shown precision."
)
NEEDS = {"SkylakeX": "avx512f", "Haswell": "avx2", "Zen": "avx2", "SandyBridge": "avx"}


def cpu_flags():
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def run_setting(name, notebooks):
    """nbval over ``notebooks`` under setting ``name``: ``{notebook: (status, seconds)}``."""
    env = {**os.environ, **SETTINGS[name], "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "report.xml"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--nbval",
                "--nbval-current-env",
                "--nbval-cell-timeout=600",
                "-p",
                "no:cacheprovider",
                "-q",
                f"--junitxml={report}",
                *map(str, notebooks),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if not report.exists():
            return {nb.name: ("did not run", elapsed) for nb in notebooks}
        outcome = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            notebook = case.get("file") or case.get("classname", "")
            notebook = pathlib.Path(notebook.replace(".", "/")).name
            key = next(
                (nb.name for nb in notebooks if nb.stem in case.get("classname", "")), notebook
            )
            failed = case.find("failure") is not None or case.find("error") is not None
            cells, seconds = outcome.get(key, ([], 0.0))
            if failed:
                cells.append(re.sub(r"\D", "", case.get("name", "")) or "?")
            outcome[key] = (cells, seconds + float(case.get("time", 0)))
    return {
        nb: ("passed" if not cells else "cells " + ", ".join(cells) + " differ", seconds)
        for nb, (cells, seconds) in outcome.items()
    }


def table(results, notebooks, skipped):
    names = list(results)
    lines = [
        "| notebook | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for nb in notebooks:
        row = []
        for name in names:
            status, seconds = results[name].get(nb.name, ("did not run", 0.0))
            row.append(("✅" if status == "passed" else "❌ " + status) + f" ({seconds:.0f} s)")
        lines.append(f"| `{nb.name}` | " + " | ".join(row) + " |")
    settings = "; ".join(
        f"**{name}**: " + (", ".join(f"`{k}={v}`" for k, v in SETTINGS[name].items()) or "as is")
        for name in names
    )
    text = [
        START,
        "## Reproducibility: every machine, rehearsed on one",
        "",
        f"Written by `make reproducibility` (`bench/reproducibility.py`) on {platform.machine()},",
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. nbval (strict, with the",
        "course's precision rule) over every notebook, once per setting, each in a fresh",
        "process; seconds are nbval's per notebook. Settings: " + settings + ".",
        "",
        *lines,
    ]
    if skipped:
        text += ["", "Skipped (this CPU cannot run their kernels): " + ", ".join(skipped) + "."]
    text += ["", GPU_NOTE]
    return "\n".join(text + [END])


def write(section):
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + section + rest.split(END, 1)[1]
    else:
        new = old.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--jobs", type=int, default=1, help="settings run at once")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    flags = cpu_flags()
    skipped = [s for s in args.settings if s in NEEDS and NEEDS[s] not in flags]
    settings = [s for s in args.settings if s not in skipped]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_setting, name, notebooks): name for name in settings}
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            results[name] = future.result()
            print(
                f"{name}: " + ", ".join(f"{nb} {s}" for nb, (s, _) in results[name].items()),
                flush=True,
            )
    results = {name: results[name] for name in settings}
    section = table(results, notebooks, skipped)
    write(section)
    print(section)
    failed = [name for name, r in results.items() if any(s != "passed" for s, _ in r.values())]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
