-- refresh_forecasts and backtest edge cases: weekly and monthly grains, timestamp dates with
-- several rows per day, history_days, empty sources, negative sales, one failing source
-- rolling back the whole refresh, series that disappear, and backtests of several methods.
BEGIN;
SELECT plan(31);

-- daily sales as order lines: several rows a day, timestamps, two items, 8 weeks
CREATE TABLE t_lines (item text, sold_at timestamptz, qty numeric);
INSERT INTO t_lines
SELECT 'item' || k, timestamptz '2024-03-04 09:00+00' + d * interval '1 day' + h * interval '3 hours',
       1 + (d * 3 + k + h) % 4
  FROM generate_series(0, 55) d, generate_series(1, 2) k, generate_series(0, 2) h;
CREATE VIEW t_daily_check AS
SELECT item, (sold_at AT TIME ZONE 'UTC')::date AS day, sum(qty)::float8 AS units FROM t_lines GROUP BY 1, 2;
SET LOCAL timezone = 'UTC';
SELECT retailiq.register_sales_source('lines', 't_lines', 'item', 'sold_at', 'qty', method => 'snaive');
SELECT is(retailiq.refresh_forecasts(ARRAY[3], 'lines'), 6::bigint, 'two items x 3 days');
SELECT is((SELECT count(*)::int FROM retailiq.forecast_result f
             JOIN t_daily_check c ON c.item = f.series AND c.day = f.period_start - 7
            WHERE f.model_name = 'forecast:lines' AND f.yhat = c.units), 6,
          'rows of a day are summed: the forecast repeats last week''s daily totals');
SELECT is((SELECT min(period_start) FROM retailiq.forecast_result WHERE model_name = 'forecast:lines'),
          date '2024-04-29', 'forecasts start the day after the last sale');

-- history_days: the model sees only the latest days
SELECT retailiq.register_sales_source('lines', 't_lines', 'item', 'sold_at', 'qty', method => 'snaive',
                                      options => '{"history_days": 21}');
SELECT is(retailiq.refresh_forecasts(ARRAY[1], 'lines'), 2::bigint, 'refresh after redefinition');
SELECT is((SELECT array_agg(DISTINCT n) FROM retailiq.forecast_model_series(retailiq.load_model('forecast:lines'))),
          ARRAY[21], 'history_days 21 trains on 21 days per series');
SELECT is((SELECT last_model_version FROM retailiq.sales_source WHERE name = 'lines'), 2,
          'a redefinition trains a new model version');
SELECT is((SELECT count(*)::int FROM retailiq.forecast_result WHERE model_name = 'forecast:lines'), 2,
          'rows of the new first period on were replaced');

-- weekly and monthly data
CREATE TABLE t_weekly AS
SELECT 'w' || k AS s, date '2023-01-02' + 7 * i AS wk, (10 + (i * 7 + k) % 5)::int AS units
  FROM generate_series(0, 59) i, generate_series(1, 3) k;
SELECT retailiq.register_sales_source('weekly', 't_weekly', 's', 'wk', 'units', method => 'snaive', options => '{"season": 4}');
SELECT is(retailiq.refresh_forecasts(ARRAY[2], 'weekly'), 6::bigint, 'weekly: 3 series x 2 weeks');
SELECT is((SELECT array_agg(DISTINCT grain) FROM retailiq.forecast_result WHERE model_name = 'forecast:weekly'),
          ARRAY['week'], 'weekly data gives grain week');
SELECT is((SELECT array_agg(DISTINCT period_start ORDER BY period_start) FROM retailiq.forecast_result
            WHERE model_name = 'forecast:weekly'),
          ARRAY[date '2023-01-02' + 7 * 60, date '2023-01-02' + 7 * 61], 'weekly periods follow the last week');
CREATE TABLE t_monthly AS
SELECT 'm1' AS s, (date '2020-01-01' + make_interval(months => i))::date AS mon, (100 + i % 12)::float8 AS units
  FROM generate_series(0, 47) i;
SELECT retailiq.register_sales_source('monthly', 't_monthly', 's', 'mon', 'units', method => 'snaive');
SELECT is(retailiq.refresh_forecasts(ARRAY[3], 'monthly'), 3::bigint, 'monthly: 3 months');
SELECT is((SELECT array_agg(grain || ' ' || period_start ORDER BY period_start) FROM retailiq.forecast_result
            WHERE model_name = 'forecast:monthly'),
          ARRAY['month 2024-01-01', 'month 2024-02-01', 'month 2024-03-01'], 'monthly data gives grain month');

-- an empty source writes nothing
CREATE TABLE t_empty (s text, d date, y int);
SELECT retailiq.register_sales_source('empty', 't_empty', 's', 'd', 'y', method => 'snaive');
SELECT is(retailiq.refresh_forecasts(ARRAY[7], 'empty'), 0::bigint, 'an empty source writes no rows');
SELECT is((SELECT last_rows FROM retailiq.sales_source WHERE name = 'empty'), NULL, 'and records no refresh');

-- negative sales: refused by the fit unless allowed; when allowed, forecasts may be negative
CREATE TABLE t_returns AS
SELECT 'r1' AS s, date '2024-01-01' + i AS d, (CASE WHEN i % 7 = 3 THEN -2 ELSE 5 END)::int AS y
  FROM generate_series(0, 27) i;
SELECT retailiq.register_sales_source('returns', 't_returns', 's', 'd', 'y', method => 'snaive');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[7], 'returns')$$, '22023', NULL,
                 'negative sales are refused by default');
