"""textsweep: hyperparameter sweeps over Keras text classifiers, with Keras Tuner and MLflow.

    import textsweep
    results, parent_run_id = textsweep.run("sweeps/quickstart.yaml", max_trials=2)
    print(textsweep.report("sweeps/quickstart.yaml").answer_text())
"""

# The `report` subpackage is loaded before the `report` function is bound: importing a
# submodule later would rebind the package attribute `textsweep.report` to the module.
import textsweep.report as _report_package  # noqa: F401
from textsweep.api import report, run

__version__ = "0.1.0"
__all__ = ["__version__", "report", "run"]
