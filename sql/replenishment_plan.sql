-- The replenishment plan worked out by hand. A small shop whose forecasts are written
-- directly (so that each day's demand distribution is known): two stores, products 1-6.
-- Forecasts without an interval are Poisson (variance = mean); with an interval, the
-- variance is ((upper - lower) / (2 z)) ^ 2 and demand over the protection period a
-- negative binomial with the summed mean and variance.
SET jit = off;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;

CREATE SCHEMA shop;
CREATE TABLE shop.sales (series text, store_id int, product_id int, day date, units int);
INSERT INTO shop.sales
SELECT s || '/' || p, s, p, date '2025-03-01' + d, 1
  FROM generate_series(1, 2) s, generate_series(1, 6) p, generate_series(0, 27) d;
CREATE TABLE shop.stock (store_id int, product_id int, on_hand int, PRIMARY KEY (store_id, product_id));
SELECT name, store_column, product_column
  FROM retailiq.register_sales_source('shop', 'shop.sales', 'series', 'day', 'units',
                                      store_column => 'store_id', product_column => 'product_id');

-- Bad input first: no forecast, no inventory relation, no inventory row.
SELECT * FROM retailiq.replenishment_plan('shop');
SELECT * FROM retailiq.replenishment_plan('nowhere');
-- 14 days of forecasts from 2025-03-29 for every series: 2 a day, no interval (Poisson);
-- products 5 and 6: 0.2 a day with a wide 80% interval (variance 1 a day: intermittent).
INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, horizon, yhat, yhat_lower,
                                      yhat_upper, interval_level, model_name)
SELECT s || '/' || p, s, p, date '2025-03-29' + h - 1, h,
       CASE WHEN p >= 5 THEN 0.2 ELSE 2 END,
       CASE WHEN p >= 5 THEN 0.2 - retailiq.normal_quantile(0.9) END,
       CASE WHEN p >= 5 THEN 0.2 + retailiq.normal_quantile(0.9) END,
       0.8, 'forecast:shop'
  FROM generate_series(1, 2) s, generate_series(1, 6) p, generate_series(1, 14) h;
SELECT * FROM retailiq.replenishment_plan('shop');
SELECT retailiq.register_source('inventory', 'shop.stock');
INSERT INTO shop.stock SELECT s, p, 3 FROM generate_series(1, 2) s, generate_series(1, 6) p WHERE (s, p) <> (2, 6);
SELECT * FROM retailiq.replenishment_plan('shop');

-- Parameters worked out by hand first with no lead time and a 3-day review (so the order
-- covers the next 3 days' demand, whatever happened before). Store 1:
--   product 1: pack of 6;  product 2: MOQ 20;  product 3: 5 units on order;
--   product 4: 12 on hand (nothing to order);  product 5: intermittent;
--   product 6: perishable, 2 days' shelf life, pack 1.
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, pack_size) VALUES (NULL, 1, 6);
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, moq) VALUES (1, 2, 20);
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, shelf_life_days) VALUES (1, 6, 2);
-- a chain-wide row, overridden per column by more specific rows
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, supplier, lead_time_days, review_days, service_level)
VALUES (NULL, NULL, 'Acme', 0, 3, 0.95);
-- store 2: the default lead time of 2 days and a daily review
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, lead_time_days, review_days) VALUES (2, NULL, 2, 1);
SELECT * FROM retailiq.replenishment_parameters(1, 1);
SELECT * FROM retailiq.replenishment_parameters(2, 3);
SELECT (retailiq.record_purchase_order(1, 3, 5, ordered_on => date '2025-03-28')).po_id;
SELECT po_id, store_id, product_id, quantity, supplier, ordered_on, expected_on, status FROM retailiq.purchase_order;
UPDATE shop.stock SET on_hand = 12 WHERE store_id = 1 AND product_id = 4;
UPDATE shop.stock SET on_hand = 1 WHERE store_id = 1 AND product_id = 6;

-- Demand over the 3 days: Poisson(6), whose 95% quantile is 10 (P(D <= 9) = 0.916,
-- P(D <= 10) = 0.957).
--   product 1: 10 - 3 = 7, two packs of 6: 12.
--   product 2: 10 - 3 = 7, raised to the MOQ: 20.
--   product 3: 10 - (3 + 5) = 2.
--   product 4: 12 >= 10: nothing.
--   product 5: mean 0.6, variance 3: negative binomial r = 0.15, p = 0.2, whose 95% quantile is
--              4 (a Normal would give 0.6 + 1.645 x 1.73 = 3.45); 4 - 3 = 1.
--   product 6: what sells within the 2 days' shelf life (NB mean 0.4 variance 2) at the 5%
--              quantile is 0 units: nothing may be ordered.
SELECT store_id, product_id, on_hand, on_order, demand_mean, demand_quantile, order_up_to, order_qty,
       round(expected_fill_rate::numeric, 3) AS fill_rate, round(days_of_cover::numeric, 1) AS cover, reason
  FROM retailiq.replenishment_plan('shop', stores => ARRAY[1::bigint]);
