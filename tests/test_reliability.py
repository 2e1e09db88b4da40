"""Reliability with real processes: state rebuilt from MLflow, one execution of a sweep at a
time, and a worker killed in the middle of a trial."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_resilience import SPACE, Sweeps, finished_ids, role, trials_of

pytestmark = pytest.mark.slow


@pytest.fixture
def sweeps(tmp_path: Path, tiny_imdb: Path) -> Sweeps:
    root = tmp_path / "work"
    root.mkdir()
    return Sweeps(root, tiny_imdb)


def test_unreadable_tuner_state_is_rebuilt_from_mlflow(sweeps: Sweeps) -> None:
    sweep = sweeps.write("rebuild")
    with sweeps.start(sweep) as running:
        running.wait_for("trial 4/6")
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()
    (project,) = [p for p in (sweeps.home / "tuner" / "rebuild").iterdir() if p.is_dir()]
    (project / "oracle.json").write_text("", encoding="utf-8")  # what an in-place write left
    next(project.glob("trial_*/trial.json")).write_text('{"trial_id": ', encoding="utf-8")

    resumed = sweeps.run(sweep, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "rebuilding it from the trials MLflow holds" in resumed.stdout
    runs = sweeps.runs("rebuild")
    parent = next(r.info.run_id for r in runs if role(r) == "sweep")
    assert finished_ids(runs, parent) == ["0", "1", "2", "3", "4", "5"]
    assert all(r.info.status in ("FINISHED", "KILLED") for r in trials_of(runs, parent))


def test_the_same_sweep_started_twice_at_once_runs_once(sweeps: Sweeps) -> None:
    sweep = sweeps.write("twice", max_trials=2)
    with sweeps.start(sweep) as one, sweeps.start(sweep) as two:
        codes = sorted([one.process.wait(timeout=300), two.process.wait(timeout=300)])
        outputs = one.output() + two.output()
    assert codes == [0, 2], outputs
    assert "sweep 'twice' is being run now" in outputs
    parents = [r for r in sweeps.runs("twice") if role(r) == "sweep"]
    assert [p.info.status for p in parents] == ["FINISHED"]


def _child_with_tuner_id(launcher: int, tuner_id: str) -> int | None:
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    for pid in children:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"KERASTUNER_TUNER_ID={tuner_id}".encode() in environ:
            return int(pid)
    return None


def test_a_worker_killed_mid_trial_is_restarted_and_the_count_holds(sweeps: Sweeps) -> None:
    sweep = sweeps.write("workers", SPACE, max_trials=4)
    command = [*sweeps.command(sweep, "--workers", "2", "--epochs", "4")]
    log = sweeps.root / "workers.log"
    with open(log, "w") as out:
        launcher = subprocess.Popen(command, cwd=sweeps.root, env=sweeps.env, stdout=out,
                                    stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while "[tuner0]   epoch 1/4" not in log.read_text(errors="replace"):
            assert launcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        victim = _child_with_tuner_id(launcher.pid, "tuner0")
        assert victim is not None
        subprocess.run(["kill", "-9", str(victim)], check=True)
        assert launcher.wait(timeout=300) == 0, log.read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
    output = log.read_text(errors="replace")
    assert "[tuner0] died (SIGKILL); starting it again" in output
    runs = sweeps.runs("workers")
    parent = next(r.info.run_id for r in runs if role(r) == "sweep")
    ids = finished_ids(runs, parent)
    assert len(ids) == 4 and len(set(ids)) == 4, ids
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_kill_resume_script_short_form(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "kill_resume.py"
    import os
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script), "--kills", "2", "--per-sweep", "2", "--out", "-"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumes refused or crashed: **0**" in done.stdout


def test_consecutive_failures_hold_across_workers(sweeps: Sweeps) -> None:
    # plain SGD with a step of 1e30: every trial's loss is NaN at once, in every worker
    space = {"hyperparameters": {**SPACE["hyperparameters"],
                                 "optimizer": {"type": "fixed", "value": "sgd"},
                                 "learning_rate": {"type": "choice", "values": [1.0e30, 2.0e30]}}}  # fmt: skip
    sweep = sweeps.write("failing", space, max_trials=8, max_consecutive_failures=2)
    result = sweeps.run(sweep, "--workers", "2", timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the sweep stopped after 2 failed trials in a row" in result.stderr
    runs = sweeps.runs("failing")
    parent = next(r for r in runs if role(r) == "sweep")
    assert (parent.info.status, parent.data.tags["textsweep.state"]) == ("FAILED", "failed")
    trials = trials_of(runs, parent.info.run_id)
    assert 2 <= len(trials) < 8 and {t.info.status for t in trials} == {"FAILED"}
