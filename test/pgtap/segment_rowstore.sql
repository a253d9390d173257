-- segment on the core row store (core/rowstore.c): many rows give the same model under a
-- serial plan and a parallel plan whose workers serialise, deserialise and combine their
-- rows; -0 and 0 are the same row; the rows are charged to retailiq.max_memory (53200).
BEGIN;
SELECT plan(12);
SET LOCAL jit = off;

CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
-- a model's text form from "trained_by" on: everything but the training timestamp
CREATE FUNCTION pg_temp.strip(m retailiq.model) RETURNS text LANGUAGE sql AS $$
    SELECT substr(m::text, strpos(m::text, '"trained_by"')) $$;

-- 200,000 rows of 2 features (several growths of the store), from a fixed formula
CREATE TABLE rs_pts AS
SELECT i, ARRAY[(i % 3) * 4 + (sin(i * 12.9898) * 43758.5453 - floor(sin(i * 12.9898) * 43758.5453)),
                (i % 5) + sin(i * 3.7)]::float8[] AS f
FROM generate_series(1, 200000) i;
ANALYZE rs_pts;
-- the same 4 values with and without a negative zero
CREATE TABLE rs_zero AS
SELECT i, ARRAY[v]::float8[] AS neg, ARRAY[v + 0.0]::float8[] AS pos
FROM (VALUES (1, '-0'::float8), (2, 0), (3, 1), (4, 2), (5, '-0'), (6, 2)) s(i, v);

SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE rs_serial AS
SELECT pg_temp.strip(retailiq.kmeans_segment(f, 3, 7, 2)) AS m FROM rs_pts;
SELECT retailiq.kmeans_segment(f, 3, 7, 2) AS m3 FROM rs_pts \gset
CREATE TABLE rs_serial_sil AS SELECT retailiq.kmeans_silhouette(f, :'m3', 3000, 5) AS s FROM rs_pts;

SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT ok(strpos(pg_temp.plan_of('SELECT retailiq.kmeans_segment(f, 3, 7, 2) FROM rs_pts'), 'Partial Aggregate') > 0,
          'kmeans_segment over 200,000 rows gets a partial aggregation plan');
SELECT is((SELECT pg_temp.strip(retailiq.kmeans_segment(f, 3, 7, 2)) FROM rs_pts), (SELECT m FROM rs_serial),
          'kmeans_segment over 200,000 rows: parallel = serial, bit for bit');
SELECT is((SELECT retailiq.model_info(retailiq.kmeans_segment(f, 3, 7, 2)) #>> '{metrics,n_rows}' FROM rs_pts),
          '200000', 'the partial states together hold every row');
SELECT ok(strpos(pg_temp.plan_of(format('SELECT retailiq.kmeans_silhouette(f, %L, 3000, 5) FROM rs_pts', :'m3')),
                 'Partial Aggregate') > 0, 'kmeans_silhouette gets a partial aggregation plan');
SELECT is((SELECT retailiq.kmeans_silhouette(f, :'m3', 3000, 5) FROM rs_pts), (SELECT s FROM rs_serial_sil),
          'kmeans_silhouette over 200,000 rows: parallel = serial, bit for bit');
SELECT is((SELECT pg_temp.strip(retailiq.kmeans_segment(neg, 3)) FROM rs_zero),
          (SELECT pg_temp.strip(retailiq.kmeans_segment(pos, 3)) FROM rs_zero),
          'rows with -0 give the model of the same rows with 0 (parallel)');
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT is((SELECT pg_temp.strip(retailiq.kmeans_segment(neg, 3)) FROM rs_zero),
          (SELECT pg_temp.strip(retailiq.kmeans_segment(pos, 3)) FROM rs_zero),
          'rows with -0 give the model of the same rows with 0 (serial)');
SELECT throws_ok($$SELECT retailiq.kmeans_segment(neg, 4) FROM rs_zero$$, '22023',
                 'k must not exceed the number of distinct rows',
                 '-0 and 0 are one distinct row: 3 distinct rows, not 4');

-- the budget: 200,000 rows of 2 features are 3 MB, over a 1 MB retailiq.max_memory
SET LOCAL retailiq.max_memory = '1MB';
SELECT throws_ok($$SELECT retailiq.kmeans_segment(f, 3) FROM rs_pts$$, '53200', NULL,
                 'kmeans_segment stops at retailiq.max_memory with 53200');
SELECT throws_ok(format('SELECT retailiq.kmeans_silhouette(f, %L) FROM rs_pts', :'m3'), '53200', NULL,
                 'kmeans_silhouette stops at retailiq.max_memory with 53200');
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT throws_ok($$SELECT retailiq.kmeans_segment(f, 3) FROM rs_pts$$, '53200', NULL,
                 'a parallel kmeans_segment stops at retailiq.max_memory with 53200');
RESET retailiq.max_memory;
SELECT lives_ok($$SELECT retailiq.kmeans_segment(f, 3) FROM rs_pts WHERE i <= 1000$$,
                'a small input fits the default budget');

SELECT * FROM finish();
ROLLBACK;
