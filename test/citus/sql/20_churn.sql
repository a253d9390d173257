-- Churn on tables distributed by customer_id.
-- 1. The behavioural features per customer (orders, events; order lines by order_id).
SELECT retailiq.register_event_source('one');
CREATE TEMP TABLE f_one AS SELECT * FROM retailiq.churn_features('2024-04-01');
CREATE TEMP TABLE l_one AS SELECT * FROM retailiq.churn_labels('2024-04-01', 60);
SELECT retailiq.register_event_source('retail');
CREATE TEMP TABLE f_dist AS SELECT * FROM retailiq.churn_features('2024-04-01');
CREATE TEMP TABLE l_dist AS SELECT * FROM retailiq.churn_labels('2024-04-01', 60);
-- same customers; each feature equal within 1e-12 relative (float sums over a customer's
-- rows add in another order on the shards: the largest difference seen is about 5e-16)
SELECT (SELECT count(*) FROM f_dist) AS customers,
       citus_test.diff('SELECT customer_id FROM f_one', 'SELECT customer_id FROM f_dist') AS customers_differing,
       (SELECT count(*) FROM f_one f JOIN f_dist g USING (customer_id),
               unnest(f.features, g.features) u(a, b)
         WHERE a IS DISTINCT FROM b AND abs(a - b) > 1e-12 * greatest(abs(a), 1)) AS features_differing,
       citus_test.diff('TABLE l_one', 'TABLE l_dist') AS label_rows_differing;

-- 2. Purchase summaries (BG/NBD's inputs) per customer: pushed down whole, identical.
CREATE TABLE one.summary AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                               '2024-05-30', '7 days')).*
FROM one.orders GROUP BY customer_id;
CREATE TABLE retail.summary AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                               '2024-05-30', '7 days')).*
FROM retail.orders GROUP BY customer_id;
SELECT citus_test.diff('TABLE one.summary', 'TABLE retail.summary') AS summary_rows_differing;
SELECT * FROM citus_test.plan(
  $$SELECT customer_id, retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8, '2024-05-30', '7 days')
      FROM retail.orders GROUP BY customer_id$$, 'Custom Scan|Task Count|Aggregate');

