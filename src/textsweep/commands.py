"""The subcommands behind `textsweep`: each takes argparse's namespace and returns an exit code.

`cli` parses and turns errors into exit codes; these functions call the library. Heavy
libraries are imported inside each, so `textsweep --help` and `validate` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from textsweep.credentials import mask
from textsweep.errors import EXIT_OK, UserError

if TYPE_CHECKING:
    from textsweep.search_space import SearchSpace


def run(args: argparse.Namespace) -> int:
    from textsweep.api import check_inputs, run_overrides
    from textsweep.config import load_sweep
    from textsweep.sweep import run_sweep

    overrides = run_overrides(args.overrides, args.max_trials, args.epochs)
    sweep = load_sweep(args.sweep, overrides)
    check_inputs(sweep, args.tracking_uri)
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


def validate(args: argparse.Namespace) -> int:
    from textsweep import tuners
    from textsweep.api import check_inputs
    from textsweep.config import load_sweep
    from textsweep.search_space import describe_spec
    from textsweep.search_space.schema import GRID_COUNT_CAP
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
        for line in family_lines(sweep.space):
            print(f"  {line}")
        algorithm = tuners.of(c.tuner)
        n: int | str | None = planned_trials(sweep)
        if isinstance(n, int) and n >= GRID_COUNT_CAP and algorithm.enumerates:
            n = f"at least {GRID_COUNT_CAP:,}"  # the grid's count stopped at the cap
        what = "grid trials" if algorithm.enumerates else "trials"
        print(
            f"  tuner: {c.tuner.algorithm}, {n} {what} x {c.tuner.executions_per_trial} execution(s)"
        )
        for line in algorithm.lines(sweep):
            print(f"  {line}")
        _warn_unused(sweep)
        print(f"  tracking: {mask(sweep.tracking_uri())}  experiment {sweep.experiment!r}")
    return EXIT_OK


def _warn_unused(sweep: Any) -> None:
    """Warn about hyperparameters without `when:` that some families ignore."""
    from textsweep import tuners
    from textsweep.search_space.usage import distinct_models, ignored_by, when_hint

    ignored = ignored_by(sweep.space)
    for name, families in ignored.items():
        print(
            f"  warning: {name} has no `when:`, and {' and '.join(families)} never reads it; "
            f"add `{when_hint(sweep.space, name)}` to it"
        )
    if ignored and tuners.of(sweep.config.tuner).enumerates:
        n = distinct_models(sweep.space, sweep.config.training.batch_size)
        if n is not None:
            print(f"  distinct models: {n} (the other grid trials repeat one of them)")


def family_lines(space: SearchSpace) -> list[str]:
    """For each family a space can pick: the names it reads that the space leaves at their default."""
    from textsweep.models import get

    model = space.hyperparameters["model"]
    lines = []
    for name in model.candidates() or []:
        left = {k: v for k, v in get(str(name)).defaults.items() if k not in space.hyperparameters}
        defaults = ", ".join(f"{k}={v}" for k, v in left.items()) or "none"
        lines.append(f"family {name}: defaults used: {defaults}")
    return lines


def families(args: argparse.Namespace) -> int:
    from textsweep.models import families

    if args.sweep:
        from textsweep.config import load_sweep

        load_sweep(args.sweep)  # imports its `families:` modules

    for family in families():
        reads = "sequences (maxlen)" if family.sequences else "bags of tokens"
        print(f"{family.name}  [{reads}]  {family.layers}")
        for name, default in family.defaults.items():
            print(f"    {name} = {default!r}")
    return EXIT_OK


def report(args: argparse.Namespace) -> int:
    from textsweep.api import report as answer

    rep = answer(
        args.sweep,
        tracking_uri=args.tracking_uri,
        out=args.out,
        run_id=args.run_id,
        pool=args.pool,
    )
    print(rep.answer_text())
    return EXIT_OK


def embeddings_train(args: argparse.Namespace) -> int:
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
    print(
        f"wrote {out} (how it was made: {sidecar_path(out)}); use it in a sweep with "
        f"`embeddings: {{path: {out}}}`"
    )
    return EXIT_OK


def data_describe(args: argparse.Namespace) -> int:
    from textsweep.data.describe import dataset_from_spec, describe, format_description

    overrides = list(args.overrides)
    for key in ("format", "text_column", "label_column", "test_path", "limit", "num_words"):
        if getattr(args, key) is not None:
            overrides.append(f"{key}={getattr(args, key)}")
    cfg, source = dataset_from_spec(args.spec, overrides)
    print(format_description(describe(cfg, source)))
    return EXIT_OK


def predict(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from textsweep.export.registry import predict_texts

    texts = list(args.texts)
    if args.file is not None:
        try:
            raw = args.file.read_bytes()
        except OSError as e:
            raise UserError(f"cannot read {args.file}: {e.strerror}", source="--file") from None
        texts += _lines(raw, f"--file {args.file}")
    if not texts and args.file is None:
        texts = _lines(sys.stdin.buffer.read(), "stdin")
    if not texts:
        raise UserError(
            "no text to label; pass TEXT arguments, --file or lines on stdin", source="TEXT"
        )
    empty = [i + 1 for i, text in enumerate(texts) if not text.strip()]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
        print(
            f"warning: {len(empty)} empty text(s) (number {shown}); a model given no words "
            "still answers a label, which says nothing about a text",
            file=sys.stderr,
        )
    rows = predict_texts(args.model, texts, args.tracking_uri)
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=1))
        return EXIT_OK
    for row in rows:
        print(f"{tsv_field(row.label)}\t{row.probability:.3f}\t{tsv_field(row.text)}")
    return EXIT_OK


def serve(args: argparse.Namespace) -> int:
    from textsweep.serving import serve_model

    return serve_model(args.model, args.port, args.tracking_uri)


def promote(args: argparse.Namespace) -> int:
    from textsweep.export.registry import CHAMPION, promote

    found = promote(args.model, args.tracking_uri)
    print(f"models:/{found.name}@{CHAMPION} is now version {found.version} (run {found.run_id})")
    return EXIT_OK


def _lines(raw: bytes, where: str) -> list[str]:
    """The lines of `raw` as UTF-8; bytes that are not UTF-8 become U+FFFD, with a warning."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # as data files are read (`data.folders.decode_text`)
        text = raw.decode("utf-8-sig", "replace")
        print(
            f"warning: {where}: bytes that are not UTF-8; decoded as UTF-8 with U+FFFD "
            "replacing each bad byte sequence",
            file=sys.stderr,
        )
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines  # a final newline ends a line


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def tsv_field(text: str) -> str:
    r"""`text` safe in one TSV field and on a terminal: backslash, tab, newline and carriage
    return as `\\`, `\t`, `\n`, `\r`; other control and format characters (terminal escape
    sequences, bidirectional overrides) as `\xNN` or `\uNNNN`."""
    import unicodedata

    out = []
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c != "\u200d":
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def ui(args: argparse.Namespace) -> int:
    from textsweep.config import default_tracking_uri
    from textsweep.tracking.uri import check_tracking_uri
    from textsweep.ui import serve

    uri = args.tracking_uri or default_tracking_uri()
    check_tracking_uri(uri, "--tracking-uri")
    return serve(uri, args.port)
