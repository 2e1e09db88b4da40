"""Keras Tuner's chief/worker mode: a sweep's trials spread over processes and machines.

Keras Tuner reads its role from the environment: `KERASTUNER_TUNER_ID` ("chief", or "tuner0",
"tuner1", ... for workers), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`. The chief runs
the oracle as a gRPC server and no trials; every worker asks it for trials and logs each one as a
trial run under the same MLflow parent run.

    role()                    # None, "chief" or "worker", from the environment
    run_children(cmd, workers=2, port=port, parent_id=parent_id, out=sys.stdout)   # one machine

By hand on several machines, the chief creates the parent run and tags it with the oracle's
address (`textsweep.oracle`); a worker finds the newest RUNNING parent of its sweep with the same
address, or uses `$TEXTSWEEP_PARENT_RUN_ID` (which a local launcher sets for its children). The
life of the execution around these processes is `sweep.execution`'s, the same as in one process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from textsweep.config import Sweep
from textsweep.errors import UserError
from textsweep.tracking import (
    TAG_ORACLE,
    TAG_ROLE,
    TAG_SWEEP,
    Role,
    RunStatus,
    Tracker,
)

TUNER_ID_ENV = "KERASTUNER_TUNER_ID"
ORACLE_IP_ENV = "KERASTUNER_ORACLE_IP"
ORACLE_PORT_ENV = "KERASTUNER_ORACLE_PORT"
PARENT_ENV = "TEXTSWEEP_PARENT_RUN_ID"
FIND_PARENT_SECONDS = 120.0
RESTARTS = 2  # times a worker killed by a signal is started again
RESTARTS_ENV = "TEXTSWEEP_WORKER_RESTARTS"  # restarts instead; 0: a dead worker stays dead


def role() -> str | None:
    """This process's part in a distributed sweep: None (alone), "chief" or "worker"."""
    if not os.environ.get(ORACLE_IP_ENV):
        return None
    tuner_id = os.environ.get(TUNER_ID_ENV, "")
    port = os.environ.get(ORACLE_PORT_ENV, "")
    if not tuner_id or not port:
        missing = TUNER_ID_ENV if not tuner_id else ORACLE_PORT_ENV
        raise UserError(
            f"{ORACLE_IP_ENV} is set but {missing} is not; set {TUNER_ID_ENV} (chief, tuner0, "
            f"tuner1, ...), {ORACLE_IP_ENV} and {ORACLE_PORT_ENV} together, or none of them",
            source=f"${missing}",
        )
    return "chief" if "chief" in tuner_id else "worker"


def tuner_id() -> str:
    return os.environ.get(TUNER_ID_ENV, "tuner0")


def oracle_address() -> str:
    return f"{os.environ.get(ORACLE_IP_ENV, '')}:{os.environ.get(ORACLE_PORT_ENV, '')}"


def given_parent() -> str | None:
    """The parent run a launcher created for this process, if any."""
    return os.environ.get(PARENT_ENV) or None


