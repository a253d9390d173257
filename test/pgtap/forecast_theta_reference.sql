-- Theta against R's forecast::thetaf (forecast 8.20, Debian r-cran-forecast) on the four
-- aus_retail series of the ETS reference (monthly, 2006-01 .. 2015-12, h = 24) and four M4
-- weekly series (W7, W10, W200: their last 260 weeks; W300: all 80 weeks; h = 13):
-- test/data/forecast/README.md. The reference values were recorded by
-- test/data/forecast/make_theta_reference.R; R is not needed to run this test.
--
-- retailiq follows thetaf step by step (seasonal test, multiplicative decomposition, SES,
-- drift, interval); the one difference is the SES fit: both maximise the likelihood of
-- ETS(A,N,N), with different optimisers, so alpha agrees to about 1e-3 (the fits differ
-- in the fourth significant digit at most). Tolerances: alpha 2e-3 absolute; point
-- forecasts 1e-4 relative; the 80% half-widths 1e-3 relative. Non-negative clipping is
-- switched off ("allow_negative": true) since R's bounds are not clipped.
BEGIN;
SELECT plan(7);

CREATE TEMP TABLE fx_month (series text, month date, y float8);
\copy fx_month FROM 'test/data/forecast/aus_retail_sample.csv' CSV HEADER
CREATE TEMP TABLE fx_week (series text, week date, y float8);
\copy fx_week FROM 'test/data/forecast/m4_weekly_sample.csv' CSV HEADER
CREATE TEMP TABLE fx_ref (series text, step int, mean float8, lower float8, upper float8,
                          alpha float8, drift float8, seasonal boolean);
\copy fx_ref FROM 'test/data/forecast/r_theta_reference.csv' CSV HEADER

SELECT is((SELECT count(*) FROM fx_month) + (SELECT count(*) FROM fx_week), 1340::bigint,
          'fixtures: 4 monthly series x 120 months, 3 weekly series x 260 weeks + 80 weeks');
SELECT is((SELECT count(*) FROM fx_ref), 4 * 24 + 4 * 13::bigint, 'reference: 148 forecasts');

CREATE TEMP TABLE fx_models AS
SELECT 'month'::text AS freq,
       retailiq.forecast_fit(series, month, y, 'theta', '{"allow_negative": true}') AS m FROM fx_month
UNION ALL
SELECT 'week', retailiq.forecast_fit(series, week, y, 'theta', '{"allow_negative": true}') FROM fx_week;

CREATE TEMP TABLE fx_fc AS
SELECT f.* FROM fx_models x
CROSS JOIN LATERAL retailiq.forecast_all(x.m, CASE x.freq WHEN 'month' THEN 24 ELSE 13 END) f;

CREATE TEMP TABLE fx_par AS
SELECT s.* FROM fx_models x CROSS JOIN LATERAL retailiq.forecast_model_series(x.m) s;

SELECT is((SELECT count(*) FROM fx_fc f JOIN fx_ref r USING (series, step)), 148::bigint,
          'every reference forecast has its retailiq counterpart');
SELECT is((SELECT count(*) FROM fx_par p JOIN (SELECT DISTINCT series, seasonal FROM fx_ref) r USING (series)
           WHERE (p.season > 1) <> r.seasonal), 0::bigint,
          'the seasonal test takes R''s branch on all 8 series (4 seasonal, 4 not)');
SELECT ok((SELECT max(abs(p.alpha - r.alpha))
           FROM fx_par p JOIN (SELECT DISTINCT series, alpha FROM fx_ref) r USING (series)) < 2e-3,
          'SES alpha within 2e-3 of R''s');
SELECT ok((SELECT max(abs(f.yhat / r.mean - 1)) FROM fx_fc f JOIN fx_ref r USING (series, step)) < 1e-4,
          'point forecasts within 1e-4 relative of thetaf''s (148 forecasts)');
SELECT ok((SELECT max(abs((f.yhat_upper - f.yhat) / (r.upper - r.mean) - 1)
                      + abs((f.yhat - f.yhat_lower) / (r.mean - r.lower) - 1))
           FROM fx_fc f JOIN fx_ref r USING (series, step)) < 1e-3,
          '80% bounds: half-widths within 1e-3 relative of thetaf''s');

SELECT * FROM finish();
ROLLBACK;
