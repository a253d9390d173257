-- Dominick's orange juice: elasticities beside R's lm, shrunk store estimates beside
-- per-store OLS on held-back weeks, and the deal uplift on held-back deal weeks.
--
--   psql -X -v data=/path/to/dominicks -v rcsv=/path/to/r_output.csv -f test/bench/pricing/dominicks.sql
--
-- Train on weeks <= 148; test weeks 149..160 (nothing here was tuned on them).
\set ON_ERROR_STOP 1
\set csv :data '/orange_juice_weekly.csv'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS pricing_b CASCADE;
CREATE SCHEMA pricing_b;
RESET client_min_messages;
CREATE TABLE pricing_b.oj (store int, brand int, week int, week_start date, logmove float8, units float8,
                           price float8, deal int, feat float8, profit float8);
\set load '\\copy pricing_b.oj FROM ' :'csv' ' CSV HEADER'
:load
CREATE TABLE pricing_b.r (brand int, elasticity float8, se float8);
\set loadr '\\copy pricing_b.r FROM ' :'rcsv' ' CSV HEADER'
:loadr

\echo '-- 1. elasticities: log(units) ~ log(price) + deal + feat + 2 Fourier pairs + factor(store), per brand, weeks <= 148'
\timing on
CREATE TABLE pricing_b.shrink AS
SELECT retailiq.elasticity_fit(brand, store, week_start, units, price, ARRAY[deal, feat]::float8[],
                               '{"harmonics": 2}') AS m
FROM pricing_b.oj WHERE week <= 148;
\timing off
SELECT count(*) AS brands, max(abs(e.elasticity - r.elasticity)) AS max_abs_diff_vs_r_lm,
       max(abs((e.upper - e.lower) / (2 * retailiq.normal_quantile(0.975)) - r.se)) AS max_abs_diff_se,
       CASE WHEN max(abs(e.elasticity - r.elasticity)) <= 1e-6 THEN 'PASS' ELSE 'FAIL' END AS within_1e_6
FROM pricing_b.shrink, retailiq.elasticities(m) e JOIN pricing_b.r r ON r.brand = e.product
WHERE e.store IS NULL;
SELECT e.product AS brand, round(e.elasticity::numeric, 4) AS pooled, round(r.elasticity::numeric, 4) AS r_lm,
       round(min(s.elasticity)::numeric, 3) AS store_min, round(max(s.elasticity)::numeric, 3) AS store_max
FROM pricing_b.shrink, retailiq.elasticities(m) e JOIN pricing_b.r r ON r.brand = e.product,
     retailiq.elasticities(m) s
WHERE e.store IS NULL AND s.product = e.product AND s.store IS NOT NULL
GROUP BY 1, 2, 3 ORDER BY 1;

\echo '-- 2. store-level estimates on held-back weeks 149..160: shrunk (empirical Bayes) vs per-store OLS'
CREATE TABLE pricing_b.own AS
SELECT retailiq.elasticity_fit(brand, store, week_start, units, price, ARRAY[deal, feat]::float8[],
                               '{"harmonics": 2, "pooling": "none"}') AS m
FROM pricing_b.oj WHERE week <= 148;
WITH p AS (
    SELECT o.units, o.deal,
           retailiq.elasticity_predict(s.m, o.brand, o.store, o.week_start, o.price, ARRAY[o.deal, o.feat]::float8[]) AS shrunk,
           retailiq.elasticity_predict(w.m, o.brand, o.store, o.week_start, o.price, ARRAY[o.deal, o.feat]::float8[]) AS own
    FROM pricing_b.oj o, pricing_b.shrink s, pricing_b.own w WHERE o.week > 148)
SELECT count(*) AS rows, round((sum(abs(units - shrunk)) / sum(units))::numeric, 4) AS wape_shrunk,
       round((sum(abs(units - own)) / sum(units))::numeric, 4) AS wape_per_store_ols,
       round((sum(abs(units - shrunk)) / sum(abs(units - own)))::numeric, 4) AS ratio,
       CASE WHEN sum(abs(units - shrunk)) < sum(abs(units - own)) THEN 'PASS' ELSE 'FAIL' END AS shrunk_better
FROM p;

\echo '-- 3. deal weeks 149..160 predicted with the uplift (deal, feat as planned) and without it (deal = feat = 0)'
\echo '--    the factor regression of issue 17, built as test/bench/forecast/dominicks_regression.sql builds it'
\set cut 148
\o /dev/null
\i test/bench/forecast/dominicks_regression.sql
\o
CREATE TABLE pricing_b.future0 AS
SELECT array_agg(xs ORDER BY series COLLATE "C") AS fx
FROM (SELECT series, array_agg(ARRAY[x[1], 0, 0] ORDER BY week) AS xs FROM ojb.panel WHERE future GROUP BY series) q;
WITH w AS (SELECT f.series, f.ts, f.yhat FROM ojb.reg_model, ojb.future, retailiq.forecast_all(m, :h, fx) f),
     wo AS (SELECT f.series, f.ts, f.yhat FROM ojb.reg_model, pricing_b.future0, retailiq.forecast_all(m, :h, fx) f),
     a AS (SELECT store || '/' || brand AS series, date '1989-09-14' + 7 * (week - 1) AS ts, units, deal
           FROM pricing_b.oj WHERE week BETWEEN 149 AND 160)
SELECT count(*) FILTER (WHERE a.deal = 1) AS deal_rows,
       round((sum(abs(a.units - w.yhat)) FILTER (WHERE a.deal = 1) / sum(a.units) FILTER (WHERE a.deal = 1))::numeric, 4) AS wape_with_uplift,
       round((sum(abs(a.units - wo.yhat)) FILTER (WHERE a.deal = 1) / sum(a.units) FILTER (WHERE a.deal = 1))::numeric, 4) AS wape_without,
       round((sum(abs(a.units - w.yhat)) FILTER (WHERE a.deal = 1) / sum(abs(a.units - wo.yhat)) FILTER (WHERE a.deal = 1))::numeric, 4) AS ratio,
       CASE WHEN sum(abs(a.units - w.yhat)) FILTER (WHERE a.deal = 1) < sum(abs(a.units - wo.yhat)) FILTER (WHERE a.deal = 1)
            THEN 'PASS' ELSE 'FAIL' END AS uplift_better
FROM a JOIN w USING (series, ts) JOIN wo USING (series, ts);
SET client_min_messages = warning;
DROP SCHEMA ojb CASCADE;
DROP SCHEMA pricing_b CASCADE;