-- service_target 'pooled': the six series sharing the 95% level get levels whose mean is
-- 95% at the least total stock, none below 2 x 0.95 - 1 = 90%. Over the 3 days, products 1-4
-- (Poisson(6)) take 9 units for 0.9161, 10 for 0.9574 (a unit more serves 0.0413), 11 for
-- 0.9799 (0.0225); products 5-6 (the negative binomial above) 2 for 0.9231, 3 for 0.9480
-- (0.0249), 4 for 0.9637 (0.0157). Each at 95% (10 and 4 units) holds 48 units for a mean of
-- 0.9595. Pooled, the cheapest mean of at least 0.95: 10 units for products 1-4 and 3 for 5-6
-- (mean (4 x 0.9574 + 2 x 0.9480) / 6 = 0.9543, 46 units); 2 for 5-6 would give 0.9460.
-- Product 5 then needs nothing (3 on hand); the others order as before.
SELECT store_id, product_id, round(service_level::numeric, 4) AS level, demand_quantile, order_up_to, order_qty, reason
  FROM retailiq.replenishment_plan('shop', stores => ARRAY[1::bigint], service_target => 'pooled');
SELECT * FROM retailiq.replenishment_plan('shop', service_target => 'maybe');
SELECT * FROM retailiq.replenishment_plan('shop', service_target => NULL);
-- With a lead time, sales are lost, not owed: store 2 orders today for delivery in 2 days,
-- and the delivery must serve the day after it arrives. What sells (or is lost) in the 2
-- days comes out of the 3 units there are, so the day is served when its demand D_R
-- (Poisson(2)) stays within (3 - D_L)+ + q, D_L the 2 days' demand (Poisson(4)). Product 3
-- orders the smallest q with that probability at least 95%, checked here against the
-- probability summed from the Poisson terms; an empty shelf would need the review day's
-- 95% quantile alone, 5 (P(D_R <= 4) = 0.947, P(D_R <= 5) = 0.983), not the 10 of the 3 days.
WITH RECURSIVE pois(lam, k, p, cum) AS (
    SELECT lam, 0, exp(-lam), exp(-lam) FROM (VALUES (2.0), (4.0)) v(lam)
    UNION ALL
    SELECT lam, k + 1, p * lam / (k + 1), cum + p * lam / (k + 1) FROM pois WHERE k < 40),
served(q, p) AS (
    SELECT q, sum(l.p * r.cum)
      FROM generate_series(0, 8) q
     CROSS JOIN pois l
      JOIN pois r ON r.lam = 2 AND r.k = greatest(3 - l.k, 0) + q
     WHERE l.lam = 4 GROUP BY q)
SELECT (SELECT min(q) FROM served WHERE p >= 0.95) AS q_by_sum,
       (SELECT order_qty FROM retailiq.replenishment_plan('shop', stores => ARRAY[2::bigint], missing_inventory => 'skip')
         WHERE product_id = 3) AS q_plan,
       (SELECT order_qty FROM retailiq_internal.replenishment_order(array_fill(2::float8, ARRAY[3]), array_fill(2::float8, ARRAY[3]),
                                                                   2, 1, 0, 0.95, 0, 0, 1, 0)) AS q_empty_shelf;
-- a Poisson perishable: 2 a day, no lead time, 3-day review, a 4-day shelf life: 4 days'
-- demand is Poisson(8), whose 5% quantile is 4 (P(D <= 3) = 0.042, P(D <= 4) = 0.100): with
-- 1 on hand, order 3, not the 9 the 3 days' 95% quantile (10) would call for.
SELECT order_up_to, order_qty, reason
  FROM retailiq_internal.replenishment_order(array_fill(2::float8, ARRAY[4]), array_fill(2::float8, ARRAY[4]),
                                            0, 3, 4, 0.95, 1, 0, 1, 0);
-- The quantile checked against the negative binomial's cumulative distribution summed here.
WITH RECURSIVE nb(k, p, cum) AS (
    SELECT 0, 0.2 ^ 0.15, 0.2 ^ 0.15
    UNION ALL
    SELECT k + 1, p * (k + 0.15) / (k + 1) * 0.8, cum + p * (k + 0.15) / (k + 1) * 0.8 FROM nb WHERE k < 40)