def find_parent(
    tracker: Tracker, sweep: Sweep, address: str, wait: float = FIND_PARENT_SECONDS
) -> str:
    """The newest RUNNING parent run of `sweep` whose chief serves the oracle at `address`.

    A worker may start before its chief has created the run; it looks again until `wait`
    seconds have passed.
    """
    query = (
        f"tags.`{TAG_SWEEP}` = '{sweep.name}' and tags.`{TAG_ROLE}` = '{Role.SWEEP}' "
        f"and tags.`{TAG_ORACLE}` = '{address}' and attributes.status = '{RunStatus.RUNNING}'"
    )
    deadline = time.monotonic() + wait
    while True:
        runs = tracker.search(query, order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            return str(runs[0].info.run_id)
        if time.monotonic() >= deadline:
            raise UserError(
                f"no RUNNING parent run of sweep {sweep.name!r} with {TAG_ORACLE}={address} in "
                f"{tracker.uri} after {wait:.0f}s; start the chief first (KERASTUNER_TUNER_ID="
                f"chief, same oracle address and --tracking-uri), or set {PARENT_ENV}",
                source=f"${ORACLE_IP_ENV}",
            )
        time.sleep(2.0)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def child_command(sweep_arg: str, overrides: Sequence[str], uri: str) -> list[str]:
    """`textsweep run` for a chief or worker: the same sweep and settings as the launcher's."""
    cmd = [sys.executable, "-m", "textsweep", "run", sweep_arg]
    for override in overrides:
        cmd += ["--set", override]
    return cmd + ["--tracking-uri", uri]


def worker_restarts() -> int:
    text = os.environ.get(RESTARTS_ENV, "").strip()
    if not text:
        return RESTARTS
    if not text.isdigit():
        raise UserError(
            f"{RESTARTS_ENV} must be a whole number of restarts (0 or more), not {text!r}",
            source=f"${RESTARTS_ENV}",
        )
    return int(text)


def run_children(
    cmd: list[str],
    workers: int,
    port: int,
    parent_id: str,
    out: TextIO,
    on_death: Callable[[str], None] | None = None,
    restarts: int | None = None,
) -> list[str]:
    """Start the chief and the workers, relay their output, wait for the workers; what failed.

    A worker killed by a signal (`kill -9`, the OOM killer) is started again under the same
    tuner id, up to `restarts` times: Keras Tuner's oracle hands a tuner id its unfinished trial
    back, so the trial runs again and the sweep still ends with the trials asked for. Before the
    restart, `on_death(tuner_id)` closes what the dead worker left open. `restarts` defaults to
    `$TEXTSWEEP_WORKER_RESTARTS` or `RESTARTS`. A worker that stays dead is no failure when
    another worker ends normally: the chief's lease handed its trial over (`sweep.lease`), and a
    worker ends normally only when no trial is left to run or to wait for.
    """
    if restarts is None:
        restarts = worker_restarts()
    base = {
        **os.environ,
        ORACLE_IP_ENV: "127.0.0.1",
        ORACLE_PORT_ENV: str(port),
        PARENT_ENV: parent_id,
        "TEXTSWEEP_PROCESSES": str(workers),
        "PYTHONUNBUFFERED": "1",
    }
    names = ["chief"] + [f"tuner{i}" for i in range(workers)]
    procs: dict[str, subprocess.Popen[str]] = {}
    started: list[subprocess.Popen[str]] = []
    relays: list[threading.Thread] = []
    lock, stopping = threading.Lock(), threading.Event()

    def start(name: str) -> None:
        proc = subprocess.Popen(
            cmd,
            env={**base, TUNER_ID_ENV: name},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops them in order
        )
        procs[name] = proc
        started.append(proc)
        relay = threading.Thread(target=_relay, args=(proc, name, out, lock, stopping), daemon=True)
        relay.start()
        relays.append(relay)

    left = dict.fromkeys(names[1:], restarts)
    try:
        for name in names:
            start(name)
        chief = procs["chief"]
        while any(procs[n].poll() is None for n in names[1:]):
            if chief.poll() is not None and chief.returncode != 0:
                break  # the oracle is gone: the workers would wait for it for an hour
            for name in names[1:]:
                code = procs[name].poll()
                if code is not None and code < 0 and left[name] > 0 and chief.poll() is None:
                    left[name] -= 1
                    with lock:
                        out.write(
                            f"[{name}] died ({signal.Signals(-code).name}); starting it "
                            "again to finish its trial\n"
                        )
                        out.flush()
                    if on_death is not None:
                        on_death(name)
                    start(name)
            time.sleep(0.5)
        codes = {n: procs[n].returncode for n in names[1:]}
        ended = 0 in codes.values()  # signal deaths were covered by the lease (see above)
        failed = [
            f"worker {n} exited with code {code}"
            for n, code in codes.items()
            if code not in (None, 0) and not (ended and code < 0)
        ]
        for n, code in codes.items():
            if ended and code is not None and code < 0:
                with lock:
                    out.write(
                        f"[{n}] died ({signal.Signals(-code).name}) and was not started "
                        "again; the chief's lease handed its trial to another worker\n"
                    )
                    out.flush()
        if chief.poll() is not None and chief.returncode != 0:
            failed.insert(0, f"the chief exited with code {chief.returncode}")
        if not failed and chief.poll() is None:
            # every trial has ended; the chief would notice only at its next 20 s poll, and
            # holds nothing that is kept
            chief.kill()
            chief.wait()
        return failed
    finally:
        for proc, relay in zip(started, relays, strict=True):
            if proc.poll() is not None:
                relay.join(timeout=5)  # the last words of a child that ended
        stopping.set()  # what the children say while they stop is the launcher's to say
        _stop(started)
        for relay in relays:
            relay.join(timeout=5)


def _relay(
    proc: subprocess.Popen[str],
    name: str,
    out: TextIO,
    lock: threading.Lock,
    stopping: threading.Event,
) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if stopping.is_set():
            continue
        with lock:
            out.write(f"[{name}] {line.rstrip()}\n")
            out.flush()


def _stop(procs: list[subprocess.Popen[str]], grace: float = 30.0) -> None:
    """SIGTERM, so each marks its runs KILLED; SIGKILL what is still there after `grace` s."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
