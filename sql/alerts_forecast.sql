-- alerts: safety stock from retailiq.forecast_result, the stock trigger's 'safety_stock'
-- threshold, and the sales shortfall check.
\set SHOW_CONTEXT never
-- (a schema of its own: pg_regress runs every suite in one database)
DELETE FROM retailiq.alert;
SELECT setval('retailiq.alert_id_seq', 1, false);
DELETE FROM retailiq.forecast_result WHERE series IN ('1/10', '2/10', '3/10', '4/10', '5/42', '6/10');
CREATE SCHEMA alerts_forecast;
SET search_path = alerts_forecast, public;

-- The standard normal quantile (AS 241) against published values.
SELECT p, round(retailiq.normal_quantile(p)::numeric, 12) AS z
  FROM unnest(ARRAY[0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999, 1e-10]) p ORDER BY p;
SELECT retailiq.normal_quantile(1);
SELECT retailiq.normal_quantile('NaN');

-- Forecasts: series '1/10' by day with an 80% interval of +-z(0.9)*2 (sd 2 a day); an
-- older, superseded run; series '2/10' by week without an interval; series '3/10' with one
-- day only and no spread.
INSERT INTO retailiq.forecast_result
    (series, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, interval_level, model_name, created_at)
SELECT '1/10', d::date, 'day', i, 10, 10 - 2 * retailiq.normal_quantile(0.9), 10 + 2 * retailiq.normal_quantile(0.9),
       0.8, 'ets', timestamptz '2025-02-28 12:00+00'
  FROM generate_series(1, 7) i, LATERAL (SELECT date '2025-02-28' + i AS d) x
UNION ALL
SELECT '1/10', date '2025-02-28' + i, 'day', i + 1, 100, NULL, NULL, 0.8, 'ets', timestamptz '2025-02-27 12:00+00'
  FROM generate_series(1, 7) i
UNION ALL
SELECT '2/10', '2025-03-03', 'week', 1, 70, NULL, NULL, 0.8, 'ets', '2025-03-01 12:00+00'
UNION ALL
SELECT '3/10', '2025-03-01', 'day', 1, 6, 6, 6, 0.9, 'naive', '2025-02-28 12:00+00';

-- Safety stock: lead-time demand D = sum of daily means, sd = sqrt(sum of daily variances),
-- safety stock = z(service level) * sd, safe level = D + safety stock.
-- '1/10', 2 days at 95%: D = 20, sd = sqrt(8) = 2.828427, SS = 1.644854 * 2.828427 = 4.652349.
SELECT round(lead_time_demand::numeric, 6) AS demand, round(demand_sd::numeric, 6) AS sd,
       round(safety_stock::numeric, 6) AS safety_stock, round(safe_level::numeric, 6) AS safe_level, days_covered
  FROM retailiq.safety_stock('1/10', 2, 0.95, '2025-03-01');
-- '2/10', a weekly forecast of 70 spread over 7 days, Poisson spread (variance = mean):
-- 3 days from Monday: D = 30, sd = sqrt(30) = 5.477226, SS = 9.009234.
SELECT round(lead_time_demand::numeric, 6) AS demand, round(demand_sd::numeric, 6) AS sd,
       round(safety_stock::numeric, 6) AS safety_stock, round(safe_level::numeric, 6) AS safe_level, days_covered
  FROM retailiq.safety_stock('2/10', 3, 0.95, '2025-03-03');
-- '3/10': one day of 4 covered; the others take its mean: D = 24, no spread.
SELECT lead_time_demand, demand_sd, safety_stock, safe_level, days_covered
  FROM retailiq.safety_stock('3/10', 4, 0.99, '2025-03-01');
