-- reports: daily, weekly and monthly sales, behaviour and forecast-accuracy reports as
-- set-returning functions over the registered tables (the core source registry, retailiq.source) and
-- retailiq.forecast_result; retailiq.materialize_report keeps them in tables for the
-- scheduler's report jobs. Periods are inclusive date ranges [from_date, to_date] in UTC.

-- 'daily' | 'day' -> 'day', and so on; anything else is 22023.
CREATE FUNCTION retailiq_internal.report_grain(grain text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF grain IS NULL THEN
        RAISE EXCEPTION 'grain must not be NULL' USING ERRCODE = '22004',
              HINT = 'Use ''daily'', ''weekly'' or ''monthly''.';
    END IF;
    RETURN CASE lower(grain)
        WHEN 'daily' THEN 'day' WHEN 'day' THEN 'day'
        WHEN 'weekly' THEN 'week' WHEN 'week' THEN 'week'
        WHEN 'monthly' THEN 'month' WHEN 'month' THEN 'month'
        ELSE retailiq_internal.report_bad_grain(grain) END;
END
$$;

CREATE FUNCTION retailiq_internal.report_bad_grain(grain text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION 'unknown report grain "%"', grain USING ERRCODE = '22023',
          HINT = 'Use ''daily'', ''weekly'' or ''monthly''.';
END
$$;

CREATE FUNCTION retailiq_internal.report_range(from_date date, to_date date) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION 'from_date and to_date must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass the first and the last day of the report.';
    END IF;
    IF from_date > to_date OR from_date = '-infinity' OR to_date = 'infinity' THEN
        RAISE EXCEPTION 'from_date must not be after to_date' USING ERRCODE = '22023',
              DETAIL = format('from_date is %s, to_date is %s.', from_date, to_date),
              HINT = 'Both days are included in the report.';
    END IF;
    IF to_date - from_date > 3660 THEN
        RAISE EXCEPTION 'a report covers at most 3661 days' USING ERRCODE = '22023',
              DETAIL = format('from_date is %s, to_date is %s.', from_date, to_date),
              HINT = 'Split the range.';
    END IF;
END
$$;

-- The newest day-grain forecast of each series, model and day of the range, for the series
-- whose store and product are known (sales sources registered with store and product columns).
CREATE FUNCTION retailiq_internal.report_forecasts(from_date date, to_date date, store int)
RETURNS TABLE (day date, store_id bigint, product_id bigint, model_name text, yhat float8,
               yhat_lower float8, yhat_upper float8)
LANGUAGE sql STABLE ROWS 100000
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT ON (r.series, r.period_start, r.model_name)
           r.period_start, r.store_id, r.product_id, r.model_name, r.yhat, r.yhat_lower, r.yhat_upper
      FROM retailiq.forecast_result r
     WHERE r.grain = 'day' AND r.period_start BETWEEN $1 AND $2
       AND r.store_id IS NOT NULL AND r.product_id IS NOT NULL
       AND ($3 IS NULL OR r.store_id = $3)
     ORDER BY r.series, r.period_start, r.model_name, r.created_at DESC
$$;

CREATE FUNCTION retailiq.report_sales(grain text, from_date date, to_date date, store int DEFAULT NULL,
                                      by_store bool DEFAULT false)
RETURNS TABLE (period_start date, store_id bigint, orders bigint, customers bigint, units bigint,
               sales numeric, avg_basket numeric, forecast_units float8, forecast_actual_units float8,
               achievement float8, bias float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off    -- seconds of compiling for queries that run in well under a second
AS $$
DECLARE
    g text := retailiq_internal.report_grain(grain);
BEGIN
    PERFORM retailiq_internal.report_range(from_date, to_date);
    RETURN QUERY EXECUTE $q$
        WITH d AS (
            SELECT date_trunc($4, d.day)::date AS period_start, CASE WHEN $5 THEN d.store_id END AS store_id,
                   d.orders, d.customers, d.units, d.sales
              FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_sales, 'orders', $1, $2) d
             WHERE CASE WHEN $3 IS NULL THEN d.by_store = $5 ELSE d.by_store AND d.store_id = $3 END),
        c AS (
            SELECT c.period_start, CASE WHEN $5 THEN c.store_id END AS store_id, c.customers
              FROM retailiq_internal.report_customers_rows($4, $1, $2) c
             WHERE $4 <> 'day'
               AND CASE WHEN $3 IS NULL THEN c.by_store = $5 ELSE c.by_store AND c.store_id = $3 END),
        s AS (
            SELECT d.period_start, d.store_id, sum(d.orders)::bigint AS orders,
                   CASE WHEN $4 = 'day' THEN sum(d.customers)::bigint ELSE min(c.customers) END AS customers,
                   sum(d.units)::bigint AS units, sum(d.sales) AS sales
              FROM d LEFT JOIN c ON c.period_start = d.period_start
                                AND coalesce(c.store_id, -1) = coalesce(d.store_id, -1)
             GROUP BY 1, 2),
        f0 AS MATERIALIZED (SELECT * FROM retailiq_internal.report_forecasts($1, $2, $3)),
        f AS MATERIALIZED (
            SELECT * FROM f0 WHERE model_name = (
                SELECT model_name FROM f0 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)),
        fa AS (
            SELECT date_trunc($4, f.day)::date AS period_start,
                   CASE WHEN $5 THEN f.store_id END AS store_id,
                   sum(f.yhat) AS forecast_units, sum(coalesce(a.units, 0))::float8 AS actual_units
              FROM f LEFT JOIN retailiq_internal.report_day_rows(NULL::retailiq.report_day_units, 'orders',
                                                                  (SELECT min(day) FROM f), (SELECT max(day) FROM f)) a
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
               coalesce(s.units, 0), coalesce(s.sales, 0),
               round(s.sales / nullif(s.orders, 0), 2),
               fa.forecast_units, fa.actual_units,
               fa.actual_units / nullif(fa.forecast_units, 0),
               (fa.forecast_units - fa.actual_units) / nullif(fa.actual_units, 0)
          FROM keys k
          LEFT JOIN s ON s.period_start = k.period_start AND coalesce(s.store_id, -1) = coalesce(k.store_id, -1)
          LEFT JOIN fa ON fa.period_start = k.period_start AND coalesce(fa.store_id, -1) = coalesce(k.store_id, -1)
         ORDER BY 1, 2$q$
    USING from_date, to_date, store, g, coalesce(by_store, false);
END
$$;

-- Forecast accuracy by period and model, over the day-grain forecasts of '<store>/<product>'
-- series whose day falls in the range; a day without sales counts as 0 units sold.
CREATE FUNCTION retailiq.report_forecast_accuracy(grain text, from_date date, to_date date,
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
    RETURN QUERY EXECUTE $q$
        WITH f AS MATERIALIZED (SELECT * FROM retailiq_internal.report_forecasts($1, $2, $3)),
        a AS (
            SELECT u.day, u.store_id, u.product_id, u.units::float8 AS units
              FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_units, 'orders',
                                                     (SELECT min(day) FROM f), (SELECT max(day) FROM f)) u),
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
          FROM j GROUP BY 1, 2 ORDER BY 1, 2$q$
    USING from_date, to_date, store, g;
END
$$;

-- Behaviour by period in long form (metric, dimension, value): online conversion, the hottest
-- in-store zone-hours, new / active / lost customers, tags first given in the period. Each
-- part is one pass over the whole range, bucketed into periods.
CREATE FUNCTION retailiq.report_behaviour(grain text, from_date date, to_date date, store int DEFAULT NULL)
RETURNS TABLE (period_start date, metric text, dimension text, value float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off    -- seconds of compiling for queries that run in well under a second
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
          FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_funnel, 'events', from_date, to_date) c GROUP BY 1)
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
              FROM (SELECT d.period_start AS ps, d.store_id, d.zone_id, d.zone_name, d.hour,
                           d.total_dwell_s AS total
                      FROM retailiq_internal.report_dwell_rows(g, from_date, to_date, store) d) z) h
     WHERE h.rk <= 5
     ORDER BY h.ps, h.rk;
    -- customers: new (first order ever), active, lost (90 days without an order end)
    RETURN QUERY
    WITH periods AS (
        SELECT p::date AS ps FROM generate_series(date_trunc(g, from_date::timestamp), to_date::timestamp,
                                                  ('1 ' || g)::interval) p),
    cd AS (
        SELECT date_trunc(g, d.day)::date AS ps, sum(d.new_customers) AS new_c, sum(d.lost_customers) AS lost_c
          FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_customers, 'orders', from_date, to_date) d
         WHERE CASE WHEN store IS NULL THEN NOT d.by_store ELSE d.by_store AND d.store_id = store END
         GROUP BY 1),
    ac AS (
        SELECT c.period_start AS ps, c.active
          FROM retailiq_internal.report_customers_rows(g, from_date, to_date) c
         WHERE CASE WHEN store IS NULL THEN NOT c.by_store ELSE c.by_store AND c.store_id = store END)
    SELECT p.ps, m.m, 'all', coalesce(CASE m.k WHEN 1 THEN cd.new_c WHEN 2 THEN ac.active ELSE cd.lost_c END, 0)::float8
      FROM periods p
     CROSS JOIN (VALUES (1, 'new_customers'), (2, 'active_customers'), (3, 'lost_customers')) m(k, m)
      LEFT JOIN cd ON cd.ps = p.ps
      LEFT JOIN ac ON ac.ps = p.ps
     ORDER BY p.ps, m.k;
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

