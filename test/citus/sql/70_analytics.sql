-- Analytics not covered by the files before, on the cluster against one node: the accuracy
-- aggregates with an extra argument (mase, coverage, quantile_loss), the logistic fit in one
-- aggregate (logit_fit), the forecast backtest and the masking views.
-- (Run after 50_forecast, which builds one.fc / retail.fc, and 20_churn, which builds the
-- training tables.)

-- 1. mase, coverage, quantile_loss: float8[] states, partial sums per shard (split), equal
--    to one node within 1e-12 relative; grouped by store they are pushed down whole.
CREATE VIEW one.fc_bands AS
SELECT store_id, product_id, day, actual, forecast, forecast * 0.7 AS lower, forecast * 1.3 AS upper,
       1.0 + product_id % 3 AS scale FROM one.fc;
CREATE VIEW retail.fc_bands AS
SELECT store_id, product_id, day, actual, forecast, forecast * 0.7 AS lower, forecast * 1.3 AS upper,
       1.0 + product_id % 3 AS scale FROM retail.fc;
SELECT abs(a.mase - b.mase) <= 1e-12 * abs(a.mase) AS mase_agrees,
       a.coverage = b.coverage AS coverage_agrees,
       abs(a.ql - b.ql) <= 1e-12 * abs(a.ql) AS quantile_loss_agrees,
       round(b.mase::numeric, 6) AS mase, round(b.coverage::numeric, 6) AS coverage, round(b.ql::numeric, 6) AS quantile_loss
FROM (SELECT retailiq.mase(actual, forecast, scale), retailiq.coverage(actual, lower, upper),
             retailiq.quantile_loss(actual, forecast, 0.9) AS ql FROM one.fc_bands) a,
     (SELECT retailiq.mase(actual, forecast, scale), retailiq.coverage(actual, lower, upper),
             retailiq.quantile_loss(actual, forecast, 0.9) AS ql FROM retail.fc_bands) b;
SELECT * FROM citus_test.plan(
  $$SELECT retailiq.mase(actual, forecast, scale), retailiq.coverage(actual, lower, upper),
           retailiq.quantile_loss(actual, forecast, 0.9) FROM retail.fc_bands$$,
  'Custom Scan|Task Count|worker_partial_agg\(|coord_combine_agg\(|^Aggregate', 'VERBOSE');
SELECT citus_test.diff(
  $$SELECT store_id, round(retailiq.mase(actual, forecast, scale)::numeric, 10), retailiq.coverage(actual, lower, upper),
           round(retailiq.quantile_loss(actual, forecast, 0.5)::numeric, 10) FROM one.fc_bands GROUP BY 1$$,
  $$SELECT store_id, round(retailiq.mase(actual, forecast, scale)::numeric, 10), retailiq.coverage(actual, lower, upper),
           round(retailiq.quantile_loss(actual, forecast, 0.5)::numeric, 10) FROM retail.fc_bands GROUP BY 1$$) AS store_rows_differing;
SELECT * FROM citus_test.plan(
  $$SELECT store_id, retailiq.quantile_loss(actual, forecast, 0.5) FROM retail.fc_bands GROUP BY 1$$,
  'Custom Scan|Task Count|Aggregate');

-- 2. logit_fit in one aggregate: its state holds the training rows (internal), so Citus
--    gathers them to the coordinator and fits there: the same model as on one node (the
--    final function sorts the rows, so their order of arrival does not matter).
--    logit_fit_iterative (20_churn) is the path that keeps the rows on the workers.
SELECT retailiq.logit_fit(features, churned, 1.0) AS lf1 FROM one.train \gset
SELECT retailiq.logit_fit(features, churned, 1.0) AS lf2 FROM retail.train \gset
SELECT retailiq.model_info(:'lf1') - 'trained_at' = retailiq.model_info(:'lf2') - 'trained_at' AS logit_fit_same;
SELECT * FROM citus_test.plan('SELECT retailiq.logit_fit(features, churned, 1.0) FROM retail.train',
                              'Custom Scan|Task Count|Aggregate');

-- 3. The forecast backtest over a sales source on a distributed table: each origin's fits
--    read the source as any query; the same errors per method and origin as one node.
CREATE VIEW one.sales_by_item AS
SELECT store_id || '/' || product_id AS series, store_id, product_id, day, units::float8 AS units
FROM one.daily_sales WHERE product_id <= 6;
CREATE VIEW retail.sales_by_item AS
SELECT store_id || '/' || product_id AS series, store_id, product_id, day, units::float8 AS units
FROM retail.daily_sales WHERE product_id <= 6;
SET client_min_messages = warning;
SELECT count(*) AS registered FROM retailiq.register_sales_source('bt_one', 'one.sales_by_item', 'series', 'day', 'units',
       method => 'snaive', store_column => 'store_id', product_column => 'product_id');
