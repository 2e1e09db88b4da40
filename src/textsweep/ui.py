"""`textsweep ui`: MLflow's server on 127.0.0.1 over a tracking store, and nothing left behind.

    code = serve("sqlite:///mlruns/mlflow.db", port=5000)   # returns when stopped

The server runs in a process group of its own, led by a small guard process (`guard`, this
module run as a script). Stopping `textsweep ui` (SIGINT, SIGTERM) ends the whole group; if
`textsweep ui` dies without a word (SIGKILL), the kernel tells the guard (`PR_SET_PDEATHSIG`),
and the guard ends the group. The URL is printed once the server answers HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from textsweep.credentials import mask
from textsweep.errors import EXIT_OK, UserError

HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # MLflow migrates an old store's schema on its first start
STOP_GRACE = 10.0
WORKERS = 2  # a UI for one person; MLflow's default of 4 uvicorn workers is more than needed


class _Stop(BaseException):
    """SIGINT/SIGTERM/SIGHUP, raised wherever the main thread is. A BaseException, as
    KeyboardInterrupt is: a stop that lands inside a call guarded by `except Exception` (the
    comparison links' store query, MLflow's imports) must still stop the UI."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def serve(uri: str, port: int = 5000, out: TextIO | None = None) -> int:
    """Serve MLflow's UI over `uri` on 127.0.0.1:`port` until SIGINT/SIGTERM; 0 when stopped.

    Raises `UserError` when the SQLite store does not exist or the port is taken, before
    anything is started.
    """
    from textsweep.tracking import sqlite_path

    out = out or sys.stdout
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise UserError(
            f"no tracking store at {db} (looked for {db.resolve()}: the default store is mlruns/ "
            "in the project root, the folder holding sweeps/ found from the working directory); "
            "run a sweep first (textsweep run sweeps/quickstart.yaml) or pass --tracking-uri",
            source="--tracking-uri",
        )
    check_port_free(port)
    log = Path(tempfile.mkstemp(prefix="textsweep-ui-", suffix=".log")[1])
    try:
        with _signals_stop() as signals:
            try:
                return _serve(uri, port, out, log, signals)
            except _Stop as stop:
                print(f"MLflow UI stopped ({stop})", file=out, flush=True)
                return EXIT_OK
    finally:
        log.unlink(missing_ok=True)


def _serve(uri: str, port: int, out: TextIO, log: Path, signals: _Signals) -> int:
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
    ]
    guard_cmd = [sys.executable, "-m", "textsweep.ui", str(os.getpid()), "--", *cmd]
    env = dict(os.environ)
    # MLflow 3's job runner (7 huey consumers) serves GenAI features, not comparing trials
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            guard_cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the terminal's Ctrl-C is ours to pass on
        )
    try:
        url = f"http://{HOST}:{port}"
        _wait_until_answering(url, proc, log)
        print(f"MLflow UI on {url} over {mask(uri)} (Ctrl-C to stop)", file=out, flush=True)
        with signals.deferred():  # MLflow's imports and a store query: not stopped midway
            for name, link in comparison_links(uri, url):
                print(f"  compare the trials of {name!r}: {link}", file=out, flush=True)
        code = proc.wait()
        raise UserError(
            f"the MLflow server stopped by itself (exit {code}):\n{_tail(log)}",
            source="textsweep ui",
        )
    finally:
        stop_group(proc)


def comparison_links(uri: str, url: str) -> list[tuple[str, str]]:
    """(experiment, link to its comparison view) for the store's textsweep experiments."""
    from textsweep.tracking import views
    from textsweep.tracking.reader import Reader

    try:
        experiments = Reader.connect(uri).experiments()
    except Exception:  # the links are a convenience; the server is up either way
        return []
    return [
        (e.name, views.compare_url(url, e.experiment_id))
        for e in experiments
        if views.VIEW_TAG in e.tags
    ]


def check_port_free(port: int, host: str = HOST, command: str = "textsweep ui") -> None:
    """`UserError` naming --port when `host:port` cannot be bound (for `ui` and `serve`)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as e:
            raise UserError(
                f"port {port} on {host} is already in use ({e.strerror}); pick another with "
                f"--port, e.g. `{command} --port {port + 1}`",
                source="--port",
            ) from None


def wait_for_http(url: str, proc: subprocess.Popen[bytes], seconds: float) -> str:
    """Poll `url` until it answers (any HTTP status): "answers"; "exited" when `proc` ends
    first, "timeout" after `seconds`. For `textsweep ui` and `textsweep serve`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return "answers"
        except urllib.error.HTTPError:
            return "answers"
        except OSError:
            pass
        if proc.poll() is not None:
            return "exited"
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(0.25)


def _wait_until_answering(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    state = wait_for_http(f"{url}/health", proc, START_TIMEOUT)
    if state == "exited":
        text = _tail(log)
        if "address already in use" in text.lower():
            port = url.rsplit(":", 1)[1]
            raise UserError(
                f"port {port} on {HOST} is already in use; pick another with --port",
                source="--port",
            )
        raise UserError(
            f"the MLflow server did not start (exit {proc.returncode}):\n{text}",
            source="textsweep ui",
        )
    if state == "timeout":
        raise UserError(
            f"the MLflow server did not answer at {url} within {START_TIMEOUT:.0f} s:\n"
            f"{_tail(log)}",
            source="textsweep ui",
        )


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the guard's whole process group, SIGKILL to what is left after a grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class _Signals:
    """SIGINT/SIGTERM/SIGHUP as `_Stop`: raised where the main thread is, or, inside
    `deferred()`, when the block ends. A stop raised midway through an import or a database call
    can leave a lock held or a module half made, and the interpreter's exit then hangs on it."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self.depth = 0

    def handle(self, signum: int, frame: types.FrameType | None) -> None:
        if self.depth:
            self.pending = self.pending or signum
            return
        raise _Stop(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending is not None:
            raise _Stop(self.pending)


@contextlib.contextmanager
def _signals_stop() -> Iterator[_Signals]:
    """SIGINT, SIGTERM and SIGHUP raise `_Stop`, caught where the server group is ended."""
    signals = _Signals()
    saved = {
        s: signal.signal(s, signals.handle) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield signals
    finally:
        for s, previous in saved.items():
            signal.signal(s, previous)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send `signum` to this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signum), 0, 0, 0)


def guard(parent: int, cmd: list[str]) -> int:
    """Run `cmd` in this process group; end the group when told to or when `parent` is gone.

    The parent-death signal covers SIGKILL of `textsweep ui`; polling the parent id covers
    the moment before it was set, and systems without it.
    """
    die_with_parent()
    stopping: list[int] = []

    def handler(signum: int, frame: types.FrameType | None) -> None:
        stopping.append(signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    code = None
    while code is None and not stopping and os.getppid() == parent:
        try:
            code = child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(0, signal.SIGTERM)  # MLflow's server, uvicorn and its workers
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=STOP_GRACE)
    time.sleep(0.5)  # uvicorn's workers end just after their supervisor
    with contextlib.suppress(ProcessLookupError):
        os.killpg(0, signal.SIGKILL)  # whatever is left, this guard included
    return code or 0


if __name__ == "__main__":
    _parent, _sep, *_cmd = sys.argv[1:]
    sys.exit(guard(int(_parent), _cmd))
