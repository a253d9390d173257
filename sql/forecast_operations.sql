-- Forecast operations on a small sample shop: register a sales source, refresh its
-- forecasts into retailiq.forecast_result (as the nightly job does), read them, size safety
-- stock from them, and backtest the seasonal naive method. The checks recompute what the
-- functions return independently in plain SQL (seasonal naive: each day repeats the same
-- weekday of the last week).
SET jit = off;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;

-- 3 stores x 10 products over 120 days (2024-01-01 .. 2024-04-29).
SELECT count(*) AS tables FROM retailiq.generate_sample_data('ops', 300, 3, 10, 120, 7);
-- One row per store, product and day (days without sales as 0), named as the alerts part
-- expects: '<store>/<product>'.
CREATE VIEW ops.sales_by_item AS
SELECT s.store_id || '/' || p.product_id AS series, s.store_id, p.product_id, c.day, coalesce(d.units, 0) AS units,
       coalesce(d.on_promo, false) AS on_promo
  FROM ops.stores s CROSS JOIN ops.products p CROSS JOIN ops.calendar c
  LEFT JOIN ops.daily_sales d ON d.store_id = s.store_id AND d.product_id = p.product_id AND d.day = c.day;
SELECT count(DISTINCT series) AS series, min(day), max(day), sum(units) AS units FROM ops.sales_by_item;

-- Register it: seasonal naive with an 80% interval; the store and product columns tell which
-- store and product each series is (reports join forecasts to sales by them).
SELECT name, relation, series_column, date_column, value_column, exog_columns, method, options,
       store_column, product_column
  FROM retailiq.register_sales_source('shop', 'ops.sales_by_item', 'series', 'day', 'units',
                                      method => 'snaive', options => '{"level": 0.8}',
                                      store_column => 'store_id', product_column => 'product_id');

-- The nightly refresh: every day up to 14 days ahead, for 30 series.
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 14]) AS rows_written;
SELECT last_model_version, last_model_reused, last_rows FROM retailiq.sales_source WHERE name = 'shop';
SELECT name, version, retailiq.model_kind(model) FROM retailiq.models WHERE name = 'forecast:shop';
SELECT period_start, grain, horizon, yhat, yhat_lower <= yhat AND yhat <= yhat_upper AS ordered,
       interval_level, model_name, model_version
  FROM retailiq.forecast_result WHERE series = '1/1' ORDER BY period_start;
SELECT count(*) AS rows, bool_and(store_id || '/' || product_id = series) AS store_and_product_of_series
  FROM retailiq.forecast_result WHERE model_name = 'forecast:shop';
-- Each series once per day from 2024-04-30 on; the forecast repeats the last week
-- (2024-04-23 .. 2024-04-29), weekday by weekday.
SELECT count(DISTINCT f.series) AS series, count(*) AS rows, count(DISTINCT (f.series, f.period_start)) AS keys,
       min(period_start), max(period_start), bool_and(f.yhat = s.units) AS last_week_repeated
  FROM retailiq.forecast_result f
  JOIN ops.sales_by_item s ON s.series = f.series AND s.day = date '2024-04-23' + (f.horizon - 1) % 7
 WHERE f.model_name = 'forecast:shop';

-- A second refresh the same day reuses the saved model and replaces the rows (no duplicates).
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 14]) AS rows_written;
SELECT last_model_version, last_model_reused, last_rows,
       (SELECT count(*) FROM retailiq.forecast_result WHERE model_name = 'forecast:shop') AS rows_kept
  FROM retailiq.sales_source WHERE name = 'shop';

-- A day later: sales of 2024-04-30 arrive; the next refresh (a new model: max_model_age 0)
-- forecasts from 2024-05-01 and replaces those rows, but keeps the forecast made for
-- 2024-04-30, which check_sales_shortfall compares with the actual sales.
INSERT INTO ops.calendar (day, dow, is_weekend, is_holiday, temperature_c) VALUES ('2024-04-30', 2, false, false, 14.0);
SELECT name, options FROM retailiq.register_sales_source('shop', 'ops.sales_by_item', 'series', 'day', 'units',
       method => 'snaive', options => '{"level": 0.8, "max_model_age": "0"}');
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 14]) AS rows_written;
SELECT model_version, min(period_start), max(period_start), count(*)
  FROM retailiq.forecast_result WHERE model_name = 'forecast:shop' GROUP BY model_version ORDER BY 1;

