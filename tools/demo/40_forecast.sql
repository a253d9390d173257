-- Sales forecasting: one global LSTM over store x category daily sales (3 stores), with promotions, holidays and temperature as factors
\set QUIET on
SELECT max(day) AS last_day, max(day) - 28 AS cutoff FROM retail.daily_sales \gset
\echo 'Daily units per store and category; factors per day: share of the category on promotion in the store, holiday flag, temperature / 30'
CREATE TEMP TABLE fc_promo AS
SELECT s.store_id, p.category, d::date AS day, count(DISTINCT pr.product_id)::float8 AS promoted
FROM retail.promotions pr
JOIN retail.products p USING (product_id)
CROSS JOIN LATERAL generate_series(pr.starts_on, pr.ends_on, interval '1 day') d
JOIN retail.stores s ON pr.store_id IS NULL OR pr.store_id = s.store_id
GROUP BY 1, 2, 3;
CREATE TEMP TABLE fc_sales AS
WITH cats AS (SELECT category, count(*)::float8 AS products FROM retail.products GROUP BY 1),
     units AS (SELECT ds.store_id, p.category, ds.day, sum(ds.units)::float8 AS units
               FROM retail.daily_sales ds JOIN retail.products p USING (product_id) GROUP BY 1, 2, 3)
SELECT s.store_id || '/' || c.category AS series, cal.day, coalesce(u.units, 0) AS units,
       ARRAY[coalesce(pr.promoted, 0) / c.products, cal.is_holiday::int, cal.temperature_c / 30.0]::float8[] AS exog
FROM retail.stores s CROSS JOIN cats c CROSS JOIN retail.calendar cal
LEFT JOIN units u ON u.store_id = s.store_id AND u.category = c.category AND u.day = cal.day
LEFT JOIN fc_promo pr ON pr.store_id = s.store_id AND pr.category = c.category AND pr.day = cal.day
WHERE cal.day <= :'last_day' AND s.store_id <= 3;   -- 3 stores x every category: the demo stays short
ANALYZE fc_sales;
SELECT count(DISTINCT series) AS series, min(day) AS first_day, max(day) AS last_day,
       round(avg(units)::numeric, 1) AS mean_units_per_day FROM fc_sales;

\echo 'Train on every day up to' :cutoff '(one model for all series, with and without the factors), then forecast the last 28 days'
\echo '(the window is fixed at 28 days, the default, rather than chosen by validation among 14, 28 and 56 days: two trainings fewer per model, so the demo stays short)'
\timing on
CREATE TEMP TABLE fc_models AS
SELECT (SELECT retailiq.forecast_lstm_fit(series, day, units, exog, '{"horizon": 28, "ensemble": 1, "hidden": 16, "windows_per_epoch": 2048, "window": 28}')
        FROM fc_sales WHERE day <= :'cutoff') AS with_factors,
       (SELECT retailiq.forecast_lstm_fit(series, day, units, NULL, '{"horizon": 28, "ensemble": 1, "hidden": 16, "windows_per_epoch": 2048, "window": 28}')
        FROM fc_sales WHERE day <= :'cutoff') AS without_factors;
\timing off
SELECT k AS model, j->'params'->>'freq' AS freq, j->'params'->>'window' AS window,
       j->'params'->>'n_exog' AS factors, j->'metrics'->>'epochs' AS epochs,
       round((j->'metrics'->>'validation_wape')::numeric, 3) AS validation_wape
FROM fc_models, LATERAL (VALUES ('with factors', retailiq.model_info(with_factors)),
                                ('without factors', retailiq.model_info(without_factors))) v(k, j);

-- the factors of the forecast days (known in advance: planned promotions, the calendar),
-- one block per series in the model's order
CREATE TEMP TABLE fc_future AS
SELECT array_agg(fx ORDER BY series COLLATE "C") AS fx
FROM (SELECT series, array_agg(exog ORDER BY day) AS fx FROM fc_sales WHERE day > :'cutoff' GROUP BY series) s;

CREATE TEMP TABLE fc_out AS
SELECT 'LSTM with factors' AS method, f.series, f.ts AS day, f.yhat, f.yhat_lower, f.yhat_upper
FROM fc_models m, fc_future u, retailiq.forecast_lstm_all(m.with_factors, 28, u.fx) f
UNION ALL
SELECT 'LSTM without factors', f.series, f.ts, f.yhat, f.yhat_lower, f.yhat_upper
FROM fc_models m, retailiq.forecast_lstm_all(m.without_factors, 28) f
UNION ALL
SELECT 'ETS (retailiq.forecast_fit, automatic)', f.series, f.ts, f.yhat, f.yhat_lower, f.yhat_upper
FROM (SELECT retailiq.forecast_fit(series, day, units, 'ets') AS m FROM fc_sales WHERE day <= :'cutoff') e,
     retailiq.forecast_all(e.m, 28) f
UNION ALL
SELECT 'seasonal naive (same weekday last week)', a.series, a.day, b.units, NULL, NULL
FROM fc_sales a JOIN fc_sales b ON b.series = a.series
 AND b.day = a.day - 7 * ((a.day - :'cutoff'::date + 6) / 7)
WHERE a.day > :'cutoff';

\echo 'Accuracy over the 28 held-out days (WAPE = sum |error| / sum units; 80% interval coverage)'
SELECT o.method,
       round((sum(abs(a.units - o.yhat)) FILTER (WHERE a.day <= :'cutoff'::date + 7) /
              sum(a.units) FILTER (WHERE a.day <= :'cutoff'::date + 7))::numeric, 3) AS wape_h7,
       round((sum(abs(a.units - o.yhat)) / sum(a.units))::numeric, 3) AS wape_h28,
       round(avg((a.units BETWEEN o.yhat_lower AND o.yhat_upper)::int)::numeric, 3) AS coverage_80
FROM fc_out o JOIN fc_sales a ON a.series = o.series AND a.day = o.day
GROUP BY o.method ORDER BY wape_h28;

\echo 'One series, the next 7 days after the cutoff (store 1, first category): forecast, interval and actual'
SELECT o.day, to_char(o.day, 'Dy') AS dow, round(o.yhat::numeric, 1) AS yhat,
       round(o.yhat_lower::numeric, 1) AS lower, round(o.yhat_upper::numeric, 1) AS upper,
       a.units AS actual, round(a.exog[1]::numeric, 2) AS promo_share, a.exog[2]::int AS holiday
FROM fc_out o JOIN fc_sales a ON a.series = o.series AND a.day = o.day
WHERE o.method = 'LSTM with factors'
  AND o.series = (SELECT min(series COLLATE "C") FROM fc_sales)
ORDER BY o.day LIMIT 7;
