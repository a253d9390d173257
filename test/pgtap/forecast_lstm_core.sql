-- forecast LSTM: the backward pass against finite differences, determinism, serial =
-- parallel plans, error cases with their SQLSTATE, and a planted promotion uplift
-- recovered from the factors (forecasts with the factors beat forecasts without), and
-- the evidence that weighs the network's correction to its ETS base: kept where a factor
-- moves sales, dropped where there is nothing but noise to learn.
BEGIN;
SELECT plan(29);
SET LOCAL jit = off;

-- backpropagation through time matches central finite differences (1 and 2 layers)
SELECT cmp_ok(retailiq_internal.forecast_lstm_gradient_check(1, 1), '<', 1e-6::float8, 'gradient check, 1 layer');
SELECT cmp_ok(retailiq_internal.forecast_lstm_gradient_check(7, 2), '<', 1e-6::float8, 'gradient check, 2 layers');
SELECT throws_ok('SELECT retailiq_internal.forecast_lstm_gradient_check(1, 3)', '22023', NULL, 'layers must be 1 or 2');

-- 24 weekly-patterned daily series over 150 days; a promotion (about 1 day in 8, at
-- random) multiplies sales by 1.6; noise from a fixed formula.
CREATE TABLE lstm_tap AS
SELECT 's' || lpad(s::text, 2, '0') AS series, d::date AS ts,
       round(((5 + s) * (1 + 0.3 * (extract(dow FROM d) IN (5, 6))::int)
              * CASE WHEN promo THEN 1.6 ELSE 1 END
              * (0.9 + 0.2 * (sin(s * 12.9898 + i * 78.233) * 43758.5453
                              - floor(sin(s * 12.9898 + i * 78.233) * 43758.5453))))::numeric, 2)::float8 AS y,
       ARRAY[promo::int::float8] AS exog
FROM generate_series(1, 24) s,
     generate_series(0, 149) i,
     LATERAL (SELECT '2024-01-01'::date + i AS d,
                     (sin(s * 3.7 + i * 1.3) * 1000 - floor(sin(s * 3.7 + i * 1.3) * 1000)) < 0.125 AS promo) p;
ANALYZE lstm_tap;

-- train on the first 136 days, judge the last 14 (7 steps, two origins' worth of data)
CREATE TABLE lstm_tap_models AS
SELECT (SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 14, "hidden": 16, "ensemble": 1, "seed": 3, "windows_per_epoch": 1024}')
        FROM lstm_tap WHERE ts < '2024-05-16') AS with_f,
       (SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, '{"horizon": 14, "hidden": 16, "ensemble": 1, "seed": 3, "windows_per_epoch": 1024}')
        FROM lstm_tap WHERE ts < '2024-05-16') AS without_f;

CREATE TABLE lstm_tap_fut AS
SELECT series, array_agg(ARRAY[exog[1]] ORDER BY ts) AS fx
FROM lstm_tap WHERE ts >= '2024-05-16' GROUP BY series;

CREATE TABLE lstm_tap_err AS
SELECT sum(abs(a.y - f.yhat)) / sum(a.y) AS wape_f,
       sum(abs(a.y - g.yhat)) / sum(a.y) AS wape_nof,
       avg((a.y BETWEEN f.yhat_lower AND f.yhat_upper)::int) AS cov,
       sum(CASE WHEN a.exog[1] = 1 THEN f.yhat - g.yhat END) / sum(CASE WHEN a.exog[1] = 1 THEN g.yhat END) AS uplift
FROM lstm_tap_models m, lstm_tap_fut u,
     LATERAL retailiq.forecast_lstm(m.with_f, u.series, 14, u.fx) f,
     LATERAL retailiq.forecast_lstm(m.without_f, u.series, 14) g,
     lstm_tap a
WHERE f.step = g.step AND a.series = u.series AND a.ts = f.ts;

SELECT cmp_ok(wape_f, '<', wape_nof, 'forecasts with the promotion factor beat forecasts without') FROM lstm_tap_err;
SELECT cmp_ok(wape_f, '<', 0.12::float8, 'WAPE with factors is small') FROM lstm_tap_err;
SELECT ok(uplift BETWEEN 0.35 AND 0.85, 'planted uplift of 60% recovered (got ' || round(uplift::numeric, 2) || ')') FROM lstm_tap_err;
SELECT ok(cov BETWEEN 0.6 AND 0.97, '80% interval coverage plausible (got ' || round(cov::numeric, 2) || ')') FROM lstm_tap_err;
-- the planted promotion is evidence for the correction: it is kept (weight > 0), and the
-- model's metrics show why
SELECT ok((retailiq.model_info(with_f) -> 'data' ->> 'shrink')::float8 > 0,
          'the correction that recovers the uplift is kept (weight ' || (retailiq.model_info(with_f) -> 'data' ->> 'shrink') || ')')
