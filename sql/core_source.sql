-- The source registry: one relation per role with its logical -> actual column map, read by
-- behaviour, reports and churn. A shop whose columns have their own names is registered with
-- a map, and every analytic answers as for the same rows under the contract's names.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE SCHEMA src_shop;
CREATE TABLE src_shop.sales_order (no bigint, client int, shop int, chan text, at timestamptz,
    items int, total numeric, rebate numeric);
INSERT INTO src_shop.sales_order VALUES
    (1, 1, 1, 'store', '2025-01-05 10:00+00', 2, 20, 0), (2, 1, 1, 'store', '2025-02-05 10:00+00', 1, 10, 0),
    (3, 2, 2, 'online', '2025-03-01 10:00+00', 3, 30, 5);
CREATE TABLE src_shop.line (no bigint, item int, qty int, price numeric, disc numeric, promo int, back bool);
INSERT INTO src_shop.line VALUES (1, 1, 2, 10, 0, NULL, false), (2, 2, 1, 10, 0, 7, false), (3, 1, 3, 10, 5, NULL, true);
CREATE TABLE src_shop.item (item int, cat text);
INSERT INTO src_shop.item VALUES (1, 'dairy'), (2, 'bakery');
CREATE TABLE src_shop.event (client int, shop int, chan text, kind text, item int, zone int,
    at timestamptz, secs int);
INSERT INTO src_shop.event VALUES (2, NULL, 'online', 'view', 1, NULL, '2025-02-27 10:00+00', NULL);
-- the same rows under the contract's names
CREATE VIEW src_shop.orders AS SELECT no AS order_id, client AS customer_id, shop AS store_id,
    chan AS channel, at AS ordered_at, items AS item_count, total AS total_amount, rebate AS discount_amount
    FROM src_shop.sales_order;
CREATE VIEW src_shop.order_lines AS SELECT no AS order_id, item AS product_id, qty AS quantity,
    price AS unit_price, disc AS discount, promo AS promo_id, back AS returned FROM src_shop.line;
CREATE VIEW src_shop.products AS SELECT item AS product_id, cat AS category FROM src_shop.item;
CREATE VIEW src_shop.events AS SELECT client AS customer_id, shop AS store_id, chan AS channel,
    kind AS event_type, item AS product_id, zone AS zone_id, at AS occurred_at, secs AS duration_s
    FROM src_shop.event;
CREATE TABLE src_shop.store_zones (store_id int, zone_id int, zone_name text, category text);

-- nothing registered: every reader says how to register
DELETE FROM retailiq.source;
SELECT * FROM retailiq.churn_labels('2025-04-01') ORDER BY customer_id;
SELECT * FROM retailiq.report_sales('daily', '2025-01-01', '2025-01-02');

-- registration checks the role, the map and every column's type
SELECT retailiq.register_source('customers', 'src_shop.sales_order');
SELECT retailiq.register_source('orders', 'src_shop.sales_order');
SELECT retailiq.register_source('orders', 'src_shop.sales_order', '{"client_no": "client"}');
SELECT retailiq.register_source('orders', 'src_shop.sales_order', '{"customer_id": 7}');
SELECT retailiq.register_source('orders', 'src_shop.sales_order',
    '{"order_id": "no", "customer_id": "chan", "store_id": "shop", "channel": "chan", "ordered_at": "at", "total_amount": "total"}');
SELECT retailiq.register_source('orders', 'src_shop.sales_order',
    '{"order_id": "no", "customer_id": "client", "store_id": "shop", "channel": "chan", "ordered_at": "at", "total_amount": "total", "item_count": "nope"}');
-- optional columns: churn needs them, the rest does not
SELECT retailiq.register_source('orders', 'src_shop.sales_order',
    '{"order_id": "no", "customer_id": "client", "store_id": "shop", "channel": "chan", "ordered_at": "at", "total_amount": "total"}');
