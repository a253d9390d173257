-- alerts: the stock trigger retailiq.stock_alert() and the alert store it writes to.
\set SHOW_CONTEXT never
-- (a schema of its own: pg_regress runs every suite in one database)
DELETE FROM retailiq.alert;
SELECT setval('retailiq.alert_id_seq', 1, false);
CREATE SCHEMA alerts_stock;
SET search_path = alerts_stock, public;

-- An inventory table keyed by store and SKU, with a reorder level per item.
CREATE TABLE inventory (
    store_id int, sku text, on_hand int, reorder_level int,
    PRIMARY KEY (store_id, sku));
CREATE TRIGGER low_stock AFTER INSERT OR UPDATE OR DELETE ON inventory FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('store_id,sku', 'on_hand', 'reorder_level');

CREATE VIEW alerts AS
SELECT id, kind, severity, subject, message, measured, threshold, audience, status, count,
       acknowledged_by IS NOT NULL AS acked, resolved_at IS NOT NULL AS has_resolved_at
  FROM retailiq.alert ORDER BY id;

-- Rows inserted below their level raise alerts: warning when low, critical at zero.
INSERT INTO inventory VALUES (1, 'A', 20, 10), (1, 'B', 5, 10), (2, 'A', 0, 10), (2, 'B', 10, 10);
SELECT * FROM alerts;

-- Crossing below raises once; staying low does not repeat; hitting zero escalates.
UPDATE inventory SET on_hand = 8 WHERE (store_id, sku) = (1, 'A');
UPDATE inventory SET on_hand = 7 WHERE (store_id, sku) = (1, 'A');
UPDATE inventory SET on_hand = 6 WHERE (store_id, sku) = (1, 'A');
SELECT id, severity, status, count, measured FROM alerts WHERE subject ->> 'sku' = 'A' AND subject ->> 'store_id' = '1';
UPDATE inventory SET on_hand = 0 WHERE (store_id, sku) = (1, 'A');
SELECT id, severity, status, count, measured FROM alerts WHERE subject ->> 'sku' = 'A' AND subject ->> 'store_id' = '1';
-- Back up to a little (still low) keeps the alert critical and quiet.
UPDATE inventory SET on_hand = 3 WHERE (store_id, sku) = (1, 'A');
SELECT id, severity, status, count, measured FROM alerts WHERE subject ->> 'sku' = 'A' AND subject ->> 'store_id' = '1';

-- Recovery resolves; the next crossing raises a new alert.
UPDATE inventory SET on_hand = 25 WHERE (store_id, sku) = (1, 'A');
UPDATE inventory SET on_hand = 4 WHERE (store_id, sku) = (1, 'A');
SELECT id, severity, status, count, has_resolved_at FROM alerts WHERE subject ->> 'sku' = 'A' AND subject ->> 'store_id' = '1';

-- Exactly at the level is not low (low means on_hand < threshold).
UPDATE inventory SET on_hand = 10, reorder_level = 10 WHERE (store_id, sku) = (2, 'B');
SELECT count(*) AS alerts_for_2_B FROM alerts WHERE subject ->> 'sku' = 'B' AND subject ->> 'store_id' = '2';
-- A threshold change alone can cross: raising the level above the stock raises an alert.
UPDATE inventory SET reorder_level = 12 WHERE (store_id, sku) = (2, 'B');
SELECT id, severity, measured, threshold, message FROM alerts WHERE subject ->> 'sku' = 'B' AND subject ->> 'store_id' = '2';

-- NULL quantity or threshold means "unknown": no alert is raised or resolved.
UPDATE inventory SET on_hand = NULL WHERE (store_id, sku) = (2, 'A');
UPDATE inventory SET reorder_level = NULL WHERE (store_id, sku) = (2, 'B');
SELECT id, status FROM alerts WHERE subject ->> 'store_id' = '2' ORDER BY id;
-- ...and from unknown back to a known, healthy stock resolves what was open.
UPDATE inventory SET on_hand = 50 WHERE (store_id, sku) = (2, 'A');
SELECT id, status FROM alerts WHERE subject ->> 'store_id' = '2' ORDER BY id;

-- Acknowledge: the alert stays active, repeats count, only an escalation reopens it.
UPDATE inventory SET reorder_level = 20 WHERE (store_id, sku) = (2, 'A');
UPDATE inventory SET on_hand = 5 WHERE (store_id, sku) = (2, 'A');
SELECT id, status, acknowledged_by, count FROM retailiq.acknowledge_alert(
    (SELECT id FROM retailiq.alert WHERE subject @> '{"store_id": 2, "sku": "A"}' AND status = 'open'));
