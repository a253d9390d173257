-- The LSTM's ETS bases (issue 18): a form per series chosen by its demand class (simple
-- exponential smoothing for sporadic series, the AICc search for the others), refitted on the
-- whole history with the form chosen without the validation tail, and kept by a warm refit
-- ("warm_start") until reselect_days pass.
SET extra_float_digits = 0;

-- two smooth weekly series and two sporadic ones (a sale every 5th or 7th day), 140 days
CREATE TABLE lw AS
SELECT s AS series, d::date AS ts,
       CASE WHEN s LIKE 'smooth%' THEN 20 + 3 * (s = 'smooth2')::int * extract(dow FROM d)
                                       + 5 * sin(extract(doy FROM d) / 9.0)
            WHEN (extract(doy FROM d)::int + length(s)) % CASE s WHEN 'rare1' THEN 5 ELSE 7 END = 0
            THEN 1 + extract(doy FROM d)::int % 3 ELSE 0 END::float8 AS y
  FROM unnest(ARRAY['rare1', 'rare22', 'smooth1', 'smooth2']) s,
       generate_series('2024-01-01'::date, '2024-05-19', '1 day') d;

-- a small network with a given window keeps this fast
CREATE TABLE lw_opts AS
SELECT '{"horizon": 7, "window": 14, "hidden": 4, "ensemble": 1, "epochs": 3, "seed": 3}'::jsonb AS o;
CREATE TABLE lw_m AS
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts)) AS m FROM lw;
SELECT retailiq.save_model('lw', m) FROM lw_m;

-- the model records each base's form (error, trend, season, damped: 0 none, 1 additive,
-- 2 multiplicative) and the series' last date when it was chosen: the sporadic series get
-- ETS(A,N,N), the smooth ones their AICc search's form
CREATE FUNCTION lw_forms(m retailiq.model) RETURNS TABLE (series text, form text, selected date)
LANGUAGE sql AS $$
    SELECT k.series, f.form::text, date '2000-01-01' + s.sel::int
      FROM jsonb_array_elements_text((m::text)::jsonb -> 'data' -> 'series') WITH ORDINALITY k(series, i)
      JOIN jsonb_array_elements((m::text)::jsonb -> 'data' -> 'base_form') WITH ORDINALITY f(form, i) USING (i)
      JOIN jsonb_array_elements((m::text)::jsonb -> 'data' -> 'base_selected') WITH ORDINALITY s(sel, i) USING (i)
$$;
SELECT * FROM lw_forms((SELECT m FROM lw_m));

-- A warm refit on the same rows keeps every form and so forecasts exactly as the cold fit
SET client_min_messages = notice;
CREATE TABLE lw_w AS
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL,
         (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw"}, "verbose": true}') AS m FROM lw;
SELECT count(*) AS forecasts, bool_and(a.yhat = b.yhat AND a.yhat_lower = b.yhat_lower AND a.yhat_upper = b.yhat_upper) AS same
  FROM retailiq.forecast_all((SELECT m FROM lw_m), 7) a JOIN retailiq.forecast_all((SELECT m FROM lw_w), 7) b USING (series, step);

-- A week later (seven more days): within reselect_days (8 here) the forms and their selection date are
-- kept; a new series gets its form chosen; with reselect_days 0 every form is chosen again
INSERT INTO lw SELECT series, ts + 7, y FROM lw WHERE ts > '2024-05-12';
INSERT INTO lw SELECT 'smooth3', ts, y + 1 FROM lw WHERE series = 'smooth1';
CREATE TABLE lw_w2 AS
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL,
         (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw", "version": 1}, "reselect_days": 8}') AS m FROM lw;
SELECT * FROM lw_forms((SELECT m FROM lw_w2));
SELECT * FROM lw_forms((SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL,
         (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw"}, "reselect_days": 0}') FROM lw));

-- Errors: a model of another kind, a missing one, a bad reselect_days; a model without
-- base forms (base "none") starts cold
SELECT retailiq.save_model('lw_ets', retailiq.forecast_fit(series, ts, y, 'ets')) FROM lw;
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw_ets"}}') FROM lw;
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts) || '{"warm_start": {"model": "nope"}}') FROM lw;
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw"}, "reselect_days": -1}') FROM lw;
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts) || '{"warm_start": "lw"}') FROM lw;
SELECT retailiq.save_model('lw_none', retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts) || '{"base": "none"}')) FROM lw;
SELECT count(*) FROM lw_forms((SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL,
         (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw_none"}}') FROM lw));

-- A crafted model: a base form that is no ETS form is refused (XX001)
SELECT retailiq.save_model('lw_bad', (replace(m::text, '"base_form": [[1, 0, 0, 0]', '"base_form": [[1, 7, 0, 0]'))::retailiq.model)
  FROM lw_m;
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, (SELECT o FROM lw_opts) || '{"warm_start": {"model": "lw_bad"}}') FROM lw;
DELETE FROM retailiq.models WHERE name LIKE 'lw%';
DROP FUNCTION lw_forms(retailiq.model);
DROP TABLE lw, lw_opts, lw_m, lw_w, lw_w2;
