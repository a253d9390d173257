-- replenishment: the plan (doc/replenishment.md). For each store x product of a sales
-- source's newest forecasts: the demand over lead time + review period from the forecasts'
-- means and intervals (per day; a weekly or monthly forecast spread evenly over its days),
-- the inventory position (on hand from the registered inventory relation + open purchase
-- orders), and the order that brings the position up to the service-level quantile, in
-- whole packs, at least the MOQ, never more than sells before it spoils
-- (retailiq_internal.replenishment_order, demand.c).

CREATE FUNCTION retailiq.replenishment_plan(source text, as_of date DEFAULT NULL, stores bigint[] DEFAULT NULL,
                                            missing_inventory text DEFAULT 'error',
                                            service_target text DEFAULT 'per_series')
RETURNS TABLE (store_id bigint, product_id bigint, series text, on_hand float8, on_order float8,
               demand_mean float8, demand_quantile float8, service_level float8, order_up_to float8,
               order_qty float8, expected_fill_rate float8, days_of_cover float8,
               lead_time_days int, review_days int, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model text := 'forecast:' || source;
    v_created timestamptz;
    v_keyless bigint;
    v_inv text;
    v_missing bigint;
    v_example text;
    v_base text;
BEGIN
    IF source IS NULL OR missing_inventory IS NULL OR service_target IS NULL THEN
        RAISE EXCEPTION 'source, missing_inventory and service_target must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.replenishment_plan(''store_sales'').';
    END IF;
    IF missing_inventory NOT IN ('error', 'zero', 'skip') THEN
        RAISE EXCEPTION 'missing_inventory must be error, zero or skip'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('missing_inventory is %s.', missing_inventory),
                  HINT = '"error" refuses a plan with a product that has no inventory row, "zero" takes its stock as 0, "skip" leaves it out.';
    END IF;
    IF service_target NOT IN ('per_series', 'pooled') THEN
        RAISE EXCEPTION 'service_target must be per_series or pooled'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('service_target is %s.', service_target),
                  HINT = '"per_series" holds every series at its service level, "pooled" the mean of the series that share a service level at the least total stock.';
    END IF;
    PERFORM retailiq_internal.sales_source_named(source);
    SELECT max(r.created_at) INTO v_created FROM retailiq.forecast_result r WHERE r.model_name = v_model;
    IF v_created IS NULL THEN
        RAISE EXCEPTION 'sales source "%" has no stored forecasts', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28], %L) first.', source);
    END IF;
    IF as_of IS NULL THEN
        SELECT min(r.period_start) INTO as_of FROM retailiq.forecast_result r
         WHERE r.model_name = v_model AND r.created_at = v_created;
    END IF;
    SELECT count(*) INTO v_keyless FROM retailiq.forecast_result r
     WHERE r.model_name = v_model AND r.created_at = v_created AND (r.store_id IS NULL OR r.product_id IS NULL);
    IF v_keyless > 0 THEN
        RAISE EXCEPTION 'the forecasts of sales source "%" name no store and product', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s forecast rows have no store_id or product_id.', v_keyless),
                  HINT = 'Register the source with store_column and product_column, then refresh its forecasts.';
    END IF;
    IF NOT EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'inventory') THEN
        RAISE EXCEPTION 'no inventory source is registered'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Register the stock on hand: retailiq.register_source(''inventory'', relation) with columns store_id, product_id, on_hand.';
    END IF;
    v_inv := retailiq_internal.source_sql('inventory');

    -- the store x product series with a forecast from as_of on, their parameters and stock
    v_base := format($q$
        WITH k AS (
            SELECT DISTINCT ON (r.series) r.series, r.store_id, r.product_id
              FROM retailiq.forecast_result r
             WHERE r.model_name = $1 AND r.period_start >= $2 AND r.store_id IS NOT NULL
               AND r.product_id IS NOT NULL AND ($3::bigint[] IS NULL OR r.store_id = ANY ($3))
             ORDER BY r.series, r.created_at DESC),
        inv AS (
            SELECT i.store_id::bigint AS store_id, i.product_id::bigint AS product_id, sum(i.on_hand)::float8 AS on_hand
              FROM %s i
             WHERE ($3::bigint[] IS NULL OR i.store_id = ANY ($3))
             GROUP BY 1, 2)
        SELECT k.series, k.store_id, k.product_id, inv.on_hand
          FROM k LEFT JOIN inv ON inv.store_id = k.store_id AND inv.product_id = k.product_id$q$, v_inv);

    EXECUTE format('SELECT count(*), min(format(''store %%s, product %%s'', b.store_id, b.product_id)) FROM (%s) b WHERE b.on_hand IS NULL', v_base)
      INTO v_missing, v_example USING v_model, as_of, stores;
    IF v_missing > 0 AND missing_inventory = 'error' THEN
        RAISE EXCEPTION '% store x product series of sales source "%" have no inventory row', v_missing, source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The first is %s.', v_example),
                  HINT = 'Add their rows to the inventory relation (on_hand 0 when out of stock), or pass missing_inventory => ''zero'' or ''skip''.';
    END IF;

    RETURN QUERY EXECUTE format($q$
        WITH b AS (%s),
        p AS (
            SELECT b.*, coalesce(b.on_hand, 0) AS stock,
                   coalesce((SELECT sum(o.quantity) FROM retailiq.purchase_order o
                              WHERE o.store_id = b.store_id AND o.product_id = b.product_id
                                AND o.status = 'open'), 0)::float8 AS on_order,
                   par.*,
                   greatest(par.lead_time_days + par.review_days,
                            par.lead_time_days + coalesce(par.shelf_life_days, 0)) AS need
              FROM b CROSS JOIN LATERAL retailiq.replenishment_parameters(b.store_id, b.product_id) par
             WHERE b.on_hand IS NOT NULL OR $4 = 'zero'),
        -- each day of [as_of, as_of + need) from the newest forecast whose period covers it
        fd AS (
            SELECT DISTINCT ON (f.series, f.day) f.series, f.day, f.mu, f.var
              FROM (SELECT r.series, r.created_at, d.day::date AS day,
                           mv.mean / n.days AS mu, mv.var / n.days AS var
                      FROM retailiq.forecast_result r
                     CROSS JOIN LATERAL (SELECT ((r.period_start + CASE r.grain WHEN 'day' THEN interval '1 day'
                                                     WHEN 'week' THEN interval '1 week' ELSE interval '1 month' END)::date
                                                 - r.period_start)::float8 AS days) n
                     CROSS JOIN LATERAL retailiq_internal.replenishment_moments(r.yhat, r.yhat_lower, r.yhat_upper,
                                                                                 r.interval_level) mv
                     CROSS JOIN LATERAL generate_series(r.period_start, r.period_start + n.days::int - 1, interval '1 day') d(day)
                     WHERE r.model_name = $1 AND r.period_start > $2 - 31
                       AND r.period_start < $2 + (SELECT max(p.need) FROM p)
                       AND ($3::bigint[] IS NULL OR r.store_id = ANY ($3))) f
             WHERE f.day >= $2
             ORDER BY f.series, f.day, f.created_at DESC),
        -- days past the forecasts take the mean of the days with one
        arr AS (
            SELECT p.series,
                   array_agg(coalesce(fd.mu, a.mu) ORDER BY g.i) AS mu,
                   array_agg(coalesce(fd.var, a.var) ORDER BY g.i) AS var,
                   count(fd.day) AS covered
              FROM p
             CROSS JOIN LATERAL generate_series(0, p.need - 1) g(i)
              LEFT JOIN fd ON fd.series = p.series AND fd.day = $2 + g.i
             CROSS JOIN LATERAL (SELECT coalesce(avg(x.mu), 0) AS mu, coalesce(avg(x.var), 0) AS var
                                   FROM fd x WHERE x.series = p.series) a
             GROUP BY p.series),
        -- 'pooled': the series sharing a service level get levels whose mean is that level,
        -- at the least total stock (their demand over lead time + review period)
        pool AS (
            SELECT p.service_level, array_agg(p.series ORDER BY p.series) AS ss,
                   retailiq_internal.replenishment_pooled_levels(
                       array_agg(x.m ORDER BY p.series), array_agg(x.v ORDER BY p.series), p.service_level,
                       2 * p.service_level - 1) AS lv
              FROM p JOIN arr ON arr.series = p.series
             CROSS JOIN LATERAL (SELECT sum(u.m) AS m, sum(u.v) AS v
                                   FROM unnest(arr.mu[1:p.lead_time_days + p.review_days],
                                               arr.var[1:p.lead_time_days + p.review_days]) u(m, v)) x
             WHERE $5 = 'pooled'
             GROUP BY p.service_level),
        lv AS (
            SELECT pool.service_level AS target, count(*) OVER (PARTITION BY pool.service_level) AS pooled, u.series, u.level
              FROM pool CROSS JOIN LATERAL unnest(pool.ss, pool.lv) u(series, level))
        SELECT p.store_id, p.product_id, p.series, p.stock, p.on_order, o.demand_mean, o.demand_quantile,
               coalesce(lv.level, p.service_level), o.order_up_to, o.order_qty, o.fill_rate,
               CASE WHEN o.demand_mean > 0
                    THEN p.stock / (o.demand_mean / (p.lead_time_days + p.review_days)) END,
               p.lead_time_days, p.review_days,
               o.reason || CASE WHEN p.on_hand IS NULL THEN '; no inventory row: stock taken as 0' ELSE '' END
                        || CASE WHEN arr.covered < p.need
                                THEN format('; %%s of %%s days without a forecast took the mean of the others',
                                            p.need - arr.covered, p.need) ELSE '' END
                        || CASE WHEN lv.series IS NOT NULL
                                THEN format('; service level %%s of a pooled %%s over %%s series',
                                            round(lv.level::numeric, 3), lv.target, lv.pooled) ELSE '' END
          FROM p JOIN arr ON arr.series = p.series
          LEFT JOIN lv ON lv.series = p.series
         CROSS JOIN LATERAL retailiq_internal.replenishment_order(
               arr.mu, arr.var, p.lead_time_days, p.review_days, coalesce(p.shelf_life_days, 0),
               least(greatest(coalesce(lv.level, p.service_level), 1e-9), 1 - 1e-9),
               p.stock, p.on_order, p.pack_size, p.moq) o
         ORDER BY p.store_id, p.product_id, p.series$q$, v_base)
      USING v_model, as_of, stores, missing_inventory, service_target;
