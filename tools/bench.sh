#!/usr/bin/env bash
# make bench: each test/bench/<analytic>/run.sh runs retailiq and its peer side by side on
# the same data in one run and prints the ratio. Set-up as for make test; the benchmarks
# read the larger data sets from ../shared/data when it is there (BENCH_DATA overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib.sh

ensure_packages
build
setup_pgroot
start_cluster >/dev/null
createdb retailiq_bench
export PGDATABASE=retailiq_bench
psql -X -q -c 'CREATE EXTENSION retailiq' >/dev/null
export BENCH_DATA=${BENCH_DATA:-$(cd .. && pwd)/shared/data}
export REPO=$PWD WORK
[ -d "$BENCH_DATA" ] || echo "note: $BENCH_DATA is missing; benchmarks that need it say so and skip"

only=${BENCH:-}
for run in test/bench/*/run.sh; do
  name=$(basename "$(dirname "$run")")
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  echo "== bench: $name"
  bash "$run" || echo "   bench $name FAILED"
done
