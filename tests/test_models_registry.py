"""The family registry: what reads it (validation, README), and a user family from a sweep file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from textsweep.config import load_sweep
from textsweep.errors import UserError
from textsweep.models import families, families_table, get

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
BUILT_IN = ("multihot_dense", "embedding_flatten", "embedding_pool", "embedding_lstm")


def example_module() -> str:
    """The README's `embedding_cnn` example, exactly as documented."""
    part = README.split("<!-- example: embedding_cnn -->", 1)[1]
    found = re.search(r"```python\n(.*?)```", part, re.DOTALL)
    assert found is not None
    return found.group(1)


def write_sweep(folder: Path, body: dict) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "cnn", **body}), encoding="utf-8")
    return path


def test_readme_table_is_the_registry() -> None:
    start = README.index("<!-- families-table")
    block = README[README.index("\n", start) + 1 : README.index("<!-- /families-table -->")]
    assert block == families_table([get(name) for name in BUILT_IN])


def test_validation_accepts_only_registered_families(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"search_space": {"hyperparameters": {
        "model": {"type": "fixed", "value": "embedding_cnn2"}}}})  # fmt: skip
    with pytest.raises(
        UserError, match=r"model must be one of \['multihot_dense', .*embedding_lstm"
    ):
        load_sweep(path)


def test_a_family_module_that_fails_to_import_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "broken_families.py").write_text("raise RuntimeError('boom')\n")
    path = write_sweep(tmp_path, {"families": ["broken_families"], "search_space": {
        "hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"}}}})  # fmt: skip
    with pytest.raises(UserError, match=r"sweep\.yaml: families: cannot import module "
                       r"'broken_families' \(RuntimeError: boom\)"):  # fmt: skip
        load_sweep(path)


def test_new_hyperparameter_names_need_the_family_that_brings_them(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"search_space": {"hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "kernel_size_x": {"type": "fixed", "value": 3}}}})  # fmt: skip
    with pytest.raises(UserError, match=r"unknown hyperparameter `kernel_size_x`.*`families:`"):
        load_sweep(path)


@pytest.mark.slow
def test_user_family_from_the_readme_runs_end_to_end(
    tmp_path: Path, workdir: Path, tiny_imdb: Path
) -> None:
    from conftest import run_sweep_file
    from mlflow import MlflowClient

    (workdir / "my_families.py").write_text(example_module(), encoding="utf-8")
    result, parent = run_sweep_file(workdir, {
        "name": "cnn",
        "families": ["my_families"],
        "dataset": {"format": "imdb", "path": str(tiny_imdb), "num_words": 100, "seed": 1},
        "search_space": {"hyperparameters": {
            "model": {"type": "fixed", "value": "embedding_cnn"},
            "maxlen": {"type": "fixed", "value": 24},
            "embedding_dim": {"type": "fixed", "value": 8},
            "filters": {"type": "choice", "values": [4, 8]},
            "kernel_size": {"type": "fixed", "value": 3},
        }},
        "tuner": {"algorithm": "grid", "seed": 1},
        "training": {"epochs": 1, "batch_size": 16},
    })  # fmt: skip
    assert "embedding_cnn" in [f.name for f in families()]
    client = MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    trials = client.search_runs(
        [parent.info.experiment_id], "tags.`textsweep.role` = 'trial'", max_results=10
    )
    assert sorted(t.data.params["filters"] for t in trials) == ["4", "8"]
    assert {t.data.params["kernel_size"] for t in trials} == {"3"}
    assert all(t.info.status == "FINISHED" for t in trials)


def test_families_command_lists_a_sweeps_own_family_with_its_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from textsweep.cli import main

    (tmp_path / "readme_families.py").write_text(example_module(), encoding="utf-8")
    path = write_sweep(tmp_path, {"families": ["readme_families"], "search_space": {
        "hyperparameters": {"model": {"type": "fixed", "value": "embedding_cnn"}}}})  # fmt: skip
    assert main(["families", str(path)]) == 0
    listed = capsys.readouterr().out
    assert "embedding_cnn  [sequences (maxlen)]" in listed
    assert "    filters = 64\n    kernel_size = 5\n" in listed


def _textsweep_isolated(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -P -m textsweep`: -P keeps Python itself from putting the working directory first
    on sys.path, as the installed `textsweep` script does, so only textsweep's own import counts."""
    return subprocess.run([sys.executable, "-P", "-m", "textsweep", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


SHADOW = "raise SystemExit('the keras_tuner.py beside the sweep ran instead of Keras Tuner')\n"


def test_families_modules_never_shadow_installed_packages(tmp_path: Path) -> None:
    """Issue 24 case 2: a keras_tuner.py beside the sweep and in the working directory is not
    imported; the module named in `families:` is, from the sweep's folder."""
    folder, cwd = tmp_path / "sweeps", tmp_path / "work"
    folder.mkdir()
    cwd.mkdir()
    for where in (folder, cwd):
        (where / "keras_tuner.py").write_text(SHADOW, encoding="utf-8")
    (folder / "my_families.py").write_text(
        "import keras_tuner\nassert hasattr(keras_tuner, 'RandomSearch')\n" + example_module(),
        encoding="utf-8",
    )
    path = write_sweep(folder, {"families": ["my_families"], "search_space": {
        "hyperparameters": {"model": {"type": "fixed", "value": "embedding_cnn"}}}})  # fmt: skip
    done = _textsweep_isolated(cwd, "validate", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sweep 'cnn'" in done.stdout


def test_a_families_module_named_like_an_installed_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keras_tuner.py").write_text(SHADOW, encoding="utf-8")
    path = write_sweep(tmp_path, {"families": ["keras_tuner"], "search_space": {
        "hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"}}}})  # fmt: skip
    with pytest.raises(UserError, match=r"sweep\.yaml: families: module 'keras_tuner' beside the "
                       r"sweep file \(.*keras_tuner\.py\) has the name of an installed module"):  # fmt: skip
        load_sweep(path)


def test_a_families_module_that_registers_nothing_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "no_families_here.py").write_text("X = 1\n", encoding="utf-8")
    path = write_sweep(tmp_path, {"families": ["no_families_here"], "search_space": {
        "hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"}}}})  # fmt: skip
    done = _textsweep_isolated(tmp_path, "validate", str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(r"error: .*sweep\.yaml: families: module 'no_families_here' \(.*"
                     r"no_families_here\.py\) registers no model family", done.stderr)  # fmt: skip
    with pytest.raises(UserError, match=r"families: module 'json' \(.*json.*\) registers no "):
        load_sweep(write_sweep(tmp_path, {"families": ["json"], "search_space": {
            "hyperparameters": {"model": {"type": "fixed", "value": "multihot_dense"}}}}))  # fmt: skip


def test_a_families_package_beside_the_sweep_is_loaded_from_there(tmp_path: Path) -> None:
    package = tmp_path / "team_models"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "cnn.py").write_text(example_module().replace('"embedding_cnn"', '"team_cnn"'),
                                    encoding="utf-8")  # fmt: skip
    path = write_sweep(tmp_path, {"families": ["team_models.cnn"], "search_space": {
        "hyperparameters": {"model": {"type": "fixed", "value": "team_cnn"}}}})  # fmt: skip
    load_sweep(path)
    assert "team_cnn" in [f.name for f in families()]
    assert str(tmp_path) not in sys.path
