#!/usr/bin/env bash
# Fault injection at the large size (issue #25): every writing operation killed with SIGKILL at
# random points, KILLS times each (default 100: 1,000 kills over the ten operations), then
# recovered and checked (crates/cli/tests/faults.rs says how). Prints the table of kills,
# unlocks, recoveries, lost and resurrected statements and unreadable lakes.
#
#   tools/faults.sh [KILLS]      SEED=… (default: the time), JOBS=… (default 2), COPIES=… (10)
#
# The binaries are copied first, so a build during the run does not change what runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
kills="${1:-100}"
cargo build --locked --quiet --bin ftm-lakehouse
test_bin=$(cargo test --locked --quiet -p ftm-lakehouse --test faults --no-run --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "faults" and m.get("executable"):
        print(m["executable"])')
copies_dir=$(mktemp -d)
trap 'rm -rf "$copies_dir"' EXIT
cp "$CARGO_TARGET_DIR/debug/ftm-lakehouse" "$test_bin" "$copies_dir/"
cd crates/cli
FTM_LAKEHOUSE_BIN="$copies_dir/ftm-lakehouse" \
FTM_LAKEHOUSE_FAULT_KILLS="$kills" \
FTM_LAKEHOUSE_FAULT_SEED="${SEED:-$(date +%s)}" \
FTM_LAKEHOUSE_FAULT_JOBS="${JOBS:-2}" \
FTM_LAKEHOUSE_FAULT_COPIES="${COPIES:-10}" \
  "$copies_dir/$(basename "$test_bin")" --nocapture --test-threads 1
