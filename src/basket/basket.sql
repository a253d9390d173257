-- basket: market-basket analysis. Frequent itemsets by FP-growth and association rules with
-- arules' measures, as parallel-safe aggregates over baskets (arrays of text or bigint items)
-- or over order lines (order id, item); recommendations from stored rules. doc/basket.md.

CREATE TYPE retailiq.itemset AS (items text[], count bigint, support float8);
CREATE TYPE retailiq.itemset_bigint AS (items bigint[], count bigint, support float8);
CREATE TYPE retailiq.rule AS (
    antecedent text[], consequent text[],
    support float8, confidence float8, lift float8, leverage float8, conviction float8,
    count bigint);
CREATE TYPE retailiq.rule_bigint AS (
    antecedent bigint[], consequent bigint[],
    support float8, confidence float8, lift float8, leverage float8, conviction float8,
    count bigint);
COMMENT ON TYPE retailiq.itemset IS 'a frequent itemset: its items, the baskets holding them all, and that count over all baskets';
COMMENT ON TYPE retailiq.rule IS 'an association rule antecedent => consequent with arules'' measures';

-- shared state functions
-- The state is a bytea (held in memory as an expanded object, see core/agg_state.h), not
-- internal: Citus then splits the aggregates over shards (a partial state per shard, combined
-- on the coordinator) and parallel query ships it with no serial functions.
CREATE FUNCTION retailiq_internal.basket_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_final(bytea) RETURNS retailiq.itemset[]
    AS 'MODULE_PATHNAME', 'basket_itemsets_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_bigint_final(bytea) RETURNS retailiq.itemset_bigint[]
    AS 'MODULE_PATHNAME', 'basket_itemsets_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_final(bytea) RETURNS retailiq.rule[]
    AS 'MODULE_PATHNAME', 'basket_rules_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_bigint_final(bytea) RETURNS retailiq.rule_bigint[]
    AS 'MODULE_PATHNAME', 'basket_rules_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- transition functions, one per argument list (an aggregate cannot have defaults)
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, text[], float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, text[], float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, bigint[], float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, bigint[], float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, text[], float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, text[], float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, text[], float8, float8, int, float8, int, bool) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, bigint[], float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, bigint[], float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, bigint[], float8, float8, int, float8, int, bool) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, text, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, text, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, bigint, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, bigint, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, text, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, text, float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, bigint, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, bigint, float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- frequent_itemsets(items, min_support [, max_len])
CREATE AGGREGATE retailiq.frequent_itemsets(items text[], min_support float8) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items text[], min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items bigint[], min_support float8) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items bigint[], min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);

-- assoc_rules(items, min_support, min_confidence [, max_len [, min_lift, max_consequent, empty_antecedent]])
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8, max_len int,
                                      min_lift float8, max_consequent int, empty_antecedent bool) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8, max_len int,
                                      min_lift float8, max_consequent int, empty_antecedent bool) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);

-- the same over order lines: one row per (order id, item), no array_agg needed
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item text, min_support float8) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item text, min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item bigint, min_support float8) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item bigint, min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item text, min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item text, min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item bigint, min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item bigint, min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);

-- Recommendations at the till: the rules whose whole antecedent is in the cart propose their
-- consequent items not yet in it; each item is scored by its best such rule (confidence,
-- then lift, then support, then the antecedent), and the n best items are returned.
CREATE FUNCTION retailiq.recommend(cart text[], rules retailiq.rule[], n int)
RETURNS TABLE (item text, confidence float8, lift float8, support float8, antecedent text[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF cart IS NULL THEN
        RAISE EXCEPTION 'cart must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass an empty array for an empty cart.';
    END IF;
    IF rules IS NULL THEN
        RAISE EXCEPTION 'rules must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the array that retailiq.assoc_rules returned.';
    END IF;
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'n must be 0 or more' USING ERRCODE = '22023',
            DETAIL = format('n is %s.', coalesce(n::text, 'NULL')),
            HINT = 'Pass how many items to recommend.';
    END IF;
    cart := array_remove(cart, NULL);
    RETURN QUERY
    SELECT b.item, b.confidence, b.lift, b.support, b.antecedent
    FROM (SELECT DISTINCT ON (c.item) c.item, r.confidence, r.lift, r.support, r.antecedent
          FROM unnest(rules) r, unnest(r.consequent) c(item)
          WHERE r.antecedent <@ cart AND NOT (c.item = ANY (cart))
          ORDER BY c.item, r.confidence DESC, r.lift DESC, r.support DESC,
                   r.antecedent COLLATE "C") b
    ORDER BY b.confidence DESC, b.lift DESC, b.support DESC, b.item COLLATE "C"
    LIMIT n;
END
$fn$;
CREATE FUNCTION retailiq.recommend(cart bigint[], rules retailiq.rule_bigint[], n int)
RETURNS TABLE (item bigint, confidence float8, lift float8, support float8, antecedent bigint[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF cart IS NULL THEN
        RAISE EXCEPTION 'cart must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass an empty array for an empty cart.';
    END IF;
    IF rules IS NULL THEN
        RAISE EXCEPTION 'rules must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the array that retailiq.assoc_rules returned.';
    END IF;
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'n must be 0 or more' USING ERRCODE = '22023',
            DETAIL = format('n is %s.', coalesce(n::text, 'NULL')),
            HINT = 'Pass how many items to recommend.';
    END IF;
    cart := array_remove(cart, NULL);
    RETURN QUERY
    SELECT b.item, b.confidence, b.lift, b.support, b.antecedent
    FROM (SELECT DISTINCT ON (c.item) c.item, r.confidence, r.lift, r.support, r.antecedent
          FROM unnest(rules) r, unnest(r.consequent) c(item)
          WHERE r.antecedent <@ cart AND NOT (c.item = ANY (cart))
          ORDER BY c.item, r.confidence DESC, r.lift DESC, r.support DESC,
                   r.antecedent) b
    ORDER BY b.confidence DESC, b.lift DESC, b.support DESC, b.item
    LIMIT n;
END
$fn$;

-- Rules as a model value (kind assoc_rules): checksummed, storable with retailiq.save_model.
CREATE FUNCTION retailiq.rules_model(rules retailiq.rule[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'basket_rules_model' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rules_model(rules retailiq.rule_bigint[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'basket_rules_model' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_rules(model retailiq.model) RETURNS retailiq.rule[]
    AS 'MODULE_PATHNAME', 'basket_model_rules' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_rules_bigint(model retailiq.model) RETURNS retailiq.rule_bigint[]
    AS 'MODULE_PATHNAME', 'basket_model_rules' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.recommend(cart text[], model retailiq.model, n int)
RETURNS TABLE (item text, confidence float8, lift float8, support float8, antecedent text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT * FROM retailiq.recommend(cart, retailiq.model_rules(model), n) $fn$;
CREATE FUNCTION retailiq.recommend(cart bigint[], model retailiq.model, n int)
RETURNS TABLE (item bigint, confidence float8, lift float8, support float8, antecedent bigint[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT * FROM retailiq.recommend(cart, retailiq.model_rules_bigint(model), n) $fn$;
