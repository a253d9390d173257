-- Slow movers and dead stock (doc/slow-movers.md), worked by hand on two stores and four
-- products. Thresholds for this source: a 14-day window, slow above 30 days of cover, dead
-- after 2 weeks without a sale, stores under 10 days of cover take stock moved to them.
CREATE SCHEMA sm;
CREATE TABLE sm.sales (day date, store_id int, product_id int, units int);
INSERT INTO sm.sales
SELECT d, 1, 10, 2 FROM generate_series(date '2025-01-01', '2025-01-14', '1 day') d       -- 2 a day
UNION ALL SELECT '2025-01-03', 1, 20, 7                                                     -- once
UNION ALL SELECT '2024-12-20', 1, 30, 5                                                     -- before the window
UNION ALL SELECT '2025-01-14', 1, 40, 1
UNION ALL SELECT d, 2, 20, 3 FROM generate_series(date '2025-01-01', '2025-01-14', '1 day') d;  -- 3 a day
CREATE VIEW sm.series AS SELECT store_id || '/' || product_id AS series, * FROM sm.sales;
CREATE TABLE sm.inventory (store_id int, product_id int, on_hand int);
INSERT INTO sm.inventory VALUES (1, 10, 20), (1, 20, 40), (1, 30, 12), (1, 40, 1), (2, 20, 6), (2, 30, 5);
CREATE TABLE sm.products (product_id int, category text, price numeric, unit_cost numeric);
INSERT INTO sm.products VALUES (10, 'dairy', 2, 1), (20, 'bakery', 5, 3), (30, 'snacks', 1, 0.5), (40, 'wine', 10, 6);

-- no inventory registered yet: the error names what is missing
SELECT (retailiq.register_sales_source('sm', 'sm.series', 'series', 'day', 'units', method => 'snaive',
                                      store_column => 'store_id', product_column => 'product_id')).name AS registered;
SELECT * FROM retailiq.slow_movers('sm');
SELECT retailiq.register_source('inventory', 'sm.inventory') AS inventory;
SELECT retailiq.register_source('products', 'sm.products') AS products;
SELECT retailiq.set_planning_threshold(name, value, 'sm')
  FROM (VALUES ('slow_window_days', 14), ('slow_days_of_cover', 30), ('dead_weeks', 2), ('move_below_days', 10)) v(name, value);

-- customers often buy 30 with 10 (a saved rules model over product ids)
SELECT retailiq.save_model('basket_rules', retailiq.rules_model(ARRAY[
    ROW(ARRAY[30]::bigint[], ARRAY[10]::bigint[], 0.1, 0.6, 3.0, 0.05, 2.0, 10)::retailiq.rule_bigint])) > 0 AS saved;

-- Store 1 revenue over Jan 1-14: product 10 56 (28 x 2), 20 35 (7 x 5), 40 10, 30 nothing:
-- 10 and 20 are A (less than 80% of 101 above them), 40 B (91 above < 95.95), 30 C.
-- Weekly demand: 10 sells 14 and 14 (CV 0, X); 20 0 and 7 (CV 1, Y); 40 1 and 0 (Y).
-- 1/20: 40 on hand at 0.5 a day = 80 days of cover > 30: slow; store 2 sells 3 a day with 2
--       days of cover: move min(40 - ceil(0.5 x 30), ceil(3 x 30 - 6)) = 25 units there.
-- 1/30: no sale since Dec 20 (3.6 weeks >= 2): dead; no store sells it: bundle with 10.
-- 2/30: never sold: dead. Stock value at unit cost.
SELECT store_id, product_id, round(days_of_cover::numeric, 2) AS cover, round(sell_through::numeric, 4) AS sell_through,
       round(weeks_since_last_sale::numeric, 3) AS weeks, abc, xyz, status, stock_value, action,
       move_to_store, move_units, bundle_with
  FROM retailiq.slow_movers('sm', '2025-01-14');
SELECT store_id, product_id, reason FROM retailiq.slow_movers('sm', '2025-01-14') WHERE status <> 'ok';
-- rules saved under another name (none here: mark down instead of bundling)
SELECT store_id, product_id, action FROM retailiq.slow_movers('sm', '2025-01-14', 'other_rules') WHERE status <> 'ok';
-- the default as_of is the source's latest day
SELECT count(*) FROM retailiq.slow_movers('sm') a JOIN retailiq.slow_movers('sm', '2025-01-14') b
 USING (store_id, product_id) WHERE a.status = b.status AND a.action IS NOT DISTINCT FROM b.action;

