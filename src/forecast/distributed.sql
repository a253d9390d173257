-- forecast_fit over a distributed sales table (issue 19, doc/distributed.md): each group of
-- series (a store's, on the worker holding it) is fitted where its rows are, and the groups'
-- fits are written into the one model forecast_fit writes over all the rows
-- (src/forecast/fit_merge.c). refresh_forecasts takes this path by itself on Citus.

CREATE FUNCTION retailiq_internal.forecast_fit_part_accum(internal, text, date, float8, text, jsonb, retailiq.model)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_part_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_fit_part_accum(internal, text, date, float8, text, jsonb, retailiq.model) IS
    'aggregate transition function';
CREATE FUNCTION retailiq_internal.forecast_fit_part_final(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'forecast_fit_part_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_fit_part_final(internal) IS 'aggregate final function';
-- forecast_fit's fits of the group's series, not yet a model: merged by forecast_fit_merge.
-- warm is the model options.warm_start names (on a worker, retailiq.models is not the
-- coordinator's, so the caller reads it and passes it in); NULL reads it by name.
CREATE AGGREGATE retailiq_internal.forecast_fit_part(series text, ts date, y float8, method text,
                                                     options jsonb, warm retailiq.model) (
    SFUNC = retailiq_internal.forecast_fit_part_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_fit_part_final);
COMMENT ON AGGREGATE retailiq_internal.forecast_fit_part(text, date, float8, text, jsonb, retailiq.model) IS
    'forecast_fit''s per-series fits of a group of series, for forecast_fit_merge';

CREATE FUNCTION retailiq_internal.forecast_fit_merge(parts bytea[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_fit_merge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_fit_merge(bytea[]) IS
    'the forecast_fit model of the series of forecast_fit_part values with disjoint series';

-- Is the relation (or a relation a view reads) a hash-distributed Citus table? false
-- without Citus.
CREATE FUNCTION retailiq_internal.relation_is_distributed(rel regclass) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE $q$SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
                  WHERE p.partmethod = 'h'
                    AND (p.logicalrelid = $1
                         OR p.logicalrelid IN (SELECT d.refobjid FROM pg_catalog.pg_depend d
                                                 JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid
                                                WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass
                                                  AND w.ev_class = $1)))$q$
      INTO b USING rel;
    RETURN b;
END
$$;

-- The fit of refresh_forecasts on a source over a distributed table: used is false (and
-- model NULL) when the source does not take this path: no Citus, no store column, a
-- relation that is not distributed, a method whose trainer is not forecast_fit (the LSTM and
-- the regression are one model over all series), or a series whose rows are in more than
-- one store (the fit then reads the rows as on one node, after a NOTICE). Otherwise the
-- rows are grouped by the store column, which Citus pushes down when it is the
-- distribution column: each worker fits its stores' series, one part per store comes back,
-- and the parts are merged into the model the one-node fit writes (same options, same
-- warm start, same history_days cut).
CREATE FUNCTION retailiq_internal.sales_source_fit_by_store(src retailiq.sales_source, fit_options jsonb,
                                                            OUT used boolean, OUT model retailiq.model)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fit_method text := retailiq_internal.forecast_fit_method(src.method, cardinality(src.exog_columns) > 0);
    v_warm retailiq.model;
    v_version jsonb := fit_options #> '{warm_start,version}';
    v_max date;
    v_rows text;
BEGIN
    used := false;
    IF src.store_column IS NULL
       OR (SELECT fm.trainer FROM retailiq.forecast_methods fm WHERE fm.name = fit_method) IS DISTINCT FROM 'forecast_fit'
       OR NOT retailiq_internal.relation_is_distributed(src.relation) THEN
        RETURN;
    END IF;
    -- the warm start's model, read here as the caller (a worker's retailiq.models is not
    -- this one); not found, the part reads it by name and fails as the one-node fit does
    IF jsonb_typeof(fit_options -> 'warm_start') = 'object' THEN
        SELECT m.model INTO v_warm
          FROM retailiq.models m
         WHERE m.name = fit_options #>> '{warm_start,model}'
           AND (v_version IS NULL OR jsonb_typeof(v_version) <> 'number' OR m.version = (v_version #>> '{}')::numeric)
         ORDER BY m.version DESC LIMIT 1;
    END IF;
    v_rows := format('SELECT %1$I AS st, %2$I::text AS s, %3$I::date AS d, %4$I::float8 AS y FROM %5$s'
                     ' WHERE %2$I IS NOT NULL AND %3$I IS NOT NULL AND %4$I IS NOT NULL',
                     src.store_column, src.series_column, src.date_column, src.value_column,
                     src.relation::text);
    IF src.options ? 'history_days' THEN
        -- the one-node fit keeps the rows after the latest date of all series less history_days
        EXECUTE format('SELECT max(r.d) FROM (%s) r', v_rows) INTO v_max;
        v_rows := format('SELECT * FROM (%s) r WHERE r.d > %L::date - %s', v_rows, v_max,
                         (src.options ->> 'history_days')::int);
    END IF;
    BEGIN
        EXECUTE format('SELECT retailiq_internal.forecast_fit_merge(array_agg(p.part)) FROM ('
                       'SELECT r.st, retailiq_internal.forecast_fit_part(r.s, r.d, r.y, $1, $2, $3) AS part'
                       '  FROM (%s) r GROUP BY r.st) p', v_rows)
          INTO model
          USING src.method, fit_options || '{"duplicates": "sum"}'::jsonb, v_warm;
    EXCEPTION WHEN invalid_parameter_value THEN
        IF SQLERRM NOT LIKE 'forecast_fit_merge:%' THEN
            RAISE;
        END IF;
        -- a series in two stores' parts (or parts of different frequencies): not split
        -- by store: the one-node fit reads the rows.
        RAISE NOTICE 'sales source "%": %; fitting all its rows together', src.name, SQLERRM;
        model := NULL;
        RETURN;
    END;
    used := true;
END
$$;
