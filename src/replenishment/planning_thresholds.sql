-- replenishment: the thresholds of slow movers and forecast health (issue 24), one table of
-- values by name, for every sales source or for one. Changed only through
-- retailiq.set_planning_threshold, under the two-person rule (a second admin approves a
-- change_forecast_parameters request; superusers excepted) and audited with the value
-- before and after (retailiq_internal.forecast_change_approve, src/privacy/approval.sql).

-- The thresholds, their defaults and their bounds.
CREATE FUNCTION retailiq_internal.planning_threshold_table()
RETURNS TABLE (name text, default_value float8, min_value float8, max_value float8, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('health_threshold', 0.15::float8, 0.01::float8, 10::float8,
            'forecast health: a series drifts when its forecasts over the window total more than this share above or below what sold'),
           ('health_min_points', 4, 1, 1000,
            'forecast health: fewer compared periods than this give status too_few (no alert, no refit)'),
           ('health_horizon', 1, 1, 1000,
            'forecast health: the forecasts compared are those issued this many periods ahead'),
           ('health_history_days', 120, 7, 3660,
            'forecast health: days the issued forecasts are kept after their period'),
           ('slow_window_days', 91, 7, 3660,
            'slow movers: days of sales behind the demand rate, sell-through, ABC and XYZ'),
           ('slow_days_of_cover', 90, 1, 3660,
            'slow movers: stock lasting more days than this at the current rate is slow'),
           ('dead_weeks', 12, 1, 520,
            'slow movers: stock of a product not sold for this many weeks is dead'),
           ('move_below_days', 30, 1, 3660,
            'slow movers: a store where the product has fewer days of cover than this can take stock moved to it'),
           ('abc_a', 0.8, 0.01, 1,
            'ABC: a product is A while the products ranked above it hold less than this share of the store''s revenue'),
           ('abc_b', 0.95, 0.01, 1,
            'ABC: ... B below this share; C after'),
           ('xyz_x', 0.5, 0, 100,
            'XYZ: weekly demand with a coefficient of variation up to this is X'),
           ('xyz_y', 1.0, 0, 100,
            'XYZ: ... up to this Y; Z above (and without sales)')
$$;

CREATE TABLE retailiq.planning_threshold (
    source      text        NOT NULL DEFAULT '',
    name        text        NOT NULL,
    value       float8      NOT NULL CHECK (value > '-Infinity' AND value < 'Infinity'),
    changed_by  name        NOT NULL DEFAULT session_user,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    approval_id bigint,
    PRIMARY KEY (source, name)
);
COMMENT ON TABLE retailiq.planning_threshold IS
    'thresholds of slow movers and forecast health set away from their defaults, for every source ('''') or one; see retailiq.planning_thresholds';
SELECT pg_catalog.pg_extension_config_dump('retailiq.planning_threshold', '');
REVOKE ALL ON retailiq.planning_threshold FROM PUBLIC;
GRANT SELECT ON retailiq.planning_threshold TO PUBLIC;

-- Every threshold with the value in force for a source (NULL: for all sources).
CREATE FUNCTION retailiq.planning_thresholds(source text DEFAULT NULL)
RETURNS TABLE (name text, value float8, default_value float8, set_for text, description text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.name, coalesce(o.value, g.value, d.default_value), d.default_value,
           CASE WHEN o.value IS NOT NULL THEN 'source' WHEN g.value IS NOT NULL THEN 'all sources' ELSE 'default' END,
           d.description
      FROM retailiq_internal.planning_threshold_table() d
      LEFT JOIN retailiq.planning_threshold g ON g.source = '' AND g.name = d.name
      LEFT JOIN retailiq.planning_threshold o ON o.source = planning_thresholds.source AND o.source <> ''
                                            AND o.name = d.name
     ORDER BY d.name
$$;
COMMENT ON FUNCTION retailiq.planning_thresholds(text) IS
    'the thresholds of slow movers and forecast health in force for a source (or all), with defaults';

-- The value of one threshold for a source.
CREATE FUNCTION retailiq_internal.planning_threshold(source text, name text) RETURNS float8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT t.value FROM retailiq.planning_thresholds(source) t WHERE t.name = planning_threshold.name $$;

-- Sets (value) or resets to the default (value NULL) one threshold, for one source or all
-- (source NULL). Approval args: {"change": "threshold", "source": <source or "">,
-- "name": <name>, "value": <value or null>}.
CREATE FUNCTION retailiq.set_planning_threshold(name text, value float8, source text DEFAULT NULL)
RETURNS float8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
    src text := coalesce(source, '');
    old float8;
    got bigint;
BEGIN
    SELECT * INTO d FROM retailiq_internal.planning_threshold_table() t WHERE t.name = set_planning_threshold.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown planning threshold %', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'retailiq.planning_thresholds() lists them.';
    END IF;
    IF value IS NOT NULL AND NOT (value >= d.min_value AND value <= d.max_value) THEN
        RAISE EXCEPTION 'threshold % must be between % and %', name, d.min_value, d.max_value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('value is %s.', value),
                  HINT = 'Pass NULL to go back to the default.';
    END IF;
    IF src <> '' AND NOT EXISTS (SELECT FROM retailiq.sales_source s WHERE s.name = src) THEN
        RAISE EXCEPTION 'sales source "%" is not registered', src
            USING ERRCODE = 'undefined_object',
                  HINT = 'Pass source NULL to set the threshold for every source.';
    END IF;
    SELECT t.value INTO old FROM retailiq.planning_threshold t WHERE t.source = src AND t.name = d.name;
    got := retailiq_internal.forecast_change_approve(
        jsonb_build_object('change', 'threshold', 'source', src, 'name', d.name, 'value', value),
        jsonb_build_object('name', d.name, 'value', old));
    IF value IS NULL THEN
        DELETE FROM retailiq.planning_threshold t WHERE t.source = src AND t.name = d.name;
    ELSE
        INSERT INTO retailiq.planning_threshold AS t (source, name, value, approval_id)
        VALUES (src, d.name, value, got)
        ON CONFLICT ON CONSTRAINT planning_threshold_pkey DO UPDATE
           SET value = excluded.value, changed_by = session_user, changed_at = now(), approval_id = got;
    END IF;
    RETURN retailiq_internal.planning_threshold(nullif(src, ''), d.name);
END
$$;
COMMENT ON FUNCTION retailiq.set_planning_threshold(text, float8, text) IS
    'sets (or with NULL resets) a threshold of slow movers or forecast health; needs a second admin''s approval';
