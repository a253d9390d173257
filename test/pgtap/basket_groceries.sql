-- Groceries (arules): retailiq.assoc_rules at support 0.001 and confidence 0.5 against the
-- rule file arules' apriori wrote (test/data/basket/README.md), rule for rule; every measure
-- within 1e-9 relative; frequent itemsets; serial vs parallel; text vs bigint; order lines.
BEGIN;
SELECT plan(22);

CREATE TABLE groc_raw (line text);
\copy groc_raw FROM 'test/data/basket/groceries_baskets.tsv' WITH (FORMAT text, DELIMITER E'\x01')
CREATE TABLE groc AS
    SELECT row_number() OVER () AS basket_id, string_to_array(line, E'\t') AS items FROM groc_raw;

CREATE TABLE ref_raw (lhs text, rhs text, support float8, confidence float8, lift float8,
                      count bigint, leverage float8, conviction float8);
\copy ref_raw FROM 'test/data/basket/groceries_rules_s0.001_c0.5.tsv' WITH (FORMAT text, DELIMITER '|', HEADER true)
-- item order inside lhs/rhs is not significant in the file: sort bytewise, as retailiq does
CREATE TABLE ref AS
    SELECT ARRAY(SELECT i FROM unnest(string_to_array(lhs, E'\t')) i ORDER BY i COLLATE "C") AS antecedent,
           ARRAY(SELECT i FROM unnest(string_to_array(rhs, E'\t')) i ORDER BY i COLLATE "C") AS consequent,
           support, confidence, lift, leverage, conviction, count
    FROM ref_raw;

SELECT is((SELECT count(*) FROM groc), 9835::bigint, 'Groceries has 9,835 baskets');
SELECT is((SELECT count(*) FROM ref), 5668::bigint, 'the reference file has 5,668 rules');

CREATE TABLE ours AS
    SELECT (r).* FROM (SELECT unnest(retailiq.assoc_rules(items, 0.001, 0.5)) AS r FROM groc) s;
SELECT is((SELECT count(*) FROM ours), 5668::bigint, 'assoc_rules finds 5,668 rules');
SELECT is((SELECT count(*) FROM (SELECT antecedent, consequent FROM ours
                                 EXCEPT SELECT antecedent, consequent FROM ref) d), 0::bigint,
          'every rule found is in the reference');
SELECT is((SELECT count(*) FROM (SELECT antecedent, consequent FROM ref
                                 EXCEPT SELECT antecedent, consequent FROM ours) d), 0::bigint,
          'every reference rule is found');

CREATE FUNCTION pg_temp.close(a float8, b float8) RETURNS bool LANGUAGE sql IMMUTABLE AS
$$ SELECT a = b OR abs(a - b) <= 1e-9 * greatest(abs(a), abs(b)) $$;
CREATE TABLE pairs AS
    SELECT o.*, r.support AS rsupport, r.confidence AS rconfidence, r.lift AS rlift,
           r.leverage AS rleverage, r.conviction AS rconviction, r.count AS rcount
    FROM ours o JOIN ref r USING (antecedent, consequent);
SELECT is((SELECT count(*) FROM pairs), 5668::bigint, 'the rules pair up one to one');
SELECT is((SELECT count(*) FROM pairs WHERE count <> rcount), 0::bigint, 'count equal for every rule');
SELECT is((SELECT count(*) FROM pairs WHERE NOT pg_temp.close(support, rsupport)), 0::bigint,
          'support within 1e-9 relative for every rule');
SELECT is((SELECT count(*) FROM pairs WHERE NOT pg_temp.close(confidence, rconfidence)), 0::bigint,
          'confidence within 1e-9 relative for every rule');
SELECT is((SELECT count(*) FROM pairs WHERE NOT pg_temp.close(lift, rlift)), 0::bigint,
          'lift within 1e-9 relative for every rule');
SELECT is((SELECT count(*) FROM pairs WHERE NOT pg_temp.close(leverage, rleverage)), 0::bigint,
          'leverage within 1e-9 relative for every rule');
SELECT is((SELECT count(*) FROM pairs WHERE NOT pg_temp.close(conviction, rconviction)), 0::bigint,
          'conviction within 1e-9 relative for every rule (Infinity where confidence is 1)');
SELECT is((SELECT count(*) FROM pairs WHERE conviction = 'Infinity'), 
          (SELECT count(*) FROM ref WHERE confidence = 1), 'conviction is Infinity exactly where confidence is 1');
SELECT results_eq(
    $$SELECT cardinality(antecedent) + 1 AS len, count(*) FROM ours GROUP BY 1 ORDER BY 1$$,
    $$VALUES (2, 11::bigint), (3, 1461), (4, 3211), (5, 939), (6, 46)$$,
    'rule lengths as arules summary(rules) prints them');

