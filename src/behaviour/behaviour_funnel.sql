-- behaviour: conversion funnel, in-store zone traffic and dwell hot spots, basket metrics.
-- Set-returning functions over the registered event source; periods are half-open
-- [from_ts, to_ts) and days and hours are UTC (the sample data's store time).

CREATE FUNCTION retailiq_internal.check_period(from_ts timestamptz, to_ts timestamptz) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF from_ts IS NULL OR to_ts IS NULL THEN
        RAISE EXCEPTION 'from_ts and to_ts must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass the period as two timestamps, e.g. ''2025-01-01'', ''2025-02-01''.';
    END IF;
    IF from_ts >= to_ts OR from_ts = '-infinity' OR to_ts = 'infinity' THEN
        RAISE EXCEPTION 'the period must be finite and from_ts before to_ts' USING ERRCODE = '22023',
              DETAIL = format('from_ts is %s, to_ts is %s.', from_ts, to_ts),
              HINT = 'The period is [from_ts, to_ts): to_ts is excluded.';
    END IF;
END
$$;

-- One unit = a customer viewing a product on a day. It is "carted" when the customer also put
-- that product in the cart that day, "purchased" when the customer ordered it that day (any
-- channel). Grouped by day, channel of the view, product category and RFM segment (from
-- customer_profile_data; 'unscored' before refresh_customer_profile has run).
CREATE FUNCTION retailiq.conversion_funnel(from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (day date, channel text, category text, segment text,
               viewed bigint, carted bigint, purchased bigint,
               view_to_cart float8, cart_to_purchase float8, view_to_purchase float8)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the (customer, product, day) triples bought; on distributed tables (Citus) the orders of
    -- the period are read first (an intermediate result sent to the workers) and joined to
    -- the order lines there, as the reports do (doc/distributed.md)
    bought text := CASE WHEN retailiq_internal.source_distributed(ARRAY['events', 'orders', 'order_lines']) THEN $b$
        ro AS MATERIALIZED (
            SELECT o.order_id, o.customer_id::bigint AS customer_id, (o.ordered_at AT TIME ZONE 'UTC')::date AS day
              FROM %2$s o
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2),
        bought AS MATERIALIZED (
            SELECT DISTINCT ro.customer_id, l.product_id::bigint AS product_id, ro.day
              FROM ro JOIN %3$s l ON l.order_id = ro.order_id),$b$ ELSE $b$
        bought AS (
            SELECT DISTINCT o.customer_id::bigint AS customer_id, l.product_id::bigint AS product_id,
                   (o.ordered_at AT TIME ZONE 'UTC')::date AS day
              FROM %2$s o JOIN %3$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2),$b$ END;
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    RETURN QUERY EXECUTE format($q$
        WITH ev AS (
            SELECT e.customer_id::bigint AS customer_id, e.product_id::bigint AS product_id,
                   (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                   min(e.channel::text) FILTER (WHERE e.event_type = 'view') AS channel,
                   bool_or(e.event_type = 'view') AS viewed,
                   bool_or(e.event_type = 'cart_add') AS carted
              FROM %1$s e
             WHERE e.occurred_at >= $1 AND e.occurred_at < $2
               AND e.event_type IN ('view', 'cart_add') AND e.product_id IS NOT NULL
             GROUP BY 1, 2, 3),$q$ || bought || $q$
        u AS (
            SELECT ev.day, ev.channel, p.category::text AS category,
                   coalesce(d.segment, 'unscored') AS segment,
                   ev.carted, b.customer_id IS NOT NULL AS purchased
              FROM ev
              LEFT JOIN bought b ON b.customer_id = ev.customer_id AND b.product_id = ev.product_id
                                AND b.day = ev.day
              LEFT JOIN %4$s p ON p.product_id = ev.product_id
              LEFT JOIN retailiq.customer_profile_data d ON d.customer_id = ev.customer_id
             WHERE ev.viewed)
        SELECT day, channel, category, segment, count(*), count(*) FILTER (WHERE carted),
               count(*) FILTER (WHERE purchased),
               count(*) FILTER (WHERE carted)::float8 / count(*),
               CASE WHEN count(*) FILTER (WHERE carted) > 0
                    THEN count(*) FILTER (WHERE carted AND purchased)::float8 / count(*) FILTER (WHERE carted) END,
               count(*) FILTER (WHERE purchased)::float8 / count(*)
          FROM u GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4$q$,
        retailiq_internal.source_sql('events'), retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'),
        retailiq_internal.source_sql('products'))
    USING from_ts, to_ts;
END
$$;

-- In-store traffic: dwell events by store, zone and hour of day (UTC). heat is the zone-hour's
-- total dwell time over the busiest zone-hour of its store (1 = the store's hottest spot).
CREATE FUNCTION retailiq.zone_traffic(from_ts timestamptz, to_ts timestamptz, store int DEFAULT NULL)
RETURNS TABLE (store_id bigint, zone_id bigint, zone_name text, hour int, visits bigint,
               visitors bigint, total_dwell_s bigint, avg_dwell_s float8, median_dwell_s float8,
               heat float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    RETURN QUERY EXECUTE format($q$
        WITH z AS (
            SELECT e.store_id::bigint AS store_id, e.zone_id::bigint AS zone_id,
                   extract(hour FROM e.occurred_at AT TIME ZONE 'UTC')::int AS hour,
                   count(*) AS visits, count(DISTINCT e.customer_id) AS visitors,
                   sum(e.duration_s)::bigint AS total_dwell_s, avg(e.duration_s)::float8 AS avg_dwell_s,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_s) AS median_dwell_s
              FROM %1$s e
             WHERE e.occurred_at >= $1 AND e.occurred_at < $2 AND e.event_type = 'dwell'
               AND e.zone_id IS NOT NULL AND ($3 IS NULL OR e.store_id = $3)
             GROUP BY 1, 2, 3)
        SELECT z.store_id, z.zone_id, sz.zone_name::text, z.hour, z.visits, z.visitors,
               z.total_dwell_s, z.avg_dwell_s, z.median_dwell_s,
               z.total_dwell_s::float8 / nullif(max(z.total_dwell_s) OVER (PARTITION BY z.store_id), 0)
          FROM z LEFT JOIN %2$s sz ON sz.store_id = z.store_id AND sz.zone_id = z.zone_id
         ORDER BY 1, 2, 4$q$, retailiq_internal.source_sql('events'), retailiq_internal.source_sql('store_zones'))
    USING from_ts, to_ts, store;
END
$$;

-- The top zone-hours of each store by total dwell time.
CREATE FUNCTION retailiq.dwell_hot_spots(from_ts timestamptz, to_ts timestamptz, top int DEFAULT 5,
                                         store int DEFAULT NULL)
RETURNS TABLE (store_id bigint, rank int, zone_id bigint, zone_name text, hour int, visits bigint,
               total_dwell_s bigint, avg_dwell_s float8, heat float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1' USING ERRCODE = '22023',
              DETAIL = format('top is %s.', coalesce(top::text, 'NULL')), HINT = 'Pass e.g. 5.';
    END IF;
    RETURN QUERY
    SELECT s.store_id, s.rk::int, s.zone_id, s.zone_name, s.hour, s.visits, s.total_dwell_s,
           s.avg_dwell_s, s.heat
      FROM (SELECT t.*, row_number() OVER (PARTITION BY t.store_id
                                           ORDER BY t.total_dwell_s DESC, t.zone_id, t.hour) AS rk
              FROM retailiq.zone_traffic(from_ts, to_ts, store) t) s
     WHERE s.rk <= top
     ORDER BY s.store_id, s.rk;
END
$$;

-- Basket size and value over the orders of a period.
CREATE FUNCTION retailiq.basket_summary(from_ts timestamptz, to_ts timestamptz, store int DEFAULT NULL)
RETURNS TABLE (orders bigint, customers bigint, avg_lines float8, avg_units float8,
               avg_value numeric, promo_line_share float8, online_share float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the figures over b (one row per order), the same on one node and on Citus
    summary constant text := $s$
        SELECT count(*), count(DISTINCT customer_id), avg(lines)::float8, avg(units)::float8,
               round(avg(total_amount)::numeric, 2),
               sum(promo_lines)::float8 / nullif(sum(lines), 0),
               avg((channel = 'online')::int)::float8
          FROM b$s$;
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    IF retailiq_internal.source_distributed(ARRAY['orders', 'order_lines']) THEN
        -- Citus: the period's orders first (an intermediate result), their lines counted per
        -- order on the order-lines shards, the same figures (doc/distributed.md)
        RETURN QUERY EXECUTE format($q$
        WITH ro AS MATERIALIZED (
            SELECT o.order_id, o.customer_id, o.channel::text AS channel, o.total_amount
              FROM %1$s o
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2 AND ($3 IS NULL OR o.store_id = $3)),
        li AS MATERIALIZED (
            SELECT l.order_id, count(l.order_id) AS lines, sum(l.quantity) AS units, count(l.promo_id) AS promo_lines
              FROM ro JOIN %2$s l ON l.order_id = ro.order_id
             GROUP BY l.order_id),
        b AS (
            SELECT ro.order_id, ro.customer_id, ro.channel, ro.total_amount,
                   coalesce(li.lines, 0) AS lines, coalesce(li.units, 0) AS units, coalesce(li.promo_lines, 0) AS promo_lines
              FROM ro LEFT JOIN li ON li.order_id = ro.order_id)
        %3$s$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'),
            summary)
        USING from_ts, to_ts, store;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH b AS (
            SELECT o.order_id, o.customer_id, o.channel::text AS channel, o.total_amount,
                   count(l.order_id) AS lines, coalesce(sum(l.quantity), 0) AS units,
                   count(l.promo_id) AS promo_lines
              FROM %1$s o LEFT JOIN %2$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2 AND ($3 IS NULL OR o.store_id = $3)
             GROUP BY o.order_id, o.customer_id, o.channel, o.total_amount)
        %3$s$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'),
            summary)
    USING from_ts, to_ts, store;
END
$$;

-- Attach rates of the strongest product associations of the period (FP-growth through
-- retailiq.assoc_rules_lines): of the baskets holding the antecedent, the share that also
-- hold the consequent (the rule's confidence), with the rule's support and lift.
CREATE FUNCTION retailiq.basket_attach_rates(from_ts timestamptz, to_ts timestamptz,
                                             store int DEFAULT NULL, top int DEFAULT 10,
                                             min_support float8 DEFAULT 0.002,
                                             min_confidence float8 DEFAULT 0.1)
RETURNS TABLE (antecedent bigint[], consequent bigint[], baskets bigint, support float8,
               attach_rate float8, lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1' USING ERRCODE = '22023',
              DETAIL = format('top is %s.', coalesce(top::text, 'NULL')), HINT = 'Pass e.g. 10.';
    END IF;
    IF retailiq_internal.source_distributed(ARRAY['orders', 'order_lines']) THEN
        -- Citus: the period's orders first, the aggregate split over the order-lines shards,
        -- its rules unnested in FROM (citusdata/citus#2265; doc/distributed.md)
        RETURN QUERY EXECUTE format($q$
        WITH ro AS MATERIALIZED (
            SELECT o.order_id FROM %1$s o
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2 AND ($3 IS NULL OR o.store_id = $3)),
        a AS MATERIALIZED (
            SELECT retailiq.assoc_rules_lines(l.order_id::bigint, l.product_id::bigint, $4, $5, 2) AS rs
              FROM ro JOIN %2$s l ON l.order_id = ro.order_id)
        SELECT (r).antecedent, (r).consequent, (r).count, (r).support, (r).confidence, (r).lift
          FROM (SELECT x AS r FROM a, unnest(a.rs) x) r
         ORDER BY (r).lift DESC, (r).support DESC, (r).antecedent, (r).consequent
         LIMIT $6$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
        USING from_ts, to_ts, store, min_support, min_confidence, top;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH r AS (
            SELECT unnest(retailiq.assoc_rules_lines(l.order_id::bigint, l.product_id::bigint, $4, $5, 2)) AS r
              FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2 AND ($3 IS NULL OR o.store_id = $3))
        SELECT (r).antecedent, (r).consequent, (r).count, (r).support, (r).confidence, (r).lift
          FROM r ORDER BY (r).lift DESC, (r).support DESC, (r).antecedent, (r).consequent
         LIMIT $6$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_ts, to_ts, store, min_support, min_confidence, top;
END
$$;
