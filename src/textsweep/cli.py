"""The `textsweep` command: a thin shell over the library; user errors become exit code 2.

Heavy libraries (TensorFlow, Keras Tuner, MLflow, gensim) are imported only by the subcommands
that need them, so `textsweep --help` and `textsweep validate` answer at once.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from textsweep import __version__
from textsweep.credentials import mask_text
from textsweep.errors import EXIT_BAD_INPUT, EXIT_SWEEP_FAILED, SweepFailed, UserError


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
    # --verbose is also accepted after the subcommand; absent there, it leaves the global one alone
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks for errors",
    )
    sub = _Subcommands(
        parser.add_subparsers(dest="command", metavar="COMMAND", required=True), common
    )

    run = sub.add_parser("run", help="run a sweep", description="Run a sweep file to the end.")
    run.add_argument("sweep", help="a sweep YAML file, e.g. sweeps/quickstart.yaml")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted key of the sweep file (repeatable)",
    )
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
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted key of the sweep files",
    )

    families = sub.add_parser(
        "families",
        help="list the model families, the hyperparameters each reads and their defaults",
    )
    families.add_argument(
        "sweep", nargs="?", help="a sweep file whose `families:` modules to list too"
    )

    report = sub.add_parser("report", help="answer a sweep's question from what MLflow holds")
    report.add_argument("sweep", help="a sweep YAML file or a sweep name")
    report.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default: the sweep's, else the project store)"
    )
    report.add_argument("--out", type=Path, help="folder for report.md/.html/.json")
    report.add_argument(
        "--run-id",
        help="the sweep execution (parent run) to report on; default the latest finished one",
    )
    report.add_argument(
        "--pool",
        action="store_true",
        help="pool every finished execution of the same sweep definition (same config hash)",
    )

    embeddings = sub.add_parser("embeddings", help="word vectors for pretrained embeddings")
    embeddings_sub = _Subcommands(
        embeddings.add_subparsers(dest="embeddings_command", metavar="COMMAND", required=True),
        common,
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
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted key of the sweep file",
    )

    data = sub.add_parser("data", help="look at a dataset before sweeping over it")
    data_sub = _Subcommands(
        data.add_subparsers(dest="data_command", metavar="COMMAND", required=True), common
    )
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
    describe.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dataset key, e.g. label_column=topic",
    )
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

    serve = sub.add_parser(
        "serve",
        help="serve a sweep's champion (or any model URI) with MLflow's scoring server",
        description="Start `mlflow models serve --env-manager local` on 127.0.0.1 for MODEL (a "
        "sweep file or name: its models:/<sweep>@champion; or a models:/ or runs:/ URI), from "
        "this environment (its bin/ on PATH). POST texts to /invocations; Ctrl-C stops it.",
    )
    serve.add_argument("model", metavar="MODEL", help="sweep file or name, models:/ or runs:/ URI")
    serve.add_argument(
        "--port", type=_positive, default=5001, help="port on 127.0.0.1 (default 5001)"
    )
    serve.add_argument("--tracking-uri", help="MLflow tracking URI")

    promote = sub.add_parser(
        "promote",
        help="make a registered model version the sweep's champion on purpose",
        description="Move the alias @champion to models:/NAME/VERSION (the version a run "
        "registered without it, as its closing lines say).",
    )
    promote.add_argument("model", metavar="MODEL", help="models:/<name>/<version>")
    promote.add_argument("--tracking-uri", help="MLflow tracking URI")

    ui = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the tracking store")
    ui.add_argument("--port", type=_positive, default=5000, help="port on 127.0.0.1 (default 5000)")
    ui.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default sqlite:///mlruns/mlflow.db)"
    )
    return parser


class _Subcommands:
    """`add_parser` that gives every subcommand the common options (`--verbose`)."""

    def __init__(self, action: argparse._SubParsersAction, common: argparse.ArgumentParser):
        self.action, self.common = action, common

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        kwargs["parents"] = [self.common]
        parser: argparse.ArgumentParser = self.action.add_parser(name, **kwargs)  # type: ignore[arg-type]
        return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # TensorFlow's C++ start-up lines (oneDNN, CPU features, absl) go to fd 2 as soon as any
    # path imports it, which can be before `runtime.configure_tensorflow` (e.g. a download)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = _main(args)
    if argv is None and (
        (args.command == "run" and "tensorflow" in sys.modules) or args.command in ("ui", "serve")
    ):
        # TensorFlow's teardown at interpreter exit takes seconds, and after Ctrl-C or SIGTERM
        # the process must end promptly; every run and file is written and closed by now, and
        # `ui`/`serve` have ended their server's process group (a teardown of MLflow's modules
        # after a stop has held a `ui` past a minute on a loaded machine).
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
        print(f"error: {mask_text(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SweepFailed as e:
        if args.verbose:
            traceback.print_exc()
        print(f"sweep failed: {mask_text(str(e))}", file=sys.stderr)
        return EXIT_SWEEP_FAILED
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            return _store_error(e, args)
        if args.verbose:
            traceback.print_exc()
        print(
            f"error: {e.filename}: cannot write here ({e.strerror}); textsweep writes its cache "
            "and tuner state under $TEXTSWEEP_HOME (default .textsweep/), the tracking store "
            "where --tracking-uri points, and reports under --out: point them at folders you "
            "can write to",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Exception as e:  # a store that failed under MLflow's own client (report, predict)
        return _store_error(e, args)
    except KeyboardInterrupt as e:
        signum = int(getattr(e, "signum", signal.SIGINT))
        hint = ""
        if args.command == "run":
            hint = "; to continue the sweep, run the same command with --resume"
        print(f"interrupted ({signal.Signals(signum).name}){hint}", file=sys.stderr)
        return 128 + signum


def _store_error(error: Exception, args: argparse.Namespace) -> int:
    """Exit 2 with one message when `error` says the tracking store is damaged, deleted, full or
    read-only (`tracking.failures`); any other error is raised again, with its traceback."""
    from textsweep.tracking.failures import store_failure

    failure = store_failure(error)
    if failure is None:
        raise error
    if args.verbose:
        traceback.print_exc()
    print(f"error: {mask_text(str(failure))}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _dispatch(args: argparse.Namespace) -> int:
    from textsweep import commands

    handlers = {
        "run": commands.run,
        "validate": commands.validate,
        "report": commands.report,
        "ui": commands.ui,
        "embeddings": commands.embeddings_train,
        "data": commands.data_describe,
        "families": commands.families,
        "predict": commands.predict,
        "serve": commands.serve,
        "promote": commands.promote,
    }
    return handlers[args.command](args)
