"""The bad-input corpus: every broken file in tests/bad_inputs/ is refused the same way.

Each `*.yaml` there says what is wrong with it in its first comment, in `# expect:` a text the
error must contain (the dotted key, often with what was found), and in `# file:` the file at
fault when it is not the sweep file itself (a search-space file, a data file, `--set`).
`textsweep run` (and, unless the file says `# validate: no`, `textsweep validate`, which does not
read data) must exit 2 with a message naming that file and key, print no traceback, and create
nothing: no tracking store, no TEXTSWEEP_HOME, no new file in the working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "bad_inputs"


@dataclass(frozen=True)
class Case:
    path: Path
    what: str
    expect: str
    file: str
    validate: bool
    args: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Case:
        lines = path.read_text(encoding="utf-8").splitlines()
        notes = {}
        for line in lines[1:6]:
            key, _, value = line.removeprefix("# ").partition(": ")
            if line.startswith("# ") and value:
                notes[key] = value
        what = lines[0].removeprefix("# ") if lines else ""
        return cls(path, what, notes["expect"], notes.get("file", path.name),
                   notes.get("validate") != "no", tuple(notes.get("args", "").split()))  # fmt: skip


CASES = [Case.read(p) for p in sorted(CORPUS.glob("*.yaml"))]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, list[tuple[Case, str, subprocess.CompletedProcess]]]:
    """Every case through real `textsweep` processes, two at a time, in a copy of the corpus."""
    root = tmp_path_factory.mktemp("bad_inputs")
    work = root / "corpus"
    shutil.copytree(CORPUS, work)
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    home = root / "home"
    env = {
        **os.environ,
        "TEXTSWEEP_HOME": str(home),
        "TEXTSWEEP_SEARCH_SPACES": str(work / "spaces"),
    }
    env.pop("TEXTSWEEP_DATA_DIR", None)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"

    jobs = []
    for case in CASES:
        name = case.path.name
        jobs.append((case, "run", ["run", name, "--tracking-uri", uri, *case.args]))
        if case.validate:
            jobs.append((case, "validate", ["validate", name, *case.args]))

    def call(job: tuple[Case, str, list[str]]) -> tuple[Case, str, subprocess.CompletedProcess]:
        case, command, args = job
        result = subprocess.run([sys.executable, "-m", "textsweep", *args], cwd=work, env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        return case, command, result

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(call, jobs))
    created = sorted(p.relative_to(work) for p in work.rglob("*"))
    return {
        "results": results,
        "left_behind": [str(p) for p in sorted(set(created) - set(before))]
        + [str(p) for p in (home, root / "mlruns") if p.exists()],
    }


@pytest.mark.slow
def test_every_bad_input_exits_2_naming_file_and_key(outcomes: dict) -> None:
    problems = []
    for case, command, result in outcomes["results"]:
        err = result.stderr
        where = f"{case.path.name} ({case.what}) via {command}"
        if result.returncode != 2:
            problems.append(f"{where}: exit {result.returncode}\n{result.stdout}{err}")
        elif "Traceback" in err + result.stdout:
            problems.append(f"{where}: printed a traceback\n{err}")
        elif case.file not in err or case.expect not in err:
            problems.append(f"{where}: message lacks {case.file!r} or {case.expect!r}:\n{err}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.slow
def test_bad_input_creates_nothing(outcomes: dict) -> None:
    assert outcomes["left_behind"] == []
