"""The logged model reads raw text: parity with the trial's test accuracy, registry, predict."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import NEGATIVE, NEUTRAL, POSITIVE, run_sweep_file

from textsweep.errors import UserError
from textsweep.sweep.workers import free_port

MIXED = "okay fine average decent so-so".split()  # the cue words of a third, "mixed" class


def text(rng: random.Random, label: str) -> str:
    """Filler with cue words, in varied case and punctuation, so the tokenizer has work to do."""
    cue = {"pos": POSITIVE, "neg": NEGATIVE, "mixed": MIXED}[label]
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(5, 40))]
    for i in rng.sample(range(len(words)), min(3, len(words))):
        words[i] = rng.choice(cue).upper() if rng.random() < 0.2 else rng.choice(cue)
    words.append(rng.choice(["unseenword", "film's", "<br />", "zzz"]))
    return " ".join(words).capitalize() + rng.choice([".", "!", "?<br /><br />ok"])


def write_table(path: Path, labels: list[str], per_class: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = [(text(rng, label), label) for label in labels for _ in range(per_class)]
    rng.shuffle(rows)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return rows


def write_glove(path: Path, dim: int) -> Path:
    rng = np.random.default_rng(0)
    words = POSITIVE + NEGATIVE + NEUTRAL
    path.write_text("".join(f"{w} {' '.join(f'{x:.4f}' for x in rng.normal(size=dim))}\n"
                            for w in words), encoding="utf-8")  # fmt: skip
    return path


CASES = {
    "multihot_dense": ({"model": "multihot_dense"}, ["neg", "pos"]),
    "embedding_flatten": ({"model": "embedding_flatten", "maxlen": 24}, ["neg", "pos"]),
    "embedding_pool-3-classes": ({"model": "embedding_pool", "maxlen": 30}, ["mixed", "neg", "pos"]),
    "embedding_lstm-pretrained": (
        {"model": "embedding_lstm", "maxlen": 20, "lstm_units": 8, "embedding_dim": 8,
         "embedding_init": "pretrained", "embedding_trainable": False}, ["neg", "pos"]),
    "multihot_dense-bigram-tf_idf-3-classes": (
        {"model": "multihot_dense", "ngrams": 2, "bag_mode": "tf_idf"}, ["mixed", "neg", "pos"]),
    "multihot_dense-trigram-nb-linear": (
        {"model": "multihot_dense", "ngrams": 3, "bag_mode": "nb", "nb_alpha": 2.0,
         "dense_layers": 0}, ["neg", "pos"]),
}  # fmt: skip


def sweep_for(tmp: Path, values: dict[str, Any], labels: list[str], **extra: Any) -> dict[str, Any]:
    write_table(tmp / "train.csv", labels, per_class=40, seed=1)
    sweep: dict[str, Any] = {
        "name": "parity",
        "question": "Does the logged model read raw text as training did?",
        "dataset": {"format": "table", "path": str(tmp / "train.csv"),
                    "test_path": str(tmp / "test.csv"), "num_words": 40, "seed": 1},
        "search_space": {"hyperparameters": {k: {"type": "fixed", "value": v}
                                             for k, v in values.items()}},
        "tuner": {"algorithm": "random", "max_trials": 1},
        "training": {"epochs": 2, "batch_size": 16},
        **extra,
    }  # fmt: skip
    if values.get("embedding_init") == "pretrained":
        sweep["embeddings"] = {"path": str(write_glove(tmp / "glove.txt", 8)), "format": "glove"}
    return sweep


@pytest.mark.parametrize("case", list(CASES))
def test_logged_model_on_raw_test_texts_reproduces_test_accuracy(workdir: Path, case: str) -> None:
    from mlflow import MlflowClient

    from textsweep.export import load_best

    values, labels = CASES[case]
    test_rows = write_table(workdir / "test.csv", labels, per_class=30, seed=2)
    result, _ = run_sweep_file(workdir, sweep_for(workdir, values, labels))
    uri = result.tracking_uri
    model = load_best("parity", tracking_uri=uri)
    table = model.predict(pd.DataFrame({"text": [t for t, _ in test_rows]}))
    assert list(table.columns) == labels
    predicted = np.asarray(labels)[table.to_numpy().argmax(axis=1)]
    accuracy = float(np.mean(predicted == np.asarray([label for _, label in test_rows])))
    logged = MlflowClient(uri).get_run(result.best_run_id).data.metrics["test_accuracy"]
    assert abs(accuracy - logged) <= 0.002


def test_champion_version_carries_trial_objective_accuracy_and_question(workdir: Path) -> None:
    from mlflow import MlflowClient

    values, labels = CASES["multihot_dense"]
    write_table(workdir / "test.csv", labels, per_class=10, seed=2)
    result, _ = run_sweep_file(workdir, sweep_for(workdir, values, labels))
    version = MlflowClient(result.tracking_uri).get_model_version_by_alias("parity", "champion")
    expected = {
        "textsweep.trial_id": result.best_trial_id,
        "textsweep.objective": "val_accuracy",
        "textsweep.objective_value": f"{result.best_objective:.6g}",
        "textsweep.objective_n": str(result.best_n),
        "textsweep.test_accuracy": f"{result.best_test_accuracy:.6g}",
        "textsweep.question": "Does the logged model read raw text as training did?",
        "textsweep.parent_run_id": result.parent_run_id,
    }
    assert version.run_id == result.best_run_id
    assert {k: version.tags.get(k) for k in expected} == expected
    assert {"textsweep.evaluation", "textsweep.values", "textsweep.decided"} <= set(version.tags)


@pytest.mark.parametrize("mode, logged", [("all", 2), ("best", 1), ("none", 0)])
def test_log_models_setting_decides_which_trial_runs_hold_a_model(
    workdir: Path, mode: str, logged: int
) -> None:
    from mlflow import MlflowClient

    labels = ["neg", "pos"]
    write_table(workdir / "test.csv", labels, per_class=10, seed=2)
    sweep = sweep_for(workdir, {"model": "multihot_dense"}, labels)
    sweep["search_space"]["hyperparameters"]["dense_units"] = {"type": "choice", "values": [4, 8]}
    sweep["tuner"] = {"algorithm": "grid"}
    sweep["tracking"] = {"log_models": mode}
    result, _ = run_sweep_file(workdir, sweep)
    client = MlflowClient(result.tracking_uri)
    trials = client.search_runs([result.experiment_id], "tags.`textsweep.role` = 'trial'")
    with_model = [r for r in trials if "model" in {a.path for a in client.list_artifacts(r.info.run_id)}]
    assert (len(trials), len(with_model)) == (2, logged)
    if mode == "best":
        assert with_model[0].info.run_id == result.best_run_id
    registered = client.search_model_versions("name = 'parity'")
    assert len(registered) == (0 if mode == "none" else 1)


@pytest.mark.parametrize("model, message", [
    ("no-such-sweep", r"cannot use 'no-such-sweep' as a model: the Model Registry .* has no model "
                      r"'no-such-sweep' with alias @champion"),
    ("models:/x", r"cannot use 'models:/x' as a model: expected models:/<name>@<alias>"),
    ("runs:/", r"cannot use 'runs:/' as a model: a runs:/ URI needs a run id"),
])  # fmt: skip
def test_a_model_that_is_not_there_is_named_in_the_error(
    workdir: Path, model: str, message: str
) -> None:
    from mlflow import MlflowClient

    from textsweep.export import load_model

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # creates the store
    with pytest.raises(UserError, match=message):
        load_model(model, tracking_uri=uri)


def test_no_store_is_a_user_error(workdir: Path) -> None:
    from textsweep.export import load_model

    with pytest.raises(UserError, match=r"cannot use 'quickstart' as a model: there is no MLflow "
                                        r"store at mlruns/mlflow.db; run the sweep first"):  # fmt: skip
        load_model("quickstart")


def trained_parity_sweep(folder: Path) -> tuple[Path, Any]:
    """The multihot parity sweep, run: its file (tracking into folder/mlruns) and result."""
    values, labels = CASES["multihot_dense"]
    write_table(folder / "test.csv", labels, per_class=10, seed=2)
    result, _ = run_sweep_file(folder, sweep_for(folder, values, labels))
    return folder / "parity.yaml", result


def textsweep(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "textsweep", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_predict_labels_texts_from_arguments_and_stdin_without_the_dataset(workdir: Path) -> None:
    sweep_file, _ = trained_parity_sweep(workdir)
    (workdir / "train.csv").unlink()  # predicting must not read the dataset
    (workdir / "test.csv").unlink()
    (workdir / "texts.txt").write_text("awful boring waste\n", encoding="utf-8")
    out = textsweep("predict", str(sweep_file), "superb brilliant masterpiece", "--file",
                    str(workdir / "texts.txt"), "--json")  # fmt: skip
    rows = json.loads(out.stdout)
    assert [r["label"] for r in rows] == ["pos", "neg"], out.stderr
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-6 for r in rows)
    piped = textsweep("predict", "parity", "--tracking-uri", f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}",
                      stdin="superb brilliant masterpiece\nawful boring waste\n")  # fmt: skip
    assert [line.split("\t")[0] for line in piped.stdout.splitlines()] == ["pos", "neg"], piped.stderr
    # the model's folder is cached now: predicting again imports neither MLflow nor TensorFlow
    assert sorted((workdir / ".textsweep" / "models").glob("*/model/MLmodel"))
    probe = subprocess.run([sys.executable, "-c", HEAVY_PROBE, "predict", str(sweep_file), "a film"],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert probe.stdout.splitlines()[-1] == "heavy: []", probe.stdout + probe.stderr


HEAVY_PROBE = """
import sys
from textsweep.cli import main
main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "mlflow", "pandas"})
print("heavy:", heavy)
"""


def test_predict_with_a_model_that_is_not_there_exits_2_naming_it(workdir: Path) -> None:
    out = textsweep("predict", "models:/nothing@champion", "a film")
    assert out.returncode == 2
    assert re.search(r"cannot use 'models:/nothing@champion' as a model: there is no MLflow store",
                     out.stderr), out.stderr  # fmt: skip


@pytest.mark.slow
def test_the_readme_serve_recipe_answers_as_predict_does(workdir: Path) -> None:
    sweep_file, _ = trained_parity_sweep(workdir)
    # as the README prints it, `.venv/bin/textsweep serve ...`, from a shell whose PATH lacks the
    # virtual environment (MLflow's server starts `uvicorn` by name)
    script = Path(sys.executable).parent / "textsweep"
    assert script.is_file(), f"no textsweep script beside {sys.executable}"
    bin_dir = str(script.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != bin_dir)
    port = free_port()
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen([str(script), "serve", str(sweep_file), "--port", str(port)],
                              env={**os.environ, "PATH": path}, stdout=subprocess.PIPE,
                              stderr=log, text=True, start_new_session=True)  # fmt: skip
    texts = ["superb brilliant masterpiece", "awful boring waste"]
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("serving parity version 1 ("), line + (workdir / "serve.log").read_text()
        assert line.rstrip().endswith(f"on http://127.0.0.1:{port}/invocations (Ctrl-C to stop)")
        body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body.encode(),
                                         {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            served = json.loads(response.read())["predictions"]
    finally:
        server.terminate()  # textsweep serve ends the scoring server's process group
        try:
            server.wait(timeout=60)
        finally:
            stop_group(server)
            log.close()
    predicted = json.loads(textsweep("predict", str(sweep_file), *texts, "--json").stdout)
    for row, answer in zip(predicted, served, strict=True):
        assert answer == pytest.approx(row["probabilities"], abs=1e-6)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (gunicorn/uvicorn workers too), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue


def test_log_models_accepts_only_best_all_or_none() -> None:
    from textsweep.config import load_sweep

    with pytest.raises(UserError, match=r"quickstart.yaml: tracking.log_models: Input should be "
                                        r"'best', 'all' or 'none'; got 'sometimes'"):  # fmt: skip
        load_sweep(Path(__file__).parents[1] / "sweeps" / "quickstart.yaml",
                   ["tracking.log_models=sometimes"])  # fmt: skip


SPEC = {"tokenizer_version": 2, "vocabulary": ["", "[UNK]", "film", "great"], "labels": ["neg", "pos"]}


def test_raw_text_becomes_the_ids_training_used_alone_or_in_a_batch() -> None:
    from textsweep.export.preprocess import inputs_for

    sequence = {**SPEC, "input": "sequence", "maxlen": 4}
    assert inputs_for(["Great<br />film, GREAT cast!"], sequence).tolist() == [[3, 2, 3, 1]]
    from textsweep.features import bags, fit_bags
    from textsweep.vocabulary import Ragged

    train = Ragged.from_sequences([np.array([3, 2, 3]), np.array([2, 3]), np.array([1, 2])])
    spec = fit_bags(train, ngrams=2, bag_mode="tf_idf", width=6)
    bag = {**SPEC, "input": "bag", "bags": json.loads(spec.to_json())}
    alone = inputs_for(["great film"], bag)
    batch = inputs_for(["great film", "a great, great film with a cast"], bag)
    # the spec's n-gram vocabulary and idf weights, alone or among others: the rows training made
    assert alone.toarray().tolist() == bags([[3, 2]], spec).toarray().tolist()
    assert batch.toarray().tolist() == bags([[3, 2], [1, 3, 3, 2, 1, 1, 1]], spec).toarray().tolist()
    assert batch[0].toarray().tolist() == alone.toarray().tolist()


def test_nb_bags_of_raw_text_are_the_training_rows_and_score_the_same(tmp_path: Path) -> None:
    """predict's side (raw text -> preprocess.json -> bags -> model) against the trial's side
    (cached token ids -> TrialData's rows -> model): the same rows, the same outputs."""
    import keras
    import tensorflow as tf

    from textsweep.config import DatasetConfig
    from textsweep.export.preprocess import inputs_for, preprocess_spec
    from textsweep.models.feed import sparse_batches
    from textsweep.trialdata import TrialData
    from textsweep.vocabulary import encode

    labels = ["neg", "pos"]
    write_table(tmp_path / "train.csv", labels, per_class=30, seed=1)
    test_rows = write_table(tmp_path / "test.csv", labels, per_class=20, seed=2)
    cfg = DatasetConfig(format="table", path=str(tmp_path / "train.csv"),
                        test_path=str(tmp_path / "test.csv"), num_words=300, seed=1)  # fmt: skip
    encoded = encode(cfg, tmp_path / "cache")
    values = {"model": "multihot_dense", "ngrams": 3, "bag_mode": "nb", "nb_alpha": 2.0,
              "dense_layers": 0, "batch_size": 8}  # fmt: skip
    data = TrialData(encoded, cache=tmp_path / "cache")
    trained = data.inputs(values, 300)
    spec = json.loads(json.dumps(preprocess_spec(values, encoded, 300, tmp_path / "cache")))
    raw = inputs_for([t for t, _ in test_rows], spec)  # a CSR, as predict feeds it
    rows = [x for x, _ in trained.test["x"]]  # TrialData's test batches (tf.SparseTensor)
    seen = tf.sparse.to_dense(tf.sparse.concat(0, rows)).numpy()
    assert raw.shape == seen.shape and np.array_equal(raw.toarray(), seen)
    bag = keras.Input(shape=(300,), sparse=True)
    model = keras.Model(bag, keras.layers.Dense(1, activation="sigmoid")(bag))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(**trained.train, epochs=2, verbose=0)
    served = model.predict(sparse_batches(raw, np.zeros(raw.shape[0]), 256), verbose=0)
    np.testing.assert_array_equal(served, model.predict(trained.test["x"], verbose=0))


def test_a_model_from_another_tokenizer_version_is_refused() -> None:
    from textsweep.export.preprocess import inputs_for

    with pytest.raises(ValueError, match=r"trained with tokenizer version 1; this textsweep "
                                         r"tokenizes with version 2"):  # fmt: skip
        inputs_for(["a film"], {**SPEC, "tokenizer_version": 1, "input": "bag"})


FORWARD_CASES = {
    "multihot_dense": ({"model": "multihot_dense", "dropout": 0.1}, 3),
    "embedding_flatten": ({"model": "embedding_flatten", "maxlen": 12, "dense_layers": 1}, 2),
    "embedding_pool": ({"model": "embedding_pool", "maxlen": 12, "dropout": 0.2}, 2),
    "embedding_lstm": ({"model": "embedding_lstm", "maxlen": 12, "lstm_units": 5,
                        "spatial_dropout": 0.1, "dense_layers": 1}, 2),
    "embedding_lstm-bidirectional-2-layers": ({"model": "embedding_lstm", "maxlen": 12,
        "lstm_units": 4, "lstm_layers": 2, "bidirectional": True}, 3),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FORWARD_CASES))
