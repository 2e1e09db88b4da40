"""textsweep: hyperparameter sweeps over Keras text classifiers, with Keras Tuner and MLflow."""

__version__ = "0.1.0"
