"""`textsweep serve`: MLflow's scoring server for a sweep's champion (or any model URI).

    code = serve_model("sweeps/quickstart.yaml", port=5001)   # returns when stopped

It runs `mlflow models serve --env-manager local` from this Python environment, with this
environment's `bin/` first on PATH: MLflow's server starts `uvicorn` by name, so from a shell
without the virtual environment activated, `.venv/bin/mlflow models serve` fails with
`exec: uvicorn: not found`. The model is the folder `textsweep predict` reads (the version the
alias names now, downloaded once), so both answer the same. As for `textsweep ui`, the server
runs in a process group of its own under `ui.guard`, ended when this command stops or dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import TextIO

from textsweep.errors import EXIT_OK, UserError

HOST = "127.0.0.1"
START_TIMEOUT = 180.0


def serve_model(
    model: str,
    port: int = 5001,
    tracking_uri: str | None = None,
    host: str = HOST,
    out: TextIO | None = None,
) -> int:
    """Serve `model` (a sweep file or name: its champion; or a models:/ / runs:/ URI) on
    http://`host`:`port`/invocations until SIGINT/SIGTERM; 0 when stopped.

    Raises:
        UserError: no such model, the port is taken, or the server does not start.
    """

    from textsweep.export.locate import locate_model, model_files

    out = out or sys.stdout
    uri, ref = locate_model(model, tracking_uri)
    folder = model_files(model, tracking_uri)
    from textsweep.ui import check_port_free

    check_port_free(port, host, "textsweep serve")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PATH": os.pathsep.join(p for p in (bin_dir, os.environ.get("PATH", "")) if p),
    }
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        str(folder),
        "--env-manager",
        "local",
        "-h",
        host,
        "-p",
        str(port),
    ]
    guard_cmd = [sys.executable, "-m", "textsweep.ui", str(os.getpid()), "--", *cmd]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # the server's log (uvicorn's access lines) to stderr: stdout carries only what this prints
    proc = subprocess.Popen(
        guard_cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
        start_new_session=True,
    )
    try:
        url = f"http://{host}:{port}"
        _wait_until_answering(url, proc)
        print(
            f"serving {ref.described} ({folder}) on {url}/invocations (Ctrl-C to stop)\n"
            f"  try: curl -s {url}/invocations -H 'Content-Type: application/json' -d "
            """'{"dataframe_split": {"columns": ["text"], "data": [["a wonderful film"]]}}'""",
            file=out,
            flush=True,
        )
        code = proc.wait()
        raise UserError(
            f"the scoring server stopped by itself (exit {code})", source="textsweep serve"
        )
    except KeyboardInterrupt:
        print("scoring server stopped", file=out, flush=True)
        return EXIT_OK
    finally:
        from textsweep.ui import stop_group

        stop_group(proc)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _wait_until_answering(url: str, proc: subprocess.Popen[bytes]) -> None:
    from textsweep.ui import wait_for_http

    state = wait_for_http(f"{url}/ping", proc, START_TIMEOUT)
    if state == "exited":
        raise UserError(
            f"the scoring server did not start (exit {proc.returncode}); its messages are above",
            source="textsweep serve",
        )
    if state == "timeout":
        raise UserError(
            f"the scoring server did not answer at {url} within {START_TIMEOUT:.0f} s",
            source="textsweep serve",
        )
