#!/usr/bin/env bash
# Import and make on the same generated FtM workload, this implementation against the Python
# reference (ftm-lakehouse 0.9.0), in one run; prints wall time, peak RSS and the ratios.
#
#   bash tools/bench-vs-reference.sh 100000 1000000     # entity counts (default: 100000)
#
# Workloads come from ../shared/bench/gen_ftm.py (--seed 1), cached in $BENCH_DIR (/tmp/ftm-bench).
# Ours runs in release mode with a SQLite file journal (import, then `make`, which flushes,
# optimizes and exports); the reference imports straight into its store, then runs `make`.
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

# measure LABEL CMD... : runs CMD, records "seconds peak_rss_mib" in $bench/LABEL.m
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$bench/$label.m" "$@" >/dev/null 2>"$bench/$label.log" || {
    echo "$label failed, see $bench/$label.log" >&2; exit 1; }
}
num() { awk -v f="$2" '{print $f}' "$bench/$1.m"; }

printf '%-10s %-8s %10s %10s %8s %12s %12s\n' entities step ours_s ref_s speedup ours_MiB ref_MiB
for n in "${@:-100000}"; do
  input="$bench/bench-$n.ftm.json"
  [ -f "$input" ] || python3 ../shared/bench/gen_ftm.py --entities "$n" --seed 1 -o "$input"
  rm -rf "$bench/ours-$n" "$bench/ref-$n" "$bench/journal-$n.db"
  export LAKEHOUSE_JOURNAL_URI="sqlite:///$bench/journal-$n.db"
  measure "ours-import-$n" "$ours" --uri "$bench/ours-$n" -d bench entities import -i "$input"
  measure "ours-make-$n" "$ours" --uri "$bench/ours-$n" -d bench make
  unset LAKEHOUSE_JOURNAL_URI
  measure "ref-import-$n" "$venv/bin/ftm-lakehouse" --uri "$bench/ref-$n" -d bench entities import -i "$input"
  measure "ref-make-$n" "$venv/bin/ftm-lakehouse" --uri "$bench/ref-$n" -d bench make
  for step in import make; do
    o=$(num "ours-$step-$n" 1); r=$(num "ref-$step-$n" 1)
    om=$(( $(num "ours-$step-$n" 2) / 1024 )); rm_=$(( $(num "ref-$step-$n" 2) / 1024 ))
    printf '%-10s %-8s %10s %10s %7.1fx %12s %12s\n' "$n" "$step" "$o" "$r" "$(echo "$r / $o" | bc -l)" "$om" "$rm_"
  done
  ours_rows=$(wc -l < "$bench/ours-$n/bench/exports/statements.csv"); ref_rows=$(wc -l < "$bench/ref-$n/bench/exports/statements.csv")
  echo "           statements.csv lines: ours $ours_rows, reference $ref_rows"
done
