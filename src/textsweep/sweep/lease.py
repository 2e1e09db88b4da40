"""Work shared by Keras Tuner's workers, and a lease on every trial a worker runs.

    base, kwargs = shared(sweep, base, kwargs, oracle_args)   # grid: a GridOracle, shared
    install(tuner.oracle, context)     # chief/worker mode: the lease (chief) or heartbeat (worker)

Keras Tuner's own grid oracle makes the next combination only when a trial ends, so an idle
worker is told to stop; `GridOracle` enumerates the grid up front and any idle worker gets any
untried combination.

The chief's oracle keeps the time of every ongoing trial's last word from its worker:
`create_trial`, `update_trial` (every epoch) and `get_trial`, which a worker's heartbeat thread
calls every quarter of `tuner.lease_seconds` while it trains. A trial silent for longer than the
lease is taken back: its MLflow run is closed KILLED (tag `textsweep.lease`), it ends in the
oracle as FAILED (not counted among the failures in a row), and its values go to the next worker
that asks, as a new trial; the trial budget grows by one so the sweep still ends with the trials
asked for. A worker told "none ready" waits while any trial is running elsewhere or waiting to be
handed over, and stops only when nothing is left to run or to wait for. A worker that comes back
late is not counted twice: the oracle ignores its updates and its end of a taken-back trial, and
its run stays KILLED (`settle_late`). A worker told to wait asks again every second, and between
two trials its heartbeat goes on; one without a trial that is silent for longer than the lease
(killed while waiting, or between ending one trial and asking for the next) is no longer waited
for, so the chief still exits.
The oracle's lock is released when a request raises (`ktcompat.synchronized`); Keras Tuner's own
keeps it, and the chief then hangs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt

from textsweep.sweep import ktcompat, workers
from textsweep.tracking import TAG_ERROR, TAG_TRIAL_ID, Role, RunStatus, Tracker

TAG_LEASE = "textsweep.lease"  # on a trial run the chief closed: why it took the trial back
EXPIRED = "lease expired"  # how a taken-back trial's message in the oracle begins
Config = dict[str, Any]
_TS = ktcompat.TrialStatus


class GridOracle(kt.Oracle):
    """Every grid combination enumerated up front; the next untried one to whoever asks."""

    def __init__(self, configs: Sequence[Config], **kwargs: Any):
        self.configs = [dict(c) for c in configs]
        # longest first, so a combination that is a subset of another never matches before it
        self._match_order = sorted(range(len(self.configs)), key=lambda i: -len(self.configs[i]))
        super().__init__(**kwargs)

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        used = {self.config_of(t.hyperparameters.values) for t in self.trials.values()}
        for index, config in enumerate(self.configs):
            if index not in used:
                hp = self.get_space()
                for name, value in config.items():
                    hp.values[name] = value
                return {"status": _TS.RUNNING, "values": hp.values}
        return {"status": _TS.STOPPED}

    def config_of(self, values: Mapping[str, Any]) -> int | None:
        for i in self._match_order:
            if all(values.get(k) == v for k, v in self.configs[i].items()):
                return i
        return None


def shared(
    sweep: Any, base: type, kwargs: dict[str, Any], oracle_args: dict[str, Any]
) -> tuple[type, dict[str, Any]]:
    """The tuner class and arguments for chief/worker mode: Keras Tuner's grid becomes a
    `GridOracle` (the grid up front, so workers share it); anything else as it is."""
    if workers.role() is None or base is not kt.GridSearch:
        return base, kwargs
    configs = list(sweep.space.iter_grid())
    oracle = GridOracle(configs, max_trials=kwargs.get("max_trials"), **oracle_args)
    return kt.Tuner, {"oracle": oracle}


@dataclass(frozen=True)
class TakenBack:
    """A trial whose worker fell silent for longer than the lease."""

    trial_id: str  # "" for a worker that was waiting for a trial, not running one
    tuner_id: str
    silent: float  # seconds

    @property
    def message(self) -> str:
        return f"{EXPIRED}: {self.tuner_id} silent for {self.silent:.0f}s"


class _Leased:
    """Mixed in before a chief's oracle class (see `hold`)."""

    lease_seconds: float
    ongoing_trials: dict[str, Any]
    tuner_ids: set[str]
    trials: dict[str, Any]
    max_trials: int | None

    def _lease_init(self, seconds: float) -> None:
        self.lease_seconds = seconds
        self._seen: dict[str, float] = {}  # trial id -> monotonic time of its worker's last word
        self._taken_back: set[str] = set()
        self._handover: list[Config] = []  # values of taken-back trials, to run again
        self._heard: dict[str, float] = {}  # tuner id -> time of its last word, any request
        self._owner: dict[str, str] = {}  # trial id -> the tuner id it was given to

    def _touch(self, trial_id: str) -> None:
        now = time.monotonic()
        if trial_id in self._seen:
            self._seen[trial_id] = now
        if trial_id in self._owner:
            self._heard[self._owner[trial_id]] = now

    @ktcompat.synchronized
    def create_trial(self, tuner_id: str) -> Any:
        trial = super().create_trial(tuner_id)  # type: ignore[misc]
        self._heard[tuner_id] = time.monotonic()
        if trial.status == _TS.STOPPED and (self.ongoing_trials or self._handover):
            # nothing ready now, but a trial runs elsewhere or waits to be handed over; a
            # waiting worker asks again every second, so its silence means it is gone
            self.tuner_ids.add(tuner_id)
            trial.status = _TS.IDLE
        elif trial.status == _TS.RUNNING:
            self._seen[trial.trial_id] = time.monotonic()
            self._owner[trial.trial_id] = tuner_id
        return trial

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if self._handover:
            return {"status": _TS.RUNNING, "values": self._handover.pop(0)}
        return super().populate_space(trial_id)  # type: ignore[misc]

    @ktcompat.synchronized
    def update_trial(self, trial_id: str, metrics: Any, step: int = 0) -> Any:
        if trial_id in self._taken_back:  # a late worker's word: ignored
            return self.trials[trial_id]
        self._touch(trial_id)
        return super().update_trial(trial_id, metrics, step=step)  # type: ignore[misc]

    @ktcompat.synchronized
    def end_trial(self, trial: Any) -> None:
        if trial.trial_id in self._taken_back:  # a late worker's end: ignored
            return
        self._touch(trial.trial_id)
        self._seen.pop(trial.trial_id, None)
        super().end_trial(trial)  # type: ignore[misc]

    @ktcompat.synchronized
    def get_trial(self, trial_id: str) -> Any:
        self._touch(trial_id)  # a worker's heartbeat
        return super().get_trial(trial_id)  # type: ignore[misc]

    @ktcompat.synchronized
    def take_back_stale(self) -> list[TakenBack]:
        """End the ongoing trials whose worker has been silent longer than the lease, and stop
        waiting for a worker without a trial (told to wait, or between two trials) that has
        been silent as long (Keras Tuner's chief exits only once every worker it knows has
        been told to stop)."""
        now = time.monotonic()
        out = []
        for tuner_id in list(self.tuner_ids):
            if tuner_id in self.ongoing_trials:
                continue
            last = self._heard.setdefault(tuner_id, now)
            if now - last > self.lease_seconds:
                self.tuner_ids.discard(tuner_id)
                out.append(TakenBack("", tuner_id, now - last))
        for tuner_id, trial in list(self.ongoing_trials.items()):
            silent = now - self._seen.setdefault(trial.trial_id, now)
            if silent <= self.lease_seconds:
                continue
            taken = TakenBack(trial.trial_id, tuner_id, silent)
            del self.ongoing_trials[tuner_id]
            self.tuner_ids.discard(tuner_id)  # the chief does not wait for it to say goodbye
            self._seen.pop(trial.trial_id, None)
            self._taken_back.add(trial.trial_id)
            self._handover.append(dict(trial.hyperparameters.values))
            if self.max_trials:
                self.max_trials += 1  # the handed-over trial takes a new id
            trial.status, trial.message = _TS.FAILED, taken.message
            ktcompat.save_trial(self, trial)
            self.save()  # type: ignore[attr-defined]
            out.append(taken)
        return out


