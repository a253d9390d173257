-- reports: the per-day materialisation behind report_sales, report_behaviour and report_html.
-- retailiq.refresh_report_days (the scheduler's daily report job calls it) stores, per UTC day,
-- the additive figures of the reports (orders, units, sales by store; new and lost customers;
-- funnel counts; dwell by zone and hour) and the distinct-customer counts of each day and of
-- each complete week and month. A report adds up the stored days of its range and computes
-- only the days (and partial weeks or months) that are not stored, so its numbers are those
-- of the definitions in reports.sql computed from scratch, as long as the stored days are
-- current: a day is used only when it was computed from the relations registered now, and
-- the refresh recomputes the last days (refresh_report_days' lookback) to take in late rows.

-- Which days are stored, and from which registered relations ('orders': sales and customer
-- figures; 'events': funnel and dwell).
CREATE TABLE retailiq.report_day (
    part         text NOT NULL CHECK (part IN ('orders', 'events')),
    day          date NOT NULL,
    sources      text NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (part, day));
COMMENT ON TABLE retailiq.report_day IS
    'days stored by retailiq.refresh_report_days, with the registered relations they were computed from';

-- Orders, customers, units and sales of a day, for all stores (by_store false) and by store.
-- active counts a missing customer id as one customer (report_behaviour's active_customers).
CREATE TABLE retailiq.report_day_sales (
    day date NOT NULL, by_store bool NOT NULL, store_id bigint,
    orders bigint NOT NULL, customers bigint NOT NULL, active bigint NOT NULL,
    units numeric, sales numeric);
CREATE INDEX ON retailiq.report_day_sales (day);

-- Units of each product sold at each store on the day (the actuals report_sales and
-- report_forecast_accuracy compare with the day's forecasts).
CREATE TABLE retailiq.report_day_units (
    day date NOT NULL, store_id bigint, product_id bigint, units numeric);
CREATE INDEX ON retailiq.report_day_units (day);

-- Customers whose first order falls on the day, and orders 90 days before the day not
-- followed by another within 90 days (all stores, and by store: orders at that store).
CREATE TABLE retailiq.report_day_customers (
    day date NOT NULL, by_store bool NOT NULL, store_id bigint,
    new_customers bigint NOT NULL, lost_customers bigint NOT NULL);
CREATE INDEX ON retailiq.report_day_customers (day);

-- The online funnel's totals of a day (conversion_funnel summed over its groups).
CREATE TABLE retailiq.report_day_funnel (
    day date PRIMARY KEY, viewed bigint NOT NULL, carted bigint NOT NULL, purchased bigint NOT NULL);

-- Dwell events of a day by store, zone and hour (UTC).
CREATE TABLE retailiq.report_day_dwell (
    day date NOT NULL, store_id bigint, zone_id bigint NOT NULL, hour int NOT NULL,
    visits bigint NOT NULL, total_dwell_s bigint);
CREATE INDEX ON retailiq.report_day_dwell (day);

-- Dwell of complete weeks and months (the days of report_day_dwell added up), so that a
-- report over months reads a few thousand rows instead of every day's.
CREATE TABLE retailiq.report_period_dwell (
    grain text NOT NULL CHECK (grain IN ('week', 'month')), period_start date NOT NULL,
    store_id bigint, zone_id bigint NOT NULL, hour int NOT NULL, visits bigint NOT NULL,
    total_dwell_s bigint, sources text NOT NULL);
CREATE INDEX ON retailiq.report_period_dwell (grain, period_start);
-- the periods stored in report_period_dwell (a period may have no dwell rows)
CREATE TABLE retailiq.report_period (
    part text NOT NULL CHECK (part IN ('dwell')), grain text NOT NULL, period_start date NOT NULL,
    sources text NOT NULL, PRIMARY KEY (part, grain, period_start));

-- Distinct customers of complete weeks and months (days: report_day_sales). Each stored
-- period has its all-stores row (0 customers when it had no orders).
CREATE TABLE retailiq.report_period_customers (
    grain text NOT NULL CHECK (grain IN ('week', 'month')), period_start date NOT NULL,
    by_store bool NOT NULL, store_id bigint, customers bigint NOT NULL, active bigint NOT NULL,
    sources text NOT NULL, refreshed_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON retailiq.report_period_customers (grain, period_start);

-- The registered relations a part reads, as text: their oids and column maps (a table dropped
-- and created again, or another source registered, makes the stored days unused). The orders
-- part's starts with 'units ': days stored before report_day_units existed (without their
-- units) do not match, so they are computed from the tables until refresh_report_days stores
-- them again.
CREATE FUNCTION retailiq_internal.report_sources(part text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE $1 WHEN 'orders' THEN 'units ' ELSE '' END
           || string_agg(format('%s:%s', (retailiq_internal.source_row(r)).relation::oid,
                             (retailiq_internal.source_row(r)).columns), ' ' ORDER BY k)
      FROM unnest(CASE $1 WHEN 'orders' THEN ARRAY['orders', 'order_lines']
                          ELSE ARRAY['events', 'orders', 'order_lines', 'products'] END)
           WITH ORDINALITY AS u(r, k)
$$;

-- Whether the caller may read the stored days. They are sums over every store's rows, so
-- they bypass the row security of the tables they were computed from: a role reads them
-- only when granted SELECT on all nine tables (superusers and the extension's owner can; a DBA
-- grants it to roles that may see every store); every other role's reports are computed from
-- the tables it reads, as before, row security applied.
CREATE FUNCTION retailiq_internal.report_days_readable() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT bool_and(has_table_privilege(t, 'SELECT'))
      FROM unnest(ARRAY['retailiq.report_day', 'retailiq.report_day_sales', 'retailiq.report_day_customers',
                        'retailiq.report_day_funnel', 'retailiq.report_day_dwell',
                        'retailiq.report_period_customers', 'retailiq.report_period_dwell',
                        'retailiq.report_period', 'retailiq.report_day_units']) t
$$;

-- The runs of days of [from_date, to_date] that are not stored for a part (from the relations
-- registered now).
CREATE FUNCTION retailiq_internal.report_gaps(part text, from_date date, to_date date)
RETURNS TABLE (gap_from date, gap_to date)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT retailiq_internal.report_days_readable() THEN
        RETURN QUERY SELECT from_date, to_date;
        RETURN;
    END IF;
    RETURN QUERY
    WITH sig AS MATERIALIZED (SELECT retailiq_internal.report_sources(report_gaps.part) AS s),
    missing AS (
        SELECT d::date AS day
          FROM generate_series(from_date::timestamp, to_date::timestamp, interval '1 day') d
         WHERE NOT EXISTS (SELECT 1 FROM retailiq.report_day r, sig
                            WHERE r.part = report_gaps.part AND r.day = d::date AND r.sources = sig.s))
    SELECT min(m.day), max(m.day)
      FROM (SELECT missing.day, missing.day - (row_number() OVER (ORDER BY missing.day))::int AS run FROM missing) m
     GROUP BY m.run ORDER BY 1;
END
$$;

-- The report definitions per day, computed from the registered relations (the live side of
-- every *_rows function below, and what refresh_report_days stores).
CREATE FUNCTION retailiq_internal.report_day_sales_live(from_date date, to_date date)
RETURNS TABLE (day date, by_store bool, store_id bigint, orders bigint, customers bigint,
               active bigint, units numeric, sales numeric)
LANGUAGE plpgsql STABLE ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dq text := retailiq_internal.report_distributed_sql('day_sales');
BEGIN
    -- distributed relations: the same definition in queries Citus can plan (report_distributed.sql)
    IF dq IS NOT NULL THEN
        RETURN QUERY EXECUTE dq USING from_date, to_date;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        -- two queries over the orders of the range (not one CTE), so that the planner sees
        -- the orders table and joins the order lines by index for a few days, by hash for a year
        WITH s AS (
            SELECT o.day, GROUPING(o.store_id) = 0 AS by_store, o.store_id, count(*) AS orders,
                   count(DISTINCT o.customer_id) AS customers,
                   count(DISTINCT o.customer_id) + max(CASE WHEN o.customer_id IS NULL THEN 1 ELSE 0 END) AS active,
                   sum(o.total_amount)::numeric AS sales
              FROM (SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id,
                           o.customer_id, o.total_amount
                      FROM %1$s o
                     WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
                       AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')) o
             GROUP BY GROUPING SETS ((o.day), (o.day, o.store_id))),
        u AS (
            SELECT x.day, GROUPING(x.store_id) = 0 AS by_store, x.store_id, sum(x.quantity)::numeric AS units
              FROM (SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id, l.quantity
                      FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
                     WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
                       AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')) x
             GROUP BY GROUPING SETS ((x.day), (x.day, x.store_id)))
        SELECT s.day, s.by_store, s.store_id, s.orders, s.customers, s.active, u.units, s.sales
          FROM s LEFT JOIN u ON u.day = s.day AND u.by_store = s.by_store
                            AND coalesce(u.store_id, -1) = coalesce(s.store_id, -1)$q$,
        retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_date, to_date;
END
$$;

-- Units sold by day, store and product (report_day_units).
CREATE FUNCTION retailiq_internal.report_day_units_live(from_date date, to_date date)
RETURNS TABLE (day date, store_id bigint, product_id bigint, units numeric)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dq text := retailiq_internal.report_distributed_sql('day_units');
BEGIN
    -- distributed relations: the same definition in queries Citus can plan (report_distributed.sql)
    IF dq IS NOT NULL THEN
        RETURN QUERY EXECUTE dq USING from_date, to_date;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT (o.ordered_at AT TIME ZONE 'UTC')::date, o.store_id::bigint, l.product_id::bigint,
               sum(l.quantity)::numeric
          FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
         WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
           AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')
         GROUP BY 1, 2, 3
         -- stored in this order, a day's rows are together (a report reads a few days)
         ORDER BY 1, 2, 3$q$,
        retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_date, to_date;
END
$$;

-- New customers (first order ever, at any store or at the store) and lost customers (an
-- order whose next one, at any store or at the store, is more than 90 days later or has not
-- come; counted on the day 90 days after the order, UTC).
-- Two plans of the same definition: over many days (a refresh), one pass over the orders with
-- window functions and hash anti-joins; over a few days (a report's unstored last day) when the
-- orders have an index led by the customer column, a probe of that index per order of the
-- range, which reads a few thousand orders instead of 90 days of them. (Orders of a customer
-- at the same instant: the window's next order of all but the last of them is the same
-- instant, never lost; the probe counts each (customer, instant) once, the same count.)
CREATE FUNCTION retailiq_internal.report_day_customers_live(from_date date, to_date date)
RETURNS TABLE (day date, by_store bool, store_id bigint, new_customers bigint, lost_customers bigint)
LANGUAGE plpgsql STABLE ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dq text := retailiq_internal.report_distributed_sql('day_customers');
    rel regclass := retailiq_internal.source_relation('orders');
    probe boolean;
BEGIN
    -- distributed relations: the same definition in queries Citus can plan (report_distributed.sql)
    IF dq IS NOT NULL THEN
        RETURN QUERY EXECUTE dq USING from_date, to_date;
        RETURN;
    END IF;
    probe := to_date - from_date < 7 AND EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = rel AND a.attname = retailiq_internal.source_column('orders', 'customer_id'));
    IF probe THEN
        RETURN QUERY EXECUTE format($q$
        WITH f AS MATERIALIZED (
            SELECT o.customer_id, o.store_id::bigint AS store_id, GROUPING(o.store_id) = 0 AS by_store,
                   min(o.ordered_at) AS first_at
              FROM %1$s o
             WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')
             GROUP BY GROUPING SETS ((o.customer_id), (o.customer_id, o.store_id))),
        n AS (
            SELECT (f.first_at AT TIME ZONE 'UTC')::date AS day, f.by_store, f.store_id, count(*) AS k
              FROM f
              LEFT JOIN LATERAL (
                   SELECT 1 AS hit FROM %1$s p
                    WHERE p.customer_id = f.customer_id AND (NOT f.by_store OR p.store_id = f.store_id)
                      AND p.ordered_at < ($1::timestamp AT TIME ZONE 'UTC') LIMIT 1) e ON true
             WHERE e.hit IS NULL
             GROUP BY 1, 2, 3),
        -- the orders whose 90 days end in the range, once per (customer, store, instant)
        w AS MATERIALIZED (
            SELECT o.customer_id, o.store_id::bigint AS store_id, o.ordered_at,
                   (o.ordered_at AT TIME ZONE 'UTC') + interval '90 days' AS lost_at
              FROM %1$s o
             WHERE o.ordered_at >= (($1 - 90)::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1 - 90)::timestamp AT TIME ZONE 'UTC')
             GROUP BY 1, 2, 3),
        z AS MATERIALIZED (
            SELECT o.store_id::bigint AS store_id, (o.ordered_at AT TIME ZONE 'UTC') + interval '90 days' AS lost_at,
                   lead(o.ordered_at AT TIME ZONE 'UTC') OVER (ORDER BY o.ordered_at) AS next_all,
                   lead(o.ordered_at AT TIME ZONE 'UTC') OVER (PARTITION BY o.store_id ORDER BY o.ordered_at) AS next_store
              FROM %1$s o
             WHERE o.customer_id IS NULL
               AND o.ordered_at >= (($1 - 90)::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')),
        l AS (
            SELECT x.lost_at::date AS day, false AS by_store, NULL::bigint AS store_id, count(*) AS k
              FROM (SELECT DISTINCT w.customer_id, w.ordered_at, w.lost_at FROM w
                     WHERE w.customer_id IS NOT NULL AND NOT EXISTS (
                           SELECT 1 FROM %1$s p WHERE p.customer_id = w.customer_id
                              AND p.ordered_at > w.ordered_at
                              AND p.ordered_at <= (w.lost_at AT TIME ZONE 'UTC'))) x
             GROUP BY 1
            UNION ALL
            SELECT w.lost_at::date, true, w.store_id, count(*)
              FROM w
             WHERE w.customer_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM %1$s p WHERE p.customer_id = w.customer_id AND p.store_id = w.store_id
                      AND p.ordered_at > w.ordered_at
                      AND p.ordered_at <= (w.lost_at AT TIME ZONE 'UTC'))
             GROUP BY 1, 3
            UNION ALL
            -- orders without a customer are one customer (the window's partition), as defined
            SELECT z.lost_at::date, false, NULL::bigint, count(*)
              FROM z WHERE z.lost_at >= $1::timestamp AND z.lost_at < ($2 + 1)::timestamp
               AND (z.next_all IS NULL OR z.next_all > z.lost_at)
             GROUP BY 1
            UNION ALL
            SELECT z.lost_at::date, true, z.store_id, count(*)
              FROM z WHERE z.lost_at >= $1::timestamp AND z.lost_at < ($2 + 1)::timestamp
               AND (z.next_store IS NULL OR z.next_store > z.lost_at)
             GROUP BY 1, 3)
        SELECT coalesce(n.day, l.day), coalesce(n.by_store, l.by_store), coalesce(n.store_id, l.store_id),
               coalesce(n.k, 0), coalesce(l.k, 0)
          FROM n FULL JOIN (SELECT l.day, l.by_store, l.store_id, sum(l.k)::bigint AS k FROM l GROUP BY 1, 2, 3) l
            ON l.day = n.day AND l.by_store = n.by_store
           AND coalesce(l.store_id, -1) = coalesce(n.store_id, -1)$q$,
        retailiq_internal.source_sql('orders'))
        USING from_date, to_date;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH f AS (
            SELECT o.customer_id, o.store_id::bigint AS store_id, GROUPING(o.store_id) = 0 AS by_store,
                   min(o.ordered_at) AS first_at
              FROM %1$s o
             WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')
             GROUP BY GROUPING SETS ((o.customer_id), (o.customer_id, o.store_id))),
        n AS (
            SELECT (f.first_at AT TIME ZONE 'UTC')::date AS day, f.by_store, f.store_id, count(*) AS k
              FROM f
             WHERE NOT f.by_store AND NOT EXISTS (
                       SELECT 1 FROM %1$s p WHERE p.customer_id = f.customer_id
                          AND p.ordered_at < ($1::timestamp AT TIME ZONE 'UTC'))
             GROUP BY 1, 2, 3
            UNION ALL
            SELECT (f.first_at AT TIME ZONE 'UTC')::date, f.by_store, f.store_id, count(*)
              FROM f
             WHERE f.by_store AND NOT EXISTS (
                       SELECT 1 FROM %1$s p WHERE p.customer_id = f.customer_id AND p.store_id = f.store_id
                          AND p.ordered_at < ($1::timestamp AT TIME ZONE 'UTC'))
             GROUP BY 1, 2, 3),
        w AS MATERIALIZED (
            SELECT o.store_id::bigint AS store_id, (o.ordered_at AT TIME ZONE 'UTC') + interval '90 days' AS lost_at,
                   lead(o.ordered_at AT TIME ZONE 'UTC') OVER (PARTITION BY o.customer_id ORDER BY o.ordered_at) AS next_all,
                   lead(o.ordered_at AT TIME ZONE 'UTC') OVER (PARTITION BY o.customer_id, o.store_id ORDER BY o.ordered_at) AS next_store
              FROM %1$s o
             WHERE o.ordered_at >= (($1 - 90)::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')),
        l AS (
            SELECT w.lost_at::date AS day, false AS by_store, NULL::bigint AS store_id, count(*) AS k
              FROM w WHERE w.lost_at >= $1::timestamp AND w.lost_at < ($2 + 1)::timestamp
               AND (w.next_all IS NULL OR w.next_all > w.lost_at)
             GROUP BY 1
            UNION ALL
            SELECT w.lost_at::date, true, w.store_id, count(*)
              FROM w WHERE w.lost_at >= $1::timestamp AND w.lost_at < ($2 + 1)::timestamp
               AND (w.next_store IS NULL OR w.next_store > w.lost_at)
             GROUP BY 1, 3)
        SELECT coalesce(n.day, l.day), coalesce(n.by_store, l.by_store), coalesce(n.store_id, l.store_id),
               coalesce(n.k, 0), coalesce(l.k, 0)
          FROM n FULL JOIN l ON l.day = n.day AND l.by_store = n.by_store
                            AND coalesce(l.store_id, -1) = coalesce(n.store_id, -1)$q$,
        retailiq_internal.source_sql('orders'))
    USING from_date, to_date;
END
$$;

-- conversion_funnel's totals by day (a unit is a customer viewing a product on a day).
CREATE FUNCTION retailiq_internal.report_day_funnel_live(from_date date, to_date date)
RETURNS TABLE (day date, viewed bigint, carted bigint, purchased bigint)
LANGUAGE plpgsql STABLE ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dq text := retailiq_internal.report_distributed_sql('day_funnel');
BEGIN
    -- distributed relations: the same totals in a query Citus can plan (report_distributed.sql)
    IF dq IS NOT NULL THEN
        RETURN QUERY EXECUTE dq USING from_date, to_date;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT f.day, sum(f.viewed)::bigint, sum(f.carted)::bigint, sum(f.purchased)::bigint
      FROM retailiq.conversion_funnel(from_date::timestamp AT TIME ZONE 'UTC', (to_date + 1)::timestamp AT TIME ZONE 'UTC') f
     GROUP BY f.day;
END
$$;

CREATE FUNCTION retailiq_internal.report_day_dwell_live(from_date date, to_date date)
RETURNS TABLE (day date, store_id bigint, zone_id bigint, hour int, visits bigint, total_dwell_s bigint)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, e.store_id::bigint, e.zone_id::bigint,
               extract(hour FROM e.occurred_at AT TIME ZONE 'UTC')::int, count(*), sum(e.duration_s)::bigint
          FROM %1$s e
         WHERE e.occurred_at >= ($1::timestamp AT TIME ZONE 'UTC')
           AND e.occurred_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')
           AND e.event_type = 'dwell' AND e.zone_id IS NOT NULL
         GROUP BY 1, 2, 3, 4$q$, retailiq_internal.source_sql('events'))
    USING from_date, to_date;
END
$$;

-- Distinct customers by period over [from_date, to_date] (periods clipped to it), all stores
-- and by store.
CREATE FUNCTION retailiq_internal.report_customers_live(grain text, from_date date, to_date date)
RETURNS TABLE (period_start date, by_store bool, store_id bigint, customers bigint, active bigint)
LANGUAGE plpgsql STABLE ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dq text := retailiq_internal.report_distributed_sql('customers');
BEGIN
    -- distributed relations: the same definition in queries Citus can plan (report_distributed.sql)
    IF dq IS NOT NULL THEN
        RETURN QUERY EXECUTE dq USING from_date, to_date, grain;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH o AS MATERIALIZED (
            SELECT date_trunc($3, (o.ordered_at AT TIME ZONE 'UTC')::date)::date AS ps,
                   o.store_id::bigint AS store_id, o.customer_id
              FROM %1$s o
             WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC'))
        -- distinct (period, customer) pairs by hashing, then counted; a missing customer id
        -- is one more active customer
        SELECT c.ps, false, NULL::bigint, count(c.customer_id), count(*)
          FROM (SELECT o.ps, o.customer_id FROM o GROUP BY 1, 2) c GROUP BY c.ps
        UNION ALL
        SELECT c.ps, true, c.store_id, count(c.customer_id), count(*)
          FROM (SELECT o.ps, o.store_id, o.customer_id FROM o GROUP BY 1, 2, 3) c GROUP BY c.ps, c.store_id$q$,
        retailiq_internal.source_sql('orders'))
    USING from_date, to_date, grain;
END
$$;

-- The rows of one of the per-day tables (kind: a NULL of its row type, e.g.
-- NULL::retailiq.report_day_sales) for [from_date, to_date]: the stored days where current,
-- its _live function (report_day_sales_live, ...) for the others.
CREATE FUNCTION retailiq_internal.report_day_rows(kind anyelement, part text, from_date date, to_date date)
RETURNS SETOF anyelement
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl text := pg_typeof(kind)::text;
    g record;
BEGIN
    IF retailiq_internal.report_days_readable() THEN
        -- (the sources' signature computed once, not once per stored day)
        RETURN QUERY EXECUTE format(
            'SELECT d.* FROM %s d JOIN retailiq.report_day r ON r.part = $1 AND r.day = d.day
              WHERE d.day BETWEEN $2 AND $3 AND r.sources = $4', tbl)
        USING part, from_date, to_date, retailiq_internal.report_sources(part);
    END IF;
    FOR g IN SELECT * FROM retailiq_internal.report_gaps(part, from_date, to_date) LOOP
        RETURN QUERY EXECUTE format('SELECT * FROM %s($1, $2)',
                                    replace(tbl, 'retailiq.', 'retailiq_internal.') || '_live')
        USING g.gap_from, g.gap_to;
    END LOOP;
END
$$;

-- Dwell by period (grain 'day', 'week', 'month'; NULL: the whole range, as from_date), store,
-- zone and hour over the days of [from_date, to_date], with the zone's name: stored weeks or
-- months inside the range where there are (for months, also the stored weeks of the partial
-- months at the ends), stored days, and the other days computed.
CREATE FUNCTION retailiq_internal.report_dwell_rows(grain text, from_date date, to_date date, store int)
RETURNS TABLE (period_start date, store_id bigint, zone_id bigint, zone_name text, hour int,
               visits bigint, total_dwell_s bigint)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    pu text := coalesce(grain, 'month');    -- the stored periods that may serve
    cov date[] := '{}';
    wk date[] := '{}';                      -- stored weeks serving the days outside cov
    days date[];
    parts text := '';
    sig text := retailiq_internal.report_sources('events');
BEGIN
    IF retailiq_internal.report_days_readable() THEN
        IF pu <> 'day' THEN
            SELECT coalesce(array_agg(p.period_start), '{}') INTO cov
              FROM retailiq.report_period p
             WHERE p.part = 'dwell' AND p.grain = pu AND p.period_start >= from_date
               AND (p.period_start + ('1 ' || pu)::interval)::date - 1 <= to_date
               AND p.sources = sig;
        END IF;
        -- stored weeks inside the range for the days of months not stored (partial months at
        -- the ends of the range): a week lying in one period of the report (any week for the
        -- whole range) and in no stored month
        IF pu = 'month' THEN
            SELECT coalesce(array_agg(p.period_start), '{}') INTO wk
              FROM retailiq.report_period p
             WHERE p.part = 'dwell' AND p.grain = 'week' AND p.period_start >= from_date
               AND p.period_start + 6 <= to_date AND p.sources = sig
               AND date_trunc('month', p.period_start)::date <> ALL (cov)
               AND date_trunc('month', p.period_start + 6)::date <> ALL (cov)
               AND (report_dwell_rows.grain IS NULL
                    OR date_trunc('month', p.period_start) = date_trunc('month', p.period_start + 6));
        END IF;
        -- the days outside the stored periods (an index scan of the stored days)
        SELECT array_agg(d::date) INTO days
          FROM generate_series(from_date::timestamp, to_date::timestamp, interval '1 day') d
         WHERE date_trunc(pu, d)::date <> ALL (cov) AND date_trunc('week', d)::date <> ALL (wk);
        parts := 'SELECT d.period_start AS day, d.store_id, d.zone_id, d.hour, d.visits, d.total_dwell_s
                    FROM retailiq.report_period_dwell d
                   WHERE d.grain = $5 AND d.period_start = ANY ($6) AND ($3 IS NULL OR d.store_id = $3)
                  UNION ALL
                  SELECT d.period_start, d.store_id, d.zone_id, d.hour, d.visits, d.total_dwell_s
                    FROM retailiq.report_period_dwell d
                   WHERE d.grain = ''week'' AND d.period_start = ANY ($9) AND ($3 IS NULL OR d.store_id = $3)
                  UNION ALL
                  SELECT d.* FROM retailiq.report_day_dwell d JOIN retailiq.report_day r
                     ON r.part = ''events'' AND r.day = d.day
                  WHERE d.day = ANY ($7) AND r.sources = $8
                    AND ($3 IS NULL OR d.store_id = $3)';
    END IF;
    FOR g IN SELECT * FROM retailiq_internal.report_gaps('events', from_date, to_date) LOOP
        parts := parts || CASE WHEN parts = '' THEN '' ELSE ' UNION ALL ' END
                 || format('SELECT l.* FROM retailiq_internal.report_day_dwell_live(%L, %L) l
                             WHERE ($3 IS NULL OR l.store_id = $3) AND date_trunc($5, l.day)::date <> ALL ($6)
                               AND date_trunc(''week'', l.day)::date <> ALL ($9)',
                           g.gap_from, g.gap_to);
    END LOOP;
    IF parts = '' THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT d.ps, d.store_id, d.zone_id, sz.zone_name::text, d.hour, d.visits, d.total
           FROM (SELECT CASE WHEN $4 IS NULL THEN $1 ELSE date_trunc($4, d.day)::date END AS ps,
                        d.store_id, d.zone_id, d.hour, sum(d.visits)::bigint AS visits,
                        sum(d.total_dwell_s)::bigint AS total
                   FROM (%s) d GROUP BY 1, 2, 3, 4) d
           LEFT JOIN %s sz ON sz.store_id = d.store_id AND sz.zone_id = d.zone_id',
        parts, retailiq_internal.source_sql('store_zones'))
    USING from_date, to_date, store, grain, pu, cov, days, sig, wk;
END
$$;

-- Distinct customers by period: days from report_day_sales; complete weeks and months
-- inside the range from report_period_customers where stored; the rest (partial periods at
-- the ends of the range, periods not stored) computed.
CREATE FUNCTION retailiq_internal.report_customers_rows(grain text, from_date date, to_date date)
RETURNS TABLE (period_start date, by_store bool, store_id bigint, customers bigint, active bigint)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sig text := retailiq_internal.report_sources('orders');
    g text := grain;
    stored date[];
    run record;
BEGIN
    IF g = 'day' THEN
        RETURN QUERY SELECT d.day, d.by_store, d.store_id, d.customers, d.active
                       FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_sales, 'orders', from_date, to_date) d;
        RETURN;
    END IF;
    IF NOT retailiq_internal.report_days_readable() THEN
        RETURN QUERY SELECT * FROM retailiq_internal.report_customers_live(g, from_date, to_date);
        RETURN;
    END IF;
    SELECT coalesce(array_agg(c.period_start), '{}') INTO stored
      FROM retailiq.report_period_customers c
     WHERE c.grain = g AND NOT c.by_store AND c.sources = sig AND c.period_start >= from_date
       AND (c.period_start + ('1 ' || g)::interval)::date - 1 <= to_date;
    RETURN QUERY
    SELECT c.period_start, c.by_store, c.store_id, c.customers, c.active
      FROM retailiq.report_period_customers c
     WHERE c.grain = g AND c.sources = sig AND c.period_start = ANY (stored);
    -- runs of periods not stored, clipped to the range
    FOR run IN
        SELECT greatest(min(r.ps), from_date) AS lo, least(max(r.pe), to_date) AS hi
          FROM (SELECT p.ps, p.pe, p.ps = ANY (stored) AS kept,
                       sum((p.ps = ANY (stored))::int) OVER (ORDER BY p.ps) AS grp
                  FROM (SELECT s::date AS ps, (s + ('1 ' || g)::interval)::date - 1 AS pe
                          FROM generate_series(date_trunc(g, from_date::timestamp), to_date::timestamp,
                                               ('1 ' || g)::interval) s) p) r
         WHERE NOT r.kept GROUP BY r.grp
    LOOP
        RETURN QUERY SELECT * FROM retailiq_internal.report_customers_live(g, run.lo, run.hi);
    END LOOP;
END
$$;

-- Stores the days [from_date, to_date] (UTC) and the complete weeks and months that end in
-- them. Default: from the day after the last stored day less lookback_days (so late rows of
-- the last days are taken in), or when nothing is stored from the first order but at most
-- 400 days back (older days are computed when a report asks for them), to yesterday.
-- Returns the number of days stored.
CREATE FUNCTION retailiq.refresh_report_days(from_date date DEFAULT NULL, to_date date DEFAULT NULL,
                                             lookback_days int DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sig_o text := retailiq_internal.report_sources('orders');
    sig_e text;
    lo date := from_date;
    hi date := coalesce(to_date, (now() AT TIME ZONE 'UTC')::date - 1);
    g text;
    ps date;
    pe date;
    last_day date;
BEGIN
    IF lookback_days IS NULL OR lookback_days < 0 OR lookback_days > 366 THEN
        RAISE EXCEPTION 'lookback_days must be between 0 and 366' USING ERRCODE = '22023',
              DETAIL = format('lookback_days is %s.', coalesce(lookback_days::text, 'NULL')),
              HINT = 'Days older than the last stored day less lookback_days are kept as stored.';
    END IF;
    IF EXISTS (SELECT 1 FROM retailiq.source s WHERE s.role = 'events' AND s.name = '') THEN
        sig_e := retailiq_internal.report_sources('events');
    END IF;
    IF lo IS NULL THEN
        SELECT max(r.day) + 1 - lookback_days INTO lo
          FROM retailiq.report_day r WHERE r.part = 'orders' AND r.sources = sig_o;
    END IF;
    IF lo IS NULL THEN
        EXECUTE format('SELECT (min(ordered_at) AT TIME ZONE ''UTC'')::date FROM %s',
                       retailiq_internal.source_sql('orders')) INTO lo;
        IF lo IS NULL THEN
            RETURN 0;
        END IF;
        lo := greatest(lo, hi - 399);      -- a first run stores about the last year
    END IF;
    IF lo > hi THEN
        RETURN 0;
    END IF;
    PERFORM retailiq_internal.report_range(lo, hi);
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_report_days'));

    DELETE FROM retailiq.report_day_sales d WHERE d.day BETWEEN lo AND hi;
    DELETE FROM retailiq.report_day_customers d WHERE d.day BETWEEN lo AND hi;
    DELETE FROM retailiq.report_day_units d WHERE d.day BETWEEN lo AND hi;
    INSERT INTO retailiq.report_day_sales SELECT * FROM retailiq_internal.report_day_sales_live(lo, hi);
    INSERT INTO retailiq.report_day_units SELECT * FROM retailiq_internal.report_day_units_live(lo, hi);
    INSERT INTO retailiq.report_day_customers SELECT * FROM retailiq_internal.report_day_customers_live(lo, hi);
    DELETE FROM retailiq.report_day r WHERE r.part = 'orders' AND r.day BETWEEN lo AND hi;
    INSERT INTO retailiq.report_day (part, day, sources)
    SELECT 'orders', d::date, sig_o FROM generate_series(lo::timestamp, hi::timestamp, interval '1 day') d;

    IF sig_e IS NOT NULL THEN
        DELETE FROM retailiq.report_day_funnel d WHERE d.day BETWEEN lo AND hi;
        DELETE FROM retailiq.report_day_dwell d WHERE d.day BETWEEN lo AND hi;
        INSERT INTO retailiq.report_day_funnel SELECT * FROM retailiq_internal.report_day_funnel_live(lo, hi);
        INSERT INTO retailiq.report_day_dwell SELECT * FROM retailiq_internal.report_day_dwell_live(lo, hi);
        DELETE FROM retailiq.report_day r WHERE r.part = 'events' AND r.day BETWEEN lo AND hi;
        INSERT INTO retailiq.report_day (part, day, sources)
        SELECT 'events', d::date, sig_e FROM generate_series(lo::timestamp, hi::timestamp, interval '1 day') d;
    END IF;

    -- complete weeks and months with a day in [lo, hi] (complete: ending by the last stored day)
    SELECT greatest(hi, max(r.day)) INTO last_day FROM retailiq.report_day r WHERE r.part = 'orders' AND r.sources = sig_o;
    FOREACH g IN ARRAY ARRAY['week', 'month'] LOOP
        FOR ps IN SELECT p::date FROM generate_series(date_trunc(g, lo::timestamp), hi::timestamp, ('1 ' || g)::interval) p
                   WHERE (p + ('1 ' || g)::interval)::date - 1 <= last_day LOOP
            pe := (ps + ('1 ' || g)::interval)::date - 1;
            DELETE FROM retailiq.report_period_dwell d WHERE d.grain = g AND d.period_start = ps;
            DELETE FROM retailiq.report_period p WHERE p.part = 'dwell' AND p.grain = g AND p.period_start = ps;
            -- from the stored days, when every day of the period is stored from these sources
            IF sig_e IS NOT NULL AND (SELECT count(*) FROM retailiq.report_day r
                                       WHERE r.part = 'events' AND r.day BETWEEN ps AND pe
                                         AND r.sources = sig_e) = pe - ps + 1 THEN
                INSERT INTO retailiq.report_period_dwell
                SELECT g, ps, d.store_id, d.zone_id, d.hour, sum(d.visits), sum(d.total_dwell_s), sig_e
                  FROM retailiq.report_day_dwell d WHERE d.day BETWEEN ps AND pe GROUP BY 3, 4, 5;
                INSERT INTO retailiq.report_period VALUES ('dwell', g, ps, sig_e);
            END IF;
            DELETE FROM retailiq.report_period_customers c WHERE c.grain = g AND c.period_start = ps;
            INSERT INTO retailiq.report_period_customers (grain, period_start, by_store, store_id, customers, active, sources)
            SELECT g, ps, l.by_store, l.store_id, l.customers, l.active, sig_o
              FROM retailiq_internal.report_customers_live(g, ps, pe) l;
            IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM retailiq.report_period_customers c
                                         WHERE c.grain = g AND c.period_start = ps AND NOT c.by_store) THEN
                INSERT INTO retailiq.report_period_customers (grain, period_start, by_store, store_id, customers, active, sources)
                VALUES (g, ps, false, NULL, 0, 0, sig_o);
            END IF;
        END LOOP;
    END LOOP;
    RETURN hi - lo + 1;
END
$$;
