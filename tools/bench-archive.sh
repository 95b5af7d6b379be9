#!/usr/bin/env bash
# Crawl of a folder holding one large file (default 1 GiB) plus 2,000 small ones, this
# implementation against the Python reference (ftm-lakehouse 0.9.0), in one run; prints wall time
# and peak RSS of each and the ratios. The large file shows whether archiving streams (flat
# memory); the small files show the per-file cost.
#
#   bash tools/bench-archive.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
bench="${BENCH_DIR:-/tmp/ftm-bench}/archive"
venv="${REF_VENV:-/tmp/ref}"
size="${1:-1024}"
[ -x "$venv/bin/ftm-lakehouse" ] || { echo "run tools/reference-check.sh first (it creates $venv)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
[ -n "${NO_BUILD:-}" ] || cargo build -q --release --locked -p ftm-lakehouse
ours="$CARGO_TARGET_DIR/release/ftm-lakehouse"

src="$bench/src-$size"
if [ ! -f "$src/big.bin" ] || [ "$(stat -c %s "$src/big.bin")" -ne $((size * 1024 * 1024)) ]; then
  rm -rf "$src" && mkdir -p "$src/small"
  head -c $((size * 1024 * 1024)) /dev/urandom > "$src/big.bin"
  for i in $(seq 1 2000); do echo "small file $i" > "$src/small/$i.txt"; done
fi

measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$bench/$label.m" "$@" >/dev/null 2>"$bench/$label.log" || {
    echo "$label failed, see $bench/$label.log" >&2; exit 1; }
}
num() { awk -v f="$2" '{print $f}' "$bench/$1.m"; }

rm -rf "$bench/ours" "$bench/ref" "$bench/journal.db" "$bench/ref-journal.db"
LAKEHOUSE_JOURNAL_URI="sqlite:///$bench/journal.db" measure ours "$ours" --uri "$bench/ours" -d bench crawl "$src"
LAKEHOUSE_JOURNAL_URI="sqlite:///$bench/ref-journal.db" measure ref "$venv/bin/ftm-lakehouse" --uri "$bench/ref" -d bench crawl "$src"
o=$(num ours 1); r=$(num ref 1)
printf '%-22s %8s %8s %8s %10s %10s\n' workload ours_s ref_s speedup ours_MiB ref_MiB
printf '%-22s %8s %8s %7.1fx %10s %10s\n' "${size} MiB + 2000 files" "$o" "$r" "$(echo "$r / $o" | bc -l)" \
  $(( $(num ours 2) / 1024 )) $(( $(num ref 2) / 1024 ))
cmp "$src/big.bin" "$(find "$bench/ours/bench/archive" -name blob -size +1M)" && echo "big blob archived byte for byte"
