-- Association rules on baskets distributed by order_id.
CREATE TABLE one.baskets AS
SELECT order_id, array_agg(product_id::bigint ORDER BY product_id) AS items FROM one.order_lines GROUP BY order_id;
CREATE TABLE retail.baskets (order_id bigint PRIMARY KEY, items bigint[]);
SELECT create_distributed_table('retail.baskets', 'order_id', colocate_with => 'retail.order_lines');
INSERT INTO retail.baskets SELECT * FROM one.baskets;
-- a rule as comparable text: items sorted as numbers, measures to 12 significant digits
CREATE FUNCTION citus_test.rule_text(a text[], c text[], s float8, conf float8, lift float8,
                                     lev float8, conv float8, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('%s => %s %s %s %s %s %s %s',
    (SELECT array_agg(x::bigint ORDER BY x::bigint) FROM unnest(a) x),
    (SELECT array_agg(x::bigint ORDER BY x::bigint) FROM unnest(c) x),
    to_char(s, '0.99999999999EEEE'), to_char(conf, '0.99999999999EEEE'), to_char(lift, '0.99999999999EEEE'),
    to_char(lev, '0.99999999999EEEE'), CASE WHEN conv = 'Infinity' THEN 'inf' ELSE to_char(conv, '0.99999999999EEEE') END, n) $$;

-- one node: the aggregate (FP-growth over all baskets in one backend)
CREATE TEMP TABLE r_one AS
SELECT citus_test.rule_text((r).antecedent::text[], (r).consequent::text[], (r).support, (r).confidence,
                            (r).lift, (r).leverage, (r).conviction, (r).count) AS rule
FROM (SELECT unnest(retailiq.assoc_rules(items, 0.01, 0.3)) AS r FROM one.baskets) s;
-- the cluster: level-wise counting on the workers
CREATE TEMP TABLE r_dist AS
SELECT citus_test.rule_text(antecedent, consequent, support, confidence, lift, leverage, conviction, count) AS rule
FROM retailiq.assoc_rules_distributed('retail.baskets', 'items', 0.01, 0.3);
SELECT (SELECT count(*) FROM r_one) AS rules, citus_test.diff('TABLE r_one', 'TABLE r_dist') AS rules_differing;
-- what the counting moves: per shard and level one count per candidate (itemset_count's
-- state), not the baskets; the plan of a level's count
SELECT * FROM citus_test.plan(
  $$SELECT retailiq_internal.itemset_count(items::text[], '{{1,2},{3,4}}') FROM retail.baskets$$,
  'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg|Aggregate', 'VERBOSE');
SELECT (SELECT retailiq_internal.itemset_count(items::text[], '{{36,53},{6,53},{1,2}}') FROM retail.baskets) AS cluster_counts,
       (SELECT retailiq_internal.itemset_count(items::text[], '{{36,53},{6,53},{1,2}}') FROM one.baskets) AS one_node_counts,
       (SELECT ARRAY[count(*) FILTER (WHERE items @> '{36,53}'), count(*) FILTER (WHERE items @> '{6,53}'),
                     count(*) FILTER (WHERE items @> '{1,2}')] FROM one.baskets) AS counted_with_containment;
-- candidates that change between rows, or a forged partial state: errors
\set VERBOSITY terse
SELECT retailiq_internal.itemset_count(items::text[], CASE WHEN order_id % 2 = 0 THEN '{{1,2}}' ELSE '{{1,3}}' END::text[]) FROM one.baskets;
SELECT retailiq_internal.itemset_count(items::text[], '{1,2}') FROM one.baskets;
SELECT retailiq_internal.itemset_count(items::text[], '{{1,1}}') FROM one.baskets;
CREATE AGGREGATE citus_test.count_forged(text[], text[]) (SFUNC = retailiq_internal.itemset_count_accum,
    STYPE = bytea, FINALFUNC = retailiq_internal.itemset_count_final,
    INITCOND = '\x01000000010000000200000000000000ffffffffffffffff');
SELECT citus_test.count_forged(items::text[], '{{1,2}}') FROM one.baskets;
\set VERBOSITY default
-- the aggregate itself: its state is a bytea (the baskets of one shard as item ids beside
-- that shard's item dictionary), so Citus splits it: a partial state per shard
-- (worker_partial_agg), combined and mined on the coordinator (coord_combine_agg)
SELECT * FROM citus_test.plan('SELECT retailiq.assoc_rules(items, 0.01, 0.3) FROM retail.baskets',
                              'Custom Scan|Task Count|worker_partial_agg|coord_combine_agg|Aggregate', 'VERBOSE');
-- the rules, unnested in FROM: the same rules as one node, measures to the last bit
SELECT citus_test.diff(
  'SELECT (r).* FROM (SELECT retailiq.assoc_rules(items, 0.01, 0.3) AS rs FROM retail.baskets) s, unnest(s.rs) r',
  'SELECT (r).* FROM (SELECT retailiq.assoc_rules(items, 0.01, 0.3) AS rs FROM one.baskets) s, unnest(s.rs) r') AS rules_differing;
SELECT count(*) FROM unnest((SELECT retailiq.assoc_rules(items, 0.01, 0.3) FROM retail.baskets));
-- an order-lines table distributed by order_id: assoc_rules_lines splits the same way
SELECT citus_test.diff(
  'SELECT (unnest(retailiq.assoc_rules_lines(order_id, product_id::bigint, 0.01, 0.3))).* FROM one.order_lines',
  'SELECT (r).* FROM (SELECT retailiq.assoc_rules_lines(order_id, product_id::bigint, 0.01, 0.3) AS rs FROM retail.order_lines) s, unnest(s.rs) r') AS lines_rules_differing;
-- a set-returning function over any aggregate in the select list of a query on a distributed
-- table fails in Citus (citusdata/citus#2265, also for unnest(array_agg(x))): unnest in FROM
\set VERBOSITY terse
SELECT count(*) FROM (SELECT unnest(retailiq.assoc_rules(items, 0.01, 0.3)) FROM retail.baskets) s;
SELECT count(*) FROM (SELECT unnest(array_agg(order_id)) FROM retail.baskets) s;
\set VERBOSITY default
-- an ordinary role with SELECT on the table gets the same rules
CREATE ROLE citus_analyst LOGIN;
GRANT USAGE ON SCHEMA retail TO citus_analyst;
GRANT SELECT ON retail.baskets TO citus_analyst;
SET ROLE citus_analyst;
SELECT count(*) AS rules_as_analyst FROM retailiq.assoc_rules_distributed('retail.baskets', 'items', 0.01, 0.3);
RESET ROLE;
-- errors
SELECT * FROM retailiq.assoc_rules_distributed('retail.baskets', 'items', 0, 0.5);
SELECT * FROM retailiq.assoc_rules_distributed('retail.baskets', 'items', 0.1, 'NaN');
SELECT * FROM retailiq.assoc_rules_distributed('retail.baskets', 'items', 0.1, 0.5, -1);
SELECT * FROM retailiq.assoc_rules_distributed('retail.baskets', NULL, 0.1, 0.5);
