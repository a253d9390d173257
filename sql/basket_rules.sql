-- Market-basket analysis: frequent itemsets and association rules (retailiq.basket).
-- Five baskets small enough to check every figure by hand (the textbook example of
-- Tan, Steinbach & Kumar, "Introduction to Data Mining", table 6.1).
CREATE TABLE baskets (basket_id int, store text, items text[]);
INSERT INTO baskets VALUES
    (1, 'north', ARRAY['bread', 'milk']),
    (2, 'north', ARRAY['bread', 'diapers', 'beer', 'eggs']),
    (3, 'south', ARRAY['milk', 'diapers', 'beer', 'cola']),
    (4, 'south', ARRAY['bread', 'milk', 'diapers', 'beer']),
    (5, 'south', ARRAY['bread', 'milk', 'diapers', 'cola']);

-- Frequent itemsets at support 0.6 (in at least 3 of the 5 baskets), most frequent first.
-- bread, milk and diapers are in 4 baskets, beer in 3; {bread, milk}, {bread, diapers},
-- {milk, diapers} and {diapers, beer} in 3 each; no triple reaches 3.
SELECT (f).items, (f).count, (f).support
FROM (SELECT unnest(retailiq.frequent_itemsets(items, 0.6)) AS f FROM baskets) s;

-- Rules at support 0.6, confidence 0.7, in the documented order (confidence, lift, count
-- descending, then antecedent and consequent). By hand, for beer => diapers:
-- support 3/5 = 0.6, confidence 3/3 = 1, lift 1 / (4/5) = 1.25,
-- leverage 0.6 - (3/5)(4/5) = 0.12, conviction (1 - 0.8) / (1 - 1) = Infinity;
-- for diapers => beer: confidence 3/4 = 0.75, lift 0.75 / (3/5) = 1.25,
-- conviction (1 - 0.6) / (1 - 0.75) = 1.6; for bread => milk: confidence 0.75,
-- lift 0.75 / 0.8 = 0.9375, leverage 0.6 - 0.64 = -0.04, conviction 0.2 / 0.25 = 0.8.
SELECT (r).* FROM (SELECT unnest(retailiq.assoc_rules(items, 0.6, 0.7)) AS r FROM baskets) s;

-- max_len bounds the items in a rule (antecedent plus consequent); here 1 leaves none.
SELECT cardinality(retailiq.assoc_rules(items, 0.6, 0.7, 1)) AS rules FROM baskets;

-- Options: minimum lift 1.1 and consequents of up to 2 items, at support 0.4 (2 baskets):
-- cola => {diapers, milk} has confidence 2/2 and lift 1 / (3/5).
-- Then rules with an empty antecedent: {} => {X} has confidence = support(X) and lift 1.
SELECT (r).antecedent, (r).consequent, (r).confidence, (r).lift, (r).count
FROM (SELECT unnest(retailiq.assoc_rules(items, 0.4, 0.6, 0, 1.1, 2, false)) AS r FROM baskets) s;
SELECT (r).antecedent, (r).consequent, (r).confidence, (r).lift
FROM (SELECT unnest(retailiq.assoc_rules(items, 0.6, 0.8, 0, 0, 1, true)) AS r FROM baskets) s;

-- Grouped: one rule set per store (GROUP BY works as with any aggregate).
SELECT store, (r).antecedent, (r).consequent, (r).confidence
FROM (SELECT store, unnest(retailiq.assoc_rules(items, 0.6, 1)) AS r FROM baskets GROUP BY store) s
ORDER BY store, 2, 3;

-- bigint items give the same rules (bread 10, milk 20, diapers 30, beer 40, cola 50, eggs 60).
SELECT (r).antecedent, (r).consequent, (r).support, (r).confidence
FROM (SELECT unnest(retailiq.assoc_rules(
          ARRAY(SELECT CASE i WHEN 'bread' THEN 10 WHEN 'milk' THEN 20 WHEN 'diapers' THEN 30
                                 WHEN 'beer' THEN 40 WHEN 'cola' THEN 50 ELSE 60 END::bigint FROM unnest(items) i),
          0.6, 0.7)) AS r FROM baskets) s;

-- Order lines (order id, item) instead of arrays: no array_agg needed.
CREATE TABLE order_lines AS SELECT basket_id AS order_id, unnest(items) AS sku FROM baskets;
SELECT retailiq.assoc_rules_lines(order_id, sku, 0.6, 0.7)
     = (SELECT retailiq.assoc_rules(items, 0.6, 0.7) FROM baskets) AS same_rules
FROM order_lines;
SELECT (f).items, (f).count FROM (
    SELECT unnest(retailiq.frequent_itemsets_lines(order_id, sku, 0.8)) AS f FROM order_lines) s;

-- NULL and empty baskets, duplicate items. A NULL basket is skipped (as aggregates skip
-- NULL input); an empty basket is a transaction with no items and counts in the denominator,
-- as in arules; an item repeated in a basket counts once (a basket is a set).
SELECT (f).items, (f).count, (f).support FROM (
    SELECT unnest(retailiq.frequent_itemsets(items, 0.5)) AS f
    FROM (VALUES (ARRAY['a', 'a', 'b']), (ARRAY['a']), (NULL::text[]), ('{}'::text[])) v(items)) s;
