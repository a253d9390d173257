-- behaviour: tag rules over a registered event source, refreshed incrementally.
-- A tiny shop whose every customer was written to test one rule; as_of is fixed.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE SCHEMA beh_shop;
CREATE TABLE beh_shop.products (product_id int PRIMARY KEY, category text NOT NULL);
CREATE TABLE beh_shop.store_zones (store_id int, zone_id int, zone_name text, category text,
                               PRIMARY KEY (store_id, zone_id));
CREATE TABLE beh_shop.orders (order_id bigint PRIMARY KEY, customer_id int, store_id int, channel text,
                          ordered_at timestamptz, total_amount numeric);
CREATE TABLE beh_shop.order_lines (order_id bigint, line_no int, product_id int, quantity int,
                               unit_price numeric, discount numeric, promo_id int);
CREATE TABLE beh_shop.events (event_id bigserial, customer_id int, store_id int, channel text,
                          event_type text, product_id int, zone_id int, occurred_at timestamptz,
                          duration_s int);
INSERT INTO beh_shop.products VALUES (10, 'snacks'), (11, 'dairy'), (12, 'fresh produce');
INSERT INTO beh_shop.store_zones VALUES (1, 1, 'entrance', NULL), (1, 2, 'fresh produce', 'fresh produce'),
                                    (1, 3, 'dairy', 'dairy');
\set now '''2025-06-01 12:00+00'''
-- 1: 400 s in fresh produce two days ago (tagged); 2: only 200 s; 3: 400 s, but 10 days ago
INSERT INTO beh_shop.events (customer_id, store_id, channel, event_type, zone_id, occurred_at, duration_s) VALUES
 (1, 1, 'store', 'dwell', 2, :now::timestamptz - interval '2 days', 400),
 (1, 1, 'store', 'dwell', 3, :now::timestamptz - interval '2 days', 900),
 (2, 1, 'store', 'dwell', 2, :now::timestamptz - interval '1 day', 200),
 (2, 1, 'store', 'dwell', 3, :now::timestamptz - interval '1 day', 900),
 (3, 1, 'store', 'dwell', 2, :now::timestamptz - interval '10 days', 400);
-- 4: viewed product 10 three times in a day (tagged); 5: the same, then bought it;
-- 6: three views spread over three products
INSERT INTO beh_shop.events (customer_id, channel, event_type, product_id, occurred_at)
SELECT c, 'online', 'view', p, :now::timestamptz - h * interval '1 hour'
  FROM (VALUES (4, 10), (5, 10), (6, 10), (6, 11), (6, 12)) v(c, p),
       generate_series(3, 5 - (c = 6)::int * 2) h;
INSERT INTO beh_shop.orders VALUES (500, 5, 1, 'online', :now::timestamptz - interval '1 hour', 3);
INSERT INTO beh_shop.order_lines VALUES (500, 1, 10, 1, 3, 0, NULL);
-- 7: cart add two hours ago, no order (tagged); 8: ten minutes ago (not yet abandoned);
-- 9: cart add, then the order
INSERT INTO beh_shop.events (customer_id, channel, event_type, product_id, occurred_at) VALUES
 (7, 'online', 'cart_add', 11, :now::timestamptz - interval '2 hours'),
 (8, 'online', 'cart_add', 11, :now::timestamptz - interval '10 minutes'),
 (9, 'online', 'cart_add', 11, :now::timestamptz - interval '3 hours');
INSERT INTO beh_shop.orders VALUES (900, 9, 1, 'online', :now::timestamptz - interval '2 hours 50 minutes', 2);
INSERT INTO beh_shop.order_lines VALUES (900, 1, 11, 1, 2, 0, NULL);
-- 10: three orders, half of the spend on promotion (tagged at 30%); 11: a tenth
INSERT INTO beh_shop.orders SELECT 1000 + 10 * c + i, c, 1, 'store', :now::timestamptz - i * interval '5 days', 20
  FROM (VALUES (10), (11)) v(c), generate_series(1, 3) i;
INSERT INTO beh_shop.order_lines
SELECT order_id, 1, 11, 1, CASE customer_id WHEN 10 THEN 10 ELSE 18 END, 0, NULL FROM beh_shop.orders WHERE customer_id IN (10, 11)
UNION ALL
SELECT order_id, 2, 12, 1, CASE customer_id WHEN 10 THEN 10 ELSE 2 END, 0, 7 FROM beh_shop.orders WHERE customer_id IN (10, 11);

-- no source yet: a clear error; the scheduler's 30-second job just says so
SELECT * FROM retailiq.refresh_tags('-infinity', :now);
SET client_min_messages = notice;
SELECT * FROM retailiq.refresh_customer_tags();
SET client_min_messages = warning;
-- a source without a required column
CREATE VIEW beh_shop.bad_events AS SELECT customer_id, store_id, channel, event_type, product_id,
       zone_id, occurred_at FROM beh_shop.events;
SELECT retailiq.register_event_source('beh_shop.bad_events', 'beh_shop.orders', 'beh_shop.order_lines',
                                      'beh_shop.products', 'beh_shop.store_zones');
SELECT retailiq.register_event_source('beh_shop');

-- the default rules, normalised
SELECT tag, condition FROM retailiq.tag_rule ORDER BY tag;
-- the default dwell rule uses the sample data's "fresh produce" category
SELECT * FROM retailiq.refresh_tags('-infinity', :now);
SELECT tag, array_agg(customer_id ORDER BY customer_id) AS customers, min(first_tagged_at) IS NOT NULL AS stamped
  FROM retailiq.customer_tag GROUP BY tag ORDER BY tag;
