"""One trial's model under Keras Tuner: its inputs, the hypermodel, and the training callbacks.

    hypermodel = TextHyperModel(sweep, TrialData(encoded), ModelInputs(10000, 2, None))
    model = hypermodel.build(hp)                 # Keras Tuner calls build, then fit
    history = hypermodel.fit(hp, model, epochs=3)
    history.textsweep.final["test_accuracy"]     # an `Outcome`: rows, final metrics, summary

Imports Keras and Keras Tuner at the top: only `sweep.tuner` imports it, after TensorFlow is
configured (`runtime.configure_tensorflow`).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner as kt
import numpy as np

from textsweep.config import Sweep
from textsweep.models import ModelInputs, build_model, resolve, summary_text, uses_sequences
from textsweep.search_space import active_values, declare
from textsweep.tracking import EPOCH_METRICS, plain
from textsweep.trialdata import TrialData

if TYPE_CHECKING:
    from textsweep.sweep.progress import Progress
    from textsweep.tracking import Tracker


@dataclass
class Outcome:
    """What one execution (one training of one model) produced."""

    rows: list[dict[str, float]]
    final: dict[str, float]
    summary: str
    model_path: Path | None = None


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by the sweep's objective and restores them at the end.

    Test metrics are then those of the epoch the tuner ranks the trial by.
    """

    def __init__(self, monitor: str, mode: str):
        super().__init__()
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.best_epoch = -1
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best, self.best_epoch = float(value), epoch + 1  # epochs count from 1
            self.weights = self.model.get_weights()

    def on_train_end(self, logs: Mapping[str, float] | None = None) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)
        self.weights = None


class EpochReporter(keras.callbacks.Callback):
    """Logs each epoch's metrics to an MLflow run (step = epoch) and to the terminal.

    `check` is called at the start, at every batch and every epoch: `Interrupts.check`, which
    raises a signal whose first raise was lost (see `sweep.interrupts`).
    """

    def __init__(
        self,
        tracker: Tracker,
        run_id: str,
        progress: Progress,
        epochs: int,
        label: str,
        check: Callable[[], None] | None = None,
    ):
        super().__init__()
        self.tracker, self.run_id, self.progress = tracker, run_id, progress
        self.epochs, self.label = epochs, label
        self.check = check or (lambda: None)
        self.rows: list[dict[str, float]] = []
        self._t0 = time.perf_counter()
        self._epoch = 0

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.check()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self._t0, self._epoch = time.perf_counter(), epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        self.check()
        self.progress.batch(self._epoch, self.epochs, batch, self.params.get("steps"))

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        row = {
            "epoch": epoch + 1,  # 1-based, as the terminal shows it: MLflow's step, history.csv
            **{k: plain(v) for k, v in (logs or {}).items() if k in EPOCH_METRICS},
        }
        self.rows.append(row)
        self.tracker.log_curves(self.run_id, [row], background=True)
        self.progress.epoch_end(epoch, self.epochs, row, time.perf_counter() - self._t0, self.label)
        self.check()


class TextHyperModel(kt.HyperModel):
    """Declares the sweep's search space and builds, trains and tests one model per execution."""

    def __init__(self, sweep: Sweep, data: TrialData, inputs: ModelInputs):
        super().__init__(name="textsweep")
        self.sweep, self.data, self.inputs = sweep, data, inputs

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        declare(self.sweep.space, hp)

    def values(self, hp: kt.HyperParameters) -> dict[str, Any]:
        return resolve(active_values(self.sweep.space, hp), self.sweep.config.training.batch_size)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        return build_model(self.values(hp), self.inputs)

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        cfg = self.sweep.config
        values = self.values(hp)
        data = self.data.inputs(values, self.inputs.num_words)  # trialdata.TrialData
        mode = self.sweep.directions()
        best = BestEpoch(cfg.objective, mode)
        callbacks = list(kwargs.pop("callbacks", [])) + [keras.callbacks.TerminateOnNaN(), best]
        if cfg.training.early_stopping is not None:
            es = cfg.training.early_stopping
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=es.monitor, patience=es.patience, min_delta=es.min_delta
                )
            )
        apply_jit_compile(model, values, cfg.training.jit_compile)
        started = time.perf_counter()
        history = model.fit(
            **data.train,
            epochs=int(kwargs.get("epochs", cfg.training.epochs)),
            initial_epoch=int(kwargs.get("initial_epoch", 0)),
            validation_data=data.validation,
            callbacks=callbacks,
            verbose=0,
        )
        train_seconds = time.perf_counter() - started
        losses = history.history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
            raise kt.errors.FailedTrialError(
                f"the training loss became {losses[bad]} (not finite) at epoch "
                f"{bad + 1 + int(kwargs.get('initial_epoch', 0))}; try a smaller learning_rate"
            )
        test_loss, test_accuracy = model.evaluate(**data.test, verbose=0)
        # Keras's float32 numbers as plain decimals, here where they enter textsweep: Keras
        # Tuner's score, the race, MLflow and the report then all hold the same values
        history.history = {k: [plain(v) for v in vals] for k, vals in history.history.items()}
        hist = history.history
        final = {
            "best_val_accuracy": max(hist.get("val_accuracy", [math.nan])),
            "best_val_loss": min(hist.get("val_loss", [math.nan])),
            "best_epoch": float(best.best_epoch if best.best_epoch >= 1 else len(losses)),
            "test_loss": plain(test_loss),
            "test_accuracy": plain(test_accuracy),
            "train_seconds": plain(train_seconds),
            "params_count": float(model.count_params()),
        }
        model_path = None
        if cfg.training.save_model:
            model_path = Path(tempfile.mkdtemp(prefix="textsweep-model-")) / "model.keras"
            model.save(model_path)
        history.textsweep = Outcome(
            rows=[], final=final, summary=summary_text(model), model_path=model_path
        )
        return history


def apply_jit_compile(model: keras.Model, values: Mapping[str, Any], jit: bool | None) -> None:
    """`training.jit_compile` on a model whose family reads token sequences; else Keras decides.

    Keras compiles with XLA by default only where a GPU is; on CPUs, XLA fuses an LSTM's per-step
    operations (an LSTM(64) on full IMDB trained in 3/4 of the time; benchmarks/LSTM_UNITS.md),
    for a few seconds of compiling per model. Bag families are left alone: their inputs are
    `tf.SparseTensor`s, which XLA does not compile. Set before `fit`, the first call that makes
    Keras's train and test functions; the saved model does not keep it.
    """
    if jit is not None and uses_sequences(values):
        model.jit_compile = jit