-- acknowledging twice is harmless
SELECT id, status, count FROM retailiq.acknowledge_alert(
    (SELECT id FROM retailiq.alert WHERE subject @> '{"store_id": 2, "sku": "A"}' AND status <> 'resolved'));
UPDATE inventory SET on_hand = 0 WHERE (store_id, sku) = (2, 'A');
SELECT id, severity, status, acked, count FROM alerts WHERE subject @> '{"store_id": 2, "sku": "A"}' AND status <> 'resolved';

-- Deleting an item ends its alert; a key change moves the alert to the new key.
DELETE FROM inventory WHERE (store_id, sku) = (2, 'A');
UPDATE inventory SET sku = 'C' WHERE (store_id, sku) = (1, 'A');
SELECT id, subject ->> 'sku' AS sku, status, measured FROM alerts WHERE subject ->> 'store_id' = '1' ORDER BY id;

-- Rolled back changes leave nothing behind.
BEGIN;
UPDATE inventory SET on_hand = 1 WHERE (store_id, sku) = (1, 'B');
UPDATE inventory SET on_hand = 0 WHERE (store_id, sku) = (2, 'B');
ROLLBACK;
SELECT count(*) AS alerts, sum(count) AS occurrences FROM retailiq.alert;

-- A constant threshold, numeric quantities, a single key.
CREATE TABLE bins (bin text PRIMARY KEY, qty numeric);
CREATE TRIGGER low AFTER INSERT OR UPDATE ON bins FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('bin', 'qty', '2.5');
INSERT INTO bins VALUES ('x1', 2.4), ('x2', 'NaN'), ('x3', 2.5);
SELECT subject, severity, measured, threshold, message FROM alerts WHERE subject ->> 'table' = 'alerts_stock.bins';

-- Statement-level with transition tables: one call per statement for bulk loads.
CREATE TABLE stock (item int PRIMARY KEY, on_hand bigint, min_qty real);
CREATE TRIGGER low_ins AFTER INSERT ON stock REFERENCING NEW TABLE AS new
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq.stock_alert('item', 'on_hand', 'min_qty');
CREATE TRIGGER low_upd AFTER UPDATE ON stock REFERENCING OLD TABLE AS old NEW TABLE AS new
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq.stock_alert('item', 'on_hand', 'min_qty');
INSERT INTO stock SELECT i, i, 5 FROM generate_series(1, 1000) i;
SELECT count(*), min(measured), max(measured) FROM retailiq.alert WHERE subject ->> 'table' = 'alerts_stock.stock';
UPDATE stock SET on_hand = on_hand - 3;    -- 4..7 cross below 5; 1..3 go to zero or less
SELECT severity, status, count(*), sum(count) AS occurrences
  FROM retailiq.alert WHERE subject ->> 'table' = 'alerts_stock.stock' GROUP BY 1, 2 ORDER BY 1, 2;
UPDATE stock SET on_hand = 100 WHERE item <= 3;
SELECT status, count(*) FROM retailiq.alert WHERE subject ->> 'table' = 'alerts_stock.stock' GROUP BY 1 ORDER BY 1;

-- A partition's alerts name the partitioned table.
CREATE TABLE pstock (region int, item int, on_hand int) PARTITION BY LIST (region);
CREATE TABLE pstock_1 PARTITION OF pstock FOR VALUES IN (1);
CREATE TABLE pstock_2 (item int, on_hand int, region int);
ALTER TABLE pstock ATTACH PARTITION pstock_2 FOR VALUES IN (2);
CREATE TRIGGER low AFTER INSERT OR UPDATE ON pstock FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('region,item', 'on_hand', '3');
INSERT INTO pstock VALUES (1, 1, 1), (2, 1, 2), (2, 2, 9);
SELECT subject, measured FROM alerts WHERE subject ->> 'table' = 'alerts_stock.pstock';