def hold(
    oracle: Any, seconds: float, on_take_back: Callable[[TakenBack], None]
) -> threading.Thread:
    """Put the chief's `oracle` under a lease; a thread takes stale trials back."""
    cls = oracle.__class__
    oracle.__class__ = type(f"Leased{cls.__name__}", (_Leased, cls), {})
    oracle._lease_init(seconds)
    period = max(0.5, min(5.0, seconds / 4))

    def watch() -> None:
        while True:
            time.sleep(period)
            try:
                for taken in oracle.take_back_stale():
                    on_take_back(taken)
            except Exception as error:  # the next round tries again
                print(f"lease: {type(error).__name__}: {error}", flush=True)

    thread = threading.Thread(target=watch, name="textsweep-lease", daemon=True)
    thread.start()
    return thread


def heartbeat(client: Any, seconds: float) -> threading.Thread:
    """A worker's heartbeat: `get_trial` every quarter of the lease, on the trial it runs, or
    between two trials on the one it last ended (the chief then knows it is still there)."""
    current: list[str | None] = [None]
    create = client.create_trial

    def create_trial(tuner_id: str) -> Any:
        trial = create(tuner_id)
        if trial.status == _TS.RUNNING:
            current[0] = trial.trial_id
        return trial

    client.create_trial = create_trial
    period = max(0.5, seconds / 4)

    def beat() -> None:
        while True:
            time.sleep(period)
            trial_id = current[0]
            if trial_id is not None:
                with contextlib.suppress(Exception):  # the chief gone: the trial loop says so
                    client.get_trial(trial_id)

    thread = threading.Thread(target=beat, name="textsweep-heartbeat", daemon=True)
    thread.start()
    return thread


