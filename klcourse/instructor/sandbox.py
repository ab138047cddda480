"""Run untrusted code in a bubblewrap sandbox, and always end it on time.

`Sandbox` builds the command line that runs a trusted module (the notebook runner or
the function server) inside **bubblewrap** (``bwrap``, Debian's ``bubblewrap`` package,
the sandbox Flatpak uses): new user, PID, network, IPC and UTS namespaces, so the code
has no network (only a loopback device), sees only its own processes, and all of them die
when the sandbox's first process does. Its file system is built from nothing:

* read-only: the system (``/usr`` and the ``/lib``, ``/bin`` links), the Python
  installation and virtual environment that run the grader, and the ``klcourse``
  package folder alone (not the course repository: no chapters, no solutions);
* a minimal ``/etc`` (a ``passwd`` naming one user; no ``hostname``), ``/proc`` of its
  own PID namespace and a minimal ``/dev``;
* writable: two size-limited in-memory folders, ``/home/student`` (the working folder)
  and ``/tmp``, which vanish with the sandbox.

The submission itself is never mounted: the runner receives it on standard input.
Grading run by root would give the sandbox root's user id on the host, which escapes
the kernel's process-count limit, so then the sandbox drops to ``nobody`` first
(``setpriv``). Resource limits (`apply_limits`) are set by the trusted module inside
the sandbox before any submitted code runs.

`run` starts a command in its own process group and kills the whole group (and, without
a sandbox, every process carrying the run's token) at the time limit; its output is read
in threads with bounded buffers, so nothing a submission prints can block the grader.
"""

import dataclasses
import os
import pathlib
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

__all__ = ["Limits", "Sandbox", "SandboxUnavailable", "find_sandbox", "apply_limits", "Run"]

HOME = "/home/student"
TOKEN_VARIABLE = "KLCOURSE_GRADING_TOKEN"
NOBODY = 65534


class SandboxUnavailable(RuntimeError):
    """No usable sandbox tool on this machine (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-process resource limits inside the sandbox.

    memory_mb: address space of each process (``RLIMIT_AS``); processes: tasks (threads
    count) of the sandbox's user (``RLIMIT_NPROC``; not set without a sandbox, where it
    would count all of the instructor's processes); cpu_s: CPU seconds of each process
    (``RLIMIT_CPU``); file_mb: largest file (``RLIMIT_FSIZE``); disk_mb: size of each of
    the two writable in-memory folders.
    """

    memory_mb: int = 8192
    processes: int = 512
    cpu_s: int = 1200
    file_mb: int = 64
    disk_mb: int = 256

    def as_args(self):
        return [
            f"--memory-mb={self.memory_mb}",
            f"--processes={self.processes}",
            f"--cpu-s={self.cpu_s}",
            f"--file-mb={self.file_mb}",
        ]


def add_limit_arguments(parser):
    """The command-line options of the modules that run inside the sandbox."""
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    parser.add_argument("--processes", type=int, default=Limits.processes)
    parser.add_argument("--cpu-s", type=int, default=Limits.cpu_s)
    parser.add_argument("--file-mb", type=int, default=Limits.file_mb)


def apply_limits(args):
    """Set the resource limits (called inside the sandbox, before submitted code runs)."""
    for limit, value in (
        (resource.RLIMIT_AS, args.memory_mb * 2**20),
        *([(resource.RLIMIT_NPROC, args.processes)] if args.processes else []),
        (resource.RLIMIT_CPU, args.cpu_s),
        (resource.RLIMIT_FSIZE, args.file_mb * 2**20),
        (resource.RLIMIT_CORE, 0),
    ):
        soft, hard = resource.getrlimit(limit)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


def make_undumpable():
    """Keep other processes of the same user out of this one's memory and ``/proc/<pid>/fd``."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:  # noqa: BLE001  (hardening only; not every libc allows it)
        pass


def _python_roots():
    """Folders the grader's Python needs: its installation and virtual environment."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.add(str(pathlib.Path(os.path.realpath(sys.executable)).parents[1]))
    return sorted({os.path.realpath(r) for r in roots} | roots)


def _package_dir():
    import klcourse

    return pathlib.Path(klcourse.__file__).resolve().parent


