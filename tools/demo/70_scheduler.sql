-- Scheduler: the nightly forecast job, run once on demand by a background worker
-- The scheduler runs jobs in the databases named by retailiq.database; add this one.
\o /dev/null
ALTER SYSTEM SET retailiq.database = 'postgres, retailiq_demo';
SELECT pg_reload_conf();
\o
\echo 'Built-in jobs (created disabled until their functions are configured):'
SELECT job_name, schedule, enabled, command FROM retailiq.job WHERE builtin ORDER BY job_id;

-- The nightly job runs retailiq.refresh_forecasts for every registered sales source: register
-- daily units per store and category of three stores, forecast by automatic ETS.
\o /dev/null
CREATE VIEW retail.store_category_sales AS
SELECT s.store_id || '/' || p.category AS series, s.day, sum(s.units)::float8 AS units
FROM retail.daily_sales s JOIN retail.products p USING (product_id)
WHERE s.store_id <= 3 GROUP BY 1, 2;
SELECT retailiq.register_sales_source('demo_shop', 'retail.store_category_sales', 'series', 'day', 'units',
                                      method => 'ets');
SELECT retailiq.run_job('nightly_forecast');
\o
\echo 'retailiq.run_job(''nightly_forecast'') then retailiq.wait_for_job: the run record'
SELECT job_name, trigger, status, rows, sqlstate, message,
       round(extract(epoch FROM finished - started)::numeric, 2) AS seconds
FROM retailiq.wait_for_job('nightly_forecast', '5 minutes');
\echo 'What it wrote to retailiq.forecast_result (next day, the 5 biggest store/category series):'
SELECT series, period_start AS day, round(yhat::numeric, 1) AS yhat,
       round(yhat_lower::numeric, 1) AS lower, round(yhat_upper::numeric, 1) AS upper, model_name, model_version
FROM retailiq.forecast_result WHERE model_name = 'forecast:demo_shop' AND horizon = 1
ORDER BY yhat DESC, series LIMIT 5;
\echo 'A job whose source is not configured yet fails; the run records the error and the scheduler carries on:'
\o /dev/null
SELECT retailiq.run_job('sales_alert_check');
\o
SELECT job_name, status, sqlstate, message FROM retailiq.wait_for_job('sales_alert_check', '2 minutes');
SELECT job_name, enabled, last_status, runs_24h, failed_24h FROM retailiq.job_status
WHERE job_name IN ('nightly_forecast', 'sales_alert_check') ORDER BY job_name;
