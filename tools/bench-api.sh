#!/usr/bin/env bash
# The HTTP API, this implementation's server against the Python reference's (ftm-lakehouse 0.9.0
# under uvicorn, one worker), in one run, with one load client for both (tools/api-client.py):
#   * ingest: journal bulks of 10,000 statements (zstd Arrow IPC, as the reference's client
#     posts them) of the whole workload from 4 concurrent clients: statements/s;
#   * query: the whole dataset as NDJSON entities (`entities/query`, no filter): entities/s;
#   * latency: p50/p99 of one-entity queries (`id eq …`) while 2 clients run whole-dataset queries;
#   * the peak RSS of each server process (VmHWM) at the end.
#
#   bash tools/bench-api.sh [ENTITIES] [RUNS]      # default 100000 entities, 3 runs
#
# Each server serves a lake its own CLI imported and made from the same workload
# (../shared/bench/gen_ftm.py --seed 1, cached in $BENCH_DIR, /tmp/ftm-bench); ingest posts into
# a second dataset of that lake, the same bodies to both (prepared from our statements export).
# Needs the reference's venv with its `api` extra ($REF_VENV, /tmp/ref: tools/reference-check.sh
# creates it) and DuckDB's delta extension ($REF_DUCKDB).
default_entities=100000
source "$(dirname "$0")/bench-common.sh"
[ -x "$venv/bin/uvicorn" ] || { echo "run tools/reference-check.sh first (it creates $venv with uvicorn)" >&2; exit 1; }
export PYTHONPATH="$duck/site" LAKEHOUSE_DUCKDB_EXTENSION_DIRECTORY="$duck/ext"
unset LAKEHOUSE_API_KEY LAKEHOUSE_API_SECRET
client() { "$venv/bin/python" tools/api-client.py "$@"; }
made_lakes api
bodies="$bench/api-bodies-$entities"
if [ ! -d "$bodies" ]; then
  client prepare "$lake_ours/bench/exports/statements.csv" ingest "$bodies"
fi
ids="$bench/api-ids-$entities.txt"
cut -d, -f2 "$lake_ours/bench/exports/statements.csv" | tr -d '"' | sed 1d | sort -u | shuf -n 1000 --random-source=<(yes) > "$ids"

"$ours" --uri "$lake_ours" api --port 8811 2>/dev/null &
pid_ours=$!
LAKEHOUSE_URI="$lake_ref" "$venv/bin/uvicorn" ftm_lakehouse.api:app --port 8812 --log-level warning 2>/dev/null &
pid_ref=$!
trap 'kill $pid_ours $pid_ref 2>/dev/null' EXIT
for port in 8811 8812; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/openapi.json" && break; sleep 0.2; done
done

for run in $(seq "$runs"); do
  echo "run $run"
  for side in ours:8811 reference:8812; do
    url="http://127.0.0.1:${side#*:}"
    echo "  ${side%:*}: $(client ingest "$url" ingest "$bodies" 4)"
    echo "  ${side%:*}: $(client query "$url" bench)"
    echo "  ${side%:*}: $(client latency "$url" bench "$ids" 200 2)"
  done
done
for side in "ours:$pid_ours" "reference:$pid_ref"; do
  echo "peak RSS of the ${side%:*} server: $(grep VmHWM "/proc/${side#*:}/status" | awk '{print $2, $3}')"
done
