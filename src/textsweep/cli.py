"""The `textsweep` command: a thin shell over the library; user errors become exit code 2.

Heavy libraries (TensorFlow, Keras Tuner, MLflow, gensim) are imported only by the subcommands
that need them, so `textsweep --help` and `textsweep validate` answer at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from textsweep import __version__
from textsweep.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_SWEEP_FAILED, SweepFailed, UserError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1; got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textsweep",
        description="Hyperparameter sweeps over Keras text classifiers: Keras Tuner drives the "
        "trials, MLflow records them, `report` answers the sweep's question.",
    )
    parser.add_argument("--version", action="version", version=f"textsweep {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a sweep", description="Run a sweep file to the end.")
    run.add_argument("sweep", help="a sweep YAML file, e.g. sweeps/quickstart.yaml")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a dotted key of the sweep file (repeatable)")  # fmt: skip
    run.add_argument("--max-trials", type=_positive, help="same as --set tuner.max_trials=N")
    run.add_argument("--epochs", type=_positive, help="same as --set training.epochs=N")
    run.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default sqlite:///mlruns/mlflow.db)"
    )
    again = run.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue the last unfinished execution"
    )
    again.add_argument(
        "--fresh",
        action="store_true",
        help="start a new execution even if an unfinished one exists (it is marked abandoned)",
    )
    again.add_argument(
        "--more",
        type=_positive,
        metavar="K",
        help="train every finished trial of the last finished execution K more times (new "
        "seeds); the report pools them",
    )
    run.add_argument(
        "--workers", type=_positive, help="run N local Keras Tuner workers and a chief"
    )

    validate = sub.add_parser(
        "validate", help="check sweep and search-space files without training"
    )
    validate.add_argument("sweeps", nargs="+", help="sweep YAML files")
    validate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE"
    )

    report = sub.add_parser("report", help="answer a sweep's question from what MLflow holds")
    report.add_argument("sweep", help="a sweep YAML file or a sweep name")
    report.add_argument("--tracking-uri", help="MLflow tracking URI")
    report.add_argument("--out", type=Path, help="folder for report.md/.html/.json")

    embeddings = sub.add_parser("embeddings", help="word vectors for pretrained embeddings")
    embeddings_sub = embeddings.add_subparsers(
        dest="embeddings_command", metavar="COMMAND", required=True
    )
    train = embeddings_sub.add_parser(
        "train",
        help="train word2vec on a sweep dataset's training (+ unlabeled) text",
        description="Train word2vec with gensim on the sweep dataset's training split (for IMDB "
        "also the 50,000 unlabeled reviews), never its test split; writes word2vec text and "
        "OUT.json, a record of how it was made.",
    )
    train.add_argument("sweep", help="a sweep YAML file; its dataset and embeddings.train options")
    train.add_argument("--out", type=Path, required=True, help="vectors file (word2vec text)")
    train.add_argument("--dim", type=_positive, help="vector dimension (default 100)")
    train.add_argument("--window", type=_positive, help="context window (default 5)")
    train.add_argument("--min-count", type=_positive, help="ignore rarer words (default 2)")
    train.add_argument("--epochs", type=_positive, help="passes over the corpus (default 5)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    data = sub.add_parser("data", help="look at a dataset before sweeping over it")
    data_sub = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    describe = data_sub.add_parser(
        "describe",
        help="sizes, classes, balance, token lengths and vocabulary coverage",
        description="Describe a dataset as a sweep would see it: sizes per split (validation "
        "included), classes and balance, token-length percentiles (to choose maxlen), vocabulary "
        "size and token coverage at several num_words.",
    )
    describe.add_argument(
        "spec", help="a sweep YAML file, `imdb`, or a data file or folder (format inferred)"
    )
    describe.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="KEY=VALUE", help="a dataset key, e.g. label_column=topic")  # fmt: skip
    for flag in ("format", "text-column", "label-column", "test-path", "limit", "num-words"):
        describe.add_argument(f"--{flag}", help=f"same as --set {flag.replace('-', '_')}=VALUE")

    predict = sub.add_parser(
        "predict",
        help="label raw texts with a sweep's champion model or any MLflow model URI",
        description="Label raw texts with a logged textsweep model: MODEL is a sweep file or "
        "name (its models:/<sweep>@champion), or a models:/ or runs:/ URI. Texts come from the "
        "arguments, --file (one per line), or stdin (one per line). The dataset is not read.",
    )
    predict.add_argument(
        "model", metavar="MODEL", help="sweep file or name, models:/ or runs:/ URI"
    )
    predict.add_argument("texts", metavar="TEXT", nargs="*", help="texts to label")
    predict.add_argument("--file", type=Path, help="a file of texts, one per line")
    predict.add_argument("--json", action="store_true", help="a JSON list, one object per text")
    predict.add_argument("--tracking-uri", help="MLflow tracking URI")

    ui = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the tracking store")
    ui.add_argument("--port", type=_positive, default=5000)
    ui.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default sqlite:///mlruns/mlflow.db)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code = _main(args)
    if argv is None and args.command == "run" and "tensorflow" in sys.modules:
        # TensorFlow's teardown at interpreter exit takes seconds, and after Ctrl-C or SIGTERM
        # the process must end promptly; every run and file is written and closed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(args: argparse.Namespace) -> int:
    try:
        return _dispatch(args)
    except UserError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SweepFailed as e:
        if args.verbose:
            traceback.print_exc()
        print(f"sweep failed: {e}", file=sys.stderr)
        return EXIT_SWEEP_FAILED
    except KeyboardInterrupt as e:
        signum = int(getattr(e, "signum", signal.SIGINT))
        hint = ""
        if args.command == "run":
            hint = "; to continue the sweep, run the same command with --resume"
        print(f"interrupted ({signal.Signals(signum).name}){hint}", file=sys.stderr)
        return 128 + signum


def _dispatch(args: argparse.Namespace) -> int:
    handlers = {"run": _run, "validate": _validate, "report": _report, "ui": _ui}
    handlers["embeddings"] = _embeddings_train
    handlers["data"] = _data_describe
    handlers["predict"] = _predict
    return handlers[args.command](args)


def _run(args: argparse.Namespace) -> int:
    from textsweep.api import check_inputs, run_overrides
    from textsweep.config import load_sweep
    from textsweep.sweep import run_sweep

    overrides = run_overrides(args.overrides, args.max_trials, args.epochs)
    sweep = load_sweep(args.sweep, overrides)
    check_inputs(sweep)
    if args.more:
        if args.workers:
            raise UserError("--more runs in one process; leave out --workers", source="--more")
        from textsweep.sweep.more import add_executions

        add_executions(sweep, args.more, tracking_uri=args.tracking_uri)
        return EXIT_OK
    run_sweep(
        sweep,
        tracking_uri=args.tracking_uri,
        resume=args.resume,
        fresh=args.fresh,
        workers_count=args.workers or 0,
        sweep_arg=args.sweep,
        overrides=overrides,
    )
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from textsweep.api import check_inputs
    from textsweep.config import load_sweep
    from textsweep.search_space import describe_spec
    from textsweep.sweep.budget import planned_trials

    for path in args.sweeps:
        sweep = load_sweep(path, args.overrides)
        check_inputs(sweep)
        c = sweep.config
        print(f"{path}: ok — sweep {sweep.name!r}")
        if c.question:
            print(f"  question: {c.question}")
        where = sweep.space_path or "inline"
        print(f"  search space ({where}):")
        for name in sweep.space.ordered_names():
            print(f"    {name}: {describe_spec(sweep.space.hyperparameters[name])}")
        n = planned_trials(sweep)
        what = "grid trials" if c.tuner.algorithm == "grid" else "trials"
        print(
            f"  tuner: {c.tuner.algorithm}, {n} {what} x {c.tuner.executions_per_trial} execution(s)"
        )
        if c.tuner.algorithm == "grid":
            print(f"  grid size: {sweep.space.grid_size()}")
        print(f"  tracking: {sweep.tracking_uri()}  experiment {sweep.experiment!r}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from textsweep.api import report

    rep = report(args.sweep, tracking_uri=args.tracking_uri, out=args.out)
    print(rep.answer_text())
    return EXIT_OK


def _embeddings_train(args: argparse.Namespace) -> int:
    from textsweep.config import load_sweep
    from textsweep.embeddings import sidecar_path, train_for_sweep

    sweep = load_sweep(args.sweep, args.overrides)
    out = train_for_sweep(
        sweep,
        args.out,
        progress=lambda line: print(line, flush=True),
        dim=args.dim,
        window=args.window,
        min_count=args.min_count,
        epochs=args.epochs,
    )
    print(f"wrote {out} (how it was made: {sidecar_path(out)}); use it in a sweep with "
          f"`embeddings: {{path: {out}}}`")  # fmt: skip
    return EXIT_OK


def _data_describe(args: argparse.Namespace) -> int:
    from textsweep.data.describe import dataset_from_spec, describe, format_description

    overrides = list(args.overrides)
    for key in ("format", "text_column", "label_column", "test_path", "limit", "num_words"):
        if getattr(args, key) is not None:
            overrides.append(f"{key}={getattr(args, key)}")
    cfg, source = dataset_from_spec(args.spec, overrides)
    print(format_description(describe(cfg, source)))
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from textsweep.export import load_model, predict
    from textsweep.runtime import configure_tensorflow

    texts = list(args.texts)
    if args.file is not None:
        try:
            texts += args.file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise UserError(f"cannot read {args.file}: {e.strerror}", source="--file") from None
    if not texts and args.file is None:
        texts = sys.stdin.read().splitlines()
    if not texts:
        raise UserError("no text to label; pass TEXT arguments, --file or lines on stdin",
                        source="TEXT")  # fmt: skip
    configure_tensorflow()
    rows = predict(load_model(args.model, args.tracking_uri), texts)
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=1))
        return EXIT_OK
    for row in rows:
        print(f"{row.label}\t{row.probability:.3f}\t{row.text}")
    return EXIT_OK


def _ui(args: argparse.Namespace) -> int:
    from textsweep.config import DEFAULT_TRACKING_URI
    from textsweep.tracking import sqlite_path

    uri = args.tracking_uri or DEFAULT_TRACKING_URI
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise UserError(
            f"no tracking store at {db}; run a sweep first (textsweep run sweeps/quickstart.yaml)",
            source="--tracking-uri",
        )
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(args.port)]  # fmt: skip
    print(f"MLflow UI on http://127.0.0.1:{args.port} over {uri} (Ctrl-C to stop)", flush=True)
    env = dict(os.environ)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return EXIT_OK
