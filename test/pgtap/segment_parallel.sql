-- segment: serial and parallel plans give the same answers (real partial aggregation,
-- checked in the plan), and every bad input is the right SQLSTATE.
BEGIN;
SELECT plan(22);
SET LOCAL jit = off;   -- keeps llvmjit's dlopen out of valgrind runs

CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
-- a model's text form from "trained_by" on: everything but the training timestamp
CREATE FUNCTION pg_temp.strip(m retailiq.model) RETURNS text LANGUAGE sql AS $$
    SELECT substr(m::text, strpos(m::text, '"trained_by"')) $$;

-- 30000 points in 3 features around 4 centres, from a fixed formula
CREATE TABLE seg_pts AS
SELECT i, ARRAY[(i % 4) * 5 + (sin(i * 12.9898) * 43758.5453 - floor(sin(i * 12.9898) * 43758.5453)) * 3,
                (i % 3) * 4 + (sin(i * 78.233) * 43758.5453 - floor(sin(i * 78.233) * 43758.5453)) * 2,
                sin(i * 3.7)]::float8[] AS f
FROM generate_series(1, 30000) i;
ANALYZE seg_pts;
SELECT retailiq.generate_sample_data('tap_rs', 1500, 4, 80, 400, 11) IS NOT NULL;
SELECT max(ordered_at) AS as_of FROM tap_rs.orders \gset

-- serial answers
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TABLE serial_models AS
SELECT pg_temp.strip(retailiq.kmeans_segment(f, 5)) AS std,
       pg_temp.strip(retailiq.kmeans_segment(f, 6, 9, 3, 300, 1e-4, false)) AS raw
FROM seg_pts;
CREATE TABLE serial_rfm AS
SELECT customer_id, (retailiq.rfm_agg(ordered_at, total_amount, :'as_of')).*
FROM tap_rs.orders GROUP BY customer_id;
CREATE TABLE serial_breaks AS
SELECT retailiq.rfm_breaks(ROW(recency_days, frequency, monetary, first_order, last_order)::retailiq.rfm) AS b
FROM serial_rfm;
SELECT retailiq.kmeans_segment(f, 4) AS m4 FROM seg_pts \gset
CREATE TABLE serial_sil AS SELECT retailiq.kmeans_silhouette(f, :'m4', 2000, 3) AS s FROM seg_pts;
CREATE TABLE serial_pass AS SELECT retailiq.kmeans_pass(f, :'m4') AS p FROM seg_pts;

-- the same under a parallel plan whose workers do all the scanning
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = off;
SELECT ok(strpos(pg_temp.plan_of('SELECT retailiq.kmeans_segment(f, 5) FROM seg_pts'), 'Partial Aggregate') > 0,
          'kmeans_segment gets a partial (parallel) aggregation plan');
SELECT is((SELECT pg_temp.strip(retailiq.kmeans_segment(f, 5)) FROM seg_pts),
          (SELECT std FROM serial_models), 'parallel kmeans_segment (standardized) = serial, bit for bit');
SELECT is((SELECT pg_temp.strip(retailiq.kmeans_segment(f, 6, 9, 3, 300, 1e-4, false)) FROM seg_pts),
          (SELECT raw FROM serial_models), 'parallel kmeans_segment (raw) = serial, bit for bit');
SELECT ok(strpos(pg_temp.plan_of('SELECT customer_id, retailiq.rfm_agg(ordered_at, total_amount, now()) FROM tap_rs.orders GROUP BY 1'),
                 'Partial') > 0, 'rfm_agg gets a partial aggregation plan');
SELECT is((SELECT count(*) FROM (
             SELECT customer_id, (retailiq.rfm_agg(ordered_at, total_amount, :'as_of')).*
             FROM tap_rs.orders GROUP BY customer_id
             EXCEPT SELECT * FROM serial_rfm) d), 0::bigint, 'parallel rfm_agg = serial for every customer');
SELECT is((SELECT retailiq.rfm_agg(ordered_at, total_amount, :'as_of') FROM tap_rs.orders),
          (SELECT ROW(floor(extract(epoch FROM (:'as_of'::timestamptz - max(ordered_at))) / 86400)::int,
                      count(*), sum(total_amount), min(ordered_at), max(ordered_at))::retailiq.rfm
           FROM tap_rs.orders WHERE total_amount IS NOT NULL),
          'one parallel rfm_agg over all orders = plain SQL (numeric state serialized and combined)');
