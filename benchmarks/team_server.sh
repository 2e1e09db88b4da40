#!/usr/bin/env bash
# A team's tracking server, for real, on this machine: PostgreSQL, `mlflow server` on it with
# artifacts served through the server, and a Keras Tuner chief and two workers of a tiny sweep
# logging to it over HTTP, all on 127.0.0.1 (README "A team's tracking server").
#
#   bash benchmarks/team_server.sh            # prints "trials: 4 of 4 finished" and exits 0
#   PYTHON=.venv/bin/python KEEP=1 bash benchmarks/team_server.sh   # KEEP=1 leaves the temp dir
#
# Needs Debian's `postgresql` (initdb/pg_ctl under /usr/lib/postgresql/*/bin) and the
# psycopg2-binary driver (`pip install -e ".[team]"`). Exit 77 when PostgreSQL is missing.
# Everything (cluster, server, processes, files) is torn down at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TRIALS=4

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "team_server: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 77
fi
"$PYTHON" -c "import psycopg2" 2>/dev/null || {
  echo "team_server: no psycopg2 driver (pip install psycopg2-binary)" >&2; exit 77; }

tmp="$(mktemp -d -t textsweep-team-XXXXXX)"
chmod 755 "$tmp"
pids=()
as_pg() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  [ -f "$tmp/pg/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$tmp/pg" -m fast stop >/dev/null 2>&1
  if [ -z "${KEEP:-}" ]; then rm -rf "$tmp"; else echo "team_server: kept $tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport="$(free_port)"; mlport="$(free_port)"; oracle="$(free_port)"

# 1. a PostgreSQL cluster in the temp dir, listening on 127.0.0.1 only
mkdir "$tmp/pg"
[ "$(id -u)" = 0 ] && chown postgres "$tmp/pg"
as_pg "$bindir/initdb" -D "$tmp/pg" -U textsweep --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1
as_pg "$bindir/pg_ctl" -D "$tmp/pg" -l "$tmp/pg/server.log" -w \
  -o "-h 127.0.0.1 -p $pgport -k $tmp/pg" start >/dev/null
as_pg "$bindir/createdb" -h 127.0.0.1 -p "$pgport" -U textsweep mlflow
echo "team_server: PostgreSQL on 127.0.0.1:$pgport"

# 2. MLflow's server on it; artifacts go through the server (mlflow-artifacts:/) to a folder
db="postgresql+psycopg2://textsweep@127.0.0.1:$pgport/mlflow"
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$PYTHON" -m mlflow server \
  --backend-store-uri "$db" --serve-artifacts --artifacts-destination "$tmp/artifacts" \
  --host 127.0.0.1 --port "$mlport" --workers 2 >"$tmp/mlflow.log" 2>&1 &
pids+=($!)
uri="http://127.0.0.1:$mlport"
for _ in $(seq 240); do
  "$PYTHON" -c "import urllib.request as u; u.urlopen('$uri/health', timeout=2)" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { tail -20 "$tmp/mlflow.log" >&2; exit 1; }
  sleep 0.5
done
echo "team_server: MLflow server on $uri over $db"

# 3. a tiny sweep and its data (an aclImdb-shaped folder of synthetic reviews)
"$PYTHON" - "$tmp" "$TRIALS" <<'EOF'
import random, sys
from pathlib import Path
import yaml
root, trials = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(0)
cues = {"pos": "great superb loved moving fun".split(), "neg": "awful dull boring poor mess".split()}
filler = "the movie film plot actor scene story it was and a of".split()
for split in ("train", "test"):
    for label, words in cues.items():
        folder = root / "data" / "aclImdb" / split / label
        folder.mkdir(parents=True)
        for i in range(40):
            text = [rng.choice(filler) for _ in range(30)] + rng.sample(words, 3)
            rng.shuffle(text)
            (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(" ".join(text))
sweep = {
    "name": "team", "question": "How many units, on a team server?",
    "dataset": {"format": "imdb", "path": str(root / "data"), "num_words": 100, "seed": 1},
    "search_space": {"hyperparameters": {
        "model": {"type": "fixed", "value": "multihot_dense"},
        "dense_units": {"type": "choice", "values": [4, 8]},
        "learning_rate": {"type": "choice", "values": [0.001, 0.003]}}},
    "tuner": {"algorithm": "grid", "max_trials": trials, "seed": 1},
    "training": {"epochs": 1, "batch_size": 16},
}
(root / "team.yaml").write_text(yaml.safe_dump(sweep))
EOF

# 4. the chief, then two workers, as on three machines (README "Several processes")
export TEXTSWEEP_HOME="$tmp/home" KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT="$oracle"
export TEXTSWEEP_PROCESSES=2 MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
run_as() {
  KERASTUNER_TUNER_ID="$1" setsid "$PYTHON" -m textsweep run "$tmp/team.yaml" --tracking-uri "$uri" \
    >"$tmp/$1.log" 2>&1 &
  pids+=($!)
}
run_as chief
chief="${pids[-1]}"
run_as tuner0
run_as tuner1
workers=("${pids[-2]}" "${pids[-1]}")
status=0
for pid in "${workers[@]}" "$chief"; do wait "$pid" || status=$?; done
for name in chief tuner0 tuner1; do sed "s/^/[$name] /" "$tmp/$name.log" | tail -4; done
[ "$status" = 0 ] || { echo "team_server: a process failed (exit $status)" >&2; exit 1; }

# 5. what the server holds: the finished trial runs of the execution, and a served artifact
"$PYTHON" - "$uri" "$TRIALS" <<'EOF'
import sys
from mlflow import MlflowClient
uri, trials = sys.argv[1], int(sys.argv[2])
client = MlflowClient(uri)
exp = client.get_experiment_by_name("team")
runs = client.search_runs([exp.experiment_id], "tags.`textsweep.role` = 'trial'")
finished = [r for r in runs if r.info.status == "FINISHED"]
workers = sorted({r.data.tags.get("textsweep.worker", "?") for r in finished})
artifact = client.download_artifacts(finished[0].info.run_id, "history.csv") if finished else None
print(f"trials: {len(finished)} of {trials} finished (workers {', '.join(workers)}); "
      f"artifacts served: {'history.csv' if artifact else 'none'}")
sys.exit(0 if len(finished) == trials and len(runs) == trials and artifact else 1)
EOF
