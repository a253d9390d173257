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
-- what the counting moves: per shard one row per (candidate, count) reaching min_support,
-- not the baskets; the plan of a level's count
SELECT * FROM citus_test.plan(
  $$WITH c AS MATERIALIZED (SELECT i, ARRAY(SELECT unnest(('{{1,2},{3,4}}'::text[])[i:i])) AS items
                            FROM generate_subscripts('{{1,2},{3,4}}'::text[], 1) i)
    SELECT c.i, count(*) FROM retail.baskets s JOIN c ON s.items::text[] @> c.items GROUP BY c.i$$,
  'Custom Scan|Task Count|Aggregate|intermediate|Subplan|Distributed');
-- the aggregate itself keeps every basket in its state (`internal`): on a distributed table
-- Citus gathers the rows to the coordinator; the documented unnest form fails there
\set VERBOSITY terse
SELECT count(*) FROM (SELECT unnest(retailiq.assoc_rules(items, 0.01, 0.3)) FROM retail.baskets) s;
\set VERBOSITY default
-- as a scalar subquery it runs (rows gathered, mined on the coordinator): same count
SELECT cardinality((SELECT retailiq.assoc_rules(items, 0.01, 0.3) FROM retail.baskets)) = (SELECT count(*) FROM r_one) AS same_count;
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
