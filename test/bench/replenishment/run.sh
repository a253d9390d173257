#!/usr/bin/env bash
# Replenishment policies replayed on past sales (retailiq.replenishment_backtest), in one run:
#   1. the default sample (retailiq.generate_sample_data, 20 stores x 500 products, daily):
#      400 store x product series (stores 1-4, products 1-100), the last 8 weeks
#      (2025-11-05 .. 2025-12-30) replayed, lead time 2 days, daily review;
#   2. Dominick's orange juice (BENCH_DATA/dominicks, 913 store x brand series, weekly): the
#      last 20 weeks (1992-05-21 .. 1992-10-01) replayed, lead time 1 week, weekly review;
# each at 90% and 95% target cycle service level, for 'plan' (forecasts refitted with the
# source's method, 'auto', every 7 days on the sample and every 4 weeks on Dominick's; both
# with the factors known when ordering, so 'auto' fits the dynamic regression: the sample's
# promotions and holidays (setup.sql), Dominick's log price, deal and feature (dominicks.sql)),
# 'reorder_point' and 'naive'. The classic policy is also run at targets from 50% to 99.5%,
# and its average stock interpolated linearly at the service level 'plan' achieved, so the
# two are compared at the same achieved service level. Nothing is tuned: the plan's only
# inputs are the registered method's forecasts (the sample source's regression options were
# chosen on the 8 weeks before the replayed ones; doc/replenishment.md, "Factors and skewed
# intervals"); the replayed weeks are the data's last.
#   3. real daily data kept away from the plan's development: Online Retail (BENCH_DATA/
#      online_retail, one online shop, its 100 best-selling products by units before the
#      replayed weeks), the last 8 weeks (2011-10-14 .. 2011-12-08) replayed, lead 2 days,
#      daily review, the same policies and grid;
#   4. the nightly plan for all 10,000 series of the sample, timed after their forecasts.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
Q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

Q -c "DROP SCHEMA IF EXISTS bench_repl CASCADE" 2>/dev/null
echo "   generating the default sample (about 2-3 minutes on a loaded machine)"
Q -c "SELECT sum(row_count) FROM retailiq.generate_sample_data('bench_repl')" >/dev/null
Q -f "$HERE/setup.sql" >/dev/null
if [ -f "${BENCH_DATA:-}/dominicks/orange_juice_weekly.csv" ]; then
  Q -c "\\copy bench_repl.oj FROM '$BENCH_DATA/dominicks/orange_juice_weekly.csv' CSV HEADER"
  Q -f "$HERE/dominicks.sql" >/dev/null
else
  echo "   note: ${BENCH_DATA:-BENCH_DATA}/dominicks is missing: Dominick's is skipped"
fi
if [ -f "${BENCH_DATA:-}/online_retail/online_retail_clean_shared.csv.gz" ]; then
  Q -v gunzip="gzip -dc $BENCH_DATA/online_retail/online_retail_clean_shared.csv.gz" -f "$HERE/online_retail.sql" >/dev/null
else
  echo "   note: ${BENCH_DATA:-BENCH_DATA}/online_retail is missing: Online Retail is skipped"
fi
Q -f "$HERE/backtest.sql"
Q -f "$HERE/report.sql"
Q -f "$HERE/nightly.sql"
