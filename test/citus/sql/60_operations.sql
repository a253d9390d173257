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

-- 2. Store security (row security) on a distributed table.
SET client_min_messages = warning;
SELECT retailiq.create_standard_roles();
CREATE ROLE citus_mgr LOGIN IN ROLE retailiq_store_manager;
GRANT USAGE ON SCHEMA one, retail TO citus_mgr;
SELECT retailiq.grant_store('citus_mgr', 2);
SELECT retailiq.enable_store_security('retail.daily_sales', 'store_id');
SELECT retailiq.enable_store_security('one.daily_sales', 'store_id');
RESET client_min_messages;
SET ROLE citus_mgr;
SELECT 'one' AS node, array_agg(DISTINCT store_id) AS stores_seen, count(*) AS rows FROM one.daily_sales
UNION ALL
SELECT 'cluster', array_agg(DISTINCT store_id), count(*) FROM retail.daily_sales;
RESET ROLE;

-- 3. The scheduler runs on the coordinator; a job's query over distributed tables runs as any
--    other query there (workers do the shards' work).
SELECT retailiq.schedule('citus_wape', '0 3 * * *',
  $$CREATE TABLE IF NOT EXISTS public.job_out AS SELECT retailiq.wape(actual, forecast) AS w FROM retail.fc$$) > 0 AS scheduled;
SELECT retailiq.run_job('citus_wape') IS NOT NULL AS requested;
SELECT status FROM retailiq.wait_for_job('citus_wape', '60 seconds');
SELECT abs(w - (SELECT retailiq.wape(actual, forecast) FROM one.fc)) < 1e-12 AS job_result_agrees FROM public.job_out;
