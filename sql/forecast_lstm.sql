-- forecast_lstm: one global LSTM forecaster over many series, with factors known in the
-- future (a promotion flag here). Three small daily series share a weekly pattern
-- (Saturday +8, Sunday +4) on different levels, and every promotion day adds 5 units.
-- The model must learn both from 120 days and forecast the next week, promotion included.
SET extra_float_digits = 0;

CREATE TEMP TABLE lstm_sales AS
SELECT 'store' || s AS series, d::date AS ts,
       (10 * s + CASE extract(dow FROM d) WHEN 6 THEN 8 WHEN 0 THEN 4 ELSE 0 END
        + CASE WHEN promo THEN 5 ELSE 0 END)::float8 AS y,
       ARRAY[promo::int::float8] AS exog
FROM generate_series(1, 3) s,
     generate_series('2024-01-01'::date, '2024-04-29', '1 day') d,
     LATERAL (SELECT (extract(day FROM d)::int + s) % 9 = 0 AS promo) p;

-- Train: a small network (hidden 8, one seed) and a 7-day horizon keep this test fast.
-- No window is given: the validation tail chooses it among 14, 28 and 56 days.
CREATE TEMP TABLE lstm_m AS
SELECT retailiq.forecast_lstm_fit(series, ts, y, exog,
         '{"horizon": 7, "hidden": 8, "ensemble": 1, "seed": 1}') AS m
FROM lstm_sales;

SELECT retailiq.model_kind(m),
       retailiq.model_info(m) -> 'params' ->> 'freq' AS freq,
       retailiq.model_info(m) -> 'params' ->> 'window' AS window,
       retailiq.model_info(m) -> 'params' ->> 'horizon' AS horizon,
       retailiq.model_info(m) -> 'params' ->> 'base' AS base,
       (retailiq.model_info(m) -> 'metrics' ->> 'validation_wape')::float8 < 0.05 AS learned
FROM lstm_m;
-- The evidence for the network's correction to its ETS base, on the validation tail: the
-- WAPE of the base alone, of base + correction, of what is used; the weight kept (0..1).
SELECT k, retailiq.model_info(m) -> 'metrics' ? k AS shown
FROM lstm_m, unnest(ARRAY['validation_wape_base', 'validation_wape_network', 'validation_wape']) k;
SELECT (retailiq.model_info(m) -> 'data' ->> 'shrink')::float8 BETWEEN 0 AND 1 AS weight_in_0_1,
       (mt ->> 'validation_wape')::float8 <= (mt ->> 'validation_wape_base')::float8 AS not_worse_than_base
FROM lstm_m, LATERAL (SELECT retailiq.model_info(m) -> 'metrics' AS mt) q;
SELECT retailiq.forecast_lstm_series(m) FROM lstm_m;

-- Next week of store2 (2024-04-30 is a Tuesday), with a promotion on Thursday 2 May:
-- the truth is 20 on weekdays, 28 on Saturday, 24 on Sunday, 25 on the promotion day.
SELECT step, ts, to_char(ts, 'Dy') AS day, truth, abs(yhat - truth) < 1 AS within_1,
       yhat_lower <= yhat AND yhat <= yhat_upper AS ordered
FROM lstm_m, retailiq.forecast_lstm(m, 'store2', 7, ARRAY[[0], [0], [1], [0], [0], [0], [0]]::float8[]),
     LATERAL (SELECT 20 + CASE extract(dow FROM ts) WHEN 6 THEN 8 WHEN 0 THEN 4 ELSE 0 END
                        + CASE WHEN step = 3 THEN 5 ELSE 0 END AS truth) t;

-- The promotion is what moves Thursday: the same week without it.
SELECT a.yhat - b.yhat BETWEEN 3 AND 7 AS promo_uplift_about_5
FROM lstm_m,
     retailiq.forecast_lstm(m, 'store2', 7, ARRAY[[0], [0], [1], [0], [0], [0], [0]]::float8[]) a,
     retailiq.forecast_lstm(m, 'store2', 7, ARRAY[[0], [0], [0], [0], [0], [0], [0]]::float8[]) b
WHERE a.step = 3 AND b.step = 3;

-- Every series at once (future_exog: series x horizon x factors), and beyond the trained
-- horizon (recursively): mean absolute error against the pattern over 14 days, no promotions.
WITH f AS (
    SELECT f.* FROM lstm_m, retailiq.forecast_lstm_all(m, 14, array_fill(0::float8, ARRAY[3, 14, 1])) f)
SELECT series, count(*) AS steps,
       avg(abs(yhat - (10 * substr(series, 6)::int
                       + CASE extract(dow FROM ts) WHEN 6 THEN 8 WHEN 0 THEN 4 ELSE 0 END))) < 1.5 AS close
FROM f GROUP BY series ORDER BY series;

-- Same seed, same model, bit for bit, whatever the row order (the training time aside).
SELECT substr(a.m::text, strpos(a.m::text, '"params"')) = substr(b.m::text, strpos(b.m::text, '"params"')) AS same
FROM (SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 3}') AS m
      FROM lstm_sales) a,
     (SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"horizon": 7, "hidden": 8, "ensemble": 1, "epochs": 3}' ORDER BY ts DESC, series) AS m
      FROM lstm_sales) b;

-- Errors.
\set VERBOSITY default
SELECT * FROM lstm_m, retailiq.forecast_lstm(m, 'store9', 7, array_fill(0::float8, ARRAY[7, 1]));
SELECT * FROM lstm_m, retailiq.forecast_lstm(m, 'store1', 0, array_fill(0::float8, ARRAY[0, 1]));
SELECT * FROM lstm_m, retailiq.forecast_lstm(m, 'store1', 7);
SELECT * FROM lstm_m, retailiq.forecast_lstm(m, 'store1', 7, array_fill(0::float8, ARRAY[6, 1]));
SELECT * FROM lstm_m, retailiq.forecast_lstm_all(m, 7, array_fill(0::float8, ARRAY[7, 1]));
SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"windw": 7}') FROM lstm_sales;
SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"layers": 3}') FROM lstm_sales;
SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"base": "arima"}') FROM lstm_sales;
SELECT retailiq.forecast_lstm_fit(series, ts, y, exog, '{"window": 200}') FROM lstm_sales;
SELECT retailiq.forecast_lstm_fit(series, ts, y, CASE WHEN ts = '2024-02-01' THEN exog || 1.0::float8 ELSE exog END)
FROM lstm_sales;
SELECT retailiq.forecast_lstm_fit(series, ts, NULL) FROM lstm_sales;
SELECT retailiq.forecast_lstm_fit(series, ts, y) FROM lstm_sales WHERE false;
