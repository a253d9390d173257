-- core: the source registry, the one way in to the retailer's tables.
--
-- Every function that reads the retailer's tables by itself (behaviour's tags, profile,
-- funnels and zones; the reports; churn features and labels; the nightly forecast refresh;
-- slow movers, which read stock on hand from the inventory role and prices from products)
-- takes them from here: one row per role (events, orders, order_lines, products, store_zones)
-- naming a relation and, for each logical column of the role's contract, the relation's
-- actual column; and one row per named sales source (role sales, registered by
-- register_sales_source in src/forecast/operations.sql: series, date, value and a list of
-- factor columns). Registration checks
-- that the relation and every column exist with a usable type; nothing defaults to the sample
-- schema. Readers get the relation as a FROM item whose columns carry the logical names
-- (retailiq_internal.source view): the relation itself when every column has its logical name (the plans
-- stay those of the plain table), else a subquery that renames. Identifiers reach SQL only
-- through regclass output and quote_ident.

-- The columns each role offers: logical name, type category (N numeric, S string,
-- D date/time, B boolean) and whether registration requires it. Optional columns are mapped
-- when present and checked by the analytics that need them (churn; slow movers value stock
-- at unit_cost, else price).
CREATE FUNCTION retailiq_internal.source_contract()
RETURNS TABLE (role text, column_name name, type_category "char", required bool)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('events', 'customer_id'::name, 'N'::"char", true), ('events', 'store_id', 'N', true),
           ('events', 'channel', 'S', true), ('events', 'event_type', 'S', true),
           ('events', 'product_id', 'N', true), ('events', 'zone_id', 'N', true),
           ('events', 'occurred_at', 'D', true), ('events', 'duration_s', 'N', true),
           ('orders', 'order_id', 'N', true), ('orders', 'customer_id', 'N', true),
           ('orders', 'store_id', 'N', true), ('orders', 'channel', 'S', true),
           ('orders', 'ordered_at', 'D', true), ('orders', 'total_amount', 'N', true),
           ('orders', 'item_count', 'N', false), ('orders', 'discount_amount', 'N', false),
           ('order_lines', 'order_id', 'N', true), ('order_lines', 'product_id', 'N', true),
           ('order_lines', 'quantity', 'N', true), ('order_lines', 'unit_price', 'N', true),
           ('order_lines', 'discount', 'N', true), ('order_lines', 'promo_id', 'N', true),
           ('order_lines', 'returned', 'B', false),
           ('products', 'product_id', 'N', true), ('products', 'category', 'S', true),
           ('products', 'price', 'N', false), ('products', 'unit_cost', 'N', false),
           -- stock on hand per store and product (the replenishment plan's position, slow movers)
           ('inventory', 'store_id', 'N', true), ('inventory', 'product_id', 'N', true),
           ('inventory', 'on_hand', 'N', true),
           ('store_zones', 'store_id', 'N', true), ('store_zones', 'zone_id', 'N', true),
           ('store_zones', 'zone_name', 'S', true), ('store_zones', 'category', 'S', true)
$$;

CREATE TABLE retailiq.source (
    role           text NOT NULL
                   CHECK (role IN ('events', 'orders', 'order_lines', 'products', 'store_zones', 'inventory', 'sales')),
    name           text NOT NULL DEFAULT '' CHECK ((role = 'sales') = (name <> '')),
    relation       regclass NOT NULL,
    columns        jsonb NOT NULL CHECK (jsonb_typeof(columns) = 'object'),
    registered_by  name NOT NULL DEFAULT current_user,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, name)
);
COMMENT ON TABLE retailiq.source IS
    'the retailer''s tables or views the analytics read: one relation per role (and per sales source name), with its logical column -> actual column map (see retailiq.register_source, retailiq.register_sales_source)';
COMMENT ON COLUMN retailiq.source.name IS
    'the sales source''s name for role sales; empty for the other roles, which have one relation each';
COMMENT ON COLUMN retailiq.source.columns IS
    'logical column name -> column of the relation, for every column of the role''s contract the relation offers (sales: series, date, value and factors, a list)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.source', '');
-- Relation and column names only (what pg_class shows anyone): every role may read them, so an
-- analyst's reports and churn features run with the analyst's own rights on the tables; only
-- the registration functions write here.
GRANT SELECT ON retailiq.source TO PUBLIC;

