# Set-up shared by the benchmark scripts, sourced with their arguments and after they set
# `default_entities`: the workload of ENTITIES (first argument) from ../shared/bench/gen_ftm.py
# (--seed 1), cached in $BENCH_DIR (/tmp/ftm-bench); the release binary ($FTM_LAKEHOUSE_BIN, else
# built here); the reference's venv ($REF_VENV, /tmp/ref) and DuckDB extensions ($REF_DUCKDB,
# /tmp/duck), which tools/reference-check.sh installs.
# Sets: entities, runs (second argument, default 3), bench, venv, duck, input, ours.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
entities="${1:-$default_entities}"
runs="${2:-3}"
bench="${BENCH_DIR:-/tmp/ftm-bench}"
venv="${REF_VENV:-/tmp/ref}"
duck="${REF_DUCKDB:-/tmp/duck}"
mkdir -p "$bench"
input="$bench/bench-$entities.ftm.json"
[ -f "$input" ] || python3 ../shared/bench/gen_ftm.py --entities "$entities" --seed 1 -o "$input"
[ -n "${FTM_LAKEHOUSE_BIN:-}" ] || cargo build -q --release --locked -p ftm-lakehouse
ours="${FTM_LAKEHOUSE_BIN:-$CARGO_TARGET_DIR/release/ftm-lakehouse}"
unset LAKEHOUSE_JOURNAL_URI LAKEHOUSE_URI

# made_lakes NAME: $bench/NAME-ours-ENTITIES and $bench/NAME-ref-ENTITIES, the workload imported
# and made by each side's own CLI (kept for the next call); sets lake_ours and lake_ref.
made_lakes() {
  lake_ours="$bench/$1-ours-$entities"
  lake_ref="$bench/$1-ref-$entities"
  if [ ! -f "$lake_ours/bench/index.json" ]; then
    rm -rf "$lake_ours"
    "$ours" --uri "$lake_ours" -d bench entities import -i "$input" 2>/dev/null
    "$ours" --uri "$lake_ours" -d bench make 2>/dev/null
  fi
  if [ ! -f "$lake_ref/bench/index.json" ]; then
    rm -rf "$lake_ref"
    PYTHONPATH="$duck/site" "$venv/bin/ftm-lakehouse" --uri "$lake_ref" -d bench entities import -i "$input" >/dev/null 2>&1
    PYTHONPATH="$duck/site" "$venv/bin/ftm-lakehouse" --uri "$lake_ref" -d bench make >/dev/null 2>&1
  fi
}
