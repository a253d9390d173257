-- Per data set and target: each policy's achieved cycle service level, fill rate and average
-- stock; for 'plan' and 'plan_pooled', the classic policy's average stock at the same achieved service level
-- (linear between the two grid targets whose achieved levels bracket it) and the ratio.
\pset format aligned
\pset tuples_only off
\pset footer off
WITH rop AS (
    SELECT data, csl, avg_on_hand, lead(csl) OVER w AS csl2, lead(avg_on_hand) OVER w AS aoh2
      FROM bench_repl.result WHERE policy = 'reorder_point'
    WINDOW w AS (PARTITION BY data ORDER BY csl, target)),
plan AS (
    SELECT p.*, (SELECT r.avg_on_hand + (p.csl - r.csl) * (r.aoh2 - r.avg_on_hand) / nullif(r.csl2 - r.csl, 0)
                   FROM rop r WHERE r.data = p.data AND p.csl BETWEEN r.csl AND r.csl2 AND r.csl2 > r.csl
                  ORDER BY r.csl LIMIT 1) AS rop_same
      FROM bench_repl.result p WHERE p.policy IN ('plan', 'plan_pooled'))
SELECT r.data, r.target, r.policy, round(r.csl::numeric, 3) AS csl, round(r.fill_rate::numeric, 3) AS fill_rate,
       round(r.avg_on_hand::numeric, 1) AS avg_on_hand,
       round(p.rop_same::numeric, 1) AS rop_stock_same_csl,
       round((r.avg_on_hand / p.rop_same)::numeric, 3) AS ratio,
       CASE WHEN r.policy IN ('plan', 'plan_pooled') THEN
            CASE WHEN abs(r.csl - r.target) <= 0.02 THEN 'csl ok' ELSE 'csl MISSED' END || ', ' ||
            CASE WHEN p.rop_same IS NULL THEN 'ratio n/a (outside the grid)' WHEN r.avg_on_hand <= 0.85 * p.rop_same THEN 'stock ok'
                 ELSE 'stock MISSED' END END AS goals,
       round(r.seconds::numeric, 1) AS seconds
  FROM bench_repl.result r
  LEFT JOIN plan p ON p.data = r.data AND p.target = r.target AND p.policy = r.policy
 WHERE r.policy <> 'reorder_point' OR r.target IN (0.9, 0.95)
 ORDER BY r.data DESC, r.target, r.policy;
\echo 'reorder_point on the grid of targets (for the interpolation; monotone: achieved CSL and stock rise with the target):'
SELECT data, bool_and(csl >= prev_csl AND avg_on_hand >= prev_stock) IS NOT FALSE AS monotone,
       string_agg(format('%s -> csl %s, stock %s', target, round(csl::numeric, 3), round(avg_on_hand::numeric)), '; '
                  ORDER BY target) AS grid
  FROM (SELECT r.*, lag(csl) OVER w AS prev_csl, lag(avg_on_hand) OVER w AS prev_stock
          FROM bench_repl.result r WHERE policy = 'reorder_point'
        WINDOW w AS (PARTITION BY data ORDER BY target)) g
 GROUP BY data ORDER BY data DESC;
-- Where the stock goes: the same comparison per fifth of the series by demand over the
-- replayed weeks (fifth 1 the slowest), each fifth's classic stock interpolated on the
-- classic grid's achieved levels of that fifth. A diagnosis, not a goal.
\echo 'per fifth of the series by demand (1 = slowest): plan CSL, stock; reorder_point stock at that CSL; ratio'
WITH f AS (
    SELECT data, series, ntile(5) OVER (PARTITION BY data ORDER BY demand, series) AS fifth
      FROM bench_repl.result_series WHERE policy = 'reorder_point' AND target = 0.5),
g AS (
    SELECT r.data, r.target, r.policy, f.fifth, sum(r.served) / nullif(sum(r.cycles), 0) AS csl,
           sum(r.avg_on_hand) AS stock
      FROM bench_repl.result_series r JOIN f ON f.data = r.data AND f.series = r.series
     GROUP BY 1, 2, 3, 4),
rop AS (
    SELECT data, fifth, csl, stock, lead(csl) OVER w AS csl2, lead(stock) OVER w AS stock2
      FROM g WHERE policy = 'reorder_point'
    WINDOW w AS (PARTITION BY data, fifth ORDER BY csl, target)),
p AS (
    SELECT g.*, (SELECT r.stock + (g.csl - r.csl) * (r.stock2 - r.stock) / nullif(r.csl2 - r.csl, 0)
                   FROM rop r WHERE r.data = g.data AND r.fifth = g.fifth AND g.csl BETWEEN r.csl AND r.csl2
                    AND r.csl2 > r.csl
                  ORDER BY r.csl LIMIT 1) AS rop_same
      FROM g WHERE g.policy IN ('plan', 'plan_pooled'))
SELECT data, target, policy,
       string_agg(format('%s: %s, %s / %s = %s', fifth, round(csl::numeric, 3), round(stock::numeric),
                         coalesce(round(rop_same::numeric)::text, 'n/a'), coalesce(round((stock / rop_same)::numeric, 2)::text, 'n/a')),
                  '; ' ORDER BY fifth) AS by_fifth
  FROM p GROUP BY data, target, policy ORDER BY data DESC, target, policy;
