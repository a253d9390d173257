#!/usr/bin/env bash
# Forecast accuracy bench (issue 5 item 7), run by `make bench BENCH=forecast`.
#
# (a) aus_retail: 152 monthly ABS retail series ($BENCH_DATA/aus_retail), rolling origins
#     2013-01 .. 2016-01 (one per year), horizon 12: seasonal naive, retailiq ETS, retailiq
#     auto, retailiq LSTM (one global model per origin, when forecast_lstm_fit exists),
#     R forecast ets (and auto.arima), statsmodels ETSModel (AICc over the same 15 forms).
# (b) the daily sample data (generate_sample_data), store x category series, origins 28 days
#     apart at the end, horizons 7 and 28: snaive, ETS, auto, LSTM without and with factors
#     (promotion share and depth, holiday today/tomorrow, temperature).
# (c) training time on 1,000 daily series of two years (measured, not extrapolated: the
#     LSTM's cost does not grow linearly with the series).
# Prints WAPE, sMAPE, MASE, 80% interval coverage and training time per method, and the WAPE
# ratio to R's ets (statsmodels when R is skipped).
#
# Env: REPO, WORK, BENCH_DATA, PGDATABASE (set by tools/bench.sh), and the knobs
#   FORECAST_BENCH_R=0          skip R (ets ~10-15 min on one core for 152 x 4 fits)
#   FORECAST_BENCH_ARIMA=1      add R auto.arima (another ~15 min)
#   FORECAST_BENCH_PY=1|0       statsmodels (default: only when R is skipped; ~25 min)
#   FORECAST_BENCH_SERIES=N     only the first N aus_retail series (by id)
#   FORECAST_BENCH_ORIGINS=...  comma-separated origins (default 2013-01-01,...,2016-01-01)
#   FORECAST_BENCH_PEER_DIR=d   reuse d/r.csv (+ r.csv.time) from an earlier run on the same
#                               series and origins instead of running R again
#   FORECAST_BENCH_AUTO=1       add retailiq 'auto' (two ETS fits per series) to (a) and (b)
#   FORECAST_BENCH_LSTM=0       skip the LSTM (a global fit takes minutes per origin)
#   FORECAST_BENCH_REEVALUATE=1 (a): keep the retailiq forecasts of the previous run in this
#                               database, only (re)load the peers and print the table
#   FORECAST_BENCH_AUS=0        skip part (a)
#   FORECAST_BENCH_DAILY=0      skip part (b)
#   FORECAST_BENCH_CUSTOMERS / _STORES / _PRODUCTS / _DAYS   sample size for (b)
#                               (default 3000 / 8 / 120 / 730: 80 store x category series of two years)
#   FORECAST_BENCH_SCALE=N      (c): time ETS and the LSTM (default options, with and without
#                               factors) on N synthetic daily series of two years (default
#                               1000; 0 skips; about 20 minutes at 1000)
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/../../.." && pwd)}
BENCH_DATA=${BENCH_DATA:-$REPO/../shared/data}
WORK=${WORK:-$(mktemp -d)}
OUT=$WORK/forecast_bench
mkdir -p "$OUT"
chmod 777 "$OUT" 2>/dev/null || true
PSQL="psql -X -q -v ON_ERROR_STOP=1"
DO_R=${FORECAST_BENCH_R:-1}
DO_ARIMA=${FORECAST_BENCH_ARIMA:-0}
ORIGINS=${FORECAST_BENCH_ORIGINS:-2013-01-01,2014-01-01,2015-01-01,2016-01-01}
NSERIES=${FORECAST_BENCH_SERIES:-0}
H=12

if [ "$(id -u)" -eq 0 ]; then
  need=()
  [ "$DO_R" = 1 ] && ! dpkg-query -W -f='${Status}' r-cran-forecast 2>/dev/null | grep -q 'ok installed' && need+=(r-cran-forecast)
  [ "${FORECAST_BENCH_PY:-}" = 1 ] || [ "$DO_R" != 1 ] && \
    ! dpkg-query -W -f='${Status}' python3-statsmodels 2>/dev/null | grep -q 'ok installed' && need+=(python3-statsmodels)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || true
  fi
