"""Bytes a sweep's artifacts grow by with `tracking.log_models: best`: one logged model per execution.

With `best`, only the execution's best trial logs a model, so the growth does not depend on the
number of trials: it is the size of the model that wins. This writes the logged model (the same
`export.pyfunc.save_model` the sweep uses) for every model the quickstart space can pick, with the
quickstart's real vocabulary, and prints each size.

    TEXTSWEEP_DATA_DIR=../shared/data python benchmarks/model_size.py   # after the quickstart run
"""

import tempfile
from pathlib import Path

from textsweep.config import load_sweep
from textsweep.export.preprocess import preprocess_spec
from textsweep.export.pyfunc import save_model
from textsweep.models import ModelInputs, build_model, resolve
from textsweep.runtime import configure_tensorflow, home_dir
from textsweep.vocabulary import encode


def main() -> None:
    configure_tensorflow(1, 1)
    sweep = load_sweep("sweeps/quickstart.yaml")
    encoded = encode(sweep.config.dataset, home_dir() / "cache", source="sweeps/quickstart.yaml")
    num_words = sweep.config.dataset.num_words
    combos = [{"model": "multihot_dense", "dense_units": u} for u in (16, 32)] + [
        {"model": "embedding_pool", "maxlen": 200, "embedding_dim": d, "dense_units": u}
        for d in (32, 64)
        for u in (16, 32)
    ]
    for combo in combos:
        values = resolve({**combo, "dropout": 0.0, "learning_rate": 0.001}, 64)
        model = build_model(values, ModelInputs(num_words, encoded.num_classes))
        out = Path(tempfile.mkdtemp()) / "model"
        save_model(model, preprocess_spec(values, encoded, num_words), out)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        keras_size = (out / "artifacts" / "model.keras").stat().st_size
        print(f"{combo}: {size / 1e6:.2f} MB (model.keras {keras_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