-- '4/10': a log-scale forecast (the dynamic regression's), 10 a day, whose 80% interval is
-- expm1 of a Normal's quantiles: log(1 + D) ~ N(ln 11, 0.5^2), so 1 + lower = 11 e^(-0.5 z),
-- 1 + upper = 11 e^(0.5 z) with z = z(0.9) = 1.281552, e^0.640776 = 1.897953: lower =
-- 11 / 1.897953 - 1 = 4.795719, upper = 11 * 1.897953 - 1 = 19.877480. Skewed to the right
-- (upper - 10 = 9.877480 > 10 - lower = 5.204281, lower > 0), so it is read as the log-normal
-- through the bounds (replenishment_moments): m = (ln(1 + upper) + ln(1 + lower)) / 2 = ln 11,
-- s = (ln(1 + upper) - ln(1 + lower)) / 2z = 0.5;
--   mean = e^(m + s^2/2) - 1 = 11 e^0.125 - 1 = 11 * 1.133148 - 1 = 11.464633 a day,
--   var = (e^(s^2) - 1) e^(2m + s^2) = (e^0.25 - 1) * 121 * e^0.25
--       = 0.284025 * 121 * 1.284025 = 44.128198 a day.
-- 2 days at 95%: D = 22.929266, sd = sqrt(88.256397) = 9.394488,
-- SS = 1.644854 * 9.394488 = 15.452557, safe level = 38.381823. (The Normal reading of the
-- same interval gave D = 20, sd = sqrt(2) * 15.081761 / 2.563103 = 8.321488, SS = 13.687629:
-- the point is the median, the width misses the long right tail.)
INSERT INTO retailiq.forecast_result
    (series, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, interval_level, model_name, created_at)
SELECT '4/10', date '2025-02-28' + i, 'day', i, 10, 11 * exp(-0.5 * retailiq.normal_quantile(0.9)) - 1,
       11 * exp(0.5 * retailiq.normal_quantile(0.9)) - 1, 0.8, 'regression', timestamptz '2025-02-28 12:00+00'
  FROM generate_series(1, 7) i;
SELECT round(yhat_lower::numeric, 6) AS lower, round(yhat_upper::numeric, 6) AS upper
  FROM retailiq.forecast_result WHERE series = '4/10' AND period_start = '2025-03-01';
SELECT round(lead_time_demand::numeric, 6) AS demand, round(demand_sd::numeric, 6) AS sd,
       round(safety_stock::numeric, 6) AS safety_stock, round(safe_level::numeric, 6) AS safe_level, days_covered
  FROM retailiq.safety_stock('4/10', 2, 0.95, '2025-03-01');
-- '6/10': a point forecast below 0 counts as no demand (as in the replenishment plan); its
-- interval (sd 2) still gives the spread: D = 0, sd = 2, SS = 1.644854 * 2 = 3.289707.
INSERT INTO retailiq.forecast_result
    (series, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, interval_level, model_name, created_at)
VALUES ('6/10', '2025-03-01', 'day', 1, -1, -1 - 2 * retailiq.normal_quantile(0.9), -1 + 2 * retailiq.normal_quantile(0.9),
        0.8, 'ets', '2025-02-28 12:00+00');
SELECT round(lead_time_demand::numeric, 6) AS demand, round(demand_sd::numeric, 6) AS sd,
       round(safety_stock::numeric, 6) AS safety_stock, round(safe_level::numeric, 6) AS safe_level, days_covered
  FROM retailiq.safety_stock('6/10', 1, 0.95, '2025-03-01');
-- (gone again before the sales check below reads every stored forecast)
DELETE FROM retailiq.forecast_result WHERE series IN ('4/10', '6/10');
-- No forecast: no row.
SELECT count(*) FROM retailiq.safety_stock('9/99', 2, 0.95, '2025-03-01');
SELECT * FROM retailiq.safety_stock('1/10', 0);
SELECT * FROM retailiq.safety_stock('1/10', 2, 1);
SELECT * FROM retailiq.safety_stock(NULL);

-- The trigger with threshold 'safety_stock' (lead time 2 days, 95%): forecasts from today,
-- 10 a day with sd 2, so the safe level is 24.65. Items without a forecast never alert.
INSERT INTO retailiq.forecast_result
    (series, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, interval_level, model_name)
SELECT '5/42', current_date + i, 'day', i + 1, 10, 10 - 2 * retailiq.normal_quantile(0.9),
       10 + 2 * retailiq.normal_quantile(0.9), 0.8, 'ets'
  FROM generate_series(0, 6) i;
CREATE TABLE shelf (store_id int, product_id int, on_hand int, PRIMARY KEY (store_id, product_id));
CREATE TRIGGER low AFTER INSERT OR UPDATE ON shelf FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'safety_stock', '2', '0.95');
INSERT INTO shelf VALUES (5, 42, 30), (6, 42, 0);
UPDATE shelf SET on_hand = 25 WHERE store_id = 5;
SELECT count(*) AS alerts FROM retailiq.alert;
UPDATE shelf SET on_hand = 24 WHERE store_id = 5;
SELECT kind, severity, subject, message, measured, round(threshold::numeric, 4) AS threshold
  FROM retailiq.alert ORDER BY id;