-- expires_at: when the oldest counted event leaves the window
SELECT customer_id, tag, evidence_from, expires_at FROM retailiq.customer_tag
 WHERE tag IN ('fresh_dweller', 'cart_abandoner') ORDER BY 1;

-- incremental: customer 2 dwells again, long enough; customer 8's cart ages past 30 minutes
INSERT INTO beh_shop.events (customer_id, store_id, channel, event_type, zone_id, occurred_at, duration_s)
VALUES (2, 1, 'store', 'dwell', 2, :now::timestamptz + interval '1 hour', 350);
SELECT * FROM retailiq.refresh_tags(:now, :now::timestamptz + interval '2 hours');
SELECT tag, array_agg(customer_id ORDER BY customer_id) AS customers
  FROM retailiq.customer_tag GROUP BY tag ORDER BY tag;
-- six days later, with no new events: customer 1's evidence has aged out, customer 2's holds
SELECT * FROM retailiq.refresh_tags(:now::timestamptz + interval '2 hours', :now::timestamptz + interval '6 days');
SELECT tag, array_agg(customer_id ORDER BY customer_id) AS customers
  FROM retailiq.customer_tag GROUP BY tag ORDER BY tag;
-- the same as a full recompute at that time
CREATE TEMP TABLE incremental AS SELECT customer_id, tag FROM retailiq.customer_tag;
SELECT * FROM retailiq.refresh_tags('-infinity', :now::timestamptz + interval '6 days');
UPDATE retailiq.tag_rule SET pending = true;
DELETE FROM retailiq.customer_tag;
SELECT rules_evaluated FROM retailiq.refresh_tags('-infinity', :now::timestamptz + interval '6 days');
SELECT (SELECT array_agg(customer_id || ':' || tag ORDER BY 1) FROM incremental)
     = (SELECT array_agg(customer_id || ':' || tag ORDER BY 1) FROM retailiq.customer_tag) AS same;

-- a rule of your own: evaluated over every customer at the next refresh
INSERT INTO retailiq.tag_rule (tag, description, condition) VALUES
 ('dairy_browser', 'viewed dairy twice in a week', '{"event": "view", "category": "dairy", "min_count": 1, "window": "7 days"}');
SELECT condition FROM retailiq.tag_rule WHERE tag = 'dairy_browser';
SELECT rules_evaluated FROM retailiq.refresh_tags(:now::timestamptz + interval '6 days', :now::timestamptz + interval '6 days');
SELECT customer_id FROM retailiq.customer_tag WHERE tag = 'dairy_browser' ORDER BY 1;
-- a disabled rule's tags go at the next refresh
UPDATE retailiq.tag_rule SET enabled = false WHERE tag = 'dairy_browser';
SELECT tags_removed FROM retailiq.refresh_tags(:now::timestamptz + interval '6 days', :now::timestamptz + interval '6 days');

-- invalid conditions: 22023 naming the key
\set VERBOSITY default
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "dwell", "window": "-1 day"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "dwell", "window": "soon"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "dwell"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "dwell", "window": "1 day", "zone": "x"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "dwell", "window": "1 day", "min_duration_s": "300"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "view", "window": "1 day", "min_count": 0}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "view", "window": "1 day", "min_count": 2.5}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "view", "window": "1 day", "same_product": "yes"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "click", "window": "1 day"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "view", "window": "1 day", "zone_category": "dairy"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"kind": "promo_share", "window": "90 days", "min_share": 1.5}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"kind": "promo_share", "window": "90 days"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"kind": "cart_abandoned", "window": "1 hour", "after": "2 hours"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"kind": "sql", "window": "1 day"}');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '[1, 2]');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"window": "1 day"}');
-- injection attempts: in a key (unknown key), in a tag name (check constraint), in a value
-- (a parameter: it matches nothing and runs nothing)
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('t1', '{"event": "view", "window": "1 day", "1=1); DROP TABLE beh_shop.events; --": 1}');
\set VERBOSITY terse
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('x; DROP TABLE beh_shop.events', '{"event": "view", "window": "1 day"}');
\set VERBOSITY default
INSERT INTO retailiq.tag_rule (tag, condition) VALUES ('evil',
 '{"event": "dwell", "zone_category": "x'') OR true; DROP TABLE beh_shop.events; --", "window": "1 day"}');
SELECT rules_evaluated FROM retailiq.refresh_tags('-infinity', :now::timestamptz + interval '6 days');
SELECT count(*) AS evil_tags FROM retailiq.customer_tag WHERE tag = 'evil';
SELECT count(*) > 0 AS events_still_there FROM beh_shop.events;
-- the compiled SQL holds no user text
SELECT position('DROP' IN retailiq.tag_rule_sql(condition)) AS drop_in_sql FROM retailiq.tag_rule WHERE tag = 'evil';
-- bad arguments
SELECT * FROM retailiq.refresh_tags(NULL);
SELECT * FROM retailiq.refresh_tags(:now::timestamptz + interval '1 day', :now);

-- the scheduler's job: first run is a full recompute, then incremental from the watermark
SELECT rules_evaluated >= 4 AS ran FROM retailiq.refresh_customer_tags();
SELECT last_as_of IS NOT NULL AS has_watermark, last_since FROM retailiq.tag_refresh_state;
SELECT rules_evaluated FROM retailiq.refresh_customer_tags();
SELECT last_since > '-infinity' AND last_since < last_as_of AS from_watermark
  FROM retailiq.tag_refresh_state;

-- clean up: other suites share this database
DELETE FROM retailiq.customer_tag;
DELETE FROM retailiq.tag_rule WHERE NOT is_default;
DELETE FROM retailiq.source;
DROP SCHEMA beh_shop CASCADE;
