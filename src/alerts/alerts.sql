-- alerts: the alert store (one active alert per kind and subject, NOTIFY on commit), the
-- stock trigger retailiq.stock_alert() (C), safety stock from forecasts, and the sales
-- shortfall check.

CREATE TYPE retailiq.alert_severity AS ENUM ('info', 'warning', 'critical');
COMMENT ON TYPE retailiq.alert_severity IS 'alert severity, ordered: info < warning < critical';

CREATE TABLE retailiq.alert (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    severity        retailiq.alert_severity NOT NULL,
    subject         jsonb       NOT NULL CHECK (jsonb_typeof(subject) = 'object'),
    message         text        NOT NULL,
    measured        float8,
    threshold       float8,
    audience        text        NOT NULL,
    status          text        NOT NULL DEFAULT 'open'
                                CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    count           bigint      NOT NULL DEFAULT 1 CHECK (count >= 1),
    acknowledged_by name,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    CHECK ((status = 'acknowledged') = (acknowledged_at IS NOT NULL) OR status = 'resolved'),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
COMMENT ON TABLE retailiq.alert IS
    'alerts raised by retailiq (stock trigger, sales checks, jobs): at most one active alert per kind and subject';
-- The de-duplication key: one active (open or acknowledged) alert per kind and subject.
-- Concurrent raisers meet on this index, so two sessions can never both insert.
CREATE UNIQUE INDEX alert_active_key ON retailiq.alert (kind, subject) WHERE status <> 'resolved';
CREATE INDEX alert_created_at ON retailiq.alert (created_at);
SELECT pg_catalog.pg_extension_config_dump('retailiq.alert', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.alert_id_seq', '');
-- Readable by everyone, written only through the functions below (SECURITY DEFINER).
REVOKE ALL ON retailiq.alert FROM PUBLIC;
GRANT SELECT ON retailiq.alert TO PUBLIC;

-- The role the caller acts as outside any SECURITY DEFINER function (who acknowledged).
CREATE FUNCTION retailiq_internal.alert_invoker() RETURNS name
    AS 'MODULE_PATHNAME', 'alert_invoker' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- The standard normal quantile (Wichura's AS 241, about 16 significant digits).
CREATE FUNCTION retailiq.normal_quantile(p float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'alert_normal_quantile' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.normal_quantile(float8) IS 'standard normal quantile (inverse CDF), p in (0, 1)';

-- NOTIFY retailiq_alert with a compact JSON payload (delivered on commit, like any NOTIFY).
CREATE FUNCTION retailiq_internal.alert_notify(a retailiq.alert, event text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    payload text;
BEGIN
    payload := jsonb_build_object('id', a.id, 'event', event, 'kind', a.kind,
                                  'severity', a.severity, 'status', a.status,
                                  'subject', a.subject, 'count', a.count,
                                  'measured', a.measured, 'threshold', a.threshold,
                                  'audience', a.audience)::text;
    IF octet_length(payload) > 7900 THEN   -- NOTIFY payloads stop at 8000 bytes
        payload := jsonb_build_object('id', a.id, 'event', event, 'kind', a.kind,
                                      'severity', a.severity, 'status', a.status,
                                      'count', a.count, 'subject_omitted', true)::text;
    END IF;
    PERFORM pg_notify('retailiq_alert', payload);
END
$$;
REVOKE ALL ON FUNCTION retailiq_internal.alert_notify(retailiq.alert, text) FROM PUBLIC;

-- Raises an alert, or repeats the active one for the same kind and subject: a repeat adds to
-- count, moves last_seen and the measured value; a repeat of higher severity escalates (and
-- reopens an acknowledged alert). New and escalated alerts are notified. Returns the id.
CREATE FUNCTION retailiq.raise_alert(kind text, subject jsonb, severity retailiq.alert_severity,
                                     message text, measured float8 DEFAULT NULL,
                                     threshold float8 DEFAULT NULL, audience text DEFAULT 'operator')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    a retailiq.alert;
    tries int := 0;
BEGIN
    IF kind IS NULL OR subject IS NULL OR severity IS NULL OR message IS NULL OR audience IS NULL THEN
        RAISE EXCEPTION 'kind, subject, severity, message and audience of an alert must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the subject as a JSON object of the keys naming what the alert is about.';
    END IF;
    IF kind !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'alert kind "%" is not a lower-case identifier', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a word such as low_stock or sales_shortfall.';
    END IF;
    IF jsonb_typeof(subject) <> 'object' OR octet_length(subject::text) > 2000 THEN
        RAISE EXCEPTION 'alert subject must be a JSON object of at most 2000 bytes'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The subject is a JSON %s of %s bytes.', jsonb_typeof(subject),
                                  octet_length(subject::text)),
                  HINT = 'Name the item by its keys, e.g. {"store_id": 7, "product_id": 42}.';
    END IF;
    IF measured IN ('NaN', 'Infinity', '-Infinity') OR threshold IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'measured value and threshold of an alert must be finite'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL when there is no value.';
    END IF;
    LOOP
        -- the active alert, locked: a concurrent acknowledge, resolve or repeat waits for us
        SELECT * INTO a FROM retailiq.alert t
         WHERE t.kind = raise_alert.kind AND t.subject = raise_alert.subject AND t.status <> 'resolved'
           FOR UPDATE;
        IF FOUND THEN
            UPDATE retailiq.alert t
               SET count = t.count + 1, last_seen = now(),
                   measured = raise_alert.measured, threshold = raise_alert.threshold,
                   message = raise_alert.message,
                   severity = greatest(t.severity, raise_alert.severity),
                   status = CASE WHEN raise_alert.severity > t.severity THEN 'open' ELSE t.status END,
                   acknowledged_by = CASE WHEN raise_alert.severity > t.severity THEN NULL ELSE t.acknowledged_by END,
                   acknowledged_at = CASE WHEN raise_alert.severity > t.severity THEN NULL ELSE t.acknowledged_at END
             WHERE t.id = a.id;
            IF raise_alert.severity > a.severity THEN
                SELECT * INTO a FROM retailiq.alert t WHERE t.id = a.id;
                PERFORM retailiq_internal.alert_notify(a, 'escalated');
            END IF;
            RETURN a.id;
        END IF;
        -- none active: insert; if a concurrent session inserted first, we wait for it to
        -- commit, find nothing inserted, and go round to repeat its alert
        INSERT INTO retailiq.alert AS t (kind, severity, subject, message, measured, threshold, audience)
        VALUES (raise_alert.kind, raise_alert.severity, raise_alert.subject, raise_alert.message,
                raise_alert.measured, raise_alert.threshold, raise_alert.audience)
        ON CONFLICT (kind, subject) WHERE status <> 'resolved' DO NOTHING
        RETURNING * INTO a;
        IF a.id IS NOT NULL THEN
            PERFORM retailiq_internal.alert_notify(a, 'new');
            RETURN a.id;
        END IF;
        tries := tries + 1;
        IF tries > 100 THEN
            RAISE EXCEPTION 'could not raise alert % for % after 100 attempts', kind, subject
                USING ERRCODE = 'lock_not_available';
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION retailiq.raise_alert(text, jsonb, retailiq.alert_severity, text, float8, float8, text) FROM PUBLIC;

-- Resolves the active alert of a kind and subject, if any (the stock trigger on recovery).
CREATE FUNCTION retailiq_internal.alert_resolve_subject(kind text, subject jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a retailiq.alert;
BEGIN
    UPDATE retailiq.alert t SET status = 'resolved', resolved_at = now()
     WHERE t.kind = alert_resolve_subject.kind AND t.subject = alert_resolve_subject.subject
       AND t.status <> 'resolved'
    RETURNING * INTO a;
    IF a.id IS NOT NULL THEN
        PERFORM retailiq_internal.alert_notify(a, 'resolved');
    END IF;
    RETURN a.id;
END
$$;
REVOKE ALL ON FUNCTION retailiq_internal.alert_resolve_subject(text, jsonb) FROM PUBLIC;

-- Shared by acknowledge_alert and resolve_alert: moves one alert to a new status.
CREATE FUNCTION retailiq_internal.alert_set_status(alert_id bigint, new_status text) RETURNS retailiq.alert
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a retailiq.alert;
BEGIN
    IF alert_id IS NULL THEN
        RAISE EXCEPTION 'alert_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'retailiq.alert lists the alerts and their ids.';
    END IF;
    SELECT * INTO a FROM retailiq.alert t WHERE t.id = alert_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'alert % does not exist', alert_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.alert lists the alerts and their ids.';
    END IF;
    IF a.status = 'resolved' THEN
        IF new_status = 'resolved' THEN
            RETURN a;           -- resolving twice is harmless
        END IF;
        RAISE EXCEPTION 'alert % is already resolved', alert_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A new occurrence raises a new alert.';
    END IF;
    IF new_status = 'acknowledged' THEN
        IF a.status = 'open' THEN
            UPDATE retailiq.alert t
               SET status = 'acknowledged', acknowledged_by = retailiq_internal.alert_invoker(),
                   acknowledged_at = now()
             WHERE t.id = alert_id RETURNING * INTO a;
        END IF;
    ELSE
        UPDATE retailiq.alert t SET status = 'resolved', resolved_at = now()
         WHERE t.id = alert_id RETURNING * INTO a;
    END IF;
    RETURN a;
END
$$;
REVOKE ALL ON FUNCTION retailiq_internal.alert_set_status(bigint, text) FROM PUBLIC;

-- Acknowledges an open alert (someone is on it): it stays active, so repeats still count,
-- but only an escalation notifies again. Returns the alert as it now is.
CREATE FUNCTION retailiq.acknowledge_alert(alert_id bigint) RETURNS retailiq.alert
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT retailiq_internal.alert_set_status(alert_id, 'acknowledged') $$;
REVOKE ALL ON FUNCTION retailiq.acknowledge_alert(bigint) FROM PUBLIC;

-- Resolves an alert by hand; the next occurrence raises a new one.
CREATE FUNCTION retailiq.resolve_alert(alert_id bigint) RETURNS retailiq.alert
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT retailiq_internal.alert_set_status(alert_id, 'resolved') $$;
REVOKE ALL ON FUNCTION retailiq.resolve_alert(bigint) FROM PUBLIC;

-- Safety stock of a series from its forecasts over a lead time (doc/alerts.md has the
-- formula). Each day of [as_of, as_of + lead_time_days) takes the newest forecast whose
-- period covers it; a period's mean and variance are spread evenly over its days. A
-- forecast's mean and variance are read from its point and prediction interval by
-- retailiq_internal.replenishment_moments, as the replenishment plan reads them: a Normal
-- for a symmetric (or zero-clipped) interval, the log-normal through the bounds for one
-- skewed to the right, Poisson (variance = mean) without one. Days without a forecast take
-- the mean of the days with one; no forecast at all gives no row.
CREATE FUNCTION retailiq.safety_stock(series text, lead_time_days int DEFAULT 2,
                                      service_level float8 DEFAULT 0.95,
                                      as_of date DEFAULT current_date)
RETURNS TABLE (lead_time_demand float8, demand_sd float8, safety_stock float8,
               safe_level float8, days_covered int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF series IS NULL OR lead_time_days IS NULL OR service_level IS NULL OR as_of IS NULL THEN
        RAISE EXCEPTION 'series, lead_time_days, service_level and as_of must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lead_time_days < 1 OR lead_time_days > 366 THEN
        RAISE EXCEPTION 'lead_time_days must be between 1 and 366'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('lead_time_days is %s.', lead_time_days),
                  HINT = 'Pass the days between ordering and delivery.';
    END IF;
    IF NOT (service_level >= 0.5 AND service_level < 1) THEN
        RAISE EXCEPTION 'service_level must be at least 0.5 and below 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('service_level is %s.', service_level),
                  HINT = 'Pass the probability of not running out during the lead time, e.g. 0.95.';
    END IF;
    RETURN QUERY
    WITH days AS (
        SELECT (as_of + i)::date AS day FROM generate_series(0, lead_time_days - 1) i
    ), per_day AS (
        SELECT d.day, mv.mean / f.ndays AS mu, mv.var / f.ndays AS var
          FROM days d
          CROSS JOIN LATERAL (
              SELECT r.yhat, r.yhat_lower, r.yhat_upper, r.interval_level,
                     ((r.period_start + CASE r.grain WHEN 'day' THEN interval '1 day'
                                                     WHEN 'week' THEN interval '1 week'
                                                     ELSE interval '1 month' END)::date
                      - r.period_start)::float8 AS ndays
                FROM retailiq.forecast_result r
               WHERE r.series = $1
                 AND r.period_start <= d.day
                 AND r.period_start > d.day - 31
                 AND d.day < (r.period_start + CASE r.grain WHEN 'day' THEN interval '1 day'
                                                            WHEN 'week' THEN interval '1 week'
                                                            ELSE interval '1 month' END)::date
               ORDER BY r.created_at DESC, r.grain, r.model_name
               LIMIT 1) f
          CROSS JOIN LATERAL retailiq_internal.replenishment_moments(f.yhat, f.yhat_lower, f.yhat_upper,
                                                                      f.interval_level) mv
    ), agg AS (
        SELECT avg(mu) * lead_time_days AS dl, sqrt(avg(var) * lead_time_days) AS sd,
               count(*)::int AS n
          FROM per_day
    )
    SELECT agg.dl, agg.sd, retailiq.normal_quantile(service_level) * agg.sd,
           agg.dl + retailiq.normal_quantile(service_level) * agg.sd, agg.n
      FROM agg WHERE agg.n > 0;
END
$$;

-- The stock trigger (C): see doc/alerts.md for its arguments.
CREATE FUNCTION retailiq.stock_alert() RETURNS trigger
    AS 'MODULE_PATHNAME', 'stock_alert' LANGUAGE C;
COMMENT ON FUNCTION retailiq.stock_alert() IS
    'trigger: low_stock alert when stock crosses below a threshold, resolved on recovery; arguments key columns, quantity column, threshold';

-- Compares actual sales with the forecasts of periods that ended in [since, until) and
-- raises sales_shortfall / sales_overshoot alerts where they differ by more than threshold.
-- actuals: a table or view with a series column (text, matching forecast_result.series), a
-- day column and a sales column; days without a row count as zero sales.
CREATE FUNCTION retailiq.check_sales_shortfall(threshold float8 DEFAULT 0.10,
                                               actuals regclass DEFAULT NULL,
                                               series_col name DEFAULT 'series',
                                               day_col name DEFAULT 'day',
                                               value_col name DEFAULT 'units',
                                               since date DEFAULT current_date - 7,
                                               until date DEFAULT current_date,
                                               model_name text DEFAULT NULL)
RETURNS TABLE (alert_id bigint, kind text, severity retailiq.alert_severity, series text,
               period_start date, grain text, actual float8, forecast float8, deviation float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    q text;
BEGIN
    IF threshold IS NULL OR actuals IS NULL OR series_col IS NULL OR day_col IS NULL
       OR value_col IS NULL OR since IS NULL OR until IS NULL THEN
        RAISE EXCEPTION 'threshold, actuals, column names, since and until must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass actuals => a table or view of sales by series and day.';
    END IF;
    IF NOT (threshold > 0 AND threshold <= 10) THEN
        RAISE EXCEPTION 'threshold must be above 0 and at most 10'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('threshold is %s.', threshold),
                  HINT = 'Pass the relative difference that matters, e.g. 0.10 for 10%.';
    END IF;
    IF since > until THEN
        RAISE EXCEPTION 'since must not be after until'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('since is %s, until is %s.', since, until);
    END IF;
    FOR r IN SELECT * FROM (VALUES ('series_col', series_col), ('day_col', day_col),
                                   ('value_col', value_col)) v(arg, col) LOOP
        PERFORM FROM pg_attribute a
          WHERE a.attrelid = actuals AND a.attname = r.col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION '% "%" is not a column of %', r.arg, r.col, actuals
                USING ERRCODE = 'undefined_column',
                      HINT = 'Name the columns of actuals holding the series, the day and the units sold.';
        END IF;
    END LOOP;
    q := format($q$
        WITH f AS (
            SELECT DISTINCT ON (r.series, r.grain, r.period_start)
                   r.series, r.grain, r.period_start, r.yhat,
                   (r.period_start + CASE r.grain WHEN 'day' THEN interval '1 day'
                                                  WHEN 'week' THEN interval '1 week'
                                                  ELSE interval '1 month' END)::date AS period_end
              FROM retailiq.forecast_result r
             WHERE r.period_start >= $1 AND r.period_start < $2
               AND ($3::text IS NULL OR r.model_name = $3)
             ORDER BY r.series, r.grain, r.period_start, r.created_at DESC, r.model_name
        ), a AS (
            SELECT %1$I::text AS series, %2$I::date AS day, sum(%3$I)::float8 AS v
              FROM %4$s
             WHERE %2$I >= $1 AND %2$I < $2 AND %1$I::text IN (SELECT series FROM f)
             GROUP BY 1, 2
        )
        SELECT f.series, f.grain, f.period_start, f.period_end, f.yhat,
               coalesce(sum(a.v), 0) AS actual
          FROM f LEFT JOIN a ON a.series = f.series AND a.day >= f.period_start AND a.day < f.period_end
         WHERE f.period_end <= $2 AND f.yhat > 0
         GROUP BY f.series, f.grain, f.period_start, f.period_end, f.yhat
         ORDER BY f.series, f.grain, f.period_start$q$,
        series_col, day_col, value_col, actuals);
    FOR r IN EXECUTE q USING since, until, model_name LOOP
        deviation := (r.actual - r.yhat) / r.yhat;
        IF deviation < -threshold OR deviation > threshold THEN
            kind := CASE WHEN deviation < 0 THEN 'sales_shortfall' ELSE 'sales_overshoot' END;
            severity := CASE WHEN abs(deviation) >= 2 * threshold THEN 'critical' ELSE 'warning' END;
            series := r.series;
            period_start := r.period_start;
            grain := r.grain;
            actual := r.actual;
            forecast := r.yhat;
            alert_id := retailiq.raise_alert(
                kind,
                jsonb_build_object('series', r.series, 'grain', r.grain, 'period_start', r.period_start),
                severity,
                format('sales of %s in the %s from %s were %s, %s%% %s the forecast %s',
                       r.series, r.grain, r.period_start, round(r.actual::numeric, 2),
                       round(abs(deviation)::numeric * 100, 1),
                       CASE WHEN deviation < 0 THEN 'below' ELSE 'above' END,
                       round(r.yhat::numeric, 2)),
                r.actual,
                r.yhat * (1 + sign(deviation) * threshold),
                'operator');
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
