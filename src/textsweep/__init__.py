"""textsweep: hyperparameter sweeps over Keras text classifiers, with Keras Tuner and MLflow.

    import textsweep
    results, parent_run_id = textsweep.run("sweeps/quickstart.yaml", max_trials=2)
    print(textsweep.report("sweeps/quickstart.yaml").answer_text())
    textsweep.load_best("sweeps/quickstart.yaml").predict(["a wonderful, moving film"])
"""

import sys
import types

from textsweep.api import load_best, report, run

__version__ = "0.1.0"
__all__ = ["__version__", "load_best", "report", "run"]


class _Package(types.ModuleType):
    """Keeps `textsweep.report` the API function once the `textsweep.report` package is imported.

    Importing a submodule sets it as an attribute of its parent package, which would replace the
    function after the first report (or sweep, which writes the answer); the subpackage stays
    importable by its full name (`from textsweep.report import ...`).
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