fi
command -v Rscript >/dev/null && Rscript -e 'library(forecast)' >/dev/null 2>&1 || DO_R=0
DO_PY=${FORECAST_BENCH_PY:-$([ "$DO_R" = 1 ] && echo 0 || echo 1)}
[ "$DO_PY" = 1 ] && ! /usr/bin/python3 -c 'import statsmodels' 2>/dev/null && DO_PY=0

HAVE_LSTM=0
[ "${FORECAST_BENCH_LSTM:-1}" = 1 ] && HAVE_LSTM=$($PSQL -At -c "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'retailiq' AND p.proname = 'forecast_lstm_fit'")

# ---------------------------------------------------------------- (a) aus_retail
CSV=$BENCH_DATA/aus_retail/aus_retail_to_2016.csv
if [ "${FORECAST_BENCH_AUS:-1}" != 1 ]; then
  echo "(a) skipped (FORECAST_BENCH_AUS=0)"
elif [ -f "$CSV" ]; then
  echo "(a) aus_retail, origins $ORIGINS, h=$H"
  if [ "${FORECAST_BENCH_REEVALUATE:-0}" = 1 ]; then
    echo "   reusing fb_aus / fb_fc / fb_time of the previous run (FORECAST_BENCH_REEVALUATE)"
    $PSQL -c "DELETE FROM fb_fc WHERE method NOT LIKE 'retailiq%'" -c "DELETE FROM fb_time WHERE method NOT LIKE 'retailiq%'"
  else
  $PSQL <<SQL
DROP TABLE IF EXISTS fb_raw, fb_aus, fb_fc, fb_time;
CREATE TABLE fb_raw (state text, industry text, series_id text, month date, turnover float8);
\copy fb_raw FROM '$CSV' CSV HEADER
CREATE TABLE fb_aus AS
SELECT series_id AS series, month, turnover AS y FROM fb_raw
WHERE $NSERIES = 0 OR series_id IN (SELECT DISTINCT series_id FROM fb_raw ORDER BY 1 LIMIT $NSERIES);
CREATE TABLE fb_fc (method text, series text, origin date, step int, yhat float8, lo float8, hi float8);
CREATE TABLE fb_time (method text, origin date, seconds float8, nseries int);
\copy (SELECT series, month, y FROM fb_aus ORDER BY 1, 2) TO '$OUT/aus.csv' CSV HEADER
SQL

  # retailiq: snaive, ETS, auto; LSTM when installed (one global model per origin)
  $PSQL -v origins="{$ORIGINS}" -v have_lstm="$HAVE_LSTM" -v auto="${FORECAST_BENCH_AUTO:-0}" <<'SQL'
\o /dev/null
SELECT set_config('fb.origins', :'origins', false), set_config('fb.have_lstm', :'have_lstm', false),
       set_config('fb.auto', :'auto', false);
\o
DO $$
DECLARE
    o date;
    meth text;
    t0 timestamptz;
    ns int;
