-- 'auto' on store x product series of the sample data (sparse daily sales): its fit time
-- and its accuracy on the final 28 days, held out (WAPE, MASE scaled by the in-sample
-- seasonal-naive MAE with season 7, RMSSE, 80% coverage, quantile loss of the upper bound
-- as a 0.9-quantile). 200 series: stores 1 and 2 x every fifth product, every day of the
-- two years (a day without a row is 0). Needs the default sample in schema smp:
--   psql -X -c "SELECT * FROM retailiq.generate_sample_data('smp')"
--   psql -X -f test/bench/forecast/auto_intermittent.sql
\set ON_ERROR_STOP 1
CREATE TEMP TABLE ser AS
SELECT s.store_id, p.product_id, d.day, coalesce(ds.units, 0)::float8 AS y
FROM smp.stores s CROSS JOIN smp.products p CROSS JOIN smp.calendar d
LEFT JOIN smp.daily_sales ds ON ds.store_id = s.store_id AND ds.product_id = p.product_id AND ds.day = d.day
WHERE s.store_id IN (1, 2) AND p.product_id % 5 = 0;
CREATE TEMP TABLE cut AS SELECT max(day) - 28 AS last_train FROM ser;
CREATE TEMP TABLE scale AS
SELECT store_id || '/' || product_id AS series, retailiq.naive_scale(array_agg(y ORDER BY day), 7) AS sc
FROM ser, cut WHERE day <= last_train GROUP BY 1;
SELECT count(DISTINCT (store_id, product_id)) AS series, count(*) AS rows, round(avg((y > 0)::int)::numeric, 3) AS share_days_with_sale FROM ser;
SELECT c.class, count(*) FROM (SELECT store_id, product_id, array_agg(y ORDER BY day) a FROM ser, cut WHERE day <= last_train GROUP BY 1, 2) q,
  LATERAL retailiq.demand_class(a) c GROUP BY 1 ORDER BY 1;
\timing on
CREATE TEMP TABLE m AS SELECT retailiq.forecast_fit(store_id || '/' || product_id, day, y, 'auto') AS m FROM ser, cut WHERE day <= last_train;
\timing off
CREATE TEMP TABLE fc AS SELECT * FROM retailiq.forecast_all((SELECT m FROM m), 28);
SELECT count(*) AS forecasts,
       round(retailiq.wape(a.y, f.yhat)::numeric, 4) AS wape,
       round(retailiq.mase(a.y, f.yhat, s.sc) FILTER (WHERE s.sc > 0)::numeric, 4) AS mase,
       round(retailiq.rmsse(a.y, f.yhat, s2.sc2) FILTER (WHERE s2.sc2 > 0)::numeric, 4) AS rmsse,
       round(retailiq.coverage(a.y, f.yhat_lower, f.yhat_upper)::numeric, 3) AS cov80,
       round(retailiq.quantile_loss(a.y, f.yhat_upper, 0.9)::numeric, 4) AS qloss90
FROM fc f JOIN ser a ON f.series = a.store_id || '/' || a.product_id AND f.ts = a.day
JOIN scale s ON s.series = f.series
JOIN (SELECT store_id || '/' || product_id AS series, retailiq.naive_scale(array_agg(y ORDER BY day), 7, true) AS sc2
      FROM ser, cut WHERE day <= last_train GROUP BY 1) s2 ON s2.series = f.series;
SELECT method, count(*) FROM retailiq.forecast_model_series((SELECT m FROM m)) GROUP BY 1 ORDER BY 2 DESC;