SELECT (SELECT min(k) FROM nb WHERE cum >= 0.95) AS q95, (SELECT min(k) FROM nb WHERE cum >= 0.90) AS q90,
       (SELECT order_qty FROM retailiq_internal.replenishment_order(ARRAY[0.2, 0.2, 0.2], ARRAY[1, 1, 1]::float8[],
                                  0, 3, 0, 0.95, 0, 0, 1, 0)) AS c95,
       (SELECT order_qty FROM retailiq_internal.replenishment_order(ARRAY[0.2, 0.2, 0.2], ARRAY[1, 1, 1]::float8[],
                                  0, 3, 0, 0.90, 0, 0, 1, 0)) AS c90;

-- Store 2 lacks a row for product 6: refused unless told what to do.
SELECT count(*) FROM retailiq.replenishment_plan('shop');
SELECT store_id, product_id, on_hand, order_qty, reason
  FROM retailiq.replenishment_plan('shop', missing_inventory => 'zero') WHERE store_id = 2 AND product_id = 6;
SELECT count(*) FROM retailiq.replenishment_plan('shop', missing_inventory => 'skip');
SELECT * FROM retailiq.replenishment_plan('shop', missing_inventory => 'maybe');
INSERT INTO shop.stock VALUES (2, 6, 0);

-- Receiving the order: no longer on order; with add_to_inventory the stock grows by it.
SELECT status, received_qty, received_on FROM retailiq.receive_purchase_order(1, received_on => date '2025-03-30',
                                                                               add_to_inventory => true);
SELECT on_hand FROM shop.stock WHERE store_id = 1 AND product_id = 3;
SELECT on_order, order_qty FROM retailiq.replenishment_plan('shop') WHERE store_id = 1 AND product_id = 3;
SELECT * FROM retailiq.receive_purchase_order(1);
SELECT * FROM retailiq.receive_purchase_order(99);
SELECT retailiq.record_purchase_order(1, 3, 0);

-- Bad parameters are refused by the table: negative lead time, service level 0 or 1.
\set VERBOSITY terse
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, lead_time_days) VALUES (2, 1, -1);
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, service_level) VALUES (2, 1, 0);
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, service_level) VALUES (2, 1, 1);
\set VERBOSITY default
SELECT * FROM retailiq_internal.replenishment_order(ARRAY[1]::float8[], ARRAY[1]::float8[], -1, 1, 0, 0.9, 0, 0, 1, 0);
SELECT * FROM retailiq_internal.replenishment_order(ARRAY[1, 1]::float8[], ARRAY[1]::float8[], 1, 1, 0, 0.9, 0, 0, 1, 0);
SELECT * FROM retailiq_internal.replenishment_order(ARRAY[1, 1]::float8[], ARRAY[1, 'NaN']::float8[], 1, 1, 0, 0.9, 0, 0, 1, 0);
SELECT * FROM retailiq_internal.replenishment_order(ARRAY[1, 1]::float8[], ARRAY[1, 1]::float8[], 1, 1, 0, 1, 0, 0, 1, 0);
SELECT * FROM retailiq_internal.replenishment_order(ARRAY[1, 1]::float8[], ARRAY[1, 1]::float8[], 1, 1, 0, 0.9, 0, 0, 0, 0);
SELECT * FROM retailiq_internal.replenishment_order(ARRAY[1, 1]::float8[], ARRAY[1, 1]::float8[], 1, 1, 0, 0.9, 0, NULL, 1, 0);

-- The nightly job stores the plan; purchasers read every store, a store manager only theirs.
SELECT retailiq.refresh_replenishment_plan('shop') AS rows_written;
SELECT retailiq.refresh_replenishment_plan('shop') AS rows_replaced;
SELECT plan_date, count(*), sum(order_qty) FROM retailiq.order_plan GROUP BY 1;
SELECT job_name, schedule, command, enabled FROM retailiq.job WHERE job_name = 'nightly_replenishment';
SELECT retailiq.create_standard_roles();
CREATE ROLE riq_buyer LOGIN IN ROLE retailiq_purchaser;
CREATE ROLE riq_mgr2 LOGIN IN ROLE retailiq_store_manager;
CREATE ROLE riq_nobody LOGIN;
SELECT retailiq.grant_store('riq_mgr2', 2);
GRANT USAGE ON SCHEMA shop TO riq_buyer, riq_mgr2;
GRANT SELECT ON shop.sales, shop.stock TO riq_buyer, riq_mgr2;
SET ROLE riq_buyer;
SELECT store_id, count(*) FROM retailiq.order_plan GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM retailiq.replenishment_plan('shop');
SELECT (retailiq.record_purchase_order(1, 1, 12)).status;
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, pack_size) VALUES (2, 2, 4);
RESET ROLE;
SET ROLE riq_mgr2;
SELECT store_id, count(*) FROM retailiq.order_plan GROUP BY 1 ORDER BY 1;
SELECT store_id, product_id, status FROM retailiq.purchase_order ORDER BY po_id;
SELECT retailiq.record_purchase_order(1, 1, 12);
SELECT (retailiq.record_purchase_order(2, 1, 12)).store_id;
SELECT count(*) FROM retailiq.replenishment_plan('shop', stores => ARRAY[2::bigint]);
INSERT INTO retailiq.replenishment_parameter (store_id, product_id, pack_size) VALUES (2, 3, 4);
RESET ROLE;
SET ROLE riq_nobody;
SELECT count(*) FROM retailiq.order_plan;
SELECT count(*) FROM retailiq.purchase_order;
RESET ROLE;

