"""kill -9 at random moments, then `--resume`: does every sweep still end with exactly N trials?

    python benchmarks/kill_resume.py --kills 100            # writes benchmarks/KILL_RESUME.md
    python benchmarks/kill_resume.py --kills 3 --out -      # a quick look (the slow test's form)

Each sweep (random search, N = 6 tiny multi-hot trials, 1 epoch, on a small aclImdb-shaped
folder made here) is started, killed with SIGKILL at a uniformly random moment between 0.5 s
and `--window` s after its parent run exists (a share `--early` during start-up instead), so
kills land in training and in Keras Tuner's and MLflow's writes, resumed with `--resume`, killed again, ... `--per-sweep`
times, then resumed to the end. After each sweep: exactly one parent run, FINISHED; exactly N
FINISHED trial runs with distinct trial ids; no run left RUNNING. Every resume must be accepted.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TRIALS = 6


def write_data(root: Path) -> Path:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import write_aclimdb  # the tests' tiny aclImdb-shaped folder

    write_aclimdb(root, per_class=40)
    return root


def sweep_file(root: Path, name: str, data: Path) -> Path:
    sweep = {
        "name": name,
        "dataset": {"format": "imdb", "path": str(data), "num_words": 200, "seed": 1},
        "search_space": {
            "hyperparameters": {
                "model": {"type": "fixed", "value": "multihot_dense"},
                "dense_units": {"type": "choice", "values": [4, 8, 16]},
                "dense_layers": {"type": "int", "min": 1, "max": 2},
                "learning_rate": {"type": "choice", "values": [0.001, 0.003]},
            }
        },
        "tuner": {"algorithm": "random", "max_trials": TRIALS, "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def kill_moment(
    proc: subprocess.Popen[str], log: Path, rng: random.Random, window: float, early: float
) -> float | None:
    """Wait for a random moment to kill `proc`; None when it ended first.

    With probability `early` the moment falls in start-up (before the parent run exists);
    otherwise it is uniform in [0, window] s after the `tracking:` line, while trials run.
    """
    started = time.monotonic()
    if rng.random() < early:
        delay = rng.uniform(0.3, 4.0)
        try:
            proc.wait(timeout=delay)
            return None
        except subprocess.TimeoutExpired:
            return time.monotonic() - started
    while "tracking:" not in log.read_text(errors="replace"):
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    try:
        proc.wait(timeout=rng.uniform(0.0, window))
        return None
    except subprocess.TimeoutExpired:
        return time.monotonic() - started


def parents(uri: str, name: str) -> list[str]:
    """The statuses of the sweep's parent runs (none before its first start got that far)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name) if Path(uri[len("sqlite:///") :]).exists() else None
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], "tags.`textsweep.role` = 'sweep'")
    return [r.info.status for r in runs]


def check(uri: str, name: str) -> str | None:
    """None when the sweep ended as it must; else what is wrong."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return "no experiment"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("textsweep.role") == "sweep"]
    finished_parents = [p for p in parents if p.info.status == "FINISHED"]
    if len(finished_parents) != 1:
        return f"parents: {[p.info.status for p in parents]}"
    parent = finished_parents[0].info.run_id
    trials = [
        r
        for r in runs
        if r.data.tags.get("textsweep.role") == "trial"
        and r.data.tags.get("mlflow.parentRunId") == parent
    ]
    ids = [r.data.tags["textsweep.trial_id"] for r in trials if r.info.status == "FINISHED"]
    if len(ids) != TRIALS or len(set(ids)) != TRIALS:
        return f"finished trial ids {sorted(ids)}"
    running = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    return f"runs left RUNNING: {running}" if running else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="kills followed by --resume")
    parser.add_argument("--per-sweep", type=int, default=5, help="kills before the last resume")
    parser.add_argument(
        "--window", type=float, default=10.0, help="latest kill, s after the parent run exists"
    )
    parser.add_argument("--early", type=float, default=0.1, help="share of kills in start-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "KILL_RESUME.md"), help="'-' for stdout only")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="textsweep-kill-"))
    data = write_data(root / "data")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "TEXTSWEEP_HOME": str(root / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TEXTSWEEP_DATA_DIR", None)
    kills = resumed = early = sweeps = refused = 0
    bad: list[str] = []
    moments: list[float] = []
    started_all = time.monotonic()
    while resumed < args.kills:
        name = f"kill{sweeps:03d}"
        path = sweep_file(root, name, data)
        base = [sys.executable, "-m", "textsweep", "run", str(path), "--tracking-uri", uri]
        killed_here = 0
        while True:
            state = parents(uri, name)
            if "FINISHED" in state:
                break
            resuming = bool(state)  # a parent exists: the kill left an execution to resume
            if killed_here:
                resumed += resuming
                early += not resuming
            command = base + (["--resume"] if resuming else [])
            log = root / f"{name}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen(command, cwd=root, env=env, stdout=out,
                                        stderr=subprocess.PIPE, text=True)  # fmt: skip
            last = killed_here >= args.per_sweep or resumed >= args.kills
            moment = kill_moment(proc, log, rng, args.window, args.early) if not last else None
            if moment is not None:
                proc.kill()
            _, err = proc.communicate()
            if proc.returncode == -9:
                kills += 1
                killed_here += 1
                moments.append(moment or 0.0)
            elif proc.returncode != 0:
                refused += 1
                bad.append(f"{name}: {' '.join(command[4:])} exited {proc.returncode}: "
                           f"{err.strip()[-300:]}")  # fmt: skip
                break
        problem = check(uri, name)
        if problem:
            bad.append(f"{name}: {problem}")
        sweeps += 1
        print(f"{name}: {kills} kills, {resumed} followed by --resume, {len(bad)} problems",
              flush=True)  # fmt: skip
    seconds = time.monotonic() - started_all
    ok = sweeps - len({b.split(":")[0] for b in bad})
    lines = [
        "# kill -9 and --resume",
        "",
        f"`python benchmarks/kill_resume.py --kills {args.kills} --per-sweep {args.per_sweep} "
        f"--window {args.window} --early {args.early} --seed {args.seed}` ({time.strftime('%Y-%m-%d')}, "
        f"{seconds / 60:.1f} min):",
        "",
        f"- **{kills} kill -9s** over {sweeps} sweeps of {TRIALS} trials: {args.early:.0%} "
        "at a random moment of start-up, the others uniform in "
        f"[0, {args.window}] s after the parent run was created (in training, and in Keras "
        "Tuner's and MLflow's writes)",
        f"- **{resumed}** of them left an execution, and were followed by `--resume`; "
        f"{early} came before the parent run existed (nothing to resume: the sweep was "
        "started again)",
        f"- resumes refused or crashed: **{refused}**",
        f"- sweeps that ended with exactly {TRIALS} FINISHED trials, distinct ids, one FINISHED "
        f"parent and nothing RUNNING: **{ok} of {sweeps}**",
        "",
    ] + (["Problems:", ""] + [f"- {b}" for b in bad] if bad else [])
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text, encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
