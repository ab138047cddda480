"""Benchmarks for klcourse; `make bench` runs them and writes bench/RESULTS.md.

Every comparison runs side by side in one invocation and is reported as a ratio:
the machines here are shared and noisy, so absolute seconds from different runs are
not comparable. Each measurement that reports peak memory runs in its own process
(the peak resident set size of a process, and of the kernel it starts, is only
meaningful for one task at a time).

    python bench/run.py            # everything, writes bench/RESULTS.md
    python bench/run.py fit        # one part, printed only
    python bench/run.py fit-section  # rerun the fit comparison, rewrite only its section
"""

import json
import pathlib
import platform
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"


def _child(code):
    """Run `code` in a fresh Python; it prints one JSON line, returned as a dict."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ notebooks
NOTEBOOK = r"""
import json, resource, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read({path!r}, as_version=4)
start = time.perf_counter()
resources = {{"metadata": {{"path": "chapters"}}}}
NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources).execute()
seconds = time.perf_counter() - start
# ru_maxrss of waited-for children: the largest process among them, here the kernel.
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mib": peak}}))
"""


def bench_notebooks():
    rows = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        result = _child(NOTEBOOK.format(path=str(path)))
        rows.append((path.name, result["seconds"], result["peak_mib"], path.stat().st_size / 2**20))
    return rows


# ------------------------------------------------------------------ fit
FIT = r"""
import json, time
import numpy as np
import klcourse as kc
import tensorflow as tf, tensorflow_probability as tfp, tf_keras
tfd, tfb = tfp.distributions, tfp.bijectors
kc.seed_everything(0)
P = tfd.Normal(1.0, 4.0)
STEPS, LR = 500, 0.01

def fresh():
    return tfd.Normal(tf.Variable(-1.0), tfp.util.TransformedVariable(1.0, tfb.Exp()))

def reset(q):
    q.loc.assign(-1.0); q.scale.pretransformed_input.assign(0.0)

def eager_loop(q):
    # The plain loop of the source tutorials: eager GradientTape + Keras Adam per step.
    opt = tf.keras.optimizers.Adam(learning_rate=LR)
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            loss = tfd.kl_divergence(q, P)
        grads = tape.gradient(loss, q.trainable_variables)
        opt.apply_gradients(zip(grads, q.trainable_variables))

def tfp_minimize(q):
    tfp.math.minimize(lambda: tfd.kl_divergence(q, P), num_steps=STEPS,
                      optimizer=tf_keras.optimizers.Adam(learning_rate=LR))

def klcourse_fit(q):
    kc.fit(q, P, num_steps=STEPS, learning_rate=LR)

def timed(run, q):
    start = time.perf_counter()
    run(q)
    return time.perf_counter() - start


out = {}
METHODS = [("eager", eager_loop), ("tfp.math.minimize", tfp_minimize), ("kc.fit", klcourse_fit)]
for name, run in METHODS:
    q = fresh()
    first = timed(run, q)  # the first fit of this method in the process (tracing)
    reset(q)
    again = timed(run, q)  # the same q again
    other = fresh()
    new = timed(run, other)  # a fresh q of the same structure
    out[name] = {"first": first, "again": again, "fresh": new, "loc": float(other.loc),
                 "scale": float(tf.convert_to_tensor(other.scale))}
print(json.dumps(out))
"""


def bench_fit():
    return _child(FIT)


# ------------------------------------------------------------------ animation
LECTURE_FRAMES = 4
LECTURE = r"""
import json, resource, time
import numpy as np, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import animation
import klcourse as kc
import tensorflow as tf, tensorflow_probability as tfp
tfd, tfb = tfp.distributions, tfp.bijectors
kc.seed_everything(41)
p = tfd.MultivariateNormalTriL(
    [0.0, 0.0], tf.linalg.cholesky(kc.examples.TUTORIAL_2D_COV.astype("float32"))
)
q = tfd.MultivariateNormalDiag(
    tf.Variable([2.0, -2.0]), tfp.util.TransformedVariable([1.0, 2.0], tfb.Exp())
)
opt = tf.keras.optimizers.Adam(learning_rate=0.01)
x1 = np.linspace(-5, 5, 1000); X1, X2 = np.meshgrid(x1, x1)
levels = np.linspace(1e-4, 10 ** -0.8, 20)
fig, ax = plt.subplots(figsize=(7, 7))