-- Registers (or replaces) the relation of one role. columns maps logical names to the
-- relation's columns where they differ; a logical name left out maps to the column of the
-- same name. Checks every required column (and every optional one present) for existence
-- and type category. Returns the map stored.
CREATE FUNCTION retailiq.register_source(role text, relation regclass, columns jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    k text;
    actual text;
    found_cat "char";
    map jsonb := '{}';
BEGIN
    IF role IS NULL OR relation IS NULL OR columns IS NULL THEN
        RAISE EXCEPTION 'role, relation and columns must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass ''{}'' as columns when the relation uses the logical column names.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM retailiq_internal.source_contract() c WHERE c.role = register_source.role) THEN
        RAISE EXCEPTION 'unknown source role "%"', role USING ERRCODE = '22023',
              HINT = 'Use events, orders, order_lines, products, store_zones or inventory; sales sources are registered with retailiq.register_sales_source.';
    END IF;
    IF jsonb_typeof(columns) <> 'object' THEN
        RAISE EXCEPTION 'columns must be a JSON object' USING ERRCODE = '22023',
              DETAIL = format('It is a JSON %s.', jsonb_typeof(columns)),
              HINT = 'Map logical names to column names, e.g. {"customer_id": "client_no"}.';
    END IF;
    FOR k IN SELECT jsonb_object_keys(columns) ORDER BY 1 LOOP
        IF NOT EXISTS (SELECT 1 FROM retailiq_internal.source_contract() c
                        WHERE c.role = register_source.role AND c.column_name = k) THEN
            RAISE EXCEPTION 'source role % has no column "%"', role, k USING ERRCODE = '22023',
                  DETAIL = format('The %s contract has the columns %s.', role,
                                  (SELECT string_agg(c.column_name, ', ') FROM retailiq_internal.source_contract() c
                                    WHERE c.role = register_source.role)),
                  HINT = 'Map only the logical columns of the contract (doc/behaviour.md, source registry).';
        END IF;
        IF jsonb_typeof(columns->k) <> 'string' THEN
            RAISE EXCEPTION 'column map entry "%" must be a column name string', k USING ERRCODE = '22023',
                  DETAIL = format('"%s" is %s.', k, columns->k), HINT = 'Write e.g. {"customer_id": "client_no"}.';
        END IF;
    END LOOP;
    PERFORM FROM pg_class c WHERE c.oid = relation AND c.relkind IN ('r', 'v', 'm', 'f', 'p');
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a table or view', relation USING ERRCODE = '42809',
              HINT = 'Register a table, view, materialized view or foreign table.';
    END IF;
    FOR r IN SELECT * FROM retailiq_internal.source_contract() c WHERE c.role = register_source.role LOOP
        actual := coalesce(columns->>r.column_name, r.column_name);
        SELECT t.typcategory INTO found_cat
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = relation AND a.attname = actual AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            CONTINUE WHEN NOT r.required AND NOT columns ? r.column_name;
            RAISE EXCEPTION '% source % has no column "%"', role, relation, actual
                USING ERRCODE = '42703',
                      DETAIL = format('The %s contract needs a column for %s.', role, r.column_name),
                      HINT = 'Map the logical column to yours in columns, or register a view that adds it (doc/behaviour.md, source registry).';
        END IF;
        IF found_cat <> r.type_category THEN
            RAISE EXCEPTION 'column "%" of % source % has the wrong type', actual, role, relation
                USING ERRCODE = '42804',
                      DETAIL = format('Expected a %s column for %s.',
                                      CASE r.type_category WHEN 'N' THEN 'numeric' WHEN 'S' THEN 'text'
                                           WHEN 'B' THEN 'boolean' ELSE 'timestamptz' END, r.column_name),
                      HINT = 'Register a view that casts the column.';
        END IF;
        map := map || jsonb_build_object(r.column_name, actual);
    END LOOP;
    INSERT INTO retailiq.source AS s (role, relation, columns)
    VALUES (role, relation, map)
    ON CONFLICT ON CONSTRAINT source_pkey DO UPDATE
       SET relation = EXCLUDED.relation, columns = EXCLUDED.columns,
           registered_by = current_user, registered_at = now();
    RETURN map;
END
$$;
COMMENT ON FUNCTION retailiq.register_source(text, regclass, jsonb) IS
    'registers the relation of one role (events, orders, order_lines, products, store_zones) with its column map';

-- Removes the relation of one role; false when none was registered.
CREATE FUNCTION retailiq.unregister_source(role text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM retailiq.source s WHERE s.role = unregister_source.role AND s.name = '';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION retailiq.unregister_source(text) IS
    'removes the registered relation of one role (sales sources: retailiq.unregister_sales_source)';

-- The registered row of a role; 55000 when none is registered.
CREATE FUNCTION retailiq_internal.source_row(which text) RETURNS retailiq.source
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s retailiq.source;
BEGIN
    SELECT * INTO s FROM retailiq.source r WHERE r.role = which AND r.name = '';
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM retailiq.source r WHERE r.role <> 'sales') THEN
        RAISE EXCEPTION 'no event source is registered' USING ERRCODE = '55000',
              HINT = 'Call retailiq.register_event_source(''retail'') (sample layout) or register_event_source(events, orders, order_lines, products, store_zones).';
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'no % source is registered', which USING ERRCODE = '55000',
              HINT = format('Call retailiq.register_source(%L, relation), or register every table with retailiq.register_event_source.', which);
    END IF;
    RETURN s;
END
$$;

-- The registered relation of a role as a FROM item whose columns carry the logical names:
-- quoted SQL text, the relation itself when no column is renamed.
CREATE FUNCTION retailiq_internal.source_sql(which text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s retailiq.source := retailiq_internal.source_row(which);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM jsonb_each_text(s.columns) m WHERE m.key <> m.value) THEN
        RETURN s.relation::text;
    END IF;
    RETURN format('(SELECT %s FROM %s)',
                  (SELECT string_agg(format('%I AS %I', m.value, m.key), ', ' ORDER BY m.key)
                     FROM jsonb_each_text(s.columns) m),
                  s.relation::text);
END
$$;

-- The registered relation of a role, and the actual name of one of its logical columns
-- (42703 with a hint when an optional column was not registered).
CREATE FUNCTION retailiq_internal.source_relation(which text) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (retailiq_internal.source_row(which)).relation $$;

CREATE FUNCTION retailiq_internal.source_column(which text, logical name) RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s retailiq.source := retailiq_internal.source_row(which);
BEGIN
    IF NOT s.columns ? logical THEN
        RAISE EXCEPTION 'the % source % has no column for %', which, s.relation, logical
            USING ERRCODE = '42703',
                  HINT = format('Register it again with the column mapped: retailiq.register_source(%L, relation, ''{"%s": "..."}'').', which, logical);
    END IF;
    RETURN (s.columns->>logical)::name;
END
$$;

-- Checks that the roles an analytic reads are registered with the optional columns it needs.
CREATE FUNCTION retailiq_internal.source_require(which text, logical name[]) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c name;
BEGIN
    FOREACH c IN ARRAY logical LOOP
        PERFORM retailiq_internal.source_column(which, c);
    END LOOP;
END
$$;
