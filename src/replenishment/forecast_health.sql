-- replenishment: forecast health (issue 24). The forecasts a sales source's refresh issued
-- are kept (retailiq.forecast_issued: forecast_result keeps only the latest forecast of each
-- past period, and loses it after keep_days or a re-registration), compared with what then
-- sold (retailiq.forecast_health: WAPE, MASE, bias per series over a rolling window), and a
-- series whose forecasts drift beyond a threshold raises a forecast_drift alert and is
-- refitted ahead of the nightly schedule, with its accuracy before and after kept in
-- retailiq.forecast_refit (retailiq.check_forecast_health). doc/forecast-health.md.

-- The forecasts as issued: per source, series and period, the forecasts made 1 and
-- health_horizon periods ahead (one or two rows a series and period), for
-- health_history_days after their period.
CREATE TABLE retailiq.forecast_issued (
    source        text        NOT NULL,
    series        text        NOT NULL,
    store_id      bigint,
    product_id    bigint,
    period_start  date        NOT NULL,
    grain         text        NOT NULL CHECK (grain IN ('day', 'week', 'month')),
    horizon       int         NOT NULL CHECK (horizon >= 1),
    yhat          float8      NOT NULL,
    model_version int,
    issued_at     timestamptz NOT NULL,
    PRIMARY KEY (source, series, period_start, horizon, issued_at)
);
COMMENT ON TABLE retailiq.forecast_issued IS
    'forecasts as the nightly refresh issued them (horizons 1 and health_horizon), kept health_history_days for retailiq.forecast_health';
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_issued', '');
REVOKE ALL ON retailiq.forecast_issued FROM PUBLIC;
GRANT SELECT ON retailiq.forecast_issued TO PUBLIC;

-- The hook at the end of a source's refresh (retailiq_internal.refresh_source, and the early
-- refits below): copies the forecasts this transaction wrote for the source from since (the
-- first new period) on, and drops those past the retention. Returns the rows kept.
CREATE FUNCTION retailiq_internal.forecast_issued_record(source_name text, since date) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h int := retailiq_internal.planning_threshold(source_name, 'health_horizon')::int;
    keep int := retailiq_internal.planning_threshold(source_name, 'health_history_days')::int;
    n bigint;
    first date;
BEGIN
    -- the retention counts back from the forecasts just kept (not from since: anyone may call
    -- this, but only a writer of forecast_result has rows of this transaction to keep)
    WITH kept AS (
        INSERT INTO retailiq.forecast_issued AS i (source, series, store_id, product_id, period_start, grain,
                                                  horizon, yhat, model_version, issued_at)
        SELECT source_name, r.series, r.store_id, r.product_id, r.period_start, r.grain, r.horizon, r.yhat,
               r.model_version, r.created_at
          FROM retailiq.forecast_result r
         WHERE r.model_name = 'forecast:' || source_name AND r.period_start >= since AND r.created_at = now()
           AND r.horizon IN (1, h)
        ON CONFLICT DO NOTHING
        RETURNING i.period_start)
    SELECT count(*), min(kept.period_start) INTO n, first FROM kept;
    DELETE FROM retailiq.forecast_issued i WHERE i.source = source_name AND i.period_start < first - keep;
    RETURN n;
END
$$;