BEGIN
    FOREACH o IN ARRAY current_setting('fb.origins')::date[] LOOP
        SELECT count(DISTINCT series) INTO ns FROM fb_aus WHERE month < o;
        FOREACH meth IN ARRAY CASE WHEN current_setting('fb.auto') = '1' THEN ARRAY['snaive', 'ets', 'auto']
                                   ELSE ARRAY['snaive', 'ets'] END LOOP
            t0 := clock_timestamp();
            CREATE TEMP TABLE fb_m AS
            SELECT retailiq.forecast_fit(series, month, y, meth) AS m FROM fb_aus WHERE month < o;
            INSERT INTO fb_time VALUES ('retailiq_' || meth, o, extract(epoch FROM clock_timestamp() - t0), ns);
            INSERT INTO fb_fc
            SELECT 'retailiq_' || meth, f.series, o, f.step, f.yhat, f.yhat_lower, f.yhat_upper
            FROM fb_m, retailiq.forecast_all(fb_m.m, 12) f;
            DROP TABLE fb_m;
        END LOOP;
        IF current_setting('fb.have_lstm')::int > 0 THEN
            t0 := clock_timestamp();
            EXECUTE 'CREATE TEMP TABLE fb_m AS SELECT retailiq.forecast_lstm_fit(series, month, y) AS m FROM fb_aus WHERE month < $1'
                USING o;
            INSERT INTO fb_time VALUES ('retailiq_lstm', o, extract(epoch FROM clock_timestamp() - t0), ns);
            EXECUTE 'INSERT INTO fb_fc SELECT ''retailiq_lstm'', f.series, $1, f.step, f.yhat, f.yhat_lower, f.yhat_upper
                     FROM fb_m, retailiq.forecast_lstm_all(fb_m.m, 12) f' USING o;
            DROP TABLE fb_m;
        END IF;
    END LOOP;
END $$;
SQL

  fi
  PEER=${FORECAST_BENCH_PEER_DIR:-}
  if [ -n "$PEER" ] && [ -f "$PEER/r.csv" ]; then
    echo "   R forecast: reusing $PEER/r.csv (FORECAST_BENCH_PEER_DIR)"
    cp "$PEER/r.csv" "$PEER/r.csv.time" "$OUT/"
  elif [ "$DO_R" = 1 ]; then
    echo "   R forecast: ets$([ "$DO_ARIMA" = 1 ] && echo ' and auto.arima') (FORECAST_BENCH_R=0 skips) ..."
    rm -f "$OUT/r.csv.time"
    Rscript "$REPO/test/bench/forecast/peer_r.R" "$OUT/aus.csv" "$ORIGINS" $H "$OUT/r.csv" "$DO_ARIMA"
  fi
  if [ "$DO_PY" = 1 ]; then
    echo "   statsmodels ETSModel ..."
    rm -f "$OUT/sm.csv.time"
    /usr/bin/python3 "$REPO/test/bench/forecast/peer_statsmodels.py" "$OUT/aus.csv" "$ORIGINS" $H "$OUT/sm.csv"
  fi
  for f in r sm; do
    [ -f "$OUT/$f.csv" ] || continue
    $PSQL -c "\\copy fb_fc FROM '$OUT/$f.csv' CSV HEADER"
    nper=$($PSQL -At -c "SELECT count(DISTINCT series) FROM fb_aus")
    while read -r meth secs; do
      $PSQL -c "INSERT INTO fb_time SELECT '$meth', o, $secs / cardinality('{$ORIGINS}'::date[]), $nper FROM unnest('{$ORIGINS}'::date[]) o"
    done < "$OUT/$f.csv.time"
  done

  $PSQL -P footer=off <<'SQL'
\echo
\echo aus_retail: pooled over series, origins and steps 1-12 (MASE scale: in-sample seasonal naive MAE)
WITH sc AS (
    SELECT o.origin, a.series, avg(abs(a.y - a.y12)) AS scale
    FROM (SELECT DISTINCT origin FROM fb_fc) o,
         LATERAL (SELECT series, y, lag(y, 12) OVER (PARTITION BY series ORDER BY month) AS y12
                  FROM fb_aus WHERE month < o.origin) a
    WHERE a.y12 IS NOT NULL GROUP BY 1, 2),
j AS (
    SELECT f.*, a.y, sc.scale
    FROM fb_fc f
    JOIN fb_aus a ON a.series = f.series AND a.month = (f.origin + make_interval(months => f.step - 1))::date
    JOIN sc ON sc.series = f.series AND sc.origin = f.origin),
