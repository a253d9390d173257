-- BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way") on the CDNOW
-- sample: 2,357 customers, 39-week calibration period, time unit = weeks.
SET jit = off;  -- small queries; JIT's dlopen also trips valgrind inside glibc
CREATE TABLE cdnow (id int PRIMARY KEY, frequency int, recency float8, t float8);
\copy cdnow FROM 'test/data/churn/cdnow_customers_summary.csv' WITH (FORMAT csv, HEADER)
SELECT count(*) AS customers, count(*) FILTER (WHERE frequency > 0) AS repeat_buyers FROM cdnow;

CREATE TABLE fit AS SELECT retailiq.bgnbd_fit(frequency, recency, t) AS m FROM cdnow;
SELECT retailiq.model_kind(m) FROM fit;
-- r, alpha, a, b and the log-likelihood to 6 digits: the paper gives 0.243, 4.414, 0.793,
-- 2.426, -9582.4; maximum likelihood to 6 digits 0.242593, 4.413532, 0.792886, 2.425754.
SELECT round((i->'data'->>'r')::numeric, 6) AS r,
       round((i->'data'->>'alpha')::numeric, 6) AS alpha,
       round((i->'data'->>'a')::numeric, 6) AS a,
       round((i->'data'->>'b')::numeric, 5) AS b,
       round((i->'metrics'->>'log_likelihood')::numeric, 4) AS log_likelihood,
       i->'metrics'->'n_customers' AS n, i->'metrics'->'converged' AS converged
FROM (SELECT retailiq.model_info(m) AS i FROM fit) s;
-- within 0.5% of every published figure
SELECT k, published, round(fitted::numeric, 6) AS fitted,
       abs(fitted / published - 1) < 0.005 AS within_half_percent
FROM fit, LATERAL (VALUES ('r', 0.243), ('alpha', 4.414), ('a', 0.793), ('b', 2.426),
                          ('log_likelihood', -9582.4)) v(k, published),
     LATERAL (SELECT coalesce(retailiq.model_info(m)->'data'->>k,
                              retailiq.model_info(m)->'metrics'->>k)::float8 AS fitted) f
ORDER BY k;

-- Unconditional expectation E[X(t)] (a customer with x = 0, t_x = 0, T = 0), against
-- Hardie's BG/NBD spreadsheet: 0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576 (3 decimals).
SELECT t, round(retailiq.expected_purchases(m, 0, 0, 0, t)::numeric, 4) AS expected
FROM fit, unnest(ARRAY[0.1429, 1, 3, 31.8571, 32, 78]::float8[]) t ORDER BY t;
-- Conditional expectation over the next 39 weeks for x = 2, t_x = 30.43, T = 38.86: 1.226.
SELECT round(retailiq.expected_purchases(m, 2, 30.43, 38.86, 39)::numeric, 4) AS expected,
       round(retailiq.churn_probability(m, 2, 30.43, 38.86)::numeric, 4) AS churn_probability
FROM fit;
-- P(alive) falls as the last purchase recedes; a customer with no repeat purchase cannot
-- have dropped out in BG/NBD (dropout happens only after a purchase).
SELECT frequency, recency, round(retailiq.churn_probability(m, frequency, recency, 38.86)::numeric, 4) AS churn
FROM fit, (VALUES (0, 0.0), (1, 1.0), (1, 20.0), (1, 38.0), (5, 10.0), (5, 38.0), (20, 38.0)) v(frequency, recency)
ORDER BY frequency, recency;
-- A heavy buyer's expectation stays finite (Euler's transformation of the 2F1 series).
SELECT round(retailiq.expected_purchases(m, 200, 38, 38.86, 52)::numeric, 2) AS heavy FROM fit;
SELECT retailiq.expected_purchases(m, 3, 10, 20, 0) AS zero_horizon FROM fit;

-- The fit is the same under parallel aggregation and any row order: rows are sorted first.
SELECT retailiq.model_info((SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM (SELECT * FROM cdnow ORDER BY id DESC) s))->'data'
     = retailiq.model_info(m)->'data' AS order_independent FROM fit;

-- purchase_summary turns transactions into (frequency, recency, t, monetary): from the raw
-- CDNOW transactions, as of 1997-09-30 in weeks, it reproduces the published summary.
CREATE TABLE raw (line text);
\copy raw FROM 'test/data/churn/CDNOW_sample.txt'
CREATE TABLE tx AS
SELECT f[2]::int AS id, to_date(f[3], 'YYYYMMDD') AS day, f[5]::float8 AS amount
FROM (SELECT regexp_split_to_array(btrim(line, E' \r'), '\s+') AS f FROM raw) s;
CREATE TABLE summary AS
SELECT id, (retailiq.purchase_summary(day, amount, '1997-09-30', '7 days')).* FROM tx GROUP BY id;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE s.frequency = c.frequency AND round(s.recency::numeric, 2) = c.recency::numeric
                          AND round(s.t::numeric, 2) = c.t::numeric) AS equal_to_published
