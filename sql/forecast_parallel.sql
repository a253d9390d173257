-- forecast_fit fits the series of one call in parallel workers (retailiq.forecast_workers):
-- the model is the serial one, byte for byte; an error in one series fails the call and
-- names it; retailiq.forecast_progress shows the fits running now (none here, when idle).
SHOW retailiq.forecast_workers;

-- 24 series of 10 weeks (at least 16 series, so the call is worth workers): weekly
-- patterns, a trend, and every third series intermittent (mostly zero), for Croston and auto.
CREATE TABLE par_sales AS
SELECT 'p' || lpad(k::text, 2, '0') AS series, d::date AS ts,
       CASE WHEN k % 3 = 0
            THEN CASE WHEN (i * k) % 5 = 0 THEN 2 + k % 4 ELSE 0 END
            ELSE round(20 + k + 6 * sin(i * 2 * pi() / 7) + (i % 4) + 0.1 * k * i / 7)
       END::float8 AS y
FROM generate_series(1, 24) k,
     generate_series(date '2024-01-01', date '2024-03-10', '1 day') WITH ORDINALITY g(d, i);

-- The same panel fitted in the backend (0 workers) and by two workers and the leader. The
-- first 24 bytes of a model hold its checksum and training time; the rest must be equal.
CREATE TABLE par_models (method text, workers int, m retailiq.model);
SET retailiq.forecast_workers = 0;
INSERT INTO par_models
SELECT meth, 0, retailiq.forecast_fit(series, ts, y, meth) FROM par_sales,
       unnest(ARRAY['ets', 'auto', 'croston', 'snaive']) meth GROUP BY meth;
SET retailiq.forecast_workers = 2;
INSERT INTO par_models
SELECT meth, 2, retailiq.forecast_fit(series, ts, y, meth) FROM par_sales,
       unnest(ARRAY['ets', 'auto', 'croston', 'snaive']) meth GROUP BY meth;
SELECT s.method,
       substr(retailiq.model_send(s.m), 25) = substr(retailiq.model_send(p.m), 25) AS same_model,
       (retailiq.model_info(s.m) -> 'metrics' ->> 'nseries')::int AS series
FROM par_models s JOIN par_models p ON p.method = s.method AND p.workers = 2
WHERE s.workers = 0 ORDER BY 1;
RESET retailiq.forecast_workers;

-- Options and short series behave the same: a series too short for 'ets' gets the mean
-- (named in a NOTICE), or refuses the call before any fit with "short": "error".
INSERT INTO par_sales VALUES ('p99', '2024-03-08', 4), ('p99', '2024-03-09', 5), ('p99', '2024-03-10', 3);
SELECT retailiq.model_info(retailiq.forecast_fit(series, ts, y, 'ets', '{"short": "fallback"}')) -> 'metrics' ->> 'nseries' AS series
FROM par_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"short": "error"}') FROM par_sales;
DELETE FROM par_sales WHERE series = 'p99';

-- An error while one series is fitted (forced here through a superuser's test setting)
-- fails the whole call, naming the series, whichever process fitted it; the next call
-- is clean.
\set VERBOSITY terse
SET retailiq.debug_fail_series = 'p17';
SELECT retailiq.forecast_fit(series, ts, y, 'croston') FROM par_sales;
SET retailiq.forecast_workers = 0;
SELECT retailiq.forecast_fit(series, ts, y, 'croston') FROM par_sales;
RESET retailiq.forecast_workers;
RESET retailiq.debug_fail_series;
\set VERBOSITY default
SELECT substr(retailiq.model_send(retailiq.forecast_fit(series, ts, y, 'croston')), 25)
       = (SELECT substr(retailiq.model_send(m), 25) FROM par_models WHERE method = 'croston' AND workers = 0) AS same_model
FROM par_sales;

-- Parallel workers per call: 0 fits in the backend; the bounds are the server's.
SET retailiq.forecast_workers = -1;
SET retailiq.forecast_workers = 2000;

-- The progress view: one row per fit running now, none when idle.
SELECT count(*) AS running_fits FROM retailiq.forecast_progress;
SELECT attname FROM pg_attribute WHERE attrelid = 'retailiq.forecast_progress'::regclass AND attnum > 0 ORDER BY attnum;
DROP TABLE par_sales, par_models;
