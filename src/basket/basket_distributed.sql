
-- basket_distributed: association rules over a table whose baskets need not meet on one node
-- (a Citus distributed table, or a table too large for retailiq.max_memory). Level-wise
-- (Apriori) counting: each level's candidate itemsets go to the data as one text[][] parameter,
-- the baskets holding each candidate are counted where the rows are (on Citus: on the
-- workers, partial counts per shard), and only (candidate, count) rows come back. The same
-- rules and measures as retailiq.assoc_rules. doc/basket.md, doc/distributed.md.

-- a basket's distinct items as text (NULL items are skipped)
CREATE FUNCTION retailiq_internal.basket_item_set(items anyarray) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT x::text), '{}') FROM unnest(items) x WHERE x IS NOT NULL $$;

-- one level's count: how many baskets hold each candidate (a row of a text[][]); the state is
-- one count per candidate (a bytea), so Citus sends per shard those counts, not the baskets
CREATE FUNCTION retailiq_internal.itemset_count_accum(bytea, text[], text[]) RETURNS bytea
    AS 'MODULE_PATHNAME', 'itemset_count_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemset_count_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'itemset_count_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemset_count_final(bytea) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'itemset_count_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq_internal.itemset_count(items text[], candidates text[]) (
    SFUNC = retailiq_internal.itemset_count_accum, STYPE = bytea,
    FINALFUNC = retailiq_internal.itemset_count_final,
    COMBINEFUNC = retailiq_internal.itemset_count_combine, PARALLEL = SAFE);
COMMENT ON FUNCTION retailiq_internal.itemset_count_accum(bytea, text[], text[]) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.itemset_count_combine(bytea, bytea) IS 'aggregate combine function';
COMMENT ON FUNCTION retailiq_internal.itemset_count_final(bytea) IS 'aggregate final function';

CREATE FUNCTION retailiq.assoc_rules_distributed(relation regclass, items_column name,
                                                 min_support float8, min_confidence float8,
                                                 max_len int DEFAULT 0)
RETURNS SETOF retailiq.rule
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
    mc bigint;
    lvl int := 1;
    cand text[];
    found_any bool;
    counts bigint[];
    r record;