def install(oracle: Any, context: Any) -> None:
    """The lease for this process's part, in chief/worker mode (nothing alone)."""
    seconds = float(context.sweep.config.tuner.lease_seconds)
    part = workers.role()
    if part == "chief":
        tracker, parent_id, progress = context.tracker, context.parent_run_id, context.progress

        def close(taken: TakenBack) -> None:
            if not taken.trial_id:
                progress.say(
                    f"lease: {taken.tuner_id} silent for {taken.silent:.0f}s without a trial "
                    "(waiting, or between two); the chief no longer waits for it"
                )
                return
            closed = close_runs(tracker, parent_id, taken)
            progress.say(
                f"lease: trial {taken.trial_id} of {taken.tuner_id} taken back ({taken.message}); "
                f"{closed} run(s) closed KILLED, its values go to the next worker that asks"
            )

        hold(oracle, seconds, close)
    elif part == "worker":
        heartbeat(oracle, seconds)


def close_runs(tracker: Tracker, parent_id: str, taken: TakenBack) -> int:
    """Close the RUNNING trial run (and its execution runs) of a taken-back trial KILLED."""
    closed = 0
    for run in tracker.child_runs(parent_id, Role.TRIAL):
        if run.data.tags.get(TAG_TRIAL_ID) != taken.trial_id:
            continue
        if run.info.status != RunStatus.RUNNING:
            continue
        for execution in tracker.child_runs(run.info.run_id, Role.EXECUTION):
            if execution.info.status == RunStatus.RUNNING:
                mark_killed(tracker, execution.info.run_id, taken.message)
        mark_killed(tracker, run.info.run_id, taken.message)
        closed += 1
    return closed


def mark_killed(tracker: Tracker, run_id: str, message: str) -> None:
    tracker.set_tags(run_id, {TAG_LEASE: message, TAG_ERROR: message})
    tracker.end_run(run_id, RunStatus.KILLED)


def settle_late(tracker: Tracker, run_id: str, local_status: str, chief_status: str) -> bool:
    """Whether a worker's trial was taken back by the chief; then its run is KILLED, never ended
    otherwise. The chief tags the runs it closes; a trial the worker completed that the chief
    holds as FAILED was taken back before the chief's tag arrived (the message does not travel
    over gRPC)."""
    if TAG_LEASE in tracker.get_run(run_id).data.tags:
        return True
    if local_status == _TS.COMPLETED and chief_status == _TS.FAILED:
        mark_killed(tracker, run_id, f"{EXPIRED}: the chief took the trial back before it ended")
        return True
    return False
