-- Statistical baselines through retailiq.forecast_fit and the retailiq.forecast /
-- forecast_all dispatchers: seasonal naive and Croston/SBA checked by hand, ETS on a
-- series with an exact structure, auto's choice, errors.
SET extra_float_digits = 0;

-- Weekly-patterned daily sales: 7-day season 10,20,30,40,50,60,70 over 4 weeks, two shops.
CREATE TABLE b_daily AS
SELECT s AS series, d::date AS ts,
       ((extract(isodow FROM d)::int) * 10 + CASE WHEN s = 'shop2' THEN 5 ELSE 0 END)::float8 AS y
FROM generate_series('2024-01-01'::date, '2024-01-28', '1 day') d, (VALUES ('shop1'), ('shop2')) v(s);
-- make shop1's last week 1 unit higher on Monday: the seasonal differences are then
-- 0 except one of 1, so sigma^2 = 1/21 and the 80% band is +/- 1.2816 * sqrt(1/21)
UPDATE b_daily SET y = y + 1 WHERE series = 'shop1' AND ts = '2024-01-22';

CREATE TABLE b_models AS
SELECT retailiq.forecast_fit(series, ts, y, 'snaive') AS snaive,
       retailiq.forecast_fit(series, ts, y, 'snaive', '{"level": 0.95}') AS snaive95
FROM b_daily;
SELECT retailiq.model_kind(snaive) FROM b_models;
-- next Monday repeats the last Monday (11 for shop1); step 8 is a second season: sd * sqrt(2)
SELECT step, ts, yhat, round(yhat_lower::numeric, 4) AS lower, round(yhat_upper::numeric, 4) AS upper
FROM b_models, retailiq.forecast(snaive, 'shop1', 8);
SELECT round((11 - 1.2815515655446004 * sqrt(1.0 / 21))::numeric, 4) AS expected_lower_1,
       round((11 - 1.2815515655446004 * sqrt(2.0 / 21))::numeric, 4) AS expected_lower_8;
-- shop2 is an exact repeat: a zero-width band; 95% level on shop1 widens it
SELECT series, step, yhat, yhat_lower, yhat_upper FROM b_models, retailiq.forecast_all(snaive, 2) ORDER BY 1, 2;
SELECT round((yhat_upper - yhat)::numeric, 4) AS half_width_95,
       round((1.959963984540054 * sqrt(1.0 / 21))::numeric, 4) AS expected
FROM b_models, retailiq.forecast(snaive95, 'shop1', 1);
SELECT series, method, n, season FROM b_models, retailiq.forecast_model_series(snaive);

-- Croston by hand: demand 4 at periods 2, 5 (interval 3) and 6 at period 8 (interval 3).
-- Start: z = 4, p = 2 (periods up to the first demand); alpha 0.1:
--   after period 5: z = 4 + 0.1 (4 - 4) = 4, p = 2 + 0.1 (3 - 2) = 2.1
--   after period 8: z = 4 + 0.1 (6 - 4) = 4.2, p = 2.1 + 0.1 (3 - 2.1) = 2.19
-- forecast z / p = 1.917808..., SBA (1 - 0.05) z / p = 1.821917...
CREATE TABLE b_int AS
SELECT 'sku' AS series, ('2024-03-01'::date + i - 1) AS ts,
       CASE i WHEN 2 THEN 4 WHEN 5 THEN 4 WHEN 8 THEN 6 ELSE 0 END::float8 AS y
FROM generate_series(1, 9) i;
SELECT round(yhat::numeric, 6) AS croston, round((4.2 / 2.19)::numeric, 6) AS expected
FROM retailiq.forecast((SELECT retailiq.forecast_fit(series, ts, y, 'croston') FROM b_int), 'sku', 1);
SELECT round(yhat::numeric, 6) AS sba, round((0.95 * 4.2 / 2.19)::numeric, 6) AS expected, yhat_lower >= 0 AS clipped
FROM retailiq.forecast((SELECT retailiq.forecast_fit(series, ts, y, 'sba') FROM b_int), 'sku', 1);
SELECT retailiq.model_kind(retailiq.forecast_fit(series, ts, y, 'sba')) FROM b_int;