FROM summary s JOIN cdnow c USING (id);
SELECT * FROM summary WHERE id IN (1, 2, 3) ORDER BY id;
-- days, a time unit of a month, orders after as_of ignored, no order before as_of -> NULL
SELECT (retailiq.purchase_summary(d, a, '2024-03-31', '1 day')).*
FROM (VALUES ('2024-01-01'::date, 10.0::float8), ('2024-01-01', 5), ('2024-01-11', 20), ('2024-02-10', 40), ('2024-05-01', 99)) v(d, a);
SELECT (retailiq.purchase_summary(d, a, '2024-03-31', '1 month')).frequency,
       round((retailiq.purchase_summary(d, a, '2024-03-31', '1 month')).recency::numeric, 4) AS recency_months
FROM (VALUES ('2024-01-01'::date, 10.0::float8), ('2024-02-10', 40)) v(d, a);
SELECT retailiq.purchase_summary(d, 1, '2024-03-31', '1 day') IS NULL AS not_yet_a_customer
FROM (VALUES ('2024-05-01'::date)) v(d);

-- Bad input is an ERROR naming the argument.
SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM (VALUES (-1, 0.0, 5.0)) v(frequency, recency, t);
SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM (VALUES (2, 6.0, 5.0)) v(frequency, recency, t);
SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM (VALUES (0, 1.0, 5.0)) v(frequency, recency, t);
SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM (VALUES (1, 'NaN'::float8, 5.0)) v(frequency, recency, t);
SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM (VALUES (1, NULL::float8, 5.0)) v(frequency, recency, t);
SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM cdnow WHERE false;
SELECT retailiq.bgnbd_fit(0, 0, t) FROM generate_series(1, 10) t;
SELECT retailiq.churn_probability(m, 3, 40, 38.86) FROM fit;
SELECT retailiq.expected_purchases(m, 3, 10, 38.86, -1) FROM fit;
SELECT retailiq.churn_probability('{"kind": "logit"}', 1, 1, 2);
SELECT retailiq.churn_probability('{"kind": "bgnbd", "data": {"r": 1.0}}', 1, 1, 2);
SELECT retailiq.churn_probability('{"kind": "bgnbd", "data": {"r": -1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}}', 1, 1, 2);
SELECT retailiq.purchase_summary(d, 1, '2024-03-31', '0 days') FROM (VALUES ('2024-01-01'::date)) v(d);
SELECT retailiq.purchase_summary(d, 1, a, '1 day') FROM (VALUES ('2024-01-01'::date, '2024-03-01'::date), ('2024-01-02', '2024-03-02')) v(d, a);
-- Degenerate data (everyone alike) is flagged, not silently returned as a good fit.
SELECT retailiq.model_info(retailiq.bgnbd_fit(1, 1, 2))->'metrics'->'converged' AS converged
FROM generate_series(1, 100);

-- bgnbd_fit_iterative: bgnbd_fit's minimiser with each evaluation of the likelihood one
-- bgnbd_loglik query over the table (doc/distributed.md): the same model within 1e-5
-- relative in every parameter, the same counts, the log-likelihood within 1e-12
CREATE TABLE fit_iterative AS SELECT retailiq.bgnbd_fit_iterative('cdnow') AS m;
SELECT k, abs((retailiq.model_info(i.m) #>> ARRAY['data', k])::float8
              / (retailiq.model_info(f.m) #>> ARRAY['data', k])::float8 - 1) <= 1e-5 AS within_1e_5
FROM fit f, fit_iterative i, unnest(ARRAY['r', 'alpha', 'a', 'b']) k;
SELECT (retailiq.model_info(i.m) -> 'metrics') - 'iterations' - 'log_likelihood' - 'likelihood_queries'
       = (retailiq.model_info(f.m) -> 'metrics') - 'iterations' - 'log_likelihood' AS same_counts,
       abs((retailiq.model_info(i.m) #>> '{metrics,log_likelihood}')::float8
           / (retailiq.model_info(f.m) #>> '{metrics,log_likelihood}')::float8 - 1) <= 1e-12 AS loglik_within_1e_12
FROM fit f, fit_iterative i;
SELECT retailiq.bgnbd_fit_iterative('cdnow', 'frequency', 't', 'recency');
SELECT retailiq.bgnbd_fit_iterative('cdnow', 'frequency', 'recency', NULL);

-- clean up: later suites drop and recreate the extension
DROP TABLE cdnow, fit, fit_iterative, raw, tx, summary;