END
$$;
COMMENT ON FUNCTION retailiq.replenishment_plan(text, date, bigint[], text, text) IS
    'per store x product of a sales source: stock on hand and on order, demand over lead time + review period, order-up-to level, the order to place (packs, MOQ, shelf life), expected fill rate, days of cover and why';

-- The nightly job: the plan of each sales source whose forecasts name stores and products
-- (or the one named) stored in retailiq.order_plan, replacing that source's plan of the
-- same date. Returns the rows written.
CREATE FUNCTION retailiq.refresh_replenishment_plan(source text DEFAULT NULL, as_of date DEFAULT NULL,
                                                    missing_inventory text DEFAULT 'error')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nm text;
    v_date date;
    n bigint;
    total bigint := 0;
BEGIN
    IF source IS NOT NULL THEN
        PERFORM retailiq_internal.sales_source_named(source);
    END IF;
    FOR nm IN SELECT s.name FROM retailiq.sales_source s
               WHERE (refresh_replenishment_plan.source IS NULL
                      AND s.store_column IS NOT NULL AND s.product_column IS NOT NULL
                      AND EXISTS (SELECT FROM retailiq.forecast_result r WHERE r.model_name = 'forecast:' || s.name))
                  OR s.name = refresh_replenishment_plan.source
               ORDER BY s.name LOOP
        v_date := coalesce(as_of, (SELECT min(r.period_start) FROM retailiq.forecast_result r
                                    WHERE r.model_name = 'forecast:' || nm
                                      AND r.created_at = (SELECT max(x.created_at) FROM retailiq.forecast_result x
                                                           WHERE x.model_name = 'forecast:' || nm)));
        DELETE FROM retailiq.order_plan o WHERE o.source = nm AND o.plan_date = v_date;
        INSERT INTO retailiq.order_plan (source, plan_date, store_id, product_id, series, on_hand, on_order,
                                         demand_mean, demand_quantile, service_level, order_up_to, order_qty,
                                         expected_fill_rate, days_of_cover, lead_time_days, review_days, reason)
        SELECT nm, v_date, p.store_id, p.product_id, p.series, p.on_hand, p.on_order, p.demand_mean,
               p.demand_quantile, p.service_level, p.order_up_to, p.order_qty, p.expected_fill_rate,
               p.days_of_cover, p.lead_time_days, p.review_days, p.reason
          FROM retailiq.replenishment_plan(nm, v_date, NULL, missing_inventory) p;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION retailiq.refresh_replenishment_plan(text, date, text) IS
    'stores the replenishment plan of each sales source with store and product forecasts (or the one named) in retailiq.order_plan; returns rows written';
