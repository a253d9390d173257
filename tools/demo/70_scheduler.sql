-- Scheduler: the nightly forecast job, run once on demand by a background worker
-- The scheduler runs jobs in the databases named by retailiq.database; add this one.
\o /dev/null
ALTER SYSTEM SET retailiq.database = 'postgres, retailiq_demo';
SELECT pg_reload_conf();
\o
\echo 'Built-in jobs (created disabled until their functions are configured):'
SELECT job_name, schedule, enabled, command FROM retailiq.job WHERE builtin ORDER BY job_id;

-- Until the forecast part's retailiq.refresh_forecasts lands, the nightly job computes a
-- seasonal-naive next-day forecast (same weekday last week, per store and product) in SQL.
CREATE TABLE retail.next_day_forecast (
    day date, store_id int, product_id int, units numeric, computed_at timestamptz DEFAULT now(),
    PRIMARY KEY (day, store_id, product_id));
\o /dev/null
SELECT retailiq.alter_job('nightly_forecast', command => $$
    INSERT INTO retail.next_day_forecast (day, store_id, product_id, units)
    SELECT d.last_day + 1, s.store_id, s.product_id, s.units
    FROM (SELECT max(day) AS last_day FROM retail.daily_sales) d
    JOIN retail.daily_sales s ON s.day = d.last_day + 1 - 7
    ON CONFLICT (day, store_id, product_id) DO UPDATE SET units = EXCLUDED.units, computed_at = now()$$);
SELECT retailiq.run_job('nightly_forecast');
\o
\echo 'retailiq.run_job(''nightly_forecast'') then retailiq.wait_for_job: the run record'
SELECT job_name, trigger, status, rows, sqlstate, message,
       round(extract(epoch FROM finished - started)::numeric, 2) AS seconds
FROM retailiq.wait_for_job('nightly_forecast', '2 minutes');
\echo 'The forecast it wrote (top 5 store/product pairs for the next day):'
SELECT day, store_id, product_id, units FROM retail.next_day_forecast
ORDER BY units DESC, store_id, product_id LIMIT 5;
\echo 'A job whose function does not exist yet fails; the run records the error and the scheduler carries on:'
\o /dev/null
SELECT retailiq.run_job('report_daily');
\o
SELECT job_name, status, sqlstate, message FROM retailiq.wait_for_job('report_daily', '2 minutes');
SELECT job_name, enabled, last_status, runs_24h, failed_24h FROM retailiq.job_status
WHERE job_name IN ('nightly_forecast', 'report_daily') ORDER BY job_name;
