-- reports: the computed days of the reports (report_days.sql's *_live functions) over
-- distributed tables (Citus, issue 19, doc/distributed.md). The one-node queries group with
-- GROUPING SETS, which Citus does not run over a distributed table, and join the orders
-- (distributed by customer) to their order lines (distributed by order) on a column that is
-- not the distribution column of both. The same definitions are written here so that Citus
-- can plan them: each grouping set is its own GROUP BY (UNION ALL), and the orders of the
-- range are read first into a materialized CTE (order id, day, store, customer), which Citus
-- computes on the workers and sends to every worker as an intermediate result, where it is
-- joined to the order lines shard by shard; the per-day sums are partial aggregates on the
-- workers, added up on the coordinator. Used only when one of the relations a query reads
-- is a hash-distributed Citus table (or a view over one): on one node, and on Citus for
-- local tables, the report functions run the queries of report_days.sql, whose plans issue
-- 20 tuned.

-- Is a relation registered for one of the roles (the core source registry: 'orders',
-- 'order_lines', 'events', ...) a hash-distributed Citus table or a view over one? false
-- without Citus (one catalogue lookup).
CREATE FUNCTION retailiq_internal.source_distributed(roles text[]) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    FOREACH r IN ARRAY roles LOOP
        IF retailiq_internal.relation_is_distributed(retailiq_internal.source_relation(r)) THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;

-- The query of a *_live function for distributed relations, NULL when none of the registered
-- relations it reads is distributed (then the one-node query runs). kind: 'day_sales',
-- 'day_units', 'day_customers', 'day_funnel' ($1, $2: the first and last day, as the *_live
-- functions'), 'customers' ($3: the grain).
CREATE FUNCTION retailiq_internal.report_distributed_sql(kind text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roles text[] := CASE kind WHEN 'day_funnel' THEN ARRAY['events', 'orders', 'order_lines']
                              WHEN 'day_customers' THEN ARRAY['orders']
                              WHEN 'customers' THEN ARRAY['orders']
                              ELSE ARRAY['orders', 'order_lines'] END;
    -- the orders of the days [$1, $2], as the one-node queries select them
    rng constant text := $r$o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
                       AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')$r$;
BEGIN
    IF NOT retailiq_internal.source_distributed(roles) THEN
        RETURN NULL;
    END IF;
    IF kind = 'day_sales' THEN
        -- report_day_sales_live: orders, customers, sales by day and by day and store (two
        -- GROUP BYs; count(DISTINCT customer) per shard when the orders are distributed by
        -- customer), units by day and store from the range's orders joined to the order
        -- lines on the workers, and their sum by day on the coordinator (numeric: exact)
        RETURN format($q$
        WITH ro AS MATERIALIZED (
            SELECT o.order_id, (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id
              FROM %1$s o
             WHERE %3$s),
        u AS MATERIALIZED (
            SELECT ro.day, ro.store_id, sum(l.quantity)::numeric AS units
              FROM ro JOIN %2$s l ON l.order_id = ro.order_id
             GROUP BY 1, 2),
        s AS (
            SELECT o.day, false AS by_store, NULL::bigint AS store_id, count(*) AS orders,
                   count(DISTINCT o.customer_id) AS customers,
                   count(DISTINCT o.customer_id) + max(CASE WHEN o.customer_id IS NULL THEN 1 ELSE 0 END) AS active,
                   sum(o.total_amount)::numeric AS sales
              FROM (SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.customer_id, o.total_amount
                      FROM %1$s o WHERE %3$s) o
             GROUP BY o.day
            UNION ALL
            SELECT o.day, true, o.store_id, count(*), count(DISTINCT o.customer_id),
                   count(DISTINCT o.customer_id) + max(CASE WHEN o.customer_id IS NULL THEN 1 ELSE 0 END),
                   sum(o.total_amount)::numeric
              FROM (SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id,
                           o.customer_id, o.total_amount
                      FROM %1$s o WHERE %3$s) o
             GROUP BY o.day, o.store_id),
        ua AS (
            SELECT u.day, false AS by_store, NULL::bigint AS store_id, sum(u.units) AS units FROM u GROUP BY 1
            UNION ALL
            SELECT u.day, true, u.store_id, u.units FROM u)
        SELECT s.day, s.by_store, s.store_id, s.orders, s.customers, s.active, ua.units, s.sales
          FROM s LEFT JOIN ua ON ua.day = s.day AND ua.by_store = s.by_store
                             AND coalesce(ua.store_id, -1) = coalesce(s.store_id, -1)$q$,
            retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'), rng);
    ELSIF kind = 'day_units' THEN
        -- report_day_units_live: the range's orders joined to the order lines on the workers
        RETURN format($q$
        WITH ro AS MATERIALIZED (
            SELECT o.order_id, (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id
              FROM %1$s o
             WHERE %3$s)
        SELECT ro.day, ro.store_id, l.product_id::bigint, sum(l.quantity)::numeric
          FROM ro JOIN %2$s l ON l.order_id = ro.order_id
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3$q$,
            retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'), rng);
    ELSIF kind = 'day_customers' THEN
        -- report_day_customers_live's pass over the orders (not the index probe), each
        -- grouping set its own query: every subquery groups or partitions by the customer, so
        -- with the orders distributed by customer it runs on the workers whole and only the
        -- per-day counts are added up on the coordinator
        RETURN format($q$
        WITH n AS (
            SELECT (f.first_at AT TIME ZONE 'UTC')::date AS day, false AS by_store, NULL::bigint AS store_id, count(*) AS k
              FROM (SELECT o.customer_id, min(o.ordered_at) AS first_at
                      FROM %1$s o WHERE %2$s GROUP BY o.customer_id) f
             WHERE NOT EXISTS (SELECT 1 FROM %1$s p WHERE p.customer_id = f.customer_id
                                  AND p.ordered_at < ($1::timestamp AT TIME ZONE 'UTC'))
             GROUP BY 1
            UNION ALL
            SELECT (f.first_at AT TIME ZONE 'UTC')::date, true, f.store_id, count(*)
              FROM (SELECT o.customer_id, o.store_id::bigint AS store_id, min(o.ordered_at) AS first_at
                      FROM %1$s o WHERE %2$s GROUP BY o.customer_id, o.store_id) f
             WHERE NOT EXISTS (SELECT 1 FROM %1$s p WHERE p.customer_id = f.customer_id AND p.store_id = f.store_id
                                  AND p.ordered_at < ($1::timestamp AT TIME ZONE 'UTC'))
             GROUP BY 1, 3),
        l AS (
            SELECT w.lost_at::date AS day, false AS by_store, NULL::bigint AS store_id, count(*) AS k
              FROM (SELECT (o.ordered_at AT TIME ZONE 'UTC') + interval '90 days' AS lost_at,
                           lead(o.ordered_at AT TIME ZONE 'UTC') OVER (PARTITION BY o.customer_id ORDER BY o.ordered_at) AS next_all
                      FROM %1$s o
                     WHERE o.ordered_at >= (($1 - 90)::timestamp AT TIME ZONE 'UTC')
                       AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')) w
             WHERE w.lost_at >= $1::timestamp AND w.lost_at < ($2 + 1)::timestamp
               AND (w.next_all IS NULL OR w.next_all > w.lost_at)
             GROUP BY 1
            UNION ALL
            SELECT w.lost_at::date, true, w.store_id, count(*)
              FROM (SELECT o.store_id::bigint AS store_id, (o.ordered_at AT TIME ZONE 'UTC') + interval '90 days' AS lost_at,
                           lead(o.ordered_at AT TIME ZONE 'UTC') OVER (PARTITION BY o.customer_id, o.store_id ORDER BY o.ordered_at) AS next_store
                      FROM %1$s o
                     WHERE o.ordered_at >= (($1 - 90)::timestamp AT TIME ZONE 'UTC')
                       AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')) w
             WHERE w.lost_at >= $1::timestamp AND w.lost_at < ($2 + 1)::timestamp
               AND (w.next_store IS NULL OR w.next_store > w.lost_at)
             GROUP BY 1, 3)
        SELECT coalesce(n.day, l.day), coalesce(n.by_store, l.by_store), coalesce(n.store_id, l.store_id),
               coalesce(n.k, 0), coalesce(l.k, 0)
          FROM n FULL JOIN l ON l.day = n.day AND l.by_store = n.by_store
                            AND coalesce(l.store_id, -1) = coalesce(n.store_id, -1)$q$,
            retailiq_internal.source_sql('orders'), rng);
    ELSIF kind = 'day_funnel' THEN
        -- report_day_funnel_live: conversion_funnel's totals by day. A unit is a customer's
        -- view of a product on a day (grouped on the workers when the events are distributed
        -- by customer); it is purchased when the customer ordered the product that day: the
        -- (customer, product, day) triples bought are computed from the range's orders and
        -- their lines on the workers and sent to them to be joined with the views. (The
        -- funnel's channel, category and segment do not change its daily totals.)
        RETURN format($q$
        WITH ro AS MATERIALIZED (
            SELECT o.order_id, o.customer_id::bigint AS customer_id, (o.ordered_at AT TIME ZONE 'UTC')::date AS day
              FROM %2$s o
             WHERE %4$s),
        bought AS MATERIALIZED (
            SELECT DISTINCT ro.customer_id, l.product_id::bigint AS product_id, ro.day
              FROM ro JOIN %3$s l ON l.order_id = ro.order_id)
        SELECT ev.day, count(*)::bigint, (count(*) FILTER (WHERE ev.carted))::bigint,
               count(b.customer_id)::bigint
          FROM (SELECT e.customer_id::bigint AS customer_id, e.product_id::bigint AS product_id,
                       (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                       bool_or(e.event_type = 'view') AS viewed, bool_or(e.event_type = 'cart_add') AS carted
                  FROM %1$s e
                 WHERE e.occurred_at >= ($1::timestamp AT TIME ZONE 'UTC')
                   AND e.occurred_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')
                   AND e.event_type IN ('view', 'cart_add') AND e.product_id IS NOT NULL
                 GROUP BY 1, 2, 3) ev
          LEFT JOIN bought b ON b.customer_id = ev.customer_id AND b.product_id = ev.product_id AND b.day = ev.day
         WHERE ev.viewed
         GROUP BY ev.day$q$,
            retailiq_internal.source_sql('events'), retailiq_internal.source_sql('orders'),
            retailiq_internal.source_sql('order_lines'), rng);
    ELSIF kind = 'customers' THEN
        -- report_customers_live: distinct (period, customer) pairs grouped on the workers
        -- (whole when the orders are distributed by customer), counted per period
        RETURN format($q$
        SELECT c.ps, false, NULL::bigint, count(c.customer_id), count(*)
          FROM (SELECT date_trunc($3, (o.ordered_at AT TIME ZONE 'UTC')::date)::date AS ps, o.customer_id
                  FROM %1$s o WHERE %2$s GROUP BY 1, 2) c
         GROUP BY c.ps
        UNION ALL
        SELECT c.ps, true, c.store_id, count(c.customer_id), count(*)
          FROM (SELECT date_trunc($3, (o.ordered_at AT TIME ZONE 'UTC')::date)::date AS ps,
                       o.store_id::bigint AS store_id, o.customer_id
                  FROM %1$s o WHERE %2$s GROUP BY 1, 2, 3) c
         GROUP BY c.ps, c.store_id$q$,
            retailiq_internal.source_sql('orders'), rng);
    END IF;
    RAISE EXCEPTION 'unknown report query "%"', kind USING ERRCODE = '22023',
          HINT = 'One of day_sales, day_units, day_customers, day_funnel, customers.';
END
$$;
