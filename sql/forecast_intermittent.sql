-- Intermittent demand: the Syntetos-Boylan-Croston classification, ADIDA and IMAPA checked
-- against a hand computation, 'auto' sending sporadic series to the intermittent methods,
-- and the quantile (pinball) loss.

-- A product that sells every two or three days: sales 0,3,0,0,2,0,4,0,0,1,0,3.
CREATE TEMP TABLE i_daily AS
SELECT 'p1'::text AS series, date '2024-01-01' + i - 1 AS ts,
       (ARRAY[0, 3, 0, 0, 2, 0, 4, 0, 0, 1, 0, 3])[i]::float8 AS y
FROM generate_series(1, 12) i;

-- Classification. Demands on days 2, 5, 7, 10, 12: intervals 2, 3, 2, 3, 2 (the first from
-- the start), ADI = 12 / 5 = 2.4; sizes 3, 2, 4, 1, 3: mean 2.6, sample variance 1.3,
-- CV^2 = 1.3 / 2.6^2 = 0.1923: sporadic, steady sizes -> intermittent.
SELECT * FROM retailiq.demand_class('{0,3,0,0,2,0,4,0,0,1,0,3}');
SELECT c.* FROM (VALUES ('{5,6,5,7,6}'::float8[]),     -- every day, steady: smooth
                        ('{1,9,1,12,2}'),              -- every day, varying: erratic
                        ('{0,0,1,0,0,20,0,0,2}'),      -- sporadic, varying: lumpy
                        ('{0,0,5,0}'),                 -- one sale: CV^2 undefined, ADI decides
                        ('{0,0,0}'),                   -- no sale: no class
                        ('{}')) v(y),
     LATERAL retailiq.demand_class(y) c;
-- per series from rows: a day without a row must be a 0 in the array
SELECT series, (retailiq.demand_class(array_agg(y ORDER BY ts))).* FROM i_daily GROUP BY series;

-- ADIDA, alpha fixed at 0.2. Aggregation level k = round(ADI) = 2: buckets (ending at the
-- last day) 3, 0, 2, 4, 1, 3. SES from the first bucket: 3 -> 2.4 -> 2.32 -> 2.656
-- -> 2.3248 -> 2.45984; per day 2.45984 / 2 = 1.22992.
SELECT step, ts, yhat FROM retailiq.forecast(
    (SELECT retailiq.forecast_fit(series, ts, y, 'adida', '{"adida_alpha": 0.2}') FROM i_daily), 'p1', 2);
SELECT series, method, n, alpha, beta, season FROM retailiq.forecast_model_series(
    (SELECT retailiq.forecast_fit(series, ts, y, 'adida', '{"adida_alpha": 0.2}') FROM i_daily));
-- level 3 asked for: buckets 3, 2, 4, 4 (0+3+0, 0+2+0, 4+0+0, 1+0+3); SES: 3 -> 2.8 -> 3.04
-- -> 3.232; per day 3.232 / 3 = 1.077333...
SELECT step, yhat FROM retailiq.forecast(
    (SELECT retailiq.forecast_fit(series, ts, y, 'adida', '{"adida_alpha": 0.2, "adida_level": 3}') FROM i_daily), 'p1', 1);

-- IMAPA, alpha 0.2, levels 1..2: level 1 is SES on the days (from 0: 1.13845458944),
-- level 2 is ADIDA's 1.22992; the mean is 1.18418729472.
SELECT step, yhat FROM retailiq.forecast(
    (SELECT retailiq.forecast_fit(series, ts, y, 'imapa', '{"adida_alpha": 0.2}') FROM i_daily), 'p1', 1);
-- weights chosen inside the fit (from 0.05 .. 0.30 by in-sample error)
SELECT series, method, alpha FROM retailiq.forecast_model_series(
    (SELECT retailiq.forecast_fit(series, ts, y, 'adida') FROM i_daily));

-- 'auto' classifies first: the sporadic product is fitted by SBA, TSB or IMAPA only; a
-- product selling every day by ETS or seasonal naive.
CREATE TEMP TABLE i_two AS
SELECT 'sporadic'::text AS series, date '2024-01-01' + i AS ts,
       CASE WHEN i % 3 = 0 THEN 2 + (i % 5) ELSE 0 END::float8 AS y
FROM generate_series(0, 83) i
UNION ALL
SELECT 'steady', date '2024-01-01' + i, 20 + 5 * sin(i)::float8 + (i % 7)
FROM generate_series(0, 83) i;
SELECT s.series, (retailiq.demand_class(array_agg(y ORDER BY ts))).class,
       (SELECT method FROM retailiq.forecast_model_series(
            (SELECT retailiq.forecast_fit(series, ts, y, 'auto') FROM i_two)) m WHERE m.series = s.series)
           IN ('sba', 'tsb', 'imapa') AS intermittent_method
FROM i_two s GROUP BY s.series ORDER BY 1;

-- Quantile loss: forecasts of the 0.9-quantile; an actual above costs 0.9 per unit, below 0.1.
-- (10 - 8) * 0.9 = 1.8, (7 - 5) * 0.1 = 0.2: mean 1.0. A NULL row is left out.
SELECT retailiq.quantile_loss(a, f, 0.9)
FROM (VALUES (10::float8, 8::float8), (5, 7), (NULL, 3)) v(a, f);
SELECT retailiq.quantile_loss(a, f, 0.5) = retailiq.mase(a, f, 2) AS median_is_half_mae_over_scale_2
FROM (VALUES (10::float8, 8::float8), (5, 7), (1, 0)) v(a, f);
SELECT retailiq.quantile_loss(a, f, 0.9) FROM (VALUES (1::float8, 1::float8)) v(a, f) WHERE false;

-- Errors
\set VERBOSITY default
SELECT retailiq.forecast_fit(series, ts, y, 'adida', '{"adida_level": -1}') FROM i_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'adida', '{"adida_level": 1.5}') FROM i_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'imapa', '{"adida_alpha": 2}') FROM i_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'imapa', '{"imapa_max_level": "two"}') FROM i_daily;
SELECT retailiq.forecast_fit(series, ts, y, 'adida') FROM i_daily WHERE ts = '2024-01-01';
SELECT * FROM retailiq.demand_class('{1,NaN}');
SELECT * FROM retailiq.demand_class('{1,NULL}');
SELECT retailiq.quantile_loss(1, 2, 1);
SELECT retailiq.quantile_loss(1, 'Infinity', 0.5);