class Sandbox:
    """How submitted code is run: ``kind`` is ``"bwrap"`` or ``"none"`` (no isolation)."""

    def __init__(self, kind="bwrap", limits=Limits()):
        if kind not in ("bwrap", "none"):
            raise ValueError(f"`kind` must be 'bwrap' or 'none'; got {kind!r}")
        self.kind, self.limits = kind, limits
        self.bwrap = shutil.which("bwrap") if kind == "bwrap" else None
        self.as_root = os.geteuid() == 0
        self._etc = None
        self.threads = 0  # threads of each library's pool inside; 0: the library's default

    def close(self):
        """Remove the files this sandbox made on the host (its ``/etc``); safe to repeat."""
        if self._etc is not None:
            shutil.rmtree(self._etc, ignore_errors=True)
            self._etc = None

    # -------------------------------------------------------------- command line
    def _etc_files(self):
        if self._etc is None:
            self._etc = tempfile.mkdtemp(prefix="klcourse-sandbox-etc-")
            os.chmod(self._etc, 0o755)
            uid = NOBODY if self.as_root else os.getuid()
            gid = NOBODY if self.as_root else os.getgid()
            for name, text in (
                ("passwd", f"student:x:{uid}:{gid}:student:{HOME}:/bin/sh\n"),
                ("group", f"student:x:{gid}:\n"),
            ):
                path = pathlib.Path(self._etc) / name
                path.write_text(text)
                path.chmod(0o644)
        return self._etc

    def _bwrap_args(self):
        args = [self.bwrap, "--die-with-parent", "--new-session", "--clearenv"]
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--hostname", "sandbox"]
        if self.as_root:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user"]
        made = set()

        def parents(target):
            out = []
            for parent in reversed(pathlib.PurePosixPath(target).parents):
                if str(parent) != "/" and str(parent) not in made:
                    made.add(str(parent))
                    out += ["--perms", "0755", "--dir", str(parent)]
            return out

        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
            made.add(top)
        # The scratch file systems come before the binds: a course or environment that
        # lives under /tmp (or /home) is then mounted on top of them, not hidden by them.
        size = str(self.limits.disk_mb * 2**20)
        args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        args += ["--perms", "0755", "--dir", "/home"]
        args += ["--perms", "0777", "--size", size, "--tmpfs", HOME]
        made.update(("/tmp", "/home", HOME))
        binds = [r for r in _python_roots() if not r.startswith("/usr/")]
        package = str(_package_dir())
        if not any(package.startswith(root.rstrip("/") + "/") for root in binds):
            binds.append(package)
        for path in sorted(set(binds)):
            if os.path.isdir(path):
                args += parents(path) + ["--ro-bind", path, path]
        etc = self._etc_files()
        args += ["--perms", "0755", "--dir", "/etc"]
        for name in ("passwd", "group"):
            args += ["--ro-bind", f"{etc}/{name}", f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--chdir", HOME]
        return args

    def environment(self, token):
        """The environment submitted code sees (nothing of the grader's)."""
        environment = {
            "HOME": HOME,
            "USER": "student",
            "PATH": f"{pathlib.Path(sys.executable).parent}:/usr/bin:/bin",
            "PYTHONPATH": str(_package_dir().parent),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "KLCOURSE_DEVICE": "cpu",
            "CUDA_VISIBLE_DEVICES": "",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp/matplotlib",
            "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            TOKEN_VARIABLE: token,
        }
        if self.threads:  # several notebooks at once: each keeps to its share of the cores
            for name in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS",
            ):
                environment[name] = str(self.threads)
        if self.kind == "none":
            environment["HOME"] = environment["JUPYTER_RUNTIME_DIR"] = tempfile.gettempdir()
        return environment

    def command(self, script, args, token):
        """The command line that runs ``python <this folder>/script *args`` in the sandbox.

        The trusted modules that run inside (``runner.py``, ``callserver.py``) are run by
        path, so they start without importing ``klcourse`` (and TensorFlow).

        Returns:
          ``(argv, env, cwd)`` for ``subprocess.Popen``.
        """
        path = str(pathlib.Path(__file__).resolve().parent / script)
        limits = self.limits
        if self.kind == "none":  # RLIMIT_NPROC would count all of the instructor's processes
            limits = dataclasses.replace(limits, processes=0)
        python = [sys.executable, path, *args, *limits.as_args()]
        environment = self.environment(token)
        if self.kind == "none":
            workdir = tempfile.mkdtemp(prefix="klcourse-grading-")
            return python, {**environment, "HOME": workdir}, workdir
        argv = self._bwrap_args()
        for name, value in environment.items():
            argv += ["--setenv", name, value]
        if self.as_root:
            setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
            argv += ["--", setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}"]
            argv += ["--clear-groups", "--inh-caps=-all", *python]
        else:
            argv += ["--", *python]
        # bwrap itself gets no variable of the grader's: its own environment can be read
        # from inside the sandbox (/proc/1/environ) when it runs as the same user.
        return argv, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, None

    def check(self):
        """Raise `SandboxUnavailable` unless a trivial program runs in the sandbox."""
        if self.kind == "none":
            return
        if not self.bwrap:
            raise SandboxUnavailable(
                "bubblewrap (`bwrap`) is not installed: `sudo apt-get install bubblewrap`"
            )
        argv, _, _ = self.command("sandbox.py", [], "check")
        try:
            done = subprocess.run(argv, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise SandboxUnavailable("bubblewrap did not start within 120 s") from None
        if done.returncode != 0 or b"sandbox-ok" not in done.stdout:
            reason = done.stderr.decode(errors="replace").strip()[-400:]
            raise SandboxUnavailable(
                f"bubblewrap is installed but cannot start a sandbox here ({reason}); "
                "user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone "
                "or user.max_user_namespaces)"
            )


def find_sandbox(no_sandbox=False, limits=Limits()):
    """The sandbox grading uses: bubblewrap, or none if ``no_sandbox`` is asked for.

    Raises:
      SandboxUnavailable: if bubblewrap is not usable and ``no_sandbox`` is false.
    """
    sandbox = Sandbox("none" if no_sandbox else "bwrap", limits)
    try:
        sandbox.check()
    except BaseException:
        sandbox.close()  # the /etc folder its check made
        raise
    return sandbox


# ------------------------------------------------------------------ running
class Run:
    """One process (a sandbox) with bounded, non-blocking output reading.

    ``lines()`` yields complete stdout lines (bytes decoded as UTF-8 with replacement)
    until the process ends or ``deadline`` passes; `stop` kills everything it started.
    """

    MAX_LINE = 48 * 2**20
    MAX_STDERR = 64 * 1024

    def __init__(self, sandbox, script, args, *, stdin=None):
        self.sandbox = sandbox
        self.token = uuid.uuid4().hex
        argv, env, cwd = sandbox.command(script, args, self.token)
        self._cwd = cwd
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self._lines = queue.Queue()
        self.stderr = bytearray()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if stdin is not None:
            self.send(stdin)

    def send(self, data):
        """Write bytes to the process's standard input (ignored if it has gone)."""
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def close_stdin(self):
        try:
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def _read_stdout(self):
        pending = bytearray()
        stream = self.process.stdout
        while chunk := stream.read1(1 << 16):
            pending += chunk
            while (end := pending.find(b"\n")) >= 0:
                self._lines.put(bytes(pending[:end]).decode("utf-8", errors="replace"))
                del pending[: end + 1]
            if len(pending) > self.MAX_LINE:  # a line this long is noise: drop it
                pending.clear()
        self._lines.put(None)

    def _read_stderr(self):
        stream = self.process.stderr
        while chunk := stream.read1(1 << 16):
            self.stderr += chunk
            del self.stderr[: max(0, len(self.stderr) - self.MAX_STDERR)]

    def line(self, deadline):
        """The next stdout line, ``None`` at the end of output, ``TimeoutError`` at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            return self._lines.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError from None

    def stop(self):
        """Kill the process group (the sandbox and, with it, everything inside)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.sandbox.kind == "none":
            kill_by_token(self.token)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self._cwd:
            shutil.rmtree(self._cwd, ignore_errors=True)

    def stderr_tail(self, size=400):
        return bytes(self.stderr[-size:]).decode("utf-8", errors="replace")


def kill_by_token(token):
    """SIGKILL every process whose environment carries this run's token (no sandbox only)."""
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    for _ in range(3):  # processes may fork while we look
        found = False
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
            except (OSError, ValueError):
                continue
        if not found:
            return
        time.sleep(0.05)


if __name__ == "__main__":  # `Sandbox.check` runs this inside the sandbox
    import argparse

    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    apply_limits(parser.parse_args())
    print("sandbox-ok")
