-- Short series (issue 16, section 6): every fit refuses a series too short for what it was
-- asked, naming the series and the minimum (22023), or falls back visibly with a NOTICE
-- naming it. The rule and the minimum lengths: doc/forecast.md, "Short series".
SET extra_float_digits = 0;

-- a store with two months of history, a product launched three days ago, and one
-- launched yesterday
CREATE TEMP TABLE short_sales AS
SELECT 'old' AS series, d::date AS ts,
       (10 + CASE extract(dow FROM d) WHEN 6 THEN 5 ELSE 0 END + extract(day FROM d)::int % 3)::float8 AS y
FROM generate_series('2024-01-01'::date, '2024-02-29', '1 day') d
UNION ALL SELECT 'new3', '2024-02-27'::date + i, (4 + i)::float8 FROM generate_series(0, 2) i
UNION ALL SELECT 'new1', '2024-02-29', 7;

-- A named method refuses a series too short for it: seasonal naive needs two seasons,
-- ETS five periods, Croston and SBA a period after the first sale.
SELECT retailiq.forecast_fit(series, ts, y, 'snaive') FROM short_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'ets') FROM short_sales WHERE series <> 'new1';
SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"ets_model": "ANA"}') FROM short_sales
WHERE series = 'old' AND ts >= '2024-02-20';
SELECT retailiq.forecast_fit(series, ts, y, 'croston') FROM short_sales WHERE series = 'new1';
SELECT retailiq.forecast_fit(series, ts, CASE WHEN ts < '2024-02-29' THEN 0 ELSE y END, 'sba')
FROM short_sales WHERE series = 'new3';

-- 'auto' (the nightly refresh's default) and the option "short": "fallback" fit them with a
-- simpler method instead, named in one NOTICE; a single period is left out of the model.
SELECT f.series, f.method, f.n, f.season
FROM (SELECT retailiq.forecast_fit(series, ts, y, 'auto') AS m FROM short_sales) q,
     retailiq.forecast_model_series(q.m) f ORDER BY f.series;
SELECT f.series, f.method, f.n, f.season
FROM (SELECT retailiq.forecast_fit(series, ts, y, 'snaive', '{"short": "fallback"}') AS m FROM short_sales) q,
     retailiq.forecast_model_series(q.m) f ORDER BY f.series;
-- the fallback's interval has a width: it comes from at least one in-sample error
SELECT series, step, yhat, yhat_upper - yhat_lower > 0 AS has_width
FROM (SELECT retailiq.forecast_fit(series, ts, y, 'ets', '{"short": "fallback"}') AS m
      FROM short_sales WHERE series = 'new3') q, retailiq.forecast_all(q.m, 2);
-- the series left out is not in the model
SELECT * FROM (SELECT retailiq.forecast_fit(series, ts, y, 'auto') AS m FROM short_sales) q,
     retailiq.forecast(q.m, 'new1', 1);
-- ... and the other way round: "short": "error" makes 'auto' refuse
SELECT retailiq.forecast_fit(series, ts, y, 'auto', '{"short": "error"}') FROM short_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'auto', '{"short": "never"}') FROM short_sales;
-- nothing left to forecast is an error
SELECT retailiq.forecast_fit(series, ts, y, 'auto') FROM short_sales WHERE series = 'new1';
-- long enough is quiet
SELECT m AS method, retailiq.model_kind(retailiq.forecast_fit(series, ts, y, m))
FROM short_sales, unnest(ARRAY['snaive', 'ets', 'croston', 'sba', 'auto']) m
WHERE series = 'old' GROUP BY m ORDER BY m;

-- forecast_lstm_fit on a 3-day series used to train a model (window 3, intervals of zero
-- width). The longest series must hold the window, the validation tail (the horizon by
-- default) and one training origin before it.
SELECT retailiq.forecast_lstm_fit(series, ts, y) FROM short_sales WHERE series = 'new3';
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, '{"horizon": 7, "window": 60}') FROM short_sales WHERE series = 'old';
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, '{"horizon": 7, "window": 53, "validation": 7}')
FROM short_sales WHERE series = 'old';
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL, '{"horizon": 7, "window": 54, "validation": 0}')
FROM short_sales WHERE series = 'old';
-- with the default window, the short products of a longer panel are padded, visibly (the
-- default window shrinks only when the longest series has no room for it and the tail)
SELECT retailiq.model_info(m) -> 'params' ->> 'window' AS window, n
FROM (SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL,
               '{"horizon": 7, "hidden": 4, "ensemble": 1, "epochs": 1, "validation": 7}') AS m
      FROM short_sales) q,
     LATERAL (SELECT count(*) AS n FROM retailiq.forecast_lstm_series(q.m)) s;