SELECT retailiq.register_sales_source('returns', 't_returns', 's', 'd', 'y', method => 'snaive',
                                      options => '{"allow_negative": true}');
SELECT is(retailiq.refresh_forecasts(ARRAY[7], 'returns'), 7::bigint, 'allowed with allow_negative');
SELECT is((SELECT min(yhat) FROM retailiq.forecast_result WHERE model_name = 'forecast:returns'), -2::float8,
          'negative forecasts are kept when allowed');
-- without allow_negative the point forecast and the upper bound are clipped at 0
SELECT is((SELECT count(*)::int FROM retailiq.forecast_result
            WHERE model_name LIKE 'forecast:%' AND model_name <> 'forecast:returns' AND (yhat < 0 OR yhat_upper < 0)),
          0, 'other sources have no negative forecasts');

-- one failing source rolls back the whole refresh
DELETE FROM retailiq.forecast_result WHERE model_name IN ('forecast:weekly', 'forecast:monthly');
SELECT retailiq.register_sales_source('returns', 't_returns', 's', 'd', 'y', method => 'snaive');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[2])$$, '22023', NULL, 'a refresh of all sources fails on one');
SELECT is((SELECT count(*)::int FROM retailiq.forecast_result WHERE model_name IN ('forecast:weekly', 'forecast:monthly')),
          0, 'and writes nothing for the others');
SELECT retailiq.unregister_sales_source('returns', true);
SELECT cmp_ok(retailiq.refresh_forecasts(ARRAY[2]), '>', 0::bigint, 'without it the refresh of all sources works');

-- a series that leaves the source loses its future rows
SELECT retailiq.register_sales_source('weekly', 't_weekly', 's', 'wk', 'units', method => 'snaive',
                                      options => '{"season": 4, "max_model_age": "0"}');
SELECT retailiq.refresh_forecasts(ARRAY[2], 'weekly');
DELETE FROM t_weekly WHERE s = 'w3';
SELECT is(retailiq.refresh_forecasts(ARRAY[2], 'weekly'), 4::bigint, 'two series left');
SELECT is((SELECT array_agg(DISTINCT series ORDER BY series) FROM retailiq.forecast_result WHERE model_name = 'forecast:weekly'),
          ARRAY['w1', 'w2'], 'w3 has no forecasts any more');

-- keep_days prunes old rows of the model; max_model_age decides reuse
INSERT INTO retailiq.forecast_result (series, period_start, horizon, yhat, model_name, model_version)
VALUES ('w1', date '2023-01-02' + 7 * 60 - 10, 1, 5, 'forecast:weekly', 1),
       ('w1', date '2023-01-02' + 7 * 60 - 2, 1, 5, 'forecast:weekly', 1);
SELECT retailiq.register_sales_source('weekly', 't_weekly', 's', 'wk', 'units', method => 'snaive',
                                      options => '{"season": 4, "keep_days": 5, "max_model_age": "1 hour"}');
SELECT is(retailiq.refresh_forecasts(ARRAY[2], 'weekly'), 4::bigint, 'refresh with keep_days 5');
SELECT is((SELECT array_agg(period_start ORDER BY period_start) FROM retailiq.forecast_result
            WHERE model_name = 'forecast:weekly' AND period_start < date '2023-01-02' + 7 * 60),
          ARRAY[date '2023-01-02' + 7 * 60 - 2], 'a row 10 days before the new forecasts is pruned, one 2 days before kept');
SELECT retailiq.refresh_forecasts(ARRAY[2], 'weekly');
SELECT is((SELECT last_model_reused FROM retailiq.sales_source WHERE name = 'weekly'), true,
          'a model younger than max_model_age is reused');
UPDATE retailiq.sales_source SET options = options || '{"max_model_age": "0"}' WHERE name = 'weekly';
SELECT retailiq.refresh_forecasts(ARRAY[2], 'weekly');
SELECT is((SELECT last_model_reused FROM retailiq.sales_source WHERE name = 'weekly'), false,
          'max_model_age 0 retrains');

-- backtests: rows per origin and method, in order; figures in range
CREATE TEMP TABLE bt AS
SELECT * FROM retailiq.backtest('lines', ARRAY['snaive', 'ets', 'auto'], 7, ARRAY[date '2024-04-01', '2024-04-15']);
SELECT is((SELECT array_agg(method || ' ' || origin ORDER BY ord) FROM (SELECT *, row_number() OVER () AS ord FROM bt) q),
          ARRAY['snaive 2024-04-01', 'ets 2024-04-01', 'auto 2024-04-01', 'snaive 2024-04-15', 'ets 2024-04-15', 'auto 2024-04-15'],
          'one row per origin and method, in the order given');
SELECT ok((SELECT bool_and(series = 2 AND points = 14 AND wape >= 0 AND smape BETWEEN 0 AND 2 AND mase >= 0
                           AND coverage BETWEEN 0 AND 1 AND fit_seconds >= 0) FROM bt),
          'every backtest row compares 2 series x 7 days with figures in range');
-- the last origin's horizon runs past the data: only the days with actuals count
SELECT is((SELECT points FROM retailiq.backtest('lines', ARRAY['snaive'], 7, ARRAY[date '2024-04-26'])), 6::bigint,
          'periods after the last date are left out');
SELECT is((SELECT count(*)::int FROM retailiq.models WHERE name LIKE 'forecast:lines%'), 2,
          'a backtest saves no model');

SELECT * FROM finish();
ROLLBACK;
