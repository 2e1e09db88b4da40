"""Running a sweep: the life of an execution (`execution`), written once for one process and
for Keras Tuner's chief and workers (`workers`).

    from textsweep.sweep import run_sweep
    result = run_sweep(load_sweep("sweeps/quickstart.yaml"))

Modules: `execution` (plan, data, parent run, trials, close), `state` (resume and locks),
`parent` (the parent run and the result), `tuner` (the tracked Keras Tuner tuner),
`hypermodel` (model inputs, build and fit, callbacks), `ktcompat` (Keras Tuner private-API
patches), `workers` (chief/worker roles and local launching), `budget` (trial counts),
`progress` (the terminal), `interrupts` (signals). `tuner` and `hypermodel` import Keras.
"""

from textsweep.sweep.execution import run_sweep
from textsweep.sweep.parent import SweepResult

__all__ = ["SweepResult", "run_sweep"]
