-- Warm starts: forecast_fit refits each series from a saved model (options.warm_start):
-- series with no new rows keep their fit, the others keep their method and form (ETS,
-- combo's components) with parameters re-estimated, until reselect_days pass or the fit
-- degrades; the model records which series were warm, cold or skipped.

-- 24 series of 10 weeks: weekly patterns and a trend, every third one intermittent, one
-- constant (p15: no ETS form fits it, the mean does).
CREATE TABLE warm_sales AS
WITH days AS (SELECT d::date AS ts, row_number() OVER (ORDER BY d) AS i
                FROM generate_series(date '2024-01-01', date '2024-03-10', '1 day') d),
     keys AS (SELECT k, 'p' || lpad(k::text, 2, '0') AS series FROM generate_series(1, 24) k)
SELECT series, ts,
       (CASE WHEN k % 3 <> 0 THEN round(20 + k + 6 * sin(i * 2 * pi() / 7) + (i % 4) + 0.1 * k * i / 7)
             WHEN (i * k) % 5 = 0 THEN 2 + k % 4
             ELSE 0 END)::float8 AS y
  FROM keys, days;

-- what a model says of its warm start
CREATE FUNCTION warm_summary(m retailiq.model)
RETURNS TABLE (cold int, warm int, skipped int, degraded int, statuses text)
LANGUAGE sql AS $$
    SELECT (i -> 'series_cold')::int, (i -> 'series_warm')::int, (i -> 'series_skipped')::int,
           (i -> 'series_reselected_degraded')::int,
           (SELECT string_agg(s || ':' || n, ' ' ORDER BY s)
              FROM (SELECT s, count(*) AS n FROM jsonb_array_elements_text(i -> 'warm_status') s GROUP BY s) c)
      FROM (SELECT retailiq.model_info(m) -> 'metrics' AS i) x
$$;

-- the rows of two models' forecasts that differ (7 steps, every series of the first)
CREATE FUNCTION warm_diff(a retailiq.model, b retailiq.model) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM retailiq.forecast_all(a, 7) x
      FULL JOIN retailiq.forecast_all(b, 7) y USING (series, step)
     WHERE x.yhat IS DISTINCT FROM y.yhat OR x.yhat_lower IS DISTINCT FROM y.yhat_lower
        OR x.yhat_upper IS DISTINCT FROM y.yhat_upper OR x.ts IS DISTINCT FROM y.ts
$$;

-- Night 1: a cold fit (every series cold, status 0), saved.
SELECT retailiq.save_model('warm:ets', retailiq.forecast_fit(series, ts, y, 'ets'))
  FROM warm_sales WHERE ts <= '2024-03-08';
SELECT * FROM warm_summary(retailiq.load_model('warm:ets'));

-- Night 2, one more day: every series refitted warm (status 1) but the constant one, whose
-- previous fit was the mean fallback (status 5: cold, nothing to keep).
SELECT retailiq.save_model('warm:ets', retailiq.forecast_fit(series, ts, y, 'ets',
                                                              '{"warm_start": {"model": "warm:ets"}}'))
  FROM warm_sales WHERE ts <= '2024-03-09';
SELECT * FROM warm_summary(retailiq.load_model('warm:ets'));

-- A warm refit is the cold fit of the same form with its parameters re-estimated: each
-- series fitted cold with its form fixed (options.ets_model) forecasts exactly the same.
CREATE TABLE warm_forms AS
SELECT series, translate(substr(method, 5, length(method) - 5), ',', '') AS form
  FROM retailiq.forecast_model_series(retailiq.load_model('warm:ets'))
 WHERE method LIKE 'ets(%';
SELECT count(*) AS series, sum(warm_diff(w.m, c.m)) AS rows_differing
  FROM (SELECT f.series, retailiq.forecast_fit(s.series, s.ts, s.y, 'ets', jsonb_build_object('ets_model', f.form)) AS m
          FROM warm_sales s JOIN warm_forms f USING (series)
         WHERE s.ts <= '2024-03-09' GROUP BY f.series) c,
       LATERAL (SELECT retailiq.forecast_fit(s.series, s.ts, s.y, 'ets', '{"warm_start": {"model": "warm:ets", "version": 1}}') AS m
                  FROM warm_sales s WHERE s.series = c.series AND s.ts <= '2024-03-09') w;

-- The same night again (no new rows): every series skipped (status 2), the model's
-- forecasts those of the one it started from.
SELECT w.*, warm_diff(m, retailiq.load_model('warm:ets')) AS rows_differing
  FROM (SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:ets"}}') AS m
          FROM warm_sales WHERE ts <= '2024-03-09') x, warm_summary(x.m) w;

-- reselect_days: the forms were selected on 2024-03-08; a day later, with
-- "reselect_days": 1, every series is selected again (status 3) and the fit is the cold one.
SELECT w.*, warm_diff(x.m, c.m) AS rows_differing_from_cold
  FROM (SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:ets"}, "reselect_days": 1}') AS m
          FROM warm_sales WHERE ts <= '2024-03-10') x,
       (SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"reselect_days": 1}') AS m
          FROM warm_sales WHERE ts <= '2024-03-10') c,
       warm_summary(x.m) w;

