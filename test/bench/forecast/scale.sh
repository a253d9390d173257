#!/usr/bin/env bash
# Forecast fitting at chain scale (issue 18): forecast_fit over the default sample's
# store x product daily series (generate_sample_data with its defaults: 20 stores x 500
# products, two years), with 'auto' and 'ets', at retailiq.forecast_workers 0, 1 and 2.
# Prints seconds, series per second and the speed-up over 0 workers per method, checks
# that every setting gave the same model byte for byte (the training time aside), and
# prints the load average beside the figures (the machine may be shared).
#
# Each series is a store x product's daily units from its first sale to its last (the days
# without a sale inside are 0, the forecast_fit collector's gap policy). The fit query runs
# with max_parallel_workers_per_gather = 0: a fit inside a parallel query plan is serial.
#
# Env: PGDATABASE etc. (as tools/bench.sh sets them), and the knobs
#   FORECAST_SCALE_SERIES=N      the first N store x product series by key (default 10000:
#                                all of them; 'auto' at 0 workers takes about half an hour)
#   FORECAST_SCALE_METHODS="auto ets"
#   FORECAST_SCALE_WORKERS="0 1 2"
#   FORECAST_SCALE_SCHEMA=bench_scale   where the sample data is made (kept for reruns)
set -euo pipefail
PSQL="psql -X -q -v ON_ERROR_STOP=1"
N=${FORECAST_SCALE_SERIES:-10000}
METHODS=${FORECAST_SCALE_METHODS:-auto ets}
WORKERS=${FORECAST_SCALE_WORKERS:-0 1 2}
S=${FORECAST_SCALE_SCHEMA:-bench_scale}

if [ "$($PSQL -tAc "SELECT to_regclass('$S.daily_sales') IS NOT NULL")" != t ]; then
  echo "-- generating the sample data (defaults) into schema $S"
  $PSQL -c "SELECT retailiq.generate_sample_data('$S')" >/dev/null
fi
$PSQL <<SQL
DROP TABLE IF EXISTS $S.scale_rows, $S.scale_models;
CREATE TABLE $S.scale_rows AS
SELECT d.store_id || '/' || d.product_id AS series, d.day, d.units::float8 AS y
FROM $S.daily_sales d
JOIN (SELECT DISTINCT store_id, product_id FROM $S.daily_sales
      ORDER BY store_id, product_id LIMIT $N) k USING (store_id, product_id);
ANALYZE $S.scale_rows;
CREATE TABLE $S.scale_models (method text, workers int, seconds float8, model retailiq.model);
SQL
echo "-- $($PSQL -tAc "SELECT count(DISTINCT series) || ' series, ' || count(*) || ' rows' FROM $S.scale_rows"); 2 cores: $(nproc) online"
for m in $METHODS; do
  for w in $WORKERS; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    $PSQL <<SQL
SET max_parallel_workers_per_gather = 0;
SET retailiq.forecast_workers = $w;
DO \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    m retailiq.model;
BEGIN
    SELECT retailiq.forecast_fit(series, day, y, '$m') INTO m FROM $S.scale_rows;
    INSERT INTO $S.scale_models VALUES ('$m', $w, extract(epoch FROM clock_timestamp() - t0), m);
END
\$\$;
SQL
    echo "   $m, $w workers: $($PSQL -tAc "SELECT round(seconds::numeric, 1) FROM $S.scale_models WHERE method = '$m' AND workers = $w") s (load before: $load; after: $(cut -d' ' -f1-3 /proc/loadavg))"
  done
done
$PSQL -P footer=off <<SQL
SELECT s.method, s.workers, round(s.seconds::numeric, 1) AS seconds,
       round(((retailiq.model_info(s.model) -> 'metrics' ->> 'nseries')::int / s.seconds)::numeric, 2) AS series_per_s,
       round((b.seconds / s.seconds)::numeric, 2) AS speed_up,
       substr(retailiq.model_send(s.model), 25) = substr(retailiq.model_send(b.model), 25) AS same_model
FROM $S.scale_models s
LEFT JOIN $S.scale_models b ON b.method = s.method AND b.workers = (SELECT min(workers) FROM $S.scale_models)
ORDER BY s.method, s.workers;
SQL
echo "-- load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
