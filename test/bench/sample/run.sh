#!/usr/bin/env bash
# Sample-data generator throughput, at the demo size and at 100,000 customers. There is no
# peer to compare with; the figure to watch is rows per second and that the large size works.
set -euo pipefail
for size in "10000 20 500 730" "100000 20 500 730"; do
  set -- $size
  start=$(date +%s.%N)
  rows=$(psql -X -At -c "SELECT sum(row_count) FROM retailiq.generate_sample_data('bench_$1', $1, $2, $3, $4, 42)")
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  printf '   %7d customers, %d stores, %d products, %d days: %10d rows in %6.1f s (%.0f rows/s)\n' \
    "$1" "$2" "$3" "$4" "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)"
  psql -X -q -c "DROP SCHEMA bench_$1 CASCADE"
done
