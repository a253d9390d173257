
-- marketing: what a promotion earned. Incremental units, revenue and margin of each
-- promotion against the counterfactual of the factor regression (forecast_regression_fit,
-- issue 17), the dips before and after it (pantry loading), the cannibalisation of the
-- same category's other products, cost and ROI, with intervals (doc/marketing.md).

-- The regression's coefficients of one series for the promotion's factors, read from the
-- model's text form; transform 'log' means the model is on log(1 + units).
CREATE FUNCTION retailiq_internal.promotion_coefficients(model retailiq.model)
RETURNS TABLE (series text, transform text, sigma2 float8, b_promo float8, b_depth float8,
               b_featured float8, b_before float8, b_after float8, b_cannibal float8)
LANGUAGE sql STRICT IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH j AS (SELECT model::text::jsonb AS j),
         p AS (SELECT j, 1 + 2 * (j -> 'params' ->> 'harmonics')::int AS o,
                      j -> 'params' ->> 'transform' AS transform
               FROM j
               WHERE j ->> 'kind' = 'forecast_regression' AND (j -> 'params' ->> 'n_exog')::int = 6)
    SELECT s.key, p.transform, (j -> 'data' -> 'sigma2' ->> (s.i - 1)::int)::float8,
           (c ->> o)::float8, (c ->> (o + 1))::float8, (c ->> (o + 2))::float8,
           (c ->> (o + 3))::float8, (c ->> (o + 4))::float8, (c ->> (o + 5))::float8
    FROM p, jsonb_array_elements_text(j -> 'data' -> 'series') WITH ORDINALITY AS s(key, i),
         LATERAL (SELECT j -> 'data' -> 'coef' -> (s.i - 1)::int AS c) cc
$$;

CREATE FUNCTION retailiq.promotion_effects(sales regclass, promotions regclass, products regclass,
                                           options jsonb DEFAULT '{}')