-- Materialised reports, filled by retailiq.materialize_report (the scheduler's report jobs).
CREATE TABLE retailiq.report_sales_data (
    grain text NOT NULL, period_start date NOT NULL, store_id bigint,
    orders bigint, customers bigint, units bigint, sales numeric, avg_basket numeric,
    forecast_units float8, forecast_actual_units float8, achievement float8, bias float8,
    materialized_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON retailiq.report_sales_data (grain, period_start);
CREATE TABLE retailiq.report_behaviour_data (
    grain text NOT NULL, period_start date NOT NULL, metric text NOT NULL, dimension text,
    value float8, materialized_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON retailiq.report_behaviour_data (grain, period_start);
CREATE TABLE retailiq.report_forecast_accuracy_data (
    grain text NOT NULL, period_start date NOT NULL, model_name text, series bigint, points bigint,
    forecast_units float8, actual_units float8, wape float8, bias float8, mae float8,
    interval_coverage float8, materialized_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON retailiq.report_forecast_accuracy_data (grain, period_start);
SELECT pg_catalog.pg_extension_config_dump('retailiq.report_sales_data', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.report_behaviour_data', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.report_forecast_accuracy_data', '');

-- Materialises the last complete period before as_of (daily: the day before; weekly: the
-- Monday-to-Sunday week before; monthly: the month before), replacing an earlier copy of the
-- same period. Returns the rows written.
CREATE FUNCTION retailiq.materialize_report(grain text, as_of date DEFAULT current_date)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := retailiq_internal.report_grain(grain);
    ps date;
    pe date;
    n bigint;
    total bigint := 0;
BEGIN
    IF as_of IS NULL OR as_of = 'infinity' OR as_of = '-infinity' THEN
        RAISE EXCEPTION 'as_of must be a finite date' USING ERRCODE = '22023',
              HINT = 'Omit it for today: the period before today is materialised.';
    END IF;
    pe := date_trunc(g, as_of::timestamp)::date;     -- the current, incomplete period starts here
    ps := (pe - ('1 ' || g)::interval)::date;
    pe := pe - 1;
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.materialize_report'), hashtext(g));
    -- the daily job keeps the stored days (report_days.sql) current up to the period's end
    IF g = 'day' THEN
        PERFORM retailiq.refresh_report_days(to_date => pe);
    END IF;
    DELETE FROM retailiq.report_sales_data d WHERE d.grain = g AND d.period_start = ps;
    DELETE FROM retailiq.report_behaviour_data d WHERE d.grain = g AND d.period_start = ps;
    DELETE FROM retailiq.report_forecast_accuracy_data d WHERE d.grain = g AND d.period_start = ps;
    INSERT INTO retailiq.report_sales_data
    SELECT g, r.* FROM retailiq.report_sales(g, ps, pe) r
    UNION ALL
    SELECT g, r.* FROM retailiq.report_sales(g, ps, pe, by_store => true) r;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    INSERT INTO retailiq.report_behaviour_data SELECT g, r.* FROM retailiq.report_behaviour(g, ps, pe) r;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    INSERT INTO retailiq.report_forecast_accuracy_data
    SELECT g, r.* FROM retailiq.report_forecast_accuracy(g, ps, pe) r;
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    RETURN total;
END
$$;
