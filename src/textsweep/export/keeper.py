"""The trial loop's side of model logging: keep the best trial's model on disk, log it once.

    keeper = ModelKeeper.for_tuner(context, hypermodel, project_folder)
    keeper.offer(trial_id, values, keras_model, outcome.final)   # after each execution
    keeper.trial_logged(trial_id, run_id, objective)              # when the trial's run is logged
    keeper.finish()                                               # when the search ends

With `tracking.log_models: best`, a trial's model is written (as a ready MLflow model folder) only
when it beats the best kept so far; the folder lives in the tuner's project folder, so an
interrupted execution keeps it for `--resume`, and it is logged to its trial run when the
search ends. With `all`, every trial's model is logged to its own run as the trial ends.
Nothing is retrained: the model saved is the one the trial's test metrics were measured on.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textsweep.export.preprocess import NoVocabulary, preprocess_spec

if TYPE_CHECKING:
    from textsweep.vocabulary import Encoded

MODELS_FOLDER = "textsweep-models"
BEST, CANDIDATE, BEST_META = "best", "candidate", "best.json"


@dataclass
class _Kept:
    trial_id: str
    score: float
    run_id: str | None = None


class ModelKeeper:
    """Which trial models to keep and log, by `tracking.log_models` (best | all | none)."""

    def __init__(
        self,
        mode: str,
        folder: Path,
        direction: str,
        tracker: Any,
        data: tuple[Encoded, int],
        info: Mapping[str, Any],
        say: Callable[[str], None] = print,
    ):
        """`data`: the execution's encoded dataset and `num_words`; `info` goes in the MLmodel."""
        self.mode, self.folder, self.direction = mode, folder, direction
        self.tracker, self.info, self.say = tracker, dict(info), say
        self.encoded, self.num_words = data
        self.best: _Kept | None = None
        self.candidate: _Kept | None = None
        if mode == "none":
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.folder / CANDIDATE, ignore_errors=True)  # a crashed trial's
        meta = self.folder / BEST_META
        if meta.is_file() and (self.folder / BEST).is_dir():  # kept before an interruption
            self.best = _Kept(**json.loads(meta.read_text(encoding="utf-8")))

    @classmethod
    def for_tuner(cls, context: Any, hypermodel: Any, project: Path) -> ModelKeeper:
        """The keeper of one tuner process (a worker keeps its own trials' best)."""
        from textsweep.sweep.workers import tuner_id

        sweep = context.sweep
        return cls(
            sweep.config.tracking.log_models,
            project / MODELS_FOLDER / tuner_id(),
            sweep.directions(),
            context.tracker,
            (hypermodel.data.encoded, hypermodel.inputs.num_words),
            {"sweep": sweep.name, "objective": sweep.config.objective},
            context.progress.say,
        )

    def _better(self, score: float, than: _Kept | None) -> bool:
        if not math.isfinite(score):
            return False
        if than is None:
            return True
        return score > than.score if self.direction == "max" else score < than.score

    def offer(self, trial_id: str, values: Mapping[str, Any], model: Any,
              final: Mapping[str, float]) -> None:  # fmt: skip
        """One execution of a trial ended with `model` (its best epoch's weights, as tested)."""
        if self.mode == "none":
            return
        score = final["best_val_accuracy" if self.direction == "max" else "best_val_loss"]
        if self.candidate is not None and self.candidate.trial_id != trial_id:
            self._drop_candidate()
        # a trial's objective is its executions' mean, never better than its best execution:
        # an execution that cannot beat the kept best is not worth writing
        if self.mode == "best" and not self._better(score, self.best):
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
        self.candidate = _Kept(trial_id, score)

    def trial_logged(self, trial_id: str, run_id: str, objective: float) -> None:
        """The trial's run holds its metrics; `objective` is its (mean) objective."""
        candidate, self.candidate = self.candidate, None
        if candidate is None or candidate.trial_id != trial_id:
            return
        if self.mode == "all":
            self._log(self.folder / CANDIDATE, run_id)
            shutil.rmtree(self.folder / CANDIDATE, ignore_errors=True)
        elif self._better(objective, self.best):
            shutil.rmtree(self.folder / BEST, ignore_errors=True)
            (self.folder / CANDIDATE).rename(self.folder / BEST)
            self.best = _Kept(trial_id, objective, run_id)
            meta = {"trial_id": trial_id, "score": objective, "run_id": run_id}
            (self.folder / BEST_META).write_text(json.dumps(meta), encoding="utf-8")
        else:
            self._drop_candidate()

    def finish(self) -> None:
        """Log the kept best model to its trial run (`best`), then forget it."""
        if self.mode != "best" or self.best is None or self.best.run_id is None:
            return
        self._log(self.folder / BEST, self.best.run_id)
        shutil.rmtree(self.folder / BEST, ignore_errors=True)
        (self.folder / BEST_META).unlink(missing_ok=True)
        self.best = None

    def _log(self, model_dir: Path, run_id: str) -> None:
        from textsweep.export.registry import log_model_dir

        log_model_dir(self.tracker, run_id, model_dir)

    def _drop_candidate(self) -> None:
        self.candidate = None
        shutil.rmtree(self.folder / CANDIDATE, ignore_errors=True)