def animate(i):
    # The lecture's frame: one optimisation step, then both densities on a
    # 1000x1000 grid evaluated and contoured from scratch.
    ax.clear()
    with tf.GradientTape() as tape:
        loss = tfd.kl_divergence(q, p)
    grads = tape.gradient(loss, q.trainable_variables)
    opt.apply_gradients(zip(grads, q.trainable_variables))
    X = np.hstack([X1.flatten()[:, None], X2.flatten()[:, None]])
    p_grid = np.reshape(p.prob(X).numpy(), X1.shape)
    ax.contour(X1, X2, p_grid, levels=levels, cmap="cividis", alpha=0.5)
    ax.contour(X1, X2, np.reshape(q.prob(X).numpy(), X1.shape), levels=levels, cmap="plasma")
    ax.set_title(f"step {{i}}")

anim = animation.FuncAnimation(fig, animate, frames={frames})
start = time.perf_counter()
anim.to_jshtml()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"per_frame": seconds / {frames}, "peak_mib": peak}}))
"""

OURS = r"""
import json, resource, time
import numpy as np, matplotlib
matplotlib.use("Agg")
import klcourse as kc
import tensorflow as tf, tensorflow_probability as tfp
tfd, tfb = tfp.distributions, tfp.bijectors
kc.seed_everything(41)
p = tfd.MultivariateNormalTriL(
    [0.0, 0.0], tf.linalg.cholesky(kc.examples.TUTORIAL_2D_COV.astype("float32"))
)
panels = []
for direction in ("reverse", "forward"):
    q = tfd.MultivariateNormalDiag(
        tf.Variable([2.0, -2.0]), tfp.util.TransformedVariable([1.0, 2.0], tfb.Exp())
    )
    trace = kc.fit(q, p, divergence=direction, num_steps=250, learning_rate=0.01)
    panels.append((trace, direction))
start = time.perf_counter()
box = (-5, 5)
anim = kc.plot.animate_fit_2d(panels, tfd.MultivariateNormalDiag, p, box, box, frames={frames})
html = kc.plot.to_html(anim).data
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"per_frame": seconds / {frames}, "peak_mib": peak,
                  "html_mib": len(html) / 2**20}}))
