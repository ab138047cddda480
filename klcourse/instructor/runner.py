"""Execute one prepared notebook inside the sandbox and stream what it produced.

Run by `klcourse.instructor.grading` as ``python runner.py --cell-timeout N`` inside the
sandbox, with the prepared notebook (the submission with its check cells replaced by
capture cells) on standard input. It sets the resource limits, starts a kernel through
nbclient and executes the code cells one by one. After each cell it writes one JSON line
to standard output:

* ``{"event": "answer", "id": ..., "payload": ...}`` for a capture cell's output
  (the answer's value in `values`' format, or a pickled function, or an error);
* ``{"event": "error", "cell": i, "ename": ..., "evalue": ...}`` for a cell that raised;
* ``{"event": "interrupted", "cell": i}`` for a cell stopped at the cell time limit;
* ``{"event": "stuck", "cell": i}`` when the kernel did not answer an interrupt
  (a loop inside one C call); the run ends there, and the sandbox with it;
* ``{"event": "died", "cell": i}`` when the kernel died; ``{"event": "done"}`` at the end.

Nothing here is trusted by the grader beyond being a submission's *values*: code in the
notebook runs as the same user in the same sandbox, so it could write such lines itself.
That is why verdicts are never computed here (see `klcourse.instructor.grading`).
"""

import argparse
import asyncio
import json
import os
import re
import sys

if __package__:
    from klcourse.instructor import sandbox
else:  # run by path inside the sandbox: no `klcourse` (and TensorFlow) in this process
    import sandbox

ANSWER_MIME = "application/vnd.klcourse.answer+json"
CAPTURE = re.compile(r'__klcourse_capture__\("([\w-]+)"')
GRACE_S = 5  # after an interrupt, how long the kernel has to stop


def _emit(channel, event):
    channel.write(json.dumps(event) + "\n")
    channel.flush()


def _capture_id(cell):
    """The exercise id of a grader's capture cell, else ``None``."""
    match = CAPTURE.match(cell.source)
    return match.group(1) if match else None


def _report_outputs(channel, cell, index):
    wanted = _capture_id(cell)  # only a capture cell's first answer output counts
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "error" and output.get("ename") == "KeyboardInterrupt":
            _emit(channel, {"event": "interrupted", "cell": index})
        elif kind == "error":
            _emit(
                channel,
                {
                    "event": "error",
                    "cell": index,
                    "ename": str(output.get("ename"))[:100],
                    "evalue": str(output.get("evalue"))[:300],
                },
            )
        elif kind == "display_data" and ANSWER_MIME in output.get("data", {}) and wanted:
            answer = output["data"][ANSWER_MIME]
            if isinstance(answer, dict) and answer.get("id") == wanted:
                _emit(channel, {"event": "answer", "id": wanted, "payload": answer.get("payload")})
                wanted = None


async def _execute(client, notebook, cell_timeout, channel):
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    async with client.async_setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            try:
                await asyncio.wait_for(
                    client.async_execute_cell(cell, index), cell_timeout + GRACE_S
                )
            except (TimeoutError, CellTimeoutError):
                _report_outputs(channel, cell, index)
                _emit(channel, {"event": "stuck", "cell": index})
                return False
            except DeadKernelError:
                # nbclient also says "dead" of a kernel that stopped answering its heartbeat
                alive = await client.km.is_alive()
                _emit(channel, {"event": "stuck" if alive else "died", "cell": index})
                return False
            _report_outputs(channel, cell, index)
            if not await client.kc.is_alive():
                _emit(channel, {"event": "died", "cell": index})
                return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cell-timeout", type=int, default=60)
    sandbox.add_limit_arguments(parser)
    args = parser.parse_args(argv)
    # Our own channel, then standard output and error point away from it, so that
    # the kernel and its children (which inherit them) do not write into it.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    sandbox.make_undumpable()
    sandbox.apply_limits(args)
    source = sys.stdin.buffer.read()

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.reads(source.decode("utf-8"), as_version=4)
    client = NotebookClient(
        notebook,
        timeout=args.cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=False,
        resources={"metadata": {"path": os.getcwd()}},
    )
    _emit(channel, {"event": "started"})
    if asyncio.run(_execute(client, notebook, args.cell_timeout, channel)):
        _emit(channel, {"event": "done"})
    channel.close()
    os._exit(0)  # the sandbox ends with this process, and every process in it


if __name__ == "__main__":
    main()
