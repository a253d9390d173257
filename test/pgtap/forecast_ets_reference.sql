-- ETS against R's forecast::ets (forecast 8.20, Debian r-cran-forecast) on four aus_retail
-- series (2006-01 .. 2015-12; test/data/forecast/README.md): the reference values were
-- recorded by test/data/forecast/make_reference.R.
--  1. The equations: with R's fitted parameters and initial states, retailiq_internal.ets_check
--     gives R's log-likelihood (to 1e-6) and point forecasts (to 1e-9 relative; 2e-3 for
--     damped multiplicative-season forms, where R's C forecast sums the damping powers
--     differently from the textbook formula retailiq uses), and the analytic 80% intervals
--     of the additive forms (to 1e-9 at steps 1..11; at step 12 = m R already counts the
--     seasonal smoothing term, which enters the variance only from step m + 1).
--     Multiplicative forms: simulated intervals within 10% of R's approximation.
--  2. The estimation: forecast_fit('ets') with each fixed form reaches an AICc no worse
--     than R's + 1 (same convention: n log SSE [+ 2 sum log|mu|] + 2k + AICc term), and the
--     automatic choice an AICc no worse than R's automatic choice.
BEGIN;
SELECT plan(11);

CREATE TEMP TABLE fx_data (series text, month date, y float8);
\copy fx_data FROM 'test/data/forecast/aus_retail_sample.csv' CSV HEADER
CREATE TEMP TABLE fx_ref (series text, fit text, form text, loglik float8, aicc float8, sigma2 float8,
                          par float8[], init float8[], mean float8[], lower float8[], upper float8[]);
\copy fx_ref FROM 'test/data/forecast/r_ets_reference.csv' CSV HEADER

SELECT is((SELECT count(*) FROM fx_data), 480::bigint, 'fixture: 4 series x 120 months');
SELECT is((SELECT count(*) FROM fx_ref), 20::bigint, 'reference: 4 series x 5 fits');

CREATE TEMP TABLE fx_check AS
SELECT r.*, retailiq_internal.ets_check((SELECT array_agg(y ORDER BY month) FROM fx_data d WHERE d.series = r.series),
                                12, r.form, r.par, r.init, 12, 0.8) AS o
FROM fx_ref r;

SELECT is((SELECT count(*) FROM fx_check WHERE abs(o[1] - loglik) > 1e-6), 0::bigint,
          'log-likelihood at R''s parameters equals R''s (20 fits, 1e-6)');
SELECT is((SELECT count(*) FROM fx_check, generate_series(1, 12) i
           WHERE form NOT LIKE '_Ad_' OR form LIKE '%A' OR form LIKE '%N'
           HAVING max(abs(o[1 + i] / mean[i] - 1)) > 1e-9), NULL::bigint,
          'point forecasts equal R''s (1e-9 relative) except damped multiplicative season');
SELECT ok((SELECT max(abs(o[1 + i] / mean[i] - 1)) FROM fx_check, generate_series(1, 12) i
           WHERE form LIKE '_AdM') < 2e-3,
          'damped multiplicative-season point forecasts within 0.2% of R''s');
SELECT ok((SELECT max(abs((o[25 + i] - o[1 + i]) / (upper[i] - mean[i]) - 1)
                  + abs((o[1 + i] - o[13 + i]) / (mean[i] - lower[i]) - 1))
           FROM fx_check, generate_series(1, 11) i WHERE form LIKE 'A%') < 1e-9,
          'analytic 80% intervals of additive forms equal R''s at steps 1..11');
SELECT ok((SELECT bool_and(o[25 + 12] - o[1 + 12] <= upper[12] - mean[12] + 1e-9)
           FROM fx_check WHERE form LIKE 'A%'),
          'at step 12 = m the additive intervals are no wider than R''s');
SELECT ok((SELECT max(abs((o[25 + i] - o[1 + i]) / (upper[i] - mean[i]) - 1))
           FROM fx_check, generate_series(1, 12) i WHERE form LIKE 'M%') < 0.10,
          'simulated 80% intervals of multiplicative forms within 10% of R''s');

-- estimation
CREATE TEMP TABLE fx_fixed AS
SELECT f.fit, retailiq.forecast_fit(series, month, y, 'ets', jsonb_build_object('ets_model', f.fit)) AS m
FROM fx_data, (VALUES ('MAM'), ('ANA'), ('AAdA'), ('AAdN')) f(fit) GROUP BY f.fit;
SELECT is((SELECT count(*) FROM fx_fixed x CROSS JOIN LATERAL retailiq.forecast_model_series(x.m) s
           JOIN fx_ref r ON r.series = s.series AND r.fit = x.fit
           WHERE s.aicc > r.aicc + 1.0), 0::bigint,
          'fixed forms: AICc no worse than R''s + 1 (16 fits)');
CREATE TEMP TABLE fx_auto AS SELECT retailiq.forecast_fit(series, month, y, 'ets') AS m FROM fx_data;
SELECT is((SELECT count(*) FROM fx_auto CROSS JOIN LATERAL retailiq.forecast_model_series(m) s
           JOIN fx_ref r ON r.series = s.series AND r.fit = 'auto'
           WHERE s.aicc <= r.aicc + 0.01), 4::bigint,
          'automatic choice: AICc no worse than R''s automatic choice (4 series)');
SELECT ok((SELECT avg(abs(f.yhat / r.mean[f.step] - 1))
           FROM fx_auto CROSS JOIN LATERAL retailiq.forecast_all(m, 12) f
           JOIN fx_ref r ON r.series = f.series AND r.fit = 'auto') < 0.05,
          'automatic forecasts within 5% of R''s on average');

SELECT * FROM finish();
ROLLBACK;