-- The alerts part's sales check reads those kept rows: on 2024-04-30 nothing was sold
-- (no daily_sales rows), so every series forecast above 0 for that day falls short.
SELECT kind, severity, count(*), min(forecast) > 0 AS all_forecast_above_0, max(actual) AS max_actual
  FROM retailiq.check_sales_shortfall(0.5, 'ops.sales_by_item', since => '2024-04-30', until => '2024-05-01',
                                      model_name => 'forecast:shop')
 GROUP BY kind, severity;
SELECT count(*) AS series_forecast_above_0 FROM retailiq.forecast_result
 WHERE model_name = 'forecast:shop' AND period_start = '2024-04-30' AND yhat > 0;
DELETE FROM retailiq.alert WHERE kind = 'sales_shortfall' AND subject ->> 'period_start' = '2024-04-30';

-- Only the listed horizons.
UPDATE retailiq.sales_source SET options = options || '{"steps": "listed"}' WHERE name = 'shop';
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'shop') AS rows_written;
SELECT horizon, count(*) FROM retailiq.forecast_result
 WHERE model_name = 'forecast:shop' AND period_start >= '2024-05-01' GROUP BY horizon ORDER BY 1;
UPDATE retailiq.sales_source SET options = options - 'steps' WHERE name = 'shop';
SELECT retailiq.refresh_forecasts(ARRAY[14], 'shop') AS rows_written;

-- Safety stock (the alerts part's function) from these forecasts: 3 days of lead time from
-- 2024-05-01 at 95% service. Recomputed by hand from the rows: D = sum yhat, sigma per day
-- from the 80% interval (upper - lower) / (2 z_0.9), safety stock = z_0.95 sqrt(sum sigma^2).
-- (The interval widths are the seasonal naive method's, see doc/forecast.md; only the
-- agreement is shown, so this stays true whatever they are.)
CREATE TEMP TABLE ss AS SELECT * FROM retailiq.safety_stock('1/1', 3, 0.95, date '2024-05-01');
CREATE TEMP TABLE ss_hand AS
SELECT sum(yhat) AS demand, sqrt(sum(sd ^ 2)) AS sd
  FROM (SELECT yhat, (yhat_upper - yhat_lower) / (2 * 1.2815515655446004) AS sd
          FROM retailiq.forecast_result
         WHERE series = '1/1' AND model_name = 'forecast:shop'
           AND period_start BETWEEN '2024-05-01' AND '2024-05-03') d;
SELECT ss.lead_time_demand AS demand, ss.days_covered, ss.demand_sd > 0 AS has_spread,
       abs(ss.lead_time_demand - h.demand) < 1e-9 AS demand_agrees,
       abs(ss.demand_sd - h.sd) < 1e-9 AS sd_agrees,
       abs(ss.safety_stock - 1.6448536269514715 * h.sd) < 1e-9 AS safety_stock_agrees,
       abs(ss.safe_level - (h.demand + 1.6448536269514715 * h.sd)) < 1e-9 AS reorder_point_agrees
  FROM ss, ss_hand h;

-- Backtest: seasonal naive from two origins, 7 days ahead.
SELECT method, origin, series, points, round(wape::numeric, 6) AS wape, round(smape::numeric, 6) AS smape,
       round(mase::numeric, 6) AS mase, round(bias::numeric, 6) AS bias, coverage BETWEEN 0 AND 1 AS coverage_ok,
       fit_seconds >= 0 AS timed
  FROM retailiq.backtest('shop', ARRAY['snaive'], 7, ARRAY[date '2024-04-01', '2024-04-15']);
-- The same figures by hand: the forecast for day t is the sales of day t - 7; the MASE scale
-- of a series is its mean |y[t] - y[t-7]| before the origin.
WITH o AS (SELECT unnest(ARRAY[date '2024-04-01', '2024-04-15']) AS origin),
e AS (SELECT o.origin, s.series, s.units::float8 AS a, p.units::float8 AS f
        FROM o JOIN ops.sales_by_item s ON s.day >= o.origin AND s.day < o.origin + 7
        JOIN ops.sales_by_item p ON p.series = s.series AND p.day = s.day - 7),
sc AS (SELECT o.origin, s.series, avg(abs(s.units - p.units)) AS scale
         FROM o JOIN ops.sales_by_item s ON s.day < o.origin
         JOIN ops.sales_by_item p ON p.series = s.series AND p.day = s.day - 7
        GROUP BY o.origin, s.series)
SELECT e.origin, count(DISTINCT e.series) AS series, count(*) AS points,
       round((sum(abs(a - f)) / sum(abs(a)))::numeric, 6) AS wape,
       round(avg(CASE WHEN a = 0 AND f = 0 THEN 0 ELSE 2 * abs(a - f) / (abs(a) + abs(f)) END)::numeric, 6) AS smape,
       round(avg(abs(a - f) / nullif(sc.scale, 0))::numeric, 6) AS mase,
       round(avg(f - a)::numeric, 6) AS bias
  FROM e JOIN sc USING (origin, series) GROUP BY e.origin ORDER BY e.origin;
-- An origin before the data: nothing to fit.
SELECT method, origin, series, points, wape FROM retailiq.backtest('shop', ARRAY['snaive'], 7, ARRAY[date '2023-01-01']);

-- Unregister, dropping the source's forecasts and models.
SELECT retailiq.unregister_sales_source('shop', drop_forecasts => true);
SELECT (SELECT count(*) FROM retailiq.forecast_result WHERE model_name = 'forecast:shop') AS forecasts,
       (SELECT count(*) FROM retailiq.models WHERE name = 'forecast:shop') AS models;
-- With nothing registered the nightly job does nothing.
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28]) AS rows_written;

