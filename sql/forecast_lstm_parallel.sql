-- The LSTM's work spread over retailiq.forecast_workers (issue 18): the ETS bases (in runs
-- of 32 series), the candidate windows' networks and the ensemble's networks are jobs fixed
-- by the panel and the options, so the model and the refresh's forecasts are the same with
-- the backend alone and with workers; early stopping reads a seeded sample of at most
-- "validation_series" held-out series.
SET extra_float_digits = 0;

-- 40 daily series of 100 days (more than one run of 32 bases): weekly patterns, a trend,
-- every fourth series sporadic
CREATE TABLE lp AS
SELECT 'lp' || lpad(k::text, 2, '0') AS series, d::date AS day, k % 4 AS store_id, k AS product_id,
       CASE WHEN k % 4 = 0
            THEN CASE WHEN (i * k) % 6 = 0 THEN 1 + k % 3 ELSE 0 END
            ELSE round(10 + k + 4 * sin(i * 2 * pi() / 7) + (i % 3) + 0.05 * k * i / 7)
       END::float8 AS units
  FROM generate_series(1, 40) k,
       generate_series(date '2024-01-01', date '2024-04-09', '1 day') WITH ORDINALITY g(d, i);

-- small networks keep this fast; no window given, so three candidate windows are trained
CREATE TABLE lp_opts AS
SELECT '{"horizon": 7, "hidden": 4, "ensemble": 2, "epochs": 3, "patience": 2, "windows_per_epoch": 96,
         "batch_size": 32, "seed": 5}'::jsonb AS o;

-- The same fit in the backend and with two workers and the leader, with every held-out
-- series steering the epochs and with a sample of 7 of the 40: equal byte for byte (the
-- first 24 bytes of a model hold its checksum)
CREATE TABLE lp_models (workers int, vs int, m retailiq.model);
SET max_parallel_workers_per_gather = 0;
SET retailiq.forecast_workers = 0;
INSERT INTO lp_models
SELECT 0, vs, retailiq.forecast_lstm_fit(series, day, units, NULL, (SELECT o FROM lp_opts) || jsonb_build_object('validation_series', vs))
  FROM lp, unnest(ARRAY[1000, 7]) vs GROUP BY vs;
SET retailiq.forecast_workers = 2;
INSERT INTO lp_models
SELECT 2, vs, retailiq.forecast_lstm_fit(series, day, units, NULL, (SELECT o FROM lp_opts) || jsonb_build_object('validation_series', vs))
  FROM lp, unnest(ARRAY[1000, 7]) vs GROUP BY vs;
SELECT s.vs, substr(retailiq.model_send(s.m), 25) = substr(retailiq.model_send(p.m), 25) AS same_model,
       (retailiq.model_info(s.m) -> 'params' ->> 'window')::int > 0 AS window_chosen
  FROM lp_models s JOIN lp_models p ON p.vs = s.vs AND p.workers = 2
 WHERE s.workers = 0 ORDER BY 1;
-- the sample steers only the epochs: both models forecast every series
SELECT vs, count(DISTINCT f.series) AS series
  FROM lp_models, retailiq.forecast_all(m, 7) f WHERE workers = 0 GROUP BY vs ORDER BY vs;

-- The nightly refresh of an LSTM source: the same forecast rows at 0 and 2 workers
SELECT (retailiq.register_sales_source('lp_src', 'lp', 'series', 'day', 'units', method => 'lstm',
         options => (SELECT o FROM lp_opts) || '{"max_model_age": "0"}',
         store_column => 'store_id', product_column => 'product_id')).name AS registered;
CREATE TABLE lp_rows (workers int, series text, period_start date, yhat float8, yhat_lower float8, yhat_upper float8);
SET retailiq.forecast_workers = 0;
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'lp_src') AS rows_written;
INSERT INTO lp_rows SELECT 0, series, period_start, yhat, yhat_lower, yhat_upper
  FROM retailiq.forecast_result WHERE model_name = 'forecast:lp_src';
-- a fresh source (no warm start from the first refresh's model)
SELECT retailiq.unregister_sales_source('lp_src', true);
SELECT (retailiq.register_sales_source('lp_src', 'lp', 'series', 'day', 'units', method => 'lstm',
         options => (SELECT o FROM lp_opts) || '{"max_model_age": "0"}',
         store_column => 'store_id', product_column => 'product_id')).name AS registered;
SET retailiq.forecast_workers = 2;
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'lp_src') AS rows_written;
INSERT INTO lp_rows SELECT 2, series, period_start, yhat, yhat_lower, yhat_upper
  FROM retailiq.forecast_result WHERE model_name = 'forecast:lp_src';
SELECT count(*) AS forecasts,
       count(*) FILTER (WHERE a.yhat = b.yhat AND a.yhat_lower = b.yhat_lower AND a.yhat_upper = b.yhat_upper) AS identical
  FROM lp_rows a JOIN lp_rows b USING (series, period_start)
 WHERE a.workers = 0 AND b.workers = 2;
SELECT retailiq.unregister_sales_source('lp_src', true);
RESET retailiq.forecast_workers;
RESET max_parallel_workers_per_gather;

-- The training budget's options refuse bad values, naming the option, with a hint
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"validation_series": 0}') FROM lp;
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"validation_series": 2.5}') FROM lp;
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"validation_series": "all"}') FROM lp;
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"windows_per_epoch": 0}') FROM lp;
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"windows_per_epoch": -64}') FROM lp;
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"patience": 0}') FROM lp;
SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"epochs": 1e9}') FROM lp;
DROP TABLE lp, lp_opts, lp_models, lp_rows;
