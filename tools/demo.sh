#!/usr/bin/env bash
# make demo: the same set-up as make test, then sample data and every analytic that exists,
# each step of tools/demo/*.sql in name order, with what it computed and how long it took.
# Leaves nothing running. DEMO_CUSTOMERS etc. change the size.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib.sh

ensure_packages
build
setup_pgroot
start_cluster >/dev/null
createdb retailiq_demo
export PGDATABASE=retailiq_demo
psql -X -q -c 'CREATE EXTENSION retailiq' >/dev/null

# sizes for the sample data step (README documents the defaults)
export DEMO_CUSTOMERS=${DEMO_CUSTOMERS:-10000} DEMO_STORES=${DEMO_STORES:-20}
export DEMO_PRODUCTS=${DEMO_PRODUCTS:-500} DEMO_DAYS=${DEMO_DAYS:-730} DEMO_SEED=${DEMO_SEED:-42}

echo "retailiq demo: PostgreSQL $(psql -X -At -c 'SHOW server_version'), throwaway cluster in $WORK"
total_start=$(date +%s.%N)
SUMMARY=()
for step in tools/demo/*.sql; do
  title=$(sed -n '1s/^-- *//p' "$step")
  echo
  echo "== $title"
  start=$(date +%s.%N)
  psql -X -q -v ON_ERROR_STOP=1 -P footer=off \
       -v customers="$DEMO_CUSTOMERS" -v stores="$DEMO_STORES" -v products="$DEMO_PRODUCTS" \
       -v days="$DEMO_DAYS" -v seed="$DEMO_SEED" -f "$step"
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc)
  printf '   (%s took %.1f s)\n' "$(basename "$step" .sql)" "$secs"
  SUMMARY+=("$(printf '%7.1f s  %s' "$secs" "$title")")
done
echo
echo "== Summary"
printf '%s\n' "${SUMMARY[@]}"
printf '\ndemo finished in %.1f s; the cluster is stopped and removed.\n' \
  "$(echo "$(date +%s.%N) - $total_start" | bc)"
