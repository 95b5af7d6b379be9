#!/usr/bin/env bash
# Cross-reads lakes between this implementation and the Python reference, ftm-lakehouse 0.9.0:
#   1. our CLI imports the donations sample; the reference reads that lake (statements and
#      entities, through its DuckDB delta reader) and runs its own `make` on it; on a copy, our
#      `make` merges the lake and the reference reads our merged files;
#   2. the reference imports the same sample and runs `make`; our CLI reads that lake;
#   3. each reads the other's archive (crawl of ../shared/fixtures/files);
#   4. the same on S3 (moto on 127.0.0.1, started by .ci/object-stores.sh): the reference (its
#      s3fs, DuckDB's httpfs) makes a lake we wrote in the bucket, we make a lake it wrote, and
#      both exports equal the input;
#   5. the reference's client in api mode (LAKEHOUSE_URI=http://…) against our `api` server: its
#      library posts the sample as zstd Arrow IPC journal bulks, its CLI runs `make` (ensure,
#      flush, OptimizeJob, MakeJob, blob reads) and `entities iterate` (the NDJSON query route);
#   6. our CLI in api mode against the reference's server (uvicorn): `entities import` posts
#      journal bulks and a flush, `make` runs its jobs there, `entities iterate` queries it;
#   7. re-sharded lakes: the reference reads a lake we re-sharded to 8 shards, we read (and look
#      up by id in) a lake it re-sharded.
# Every read must give the sample's 2857 statements and 474 entities.
#
#   bash tools/reference-check.sh            # venv in /tmp/ref (created on first run)
#
# Needs Python 3.12 (the reference requires >= 3.12) and network access to PyPI on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ftm-lakehouse-target}"
venv="${REF_VENV:-/tmp/ref}"
duck="${REF_DUCKDB:-/tmp/duck}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A pyenv shim may answer to python3.12 without one being selected: take one that runs.
python312=""
for candidate in python3.12 $(ls "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null); do
  if "$candidate" --version >/dev/null 2>&1; then python312="$candidate"; break; fi
done
[ -n "$python312" ] || { echo "needs Python 3.12" >&2; exit 1; }
if [ ! -x "$venv/bin/ftm-lakehouse" ]; then
  "$python312" -m venv "$venv"
  "$venv/bin/pip" install -q ftm-lakehouse==0.9.0
fi
# The api extra and the server the reference documents (a venv made by hand may lack either).
if ! "$venv/bin/python" -c "import putfs" 2>/dev/null || [ ! -x "$venv/bin/uvicorn" ]; then
  "$venv/bin/pip" install -q 'ftm-lakehouse[api]==0.9.0' uvicorn
fi
if [ ! -f "$duck/ext/v1.5.5/linux_amd64/delta.duckdb_extension" ]; then
  "$venv/bin/pip" install -q --no-deps --target "$duck/site" duckdb==1.5.5 duckdb-extension-delta==1.5.5
  mkdir -p "$duck/ext/v1.5.5/linux_amd64"
  cp "$(find "$duck/site" -name delta.duckdb_extension | head -n 1)" "$duck/ext/v1.5.5/linux_amd64/"
fi
if [ ! -f "$duck/ext/v1.5.5/linux_amd64/httpfs.duckdb_extension" ]; then
  "$venv/bin/pip" install -q s3fs
  "$venv/bin/pip" install -q --no-deps --target "$duck/site2" duckdb-extension-httpfs==1.5.5 duckdb-extension-aws==1.5.5
  for e in httpfs aws; do
    cp "$(find "$duck/site2" -name "$e.duckdb_extension" | head -n 1)" "$duck/ext/v1.5.5/linux_amd64/"
  done
fi
ref() { PYTHONPATH="$duck/site" LAKEHOUSE_DUCKDB_EXTENSION_DIRECTORY="$duck/ext" "$venv/bin/ftm-lakehouse" "$@" 2>/dev/null; }

# The checks, on files in $work: each argument is `entities:LABEL:FILE` (the entities of FILE
# are the sample's), `statements:LABEL:A:B` (the statements of A and B are the sample's 2857,
# the same in both) or `count:LABEL:FILE` (FILE holds the sample's 2857 statements).
cat > "$work/check.py" <<'PY'
import csv, json, sys
sample, work, checks = sys.argv[1], sys.argv[2], sys.argv[3:]
def entities(path):
    return {e["id"]: (e["schema"], {k: sorted(v) for k, v in e["properties"].items()})
            for e in map(json.loads, open(path))}
def statements(path):
    with open(f"{work}/{path}", newline="") as f:
        return {(r["id"], r["entity_id"], r["prop"], r["value"]) for r in csv.DictReader(f)}
want, ok = entities(sample), True
for check in checks:
    kind, label, *files = check.split(":")
    if kind == "entities":
        same = entities(f"{work}/{files[0]}") == want
        print(f"  {label}: {'474 entities, same as the input' if same else 'DIFFERENT'}")
    elif kind == "statements":
        a, b = statements(files[0]), statements(files[1])
        same = len(a) == len(b) == 2857 and a == b
        print(f"  {label}: {len(a)} / {len(b)}, {'identical ids and values' if same else 'DIFFERENT'}")
    else:
        n = len(statements(files[0]))
        same = n == 2857
        print(f"  {label}: {n} statements")
    ok &= same
sys.exit(0 if ok else 1)
PY
check() { python3 "$work/check.py" "$sample" "$work" "$@"; }

cargo build -q --locked -p ftm-lakehouse
ours="$CARGO_TARGET_DIR/debug/ftm-lakehouse"
sample="examples/donations.ftm.json"

echo "1. the reference reads a lake written by this implementation"
"$ours" --uri "$work/ours" -d donations entities import -i "$sample" 2>/dev/null
ref --uri "$work/ours" -d donations statements iterate -o "$work/1-statements.csv"
ref --uri "$work/ours" -d donations entities iterate -o "$work/1-entities.json"
cp -r "$work/ours" "$work/ours-made"
ref --uri "$work/ours" -d donations make
cp "$work/ours/donations/entities.ftm.json" "$work/1-make-entities.json"
"$ours" --uri "$work/ours-made" -d donations make >/dev/null 2>&1
ref --uri "$work/ours-made" -d donations statements iterate -o "$work/1-merged-statements.csv"

echo "2. this implementation reads a lake written by the reference"
ref --uri "$work/theirs" -d donations entities import -i "$sample"
ref --uri "$work/theirs" -d donations make
"$ours" --uri "$work/theirs" -d donations statements iterate -o "$work/2-statements.csv"
"$ours" --uri "$work/theirs" -d donations entities iterate -o "$work/2-entities.json"

check "entities:reference iterate of our lake:1-entities.json" \
  "entities:reference make of our lake:1-make-entities.json" \
  "entities:our iterate of the reference lake:2-entities.json" \
  "statements:statements read across:1-statements.csv:2-statements.csv" \
  "statements:reference read of our merged files:1-merged-statements.csv:1-statements.csv"
echo "3. the archive: each reads the other's crawl of ../shared/fixtures/files"
files="$(cd ../shared/fixtures/files && pwd)"
"$ours" --uri "$work/ours" -d files crawl "$files" 2>/dev/null
ref --uri "$work/theirs" -d files crawl "$files" >/dev/null
ref --uri "$work/ours" -d files archive ls --keys > "$work/3-ref-keys.txt"
"$ours" --uri "$work/theirs" -d files archive ls --keys > "$work/3-our-keys.txt"
"$ours" --uri "$work/ours" -d files make 2>/dev/null
ref --uri "$work/ours" -d files archive download -o "$work/3-ref-download" >/dev/null
"$ours" --uri "$work/theirs" -d files make 2>/dev/null
"$ours" --uri "$work/theirs" -d files archive download -o "$work/3-our-download" 2>/dev/null
pdf=32ca2800160763fbbcf42c0a4617e666c156583da1eb00b91b09afb3c654f055
ref --uri "$work/ours" -d files archive get "$pdf" > "$work/3-ref-get.pdf"
for keys in "$work/3-ref-keys.txt" "$work/3-our-keys.txt"; do
  [ "$(sort "$keys" | tr '\n' ' ')" = "example.pdf testdir/test.txt utf.txt " ] || { echo "  keys differ: $keys" >&2; exit 1; }
done
cmp -s "$work/3-ref-get.pdf" "$files/example.pdf" || { echo "  archive get differs" >&2; exit 1; }
diff -r "$work/3-ref-download" "$files" >/dev/null || { echo "  reference download of our archive differs" >&2; exit 1; }
diff -r "$work/3-our-download" "$files" >/dev/null || { echo "  our download of the reference archive differs" >&2; exit 1; }
echo "  keys, blob bytes and downloads match both ways"

echo "4. the same on S3: each makes the lake the other wrote in a bucket"
eval "$(bash .ci/object-stores.sh)"
lake="s3://$FTM_TEST_BUCKET/reference-check-$(date +%s)-$$"
"$ours" --uri "$lake/ours" -d donations entities import -i "$sample" 2>/dev/null
ref --uri "$lake/ours" -d donations make
ref --uri "$lake/ours" -d donations entities stream -o "$work/4-ref-make.json"
ref --uri "$lake/theirs" -d donations entities import -i "$sample"
ref --uri "$lake/theirs" -d donations make
ref --uri "$lake/theirs" -d donations entities stream -o "$work/4-ref-own.json"
"$ours" --uri "$lake/theirs" -d donations export --force 2>/dev/null
"$ours" --uri "$lake/theirs" -d donations entities stream -o "$work/4-our-export.json"
ref --uri "$lake/raw" -d donations entities import -i "$sample"
"$ours" --uri "$lake/raw" -d donations make 2>/dev/null
"$ours" --uri "$lake/raw" -d donations entities stream -o "$work/4-our-make.json"
"$ours" --uri "$lake/theirs" -d donations statements iterate -o "$work/4-our-statements.csv"
check "entities:reference make of our S3 lake:4-ref-make.json" \
  "entities:reference make of its own S3 lake:4-ref-own.json" \
  "entities:our export of the reference's made S3 lake:4-our-export.json" \
  "entities:our make of the reference's imported S3 lake:4-our-make.json" \
  "count:our read of the reference's S3 lake:4-our-statements.csv"

echo "5. the reference's client in api mode writes and makes through our server"
"$ours" --uri "$work/served" api --port 0 2> "$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "http://" "$work/server.log" && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$work/server.log" | head -n 1)"
cat > "$work/write.py" <<'PY'
import json, sys
from followthemoney import model
from ftm_lakehouse.repository.factories import get_entities
with get_entities(sys.argv[1]).writer(origin="bulk") as writer:
    for line in open(sys.argv[2]):
        writer.add_entity(model.get_proxy(json.loads(line)))
PY
export LAKEHOUSE_URI="$url" PUTFS_HTTPS=false
PYTHONPATH="$duck/site" "$venv/bin/python" "$work/write.py" donations "$sample" 2>/dev/null
ref -d donations make
ref -d donations entities iterate -o "$work/5-api-iterate.json"
unset LAKEHOUSE_URI PUTFS_HTTPS
cp "$work/served/donations/entities.ftm.json" "$work/5-api-make.json"
"$ours" --uri "$work/served" -d donations statements iterate -o "$work/5-statements.csv" 2>/dev/null
check "entities:reference make through our server:5-api-make.json" \
  "entities:reference iterate through our server:5-api-iterate.json" \
  "count:statements the reference posted to our server:5-statements.csv"

echo "6. our client in api mode writes and makes through the reference's server"
mkdir -p "$work/refserved"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(cd "$work" && LAKEHOUSE_URI="$work/refserved" PYTHONPATH="$duck/site" LAKEHOUSE_DUCKDB_EXTENSION_DIRECTORY="$duck/ext" \
  "$venv/bin/uvicorn" ftm_lakehouse.api:app --host 127.0.0.1 --port "$port" > "$work/refserver.log" 2>&1) &
refserver=$!
trap 'kill $server $refserver 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/openapi.json" >/dev/null && break; sleep 0.2; done
export LAKEHOUSE_URI="http://127.0.0.1:$port"
"$ours" -d donations entities import -i "$sample" 2>/dev/null
"$ours" -d donations make 2>/dev/null
"$ours" -d donations entities iterate -o "$work/6-api-iterate.json" 2>/dev/null
unset LAKEHOUSE_URI
cp "$work/refserved/donations/entities.ftm.json" "$work/6-api-make.json"
ref --uri "$work/refserved" -d donations statements iterate -o "$work/6-statements.csv"
check "entities:our make through the reference's server:6-api-make.json" \
  "entities:our iterate through the reference's server:6-api-iterate.json" \
  "count:statements we posted to the reference's server:6-statements.csv"
echo "7. each reads a lake the other re-sharded to 8 shards"
cp -r "$work/ours-made" "$work/ours-sharded"
"$ours" --uri "$work/ours-sharded" -d donations maintenance shard --shards 8 >/dev/null 2>&1
ref --uri "$work/ours-sharded" -d donations statements iterate -o "$work/7-ref-statements.csv"
ref --uri "$work/ours-sharded" -d donations entities iterate -o "$work/7-ref-entities.json"
cp -r "$work/theirs" "$work/theirs-sharded"
ref --uri "$work/theirs-sharded" -d donations maintenance shard --shards 8 >/dev/null
"$ours" --uri "$work/theirs-sharded" -d donations statements iterate -o "$work/7-our-statements.csv" 2>/dev/null
"$ours" --uri "$work/theirs-sharded" -d donations entities iterate -o "$work/7-our-entities.json" 2>/dev/null
for lake in ours-sharded theirs-sharded; do
  shards="$(ls "$work/$lake/donations/statements" | grep -c '^shard=')"
  [ "$shards" = 8 ] || { echo "  $lake has $shards shard folders, not 8" >&2; exit 1; }
done
id=006dd13b055a6b66947f991ced6c854defe0e626
"$ours" --uri "$work/theirs-sharded" -d donations entities get "$id" 2>/dev/null | grep -q "$id" \
  || { echo "  our lookup of $id in the reference's re-sharded lake failed" >&2; exit 1; }
check "entities:reference iterate of our re-sharded lake:7-ref-entities.json" \
  "entities:our iterate of the reference's re-sharded lake:7-our-entities.json" \
  "statements:statements of the re-sharded lakes read across:7-ref-statements.csv:7-our-statements.csv"
echo "reference check passed"
