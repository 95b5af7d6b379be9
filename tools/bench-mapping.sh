#!/usr/bin/env bash
# Mapping speed: ROWS generated CSV rows (first argument, default 1,000,000) mapped to a Company,
# a Person and an Ownership each, by `ftm-lakehouse mappings process` (archived CSV → entities
# → statement store, as a user runs it) against followthemoney's `ftm map-csv --no-sign` (CSV →
# entity JSON on /dev/null) on the same file and mapping, paired runs (second argument, default
# 3). Needs the reference's venv (tools/reference-check.sh makes it) and farm-bench.
default_entities=1000000
source "$(dirname "$0")/bench-common.sh"
rows=$entities
dir="$bench/mapping-$rows"
mkdir -p "$dir/src"
csv="$dir/src/companies.csv"
[ -f "$csv" ] || python3 - "$rows" "$csv" <<'PY'
import csv, random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(1)
countries = ["de", "Germany", "gb", "United Kingdom", "fr", "France", "ru", "Russia", "us", "USA"]
firsts = ["Anna", "Boris", "Chen", "Dana", "Emil", "Fatima", "Gert", "Hana"]
lasts = ["Meyer", "Ivanov", "Smith", "Dubois", "Rossi", "Kowalski", "Novak", "Khan"]
with open(path, "w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["id", "name", "jurisdiction", "incorporation_date", "owner_id", "first", "last", "share"])
    for i in range(rows):
        out.writerow([f"C{i:08d}", f"Company {i} Ltd", rnd.choice(countries),
                      f"{rnd.randint(1950, 2024)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
                      f"P{rnd.randint(0, rows // 2):08d}", rnd.choice(firsts), rnd.choice(lasts),
                      f"{rnd.randint(1, 100)}"])
PY
cat > "$dir/mapping.yml" <<'YML'
dataset: bench
queries:
  - entities:
      company:
        schema: Company
        key: id
        properties:
          name: {column: name}
          jurisdiction: {column: jurisdiction}
          incorporationDate: {column: incorporation_date}
      person:
        schema: Person
        key: owner_id
        properties:
          name: {columns: [first, last], join: " "}
          firstName: {column: first}
          lastName: {column: last}
      ownership:
        schema: Ownership
        keys: [id, owner_id]
        properties:
          owner: {entity: person}
          asset: {entity: company}
          percentage: {column: share}
YML
"$venv/bin/python" -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); yaml.safe_dump({d["dataset"]: {"queries": d["queries"]}}, open(sys.argv[2], "w"))' \
  "$dir/mapping.yml" "$dir/ftm-mapping.yml"
lake="$dir/lake"
hash=$(sha256sum "$csv" | cut -d' ' -f1)
if [ ! -f "$lake/bench/mappings/$hash/mapping.yml" ]; then
  rm -rf "$lake"
  "$ours" --uri "$lake" -d bench crawl "$dir/src" 2>/dev/null
  "$ours" --uri "$lake" -d bench mappings put -i "$dir/mapping.yml" --content-hash "$hash"
fi
echo "rows: $rows; ours: mappings process --force (archive → statement store); theirs: ftm map-csv --no-sign > /dev/null"
timeout=$(( rows / 500 + 120 )); [ "$timeout" -le 3600 ] || timeout=3600
farm-bench -n "$runs" --timeout "$timeout" \
  --vs "sh -c 'exec $venv/bin/ftm map-csv --no-sign $dir/ftm-mapping.yml -i $csv -o /dev/null 2>/dev/null'" \
  -- "$ours" --uri "$lake" -d bench mappings process --force "$hash"
