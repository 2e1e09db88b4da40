"""The trial loop's side of model logging: keep the best models on disk, log the chosen one.

    keeper = ModelKeeper.for_tuner(context, hypermodel, project_folder)
    keeper.offer(trial_id, values, keras_model, outcome.final)   # after each execution
    keeper.trial_logged(trial_id, run_id, objective)              # when the trial's run is logged
    keeper.finish(result.best_run_id)                             # the sweep's chosen configuration

With `tracking.log_models: best`, models are written (as ready MLflow model folders) only while
they may become the sweep's choice, and the one the sweep chooses (`reporting.choice`: the
recommended configuration, else the best mean over its executions) is logged to the trial run of
that configuration's best execution when the search ends. When every configuration is one trial
(no adaptive repeats), only the best trial's model is kept; when a configuration spans several
trials (adaptive repeats), each configuration's best execution is kept until the end, since the
pooled means decide. The folders live in the tuner's project folder, so an interrupted execution
keeps them for `--resume`. With `all`, every trial's model is logged to its own run as the trial
ends. Nothing is retrained: the model saved is the one the trial's test metrics were measured on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.export.preprocess import NoVocabulary, preprocess_spec
from textsweep.tracking.names import direction_of, objective_metric

if TYPE_CHECKING:
    from textsweep.vocabulary import Encoded

MODELS_FOLDER = "textsweep-models"
CANDIDATE, KEPT_META = "candidate", "kept.json"


@dataclass
class _Kept:
    trial_id: str
    score: float  # the kept execution's objective
    run_id: str | None = None
    folder: str = ""  # under the keeper's folder
    config: str = ""  # the configuration's key


def config_key(values: Mapping[str, Any]) -> str:
    """A configuration's identity: its used hyperparameter values."""
    text = json.dumps({k: repr(v) for k, v in sorted(values.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ModelKeeper:
    """Which trial models to keep and log, by `tracking.log_models` (best | all | none)."""

    def __init__(
        self,
        mode: str,
        folder: Path,
        objective: str,
        tracker: Any,
        data: tuple[Encoded, int],
        info: Mapping[str, Any],
        say: Callable[[str], None] = print,
        per_config: bool = False,
    ):
        """`data`: the execution's encoded dataset and `num_words`; `info` goes in the MLmodel;
        `per_config`: configurations span several trials (keep each one's best execution)."""
        self.mode, self.folder, self.per_config = mode, folder, per_config
        self.direction, self.metric = direction_of(objective), objective_metric(objective)
        self.tracker, self.info, self.say = tracker, dict(info), say
        self.encoded, self.num_words = data
        self.kept: dict[str, _Kept] = {}  # by configuration (one entry without per_config)
        self.candidate: _Kept | None = None
        if mode == "none":
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.folder / CANDIDATE, ignore_errors=True)  # a crashed trial's
        meta = self.folder / KEPT_META
        if meta.is_file():  # kept before an interruption
            try:
                entries = json.loads(meta.read_text(encoding="utf-8"))
            except ValueError:
                entries = {}
            for key, entry in entries.items():
                kept = _Kept(**entry)
                if (self.folder / kept.folder).is_dir():
                    self.kept[key] = kept

    @classmethod
    def for_tuner(cls, context: Any, hypermodel: Any, project: Path) -> ModelKeeper:
        """The keeper of one tuner process (a worker keeps its own trials' models)."""
        from textsweep.sweep.workers import tuner_id

        sweep = context.sweep
        return cls(
            sweep.config.tracking.log_models,
            project / MODELS_FOLDER / tuner_id(),
            sweep.config.objective,
            context.tracker,
            (hypermodel.data.encoded, hypermodel.inputs.num_words),
            {"sweep": sweep.name, "objective": sweep.config.objective},
            context.progress.say,
            per_config=sweep.config.tuner.repeats is not None,
        )

    @property
    def best(self) -> _Kept | None:
        """The best kept model by its own objective."""
        scored = [k for k in self.kept.values() if math.isfinite(k.score)]
        if not scored:
            return None
        sign = 1.0 if self.direction == "max" else -1.0
        return max(scored, key=lambda k: sign * k.score)

    def _better(self, score: float, than: _Kept | None) -> bool:
        if not math.isfinite(score):
            return False
        return than is None or self.direction.better(score, than.score)

    def _rival(self, key: str) -> _Kept | None:
        """What a new model of configuration `key` must beat to be kept."""
        return self.kept.get(key) if self.per_config else self.best

    def offer(
        self, trial_id: str, values: Mapping[str, Any], model: Any, final: Mapping[str, float]
    ) -> None:
        """One execution of a trial ended with `model` (its best epoch's weights, as tested)."""
        if self.mode == "none":
            return
        score = final[self.metric]
        key = config_key(values)
        if self.candidate is not None and self.candidate.trial_id != trial_id:
            self._drop_candidate()
        # a trial's objective is its executions' mean, never better than its best execution:
        # an execution that cannot beat the kept one is not worth writing
        if self.mode == "best" and not self._better(score, self._rival(key)):
            return
        if self.candidate is not None and not self._better(score, self.candidate):
            return
        try:
            spec = preprocess_spec(values, self.encoded, self.num_words)
        except NoVocabulary as e:
            self.say(f"warning: no model logged: {e}")
            self.mode = "none"
            return
        from textsweep.export.pyfunc import save_model

        self._drop_candidate()
        save_model(model, spec, self.folder / CANDIDATE, {**self.info, "trial_id": trial_id})
        self.candidate = _Kept(trial_id, score, config=key)

    def trial_logged(self, trial_id: str, run_id: str, objective: float) -> None:
        """The trial's run holds its metrics; `objective` is its (mean) objective."""
        candidate, self.candidate = self.candidate, None
        if candidate is None or candidate.trial_id != trial_id:
            return
        if self.mode == "all":
            self._log(self.folder / CANDIDATE, run_id)
            shutil.rmtree(self.folder / CANDIDATE, ignore_errors=True)
            return
        key = candidate.config if self.per_config else "best"
        # one configuration, one trial: the trial's mean ranks it; else its best execution
        score = candidate.score if self.per_config else objective
        if not self._better(score, self._rival(candidate.config)):
            self._drop_candidate()
            return
        old = self.kept.pop(key, None)
        if old is not None:
            shutil.rmtree(self.folder / old.folder, ignore_errors=True)
        name = f"kept-{config_key({'trial': trial_id, 'key': key})}"
        shutil.rmtree(self.folder / name, ignore_errors=True)
        (self.folder / CANDIDATE).rename(self.folder / name)
        self.kept[key] = _Kept(trial_id, score, run_id, name, candidate.config)
        self._save_meta()

    def finish(self, run_id: str | None = None) -> str | None:
        """Log the kept model of the trial run `run_id` (the sweep's choice) to that run, or,
        with None (a worker, which cannot know the choice), every kept model to its own run;
        then forget them. Returns the run the chosen model went to, if any."""
        if self.mode != "best":
            return None
        logged = None
        for kept in self.kept.values():
            if kept.run_id is not None and run_id in (None, kept.run_id):
                self._log(self.folder / kept.folder, kept.run_id)
                logged = kept.run_id
        for kept in self.kept.values():
            shutil.rmtree(self.folder / kept.folder, ignore_errors=True)
        self.kept = {}
        (self.folder / KEPT_META).unlink(missing_ok=True)
        return logged

    def _save_meta(self) -> None:
        meta = self.folder / KEPT_META
        tmp = meta.with_suffix(".tmp")
        text = json.dumps({k: asdict(v) for k, v in self.kept.items()})
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, meta)

    def _log(self, model_dir: Path, run_id: str) -> None:
        from textsweep.export.registry import log_model_dir

        log_model_dir(self.tracker, run_id, model_dir)

    def _drop_candidate(self) -> None:
        self.candidate = None
        shutil.rmtree(self.folder / CANDIDATE, ignore_errors=True)