m AS (
    SELECT method, count(*) AS n, sum(abs(y - yhat)) / sum(abs(y)) AS wape,
           avg(2 * abs(y - yhat) / nullif(abs(y) + abs(yhat), 0)) AS smape,
           avg(abs(y - yhat) / nullif(scale, 0)) AS mase,
           avg((y BETWEEN lo AND hi)::int) AS cov80
    FROM j GROUP BY method),
t AS (SELECT method, sum(seconds) AS secs FROM fb_time GROUP BY method),
ref AS (SELECT wape FROM m WHERE method IN ('r_ets', 'sm_ets') ORDER BY method = 'r_ets' DESC LIMIT 1)
SELECT m.method, m.n AS forecasts, round(m.wape::numeric, 4) AS wape, round(m.smape::numeric, 4) AS smape,
       round(m.mase::numeric, 3) AS mase, round(m.cov80::numeric, 3) AS cov80,
       round(t.secs::numeric, 1) AS train_s, round((m.wape / (SELECT wape FROM ref))::numeric, 3) AS wape_vs_ref
FROM m LEFT JOIN t USING (method) ORDER BY m.wape;
SQL
else
  echo "(a) skipped: $CSV not found"
fi

# ---------------------------------------------------------------- (b) daily sample data
if [ "${FORECAST_BENCH_DAILY:-1}" = 1 ]; then
  C=${FORECAST_BENCH_CUSTOMERS:-3000}; S=${FORECAST_BENCH_STORES:-8}
  P=${FORECAST_BENCH_PRODUCTS:-120}; D=${FORECAST_BENCH_DAYS:-730}
  echo
  echo "(b) daily sample: generate_sample_data(customers $C, stores $S, products $P, days $D), store x category series, h=7 and h=28"
  $PSQL -v have_lstm="$HAVE_LSTM" <<SQL
DROP SCHEMA IF EXISTS fb_sample CASCADE;
\o /dev/null
SELECT retailiq.generate_sample_data('fb_sample', $C, $S, $P, $D, 5);
SELECT set_config('fb.have_lstm', :'have_lstm', false), set_config('fb.auto', '${FORECAST_BENCH_AUTO:-0}', false);
\o
DROP TABLE IF EXISTS fb_daily, fb_dfc, fb_dtime;
-- y: units per store and category and day (0 when nothing sold); factors known in advance
CREATE TABLE fb_daily AS
WITH sc AS (SELECT DISTINCT s.store_id, p.category FROM fb_sample.stores s CROSS JOIN fb_sample.products p),
units AS (SELECT d.store_id, p.category, d.day, sum(d.units)::float8 AS units
          FROM fb_sample.daily_sales d JOIN fb_sample.products p USING (product_id) GROUP BY 1, 2, 3),
promo AS (SELECT sc.store_id, sc.category, c.day,
                 count(DISTINCT pr.product_id)::float8 / (SELECT count(*) FROM fb_sample.products q WHERE q.category = sc.category) AS share,
                 coalesce(avg(pr.discount_pct), 0)::float8 AS depth
          FROM sc CROSS JOIN fb_sample.calendar c
          LEFT JOIN fb_sample.products p ON p.category = sc.category
          LEFT JOIN fb_sample.promotions pr ON pr.product_id = p.product_id
               AND (pr.store_id IS NULL OR pr.store_id = sc.store_id) AND c.day BETWEEN pr.starts_on AND pr.ends_on
          GROUP BY 1, 2, 3)
SELECT sc.store_id || '/' || sc.category AS series, c.day, coalesce(u.units, 0) AS y,
       ARRAY[pm.share, pm.depth / 100.0, c.is_holiday::int::float8,
             coalesce(lead(c.is_holiday::int) OVER (PARTITION BY sc.store_id, sc.category ORDER BY c.day), 0)::float8,
             c.temperature_c::float8 / 30.0] AS x