-- A fit that degrades: a wild last day grows p01's in-sample error beyond degrade_ratio
-- times the previous one, so p01 alone is selected again (status 4).
SELECT w.*
  FROM (SELECT retailiq.forecast_fit(series, ts, CASE WHEN series = 'p01' AND ts = '2024-03-10' THEN 900 ELSE y END,
                                     'ets', '{"warm_start": {"model": "warm:ets"}, "degrade_ratio": 1.5}') AS m
          FROM warm_sales WHERE ts <= '2024-03-10') x, warm_summary(x.m) w;

-- 'auto': intermittent series keep SBA/TSB/IMAPA, smooth ones 'combo' with its components'
-- forms (weights re-estimated). On the new day the cold fit selects the same final forms for
-- every series, but not the same forecasts for the combinations: at some of its validation
-- origins (fitted without the last weeks, where the weights come from) the cold fit chose
-- other forms than the final ones, which a warm refit does not search; the weights of those
-- series differ, and with them the held-out errors every combination's interval is
-- calibrated on, pooled over the panel, so every combination's bounds move a little.
SELECT retailiq.save_model('warm:auto', retailiq.forecast_fit(series, ts, y, 'auto'))
  FROM warm_sales WHERE ts <= '2024-03-09';
CREATE TABLE warm_auto AS
SELECT (SELECT retailiq.forecast_fit(series, ts, y, 'auto', '{"warm_start": {"model": "warm:auto"}}') FROM warm_sales) AS w,
       (SELECT retailiq.forecast_fit(series, ts, y, 'auto') FROM warm_sales) AS c;
SELECT s.*,
       (w::text::jsonb -> 'data' -> 'spec') = (c::text::jsonb -> 'data' -> 'spec') AS same_forms,
       (w::text::jsonb -> 'data' -> 'method') = (c::text::jsonb -> 'data' -> 'method') AS same_methods,
       (SELECT string_agg(series, ', ' ORDER BY series) FROM (
          SELECT x.series FROM retailiq.forecast_all(w, 7) x JOIN retailiq.forecast_all(c, 7) y USING (series, step)
           WHERE x.yhat <> y.yhat OR x.yhat_lower <> y.yhat_lower OR x.yhat_upper <> y.yhat_upper
           GROUP BY x.series) d) AS series_differing
  FROM warm_auto, warm_summary(w) s;

-- Serial and parallel warm refits are the same model, byte for byte after the checksum and
-- training time; here p01-p12 have no new row (skipped), p13-p24 one (warm), p25 is new to
-- the model (cold) and p02 is gone (simply not there).
CREATE TABLE warm_par (workers int, m retailiq.model);
INSERT INTO warm_sales SELECT 'p25', ts, y + 1 FROM warm_sales WHERE series = 'p01';
SET retailiq.forecast_workers = 0;
INSERT INTO warm_par SELECT 0, retailiq.forecast_fit(series, ts, y, 'auto', '{"warm_start": {"model": "warm:auto"}}')
  FROM warm_sales WHERE series <> 'p02' AND (series > 'p12' OR ts <= '2024-03-09');
