-- Churn on tables distributed by customer_id.
-- 1. The behavioural features per customer (orders, events; order lines by order_id).
SELECT retailiq.register_event_source('one');
CREATE TEMP TABLE f_one AS SELECT * FROM retailiq.churn_features('2024-04-01');
CREATE TEMP TABLE l_one AS SELECT * FROM retailiq.churn_labels('2024-04-01', 60);
SELECT retailiq.register_event_source('retail');
CREATE TEMP TABLE f_dist AS SELECT * FROM retailiq.churn_features('2024-04-01');
CREATE TEMP TABLE l_dist AS SELECT * FROM retailiq.churn_labels('2024-04-01', 60);
SELECT (SELECT count(*) FROM f_dist) AS customers,
       citus_test.diff('TABLE f_one', 'TABLE f_dist') AS feature_rows_differing,
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

-- 3. BG/NBD and Gamma-Gamma over a distributed summary: the fits need every customer's row
--    (their state is the rows, `internal`), so Citus gathers one row per customer to the
--    coordinator and fits there: the same model as on one node.
SELECT create_distributed_table('retail.summary', 'customer_id', colocate_with => 'retail.customers');
SELECT retailiq.bgnbd_fit(frequency, recency, t) AS bg1, retailiq.gammagamma_fit(frequency, monetary) AS gg1
FROM one.summary WHERE frequency > 0 OR true \gset
SELECT retailiq.bgnbd_fit(frequency, recency, t) AS bg2, retailiq.gammagamma_fit(frequency, monetary) AS gg2
FROM retail.summary \gset
SELECT :'bg1'::retailiq.model::text = :'bg2'::retailiq.model::text AS bgnbd_same,
       :'gg1'::retailiq.model::text = :'gg2'::retailiq.model::text AS gammagamma_same;
SELECT retailiq.model_info(:'bg2') #> '{params}' AS bgnbd_params;

-- 4. The logistic model by partial sums (logit_start + logit_step, state float8[] / bytea):
--    each Newton step's gradient and Hessian are summed on the workers, only (p + p^2) numbers
--    per shard travel. Same coefficients as one node within 1e-9 (summation order differs).
CREATE TABLE one.train AS
SELECT f.customer_id, f.features, l.churned::int::float8 AS churned
FROM f_one f JOIN l_one l USING (customer_id);
CREATE TABLE retail.train (customer_id int, features float8[], churned float8);
SELECT create_distributed_table('retail.train', 'customer_id', colocate_with => 'retail.customers');
INSERT INTO retail.train SELECT * FROM one.train;
SELECT retailiq.logit_fit_iterative('one.train', 'features', 'churned', 1.0) AS m1 \gset
SELECT retailiq.logit_fit_iterative('retail.train', 'features', 'churned', 1.0) AS m2 \gset
SELECT max(abs(a.c - b.c)) < 1e-9 AS coefficients_agree, count(*) AS coefficients
FROM jsonb_array_elements_text(retailiq.model_info(:'m1') #> '{data,coefficients}') WITH ORDINALITY a(c0, i)
CROSS JOIN LATERAL (SELECT a.c0::float8 AS c) ac
JOIN LATERAL (SELECT e::float8 AS c, o FROM jsonb_array_elements_text(retailiq.model_info(:'m2') #> '{data,coefficients}') WITH ORDINALITY t(e, o)) b ON b.o = a.i
CROSS JOIN LATERAL (SELECT ac.c) a2(c0)
GROUP BY ();
SELECT * FROM citus_test.plan(
  format($$SELECT retailiq.logit_step(features, churned, %L::retailiq.model) FROM retail.train$$, :'m2'),
  'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg|Aggregate');
