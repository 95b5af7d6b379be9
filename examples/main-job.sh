#!/usr/bin/env bash
# The main job: build the binary, import the shipped donations sample (474 FtM entities) into a
# local lake and `make` it (flush, optimize, exports). Prints where the exports are.
#
#   bash examples/main-job.sh            # lake in ./data (or $LAKEHOUSE_URI)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
export LAKEHOUSE_URI="${LAKEHOUSE_URI:-$PWD/data}"

cargo build --release --locked -p ftm-lakehouse
bin="$CARGO_TARGET_DIR/release/ftm-lakehouse"

"$bin" -d donations entities import -i examples/donations.ftm.json
"$bin" -d donations make

echo "exports of dataset 'donations' in $LAKEHOUSE_URI/donations:" >&2
ls -l "$LAKEHOUSE_URI/donations" "$LAKEHOUSE_URI/donations/exports" >&2