RETURNS TABLE (promo_id bigint, product_id bigint, store_id bigint, starts_on date, ends_on date,
               periods int, units float8, baseline_units float8,
               incremental_units float8, incremental_units_lower float8, incremental_units_upper float8,
               uplift float8, incremental_revenue float8,
               incremental_margin float8, incremental_margin_lower float8, incremental_margin_upper float8,
               cost float8, roi float8, roi_lower float8, roi_upper float8,
               dip_before_units float8, dip_after_units float8,
               cannibalised_units float8, cannibalised_margin float8, net_margin float8, reason text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grain text := coalesce(options ->> 'grain', 'store');
    dip int;
    step int;
    lvl float8 := coalesce((options ->> 'level')::float8, 0.8);
    fixed float8 := coalesce((options ->> 'fixed_cost')::float8, 0);
    min_base int := coalesce((options ->> 'min_baseline')::int, 8);
    reg jsonb := coalesce(options -> 'regression', '{}');
    z float8;
    m retailiq.model;
    k text;
BEGIN
    FOR k IN SELECT jsonb_object_keys(options) LOOP
        IF k NOT IN ('grain', 'dip_periods', 'level', 'fixed_cost', 'min_baseline', 'regression') THEN
            RAISE EXCEPTION 'unknown option "%" of promotion_effects', k USING ERRCODE = '22023',
                HINT = 'The options are grain, dip_periods, level, fixed_cost, min_baseline and regression.';
        END IF;
    END LOOP;
    IF grain NOT IN ('store', 'chain') THEN
        RAISE EXCEPTION 'options.grain must be "store" or "chain"' USING ERRCODE = '22023',
            HINT = '"store": one series per store and product; "chain": the product''s sales over all stores.';
    END IF;
    IF NOT (lvl > 0 AND lvl < 1) OR NOT (fixed >= 0) OR fixed = 'Infinity' OR min_base < 1 THEN
        RAISE EXCEPTION 'options.level must be in (0, 1), fixed_cost finite and at least 0, min_baseline at least 1'
            USING ERRCODE = '22023', DETAIL = format('level %s, fixed_cost %s, min_baseline %s.', lvl, fixed, min_base),
            HINT = 'For example {"level": 0.8, "fixed_cost": 500}.';
    END IF;
    z := retailiq.normal_quantile(0.5 + lvl / 2);

    -- the sales, one row per store (or chain), product and period
    DROP TABLE IF EXISTS promo_sales, promo_list, promo_grid, promo_coef, promo_r, promo_se;
    EXECUTE format($q$
        CREATE TEMP TABLE promo_sales ON COMMIT DROP AS
        SELECT CASE WHEN %L = 'chain' THEN -1 ELSE store_id::bigint END AS store_id,
               product_id::bigint AS product_id, day::date AS day,
               sum(units)::float8 AS units, sum(revenue)::float8 AS revenue
        FROM %s GROUP BY 1, 2, 3$q$, grain, sales);
    ANALYZE promo_sales;
    IF NOT EXISTS (SELECT 1 FROM promo_sales) THEN
        RAISE EXCEPTION 'promotion_effects: % has no sales', sales USING ERRCODE = '22023',
            HINT = 'Give the sales relation (store_id, product_id, day, units, revenue).';
    END IF;
    IF EXISTS (SELECT 1 FROM promo_sales s WHERE s.units IS NULL OR s.units = 'NaN' OR s.units < 0
                   OR s.units = 'Infinity' OR s.day IS NULL OR s.product_id IS NULL) THEN
        RAISE EXCEPTION 'promotion_effects: % has NULL, NaN, infinite or negative units, or NULL keys', sales
            USING ERRCODE = '22023', HINT = 'Clean or filter the sales relation first.';
    END IF;
    SELECT coalesce(min(d), 1) INTO step
    FROM (SELECT s.day - lag(s.day) OVER (PARTITION BY s.store_id, s.product_id ORDER BY s.day) AS d
          FROM promo_sales s) g WHERE d > 0;
    dip := coalesce((options ->> 'dip_periods')::int, CASE WHEN step >= 7 THEN 2 ELSE 7 END);
    IF dip < 0 OR dip > 1000 THEN
        RAISE EXCEPTION 'options.dip_periods must be between 0 and 1000' USING ERRCODE = '22023',
            HINT = 'The periods before and after a promotion in which its pantry-loading dip is measured.';
    END IF;

    -- the promotions, one row per promotion, product and store (a NULL store: every store)
    EXECUTE format($q$
        CREATE TEMP TABLE promo_list ON COMMIT DROP AS
        SELECT p.promo_id::bigint AS promo_id, p.product_id::bigint AS product_id,
               s.store_id, p.starts_on::date AS starts_on, p.ends_on::date AS ends_on,
               coalesce((to_jsonb(p) ->> 'discount_pct')::float8 / 100, 0) AS depth,
               coalesce((to_jsonb(p) ->> 'featured')::bool, false) AS featured,
               (to_jsonb(p) ->> 'cost')::float8 AS promo_cost
        FROM %s p
        JOIN (SELECT DISTINCT ps.store_id, ps.product_id FROM promo_sales ps) s
          ON s.product_id = p.product_id
         AND (%L = 'chain' OR p.store_id IS NULL OR p.store_id = s.store_id)$q$, promotions, grain);
    IF EXISTS (SELECT 1 FROM promo_list l WHERE l.starts_on IS NULL OR l.ends_on IS NULL OR l.ends_on < l.starts_on
                   OR l.depth < 0 OR l.depth >= 1 OR l.depth = 'NaN') THEN
        RAISE EXCEPTION 'promotion_effects: % has a promotion without dates, ending before it starts, or with a discount outside 0-100%%', promotions
            USING ERRCODE = '22023', HINT = 'Each promotion needs starts_on <= ends_on and discount_pct from 0 to under 100.';
    END IF;
    ANALYZE promo_list;

    -- every period of each series, with its factors: on promotion, depth, featured, the
    -- dip windows before and after, and other products of the category on promotion
    EXECUTE format($q$
        CREATE TEMP TABLE promo_grid ON COMMIT DROP AS
        WITH span AS (SELECT ps.store_id, ps.product_id, min(ps.day) AS d0, max(ps.day) AS d1
                      FROM promo_sales ps GROUP BY 1, 2),
             cat AS (SELECT pr.product_id::bigint AS product_id, pr.category::text AS category,
                            pr.price::float8 AS price, pr.unit_cost::float8 AS unit_cost FROM %s pr),
             g AS MATERIALIZED (SELECT sp.store_id, sp.product_id, d::date AS day
                   FROM span sp, generate_series(sp.d0, sp.d1, make_interval(days => %s)) d),
             onp AS (SELECT DISTINCT ON (g.store_id, g.product_id, g.day) g.store_id, g.product_id, g.day,
                            l.promo_id AS promo, l.depth, l.featured
                     FROM g JOIN promo_list l ON l.product_id = g.product_id AND l.store_id = g.store_id
                      AND g.day + %s > l.starts_on AND g.day <= l.ends_on
                     ORDER BY g.store_id, g.product_id, g.day, l.promo_id),
             bef AS (SELECT DISTINCT g.store_id, g.product_id, g.day
                     FROM g JOIN promo_list b ON b.product_id = g.product_id AND b.store_id = g.store_id
                      AND g.day >= b.starts_on - %s * %s AND g.day < b.starts_on),
             aft AS (SELECT DISTINCT g.store_id, g.product_id, g.day
                     FROM g JOIN promo_list a ON a.product_id = g.product_id AND a.store_id = g.store_id
                      AND g.day > a.ends_on AND g.day <= a.ends_on + %s * %s)
        SELECT g.store_id, g.product_id, g.day,
               coalesce(ps.units, 0) AS units, coalesce(ps.revenue, 0) AS revenue, onp.promo,
               c.category, c.price, c.unit_cost,
               coalesce(onp.depth, 0) AS depth, coalesce(onp.featured, false) AS featured,
               onp.promo IS NULL AND bef.day IS NOT NULL AS before,
               onp.promo IS NULL AND aft.day IS NOT NULL AS after
        FROM g LEFT JOIN promo_sales ps USING (store_id, product_id, day)
        LEFT JOIN onp USING (store_id, product_id, day)
        LEFT JOIN bef USING (store_id, product_id, day)
        LEFT JOIN aft USING (store_id, product_id, day)
        LEFT JOIN cat c USING (product_id)$q$,
        products, step, step, dip, step, dip, step);
    ALTER TABLE promo_grid ADD COLUMN cannibal int;
    UPDATE promo_grid g SET cannibal = c.n - (g.promo IS NOT NULL)::int
    FROM (SELECT o.store_id AS sid, o.day, coalesce(o.category, '') AS cat,
                 count(*) FILTER (WHERE o.promo IS NOT NULL) AS n
          FROM promo_grid o GROUP BY 1, 2, 3) c
    WHERE c.sid = g.store_id AND c.day = g.day AND c.cat = coalesce(g.category, '');
    ANALYZE promo_grid;

    -- the factor regression of issue 17 over every series
    SELECT retailiq.forecast_regression_fit(
               g.store_id || '/' || g.product_id, g.day, g.units,
               ARRAY[(g.promo IS NOT NULL)::int, g.depth, g.featured::int, g.before::int,
                     g.after::int, g.cannibal]::float8[],
               -- each factor's own effect: no products, and no lagged copies (the dips before and after
               -- are factors of their own; a lagged promotion term would be left out of the
               -- counterfactual below)
               CASE WHEN jsonb_typeof(reg) = 'object' THEN reg || '{"interactions": "none", "lags": "none"}' ELSE reg END)
      INTO m FROM promo_grid g;

    CREATE TEMP TABLE promo_coef ON COMMIT DROP AS
    SELECT * FROM retailiq_internal.promotion_coefficients(m);
    -- each period's counterfactuals: without its promotion, without its dip, without one cannibal
    CREATE TEMP TABLE promo_r ON COMMIT DROP AS
        SELECT g.*, c.transform, c.sigma2, c.b_promo, c.b_before, c.b_after, c.b_cannibal,
               c.series IS NOT NULL AS fitted,
               CASE WHEN g.promo IS NULL THEN g.units
                    WHEN c.transform = 'log' THEN (1 + g.units) * exp(-(c.b_promo + c.b_depth * g.depth + c.b_featured * g.featured::int)) - 1
                    ELSE g.units - (c.b_promo + c.b_depth * g.depth + c.b_featured * g.featured::int) END AS base,
               CASE WHEN c.transform = 'log' THEN (1 + g.units) * exp(-(c.b_before * g.before::int + c.b_after * g.after::int)) - 1
                    ELSE g.units - (c.b_before * g.before::int + c.b_after * g.after::int) END AS nodip,
               CASE WHEN g.cannibal = 0 THEN g.units
                    WHEN c.transform = 'log' THEN (1 + g.units) * exp(-c.b_cannibal) - 1
                    ELSE g.units - c.b_cannibal END AS nocann
        FROM promo_grid g
        LEFT JOIN promo_coef c ON c.series = g.store_id || '/' || g.product_id;
    CREATE INDEX ON promo_r (product_id, day);
    ANALYZE promo_r;
    -- the promotion effect's own uncertainty, per series: the variance of a difference of
    -- means, sigma^2 (1 / promoted periods + 1 / periods outside promotions and dips), on the
    -- model's scale. The regression shrinks each series' coefficients toward the pooled ones,
    -- whose posterior variance is at most this: the interval errs wide, never narrow.
    CREATE TEMP TABLE promo_se ON COMMIT DROP AS
    SELECT r.store_id, r.product_id,
           max(r.sigma2) * (1.0 / nullif(count(*) FILTER (WHERE r.promo IS NOT NULL), 0)
                            + 1.0 / nullif(count(*) FILTER (WHERE r.promo IS NULL AND NOT r.before AND NOT r.after), 0))
               AS coef_var
      FROM promo_r r GROUP BY 1, 2;

    RETURN QUERY
    WITH e AS (   -- per promotion and store: the promotion window
        SELECT l.promo_id, l.product_id, l.store_id, l.starts_on, l.ends_on, l.promo_cost,
               count(r.day)::int AS periods, sum(r.units) AS units, sum(r.revenue) AS revenue,
               sum(greatest(r.base, 0)) AS base,
               -- the baseline's spread: each period's noise, plus the effect's uncertainty,
               -- which moves every period of the window together (d base / d effect is
               -- -(1 + base) on the log scale, -1 on the units' scale)
               sqrt(sum(CASE WHEN r.transform = 'log' THEN (1 + greatest(r.base, 0)) ^ 2 * r.sigma2 ELSE r.sigma2 END)
                    + coalesce(min(se.coef_var), 0)
                      * sum(CASE WHEN r.transform = 'log' THEN 1 + greatest(r.base, 0) ELSE 1 END) ^ 2) AS base_sd,
               bool_and(r.fitted) AS fitted, min(r.price) AS price, min(r.unit_cost) AS unit_cost,
               min(l.depth) AS depth
        FROM promo_list l JOIN promo_r r ON r.promo = l.promo_id AND r.product_id = l.product_id
                                AND r.store_id = l.store_id
        LEFT JOIN promo_se se ON se.store_id = l.store_id AND se.product_id = l.product_id
        GROUP BY 1, 2, 3, 4, 5, 6),
         baseline AS (   -- periods of each series outside any promotion and its dips
        SELECT g.store_id, g.product_id, count(*) AS n FROM promo_grid g
        WHERE g.promo IS NULL AND NOT g.before AND NOT g.after GROUP BY 1, 2),
         d AS (
        SELECT l.promo_id, l.product_id, l.store_id,
               sum(r.units - r.nodip) FILTER (WHERE r.before AND r.day < l.starts_on) AS dip_before,
               sum(r.units - r.nodip) FILTER (WHERE r.after AND r.day > l.ends_on) AS dip_after
        FROM promo_list l JOIN promo_r r ON r.product_id = l.product_id AND r.store_id = l.store_id
         AND r.day >= l.starts_on - dip * step AND r.day <= l.ends_on + dip * step
        GROUP BY 1, 2, 3),
         cn AS (
        SELECT l.promo_id, l.product_id, l.store_id,
               sum(r.units - r.nocann) AS units, sum((r.units - r.nocann) * (r.price - r.unit_cost)) AS margin
        FROM promo_list l JOIN promo_grid own ON own.promo = l.promo_id AND own.product_id = l.product_id
             AND own.store_id = l.store_id
        JOIN promo_r r ON r.store_id = l.store_id AND r.day = own.day
             AND r.category = own.category AND r.product_id <> l.product_id AND r.cannibal > 0
        GROUP BY 1, 2, 3),
         money AS (
        SELECT e.*, b.n AS nbase,
               CASE WHEN e.units > 0 THEN e.revenue / e.units ELSE e.price * (1 - e.depth) END AS promo_price,
               coalesce(e.promo_cost, 0) + fixed AS fixed_cost
        FROM e LEFT JOIN baseline b ON b.store_id = e.store_id AND b.product_id = e.product_id),
         v AS (
        SELECT mo.*, d.dip_before, d.dip_after, cn.units AS cann_units, cn.margin AS cann_margin,
               CASE WHEN NOT coalesce(mo.fitted, false) THEN 'no baseline: the regression left this series out (too short)'
                    WHEN coalesce(mo.nbase, 0) < min_base THEN format('no baseline: %s periods outside promotions, fewer than min_baseline %s', coalesce(mo.nbase, 0), min_base)
                    WHEN mo.price IS NULL OR mo.unit_cost IS NULL THEN 'no price or unit cost for the product: units only'
               END AS why
        FROM money mo LEFT JOIN d USING (promo_id, product_id, store_id)
        LEFT JOIN cn USING (promo_id, product_id, store_id))
    SELECT v.promo_id, v.product_id, CASE WHEN grain = 'chain' THEN NULL ELSE v.store_id END, v.starts_on, v.ends_on, v.periods, v.units,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.base END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.units - v.base END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.units - (v.base + z * v.base_sd) END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.units - greatest(v.base - z * v.base_sd, 0) END,
           CASE WHEN v.why LIKE 'no baseline%' OR v.base <= 0 THEN NULL ELSE v.units / v.base END,
           CASE WHEN v.why IS NULL THEN v.revenue - v.base * v.price END,
           q.im, q.im_lo, q.im_hi, q.cost,
           CASE WHEN q.cost > 0 THEN q.im / q.cost END,
           CASE WHEN q.cost > 0 THEN q.im_lo / q.cost END,   -- cost grows with the baseline: the
           CASE WHEN q.cost > 0 THEN q.im_hi / q.cost END,   -- bounds take it at its point value
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE coalesce(v.dip_before, 0) END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE coalesce(v.dip_after, 0) END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE coalesce(v.cann_units, 0) END,
           CASE WHEN v.why IS NULL THEN coalesce(v.cann_margin, 0) END,
           CASE WHEN v.why IS NULL THEN q.im - q.cost + (coalesce(v.dip_before, 0) + coalesce(v.dip_after, 0))
                                        * (v.price - v.unit_cost) + coalesce(v.cann_margin, 0) END,
           coalesce(v.why, CASE WHEN q.cost = 0 THEN 'no cost: the promotion gave no discount and has no fixed cost' END)
    FROM v, LATERAL (SELECT
           CASE WHEN v.why IS NULL THEN (v.units - v.base) * (v.promo_price - v.unit_cost) END AS im,
           CASE WHEN v.why IS NULL THEN (v.units - v.base - z * v.base_sd) * (v.promo_price - v.unit_cost) END AS im_lo,
           CASE WHEN v.why IS NULL THEN (v.units - greatest(v.base - z * v.base_sd, 0)) * (v.promo_price - v.unit_cost) END AS im_hi,
           CASE WHEN v.why IS NULL THEN v.base * greatest(v.price - v.promo_price, 0) + v.fixed_cost END AS cost) q
    ORDER BY v.promo_id, v.product_id, v.store_id;
END
$$;
COMMENT ON FUNCTION retailiq.promotion_effects(regclass, regclass, regclass, jsonb) IS
    'per promotion, product and store: incremental units, revenue and margin against the factor regression''s counterfactual, dips, cannibalisation, cost and ROI with intervals';

-- Per campaign: the promotions' effects summed. A campaign is the promotions relation's
-- `campaign` column where it has one, else each promotion (promo_id) over its products and
-- stores. The interval of a sum takes the rows' spreads as independent (each is its series'
-- noise and its own coefficients): the square root of the summed squared half-widths.
CREATE FUNCTION retailiq.promotion_campaigns(sales regclass, promotions regclass, products regclass,
                                             options jsonb DEFAULT '{}')
