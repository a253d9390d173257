-- churn fits on the core row store (core/rowstore.c): many rows give the same model under a
-- serial plan and a parallel plan whose workers serialise, deserialise and combine their
-- rows (with the fit's settings and feature names); -0 and 0 are the same value; the rows
-- are charged to retailiq.max_memory (53200).
BEGIN;
SELECT plan(9);
SET LOCAL jit = off;
SET LOCAL client_min_messages = error;   -- the fits' convergence warnings are not the point here

CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
CREATE FUNCTION pg_temp.strip(m retailiq.model) RETURNS text LANGUAGE sql AS $$
    SELECT substr(m::text, strpos(m::text, '"trained_by"')) $$;

-- 150,000 customers' (frequency, recency, age) and two features with a label, fixed formulas
CREATE TABLE rs_cust AS
SELECT i, x, CASE WHEN x = 0 THEN 0 ELSE round((t * u)::numeric, 2)::float8 END AS t_x, t,
       ARRAY[x, round((u * 10)::numeric, 1)::float8]::float8[] AS f,
       (x = 0 AND u < 0.7) OR u < 0.1 AS churned
FROM (SELECT i, (i * 7 % 11) % 6 AS x, 20 + (i % 50)::float8 AS t,
             sin(i * 12.9898) * 43758.5453 - floor(sin(i * 12.9898) * 43758.5453) AS u
      FROM generate_series(1, 150000) i) s;
ANALYZE rs_cust;

SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE rs_serial AS
SELECT pg_temp.strip(retailiq.bgnbd_fit(x, t_x, t)) AS bg,
       pg_temp.strip(retailiq.logit_fit(f, churned, 0.5, ARRAY['frequency', 'score'])) AS lg
FROM rs_cust;

SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT ok(strpos(pg_temp.plan_of('SELECT retailiq.bgnbd_fit(x, t_x, t) FROM rs_cust'), 'Partial Aggregate') > 0,
          'bgnbd_fit over 150,000 rows gets a partial aggregation plan');
SELECT is((SELECT pg_temp.strip(retailiq.bgnbd_fit(x, t_x, t)) FROM rs_cust), (SELECT bg FROM rs_serial),
          'bgnbd_fit over 150,000 rows: parallel = serial, bit for bit');
SELECT is((SELECT pg_temp.strip(retailiq.logit_fit(f, churned, 0.5, ARRAY['frequency', 'score'])) FROM rs_cust),
          (SELECT lg FROM rs_serial),
          'logit_fit with feature names over 150,000 rows: parallel = serial, bit for bit');
SELECT ok((SELECT retailiq.logit_fit(f, churned, 0.5, ARRAY['frequency', 'score'])::text FROM rs_cust) LIKE '%"score"%',
          'the feature names travel through the parallel workers');
SELECT is((SELECT pg_temp.strip(retailiq.logit_fit(ARRAY[f[1], CASE WHEN f[2] = 0 THEN '-0'::float8 ELSE f[2] END], churned, 0.5))
           FROM rs_cust),
          (SELECT pg_temp.strip(retailiq.logit_fit(f, churned, 0.5)) FROM rs_cust),
          'a -0 feature gives the model of 0 (parallel)');
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT is((SELECT pg_temp.strip(retailiq.bgnbd_fit(x, CASE WHEN t_x = 0 THEN '-0'::float8 ELSE t_x END, t)) FROM rs_cust),
          (SELECT bg FROM rs_serial), 'a -0 recency gives the model of 0 (serial)');

-- the budget: 150,000 rows of 3 values are 3.4 MB, over a 1 MB retailiq.max_memory
SET LOCAL retailiq.max_memory = '1MB';
SELECT throws_ok($$SELECT retailiq.bgnbd_fit(x, t_x, t) FROM rs_cust$$, '53200', NULL,
                 'bgnbd_fit stops at retailiq.max_memory with 53200');
SELECT throws_ok($$SELECT retailiq.logit_fit(f, churned) FROM rs_cust$$, '53200', NULL,
                 'logit_fit stops at retailiq.max_memory with 53200');
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT throws_ok($$SELECT retailiq.bgnbd_fit(x, t_x, t) FROM rs_cust$$, '53200', NULL,
                 'a parallel bgnbd_fit stops at retailiq.max_memory with 53200');

SELECT * FROM finish();
ROLLBACK;
