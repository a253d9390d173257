-- Dominick's orange juice for the replenishment backtest, with its factors: every week of
-- each store x brand series from its first week to the data's last, with log(price), deal
-- and feat (the forecast bench's factors, test/bench/forecast/dominicks.sql). A purchaser
-- ordering for next week knows next week's planned price, deal and feature, and
-- replenishment_backtest passes a source's factors of the forecast weeks to the fit
-- (sales_source_future_exog), so 'auto' fits the dynamic regression.
--
-- Demand is unchanged from the factor-free source the benchmark had before: a week without a row
-- sold 0 (the backtest counts it so, and the factor-free fits saw it so through the
-- collector's zero gaps); here that week is a row of 0 units, with log price interpolated
-- linearly between the series' neighbouring rows (carried from the nearest row at the ends),
-- deal and feat 0, as the forecast bench fills gaps. Weeks after the data's last (the
-- forecast periods of the last reviews, never replayed) are rows with NULL units and the
-- last row's price, deal and feat 0.
CREATE TABLE bench_repl.oj_x AS
WITH last AS (SELECT max(week) AS w FROM bench_repl.oj),
span AS (SELECT store, brand, min(week) AS first FROM bench_repl.oj GROUP BY 1, 2),
g AS (
    SELECT s.store, s.brand, w.week, r.units, r.price, r.deal, r.feat,
           max(r.week) OVER back AS p_prev, min(r.week) OVER ahead AS p_next
      FROM span s
     CROSS JOIN last l
     CROSS JOIN LATERAL generate_series(s.first, l.w + 8) w(week)
      LEFT JOIN bench_repl.oj r ON (r.store, r.brand, r.week) = (s.store, s.brand, w.week)
    WINDOW back AS (PARTITION BY s.store, s.brand ORDER BY w.week),
           ahead AS (PARTITION BY s.store, s.brand ORDER BY w.week ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING))
SELECT g.store || '/' || g.brand AS series, g.store, g.brand, date '1989-09-14' + 7 * (g.week - 1) AS week_start,
       CASE WHEN g.week > l.w THEN NULL ELSE coalesce(g.units, 0) END AS units,
       CASE WHEN g.price IS NOT NULL THEN ln(g.price)
            WHEN g.p_next IS NULL THEN ln(pp.price)
            WHEN g.p_prev IS NULL THEN ln(pn.price)
            ELSE ln(pp.price) + (ln(pn.price) - ln(pp.price)) * (g.week - g.p_prev) / (g.p_next - g.p_prev) END AS lprice,
       coalesce(g.deal, 0)::float8 AS deal, coalesce(g.feat, 0)::float8 AS feat
  FROM g CROSS JOIN last l
  LEFT JOIN bench_repl.oj pp ON (pp.store, pp.brand, pp.week) = (g.store, g.brand, g.p_prev)
  LEFT JOIN bench_repl.oj pn ON (pn.store, pn.brand, pn.week) = (g.store, g.brand, g.p_next);
CREATE INDEX ON bench_repl.oj_x (series, week_start);
ANALYZE bench_repl.oj_x;
SELECT name FROM retailiq.register_sales_source('bench_repl_dom', 'bench_repl.oj_x', 'series', 'week_start', 'units',
       exog_columns => ARRAY['lprice', 'deal', 'feat'], method => 'auto',
       store_column => 'store', product_column => 'brand');
