-- Forecast health (doc/forecast-health.md): the forecasts as issued against what then sold,
-- worked by hand on four daily series, a drift alert and an early refit.
CREATE SCHEMA fh;
CREATE TABLE fh.sales (series text, store_id int, product_id int, day date, units float8);
-- a: 10 and 14 on alternate days (seasonal-naive MAE at lag 7: 4); b: 5 a day; c: 3 a day
-- until March 7, then nothing; d: 2 a day
INSERT INTO fh.sales
SELECT s, 1, p, date '2025-01-01' + i,
       CASE s WHEN 'a' THEN 10 + 4 * (i % 2) WHEN 'b' THEN 5 WHEN 'c' THEN CASE WHEN i < 66 THEN 3 ELSE 0 END ELSE 2 END
  FROM (VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4)) v(s, p), generate_series(0, 72) i;   -- Jan 1 .. Mar 14
-- e: 3 every third day, no row on the others (gaps count as 0)
INSERT INTO fh.sales SELECT 'e', 1, 5, date '2025-01-01' + i, 3 FROM generate_series(0, 72, 3) i;
SELECT (retailiq.register_sales_source('fh', 'fh.sales', 'series', 'day', 'units', method => 'snaive',
                                       store_column => 'store_id', product_column => 'product_id')).name;

-- The refresh keeps what it issued: horizon 1 (and health_horizon), here 4 series x 1 row.
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'fh') AS written;
SELECT series, store_id, product_id, period_start, horizon, yhat FROM retailiq.forecast_issued WHERE source = 'fh' ORDER BY series;
DELETE FROM retailiq.forecast_issued WHERE source = 'fh';

-- Issued forecasts for March 8-14, as a nightly refresh would have left them: a 12 a day,
-- b 8 a day, c 1 a day, d only for March 13 and 14.
INSERT INTO retailiq.forecast_issued (source, series, store_id, product_id, period_start, grain, horizon, yhat, issued_at)
SELECT 'fh', s, 1, p, d, 'day', 1, f, d - interval '6 hours'
  FROM (VALUES ('a', 1, 12.0), ('b', 2, 8.0), ('c', 3, 1.0), ('d', 4, 2.5), ('e', 5, 9 / 7.0)) v(s, p, f),
       generate_series(date '2025-03-08', '2025-03-14', '1 day') d
 WHERE s <> 'd' OR d >= '2025-03-13';
-- an older, longer-range issue of the same period is not the one compared
INSERT INTO retailiq.forecast_issued (source, series, store_id, product_id, period_start, grain, horizon, yhat, issued_at)
VALUES ('fh', 'a', 1, 1, '2025-03-10', 'day', 1, 100, '2025-03-01');

-- a: actual 10+14+10+14+10+14+10 = 82, forecast 84, |errors| 2 each = 14:
--    WAPE 14/82 = 0.1707, bias 2/82 = 0.0244, MASE 2/4 = 0.5: ok
-- b: actual 35, forecast 56: WAPE = bias = 21/35 = 0.6 > 0.15: drift (MASE: scale 0, NULL)
-- c: sold nothing: no_sales; d: 2 periods < health_min_points 4: too_few
-- e: history Jan 1 - Mar 7 zero-filled; at lag 7 a sale day meets an empty one in 39 of the
--    59 pairs: scale 3 x 39 / 59 = 1.98305; March 8-14 sells 3 on the 8th, 11th and 14th
--    against 9/7 a day: |errors| 3 x 12/7 + 4 x 9/7 = 72/7, WAPE 72/7 / 9 = 1.1429,
--    MASE 72/49 / 1.98305 = 0.7410, bias 0: ok
SELECT series, store_id, product_id, round(wape::numeric, 4) AS wape, round(mase::numeric, 4) AS mase,
       round(bias::numeric, 4) AS bias, n, status, actual, forecast, threshold
  FROM retailiq.forecast_health('fh', 7, '2025-03-14') ORDER BY series;
-- the default as_of is the source's last day; a 3-day window
SELECT series, n, round(wape::numeric, 4) AS wape, status FROM retailiq.forecast_health('fh', 3) ORDER BY series;

-- The check: a forecast_drift alert for b and an early refit of b alone (seasonal naive:
-- 5 a day), its accuracy before recorded.
SELECT source_name, series, status, round(bias::numeric, 4) AS bias, alert_id IS NOT NULL AS alerted,
       refit_id IS NOT NULL AS refitted
  FROM retailiq.check_forecast_health('fh', 7, true, '2025-03-14');
SELECT kind, severity, subject, status, measured, threshold, message FROM retailiq.alert WHERE kind = 'forecast_drift' AND subject ->> 'source' = 'fh';
SELECT series, as_of, method, model_name, model_version, before_n, round(before_wape::numeric, 4) AS before_wape,
       before_bias, after_n, refit_error FROM retailiq.forecast_refit WHERE source = 'fh';
