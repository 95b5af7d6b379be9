#!/usr/bin/env bash
# Installs (if missing) and starts the object store servers the tests use, on 127.0.0.1 only,
# and prints the environment that points the cloud clients at them. Idempotent: servers already
# listening are reused.
#   eval "$(bash .ci/object-stores.sh)"
#
# * S3: moto's server mode (PyPI `moto[server]`), port $FTM_TEST_S3_PORT (54340);
# * Azure Blob Storage: Azurite (npm `azurite`), port $FTM_TEST_AZURE_PORT (54341).
# No GCS server: the one on PyPI (`gcp-storage-emulator`) serves GCS's JSON API, and the GCS
# client (object_store, as delta-rs) speaks its XML API (README, "Object storage").
# Everything lives in $FTM_TEST_SERVERS (default ~/.cache/ftm-lakehouse-servers).
set -euo pipefail
home="${FTM_TEST_SERVERS:-$HOME/.cache/ftm-lakehouse-servers}"
s3_port="${FTM_TEST_S3_PORT:-54340}"
azure_port="${FTM_TEST_AZURE_PORT:-54341}"
mkdir -p "$home/logs" "$home/azurite"

python=""
for candidate in python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import venv' 2>/dev/null; then
    python=$(command -v "$candidate"); break
  fi
done
[ -n "$python" ] || { echo "no python3 with venv found" >&2; exit 1; }
if [ ! -x "$home/venv/bin/moto_server" ] || [ ! -d "$home/venv/lib" ] \
  || ! "$home/venv/bin/python" -c 'import azure.storage.blob' 2>/dev/null; then
  echo "installing moto[server] and azure-storage-blob ..." >&2
  "$python" -m venv "$home/venv" >&2
  "$home/venv/bin/pip" install -q 'moto[server]==5.2.5' 'azure-storage-blob==12.26.0' >&2
fi
if [ ! -x "$home/node/node_modules/.bin/azurite-blob" ]; then
  echo "installing azurite ..." >&2
  mkdir -p "$home/node"
  (cd "$home/node" && npm install --silent --no-audit --no-fund azurite@3 >&2)
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() { # start PORT NAME COMMAND...
  local port=$1 name=$2; shift 2
  if ! listening "$port"; then
    nohup "$@" >"$home/logs/$name.log" 2>&1 &
    for _ in $(seq 100); do listening "$port" && return 0; sleep 0.1; done
    echo "$name did not start on 127.0.0.1:$port, see $home/logs/$name.log" >&2; exit 1
  fi
}
start "$s3_port" moto "$home/venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port"
start "$azure_port" azurite "$home/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
  --blobPort "$azure_port" --location "$home/azurite" --skipApiVersionCheck --loose

# The bucket (container) every test lake lives in, each under a prefix of its own.
bucket="${FTM_TEST_BUCKET:-ftm-test}"
"$home/venv/bin/python" - "$s3_port" "$azure_port" "$bucket" <<'PY' >&2
import sys, urllib.request, urllib.error
s3, azure, bucket = sys.argv[1:]
def call(method, url, body=None):
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10).read()
    except urllib.error.HTTPError as e:
        if e.code not in (409,):  # 409: exists already
            raise
call("PUT", f"http://127.0.0.1:{s3}/{bucket}")
from azure.storage.blob import BlobServiceClient
from azure.core.exceptions import ResourceExistsError
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
service = BlobServiceClient(f"http://127.0.0.1:{azure}/devstoreaccount1", credential={"account_name": "devstoreaccount1", "account_key": key})
try:
    service.create_container(bucket)
except ResourceExistsError:
    pass
PY

cat <<EOF
export FTM_TEST_BUCKET=$bucket
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port AWS_ALLOW_HTTP=true
export AZURE_STORAGE_USE_EMULATOR=true AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:$azure_port
EOF