RETURNS TABLE (campaign text, n_promotions int, n_products int, n_stores int, starts_on date, ends_on date,
               units float8, baseline_units float8,
               incremental_units float8, incremental_units_lower float8, incremental_units_upper float8,
               incremental_revenue float8,
               incremental_margin float8, incremental_margin_lower float8, incremental_margin_upper float8,
               cost float8, roi float8, roi_lower float8, roi_upper float8,
               dip_units float8, cannibalised_units float8, net_margin float8, rows_without_baseline int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF sales IS NULL OR promotions IS NULL OR products IS NULL THEN
        RAISE EXCEPTION 'promotion_campaigns: sales, promotions and products must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.promotion_campaigns(''retail.daily_sales'', ''retail.promotions'', ''retail.products'').';
    END IF;
    DROP TABLE IF EXISTS promo_campaign_of;
    EXECUTE format('CREATE TEMP TABLE promo_campaign_of ON COMMIT DROP AS
                    SELECT DISTINCT p.promo_id::bigint AS promo_id,
                           coalesce(to_jsonb(p) ->> ''campaign'', p.promo_id::text) AS campaign
                      FROM %s p', promotions);
    IF EXISTS (SELECT FROM promo_campaign_of c GROUP BY c.promo_id HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'promotion_campaigns: a promotion of % belongs to two campaigns', promotions
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give each promo_id one campaign.';
    END IF;
    RETURN QUERY
    WITH e AS (SELECT c.campaign AS camp, x.*
                 FROM retailiq.promotion_effects(sales, promotions, products, options) x
                 JOIN promo_campaign_of c ON c.promo_id = x.promo_id),
         s AS (SELECT e.camp, min(e.promo_id) AS first_promo, count(DISTINCT e.promo_id)::int AS npromo, count(DISTINCT e.product_id)::int AS nprod,
                      count(DISTINCT e.store_id)::int AS nstore, min(e.starts_on) AS d0, max(e.ends_on) AS d1,
                      sum(e.units) AS u, sum(e.baseline_units) AS b,
                      sum(e.incremental_units) AS iu,
                      sqrt(sum((e.incremental_units - e.incremental_units_lower) ^ 2)) AS iu_lo,
                      sqrt(sum((e.incremental_units_upper - e.incremental_units) ^ 2)) AS iu_hi,
                      sum(e.incremental_revenue) AS ir,
                      sum(e.incremental_margin) AS im,
                      sqrt(sum((e.incremental_margin - e.incremental_margin_lower) ^ 2)) AS im_lo,
                      sqrt(sum((e.incremental_margin_upper - e.incremental_margin) ^ 2)) AS im_hi,
                      sum(e.cost) AS c,
                      sum(coalesce(e.dip_before_units, 0) + coalesce(e.dip_after_units, 0))
                          FILTER (WHERE e.baseline_units IS NOT NULL) AS dip,
                      sum(e.cannibalised_units) AS cann, sum(e.net_margin) AS net,
                      count(*) FILTER (WHERE e.baseline_units IS NULL)::int AS nobase
                 FROM e GROUP BY e.camp)
    SELECT s.camp, s.npromo, s.nprod, s.nstore, s.d0, s.d1, s.u, s.b,
           s.iu, s.iu - s.iu_lo, s.iu + s.iu_hi, s.ir, s.im, s.im - s.im_lo, s.im + s.im_hi, s.c,
           CASE WHEN s.c > 0 THEN s.im / s.c END,
           CASE WHEN s.c > 0 THEN (s.im - s.im_lo) / s.c END,
           CASE WHEN s.c > 0 THEN (s.im + s.im_hi) / s.c END,
           s.dip, s.cann, s.net, s.nobase
      FROM s ORDER BY s.first_promo, s.camp;
END
$$;
COMMENT ON FUNCTION retailiq.promotion_campaigns(regclass, regclass, regclass, jsonb) IS
    'per campaign (the promotions'' campaign column, else each promotion): promotion_effects summed, with intervals of the sums';
