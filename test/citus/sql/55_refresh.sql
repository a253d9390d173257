-- refresh_forecasts on a sales source over a distributed table (daily_sales by store_id):
-- the per-series fits run on the workers, one store's series per group (the
-- forecast_fit ... GROUP BY store_id push-down of 50_forecast), and the stores' fits are
-- merged on the coordinator into the one model a one-node refresh saves. The same model
-- (but for the name of the model it was warm-started from, in its options, and so its size)
-- and the same forecast_result rows.
SET client_min_messages = error;   -- Citus: a view over a local table stays local
CREATE VIEW one.sales_refresh AS
SELECT store_id || '/' || product_id AS series, store_id, product_id, day, units::float8 AS units
FROM one.daily_sales WHERE product_id <= 10;
RESET client_min_messages;
CREATE VIEW retail.sales_refresh AS
SELECT store_id || '/' || product_id AS series, store_id, product_id, day, units::float8 AS units
FROM retail.daily_sales WHERE product_id <= 10;
-- 'combo' pools its interval calibration over every series of the model: the merge runs
-- that step over all stores' series, as one node does; history_days cuts at the latest
-- date of all series
SET client_min_messages = warning;
SELECT count(*) AS registered FROM retailiq.register_sales_source('rf_one', 'one.sales_refresh', 'series', 'day', 'units',
       method => 'combo', store_column => 'store_id', product_column => 'product_id',
       options => '{"history_days": 100, "max_model_age": "1 second"}');
SELECT count(*) AS registered FROM retailiq.register_sales_source('rf_dist', 'retail.sales_refresh', 'series', 'day', 'units',
       method => 'combo', store_column => 'store_id', product_column => 'product_id',
       options => '{"history_days": 100, "max_model_age": "1 second"}');
RESET client_min_messages;
-- the dist source takes the per-store path, the local one does not
SELECT s.name, f.used AS split_by_store
FROM retailiq.sales_source s, retailiq_internal.sales_source_fit_by_store(s, '{}') f
WHERE s.name IN ('rf_one', 'rf_dist') ORDER BY 1;
-- what runs on the workers: the part aggregate grouped by store, inside each shard's task
SELECT * FROM citus_test.plan(
  $$SELECT retailiq_internal.forecast_fit_merge(array_agg(p.part))
      FROM (SELECT store_id, retailiq_internal.forecast_fit_part(series, day, units, 'combo', '{}', NULL) AS part
              FROM retail.sales_refresh GROUP BY store_id) p$$,
  'Custom Scan|Task Count|Aggregate|Group Key');
-- what reaches the coordinator: one part per store, a few kB each (per series its fit
-- records: seven for a combination, its global member's two carrying its last values until
-- the panel step), against the rows the one-node fit reads
CREATE TEMP TABLE parts AS
SELECT store_id, retailiq_internal.forecast_fit_part(series, day, units, 'combo', '{}', NULL) AS part
FROM retail.sales_refresh GROUP BY store_id;
SELECT count(*) AS parts, sum(octet_length(part)) / 30 < 7000 AS under_7kb_per_series,
       (SELECT count(*) FROM retail.sales_refresh) AS rows_read_on_workers
FROM parts;

