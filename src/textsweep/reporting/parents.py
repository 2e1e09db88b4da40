"""Which execution of a sweep a report reads: the latest finished one, a chosen one, or a pool.

A sweep execution is one parent run (`textsweep.role=sweep`). An interrupted execution holds only
part of the answer, so it is read only when nothing finished, or when asked for, and then always
with a warning.

    chosen = choose_parents(client, uri, "lstm-units", experiment=None, run_id=None, pool=True)
    [p.info.run_id for p in chosen.parents], chosen.warnings
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textsweep import tracking
from textsweep.errors import UserError

if TYPE_CHECKING:
    from textsweep.tracking.reader import Reader
    from textsweep.tracking.records import RunRecord as Run


@dataclass(frozen=True)
class Chosen:
    """The parent runs to report on (the chosen one first) and what the reader must be told."""

    parents: tuple[Run, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def finished(run: Run) -> bool:
    return run.info.status == tracking.RunStatus.FINISHED


def choose_parents(
    client: Reader,
    tracking_uri: str,
    sweep_name: str,
    experiment: str | None,
    run_id: str | None = None,
    pool: bool = False,
    sweep_ref: str | None = None,
) -> Chosen:
    """The parent run(s) a report reads.

    Args:
        run_id: this parent run; default the latest FINISHED one, else the latest one.
        pool: also every other FINISHED execution with the same `textsweep.config_hash`.
        sweep_ref: how the user names the sweep, for the commands the warnings suggest.

    Raises:
        UserError: no parent run of the sweep, or `run_id` is not one.
    """
    ref = sweep_ref or f"sweeps/{sweep_name}.yaml"
    parents = sweep_parents(client, tracking_uri, sweep_name, experiment, run_id)
    notes: list[str] = []
    if run_id is not None:
        chosen = _by_id(client, tracking_uri, run_id)
    else:
        done = [p for p in parents if finished(p)]
        chosen = done[0] if done else parents[0]
        newer = [p for p in parents if p.info.start_time > chosen.info.start_time]
        if done and newer:
            notes.append(
                f"{len(newer)} newer execution(s) did not finish and are not used "
                f"({', '.join(p.info.run_id for p in newer)}); pick one with --run-id"
            )
    warnings = []
    live = _live_process(chosen, sweep_name) if not finished(chosen) else None
    if live is not None:
        how = f"in process {live}" if live > 0 else "in another process"
        warnings.append(
            f"WARNING: execution {chosen.info.run_id} is running now ({how}); these numbers "
            "cover only the trials it has finished so far, and trials still running are left "
            "out. Report again when it ends."
        )
    elif not finished(chosen):
        state = chosen.data.tags.get(tracking.TAG_STATE, "unknown")
        what = "no finished execution of the sweep exists; " if run_id is None else ""
        warnings.append(
            f"WARNING: execution {chosen.info.run_id} did not finish (status "
            f"{chosen.info.status}, state {state}); {what}these numbers cover only the trials "
            "it completed. Finish it with "
            f"`textsweep run {chosen.data.tags.get(tracking.TAG_RUN_ARGS) or ref} --resume`."
        )
    pooled = [chosen]
    if pool:
        key = chosen.data.tags.get(tracking.TAG_CONFIG_HASH)
        pooled += [
            p
            for p in parents
            if p.info.run_id != chosen.info.run_id
            and finished(p)
            and key is not None
            and p.data.tags.get(tracking.TAG_CONFIG_HASH) == key
        ]
        if key is None:
            notes.append("the execution has no textsweep.config_hash tag; nothing pooled with it")
    return Chosen(parents=tuple(pooled), warnings=tuple(warnings), notes=tuple(notes))


def _live_process(run: Run, sweep_name: str) -> int | None:
    """The pid of the process running this execution now (its lock in TEXTSWEEP_HOME), or None."""
    from textsweep.runtime import home_dir
    from textsweep.sweep.locks import lock_holder

    return lock_holder(home_dir() / "tuner" / sweep_name / run.info.run_id)


def sweep_parents(
    client: Reader,
    tracking_uri: str,
    sweep_name: str,
    experiment: str | None,
    run_id: str | None = None,
) -> list[Run]:
    """Every parent run of the sweep, newest first."""
    how = (
        f"run it first with `textsweep run sweeps/{sweep_name}.yaml` "
        "(or pass --tracking-uri where it ran)"
    )
    if run_id is not None:
        chosen = _by_id(client, tracking_uri, run_id)
        experiment_ids = [chosen.info.experiment_id]
    else:
        exp = client.experiment(experiment or sweep_name)
        if exp is not None:
            experiment_ids = [exp.experiment_id]
        else:  # a bare name whose sweep file set tracking.experiment: look in every experiment
            experiment_ids = [e.experiment_id for e in client.experiments()]
    sweep_filter = (
        f"tags.`{tracking.TAG_SWEEP}` = '{sweep_name}' "
        f"and tags.`{tracking.TAG_ROLE}` = '{tracking.Role.SWEEP}'"
    )
    parents = (
        client.search(experiment_ids, sweep_filter, order_by=["attributes.start_time DESC"])
        if experiment_ids
        else []
    )
    if not parents:
        raise UserError(
            f"no runs of the sweep '{sweep_name}' in MLflow at {tracking_uri}; {how}",
            source=sweep_name,
        )
    return list(parents)


def _by_id(client: Reader, tracking_uri: str, run_id: str) -> Run:
    from textsweep.tracking.reader import NotFound

    try:
        run = client.run(run_id)
    except NotFound as e:
        raise UserError(
            f"--run-id: no MLflow run {run_id} at {tracking_uri} ({e}); pick a parent "
            "run id from `textsweep ui` (the runs tagged textsweep.role=sweep)",
            key="--run-id",
        ) from None
    if run.data.tags.get(tracking.TAG_ROLE) != tracking.Role.SWEEP:
        raise UserError(
            f"--run-id: MLflow run {run_id} is not a sweep execution (its textsweep.role is "
            f"{run.data.tags.get(tracking.TAG_ROLE)!r}, expected 'sweep'); pass the parent run",
            key="--run-id",
        )
    return run
