#!/usr/bin/env bash
# Import, optimize and make on the same generated FtM workload, this implementation against the
# Python reference (ftm-lakehouse 0.9.0), in one run; prints wall time, peak RSS and the ratios.
#
#   bash tools/bench-vs-reference.sh 100000 1000000     # entity counts (default: 100000)
#
# Workloads come from ../shared/bench/gen_ftm.py (--seed 1), cached in $BENCH_DIR (/tmp/ftm-bench).
# Both sides run with their defaults (in-memory journal): `entities import` writes straight to the
# statement store, `make` flushes (nothing), optimizes and exports. `optimize` is timed on its own
# on a copy of the imported lake. Ours is also timed through a durable journal (SQLite file):
# `entities import` into it, then `maintenance flush` into the store; the reference has no such
# path (its import always bypasses the journal), so those rows have no ratio.
#
# `optimize` and `make` run $RUNS times each (default 3), every run on a fresh copy of the
# imported lake, the two sides' runs alternating; the table gives the median time and the
# largest peak RSS. One run of the same binary varies by ±15% on this VM.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
bench="${BENCH_DIR:-/tmp/ftm-bench}"
venv="${REF_VENV:-/tmp/ref}"
mkdir -p "$bench"
[ -x "$venv/bin/ftm-lakehouse" ] || { echo "run tools/reference-check.sh first (it creates $venv)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
cargo build -q --release --locked -p ftm-lakehouse
ours="$CARGO_TARGET_DIR/release/ftm-lakehouse"
ref="$venv/bin/ftm-lakehouse"
runs="${RUNS:-3}"
unset LAKEHOUSE_JOURNAL_URI LAKEHOUSE_URI

# measure LABEL CMD... : runs CMD, records "seconds peak_rss_mib" in $bench/LABEL.m. Dirty pages
# of earlier steps (gigabytes of exports) are written back first, so no step pays for another's.
measure() {
  local label=$1; shift
  sync
  /usr/bin/time -f "%e %M" -o "$bench/$label.m" "$@" >/dev/null 2>"$bench/$label.log" || {
    echo "$label failed, see $bench/$label.log" >&2; exit 1; }
}
num() { awk -v f="$2" '{print $f}' "$bench/$1.m"; }
# repeated LABEL LAKE BIN ARGS... : run number $run of BIN ARGS, on a fresh copy of LAKE
# (LAKE-run, left in place after the last run), recorded as LABEL-$run.
repeated() {
  local label=$1 lake=$2; shift 2
  rm -rf "$lake-run"
  cp -r "$lake" "$lake-run"
  measure "$label-$run" "$1" --uri "$lake-run" "${@:2}"
}
summarize() { # summarize LABEL : the median time and largest RSS of LABEL-1..LABEL-$runs
  local label=$1
  for r in $(seq "$runs"); do cat "$bench/$label-$r.m"; done |
    sort -n | awk '{t[NR]=$1; if ($2>m) m=$2} END {print t[int((NR+1)/2)], m}' > "$bench/$label.m"
}
row() { # row N STEP OURS_LABEL [REF_LABEL]
  local o om r="-" rm_="-" ratio="-"
  o=$(num "$3" 1); om=$(( $(num "$3" 2) / 1024 ))
  if [ -n "${4:-}" ]; then
    r=$(num "$4" 1); rm_=$(( $(num "$4" 2) / 1024 ))
    ratio=$(printf '%.1fx' "$(echo "$r / $o" | bc -l)")
  fi
  printf '%-10s %-15s %10s %10s %8s %12s %12s\n' "$1" "$2" "$o" "$r" "$ratio" "$om" "$rm_"
}

printf '%-10s %-15s %10s %10s %8s %12s %12s\n' entities step ours_s ref_s speedup ours_MiB ref_MiB
for n in "${@:-100000}"; do
  input="$bench/bench-$n.ftm.json"
  [ -f "$input" ] || python3 ../shared/bench/gen_ftm.py --entities "$n" --seed 1 -o "$input"
  rm -rf "$bench/ours-$n" "$bench/ours-$n-run" "$bench/ours-journal-$n" "$bench/ref-$n" "$bench/ref-$n-run" \
    "$bench/journal-$n.db"
  measure "ours-import-$n" "$ours" --uri "$bench/ours-$n" -d bench entities import -i "$input"
  measure "ref-import-$n" "$ref" --uri "$bench/ref-$n" -d bench entities import -i "$input"
  for run in $(seq "$runs"); do
    repeated "ours-optimize-$n" "$bench/ours-$n" "$ours" -d bench maintenance optimize
    repeated "ref-optimize-$n" "$bench/ref-$n" "$ref" -d bench maintenance optimize
  done
  for run in $(seq "$runs"); do
    repeated "ours-make-$n" "$bench/ours-$n" "$ours" -d bench make
    repeated "ref-make-$n" "$bench/ref-$n" "$ref" -d bench make
  done
  for label in ours-optimize ref-optimize ours-make ref-make; do summarize "$label-$n"; done
  journal="sqlite:///$bench/journal-$n.db"
  measure "ours-jimport-$n" env LAKEHOUSE_JOURNAL_URI="$journal" \
    "$ours" --uri "$bench/ours-journal-$n" -d bench entities import -i "$input"
  measure "ours-flush-$n" env LAKEHOUSE_JOURNAL_URI="$journal" \
    "$ours" --uri "$bench/ours-journal-$n" -d bench maintenance flush
  row "$n" import "ours-import-$n" "ref-import-$n"
  row "$n" optimize "ours-optimize-$n" "ref-optimize-$n"
  row "$n" make "ours-make-$n" "ref-make-$n"
  row "$n" "journal import" "ours-jimport-$n"
  row "$n" flush "ours-flush-$n"
  ours_rows=$(wc -l < "$bench/ours-$n-run/bench/exports/statements.csv")
  ref_rows=$(wc -l < "$bench/ref-$n-run/bench/exports/statements.csv")
  echo "           statements.csv lines: ours $ours_rows, reference $ref_rows"
  rm -rf "$bench/ours-$n-run" "$bench/ref-$n-run" "$bench/journal-$n.db"
done
