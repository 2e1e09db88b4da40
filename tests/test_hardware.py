"""Thread pools sized to this process's share of the cores; the cuDNN warning as plain logic."""

from __future__ import annotations

import pytest

from textsweep.errors import UserError
from textsweep.hardware import (
    PROCESSES_ENV,
    cudnn_blockers,
    cudnn_warning,
    max_recurrent_dropout,
    thread_counts,
    usable_cores,
)
from textsweep.search_space import SearchSpace


def space(**hyperparameters: dict[str, object]) -> SearchSpace:
    return SearchSpace.model_validate({"hyperparameters": hyperparameters})


LSTM = {"type": "fixed", "value": "embedding_lstm"}


def test_one_process_gets_every_core_and_at_most_two_inter_op_threads() -> None:
    assert thread_counts(None, None, cores=8, processes=1) == (8, 2)


def test_processes_sharing_a_machine_divide_its_cores() -> None:
    assert thread_counts(None, None, cores=16, processes=3) == (5, 2)


def test_more_processes_than_cores_still_get_one_thread_each() -> None:
    assert thread_counts(None, None, cores=2, processes=4) == (1, 1)


def test_sweep_settings_win_over_the_share_and_zero_means_tensorflow_decides() -> None:
    assert thread_counts(3, 0, cores=16, processes=4) == (3, 0)


def test_the_share_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROCESSES_ENV, "2")
    assert thread_counts(None, None, cores=8) == (4, 2)


@pytest.mark.parametrize("raw", ["zero", "0", "-2"])
def test_a_bad_share_is_a_user_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(PROCESSES_ENV, raw)
    with pytest.raises(UserError, match=r"\$TEXTSWEEP_PROCESSES: expected a whole number >= 1"):
        thread_counts(None, None, cores=8)


def test_usable_cores_is_at_least_one() -> None:
    assert usable_cores() >= 1


def test_recurrent_dropout_is_the_only_thing_that_takes_an_lstm_off_cudnn() -> None:
    assert (
        cudnn_blockers({"model": "embedding_lstm", "recurrent_dropout": 0.0, "dropout": 0.5}) == []
    )
    assert cudnn_blockers({"model": "embedding_lstm", "recurrent_dropout": 0.25}) == [
        "recurrent_dropout=0.25"
    ]
    assert cudnn_blockers({"model": "embedding_pool", "recurrent_dropout": 0.25}) == []


def test_the_largest_recurrent_dropout_a_space_allows() -> None:
    ranged = {"type": "float", "min": 0.0, "max": 0.4}
    choice = {"type": "choice", "values": [0.0, 0.1]}
    assert max_recurrent_dropout(space(model=LSTM, recurrent_dropout=ranged)) == 0.4
    assert max_recurrent_dropout(space(model=LSTM, recurrent_dropout=choice)) == 0.1
    assert max_recurrent_dropout(space(model=LSTM)) == 0.0  # the default keeps cuDNN
    no_lstm = {"type": "choice", "values": ["embedding_pool", "multihot_dense"]}
    assert max_recurrent_dropout(space(model=no_lstm, recurrent_dropout=ranged)) == 0.0


def test_gpu_and_recurrent_dropout_give_one_warning() -> None:
    risky = space(model=LSTM, recurrent_dropout={"type": "choice", "values": [0.0, 0.2]})
    warning = cudnn_warning(risky, gpus=1)
    assert warning is not None and "up to 0.2" in warning and "cuDNN" in warning


@pytest.mark.parametrize(
    ("rate", "gpus"), [(0.2, 0), (0.0, 1)], ids=["no-gpu", "no-recurrent-dropout"]
)
def test_no_warning_without_a_gpu_or_without_recurrent_dropout(rate: float, gpus: int) -> None:
    s = space(model=LSTM, recurrent_dropout={"type": "fixed", "value": rate})
    assert cudnn_warning(s, gpus=gpus) is None