"""


def bench_animation():
    return {
        "lecture": _child(LECTURE.format(frames=LECTURE_FRAMES)),
        "klcourse": _child(OURS.format(frames=30)),
    }


# ------------------------------------------------------------------ book build
def bench_book():
    """`make book` from stored outputs, fresh and after editing one chapter."""
    import shutil

    from klcourse.instructor import JUPYTER_BOOK

    jupyter_book = [JUPYTER_BOOK, "build", str(ROOT), "--warningiserror", "--nitpick"]
    build = ROOT / "_build"
    for stale in ("html", ".doctrees", "jupyter_execute"):
        shutil.rmtree(build / stale, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(jupyter_book, check=True, capture_output=True)
    fresh = time.perf_counter() - start
    chapter = sorted((ROOT / "chapters").glob("*.ipynb"))[2]
    chapter.touch()  # an edit, as far as Sphinx can tell
    start = time.perf_counter()
    log = subprocess.run(jupyter_book, check=True, capture_output=True, text=True).stdout
    incremental = time.perf_counter() - start
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
    reread = sorted(set(re.findall(r"reading sources\.\.\. \[\s*\d+%\] (\S+)", plain)))
    return {
        "fresh": fresh,
        "incremental": incremental,
        "edited": f"chapters/{chapter.stem}",
        "reread": reread,
    }


# ------------------------------------------------------------------ report
def fit_section(fit):
    """The `kc.fit` section of RESULTS.md, as a list of lines."""
    eager, ours = fit["eager"], fit["kc.fit"]
    lines = [
        FIT_HEADING,
        "",
        "The same 500-step Adam fit (learning rate 0.01) of N(-1, 1) to N(1, 4) by analytic",
        "KL(q‖p), three times per method in one process: the method's first fit (tracing",
        "included), the same `q` again (variables reset), and a fresh `q` of the same",
        "structure, as notebooks do. Speed-ups are against the eager loop's fresh `q`; the",
        "final parameters are the fresh `q`'s.",
        "",
        "| method | first fit (s) | same q (s) | fresh q (s) | speed-up, first | "
        "speed-up, fresh q | final loc | final scale |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = eager["fresh"]
    for name, row in fit.items():
        lines.append(
            f"| {name} | {row['first']:.3f} | {row['again']:.3f} | {row['fresh']:.3f} | "
            f"{base / row['first']:.1f}× | {base / row['fresh']:.1f}× | "
            f"{row['loc']:.6f} | {row['scale']:.7f} |"
        )
    return lines + [
        "",
        f"Targets: a fresh `q` of a known structure at least 50× the eager loop (measured "
        f"{base / ours['fresh']:.0f}×), the very first fit at least 10× (measured "
        f"{base / ours['first']:.1f}×).",
    ]


def report(notebooks, fit, anim, book):
    ours_anim = anim["klcourse"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`bench/run.py`) on {platform.machine()}, "
        f"Python {platform.python_version()}, {_device()}.",
        "Ratios come from one run, side by side; absolute times vary with the machine's load.",
        "",
        "## Notebooks",
        "",
        "Each notebook executed top to bottom in a fresh kernel (nbclient); peak memory is the",
        "kernel's peak resident set size.",
        "",
        "| notebook | seconds | peak memory (MiB) | size on disk (MiB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| `{n}` | {s:.1f} | {m:.0f} | {d:.2f} |" for n, s, m, d in notebooks]
    lines += (
        [""]
        + fit_section(fit)
        + [
            "",
            "## 2-D fit animation",
            "",
            "The source lecture's approach (each frame re-evaluates and re-contours both",
            f"densities on a 1000×1000 grid; {LECTURE_FRAMES} frames timed) against",
            "`kc.plot.animate_fit_2d` (both directions side by side, 30 frames, densities for",
            "every frame evaluated in one batched call on a 90×90 grid, frames blitted onto a",
            "background rendered once), each rendered to the notebook's HTML player. The timing",
            "of `kc.plot` includes building the figure and evaluating the grids.",
            "",
            "| approach | seconds per frame | peak memory (MiB) |",
            "| --- | ---: | ---: |",
            f"| lecture | {anim['lecture']['per_frame']:.3f} | {anim['lecture']['peak_mib']:.0f} |",
            f"| klcourse (2 panels a frame) | {ours_anim['per_frame']:.3f} | "
            f"{ours_anim['peak_mib']:.0f} |",
            "",
            f"Speed-up per frame: {anim['lecture']['per_frame'] / ours_anim['per_frame']:.0f}× "
            "(target 20×); "
            f"peak memory {anim['klcourse']['peak_mib']:.0f} MiB (target under 1 GiB); "
            f"the HTML of 30 frames is {anim['klcourse']['html_mib']:.2f} MiB.",
            "",
            "## Building the book",
            "",
            "`make book` from the stored outputs (no notebook is executed), on this machine:",
            "",
            "| build | seconds | pages re-read |",
            "| --- | ---: | --- |",
            f"| fresh (empty `_build/`) | {book['fresh']:.1f} | all |",
            f"| after editing `{book['edited']}` | {book['incremental']:.1f} | "
            f"{', '.join(book['reread']) or 'none'} |",
            "",
            "Target: a fresh build under 90 s on a 2-core CPU, and a rebuild that re-reads only",
            "the edited chapter.",
            "",
        ]
    )
    return "\n".join(lines)


def _device():
    return _child("import json, klcourse as kc; print(json.dumps({'d': kc.describe()}))")["d"]


# bench/reproducibility.py writes its own section between these markers; keep it.
KEPT = ("<!-- reproducibility:start -->", "<!-- reproducibility:end -->")
FIT_HEADING = "## `kc.fit` against an eager loop and `tfp.math.minimize`"


def _kept_section():
    old = RESULTS.read_text() if RESULTS.exists() else ""
    start, end = KEPT
    if start in old and end in old:
        return "\n\n" + start + old.split(start, 1)[1].split(end, 1)[0] + end + "\n"
    return ""


def write_fit_section(fit):
    """Replace only the `kc.fit` section of RESULTS.md (``python bench/run.py fit-section``)."""
    old = RESULTS.read_text()
    head, rest = old.split(FIT_HEADING, 1)
    tail = rest[rest.index("\n## ") :]
    RESULTS.write_text(head + "\n".join(fit_section(fit)) + "\n" + tail)


def main(argv):
    parts = argv[1:] or ["all"]
    if parts == ["all"]:
        text = report(bench_notebooks(), bench_fit(), bench_animation(), bench_book())
        RESULTS.write_text(text.rstrip() + "\n" + _kept_section())
        print(text)
        return
    if parts == ["fit-section"]:
        fit = bench_fit()
        write_fit_section(fit)
        print(json.dumps(fit, indent=1))
        return
    for part in parts:
        print(
            json.dumps(
                {
                    "notebooks": bench_notebooks,
                    "fit": bench_fit,
                    "animation": bench_animation,
                    "book": bench_book,
                }[part](),
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main(sys.argv)
