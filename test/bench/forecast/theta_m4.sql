-- retailiq's Theta (and naive, as a check of the scoring) on M4 weekly: all 359 series, the
-- official test (h = 13), sMAPE / MASE / OWA as defined in ../shared/data/m4_weekly/README.md
-- (MASE scaled by the in-sample one-step naive MAE; OWA against the published Naive2,
-- sMAPE 9.161, MASE 2.777). The series carry no dates: they are laid out weekly, every one
-- ending on Monday 2024-12-30. Run against a database with retailiq installed:
--   psql -X -v data=/work/shared/data/m4_weekly -f test/bench/forecast/theta_m4.sql
-- Prints one row per configuration: season 52 (the frequency's, thetaf's seasonal test on
-- every series) and season 1 (as M4 ran its Theta benchmark on weekly data).
\set ON_ERROR_STOP 1
\timing off
BEGIN;
CREATE TEMP TABLE m4_train_raw (line text);
CREATE TEMP TABLE m4_test_raw (line text);
\set train :data '/Weekly-train.csv'
\set test :data '/Weekly-test.csv'
COPY m4_train_raw FROM :'train';
COPY m4_test_raw FROM :'test';

CREATE TEMP TABLE m4_train AS
SELECT v[1] AS series, i - 1 AS t, v[i]::float8 AS y, count(*) OVER (PARTITION BY v[1]) AS n
FROM (SELECT string_to_array(replace(line, '"', ''), ',') AS v FROM m4_train_raw WHERE line NOT LIKE '"V1"%') r,
     generate_series(2, array_length(v, 1)) i
WHERE v[i] <> '';
CREATE TEMP TABLE m4_test AS
SELECT v[1] AS series, i - 1 AS step, v[i]::float8 AS y
FROM (SELECT string_to_array(replace(line, '"', ''), ',') AS v FROM m4_test_raw WHERE line NOT LIKE '"V1"%') r,
     generate_series(2, array_length(v, 1)) i;
CREATE TEMP TABLE m4_days AS
SELECT series, date '2024-12-30' - 7 * (n - 1 - t)::int AS week, y FROM m4_train;
CREATE TEMP TABLE m4_scale AS
SELECT series, retailiq.naive_scale(array_agg(y ORDER BY t), 1) AS scale FROM m4_train GROUP BY series;

CREATE TEMP TABLE m4_fc (config text, series text, step int, yhat float8, lo float8, hi float8);
\set t0 `date +%s.%N`
INSERT INTO m4_fc SELECT 'theta, season 52', f.series, f.step, f.yhat, f.yhat_lower, f.yhat_upper
FROM retailiq.forecast_all((SELECT retailiq.forecast_fit(series, week, y, 'theta') FROM m4_days), 13) f;
\set t1 `date +%s.%N`
INSERT INTO m4_fc SELECT 'theta, season 1 (as M4)', f.series, f.step, f.yhat, f.yhat_lower, f.yhat_upper
FROM retailiq.forecast_all((SELECT retailiq.forecast_fit(series, week, y, 'theta', '{"season": 1}') FROM m4_days), 13) f;
\set t2 `date +%s.%N`
INSERT INTO m4_fc SELECT 'naive (check: Naive2 9.161 / 2.777)', f.series, f.step, f.yhat, f.yhat_lower, f.yhat_upper
FROM retailiq.forecast_all((SELECT retailiq.forecast_fit(series, week, y, 'snaive', '{"season": 1}') FROM m4_days), 13) f;

SELECT config, count(DISTINCT f.series) AS series, count(*) AS forecasts,
       round((100 * retailiq.smape(a.y, f.yhat))::numeric, 3) AS smape,
       round(retailiq.mase(a.y, f.yhat, s.scale)::numeric, 3) AS mase,
       round(((100 * retailiq.smape(a.y, f.yhat) / 9.161 + retailiq.mase(a.y, f.yhat, s.scale) / 2.777) / 2)::numeric, 3) AS owa,
       round(retailiq.coverage(a.y, f.lo, f.hi)::numeric, 3) AS cov80
FROM m4_fc f JOIN m4_test a USING (series, step) JOIN m4_scale s USING (series)
GROUP BY config ORDER BY config;
SELECT round((:t1 - :t0)::numeric, 1) AS theta_fit_s_season52, round((:t2 - :t1)::numeric, 1) AS theta_fit_s_season1;
ROLLBACK;