FROM sc CROSS JOIN fb_sample.calendar c
JOIN promo pm ON pm.store_id = sc.store_id AND pm.category = sc.category AND pm.day = c.day
LEFT JOIN units u ON u.store_id = sc.store_id AND u.category = sc.category AND u.day = c.day;
CREATE TABLE fb_dfc (method text, series text, origin date, step int, yhat float8, lo float8, hi float8);
CREATE TABLE fb_dtime (method text, origin date, seconds float8, nseries int, ndays int);
DO \$\$
DECLARE
    last date := (SELECT max(day) FROM fb_daily);
    o date;
    meth text;
    t0 timestamptz;
    ns int := (SELECT count(DISTINCT series) FROM fb_daily);
    nd int;
BEGIN
    FOREACH o IN ARRAY ARRAY[last - 83, last - 55, last - 27] LOOP
        nd := o - (SELECT min(day) FROM fb_daily);
        FOREACH meth IN ARRAY CASE WHEN current_setting('fb.auto') = '1' THEN ARRAY['snaive', 'ets', 'auto']
                                   ELSE ARRAY['snaive', 'ets'] END LOOP
            t0 := clock_timestamp();
            CREATE TEMP TABLE fb_m AS SELECT retailiq.forecast_fit(series, day, y, meth) AS m FROM fb_daily WHERE day < o;
            INSERT INTO fb_dtime VALUES ('retailiq_' || meth, o, extract(epoch FROM clock_timestamp() - t0), ns, nd);
            INSERT INTO fb_dfc SELECT 'retailiq_' || meth, f.series, o, f.step, f.yhat, f.yhat_lower, f.yhat_upper
            FROM fb_m, retailiq.forecast_all(fb_m.m, 28) f;
            DROP TABLE fb_m;
        END LOOP;
        IF current_setting('fb.have_lstm')::int > 0 THEN
            t0 := clock_timestamp();
            EXECUTE 'CREATE TEMP TABLE fb_m AS SELECT retailiq.forecast_lstm_fit(series, day, y) AS m FROM fb_daily WHERE day < \$1' USING o;
            INSERT INTO fb_dtime VALUES ('retailiq_lstm', o, extract(epoch FROM clock_timestamp() - t0), ns, nd);
            EXECUTE 'INSERT INTO fb_dfc SELECT ''retailiq_lstm'', f.series, \$1, f.step, f.yhat, f.yhat_lower, f.yhat_upper
                     FROM fb_m, retailiq.forecast_lstm_all(fb_m.m, 28) f' USING o;
            DROP TABLE fb_m;
            t0 := clock_timestamp();
            EXECUTE 'CREATE TEMP TABLE fb_m AS SELECT retailiq.forecast_lstm_fit(series, day, y, x) AS m FROM fb_daily WHERE day < \$1' USING o;
            INSERT INTO fb_dtime VALUES ('retailiq_lstm_factors', o, extract(epoch FROM clock_timestamp() - t0), ns, nd);
            -- future factors: series x horizon x width, in the model's (byte) series order
            EXECUTE 'INSERT INTO fb_dfc SELECT ''retailiq_lstm_factors'', f.series, \$1, f.step, f.yhat, f.yhat_lower, f.yhat_upper
                     FROM fb_m, retailiq.forecast_lstm_all(fb_m.m, 28,
                        (SELECT array_agg(xs ORDER BY series COLLATE "C") FROM
                           (SELECT series, array_agg(x ORDER BY day) AS xs FROM fb_daily
                            WHERE day >= \$1 AND day < \$1 + 28 GROUP BY series) q)) f' USING o;
            DROP TABLE fb_m;
        END IF;
    END LOOP;
END \$\$;
SQL
  $PSQL -P footer=off <<'SQL'
