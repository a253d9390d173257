#!/usr/bin/env bash
# The nightly forecast at chain scale (issue 18), run by `make bench BENCH=forecast_scale`.
#
# The default sample (retailiq.generate_sample_data with its defaults: 20 stores x 500
# products, two years daily) registered as a sales source of store x product series (the
# view below: every series over the whole calendar, days without a sale 0), refreshed the
# way the nightly job does it: refresh_forecasts(ARRAY[1, 7, 28]) with max_model_age "0".
# For each method and each retailiq.forecast_workers setting:
#   cold   the first refresh (no previous model: every series selects its form);
#   warm   the next night: one more day of sales for every series, refit from the previous
#          model (each series' method and form kept, parameters re-estimated);
#   same   the night after with no new rows: every series skipped.
# Printed per run: seconds, series per second, per core (fitting processes = workers + 1,
# at most the machine's cores), the speed-up over the first workers setting, the fit's
# warm/skipped counts from the model, the backend's peak resident memory (VmHWM of the
# refreshing backend; parallel workers not included) and the load average before and after.
# The cold forecasts of every workers setting are compared (identical = serial = parallel).
#
# Then the 100,000-series panel (FORECAST_SCALE_BIG=1): the generator with 100 stores x
# 1,000 products (FORECAST_SCALE_BIG_DAYS days, default 730: two years, 73 million rows),
# refreshed once with FORECAST_SCALE_BIG_METHOD (default croston: the fits are cheap, so the
# rows' path is what is measured; auto keeps five records a series, the most memory) under
# the default retailiq.max_memory, with its peak memory. Every store x product over the whole
# calendar (days without a sale 0), as the 10,000-series source, made into a table once
# (kept for reruns). The fit streams the rows through temporary files (doc/forecast.md).
#
# Env: PGDATABASE etc. (tools/bench.sh sets them) and the knobs
#   FORECAST_SCALE_SERIES=N        the first N store x product series by key (default 10000)
#   FORECAST_SCALE_METHODS="auto lstm"
#   FORECAST_SCALE_WORKERS="0 1"   retailiq.forecast_workers settings (0 = the backend alone)
#   FORECAST_SCALE_NIGHTS="cold warm same"   which nights to run (cold always runs first)
#   FORECAST_SCALE_SCHEMA=bench_scale   where the sample data is made (kept for reruns)
#   FORECAST_SCALE_BIG=0|1         the 100,000-series panel (default 0: hours on a loaded machine)
#
# A quick look on an idle machine (1,000 series, the cold night only, both methods at 0 and 1
# workers, i.e. one and two fitting processes):
#   make bench BENCH=forecast_scale FORECAST_SCALE_SERIES=1000 FORECAST_SCALE_NIGHTS=cold
# The LSTM spreads its ETS bases, its three candidate windows' networks and its ensemble's
# three networks over the workers (jobs fixed by the data, so the forecasts are identical at
# every setting); its epochs cost the same at any number of series (windows_per_epoch
# windows, validation on at most validation_series series), so the bases are the part that
# grows with the series. The issue's LSTM figure:
#   make bench BENCH=forecast_scale FORECAST_SCALE_METHODS=lstm FORECAST_SCALE_NIGHTS=cold
# and the 100,000-series two-year panel (generates about 73 million rows once, some 4 GB):
#   make bench BENCH=forecast_scale FORECAST_SCALE_SERIES=1000 FORECAST_SCALE_METHODS=auto \
#        FORECAST_SCALE_WORKERS=1 FORECAST_SCALE_NIGHTS=cold FORECAST_SCALE_BIG=1
set -euo pipefail
PSQL="psql -X -q -v ON_ERROR_STOP=1"
N=${FORECAST_SCALE_SERIES:-10000}
METHODS=${FORECAST_SCALE_METHODS:-auto lstm}
WORKERS=${FORECAST_SCALE_WORKERS:-0 1}
NIGHTS=${FORECAST_SCALE_NIGHTS:-cold warm same}
S=${FORECAST_SCALE_SCHEMA:-bench_scale}
BIG=${FORECAST_SCALE_BIG:-0}
BIG_DAYS=${FORECAST_SCALE_BIG_DAYS:-730}
BIG_METHOD=${FORECAST_SCALE_BIG_METHOD:-croston}
CORES=$(nproc)
load() { cut -d' ' -f1-3 /proc/loadavg; }

