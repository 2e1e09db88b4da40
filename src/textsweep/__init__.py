"""textsweep: hyperparameter sweeps over Keras text classifiers, with Keras Tuner and MLflow.

    import textsweep
    results, parent_run_id = textsweep.run("sweeps/quickstart.yaml", max_trials=2)
    print(textsweep.report("sweeps/quickstart.yaml").answer_text())
    textsweep.load_best("sweeps/quickstart.yaml").predict(["a wonderful, moving film"])

`textsweep.report` is the function; the package that builds reports is `textsweep.reporting`
(a package of that name would replace the function once imported).
"""

from textsweep.api import load_best, report, run

__version__ = "0.1.0"
__all__ = ["__version__", "load_best", "report", "run"]