SELECT is((SELECT cardinality(retailiq.frequent_itemsets(items, 0.001)) FROM groc), 13492,
          '13,492 frequent itemsets at support 0.001 (arules)');
SELECT is((SELECT count(*) FROM (SELECT unnest(retailiq.frequent_itemsets(items, 0.001, 1)) FROM groc) s),
          157::bigint, '157 items pass the support filter, as apriori reports');

-- the same answer, bit for bit, with the baskets split over parallel workers
CREATE TABLE serial_answer AS SELECT retailiq.assoc_rules(items, 0.001, 0.5) AS r FROM groc;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL parallel_leader_participation = on;
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS
$$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q; END $$;
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.plan('SELECT retailiq.assoc_rules(items, 0.001, 0.5) FROM groc') p
                  WHERE p LIKE '%Partial Aggregate%')
          AND EXISTS (SELECT 1 FROM pg_temp.plan('SELECT retailiq.assoc_rules(items, 0.001, 0.5) FROM groc') p
                      WHERE p ~ 'Workers Launched: [12]'),
          'the aggregate runs as a parallel partial aggregate with workers');
SELECT ok((SELECT retailiq.assoc_rules(items, 0.001, 0.5) FROM groc) = (SELECT r FROM serial_answer),
          'parallel answer identical to the serial one (order and every bit)');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- bigint items: code the items, mine, decode: the same rules with identical measures
CREATE TABLE codes AS
    SELECT i AS item, (dense_rank() OVER (ORDER BY i COLLATE "C") * 7919)::bigint AS code
    FROM (SELECT DISTINCT unnest(items) AS i FROM groc) d;
CREATE TABLE groc_int AS
    SELECT g.basket_id, array_agg(c.code) AS items
    FROM groc g, unnest(g.items) x(i), codes c WHERE c.item = x.i GROUP BY g.basket_id;
ANALYZE codes;
CREATE TABLE ours_int AS
    SELECT ARRAY(SELECT c.item FROM unnest((r).antecedent) a JOIN codes c ON c.code = a ORDER BY c.item COLLATE "C") AS antecedent,
           ARRAY(SELECT c.item FROM unnest((r).consequent) a JOIN codes c ON c.code = a ORDER BY c.item COLLATE "C") AS consequent,
           (r).support, (r).confidence, (r).lift, (r).leverage, (r).conviction, (r).count
    FROM (SELECT unnest(retailiq.assoc_rules(items, 0.001, 0.5)) AS r FROM groc_int) s;
SELECT is((SELECT count(*) FROM (
    (SELECT * FROM ours EXCEPT ALL SELECT * FROM ours_int)
    UNION ALL (SELECT * FROM ours_int EXCEPT ALL SELECT * FROM ours)) d), 0::bigint,
    'bigint items give the same rules with identical measures as text items');

-- order lines (order id, sku) without array_agg
CREATE TABLE lines AS SELECT basket_id, unnest(items) AS sku FROM groc;
SELECT ok((SELECT retailiq.assoc_rules_lines(basket_id, sku, 0.001, 0.5) FROM lines)
          = (SELECT r FROM serial_answer), 'assoc_rules_lines over order lines equals assoc_rules over baskets');

-- recommend against the reference file: the best rule per item whose antecedent is in the cart
SELECT results_eq(
    $$SELECT item, round(confidence::numeric, 9) FROM retailiq.recommend(ARRAY['butter', 'yogurt', 'rice', 'butter'],
        (SELECT r FROM serial_answer), 3)$$,
    $$SELECT c, round(max(confidence)::numeric, 9) FROM ref, unnest(consequent) c
      WHERE antecedent <@ ARRAY['butter', 'yogurt', 'rice'] AND c <> ALL (ARRAY['butter', 'yogurt', 'rice'])
      GROUP BY c ORDER BY 2 DESC LIMIT 3$$,
    'recommend: the best rule per item whose antecedent is in the cart (whole milk, other vegetables, root vegetables)');
SELECT is((SELECT count(*) FROM retailiq.recommend(ARRAY['butter', 'yogurt', 'rice'],
        (SELECT r FROM serial_answer), 100)),
          (SELECT count(DISTINCT c) FROM ref, unnest(consequent) c
           WHERE antecedent <@ ARRAY['butter', 'yogurt', 'rice'] AND c <> ALL (ARRAY['butter', 'yogurt', 'rice'])),
          'recommend: as many items as the reference rules offer for that cart');

SELECT * FROM finish();
ROLLBACK;
