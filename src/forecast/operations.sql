-- forecast operations: registered sales sources, the nightly refresh that writes
-- retailiq.forecast_result, and rolling-origin backtests (doc/forecast-operations.md). A
-- sales source's relation and columns live in the core source registry (retailiq.source,
-- src/core/source.sql), like every other table the analytics read.
--
-- Everything here is SQL over the forecasting values (forecast_fit, forecast_all, the
-- accuracy aggregates): SECURITY INVOKER, so a source is read with the caller's rights, and
-- search_path pinned, so relation names print schema-qualified into the dynamic SQL and no
-- object of the caller's schemas can stand in for ours. Identifiers are quoted with %I;
-- values travel as parameters.

-- Methods a source may name: every entry of the method table (retailiq.forecast_methods).
CREATE FUNCTION retailiq_internal.forecast_methods() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT array_agg(m.name) FROM retailiq_internal.forecast_method_table() m $$;

-- Option keys that belong to the operations layer; every other key goes to the fit.
CREATE FUNCTION retailiq_internal.sales_source_ops_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['max_model_age', 'history_days', 'steps', 'keep_days'] $$;

-- A sales source is a row of the core source registry (retailiq.source, role sales: the
-- relation and its series, date, value and factor columns) and a row here: what the refresh
-- does with it and what it did last. retailiq.sales_source shows the two as one.
CREATE TABLE retailiq.sales_source_state (
    role              text        NOT NULL DEFAULT 'sales' CHECK (role = 'sales'),
    name              text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    method            text        NOT NULL DEFAULT 'auto'
                                  CHECK (method = ANY (retailiq_internal.forecast_methods())),
    options           jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    min_model_version int         NOT NULL DEFAULT 1 CHECK (min_model_version >= 1),
    last_refreshed_at timestamptz,
    last_model_version int,
    last_model_reused boolean,
    last_rows         bigint,
    FOREIGN KEY (role, name) REFERENCES retailiq.source (role, name) ON DELETE CASCADE
);
COMMENT ON TABLE retailiq.sales_source_state IS
    'per sales source: the forecasting method, options and the last refresh (its relation and columns: retailiq.source)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.sales_source_state', '');

CREATE VIEW retailiq.sales_source AS
SELECT st.name, src.relation,
       (src.columns ->> 'series')::name AS series_column,
       (src.columns ->> 'date')::name AS date_column,
       (src.columns ->> 'value')::name AS value_column,
       ARRAY(SELECT jsonb_array_elements_text(src.columns -> 'factors'))::name[] AS exog_columns,
       (src.columns ->> 'store')::name AS store_column,
       (src.columns ->> 'product')::name AS product_column,
       st.method, st.options, src.registered_by, src.registered_at, st.min_model_version,
       st.last_refreshed_at, st.last_model_version, st.last_model_reused, st.last_rows
  FROM retailiq.sales_source_state st
  JOIN retailiq.source src ON src.role = st.role AND src.name = st.name;
COMMENT ON VIEW retailiq.sales_source IS
    'sales sources the nightly forecast refreshes: a relation with series, date, quantity and factor columns (from retailiq.source), a method and options';
GRANT SELECT ON retailiq.sales_source TO PUBLIC;

-- Method, options and refresh figures can be updated through the view; the relation and
-- columns change only through register_sales_source, which checks them.
CREATE FUNCTION retailiq_internal.sales_source_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM retailiq.source s WHERE s.role = 'sales' AND s.name = OLD.name;
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.name IS DISTINCT FROM OLD.name OR NEW.relation IS DISTINCT FROM OLD.relation
       OR NEW.series_column IS DISTINCT FROM OLD.series_column
       OR NEW.date_column IS DISTINCT FROM OLD.date_column
       OR NEW.value_column IS DISTINCT FROM OLD.value_column
       OR NEW.exog_columns IS DISTINCT FROM OLD.exog_columns
       OR NEW.registered_by IS DISTINCT FROM OLD.registered_by
       OR NEW.registered_at IS DISTINCT FROM OLD.registered_at THEN
        RAISE EXCEPTION 'the name, relation and columns of a sales source change only by registering it'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Call retailiq.register_sales_source; method, options and the refresh figures can be updated here.';
    END IF;
    UPDATE retailiq.sales_source_state s
       SET method = NEW.method, options = NEW.options, min_model_version = NEW.min_model_version,
           last_refreshed_at = NEW.last_refreshed_at, last_model_version = NEW.last_model_version,
           last_model_reused = NEW.last_model_reused, last_rows = NEW.last_rows
     WHERE s.name = OLD.name;
    RETURN NEW;
END
$$;
CREATE TRIGGER sales_source_write INSTEAD OF INSERT OR UPDATE OR DELETE ON retailiq.sales_source
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.sales_source_write();