SET retailiq.forecast_workers = 2;
INSERT INTO warm_par SELECT 2, retailiq.forecast_fit(series, ts, y, 'auto', '{"warm_start": {"model": "warm:auto"}}')
  FROM warm_sales WHERE series <> 'p02' AND (series > 'p12' OR ts <= '2024-03-09');
RESET retailiq.forecast_workers;
SELECT substr(retailiq.model_send(a.m), 25) = substr(retailiq.model_send(b.m), 25) AS same_model, w.*
  FROM warm_par a, warm_par b, warm_summary(a.m) w WHERE a.workers = 0 AND b.workers = 2;

-- Changed options (here the season) make every previous fit unusable: all cold (status 5).
SELECT w.* FROM (SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:ets"}, "season": 1}') AS m
                   FROM warm_sales WHERE ts <= '2024-03-10') x, warm_summary(x.m) w;

-- Errors: the option's shape, an unknown model or version, a model of another kind, bad
-- settings.
\set VERBOSITY terse
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": "warm:ets"}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {}}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:ets", "since": 1}}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:ets", "version": 0}}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:ets", "version": 99}}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "nope"}}') FROM warm_sales;
SELECT retailiq.save_model('warm:lstm', retailiq.forecast_lstm_fit(series, ts, y, NULL::float8[], '{"epochs": 1, "hidden": 2}'))
  FROM warm_sales WHERE series IN ('p01', 'p02');
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"warm_start": {"model": "warm:lstm"}}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"reselect_days": -1}') FROM warm_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"degrade_ratio": 0.5}') FROM warm_sales;
\set VERBOSITY default

-- The nightly refresh warm-starts from the source's newest model: the second refresh
-- (max_model_age "0": retrain every time) skips the unchanged series; an ordinary role
-- that may read the sales and write the forecasts does the same.
CREATE VIEW warm_view AS SELECT series, ts, y FROM warm_sales WHERE ts <= '2024-03-09';
SELECT name FROM retailiq.register_sales_source('warmsrc', 'warm_view', 'series', 'ts', 'y',
                                                method => 'ets', options => '{"max_model_age": "0"}');
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'warmsrc') AS rows_written;
SELECT * FROM warm_summary(retailiq.load_model('forecast:warmsrc'));
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'warmsrc') AS rows_written;
SELECT * FROM warm_summary(retailiq.load_model('forecast:warmsrc'));
CREATE OR REPLACE VIEW warm_view AS SELECT series, ts, y FROM warm_sales WHERE ts <= '2024-03-10';
CREATE ROLE warm_planner;
GRANT USAGE ON SCHEMA retailiq TO warm_planner;
GRANT SELECT ON warm_view, warm_sales TO warm_planner;
GRANT SELECT, INSERT ON retailiq.models TO warm_planner;
GRANT SELECT, INSERT, DELETE ON retailiq.forecast_result TO warm_planner;
GRANT SELECT, UPDATE ON retailiq.sales_source, retailiq.sales_source_state TO warm_planner;
SET ROLE warm_planner;
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'warmsrc') AS rows_written;
SELECT * FROM warm_summary(retailiq.load_model('forecast:warmsrc'));
RESET ROLE;
SELECT retailiq.unregister_sales_source('warmsrc', true);
REVOKE ALL ON retailiq.models, retailiq.forecast_result, retailiq.sales_source, retailiq.sales_source_state FROM warm_planner;
REVOKE ALL ON SCHEMA retailiq FROM warm_planner;
DROP VIEW warm_view;
DROP TABLE warm_sales, warm_forms, warm_par, warm_auto;
DROP ROLE warm_planner;
SELECT retailiq.drop_model(name) FROM (VALUES ('warm:ets'), ('warm:auto'), ('warm:lstm')) v(name);
DROP FUNCTION warm_summary(retailiq.model);
DROP FUNCTION warm_diff(retailiq.model, retailiq.model);