-- Per series of a source: the forecasts issued horizon periods ahead for the periods that
-- start on or after first and end by last (the latest issue of each), against the source's
-- sales in them (a period without a row sold 0). MASE divides by the series' in-sample
-- seasonal-naive MAE over the year before first (gaps filled with 0; season from the
-- source's options, else 7 / 52 / 12 by grain).
CREATE FUNCTION retailiq_internal.forecast_health_rows(src retailiq.sales_source, first date, last date,
                                                       horizon int, only_series text[] DEFAULT NULL)
RETURNS TABLE (series text, store_id bigint, product_id bigint, n int, actual float8, forecast float8,
               abs_error float8, mase float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH f AS MATERIALIZED (
            SELECT DISTINCT ON (i.series, i.period_start) i.series, i.store_id, i.product_id, i.period_start,
                   i.grain, i.yhat,
                   (i.period_start + CASE i.grain WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '1 week'
                                                  ELSE interval '1 month' END)::date AS period_end
              FROM retailiq.forecast_issued i
             WHERE i.source = $1 AND i.horizon = $4 AND i.period_start >= $2 AND i.period_start <= $3
               AND ($5::text[] IS NULL OR i.series = ANY ($5))
             ORDER BY i.series, i.period_start, i.issued_at DESC),
        w AS (SELECT * FROM f WHERE f.period_end <= $3 + 1),
        a AS MATERIALIZED (
            SELECT r.s, r.d, r.y FROM (%s) r
             WHERE r.d >= $2 - 366 AND r.d <= $3 AND r.s IN (SELECT w.series FROM w)),
        cmp AS (
            SELECT w.series, w.store_id, w.product_id, w.yhat, coalesce(sum(a.y), 0) AS y
              FROM w LEFT JOIN (SELECT * FROM a WHERE a.d >= $2) a
                ON a.s = w.series AND a.d >= w.period_start AND a.d < w.period_end
             GROUP BY w.series, w.store_id, w.product_id, w.period_start, w.yhat),
        g AS (SELECT min(w.grain) AS grain FROM w),
        m AS (SELECT coalesce($6, CASE g.grain WHEN 'day' THEN 7 WHEN 'week' THEN 52 ELSE 12 END) AS season,
                     CASE g.grain WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '7 days'
                                  ELSE interval '1 month' END AS step
                FROM g),
        -- the seasonal-naive MAE of retailiq.naive_scale over the zero-filled history
        -- [lo, first), computed from the rows alone: a period and the one a season before
        -- pair up by a full join (a pair of two empty periods adds 0), divided by the grid's
        -- periods after the first season (a filled grid costs a row per series and period)
        bounds AS (
            SELECT a.s, min(a.d) AS lo,
                   CASE WHEN m.step = interval '1 month'
                        THEN (extract(year FROM age($2 - 1, min(a.d))) * 12 + extract(month FROM age($2 - 1, min(a.d))))::int + 1
                        ELSE ceil(($2 - min(a.d)) / extract(day FROM m.step))::int END - m.season AS terms
              FROM a CROSS JOIN m WHERE a.d < $2 GROUP BY a.s, m.step, m.season),
        h AS (SELECT a.s, a.d, a.y FROM a WHERE a.d < $2),
        pairs AS (
            SELECT coalesce(x.s, p.s) AS s, coalesce(x.d, p.d) AS t, abs(coalesce(x.y, 0) - coalesce(p.y, 0)) AS e
              FROM h x
              FULL JOIN (SELECT h.s, (h.d + m.season * m.step)::date AS d, h.y FROM h CROSS JOIN m) p
                ON p.s = x.s AND p.d = x.d
             WHERE coalesce(x.d, p.d) < $2),
        sc AS (
            SELECT b.s, coalesce(sum(pairs.e), 0) / b.terms AS scale
              FROM bounds b CROSS JOIN m
              LEFT JOIN pairs ON pairs.s = b.s AND pairs.t >= (b.lo + m.season * m.step)::date
             WHERE b.terms > 0 GROUP BY b.s, b.terms)
        SELECT cmp.series, max(cmp.store_id), max(cmp.product_id), count(*)::int, sum(cmp.y), sum(cmp.yhat),
               sum(abs(cmp.y - cmp.yhat)), retailiq.mase(cmp.y, cmp.yhat, nullif(sc.scale, 0))
          FROM cmp LEFT JOIN sc ON sc.s = cmp.series
         GROUP BY cmp.series
         ORDER BY cmp.series$q$, retailiq_internal.sales_source_query(src, false))
    USING src.name, first, last, horizon, only_series, (src.options ->> 'season')::int;
END
$$;

-- The latest date with sales in a source (NULL: none).
CREATE FUNCTION retailiq_internal.sales_source_last_date(src retailiq.sales_source) RETURNS date
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d date;
BEGIN
    EXECUTE format('SELECT max(%I)::date FROM %s WHERE %I IS NOT NULL AND %I IS NOT NULL',
                   src.date_column, src.relation::text, src.value_column, src.series_column) INTO d;
    RETURN d;
END
$$;

-- Forecast health of a source's series over the window_days up to as_of (default: the
-- source's latest date with sales). wape = sum|actual - forecast| / sum actual; bias =
-- (sum forecast - sum actual) / sum actual (positive: the forecasts ran high); status
-- 'drift' when |bias| passes health_threshold, 'ok', 'too_few' (fewer than
-- health_min_points periods) or 'no_sales' (nothing sold in the window).
CREATE FUNCTION retailiq.forecast_health(source text, window_days int DEFAULT 28, as_of date DEFAULT NULL)
RETURNS TABLE (store_id bigint, product_id bigint, wape float8, mase float8, bias float8, n int,
               status text, series text, actual float8, forecast float8, threshold float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source := retailiq_internal.sales_source_named(source);
    thr float8 := retailiq_internal.planning_threshold(source, 'health_threshold');
    min_n int := retailiq_internal.planning_threshold(source, 'health_min_points')::int;
BEGIN
    IF window_days IS NULL OR window_days < 1 OR window_days > 3660 THEN
        RAISE EXCEPTION 'window_days must be between 1 and 3660'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('window_days is %s.', coalesce(window_days::text, 'NULL')),
                  HINT = 'Pass the days of sales to compare the forecasts with, e.g. 28.';
    END IF;
    as_of := coalesce(as_of, retailiq_internal.sales_source_last_date(src));
    IF as_of IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT h.store_id, h.product_id,
           CASE WHEN h.actual > 0 THEN h.abs_error / h.actual END,
           h.mase,
           CASE WHEN h.actual > 0 THEN (h.forecast - h.actual) / h.actual END,
           h.n,
           CASE WHEN h.actual <= 0 THEN 'no_sales'
                WHEN h.n < min_n THEN 'too_few'
                WHEN abs(h.forecast - h.actual) > thr * h.actual THEN 'drift'
                ELSE 'ok' END,
           h.series, h.actual, h.forecast, thr
      FROM retailiq_internal.forecast_health_rows(src, as_of - window_days + 1, as_of,
                retailiq_internal.planning_threshold(source, 'health_horizon')::int) h;
END
$$;
COMMENT ON FUNCTION retailiq.forecast_health(text, int, date) IS
    'accuracy of the issued forecasts of a sales source against what then sold, per series over a rolling window: WAPE, MASE, bias and a status';

-- Early refits and their accuracy before (the window that found the drift) and after (the
-- periods since, filled in by later checks).
CREATE TABLE retailiq.forecast_refit (
    id            bigserial   PRIMARY KEY,
    source        text        NOT NULL,
    series        text        NOT NULL,
    store_id      bigint,
    product_id    bigint,
    refitted_at   timestamptz NOT NULL DEFAULT now(),
    as_of         date        NOT NULL,
    method        text        NOT NULL,
    model_name    text        NOT NULL,
    model_version int,
    alert_id      bigint,
    before_n      int         NOT NULL,
    before_wape   float8,
    before_mase   float8,
    before_bias   float8,
    after_as_of   date,
    after_n       int,
    after_wape    float8,
    after_mase    float8,
    after_bias    float8,
    refit_error   text
);
COMMENT ON TABLE retailiq.forecast_refit IS
    'series refitted ahead of the schedule because their forecasts drifted, with the accuracy before and after';
CREATE INDEX forecast_refit_series ON retailiq.forecast_refit (source, series, as_of);
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_refit', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_refit_id_seq', '');
REVOKE ALL ON retailiq.forecast_refit FROM PUBLIC;
GRANT SELECT ON retailiq.forecast_refit TO PUBLIC;

-- Refits some series of a source with its method on all their rows, saves the model as
-- refit:<source>, and replaces their forecasts from the new first period on in
-- forecast_result (under forecast:<source>, so the next nightly refresh replaces them in
-- turn), over as many steps as their current forecasts (at least 2). Returns the model's
-- version, NULL when the series have no rows.
CREATE FUNCTION retailiq_internal.forecast_refit_series(src retailiq.sales_source, only_series text[])
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    trainer text := (SELECT fm.trainer FROM retailiq.forecast_methods fm WHERE fm.name = src.method);
    with_x boolean := cardinality(src.exog_columns) > 0
                      AND (SELECT fm.factors FROM retailiq.forecast_methods fm WHERE fm.name = src.method);
    fit_options jsonb := retailiq_internal.sales_source_options(src.options);
    v_level float8 := coalesce((fit_options ->> 'level')::float8, 0.8);
    v_clamp boolean := NOT coalesce((fit_options ->> 'allow_negative')::boolean, false);
    v_name text := 'forecast:' || src.name;
    v_model retailiq.model;
    v_version int;
    v_steps int;
    v_grain text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_forecasts'), hashtext(src.name));
    -- Alone, a series sold every third day looks like a series of a 3-day frequency (the
    -- whole source's fit sees the daily dates of the others): fill its periods without sales
    -- with 0 at the grain its forecasts were issued at, as the fit would. Factors are not
    -- made up: a source with factors gives its rows as they are.
    SELECT min(i.grain) INTO v_grain FROM retailiq.forecast_issued i
     WHERE i.source = src.name AND i.series = ANY (only_series);
    EXECUTE format($q$
        WITH r AS (SELECT * FROM (%2$s) q WHERE q.s = ANY ($3) AND ($4::int IS NULL OR q.d > $5::date - $4)),
             b AS (SELECT r.s, min(r.d) AS lo, max(r.d) AS hi FROM r GROUP BY r.s)
        SELECT %1$s FROM (%3$s) f$q$,
                   CASE WHEN trainer = 'forecast_fit' THEN 'retailiq.forecast_fit(s, d, y, $1, $2)'
                        ELSE format('retailiq.%I(s, d, y, %s, $2)', trainer,
                                    CASE WHEN with_x THEN 'x' ELSE 'NULL::float8[]' END) END,
                   retailiq_internal.sales_source_query(src, with_x),
                   CASE WHEN with_x OR v_grain IS NULL THEN 'SELECT * FROM r'
                        ELSE 'SELECT b.s, k.d::date AS d, coalesce(r.y, 0) AS y
                                FROM b CROSS JOIN LATERAL generate_series(b.lo, b.hi, $6::interval) k(d)
                                LEFT JOIN r ON r.s = b.s AND r.d = k.d::date' END)
      INTO v_model
      USING src.method, fit_options, only_series, (src.options ->> 'history_days')::int,
            retailiq_internal.sales_source_last_date(src),
            CASE v_grain WHEN 'day' THEN interval '1 day' WHEN 'week' THEN interval '7 days' ELSE interval '1 month' END;
    IF v_model IS NULL THEN
        RETURN NULL;
    END IF;
    v_version := retailiq.save_model('refit:' || src.name, v_model);
    SELECT greatest(coalesce(max(r.horizon), 28), 2) INTO v_steps
      FROM retailiq.forecast_result r WHERE r.model_name = v_name AND r.series = ANY (only_series);
    CREATE TEMP TABLE IF NOT EXISTS riq_refit_forecast (series text, step int, ts date, yhat float8,
                                                        yhat_lower float8, yhat_upper float8) ON COMMIT DROP;
    TRUNCATE riq_refit_forecast;
    INSERT INTO riq_refit_forecast
    SELECT q.series, q.step, q.ts, q.yhat, q.yhat_lower, q.yhat_upper
      FROM retailiq.forecast_all(v_model, v_steps,
                                 CASE WHEN with_x THEN retailiq_internal.sales_source_future_exog(src, v_model, v_steps, NULL) END) q;
    v_grain := (SELECT retailiq_internal.forecast_grain(min(t.ts), min(t.ts) FILTER (WHERE t.step = 2))
                  FROM riq_refit_forecast t WHERE t.series = (SELECT min(u.series) FROM riq_refit_forecast u));
    -- (the grain of the new forecasts, from their own first two steps)
    DELETE FROM retailiq.forecast_result r
     USING (SELECT t.series, min(t.ts) AS first FROM riq_refit_forecast t GROUP BY t.series) n
     WHERE r.model_name = v_name AND r.series = n.series AND r.period_start >= n.first;
    INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, grain, horizon, yhat,
                                          yhat_lower, yhat_upper, interval_level, model_name, model_version)
    SELECT t.series, k.store_id, k.product_id, t.ts, v_grain, t.step,
           CASE WHEN v_clamp THEN greatest(t.yhat, 0) ELSE t.yhat END, t.yhat_lower,
           CASE WHEN v_clamp THEN greatest(t.yhat_upper, 0) ELSE t.yhat_upper END,
           v_level, v_name, NULL
      FROM riq_refit_forecast t
      LEFT JOIN LATERAL (SELECT i.store_id, i.product_id FROM retailiq.forecast_issued i
                          WHERE i.source = src.name AND i.series = t.series
                          ORDER BY i.issued_at DESC LIMIT 1) k ON true;
    PERFORM retailiq_internal.forecast_issued_record(src.name, (SELECT min(t.ts) FROM riq_refit_forecast t));
    RETURN v_version;
END
$$;

-- The nightly health check of one source (or every source): fills in the accuracy after
-- earlier refits (those of the last health_history_days), raises a forecast_drift alert for each drifting series (resolving it when
-- the series is healthy again), and refits the drifting series ahead of the schedule (unless
-- refit is false, or the series was refitted within the window, whose forecasts are then
-- still partly the old ones). Needs EXECUTE on retailiq.raise_alert and
-- retailiq_internal.alert_resolve_subject, as retailiq.check_sales_shortfall does (a job of
-- the extension's owner has it). Returns the drifting series and those resolved.
CREATE FUNCTION retailiq.check_forecast_health(source text DEFAULT NULL, window_days int DEFAULT 28,
                                               refit boolean DEFAULT true, as_of date DEFAULT NULL)
RETURNS TABLE (source_name text, series text, store_id bigint, product_id bigint, status text,
               bias float8, wape float8, alert_id bigint, refit_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source;
    d date;
    h record;
    r record;
    v_version int;
    v_error text;
    drifting text[];
BEGIN
    IF refit IS NULL THEN
        RAISE EXCEPTION 'refit must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF source IS NOT NULL THEN
        PERFORM retailiq_internal.sales_source_named(source);
    END IF;
    FOR src IN SELECT * FROM retailiq.sales_source s
                WHERE check_forecast_health.source IS NULL OR s.name = check_forecast_health.source
                ORDER BY s.name LOOP
        d := coalesce(as_of, retailiq_internal.sales_source_last_date(src));
        CONTINUE WHEN d IS NULL;
        -- the accuracy after earlier refits: the periods after the refit's as_of
        FOR r IN SELECT f.* FROM retailiq.forecast_refit f
                  WHERE f.source = src.name AND f.as_of < d
                    AND f.as_of >= d - retailiq_internal.planning_threshold(src.name, 'health_history_days')::int LOOP
            SELECT h2.n AS n, CASE WHEN h2.actual > 0 THEN h2.abs_error / h2.actual END AS wape, h2.mase AS mase,
                   CASE WHEN h2.actual > 0 THEN (h2.forecast - h2.actual) / h2.actual END AS bias
              INTO h
              FROM retailiq_internal.forecast_health_rows(src, r.as_of + 1, d,
                       retailiq_internal.planning_threshold(src.name, 'health_horizon')::int, ARRAY[r.series]) h2;
            IF h.n IS NOT NULL THEN
                UPDATE retailiq.forecast_refit f
                   SET after_as_of = d, after_n = h.n, after_wape = h.wape, after_mase = h.mase, after_bias = h.bias
                 WHERE f.id = r.id;
            END IF;
        END LOOP;
        drifting := '{}';
        FOR h IN SELECT * FROM retailiq.forecast_health(src.name, window_days, d) x ORDER BY x.series LOOP
            source_name := src.name; series := h.series; store_id := h.store_id; product_id := h.product_id;
            status := h.status; bias := h.bias; wape := h.wape; refit_id := NULL;
            IF h.status = 'drift' THEN
                alert_id := retailiq.raise_alert(
                    'forecast_drift', jsonb_build_object('source', src.name, 'series', h.series),
                    CASE WHEN abs(h.bias) >= 2 * h.threshold THEN 'critical' ELSE 'warning' END::retailiq.alert_severity,
                    format('forecasts of %s (source %s) ran %s%% %s what sold over the %s days to %s (%s periods, WAPE %s)',
                           h.series, src.name, round(abs(h.bias)::numeric * 100, 1),
                           CASE WHEN h.bias > 0 THEN 'above' ELSE 'below' END, window_days, d, h.n,
                           round(h.wape::numeric, 3)),
                    abs(h.bias), h.threshold, 'operator');
                IF refit AND NOT EXISTS (SELECT FROM retailiq.forecast_refit f
                                          WHERE f.source = src.name AND f.series = h.series
                                            AND f.as_of > d - window_days) THEN
                    drifting := drifting || h.series;
                    INSERT INTO retailiq.forecast_refit AS f (source, series, store_id, product_id, as_of, method,
                                                             model_name, alert_id, before_n, before_wape,
                                                             before_mase, before_bias)
                    VALUES (src.name, h.series, h.store_id, h.product_id, d, src.method, 'refit:' || src.name,
                            alert_id, h.n, h.wape, h.mase, h.bias)
                    RETURNING f.id INTO refit_id;
                END IF;
                RETURN NEXT;
            ELSIF h.status = 'ok' THEN
                alert_id := retailiq_internal.alert_resolve_subject(
                    'forecast_drift', jsonb_build_object('source', src.name, 'series', h.series));
                IF alert_id IS NOT NULL THEN
                    RETURN NEXT;
                END IF;
            END IF;
        END LOOP;
        IF cardinality(drifting) > 0 THEN
            -- a refit that fails leaves the alerts and its reason, not an aborted check
            BEGIN
                v_version := retailiq_internal.forecast_refit_series(src, drifting);
                UPDATE retailiq.forecast_refit f SET model_version = v_version
                 WHERE f.source = src.name AND f.series = ANY (drifting) AND f.as_of = d AND f.model_version IS NULL;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
                UPDATE retailiq.forecast_refit f SET refit_error = v_error
                 WHERE f.source = src.name AND f.series = ANY (drifting) AND f.as_of = d AND f.model_version IS NULL;
                RAISE WARNING 'the early refit of % series of sales source "%" failed: %', cardinality(drifting), src.name, v_error
                    USING HINT = 'retailiq.forecast_refit keeps the error; the nightly refresh refits them as usual.';
            END;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION retailiq.check_forecast_health(text, int, boolean, date) IS
    'forecast_drift alerts for series whose forecasts drift beyond health_threshold, early refits of them, and the accuracy after earlier refits';