SELECT is((SELECT retailiq.rfm_breaks(ROW(recency_days, frequency, monetary, first_order, last_order)::retailiq.rfm)
           FROM serial_rfm), (SELECT b FROM serial_breaks), 'parallel rfm_breaks = serial');
SELECT is((SELECT retailiq.kmeans_silhouette(f, :'m4', 2000, 3) FROM seg_pts),
          (SELECT s FROM serial_sil), 'parallel sampled silhouette = serial');
SELECT is((SELECT (retailiq.model_info(retailiq.kmeans_pass(f, :'m4')) #>> '{metrics,n_rows}')::int FROM seg_pts),
          30000, 'parallel kmeans_pass sees every row');
SELECT ok((SELECT max(abs(a.c - b.c)) < 1e-9
           FROM (SELECT row_number() OVER () AS i, c FROM retailiq.kmeans_centroids(
                   (SELECT retailiq.kmeans_pass(f, :'m4') FROM seg_pts)) x, unnest(x.centroid) c) a
           JOIN (SELECT row_number() OVER () AS i, c FROM serial_pass, retailiq.kmeans_centroids(p) x,
                        unnest(x.centroid) c) b USING (i)),
          'parallel kmeans_pass centroids = serial (up to summation order)');
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;

-- errors and their SQLSTATEs
SELECT throws_ok('SELECT retailiq.kmeans_segment(f, 0) FROM seg_pts', '22023', NULL, 'k < 1');
SELECT throws_ok('SELECT retailiq.kmeans_segment(ARRAY[1.0, 2.0], 2)', '22023', NULL, 'k > distinct rows');
SELECT throws_ok('SELECT retailiq.kmeans_segment(f, 2) FROM seg_pts WHERE false', '22023', NULL, 'empty input');
SELECT throws_ok('SELECT retailiq.kmeans_segment(CASE WHEN i = 7 THEN f[1:2] ELSE f END, 2) FROM seg_pts',
                 '2202E', NULL, 'unequal feature lengths');
SELECT throws_ok('SELECT retailiq.kmeans_segment(CASE WHEN i = 7 THEN NULL ELSE f END, 2) FROM seg_pts',
                 '22004', NULL, 'NULL features');
SELECT throws_ok('SELECT retailiq.kmeans_segment(CASE WHEN i = 7 THEN ARRAY[1, NULL, 1]::float8[] ELSE f END, 2) FROM seg_pts',
                 '22004', NULL, 'NULL element');
SELECT throws_ok('SELECT retailiq.kmeans_segment(CASE WHEN i = 7 THEN ARRAY[1, ''NaN'', 1]::float8[] ELSE f END, 2) FROM seg_pts',
                 '22023', NULL, 'NaN element');
SELECT throws_ok('SELECT retailiq.kmeans_segment(f, 2, 1, 0) FROM seg_pts', '22023', NULL, 'n_init < 1');
SELECT throws_ok($$SELECT retailiq.kmeans_assign('{"kind": "logit"}', ARRAY[1.0])$$, '22023', NULL, 'wrong model kind');
SELECT throws_ok($$SELECT retailiq.kmeans_assign('{"kind": "kmeans", "params": {"k": 1}}', ARRAY[1.0])$$,
                 'XX001', NULL, 'model without centroids is corrupt');
SELECT throws_ok($$SELECT retailiq.kmeans_assign('{"kind": "kmeans", "params": {"k": 1}, "data": {"centroids_scaled": [[1.0]], "scaler_mean": [0.0], "scaler_scale": [0.0]}}', ARRAY[1.0])$$,
                 'XX001', NULL, 'model with a zero scale is corrupt');
-- 30000 rows of 6 features (1.4 MB) need more than 1 MB: stopped with 53200 before they are held
SET LOCAL retailiq.max_memory = '1MB';
SELECT throws_ok('SELECT retailiq.kmeans_segment(f || f, 2) FROM seg_pts', '53200', NULL,
                 'memory budget reported before it runs out');

SELECT * FROM finish();
ROLLBACK;
