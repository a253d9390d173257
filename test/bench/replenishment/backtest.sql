-- Every policy at 90% and 95% on each data set, and the classic policy on a grid of targets
-- from 5% (below 50% its z is negative: it orders less than the mean, so the grid reaches
-- achieved service levels below any 'plan' line's). 'plan_pooled' (the pooled service target)
-- on the sample and Online Retail only: each 'plan' replay of Dominick's refits 913 series
-- five times (5-15 minutes), and plan_pooled's figures on the daily data were no better.
CREATE FUNCTION bench_repl.run(data text, source text, from_date date, to_date date, lead int, review int,
                               policy text, target float8, refit int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    r record;
BEGIN
    CREATE TEMP TABLE bt ON COMMIT DROP AS
    SELECT * FROM retailiq.replenishment_backtest(source, from_date, to_date, lead, review, target, policy, refit);
    SELECT * INTO r FROM bt b WHERE b.series IS NULL;
    INSERT INTO bench_repl.result VALUES (data, target, policy, r.cycle_service_level, r.fill_rate, r.avg_on_hand,
                                          extract(epoch FROM clock_timestamp() - t0));
    -- per series too: the report splits the comparison by the series' speed
    INSERT INTO bench_repl.result_series
    SELECT data, target, policy, b.series, b.demand, b.cycle_service_level * b.cycles, b.cycles, b.avg_on_hand
      FROM bt b WHERE b.series IS NOT NULL;
    DROP TABLE bt;
END $$;
-- run() returns nothing: its rows would print as blank lines, so the replays' output goes
-- to /dev/null and each block says what it replays (the figures are in the report below)

\echo '   sample: plan, plan_pooled and naive at 90% and 95%, reorder_point on its grid of targets'
\o /dev/null
SELECT bench_repl.run('sample', 'bench_repl_sample', '2025-11-05', '2025-12-30', 2, 1, p, t, 7)
  FROM unnest(ARRAY['plan', 'plan_pooled', 'naive']) p, unnest(ARRAY[0.9, 0.95]) t;
SELECT bench_repl.run('sample', 'bench_repl_sample', '2025-11-05', '2025-12-30', 2, 1, 'reorder_point', t, NULL)
  FROM unnest(ARRAY[0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 0.995]) t;
\o
\echo '   Dominick''s: plan and naive at 90% and 95%, reorder_point on its grid (when the data is there)'
\o /dev/null
SELECT bench_repl.run('dominicks', 'bench_repl_dom', '1992-05-21', '1992-10-01', 7, 7, p, t, 28)
  FROM unnest(ARRAY['plan', 'naive']) p, unnest(ARRAY[0.9, 0.95]) t
 WHERE EXISTS (SELECT FROM bench_repl.oj);
SELECT bench_repl.run('dominicks', 'bench_repl_dom', '1992-05-21', '1992-10-01', 7, 7, 'reorder_point', t, NULL)
  FROM unnest(ARRAY[0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 0.995]) t
 WHERE EXISTS (SELECT FROM bench_repl.oj);
\o
\echo '   Online Retail: plan, plan_pooled and naive at 90% and 95%, reorder_point on its grid (when the data is there)'
\o /dev/null
SELECT bench_repl.run('online_retail', 'bench_repl_or', '2011-10-14', '2011-12-08', 2, 1, p, t, 7)
  FROM unnest(ARRAY['plan', 'plan_pooled', 'naive']) p, unnest(ARRAY[0.9, 0.95]) t
 WHERE to_regclass('bench_repl.or_sales') IS NOT NULL;
SELECT bench_repl.run('online_retail', 'bench_repl_or', '2011-10-14', '2011-12-08', 2, 1, 'reorder_point', t, NULL)
  FROM unnest(ARRAY[0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 0.995]) t
 WHERE to_regclass('bench_repl.or_sales') IS NOT NULL;
\o
