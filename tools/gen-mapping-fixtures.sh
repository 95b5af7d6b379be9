#!/usr/bin/env bash
# Writes the expected output of every mapping fixture with followthemoney's own `ftm map-csv`
# (the oracle of crates/ftm/tests/mapping.rs). A fixture is `NAME.csv` + `NAME.yml` (a
# DatasetMapping: `dataset`, `queries`); the results are `NAME.ftm.json` (`--no-sign`) and
# `NAME.signed.ftm.json` (`-d DATASET`: ids signed in the dataset's namespace).
# Usage: tools/gen-mapping-fixtures.sh [PYTHON]   (PYTHON: the reference venv's, /tmp/ref/bin/python)
set -euo pipefail
python=${1:-/tmp/ref/bin/python}
ftm=$(dirname "$python")/ftm
dir=$(cd "$(dirname "$0")/.." && pwd)/crates/ftm/tests/fixtures/mapping
for yml in "$dir"/*.yml; do
  name=${yml%.yml}
  wrapped=$(mktemp --suffix .yml)
  "$python" - "$yml" "$wrapped" <<'PY'
import sys, yaml
data = yaml.safe_load(open(sys.argv[1]))
yaml.safe_dump({data["dataset"]: {"queries": data["queries"]}}, open(sys.argv[2], "w"))
PY
  "$ftm" map-csv --no-sign "$wrapped" -i "$name.csv" -o "$name.ftm.json" 2>/dev/null
  dataset=$("$python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["dataset"])' "$yml")
  # followthemoney refuses to sign some mappings (a relationship whose id is its own end's).
  "$ftm" map-csv -d "$dataset" "$wrapped" -i "$name.csv" -o "$name.signed.ftm.json" 2>/dev/null ||
    { echo "$(basename "$name"): ftm map-csv -d fails, no signed fixture"; rm -f "$name.signed.ftm.json"; }
  rm -f "$wrapped"
  echo "$(basename "$name"): $(wc -l < "$name.ftm.json") entities"
done