-- Checks the operations keys of a source's options; returns the options the fit gets.
CREATE FUNCTION retailiq_internal.sales_source_options(options jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb;
BEGIN
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass e.g. ''{"level": 0.8, "max_model_age": "12 hours"}''; ''{}'' for the defaults.';
    END IF;
    v := options -> 'max_model_age';
    IF v IS NOT NULL THEN
        BEGIN
            IF jsonb_typeof(v) <> 'string' OR (v #>> '{}')::interval < interval '0' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value';
            END IF;
        EXCEPTION WHEN invalid_parameter_value OR invalid_datetime_format OR datetime_field_overflow THEN
            RAISE EXCEPTION 'option max_model_age must be a non-negative interval, e.g. "12 hours"'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('max_model_age is %s.', v),
                      HINT = 'Use "0" to retrain at every refresh; leave it out to reuse a model trained the same day.';
        END;
    END IF;
    FOREACH v IN ARRAY ARRAY[options -> 'history_days', options -> 'keep_days'] LOOP
        IF v IS NOT NULL AND (jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric)
                              OR v::numeric < 1 OR v::numeric > 100000) THEN
            RAISE EXCEPTION 'options history_days and keep_days must be whole numbers of days from 1 to 100000'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('The options are %s.', options),
                      HINT = 'history_days limits the training data to the latest days; keep_days how long past forecasts are kept.';
        END IF;
    END LOOP;
    v := options -> 'steps';
    IF v IS NOT NULL AND v NOT IN ('"all"', '"listed"') THEN
        RAISE EXCEPTION 'option steps must be "all" or "listed"'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('steps is %s.', v),
                  HINT = '"all" writes every step up to the largest horizon (the default), "listed" only the horizons given.';
    END IF;
    RETURN options - retailiq_internal.sales_source_ops_keys();
END
$$;

-- The base type of a column's type (through domains).
CREATE FUNCTION retailiq_internal.column_base_type(rel regclass, col name) RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE t(oid, base, depth) AS (
        SELECT ty.oid, ty.typbasetype, 0
          FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
         WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT ty.oid, ty.typbasetype, t.depth + 1 FROM t JOIN pg_type ty ON ty.oid = t.base
         WHERE t.base <> 0 AND t.depth < 32)
    SELECT oid::regtype FROM t WHERE base = 0
$$;

-- Registers (or redefines) a sales source: checks that the relation and its columns exist
-- with usable types and that the caller may read them. A redefinition restarts the model
-- history: the next refresh trains afresh. Returns the registered row.
CREATE FUNCTION retailiq.register_sales_source(name text, relation regclass, series_column text,
                                               date_column text, value_column text,
                                               exog_columns text[] DEFAULT '{}',
                                               method text DEFAULT 'auto',
                                               options jsonb DEFAULT '{}',
                                               store_column text DEFAULT NULL,
                                               product_column text DEFAULT NULL)
RETURNS retailiq.sales_source
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r retailiq.sales_source;
    c record;
    typ regtype;
    v_columns jsonb;
    numeric_types regtype[] := ARRAY['smallint', 'integer', 'bigint', 'numeric', 'real',
                                     'double precision']::regtype[];
BEGIN
    IF name IS NULL OR relation IS NULL OR series_column IS NULL OR date_column IS NULL
       OR value_column IS NULL OR exog_columns IS NULL OR method IS NULL OR options IS NULL THEN
        RAISE EXCEPTION 'arguments of register_sales_source must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass ''{}'' for no exog_columns and no options.';
    END IF;
    IF name !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'sales source name "%" is not valid', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit, e.g. store_sales.';
    END IF;
    IF NOT method = ANY (retailiq_internal.forecast_methods()) THEN
        RAISE EXCEPTION 'method "%" is not a forecasting method', method
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of ' || array_to_string(retailiq_internal.forecast_methods(), ', ') || '.';
    END IF;
    IF cardinality(exog_columns) > 0
       AND NOT (SELECT m.factors FROM retailiq.forecast_methods m WHERE m.name = method) THEN
        RAISE EXCEPTION 'method % takes no exog_columns', method
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('exog_columns are %s.', exog_columns),
                  HINT = 'Register with a method that takes factors (retailiq.forecast_methods, column factors), or without exog_columns.';
    END IF;
    PERFORM retailiq_internal.sales_source_options(options);
    PERFORM FROM pg_class k WHERE k.oid = relation AND k.relkind IN ('r', 'v', 'm', 'f', 'p');
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a table or view', relation
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Register a table, view, materialized view or foreign table of sales rows.';
    END IF;
    FOR c IN SELECT * FROM (VALUES (1, 'series_column', series_column), (2, 'date_column', date_column),
                                   (3, 'value_column', value_column)) v(o, arg, col)
             UNION ALL
             SELECT 3 + e.i, 'exog_columns', e.col FROM unnest(exog_columns) WITH ORDINALITY e(col, i)
             UNION ALL
             SELECT 10000 + v.o, v.arg, v.col
               FROM (VALUES (1, 'store_column', store_column), (2, 'product_column', product_column)) v(o, arg, col)
              WHERE v.col IS NOT NULL
             ORDER BY 1 LOOP
        IF c.col IS NULL THEN
            RAISE EXCEPTION 'exog_columns must not contain NULL'
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        typ := retailiq_internal.column_base_type(relation, c.col);
        IF typ IS NULL THEN
            RAISE EXCEPTION '% "%" is not a column of %', c.arg, c.col, relation
                USING ERRCODE = 'undefined_column',
                      HINT = 'Column names are matched exactly (case included), as in quote_ident.';
        END IF;
        IF NOT has_column_privilege(relation, c.col::name, 'SELECT') THEN
            RAISE EXCEPTION 'permission denied to read column "%" of %', c.col, relation
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'The refresh reads the source with its caller''s rights: GRANT SELECT on it first.';
        END IF;
        IF (c.arg = 'date_column' AND typ NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype))
           OR (c.arg = 'value_column' AND NOT typ = ANY (numeric_types))
           OR (c.arg = 'exog_columns' AND NOT typ = ANY (numeric_types || 'boolean'::regtype))
           OR (c.arg IN ('store_column', 'product_column')
               AND NOT typ = ANY (ARRAY['smallint', 'integer', 'bigint']::regtype[])) THEN
            RAISE EXCEPTION '% "%" of % is of type %', c.arg, c.col, relation, format_type(typ, NULL)
                USING ERRCODE = 'datatype_mismatch',
                      HINT = CASE c.arg WHEN 'date_column' THEN 'The date column must be a date or a timestamp.'
                                        WHEN 'value_column' THEN 'The value column must be numeric (integer, numeric or floating point).'
                                        WHEN 'store_column' THEN 'The store column must hold integer store ids.'
                                        WHEN 'product_column' THEN 'The product column must hold integer product ids.'
                                        ELSE 'Factor columns must be numeric or boolean.' END;
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT x) FROM unnest(ARRAY[series_column, date_column, value_column] || exog_columns) x)
       <> 3 + cardinality(exog_columns) THEN
        RAISE EXCEPTION 'series, date, value and factor columns must all be different'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name each column once.';
    END IF;
    -- The relation and columns go to the core registry, the rest to the state. Models saved
    -- before this definition are not reused: the refresh reuses only versions from
    -- min_model_version on.
    v_columns := jsonb_strip_nulls(jsonb_build_object('series', series_column, 'date', date_column,
                                                      'value', value_column, 'factors', to_jsonb(exog_columns),
                                                      'store', store_column, 'product', product_column));
    -- the two-person rule and the audit record (src/privacy/approval.sql)
    PERFORM retailiq_internal.sales_source_change('register', name, relation, v_columns, method, options);
    INSERT INTO retailiq.source AS t (role, name, relation, columns)
    VALUES ('sales', name, relation, v_columns)
    ON CONFLICT ON CONSTRAINT source_pkey DO UPDATE
       SET relation = excluded.relation, columns = excluded.columns,
           registered_by = current_user, registered_at = now();
    INSERT INTO retailiq.sales_source_state AS t (name, method, options, min_model_version)
    VALUES (name, method, options,
            (SELECT coalesce(max(m.version), 0) + 1 FROM retailiq.models m
              WHERE m.name = 'forecast:' || register_sales_source.name))
    ON CONFLICT ON CONSTRAINT sales_source_state_pkey DO UPDATE
       SET method = excluded.method, options = excluded.options,
           min_model_version = excluded.min_model_version, last_refreshed_at = NULL,
           last_model_version = NULL, last_model_reused = NULL, last_rows = NULL;
    SELECT * INTO r FROM retailiq.sales_source s WHERE s.name = register_sales_source.name;
    RETURN r;
