-- Tags on generated sample data (300 customers, 5 stores, 40 products, 120 days): the planted
-- behaviours (doc/sample-data.md) must come out as tags, checked against planted_customers and
-- against independent queries over the raw events; an incremental refresh stepped through the
-- last two weeks must end with exactly the tags of a full recompute.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;
SELECT lives_ok($$SELECT retailiq.generate_sample_data('beh_t', 300, 5, 40, 120, 11)$$, 'sample data');
SELECT lives_ok($$SELECT retailiq.register_event_source('beh_t')$$, 'event source registered');
CREATE TEMP TABLE asof AS SELECT date_trunc('day', max(occurred_at)) + interval '1 day' AS t FROM beh_t.events;

-- full recompute at the end of the data
SELECT retailiq.refresh_tags('-infinity', (SELECT t FROM asof));
CREATE TEMP TABLE full_tags AS SELECT customer_id, tag FROM retailiq.customer_tag;

-- fresh produce: only customers whose favourite category is fresh produce dwell over 284 s
-- there (planted: 240-839 s for them, 45-284 s for everyone else)
CREATE TEMP TABLE fresh_dwell AS
SELECT e.customer_id, e.occurred_at, e.duration_s
  FROM beh_t.events e JOIN beh_t.store_zones z ON z.store_id = e.store_id AND z.zone_id = e.zone_id
 WHERE e.event_type = 'dwell' AND z.zone_name = 'fresh produce';
SELECT set_eq(
  $$SELECT customer_id::bigint FROM full_tags WHERE tag = 'fresh_dweller'$$,
  $$SELECT DISTINCT customer_id::bigint FROM fresh_dwell, asof
     WHERE duration_s >= 300 AND occurred_at > t - interval '7 days' AND occurred_at <= t$$,
  'fresh_dweller = customers with a 5-minute fresh-produce dwell in the last 7 days (raw events)');
SELECT ok((SELECT count(*) FROM full_tags WHERE tag = 'fresh_dweller') >= 3
          AND NOT EXISTS (SELECT 1 FROM full_tags f WHERE tag = 'fresh_dweller'
                           AND (SELECT max(duration_s) FROM fresh_dwell d WHERE d.customer_id = f.customer_id) <= 284),
          'every fresh_dweller is a planted fresh-produce lover (a dwell over the 284 s others never reach)');
-- and they buy fresh produce far more than the rest (favourite category: 30% of picks)
SELECT ok(share_tagged > 1.5 * share_rest,
          format('fresh_dwellers buy fresh produce: %s of their lines vs %s for the rest',
                 round(share_tagged, 3), round(share_rest, 3)))
  FROM (SELECT avg((p.category = 'fresh produce')::int) FILTER (WHERE f.customer_id IS NOT NULL) AS share_tagged,
               avg((p.category = 'fresh produce')::int) FILTER (WHERE f.customer_id IS NULL) AS share_rest
          FROM beh_t.orders o JOIN beh_t.order_lines l USING (order_id)
               JOIN beh_t.products p USING (product_id)
               LEFT JOIN full_tags f ON f.customer_id = o.customer_id AND f.tag = 'fresh_dweller') s;

-- abandoned carts: a cart add 30 minutes to 24 hours old with no later order of the product
SELECT set_eq(
  $$SELECT customer_id::bigint FROM full_tags WHERE tag = 'cart_abandoner'$$,
  $$SELECT DISTINCT e.customer_id::bigint FROM beh_t.events e, asof
     WHERE e.event_type = 'cart_add' AND e.occurred_at > t - interval '24 hours'
       AND e.occurred_at <= t - interval '30 minutes'
       AND NOT EXISTS (SELECT 1 FROM beh_t.orders o JOIN beh_t.order_lines l USING (order_id)
                        WHERE o.customer_id = e.customer_id AND l.product_id = e.product_id
                          AND o.ordered_at >= e.occurred_at AND o.ordered_at <= t)$$,
  'cart_abandoner = cart adds never followed by an order of the product (raw events)');
-- price sensitivity: bargain hunters (15% of customers) take 60% of their picks from what is
-- on promotion when anything is; how much is on promotion depends on the catalogue, so the
-- threshold is set for this small one (40 products): 15% of the spend of 90 days
INSERT INTO retailiq.tag_rule (tag, condition) VALUES
  ('promo_15', '{"kind": "promo_share", "min_share": 0.15, "min_orders": 3, "window": "90 days"}');
