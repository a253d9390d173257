-- k-means segmentation: kmeans_segment (k-means++ seeding, Lloyd iterations through
-- OpenBLAS, best of n_init restarts), kmeans_assign, kmeans_distance, kmeans_silhouette.
-- Fisher's Iris (test/data/segment/README.md) against scikit-learn 1.2.1's figures.
SET jit = off;   -- llvmjit's dlopen trips a known valgrind false positive in glibc's ld.so
CREATE TABLE iris (id int, sepal_length float8, sepal_width float8, petal_length float8,
                   petal_width float8, species text);
\copy iris FROM 'test/data/segment/iris.csv' CSV HEADER
CREATE VIEW iris_f AS
SELECT id, species, ARRAY[sepal_length, sepal_width, petal_length, petal_width] AS f FROM iris;

-- k = 3 on the raw measurements (standardize => false), 10 restarts as scikit-learn's default
CREATE TABLE models AS
SELECT 'raw' AS name, retailiq.kmeans_segment(f, 3, 42, 10, 300, 1e-4, false) AS m FROM iris_f
UNION ALL
SELECT 'standardized', retailiq.kmeans_segment(f, 3, 42, 10) FROM iris_f;
SELECT retailiq.model_kind(m), retailiq.model_info(m) #> '{params}' AS params FROM models WHERE name = 'raw';
-- inertia against scikit-learn's KMeans(3, n_init=10): 78.851441 raw, 139.820496 standardized
SELECT name, round((retailiq.model_info(m) #>> '{metrics,inertia}')::numeric, 6) AS inertia,
       round((retailiq.model_info(m) #>> '{metrics,inertia}')::numeric
             / CASE name WHEN 'raw' THEN 78.851441426146 ELSE 139.82049635974982 END, 6) AS ratio_to_sklearn,
       (retailiq.model_info(m) #>> '{metrics,converged}')::bool AS converged
FROM models ORDER BY name;
-- centroids in original units (cm), whatever the clustering space; sizes sum to 150
SELECT name, cluster, size, (SELECT array_agg(round(c::numeric, 4)) FROM unnest(centroid) c) AS centroid
FROM models, retailiq.kmeans_centroids(m) ORDER BY name, centroid[3];
-- the clusters against the species
SELECT species, array_agg(c ORDER BY c) AS clusters
FROM (SELECT species, retailiq.kmeans_assign(m, f) AS c
      FROM iris_f, models WHERE name = 'raw') s GROUP BY species ORDER BY species;
-- kmeans_assign agrees with the training sizes; kmeans_distance^2 sums to the inertia
SELECT c.cluster, c.size, count(*) AS assigned
FROM models, retailiq.kmeans_centroids(m) c
JOIN (SELECT retailiq.kmeans_assign(m, f) AS cluster FROM iris_f, models WHERE name = 'raw') a USING (cluster)
WHERE name = 'raw' GROUP BY 1, 2 ORDER BY 1;
SELECT name, round(sum(retailiq.kmeans_distance(m, f) ^ 2)::numeric, 6) AS sum_sq_distance
FROM iris_f, models GROUP BY name ORDER BY name;
-- silhouette: scikit-learn's silhouette_score is 0.552819 for the raw clustering
SELECT round(retailiq.kmeans_silhouette(f, m)::numeric, 6) AS silhouette
FROM iris_f, models WHERE name = 'raw';
-- sampled (100 of 150 rows, seeded): an estimate, reproducible for the seed
SELECT round(retailiq.kmeans_silhouette(f, m, 100, 7)::numeric, 6) = round(retailiq.kmeans_silhouette(f, m, 100, 7)::numeric, 6) AS same,
       abs(retailiq.kmeans_silhouette(f, m, 100, 7) - 0.5528) < 0.05 AS close
FROM iris_f, models WHERE name = 'raw';

-- The elbow: inertia for k = 2..6 beside scikit-learn's (KMeans(k, n_init=10)); look for the
-- k after which inertia stops falling fast (here 3), and the silhouette's peak.
SELECT k, round((retailiq.model_info(m) #>> '{metrics,inertia}')::numeric, 4) AS inertia,
       sklearn, (retailiq.model_info(m) #>> '{metrics,inertia}')::float8 / sklearn <= 1.005 AS within_half_percent,
       (SELECT round(retailiq.kmeans_silhouette(f, s.m)::numeric, 4) FROM iris_f) AS silhouette
FROM (VALUES (2, 152.347952), (3, 78.851441), (4, 57.228473), (5, 46.472230), (6, 39.039987)) ref(k, sklearn),
     LATERAL (SELECT retailiq.kmeans_segment(f, k, 42, 10, 300, 1e-4, false) AS m FROM iris_f) s
ORDER BY k;
SELECT round((retailiq.model_info(retailiq.kmeans_segment(f, 1, 42, 1, 300, 1e-4, false))
             #>> '{metrics,inertia}')::numeric, 4) AS inertia_k1 FROM iris_f;

-- Deterministic: same seed, same model; any row order (a parallel plan's) gives it too.
SELECT substr(a.m::text, strpos(a.m::text, '"trained_by"')) = substr(b.m::text, strpos(b.m::text, '"trained_by"'))
       AS same_model
FROM (SELECT retailiq.kmeans_segment(f, 3, 7) AS m FROM iris_f) a,
     (SELECT retailiq.kmeans_segment(f, 3, 7) AS m
      FROM (SELECT f FROM iris_f ORDER BY species DESC, id DESC) r) b;
SELECT (retailiq.model_info(retailiq.kmeans_segment(f, 3, 1, 1)) #>> '{metrics,inertia}')::float8
     = (retailiq.model_info(retailiq.kmeans_segment(f, 3, 1, 1)) #>> '{metrics,inertia}')::float8 AS same_inertia
FROM iris_f;

-- Far-apart groups of unequal size: each gets its own cluster
SELECT array_agg(size ORDER BY size) AS sizes
FROM (SELECT retailiq.kmeans_segment(ARRAY[x, 0], 3, 3, 1) AS m
      FROM (VALUES (0.0), (0.0), (0.0), (0.0), (0.1), (10.0), (10.1), (1000.0)) v(x)) s,
     retailiq.kmeans_centroids(m);

-- Every row's label in a fit is its nearest centroid by the plain rule (kmeans_assign), so a
-- model's sizes are the counts of kmeans_assign over its rows: a check of the assignment
-- kernels (for k <= 8 on AVX2 CPUs, four rows per register with the centers padded to 8, and
-- only the rows whose label may change recomputed after a restart's first step), for
-- k = 2, 5, 8 and 3, 8, 9 features (four at a time and the rest), tol 0 (until no label
-- changes; 2 to 21 iterations here).
CREATE TABLE km_blobs AS
SELECT i, ARRAY(SELECT (i % 4) * ((t % 3) - 1) * 1.5
                       + (((i * 2654435761 + t * 40503) % 1000003) + ((i * 40503 + t * 2654435761) % 999983)) / 1e6 - 1
                FROM generate_series(1, 9) t)::float8[] AS f
FROM generate_series(1::bigint, 3000) i;
SELECT k, d, (retailiq.model_info(m) #>> '{metrics,iterations}')::int >= 2 AS iterated,
       sizes = assigned AS labels_nearest
FROM (VALUES (2), (5), (8)) ks(k), (VALUES (3), (8), (9)) ds(d),
     LATERAL (SELECT retailiq.kmeans_segment(f[1:d], k, 11, 2, 300, 0, false) AS m FROM km_blobs) s,
     LATERAL (SELECT array_agg(size ORDER BY cluster) AS sizes FROM retailiq.kmeans_centroids(m)) c,
     LATERAL (SELECT array_agg(n ORDER BY a) AS assigned
              FROM (SELECT retailiq.kmeans_assign(m, f[1:d]) AS a, count(*) AS n FROM km_blobs GROUP BY 1) q) q
ORDER BY k, d;
DROP TABLE km_blobs;

-- Streaming: k-means++ on a sample, then Lloyd passes (kmeans_pass) over every row.
CREATE TABLE iris_t AS SELECT * FROM iris_f;
SELECT retailiq.kmeans_stream('iris_t', 'f', 3, 42, 10, 300, 1e-4, false, 75) AS sm \gset
SELECT retailiq.model_info(:'sm') #>> '{params,algorithm}' AS algorithm,
       (retailiq.model_info(:'sm') #>> '{metrics,converged}')::bool AS converged,
       (retailiq.model_info(:'sm') #>> '{metrics,inertia}')::float8 / 78.851441426146 < 1.005 AS within_half_percent
FROM (SELECT 1) x;
-- one pass by hand: the pass state is a bytea of per-center sums that combine by addition
-- (from the converged raw model: the pass's inertia is the model's, and nothing moves)
SELECT retailiq.model_info(p) #>> '{metrics,n_rows}' AS n_rows,
       round((retailiq.model_info(p) #>> '{metrics,inertia}')::numeric, 6) AS inertia,
       (retailiq.model_info(p) #>> '{metrics,center_shift}')::float8 < 1e-20 AS unmoved
FROM (SELECT retailiq.kmeans_pass(f, (SELECT m FROM models WHERE name = 'raw')) AS p FROM iris_f) s;
-- a deterministic sample by feature values
SELECT count(*) FILTER (WHERE retailiq.kmeans_sample(f, 0.5, 1)) BETWEEN 50 AND 100 AS about_half,
       count(*) FILTER (WHERE retailiq.kmeans_sample(f, 0.0, 1)) AS none,
       count(*) FILTER (WHERE retailiq.kmeans_sample(f, 1.0, 1)) AS all_rows
FROM iris_f;

-- Bad input is an ERROR with a SQLSTATE and a hint.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT retailiq.kmeans_segment(f, 0) FROM iris_f;
SELECT count(DISTINCT f) AS distinct_rows FROM iris_f;            -- one flower is measured twice
SELECT retailiq.kmeans_segment(f, 150) FROM iris_f;
SELECT retailiq.kmeans_segment(f, 3) FROM iris_f WHERE false;
SELECT retailiq.kmeans_segment(f, 3, 42, 0) FROM iris_f;
SELECT retailiq.kmeans_segment(f, 3, 42, 4, 0) FROM iris_f;
SELECT retailiq.kmeans_segment(f, 3, 42, 4, 300, -1) FROM iris_f;
SELECT retailiq.kmeans_segment(f, 3, 42, 4, 300, 'NaN') FROM iris_f;
SELECT retailiq.kmeans_segment(f, NULL) FROM iris_f;
SELECT retailiq.kmeans_segment(CASE WHEN id = 9 THEN f[1:3] ELSE f END, 3) FROM iris_f;
SELECT retailiq.kmeans_segment(CASE WHEN id = 9 THEN NULL ELSE f END, 3) FROM iris_f;
SELECT retailiq.kmeans_segment(CASE WHEN id = 9 THEN ARRAY[1, NULL, 2, 3]::float8[] ELSE f END, 3) FROM iris_f;
SELECT retailiq.kmeans_segment(CASE WHEN id = 9 THEN ARRAY[1, 'NaN', 2, 3]::float8[] ELSE f END, 3) FROM iris_f;
SELECT retailiq.kmeans_segment(CASE WHEN id = 9 THEN ARRAY[1, '-Infinity', 2, 3]::float8[] ELSE f END, 3) FROM iris_f;
SELECT retailiq.kmeans_segment(ARRAY[]::float8[], 1);
SELECT retailiq.kmeans_segment(f, id % 2 + 2) FROM iris_f;
SELECT retailiq.kmeans_assign(m, ARRAY[1.0, 2.0]) FROM models WHERE name = 'raw';
SELECT retailiq.kmeans_distance(m, ARRAY[1.0, 2.0, 'Infinity', 4.0]) FROM models WHERE name = 'raw';
SELECT retailiq.kmeans_assign('{"kind": "ets", "params": {"k": 3}}', ARRAY[1.0, 2.0, 3.0, 4.0]);
SELECT retailiq.kmeans_assign('{"kind": "kmeans", "params": {"k": 3}, "data": {"centroids_scaled": [[1.0, 2.0]], "scaler_mean": [0.0, 0.0], "scaler_scale": [1.0, 1.0]}}',
                              ARRAY[1.0, 2.0]);
SELECT retailiq.kmeans_segment(f, 1) AS m1 FROM iris_f \gset
SELECT retailiq.kmeans_silhouette(f, :'m1') FROM iris_f;
SELECT retailiq.kmeans_silhouette(f, m, 1) FROM iris_f, models WHERE name = 'raw';
SELECT retailiq.kmeans_sample(ARRAY[1.0], 2.0);
SELECT retailiq.kmeans_stream('iris_t', 'f', 3, sample_size => 2);
