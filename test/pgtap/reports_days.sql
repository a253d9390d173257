-- reports: the stored days (retailiq.refresh_report_days) give the numbers of the definitions
-- they replace. The definitions of report_sales, report_forecast_accuracy, report_behaviour and
-- zone_dwell before the stored days (issue 20) are kept below in schema tap_ref as the
-- reference; both are run on
-- the same sample data with nothing stored, some days stored (ranges that start and end
-- inside stored weeks and months, and unstored days between), everything stored, after a late
-- order, and for a role that may not read the stored days.
BEGIN;
SELECT plan(29);
SET LOCAL client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';
DO $$ BEGIN PERFORM retailiq.generate_sample_data('tap_rd', 300, 4, 30, 150, 7); END $$;
SELECT retailiq.register_event_source('tap_rd');
-- forecasts for the last 20 days of every store/product series (as test/bench/behaviour does)
INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, model_name)
SELECT store_id || '/' || product_id, store_id, product_id, day, 'day', 1, units * 1.1, units * 0.7, units * 1.4 + 1, 'tap'
  FROM tap_rd.daily_sales WHERE day > (SELECT max(day) FROM tap_rd.daily_sales) - 20;
INSERT INTO retailiq.customer_tag (customer_id, tag, first_tagged_at, last_evaluated_at)
SELECT customer_id, 'fresh_dweller', min(ordered_at), now() FROM tap_rd.orders GROUP BY 1 HAVING count(*) > 3
ON CONFLICT DO NOTHING;
CREATE TEMP TABLE span AS
SELECT (min(ordered_at) AT TIME ZONE 'UTC')::date AS d0, (max(ordered_at) AT TIME ZONE 'UTC')::date AS d1 FROM tap_rd.orders;
GRANT SELECT ON span TO PUBLIC;

CREATE SCHEMA tap_ref;
CREATE FUNCTION tap_ref.report_sales(grain text, from_date date, to_date date, store int DEFAULT NULL,
                                      by_store bool DEFAULT false)
