-- reports: sales, forecast accuracy and behaviour by period over a tiny shop whose every
-- figure can be checked by hand (comments give the arithmetic); materialisation; HTML.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE SCHEMA rep_shop;
CREATE TABLE rep_shop.products (product_id int PRIMARY KEY, category text);
CREATE TABLE rep_shop.store_zones (store_id int, zone_id int, zone_name text, category text);
CREATE TABLE rep_shop.orders (order_id bigint, customer_id int, store_id int, channel text,
                              ordered_at timestamptz, total_amount numeric);
CREATE TABLE rep_shop.order_lines (order_id bigint, product_id int, quantity int, unit_price numeric,
                                   discount numeric, promo_id int);
CREATE TABLE rep_shop.events (customer_id int, store_id int, channel text, event_type text,
                              product_id int, zone_id int, occurred_at timestamptz, duration_s int);
INSERT INTO rep_shop.products VALUES (1, 'dairy'), (2, 'snacks');
INSERT INTO rep_shop.store_zones VALUES (1, 1, 'dairy', 'dairy'), (1, 2, 'checkout', NULL);
-- Monday 3 March: customer 1 in store 1 (3 units, 30); Tuesday 4: customer 2 online via
-- store 2 (2 units, 20); Tuesday 11: customer 1 again (3 units, 15)
INSERT INTO rep_shop.orders VALUES
 (1, 1, 1, 'store', '2025-03-03 10:00+00', 30), (2, 2, 2, 'online', '2025-03-04 12:00+00', 20),
 (3, 1, 1, 'store', '2025-03-11 09:00+00', 15);
INSERT INTO rep_shop.order_lines VALUES (1, 1, 2, 10, 0, NULL), (1, 2, 1, 10, 0, NULL),
 (2, 1, 2, 10, 0, NULL), (3, 2, 3, 5, 0, NULL);
-- customer 2 views and carts product 1, then buys it; customer 3 only views product 2;
-- customer 1 dwells 10 minutes in dairy and 2 at the checkout
INSERT INTO rep_shop.events VALUES
 (2, NULL, 'online', 'view', 1, NULL, '2025-03-04 11:50+00', NULL),
 (2, NULL, 'online', 'cart_add', 1, NULL, '2025-03-04 11:55+00', NULL),
 (3, NULL, 'online', 'view', 2, NULL, '2025-03-04 13:00+00', NULL),
 (1, 1, 'store', 'dwell', NULL, 1, '2025-03-03 09:50+00', 600),
 (1, 1, 'store', 'dwell', NULL, 2, '2025-03-03 09:58+00', 120);
-- forecasts: store 1 product 1 on the 3rd: 4 units in [3, 5] (an older forecast of 100 is
-- superseded), store 1 product 2: 1 in [0, 2]; store 2 product 1 on the 4th: 2 (no interval);
-- a series without store and product ('all', or a key that only looks like '3/1') is not a
-- store's sales of a product: reports leave it out (keys are never parsed)
INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, model_name, created_at) VALUES
 ('s1-p1', 1, 1, '2025-03-03', 'day', 1, 100, NULL, NULL, 'ets', '2025-03-01 00:00+00'),
 ('s1-p1', 1, 1, '2025-03-03', 'day', 1, 4, 3, 5, 'ets', '2025-03-02 00:00+00'),
 ('s1-p2', 1, 2, '2025-03-03', 'day', 1, 1, 0, 2, 'ets', '2025-03-02 00:00+00'),
 ('s2-p1', 2, 1, '2025-03-04', 'day', 1, 2, NULL, NULL, 'ets', '2025-03-02 00:00+00'),
 ('all', NULL, NULL, '2025-03-04', 'day', 1, 99, NULL, NULL, 'ets', '2025-03-02 00:00+00'),
 ('3/1', NULL, NULL, '2025-03-04', 'day', 1, 50, NULL, NULL, 'ets', '2025-03-02 00:00+00');
SELECT retailiq.register_event_source('rep_shop');

-- by day: the 3rd sold 3 units of forecast 5 (achievement 0.6, bias (5-3)/3); the 4th exactly
-- its forecast; the 5th nothing (an empty period is a row of zeros)
SELECT period_start, store_id, orders, customers, units, sales, avg_basket, forecast_units,
       forecast_actual_units, round(achievement::numeric, 4) AS achievement, round(bias::numeric, 4) AS bias
  FROM retailiq.report_sales('daily', '2025-03-03', '2025-03-05');
-- by week (Monday to Sunday): 2 orders for 50 = 25 a basket; forecast 7, sold 5
SELECT period_start, orders, customers, units, sales, avg_basket, forecast_units,
       round(achievement::numeric, 4) AS achievement, round(bias::numeric, 4) AS bias
  FROM retailiq.report_sales('weekly', '2025-03-03', '2025-03-16');
-- by store, and one store only
SELECT period_start, store_id, orders, units, sales, forecast_units, forecast_actual_units
  FROM retailiq.report_sales('monthly', '2025-03-01', '2025-03-31', by_store => true);