BEGIN
    IF relation IS NULL OR items_column IS NULL OR min_support IS NULL OR min_confidence IS NULL
       OR max_len IS NULL THEN
        RAISE EXCEPTION 'assoc_rules_distributed arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave max_len out for its default of 10.';
    END IF;
    IF min_support = 'NaN' OR NOT (min_support > 0 AND min_support <= 1) THEN
        RAISE EXCEPTION 'min_support must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('min_support is %s.', min_support),
                  HINT = 'Give min_support as a fraction, e.g. 0.01 for 1%.';
    END IF;
    IF min_confidence = 'NaN' OR NOT (min_confidence > 0 AND min_confidence <= 1) THEN
        RAISE EXCEPTION 'min_confidence must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('min_confidence is %s.', min_confidence),
                  HINT = 'Give min_confidence as a fraction, e.g. 0.5 for 50%.';
    END IF;
    IF max_len < 0 THEN
        RAISE EXCEPTION 'max_len must not be negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('max_len is %s.', max_len),
                  HINT = 'Pass 0 for the default of 10 items, or a positive length.';
    END IF;
    IF max_len = 0 THEN
        max_len := 10;
    END IF;
    EXECUTE format('SELECT count(%I) FROM %s', items_column, relation) INTO n;
    IF n = 0 THEN
        RETURN;
    END IF;
    -- the least count with count / n >= min_support (as retailiq.assoc_rules reads it)
    mc := least(greatest(ceil(min_support * n), 1), n);
    WHILE mc > 1 AND (mc - 1)::float8 / n >= min_support LOOP mc := mc - 1; END LOOP;
    WHILE mc <= n AND mc::float8 / n < min_support LOOP mc := mc + 1; END LOOP;

    IF to_regclass('pg_temp.riq_basket_freq') IS NOT NULL THEN   -- left by a call that failed
        DROP TABLE pg_temp.riq_basket_freq;
    END IF;
    CREATE TEMP TABLE riq_basket_freq (items text[] COLLATE "C" PRIMARY KEY, cnt bigint NOT NULL);
    -- level 1: item counts, grouped where the rows are
    FOR r IN EXECUTE format(
        'SELECT i, count(*) AS c FROM (SELECT unnest(retailiq_internal.basket_item_set(%I)) AS i FROM %s) s
          GROUP BY i HAVING count(*) >= $1', items_column, relation) USING mc LOOP
        INSERT INTO riq_basket_freq VALUES (ARRAY[r.i], r.c);
    END LOOP;
    -- level k: candidates joined from two frequent (k-1)-itemsets sharing all but their last
    -- item, kept when every (k-1)-subset is frequent; counted where the rows are
    WHILE lvl < max_len LOOP
        lvl := lvl + 1;
        SELECT array_agg(c.items ORDER BY c.items) INTO cand
          FROM (SELECT a.items || b.items[lvl - 1] AS items
                  FROM riq_basket_freq a JOIN riq_basket_freq b
                    ON cardinality(a.items) = lvl - 1 AND cardinality(b.items) = lvl - 1
                   AND a.items[1:lvl - 2] = b.items[1:lvl - 2] AND a.items[lvl - 1] < b.items[lvl - 1]) c
         WHERE lvl = 2 OR NOT EXISTS (
                SELECT 1 FROM generate_series(1, lvl - 2) j
                 WHERE NOT EXISTS (SELECT 1 FROM riq_basket_freq f
                                    WHERE f.items = c.items[1:j - 1] || c.items[j + 1:lvl]));
        EXIT WHEN cand IS NULL;
        found_any := false;
        -- the candidates go to every shard as one parameter; each shard counts its baskets
        -- holding each candidate, and only the counts come back
        EXECUTE format('SELECT retailiq_internal.itemset_count(%I::text[], $1) FROM %s',
                       items_column, relation) USING cand INTO counts;
        FOR i IN 1 .. coalesce(cardinality(counts), 0) LOOP
            IF counts[i] >= mc THEN
                INSERT INTO riq_basket_freq VALUES (ARRAY(SELECT unnest(cand[i:i])), counts[i]);
                found_any := true;
            END IF;
        END LOOP;
        EXIT WHEN NOT found_any;
    END LOOP;

    -- rules X => {y} from every frequent itemset Z = X u {y}, measures as retailiq.assoc_rules
    RETURN QUERY
    SELECT x.items::text[], ARRAY[z.item]::text[], z.cnt::float8 / n, z.cnt::float8 / x.cnt,
           (z.cnt::float8 / x.cnt) / (y.cnt::float8 / n),
           (z.cnt::float8 * n - x.cnt::float8 * y.cnt) / (n::float8 * n),
           CASE WHEN z.cnt = x.cnt THEN 'Infinity'::float8
                ELSE ((n - y.cnt)::float8 * x.cnt) / (n::float8 * (x.cnt - z.cnt)) END,
           z.cnt
      FROM (SELECT f.items, f.cnt, e.item, e.j
              FROM riq_basket_freq f, unnest(f.items) WITH ORDINALITY e(item, j)
             WHERE cardinality(f.items) >= 2) z
      JOIN riq_basket_freq x ON x.items = z.items[1:z.j - 1] || z.items[z.j + 1:]
      JOIN riq_basket_freq y ON y.items = ARRAY[z.item]
     WHERE z.cnt::float8 / x.cnt >= min_confidence
     ORDER BY 4 DESC, 5 DESC, 8 DESC, 1, 2;
    DROP TABLE pg_temp.riq_basket_freq;
END
$fn$;
COMMENT ON FUNCTION retailiq.assoc_rules_distributed(regclass, name, float8, float8, int) IS
    'association rules by level-wise counting where the rows are (Citus workers): the rules of retailiq.assoc_rules, items as text';
