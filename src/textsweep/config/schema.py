"""The sweep file's schema: frozen pydantic models that reject unknown keys, and the `Sweep` they make."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from textsweep.search_space import SearchSpace, check_value
from textsweep.tracking.names import Direction, direction_of
from textsweep.tuners import TunerOptions, options_class
from textsweep.tuners.random import RandomOptions

Scalar = bool | int | float | str

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Frozen):
    """Where the texts come from and how they are split (PRODUCT.md, "Dataset keys")."""

    format: Literal["imdb", "keras_npz", "folder", "table"] = "imdb"
    path: str | None = None
    test_path: str | None = None
    test_fraction: float = Field(0.2, gt=0, lt=1)
    text_column: str | int = "text"
    label_column: str | int = "label"
    header: bool = True
    delimiter: str | None = None
    quoting: bool = True
    num_words: int = Field(10000, ge=3)
    validation_split: float | int = 0.2
    limit: int | None = Field(None, ge=2)
    seed: int = 1

    @field_validator("validation_split")
    @classmethod
    def _check_validation_split(cls, v: float | int) -> float | int:
        if isinstance(v, bool):
            raise ValueError("expected a fraction in (0, 1) or a count >= 1")
        if isinstance(v, float) and not 0 < v < 1:
            raise ValueError(f"a fraction must be in (0, 1); got {v}")
        if isinstance(v, int) and v < 1:
            raise ValueError(f"a count must be >= 1; got {v}")
        return v

    @field_validator("delimiter")
    @classmethod
    def _check_delimiter(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError(f"expected one character; got {v!r}")
        return v


class EmbeddingsTrainConfig(_Frozen):
    """word2vec training options for vectors textsweep trains itself with gensim."""

    dim: int = Field(100, ge=1)
    window: int = Field(5, ge=1)
    min_count: int = Field(2, ge=1)
    epochs: int = Field(5, ge=1)


class EmbeddingsConfig(_Frozen):
    """Pretrained vectors: a file (`path`, `format`) or vectors to train and cache (`train`)."""

    path: str | None = None
    format: Literal["word2vec", "word2vec_binary", "glove", "fasttext", "gensim"] | None = None
    train: EmbeddingsTrainConfig | None = None
    missing: Literal["random", "zeros"] = "random"
    allow_pickle: bool = False  # `format: gensim` files are pickles, which can run code

    @model_validator(mode="after")
    def _one_source(self) -> EmbeddingsConfig:
        if (self.path is None) == (self.train is None):
            raise ValueError("give exactly one of `path` (a vectors file) or `train` (options)")
        return self


# `tuner:` is one of the registered algorithms' options, keyed on `algorithm` (`textsweep.tuners`)
TunerConfig = TunerOptions


class EarlyStoppingConfig(_Frozen):
    monitor: Literal["val_loss", "val_accuracy", "loss", "accuracy"] = "val_loss"
    patience: int = Field(2, ge=0)
    min_delta: float = Field(0.0, ge=0)


class TrainingConfig(_Frozen):
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(32, ge=1)
    early_stopping: EarlyStoppingConfig | None = None
    save_model: bool = False
    intra_op_threads: int | None = Field(None, ge=0)
    inter_op_threads: int | None = Field(None, ge=0)
    # XLA for the models that read token sequences (`sweep.hypermodel.apply_jit_compile`); unset,
    # Keras decides (off on a machine without a GPU) and the sweep's fingerprint is unchanged
    jit_compile: bool | None = None


class TrackingConfig(_Frozen):
    uri: str | None = None
    experiment: str | None = None
    # an end-to-end model (raw text in) logged for the execution's best trial, every trial, or none
    log_models: Literal["best", "all", "none"] = "best"

    @field_validator("experiment")
    @classmethod
    def _experiment_is_a_name(cls, value: str | None) -> str | None:
        # like `name`: it names a folder of the store (artifacts/<experiment>), so no `..` either
        if value is not None and (
            len(value) > 100
            or ".." in value
            or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value)
        ):
            shown = value if len(value) <= 60 else f"{value[:40]}... ({len(value)} characters)"
            raise ValueError(
                "expected an experiment name of at most 100 letters, digits, '_', '-' and '.', "
                f"starting with a letter or digit, without '..'; got {shown!r}"
            )
        return value


class SweepConfig(_Frozen):
    """A sweep file: one question, one dataset, one search space, one tuner."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    question: str = ""
    families: list[str] = []  # user modules that register model families; imported first
    dataset: DatasetConfig = DatasetConfig()
    search_space: str | SearchSpace
    fixed: dict[str, Scalar] = {}
    tuner: SerializeAsAny[TunerOptions] = RandomOptions()
    training: TrainingConfig = TrainingConfig()
    objective: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    tracking: TrackingConfig = TrackingConfig()
    embeddings: EmbeddingsConfig | None = None

    @field_validator("tuner", mode="before")
    @classmethod
    def _tuner_options(cls, raw: Any) -> Any:
        """A `tuner:` mapping, validated by its algorithm's options (`load_sweep` does this
        first, with the file's name in its errors)."""
        if isinstance(raw, Mapping):
            return options_class(raw, "<sweep>").model_validate(raw)
        return raw

    @field_validator("fixed")
    @classmethod
    def _check_fixed(cls, fixed: dict[str, Scalar]) -> dict[str, Scalar]:
        for name, value in fixed.items():
            check_value(name, value)
        return fixed


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder holding `sweeps/`: from `start` upwards, then from the cwd upwards."""
    for origin in (start, Path.cwd()):
        if origin is None:
            continue
        for folder in (origin, *origin.parents):
            if (folder / "sweeps").is_dir():
                return folder
    return None


def default_tracking_uri(start: Path | None = None) -> str:
    """The project's embedded store, `<project root>/mlruns/mlflow.db` (see `project_root`).

    Written relative (`sqlite:///mlruns/mlflow.db`) when the project root is the working
    directory or none is found, absolute otherwise, so every command finds the same store
    from any folder of the project.
    """
    root = project_root(start)
    if root is None or root.resolve() == Path.cwd().resolve():
        return DEFAULT_TRACKING_URI
    return "sqlite:///" + str(root.resolve() / "mlruns" / "mlflow.db")


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its config, its resolved search space (with `fixed:` applied) and sources."""

    config: SweepConfig
    space: SearchSpace
    path: Path | None
    space_path: Path | None
    overrides: tuple[str, ...] = ()  # the `--set` options it was loaded with

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def experiment(self) -> str:
        return self.config.tracking.experiment or self.config.name

    def tracking_uri(self, override: str | None = None) -> str:
        start = self.path.resolve().parent if self.path else None
        return override or self.config.tracking.uri or default_tracking_uri(start)

    def may_use_pretrained(self) -> bool:
        spec = self.space.hyperparameters.get("embedding_init")
        return spec is not None and "pretrained" in (spec.candidates() or [])

    def directions(self) -> Direction:
        """Whether the sweep's objective is maximised or minimised."""
        return direction_of(self.config.objective)
