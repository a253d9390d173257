-- FIMI dense sets (chess, mushroom): frequent itemsets and rules against the arules figures in
-- test/data/basket/README.md, with long itemsets; bigint items; serial vs parallel;
-- cancellation of a long mining run.
BEGIN;
SELECT plan(12);

CREATE TABLE basket_fimi_raw (dataset text, line text);
\copy basket_fimi_raw (line) FROM 'test/data/basket/chess.dat' WITH (FORMAT text, DELIMITER E'\x01')
UPDATE basket_fimi_raw SET dataset = 'chess' WHERE dataset IS NULL;
\copy basket_fimi_raw (line) FROM 'test/data/basket/mushroom.dat' WITH (FORMAT text, DELIMITER E'\x01')
UPDATE basket_fimi_raw SET dataset = 'mushroom' WHERE dataset IS NULL;
CREATE TABLE basket_fimi AS
    SELECT dataset, string_to_array(btrim(line), ' ')::bigint[] AS items FROM basket_fimi_raw;

SELECT results_eq($$SELECT dataset, count(*) FROM basket_fimi GROUP BY 1 ORDER BY 1$$,
                  $$VALUES ('chess', 3196::bigint), ('mushroom', 8124)$$, 'chess and mushroom loaded');

-- arules eclat(supp = s, maxlen = 1000): 622 and 2,735 itemsets, longest 7 and 9
SELECT is((SELECT cardinality(retailiq.frequent_itemsets(items, 0.9, 1000)) FROM basket_fimi WHERE dataset = 'chess'),
          622, 'chess at 0.9: 622 frequent itemsets');
SELECT is((SELECT max(cardinality((f).items)) FROM (SELECT unnest(retailiq.frequent_itemsets(items, 0.9, 1000)) f
           FROM basket_fimi WHERE dataset = 'chess') s), 7, 'chess at 0.9: the longest has 7 items');
SELECT is((SELECT cardinality(retailiq.frequent_itemsets(items, 0.3, 1000)) FROM basket_fimi WHERE dataset = 'mushroom'),
          2735, 'mushroom at 0.3: 2,735 frequent itemsets');
SELECT is((SELECT max(cardinality((f).items)) FROM (SELECT unnest(retailiq.frequent_itemsets(items, 0.3, 1000)) f
           FROM basket_fimi WHERE dataset = 'mushroom') s), 9, 'mushroom at 0.3: the longest has 9 items');

-- arules apriori(supp = s, conf = 0.5, minlen = 2, maxlen = 10): rule counts by length
SELECT results_eq(
    $$SELECT cardinality((r).antecedent) + 1, count(*) FROM (SELECT unnest(retailiq.assoc_rules(items, 0.9, 0.5)) r
      FROM basket_fimi WHERE dataset = 'chess') s GROUP BY 1 ORDER BY 1$$,
    $$VALUES (2, 136::bigint), (3, 501), (4, 812), (5, 640), (6, 234), (7, 28)$$,
    'chess at 0.9: 2,351 rules, by length as arules');
SELECT results_eq(
    $$SELECT cardinality((r).antecedent) + 1, count(*) FROM (SELECT unnest(retailiq.assoc_rules(items, 0.3, 0.5)) r
      FROM basket_fimi WHERE dataset = 'mushroom') s GROUP BY 1 ORDER BY 1$$,
    $$VALUES (2, 261::bigint), (3, 1246), (4, 2790), (5, 3510), (6, 2637), (7, 1183), (8, 304), (9, 36)$$,
    'mushroom at 0.3: 11,967 rules, by length as arules');
-- max_len 4 keeps exactly the rules of up to 4 items
SELECT is((SELECT cardinality(retailiq.assoc_rules(items, 0.3, 0.5, 4)) FROM basket_fimi WHERE dataset = 'mushroom'),
          261 + 1246 + 2790, 'mushroom at 0.3 with max_len 4: the rules of 2 to 4 items');

-- text items give the same rules as bigint items
SELECT is((SELECT count(*) FROM (
    (SELECT (r).antecedent::text[], (r).consequent::text[], (r).support, (r).confidence, (r).lift, (r).count
     FROM (SELECT unnest(retailiq.assoc_rules(items, 0.9, 0.5)) r FROM basket_fimi WHERE dataset = 'chess') s
     EXCEPT
     SELECT ARRAY(SELECT x FROM unnest((r).antecedent) x ORDER BY x::bigint),
            ARRAY(SELECT x FROM unnest((r).consequent) x ORDER BY x::bigint), (r).support, (r).confidence, (r).lift, (r).count
     FROM (SELECT unnest(retailiq.assoc_rules(items::text[], 0.9, 0.5)) r FROM basket_fimi WHERE dataset = 'chess') s)) d),
    0::bigint, 'chess: text items give the same rules and measures as bigint items');

-- the same answer with the baskets spread over parallel workers
CREATE TABLE serial_answer AS
    SELECT retailiq.assoc_rules(items, 0.3, 0.5) AS r FROM basket_fimi WHERE dataset = 'mushroom';
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT ok((SELECT retailiq.assoc_rules(items, 0.3, 0.5) FROM basket_fimi WHERE dataset = 'mushroom')
          = (SELECT r FROM serial_answer), 'mushroom: parallel answer identical to the serial one');
RESET max_parallel_workers_per_gather;

-- a long mining run is cancelled by statement_timeout (interrupts are checked while mining):
-- 26 items in every basket make 2^26 - 1 frequent itemsets
SET LOCAL retailiq.max_memory = '64GB';
CREATE FUNCTION pg_temp.mine_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retailiq.frequent_itemsets(ARRAY(SELECT i::bigint FROM generate_series(1, 26) i), 0.5, 26)
    FROM generate_series(1, 4);
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.mine_until_cancelled(), '57014 canceling statement due to statement timeout',
          'statement_timeout cancels a long mining run');
RESET statement_timeout;
-- and the memory bound stops it without one
SET LOCAL retailiq.max_memory = '32MB';
SELECT throws_ok(
    $$SELECT retailiq.frequent_itemsets(ARRAY(SELECT i::bigint FROM generate_series(1, 26) i), 0.5, 26)
      FROM generate_series(1, 4)$$,
    '53200', 'too many frequent itemsets for retailiq.max_memory', 'the memory bound stops an itemset explosion');

SELECT * FROM finish();
ROLLBACK;
