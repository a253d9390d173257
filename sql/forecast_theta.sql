-- Theta (R's forecast::thetaf): SES with drift, after a multiplicative seasonal adjustment
-- when the series tests seasonal. The comparison with R is test/pgtap/forecast_theta_reference.sql;
-- this suite shows the method on small series whose answer can be read off.

-- A straight line 10, 12, ..., 48 (20 months): SES follows it with alpha at its upper bound
-- 0.9999 (level 48), the drift is half the slope (1), so step h forecasts about
-- 48 + 1 + (h - 1) = 49, 50, 51. The interval widens with sqrt(1 + (h - 1) alpha^2).
CREATE TEMP TABLE t_line AS
SELECT 'line'::text AS series, (date '2023-01-01' + make_interval(months => i))::date AS month,
       10 + 2 * i::float8 AS y
FROM generate_series(0, 19) i;
SELECT step, ts, round(yhat::numeric, 3) AS yhat,
       round(((yhat_upper - yhat) / (SELECT yhat_upper - yhat FROM retailiq.forecast(
             (SELECT retailiq.forecast_fit(series, month, y, 'theta') FROM t_line), 'line', 1)))::numeric, 3) AS width_vs_step1
FROM retailiq.forecast((SELECT retailiq.forecast_fit(series, month, y, 'theta') FROM t_line), 'line', 3);
SELECT series, method, n, round(alpha::numeric, 4) AS alpha, season
FROM retailiq.forecast_model_series((SELECT retailiq.forecast_fit(series, month, y, 'theta') FROM t_line));

-- Four years of a strong yearly pattern (December double, June half, a slow rise): the
-- lag-12 autocorrelation passes the 90% test, so the series is adjusted by its 12 factors
-- (season 12) and the forecast carries the pattern again; with "season": 1 it is not.
CREATE TEMP TABLE t_season AS
SELECT 'shop'::text AS series, (date '2020-01-01' + make_interval(months => i))::date AS month,
       (100 + i) * CASE i % 12 WHEN 11 THEN 2.0 WHEN 5 THEN 0.5 ELSE 1.0 END::float8 AS y
FROM generate_series(0, 47) i;
SELECT m.season, round((max(f.yhat) FILTER (WHERE extract(month FROM f.ts) = 12)
                        / max(f.yhat) FILTER (WHERE extract(month FROM f.ts) = 11))::numeric, 2) AS december_over_november
FROM (VALUES ('{}'::jsonb), ('{"season": 1}')) o(opts),
     LATERAL (SELECT retailiq.forecast_fit(series, month, y, 'theta', o.opts) AS m FROM t_season) x,
     LATERAL retailiq.forecast_all(x.m, 12) f,
     LATERAL (SELECT season FROM retailiq.forecast_model_series(x.m)) m
GROUP BY m.season ORDER BY m.season DESC;

-- A constant series: its value, with a zero-width interval.
SELECT step, yhat, yhat_lower, yhat_upper FROM retailiq.forecast(
    (SELECT retailiq.forecast_fit('c', date '2024-01-01' + i, 7, 'theta') FROM generate_series(0, 9) i), 'c', 2);

-- Errors: too short for SES with its AICc (5 periods); Theta has no options of its own.
\set VERBOSITY default
SELECT retailiq.forecast_fit(series, month, y, 'theta') FROM t_line WHERE month < '2023-05-01';
SELECT retailiq.forecast_fit(series, month, y, 'theta', '{"theta": 2}') FROM t_line;
