#!/usr/bin/env bash
# Writes crates/cli/tests/fixtures/donations.graph.cypher: followthemoney's own `ftm
# export-cypher` of the entities.ftm.json this project exports for the donations sample, the
# oracle of crates/cli/tests/cypher.rs. Needs the reference's venv (/tmp/ref) and a dev build.
# Usage: tools/gen-cypher-fixture.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-/tmp/ref}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
cargo build -q -p ftm-lakehouse
lake=$(mktemp -d)
trap 'rm -rf "$lake"' EXIT
bin="$CARGO_TARGET_DIR/debug/ftm-lakehouse"
LAKEHOUSE_URI="$lake" "$bin" -d donations entities import -i ../shared/fixtures/donations.ftm.json 2>/dev/null
LAKEHOUSE_URI="$lake" "$bin" -d donations make 2>/dev/null
"$venv/bin/ftm" export-cypher -i "$lake/donations/entities.ftm.json" -o crates/cli/tests/fixtures/donations.graph.cypher
wc -l crates/cli/tests/fixtures/donations.graph.cypher
