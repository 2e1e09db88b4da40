"""textsweep next to plain Keras on the IMDB reviews: overhead, cache, memory, CLI start-up.

    TEXTSWEEP_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench.py            # full, ~25 min
    .venv/bin/python benchmarks/bench.py --quick --out benchmarks/RESULTS-quick.md  # maxlen 500
    .venv/bin/python benchmarks/bench.py --limit 2000  # a stratified subsample of each split
    .venv/bin/python benchmarks/bench.py --smoke --data-dir DIR --out OUT.md   # CI, tiny data
    .venv/bin/python benchmarks/bench.py --render benchmarks/RESULTS.json      # re-render only

Every measured trial runs in a fresh interpreter (`arms.py`), so each process's peak RSS is that
trial's alone. Plain Keras and textsweep alternate, trial by trial, in one run: the machine is shared
and noisy, so ratios of neighbours say more than seconds, and textsweep's own cost is also timed
inside its process (see `trial_overhead`). Writes Markdown (`--out`, default
benchmarks/RESULTS.md) and the raw figures beside it as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ARMS = HERE / "arms.py"
RESULT_PREFIX = "BENCH-RESULT "

OVERHEAD_TARGET = 0.05
LONG_TRIAL_SECONDS = 30.0
RSS_TARGET_MB = 2.5 * 1024
CLI_TARGET_SECONDS = 1.0
NOTES_MARKER = "<!-- notes: written by hand, kept when the figures above are regenerated -->"


@dataclass(frozen=True)
class Trial:
    """One fixed configuration of a family: the tutorial model, at the longest `maxlen` (500)."""

    family: str
    values: dict[str, Any]
    batch_size: int
    epochs: int


def trials(mode: str) -> list[Trial]:
    """The tutorial model of each family, with `num_words` 10000.

    quick: one epoch each at `maxlen` 500, the memory ceiling the targets name. full: epochs chosen
    so that a plain-Keras trial lasts 30 s or more on a loaded 2-core machine, for the overhead
    ratio; the LSTM at the tutorial's `maxlen` 80 there (at 500 one epoch takes minutes on 2 cores).
    """
    if mode == "smoke":
        small = {"maxlen": 20, "embedding_dim": 8}
        return [
            Trial("multihot_dense", {"model": "multihot_dense", "dense_units": 8}, 16, 1),
            Trial("embedding_flatten", {"model": "embedding_flatten", **small}, 16, 1),
            Trial("embedding_pool", {"model": "embedding_pool", **small}, 16, 1),
            Trial("embedding_lstm", {"model": "embedding_lstm", **small, "lstm_units": 8}, 16, 1),
        ]
    quick = mode == "quick"
    multihot = {"model": "multihot_dense", "dense_units": 16, "dense_layers": 2,
                "optimizer": "rmsprop"}  # fmt: skip
    flatten = {"model": "embedding_flatten", "maxlen": 500, "embedding_dim": 32,
               "dense_layers": 0, "optimizer": "rmsprop"}  # fmt: skip
    pool = {"model": "embedding_pool", "maxlen": 500, "embedding_dim": 32, "dense_layers": 1,
            "dense_units": 16}  # fmt: skip
    lstm = {"model": "embedding_lstm", "maxlen": 500 if quick else 80, "embedding_dim": 128,
            "lstm_units": 128, "dropout": 0.2}  # fmt: skip
    return [
        Trial("multihot_dense", multihot, 512, 1 if quick else 5),
        Trial("embedding_flatten", flatten, 32, 1 if quick else 3),
        Trial("embedding_pool", pool, 32, 1 if quick else 3),
        Trial("embedding_lstm", lstm, 64 if quick else 32, 1),
    ]


def data_path(arg: str | None) -> str:
    """An absolute folder holding aclImdb/ (or its archive): --data-dir, $TEXTSWEEP_DATA_DIR, ../shared/data."""
    for candidate in (
        arg,
        os.environ.get("TEXTSWEEP_DATA_DIR"),
        str(REPO.parent / "shared" / "data"),
    ):
        if candidate and Path(candidate).exists():
            return str(Path(candidate).resolve())
    raise SystemExit("bench.py: no IMDB data; pass --data-dir or set TEXTSWEEP_DATA_DIR")


def dataset(args: argparse.Namespace) -> dict[str, Any]:
    return {"format": "imdb", "path": data_path(args.data_dir), "num_words": args.num_words,
            "validation_split": 0.2, "limit": args.limit, "seed": 1}  # fmt: skip


def write_sweep(work: Path, trial: Trial, data: dict[str, Any], tag: str) -> Path:
    """A one-trial grid sweep: the trial's values, all fixed."""
    import yaml

    space = {name: {"type": "fixed", "value": value} for name, value in trial.values.items()}
    sweep = {
        "name": f"bench-{trial.family}",
        "dataset": data,
        "search_space": {"hyperparameters": space},
        "tuner": {"algorithm": "grid", "max_trials": 1, "seed": 1},
        "training": {"epochs": trial.epochs, "batch_size": trial.batch_size},
        "objective": "val_accuracy",
        "tracking": {"uri": f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"},
    }
    path = work / "sweeps" / f"{trial.family}-{tag}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path


def run_arm(arm: str, trial: Trial, data: dict[str, Any], work: Path, tag: str) -> dict[str, Any]:
    """One measured process; its figures, or SystemExit with its output when it fails."""
    spec = {"arm": arm, "family": trial.family, "values": trial.values,
            "batch_size": trial.batch_size, "epochs": trial.epochs, "dataset": data,
            "home": str(work / "home")}  # fmt: skip
    if arm == "sweep":
        spec["sweep_file"] = str(write_sweep(work, trial, data, tag))
    env = {**os.environ, "TEXTSWEEP_HOME": str(work / "home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ARMS), json.dumps(spec)],
        env=env, cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise SystemExit(
            f"bench.py: the {arm} arm of {trial.family} failed (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    figures: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    figures["wall_seconds"] = time.perf_counter() - started
    figures["tag"] = tag
    print(f"  {tag:>8} {arm:<5} {trial.family:<18} trial {figures['trial_seconds']:7.1f}s  "
          f"process {figures['wall_seconds']:6.1f}s  peak RSS {figures['peak_rss_mb']:7.0f} MB",
          flush=True)  # fmt: skip
    return figures


def cli_startup(repeats: int) -> dict[str, Any]:
    """Median wall time of `textsweep --help` and `textsweep validate`, and the heavy modules imported."""
    exe = Path(sys.executable).parent / "textsweep"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "textsweep"]
    quickstart = str(REPO / "sweeps" / "quickstart.yaml")
    out: dict[str, Any] = {}
    for name, args in (("help", ["--help"]), ("validate", ["validate", quickstart])):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(base + args, capture_output=True, check=True, cwd=REPO)
            times.append(time.perf_counter() - started)
        probe = (
            "import sys\nfrom textsweep.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('tensorflow', 'keras', 'keras_tuner', 'mlflow') if m in sys.modules])"
        )
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                              cwd=REPO, check=False)  # fmt: skip
        heavy = [ln for ln in done.stdout.splitlines() if ln.startswith("HEAVY")]
        out[name] = {"median_seconds": statistics.median(times), "runs": times,
                     "heavy_modules": heavy[-1][6:] if heavy else "?"}  # fmt: skip
    return out


def cold_and_warm(work: Path, data: dict[str, Any], first: Trial) -> list[dict[str, Any]]:
    """A first sweep on an empty cache and store, then a second over the same data and num_words."""
    one_epoch = Trial(first.family, first.values, first.batch_size, 1)
    return [run_arm("sweep", one_epoch, data, work, tag) for tag in ("first", "second")]


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                      if ln.startswith("MemTotal"))  # fmt: skip
    except (OSError, StopIteration):
        mem_kb = 0
    versions = {}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "keras-tuner", "mlflow", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {"nproc": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "memory_gb": round(mem_kb / 1024**2, 1), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions,
            "load_average_at_start": os.getloadavg()}  # fmt: skip


def summarize(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per family: median per-trial ratio (sweep / plain) over its repeats, and the breakdown."""
    rows = []
    for family in dict.fromkeys(p["family"] for p, _ in pairs):
        mine = [(p, s) for p, s in pairs if p["family"] == family]
        ratios = [s["trial_seconds"] / p["trial_seconds"] for p, s in mine]
        process_ratios = [s["process_seconds"] / p["process_seconds"] for p, s in mine]
        overheads = [trial_overhead(s) / p["trial_seconds"] for p, s in mine]
        plain = statistics.median(p["trial_seconds"] for p, _ in mine)
        sweep = statistics.median(s["trial_seconds"] for _, s in mine)
        last = mine[-1][1]
        rows.append({
            "family": family, "ratios": ratios, "ratio": statistics.median(ratios),
            "overheads": overheads, "overhead": statistics.median(overheads),
            "process_ratio": statistics.median(process_ratios),
            "plain_seconds": plain, "sweep_seconds": sweep,
            "outside_training": outside_training(last),
            "plain_rss_mb": max(p["peak_rss_mb"] for p, _ in mine),
            "sweep_rss_mb": max(s["peak_rss_mb"] for _, s in mine),
            "plain_accuracy": mine[-1][0]["test_accuracy"], "sweep_accuracy": last["test_accuracy"],
            "threads": last["threads"],
        })  # fmt: skip
    return rows


def trial_overhead(sweep: dict[str, Any]) -> float:
    """Seconds of a textsweep trial spent outside arrays, build, fit and evaluate (same process).

    Measured inside one process, so unlike the cross-process ratio it does not move with the
    machine's load on the training itself; per-epoch MLflow logging and Keras Tuner's checkpoints
    are wrapped separately, so they count here although they run inside `fit`.
    """
    ex = sweep["exclusive"]
    return sweep["trial_seconds"] - sum(
        ex.get(k, 0.0) for k in ("arrays", "build", "fit", "evaluate")
    )


def outside_training(sweep: dict[str, Any]) -> dict[str, float]:
    """A sweep process's wall time, split: what is not `build`/`fit`/`evaluate` is textsweep's cost."""
    ex = sweep["exclusive"]
    parts = {
        "start-up (imports)": sweep["events"]["start_work"],
        "data (cache read; tokenizing on a cold cache)": ex.get("data", 0.0)
        + ex.get("tokenize", 0.0),
        "TensorFlow threads set-up": ex.get("tf_setup", 0.0),
        "MLflow runs, params, metrics": ex.get("tracking", 0.0),
        "MLflow artifacts (history.csv, curves.png, summary)": ex.get("artifacts", 0.0),
        "Keras Tuner bookkeeping": ex.get("tuner", 0.0),
        "Keras Tuner checkpoints": ex.get("checkpoints", 0.0),
        "textsweep glue (progress, parent run set-up)": ex.get("textsweep", 0.0),
        "arrays (padding, bags; both arms)": ex.get("arrays", 0.0),
        "build + fit + evaluate": ex.get("build", 0.0)
        + ex.get("fit", 0.0)
        + ex.get("evaluate", 0.0),
    }
    return {k: round(v, 3) for k, v in parts.items()}


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    rows = report["families"]
    first, second = report["cold_warm"]
    cli = report["cli"]
    long_rows = [r for r in rows if r["plain_seconds"] >= LONG_TRIAL_SECONDS]
    overhead_ok = all(r["overhead"] <= OVERHEAD_TARGET for r in long_rows) if long_rows else None
    rss_ok = all(r["sweep_rss_mb"] <= RSS_TARGET_MB for r in rows)
    cache_ok = second["from_cache"] and second["calls"].get("tokenize", 0) == 0
    cli_ok = all(c["median_seconds"] < CLI_TARGET_SECONDS and c["heavy_modules"] == "[]"
                 for c in cli.values())  # fmt: skip
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
    maxlens = {t["family"]: t["values"].get("maxlen") for t in report["trials"]}
    lines = [
        "# textsweep benchmark results",
        "",
        f"Command: `{report['command']}`  ",
        f"Mode: {report['mode']}; {report['repeats']} repeat(s) per family; data: {report['data']}  ",
        f"Run: {report['started']}, {report['minutes']:.0f} min.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpus_usable']} usable), {m['memory_gb']} GB memory, {m['cpu']}; "
        f"Python {m['python']}, {m['platform']}; {v}. Load average at start: "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])} (the machine is shared).",
        "",
        "## Targets",
        "",
        "| target | figure | status |",
        "|---|---|---|",
        "| per-trial overhead <= 5% of plain Keras, trials >= 30 s | "
        + (
            ", ".join(
                f"{r['family']} {100 * r['overhead']:.1f}% (each repeat "
                + ", ".join(f"{100 * x:.1f}%" for x in r["overheads"])
                + f"; wall ratio {r['ratio']:.2f})"
                for r in long_rows
            )
            or "no trial >= 30 s"
        )
        + f" | {status(overhead_ok)} |",
        f"| second sweep, same data + num_words: cache hit, no tokenization | "
        f"cache hit: {second['from_cache']}, tokenize calls: {second['calls'].get('tokenize', 0)}; "
        f"start-to-first-epoch {second['events'].get('first_epoch', float('nan')):.1f} s "
        f"(first sweep: {first['events'].get('first_epoch', float('nan')):.1f} s) | {status(cache_ok)} |",
        "| peak RSS <= 2.5 GB per family, full data, num_words 10000, maxlen <= 500 | "
        + ", ".join(
            f"{r['family']} {r['sweep_rss_mb'] / 1024:.2f} GB"
            + (f" (maxlen {maxlens[r['family']]})" if maxlens[r["family"]] else "")
            for r in rows
        )
        + f" | {status(rss_ok if report['full_data'] else None)} |",
        f"| `textsweep --help`, `textsweep validate` < 1 s, no TensorFlow | "
        f"{cli['help']['median_seconds']:.2f} s, {cli['validate']['median_seconds']:.2f} s; heavy "
        f"modules imported: {cli['help']['heavy_modules']}, {cli['validate']['heavy_modules']} | {status(cli_ok)} |",
        "",
        "## Per trial: textsweep (Keras Tuner + MLflow) against plain Keras",
        "",
        "Trial time: plain = arrays for the trial's maxlen (padding, or bags of ids) + build + fit + "
        "evaluate; textsweep = Keras Tuner's `search` for the one trial (the same, plus MLflow runs "
        "and artifacts, tuner bookkeeping and checkpoints). "
        "Wall ratio: median over repeats of textsweep / plain, each pair run back to back in fresh "
        "processes; on a shared machine it moves with the load on `fit` itself. Overhead: the "
        "textsweep trial's seconds outside arrays, build, fit and evaluate, measured in its own "
        "process, as a share of the plain trial; the overhead target is judged on it.",
        "",
        "| family | config | plain s | textsweep s | overhead s (share) | wall ratio (each repeat) | "
        "whole-process ratio | peak RSS plain | peak RSS textsweep | test acc plain / textsweep |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    configs = {t["family"]: t for t in report["trials"]}
    for r in rows:
        t = configs[r["family"]]
        cfg = ", ".join(f"{k}={val}" for k, val in t["values"].items() if k != "model")
        cfg += f", batch {t['batch_size']}, {t['epochs']} epoch(s)"
        lines.append(
            f"| {r['family']} | {cfg} | {r['plain_seconds']:.1f} | {r['sweep_seconds']:.1f} | "
            f"{r['overhead'] * r['plain_seconds']:.1f} ({100 * r['overhead']:.1f}%) | "
            f"{r['ratio']:.3f} ({', '.join(f'{x:.3f}' for x in r['ratios'])}) | {r['process_ratio']:.3f} | "
            f"{r['plain_rss_mb']:.0f} MB | {r['sweep_rss_mb']:.0f} MB | "
            f"{r['plain_accuracy']:.3f} / {r['sweep_accuracy']:.3f} |"
        )
    lines += [
        "",
        "## Where a textsweep process spends its time outside training (seconds, last repeat)",
        "",
        "| family | " + " | ".join(rows[0]["outside_training"]) + " |",
        "|---|" + "---|" * len(rows[0]["outside_training"]),
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | "
            + " | ".join(f"{x:.2f}" for x in r["outside_training"].values())
            + " |"
        )
    lines += [
        "",
        "## First and second sweep over the same data and num_words",
        "",
        "| sweep | cache | tokenize calls | data s | start-to-first-epoch s (process start) | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in (("first (empty cache, new MLflow store)", first), ("second", second)):
        lines.append(
            f"| {name} | {'hit' if s['from_cache'] else 'miss'} | {s['calls'].get('tokenize', 0)} | "
            f"{s['exclusive'].get('data', 0) + s['exclusive'].get('tokenize', 0):.1f} | "
            f"{s['events'].get('first_epoch', float('nan')):.1f} | {s['peak_rss_mb']:.0f} MB |"
        )
    lines += [
        "",
        "## Threads and GPU",
        "",
        f"TensorFlow ran with (intra-op, inter-op) = {tuple(rows[0]['threads'])} threads in both arms: "
        "textsweep's default, this process's share of the usable cores (`cores // "
        "$TEXTSWEEP_PROCESSES`) and at most 2 inter-op threads. Set `TEXTSWEEP_PROCESSES=N` when N "
        "sweeps or workers share the machine; `training.intra_op_threads` / `inter_op_threads` "
        "override it.",
        "",
        "GPU: none was available to this run, so no GPU trial was measured. With a GPU, LSTM layers "
        "keep the cuDNN-eligible configuration and a sweep whose space allows `recurrent_dropout > 0` "
        "warns once (`textsweep.hardware.cudnn_warning`, tested without a GPU).",
        "",
        NOTES_MARKER,
        "",
    ]
    return "\n".join(lines)


def with_notes(rendered: str, previous: Path) -> str:
    """Keep the hand-written notes below the marker of an earlier report at the same path."""
    old = previous.read_text(encoding="utf-8") if previous.is_file() else ""
    notes = old.split(NOTES_MARKER, 1)[1].strip() if NOTES_MARKER in old else ""
    return rendered + (notes + "\n" if notes else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="a folder holding aclImdb/ or aclImdb_v1.tar.gz")
    p.add_argument("--limit", type=int, help="dataset.limit: a stratified subsample of each split")
    p.add_argument("--num-words", type=int, default=10000)
    p.add_argument("--quick", action="store_true", help="one epoch per trial, one repeat")
    p.add_argument("--smoke", action="store_true", help="tiny models, one epoch, one repeat (CI)")
    p.add_argument(
        "--repeats", type=int, help="plain/textsweep pairs per family (default 2, quick 1)"
    )
    p.add_argument("--families", help="comma-separated families (default: all four)")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="Markdown report")
    p.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    p.add_argument("--render", type=Path, metavar="JSON", help="only re-render a saved report")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text(encoding="utf-8"))
        saved["families"] = summarize([(pair["plain"], pair["sweep"]) for pair in saved["raw"]])
        args.out.write_text(with_notes(render(saved), args.out), encoding="utf-8")
        return 0
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    repeats = args.repeats or (2 if mode == "full" else 1)
    chosen = trials(mode)
    if args.families:
        wanted = args.families.split(",")
        chosen = [t for t in chosen if t.family in wanted]
    data = dataset(args)
    work = args.work or Path(tempfile.mkdtemp(prefix="textsweep-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "benchmarks/bench.py", *(argv or sys.argv[1:])]),
        "mode": mode, "repeats": repeats, "started": time.strftime("%Y-%m-%d %H:%M"),
        "data": f"{data['path']} (limit {data['limit']}, num_words {data['num_words']})",
        "full_data": data["limit"] is None and mode != "smoke",
        "machine": machine(), "trials": [t.__dict__ for t in chosen],
    }  # fmt: skip
    try:
        print("bench: first and second sweep (cold, then warm cache)", flush=True)
        report["cold_warm"] = cold_and_warm(work, data, chosen[0])
        pairs = []
        for rep in range(repeats):
            print(f"bench: repeat {rep + 1}/{repeats}", flush=True)
            for i, trial in enumerate(chosen):
                order = ("plain", "sweep") if (rep + i) % 2 == 0 else ("sweep", "plain")
                got = {arm: run_arm(arm, trial, data, work, f"r{rep}") for arm in order}
                pairs.append((got["plain"], got["sweep"]))
        report["families"] = summarize(pairs)
        report["raw"] = [
            {"plain": p, "sweep": {k: v for k, v in s.items() if k != "log"}} for p, s in pairs
        ]
        print("bench: CLI start-up", flush=True)
        report["cli"] = cli_startup(1 if mode == "smoke" else 5)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["minutes"] = (time.perf_counter() - started) / 60
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(with_notes(render(report), args.out), encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps(report, indent=1, default=str), encoding="utf-8"
    )
    print(f"bench: wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
