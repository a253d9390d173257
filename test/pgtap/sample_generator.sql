-- The sample-data generator: it plants structure, and these tests check that it is there.
BEGIN;
SELECT plan(24);

SELECT is((SELECT count(*) FROM retailiq.generate_sample_data('gen', 2000, 5, 120, 365, 7) WHERE row_count > 0),
          14::bigint, 'generate_sample_data fills all 14 tables');

-- churners stop buying at their churn date, and did buy before it
SELECT is((SELECT count(*) FROM gen.orders o JOIN gen.planted_customers p USING (customer_id)
           WHERE o.ordered_at >= p.churn_date), 0::bigint, 'no orders on or after a planted churn date');
SELECT cmp_ok((SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM gen.orders o WHERE o.customer_id = p.customer_id))::float8
                      / count(*) FROM gen.planted_customers p WHERE churn_date IS NOT NULL),
              '>', 0.7::float8, 'most planted churners bought before churning');
SELECT ok((SELECT count(*) FILTER (WHERE churn_date IS NOT NULL)::float8 / count(*) FROM gen.planted_customers)
          BETWEEN 0.15 AND 0.3, 'about a fifth to a quarter of customers churn');

-- weekly seasonality: Saturday is the busiest day, Monday and Tuesday the quietest
SELECT cmp_ok((SELECT count(*) FILTER (WHERE extract(isodow FROM ordered_at AT TIME ZONE 'UTC') = 6)::float8
                    / count(*) FILTER (WHERE extract(isodow FROM ordered_at AT TIME ZONE 'UTC') = 2)
               FROM gen.orders), '>', 1.3::float8, 'Saturday has over 30% more orders than Tuesday');
-- holidays and their eves lift sales
SELECT cmp_ok((SELECT avg(n) FILTER (WHERE c.is_holiday) / avg(n) FILTER (WHERE NOT c.is_holiday AND NOT c2.is_holiday)
               FROM (SELECT (ordered_at AT TIME ZONE 'UTC')::date d, count(*) n FROM gen.orders GROUP BY 1) x
               JOIN gen.calendar c ON c.day = x.d LEFT JOIN gen.calendar c2 ON c2.day = x.d + 1),
              '>', 1.15::numeric, 'holidays sell over 15% more than ordinary days');
-- yearly cycle: December above June
SELECT cmp_ok((SELECT count(*) FILTER (WHERE extract(month FROM ordered_at AT TIME ZONE 'UTC') = 12)::float8
                    / count(*) FILTER (WHERE extract(month FROM ordered_at AT TIME ZONE 'UTC') = 6) FROM gen.orders),
              '>', 1.1::float8, 'December sells over 10% more than June');

-- planted rules: the consequent follows the antecedent far above chance
CREATE TEMP TABLE rule_check AS
WITH n AS (SELECT count(*)::float8 AS baskets FROM gen.orders),
     c AS (SELECT product_id, count(*)::float8 AS k FROM gen.order_lines GROUP BY 1)
SELECT r.antecedent_product_id, r.consequent_product_id, r.probability,
       ca.k AS n_a,
       (SELECT count(*) FROM gen.order_lines x JOIN gen.order_lines y USING (order_id)
        WHERE x.product_id = r.antecedent_product_id AND y.product_id = r.consequent_product_id)::float8 AS n_ac,
       cc.k AS n_c, n.baskets
FROM gen.planted_rules r JOIN c ca ON ca.product_id = r.antecedent_product_id
JOIN c cc ON cc.product_id = r.consequent_product_id, n;
SELECT is((SELECT count(*) FROM gen.planted_rules), 6::bigint, 'one planted rule per 20 products');
SELECT ok((SELECT bool_and(n_ac * baskets / (n_a * n_c) > 3) FROM rule_check),
          'every planted pair has lift above 3');
SELECT ok((SELECT bool_and(abs(n_ac / n_a - probability) < 0.1) FROM rule_check WHERE n_a >= 100),
          'confidence of each planted rule is near its planted probability');

-- promotions lift a product's daily units
SELECT cmp_ok((
  WITH days AS (SELECT p.product_id, c.day,
                       EXISTS (SELECT 1 FROM gen.promotions pm WHERE pm.product_id = p.product_id
                               AND pm.store_id IS NULL AND c.day BETWEEN pm.starts_on AND pm.ends_on) AS promo
                FROM (SELECT DISTINCT product_id FROM gen.promotions) p CROSS JOIN gen.calendar c),
       units AS (SELECT d.promo, coalesce(sum(s.units), 0) AS u
                 FROM days d LEFT JOIN gen.daily_sales s ON s.product_id = d.product_id AND s.day = d.day
                 GROUP BY d.product_id, d.day, d.promo)
  SELECT avg(u) FILTER (WHERE promo) / avg(u) FILTER (WHERE NOT promo) FROM units),
  '>', 1.5::numeric, 'products sell over 50% more on chain-wide promotion days');
