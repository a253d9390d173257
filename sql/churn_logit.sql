-- Logistic churn model: logit_fit (Newton/IRLS on standardised features, L2 penalty on the
-- coefficients but not the intercept), churn_probability, churn_explain, risk tiers and
-- retention actions.
SET jit = off;  -- small queries; JIT's dlopen also trips valgrind inside glibc
\set SHOW_CONTEXT never

-- With one binary feature and no penalty the maximum-likelihood fit reproduces the churn
-- rate of each group exactly.
CREATE TABLE grp AS
SELECT i, (i % 2)::float8 AS x, (i % 2 = 0 AND i % 3 = 0) OR i % 5 = 0 AS churned
FROM generate_series(1, 1000) i;
CREATE TABLE m1 AS SELECT retailiq.logit_fit(ARRAY[x], churned, 0.0) AS m FROM grp;
SELECT x, round(avg(churned::int), 6) AS churn_rate,
       round(retailiq.churn_probability((SELECT m FROM m1), ARRAY[x])::numeric, 6) AS fitted
FROM grp GROUP BY x ORDER BY x;

-- A synthetic customer base with known signal: churn rises with days since last order and
-- discount share, falls with orders; 'noise' carries nothing.
CREATE TABLE cust AS
SELECT i AS customer_id,
       ARRAY[(i * 37 % 101)::float8, (i * 13 % 17)::float8, (i * 7 % 11) / 10.0, (i * 29 % 23)::float8] AS features,
       (((i * 37 % 101) / 25.0 - (i * 13 % 17) / 4.0 + (i * 7 % 11) / 5.0 + ((i * 2654435761) % 1000) / 250.0 - 2.0) > 0)
           AS churned
FROM generate_series(1, 5000) i;
SELECT count(*), count(*) FILTER (WHERE churned) AS churned FROM cust;
CREATE TABLE m AS
SELECT retailiq.logit_fit(features, churned, 1.0,
                          ARRAY['days_since_last_order', 'orders_90d', 'discount_share', 'noise']) AS m
FROM cust;
SELECT round((i->'data'->>'intercept')::numeric, 4) AS intercept,
       (SELECT array_agg(round(c::numeric, 4)) FROM jsonb_array_elements_text(i->'data'->'coef') c) AS coef,
       i->'data'->'feature_names' AS names, i->'metrics'->'converged' AS converged,
       i->'params'->'l2' AS l2
FROM (SELECT m::text::jsonb AS i FROM m) s;
-- The fit is the optimum: the penalised score equations hold,
-- sum_i (y_i - p_i) z_ij = l2 * beta_j for every standardised feature j, and sum (y - p) = 0.
WITH info AS (SELECT m::text::jsonb->'data' AS d FROM m),
     z AS (SELECT c.churned::int - retailiq.churn_probability(m.m, c.features) AS resid,
                  (c.features[j] - (info.d->'mean'->>(j - 1))::float8) / (info.d->'scale'->>(j - 1))::float8 AS zj,
                  j, (info.d->'coef'->>(j - 1))::float8 AS beta
           FROM cust c, m, info, generate_series(1, 4) j)
SELECT j, abs(sum(resid * zj) - 1.0 * min(beta)) < 1e-6 AS score_equation_holds FROM z GROUP BY j ORDER BY j;
SELECT abs(sum(c.churned::int - retailiq.churn_probability(m.m, c.features))) < 1e-6 AS intercept_equation_holds
FROM cust c, m;
-- The same model under any row order and with parallel aggregation.
SELECT retailiq.model_info((SELECT retailiq.logit_fit(features, churned, 1.0,
          ARRAY['days_since_last_order', 'orders_90d', 'discount_share', 'noise'])
        FROM (SELECT * FROM cust ORDER BY customer_id DESC) s))->'data' = retailiq.model_info(m)->'data' AS order_independent
FROM m;

-- Scoring, tiers and reasons for a few customers.
SELECT customer_id, features, round(retailiq.churn_probability(m, features)::numeric, 4) AS p,
       retailiq.churn_risk(retailiq.churn_probability(m, features)) AS tier
FROM cust, m WHERE customer_id IN (1, 2, 3, 4, 5) ORDER BY customer_id;
-- (full-precision floats can differ in the last digit with the CPU OpenBLAS picks: round)
SELECT jsonb_typeof(retailiq.churn_explain(m, ARRAY[95, 1, 0.9, 11])) AS explain_type, r.feature, r.value,
       round(r.average::numeric, 4) AS average, round(r.contribution::numeric, 6) AS contribution
FROM m, jsonb_to_recordset(retailiq.churn_explain(m, ARRAY[95, 1, 0.9, 11]))
        AS r(feature text, value float8, average float8, contribution float8);
SELECT r.feature, round(r.contribution::numeric, 6) AS only_a_negligible_reason
FROM m, jsonb_to_recordset(retailiq.churn_explain(m, ARRAY[0, 16, 0, 11], 2)) AS r(feature text, contribution float8);
SELECT round((a).probability::numeric, 6) AS probability, (a).tier, (a).feature, (a).reason, (a).action
FROM (SELECT retailiq.retention_action(m, f) AS a FROM m,
       (VALUES (ARRAY[95, 1, 0.0, 11]::float8[]), (ARRAY[50, 8, 1.0, 11]), (ARRAY[10, 16, 0.0, 11])) v(f)) s ORDER BY 1 DESC;
