-- Triggers, security and the scheduler on a cluster.
-- 1. The stock trigger. On a distributed inventory table (Citus needs
--    citus.enable_unsafe_triggers) it fires on the workers, inside each shard's update.
--    An update of shards on both workers commits by two-phase commit, which PostgreSQL
--    refuses after the trigger's NOTIFY: the update fails.
SET citus.enable_unsafe_triggers = on;
CREATE TRIGGER low_stock AFTER INSERT OR UPDATE ON retail.inventory FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');
\set VERBOSITY terse
SET client_min_messages = error;
UPDATE retail.inventory SET on_hand = 0 WHERE product_id IN (1, 2);
RESET client_min_messages;
\set VERBOSITY default
-- An update of one store (one shard) commits on its worker alone: the alerts are recorded in
-- that worker's retailiq.alert, and the coordinator does not see them.
UPDATE retail.inventory SET on_hand = 0 WHERE store_id = 1 AND product_id IN (1, 2);
SELECT count(*) AS alerts_on_coordinator FROM retailiq.alert;
SELECT sum(result::int) AS alerts_on_workers
FROM run_command_on_workers($$SELECT count(*) FROM retailiq.alert WHERE status = 'open'$$);
-- With inventory kept on the coordinator (a plain or Citus-local table, small: stores x
-- products), the trigger fires there and the alerts are where LISTEN, the scheduler and the
-- reports look: the layout doc/distributed.md recommends.
CREATE TRIGGER low_stock AFTER INSERT OR UPDATE ON one.inventory FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');
UPDATE one.inventory SET on_hand = 0 WHERE product_id IN (1, 2);
SELECT count(*) AS alerts_on_coordinator, count(DISTINCT subject) AS subjects FROM retailiq.alert WHERE status = 'open';
RESET citus.enable_unsafe_triggers;

-- 2. Store security (row security) on a distributed table. Citus copies the policies of
--    enable_store_security to the shards, so the workers enforce them, each calling
--    retailiq.stores_of there. The grants must be there too: store_access is made a
--    reference table (a copy on every node, written by grant_store/revoke_store on the
--    coordinator in one distributed transaction), and a worker matches its rows by the
--    role's name (the OIDs in it are the coordinator's).
SET client_min_messages = warning;
SELECT retailiq.create_standard_roles();
CREATE ROLE citus_mgr LOGIN IN ROLE retailiq_store_manager;
GRANT USAGE ON SCHEMA one, retail TO citus_mgr;
SELECT create_reference_table('retailiq.store_access');
SELECT retailiq.grant_store('citus_mgr', 2);
SELECT retailiq.enable_store_security('retail.daily_sales', 'store_id');
SELECT retailiq.enable_store_security('one.daily_sales', 'store_id');
RESET client_min_messages;
-- what each node holds: the same grant, under the same name
SELECT nodeport > 0 AS worker, result AS grants
FROM run_command_on_workers($$SELECT string_agg(grantee || ':' || store_id, ',') FROM retailiq.store_access$$);
SET ROLE citus_mgr;
SELECT 'one' AS node, array_agg(DISTINCT store_id) AS stores_seen, count(*) AS rows FROM one.daily_sales
UNION ALL
SELECT 'cluster', array_agg(DISTINCT store_id), count(*) FROM retail.daily_sales;
-- grouped by store (pushed down whole) and split aggregates alike see only store 2
SELECT store_id, count(*) FROM retail.daily_sales GROUP BY 1 ORDER BY 1;
SELECT (SELECT sum(units) FROM retail.daily_sales) = (SELECT sum(units) FROM one.daily_sales) AS sum_agrees;
-- a write to another store's rows is refused on the worker, as on one node
\set VERBOSITY terse
INSERT INTO retail.daily_sales (day, store_id, product_id, units, revenue, on_promo) VALUES ('2030-01-01', 1, 1, 1, 1, false);
INSERT INTO one.daily_sales (day, store_id, product_id, units, revenue, on_promo) VALUES ('2030-01-01', 1, 1, 1, 1, false);
\set VERBOSITY default
RESET ROLE;
-- a revoke reaches the workers in the same transaction: the manager sees no rows anywhere
SELECT retailiq.revoke_store('citus_mgr', 2);
SET ROLE citus_mgr;
SELECT (SELECT count(*) FROM retail.daily_sales) AS cluster_rows, (SELECT count(*) FROM one.daily_sales) AS one_node_rows;
RESET ROLE;
-- and a grant of two stores to a group role reaches its members, on the workers too
SET client_min_messages = warning;
CREATE ROLE citus_region NOLOGIN;
GRANT citus_region TO citus_mgr;
SELECT retailiq.grant_store('citus_region', s) FROM generate_series(1, 2) s;
RESET client_min_messages;
SET ROLE citus_mgr;
SELECT 'one' AS node, array_agg(DISTINCT store_id ORDER BY store_id) AS stores_seen, count(*) AS rows FROM one.daily_sales
UNION ALL
SELECT 'cluster', array_agg(DISTINCT store_id ORDER BY store_id), count(*) FROM retail.daily_sales;
RESET ROLE;
SELECT retailiq.revoke_store('citus_region', s) FROM generate_series(1, 2) s;

-- 3. The scheduler runs on the coordinator; a job's query over distributed tables runs as any
--    other query there (workers do the shards' work).
SELECT retailiq.schedule('citus_wape', '0 3 * * *',
  $$CREATE TABLE IF NOT EXISTS public.job_out AS SELECT retailiq.wape(actual, forecast) AS w FROM retail.fc$$) > 0 AS scheduled;
SELECT retailiq.run_job('citus_wape') IS NOT NULL AS requested;
SELECT status FROM retailiq.wait_for_job('citus_wape', '60 seconds');
SELECT abs(w - (SELECT retailiq.wape(actual, forecast) FROM one.fc)) < 1e-12 AS job_result_agrees FROM public.job_out;