-- no baskets at all: empty arrays
SELECT retailiq.frequent_itemsets(items, 0.5) AS itemsets, retailiq.assoc_rules(items, 0.5, 0.5) AS rules
FROM baskets WHERE false;

-- Store the rules and recommend at the till: rules whose antecedent is in the cart propose
-- items not yet in it, best rule per item first.
CREATE TABLE shop_rules AS SELECT retailiq.assoc_rules(items, 0.4, 0.5) AS rules FROM baskets;
SELECT * FROM retailiq.recommend(ARRAY['beer', 'bread'], (SELECT rules FROM shop_rules), 3);
SELECT * FROM retailiq.recommend(ARRAY['eggs'], (SELECT rules FROM shop_rules), 3);

-- Or as a model value (kind assoc_rules): checksummed, saved by name and version, and read
-- back exactly; recommend takes the model too.
SELECT retailiq.model_rules(retailiq.rules_model(rules)) = rules AS exact_round_trip,
       retailiq.model_kind(retailiq.rules_model(rules)) AS kind,
       retailiq.model_info(retailiq.rules_model(rules)) -> 'metrics' AS metrics
FROM shop_rules;
SELECT retailiq.save_model('basket_test_rules', retailiq.rules_model(rules)) AS version FROM shop_rules;
SELECT * FROM retailiq.recommend(ARRAY['beer', 'bread'],
    (SELECT model FROM retailiq.models WHERE name = 'basket_test_rules' AND version = 1), 3);
SELECT cardinality(retailiq.model_rules_bigint(retailiq.rules_model(
    retailiq.assoc_rules(ARRAY[10, 20]::bigint[], 0.5, 0.5)))) AS bigint_rules;

-- Errors: each names the argument, with a hint.
\set VERBOSITY default
SELECT retailiq.frequent_itemsets(items, 0) FROM baskets;
SELECT retailiq.frequent_itemsets(items, 1.5) FROM baskets;
SELECT retailiq.frequent_itemsets(items, 'NaN') FROM baskets;
SELECT retailiq.frequent_itemsets(items, NULL) FROM baskets;
SELECT retailiq.assoc_rules(items, 0.5, 0) FROM baskets;
SELECT retailiq.assoc_rules(items, 0.5, 0.5, -1) FROM baskets;
SELECT retailiq.assoc_rules(items, 0.5, 0.5, 0, -1, 1, false) FROM baskets;
SELECT retailiq.assoc_rules(items, 0.5, 0.5, 0, 'Infinity', 1, false) FROM baskets;
SELECT retailiq.assoc_rules(items, 0.5, 0.5, 0, 0, 0, false) FROM baskets;
SELECT retailiq.assoc_rules(items, 0.5, 0.5, 0, 0, 1, NULL) FROM baskets;
SELECT retailiq.frequent_itemsets(ARRAY['a', NULL], 0.5);
SELECT retailiq.frequent_itemsets(ARRAY[['a', 'b'], ['c', 'd']], 0.5);
SELECT retailiq.frequent_itemsets(items, s)
FROM (VALUES (ARRAY['a'], 0.5), (ARRAY['b'], 0.6)) v(items, s);
SELECT retailiq.assoc_rules_lines(NULL, 'a', 0.5, 0.5);
SELECT retailiq.assoc_rules_lines(1, NULL::text, 0.5, 0.5);
SELECT * FROM retailiq.recommend(ARRAY['beer'], (SELECT rules FROM shop_rules), -1);
SELECT * FROM retailiq.recommend(NULL, (SELECT rules FROM shop_rules), 3);

-- a model of another kind, of the other item type, or with inconsistent rule data
SELECT retailiq.model_rules(replace(retailiq.rules_model(rules)::text, '"assoc_rules"', '"kmeans"')::retailiq.model)
FROM shop_rules;
SELECT retailiq.model_rules_bigint(retailiq.rules_model(rules)) FROM shop_rules;
SELECT retailiq.model_rules(replace(retailiq.rules_model(rules)::text, '"antecedent_len": [1,', '"antecedent_len": [9,')::retailiq.model)
FROM shop_rules;
SELECT retailiq.rules_model(ARRAY[ROW('{a}', NULL, 1, 1, 1, 1, 1, 1)::retailiq.rule]);

-- An itemset explosion stops with an error before memory runs out: 20 items in every
-- basket make 2^20 - 1 frequent itemsets.
SET retailiq.max_memory = '8MB';
DO $$
DECLARE msg text; hint text; state text;
BEGIN
    PERFORM retailiq.frequent_itemsets(ARRAY(SELECT i::text FROM generate_series(1, 20) i), 0.5, 20)
    FROM generate_series(1, 10);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE;
    RAISE NOTICE '% %: %', state, msg, hint;
END $$;
-- max_len keeps it small: itemsets of at most 2 of the 20 items, 20 + 190 of them
SELECT cardinality(retailiq.frequent_itemsets(ARRAY(SELECT i::text FROM generate_series(1, 20) i), 0.5, 2))
FROM generate_series(1, 10);
RESET retailiq.max_memory;
-- leave the database as it was: later suites drop and recreate the extension
DROP TABLE baskets, order_lines, shop_rules;
DELETE FROM retailiq.models WHERE name = 'basket_test_rules';