SELECT retailiq.register_source('order_lines', 'src_shop.line',
    '{"order_id": "no", "product_id": "item", "quantity": "qty", "unit_price": "price", "discount": "disc", "promo_id": "promo", "returned": "back"}');
SELECT retailiq.register_source('products', 'src_shop.item', '{"product_id": "item", "category": "cat"}');
SELECT retailiq.register_source('events', 'src_shop.event',
    '{"customer_id": "client", "store_id": "shop", "channel": "chan", "event_type": "kind", "product_id": "item", "zone_id": "zone", "occurred_at": "at", "duration_s": "secs"}');
SELECT * FROM retailiq.churn_labels('2025-04-01') ORDER BY customer_id;
SELECT * FROM retailiq.churn_features('2025-04-01');
SELECT retailiq.register_source('orders', 'src_shop.sales_order',
    '{"order_id": "no", "customer_id": "client", "store_id": "shop", "channel": "chan", "ordered_at": "at", "total_amount": "total", "item_count": "items", "discount_amount": "rebate"}');
SELECT role, relation, columns FROM retailiq.source ORDER BY role;

-- the mapped tables and the renaming views give the same answers
CREATE TEMP TABLE mapped AS
SELECT (SELECT array_agg(f ORDER BY f.customer_id) FROM retailiq.churn_features('2025-04-01') f)::text AS features,
       (SELECT array_agg(l ORDER BY l.customer_id) FROM retailiq.churn_labels('2025-04-01', 30) l)::text AS labels,
       (SELECT array_agg(r) FROM retailiq.report_sales('monthly', '2025-01-01', '2025-03-31') r)::text AS sales,
       (SELECT array_agg(c) FROM retailiq.conversion_funnel('2025-02-01', '2025-04-01') c)::text AS funnel;
SELECT retailiq.register_source(r, format('src_shop.%I', r)::regclass) IS NOT NULL AS registered
  FROM unnest(ARRAY['events', 'orders', 'order_lines', 'products']) r;
SELECT (SELECT array_agg(f ORDER BY f.customer_id) FROM retailiq.churn_features('2025-04-01') f)::text = features AS same_features,
       (SELECT array_agg(l ORDER BY l.customer_id) FROM retailiq.churn_labels('2025-04-01', 30) l)::text = labels AS same_labels,
       (SELECT array_agg(r) FROM retailiq.report_sales('monthly', '2025-01-01', '2025-03-31') r)::text = sales AS same_sales,
       (SELECT array_agg(c) FROM retailiq.conversion_funnel('2025-02-01', '2025-04-01') c)::text = funnel AS same_funnel
  FROM mapped;

-- a role left unregistered names itself
SELECT retailiq.unregister_source('products');
SELECT * FROM retailiq.churn_features('2025-04-01');
SELECT retailiq.unregister_source('products');

-- a sales source is a row of the same registry (role sales, one per name); method, options and
-- refresh figures live beside it and can be updated through retailiq.sales_source
CREATE VIEW src_shop.daily AS
SELECT o.shop || '/' || l.item AS series, o.at::date AS day, l.qty AS units
  FROM src_shop.sales_order o JOIN src_shop.line l USING (no);
SELECT name, relation, series_column, exog_columns
  FROM retailiq.register_sales_source('src_daily', 'src_shop.daily', 'series', 'day', 'units', method => 'snaive');
SELECT role, name, relation, columns FROM retailiq.source WHERE role = 'sales';
UPDATE retailiq.sales_source SET options = '{"max_model_age": "0"}' WHERE name = 'src_daily';
SELECT name, method, options FROM retailiq.sales_source;
UPDATE retailiq.sales_source SET value_column = 'series' WHERE name = 'src_daily';
SELECT retailiq.unregister_sales_source('src_daily');
SELECT count(*) FROM retailiq.source WHERE role = 'sales';
SELECT count(*) FROM retailiq.sales_source_state;

DELETE FROM retailiq.source;
DROP SCHEMA src_shop CASCADE;
