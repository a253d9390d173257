-- The nightly plan for the sample's 10,000 store x product series, after their forecasts
-- (goal: at most 2 minutes after them). The inventory is the sample's stock table.
\pset format aligned
\pset tuples_only off
\pset footer off
\timing on
\echo 'nightly forecast of 10,000 series (auto, horizons 1, 7, 28; not part of the goal):'
SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28], 'bench_repl_all') AS forecast_rows;
SELECT retailiq.register_source('inventory', 'bench_repl.inventory') IS NOT NULL AS inventory_registered;
\echo 'nightly replenishment plan of 10,000 series:'
SELECT retailiq.refresh_replenishment_plan('bench_repl_all') AS plan_rows;
\timing off
SELECT count(*) AS series, count(*) FILTER (WHERE order_qty > 0) AS orders, sum(order_qty) AS units,
       round(avg(expected_fill_rate)::numeric, 3) AS mean_expected_fill_rate
  FROM retailiq.order_plan WHERE source = 'bench_repl_all';