def test_numpy_forward_pass_gives_what_keras_gives(tmp_path: Path, case: str) -> None:
    import scipy.sparse as sp

    from textsweep.export.forward import NumpyModel
    from textsweep.export.pyfunc import portable
    from textsweep.models import build_model, resolve
    from textsweep.models.registry import ModelInputs

    values, classes = FORWARD_CASES[case]
    model = portable(build_model(resolve(values, 16), ModelInputs(50, classes)))
    rng = np.random.default_rng(0)
    for weight in model.weights:  # away from the initial zeros and saturation
        weight.assign(rng.normal(scale=0.5, size=weight.shape).astype("float32"))
    model.save(tmp_path / "model.keras")
    network = NumpyModel.load(tmp_path / "model.keras")
    assert network is not None
    if values["model"] == "multihot_dense":
        bags = sp.random(7, 50, density=0.2, format="csr", dtype=np.float32, random_state=1)
        expected, got = model.predict(bags.toarray(), verbose=0), network.predict(bags)
    else:
        ids = rng.integers(0, 50, size=(7, 12)).astype("int32")
        ids[1, :6] = 0  # padding
        expected, got = model.predict(ids, verbose=0), network.predict(ids)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_numpy_forward_pass_leaves_a_layer_it_does_not_know_to_keras(tmp_path: Path) -> None:
    import keras

    from textsweep.export.forward import NumpyModel

    tokens = keras.Input(shape=(12,), dtype="int32")
    x = keras.layers.Embedding(50, 8)(tokens)
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(4, 3)(x))
    keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(x)).save(tmp_path / "m.keras")
    assert NumpyModel.load(tmp_path / "m.keras") is None


def test_a_moved_alias_is_seen_without_mlflow_and_as_mlflow_sees_it(workdir: Path) -> None:
    from mlflow import MlflowClient

    from textsweep.export.locate import locate_model, resolve_model

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.create_experiment("moves", artifact_location=str(workdir / "artifacts"))
    client.create_registered_model("moves")
    runs = []
    for _ in range(2):
        run = client.create_run(experiment)
        source = f"{run.info.artifact_uri}/model"
        client.create_model_version("moves", source, run_id=run.info.run_id)
        runs.append(run.info.run_id)
    for version, run_id in (("1", runs[0]), ("2", runs[1])):
        client.set_registered_model_alias("moves", "champion", version)
        for model in ("moves", "models:/moves@champion", f"models:/moves/{version}"):
            _, expected = resolve_model(model, uri)
            assert locate_model(model, uri) == (uri, expected)
            assert expected.run_id == run_id and expected.artifact_path == "model"
    with pytest.raises(UserError, match=r"the Model Registry at .* has no model 'moves' with "
                                        r"alias @nothing"):  # fmt: skip
        locate_model("models:/moves@nothing", uri)
