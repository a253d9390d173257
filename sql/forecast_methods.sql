-- The forecasting method table (src/forecast/method.h): what retailiq.forecast_methods
-- lists, TSB (added through the table alone), JSON null as the default, one dispatch.
SELECT name, scope, factors, intermittent, trainer, options
FROM retailiq.forecast_methods ORDER BY name;

-- A product that sold now and then, then stopped: TSB's forecast decays with the sale
-- probability, Croston's keeps the last level.
CREATE TEMP TABLE m_int AS
SELECT 'sku' AS series, date '2024-01-01' + i AS ts,
       (ARRAY[0,3,0,0,5,0,2,0,0,0,4,0,0,3,0,0,0,0,0,0])[i + 1]::float8 AS y
FROM generate_series(0, 19) i;
CREATE TEMP TABLE m_models AS
SELECT retailiq.forecast_fit(series, ts, y, 'tsb') AS tsb,
       retailiq.forecast_fit(series, ts, y, 'croston') AS croston,
       retailiq.forecast_fit(series, ts, y, 'tsb', '{"tsb_alpha": 0, "tsb_beta": 0}') AS tsb_chosen
FROM m_int;
SELECT retailiq.model_kind(tsb) FROM m_models;
-- by hand: z = 3.1548 after the last sale, p = 0.40068677 * 0.9^6 = 0.2129414, p z = 0.67179
SELECT step, ts, round(yhat::numeric, 5) AS yhat, round(yhat_lower::numeric, 4) AS lower,
       round(yhat_upper::numeric, 4) AS upper
FROM m_models, retailiq.forecast(tsb, 'sku', 3);
SELECT round(yhat::numeric, 4) AS croston FROM m_models, retailiq.forecast(croston, 'sku', 1);
SELECT series, method, n, alpha, beta, gamma, phi, round(sigma2::numeric, 6) AS sigma2, aicc, season
FROM m_models, retailiq.forecast_model_series(tsb);
SELECT method, alpha, beta FROM m_models, retailiq.forecast_model_series(tsb_chosen);
SELECT series, step, round(yhat::numeric, 5) AS yhat FROM m_models, retailiq.forecast_all(tsb, 2);

-- TSB's options: numbers between 0 and 1; a series needs two periods
SELECT retailiq.forecast_fit(series, ts, y, 'tsb', '{"tsb_beta": 1.5}') FROM m_int;
SELECT retailiq.forecast_fit(series, ts, y, 'tsb', '{"tsb_alpha": "high"}') FROM m_int;
SELECT retailiq.forecast_fit(series, ts, y, 'tsb') FROM m_int WHERE ts = '2024-01-01';

-- a stored TSB fit is checked like every method's: a probability above 1 is a corrupt model
SELECT * FROM retailiq.forecast(
    regexp_replace((SELECT tsb FROM m_models)::text, '"par": \[\[[^]]*\]\]', '"par": [[0.1, 0.1, 0, 0, 1, 3, 1.5]]')::retailiq.model,
    'sku', 1);

-- JSON null is the default, for every key (the same forecast as no options at all)
SELECT f.*
FROM (SELECT retailiq.forecast_fit(series, ts, y, 'tsb', '{"tsb_alpha": null, "level": null, "gaps": null, "short": null}') AS m
      FROM m_int) q, retailiq.forecast(m, 'sku', 1) f
EXCEPT SELECT f.* FROM m_models, retailiq.forecast(tsb, 'sku', 1) f;

-- one horizon check and one dispatch for every method
SELECT * FROM m_models, retailiq.forecast(tsb, 'sku', 10001);
SELECT count(*) FROM m_models, retailiq.forecast(tsb, 'sku', 10000);
-- a method that fits through another when factors are given ('auto': the regression)
SELECT name, factors, with_factors FROM retailiq.forecast_methods WHERE with_factors IS NOT NULL;