-- ETS on an exactly linear monthly series: a trend form reproduces the line.
CREATE TABLE b_lin AS
SELECT 'line' AS series, ('2015-01-01'::date + make_interval(months => i))::date AS ts,
       (100 + 2 * i + CASE WHEN i % 2 = 0 THEN 0.5 ELSE -0.5 END)::float8 AS y
FROM generate_series(0, 47) i;
CREATE TABLE b_ets AS SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"ets_model": "AAN"}') AS m FROM b_lin;
SELECT retailiq.model_kind(m), method, n FROM b_ets, retailiq.forecast_model_series(m);
-- continues the line 196, 198, 200 within 1 (the series alternates +/- 0.5 around it)
SELECT step, ts, abs(yhat - (100 + 2 * (47 + step))) < 1 AS on_line, yhat_lower < yhat AND yhat < yhat_upper AS banded
FROM b_ets, retailiq.forecast(m, 'line', 3);
-- automatic ETS (AICc) forecasts the same line
SELECT bool_and(abs(yhat - (100 + 2 * (47 + step))) < 1.5) AS auto_on_line
FROM retailiq.forecast((SELECT retailiq.forecast_fit(series, ts, y, 'ets') FROM b_lin), 'line', 6);

-- auto: a series with a sale most days (smooth demand) gets the combination of ETS, seasonal naive
-- and Theta, its weights summing to 1; an intermittent series goes to SBA, TSB or IMAPA
SELECT series, method, round((alpha + beta + gamma)::numeric, 9) AS weights
FROM retailiq.forecast_model_series((SELECT retailiq.forecast_fit(series, ts, y, 'auto') FROM b_daily));
SELECT retailiq.model_kind(retailiq.forecast_fit(series, ts, y, 'auto')) FROM b_daily;

-- Same data, same model: the interval simulation is seeded.
SELECT (SELECT array_agg(yhat_lower ORDER BY step) FROM retailiq.forecast(m, 'line', 3))
     = (SELECT array_agg(yhat_lower ORDER BY step) FROM retailiq.forecast(m, 'line', 3)) AS repeatable
FROM (SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"ets_model": "MAN"}') AS m FROM b_lin) x;

-- Errors
\set VERBOSITY default
SELECT retailiq.forecast_fit(series, ts, y, 'arima') FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, y, NULL) FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"level": 1.5}') FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"ets_model": "AAM"}') FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"ets_model": "XYZ"}') FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"season": 0}') FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"maxiter": 100}') FROM b_daily;
SELECT retailiq.forecast_fit(series, ts, -y, 'ets') FROM b_daily;
SELECT * FROM retailiq.forecast((SELECT snaive FROM b_models), 'shop3', 1);
SELECT * FROM retailiq.forecast((SELECT snaive FROM b_models), 'shop1', 0);
SELECT * FROM retailiq.forecast((SELECT snaive FROM b_models), NULL, 1);
SELECT * FROM retailiq.forecast_all(NULL, 1);
SELECT * FROM retailiq.forecast('{"kind": "kmeans", "format": 1, "trained_at": "2024-01-01T00:00:00+00:00", "trained_by": "x", "params": {}, "metrics": {}, "data": {}}'::retailiq.model, 'x', 1);
\set VERBOSITY terse

-- Serial and parallel plans give the same model (the forecasts compare equal).
CREATE TABLE b_par AS
SELECT 'p' || (i % 23) AS series, '2022-01-01'::date + (i / 23) AS ts,
       (10 + (i % 23) + 5 * ((i / 23) % 7) + (i % 3))::float8 AS y
FROM generate_series(0, 23 * 120 - 1) i;
ANALYZE b_par;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE b_m1 AS SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"maxit": 600}') AS m FROM b_par;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"maxit": 600}') AS m FROM b_par;
CREATE TABLE b_m2 AS SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"maxit": 600}') AS m FROM b_par;
CREATE TEMP TABLE b_serial AS SELECT f.* FROM b_m1, retailiq.forecast_all(m, 7) f;
CREATE TEMP TABLE b_parallel AS SELECT f.* FROM b_m2, retailiq.forecast_all(m, 7) f;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT count(*) AS rows, count(*) FILTER (WHERE s IS DISTINCT FROM p) AS differ
FROM (SELECT s.series, s.step, s.yhat AS s, p.yhat AS p FROM b_serial s FULL JOIN b_parallel p USING (series, step)) x;
DROP TABLE b_daily, b_models, b_int, b_lin, b_ets, b_par, b_m2;