-- Errors in the trigger's arguments show at the first row, naming the argument.
CREATE TABLE t (id int, qty int, lvl text, at timestamptz);
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id,nope', 'qty', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'quantity', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'at', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', 'lvl');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', 'levels');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', '5', '3');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', 'safety_stock', '0');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', 'safety_stock', '2', '1.5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id,id', 'qty', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('', 'qty', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', '5');
INSERT INTO t VALUES (1, 1, '1');
DROP TRIGGER e ON t;
CREATE TRIGGER e AFTER TRUNCATE ON t FOR EACH STATEMENT EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', '5');
TRUNCATE t;
DROP TRIGGER e ON t;
SELECT retailiq.stock_alert();
-- quoted column names keep their case
CREATE TABLE q ("Item" int, "On Hand" int);
CREATE TRIGGER e AFTER INSERT ON q FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('"Item"', '"On Hand"', '1');
INSERT INTO q VALUES (7, 0);
SELECT subject, message FROM alerts WHERE subject ->> 'table' = 'alerts_stock.q';

-- The parsed arguments are kept for the session and follow changes to the trigger and table.
CREATE TABLE c (id int, qty int, lvl int);
CREATE TRIGGER e AFTER INSERT OR UPDATE ON c FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', 'lvl');
INSERT INTO c VALUES (1, 4, 3);
CREATE OR REPLACE TRIGGER e AFTER INSERT OR UPDATE ON c FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('id', 'qty', '10');
INSERT INTO c VALUES (2, 4, 3);
SELECT subject, threshold FROM alerts WHERE subject ->> 'table' = 'alerts_stock.c';
ALTER TABLE c RENAME COLUMN qty TO stock;
INSERT INTO c VALUES (3, 4, 3);
ALTER TABLE c RENAME COLUMN stock TO qty;
ALTER TABLE c ALTER COLUMN qty TYPE numeric;
INSERT INTO c VALUES (4, 4.5, 3);
SELECT subject, measured, threshold FROM alerts WHERE subject ->> 'table' = 'alerts_stock.c';

-- The alert store's own functions.
SELECT retailiq.raise_alert('custom', '{"shelf": "A1"}', 'info', 'shelf A1 needs a look', 1, 2, 'operator') > 0 AS raised;
SELECT retailiq.raise_alert('custom', '{"shelf": "A1"}', 'info', 'shelf A1 needs a look again') > 0 AS repeated;
SELECT kind, severity, subject, message, measured, threshold, count FROM alerts WHERE kind = 'custom';
SELECT status FROM retailiq.resolve_alert((SELECT id FROM retailiq.alert WHERE kind = 'custom'));
SELECT status FROM retailiq.resolve_alert((SELECT id FROM retailiq.alert WHERE kind = 'custom'));
SELECT retailiq.acknowledge_alert((SELECT id FROM retailiq.alert WHERE kind = 'custom'));
SELECT retailiq.acknowledge_alert(NULL);
SELECT retailiq.acknowledge_alert(-1);
SELECT retailiq.raise_alert('Bad Kind', '{}', 'info', 'x');
SELECT retailiq.raise_alert('custom', '[1]', 'info', 'x');
SELECT retailiq.raise_alert('custom', NULL, 'info', 'x');
SELECT retailiq.raise_alert('custom', '{}', 'info', 'x', 'NaN');
SELECT retailiq.raise_alert('custom', '{}', 'severe', 'x');

-- Privileges: PUBLIC may read alerts but not write them, nor raise, acknowledge or resolve.
CREATE ROLE alerts_clerk;
GRANT SELECT, INSERT, UPDATE ON inventory TO alerts_clerk;
SET ROLE alerts_clerk;
SELECT count(*) > 0 AS can_read FROM retailiq.alert;
UPDATE retailiq.alert SET status = 'resolved';
SELECT retailiq.raise_alert('custom', '{}', 'info', 'x');
SELECT retailiq.acknowledge_alert(1);
-- ...yet the trigger raises alerts for the clerk's updates (it writes as the store's owner).
UPDATE inventory SET on_hand = 50 WHERE (store_id, sku) = (1, 'B');
UPDATE inventory SET on_hand = 2 WHERE (store_id, sku) = (1, 'B');
RESET ROLE;
SELECT subject, measured, status FROM alerts WHERE subject @> '{"table": "alerts_stock.inventory", "sku": "B"}' ORDER BY id;
-- acknowledged_by names the role that acknowledged, not the functions' owner.
GRANT EXECUTE ON FUNCTION retailiq.acknowledge_alert(bigint) TO alerts_clerk;
SET ROLE alerts_clerk;
SELECT status, acknowledged_by FROM retailiq.acknowledge_alert(
    (SELECT id FROM retailiq.alert WHERE subject @> '{"store_id": 1, "sku": "B"}' AND status = 'open'));
RESET ROLE;
REVOKE ALL ON inventory FROM alerts_clerk;
REVOKE ALL ON FUNCTION retailiq.acknowledge_alert(bigint) FROM alerts_clerk;
DROP ROLE alerts_clerk;

RESET search_path;
DROP SCHEMA alerts_stock CASCADE;
DELETE FROM retailiq.alert;
