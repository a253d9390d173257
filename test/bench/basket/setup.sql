-- Benchmark tables and the plain-SQL baseline for test/bench/basket/run.sh.
-- run.sh has created basket_bench.raw (dataset, line) and loaded the files into it.
SET search_path = basket_bench, public;
SET check_function_bodies = off;

-- baskets as arrays (what retailiq reads): text items for Groceries, bigint for FIMI
CREATE TABLE baskets_text AS
    SELECT row_number() OVER () AS tid, string_to_array(line, E'\t') AS items
    FROM raw WHERE dataset = 'groceries';
CREATE TABLE baskets_int AS
    SELECT dataset, row_number() OVER () AS tid, string_to_array(btrim(line), ' ')::bigint[] AS items
    FROM raw WHERE dataset <> 'groceries';
-- the same as order lines (tid, item) with integer items (what the SQL baseline reads)
CREATE TABLE item_codes AS
    SELECT item, row_number() OVER (ORDER BY item) AS code
    FROM (SELECT DISTINCT unnest(items) AS item FROM baskets_text) d;
CREATE TABLE lines AS
    SELECT 'groceries'::text AS dataset, b.tid, c.code AS item
    FROM baskets_text b, unnest(b.items) i(item) JOIN item_codes c USING (item)
    UNION ALL
    SELECT DISTINCT dataset, tid, unnest(items) FROM baskets_int;
CREATE INDEX ON lines (dataset, tid);
ANALYZE;

-- The baseline a user without the extension would write: level-wise apriori by SQL
-- self-joins (SETM, Houtsma & Swami 1995). Each level joins the occurrences of the frequent
-- (k-1)-itemsets with the basket lines, counts the candidates and keeps the frequent ones.
-- Leaves the itemsets in basket_bench.freq; returns how many.
CREATE FUNCTION sql_apriori(ds text, minsup float8, maxlen int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    minc bigint;
    k int := 1;
    added bigint;
BEGIN
    SELECT count(DISTINCT tid) INTO n FROM basket_bench.lines WHERE dataset = ds;
    minc := ceil(minsup * n);
    DROP TABLE IF EXISTS basket_bench.freq, basket_bench.occ, basket_bench.cand, basket_bench.l;
    CREATE TABLE basket_bench.freq AS
        SELECT ARRAY[item] AS items, count(*) AS cnt FROM basket_bench.lines
        WHERE dataset = ds GROUP BY item HAVING count(*) >= minc;
    CREATE TABLE basket_bench.l AS
        SELECT l.tid, l.item FROM basket_bench.lines l
        WHERE l.dataset = ds AND l.item IN (SELECT items[1] FROM basket_bench.freq);
    CREATE INDEX ON basket_bench.l (tid);
    ANALYZE basket_bench.l;
    CREATE TABLE basket_bench.occ AS SELECT tid, ARRAY[item] AS items, item AS last FROM basket_bench.l;
    LOOP
        k := k + 1;
        EXIT WHEN k > maxlen;
        CREATE TABLE basket_bench.cand AS
            SELECT o.items || l.item AS items, count(*) AS cnt
            FROM basket_bench.occ o JOIN basket_bench.l l ON l.tid = o.tid AND l.item > o.last
            GROUP BY 1 HAVING count(*) >= minc;
        GET DIAGNOSTICS added = ROW_COUNT;
        EXIT WHEN added = 0;
        INSERT INTO basket_bench.freq SELECT * FROM basket_bench.cand;
        CREATE TABLE basket_bench.occ2 AS
            SELECT o.tid, o.items || l.item AS items, l.item AS last
            FROM basket_bench.occ o JOIN basket_bench.l l ON l.tid = o.tid AND l.item > o.last
            WHERE (o.items || l.item) IN (SELECT items FROM basket_bench.cand);
        DROP TABLE basket_bench.occ, basket_bench.cand;
        ALTER TABLE basket_bench.occ2 RENAME TO occ;
    END LOOP;
    DROP TABLE IF EXISTS basket_bench.cand;
    RETURN (SELECT count(*) FROM basket_bench.freq);
END $$;

-- Rules with one-item consequents from the itemsets sql_apriori left, in SQL.
CREATE FUNCTION sql_rules(minconf float8, maxlen int) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*)
    FROM basket_bench.freq z CROSS JOIN LATERAL unnest(z.items) y(item)
    JOIN basket_bench.freq x ON x.items = array_remove(z.items, y.item)
    WHERE cardinality(z.items) BETWEEN 2 AND maxlen AND z.cnt::float8 / x.cnt >= minconf
$$;

-- Runs a query returning one number `reps` times: the median time in ms and the number.
CREATE FUNCTION time_query(q text, reps int, OUT ms float8, OUT n bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    times float8[] := '{}';
BEGIN
    FOR i IN 1 .. reps LOOP
        t := clock_timestamp();
        EXECUTE q INTO n;
        times := times || (extract(epoch FROM clock_timestamp() - t) * 1000)::float8;
    END LOOP;
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) INTO ms FROM unnest(times) x;
END $$;