-- bargain hunters buy on promotion far more often than others
SELECT cmp_ok((SELECT avg((l.promo_id IS NOT NULL)::int) FILTER (WHERE p.customer_type = 'bargain hunter')
                    / avg((l.promo_id IS NOT NULL)::int) FILTER (WHERE p.customer_type <> 'bargain hunter')
               FROM gen.order_lines l JOIN gen.orders o USING (order_id) JOIN gen.planted_customers p USING (customer_id)),
              '>', 2::numeric, 'bargain hunters buy promoted lines over twice as often');
-- customer types differ in how often they buy
SELECT cmp_ok((SELECT (SELECT count(*) FROM gen.orders o JOIN gen.planted_customers p USING (customer_id) WHERE customer_type = 'loyal')::float8
                    / (SELECT count(*) FROM gen.planted_customers WHERE customer_type = 'loyal')
                    / ((SELECT count(*) FROM gen.orders o JOIN gen.planted_customers p USING (customer_id) WHERE customer_type = 'occasional')::float8
                       / (SELECT count(*) FROM gen.planted_customers WHERE customer_type = 'occasional'))),
              '>', 3::float8, 'loyal customers order over 3 times as often as occasional ones');

-- behaviour events agree with orders
SELECT is((SELECT count(*) FROM gen.orders o JOIN gen.order_lines l USING (order_id)
           WHERE o.channel = 'online' AND NOT EXISTS (
             SELECT 1 FROM gen.events e WHERE e.customer_id = o.customer_id AND e.event_type = 'cart_add'
               AND e.product_id = l.product_id AND e.occurred_at <= o.ordered_at
               AND e.occurred_at > o.ordered_at - interval '1 day')),
          0::bigint, 'every online order line was put in the cart shortly before');
SELECT ok((SELECT bool_and(duration_s > 0 AND zone_id IS NOT NULL AND store_id IS NOT NULL)
           FROM gen.events WHERE event_type = 'dwell'), 'dwell events have a zone, a store and a duration');
SELECT ok((SELECT count(*) FROM gen.events e WHERE e.event_type = 'cart_add' AND NOT EXISTS (
             SELECT 1 FROM gen.orders o WHERE o.customer_id = e.customer_id
               AND o.ordered_at >= e.occurred_at AND o.ordered_at < e.occurred_at + interval '1 day')) > 0,
          'some carts are abandoned');

-- stock: never negative; the current level is the last day of the history
SELECT ok((SELECT bool_and(on_hand >= 0) FROM gen.inventory_daily), 'stock is never negative');
SELECT is((SELECT count(*) FROM gen.inventory i JOIN gen.inventory_daily d USING (store_id, product_id)
           WHERE d.day = (SELECT max(day) FROM gen.inventory_daily) AND d.on_hand <> i.on_hand),
          0::bigint, 'current inventory is the last day of the daily history');

-- personal fields that the privacy part will mask
SELECT ok((SELECT bool_and(email LIKE '%@example.com' AND phone ~ '^\+86 1[3-9][0-9] [0-9]{4} [0-9]{4}$')
           FROM gen.customers), 'e-mails and phones are well formed');

-- deterministic for a seed, different for another seed
SELECT is((SELECT md5(string_agg(t::text, ',' ORDER BY order_id)) FROM retailiq_internal.sample_orders(300, 3, 40, 60, 5) t),
          (SELECT md5(string_agg(t::text, ',' ORDER BY order_id)) FROM retailiq_internal.sample_orders(300, 3, 40, 60, 5) t),
          'the same seed gives the same orders');
SELECT isnt((SELECT md5(string_agg(t::text, ',' ORDER BY order_id)) FROM retailiq_internal.sample_orders(300, 3, 40, 60, 5) t),
            (SELECT md5(string_agg(t::text, ',' ORDER BY order_id)) FROM retailiq_internal.sample_orders(300, 3, 40, 60, 6) t),
            'another seed gives other orders');

-- bad arguments
SELECT throws_ok($$SELECT * FROM retailiq.generate_sample_data('gen2', 0)$$, '22023',
                 'customers must be between 1 and 10000000', 'customers = 0 is rejected');
SELECT throws_ok($$SELECT * FROM retailiq.generate_sample_data('gen', 10)$$, '42P06', NULL,
                 'a schema that already holds tables is rejected');
SELECT throws_ok($$SELECT * FROM retailiq.generate_sample_data(NULL)$$, '22004', NULL, 'NULL is rejected');

SELECT * FROM finish();
ROLLBACK;
