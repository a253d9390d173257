-- The reports (and the behaviour functions that join orders to their lines) over distributed
-- orders (by customer), order lines (by order) and events (by customer), against one node on
-- the same rows (schema one). The days a report computes from
-- the tables (report_days.sql's *_live functions) take the queries of
-- retailiq_internal.report_distributed_sql when a relation is distributed: the grouping sets
-- split into GROUP BYs, the range's orders read first (a materialized CTE, sent to the workers)
-- and joined to the order lines there. Every figure is compared exactly (counts, numeric sums;
-- the float8 columns are sums of the same local forecasts and of exact unit counts).
-- (Run after 55_refresh, whose refreshes wrote day forecasts of store/product series.)

-- every figure of the reports and of the computed days, as text rows
CREATE FUNCTION citus_test.report_rows() RETURNS TABLE (what text, r text) LANGUAGE sql AS $$
    SELECT 'day_sales', d::text FROM retailiq_internal.report_day_sales_live('2024-01-01', '2024-05-31') d
    UNION ALL SELECT 'day_units', d::text FROM retailiq_internal.report_day_units_live('2024-01-01', '2024-05-31') d
    UNION ALL SELECT 'day_customers', d::text FROM retailiq_internal.report_day_customers_live('2024-01-01', '2024-05-31') d
    -- a few days: one node probes the customer index (another plan of the same definition)
    UNION ALL SELECT 'day_customers_3', d::text FROM retailiq_internal.report_day_customers_live('2024-04-08', '2024-04-10') d
    UNION ALL SELECT 'day_funnel', d::text FROM retailiq_internal.report_day_funnel_live('2024-01-01', '2024-05-31') d
    UNION ALL SELECT 'day_dwell', d::text FROM retailiq_internal.report_day_dwell_live('2024-01-01', '2024-05-31') d
    UNION ALL SELECT 'customers_week', d::text FROM retailiq_internal.report_customers_live('week', '2024-01-03', '2024-05-31') d
    UNION ALL SELECT 'customers_month', d::text FROM retailiq_internal.report_customers_live('month', '2024-01-01', '2024-05-20') d
    UNION ALL SELECT 'sales_daily', d::text FROM retailiq.report_sales('daily', '2024-01-01', '2024-05-31') d
    UNION ALL SELECT 'sales_daily_store', d::text FROM retailiq.report_sales('daily', '2024-01-01', '2024-05-31', by_store => true) d
    UNION ALL SELECT 'sales_weekly_store', d::text FROM retailiq.report_sales('weekly', '2024-01-03', '2024-05-31', by_store => true) d
    UNION ALL SELECT 'sales_monthly_2', d::text FROM retailiq.report_sales('monthly', '2024-01-01', '2024-05-31', store => 2) d
    UNION ALL SELECT 'behaviour_weekly', d::text FROM retailiq.report_behaviour('weekly', '2024-01-03', '2024-05-31') d
    UNION ALL SELECT 'behaviour_monthly_2', d::text FROM retailiq.report_behaviour('monthly', '2024-01-01', '2024-05-31', 2) d
    UNION ALL SELECT 'accuracy', d::text FROM retailiq.report_forecast_accuracy('daily', '2024-05-01', '2024-06-03') d
    -- the behaviour functions that read orders with their lines (the same change for Citus)
    UNION ALL SELECT 'conversion_funnel', d::text FROM retailiq.conversion_funnel('2024-03-01', '2024-04-01') d
    UNION ALL SELECT 'basket_summary', d::text FROM retailiq.basket_summary('2024-03-01', '2024-04-01') d
    UNION ALL SELECT 'basket_summary_2', d::text FROM retailiq.basket_summary('2024-01-01', '2024-06-01', 2) d
    UNION ALL SELECT 'basket_attach_rates', d::text
                FROM retailiq.basket_attach_rates('2024-01-01', '2024-06-01', top => 20, min_support => 0.01) d
    UNION ALL SELECT 'zone_traffic', d::text FROM retailiq.zone_traffic('2024-03-01', '2024-04-01') d
    UNION ALL SELECT 'html', regexp_replace(retailiq.report_html('2024-03-01', '2024-05-29'),
                                            'generated [0-9-]+ [0-9:]+ UTC', 'generated (now)')
$$;

-- 1. computed days: one node, then the cluster
SELECT retailiq.register_event_source('one');
SELECT retailiq_internal.report_distributed_sql('day_sales') IS NULL AS one_node_queries;
CREATE TEMP TABLE rows_one AS SELECT * FROM citus_test.report_rows();
SELECT retailiq.register_event_source('retail');
SELECT retailiq_internal.report_distributed_sql(k) IS NOT NULL AS distributed_queries
  FROM unnest(ARRAY['day_sales', 'day_units', 'day_customers', 'day_funnel', 'customers']) k GROUP BY 1;
CREATE TEMP TABLE rows_dist AS SELECT * FROM citus_test.report_rows();
-- rows per figure and how many differ (0: the same numbers, to the last digit)
SELECT o.what, o.n AS rows_one_node,
       citus_test.diff(format('SELECT r FROM rows_one WHERE what = %L', o.what),
                       format('SELECT r FROM rows_dist WHERE what = %L', o.what)) AS rows_differing
  FROM (SELECT what, count(*) AS n FROM rows_one GROUP BY 1) o ORDER BY 1;
-- the reports have their forecast columns (55_refresh's forecasts) and sales
SELECT count(*) FILTER (WHERE (d).forecast_units IS NOT NULL) > 0 AS has_forecasts,
       sum((d).units) AS units, sum((d).sales) AS sales
  FROM retailiq.report_sales('daily', '2024-01-01', '2024-05-31') d;

-- 2. what runs where (EXPLAIN of each query with the dates of a month)
\set ECHO none
\set QUIET on
SELECT format('PREPARE rq_%s(date, date) AS %s', k, retailiq_internal.report_distributed_sql(k))
  FROM unnest(ARRAY['day_sales', 'day_units', 'day_customers', 'day_funnel']) k \gexec
SELECT format('PREPARE rq_customers(date, date, text) AS %s', retailiq_internal.report_distributed_sql('customers')) \gexec
\set QUIET off
\set ECHO all
-- sales: the orders of the range (subplan 1) joined to each order-lines shard, the units
-- summed there by day and store; orders, customers and sales grouped by day (and by day and
-- store) on each orders shard; the coordinator adds up the shards' sums
SELECT * FROM citus_test.plan($$EXECUTE rq_day_sales('2024-03-01', '2024-03-31')$$,
                              'Distributed Subplan|Task Count|Aggregate|Join|Seq Scan|Function Scan');
SELECT * FROM citus_test.plan($$EXECUTE rq_day_units('2024-03-01', '2024-03-31')$$,
                              'Distributed Subplan|Task Count|Aggregate|Join|Seq Scan|Function Scan');
-- new and lost customers: per customer on the workers (first order, the anti-join with the
-- customer's earlier orders, the window over the customer's orders), per day on the coordinator
SELECT * FROM citus_test.plan($$EXECUTE rq_day_customers('2024-03-01', '2024-03-31')$$,
                              'Distributed Subplan|Task Count|Aggregate|Join|WindowAgg|Seq Scan');
-- the funnel: views grouped per customer, product and day on the event shards, joined there
-- to the (customer, product, day) triples bought (subplans 1 and 2)
SELECT * FROM citus_test.plan($$EXECUTE rq_day_funnel('2024-03-01', '2024-03-31')$$,
                              'Distributed Subplan|Task Count|Aggregate|Join|Seq Scan|Function Scan');
SELECT * FROM citus_test.plan($$EXECUTE rq_customers('2024-03-01', '2024-03-31', 'week')$$,
                              'Distributed Subplan|Task Count|Aggregate|Seq Scan');
DEALLOCATE ALL;

-- 3. the stored days: refresh_report_days on the cluster stores what it stores on one node
--    (the stored tables are local to the coordinator), and the reports read them
SELECT retailiq.register_event_source('one');
SELECT retailiq.refresh_report_days('2024-01-01', '2024-05-31') AS days_stored_one_node;
CREATE TEMP TABLE stored_one AS
SELECT 'sales' AS t, d::text AS r FROM retailiq.report_day_sales d
UNION ALL SELECT 'units', d::text FROM retailiq.report_day_units d
UNION ALL SELECT 'customers', d::text FROM retailiq.report_day_customers d
UNION ALL SELECT 'funnel', d::text FROM retailiq.report_day_funnel d
UNION ALL SELECT 'dwell', d::text FROM retailiq.report_day_dwell d
UNION ALL SELECT 'period_customers', (c.grain, c.period_start, c.by_store, c.store_id, c.customers, c.active)::text
            FROM retailiq.report_period_customers c
UNION ALL SELECT 'period_dwell', (d.grain, d.period_start, d.store_id, d.zone_id, d.hour, d.visits, d.total_dwell_s)::text
            FROM retailiq.report_period_dwell d;
CREATE TEMP TABLE stored_rows_one AS SELECT * FROM citus_test.report_rows();
SELECT retailiq.register_event_source('retail');
SELECT retailiq.refresh_report_days('2024-01-01', '2024-05-31') AS days_stored_cluster;
CREATE TEMP TABLE stored_dist AS
SELECT 'sales' AS t, d::text AS r FROM retailiq.report_day_sales d
UNION ALL SELECT 'units', d::text FROM retailiq.report_day_units d
UNION ALL SELECT 'customers', d::text FROM retailiq.report_day_customers d
UNION ALL SELECT 'funnel', d::text FROM retailiq.report_day_funnel d
UNION ALL SELECT 'dwell', d::text FROM retailiq.report_day_dwell d
UNION ALL SELECT 'period_customers', (c.grain, c.period_start, c.by_store, c.store_id, c.customers, c.active)::text
            FROM retailiq.report_period_customers c
UNION ALL SELECT 'period_dwell', (d.grain, d.period_start, d.store_id, d.zone_id, d.hour, d.visits, d.total_dwell_s)::text
            FROM retailiq.report_period_dwell d;
CREATE TEMP TABLE stored_rows_dist AS SELECT * FROM citus_test.report_rows();
SELECT o.t, o.n AS stored_rows_one_node,
       citus_test.diff(format('SELECT r FROM stored_one WHERE t = %L', o.t),
                       format('SELECT r FROM stored_dist WHERE t = %L', o.t)) AS rows_differing
  FROM (SELECT t, count(*) AS n FROM stored_one GROUP BY 1) o ORDER BY 1;
-- the reports from the stored days: the same as one node's, and as the computed ones
SELECT citus_test.diff('SELECT * FROM stored_rows_one', 'SELECT * FROM stored_rows_dist') AS report_rows_differing,
       citus_test.diff($$SELECT * FROM stored_rows_dist WHERE what !~ '_live|^day_|^customers_'$$,
                       $$SELECT * FROM rows_dist WHERE what !~ '_live|^day_|^customers_'$$) AS stored_vs_computed_differing,
       (SELECT count(*) FROM retailiq.report_day WHERE part = 'orders') AS days_stored;