END
$$;
COMMENT ON FUNCTION retailiq.register_sales_source(text, regclass, text, text, text, text[], text, jsonb, text, text) IS
    'registers (or redefines) a sales source for retailiq.refresh_forecasts';

-- Removes a source; with drop_forecasts also its forecasts and saved models.
CREATE FUNCTION retailiq.unregister_sales_source(name text, drop_forecasts boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR drop_forecasts IS NULL THEN
        RAISE EXCEPTION 'name and drop_forecasts must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- wait for a refresh of this source to finish
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_forecasts'), hashtext(unregister_sales_source.name));
    IF EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'sales' AND s.name = unregister_sales_source.name) THEN
        PERFORM retailiq_internal.sales_source_change('unregister', name, NULL, NULL, NULL, NULL);
    END IF;
    DELETE FROM retailiq.source s WHERE s.role = 'sales' AND s.name = unregister_sales_source.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales source "%" is not registered', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.sales_source lists the registered sources.';
    END IF;
    IF drop_forecasts THEN
        DELETE FROM retailiq.forecast_result r WHERE r.model_name = 'forecast:' || unregister_sales_source.name;
        DELETE FROM retailiq.models m WHERE m.name = 'forecast:' || unregister_sales_source.name;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION retailiq.unregister_sales_source(text, boolean) IS
    'removes a sales source; with drop_forecasts also its forecast_result rows and saved models';

-- The grain of a forecast from the dates of its first two steps.
CREATE FUNCTION retailiq_internal.forecast_grain(first date, second date) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF second - first = 1 THEN
        RETURN 'day';
    ELSIF second - first = 7 THEN
        RETURN 'week';
    ELSIF second - first BETWEEN 28 AND 31 THEN
        RETURN 'month';
    END IF;
    RAISE EXCEPTION 'forecast steps % and % are neither a day, a week nor a month apart', first, second
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Sales sources must be daily, weekly or monthly.';
END
$$;

