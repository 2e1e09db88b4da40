"""The winner as a model you can use: raw text in, class probabilities out, in MLflow.

    textsweep.load_best("sweeps/quickstart.yaml").predict(["a fine film"])

- `preprocess`: raw text to a model's inputs, exactly as in training (`inputs_for`).
- `pyfunc`: the MLflow pyfunc model (Keras model + `preprocess.json`), its signature.
- `keeper`: the trial loop's side (`tracking.log_models: best | all | none`).
- `registry`: logging, the Model Registry's `champion`, loading and `predict`.

Light at import: MLflow and Keras are imported by the functions that use them.
"""

from textsweep.export.registry import BestModel, Prediction, load_best, load_model, predict

__all__ = ["BestModel", "Prediction", "load_best", "load_model", "predict"]