FROM lstm_tap_models;
SELECT ok((mt ->> 'validation_wape')::float8 < (mt ->> 'validation_wape_base')::float8,
          'with the factor, validation WAPE below the base''s (' || (mt ->> 'validation_wape') || ' < ' || (mt ->> 'validation_wape_base') || ')')
FROM (SELECT retailiq.model_info(with_f) -> 'metrics' AS mt FROM lstm_tap_models) q;

-- pure noise around an ETS-friendly signal (level, weekly pattern, iid noise, no factor):
-- nothing for the network to learn, so the evidence drops its correction (weight 0) and
-- the forecasts are the ETS base's, i.e. forecast_fit(..., 'ets')'s with each series' base
-- form (the form chosen without the validation tail, refitted on the whole history)
CREATE TABLE lstm_tap_noise AS
SELECT 'n' || lpad(s::text, 2, '0') AS series, '2024-01-01'::date + i AS ts,
       round(((20 + 2 * s) * (1 + 0.3 * (extract(dow FROM '2024-01-01'::date + i) IN (5, 6))::int)
              * (0.8 + 0.4 * (sin(s * 12.9898 + i * 78.233) * 43758.5453
                              - floor(sin(s * 12.9898 + i * 78.233) * 43758.5453))))::numeric, 2)::float8 AS y
FROM generate_series(1, 24) s, generate_series(0, 149) i;
CREATE TABLE lstm_tap_noise_m AS
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, '{"horizon": 14, "hidden": 16, "ensemble": 1, "seed": 3, "windows_per_epoch": 1024}') AS m,
       (SELECT retailiq.forecast_fit(series, ts, y, 'ets') FROM lstm_tap_noise) AS e
FROM lstm_tap_noise;
SELECT is((retailiq.model_info(m) -> 'data' ->> 'shrink')::float8, 0::float8, 'noise: the correction is dropped (weight 0)')
FROM lstm_tap_noise_m;
SELECT is(mt ->> 'validation_wape', mt ->> 'validation_wape_base', 'noise: the validation WAPE is the base''s')
FROM (SELECT retailiq.model_info(m) -> 'metrics' AS mt FROM lstm_tap_noise_m) q;
CREATE TABLE lstm_tap_noise_forms AS
SELECT k.series, (ARRAY['N', 'A', 'M'])[(f.form ->> 0)::int + 1]
                 || (ARRAY['N', 'A', 'M'])[(f.form ->> 1)::int + 1] || CASE WHEN (f.form ->> 3)::int = 1 THEN 'd' ELSE '' END
                 || (ARRAY['N', 'A', 'M'])[(f.form ->> 2)::int + 1] AS ets_model
  FROM lstm_tap_noise_m,
       jsonb_array_elements_text((m::text)::jsonb -> 'data' -> 'series') WITH ORDINALITY k(series, i)
  JOIN jsonb_array_elements((m::text)::jsonb -> 'data' -> 'base_form') WITH ORDINALITY f(form, i) USING (i);
SELECT cmp_ok((SELECT max(abs(a.yhat - b.yhat) / abs(b.yhat))
               FROM lstm_tap_noise_m, retailiq.forecast_lstm_all(m, 14) a
               JOIN (SELECT f.* FROM (SELECT retailiq.forecast_fit(n.series, n.ts, n.y, 'ets', jsonb_build_object('ets_model', k.ets_model)) AS e
                                        FROM lstm_tap_noise n JOIN lstm_tap_noise_forms k USING (series)
                                       GROUP BY n.series, k.ets_model) q,
                            retailiq.forecast_all(q.e, 14) f) b USING (series, step)),
              '<', 1e-9::float8, 'noise: the forecasts are the ETS base''s');
-- a crafted weight outside [0, 1] is a corrupt model
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(regexp_replace(
                      (SELECT with_f FROM lstm_tap_models)::text, '"shrink": [-0-9.e]+', '"shrink": 1.5')::retailiq.model,
                      's01', 3, array_fill(0::float8, ARRAY[3, 1]))$$,
                 'XX001', NULL, 'a weight of the correction above 1 is refused');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(regexp_replace(
                      (SELECT with_f FROM lstm_tap_models)::text, '"shrink": [-0-9.e]+', '"shrink": -0.25')::retailiq.model,
                      's01', 3, array_fill(0::float8, ARRAY[3, 1]))$$,
                 'XX001', NULL, 'a negative weight of the correction is refused');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(regexp_replace(
                      (SELECT with_f FROM lstm_tap_models)::text, '"shrink": [-0-9.e]+', '"shrink": "NaN"')::retailiq.model,
                      's01', 3, array_fill(0::float8, ARRAY[3, 1]))$$,
                 'XX001', NULL, 'a NaN weight of the correction is refused');

-- serial and parallel plans give the same model, bit for bit (the training time aside)
CREATE FUNCTION pg_temp.strip(m retailiq.model) RETURNS text LANGUAGE sql AS $$
    SELECT substr(m::text, strpos(m::text, '"params"')) $$;
