-- The Citus suite's data: a small sample retailer in schema retail, distributed the way
-- doc/distributed.md describes, and the same rows in schema one as plain local tables, so
-- every later test compares the cluster's answer with one node's on identical data.
\set ECHO none
\set QUIET on
SET client_min_messages = warning;
SELECT table_name, row_count > 0 AS has_rows
FROM retailiq.generate_sample_data('retail', customers => 400, stores => 3, products => 60,
                                   days => 150, seed => 19)
ORDER BY 1;

-- one node: plain copies on the coordinator (Citus leaves tables it was not told about local)
CREATE SCHEMA one;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'retail' LOOP
        EXECUTE format('CREATE TABLE one.%1$I AS TABLE retail.%1$I', t);
    END LOOP;
END $$;
ALTER TABLE one.inventory ADD PRIMARY KEY (store_id, product_id);

-- the cluster: keys and foreign keys that cannot hold on shards are replaced or dropped
-- (a unique key must contain the distribution column; see doc/distributed.md)
ALTER TABLE retail.order_lines DROP CONSTRAINT order_lines_order_id_fkey;
ALTER TABLE retail.orders DROP CONSTRAINT orders_pkey;
ALTER TABLE retail.orders ADD PRIMARY KEY (customer_id, order_id);
ALTER TABLE retail.events DROP CONSTRAINT events_pkey;
ALTER TABLE retail.events ADD PRIMARY KEY (customer_id, event_id);
ALTER TABLE retail.planted_customers DROP CONSTRAINT planted_customers_customer_id_fkey;
ALTER TABLE retail.orders DROP CONSTRAINT orders_customer_id_fkey;   -- re-added once both are distributed
\o /dev/null
SELECT create_reference_table(t)
FROM unnest(ARRAY['retail.stores', 'retail.products', 'retail.calendar', 'retail.store_zones',
                  'retail.promotions', 'retail.planted_rules']) t;
SELECT create_distributed_table('retail.customers', 'customer_id');
SELECT create_distributed_table('retail.orders', 'customer_id', colocate_with => 'retail.customers');
SELECT create_distributed_table('retail.events', 'customer_id', colocate_with => 'retail.customers');
SELECT create_distributed_table('retail.planted_customers', 'customer_id', colocate_with => 'retail.customers');
SELECT create_distributed_table('retail.order_lines', 'order_id');
SELECT create_distributed_table('retail.daily_sales', 'store_id');
SELECT create_distributed_table('retail.inventory', 'store_id', colocate_with => 'retail.daily_sales');
SELECT create_distributed_table('retail.inventory_daily', 'store_id', colocate_with => 'retail.daily_sales');
ALTER TABLE retail.orders ADD FOREIGN KEY (customer_id) REFERENCES retail.customers NOT VALID;
\o
-- the data that was local moved to the shards: drop the coordinator's leftover copies
SELECT count(*) > 0 AS truncated FROM (
    SELECT truncate_local_data_after_distributing_table(t)
    FROM unnest(ARRAY['retail.customers', 'retail.orders', 'retail.events', 'retail.planted_customers',
                      'retail.order_lines', 'retail.daily_sales', 'retail.inventory',
                      'retail.inventory_daily']) t) s;

-- helpers of this suite
CREATE SCHEMA citus_test;
-- the lines of a plan that match a pattern; opts: more EXPLAIN options ('ANALYZE, TIMING OFF'
-- for row counts, which are deterministic here; 'VERBOSE' for the workers' queries)
CREATE FUNCTION citus_test.plan(q text, pattern text DEFAULT '.', opts text DEFAULT '')
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE format('EXPLAIN (COSTS OFF, SUMMARY OFF%s) %s', CASE WHEN opts <> '' THEN ', ' || opts END, q) LOOP
        -- indentation and arrows dropped, oids and subplan numbers masked, long lines (VERBOSE queries) cut at 72
        IF l ~ pattern THEN
            RETURN NEXT left(regexp_replace(regexp_replace(btrim(regexp_replace(l, '\s+->\s+|^\s+', '', 'g')),
                                            '''\d+''::oid', '''N''::oid', 'g'), 'Subplan \d+_', 'Subplan N_'), 72);
        END IF;
    END LOOP;
END $$;
-- rows of a (query, query) pair that are in one and not the other, both ways
CREATE FUNCTION citus_test.diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((%1$s EXCEPT ALL %2$s) UNION ALL (%2$s EXCEPT ALL %1$s)) d', a, b) INTO n;
    RETURN n;
END $$;
RESET client_min_messages;
\set QUIET off
\set ECHO all

-- which tables are where
SELECT table_name, citus_table_type, distribution_column, shard_count
FROM citus_tables WHERE table_name::text LIKE 'retail.%' ORDER BY 1::text;
-- the cluster holds the same rows as the local copy
SELECT t, citus_test.diff(format('TABLE retail.%I', t), format('TABLE one.%I', t)) AS rows_differing
FROM unnest(ARRAY['customers', 'orders', 'order_lines', 'events', 'daily_sales', 'inventory',
                  'products', 'stores']) t ORDER BY 1;
SELECT nodeport > 0 AS up, noderole, count(*) FROM pg_dist_node GROUP BY 1, 2 ORDER BY 2;
