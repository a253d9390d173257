-- k-means on a distributed table. kmeans_stream seeds with kmeans_segment on a sample (the
-- sample rows, chosen by a hash of their values, travel to the coordinator) and then runs
-- kmeans_pass, one Lloyd iteration per query: its state is a bytea of k x d sums and k counts,
-- so each pass is a partial aggregate on every shard and only those sums travel.
CREATE TABLE one.rfm_features AS
SELECT customer_id, ARRAY[recency_days, frequency, monetary]::float8[] AS x
FROM retailiq.rfm_segments('one.orders', '2024-05-30');
CREATE TABLE retail.rfm_features (customer_id int, x float8[]);
SELECT create_distributed_table('retail.rfm_features', 'customer_id', colocate_with => 'retail.customers');
INSERT INTO retail.rfm_features SELECT * FROM one.rfm_features;
-- sample_size below the row count, so the passes over the whole table do the work
SELECT retailiq.kmeans_stream('one.rfm_features', 'x', 4, 7, sample_size => 150) AS km1 \gset
SELECT retailiq.kmeans_stream('retail.rfm_features', 'x', 4, 7, sample_size => 150) AS km2 \gset
-- same centroids (1e-9 relative: the per-shard sums add in another order), same sizes and passes
SELECT (SELECT max(abs(a.v - b.v) / greatest(abs(a.v), 1))
          FROM (SELECT c.cluster, u.v, u.i FROM retailiq.kmeans_centroids(:'km1') c, unnest(c.centroid) WITH ORDINALITY u(v, i)) a
          JOIN (SELECT c.cluster, u.v, u.i FROM retailiq.kmeans_centroids(:'km2') c, unnest(c.centroid) WITH ORDINALITY u(v, i)) b
            USING (cluster, i)) < 1e-9 AS centroids_agree,
       retailiq.model_info(:'km1') #> '{data,sizes}' = retailiq.model_info(:'km2') #> '{data,sizes}' AS sizes_agree,
       retailiq.model_info(:'km1') #> '{metrics,iterations}' = retailiq.model_info(:'km2') #> '{metrics,iterations}' AS passes_agree,
       retailiq.model_info(:'km2') #>> '{params,algorithm}' AS algorithm;
-- one pass: partial aggregates on the 8 shards, combined on the coordinator (8 rows of k x d sums)
SELECT * FROM citus_test.plan(
  format($$SELECT retailiq.kmeans_pass(x, %L::retailiq.model) FROM retail.rfm_features$$, :'km2'),
  'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg', 'VERBOSE');
-- kmeans_segment (everything in one backend) gathers the rows instead: every row reaches the coordinator
SELECT * FROM citus_test.plan(
  $$SELECT retailiq.kmeans_segment(x, 4, 7) FROM retail.rfm_features$$, 'Aggregate|Custom Scan', 'ANALYZE, TIMING OFF');
