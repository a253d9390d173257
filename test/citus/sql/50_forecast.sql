-- Forecasts on daily_sales distributed by store_id.
-- 1. Per-series fits grouped by the distribution column are pushed down whole: each worker
--    fits its stores' series; one model per store comes back. The same models as one node.
SET retailiq.forecast_workers = 0;
CREATE TEMP TABLE m_one AS
SELECT store_id, retailiq.forecast_fit(product_id::text, day, units::float8, 'ets') AS m
FROM one.daily_sales WHERE product_id <= 12 GROUP BY store_id;
CREATE TEMP TABLE m_dist AS
SELECT store_id, retailiq.forecast_fit(product_id::text, day, units::float8, 'ets') AS m
FROM retail.daily_sales WHERE product_id <= 12 GROUP BY store_id;
SELECT count(*) AS stores, bool_and(retailiq.model_info(a.m) - 'trained_at' = retailiq.model_info(b.m) - 'trained_at') AS same_models
FROM m_one a JOIN m_dist b USING (store_id);
SELECT * FROM citus_test.plan(
  $$SELECT store_id, retailiq.forecast_fit(product_id::text, day, units::float8, 'ets')
      FROM retail.daily_sales WHERE product_id <= 12 GROUP BY store_id$$,
  'Custom Scan|Task Count|Aggregate');
-- the forecasts of those models
SELECT citus_test.diff(
  $$SELECT store_id, f.* FROM m_one, retailiq.forecast_all(m, 7) f$$,
  $$SELECT store_id, f.* FROM m_dist, retailiq.forecast_all(m, 7) f$$) AS forecast_rows_differing;

-- 2. Accuracy aggregates (float8[] state: partial sums per shard, combined on the coordinator)
--    over a distributed fact table of actuals and forecasts: equal to one node within 1e-12.
CREATE TABLE one.fc AS
SELECT d.store_id, d.product_id, d.day, d.units::float8 AS actual,
       (avg(d.units) OVER (PARTITION BY d.store_id, d.product_id ORDER BY d.day ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING))::float8 AS forecast
FROM one.daily_sales d;
DELETE FROM one.fc WHERE forecast IS NULL;
CREATE TABLE retail.fc (LIKE one.fc);
SELECT create_distributed_table('retail.fc', 'store_id', colocate_with => 'retail.daily_sales');
INSERT INTO retail.fc SELECT * FROM one.fc;
SELECT abs(a.wape - b.wape) < 1e-12 AS wape_agrees, abs(a.rmse - b.rmse) < 1e-9 AS rmse_agrees,
       abs(a.smape - b.smape) < 1e-12 AS smape_agrees, abs(a.bias - b.bias) < 1e-9 AS bias_agrees,
       round(b.wape::numeric, 6) AS wape
FROM (SELECT retailiq.wape(actual, forecast), retailiq.rmse(actual, forecast), retailiq.smape(actual, forecast),
             retailiq.bias(actual, forecast) FROM one.fc) a
CROSS JOIN (SELECT retailiq.wape(actual, forecast), retailiq.rmse(actual, forecast), retailiq.smape(actual, forecast),
                   retailiq.bias(actual, forecast) FROM retail.fc) b;
-- per store: grouped by the distribution column, pushed down whole
SELECT citus_test.diff(
  $$SELECT store_id, round(retailiq.wape(actual, forecast)::numeric, 12) FROM one.fc GROUP BY 1$$,
  $$SELECT store_id, round(retailiq.wape(actual, forecast)::numeric, 12) FROM retail.fc GROUP BY 1$$) AS store_rows_differing;
-- over all stores: one partial state per shard reaches the coordinator
SELECT * FROM citus_test.plan($$SELECT retailiq.wape(actual, forecast) FROM retail.fc$$,
                              'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg', 'VERBOSE');
