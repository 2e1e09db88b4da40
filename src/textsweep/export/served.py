"""The file MLflow copies into a logged model ("models from code") and runs when it loads it.

Never imported by textsweep itself: running it registers the model with MLflow.
"""

import mlflow

from textsweep.export.pyfunc import TextModel

mlflow.models.set_model(TextModel())