SELECT count(*) AS registered FROM retailiq.register_sales_source('bt_dist', 'retail.sales_by_item', 'series', 'day', 'units',
       method => 'snaive', store_column => 'store_id', product_column => 'product_id');
RESET client_min_messages;
SELECT citus_test.diff(
  $$SELECT method, origin, series, points, round(wape::numeric, 10), round(smape::numeric, 10), round(mase::numeric, 10),
           round(bias::numeric, 10), coverage FROM retailiq.backtest('bt_one', ARRAY['snaive', 'ets'], 7, ARRAY[date '2024-04-01', '2024-04-20'])$$,
  $$SELECT method, origin, series, points, round(wape::numeric, 10), round(smape::numeric, 10), round(mase::numeric, 10),
           round(bias::numeric, 10), coverage FROM retailiq.backtest('bt_dist', ARRAY['snaive', 'ets'], 7, ARRAY[date '2024-04-01', '2024-04-20'])$$)
  AS backtest_rows_differing,
  (SELECT count(*) FROM retailiq.backtest('bt_dist', ARRAY['snaive', 'ets'], 7, ARRAY[date '2024-04-01', '2024-04-20'])) AS backtest_rows;

-- 4. The reports over the event source (orders, order lines, events) on the distributed
--    tables: 75_reports.

-- 5. Masking views over a distributed table. apply_masking builds, per labelled table, a
--    masked copy of its rows on the coordinator (kept current by triggers on the table) and a
--    view over it. On a distributed table it needs citus.enable_unsafe_triggers (the
--    triggers) and citus.enable_ddl_propagation off (the copy and the view stay on the
--    coordinator, where masked roles connect). Built that way, a masked role sees the same
--    masked values as the masking functions give over the local copy, and cannot read the
--    base table.
SET client_min_messages = warning;
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.email IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.full_name IS 'MASKED WITH VALUE NULL';
CREATE ROLE citus_masked LOGIN;
SECURITY LABEL FOR retailiq ON ROLE citus_masked IS 'MASKED';
GRANT USAGE ON SCHEMA retail TO citus_masked;
GRANT SELECT ON retail.customers TO citus_masked;
SET citus.enable_unsafe_triggers = on;
SET citus.enable_ddl_propagation = off;
SELECT retailiq.apply_masking() > 0 AS views_built;
RESET citus.enable_ddl_propagation;
RESET client_min_messages;
SELECT (SELECT count(*) FROM retailiq.masking_rules WHERE table_name = 'retail.customers'::regclass) AS rules;
SET ROLE citus_masked;
CREATE TEMP TABLE seen AS SELECT customer_id::bigint, full_name, phone, email FROM retailiq_mask.customers;
\set VERBOSITY terse
SELECT count(*) FROM retail.customers;
\set VERBOSITY default
RESET ROLE;
SELECT (SELECT count(*) FROM seen) AS customers_seen,
       citus_test.diff('TABLE seen',
         $$SELECT retailiq.pseudonym(customer_id::bigint, (SELECT key FROM retailiq.pseudonym_key)), NULL::text,
                  retailiq.mask_partial(phone, 3, 4), retailiq.mask_email(email) FROM one.customers$$) AS masked_rows_differing,
       (SELECT count(*) FROM seen s JOIN one.customers c ON s.email = c.email OR s.phone = c.phone) AS raw_values_seen;
-- but the triggers that keep the copy current were created with DDL propagation off, so
-- they are not on the shards and do not fire: after a write the copy is stale until
-- apply_masking runs again (doc/distributed.md: rebuild after loads, e.g. a scheduled job)
UPDATE retail.customers SET email = 'changed@example.com' WHERE customer_id = 1;
SELECT email AS masked_email_before_rebuild FROM retailiq_mask.customers
WHERE customer_id = retailiq.pseudonym(1::bigint, (SELECT key FROM retailiq.pseudonym_key));
SET client_min_messages = error;
SET citus.enable_ddl_propagation = off;
SELECT retailiq.apply_masking() > 0 AS rebuilt;
RESET citus.enable_ddl_propagation;
RESET client_min_messages;
SELECT email AS masked_email_after_rebuild FROM retailiq_mask.customers
WHERE customer_id = retailiq.pseudonym(1::bigint, (SELECT key FROM retailiq.pseudonym_key));
