-- The sample's planted promotion uplift recovered by promotion_effects.
--
--   psql -X -f test/bench/pricing/sample_uplift.sql
--
-- The generator (src/sample/world.c) multiplies a promoted product's pick weight by
-- 1 + 6 x depth (x 1.5 when featured), on every store's customers (the promotion's store
-- only decides who gets the discount), so the planted value of a promotion is that
-- multiplier, and the series are each product's chain-wide daily units. Two further planted
-- mechanisms move units too: bargain hunters (15% of customers) pick 60% of their products
-- from whatever is on promotion, and 30% of every customer's picks come from their favourite
-- category regardless of promotions. So the figures are given twice: on all sales, and on
-- the sales to customers who are not bargain hunters (planted_customers), where only the
-- multiplier and the favourite-category picks act: there the planted effect on units is
-- 0.3 + 0.7 x multiplier (favourite-category picks use the static popularity, world.c
-- world_categories; categories of about equal weight make the favourite picks 30% of every
-- product's units). That is the figure held to +-10%; with bargain hunters the planted effect
-- has no closed form (it depends on how many products are promoted that day) and is shown
-- for information.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS upl CASCADE;
\timing on
SELECT count(*) AS tables FROM retailiq.generate_sample_data('upl', customers => 5000, stores => 5, products => 200);
\timing off
CREATE TABLE upl.sales_nb AS
SELECT o.store_id, l.product_id, (o.ordered_at AT TIME ZONE 'UTC')::date AS day,
       sum(l.quantity)::float8 AS units, sum(l.quantity * l.unit_price - l.discount)::float8 AS revenue
FROM upl.order_lines l JOIN upl.orders o USING (order_id)
JOIN upl.planted_customers c USING (customer_id)
WHERE c.customer_type <> 'bargain hunter'
GROUP BY 1, 2, 3;
CREATE TABLE upl.results (sales text, promo_id bigint, uplift float8, planted float8, planted_units float8);
\timing on
INSERT INTO upl.results
SELECT 'all customers', e.promo_id, e.uplift, 1 + 6 * p.discount_pct / 100 * CASE WHEN p.featured THEN 1.5 ELSE 1 END, NULL
FROM retailiq.promotion_effects('upl.daily_sales', 'upl.promotions', 'upl.products', '{"grain": "chain"}') e
JOIN upl.promotions p USING (promo_id) WHERE e.reason IS NULL OR e.reason NOT LIKE 'no baseline%';
INSERT INTO upl.results
SELECT 'no bargain hunters', e.promo_id, e.uplift, 1 + 6 * p.discount_pct / 100 * CASE WHEN p.featured THEN 1.5 ELSE 1 END,
       0.3 + 0.7 * (1 + 6 * p.discount_pct / 100 * CASE WHEN p.featured THEN 1.5 ELSE 1 END)
FROM retailiq.promotion_effects('upl.sales_nb', 'upl.promotions', 'upl.products', '{"grain": "chain"}') e
JOIN upl.promotions p USING (promo_id) WHERE e.reason IS NULL OR e.reason NOT LIKE 'no baseline%';
\timing off
SELECT sales, count(*) AS promotions, round(avg(planted)::numeric, 3) AS mean_multiplier,
       round(avg(planted_units)::numeric, 3) AS mean_planted_units,
       round(avg(uplift)::numeric, 3) AS mean_recovered,
       round((avg(uplift) / avg(planted_units))::numeric, 3) AS ratio,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY uplift / planted_units)::numeric, 3) AS median_ratio,
       round(corr(uplift, planted)::numeric, 3) AS corr,
       CASE WHEN avg(planted_units) IS NULL THEN 'information'
            WHEN abs(avg(uplift) / avg(planted_units) - 1) <= 0.1 THEN 'PASS' ELSE 'FAIL' END AS within_10pct
FROM upl.results GROUP BY 1 ORDER BY 1;
DROP SCHEMA upl CASCADE;