UPDATE shelf SET on_hand = 40 WHERE store_id = 5;
SELECT status, count(*) FROM retailiq.alert GROUP BY 1 ORDER BY 1;

-- Sales shortfall: actual daily units by series.
CREATE TABLE sales (series text, day date, units int);
INSERT INTO sales VALUES
    ('1/10', '2025-03-01', 10),   -- on forecast
    ('1/10', '2025-03-02', 7),    -- 30% below: shortfall, critical (at least twice the threshold)
    ('1/10', '2025-03-03', 9),    -- 10% below: not more than the threshold, no alert
    ('1/10', '2025-03-04', 12),   -- 20% above: overshoot, critical
    ('1/10', '2025-03-04', -1),   -- (a return: rows are summed, 11 = 10% above: no alert)
    ('1/10', '2025-03-06', 13),   -- 30% above: overshoot, critical
    ('1/10', '2025-03-07', 5),    -- after until: not checked yet
    ('2/10', '2025-03-03', 20), ('2/10', '2025-03-04', 20), ('2/10', '2025-03-05', 20),
    ('3/10', '2025-03-01', 5);    -- 16.7% below: shortfall, warning
-- 2025-03-05 has no sales row for '1/10': zero sales, 100% below. The week of '2/10' ends
-- on 2025-03-10, after until: not checked.
SELECT alert_id, kind, severity, series, period_start, grain, actual, forecast, round(deviation::numeric, 4) AS deviation
  FROM retailiq.check_sales_shortfall(0.10, 'sales', since => '2025-03-01', until => '2025-03-07');
SELECT kind, severity, subject, message, measured, round(threshold::numeric, 2) AS threshold, audience
  FROM retailiq.alert WHERE kind LIKE 'sales%' ORDER BY id;
-- Run again a week later: the same periods repeat (count 2), the week is now complete.
SELECT alert_id, kind, severity, series, period_start, grain, actual, forecast, round(deviation::numeric, 4) AS deviation
  FROM retailiq.check_sales_shortfall(0.10, 'sales', since => '2025-03-01', until => '2025-03-14');
SELECT kind, subject ->> 'series' AS series, subject ->> 'period_start' AS period, count
  FROM retailiq.alert WHERE kind LIKE 'sales%' ORDER BY id;
-- Only one model's forecasts, with a 15% threshold.
SELECT alert_id, kind, series, period_start
  FROM retailiq.check_sales_shortfall(0.15, 'sales', since => '2025-03-01', until => '2025-03-14', model_name => 'naive');

-- Errors.
SELECT * FROM retailiq.check_sales_shortfall(0.10);
SELECT * FROM retailiq.check_sales_shortfall(0, 'sales');
SELECT * FROM retailiq.check_sales_shortfall('NaN', 'sales');
SELECT * FROM retailiq.check_sales_shortfall(0.1, 'sales', since => '2025-03-10', until => '2025-03-01');
SELECT * FROM retailiq.check_sales_shortfall(0.1, 'sales', value_col => 'qty', since => '2025-03-01', until => '2025-03-07');
SELECT * FROM retailiq.check_sales_shortfall(0.1, 'no_such_table');

-- The forecast contract rejects values that cannot be forecasts.
\set VERBOSITY terse
INSERT INTO retailiq.forecast_result (series, period_start, horizon, yhat, model_name) VALUES ('x', '2025-01-01', 1, 'NaN', 'm');
INSERT INTO retailiq.forecast_result (series, period_start, horizon, yhat, yhat_lower, yhat_upper, model_name) VALUES ('x', '2025-01-01', 1, 5, 6, 7, 'm');
INSERT INTO retailiq.forecast_result (series, period_start, horizon, yhat, yhat_lower, model_name) VALUES ('x', '2025-01-01', 1, 5, 4, 'm');
INSERT INTO retailiq.forecast_result (series, period_start, grain, horizon, yhat, model_name) VALUES ('x', '2025-01-01', 'hour', 1, 5, 'm');

\set VERBOSITY default
RESET search_path;
DROP SCHEMA alerts_forecast CASCADE;
DELETE FROM retailiq.alert;
DELETE FROM retailiq.forecast_result WHERE series IN ('1/10', '2/10', '3/10', '4/10', '5/42', '6/10');