CREATE FUNCTION citus_test.refresh_agrees(OUT same_model boolean, OUT rows_differing bigint, OUT rows bigint)
LANGUAGE sql AS $$
SELECT (SELECT (retailiq.model_info(model) #- '{params,options}') - 'trained_at' - 'size_bytes' FROM retailiq.models
         WHERE name = 'forecast:rf_one' ORDER BY version DESC LIMIT 1)
     = (SELECT (retailiq.model_info(model) #- '{params,options}') - 'trained_at' - 'size_bytes' FROM retailiq.models
         WHERE name = 'forecast:rf_dist' ORDER BY version DESC LIMIT 1),
       citus_test.diff(
         $q$SELECT series, store_id, product_id, period_start, grain, horizon, yhat, yhat_lower, yhat_upper
              FROM retailiq.forecast_result WHERE model_name = 'forecast:rf_one'$q$,
         $q$SELECT series, store_id, product_id, period_start, grain, horizon, yhat, yhat_lower, yhat_upper
              FROM retailiq.forecast_result WHERE model_name = 'forecast:rf_dist'$q$),
       (SELECT count(*) FROM retailiq.forecast_result WHERE model_name = 'forecast:rf_dist')
$$;
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'rf_one') AS rows_one, retailiq.refresh_forecasts(ARRAY[1, 7], 'rf_dist') AS rows_dist;
SELECT * FROM citus_test.refresh_agrees();
-- the pooled calibration is the same over the stores as over all series
SELECT retailiq.model_info(model) #> '{metrics,validation_series}' AS validated
FROM retailiq.models WHERE name = 'forecast:rf_dist';

-- The nightly refit is a warm start from the saved model: on the workers it is read from the
-- coordinator's retailiq.models and passed in with the rows. A new day for half the series:
-- those are refitted warm, the others skipped, the same on both.
SELECT pg_sleep(1.1);
INSERT INTO one.daily_sales (day, store_id, product_id, units, revenue, on_promo)
SELECT day + 1, store_id, product_id, units, revenue, on_promo FROM one.daily_sales
WHERE day = (SELECT max(day) FROM one.daily_sales) AND product_id <= 5;
INSERT INTO retail.daily_sales (day, store_id, product_id, units, revenue, on_promo)
SELECT day + 1, store_id, product_id, units, revenue, on_promo FROM retail.daily_sales
WHERE day = (SELECT max(day) FROM retail.daily_sales) AND product_id <= 5;
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'rf_one') AS rows_one, retailiq.refresh_forecasts(ARRAY[1, 7], 'rf_dist') AS rows_dist;
SELECT * FROM citus_test.refresh_agrees();
SELECT name, version, retailiq.model_info(model) #> '{metrics,series_warm}' AS warm,
       retailiq.model_info(model) #> '{metrics,series_skipped}' AS skipped
FROM retailiq.models WHERE name IN ('forecast:rf_one', 'forecast:rf_dist') AND version = 2 ORDER BY 1;
-- the new day's rows out again: the later files compare counts of the data 00_distribute loaded
DELETE FROM one.daily_sales WHERE day = (SELECT max(day) FROM one.daily_sales);
DELETE FROM retail.daily_sales WHERE day = (SELECT max(day) FROM retail.daily_sales);

-- 'auto' (the default method) the same way
UPDATE retailiq.sales_source SET method = 'auto' WHERE name IN ('rf_one', 'rf_dist');
SELECT pg_sleep(1.1);
SELECT retailiq.refresh_forecasts(ARRAY[1, 7], 'rf_one') AS rows_one, retailiq.refresh_forecasts(ARRAY[1, 7], 'rf_dist') AS rows_dist;
SELECT * FROM citus_test.refresh_agrees();

-- A series whose rows are in two stores cannot be fitted store by store: the merge refuses
-- it, and the refresh fits the source's rows together (as on one node), after a NOTICE.
CREATE VIEW retail.sales_by_product AS
SELECT product_id::text AS series, store_id, product_id, day, units::float8 AS units
FROM retail.daily_sales WHERE product_id <= 3;
SET client_min_messages = warning;
CREATE VIEW one.sales_by_product AS
SELECT product_id::text AS series, store_id, product_id, day, units::float8 AS units
FROM one.daily_sales WHERE product_id <= 3;
SELECT count(*) AS registered FROM retailiq.register_sales_source('rp_dist', 'retail.sales_by_product', 'series', 'day', 'units',
       method => 'ets', store_column => 'store_id', product_column => 'product_id');
SELECT count(*) AS registered FROM retailiq.register_sales_source('rp_one', 'one.sales_by_product', 'series', 'day', 'units',
       method => 'ets', store_column => 'store_id', product_column => 'product_id');
RESET client_min_messages;
SELECT retailiq.refresh_forecasts(ARRAY[1], 'rp_dist') AS rows_dist, retailiq.refresh_forecasts(ARRAY[1], 'rp_one') AS rows_one;
SELECT citus_test.diff(
  $q$SELECT series, period_start, horizon, yhat, yhat_lower, yhat_upper FROM retailiq.forecast_result WHERE model_name = 'forecast:rp_one'$q$,
  $q$SELECT series, period_start, horizon, yhat, yhat_lower, yhat_upper FROM retailiq.forecast_result WHERE model_name = 'forecast:rp_dist'$q$) AS rows_differing;
-- the merge checks what it is given
\set VERBOSITY terse
SELECT retailiq_internal.forecast_fit_merge(ARRAY['\x00'::bytea]);
SELECT retailiq_internal.forecast_fit_merge(ARRAY[p, p]) FROM (
  SELECT retailiq_internal.forecast_fit_part(series, day, units, 'ets', '{"duplicates": "sum"}', NULL) AS p
  FROM one.sales_by_product) s;
\set VERBOSITY default
SELECT retailiq_internal.forecast_fit_merge(ARRAY[NULL::bytea]) IS NULL AS no_parts;
