-- Alerts: a stock trigger on the inventory raises and resolves low-stock alerts, with NOTIFY; sales checked against a forecast
\set QUIET on
SET client_min_messages = warning;
-- the purchasing team's listener (psql prints each notification as it arrives)
LISTEN retailiq_alert;
CREATE TRIGGER low_stock AFTER INSERT OR UPDATE ON retail.inventory FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');

\echo 'One sale takes an item from its reorder level to below it (the NOTIFY arrives on commit):'
WITH pick AS (SELECT store_id, product_id FROM retail.inventory
               WHERE on_hand >= reorder_level ORDER BY store_id, product_id LIMIT 1)
UPDATE retail.inventory i SET on_hand = i.reorder_level - 1
  FROM pick WHERE (i.store_id, i.product_id) = (pick.store_id, pick.product_id);
SELECT id, kind, severity, message FROM retailiq.alert ORDER BY id;

\echo 'A busy day: every item of store 1 sells 40% of its stock (one UPDATE, 1 row trigger call per item):'
UNLISTEN retailiq_alert;
UPDATE retail.inventory SET on_hand = floor(on_hand * 0.6) WHERE store_id = 1;
SELECT severity, status, count(*) AS alerts FROM retailiq.alert GROUP BY 1, 2 ORDER BY 1, 2;
\echo 'The same again: items already low do not alert twice; those reaching zero escalate to critical:'
UPDATE retail.inventory SET on_hand = floor(on_hand * 0.6) WHERE store_id = 1;
SELECT severity, status, count(*) AS alerts, sum(count) AS occurrences FROM retailiq.alert GROUP BY 1, 2 ORDER BY 1, 2;
\echo 'Deliveries arrive (reorder_qty for every low item): their alerts resolve:'
UPDATE retail.inventory SET on_hand = on_hand + reorder_qty WHERE store_id = 1 AND on_hand < reorder_level;
SELECT status, count(*) AS alerts FROM retailiq.alert GROUP BY 1 ORDER BY 1;

\echo 'Sales against a forecast: for each product of store 1, the last 7 days'' units forecast as'
\echo 'the weekly mean of the 4 weeks before (+-20% interval), stored in retailiq.forecast_result:'
CREATE TEMP VIEW sales_by_series AS
SELECT store_id || '/' || product_id AS series, day, units FROM retail.daily_sales;
SELECT max(day) - 6 AS week_start FROM retail.daily_sales \gset
INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, grain, horizon, yhat,
                                      yhat_lower, yhat_upper, interval_level, model_name)
SELECT '1/' || s.product_id, 1, s.product_id, :'week_start'::date, 'week', 1, sum(s.units) / 4.0,
       sum(s.units) / 4.0 * 0.8, sum(s.units) / 4.0 * 1.2, 0.8, 'demo_4_week_mean'
  FROM retail.daily_sales s
 WHERE s.store_id = 1 AND s.day >= :'week_start'::date - 28 AND s.day < :'week_start'::date
 GROUP BY s.product_id;
SELECT count(*) AS weekly_forecasts FROM retailiq.forecast_result WHERE model_name = 'demo_4_week_mean';
\echo 'retailiq.check_sales_shortfall(0.10, ...) for that week:'
CREATE TEMP TABLE checked AS
SELECT * FROM retailiq.check_sales_shortfall(0.10, 'sales_by_series', since => :'week_start'::date,
                                             until => :'week_start'::date + 7, model_name => 'demo_4_week_mean');
SELECT kind, severity, count(*) AS alerts, round(avg(deviation)::numeric * 100, 1) AS mean_deviation_pct
  FROM checked GROUP BY 1, 2 ORDER BY 1, 2;
SELECT a.message FROM checked c JOIN retailiq.alert a ON a.id = c.alert_id
 WHERE c.kind = 'sales_shortfall' ORDER BY c.forecast - c.actual DESC, c.series LIMIT 3;
\echo 'Safety stock of the best seller from its forecast (2-day lead time, 95% service level):'
SELECT series, round(lead_time_demand::numeric, 1) AS lead_time_demand, round(demand_sd::numeric, 2) AS sd,
       round(safety_stock::numeric, 1) AS safety_stock, round(safe_level::numeric, 1) AS safe_level
  FROM (SELECT series FROM retailiq.forecast_result WHERE model_name = 'demo_4_week_mean'
         ORDER BY yhat DESC, series LIMIT 1) s,
       LATERAL retailiq.safety_stock(s.series, 2, 0.95, :'week_start'::date);
DELETE FROM retailiq.forecast_result WHERE model_name = 'demo_4_week_mean';
DROP TRIGGER low_stock ON retail.inventory;