-- Any method that takes factors works from a source: the dynamic regression with the planned
-- promotion flag (future rows carry the factor and no quantity), its series listed by
-- retailiq.forecast_series in the model's order.
CREATE TABLE ops.planned AS
SELECT 'p' || s AS item, date '2024-01-01' + t AS day,
       CASE WHEN t <= 120 THEN (10 + s + 10 * (t % 7 = 0)::int + t % 3)::float8 END AS units,
       (t % 7 = 0) AS promo
  FROM generate_series(1, 3) s, generate_series(0, 127) t;
SELECT name, method, exog_columns
  FROM retailiq.register_sales_source('planned', 'ops.planned', 'item', 'day', 'units', ARRAY['promo'], 'regression');
SELECT retailiq.refresh_forecasts(ARRAY[1, 7]) AS rows_written;
SELECT s AS series FROM retailiq.forecast_series(retailiq.load_model('forecast:planned')) s;
-- 2024-05-06 (day 126, t % 7 = 0) is a planned promotion day: the forecast is highest there
SELECT series, bool_and(yhat > 0) AS positive,
       max(yhat) FILTER (WHERE period_start = '2024-05-06') > max(yhat) FILTER (WHERE period_start <> '2024-05-06') AS promo_day_highest
  FROM retailiq.forecast_result WHERE model_name = 'forecast:planned' GROUP BY 1 ORDER BY 1;
SELECT retailiq.unregister_sales_source('planned', drop_forecasts => true);
-- The default method takes factors too: 'auto' with exog_columns fits the method the table
-- names in with_factors (the regression), so the promotion moves its forecast the same way.
SELECT name, method, exog_columns
  FROM retailiq.register_sales_source('planned', 'ops.planned', 'item', 'day', 'units', ARRAY['promo']);
SELECT retailiq.refresh_forecasts(ARRAY[1, 7]) AS rows_written;
SELECT retailiq.model_info(retailiq.load_model('forecast:planned')) ->> 'kind' AS model_kind;
SELECT series,
       max(yhat) FILTER (WHERE period_start = '2024-05-06') > max(yhat) FILTER (WHERE period_start <> '2024-05-06') AS promo_day_highest
  FROM retailiq.forecast_result WHERE model_name = 'forecast:planned' GROUP BY 1 ORDER BY 1;
SELECT retailiq.unregister_sales_source('planned', drop_forecasts => true);
SET client_min_messages = warning;
DROP SCHEMA ops CASCADE;
