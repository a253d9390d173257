-- Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV") on the CDNOW sample:
-- the 946 customers with repeat purchases and their mean repeat spend zbar.
SET jit = off;  -- small queries; JIT's dlopen also trips valgrind inside glibc
CREATE TABLE cdnow (id int PRIMARY KEY, x int, t_x float8, t float8, zbar float8);
\copy cdnow FROM 'test/data/churn/cdnow_customers_summary_with_transactions.csv' WITH (FORMAT csv, HEADER)
CREATE TABLE gg AS SELECT retailiq.gammagamma_fit(x, zbar) AS m FROM cdnow;
-- published p = 6.25, q = 3.74, gamma = 15.44; maximum likelihood 6.2488, 3.7446, 15.4477
SELECT round((i->'data'->>'p')::numeric, 4) AS p, round((i->'data'->>'q')::numeric, 4) AS q,
       round((i->'data'->>'v')::numeric, 4) AS v,
       i->'metrics'->'n_customers' AS n, i->'metrics'->'n_skipped' AS skipped_no_repeat,
       i->'metrics'->'converged' AS converged
FROM (SELECT retailiq.model_info(m) AS i FROM gg) s;
SELECT k, published, abs((retailiq.model_info(m)->'data'->>k)::float8 / published - 1) < 0.005 AS within_half_percent
FROM gg, (VALUES ('p', 6.25), ('q', 3.74), ('v', 15.44)) v(k, published) ORDER BY k;

-- Expected spend shrinks a customer's own mean towards the population mean p v / (q - 1),
-- the more so the fewer transactions it rests on.
SELECT x, zbar, round(retailiq.expected_spend(m, x, zbar)::numeric, 4) AS expected_spend
FROM gg, (VALUES (0, 0.0), (1, 100.0), (10, 100.0), (1, 5.0), (10, 5.0)) v(x, zbar) ORDER BY x, zbar;
SELECT round(((i->'data'->>'p')::float8 * (i->'data'->>'v')::float8 / ((i->'data'->>'q')::float8 - 1))::numeric, 4)
       AS population_mean FROM (SELECT retailiq.model_info(m) AS i FROM gg) s;

-- Customer lifetime value: BG/NBD purchases per month (4.345 weeks) over 12 months, times
-- expected spend, discounted at 1% a month.
CREATE TABLE bg AS SELECT retailiq.bgnbd_fit(x, t_x, t) AS m FROM cdnow;
SELECT id, x, t_x, t, zbar,
       round(retailiq.clv(bg.m, gg.m, x, t_x, t, zbar, 12, 0.01, 4.345)::numeric, 2) AS clv,
       round((retailiq.expected_purchases(bg.m, x, t_x, t, 12 * 4.345)
              * retailiq.expected_spend(gg.m, x, zbar))::numeric, 2) AS undiscounted
FROM cdnow, bg, gg WHERE id IN (1, 2, 3, 18, 1516) ORDER BY id;
-- the most valuable customers
SELECT id, x, round(retailiq.clv(bg.m, gg.m, x, t_x, t, zbar, 12, 0.01, 4.345)::numeric, 2) AS clv
FROM cdnow, bg, gg ORDER BY retailiq.clv(bg.m, gg.m, x, t_x, t, zbar, 12, 0.01, 4.345) DESC, id LIMIT 3;

-- Errors
SELECT retailiq.gammagamma_fit(x, zbar) FROM (VALUES (2, -1.0)) v(x, zbar);
SELECT retailiq.gammagamma_fit(x, zbar) FROM (VALUES (2, 0.0)) v(x, zbar);
SELECT retailiq.gammagamma_fit(x, zbar) FROM (VALUES (0, 0.0), (0, 0.0)) v(x, zbar);
SELECT retailiq.gammagamma_fit(x, 10.0) FROM generate_series(1, 5) x;
SELECT retailiq.gammagamma_fit(x, NULL) FROM generate_series(1, 5) x;
SELECT retailiq.expected_spend(m, -1, 10) FROM gg;
SELECT retailiq.expected_spend('{"kind": "gammagamma", "data": {"p": 1.0, "q": 0.5, "v": 1.0}}', 0, 0);
SELECT retailiq.clv(bg.m, gg.m, 1, 1, 2, 10, 0, 0.01) FROM bg, gg;
SELECT retailiq.clv(bg.m, gg.m, 1, 1, 2, 10, 12, -0.5) FROM bg, gg;
SELECT retailiq.clv(gg.m, bg.m, 1, 1, 2, 10, 12, 0.01) FROM bg, gg;

-- gammagamma_fit_iterative: the likelihood as one gammagamma_loglik query per evaluation
-- (doc/distributed.md): the same model within 1e-5 relative, the same counts
CREATE TABLE gg_iterative AS SELECT retailiq.gammagamma_fit_iterative('cdnow', 'x', 'zbar') AS m;
SELECT k, abs((retailiq.model_info(i.m) #>> ARRAY['data', k])::float8
              / (retailiq.model_info(g.m) #>> ARRAY['data', k])::float8 - 1) <= 1e-5 AS within_1e_5
FROM gg g, gg_iterative i, unnest(ARRAY['p', 'q', 'v']) k;
SELECT (retailiq.model_info(i.m) -> 'metrics') - 'iterations' - 'log_likelihood' - 'likelihood_queries'
       = (retailiq.model_info(g.m) -> 'metrics') - 'iterations' - 'log_likelihood' AS same_counts
FROM gg g, gg_iterative i;
CREATE VIEW gg_no_spend AS SELECT x, 0.0::float8 AS zbar FROM cdnow;
SELECT retailiq.gammagamma_fit_iterative('gg_no_spend', 'x', 'zbar');
SELECT retailiq.gammagamma_fit_iterative(NULL, 'x', 'zbar');

-- clean up: later suites drop and recreate the extension
DROP VIEW gg_no_spend;
DROP TABLE cdnow, gg, gg_iterative, bg;
