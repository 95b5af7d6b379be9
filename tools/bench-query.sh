#!/usr/bin/env bash
# Reads of a made lake, this implementation against the Python reference (ftm-lakehouse 0.9.0),
# in one run: a one-entity lookup, a selective filtered query and a full-scan SQL aggregate, each
# as a whole process; prints the median wall time, the largest peak RSS and the ratios.
#
#   bash tools/bench-query.sh [ENTITIES] [RUNS]      # default 1000000 entities, 3 runs
#
# The workload comes from ../shared/bench/gen_ftm.py (--seed 1), cached in $BENCH_DIR
# (/tmp/ftm-bench); each side imports it and runs `make` once into a lake of its own (kept for the
# next call: delete $BENCH_DIR/query-*-N to rebuild). The reference has no `entities get`: its
# lookup is `entities iterate -q filter:id=ID`. Its reads need DuckDB's delta extension, which
# tools/reference-check.sh installs ($REF_DUCKDB, /tmp/duck). Set FTM_LAKEHOUSE_BIN to time a
# binary built elsewhere.
default_entities=1000000
source "$(dirname "$0")/bench-common.sh"
[ -x "$venv/bin/ftm-lakehouse" ] || { echo "run tools/reference-check.sh first (it creates $venv)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
export PYTHONPATH="$duck/site" LAKEHOUSE_DUCKDB_EXTENSION_DIRECTORY="$duck/ext"
theirs="$venv/bin/ftm-lakehouse"
made_lakes query
query="filter:schema=Person&filter:properties.country=de"
sql="SELECT schema, count(*) FROM statement GROUP BY 1"
id=$("$ours" --uri "$lake_ours" -d bench entities iterate -q "$query&limit=1" | sed 's/^{"id":"\([^"]*\)".*/\1/')

measure() { # measure LABEL CMD... : "seconds peak_kib" appended to $bench/LABEL.m
  local label=$1; shift
  /usr/bin/time -f "%e %M" -a -o "$bench/$label.m" "$@" >/dev/null 2>"$bench/$label.log" ||
    { echo "$label failed, see $bench/$label.log" >&2; exit 1; }
}
summary() { # median seconds and largest peak MiB of LABEL
  sort -n "$bench/$1.m" | awk '{t[NR]=$1; if ($2>m) m=$2} END {printf "%s %d", t[int((NR+1)/2)], m/1024}'
}
for step in get query sql; do rm -f "$bench/q-ours-$step.m" "$bench/q-ref-$step.m"; done
for run in $(seq "$runs"); do
  measure q-ours-get "$ours" --uri "$lake_ours" -d bench entities get "$id"
  measure q-ref-get "$theirs" --uri "$lake_ref" -d bench entities iterate -q "filter:id=$id"
  measure q-ours-query "$ours" --uri "$lake_ours" -d bench entities iterate -q "$query"
  measure q-ref-query "$theirs" --uri "$lake_ref" -d bench entities iterate -q "$query"
  measure q-ours-sql "$ours" --uri "$lake_ours" -d bench statements sql "$sql"
  measure q-ref-sql "$theirs" --uri "$lake_ref" -d bench statements sql "$sql"
done
printf '%-8s %10s %10s %8s %12s %12s\n' step ours_s ref_s speedup ours_MiB ref_MiB
for step in get query sql; do
  read -r o om <<<"$(summary "q-ours-$step")"
  read -r r rm_ <<<"$(summary "q-ref-$step")"
  printf '%-8s %10s %10s %7.1fx %12s %12s\n' "$step" "$o" "$r" "$(echo "$r / $o" | bc -l)" "$om" "$rm_"
done
echo "lookup: entities get $id; query: -q '$query'; sql: '$sql'"
