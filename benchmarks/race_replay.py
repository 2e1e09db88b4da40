"""Replay a recorded race under another schedule: what `tuner.repeats.focus` would have run.

    python benchmarks/race_replay.py --json benchmarks/lstm_units_2026-11-23.json
    python benchmarks/race_replay.py --tracking-uri sqlite:////tmp/lstm/mlflow.db --sweep lstm-units

A race's executions are reproducible one by one (each has its own seed), so a recorded race can
be run again on paper: every value's k-th execution gives the k-th recorded result, and the
racing oracle's own scheduling (`textsweep.sweep.racing.next_combination`, one process, so one
execution at a time) picks what runs next, with focus off and on. It prints, for each schedule,
how many executions ran per value, their recorded training seconds, how the race ended and its
answer (`first_within_margin`, the rule the report applies). A schedule that asks a value for
more executions than were recorded stops there and says so.

A live race with focus gives its executions other seeds than the recording (seeds follow the
order trials start in), so its numbers differ; the replay isolates the schedule's effect.

Input: `--json FILE` holding {"name", "hyperparameter", "values": {value: [objective, ...]}, "seconds": {value:
[seconds, ...]}, "repeats": [min, max], "margin", "direction"}; or a finished race in MLflow
(`--tracking-uri`, `--sweep`, optional `--run-id`), read through `textsweep.reporting`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recording:
    """A finished race: each value's executions in the order they ran."""

    name: str
    hyperparameter: str  # the one setting the race varied; its cost order is `cost_order`'s
    values: Mapping[str, Sequence[float]]
    seconds: Mapping[str, Sequence[float]]
    repeats: tuple[int, int]
    margin: float | None
    direction: str


@dataclass(frozen=True)
class Replay:
    """What one schedule ran on the recording."""

    focus: bool
    ran: tuple[str, ...]
    counts: Mapping[str, int]
    seconds: float
    outcome: str  # decided, budget, or "short" (the recording ran out)
    answer: str | None


def replay(rec: Recording, focus: bool) -> Replay:
    from textsweep.reporting.inference import first_within_margin
    from textsweep.reporting.records import parse_param
    from textsweep.sweep.racing import (
        candidates,
        cost_order,
        next_combination,
        settled,
        survivors,
    )

    keys = list(rec.values)
    order = cost_order([{rec.hyperparameter: parse_param(k)} for k in keys])  # as the oracle's
    started = [0] * len(keys)
    samples: dict[int, list[float]] = {i: [] for i in range(len(keys))}
    ran: list[str] = []
    seconds = 0.0
    short = False
    while True:
        i = next_combination(
            started, samples, False, rec.repeats, rec.direction, rec.margin, order, focus
        )
        if i is None:
            break
        k = keys[i]
        if started[i] >= len(rec.values[k]):
            short = True
            break
        samples[i].append(float(rec.values[k][started[i]]))
        seconds += float(rec.seconds[k][started[i]]) if rec.seconds.get(k) else 0.0
        started[i] += 1
        ran.append(k)
    answer = None
    if not short and settled(samples, rec.direction, rec.margin, order):
        alive = survivors(samples, rec.direction)
        picks = candidates(alive, samples, rec.direction, order)
        # decided by elimination (one left), else by the margin rule on the candidates
        answer = (
            alive[0]
            if len(alive) == 1
            else first_within_margin(
                {j: samples[j] for j in alive}, picks, rec.margin or 0.0, rec.direction
            )
        )
    return Replay(
        focus,
        tuple(ran),
        dict(zip(keys, started, strict=True)),
        seconds,
        "short" if short else ("decided" if answer is not None else "budget"),
        keys[answer] if answer is not None else None,
    )


def from_json(path: Path) -> Recording:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Recording(
        raw.get("name", path.stem),
        raw["hyperparameter"],
        {str(k): list(v) for k, v in raw["values"].items()},
        {str(k): list(v) for k, v in raw.get("seconds", {}).items()},
        (int(raw["repeats"][0]), int(raw["repeats"][1])),
        raw.get("margin"),
        raw.get("direction", "max"),
    )


def from_mlflow(uri: str, sweep: str, run_id: str | None) -> Recording:
    """The race's executions from MLflow, per value of the one hyperparameter it varied."""
    from textsweep.reporting.records import load_records
    from textsweep.reporting.stats import varied

    records = load_records(uri, sweep, parent_run_id=run_id)
    usable = records.usable()
    names = varied(usable)
    if len(names) != 1:
        raise SystemExit(f"a race over one hyperparameter is needed; this one varied {names}")
    (name,) = names
    usable.sort(key=lambda e: (len(e.trial_id), e.trial_id))
    values: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    for e in usable:
        key = str(e.hyperparameters[name])
        values.setdefault(key, []).append(float(e.objective or 0.0))
        seconds.setdefault(key, []).append(float(e.train_seconds or 0.0))
    top = max(len(v) for v in values.values())
    # the records keep no repeats.min; 2 is the default and every seed race's
    return Recording(sweep, name, values, seconds, (2, top), records.margin, records.direction)


def render(rec: Recording, replays: Sequence[Replay]) -> str:
    lines = [
        f"# Replay of {rec.name}: repeats {rec.repeats[0]}..{rec.repeats[1]}, margin {rec.margin}",
        "",
        "| schedule | executions | per value | training s | ended | answer |",
        "|---|---|---|---|---|---|",
    ]
    for r in replays:
        per = ", ".join(f"{k}: {n}" for k, n in r.counts.items())
        lines.append(
            f"| {'focus' if r.focus else 'rounds'} | {len(r.ran)} | {per} | {r.seconds:.0f} "
            f"| {r.outcome} | {r.answer or '-'} |"
        )
    for r in replays:
        lines.append(f"\n{'focus' if r.focus else 'rounds'}: {' '.join(r.ran)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="a recorded race (see the module docstring)")
    parser.add_argument("--tracking-uri", help="read a finished race from this MLflow store")
    parser.add_argument("--sweep", help="the sweep's name in that store")
    parser.add_argument("--run-id", help="the sweep execution (parent run) to read")
    args = parser.parse_args(argv)
    if args.json is not None:
        rec = from_json(args.json)
    elif args.tracking_uri and args.sweep:
        rec = from_mlflow(args.tracking_uri, args.sweep, args.run_id)
    else:
        parser.error("give --json FILE, or --tracking-uri and --sweep")
    print(render(rec, [replay(rec, focus) for focus in (False, True)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
