-- Churn models against their published reference figures (CDNOW sample, in weeks), and
-- the SQLSTATEs of bad input.
BEGIN;
SELECT plan(35);

CREATE TEMP TABLE cdnow (id int PRIMARY KEY, x int, t_x float8, t float8, zbar float8);
\copy cdnow FROM 'test/data/churn/cdnow_customers_summary_with_transactions.csv' WITH (FORMAT csv, HEADER)
CREATE TEMP TABLE bg AS SELECT retailiq.bgnbd_fit(x, t_x, t) AS m FROM cdnow;
CREATE TEMP TABLE gg AS SELECT retailiq.gammagamma_fit(x, zbar) AS m FROM cdnow;
CREATE TEMP TABLE fitted AS
SELECT k, coalesce(j->'data'->>k, j->'metrics'->>k)::float8 AS v
FROM (SELECT m::text::jsonb AS j FROM bg) s,
     unnest(ARRAY['r', 'alpha', 'a', 'b', 'log_likelihood']) k
UNION ALL
SELECT k, (j->'data'->>k)::float8 FROM (SELECT m::text::jsonb AS j FROM gg) s, unnest(ARRAY['p', 'q', 'v']) k;

-- Fader, Hardie & Lee (2005): within 0.5% of the published rounded values
SELECT ok(abs(v / pub - 1) < 0.005, format('BG/NBD %s = %s within 0.5%% of published %s', k, v, pub))
FROM fitted JOIN (VALUES ('r', 0.243), ('alpha', 4.414), ('a', 0.793), ('b', 2.426),
                         ('log_likelihood', -9582.4)) p(k, pub) USING (k) ORDER BY k;
-- and to six digits of the maximum-likelihood values
SELECT ok(abs(v / ml - 1) < 2e-6, format('BG/NBD %s = %s equals %s to 6 digits', k, v, ml))
FROM fitted JOIN (VALUES ('r', 0.242593), ('alpha', 4.413532), ('a', 0.792886), ('b', 2.425754),
                         ('log_likelihood', -9582.4256)) p(k, ml) USING (k) ORDER BY k;
SELECT ok(abs(v / pub - 1) < 0.005, format('Gamma-Gamma %s = %s within 0.5%% of published %s', k, v, pub))
FROM fitted JOIN (VALUES ('p', 6.25), ('q', 3.74), ('v', 15.44)) p(k, pub) USING (k) ORDER BY k;
SELECT ok(abs(v / ml - 1) < 1e-4, format('Gamma-Gamma %s = %s equals %s to 4 digits', k, v, ml))
FROM fitted JOIN (VALUES ('p', 6.2488), ('q', 3.7446), ('v', 15.4477)) p(k, ml) USING (k) ORDER BY k;
-- Hardie's spreadsheet: E[X(t)] to 3 decimals, conditional expectation 1.226
SELECT ok(abs(retailiq.expected_purchases(m, 0, 0, 0, t) - e) < 0.0015,
          format('E[X(%s)] = %s, Hardie %s', t, retailiq.expected_purchases(m, 0, 0, 0, t), e))
FROM bg, (VALUES (0.1429, 0.0078), (1, 0.0532), (3, 0.1506), (31.8571, 1.0405), (32, 1.0437), (78, 1.8576)) v(t, e)
ORDER BY t;
SELECT ok(abs(retailiq.expected_purchases(m, 2, 30.43, 38.86, 39) - 1.226) < 0.0005,
          'E[Y(39) | x = 2, t_x = 30.43, T = 38.86] = 1.226') FROM bg;

-- SQLSTATEs
SELECT throws_ok($$SELECT retailiq.bgnbd_fit(-1, 0, 5)$$, '22023', 'frequency must not be negative');
SELECT throws_ok($$SELECT retailiq.bgnbd_fit(2, 6, 5)$$, '22023', 'recency must not exceed t');
SELECT throws_ok($$SELECT retailiq.bgnbd_fit(2, NULL, 5)$$, '22004', 'bgnbd_fit arguments must not be NULL');
SELECT throws_ok($$SELECT retailiq.bgnbd_fit(0, 0, 5)$$, '22023', 'bgnbd_fit needs customers with repeat purchases');
SELECT throws_ok($$SELECT retailiq.churn_probability(m, 1, 2, 1) FROM bg$$, '22023', 'recency must not exceed t');
SELECT throws_ok($$SELECT retailiq.churn_probability(m, 1, 2, 3) FROM gg$$, '22023');
SELECT throws_ok($$SELECT retailiq.churn_probability('{"kind": "bgnbd", "data": {"r": 0.0, "alpha": 1.0, "a": 1.0, "b": 1.0}}', 1, 1, 2)$$,
                 'XX001');
SELECT throws_ok($$SELECT retailiq.gammagamma_fit(1, 'NaN')$$, '22023');
SELECT throws_ok($$SELECT retailiq.logit_fit(f, l) FROM (VALUES (ARRAY[1.0, 2.0]::float8[], true), (ARRAY[1.0]::float8[], false)) v(f, l)$$,
                 '2202E');
SELECT throws_ok($$SELECT retailiq.logit_fit(ARRAY[1.0], true)$$, '22023', 'logit_fit needs both labels');
SELECT throws_ok($$SELECT retailiq.churn_risk(2.0)$$, '22023', 'probability must be between 0 and 1');
SELECT throws_ok($$SELECT retailiq.expected_purchases(m, 1, 1, 2, 'Infinity') FROM bg$$, '22023');

SELECT * FROM finish();
ROLLBACK;
