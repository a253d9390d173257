#!/usr/bin/env bash
# Pricing and promotion bench (issue 25), run by `make bench BENCH=pricing`:
#   1. elasticities on Dominick's orange juice beside R's lm on the same fixed-effects
#      specification (elasticity_lm.R), max abs difference (goal 1e-6);
#   2. shrunk store-level estimates vs per-store OLS on held-back weeks 149..160 (WAPE);
#   3. Dominick's deal weeks 149..160 predicted with and without the deal uplift (WAPE);
#   4. the sample's planted promotion uplift recovered by promotion_effects (goal +-10%).
# Env: BENCH_DATA, PGDATABASE (tools/bench.sh); PRICING_BENCH_SAMPLE=0 skips 4 (about 10
# minutes on the loaded 2-core machine).
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/../../.." && pwd)}
BENCH_DATA=${BENCH_DATA:-$REPO/../shared/data}
WORK=${WORK:-$(mktemp -d)}
HERE=$REPO/test/bench/pricing
cd "$REPO"
D=$BENCH_DATA/dominicks
if [ -f "$D/orange_juice_weekly.csv" ]; then
  if command -v Rscript >/dev/null; then
    mkdir -p "$WORK/pricing"
    t0=$(date +%s.%N)
    Rscript "$HERE/elasticity_lm.R" "$D/orange_juice_weekly.csv" "$WORK/pricing/r_lm.csv"
    echo "R lm (11 brands): $(echo "$(date +%s.%N) - $t0" | bc) s"
    chmod -R a+rX "$WORK/pricing"
    psql -X -q -v data="$D" -v rcsv="$WORK/pricing/r_lm.csv" -f "$HERE/dominicks.sql"
  else
    echo "Rscript is missing (apt-get install r-base-core): skipping Dominick's"
  fi
else
  echo "$D is missing: skipping Dominick's"
fi
if [ "${PRICING_BENCH_SAMPLE:-1}" = 1 ]; then
  psql -X -q -f "$HERE/sample_uplift.sql"
fi