-- The purchaser's page: the orders, the stock-outs they avoid, the sections of other parts.
SELECT length(p) > 1000 AS html, p LIKE '%orders to place%' AS kpis, p LIKE '%<td>1</td><td>2</td>%' AS moq_row,
       p LIKE '%Slow movers%' AS slow, p LIKE '%Forecast health%' AS health
  FROM retailiq.report_purchaser('shop') p;
-- the expected stock-outs averted on the page, counted again from the stored plan
SELECT substring(p FROM '<div class="v">([0-9,]+)</div><div class="l">expected stock-outs averted') =
       (SELECT count(*)::text FROM retailiq.order_plan o
         WHERE o.source = 'shop' AND o.plan_date = (SELECT max(plan_date) FROM retailiq.order_plan WHERE source = 'shop')
           AND o.order_qty > 0 AND o.on_hand + o.on_order < o.demand_mean
           AND o.on_hand + o.on_order + o.order_qty >= o.demand_mean) AS averted_counted,
       (SELECT count(*) FROM retailiq.order_plan o WHERE o.source = 'shop' AND o.order_qty > 0
           AND o.on_hand + o.on_order < o.demand_mean AND o.on_hand + o.on_order + o.order_qty >= o.demand_mean) AS averted
  FROM retailiq.report_purchaser('shop') p;

-- A forecast made on the log scale (the dynamic regression's): its interval is expm1 of a
-- Normal's quantiles, skewed to the right. Median 100 (m = ln 101), s = 0.5 at 80% (z =
-- 1.2816): bounds expm1(m -/+ 0.6408) = 52.22 and 190.57. The plan reads the log-normal
-- through the bounds: mean 101 e^0.125 - 1 = 113.45 (not the point, 100), variance
-- (e^0.25 - 1) 101^2 e^0.25 = 3720.3 (the Normal reading of the width would give
-- ((190.57 - 52.22) / 2.5631)^2 = 2913.5 around 100). A symmetric interval, one whose lower
-- bound is 0 or below, and no interval keep the Normal and Poisson readings.
SELECT round(m.mean::numeric, 2) AS mean, round(m.var::numeric, 1) AS var
  FROM retailiq_internal.replenishment_moments(100, exp(ln(101) - 0.5 * retailiq.normal_quantile(0.9)) - 1,
                                               exp(ln(101) + 0.5 * retailiq.normal_quantile(0.9)) - 1, 0.8) m;
SELECT round(m.mean::numeric, 2) AS mean, round(m.var::numeric, 4) AS var
  FROM (VALUES (1, 5::float8, 3::float8, 7::float8, 0.8::float8), (2, 0.2, 0, 3, 0.8), (3, 2, NULL, NULL, NULL),
               (4, -0.5, NULL, NULL, NULL)) v(i, y, lo, hi, lv)
 CROSS JOIN LATERAL retailiq_internal.replenishment_moments(v.y, v.lo, v.hi, v.lv) m ORDER BY v.i;
-- in the plan: store 1's product 4 (no lead time, a 3-day review) with those forecasts has
-- demand 3 x 113.45 = 340.34 over its protection period
UPDATE retailiq.forecast_result
   SET yhat = 100, yhat_lower = exp(ln(101) - 0.5 * retailiq.normal_quantile(0.9)) - 1,
       yhat_upper = exp(ln(101) + 0.5 * retailiq.normal_quantile(0.9)) - 1, interval_level = 0.8
 WHERE model_name = 'forecast:shop' AND series = '1/4';
SELECT series, lead_time_days, review_days, round(demand_mean::numeric, 2) AS demand_mean
  FROM retailiq.replenishment_plan('shop') WHERE series = '1/4';

SELECT retailiq.revoke_store('riq_mgr2', 2);
DROP OWNED BY riq_buyer, riq_mgr2, riq_nobody;
DROP ROLE riq_buyer, riq_mgr2, riq_nobody;
SELECT retailiq.unregister_source('inventory');
SELECT retailiq.unregister_sales_source('shop', drop_forecasts => true);
DELETE FROM retailiq.replenishment_parameter;
DELETE FROM retailiq.order_plan;
DELETE FROM retailiq.purchase_order;
DROP SCHEMA shop CASCADE;