SELECT period_start, store_id, orders, units, sales
  FROM retailiq.report_sales('monthly', '2025-03-01', '2025-03-31', store => 2);

-- accuracy: on the 3rd |2-4| + |1-1| = 2 over 3 units sold (WAPE 0.6667), mean absolute error
-- 1, one of the two actuals inside its interval; the 4th is exact and has no interval
SELECT period_start, model_name, series, points, forecast_units, actual_units,
       round(wape::numeric, 4) AS wape, round(bias::numeric, 4) AS bias, mae, interval_coverage
  FROM retailiq.report_forecast_accuracy('daily', '2025-03-01', '2025-03-31');

-- behaviour in the week of the 3rd: 2 products viewed, 1 carted, 1 bought; the dairy zone at
-- 09:00 holds 10 minutes of dwell; customers 1 and 2 are new; nobody is lost yet
SELECT period_start, metric, dimension, round(value::numeric, 4) AS value
  FROM retailiq.report_behaviour('weekly', '2025-03-03', '2025-03-09')
 WHERE metric <> 'tags_added';
-- both are lost in June: their last orders (4 and 11 March) + 90 days = 2 and 9 June
SELECT period_start, value FROM retailiq.report_behaviour('monthly', '2025-03-01', '2025-07-31')
 WHERE metric = 'lost_customers';

-- the scheduler's jobs: the last complete period before as_of
SELECT retailiq.materialize_report('weekly', '2025-03-12') > 0 AS wrote;
SELECT grain, period_start, store_id, orders, units, sales FROM retailiq.report_sales_data ORDER BY store_id NULLS FIRST;
SELECT retailiq.materialize_report('weekly', '2025-03-13') > 0 AS wrote_again;  -- replaces, no duplicates
SELECT count(*) FROM retailiq.report_sales_data;
SELECT retailiq.materialize_report('daily', '2025-03-04') > 0, retailiq.materialize_report('monthly', '2025-04-01') > 0;
SELECT grain, period_start, orders FROM retailiq.report_sales_data WHERE store_id IS NULL ORDER BY grain;
SELECT grain, period_start, model_name, series FROM retailiq.report_forecast_accuracy_data ORDER BY grain;
-- CSV export
COPY (SELECT period_start, orders, units, sales FROM retailiq.report_sales('daily', '2025-03-03', '2025-03-04'))
  TO STDOUT WITH (FORMAT csv, HEADER);

-- HTML: three charts, no script, figures present; an empty period says so
SELECT (length(h) - length(replace(h, '<svg', ''))) / 4 AS charts, position('<script' IN h) AS scripts,
       h LIKE '%<div class="v">65</div><div class="l">sales</div>%' AS sales_shown,
       h LIKE '%No orders in this period%' AS says_empty
  FROM (SELECT retailiq.report_html('2025-03-01', '2025-03-31') AS h) s;
SELECT h LIKE '%No orders in this period%' AS says_empty, h LIKE '%No online product views%' AS no_funnel
  FROM (SELECT retailiq.report_html('2026-01-01', '2026-01-31') AS h) s;
-- The segment section uses the customer profile only when it scored this source's orders as of
-- a day of the report's period; otherwise it computes RFM and says why the profile was left out.
SELECT retailiq.refresh_customer_profile('2025-03-05') \g /dev/null
SELECT substring(h from 'customer_profile \(as of [0-9-]+\)') AS segments_from
  FROM (SELECT retailiq.report_html('2025-03-01', '2025-03-31') AS h) s;
SELECT substring(h from 'RFM as of [^<]*') AS segments_from
  FROM (SELECT retailiq.report_html('2025-04-01', '2025-04-30') AS h) s;
UPDATE retailiq.customer_profile_data SET orders_source = 'other_shop.orders';
SELECT substring(h from 'RFM as of [^<]*') AS segments_from
  FROM (SELECT retailiq.report_html('2025-03-01', '2025-03-31') AS h) s;
DELETE FROM retailiq.customer_profile_data;

-- errors
SELECT * FROM retailiq.report_sales('hourly', '2025-03-01', '2025-03-31');
SELECT * FROM retailiq.report_sales(NULL, '2025-03-01', '2025-03-31');
SELECT * FROM retailiq.report_sales('daily', '2025-03-31', '2025-03-01');
SELECT * FROM retailiq.report_forecast_accuracy('daily', NULL, '2025-03-01');
SELECT * FROM retailiq.report_behaviour('yearly', '2025-03-01', '2025-03-31');
SELECT retailiq.materialize_report('yearly');
SELECT retailiq.report_html('2025-03-31', '2025-03-01');

-- clean up: other suites share this database
DELETE FROM retailiq.report_sales_data;
DELETE FROM retailiq.report_behaviour_data;
DELETE FROM retailiq.report_forecast_accuracy_data;
DELETE FROM retailiq.forecast_result WHERE model_name = 'ets' AND period_start BETWEEN '2025-03-03' AND '2025-03-04';
DELETE FROM retailiq.source;
DROP SCHEMA rep_shop CASCADE;
