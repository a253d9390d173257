
-- marketing: a recommended price from an elasticity model. The margin-maximising price
-- within bounds (cost plus a minimum margin, the largest change allowed, price endings),
-- with expected units, revenue and margin and their intervals (from the elasticity's
-- interval); with stock and periods, the stock-aware variant that clears slow stock by a date.

CREATE FUNCTION retailiq.recommend_price(model retailiq.model, product bigint, store bigint,
                                         price float8, unit_cost float8, units float8,
                                         options jsonb DEFAULT '{}')
RETURNS TABLE (recommended_price float8, change_pct float8, elasticity float8,
               expected_units float8, units_lower float8, units_upper float8,
               revenue float8, revenue_lower float8, revenue_upper float8,
               margin float8, margin_lower float8, margin_upper float8,
               leftover_units float8, reason text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    min_margin float8 := coalesce((options ->> 'min_margin')::float8, 0.1);
    max_change float8 := coalesce((options ->> 'max_change')::float8, 0.1);
    endings float8[] := CASE WHEN options ? 'endings' AND jsonb_typeof(options -> 'endings') = 'array'
                             THEN ARRAY(SELECT e::float8 FROM jsonb_array_elements_text(options -> 'endings') e) END;
    stock float8 := (options ->> 'stock')::float8;
    periods float8 := (options ->> 'periods')::float8;
    salvage float8 := coalesce((options ->> 'salvage')::float8, 0);
    e record;
    lo float8;
    hi float8;
    k text;
BEGIN
    FOR k IN SELECT jsonb_object_keys(options) LOOP
        IF k NOT IN ('min_margin', 'max_change', 'endings', 'stock', 'periods', 'salvage') THEN
            RAISE EXCEPTION 'unknown option "%" of recommend_price', k USING ERRCODE = '22023',
                HINT = 'The options are min_margin, max_change, endings, stock, periods and salvage.';
        END IF;
    END LOOP;
    IF model IS NULL OR product IS NULL OR price IS NULL OR unit_cost IS NULL OR units IS NULL THEN
        RAISE EXCEPTION 'recommend_price: model, product, price, unit_cost and units must not be NULL'
            USING ERRCODE = '22004', HINT = 'store may be NULL (the pooled elasticity).';
    END IF;
    IF NOT (price > 0 AND price < 'Infinity') OR NOT (unit_cost >= 0 AND unit_cost < 'Infinity')
       OR NOT (units >= 0 AND units < 'Infinity') THEN
        RAISE EXCEPTION 'recommend_price: price must be above 0, unit_cost and units at least 0, all finite'
            USING ERRCODE = '22023', DETAIL = format('price %s, unit_cost %s, units %s.', price, unit_cost, units),
            HINT = 'units are the expected units per period at the current price (e.g. the last weeks'' mean).';
    END IF;
    IF NOT (min_margin >= -1 AND min_margin < 100) OR NOT (max_change >= 0 AND max_change < 1)
       OR NOT (salvage >= 0 AND salvage < 'Infinity')
       OR (endings IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(endings) x WHERE NOT (x >= 0 AND x < 1)))
       OR ((stock IS NULL) <> (periods IS NULL))
       OR (stock IS NOT NULL AND NOT (stock >= 0 AND stock < 'Infinity' AND periods > 0 AND periods < 'Infinity')) THEN
        RAISE EXCEPTION 'recommend_price: an option is out of range' USING ERRCODE = '22023',
            DETAIL = format('options %s.', options),
            HINT = 'min_margin >= -1 (share of cost), max_change in [0, 1), endings in [0, 1) (e.g. [0.99, 0.49]), stock and periods together (periods > 0), salvage >= 0.';
    END IF;

    SELECT x.elasticity, x.lower, x.upper, x.reason INTO e
    FROM retailiq.elasticities(model) x
    WHERE x.product = recommend_price.product
      AND (x.store = recommend_price.store OR (x.store IS NULL AND NOT EXISTS (
               SELECT 1 FROM retailiq.elasticities(model) y
               WHERE y.product = recommend_price.product AND y.store = recommend_price.store)))
    ORDER BY x.store NULLS LAST LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            'no price: the model has no estimate for this product'::text;
        RETURN;
    END IF;
    IF e.elasticity IS NULL THEN
        RETURN QUERY SELECT NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            ('no price: ' || e.reason)::text;
        RETURN;
    END IF;
    lo := greatest(unit_cost * (1 + min_margin), price * (1 - max_change));
    hi := price * (1 + max_change);

    RETURN QUERY
    WITH cand AS (
        SELECT (c / 100.0)::float8 AS p
        FROM generate_series(ceil(lo * 100 - 1e-9)::bigint, floor(hi * 100 + 1e-9)::bigint) c
        WHERE endings IS NULL OR round((c % 100)::numeric) = ANY (ARRAY(SELECT round((100 * x)::numeric) FROM unnest(endings) x))),
         q AS (
        SELECT cand.p,
               units * (cand.p / price) ^ e.elasticity AS u,
               units * least((cand.p / price) ^ e.lower, (cand.p / price) ^ e.upper) AS u_lo,
               units * greatest((cand.p / price) ^ e.lower, (cand.p / price) ^ e.upper) AS u_hi
        FROM cand),
         s AS (   -- with stock: what sells by the date (at most the stock), what is left
        SELECT q.p,
               CASE WHEN stock IS NULL THEN q.u ELSE least(q.u * periods, stock) END AS u,
               CASE WHEN stock IS NULL THEN q.u_lo ELSE least(q.u_lo * periods, stock) END AS u_lo,
               CASE WHEN stock IS NULL THEN q.u_hi ELSE least(q.u_hi * periods, stock) END AS u_hi
        FROM q),
         v AS (
        SELECT s.*,
               CASE WHEN stock IS NULL THEN (s.p - unit_cost) * s.u
                    ELSE s.p * s.u + salvage * (stock - s.u) - unit_cost * stock END AS obj
        FROM s)
    SELECT v.p, 100 * (v.p / price - 1), e.elasticity, v.u, v.u_lo, v.u_hi,
           v.p * v.u, v.p * v.u_lo, v.p * v.u_hi,
           CASE WHEN stock IS NULL THEN (v.p - unit_cost) * v.u ELSE v.obj END,
           CASE WHEN stock IS NULL THEN (v.p - unit_cost) * v.u_lo ELSE v.p * v.u_lo + salvage * (stock - v.u_lo) - unit_cost * stock END,
           CASE WHEN stock IS NULL THEN (v.p - unit_cost) * v.u_hi ELSE v.p * v.u_hi + salvage * (stock - v.u_hi) - unit_cost * stock END,
           CASE WHEN stock IS NULL THEN NULL ELSE stock - v.u END,
           CASE WHEN e.reason IS NOT NULL THEN e.reason END
    FROM v ORDER BY v.obj DESC, abs(v.p - price), v.p LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::float8, NULL::float8, e.elasticity, NULL::float8, NULL::float8, NULL::float8,
            NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            format('no price: no price from %s to %s meets the bounds and endings', round(lo::numeric, 2), round(hi::numeric, 2));
    END IF;
END
$$;
COMMENT ON FUNCTION retailiq.recommend_price(retailiq.model, bigint, bigint, float8, float8, float8, jsonb) IS
    'the margin-maximising price within bounds (cost + minimum margin, largest change, endings) or, with stock and periods, the price that earns most from the stock by the date, with expected units, revenue and margin and their intervals';