-- thresholds are editable, and so is the strategy table
SELECT p, retailiq.churn_risk(p) AS default_tiers, retailiq.churn_risk(p, ARRAY[0.8, 0.5]) AS strict_tiers
FROM unnest(ARRAY[0.0, 0.3, 0.5, 0.6, 0.8, 1.0]) p ORDER BY p;
SELECT tier, count(*) FROM retailiq.retention_strategy GROUP BY tier ORDER BY tier;
-- the tiers of the synthetic base, with the main reason of the at-risk customers
SELECT (a).tier, (a).reason, count(*) FROM (SELECT retailiq.retention_action(m, features) AS a FROM cust, m) s
WHERE (a).tier <> 'low' GROUP BY 1, 2 ORDER BY 1, 2;

-- The distributed form: logit_start, then Newton steps whose states are plain partial sums
-- (a bytea, combinable by adding), reach the same model as logit_fit.
CREATE TABLE cust_dist AS SELECT * FROM cust;
SELECT retailiq.logit_fit_iterative('cust_dist', 'features', 'churned', 1.0, 25,
           ARRAY['days_since_last_order', 'orders_90d', 'discount_share', 'noise']) AS md \gset
SELECT (j->'metrics'->>'converged')::bool AS converged, (j->'metrics'->>'iterations')::int <= 10 AS few_steps,
       j->'data'->'feature_names' AS names
FROM (SELECT :'md'::retailiq.model::text::jsonb AS j) s;
SELECT max(abs(a.v::float8 - b.v::float8)) < 1e-9 AS same_coefficients_as_logit_fit
FROM m, jsonb_array_elements_text(m::text::jsonb->'data'->'coef') WITH ORDINALITY a(v, i)
     JOIN jsonb_array_elements_text(:'md'::retailiq.model::text::jsonb->'data'->'coef') WITH ORDINALITY b(v, i) USING (i);
SELECT max(abs(retailiq.churn_probability(m, features) - retailiq.churn_probability(:'md', features))) < 1e-9
       AS same_probabilities FROM cust, m;
-- one step by hand: start, then a step; the log-likelihood rises step by step
SELECT retailiq.logit_start(features, churned) AS m0 FROM cust_dist \gset
SELECT retailiq.logit_step(features, churned, :'m0') AS m1 FROM cust_dist \gset
SELECT retailiq.logit_step(features, churned, :'m1') AS m2 FROM cust_dist \gset
SELECT round((:'m1'::retailiq.model::text::jsonb #>> '{metrics,log_likelihood}')::numeric, 3) AS ll_at_start,
       round((:'m2'::retailiq.model::text::jsonb #>> '{metrics,log_likelihood}')::numeric, 3) AS ll_after_one_step,
       (:'m2'::retailiq.model::text::jsonb #>> '{metrics,iterations}')::int AS iterations;
SELECT retailiq.logit_step(features, churned, :'m1') FROM cust_dist WHERE false;
SELECT retailiq.logit_step(ARRAY[1.0], churned, :'m1') FROM cust_dist;
SELECT retailiq.logit_step(features, churned, NULL) FROM cust_dist;
SELECT retailiq.logit_step(features, churned, '{"kind": "bgnbd"}') FROM cust_dist;
SELECT retailiq.logit_start(features, true) FROM cust_dist;
SELECT retailiq.logit_set_feature_names(:'m1', ARRAY['a']);
DROP TABLE cust_dist;

-- Errors
SELECT retailiq.logit_fit(features, churned) FROM cust WHERE false;
SELECT retailiq.logit_fit(features, true) FROM cust;
SELECT retailiq.logit_fit(f, l) FROM (VALUES (ARRAY[1.0, 2.0]::float8[], true), (ARRAY[1.0]::float8[], false)) v(f, l);
SELECT retailiq.logit_fit(f, l) FROM (VALUES (ARRAY[1.0, 'NaN']::float8[], true)) v(f, l);
SELECT retailiq.logit_fit(f, l) FROM (VALUES (ARRAY[1.0, NULL]::float8[], true)) v(f, l);
SELECT retailiq.logit_fit(f, l) FROM (VALUES (ARRAY[1.0]::float8[], NULL::bool)) v(f, l);
SELECT retailiq.logit_fit(f, l, -1.0) FROM (VALUES (ARRAY[1.0]::float8[], true)) v(f, l);
SELECT retailiq.logit_fit(f, l, 1.0, ARRAY['a']) FROM (VALUES (ARRAY[1.0, 2.0]::float8[], true)) v(f, l);
SELECT retailiq.logit_fit(features, churned, 1.0, NULL, 0) FROM cust;
-- perfectly separable classes without a penalty: flagged as not converged
SELECT retailiq.model_info(retailiq.logit_fit(ARRAY[(i % 2)::float8], i % 2 = 0, 0.0))->'metrics'->'converged'
FROM generate_series(1, 100) i;
-- collinear features without a penalty
SELECT retailiq.logit_fit(ARRAY[x, 2 * x], churned, 0.0) FROM grp;
SELECT retailiq.churn_probability(m, ARRAY[1.0, 2.0]) FROM m;
SELECT retailiq.churn_explain(m, ARRAY[1, 2, 3, 4], 0) FROM m;
SELECT retailiq.churn_probability(m, ARRAY[1.0]) FROM m1 WHERE false;
SELECT retailiq.churn_risk(1.5);
SELECT retailiq.churn_risk(0.5, ARRAY[0.2, 0.4]);
SELECT retailiq.churn_risk(0.5, ARRAY[0.2]);

-- clean up: later suites drop and recreate the extension
DROP TABLE grp, m1, cust, m;