if [ "$($PSQL -tAc "SELECT to_regclass('$S.daily_sales') IS NOT NULL")" != t ]; then
  echo "-- generating the sample data (defaults) into schema $S"
  $PSQL -c "SELECT retailiq.generate_sample_data('$S')" >/dev/null
fi

# The source: N store x product series over the sample's calendar (a table, days without a
# sale 0), plus the table of new days the warm night adds to.
$PSQL <<SQL
DROP VIEW IF EXISTS $S.scale_source;
DROP TABLE IF EXISTS $S.scale_rows, $S.scale_extra, $S.scale_runs;
CREATE TABLE $S.scale_rows AS
SELECT k.store_id || '/' || k.product_id AS series, k.store_id, k.product_id, c.day,
       coalesce(d.units, 0)::float8 AS units
  FROM (SELECT DISTINCT store_id, product_id FROM $S.daily_sales ORDER BY store_id, product_id LIMIT $N) k
 CROSS JOIN (SELECT generate_series(min(day), max(day), '1 day')::date AS day FROM $S.daily_sales) c
  LEFT JOIN (SELECT store_id, product_id, day, sum(units) AS units FROM $S.daily_sales GROUP BY 1, 2, 3) d
         USING (store_id, product_id, day);
CREATE TABLE $S.scale_extra (LIKE $S.scale_rows);
CREATE VIEW $S.scale_source AS
SELECT * FROM $S.scale_rows UNION ALL SELECT * FROM $S.scale_extra;
CREATE TABLE $S.scale_runs (id serial, method text, workers int, night text, seconds float8, series int,
                            warm int, skipped int, peak_kb bigint, load_before text, load_after text,
                            forecasts bigint);
SQL
echo "-- FORECAST_SCALE_SERIES=$N FORECAST_SCALE_METHODS=\"$METHODS\" FORECAST_SCALE_WORKERS=\"$WORKERS\" FORECAST_SCALE_NIGHTS=\"$NIGHTS\" FORECAST_SCALE_BIG=$BIG"
echo "-- $N store x product series of $($PSQL -tAc "SELECT count(*) FROM (SELECT generate_series(min(day), max(day), '1 day') FROM $S.daily_sales) c") days; cores: $CORES"