SELECT series, period_start, horizon, yhat, model_version IS NULL AS refit_row
  FROM retailiq.forecast_result WHERE model_name = 'forecast:fh' AND series = 'b' AND period_start >= '2025-03-15' ORDER BY period_start LIMIT 3;
SELECT series, period_start, horizon, yhat FROM retailiq.forecast_issued WHERE source = 'fh' AND period_start > '2025-03-14' ORDER BY series;

-- March 15 sells 5 of b: the next check fills in the accuracy after the refit (1 period, exact),
-- repeats the alert (the window still holds 6 old days) and does not refit b again. Over
-- March 9-15, e sold 6 against 6 x 9/7 forecast: bias 2/7 = 0.2857, drift; refitted alone,
-- its days without a row count as 0 (seasonal naive: March 15 as March 8, 3; then 0, 0).
INSERT INTO fh.sales VALUES ('a', 1, 1, '2025-03-15', 14), ('b', 1, 2, '2025-03-15', 5),
                            ('c', 1, 3, '2025-03-15', 0), ('d', 1, 4, '2025-03-15', 2);
SELECT series, status, round(bias::numeric, 4) AS bias, refit_id IS NOT NULL AS refitted
  FROM retailiq.check_forecast_health('fh', 7);
SELECT series, as_of, model_version, before_n, round(before_wape::numeric, 4) AS before_wape,
       round(before_bias::numeric, 4) AS before_bias, after_as_of, after_n, after_wape, after_bias, refit_error
  FROM retailiq.forecast_refit WHERE source = 'fh' ORDER BY id;
SELECT series, period_start, horizon, yhat FROM retailiq.forecast_result
 WHERE model_name = 'forecast:fh' AND series = 'e' AND period_start >= '2025-03-15' ORDER BY period_start LIMIT 3;
SELECT subject ->> 'series' AS series, count, status FROM retailiq.alert WHERE kind = 'forecast_drift' AND subject ->> 'source' = 'fh' ORDER BY id;
-- b healthy again: its alert is resolved
UPDATE retailiq.forecast_issued SET yhat = 5 WHERE source = 'fh' AND series = 'b';
SELECT series, status FROM retailiq.check_forecast_health('fh', 7, false);
SELECT subject ->> 'series' AS series, status FROM retailiq.alert WHERE kind = 'forecast_drift' AND subject ->> 'source' = 'fh' ORDER BY id;

-- a threshold per source (a superuser needs no approval; the change is audited)
SELECT retailiq.set_planning_threshold('health_threshold', 0.01, 'fh');
SELECT series, status FROM retailiq.forecast_health('fh', 7, '2025-03-14') ORDER BY series;
SELECT retailiq.set_planning_threshold('health_threshold', NULL, 'fh');

-- an ordinary role reads health with its own rights on the source
CREATE ROLE fh_reader;
SET ROLE fh_reader;
\set VERBOSITY terse
SELECT * FROM retailiq.forecast_health('fh');
\set VERBOSITY default
RESET ROLE;
GRANT USAGE ON SCHEMA fh TO fh_reader;
GRANT SELECT ON fh.sales TO fh_reader;
SET ROLE fh_reader;
SELECT series, status FROM retailiq.forecast_health('fh', 7, '2025-03-14') ORDER BY series;
RESET ROLE;

-- bad input
SELECT * FROM retailiq.forecast_health(NULL);
SELECT * FROM retailiq.forecast_health('nope');
SELECT * FROM retailiq.forecast_health('fh', 0);
SELECT * FROM retailiq.forecast_health('fh', NULL);
SELECT * FROM retailiq.check_forecast_health('nope');
SELECT * FROM retailiq.check_forecast_health('fh', 7, NULL);
SELECT retailiq.set_planning_threshold('health_threshold', 'NaN');
CREATE TABLE fh.gone (series text, day date, units float8);
SELECT (retailiq.register_sales_source('fh_gone', 'fh.gone', 'series', 'day', 'units')).name;
DROP TABLE fh.gone;
SELECT * FROM retailiq.forecast_health('fh_gone');
SELECT retailiq.unregister_sales_source('fh_gone');

SELECT retailiq.unregister_sales_source('fh', true);
DELETE FROM retailiq.forecast_issued WHERE source = 'fh';
DELETE FROM retailiq.forecast_refit WHERE source = 'fh';
DELETE FROM retailiq.models WHERE name = 'refit:fh';
DROP OWNED BY fh_reader;
DROP ROLE fh_reader;
DROP SCHEMA fh CASCADE;