-- Alerts when an item turns slow: a first check records, later ones compare.
SELECT * FROM retailiq.check_slow_movers('sm', '2025-01-14');
UPDATE sm.inventory SET on_hand = 80 WHERE store_id = 1 AND product_id = 10;   -- 40 days of cover
SELECT store_id, product_id, status, previous, action, alert_id IS NOT NULL AS alerted
  FROM retailiq.check_slow_movers('sm', '2025-01-14');
SELECT kind, severity, subject, audience, status, message FROM retailiq.alert WHERE kind = 'slow_mover' AND subject ->> 'source' = 'sm';
UPDATE sm.inventory SET on_hand = 20 WHERE store_id = 1 AND product_id = 10;
SELECT store_id, product_id, status, previous FROM retailiq.check_slow_movers('sm', '2025-01-14');
SELECT kind, status FROM retailiq.alert WHERE kind = 'slow_mover' AND subject ->> 'source' = 'sm';
SELECT store_id, product_id, status, previous, action, alert_id IS NOT NULL AS alerted
  FROM retailiq.check_slow_movers('sm', '2025-01-07');
-- the share over time, for the reports
SELECT * FROM retailiq.report_slow_movers('sm', '2025-01-01', '2025-01-31');
SELECT as_of, products, slow_share FROM retailiq.report_slow_movers('sm', '2025-01-01', '2025-01-31', 2);

-- an ordinary role reads them with its own rights on the tables
CREATE ROLE sm_reader;
GRANT USAGE ON SCHEMA sm TO sm_reader;
SET ROLE sm_reader;
\set VERBOSITY terse
SELECT * FROM retailiq.slow_movers('sm', '2025-01-14');
\set VERBOSITY default
RESET ROLE;
GRANT SELECT ON ALL TABLES IN SCHEMA sm TO sm_reader;
SET ROLE sm_reader;
SELECT count(*) AS rows, count(*) FILTER (WHERE status <> 'ok') AS flagged FROM retailiq.slow_movers('sm', '2025-01-14');
\set VERBOSITY terse
SELECT * FROM retailiq.check_slow_movers('sm', '2025-01-14');   -- it writes the history: the nightly job's owner runs it
\set VERBOSITY default
RESET ROLE;

-- bad input
SELECT * FROM retailiq.slow_movers(NULL);
SELECT * FROM retailiq.slow_movers('nope');
SELECT (retailiq.register_sales_source('sm_nokeys', 'sm.series', 'series', 'day', 'units', method => 'snaive')).name;
SELECT * FROM retailiq.slow_movers('sm_nokeys');
SELECT * FROM retailiq.report_slow_movers('sm', '2025-02-01', '2025-01-01');
SELECT retailiq.save_model('text_rules', retailiq.rules_model(ARRAY[
    ROW(ARRAY['x'], ARRAY['y'], 0.1, 0.6, 3.0, 0.05, 2.0, 10)::retailiq.rule])) > 0 AS saved;
SELECT * FROM retailiq.slow_movers('sm', '2025-01-14', 'text_rules');
SELECT retailiq.set_planning_threshold('slow_days_of_cover', 0, 'sm');
SELECT retailiq.set_planning_threshold('no_such', 1);
SELECT retailiq.set_planning_threshold('dead_weeks', 4, 'nope');
SELECT name, value, set_for FROM retailiq.planning_thresholds('sm') ORDER BY name;
SELECT details FROM retailiq.audit_log WHERE action = 'forecast_parameters_changed' AND details ->> 'source' = 'sm'
   AND details ->> 'change' = 'threshold' ORDER BY id DESC LIMIT 1;

SELECT retailiq.unregister_sales_source(n) FROM unnest(ARRAY['sm', 'sm_nokeys']) n;
SELECT retailiq.unregister_source('inventory'), retailiq.unregister_source('products');
DELETE FROM retailiq.planning_threshold WHERE source = 'sm';
DELETE FROM retailiq.models WHERE name IN ('basket_rules', 'text_rules');
DROP OWNED BY sm_reader;
DROP ROLE sm_reader;
DROP SCHEMA sm CASCADE;