RETURNS TABLE (period_start date, store_id bigint, orders bigint, customers bigint, units bigint,
               sales numeric, avg_basket numeric, forecast_units float8, forecast_actual_units float8,
               achievement float8, bias float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := retailiq_internal.report_grain(grain);
BEGIN
    PERFORM retailiq_internal.report_range(from_date, to_date);
    RETURN QUERY EXECUTE format($q$
        WITH o AS (
            SELECT date_trunc($4, (o.ordered_at AT TIME ZONE 'UTC')::date)::date AS period_start,
                   CASE WHEN $5 THEN o.store_id::bigint END AS store_id,
                   o.order_id, o.customer_id, o.total_amount
              FROM %1$s o
             WHERE o.ordered_at >= ($1::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (($2 + 1)::timestamp AT TIME ZONE 'UTC')
               AND ($3 IS NULL OR o.store_id = $3)),
        u AS (
            SELECT o.period_start, o.store_id, sum(l.quantity)::bigint AS units
              FROM o JOIN %2$s l ON l.order_id = o.order_id GROUP BY 1, 2),
        s AS (
            SELECT period_start, store_id, count(*) AS orders, count(DISTINCT customer_id) AS customers,
                   sum(total_amount)::numeric AS sales
              FROM o GROUP BY 1, 2),
        f0 AS MATERIALIZED (SELECT * FROM retailiq_internal.report_forecasts($1, $2, $3)),
        f AS MATERIALIZED (
            SELECT * FROM f0 WHERE model_name = (
                SELECT model_name FROM f0 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)),
        fa AS (
            SELECT date_trunc($4, f.day)::date AS period_start,
                   CASE WHEN $5 THEN f.store_id END AS store_id,
                   sum(f.yhat) AS forecast_units, sum(coalesce(a.units, 0))::float8 AS actual_units
              FROM f LEFT JOIN (
                   SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id,
                          l.product_id::bigint AS product_id, sum(l.quantity) AS units
                     FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
                    WHERE o.ordered_at >= ((SELECT min(day) FROM f)::timestamp AT TIME ZONE 'UTC')
                      AND o.ordered_at < (((SELECT max(day) FROM f) + 1)::timestamp AT TIME ZONE 'UTC')
                      AND ($3 IS NULL OR o.store_id = $3)
                      AND (o.store_id::bigint, l.product_id::bigint) IN (SELECT DISTINCT store_id, product_id FROM f)
                    GROUP BY 1, 2, 3) a
                ON a.day = f.day AND a.store_id = f.store_id AND a.product_id = f.product_id
             GROUP BY 1, 2),
        periods AS (
            SELECT p::date AS period_start
              FROM generate_series(date_trunc($4, $1::timestamp), $2::timestamp, ('1 ' || $4)::interval) p),
        keys AS (
            SELECT period_start, NULL::bigint AS store_id FROM periods WHERE NOT $5
            UNION SELECT period_start, store_id FROM s WHERE $5
            UNION SELECT period_start, store_id FROM fa WHERE $5)
        SELECT k.period_start, k.store_id, coalesce(s.orders, 0), coalesce(s.customers, 0),
               coalesce(u.units, 0), coalesce(s.sales, 0),
               round(s.sales / nullif(s.orders, 0), 2),
               fa.forecast_units, fa.actual_units,
               fa.actual_units / nullif(fa.forecast_units, 0),
               (fa.forecast_units - fa.actual_units) / nullif(fa.actual_units, 0)
          FROM keys k
          LEFT JOIN s ON s.period_start = k.period_start AND coalesce(s.store_id, -1) = coalesce(k.store_id, -1)
          LEFT JOIN u ON u.period_start = k.period_start AND coalesce(u.store_id, -1) = coalesce(k.store_id, -1)
          LEFT JOIN fa ON fa.period_start = k.period_start AND coalesce(fa.store_id, -1) = coalesce(k.store_id, -1)
         ORDER BY 1, 2$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_date, to_date, store, g, coalesce(by_store, false);
END
$$;

CREATE FUNCTION tap_ref.report_forecast_accuracy(grain text, from_date date, to_date date,
                                                 store int DEFAULT NULL)
RETURNS TABLE (period_start date, model_name text, series bigint, points bigint,
               forecast_units float8, actual_units float8, wape float8, bias float8, mae float8,
               interval_coverage float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := retailiq_internal.report_grain(grain);
BEGIN
    PERFORM retailiq_internal.report_range(from_date, to_date);
    RETURN QUERY EXECUTE format($q$
        WITH f AS MATERIALIZED (SELECT * FROM retailiq_internal.report_forecasts($1, $2, $3)),
        a AS (
            SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day, o.store_id::bigint AS store_id,
                   l.product_id::bigint AS product_id, sum(l.quantity)::float8 AS units
              FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= ((SELECT min(day) FROM f)::timestamp AT TIME ZONE 'UTC')
               AND o.ordered_at < (((SELECT max(day) FROM f) + 1)::timestamp AT TIME ZONE 'UTC')
               AND ($3 IS NULL OR o.store_id = $3)
               AND (o.store_id::bigint, l.product_id::bigint) IN (SELECT DISTINCT store_id, product_id FROM f)
             GROUP BY 1, 2, 3),
        j AS (
            SELECT date_trunc($4, f.day)::date AS period_start, f.model_name, f.store_id, f.product_id,
                   f.yhat, f.yhat_lower, f.yhat_upper, coalesce(a.units, 0) AS y
              FROM f LEFT JOIN a ON a.day = f.day AND a.store_id = f.store_id AND a.product_id = f.product_id)
        SELECT period_start, model_name, count(DISTINCT (store_id, product_id)), count(*),
               sum(yhat), sum(y),
               sum(abs(y - yhat)) / nullif(sum(y), 0),
               (sum(yhat) - sum(y)) / nullif(sum(y), 0),
               avg(abs(y - yhat)),
               (avg((y BETWEEN yhat_lower AND yhat_upper)::int) FILTER (WHERE yhat_lower IS NOT NULL))::float8
          FROM j GROUP BY 1, 2 ORDER BY 1, 2$q$,
        retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_date, to_date, store, g;
END
$$;

CREATE FUNCTION tap_ref.zone_dwell(lo timestamptz, hi timestamptz, store int)
RETURNS TABLE (period_day date, store_id bigint, zone_id bigint, zone_name text, hour int,
               visits bigint, total_dwell_s bigint)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT d.day, d.store_id, d.zone_id, sz.zone_name::text, d.hour, d.visits, d.total
          FROM (SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.store_id::bigint AS store_id,
                       e.zone_id::bigint AS zone_id,
                       extract(hour FROM e.occurred_at AT TIME ZONE 'UTC')::int AS hour,
                       count(*) AS visits, sum(e.duration_s)::bigint AS total
                  FROM %1$s e
                 WHERE e.occurred_at >= $1 AND e.occurred_at < $2 AND e.event_type = 'dwell'
                   AND e.zone_id IS NOT NULL AND ($3 IS NULL OR e.store_id = $3)
                 GROUP BY 1, 2, 3, 4) d
          LEFT JOIN %2$s sz ON sz.store_id = d.store_id AND sz.zone_id = d.zone_id$q$,
        retailiq_internal.source_sql('events'), retailiq_internal.source_sql('store_zones'))
    USING lo, hi, store;
END
$$;

CREATE FUNCTION tap_ref.report_behaviour(grain text, from_date date, to_date date, store int DEFAULT NULL)
RETURNS TABLE (period_start date, metric text, dimension text, value float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := retailiq_internal.report_grain(grain);
    lo timestamptz;
    hi timestamptz;
BEGIN
    PERFORM retailiq_internal.report_range(from_date, to_date);
    lo := from_date::timestamp AT TIME ZONE 'UTC';
    hi := (to_date + 1)::timestamp AT TIME ZONE 'UTC';
    -- conversion (online funnel), every period, empty ones as zeros
    RETURN QUERY
    WITH periods AS (
        SELECT p::date AS ps FROM generate_series(date_trunc(g, from_date::timestamp), to_date::timestamp,
                                                  ('1 ' || g)::interval) p),
    f AS (
        SELECT date_trunc(g, c.day)::date AS ps, sum(c.viewed) AS v, sum(c.carted) AS ca, sum(c.purchased) AS b
          FROM retailiq.conversion_funnel(lo, hi) c GROUP BY 1)
    SELECT p.ps, m.metric, 'online', m.value
      FROM periods p LEFT JOIN f ON f.ps = p.ps,
           LATERAL (VALUES (1, 'viewed', coalesce(f.v, 0)::float8), (2, 'carted', coalesce(f.ca, 0)::float8),
                           (3, 'purchased', coalesce(f.b, 0)::float8),
                           (4, 'view_to_cart', f.ca::float8 / nullif(f.v, 0)),
                           (5, 'view_to_purchase', f.b::float8 / nullif(f.v, 0))) m(k, metric, value)
     ORDER BY p.ps, m.k;
    -- the five hottest zone-hours of each period
    RETURN QUERY
    SELECT h.ps, 'hot_zone_dwell_min',
           format('store %s / %s / %s:00', h.store_id, coalesce(h.zone_name, 'zone ' || h.zone_id),
                  lpad(h.hour::text, 2, '0')),
           round(h.total / 60.0, 1)::float8
      FROM (SELECT z.*, row_number() OVER (PARTITION BY z.ps
                                           ORDER BY z.total DESC, z.store_id, z.zone_id, z.hour) AS rk
              FROM (SELECT date_trunc(g, d.period_day)::date AS ps, d.store_id, d.zone_id, d.zone_name,
                           d.hour, sum(d.total_dwell_s) AS total
                      FROM tap_ref.zone_dwell(lo, hi, store) d GROUP BY 1, 2, 3, 4, 5) z) h
     WHERE h.rk <= 5
     ORDER BY h.ps, h.rk;
    -- customers: new (first order ever), active, lost (90 days without an order end)
    RETURN QUERY EXECUTE format($q$
        WITH periods AS (
            SELECT p::date AS ps FROM generate_series(date_trunc($4, $5::timestamp), $6::timestamp,
                                                      ('1 ' || $4)::interval) p),
        o AS (
            SELECT customer_id, ordered_at,
                   row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS k,
                   lead(ordered_at) OVER (PARTITION BY customer_id ORDER BY ordered_at) AS next_at
              FROM %s o WHERE ordered_at < $2 AND ($3 IS NULL OR store_id = $3)),
        ev AS (
            SELECT date_trunc($4, (ordered_at AT TIME ZONE 'UTC')::date)::date AS ps, 'new_customers' AS m, customer_id
              FROM o WHERE k = 1 AND ordered_at >= $1
            UNION ALL
            SELECT DISTINCT date_trunc($4, (ordered_at AT TIME ZONE 'UTC')::date)::date, 'active_customers', customer_id
              FROM o WHERE ordered_at >= $1
            UNION ALL
            SELECT date_trunc($4, ((ordered_at + interval '90 days') AT TIME ZONE 'UTC')::date)::date, 'lost_customers', customer_id
              FROM o WHERE ordered_at + interval '90 days' >= $1 AND ordered_at + interval '90 days' < $2
               AND (next_at IS NULL OR next_at > ordered_at + interval '90 days')),
        n AS (SELECT ps, m, count(*) AS n FROM ev GROUP BY 1, 2)
        SELECT p.ps, m.m, 'all', coalesce(n.n, 0)::float8
          FROM periods p
         CROSS JOIN (VALUES (1, 'new_customers'), (2, 'active_customers'), (3, 'lost_customers')) m(k, m)
          LEFT JOIN n ON n.ps = p.ps AND n.m = m.m
         ORDER BY p.ps, m.k$q$, retailiq_internal.source_sql('orders'))
    USING lo, hi, store, g, from_date, to_date;
    -- tags first given in each period, per enabled rule
    RETURN QUERY
    SELECT p.ps, 'tags_added', r.tag, count(t.customer_id)::float8
      FROM (SELECT s::date AS ps
              FROM generate_series(date_trunc(g, from_date::timestamp), to_date::timestamp, ('1 ' || g)::interval) s) p
     CROSS JOIN retailiq.tag_rule r
      LEFT JOIN retailiq.customer_tag t
             ON t.tag = r.tag AND t.first_tagged_at >= lo AND t.first_tagged_at < hi
            AND date_trunc(g, (t.first_tagged_at AT TIME ZONE 'UTC')::date)::date = p.ps
     WHERE r.enabled
     GROUP BY p.ps, r.tag ORDER BY p.ps, r.tag;
END
$$;

-- The forecast columns are sums of float8 forecasts: their last bits depend on the order the
-- plan adds them in (the stored days' plan is not the reference's), so they are compared to 9
-- significant digits; every other column exactly.
CREATE FUNCTION tap_ref.r9(x float8) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE WHEN x IS NULL THEN NULL WHEN x = 0 THEN '0' ELSE to_char(x, '9.99999999EEEE') END $$;
CREATE FUNCTION tap_ref.sales(impl text, g text, d0 date, d1 date, st int, bs bool)
RETURNS TABLE (period_start date, store_id bigint, orders bigint, customers bigint, units bigint,
               sales numeric, avg_basket numeric, forecast_units text, forecast_actual_units text,
               achievement text, bias text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT r.period_start, r.store_id, r.orders, r.customers, r.units, r.sales, r.avg_basket,
                                        tap_ref.r9(r.forecast_units), tap_ref.r9(r.forecast_actual_units),
                                        tap_ref.r9(r.achievement), tap_ref.r9(r.bias)
                                   FROM %s.report_sales($1, $2, $3, $4, $5) r', impl)
    USING g, d0, d1, st, bs;
END
$$;
CREATE FUNCTION tap_ref.accuracy(impl text, g text, d0 date, d1 date, st int)
RETURNS TABLE (period_start date, model_name text, series bigint, points bigint, forecast_units text,
               actual_units text, wape text, bias text, mae text, interval_coverage text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT r.period_start, r.model_name, r.series, r.points,
                                        tap_ref.r9(r.forecast_units), tap_ref.r9(r.actual_units), tap_ref.r9(r.wape),
                                        tap_ref.r9(r.bias), tap_ref.r9(r.mae), tap_ref.r9(r.interval_coverage)
                                   FROM %s.report_forecast_accuracy($1, $2, $3, $4) r', impl)
    USING g, d0, d1, st;
END
$$;

-- every report, grain, store choice over ranges starting and ending mid-week and mid-month
CREATE FUNCTION tap_ref.diffs(label text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
    d0 date := (SELECT span.d0 + 3 FROM span);
    d1 date := (SELECT span.d1 - 2 FROM span);
    g text;
    st int;
    bs bool;
    n bigint;
BEGIN
    FOREACH g IN ARRAY ARRAY['daily', 'weekly', 'monthly'] LOOP
        FOR st IN SELECT unnest(ARRAY[NULL, 2]) LOOP
            FOR bs IN SELECT unnest(ARRAY[false, true]) LOOP
                SELECT count(*) INTO n FROM (
                    (SELECT * FROM tap_ref.sales('retailiq', g, d0, d1, st, bs) EXCEPT ALL
                     SELECT * FROM tap_ref.sales('tap_ref', g, d0, d1, st, bs))
                    UNION ALL
                    (SELECT * FROM tap_ref.sales('tap_ref', g, d0, d1, st, bs) EXCEPT ALL
                     SELECT * FROM tap_ref.sales('retailiq', g, d0, d1, st, bs))) x;
                IF n > 0 THEN RETURN NEXT format('%s: report_sales(%s, store %s, by_store %s): %s rows differ', label, g, st, bs, n); END IF;
            END LOOP;
            SELECT count(*) INTO n FROM (
                (SELECT * FROM tap_ref.accuracy('retailiq', g, d0, d1, st) EXCEPT ALL
                 SELECT * FROM tap_ref.accuracy('tap_ref', g, d0, d1, st))
                UNION ALL
                (SELECT * FROM tap_ref.accuracy('tap_ref', g, d0, d1, st) EXCEPT ALL
                 SELECT * FROM tap_ref.accuracy('retailiq', g, d0, d1, st))) x;
            IF n > 0 THEN RETURN NEXT format('%s: report_forecast_accuracy(%s, store %s): %s rows differ', label, g, st, n); END IF;
            SELECT count(*) INTO n FROM (
                (SELECT * FROM retailiq.report_behaviour(g, d0, d1, st) EXCEPT ALL
                 SELECT * FROM tap_ref.report_behaviour(g, d0, d1, st))
                UNION ALL
                (SELECT * FROM tap_ref.report_behaviour(g, d0, d1, st) EXCEPT ALL
                 SELECT * FROM retailiq.report_behaviour(g, d0, d1, st))) x;
            IF n > 0 THEN RETURN NEXT format('%s: report_behaviour(%s, store %s): %s rows differ', label, g, st, n); END IF;
        END LOOP;
    END LOOP;
END
$f$;
GRANT USAGE ON SCHEMA tap_ref TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tap_ref TO PUBLIC;

SELECT is((SELECT count(*) FROM retailiq.report_sales('daily', d0, d1) WHERE orders > 0), (SELECT d1 - d0 + 1 FROM span)::bigint,
          'the sample has orders every day') FROM span;
SELECT is_empty($$SELECT * FROM tap_ref.diffs('nothing stored')$$, 'nothing stored: the same rows as the reference');
SELECT is((SELECT count(*) FROM retailiq.report_day), 0::bigint, 'nothing stored yet');

-- the middle of the history stored, both ends computed
SELECT is(retailiq.refresh_report_days(d0 + 20, d1 - 30), (d1 - 30) - (d0 + 20) + 1, 'refresh_report_days returns the days stored') FROM span;
SELECT ok((SELECT count(*) FROM retailiq.report_day_sales) > 0 AND (SELECT count(*) FROM retailiq.report_day_funnel) > 0
          AND (SELECT count(*) FROM retailiq.report_day_dwell) > 0 AND (SELECT count(*) FROM retailiq.report_period_customers) > 0
          AND (SELECT count(*) FROM retailiq.report_period_dwell) > 0
          AND (SELECT count(*) FROM retailiq.report_day_units) > 0, 'days, weeks and months stored');
SELECT is_empty($$SELECT * FROM tap_ref.diffs('some days stored')$$, 'some days stored: the same rows as the reference');

-- a hole: one stored day removed is computed again
DELETE FROM retailiq.report_day WHERE part = 'orders' AND day = (SELECT d0 + 40 FROM span);
SELECT is_empty($$SELECT * FROM tap_ref.diffs('a hole')$$, 'a day missing among stored days: the same rows');

-- everything stored (default range: from the first order to yesterday; here to the last day)
SELECT ok(retailiq.refresh_report_days(d0, d1) = d1 - d0 + 1, 'the whole history stored') FROM span;
SELECT is_empty($$SELECT * FROM tap_ref.diffs('all stored')$$, 'all stored: the same rows as the reference');
-- a hole among the forecasts' days: their actuals partly stored, partly computed
DELETE FROM retailiq.report_day WHERE part = 'orders' AND day = (SELECT d1 - 8 FROM span);
SELECT ok((SELECT count(*) FROM retailiq.report_forecast_accuracy('daily', d1 - 12, d1 - 4)) = 9, 'forecasts on the days around the hole') FROM span;
SELECT is_empty($$SELECT * FROM tap_ref.diffs('a hole among the forecasts')$$, 'a day missing among the forecasts'' days: the same rows');
SELECT retailiq.refresh_report_days(d1 - 8, d1 - 8) FROM span;
SELECT is(retailiq.refresh_report_days(NULL, d1, 3), 3, 'the default start: the last stored day less the lookback') FROM span;
SELECT is(retailiq.refresh_report_days(NULL, d1, 0), 0, 'nothing after the last stored day') FROM span;

-- the HTML page reads the same figures
SELECT ok(strpos(retailiq.report_html(d0 + 3, d1 - 2),
                 retailiq_internal.fmt((SELECT sum(orders) FROM tap_ref.report_sales('daily', d0 + 3, d1 - 2))::numeric)) > 0,
          'report_html shows the reference''s order count') FROM span;
SELECT ok(strpos(retailiq.report_html(d0 + 3, d1 - 2),
                 retailiq_internal.fmt((SELECT sum(viewed) FROM retailiq.conversion_funnel((d0 + 3)::timestamp AT TIME ZONE 'UTC', (d1 - 1)::timestamp AT TIME ZONE 'UTC'))::numeric)) > 0,
          'report_html shows conversion_funnel''s views') FROM span;

-- a late order in a stored day: the stored day is stale until refreshed
INSERT INTO tap_rd.orders (order_id, customer_id, store_id, channel, ordered_at, item_count, total_amount, discount_amount)
SELECT 99999999, 1, 1, 'store', ((d0 + 50)::timestamp + interval '10 hours') AT TIME ZONE 'UTC', 1, 12.34, 0 FROM span;
SELECT isnt_empty($$SELECT * FROM tap_ref.diffs('late order')$$, 'a late order in a stored day is not seen before the refresh');
-- (it changes later days too: whose first order, which orders are followed within 90 days)
SELECT is(retailiq.refresh_report_days(d0 + 50, d1), d1 - d0 - 49, 'refresh from that day') FROM span;
SELECT is_empty($$SELECT * FROM tap_ref.diffs('late order refreshed')$$, 'after refresh_report_days: the same rows again');

-- new and lost customers of a few days (a report's unstored last day) are found by probing
-- the orders' customer index; over many days by window functions: the same rows, also for a
-- customer with two orders at the same instant (the window's next order of the first is the
-- second, so only one of them can be lost)
INSERT INTO tap_rd.orders (order_id, customer_id, store_id, channel, ordered_at, item_count, total_amount, discount_amount)
SELECT 99999998, o.customer_id, o.store_id, o.channel, o.ordered_at, 1, 5, 0
  FROM tap_rd.orders o, span WHERE (o.ordered_at AT TIME ZONE 'UTC')::date = span.d1 - 95 ORDER BY o.order_id LIMIT 1;
INSERT INTO tap_rd.orders (order_id, customer_id, store_id, channel, ordered_at, item_count, total_amount, discount_amount)
SELECT 99999997, o.customer_id, o.store_id % 4 + 1, o.channel, o.ordered_at, 1, 5, 0
  FROM tap_rd.orders o, span WHERE (o.ordered_at AT TIME ZONE 'UTC')::date = span.d1 - 97 ORDER BY o.order_id LIMIT 1;
SELECT ok(EXISTS (SELECT 1 FROM pg_index WHERE indrelid = 'tap_rd.orders'::regclass
                   AND indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = 'tap_rd.orders'::regclass AND attname = 'customer_id')),
          'the sample orders have an index led by customer_id (the probe plan applies)');
CREATE TEMP TABLE few AS
SELECT c.* FROM span, generate_series((span.d1 - 9)::timestamp, span.d1::timestamp, interval '1 day') d,
       LATERAL retailiq_internal.report_day_customers_live(d::date, d::date) c;
CREATE TEMP TABLE many AS
SELECT c.* FROM span, LATERAL retailiq_internal.report_day_customers_live(span.d1 - 40, span.d1) c
 WHERE c.day >= span.d1 - 9;
SELECT ok((SELECT sum(lost_customers) FROM few) > 0 AND (SELECT sum(new_customers) FROM few WHERE NOT by_store) >= 0,
          'the last days have lost customers');
SELECT is_empty($$(TABLE few EXCEPT ALL TABLE many) UNION ALL (TABLE many EXCEPT ALL TABLE few)$$,
                'new and lost customers by day: the probe plan (one day) = the window plan (41 days)');
DELETE FROM tap_rd.orders WHERE order_id IN (99999998, 99999997);

-- another orders relation registered: the stored days are not used
CREATE TABLE tap_rd.orders2 AS SELECT * FROM tap_rd.orders WHERE store_id <> 3;
SELECT retailiq.register_source('orders', 'tap_rd.orders2');
SELECT is((SELECT sum(orders) FROM retailiq.report_sales('daily', d0, d1)), (SELECT count(*) FROM tap_rd.orders2)::numeric,
          'another source: its orders, not the stored days') FROM span;
SELECT is_empty($$SELECT * FROM tap_ref.diffs('other source')$$, 'another source: the same rows as the reference');
SELECT retailiq.register_source('orders', 'tap_rd.orders');

-- materialize_report('daily') keeps the stored days current
SELECT ok(retailiq.materialize_report('daily', d1 + 1) > 0, 'materialize_report(daily)') FROM span;
SELECT is((SELECT max(day) FROM retailiq.report_day WHERE part = 'orders'), d1, 'it stored the days up to its day') FROM span;

-- a role without SELECT on the stored days gets the reports computed from the tables it reads
CREATE ROLE tap_rd_reader;
GRANT USAGE ON SCHEMA tap_rd TO tap_rd_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA tap_rd TO tap_rd_reader;
GRANT SELECT ON retailiq.forecast_result, retailiq.customer_tag, retailiq.tag_rule, retailiq.customer_profile_data TO tap_rd_reader;
SET LOCAL ROLE tap_rd_reader;
SELECT ok(NOT retailiq_internal.report_days_readable(), 'an ordinary role cannot read the stored days');
SELECT throws_ok($$SELECT count(*) FROM retailiq.report_day_sales$$, '42501', NULL, 'nor select them');
SELECT is_empty($$SELECT * FROM tap_ref.diffs('ordinary role')$$, 'its reports: the same rows as the reference');
SELECT throws_ok($$SELECT retailiq.refresh_report_days()$$, '42501', NULL, 'and it cannot refresh them');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