SELECT retailiq.refresh_tags((SELECT t FROM asof), (SELECT t FROM asof));
SELECT ok(precision_ >= 2.5 * base AND recall >= 0.5,
          format('promo_share 15%%: %s of the tagged are planted bargain hunters (%s of all customers); %s of bargain hunters with 3+ orders in 90 days tagged',
                 round(precision_, 3), round(base, 3), round(recall, 3)))
  FROM (SELECT avg((p.customer_type = 'bargain hunter')::int) FILTER (WHERE f.customer_id IS NOT NULL) AS precision_,
               avg((p.customer_type = 'bargain hunter')::int) AS base,
               avg((f.customer_id IS NOT NULL)::int) FILTER (WHERE p.customer_type = 'bargain hunter' AND n.orders >= 3) AS recall
          FROM beh_t.planted_customers p
               LEFT JOIN retailiq.customer_tag f ON f.customer_id = p.customer_id AND f.tag = 'promo_15'
               LEFT JOIN (SELECT customer_id, count(*) AS orders FROM beh_t.orders, asof
                           WHERE ordered_at > t - interval '90 days' AND ordered_at <= t GROUP BY 1) n
                      ON n.customer_id = p.customer_id) s;
DELETE FROM retailiq.tag_rule WHERE tag = 'promo_15';

-- incremental: start from a full recompute two weeks before the end, then step six hours at
-- a time with since = the previous as_of; the result must equal the full recompute
DELETE FROM retailiq.customer_tag;
UPDATE retailiq.tag_rule SET pending = true;
SELECT retailiq.refresh_tags('-infinity', (SELECT t - interval '14 days' FROM asof));
CREATE TEMP TABLE steps AS
SELECT s - interval '6 hours' AS since, s AS as_of
  FROM asof, generate_series(t - interval '14 days' + interval '6 hours', t, interval '6 hours') s;
CREATE TEMP TABLE hist (as_of timestamptz, customer_id bigint, tag text);
DO $$
DECLARE st record;
BEGIN
    FOR st IN SELECT * FROM steps ORDER BY as_of LOOP
        PERFORM retailiq.refresh_tags(st.since, st.as_of);
        INSERT INTO hist SELECT st.as_of, customer_id, tag FROM retailiq.customer_tag;
    END LOOP;
END $$;
SELECT set_eq($$SELECT customer_id, tag FROM retailiq.customer_tag$$,
              $$SELECT customer_id, tag FROM full_tags$$,
              'incremental refresh in 6-hour steps = full recompute');
-- at every one of the 56 steps, the incrementally kept tags match the raw events
SELECT set_eq(
  $$SELECT as_of, customer_id FROM hist WHERE tag = 'cart_abandoner'$$,
  $$SELECT DISTINCT s.as_of, e.customer_id::bigint FROM steps s, beh_t.events e
     WHERE e.event_type = 'cart_add' AND e.occurred_at > s.as_of - interval '24 hours'
       AND e.occurred_at <= s.as_of - interval '30 minutes'
       AND NOT EXISTS (SELECT 1 FROM beh_t.orders o JOIN beh_t.order_lines l USING (order_id)
                        WHERE o.customer_id = e.customer_id AND l.product_id = e.product_id
                          AND o.ordered_at >= e.occurred_at AND o.ordered_at <= s.as_of)$$,
  'cart_abandoner at each 6-hour step = the raw events');
SELECT set_eq(
  $$SELECT as_of, customer_id FROM hist WHERE tag = 'fresh_dweller'$$,
  $$SELECT DISTINCT s.as_of, d.customer_id::bigint FROM steps s, fresh_dwell d
     WHERE d.duration_s >= 300 AND d.occurred_at > s.as_of - interval '7 days' AND d.occurred_at <= s.as_of$$,
  'fresh_dweller at each 6-hour step = the raw events');
SELECT ok((SELECT count(*) FROM hist WHERE tag = 'cart_abandoner') >= 10,
          format('abandoned carts seen across the steps: %s', (SELECT count(*) FROM hist WHERE tag = 'cart_abandoner')));
SELECT ok((SELECT count(DISTINCT tag) FROM hist) = 4, 'all four default rules tag someone during the two weeks');
ROLLBACK;
