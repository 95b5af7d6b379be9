"""A load client for the lakehouse HTTP API, the same for both servers (ours and the reference's).

Run with a Python that has pyarrow and followthemoney (the reference's venv has both):

    api-client.py prepare STATEMENTS_CSV DATASET OUTDIR   # journal bulk bodies, 10,000 rows each
    api-client.py ingest URL DATASET BODYDIR CLIENTS       # post them from CLIENTS threads
    api-client.py query URL DATASET                        # the whole dataset as NDJSON entities
    api-client.py latency URL DATASET IDS N LOADERS        # N one-entity queries while LOADERS
                                                           # threads run whole-dataset queries

Each prints one line of figures of its own (rates, percentiles) after the work.
"""

import csv
import glob
import http.client
import json
import multiprocessing
import os
import random
import sys
import threading
import time
from urllib.parse import urlparse


def connection(url):
    parts = urlparse(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=3600)


def post(conn, path, body, content_type):
    conn.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"POST {path}: {response.status} {data[:300]!r}")
    return data


def prepare(statements_csv, dataset, outdir, rows_per_body=10_000):
    import pyarrow as pa
    from followthemoney import model

    bucket_of = {}

    def bucket(schema):
        if schema not in bucket_of:
            s = model.get(schema)
            bucket_of[schema] = next(
                (b.lower() for b in ("Page", "Mention", "Document", "Interval") if s.is_a(b)), "thing"
            )
        return bucket_of[schema]

    text = ["id", "entity_id", "dataset", "bucket", "origin", "source", "schema", "prop", "prop_type", "value",
            "original_value", "lang", "fragment", "role"]
    ts = pa.timestamp("us", tz="UTC")
    fields = [pa.field(n, pa.string()) for n in text] + [pa.field("external", pa.bool_()),
              pa.field("first_seen", ts), pa.field("last_seen", ts), pa.field("deleted_at", ts)]
    schema = pa.schema(fields)
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    os.makedirs(outdir, exist_ok=True)
    rows, n, total = [], 0, 0

    def flush():
        nonlocal rows, n
        if not rows:
            return
        columns = {f.name: [r.get(f.name) for r in rows] for f in fields}
        table = pa.table(columns, schema=schema)
        with pa.ipc.new_stream(f"{outdir}/body-{n:05d}.arrow", schema, options=options) as writer:
            writer.write_table(table)
        rows, n = [], n + 1

    from datetime import datetime
    with open(statements_csv, newline="") as f:
        for r in csv.DictReader(f):
            seen = datetime.fromisoformat(r["last_seen"])
            rows.append({
                **{k: (r.get(k) or None) for k in text}, "dataset": dataset, "bucket": bucket(r["schema"]),
                "fragment": r.get("fragment") or "", "origin": r.get("origin") or "bulk",
                "external": r.get("external") in ("t", "true", "True", "1"),
                "first_seen": datetime.fromisoformat(r["first_seen"]), "last_seen": seen, "deleted_at": None,
            })
            total += 1
            if len(rows) >= rows_per_body:
                flush()
    flush()
    print(f"prepared {total} statements in {n} bodies")


def ingest(url, dataset, bodydir, clients):
    bodies = [open(p, "rb").read() for p in sorted(glob.glob(f"{bodydir}/body-*.arrow"))]
    import pyarrow as pa
    posted = sum(pa.ipc.open_stream(body).read_all().num_rows for body in bodies)
    counts = [0] * clients

    def work(i):
        conn = connection(url)
        for body in bodies[i::clients]:
            counts[i] += int(post(conn, f"/{dataset}/_api/journal/bulk", body, "application/vnd.apache.arrow.stream"))

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    print(f"ingest: {posted} statements posted in {took:.2f} s = {posted / took:.0f} statements/s, "
          f"{sum(counts)} acknowledged")


def query_all(url, dataset, conn=None):
    conn = conn or connection(url)
    conn.request("POST", f"/{dataset}/_api/entities/query", body=json.dumps({"query": None}),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    lines = 0
    while chunk := response.read(1 << 16):
        lines += chunk.count(b"\n")
    return lines


def query(url, dataset):
    started = time.monotonic()
    n = query_all(url, dataset)
    took = time.monotonic() - started
    print(f"query: {n} entities in {took:.2f} s = {n / took:.0f} entities/s")


def load(url, dataset, stop):
    conn = connection(url)
    while not stop.is_set():
        query_all(url, dataset, conn)


def latency(url, dataset, ids_file, n, loaders):
    ids = [line.strip() for line in open(ids_file) if line.strip()]
    # Loaders are processes of their own: as threads of this one, reading a fast server's
    # output they would hold the interpreter's lock and delay the timed queries' client side.
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=load, args=(url, dataset, stop), daemon=True) for _ in range(loaders)]
    for w in workers:
        w.start()
    time.sleep(0.5)  # The loaders' first queries are under way.
    conn, times, rng = connection(url), [], random.Random(1)
    for _ in range(n):
        entity = rng.choice(ids)
        body = json.dumps({"query": {"q": {"and": [{"leaf": {"t": "M", "f": "id", "op": "eq", "v": entity}}]}}})
        started = time.monotonic()
        data = post(conn, f"/{dataset}/_api/entities/query", body, "application/json")
        times.append(time.monotonic() - started)
        assert data.count(b"\n") == 1, data[:200]
    stop.set()
    for w in workers:
        w.terminate()
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    print(f"latency under {loaders} loaders: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms over {n} queries")


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "prepare":
        prepare(*args[:3])
    elif mode == "ingest":
        ingest(args[0], args[1], args[2], int(args[3]))
    elif mode == "query":
        query(*args[:2])
    elif mode == "latency":
        latency(args[0], args[1], args[2], int(args[3]), int(args[4]))
    else:
        raise SystemExit(__doc__)