CREATE TABLE lstm_tap_serial AS
SELECT pg_temp.strip(retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 2}')) AS m
FROM lstm_tap;
SET LOCAL force_parallel_mode = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
SELECT matches(pg_temp.plan_of($$SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 2}') FROM lstm_tap$$),
               'Partial Aggregate', 'the fit runs as a partial aggregate in parallel workers');
SELECT is((SELECT pg_temp.strip(retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 2}')) FROM lstm_tap),
          (SELECT m FROM lstm_tap_serial), 'parallel plan gives the serial model');
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;

-- same seed, same model; another seed, another model
SELECT is((SELECT pg_temp.strip(retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 2}' ORDER BY y)) FROM lstm_tap),
          (SELECT m FROM lstm_tap_serial), 'same seed and rows in another order: the same model');
SELECT isnt((SELECT pg_temp.strip(retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 2, "seed": 5}')) FROM lstm_tap),
            (SELECT m FROM lstm_tap_serial), 'another seed: another model');

-- errors
SELECT throws_ok($$SELECT * FROM lstm_tap_models, retailiq.forecast_lstm(with_f, 'nope', 3, array_fill(0::float8, ARRAY[3, 1]))$$,
                 '22023', NULL, 'unknown series');
SELECT throws_ok($$SELECT * FROM lstm_tap_models, retailiq.forecast_lstm(with_f, 's01', 0, array_fill(0::float8, ARRAY[1, 1]))$$,
                 '22023', NULL, 'horizon < 1');
SELECT throws_ok($$SELECT * FROM lstm_tap_models, retailiq.forecast_lstm(with_f, 's01', 3, array_fill(0::float8, ARRAY[3, 2]))$$,
                 '2202E', NULL, 'future_exog of the wrong width');
SELECT throws_ok($$SELECT retailiq.forecast_lstm_fit(series, ts, y, CASE WHEN ts = '2024-03-01' THEN ARRAY[1.0, 2.0]::float8[] ELSE exog END) FROM lstm_tap$$,
                 '2202E', NULL, 'exog width mismatch');
SELECT throws_ok($$SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"window": 150}') FROM lstm_tap$$,
                 '22023', NULL, 'too-short series for an explicit window');
-- without an explicit window a new series with 10 days is padded, the others keep a window
-- the validation tail chooses (14 or 28: 56 would need padding), not one cut to 10 days
SELECT is((SELECT array[(retailiq.model_info(m) -> 'params' ->> 'window') IN ('14', '28'), (SELECT count(*) FROM retailiq.forecast_lstm(m, 'new', 7, array_fill(0::float8, ARRAY[7, 1])) f WHERE f.yhat >= 0) = 7]
           FROM (SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 2}') AS m
                 FROM (SELECT * FROM lstm_tap UNION ALL SELECT 'new', ts, y, exog FROM lstm_tap WHERE series = 's01' AND ts >= '2024-05-20') u) q),
          ARRAY[true, true], 'a short series is padded, not refused, with the default window');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(replace(
                      (SELECT with_f FROM lstm_tap_models)::text, '"calib_lo": ', '"calib_lo": -')::retailiq.model, 's01', 3, array_fill(0::float8, ARRAY[3, 1]))$$,
                 'XX001', NULL, 'corrupt model values are refused');

-- past the trained horizon (14) the intervals widen (by sqrt 2 in the second block)
SELECT ok(avg(yhat_upper - yhat_lower) FILTER (WHERE step > 14) > 1.2 * avg(yhat_upper - yhat_lower) FILTER (WHERE step <= 14),
          'intervals beyond the trained horizon are wider')
FROM lstm_tap_models, retailiq.forecast_lstm(with_f, 's05', 28, array_fill(0::float8, ARRAY[28, 1]));

-- the ETS base carries a steady trend past the window: two series rising 2 units a day
SELECT cmp_ok((SELECT max(abs(f.yhat - ((CASE f.series WHEN 'b' THEN 110 ELSE 100 END) + 2 * (f.ts - '2024-01-01'))))
               FROM (SELECT retailiq.forecast_lstm_fit(CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, '2024-01-01'::date + i / 2,
                                                        (100 + 10 * (i % 2) + 2 * (i / 2))::float8, NULL,
                                                        '{"horizon": 7, "hidden": 8, "ensemble": 1, "windows_per_epoch": 512}') AS m
                     FROM generate_series(0, 239) i) q, retailiq.forecast_lstm_all(m, 7) f),
              '<', 3.0::float8, 'a linear trend is continued (largest error under 1% of the level)');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(regexp_replace(
                      (SELECT with_f FROM lstm_tap_models)::text, '"base_state": \[\[([-0-9.e]+), ([-0-9.e]+), ([-0-9.e]+)', '"base_state": [[\1, \2, 1.5')::retailiq.model,
                      's01', 3, array_fill(0::float8, ARRAY[3, 1]))$$,
                 'XX001', NULL, 'a corrupt ETS base state is refused');

SELECT * FROM finish();
ROLLBACK;