-- 3. BG/NBD and Gamma-Gamma over a distributed summary: their likelihoods depend on the
--    customers only through the distinct (x, t_x, T) and (x, mean spend) rows and how many
--    customers share each, so the state is those rows with their counts, a bytea: Citus
--    splits the fit, each shard sends its distinct rows with counts, the coordinator merges
--    them and fits. The same model as on one node, to the last bit.
SELECT create_distributed_table('retail.summary', 'customer_id', colocate_with => 'retail.customers');
SELECT retailiq.bgnbd_fit(frequency, recency, t) AS bg1, retailiq.gammagamma_fit(frequency, monetary) AS gg1
FROM one.summary \gset
SELECT retailiq.bgnbd_fit(frequency, recency, t) AS bg2, retailiq.gammagamma_fit(frequency, monetary) AS gg2
FROM retail.summary \gset
-- identical but for the training time
SELECT retailiq.model_info(:'bg1') - 'trained_at' = retailiq.model_info(:'bg2') - 'trained_at' AS bgnbd_same,
       retailiq.model_info(:'gg1') - 'trained_at' = retailiq.model_info(:'gg2') - 'trained_at' AS gammagamma_same,
       round((retailiq.model_info(:'bg2') #>> '{data,r}')::numeric, 4) AS r,
       round((retailiq.model_info(:'bg2') #>> '{data,alpha}')::numeric, 4) AS alpha;
SELECT * FROM citus_test.plan('SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM retail.summary',
                              'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg|Aggregate', 'VERBOSE');
-- what travels: per shard, its distinct rows (32 bytes each with the count) and a header;
-- the state of each shard, measured on the workers with the fit's own transition function
CREATE AGGREGATE citus_test.bgnbd_state(int, float8, float8) (
    SFUNC = retailiq_internal.bgnbd_fit_accum, STYPE = bytea);
CREATE TEMP TABLE shard_state AS
SELECT shardid, result::bigint AS bytes FROM run_command_on_shards('retail.summary',
  $$SELECT octet_length(citus_test.bgnbd_state(frequency, recency, t)) FROM %s$$);
CREATE TEMP TABLE shard_distinct AS
SELECT shardid, result::bigint AS n FROM run_command_on_shards('retail.summary',
  $$SELECT count(DISTINCT (frequency, recency, t)) FROM %s$$);
SELECT (SELECT count(*) FROM retail.summary) AS customers,
       (SELECT sum(n) FROM shard_distinct) AS distinct_rows_sent,
       (SELECT count(DISTINCT (frequency, recency, t)) FROM one.summary) AS distinct_rows_overall,
       (SELECT count(DISTINCT bytes - 32 * n) FROM shard_state JOIN shard_distinct USING (shardid)) AS one_header_size;
-- a forged partial state (as a shard could send, or an INITCOND): XX001
\set VERBOSITY terse
CREATE AGGREGATE citus_test.bgnbd_forged(int, float8, float8) (
    SFUNC = retailiq_internal.bgnbd_fit_accum, STYPE = bytea, FINALFUNC = retailiq_internal.bgnbd_fit_final,
    INITCOND = '\x0100');
SELECT citus_test.bgnbd_forged(1, 1, 2);
\set VERBOSITY default

-- 3b. The same fits with O(model) data per step: bgnbd_fit_iterative / gammagamma_fit_iterative
--     run bgnbd_fit's minimiser on the coordinator and evaluate the likelihood at each step
--     with one split aggregate (bgnbd_loglik, gammagamma_loglik: float8[] states of sums,
--     compensated) over the per-customer table: per evaluation one state of 20 (BG/NBD) or 19
--     (Gamma-Gamma) numbers per shard. The model equals bgnbd_fit's within 1e-5 relative in
--     every parameter (another summation order moves the minimiser's last steps; 4e-9 seen here,
--     5e-7 on CDNOW's Gamma-Gamma, whose q and gamma are strongly correlated)
--     and the same as the iterative fit over the local copy to the last bit here.
SELECT retailiq.bgnbd_fit_iterative('one.summary') AS bgi1, retailiq.gammagamma_fit_iterative('one.summary') AS ggi1 \gset
SELECT retailiq.bgnbd_fit_iterative('retail.summary') AS bgi2, retailiq.gammagamma_fit_iterative('retail.summary') AS ggi2 \gset
SELECT k, abs((retailiq.model_info(:'bgi2') #>> ARRAY['data', k])::float8 / (retailiq.model_info(:'bg1') #>> ARRAY['data', k])::float8 - 1) <= 1e-5 AS bgnbd_within_1e_5,
       (retailiq.model_info(:'bgi2') #> ARRAY['data', k]) = (retailiq.model_info(:'bgi1') #> ARRAY['data', k]) AS same_as_iterative_one_node
FROM unnest(ARRAY['r', 'alpha', 'a', 'b']) k;
SELECT k, abs((retailiq.model_info(:'ggi2') #>> ARRAY['data', k])::float8 / (retailiq.model_info(:'gg1') #>> ARRAY['data', k])::float8 - 1) <= 1e-5 AS gammagamma_within_1e_5,
       (retailiq.model_info(:'ggi2') #> ARRAY['data', k]) = (retailiq.model_info(:'ggi1') #> ARRAY['data', k]) AS same_as_iterative_one_node
FROM unnest(ARRAY['p', 'q', 'v']) k;
SELECT (retailiq.model_info(:'bgi2') #> '{metrics}') - 'iterations' - 'log_likelihood' - 'likelihood_queries' = (retailiq.model_info(:'bg1') #> '{metrics}') - 'iterations' - 'log_likelihood' AS bgnbd_counts_same,
       abs((retailiq.model_info(:'bgi2') #>> '{metrics,log_likelihood}')::float8 / (retailiq.model_info(:'bg1') #>> '{metrics,log_likelihood}')::float8 - 1) <= 1e-12 AS bgnbd_loglik_within_1e_12,
       (retailiq.model_info(:'ggi2') #> '{metrics}') - 'iterations' - 'log_likelihood' - 'likelihood_queries' = (retailiq.model_info(:'gg1') #> '{metrics}') - 'iterations' - 'log_likelihood' AS gammagamma_counts_same,
       abs((retailiq.model_info(:'ggi2') #>> '{metrics,log_likelihood}')::float8 / (retailiq.model_info(:'gg1') #>> '{metrics,log_likelihood}')::float8 - 1) <= 1e-12 AS gammagamma_loglik_within_1e_12;
-- the evaluations (each one query, one state per shard) of the two fits
SELECT (retailiq.model_info(:'bgi2') #>> '{metrics,likelihood_queries}')::int BETWEEN 10 AND 200 AS bgnbd_queries_counted,
       (retailiq.model_info(:'ggi2') #>> '{metrics,likelihood_queries}')::int BETWEEN 10 AND 200 AS gammagamma_queries_counted;
-- one evaluation: a partial state per shard, combined on the coordinator
SELECT * FROM citus_test.plan($$SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, '{0,0.5,0,0}') FROM retail.summary$$,
                              'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg|Aggregate', 'VERBOSE');
-- what travels per evaluation: one float8[] per shard (its text form, as Citus sends it)
SELECT count(*) AS shards, max(length(result)) <= 500 AS each_under_500_bytes,
       bool_and(array_length(result::float8[], 1) = 20) AS twenty_numbers
FROM run_command_on_shards('retail.summary',
  $$SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, '{0,0.5,0,0}') FROM %s$$);
-- the per-customer rows computed on the workers by a view (GROUP BY the distribution column,
-- pushed down with the partial aggregate above it): the same model, the rows never gathered
-- (each evaluation recomputes them from the orders: keep a per-customer table for speed)
CREATE VIEW retail.summary_live AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8, '2024-05-30', '7 days')).*
FROM retail.orders GROUP BY customer_id;
SELECT retailiq.model_info(retailiq.bgnbd_fit_iterative('retail.summary_live')) - 'trained_at'
       = retailiq.model_info(:'bgi2') - 'trained_at' AS view_model_same;
SELECT * FROM citus_test.plan($$SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, '{0,0,0,0}') FROM retail.summary_live$$,
                              'Custom Scan|Task Count|Aggregate|Group Key|Seq Scan');
-- bad input: the fits' own errors; a forged or mixed state: XX001 / 22023
\set VERBOSITY terse
SELECT retailiq.bgnbd_fit_iterative(NULL);
SELECT retailiq.bgnbd_fit_iterative('retail.summary', 'nope');
SELECT retailiq.bgnbd_fit_iterative('retail.summary', 'frequency', 't', 'recency');
CREATE TABLE one.no_customers (frequency int, recency float8, t float8, monetary float8);
SELECT retailiq.bgnbd_fit_iterative('one.no_customers');
SELECT retailiq.gammagamma_fit_iterative('one.no_customers');
SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, '{0,0,0}') FROM retail.summary;
SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, ARRAY[0, 0, 0, customer_id % 2]::float8[]) FROM one.summary;
SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, '{0,0,0,31}') FROM retail.summary;
SELECT retailiq_internal.bgnbd_loglik_combine('{0,0,0,0,1.5,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}', '{0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}');
CREATE AGGREGATE citus_test.gg_forged(int, float8, float8[]) (
    SFUNC = retailiq_internal.gammagamma_loglik_accum, STYPE = float8[], INITCOND = '{0,0,0,1}');
SELECT citus_test.gg_forged(1, 2.0, '{0,0,0}');
\set VERBOSITY default

-- 4. The logistic model by partial sums (logit_start + logit_step, state float8[] / bytea):
--    each Newton step's gradient and Hessian are summed on the workers, only (p + p^2) numbers
--    per shard travel. Same coefficients as one node within 1e-9 (summation order differs).
CREATE TABLE one.train AS
SELECT f.customer_id, f.features, l.churned
FROM f_one f JOIN l_one l USING (customer_id);
CREATE TABLE retail.train (customer_id int, features float8[], churned bool);
SELECT create_distributed_table('retail.train', 'customer_id', colocate_with => 'retail.customers');
INSERT INTO retail.train SELECT * FROM one.train;
SELECT retailiq.logit_fit_iterative('one.train', 'features', 'churned', 1.0) AS m1 \gset
SELECT retailiq.logit_fit_iterative('retail.train', 'features', 'churned', 1.0) AS m2 \gset
SELECT max(abs(a - b) / greatest(abs(a), 1)) < 1e-9 AS coefficients_agree, count(*) AS coefficients,
       abs((:'m1'::retailiq.model::text::jsonb #>> '{data,intercept}')::float8 - (:'m2'::retailiq.model::text::jsonb #>> '{data,intercept}')::float8) < 1e-9 AS intercept_agrees,
       retailiq.model_info(:'m1') #> '{metrics,iterations}' = retailiq.model_info(:'m2') #> '{metrics,iterations}' AS steps_agree
FROM unnest(ARRAY(SELECT jsonb_array_elements_text(:'m1'::retailiq.model::text::jsonb #> '{data,coef}')::float8),
            ARRAY(SELECT jsonb_array_elements_text(:'m2'::retailiq.model::text::jsonb #> '{data,coef}')::float8)) u(a, b);
SELECT * FROM citus_test.plan(
  format('SELECT retailiq.logit_step(features, churned, %L::retailiq.model) FROM retail.train', :'m2'),
  'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg|Aggregate', 'VERBOSE');
