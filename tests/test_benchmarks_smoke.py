"""The benchmark script end to end on a tiny aclImdb folder, and its verdicts on made-up figures.

No timing assertions: the smoke run checks that every arm runs and the report is written; the
verdict tests check that a target is called met or not met from the figures alone.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_smoke_run_on_tiny_data_writes_the_report(tmp_path: Path, tiny_imdb: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--data-dir", str(tiny_imdb),
         "--families", "embedding_pool", "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures = json.loads(out.with_suffix(".json").read_text())
    first, second = figures["cold_warm"]
    assert (first["from_cache"], second["from_cache"], second["calls"].get("tokenize", 0)) == (
        False,
        True,
        0,
    )
    assert [row["family"] for row in figures["families"]] == ["embedding_pool"]
    assert "| embedding_pool |" in out.read_text()


def sweep_figures(
    seconds: float, rss_mb: float, tokenize: int = 0, overhead: float = 1.0
) -> dict[str, Any]:
    return {
        "family": "embedding_lstm", "trial_seconds": seconds, "process_seconds": seconds + 10,
        "peak_rss_mb": rss_mb, "test_accuracy": 0.8, "threads": [2, 2], "from_cache": True,
        "calls": {"tokenize": tokenize}, "events": {"start_work": 3.0, "first_epoch": 6.0},
        "exclusive": {"fit": seconds - overhead, "tracking": overhead / 2, "tuner": overhead / 2},
    }  # fmt: skip


def report(sweep_seconds: float, rss_mb: float, overhead: float) -> dict[str, Any]:
    bench = load_bench()
    plain = {**sweep_figures(40.0, 1000.0), "arm": "plain"}
    sweep = sweep_figures(sweep_seconds, rss_mb, overhead=overhead)
    trial = bench.Trial("embedding_lstm", {"model": "embedding_lstm"}, 64, 1)
    return {
        "command": "bench.py", "mode": "full", "repeats": 1, "started": "now", "minutes": 1.0,
        "data": "aclImdb", "full_data": True, "trials": [trial.__dict__],
        "machine": {"nproc": 2, "cpus_usable": 2, "memory_gb": 24, "cpu": "x", "python": "3",
                    "platform": "linux", "versions": {}, "load_average_at_start": [0, 0, 0]},
        "cold_warm": [sweep_figures(50, 900, tokenize=100), sweep_figures(45, 900)],
        "families": bench.summarize([(plain, sweep)]),
        "cli": {name: {"median_seconds": 0.2, "heavy_modules": "[]"} for name in ("help", "validate")},
    }  # fmt: skip


def statuses(markdown: str) -> dict[str, str]:
    """Target table rows: the target's first two words -> its status."""
    rows = [line.split("|") for line in markdown.splitlines() if line.endswith("** |")]
    return {" ".join(row[1].split()[:2]): row[-2].strip() for row in rows}


def test_small_overhead_and_memory_are_met() -> None:
    assert set(statuses(load_bench().render(report(41.0, 2000.0, overhead=1.0))).values()) == {
        "**met**"
    }


def test_eight_percent_overhead_and_three_gigabytes_are_not_met() -> None:
    got = statuses(load_bench().render(report(43.2, 3072.0, overhead=3.2)))
    assert (got["per-trial overhead"], got["peak RSS"]) == ("**not met**", "**not met**")


@pytest.mark.slow
def test_ngrams_benchmark_runs_every_arm_on_tiny_data(tmp_path: Path, tiny_imdb: Path) -> None:
    out = tmp_path / "NGRAMS.md"
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "ngrams.py"), "--data-dir", str(tiny_imdb),
         "--set", "dataset.num_words=300", "--set", "training.epochs=1",
         "--set", "dataset.validation_split=0.25", "--out", str(out),
         "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert list(rows) == ["textsweep", "predict", "nbsvm", "keras"]
    assert all(r["peak_rss_mib"] > 50 and 0 <= r["test_accuracy"] <= 1 for r in rows.values())
    # the exported model labels the raw test reviews exactly as the trial's test metrics said
    assert rows["predict"]["test_accuracy"] == pytest.approx(rows["textsweep"]["test_accuracy"])
    assert "| NBSVM, scikit-learn" in out.read_text()


def test_the_race_replay_reruns_the_recorded_lstm_race_and_its_focused_schedule() -> None:
    root = Path(__file__).resolve().parent.parent / "benchmarks"
    done = subprocess.run(
        [sys.executable, str(root / "race_replay.py"), "--json",
         str(root / "lstm_units_2026-11-23.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # the recorded schedule is the race that ran (30 executions, decided, 64 units); focus
    # reaches the same answer with two fewer 256-unit executions
    assert "| rounds | 30 | 16: 6, 32: 6, 64: 6, 128: 6, 256: 6 | 1886 | decided | 64 |" in (
        done.stdout
    )
    assert "| focus | 28 | 16: 6, 32: 6, 64: 6, 128: 6, 256: 4 | 1519 | decided | 64 |" in (
        done.stdout
    )