# one refresh in a fresh backend: its time, the model's counts, the backend's peak memory
refresh() { # method workers night
  local before; before=$(load)
  $PSQL <<SQL
SELECT pg_backend_pid() AS pid \gset
SET retailiq.forecast_workers = $2;
SELECT clock_timestamp() AS t0 \gset
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28], 'scale') AS rows_written \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \gset
\set peak \`grep VmHWM /proc/:pid/status | tr -dc 0-9\`
INSERT INTO $S.scale_runs (method, workers, night, seconds, series, warm, skipped, peak_kb, load_before,
                           load_after, forecasts)
SELECT '$1', $2, '$3', :secs, coalesce(i ->> 'nseries', i ->> 'series')::int, (i ->> 'series_warm')::int,
       (i ->> 'series_skipped')::int, nullif(:'peak', '')::bigint, '$before', NULL,
       (SELECT hashtext(string_agg(series || period_start || yhat || yhat_lower || yhat_upper, ','
                                   ORDER BY series, period_start))
          FROM retailiq.forecast_result WHERE model_name = 'forecast:scale')
  FROM (SELECT retailiq.model_info(retailiq.load_model('forecast:scale')) -> 'metrics' AS i) x;
SQL
  $PSQL -c "UPDATE $S.scale_runs SET load_after = '$(load)' WHERE id = (SELECT max(id) FROM $S.scale_runs)" >/dev/null
  $PSQL -tAc "SELECT format('   %s, %s workers, %s: %s s, %s series (%s warm, %s skipped), peak %s MB (load %s -> %s)',
                            method, workers, night, round(seconds::numeric, 1), series, coalesce(warm, 0),
                            coalesce(skipped, 0), peak_kb / 1024, load_before, load_after)
                FROM $S.scale_runs ORDER BY id DESC LIMIT 1"
}

for m in $METHODS; do
  for w in $WORKERS; do
    $PSQL -c "TRUNCATE $S.scale_extra" \
          -c "SELECT retailiq.unregister_sales_source('scale', true) FROM retailiq.sales_source WHERE name = 'scale'" \
          -c "SELECT retailiq.register_sales_source('scale', '$S.scale_source', 'series', 'day', 'units', method => '$m',
                                                    options => '{\"max_model_age\": \"0\"}',
                                                    store_column => 'store_id', product_column => 'product_id')" >/dev/null
    refresh "$m" "$w" cold
    # the next night: one more day for every series (the same weekday a week before)
    $PSQL -c "INSERT INTO $S.scale_extra
              SELECT r.series, r.store_id, r.product_id, r.day + 7, r.units FROM $S.scale_rows r
               WHERE r.day = (SELECT max(day) FROM $S.scale_rows) - 6" >/dev/null
    case " $NIGHTS " in *" warm "*) refresh "$m" "$w" warm ;; esac
    case " $NIGHTS " in *" same "*) refresh "$m" "$w" same ;; esac
  done
done
$PSQL -c "SELECT retailiq.unregister_sales_source('scale', true) FROM retailiq.sales_source WHERE name = 'scale'" >/dev/null

$PSQL -P footer=off <<SQL
SELECT r.method, r.workers, r.night, round(r.seconds::numeric, 1) AS seconds,
       round((r.series / r.seconds)::numeric, 1) AS series_per_s,
       round((r.series / r.seconds / least(r.workers + 1, $CORES))::numeric, 1) AS per_core,
       round((b.seconds / r.seconds)::numeric, 2) AS speed_up,
       r.warm, r.skipped, r.peak_kb / 1024 AS peak_mb,
       r.forecasts = b.forecasts AS same_forecasts,
       r.load_before
  FROM $S.scale_runs r
  JOIN $S.scale_runs b ON b.method = r.method AND b.night = r.night
                      AND b.workers = (SELECT min(workers) FROM $S.scale_runs)
 ORDER BY r.method, r.night, r.workers;
SQL

if [ "$BIG" = 1 ]; then
  echo "-- 100,000 series: 100 stores x 1,000 products x $BIG_DAYS days, method $BIG_METHOD, retailiq.max_memory $($PSQL -tAc 'SHOW retailiq.max_memory')"
  if [ "$($PSQL -tAc "SELECT to_regclass('${S}_big.daily_sales') IS NOT NULL")" != t ]; then
    $PSQL -c "SELECT retailiq.generate_sample_data('${S}_big', 20000, 100, 1000, $BIG_DAYS)" >/dev/null
  fi
  before=$(load)
  $PSQL <<SQL
SELECT pg_backend_pid() AS pid \gset
SELECT retailiq.unregister_sales_source('scale_big', true) FROM retailiq.sales_source WHERE name = 'scale_big';
SELECT to_regclass('${S}_big.scale_source') IS NULL AS make_panel \gset
\if :make_panel
SET work_mem = '256MB';
CREATE TABLE ${S}_big.scale_source AS
SELECT s.store_id || '/' || p.product_id AS series, c.day, coalesce(d.units, 0)::float8 AS units
  FROM ${S}_big.stores s CROSS JOIN ${S}_big.products p
 CROSS JOIN (SELECT generate_series(min(day), max(day), '1 day')::date AS day FROM ${S}_big.daily_sales) c
  LEFT JOIN ${S}_big.daily_sales d ON d.store_id = s.store_id AND d.product_id = p.product_id AND d.day = c.day;
ANALYZE ${S}_big.scale_source;
RESET work_mem;
\endif
SELECT pg_stat_force_next_flush();
SELECT temp_bytes AS temp0 FROM pg_stat_database WHERE datname = current_database() \gset
SELECT retailiq.register_sales_source('scale_big', '${S}_big.scale_source', 'series', 'day', 'units',
                                      method => '$BIG_METHOD', options => '{"max_model_age": "0"}') IS NOT NULL AS registered;
SELECT clock_timestamp() AS t0 \gset
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28], 'scale_big') AS rows_written;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1) AS seconds,
       retailiq.model_info(retailiq.load_model('forecast:scale_big')) -> 'metrics' ->> 'nseries' AS series;
\set peak \`grep VmHWM /proc/:pid/status\`
\echo peak resident memory of the refreshing backend: :peak
SELECT pg_stat_force_next_flush();
SELECT pg_size_pretty(temp_bytes - :temp0) AS temporary_files FROM pg_stat_database WHERE datname = current_database();
SQL
  echo "   load before: $before; after: $(load)"
fi
echo "-- load average now: $(load)"
