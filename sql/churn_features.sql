-- The feature builder and the labeller on a tiny hand-made shop (same layout as the sample
-- schema), so every number can be checked by hand.
SET jit = off;  -- small queries; JIT's dlopen also trips valgrind inside glibc
\set SHOW_CONTEXT never
CREATE SCHEMA shop;
CREATE TABLE shop.products (product_id int PRIMARY KEY, category text);
INSERT INTO shop.products VALUES (1, 'dairy'), (2, 'bakery'), (3, 'frozen');
CREATE TABLE shop.orders (order_id bigint PRIMARY KEY, customer_id int, store_id int, channel text,
    ordered_at timestamptz, item_count int, total_amount numeric, discount_amount numeric);
-- customer 1: a regular, every 10 days from 2025-01-01 to 2025-03-02, then nothing
-- customer 2: two orders, the second online with a discount and a returned line
-- customer 3: first order after the cut-off: not a customer yet
INSERT INTO shop.orders
SELECT i, 1, 1, 'store', timestamptz '2025-01-01 10:00+00' + (i - 1) * interval '10 days', 2, 20, 0
FROM generate_series(1, 7) i;
INSERT INTO shop.orders VALUES
    (101, 2, 1, 'store', '2025-02-01 12:00+00', 4, 50, 0),
    (102, 2, 2, 'online', '2025-03-20 12:00+00', 2, 30, 10),
    (103, 2, 2, 'online', '2025-05-01 12:00+00', 1, 10, 0),
    (201, 3, 1, 'store', '2025-05-01 12:00+00', 1, 5, 0);
CREATE TABLE shop.order_lines (order_id bigint, line_no int, product_id int, quantity int,
    unit_price numeric, discount numeric, promo_id int, returned bool);
INSERT INTO shop.order_lines SELECT order_id, 1, 1, 1, 10, 0, NULL, false FROM shop.orders WHERE customer_id = 1;
INSERT INTO shop.order_lines VALUES (101, 1, 1, 1, 25, 0, NULL, false), (101, 2, 2, 1, 25, 0, NULL, false),
    (102, 1, 3, 2, 20, 10, 7, true);
CREATE TABLE shop.events (event_id bigint, customer_id int, store_id int, channel text, event_type text,
    product_id int, zone_id int, occurred_at timestamptz, duration_s int);
INSERT INTO shop.events VALUES
    (1, 2, NULL, 'online', 'view', 3, NULL, '2025-03-25 12:00+00', NULL),
    (2, 2, NULL, 'online', 'cart_add', 3, NULL, '2025-03-26 12:00+00', NULL),
    (3, 2, 1, 'store', 'dwell', NULL, 2, '2025-03-10 12:00+00', 300);
-- the shop's tables, registered by role (it has no store zones)
SELECT retailiq.register_source(r, format('shop.%I', r)::regclass) IS NOT NULL AS registered
FROM unnest(ARRAY['events', 'orders', 'order_lines', 'products']) r;

SELECT array_length(retailiq.churn_feature_names(), 1) AS n_features;
-- as of 2025-04-01 00:00 UTC
SELECT f.customer_id, n.name, round(v::numeric, 4) AS value
FROM retailiq.churn_features('2025-04-01 00:00+00') f,
     unnest(f.features, retailiq.churn_feature_names()) WITH ORDINALITY AS n(v, name, i)
ORDER BY f.customer_id, n.i;
SELECT * FROM retailiq.churn_labels('2025-04-01 00:00+00', 90) ORDER BY customer_id;
SELECT * FROM retailiq.churn_labels('2025-04-01 00:00+00', 30) ORDER BY customer_id;

-- Errors
SELECT * FROM retailiq.churn_features('infinity');
SELECT retailiq.unregister_source('events');
SELECT * FROM retailiq.churn_features('2025-04-01');
SELECT * FROM retailiq.churn_labels('2025-04-01', 0);
SET client_min_messages = warning;
DELETE FROM retailiq.source;
DROP SCHEMA shop CASCADE;
