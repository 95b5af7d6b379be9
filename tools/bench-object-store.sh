#!/usr/bin/env bash
# `entities import` and `make` of the same generated workload on local disk and in a bucket of
# the local S3 server (moto, started by .ci/object-stores.sh), in one run: wall time and peak RSS
# of each, and the bucket's time as a multiple of the disk's.
#
#   bash tools/bench-object-store.sh [ENTITIES] [RUNS]     # default 100000 entities, 3 runs
#
# The workload comes from ../shared/bench/gen_ftm.py (--seed 1), cached in $BENCH_DIR
# (/tmp/ftm-bench). Each run imports into a fresh lake on each side, the sides alternating, then
# runs `make` there; the table gives the median time and the largest peak RSS. Set
# FTM_LAKEHOUSE_BIN to time a binary built elsewhere.
default_entities=100000
source "$(dirname "$0")/bench-common.sh"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
eval "$(bash .ci/object-stores.sh)"
stamp="$(date +%s)-$$"

measure() { # measure LABEL LAKE ARGS...: "seconds peak_kib" appended to $bench/LABEL.m
  local label=$1 lake=$2; shift 2
  sync
  /usr/bin/time -f "%e %M" -a -o "$bench/$label.m" "$ours" --uri "$lake" -d bench "$@" >/dev/null 2>"$bench/$label.log" ||
    { echo "$label failed, see $bench/$label.log" >&2; exit 1; }
}
for side in disk s3; do rm -f "$bench/$side-import.m" "$bench/$side-make.m"; done
for run in $(seq "$runs"); do
  for side in disk s3; do
    if [ "$side" = disk ]; then lake="$bench/os-lake-$run"; rm -rf "$lake"; else lake="s3://$FTM_TEST_BUCKET/bench-$stamp-$run"; fi
    measure "$side-import" "$lake" entities import -i "$input"
    measure "$side-make" "$lake" make
  done
  rm -rf "$bench/os-lake-$run"
done
median() { sort -n "$bench/$1.m" | awk '{t[NR]=$1; if ($2>m) m=$2} END {printf "%s %d", t[int((NR+1)/2)], m/1024}'; }
printf '%-8s %10s %10s %8s %14s\n' step disk s3 ratio "peak MiB d/s3"
for step in import make; do
  read -r dt dm <<<"$(median "disk-$step")"
  read -r st sm <<<"$(median "s3-$step")"
  printf '%-8s %9ss %9ss %7.2fx %8s / %s\n' "$step" "$dt" "$st" "$(echo "$st / $dt" | bc -l)" "$dm" "$sm"
done