\echo
\echo daily sample: pooled over series and origins (MASE scale: in-sample weekly seasonal naive MAE)
WITH sc AS (
    SELECT o.origin, a.series, avg(abs(a.y - a.y7)) AS scale
    FROM (SELECT DISTINCT origin FROM fb_dfc) o,
         LATERAL (SELECT series, y, lag(y, 7) OVER (PARTITION BY series ORDER BY day) AS y7
                  FROM fb_daily WHERE day < o.origin) a
    WHERE a.y7 IS NOT NULL GROUP BY 1, 2),
j AS (
    SELECT f.*, a.y, sc.scale, hz
    FROM fb_dfc f
    JOIN fb_daily a ON a.series = f.series AND a.day = f.origin + f.step - 1
    JOIN sc ON sc.series = f.series AND sc.origin = f.origin,
    LATERAL (VALUES (7), (28)) h(hz)
    WHERE f.step <= hz),
m AS (
    SELECT hz, method, count(*) AS n, sum(abs(y - yhat)) / nullif(sum(abs(y)), 0) AS wape,
           avg(2 * abs(y - yhat) / nullif(abs(y) + abs(yhat), 0)) AS smape,
           avg(abs(y - yhat) / nullif(scale, 0)) AS mase,
           avg((y BETWEEN lo AND hi)::int) AS cov80
    FROM j GROUP BY hz, method),
t AS (SELECT method, sum(seconds) AS secs FROM fb_dtime GROUP BY method)
SELECT m.hz AS h, m.method, m.n AS forecasts, round(m.wape::numeric, 4) AS wape, round(m.smape::numeric, 4) AS smape,
       round(m.mase::numeric, 3) AS mase, round(m.cov80::numeric, 3) AS cov80,
       round(t.secs::numeric, 1) AS train_s
FROM m LEFT JOIN t USING (method) ORDER BY m.hz, m.wape;
SQL
fi

# ---------------------------------------------------------------- (c) training time at scale
NSCALE=${FORECAST_BENCH_SCALE:-1000}
if [ "$NSCALE" -gt 0 ] && [ "$HAVE_LSTM" -gt 0 ]; then
  echo
  echo "(c) training time: $NSCALE synthetic daily series of two years (weekly pattern, promotions, holidays, noise), default options"
  $PSQL -v n="$NSCALE" <<'SQL'
DROP TABLE IF EXISTS fb_scale, fb_stime;
SELECT setseed(0.42);
-- each series: its own level and weekly pattern, promotions lifting sales by half, holidays
CREATE TABLE fb_scale AS
WITH s AS (SELECT i, 5 + 200 * random() AS level, random() AS amp FROM generate_series(1, :n) i),
d AS (SELECT s.*, day, random() < 0.08 AS promo,
             extract(doy FROM day) IN (1, 100, 185, 359) AS holiday
      FROM s, generate_series(date '2024-01-01', date '2025-12-30', interval '1 day') day)
SELECT 's' || lpad(i::text, 5, '0') AS series, day::date,
       round(level * (1 + amp * sin(2 * pi() * extract(dow FROM day) / 7)) * (1 + 0.5 * promo::int)
             * (1 + 0.8 * holiday::int) * (0.75 + 0.5 * random()))::float8 AS y,
       ARRAY[promo::int, holiday::int]::float8[] AS x
FROM d;
CREATE TABLE fb_stime (method text, seconds float8);
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE m1 AS SELECT retailiq.forecast_fit(series, day, y, 'ets') AS m FROM fb_scale;
INSERT INTO fb_stime SELECT 'retailiq_ets', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE m2 AS SELECT retailiq.forecast_lstm_fit(series, day, y) AS m FROM fb_scale;
INSERT INTO fb_stime SELECT 'retailiq_lstm', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE m3 AS SELECT retailiq.forecast_lstm_fit(series, day, y, x) AS m FROM fb_scale;
INSERT INTO fb_stime SELECT 'retailiq_lstm_factors', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT method, round(seconds::numeric, 1) AS train_s,
       round((seconds * 1000.0 / :n)::numeric, 1) AS s_per_1000_series
FROM fb_stime ORDER BY 1;
SQL
fi