-- The source's rows summed per series and date (and factors averaged, booleans as 0/1):
-- SELECT s text, d date, y float8[, x float8[]] ... The relation prints schema-qualified
-- (search_path is pinned), identifiers are quoted.
CREATE FUNCTION retailiq_internal.sales_source_query(src retailiq.sales_source, with_exog boolean,
                                             future_rows boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    x text := '';
BEGIN
    PERFORM FROM pg_class k WHERE k.oid = src.relation;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the relation of sales source "%" no longer exists', src.name
            USING ERRCODE = 'undefined_table',
                  HINT = 'Register the source again with retailiq.register_sales_source.';
    END IF;
    IF with_exog AND cardinality(src.exog_columns) > 0 THEN
        SELECT ', ARRAY[' || string_agg(
                   CASE WHEN retailiq_internal.column_base_type(src.relation, e.col) = 'boolean'::regtype
                        THEN format('avg(%I::int)::float8', e.col)
                        ELSE format('avg(%I)::float8', e.col) END, ', ' ORDER BY e.i) || '] AS x'
          INTO x
          FROM unnest(src.exog_columns) WITH ORDINALITY e(col, i);
    END IF;
    RETURN format('SELECT %1$I::text AS s, %2$I::date AS d, sum(%3$I)::float8 AS y%4$s FROM %5$s'
                  ' WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL GROUP BY 1, 2%6$s',
                  src.series_column, src.date_column, src.value_column, x, src.relation::text,
                  CASE WHEN future_rows THEN '' ELSE format(' HAVING count(%I) > 0', src.value_column) END);
END
$$;

-- The registered sales source, or 42704 naming it (42P01 when its relation was dropped).
CREATE FUNCTION retailiq_internal.sales_source_named(source text) RETURNS retailiq.sales_source
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed',
              HINT = 'retailiq.sales_source lists the registered sources.';
    END IF;
    SELECT * INTO src FROM retailiq.sales_source s WHERE s.name = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales source "%" is not registered', source
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.sales_source lists the registered sources; retailiq.register_sales_source adds one.';
    END IF;
    PERFORM FROM pg_class k WHERE k.oid = src.relation;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the relation of sales source "%" no longer exists', source
            USING ERRCODE = 'undefined_table',
                  HINT = 'Register the source again with retailiq.register_sales_source.';
    END IF;
    RETURN src;
END
$$;


-- The fit of a source's rows dated before `before` (NULL: all) and, with history_days, no
-- older than that many days before the latest: $1 method, $2 fit options, $3 before,
-- $4 history_days (the filters are left out of the SQL when not needed).
CREATE FUNCTION retailiq_internal.sales_source_fit_query(src retailiq.sales_source, method text,
                                                 with_before boolean, with_history boolean)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the method's trainer (retailiq.forecast_methods): forecast_fit for the local methods,
    -- a panel aggregate of its own (series, date, value, factors, options) for the others
    -- (with factors, 'auto' fits the method the table names in with_factors: the regression)
    fit_method text := retailiq_internal.forecast_fit_method(method, cardinality(src.exog_columns) > 0);
    trainer text := (SELECT fm.trainer FROM retailiq.forecast_methods fm WHERE fm.name = fit_method);
    with_x boolean := cardinality(src.exog_columns) > 0
                      AND (SELECT fm.factors FROM retailiq.forecast_methods fm WHERE fm.name = fit_method);
    -- Without factors the fit reads the source's rows as they are and sums the rows of a
    -- series and date itself ("duplicates": "sum", after the collector's own sort): no hash
    -- or sort of every row before it (the GROUP BY of sales_source_query cost as much as
    -- the fits). With factors the query averages them per date first.
    opts text := CASE WHEN with_x THEN '$2' ELSE '$2 || ''{"duplicates": "sum"}''::jsonb' END;
    fit text := CASE WHEN trainer = 'forecast_fit' THEN format('retailiq.forecast_fit(s, d, y, $1, %s)', opts)
                     ELSE format('retailiq.%I(s, d, y, %s, %s)', trainer,
                                 CASE WHEN with_x THEN 'x' ELSE 'NULL::float8[]' END, opts) END;
    rows text := CASE WHEN with_x THEN retailiq_internal.sales_source_query(src, true)
                      ELSE format('SELECT %1$I::text AS s, %2$I::date AS d, %3$I::float8 AS y FROM %4$s'
                                  ' WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %3$I IS NOT NULL',
                                  src.series_column, src.date_column, src.value_column,
                                  src.relation::text) END;
BEGIN
    IF with_before THEN
        rows := format('SELECT * FROM (%s) r WHERE d < $3', rows);
    END IF;
    IF with_history THEN
        RETURN format('WITH b AS (%s) SELECT %s FROM b WHERE d > (SELECT max(d) FROM b) - $4::int', rows, fit);
    END IF;
    RETURN format('SELECT %s FROM (%s) b', fit, rows);
END
$$;

-- The future factors an LSTM model with factors needs (forecast_all's future_exog): for each
-- series of the model (in model order) and each of `steps` periods after its last date with a
-- quantity (before `before`, when given), the source's factor values on that date. Future
-- periods are rows with the planned factors and a NULL quantity (or, in a backtest, the
-- actual rows). A missing one is an error: a factor's future must be known, not guessed.
CREATE FUNCTION retailiq_internal.sales_source_future_exog(src retailiq.sales_source, model retailiq.model,
                                                   steps int, before date)
RETURNS float8[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_result float8[];
    v_missing text;
BEGIN
    EXECUTE format($q$
        WITH a AS (%s),
        ranked AS (
            SELECT a.s, a.d, row_number() OVER (PARTITION BY a.s ORDER BY a.d DESC) AS rn FROM a
             WHERE a.y IS NOT NULL AND ($3::date IS NULL OR a.d < $3)),
        last AS (
            SELECT r.s, max(r.d) FILTER (WHERE r.rn = 1) AS ld, max(r.d) FILTER (WHERE r.rn = 2) AS pd
              FROM ranked r WHERE r.rn <= 2 GROUP BY r.s),
        spacing AS (
            -- the data's period: the smallest gap between a series' last two dates
            SELECT min(l.ld - l.pd) AS days FROM last l),
        grid AS (
            SELECT o.i, o.s, k.k,
                   CASE WHEN sp.days BETWEEN 28 AND 31 THEN (l.ld + make_interval(months => k.k))::date
                        ELSE l.ld + k.k * coalesce(sp.days, 1) END AS d
              FROM retailiq.forecast_series($1) WITH ORDINALITY o(s, i)
              JOIN last l ON l.s = o.s
             CROSS JOIN spacing sp CROSS JOIN generate_series(1, $2) k(k)),
        cells AS (
            SELECT g.i, g.s, g.k, g.d, a.x FROM grid g LEFT JOIN a ON a.s = g.s AND a.d = g.d)
        SELECT (SELECT array_agg(r.xs ORDER BY r.i)
                  FROM (SELECT c.i, array_agg(c.x ORDER BY c.k) AS xs FROM cells c GROUP BY c.i) r
                 WHERE NOT EXISTS (SELECT FROM cells c WHERE c.x IS NULL)),
               (SELECT row(c.s, c.d)::text FROM cells c WHERE c.x IS NULL ORDER BY c.i, c.k LIMIT 1)
        $q$, retailiq_internal.sales_source_query(src, true, true))
      INTO v_result, v_missing
      USING model, steps, before;
    IF v_result IS NULL THEN
        RAISE EXCEPTION 'sales source "%" has no factor values for the forecast periods', src.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The first missing (series, date) is %s.', coalesce(v_missing::text, '(no series)')),
                  HINT = 'Add rows with the planned factors and a NULL quantity for every series and period ahead.';
    END IF;
    RETURN v_result;
END
$$;

CREATE FUNCTION retailiq_internal.check_horizons(horizons int[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF horizons IS NULL OR array_position(horizons, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'horizons must not be NULL or contain NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the steps ahead to forecast, e.g. ARRAY[1, 7, 28].';
    END IF;
    IF cardinality(horizons) = 0 OR (SELECT min(h) FROM unnest(horizons) h) < 1
       OR (SELECT max(h) FROM unnest(horizons) h) > 1000 THEN
        RAISE EXCEPTION 'horizons must be 1 to 1000 steps'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('horizons are %s.', horizons),
                  HINT = 'Pass the steps ahead to forecast, e.g. ARRAY[1, 7, 28].';
    END IF;
END
$$;

-- One source's refresh (see refresh_forecasts). Returns the rows written.
CREATE FUNCTION retailiq_internal.refresh_source(source_name text, horizons int[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source;
    v_model retailiq.model;
    v_version int;
    v_reused boolean;
    v_name text := 'forecast:' || source_name;
    v_fit_options jsonb;
    v_warm jsonb;
    v_max_age interval;
    v_level float8;
    v_clamp boolean;
    v_all_steps boolean;
    v_keep int;
    v_hmax int := (SELECT max(h) FROM unnest(horizons) h);
    v_rows bigint;
    v_gather text;
    v_grain text;
    a_series text[];
    a_step int[];
    a_ts date[];
    a_yhat float8[];
    a_lower float8[];
    a_upper float8[];
    f_series text[];
    f_first date[];
    k_series text[];
    k_store bigint[];
    k_product bigint[];
    k_mixed text[];
    k_mixed_store bigint[];
    k_mixed_product bigint[];
    v_st text;
    v_pr text;
    v_split boolean;
BEGIN
    -- One refresh of a source at a time: a second one waits here, then replaces the first's
    -- rows. The row lock below makes a second one under REPEATABLE READ fail (40001) rather
    -- than miss the first's rows.
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_forecasts'), hashtext(source_name));
    PERFORM FROM retailiq.sales_source s WHERE s.name = source_name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;               -- unregistered while we waited
    END IF;
    src := retailiq_internal.sales_source_named(source_name);
    v_fit_options := retailiq_internal.sales_source_options(src.options);
    v_max_age := (src.options ->> 'max_model_age')::interval;
    v_level := coalesce((v_fit_options ->> 'level')::float8, 0.8);
    v_clamp := NOT coalesce((v_fit_options ->> 'allow_negative')::boolean, false);
    v_all_steps := coalesce(src.options ->> 'steps', 'all') = 'all';
    v_keep := coalesce((src.options ->> 'keep_days')::int, 400);

    -- Reuse the newest saved model if it is recent enough (trained today, or younger than
    -- max_model_age) and was trained for the current definition of the source.
    SELECT m.version, m.model INTO v_version, v_model
      FROM retailiq.models m
     WHERE m.name = v_name AND m.version >= src.min_model_version
       AND CASE WHEN v_max_age IS NULL THEN m.created_at >= current_date::timestamptz
                ELSE now() - m.created_at < v_max_age END
     ORDER BY m.version DESC LIMIT 1;
    v_reused := FOUND;
    IF NOT v_reused THEN
        -- the label of this fit in retailiq.forecast_progress; a fit inside a parallel plan
        -- is serial, so with retailiq.forecast_workers the workers go to the fit (the LSTM's
        -- bases and networks too), not the scan
        PERFORM set_config('retailiq.progress_label', source_name, true);
        v_gather := current_setting('max_parallel_workers_per_gather');
        IF (SELECT fm.trainer FROM retailiq.forecast_methods fm
             WHERE fm.name = retailiq_internal.forecast_fit_method(src.method, cardinality(src.exog_columns) > 0))
           IN ('forecast_fit', 'forecast_lstm_fit')
           AND coalesce(current_setting('retailiq.forecast_workers', true), '2')::int > 0 THEN
            PERFORM set_config('max_parallel_workers_per_gather', '0', true);
        END IF;
        -- Warm start: refit from the newest model of the current definition (its series keep
        -- their method and form until reselect_days pass; unchanged series keep their fit;
        -- the LSTM's series keep their ETS bases' forms).
        IF (SELECT fm.trainer FROM retailiq.forecast_methods fm
             WHERE fm.name = retailiq_internal.forecast_fit_method(src.method, cardinality(src.exog_columns) > 0))
           IN ('forecast_fit', 'forecast_lstm_fit')
           AND NOT v_fit_options ? 'warm_start' THEN
            SELECT jsonb_build_object('model', m.name, 'version', m.version) INTO v_warm
              FROM retailiq.models m
             WHERE m.name = v_name AND m.version >= src.min_model_version
             ORDER BY m.version DESC LIMIT 1;
            IF v_warm IS NOT NULL THEN
                v_fit_options := v_fit_options || jsonb_build_object('warm_start', v_warm);
            END IF;
        END IF;
        -- on Citus, a source over a table distributed by store is fitted store by store on
        -- the workers (src/forecast/distributed.sql); the same model as here
        SELECT f.used, f.model INTO v_split, v_model
          FROM retailiq_internal.sales_source_fit_by_store(src, v_fit_options) f;
        IF NOT v_split THEN
            EXECUTE retailiq_internal.sales_source_fit_query(src, src.method, false, src.options ? 'history_days') INTO v_model
              USING src.method, v_fit_options, NULL::date, (src.options ->> 'history_days')::int;
        END IF;
        PERFORM set_config('max_parallel_workers_per_gather', v_gather, true);
        IF v_model IS NULL THEN
            RAISE NOTICE 'sales source "%" has no rows: nothing to forecast', source_name;
            RETURN 0;
        END IF;
        v_version := retailiq.save_model(v_name, v_model);
    END IF;

    -- The forecasts, once (an LSTM forecast is not free), ordered by series and step.
    SELECT array_agg(q.series ORDER BY q.series, q.step), array_agg(q.step ORDER BY q.series, q.step),
           array_agg(q.ts ORDER BY q.series, q.step), array_agg(q.yhat ORDER BY q.series, q.step),
           array_agg(q.yhat_lower ORDER BY q.series, q.step), array_agg(q.yhat_upper ORDER BY q.series, q.step)
      INTO a_series, a_step, a_ts, a_yhat, a_lower, a_upper
      FROM retailiq.forecast_all(v_model, greatest(v_hmax, 2),
                                 CASE WHEN cardinality(src.exog_columns) > 0
                                      THEN retailiq_internal.sales_source_future_exog(src, v_model, greatest(v_hmax, 2), NULL)
                                 END) q;
    IF a_series IS NULL THEN
        RETURN 0;
    END IF;
    v_grain := retailiq_internal.forecast_grain(a_ts[1], a_ts[2]);
    -- The store and product of each series, when the source names their columns (its newest
    -- row's: a series is one store's sales of one product, so they agree). One hashed pass
    -- per series (no sort of every row); only a series whose rows name more than one store
    -- or product (or none in some rows) is looked up by its newest row.
    IF src.store_column IS NOT NULL OR src.product_column IS NOT NULL THEN
        v_st := coalesce(quote_ident(src.store_column), 'NULL::bigint');
        v_pr := coalesce(quote_ident(src.product_column), 'NULL::bigint');
        EXECUTE format('SELECT array_agg(s) FILTER (WHERE one), array_agg(st) FILTER (WHERE one),'
                       '       array_agg(p) FILTER (WHERE one), array_agg(s) FILTER (WHERE NOT one) FROM ('
                       'SELECT %1$I::text AS s, min(%2$s)::bigint AS st, min(%3$s)::bigint AS p,'
                       '       %5$s AND %6$s AS one'
                       '  FROM %4$s WHERE %1$I IS NOT NULL GROUP BY 1) k',
                       src.series_column, v_st, v_pr, src.relation::text,
                       CASE WHEN src.store_column IS NULL THEN 'true'
                            ELSE format('min(%1$s) = max(%1$s) AND count(%1$s) = count(*)', v_st) END,
                       CASE WHEN src.product_column IS NULL THEN 'true'
                            ELSE format('min(%1$s) = max(%1$s) AND count(%1$s) = count(*)', v_pr) END)
          INTO k_series, k_store, k_product, k_mixed;
        IF k_mixed IS NOT NULL THEN
            EXECUTE format('SELECT array_agg(s), array_agg(st), array_agg(p) FROM ('
                           'SELECT DISTINCT ON (1) %1$I::text AS s, %2$s::bigint AS st, %3$s::bigint AS p'
                           '  FROM %4$s WHERE %1$I::text = ANY ($1) ORDER BY 1, %5$I DESC) k',
                           src.series_column, v_st, v_pr, src.relation::text, src.date_column)
              INTO k_mixed, k_mixed_store, k_mixed_product
              USING k_mixed;
            k_series := coalesce(k_series, '{}') || k_mixed;
            k_store := coalesce(k_store, '{}') || k_mixed_store;
            k_product := coalesce(k_product, '{}') || k_mixed_product;
        END IF;
    END IF;

    -- Replace: per series, rows of this model from the new first period on go (earlier
    -- periods stay: they are what was forecast for them, which the sales checks compare
    -- with); series no longer forecast lose their future rows; rows older than keep_days
    -- before the new forecasts go.
    SELECT array_agg(u.series ORDER BY u.series), array_agg(u.first ORDER BY u.series)
      INTO f_series, f_first
      FROM (SELECT q.series, min(q.ts) AS first FROM unnest(a_series, a_ts) q(series, ts) GROUP BY q.series) u;
    DELETE FROM retailiq.forecast_result r
     USING unnest(f_series, f_first) n(series, first)
     WHERE r.model_name = v_name AND r.series = n.series AND r.period_start >= n.first;
    DELETE FROM retailiq.forecast_result r
     WHERE r.model_name = v_name
       AND ((r.period_start >= (SELECT max(x) FROM unnest(f_first) x) AND r.series <> ALL (f_series))
            OR r.period_start < (SELECT min(x) FROM unnest(f_first) x) - v_keep);

    -- Sales are not negative: yhat and yhat_upper are clipped at 0 (unless the options allow
    -- negative values), yhat_lower is kept as the model gave it, so the interval's width
    -- still measures the forecast error (alerts' safety_stock reads sigma from it).
    INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, grain, horizon, yhat,
                                          yhat_lower, yhat_upper, interval_level, model_name, model_version,
                                          created_at)
    SELECT u.series, k.store_id, k.product_id, u.ts, v_grain, u.step,
           CASE WHEN v_clamp THEN greatest(u.yhat, 0) ELSE u.yhat END,
           u.yhat_lower,
           CASE WHEN v_clamp THEN greatest(u.yhat_upper, 0) ELSE u.yhat_upper END,
           v_level, v_name, v_version, now()
      FROM unnest(a_series, a_step, a_ts, a_yhat, a_lower, a_upper)
           u(series, step, ts, yhat, yhat_lower, yhat_upper)
      LEFT JOIN unnest(k_series, k_store, k_product) k(series, store_id, product_id) ON k.series = u.series
     WHERE u.step <= v_hmax AND (v_all_steps OR u.step = ANY (horizons));
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    -- keep the forecasts as issued, for forecast health (src/replenishment/forecast_health.sql)
    PERFORM retailiq_internal.forecast_issued_record(source_name, (SELECT min(x) FROM unnest(f_first) x));

    UPDATE retailiq.sales_source_state s
       SET last_refreshed_at = now(), last_model_version = v_version,
           last_model_reused = v_reused, last_rows = v_rows
     WHERE s.name = source_name;
    RETURN v_rows;
END
$$;

-- The nightly job: for each registered source (or the one named), train the registered
-- method on its rows (or reuse the model saved today / within max_model_age), save it as
-- forecast:<source>, and write its forecasts for the horizons into retailiq.forecast_result.
-- Returns the rows written. All sources in the caller's transaction: one failure rolls back
-- the whole refresh.
CREATE FUNCTION retailiq.refresh_forecasts(horizons int[], source text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nm text;
    total bigint := 0;
    seen int := 0;
BEGIN
    PERFORM retailiq_internal.check_horizons(horizons);
    IF source IS NOT NULL AND NOT EXISTS (SELECT FROM retailiq.sales_source s WHERE s.name = source) THEN
        RAISE EXCEPTION 'sales source "%" is not registered', source
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.sales_source lists the registered sources; retailiq.register_sales_source adds one.';
    END IF;
    FOR nm IN SELECT s.name FROM retailiq.sales_source s
               WHERE refresh_forecasts.source IS NULL OR s.name = refresh_forecasts.source
               ORDER BY s.name LOOP
        total := total + retailiq_internal.refresh_source(nm, horizons);
        seen := seen + 1;
    END LOOP;
    IF seen = 0 THEN
        RAISE NOTICE 'no sales source is registered: nothing to forecast'
            USING HINT = 'Register one with retailiq.register_sales_source.';
    END IF;
    RETURN total;
END
$$;
COMMENT ON FUNCTION retailiq.refresh_forecasts(int[], text) IS
    'trains or reuses the model of each registered sales source and writes its forecasts into retailiq.forecast_result; returns rows written';

-- Rolling-origin evaluation of methods on a source: for each origin, fit each method on the
-- rows dated before it, forecast horizon steps, and compare with the actuals (periods
-- without a row count as 0 sales; periods after the source's last date are left out).
-- MASE divides by each series' in-sample seasonal-naive MAE (gaps filled with 0; season
-- from options.season, else 7 / 52 / 12 by grain); series with a zero scale are left out of
-- MASE only.
CREATE FUNCTION retailiq.backtest(source text, methods text[], horizon int, origins date[])
RETURNS TABLE (method text, origin date, series int, points bigint, wape float8, smape float8,
               mase float8, bias float8, coverage float8, fit_seconds float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source;
    v_fit_options jsonb;
    v_model retailiq.model;
    v_season int;
    v_method text;
    v_origin date;
    v_t0 timestamptz;
    v_data text;
BEGIN
    IF source IS NULL OR methods IS NULL OR horizon IS NULL OR origins IS NULL
       OR array_position(methods, NULL) IS NOT NULL OR array_position(origins, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'source, methods, horizon and origins must not be NULL or contain NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.backtest(''store_sales'', ARRAY[''snaive'', ''ets''], 28, ARRAY[date ''2024-05-01'']).';
    END IF;
    src := retailiq_internal.sales_source_named(source);
    IF cardinality(methods) = 0 OR cardinality(origins) = 0 THEN
        RAISE EXCEPTION 'methods and origins must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass at least one method and one origin date.';
    END IF;
    FOREACH v_method IN ARRAY methods LOOP
        IF NOT v_method = ANY (retailiq_internal.forecast_methods()) THEN
            RAISE EXCEPTION 'method "%" is not a forecasting method', v_method
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use one of ' || array_to_string(retailiq_internal.forecast_methods(), ', ') || '.';
        END IF;
    END LOOP;
    IF horizon < 1 OR horizon > 1000 THEN
        RAISE EXCEPTION 'horizon must be 1 to 1000 steps'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('horizon is %s.', horizon),
                  HINT = 'Pass the steps ahead to evaluate, e.g. 7 or 28 for daily data.';
    END IF;
    v_fit_options := retailiq_internal.sales_source_options(src.options);
    v_season := (v_fit_options ->> 'season')::int;
    v_data := retailiq_internal.sales_source_query(src, false);
    FOREACH v_origin IN ARRAY origins LOOP
        FOREACH v_method IN ARRAY methods LOOP
            v_t0 := clock_timestamp();
            EXECUTE retailiq_internal.sales_source_fit_query(src, v_method, true, src.options ? 'history_days') INTO v_model
              USING v_method, v_fit_options, v_origin, (src.options ->> 'history_days')::int;
            fit_seconds := extract(epoch FROM clock_timestamp() - v_t0);
            method := v_method;
            origin := v_origin;
            IF v_model IS NULL THEN
                series := 0; points := 0; wape := NULL; smape := NULL; mase := NULL; bias := NULL;
                coverage := NULL;
                RETURN NEXT;
                CONTINUE;
            END IF;
            EXECUTE format($q$
                WITH a AS (%s),
                f AS MATERIALIZED (SELECT * FROM retailiq.forecast_all($1, greatest($2, 2), $5)),
                g AS (SELECT retailiq_internal.forecast_grain(min(f.ts), max(f.ts)) AS grain
                        FROM f WHERE f.series = (SELECT min(series) FROM f) AND f.step <= 2),
                h AS (SELECT a.s, a.d, a.y FROM a WHERE a.d < $3 AND a.s IN (SELECT series FROM f)),
                bounds AS (SELECT h.s, min(h.d) AS lo, max(h.d) AS hi FROM h GROUP BY h.s),
                filled AS (
                    SELECT b.s, k.d::date AS d, coalesce(h.y, 0) AS y
                      FROM bounds b CROSS JOIN g
                     CROSS JOIN LATERAL generate_series(b.lo, b.hi, CASE g.grain WHEN 'day' THEN interval '1 day'
                                                                     WHEN 'week' THEN interval '7 days'
                                                                     ELSE interval '1 month' END) k(d)
                      LEFT JOIN h ON h.s = b.s AND h.d = k.d::date),
                sc AS (
                    SELECT filled.s, retailiq.naive_scale(array_agg(filled.y ORDER BY filled.d), m.season) AS scale
                      FROM filled CROSS JOIN (SELECT coalesce($4, CASE g.grain WHEN 'day' THEN 7 WHEN 'week' THEN 52
                                                                               ELSE 12 END) AS season FROM g) m
                     GROUP BY filled.s, m.season HAVING count(*) > m.season),
                cmp AS (
                    SELECT f.series, f.yhat, f.yhat_lower, f.yhat_upper, coalesce(a.y, 0) AS y
                      FROM f LEFT JOIN a ON a.s = f.series AND a.d = f.ts
                     WHERE f.step <= $2 AND f.ts <= (SELECT max(d) FROM a))
                SELECT count(DISTINCT cmp.series)::int, count(*),
                       retailiq.wape(cmp.y, cmp.yhat), retailiq.smape(cmp.y, cmp.yhat),
                       retailiq.mase(cmp.y, cmp.yhat, nullif(sc.scale, 0)), retailiq.bias(cmp.y, cmp.yhat),
                       retailiq.coverage(cmp.y, cmp.yhat_lower, cmp.yhat_upper)
                  FROM cmp LEFT JOIN sc ON sc.s = cmp.series$q$, v_data)
              INTO series, points, wape, smape, mase, bias, coverage
              USING v_model, horizon, v_origin, v_season,
                    CASE WHEN cardinality(src.exog_columns) > 0
                              AND (SELECT fm.factors FROM retailiq.forecast_methods fm WHERE fm.name = v_method)
                         THEN retailiq_internal.sales_source_future_exog(src, v_model, greatest(horizon, 2), v_origin) END;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION retailiq.backtest(text, text[], int, date[]) IS
    'rolling-origin backtest of forecasting methods on a registered sales source: WAPE, sMAPE, MASE, bias and interval coverage per method and origin';
