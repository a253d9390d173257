-- core: the schema, the retailiq.model type and the model store.

\echo Use "CREATE EXTENSION retailiq" to load this file. \quit

CREATE SCHEMA retailiq;
COMMENT ON SCHEMA retailiq IS 'retailiq: retail analytics inside PostgreSQL';
GRANT USAGE ON SCHEMA retailiq TO PUBLIC;
-- Aggregate support functions (transition, combine, serialize, deserialize, final) live
-- apart from the API, with the other machinery (triggers, the helpers of plpgsql functions),
-- so \df retailiq.* lists only what users call. src/privileges.sql says who may execute what.
CREATE SCHEMA retailiq_internal;
COMMENT ON SCHEMA retailiq_internal IS 'retailiq: machinery (aggregate support functions, triggers, helpers), not for direct use';

-- A trained model of any kind: a checksummed varlena with a readable text form.
CREATE TYPE retailiq.model;

CREATE FUNCTION retailiq.model_in(cstring) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'model_in' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_out(retailiq.model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'model_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_recv(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'model_recv' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_send(retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'model_send' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE TYPE retailiq.model (
    INPUT = retailiq.model_in,
    OUTPUT = retailiq.model_out,
    RECEIVE = retailiq.model_recv,
    SEND = retailiq.model_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE retailiq.model IS 'a trained retailiq model (k-means, LSTM, ETS, BG/NBD, logistic, ...)';

CREATE FUNCTION retailiq.model_kind(retailiq.model) RETURNS text
    AS 'MODULE_PATHNAME', 'model_kind_sql' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_info(retailiq.model) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'model_info' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Named, versioned models.
CREATE TABLE retailiq.models (
    name        text        NOT NULL CHECK (name <> '' AND length(name) <= 200),
    version     int         NOT NULL CHECK (version > 0),
    model       retailiq.model NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name        NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE retailiq.models IS 'saved models: one row per (name, version)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.models', '');

-- Saves a model under a name as the next version; returns that version. Concurrent saves
-- of one name are serialised by a transaction-scoped advisory lock, so versions never clash.
CREATE FUNCTION retailiq.save_model(name text, model retailiq.model) RETURNS int
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v int;
BEGIN
    IF save_model.name = '' OR length(save_model.name) > 200 THEN
        RAISE EXCEPTION 'model name must be 1 to 200 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name models after what they predict, e.g. ''weekly_demand''.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.models'), hashtext(save_model.name));
    SELECT coalesce(max(m.version), 0) + 1 INTO v
      FROM retailiq.models m WHERE m.name = save_model.name;
    INSERT INTO retailiq.models (name, version, model)
    VALUES (save_model.name, v, save_model.model);
    RETURN v;
END
$$;

-- The model saved under a name: the given version, or the newest one.
CREATE FUNCTION retailiq.load_model(name text, version int DEFAULT NULL) RETURNS retailiq.model
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m retailiq.model;
BEGIN
    IF load_model.name IS NULL THEN
        RAISE EXCEPTION 'model name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT s.model INTO m FROM retailiq.models s
     WHERE s.name = load_model.name
       AND (load_model.version IS NULL OR s.version = load_model.version)
     ORDER BY s.version DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%"% not found', load_model.name,
              CASE WHEN load_model.version IS NULL THEN '' ELSE ' version ' || load_model.version END
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.models lists the saved models and their versions.';
    END IF;
    RETURN m;
END
$$;

-- Removes one version of a named model, or all of them; returns how many were removed.
CREATE FUNCTION retailiq.drop_model(name text, version int DEFAULT NULL) RETURNS int
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (DELETE FROM retailiq.models s
                WHERE s.name = drop_model.name
                  AND (drop_model.version IS NULL OR s.version = drop_model.version)
               RETURNING 1)
    SELECT count(*)::int FROM d;
$$;
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
-- sample: a realistic retail schema with planted structure, for demos, tests and benchmarks.

-- Internal row sources (one per table); generate_sample_data() is the entry point.
CREATE FUNCTION retailiq_internal.sample_customers(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (customer_id int, full_name text, phone text, email text, birth_date date,
               gender text, city text, home_store_id int, signup_date date,
               customer_type text, churn_date date)
AS 'MODULE_PATHNAME', 'sample_customers' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 10000;
CREATE FUNCTION retailiq_internal.sample_stores(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (store_id int, name text, city text, region text, opened_on date, size_sqm int)
AS 'MODULE_PATHNAME', 'sample_stores' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION retailiq_internal.sample_zones(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (store_id int, zone_id int, zone_name text, category text)
AS 'MODULE_PATHNAME', 'sample_zones' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 200;
CREATE FUNCTION retailiq_internal.sample_products(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (product_id int, sku text, name text, category text, brand text, price numeric, unit_cost numeric)
AS 'MODULE_PATHNAME', 'sample_products' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 500;
CREATE FUNCTION retailiq_internal.sample_promotions(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (promo_id int, product_id int, store_id int, starts_on date, ends_on date,
               discount_pct numeric, featured bool)
AS 'MODULE_PATHNAME', 'sample_promotions' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 4000;
CREATE FUNCTION retailiq_internal.sample_calendar(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (day date, dow int, is_weekend bool, is_holiday bool, holiday_name text, temperature_c numeric)
AS 'MODULE_PATHNAME', 'sample_calendar' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 730;
CREATE FUNCTION retailiq_internal.sample_rules(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (antecedent_product_id int, consequent_product_id int, probability float8)
AS 'MODULE_PATHNAME', 'sample_rules' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 25;
CREATE FUNCTION retailiq_internal.sample_orders(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (order_id bigint, customer_id int, store_id int, channel text, ordered_at timestamptz,
               item_count int, total_amount numeric, discount_amount numeric)
AS 'MODULE_PATHNAME', 'sample_orders' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 400000;
CREATE FUNCTION retailiq_internal.sample_order_lines(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (order_id bigint, line_no int, product_id int, quantity int, unit_price numeric,
               discount numeric, promo_id int, returned bool)
AS 'MODULE_PATHNAME', 'sample_order_lines' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 2000000;
CREATE FUNCTION retailiq_internal.sample_events(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (event_id bigint, customer_id int, store_id int, channel text, event_type text,
               product_id int, zone_id int, occurred_at timestamptz, duration_s int)
AS 'MODULE_PATHNAME', 'sample_events' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 2000000;
CREATE FUNCTION retailiq_internal.sample_inventory_daily(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (day date, store_id int, product_id int, on_hand int, received int, sold int,
               reorder_level int, reorder_qty int)
AS 'MODULE_PATHNAME', 'sample_inventory_daily' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 900000;

-- Creates schema target_schema and fills it with a simulated retailer (doc/sample-data.md).
-- Deterministic for a seed: the same arguments give the same rows on any machine.
CREATE FUNCTION retailiq.generate_sample_data(
    target_schema name,
    customers int DEFAULT 10000,
    stores int DEFAULT 20,
    products int DEFAULT 500,
    days int DEFAULT 730,
    seed int DEFAULT 42)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := quote_ident(target_schema);
    a text := format('(%s, %s, %s, %s, %s)', customers, stores, products, days, seed);
    step text;
    t text;
    n bigint;
    tables text[] := '{}';
    counts bigint[] := '{}';
BEGIN
    IF target_schema IS NULL OR customers IS NULL OR stores IS NULL OR products IS NULL
       OR days IS NULL OR seed IS NULL THEN
        RAISE EXCEPTION 'generate_sample_data arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF customers NOT BETWEEN 1 AND 10000000 THEN
        RAISE EXCEPTION 'customers must be between 1 and 10000000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('customers is %s.', customers), HINT = 'The demo uses 10000.';
    END IF;
    IF stores NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'stores must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('stores is %s.', stores), HINT = 'The demo uses 20.';
    END IF;
    IF products NOT BETWEEN 2 AND 100000 THEN
        RAISE EXCEPTION 'products must be between 2 and 100000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('products is %s.', products), HINT = 'The demo uses 500.';
    END IF;
    IF days NOT BETWEEN 28 AND 3660 THEN
        RAISE EXCEPTION 'days must be between 28 and 3660' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('days is %s.', days), HINT = 'The demo uses 730 (two years from 2024-01-01).';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
               WHERE ns.nspname = target_schema) THEN
        RAISE EXCEPTION 'schema "%" already holds tables', target_schema
            USING ERRCODE = 'duplicate_schema',
                  HINT = format('Drop it first (DROP SCHEMA %s CASCADE) or choose another name.', s);
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %s', s);

    -- each step creates a table and fills it; the row count comes from the fill itself.
    -- Rows are stored in the order a shop's tables grow (customers by sign-up, orders, lines
    -- and events by time), not by id: a masking view returns rows in stored order, and an
    -- id order would let a masked role read a row's raw id off its position.
    FOREACH step IN ARRAY ARRAY[
      'stores|CREATE TABLE %1$s.stores (
        store_id int PRIMARY KEY, name text NOT NULL, city text NOT NULL, region text NOT NULL,
        opened_on date NOT NULL, size_sqm int NOT NULL)
      |INSERT INTO %1$s.stores SELECT * FROM retailiq_internal.sample_stores%2$s',
      'store_zones|CREATE TABLE %1$s.store_zones (
        store_id int REFERENCES %1$s.stores, zone_id int, zone_name text NOT NULL, category text,
        PRIMARY KEY (store_id, zone_id))
      |INSERT INTO %1$s.store_zones SELECT * FROM retailiq_internal.sample_zones%2$s',
      'products|CREATE TABLE %1$s.products (
        product_id int PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL,
        category text NOT NULL, brand text NOT NULL, price numeric(10,2) NOT NULL,
        unit_cost numeric(10,2) NOT NULL)
      |INSERT INTO %1$s.products SELECT * FROM retailiq_internal.sample_products%2$s',
      'calendar|CREATE TABLE %1$s.calendar (
        day date PRIMARY KEY, dow int NOT NULL, is_weekend bool NOT NULL, is_holiday bool NOT NULL,
        holiday_name text, temperature_c numeric(4,1) NOT NULL)
      |INSERT INTO %1$s.calendar SELECT * FROM retailiq_internal.sample_calendar%2$s',
      'promotions|CREATE TABLE %1$s.promotions (
        promo_id int PRIMARY KEY, product_id int NOT NULL REFERENCES %1$s.products,
        store_id int REFERENCES %1$s.stores, starts_on date NOT NULL, ends_on date NOT NULL,
        discount_pct numeric(5,2) NOT NULL, featured bool NOT NULL)
      |INSERT INTO %1$s.promotions SELECT * FROM retailiq_internal.sample_promotions%2$s',
      'customers|CREATE TABLE %1$s.customers (
        customer_id int PRIMARY KEY, full_name text NOT NULL, phone text NOT NULL,
        email text NOT NULL, birth_date date NOT NULL, gender text NOT NULL, city text NOT NULL,
        home_store_id int NOT NULL REFERENCES %1$s.stores, signup_date date NOT NULL);
       CREATE TEMP TABLE _riq_customers ON COMMIT DROP AS SELECT * FROM retailiq_internal.sample_customers%2$s
      |INSERT INTO %1$s.customers SELECT customer_id, full_name, phone, email, birth_date, gender,
        city, home_store_id, signup_date FROM _riq_customers ORDER BY signup_date, md5(phone)',
      'planted_customers|CREATE TABLE %1$s.planted_customers (
        customer_id int PRIMARY KEY REFERENCES %1$s.customers, customer_type text NOT NULL,
        churn_date date)
      |INSERT INTO %1$s.planted_customers SELECT customer_id, customer_type, churn_date FROM _riq_customers',
      'planted_rules|CREATE TABLE %1$s.planted_rules (
        antecedent_product_id int REFERENCES %1$s.products,
        consequent_product_id int REFERENCES %1$s.products, probability float8 NOT NULL,
        PRIMARY KEY (antecedent_product_id, consequent_product_id))
      |INSERT INTO %1$s.planted_rules SELECT * FROM retailiq_internal.sample_rules%2$s',
      'orders|CREATE TABLE %1$s.orders (
        order_id bigint NOT NULL, customer_id int NOT NULL, store_id int NOT NULL,
        channel text NOT NULL, ordered_at timestamptz NOT NULL, item_count int NOT NULL,
        total_amount numeric(12,2) NOT NULL, discount_amount numeric(12,2) NOT NULL)
      |INSERT INTO %1$s.orders SELECT * FROM retailiq_internal.sample_orders%2$s ORDER BY ordered_at, order_id',
      'order_lines|CREATE TABLE %1$s.order_lines (
        order_id bigint NOT NULL, line_no int NOT NULL, product_id int NOT NULL,
        quantity int NOT NULL, unit_price numeric(10,2) NOT NULL, discount numeric(10,2) NOT NULL,
        promo_id int, returned bool NOT NULL)
      |INSERT INTO %1$s.order_lines SELECT l.* FROM retailiq_internal.sample_order_lines%2$s l
        JOIN %1$s.orders o USING (order_id) ORDER BY o.ordered_at, l.order_id, l.line_no',
      'events|CREATE TABLE %1$s.events (
        event_id bigint NOT NULL, customer_id int NOT NULL, store_id int, channel text NOT NULL,
        event_type text NOT NULL, product_id int, zone_id int, occurred_at timestamptz NOT NULL,
        duration_s int)
      |INSERT INTO %1$s.events SELECT * FROM retailiq_internal.sample_events%2$s ORDER BY occurred_at, event_id',
      'inventory_daily|CREATE TABLE %1$s.inventory_daily (
        day date NOT NULL, store_id int NOT NULL, product_id int NOT NULL, on_hand int NOT NULL,
        received int NOT NULL, sold int NOT NULL);
       CREATE TEMP TABLE _riq_inventory ON COMMIT DROP AS
         SELECT * FROM retailiq_internal.sample_inventory_daily%2$s
      |INSERT INTO %1$s.inventory_daily SELECT day, store_id, product_id, on_hand, received, sold
        FROM _riq_inventory',
      'inventory|CREATE TABLE %1$s.inventory (
        store_id int REFERENCES %1$s.stores, product_id int REFERENCES %1$s.products,
        on_hand int NOT NULL, reorder_level int NOT NULL, reorder_qty int NOT NULL,
        updated_at timestamptz NOT NULL, PRIMARY KEY (store_id, product_id))
      |INSERT INTO %1$s.inventory
        SELECT store_id, product_id, on_hand, reorder_level, reorder_qty,
               (day + 1)::timestamp AT TIME ZONE ''UTC''
        FROM _riq_inventory WHERE day = (SELECT max(day) FROM _riq_inventory)',
      'daily_sales|CREATE TABLE %1$s.daily_sales (
        day date NOT NULL, store_id int NOT NULL, product_id int NOT NULL, units bigint NOT NULL,
        revenue numeric(14,2) NOT NULL, on_promo bool NOT NULL)
      |INSERT INTO %1$s.daily_sales
        SELECT (o.ordered_at AT TIME ZONE ''UTC'')::date, o.store_id, l.product_id, sum(l.quantity),
               sum(l.quantity * l.unit_price - l.discount), bool_or(l.promo_id IS NOT NULL)
        FROM %1$s.orders o JOIN %1$s.order_lines l USING (order_id)
        GROUP BY 1, 2, 3']
    LOOP
        t := split_part(step, '|', 1);
        EXECUTE format(split_part(step, '|', 2), s, a);
        EXECUTE format(split_part(step, '|', 3), s, a);
        GET DIAGNOSTICS n = ROW_COUNT;
        tables := tables || t;
        counts := counts || n;
    END LOOP;
    DROP TABLE _riq_customers;
    DROP TABLE _riq_inventory;

    -- keys and indexes after the bulk load (faster than maintaining them row by row); the
    -- rows are consistent by construction, so the foreign keys are declared without
    -- re-checking millions of rows (NOT VALID keys are still enforced for later changes)
    EXECUTE format($q$
      ALTER TABLE %1$s.orders ADD PRIMARY KEY (order_id);
      ALTER TABLE %1$s.order_lines ADD PRIMARY KEY (order_id, line_no);
      ALTER TABLE %1$s.events ADD PRIMARY KEY (event_id);
      ALTER TABLE %1$s.inventory_daily ADD PRIMARY KEY (day, store_id, product_id);
      ALTER TABLE %1$s.daily_sales ADD PRIMARY KEY (day, store_id, product_id);
      ALTER TABLE %1$s.orders ADD FOREIGN KEY (customer_id) REFERENCES %1$s.customers NOT VALID,
                              ADD FOREIGN KEY (store_id) REFERENCES %1$s.stores NOT VALID;
      ALTER TABLE %1$s.order_lines ADD FOREIGN KEY (order_id) REFERENCES %1$s.orders NOT VALID;
      CREATE INDEX ON %1$s.orders (customer_id, ordered_at);
      CREATE INDEX ON %1$s.orders (ordered_at);
      CREATE INDEX ON %1$s.order_lines (product_id);
      CREATE INDEX ON %1$s.events (customer_id, occurred_at);
      CREATE INDEX ON %1$s.events (occurred_at);
    $q$, s);

    FOR i IN 1 .. array_length(tables, 1) LOOP
        EXECUTE format('ANALYZE %s.%I', s, tables[i]);
        table_name := tables[i];
        row_count := counts[i];
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION retailiq.generate_sample_data(name, int, int, int, int, int) IS
  'creates and fills a simulated retailer''s schema with planted structure (doc/sample-data.md)';
-- segment: RFM scores and segments, k-means customer segmentation.

-- One customer's orders as of a date.
CREATE TYPE retailiq.rfm AS (
    recency_days int,           -- whole days from the last order to as_of
    frequency    bigint,        -- orders up to as_of
    monetary     numeric,       -- sum of their amounts
    first_order  timestamptz,
    last_order   timestamptz
);
COMMENT ON TYPE retailiq.rfm IS 'recency, frequency and monetary value of one customer (retailiq.rfm_agg)';

CREATE TYPE retailiq.rfm_scores AS (
    r        int,               -- recency score, 1 (longest ago) .. bins (most recent)
    f        int,               -- frequency score, 1 .. bins
    m        int,               -- monetary score, 1 .. bins
    rfm_code text,              -- the three digits, e.g. '545'
    segment  text               -- one of the 11 segments (5 bins only)
);

CREATE FUNCTION retailiq_internal.rfm_numeric_accum(internal, timestamptz, numeric, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_accum_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_float8_accum(internal, timestamptz, float8, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_accum_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_final(internal) RETURNS retailiq.rfm
    AS 'MODULE_PATHNAME', 'rfm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.rfm_agg(ordered_at timestamptz, amount numeric, as_of timestamptz) (
    SFUNC = retailiq_internal.rfm_numeric_accum, STYPE = internal, SSPACE = 160, FINALFUNC = retailiq_internal.rfm_final,
    COMBINEFUNC = retailiq_internal.rfm_combine, SERIALFUNC = retailiq_internal.rfm_serialize,
    DESERIALFUNC = retailiq_internal.rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.rfm_agg(ordered_at timestamptz, amount float8, as_of timestamptz) (
    SFUNC = retailiq_internal.rfm_float8_accum, STYPE = internal, SSPACE = 64, FINALFUNC = retailiq_internal.rfm_final,
    COMBINEFUNC = retailiq_internal.rfm_combine, SERIALFUNC = retailiq_internal.rfm_serialize,
    DESERIALFUNC = retailiq_internal.rfm_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rfm_agg(timestamptz, numeric, timestamptz) IS
    'recency (days), frequency and monetary value of one customer''s orders as of a date';

CREATE FUNCTION retailiq_internal.rfm_breaks_accum(internal, retailiq.rfm) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_accum(internal, retailiq.rfm, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_breaks_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_final(internal) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'rfm_breaks_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.rfm_breaks(rfm retailiq.rfm) (
    SFUNC = retailiq_internal.rfm_breaks_accum, STYPE = internal, FINALFUNC = retailiq_internal.rfm_breaks_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.rfm_breaks_combine, SERIALFUNC = retailiq_internal.rfm_breaks_serialize,
    DESERIALFUNC = retailiq_internal.rfm_breaks_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.rfm_breaks(rfm retailiq.rfm, bins int) (
    SFUNC = retailiq_internal.rfm_breaks_accum, STYPE = internal, FINALFUNC = retailiq_internal.rfm_breaks_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.rfm_breaks_combine, SERIALFUNC = retailiq_internal.rfm_breaks_serialize,
    DESERIALFUNC = retailiq_internal.rfm_breaks_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rfm_breaks(retailiq.rfm) IS
    'quintile break points of recency, frequency and monetary across customers: float8[3][4]';

CREATE FUNCTION retailiq.rfm_score(rfm retailiq.rfm, breaks float8[]) RETURNS retailiq.rfm_scores
    AS 'MODULE_PATHNAME', 'rfm_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.rfm_score(retailiq.rfm, float8[]) IS
    'R, F, M scores against rfm_breaks, the RFM code and the segment name';

-- Every customer of an orders table scored in one call.
CREATE FUNCTION retailiq.rfm_segments(
    orders regclass,
    as_of timestamptz DEFAULT now(),
    bins int DEFAULT 5,
    customer_column name DEFAULT 'customer_id',
    time_column name DEFAULT 'ordered_at',
    amount_column name DEFAULT 'total_amount')
RETURNS TABLE (customer_id bigint, recency_days int, frequency bigint, monetary numeric,
               r int, f int, m int, rfm_code text, segment text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF orders IS NULL OR as_of IS NULL OR bins IS NULL OR customer_column IS NULL
       OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'rfm_segments arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    -- OFFSET 0 keeps the scores' subquery whole: pulled up, (s.sc).r, (s.sc).f, ... would
    -- each call rfm_score again
    RETURN QUERY EXECUTE format(
        'WITH c AS (SELECT %1$I::bigint AS cid, retailiq.rfm_agg(%2$I, %3$I, $1) AS v
                      FROM %4$s GROUP BY 1),
              c2 AS (SELECT * FROM c WHERE v IS NOT NULL),
              b AS (SELECT retailiq.rfm_breaks(v, $2) AS br FROM c2)
         SELECT c2.cid, (c2.v).recency_days, (c2.v).frequency, (c2.v).monetary,
                (s.sc).r, (s.sc).f, (s.sc).m, (s.sc).rfm_code, (s.sc).segment
           FROM c2 CROSS JOIN b
                CROSS JOIN LATERAL (SELECT retailiq.rfm_score(c2.v, b.br) AS sc OFFSET 0) s',
        customer_column, time_column, amount_column, orders)
    USING as_of, bins;
END
$$;
COMMENT ON FUNCTION retailiq.rfm_segments(regclass, timestamptz, int, name, name, name) IS
    'RFM scores and segment of every customer in an orders table';

-- k-means. Aggregates take no DEFAULTs, so each optional argument has its own overload.
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int, int, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int, int, float8, bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_buf_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_buf_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_buf_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_buf_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_buf_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_buf_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'kmeans_segment_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int,
                                         tol float8) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int,
                                         tol float8, standardize bool) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_segment(float8[], int, int, int, int, float8, bool) IS
    'k-means (k-means++ seeding, Lloyd iterations, best of n_init) over feature rows: a kmeans model';

CREATE FUNCTION retailiq.kmeans_assign(model retailiq.model, features float8[]) RETURNS int
    AS 'MODULE_PATHNAME', 'kmeans_assign' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.kmeans_assign(retailiq.model, float8[]) IS
    'the cluster (1 .. k) whose centroid is nearest to the features';
CREATE FUNCTION retailiq.kmeans_distance(model retailiq.model, features float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'kmeans_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.kmeans_distance(retailiq.model, float8[]) IS
    'Euclidean distance, in the model''s (standardized) space, to the nearest centroid';

CREATE FUNCTION retailiq.kmeans_centroids(model retailiq.model)
    RETURNS TABLE (cluster int, size bigint, centroid float8[])
    AS 'MODULE_PATHNAME', 'kmeans_centroids' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION retailiq.kmeans_centroids(retailiq.model) IS
    'each cluster of a k-means model: its number, size and centroid in original units';

CREATE FUNCTION retailiq_internal.kmeans_silhouette_accum(internal, float8[], retailiq.model) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_accum(internal, float8[], retailiq.model, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_accum(internal, float8[], retailiq.model, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_final(internal) RETURNS float8
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model) (
    SFUNC = retailiq_internal.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_silhouette_combine, SERIALFUNC = retailiq_internal.kmeans_silhouette_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_silhouette_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model, sample_size int) (
    SFUNC = retailiq_internal.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_silhouette_combine, SERIALFUNC = retailiq_internal.kmeans_silhouette_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_silhouette_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model, sample_size int,
                                            seed int) (
    SFUNC = retailiq_internal.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_silhouette_combine, SERIALFUNC = retailiq_internal.kmeans_silhouette_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_silhouette_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_silhouette(float8[], retailiq.model) IS
    'mean silhouette of the rows under a k-means model: exact up to sample_size rows, sampled beyond';

-- Streaming k-means: one Lloyd pass as an aggregate with a bytea (varlena) state of
-- per-center partial sums, so parallel workers and Citus workers can each run part of it.
CREATE FUNCTION retailiq_internal.kmeans_pass_accum(bytea, float8[], retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_pass_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_pass_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_pass_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_pass_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'kmeans_pass_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.kmeans_pass(features float8[], model retailiq.model) (
    SFUNC = retailiq_internal.kmeans_pass_accum, STYPE = bytea, FINALFUNC = retailiq_internal.kmeans_pass_final,
    COMBINEFUNC = retailiq_internal.kmeans_pass_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_pass(float8[], retailiq.model) IS
    'one Lloyd iteration over the rows from a k-means model: the model with updated centroids';

CREATE FUNCTION retailiq.kmeans_sample(features float8[], fraction float8, seed int DEFAULT 42)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'kmeans_sample' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.kmeans_sample(float8[], float8, int) IS
    'true for a fixed pseudo-random fraction of feature rows, decided by their values alone';

-- k-means over a table too large to hold: seeds on a sample held in memory, then iterates
-- with kmeans_pass over every row until the centers move less than tol.
CREATE FUNCTION retailiq.kmeans_stream(
    relation regclass,
    features_column name,
    k int,
    seed int DEFAULT 42,
    n_init int DEFAULT 4,
    max_iter int DEFAULT 300,
    tol float8 DEFAULT 1e-4,
    standardize bool DEFAULT true,
    sample_size bigint DEFAULT 100000)
RETURNS retailiq.model
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total bigint;
    frac float8;
    model retailiq.model;
    it int := 0;
BEGIN
    IF relation IS NULL OR features_column IS NULL OR k IS NULL OR seed IS NULL OR n_init IS NULL
       OR max_iter IS NULL OR tol IS NULL OR standardize IS NULL OR sample_size IS NULL THEN
        RAISE EXCEPTION 'kmeans_stream arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    IF sample_size < k OR sample_size < 1 THEN
        RAISE EXCEPTION 'sample_size must be at least k'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('sample_size is %s, k is %s.', sample_size, k),
                  HINT = 'The seeding sample needs at least k distinct rows; 100000 is usual.';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', relation) INTO total;
    frac := least(1.0, sample_size::float8 / greatest(total, 1));
    EXECUTE format('SELECT retailiq.kmeans_segment(%1$I, $1, $2, $3, $4, $5, $6) FROM %2$s
                     WHERE $7 >= 1.0 OR retailiq.kmeans_sample(%1$I, $7, $2)',
                   features_column, relation)
       INTO model USING k, seed, n_init, max_iter, tol, standardize, frac;
    IF frac >= 1.0 THEN
        RETURN model;           -- the whole table fitted in the sample: that is the answer
    END IF;
    LOOP
        EXECUTE format('SELECT retailiq.kmeans_pass(%I, $1) FROM %s', features_column, relation)
           INTO model USING model;
        it := it + 1;
        EXIT WHEN (retailiq.model_info(model) #>> '{metrics,converged}')::bool OR it >= max_iter;
    END LOOP;
    RETURN model;
END
$$;
COMMENT ON FUNCTION retailiq.kmeans_stream(regclass, name, int, int, int, int, float8, bool, bigint) IS
    'k-means over a table of any size: k-means++ on a sample, then Lloyd passes over every row';
-- basket: market-basket analysis. Frequent itemsets by FP-growth and association rules with
-- arules' measures, as parallel-safe aggregates over baskets (arrays of text or bigint items)
-- or over order lines (order id, item); recommendations from stored rules. doc/basket.md.

CREATE TYPE retailiq.itemset AS (items text[], count bigint, support float8);
CREATE TYPE retailiq.itemset_bigint AS (items bigint[], count bigint, support float8);
CREATE TYPE retailiq.rule AS (
    antecedent text[], consequent text[],
    support float8, confidence float8, lift float8, leverage float8, conviction float8,
    count bigint);
CREATE TYPE retailiq.rule_bigint AS (
    antecedent bigint[], consequent bigint[],
    support float8, confidence float8, lift float8, leverage float8, conviction float8,
    count bigint);
COMMENT ON TYPE retailiq.itemset IS 'a frequent itemset: its items, the baskets holding them all, and that count over all baskets';
COMMENT ON TYPE retailiq.rule IS 'an association rule antecedent => consequent with arules'' measures';

-- shared state functions
-- The state is a bytea (held in memory as an expanded object, see core/agg_state.h), not
-- internal: Citus then splits the aggregates over shards (a partial state per shard, combined
-- on the coordinator) and parallel query ships it with no serial functions.
CREATE FUNCTION retailiq_internal.basket_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_final(bytea) RETURNS retailiq.itemset[]
    AS 'MODULE_PATHNAME', 'basket_itemsets_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_bigint_final(bytea) RETURNS retailiq.itemset_bigint[]
    AS 'MODULE_PATHNAME', 'basket_itemsets_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_final(bytea) RETURNS retailiq.rule[]
    AS 'MODULE_PATHNAME', 'basket_rules_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_bigint_final(bytea) RETURNS retailiq.rule_bigint[]
    AS 'MODULE_PATHNAME', 'basket_rules_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- transition functions, one per argument list (an aggregate cannot have defaults)
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, text[], float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, text[], float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, bigint[], float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_accum(bytea, bigint[], float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, text[], float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, text[], float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, text[], float8, float8, int, float8, int, bool) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, bigint[], float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, bigint[], float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_accum(bytea, bigint[], float8, float8, int, float8, int, bool) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, text, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, text, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, bigint, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemsets_lines_accum(bytea, bigint, bigint, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, text, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, text, float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, bigint, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rules_lines_accum(bytea, bigint, bigint, float8, float8, int) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- frequent_itemsets(items, min_support [, max_len])
CREATE AGGREGATE retailiq.frequent_itemsets(items text[], min_support float8) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items text[], min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items bigint[], min_support float8) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items bigint[], min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);

-- assoc_rules(items, min_support, min_confidence [, max_len [, min_lift, max_consequent, empty_antecedent]])
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8, max_len int,
                                      min_lift float8, max_consequent int, empty_antecedent bool) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8, max_len int,
                                      min_lift float8, max_consequent int, empty_antecedent bool) (
    SFUNC = retailiq_internal.rules_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);

-- the same over order lines: one row per (order id, item), no array_agg needed
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item text, min_support float8) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item text, min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item bigint, min_support float8) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item bigint, min_support float8, max_len int) (
    SFUNC = retailiq_internal.itemsets_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.itemsets_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item text, min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item text, min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item bigint, min_support float8, min_confidence float8) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item bigint, min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq_internal.rules_lines_accum, STYPE = bytea, FINALFUNC = retailiq_internal.rules_bigint_final,
    COMBINEFUNC = retailiq_internal.basket_combine, PARALLEL = SAFE);

-- Recommendations at the till: the rules whose whole antecedent is in the cart propose their
-- consequent items not yet in it; each item is scored by its best such rule (confidence,
-- then lift, then support, then the antecedent), and the n best items are returned.
CREATE FUNCTION retailiq.recommend(cart text[], rules retailiq.rule[], n int)
RETURNS TABLE (item text, confidence float8, lift float8, support float8, antecedent text[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF cart IS NULL THEN
        RAISE EXCEPTION 'cart must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass an empty array for an empty cart.';
    END IF;
    IF rules IS NULL THEN
        RAISE EXCEPTION 'rules must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the array that retailiq.assoc_rules returned.';
    END IF;
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'n must be 0 or more' USING ERRCODE = '22023',
            DETAIL = format('n is %s.', coalesce(n::text, 'NULL')),
            HINT = 'Pass how many items to recommend.';
    END IF;
    cart := array_remove(cart, NULL);
    RETURN QUERY
    SELECT b.item, b.confidence, b.lift, b.support, b.antecedent
    FROM (SELECT DISTINCT ON (c.item) c.item, r.confidence, r.lift, r.support, r.antecedent
          FROM unnest(rules) r, unnest(r.consequent) c(item)
          WHERE r.antecedent <@ cart AND NOT (c.item = ANY (cart))
          ORDER BY c.item, r.confidence DESC, r.lift DESC, r.support DESC,
                   r.antecedent COLLATE "C") b
    ORDER BY b.confidence DESC, b.lift DESC, b.support DESC, b.item COLLATE "C"
    LIMIT n;
END
$fn$;
CREATE FUNCTION retailiq.recommend(cart bigint[], rules retailiq.rule_bigint[], n int)
RETURNS TABLE (item bigint, confidence float8, lift float8, support float8, antecedent bigint[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF cart IS NULL THEN
        RAISE EXCEPTION 'cart must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass an empty array for an empty cart.';
    END IF;
    IF rules IS NULL THEN
        RAISE EXCEPTION 'rules must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the array that retailiq.assoc_rules returned.';
    END IF;
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'n must be 0 or more' USING ERRCODE = '22023',
            DETAIL = format('n is %s.', coalesce(n::text, 'NULL')),
            HINT = 'Pass how many items to recommend.';
    END IF;
    cart := array_remove(cart, NULL);
    RETURN QUERY
    SELECT b.item, b.confidence, b.lift, b.support, b.antecedent
    FROM (SELECT DISTINCT ON (c.item) c.item, r.confidence, r.lift, r.support, r.antecedent
          FROM unnest(rules) r, unnest(r.consequent) c(item)
          WHERE r.antecedent <@ cart AND NOT (c.item = ANY (cart))
          ORDER BY c.item, r.confidence DESC, r.lift DESC, r.support DESC,
                   r.antecedent) b
    ORDER BY b.confidence DESC, b.lift DESC, b.support DESC, b.item
    LIMIT n;
END
$fn$;

-- Rules as a model value (kind assoc_rules): checksummed, storable with retailiq.save_model.
CREATE FUNCTION retailiq.rules_model(rules retailiq.rule[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'basket_rules_model' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rules_model(rules retailiq.rule_bigint[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'basket_rules_model' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_rules(model retailiq.model) RETURNS retailiq.rule[]
    AS 'MODULE_PATHNAME', 'basket_model_rules' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_rules_bigint(model retailiq.model) RETURNS retailiq.rule_bigint[]
    AS 'MODULE_PATHNAME', 'basket_model_rules' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.recommend(cart text[], model retailiq.model, n int)
RETURNS TABLE (item text, confidence float8, lift float8, support float8, antecedent text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT * FROM retailiq.recommend(cart, retailiq.model_rules(model), n) $fn$;
CREATE FUNCTION retailiq.recommend(cart bigint[], model retailiq.model, n int)
RETURNS TABLE (item bigint, confidence float8, lift float8, support float8, antecedent bigint[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT * FROM retailiq.recommend(cart, retailiq.model_rules_bigint(model), n) $fn$;

-- basket_distributed: association rules over a table whose baskets need not meet on one node
-- (a Citus distributed table, or a table too large for retailiq.max_memory). Level-wise
-- (Apriori) counting: each level's candidate itemsets go to the data as one text[][] parameter,
-- the baskets holding each candidate are counted where the rows are (on Citus: on the
-- workers, partial counts per shard), and only (candidate, count) rows come back. The same
-- rules and measures as retailiq.assoc_rules. doc/basket.md, doc/distributed.md.

-- a basket's distinct items as text (NULL items are skipped)
CREATE FUNCTION retailiq_internal.basket_item_set(items anyarray) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT x::text), '{}') FROM unnest(items) x WHERE x IS NOT NULL $$;

-- one level's count: how many baskets hold each candidate (a row of a text[][]); the state is
-- one count per candidate (a bytea), so Citus sends per shard those counts, not the baskets
CREATE FUNCTION retailiq_internal.itemset_count_accum(bytea, text[], text[]) RETURNS bytea
    AS 'MODULE_PATHNAME', 'itemset_count_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemset_count_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'itemset_count_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.itemset_count_final(bytea) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'itemset_count_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq_internal.itemset_count(items text[], candidates text[]) (
    SFUNC = retailiq_internal.itemset_count_accum, STYPE = bytea,
    FINALFUNC = retailiq_internal.itemset_count_final,
    COMBINEFUNC = retailiq_internal.itemset_count_combine, PARALLEL = SAFE);
COMMENT ON FUNCTION retailiq_internal.itemset_count_accum(bytea, text[], text[]) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.itemset_count_combine(bytea, bytea) IS 'aggregate combine function';
COMMENT ON FUNCTION retailiq_internal.itemset_count_final(bytea) IS 'aggregate final function';

CREATE FUNCTION retailiq.assoc_rules_distributed(relation regclass, items_column name,
                                                 min_support float8, min_confidence float8,
                                                 max_len int DEFAULT 0)
RETURNS SETOF retailiq.rule
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
    mc bigint;
    lvl int := 1;
    cand text[];
    found_any bool;
    counts bigint[];
    r record;
BEGIN
    IF relation IS NULL OR items_column IS NULL OR min_support IS NULL OR min_confidence IS NULL
       OR max_len IS NULL THEN
        RAISE EXCEPTION 'assoc_rules_distributed arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave max_len out for its default of 10.';
    END IF;
    IF min_support = 'NaN' OR NOT (min_support > 0 AND min_support <= 1) THEN
        RAISE EXCEPTION 'min_support must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('min_support is %s.', min_support),
                  HINT = 'Give min_support as a fraction, e.g. 0.01 for 1%.';
    END IF;
    IF min_confidence = 'NaN' OR NOT (min_confidence > 0 AND min_confidence <= 1) THEN
        RAISE EXCEPTION 'min_confidence must be greater than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('min_confidence is %s.', min_confidence),
                  HINT = 'Give min_confidence as a fraction, e.g. 0.5 for 50%.';
    END IF;
    IF max_len < 0 THEN
        RAISE EXCEPTION 'max_len must not be negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('max_len is %s.', max_len),
                  HINT = 'Pass 0 for the default of 10 items, or a positive length.';
    END IF;
    IF max_len = 0 THEN
        max_len := 10;
    END IF;
    EXECUTE format('SELECT count(%I) FROM %s', items_column, relation) INTO n;
    IF n = 0 THEN
        RETURN;
    END IF;
    -- the least count with count / n >= min_support (as retailiq.assoc_rules reads it)
    mc := least(greatest(ceil(min_support * n), 1), n);
    WHILE mc > 1 AND (mc - 1)::float8 / n >= min_support LOOP mc := mc - 1; END LOOP;
    WHILE mc <= n AND mc::float8 / n < min_support LOOP mc := mc + 1; END LOOP;

    IF to_regclass('pg_temp.riq_basket_freq') IS NOT NULL THEN   -- left by a call that failed
        DROP TABLE pg_temp.riq_basket_freq;
    END IF;
    CREATE TEMP TABLE riq_basket_freq (items text[] COLLATE "C" PRIMARY KEY, cnt bigint NOT NULL);
    -- level 1: item counts, grouped where the rows are
    FOR r IN EXECUTE format(
        'SELECT i, count(*) AS c FROM (SELECT unnest(retailiq_internal.basket_item_set(%I)) AS i FROM %s) s
          GROUP BY i HAVING count(*) >= $1', items_column, relation) USING mc LOOP
        INSERT INTO riq_basket_freq VALUES (ARRAY[r.i], r.c);
    END LOOP;
    -- level k: candidates joined from two frequent (k-1)-itemsets sharing all but their last
    -- item, kept when every (k-1)-subset is frequent; counted where the rows are
    WHILE lvl < max_len LOOP
        lvl := lvl + 1;
        SELECT array_agg(c.items ORDER BY c.items) INTO cand
          FROM (SELECT a.items || b.items[lvl - 1] AS items
                  FROM riq_basket_freq a JOIN riq_basket_freq b
                    ON cardinality(a.items) = lvl - 1 AND cardinality(b.items) = lvl - 1
                   AND a.items[1:lvl - 2] = b.items[1:lvl - 2] AND a.items[lvl - 1] < b.items[lvl - 1]) c
         WHERE lvl = 2 OR NOT EXISTS (
                SELECT 1 FROM generate_series(1, lvl - 2) j
                 WHERE NOT EXISTS (SELECT 1 FROM riq_basket_freq f
                                    WHERE f.items = c.items[1:j - 1] || c.items[j + 1:lvl]));
        EXIT WHEN cand IS NULL;
        found_any := false;
        -- the candidates go to every shard as one parameter; each shard counts its baskets
        -- holding each candidate, and only the counts come back
        EXECUTE format('SELECT retailiq_internal.itemset_count(%I::text[], $1) FROM %s',
                       items_column, relation) USING cand INTO counts;
        FOR i IN 1 .. coalesce(cardinality(counts), 0) LOOP
            IF counts[i] >= mc THEN
                INSERT INTO riq_basket_freq VALUES (ARRAY(SELECT unnest(cand[i:i])), counts[i]);
                found_any := true;
            END IF;
        END LOOP;
        EXIT WHEN NOT found_any;
    END LOOP;

    -- rules X => {y} from every frequent itemset Z = X u {y}, measures as retailiq.assoc_rules
    RETURN QUERY
    SELECT x.items::text[], ARRAY[z.item]::text[], z.cnt::float8 / n, z.cnt::float8 / x.cnt,
           (z.cnt::float8 / x.cnt) / (y.cnt::float8 / n),
           (z.cnt::float8 * n - x.cnt::float8 * y.cnt) / (n::float8 * n),
           CASE WHEN z.cnt = x.cnt THEN 'Infinity'::float8
                ELSE ((n - y.cnt)::float8 * x.cnt) / (n::float8 * (x.cnt - z.cnt)) END,
           z.cnt
      FROM (SELECT f.items, f.cnt, e.item, e.j
              FROM riq_basket_freq f, unnest(f.items) WITH ORDINALITY e(item, j)
             WHERE cardinality(f.items) >= 2) z
      JOIN riq_basket_freq x ON x.items = z.items[1:z.j - 1] || z.items[z.j + 1:]
      JOIN riq_basket_freq y ON y.items = ARRAY[z.item]
     WHERE z.cnt::float8 / x.cnt >= min_confidence
     ORDER BY 4 DESC, 5 DESC, 8 DESC, 1, 2;
    DROP TABLE pg_temp.riq_basket_freq;
END
$fn$;
COMMENT ON FUNCTION retailiq.assoc_rules_distributed(regclass, name, float8, float8, int) IS
    'association rules by level-wise counting where the rows are (Citus workers): the rules of retailiq.assoc_rules, items as text';
-- forecast: the contract table between forecasting and its consumers (alerts, reports).
--
-- refresh_forecasts (operations.sql) fills it; alerts read it (safety stock for the stock
-- trigger, sales shortfall checks) by series key, reports by store and product.

-- One row per forecast value: a series (the key of a sales source's series column), the store
-- and product it stands for when the source names them (reports join on these, never on the
-- key's text), a period at a grain, the point forecast and its prediction interval.
CREATE TABLE retailiq.forecast_result (
    series          text        NOT NULL CHECK (series <> ''),
    store_id        bigint,
    product_id      bigint,
    period_start    date        NOT NULL,
    grain           text        NOT NULL DEFAULT 'day' CHECK (grain IN ('day', 'week', 'month')),
    horizon         int         NOT NULL CHECK (horizon >= 1),
    yhat            float8      NOT NULL CHECK (yhat > '-Infinity' AND yhat < 'Infinity'),
    yhat_lower      float8      CONSTRAINT forecast_result_lower_check CHECK (yhat_lower <= yhat),
    yhat_upper      float8      CONSTRAINT forecast_result_upper_check
                                CHECK (yhat_upper >= yhat AND yhat_upper < 'Infinity'),
    interval_level  float8      NOT NULL DEFAULT 0.8 CHECK (interval_level > 0 AND interval_level < 1),
    model_name      text        NOT NULL,
    model_version   int,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, grain, period_start, model_name, created_at),
    CONSTRAINT forecast_result_interval_check CHECK ((yhat_lower IS NULL) = (yhat_upper IS NULL))
);
COMMENT ON TABLE retailiq.forecast_result IS
    'forecast values by series and period (filled by the forecasting part, read by alerts and reports)';
COMMENT ON COLUMN retailiq.forecast_result.store_id IS
    'the store the series is the sales of (from the sales source''s store column; NULL when it names none)';
COMMENT ON COLUMN retailiq.forecast_result.product_id IS
    'the product the series is the sales of (from the sales source''s product column; NULL when it names none)';
COMMENT ON COLUMN retailiq.forecast_result.horizon IS
    'steps ahead of the forecast origin, in grain units (1 = the first period after the origin)';
COMMENT ON COLUMN retailiq.forecast_result.interval_level IS
    'coverage of [yhat_lower, yhat_upper], e.g. 0.8 for an 80% prediction interval';
-- refresh_forecasts (operations.sql) replaces and prunes a model's rows by model name,
-- series and period.
CREATE INDEX forecast_result_model ON retailiq.forecast_result (model_name, series, period_start);
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_result', '');
GRANT SELECT ON retailiq.forecast_result TO PUBLIC;
-- forecast, baselines: the shared series collector's support functions, the statistical
-- baselines (seasonal naive, ETS, Croston/SBA, auto) and the forecast dispatchers.

-- The collector state (series.c) is shared by every forecasting aggregate: these three
-- functions make each of them PARALLEL SAFE.
CREATE FUNCTION retailiq_internal.forecast_collect_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_collect_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'forecast_collect_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_collect_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- What a forecasting aggregate sees: frequency, season and one entry per series
-- (start, end, length after gap filling, filled periods, sum).
CREATE FUNCTION retailiq_internal.forecast_series_summary_accum(internal, text, date, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_series_summary_accum(internal, text, date, float8, float8[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_series_summary_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'forecast_series_summary_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8) (
    SFUNC = retailiq_internal.forecast_series_summary_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_series_summary_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq_internal.forecast_series_summary_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_series_summary_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_series_summary(text, date, float8, float8[], jsonb) IS
    'the panel a forecasting aggregate would train on: frequency, season, per-series length and gaps';

-- forecast_fit: the statistical baselines, one model for every series of the group.
CREATE FUNCTION retailiq_internal.forecast_fit_accum(internal, text, date, float8, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_fit_accum(internal, text, date, float8, text, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_fit(series text, ts date, y float8, method text) (
    SFUNC = retailiq_internal.forecast_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_fit_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_fit(series text, ts date, y float8, method text, options jsonb) (
    SFUNC = retailiq_internal.forecast_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_fit_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_fit(text, date, float8, text, jsonb) IS
    'fit a statistical forecasting model (snaive, ets, croston, sba, auto) to every series of the group';

CREATE FUNCTION retailiq.forecast_model_series(model retailiq.model)
    RETURNS TABLE (series text, method text, n int, alpha float8, beta float8, gamma float8,
                   phi float8, sigma2 float8, aicc float8, season int)
    AS 'MODULE_PATHNAME', 'forecast_model_series' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.forecast_model_series(retailiq.model) IS
    'per series of a forecast_fit model: the method chosen and its parameters';

-- One dispatch for every method of the method table (methods.c): the model's kind names
-- the method, whose predict function answers (forecast_fit's local methods, the LSTM).
CREATE FUNCTION retailiq.forecast(model retailiq.model, series text, horizon int,
                                  future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_dispatch' LANGUAGE C STABLE PARALLEL SAFE ROWS 28;
COMMENT ON FUNCTION retailiq.forecast(retailiq.model, text, int, float8[]) IS
    'forecast one series of a forecasting model (forecast_fit or forecast_lstm_fit) horizon periods ahead';

CREATE FUNCTION retailiq.forecast_all(model retailiq.model, horizon int,
                                      future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (series text, step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_dispatch_all' LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_all(retailiq.model, int, float8[]) IS
    'forecast every series of a forecasting model horizon periods ahead';

CREATE FUNCTION retailiq.forecast_series(model retailiq.model) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'forecast_series' LANGUAGE C STRICT STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_series(retailiq.model) IS
    'the series of a forecasting model of any method, in the model''s order (the order of forecast_all and of future_exog''s blocks)';

-- The method table, for users and for the docs.
CREATE FUNCTION retailiq_internal.forecast_method_table()
    RETURNS TABLE (name text, scope text, factors boolean, intermittent boolean, trainer text,
                   options text[], description text, with_factors text)
    AS 'MODULE_PATHNAME', 'forecast_methods' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
CREATE VIEW retailiq.forecast_methods AS SELECT * FROM retailiq_internal.forecast_method_table();
GRANT SELECT ON retailiq.forecast_methods TO PUBLIC;
-- The method that fits for `method`: its with_factors when factors are given, else itself.
CREATE FUNCTION retailiq_internal.forecast_fit_method(method text, has_factors boolean) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT CASE WHEN has_factors THEN coalesce(m.with_factors, m.name) ELSE m.name END
              FROM retailiq.forecast_methods m WHERE m.name = method);
COMMENT ON VIEW retailiq.forecast_methods IS
    'the registered forecasting methods: local (one series) or global (a panel), the inputs each takes, its trainer and its own options';

-- For tests against a reference implementation: one ETS form with given parameters and
-- initial state (nothing estimated) -> {loglik, yhat[1..h], lower[1..h], upper[1..h]}.
CREATE FUNCTION retailiq_internal.ets_check(y float8[], m int, model text, par float8[], init float8[],
                                    h int, level float8 DEFAULT 0.8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'forecast_ets_check' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- The Syntetos-Boylan-Croston class of one demand history (demand_class.c).
CREATE FUNCTION retailiq.demand_class(y float8[], OUT class text, OUT adi float8, OUT cv2 float8,
                                      OUT demands int, OUT periods int)
    AS 'MODULE_PATHNAME', 'demand_class' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.demand_class(float8[]) IS
    'Syntetos-Boylan-Croston class of a demand history (oldest first, 0 = no sale): smooth, erratic, intermittent or lumpy by ADI (cut 1.32) and CV^2 of the sizes (cut 0.49)';
-- forecast, LSTM: a global LSTM forecaster over many series (lstm_net.c, lstm_train.c,
-- lstm_options.c, lstm_fit.c, lstm_model.c, lstm_predict.c). See doc/forecast-lstm.md.

CREATE FUNCTION retailiq_internal.forecast_lstm_gradient_check(seed int, layers int DEFAULT 1) RETURNS float8
    AS 'MODULE_PATHNAME', 'forecast_lstm_gradient_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_lstm_gradient_check(int, int) IS
    'largest relative error of the LSTM backward pass against finite differences on a small random network (a self-test)';

-- forecast_lstm_fit(series, ts, y [, exog [, options]]): one global model over every
-- series of the group. The rows are gathered by the shared series collector
-- (forecast_collect_*), so the aggregate runs in parallel like every forecasting aggregate.
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_accum(internal, text, date, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_accum(internal, text, date, float8, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_accum(internal, text, date, float8, float8[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8) (
    SFUNC = retailiq_internal.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8, exog float8[]) (
    SFUNC = retailiq_internal.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq_internal.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_lstm_fit(text, date, float8) IS
    'train one global LSTM forecaster over every series of the group (defaults chosen from the data)';
COMMENT ON AGGREGATE retailiq.forecast_lstm_fit(text, date, float8, float8[]) IS
    'train one global LSTM forecaster with per-period factors (promotion, price, holiday, weather, ...)';
COMMENT ON AGGREGATE retailiq.forecast_lstm_fit(text, date, float8, float8[], jsonb) IS
    'train one global LSTM forecaster with factors and options (see doc/forecast-lstm.md)';

CREATE FUNCTION retailiq.forecast_lstm(model retailiq.model, series text, horizon int,
                                       future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_lstm' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 28;
COMMENT ON FUNCTION retailiq.forecast_lstm(retailiq.model, text, int, float8[]) IS
    'forecast one series of an LSTM model: horizon steps with the calibrated prediction interval';

CREATE FUNCTION retailiq.forecast_lstm_all(model retailiq.model, horizon int,
                                           future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (series text, step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_lstm_all' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10000;
COMMENT ON FUNCTION retailiq.forecast_lstm_all(retailiq.model, int, float8[]) IS
    'forecast every series of an LSTM model at once (future_exog: series x horizon x factors)';

CREATE FUNCTION retailiq.forecast_lstm_series(model retailiq.model) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'forecast_lstm_series' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_lstm_series(retailiq.model) IS
    'the series of an LSTM model, in model order (the order of forecast_lstm_all and its future_exog)';
-- forecast, dynamic regression: factors plus level, season and AR(1) errors per series,
-- pooled across series with shrinkage (regression_fit.c, regression_sql.c). See
-- doc/forecast-regression.md. Predict with retailiq.forecast / retailiq.forecast_all.

-- forecast_regression_fit(series, ts, y [, exog [, options]]): one model over every series
-- of the group, the same arguments as forecast_lstm_fit. The rows are gathered by the
-- shared series collector (forecast_collect_*), so the aggregate runs in parallel.
CREATE FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_regression_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[]) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[], jsonb) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_final(internal) IS 'aggregate final function';

CREATE AGGREGATE retailiq.forecast_regression_fit(series text, ts date, y float8) (
    SFUNC = retailiq_internal.forecast_regression_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_regression_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_regression_fit(series text, ts date, y float8, exog float8[]) (
    SFUNC = retailiq_internal.forecast_regression_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_regression_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_regression_fit(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq_internal.forecast_regression_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_regression_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_regression_fit(text, date, float8) IS
    'fit a dynamic regression (level, season, AR(1) errors) over every series of the group';
COMMENT ON AGGREGATE retailiq.forecast_regression_fit(text, date, float8, float8[]) IS
    'fit a dynamic regression on per-period factors (promotion, price, holiday, ...), pooled across series with shrinkage';
COMMENT ON AGGREGATE retailiq.forecast_regression_fit(text, date, float8, float8[], jsonb) IS
    'fit a dynamic regression on factors with options (see doc/forecast-regression.md)';

CREATE FUNCTION retailiq.forecast_regression_series(model retailiq.model) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'forecast_regression_series' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_regression_series(retailiq.model) IS
    'the series of a regression model, in model order (the order of forecast_all and its future_exog)';
-- forecast accuracy: WAPE, MAPE, sMAPE, bias, RMSE, MASE, RMSSE, interval coverage and quantile loss as
-- parallel-safe aggregates over (actual, forecast) rows, and the seasonal-naive scale that
-- MASE and RMSSE divide by (accuracy.c; doc/forecast-operations.md).
--
-- Each state is a short float8[] (n and sums) with one shared combine function: no
-- serialize/deserialize needed, and Citus can split them too. Rows with a NULL argument are
-- left out (STRICT transition functions); NaN and infinities are errors; no rows -> NULL.

CREATE FUNCTION retailiq_internal.accuracy_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_combine' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.accuracy_mean_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_mean_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.accuracy_root_mean_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_root_mean_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.accuracy_wape_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_wape_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION retailiq_internal.wape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_wape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.mape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_mape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.smape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_smape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bias_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_bias_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rmse_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_rmse_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.mase_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_mase_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rmsse_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_rmsse_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.coverage_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_coverage_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.quantile_loss_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_quantile_loss_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.wape(actual float8, forecast float8) (
    SFUNC = retailiq_internal.wape_accum, STYPE = float8[], INITCOND = '{0,0,0}',
    FINALFUNC = retailiq_internal.accuracy_wape_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.wape(float8, float8) IS
    'weighted absolute percentage error sum|actual - forecast| / sum|actual| (a fraction); NULL when every actual is 0';

CREATE AGGREGATE retailiq.mape(actual float8, forecast float8) (
    SFUNC = retailiq_internal.mape_accum, STYPE = float8[], INITCOND = '{0,0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.mape(float8, float8) IS
    'mean absolute percentage error mean(|actual - forecast| / |actual|) (a fraction); rows with actual 0 are left out';

CREATE AGGREGATE retailiq.smape(actual float8, forecast float8) (
    SFUNC = retailiq_internal.smape_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.smape(float8, float8) IS
    'symmetric MAPE mean(2|actual - forecast| / (|actual| + |forecast|)), in [0, 2]; a 0/0 term counts 0';

CREATE AGGREGATE retailiq.bias(actual float8, forecast float8) (
    SFUNC = retailiq_internal.bias_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.bias(float8, float8) IS
    'mean error mean(forecast - actual): positive when the forecast runs high';

CREATE AGGREGATE retailiq.rmse(actual float8, forecast float8) (
    SFUNC = retailiq_internal.rmse_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_root_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rmse(float8, float8) IS
    'root mean squared error sqrt(mean((actual - forecast)^2))';

CREATE AGGREGATE retailiq.mase(actual float8, forecast float8, scale float8) (
    SFUNC = retailiq_internal.mase_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.mase(float8, float8, float8) IS
    'mean absolute scaled error mean(|actual - forecast| / scale), scale = retailiq.naive_scale(history, season)';

CREATE AGGREGATE retailiq.rmsse(actual float8, forecast float8, scale float8) (
    SFUNC = retailiq_internal.rmsse_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_root_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rmsse(float8, float8, float8) IS
    'root mean squared scaled error sqrt(mean((actual - forecast)^2 / scale)), scale = retailiq.naive_scale(history, season, true)';

CREATE AGGREGATE retailiq.coverage(actual float8, lower float8, upper float8) (
    SFUNC = retailiq_internal.coverage_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.coverage(float8, float8, float8) IS
    'share of actuals inside their prediction interval [lower, upper]';

CREATE AGGREGATE retailiq.quantile_loss(actual float8, forecast float8, quantile float8) (
    SFUNC = retailiq_internal.quantile_loss_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.quantile_loss(float8, float8, float8) IS
    'mean quantile (pinball) loss of forecasts of the quantile-th quantile: quantile (actual - forecast) above, (1 - quantile) (forecast - actual) below';

CREATE FUNCTION retailiq.naive_scale(y float8[], season int, squared boolean DEFAULT false)
RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_naive_scale' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.naive_scale(float8[], int, boolean) IS
    'in-sample seasonal-naive error of a history (oldest first): mean |y[t] - y[t-season]| (the MASE scale), or the mean square with squared (the RMSSE scale)';

-- The support functions are not PUBLIC (src/privileges.sql); accuracy.c checks every state
-- it is handed anyway (a superuser's own aggregate, a direct call).
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
        -- is serial, so with retailiq.forecast_workers the workers go to the fit, not the scan
        PERFORM set_config('retailiq.progress_label', source_name, true);
        v_gather := current_setting('max_parallel_workers_per_gather');
        IF (SELECT fm.trainer FROM retailiq.forecast_methods fm
             WHERE fm.name = retailiq_internal.forecast_fit_method(src.method, cardinality(src.exog_columns) > 0)) = 'forecast_fit'
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
        EXECUTE retailiq_internal.sales_source_fit_query(src, src.method, false, src.options ? 'history_days') INTO v_model
          USING src.method, v_fit_options, NULL::date, (src.options ->> 'history_days')::int;
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

-- Progress of the forecast_fit calls fitting now (and so of refresh_forecasts), one row per
-- call, like pg_stat_progress_*: the rows come from a shared-memory area that exists when
-- retailiq is in shared_preload_libraries (without it the view is empty).
CREATE FUNCTION retailiq_internal.forecast_progress_rows(
        OUT pid int, OUT datid oid, OUT label text, OUT method text, OUT series_done bigint,
        OUT series_total bigint, OUT workers int, OUT started timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'forecast_progress_rows' LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 10;
CREATE VIEW retailiq.forecast_progress AS
SELECT p.pid, p.datid, d.datname, p.label, p.method, p.series_done, p.series_total, p.workers,
       p.started,
       e.elapsed,
       round((p.series_done / nullif(extract(epoch FROM e.elapsed), 0))::numeric, 2) AS series_per_second,
       CASE WHEN p.series_done > 0
            THEN clock_timestamp() + e.elapsed * ((p.series_total - p.series_done)::float8 / p.series_done)
       END AS estimated_end
  FROM retailiq_internal.forecast_progress_rows() p
  LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid
  CROSS JOIN LATERAL (SELECT clock_timestamp() - p.started AS elapsed) e;
GRANT SELECT ON retailiq.forecast_progress TO PUBLIC;
COMMENT ON VIEW retailiq.forecast_progress IS
    'forecast_fit calls fitting now: series done and total, workers, rate and estimated end (needs shared_preload_libraries)';

-- churn: BG/NBD and Gamma-Gamma customer-base models, a logistic churn model over
-- behavioural features, risk tiers, reasons and retention actions.

-- Shared by the fitting aggregates: their state is the rows they keep (see churn.h).
CREATE FUNCTION retailiq_internal.churn_rows_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.churn_rows_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'churn_rows_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.churn_rows_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_deserialize' LANGUAGE C STRICT PARALLEL SAFE;

-- BG/NBD (Fader, Hardie & Lee 2005)
-- Its state is the distinct (x, t_x, T) rows with their counts, a bytea (see churn.h): Citus
-- ships one partial state per shard instead of one row per customer.
CREATE FUNCTION retailiq_internal.bgnbd_fit_accum(bytea, int, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bgnbd_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bgnbd_fit_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bgnbd_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bgnbd_fit_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'bgnbd_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.bgnbd_fit(frequency int, recency float8, t float8) (
    SFUNC = retailiq_internal.bgnbd_fit_accum, STYPE = bytea,
    FINALFUNC = retailiq_internal.bgnbd_fit_final,
    COMBINEFUNC = retailiq_internal.bgnbd_fit_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.bgnbd_fit(int, float8, float8) IS
    'BG/NBD model by maximum likelihood over one row per customer (repeat purchases, time of the last, age)';

CREATE FUNCTION retailiq.churn_probability(model retailiq.model, frequency int, recency float8, t float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_churn_probability'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.churn_probability(retailiq.model, int, float8, float8) IS
    'BG/NBD: 1 - P(alive | frequency, recency, t)';
CREATE FUNCTION retailiq.expected_purchases(model retailiq.model, frequency int, recency float8,
                                            t float8, horizon float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_expected_purchases'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.expected_purchases(retailiq.model, int, float8, float8, float8) IS
    'BG/NBD: expected purchases in the next horizon time units, given frequency, recency and t';

-- Order history -> (frequency, recency, t, monetary) for BG/NBD and Gamma-Gamma.
CREATE TYPE retailiq.purchase_summary AS (
    frequency int, recency float8, t float8, monetary float8,
    first_purchase date, last_purchase date);
CREATE FUNCTION retailiq_internal.purchase_summary_accum(internal, date, float8, date, interval) RETURNS internal
    AS 'MODULE_PATHNAME', 'purchase_summary_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.purchase_summary_final(internal) RETURNS retailiq.purchase_summary
    AS 'MODULE_PATHNAME', 'purchase_summary_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.purchase_summary(purchased_on date, amount float8, as_of date,
                                           time_unit interval) (
    SFUNC = retailiq_internal.purchase_summary_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.purchase_summary_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine,
    SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.purchase_summary(date, float8, date, interval) IS
    'one customer''s orders -> frequency, recency, t (in time_unit) and mean repeat spend, as of a date';

-- Gamma-Gamma spend model and customer lifetime value
-- State: the distinct (x, mean spend) rows with their counts, a bytea (as bgnbd_fit's).
CREATE FUNCTION retailiq_internal.gammagamma_fit_accum(bytea, int, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'gammagamma_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.gammagamma_fit_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'gammagamma_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.gammagamma_fit_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'gammagamma_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.gammagamma_fit(frequency int, monetary float8) (
    SFUNC = retailiq_internal.gammagamma_fit_accum, STYPE = bytea,
    FINALFUNC = retailiq_internal.gammagamma_fit_final,
    COMBINEFUNC = retailiq_internal.gammagamma_fit_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.gammagamma_fit(int, float8) IS
    'Gamma-Gamma spend model over customers with repeat purchases (mean repeat spend)';
CREATE FUNCTION retailiq.expected_spend(model retailiq.model, frequency int, monetary float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'gammagamma_expected_spend'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.expected_spend(retailiq.model, int, float8) IS
    'Gamma-Gamma: expected value of a future transaction given frequency and mean repeat spend';
CREATE FUNCTION retailiq.clv(bgnbd retailiq.model, gammagamma retailiq.model, frequency int,
                             recency float8, t float8, monetary float8, periods int,
                             discount_rate float8, period_length float8 DEFAULT 1)
    RETURNS float8 AS 'MODULE_PATHNAME', 'churn_clv'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.clv(retailiq.model, retailiq.model, int, float8, float8, float8, int, float8, float8) IS
    'customer lifetime value: discounted expected purchases per period times expected spend';

-- Supervised churn model: L2-penalised logistic regression on standardised features
-- (aggregates take no DEFAULTs: one overload per optional argument, one C function)
CREATE FUNCTION retailiq_internal.logit_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool, float8, text[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool, float8, text[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[]) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[],
                                    max_iter int) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_fit(float8[], bool, float8, text[], int) IS
    'L2-penalised logistic regression (Newton/IRLS on standardised features); label true = churned; l2 defaults to 1, max_iter to 100';
CREATE FUNCTION retailiq.churn_probability(model retailiq.model, features float8[])
    RETURNS float8 AS 'MODULE_PATHNAME', 'logit_churn_probability'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.churn_probability(retailiq.model, float8[]) IS
    'logistic churn model: probability that the customer churns';
CREATE FUNCTION retailiq.churn_explain(model retailiq.model, features float8[], top int DEFAULT 3)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'logit_churn_explain'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.churn_explain(retailiq.model, float8[], int) IS
    'the features that raise this customer''s churn log-odds most, against the average customer';

-- Risk tiers: high at or above thresholds[1], medium at or above thresholds[2], else low.
CREATE FUNCTION retailiq.churn_risk(probability float8, thresholds float8[] DEFAULT '{0.6,0.3}')
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF probability = 'NaN'::float8 OR probability < 0 OR probability > 1 THEN
        RAISE EXCEPTION 'probability must be between 0 and 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('probability is %s.', probability),
                  HINT = 'Pass a value from retailiq.churn_probability().';
    END IF;
    IF array_ndims(thresholds) IS DISTINCT FROM 1 OR array_length(thresholds, 1) <> 2
       OR array_position(thresholds, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'thresholds must be an array of two numbers: high, medium'
            USING ERRCODE = 'array_subscript_error',
                  HINT = 'For example ARRAY[0.6, 0.3]: high from 0.6, medium from 0.3.';
    END IF;
    IF NOT (thresholds[2] > 0 AND thresholds[2] <= thresholds[1] AND thresholds[1] <= 1) THEN
        RAISE EXCEPTION 'thresholds must satisfy 0 < medium <= high <= 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('thresholds are %s.', thresholds),
                  HINT = 'For example ARRAY[0.6, 0.3]: high from 0.6, medium from 0.3.';
    END IF;
    RETURN CASE WHEN probability >= thresholds[1] THEN 'high'
                WHEN probability >= thresholds[2] THEN 'medium'
                ELSE 'low' END;
END
$$;
COMMENT ON FUNCTION retailiq.churn_risk(float8, float8[]) IS
    'risk tier (high / medium / low) of a churn probability';

-- What a feature that raises the risk says about the customer.
CREATE TABLE retailiq.churn_reason (
    feature     text PRIMARY KEY,
    reason      text NOT NULL,
    is_default  bool NOT NULL DEFAULT false
);
COMMENT ON TABLE retailiq.churn_reason IS 'churn model feature -> reason for risk (edit freely)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.churn_reason', 'WHERE NOT is_default');

-- What to do about it, by tier and reason; reason 'general' is the fallback of a tier.
CREATE TABLE retailiq.retention_strategy (
    tier        text NOT NULL CHECK (tier IN ('high', 'medium', 'low')),
    reason      text NOT NULL,
    action      text NOT NULL,
    is_default  bool NOT NULL DEFAULT false,
    PRIMARY KEY (tier, reason)
);
COMMENT ON TABLE retailiq.retention_strategy IS 'risk tier x reason -> suggested retention action (edit freely)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.retention_strategy', 'WHERE NOT is_default');

INSERT INTO retailiq.churn_reason (feature, reason, is_default) VALUES
    ('days_since_last_order', 'lapsing', true),
    ('recency_over_gap', 'lapsing', true),
    ('tenure_days', 'new_customer', true),
    ('orders_30d', 'declining', true),
    ('orders_90d', 'declining', true),
    ('orders_365d', 'declining', true),
    ('spend_30d', 'declining', true),
    ('spend_90d', 'declining', true),
    ('spend_365d', 'declining', true),
    ('order_trend', 'declining', true),
    ('spend_trend', 'declining', true),
    ('mean_gap_days', 'infrequent', true),
    ('sd_gap_days', 'infrequent', true),
    ('avg_basket_items', 'small_baskets', true),
    ('avg_order_value', 'small_baskets', true),
    ('category_breadth', 'small_baskets', true),
    ('discount_share', 'price_sensitive', true),
    ('promo_line_share', 'price_sensitive', true),
    ('return_rate', 'returns', true),
    ('online_share', 'channel', true),
    ('store_count', 'channel', true),
    ('events_30d', 'disengaged', true),
    ('views_30d', 'disengaged', true),
    ('cart_adds_30d', 'disengaged', true),
    ('dwell_minutes_30d', 'disengaged', true),
    ('days_since_last_event', 'disengaged', true),
    ('event_trend', 'disengaged', true),
    ('cart_conversion', 'cart_abandonment', true);

INSERT INTO retailiq.retention_strategy (tier, reason, action, is_default) VALUES
    ('high', 'lapsing', 'win-back offer: personal coupon by e-mail this week', true),
    ('high', 'declining', 'loyalty bonus on the next purchase and a call from the store manager', true),
    ('high', 'price_sensitive', 'coupon of 15% on the categories they buy', true),
    ('high', 'returns', 'service call about the recent returns', true),
    ('high', 'disengaged', 're-engagement campaign with personalised recommendations', true),
    ('high', 'cart_abandonment', 'reminder of the abandoned cart with free delivery', true),
    ('high', 'small_baskets', 'bundle offer on complementary products', true),
    ('high', 'infrequent', 'replenishment reminder timed to their purchase cycle', true),
    ('high', 'channel', 'invite to the preferred channel (app or nearby store event)', true),
    ('high', 'new_customer', 'welcome series with a second-purchase incentive', true),
    ('high', 'general', 'personal win-back offer', true),
    ('medium', 'lapsing', 'we-miss-you e-mail with a small incentive', true),
    ('medium', 'declining', 'loyalty points boost', true),
    ('medium', 'price_sensitive', 'early access to the next promotion', true),
    ('medium', 'returns', 'satisfaction survey about the returned items', true),
    ('medium', 'disengaged', 'newsletter with new arrivals in their categories', true),
    ('medium', 'cart_abandonment', 'abandoned cart reminder', true),
    ('medium', 'general', 'regular loyalty communication, watch next month', true),
    ('low', 'general', 'no action', true);

-- The suggested action for one customer: probability, tier, main reason and action.
CREATE TYPE retailiq.retention_proposal AS (
    probability float8, tier text, feature text, reason text, action text);
CREATE FUNCTION retailiq.retention_action(model retailiq.model, features float8[],
                                          thresholds float8[] DEFAULT '{0.6,0.3}')
RETURNS retailiq.retention_proposal LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    res retailiq.retention_proposal;
BEGIN
    res.probability := retailiq.churn_probability(model, features);
    res.tier := retailiq.churn_risk(res.probability, thresholds);
    res.feature := retailiq.churn_explain(model, features, 1) -> 0 ->> 'feature';
    SELECT r.reason INTO res.reason FROM retailiq.churn_reason r WHERE r.feature = res.feature;
    res.reason := coalesce(res.reason, 'general');
    SELECT s.action INTO res.action FROM retailiq.retention_strategy s
     WHERE s.tier = res.tier AND s.reason IN (res.reason, 'general')
     ORDER BY s.reason = 'general' LIMIT 1;
    RETURN res;
END
$$;
COMMENT ON FUNCTION retailiq.retention_action(retailiq.model, float8[], float8[]) IS
    'churn probability, risk tier, main reason and the retention action the strategy table suggests';

-- Behavioural features for the supervised model (doc/churn.md lists them). Names, in the
-- order of churn_features' arrays:
CREATE FUNCTION retailiq.churn_feature_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['days_since_last_order', 'tenure_days', 'orders_30d', 'orders_90d',
    'orders_365d', 'spend_30d', 'spend_90d', 'spend_365d', 'order_trend', 'spend_trend',
    'mean_gap_days', 'sd_gap_days', 'recency_over_gap', 'avg_basket_items', 'avg_order_value',
    'category_breadth', 'discount_share', 'promo_line_share', 'return_rate', 'online_share',
    'store_count', 'events_30d', 'views_30d', 'cart_adds_30d', 'dwell_minutes_30d',
    'days_since_last_event', 'event_trend', 'cart_conversion']::text[] $$;

-- One row per customer with an order before as_of: the features as of that moment, from the
-- registered orders, order_lines, products and events (retailiq.source; orders need the
-- optional item_count and discount_amount columns, order_lines returned).
CREATE FUNCTION retailiq.churn_features(as_of timestamptz)
RETURNS TABLE (customer_id int, features float8[])
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF as_of = 'infinity' OR as_of = '-infinity' THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the cut-off date of the features, e.g. now() or ''2025-09-01''.';
    END IF;
    PERFORM retailiq_internal.source_require('orders', ARRAY['item_count', 'discount_amount']::name[]);
    PERFORM retailiq_internal.source_require('order_lines', ARRAY['returned']::name[]);
    RETURN QUERY EXECUTE format($q$
    WITH o AS (
        SELECT o.order_id, o.customer_id, o.store_id, o.channel, o.item_count,
               o.total_amount::float8 AS amount, o.discount_amount::float8 AS discount,
               extract(epoch FROM $1 - o.ordered_at)::float8 / 86400 AS age
        FROM %1$s o WHERE o.ordered_at < $1),
    g AS (
        SELECT customer_id, age - lead(age) OVER (PARTITION BY customer_id ORDER BY age DESC) AS gap
        FROM o),
    gs AS (
        SELECT customer_id, avg(gap) AS mean_gap, coalesce(stddev_pop(gap), 0) AS sd_gap
        FROM g WHERE gap IS NOT NULL GROUP BY customer_id),
    oa AS (
        SELECT customer_id, min(age) AS last_age, max(age) AS first_age,
               count(*) FILTER (WHERE age < 30) AS n30,
               count(*) FILTER (WHERE age < 90) AS n90,
               count(*) FILTER (WHERE age >= 90 AND age < 180) AS n90_180,
               count(*) FILTER (WHERE age < 365) AS n365,
               coalesce(sum(amount) FILTER (WHERE age < 30), 0) AS s30,
               coalesce(sum(amount) FILTER (WHERE age < 90), 0) AS s90,
               coalesce(sum(amount) FILTER (WHERE age >= 90 AND age < 180), 0) AS s90_180,
               coalesce(sum(amount) FILTER (WHERE age < 365), 0) AS s365,
               avg(item_count) AS avg_items, avg(amount) AS avg_value,
               sum(discount) / nullif(sum(amount) + sum(discount), 0) AS discount_share,
               avg((channel = 'online')::int) AS online_share,
               count(DISTINCT store_id) AS stores
        FROM o GROUP BY customer_id),
    l AS (
        SELECT o.customer_id, count(DISTINCT p.category) AS categories,
               avg((ol.promo_id IS NOT NULL)::int) AS promo_share,
               avg(ol.returned::int) AS return_rate
        FROM o JOIN %2$s ol USING (order_id)
               JOIN %3$s p ON p.product_id = ol.product_id
        WHERE o.age < 365 GROUP BY o.customer_id),
    e AS (
        SELECT e.customer_id,
               count(*) FILTER (WHERE a < 30) AS ev30,
               count(*) FILTER (WHERE a >= 30 AND a < 90) AS ev30_90,
               count(*) FILTER (WHERE a < 30 AND e.event_type = 'view') AS views30,
               count(*) FILTER (WHERE a < 30 AND e.event_type = 'cart_add') AS carts30,
               count(*) FILTER (WHERE a < 90 AND e.event_type = 'cart_add') AS carts90,
               coalesce(sum(e.duration_s) FILTER (WHERE a < 30 AND e.event_type = 'dwell'), 0) / 60.0 AS dwell30,
               min(a) AS last_event_age
        FROM (SELECT ev.*, extract(epoch FROM $1 - ev.occurred_at)::float8 / 86400 AS a
              FROM %4$s ev WHERE ev.occurred_at < $1 AND ev.occurred_at >= $1 - interval '365 days') e
        GROUP BY e.customer_id)
    SELECT oa.customer_id::int, ARRAY[
        oa.last_age, oa.first_age,
        ln(1 + oa.n30), ln(1 + oa.n90), ln(1 + oa.n365),
        ln(1 + oa.s30), ln(1 + oa.s90), ln(1 + oa.s365),
        ln(1 + oa.n90) - ln(1 + oa.n90_180), ln(1 + oa.s90) - ln(1 + oa.s90_180),
        coalesce(gs.mean_gap, oa.first_age), coalesce(gs.sd_gap, 0),
        oa.last_age / greatest(coalesce(gs.mean_gap, oa.first_age), 1),
        oa.avg_items, ln(1 + greatest(oa.avg_value, 0)),
        coalesce(l.categories, 0), coalesce(oa.discount_share, 0),
        coalesce(l.promo_share, 0), coalesce(l.return_rate, 0), oa.online_share, oa.stores,
        ln(1 + coalesce(e.ev30, 0)), ln(1 + coalesce(e.views30, 0)), ln(1 + coalesce(e.carts30, 0)),
        ln(1 + coalesce(e.dwell30, 0)), least(coalesce(e.last_event_age, 365), 365),
        ln(1 + coalesce(e.ev30, 0)) - ln(1 + coalesce(e.ev30_90, 0) / 2.0),
        oa.n90 / (1.0 + coalesce(e.carts90, 0))
      ]::float8[]
    FROM oa LEFT JOIN gs USING (customer_id) LEFT JOIN l USING (customer_id)
            LEFT JOIN e USING (customer_id)
    $q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'), retailiq_internal.source_sql('products'),
       retailiq_internal.source_sql('events')) USING as_of;
END
$fn$;
COMMENT ON FUNCTION retailiq.churn_features(timestamptz) IS
    'behavioural churn features per customer as of a date (names: retailiq.churn_feature_names())';

-- churned = no order in [as_of, as_of + horizon_days) for every customer with an order before as_of.
-- Reads the registered orders (retailiq.source).
CREATE FUNCTION retailiq.churn_labels(as_of timestamptz, horizon_days int DEFAULT 90)
RETURNS TABLE (customer_id int, churned bool)
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF horizon_days < 1 THEN
        RAISE EXCEPTION 'horizon_days must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('horizon_days is %s.', horizon_days),
                  HINT = 'Churn is usually "no purchase in the next 90 days".';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT o.customer_id::int,
               NOT bool_or(o.ordered_at >= $1 AND o.ordered_at < $1 + make_interval(days => $2))
        FROM %1$s o WHERE o.ordered_at < $1 + make_interval(days => $2)
        GROUP BY o.customer_id HAVING bool_or(o.ordered_at < $1)
    $q$, retailiq_internal.source_sql('orders')) USING as_of, horizon_days;
END
$fn$;
COMMENT ON FUNCTION retailiq.churn_labels(timestamptz, int) IS
    'churned = no purchase in the horizon_days after as_of, for customers who bought before as_of';

-- Logistic regression in one-pass steps with partial-sum states that are plain arrays /
-- bytea, not internal: a distributed engine (Citus) can run each step on its workers and add
-- the partial sums. logit_start gives the intercept-only model with the standardisation;
-- each logit_step is one Newton step over all rows.
CREATE FUNCTION retailiq_internal.logit_start_accum(float8[], float8[], bool) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_start_accum(float8[], float8[], bool, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_start_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_combine' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_start_final(float8[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_start_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_start(features float8[], label bool) (
    SFUNC = retailiq_internal.logit_start_accum, STYPE = float8[], FINALFUNC = retailiq_internal.logit_start_final,
    COMBINEFUNC = retailiq_internal.logit_start_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_start(features float8[], label bool, l2 float8) (
    SFUNC = retailiq_internal.logit_start_accum, STYPE = float8[], FINALFUNC = retailiq_internal.logit_start_final,
    COMBINEFUNC = retailiq_internal.logit_start_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_start(float8[], bool, float8) IS
    'the intercept-only logistic model with feature means and scales: the start of logit_step';

CREATE FUNCTION retailiq_internal.logit_step_accum(bytea, float8[], bool, retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'logit_step_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_step_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'logit_step_combine' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_step_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_step_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_step(features float8[], label bool, model retailiq.model) (
    SFUNC = retailiq_internal.logit_step_accum, STYPE = bytea, FINALFUNC = retailiq_internal.logit_step_final,
    COMBINEFUNC = retailiq_internal.logit_step_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_step(float8[], bool, retailiq.model) IS
    'one Newton step of logistic regression from model, by summing gradients and Hessians over the rows';

CREATE FUNCTION retailiq.logit_set_feature_names(model retailiq.model, feature_names text[])
    RETURNS retailiq.model AS 'MODULE_PATHNAME', 'logit_set_feature_names'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- logit_start, then logit_step until the step is below 1e-8 (at most max_iter steps), over a
-- table or view; each step is one aggregate query over it.
CREATE FUNCTION retailiq.logit_fit_iterative(source regclass, features_column name, label_column name,
                                             l2 float8 DEFAULT 1.0, max_iter int DEFAULT 25,
                                             feature_names text[] DEFAULT NULL)
RETURNS retailiq.model LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m retailiq.model;
    q text;
BEGIN
    IF source IS NULL OR features_column IS NULL OR label_column IS NULL OR l2 IS NULL OR max_iter IS NULL THEN
        RAISE EXCEPTION 'logit_fit_iterative arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_iter NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_iter must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('max_iter is %s.', max_iter);
    END IF;
    EXECUTE format('SELECT retailiq.logit_start(%I, %I, $1) FROM %s', features_column, label_column, source)
        INTO m USING l2;
    q := format('SELECT retailiq.logit_step(%I, %I, $1) FROM %s', features_column, label_column, source);
    FOR i IN 1..max_iter LOOP
        EXECUTE q INTO m USING m;
        EXIT WHEN (m::text::jsonb #>> '{metrics,converged}')::bool;
    END LOOP;
    IF NOT (m::text::jsonb #>> '{metrics,converged}')::bool THEN
        RAISE WARNING 'logit_fit_iterative did not converge in % steps', max_iter
            USING HINT = 'Use l2 > 0 or more steps; the model is flagged converged = false.';
    END IF;
    IF feature_names IS NOT NULL THEN
        m := retailiq.logit_set_feature_names(m, feature_names);
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION retailiq.logit_fit_iterative(regclass, name, name, float8, int, text[]) IS
    'logistic regression by logit_start + logit_step passes over a table (partial sums, Citus-friendly)';
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
-- period covers it; a period's mean and variance are spread evenly over its days. The
-- standard deviation comes from the prediction interval, or is sqrt(mean) (Poisson) when a
-- forecast has none. Days without a forecast take the mean of the days with one; no
-- forecast at all gives no row.
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
        SELECT d.day, f.yhat / f.ndays AS mu,
               CASE WHEN f.yhat_upper IS NULL THEN greatest(f.yhat, 0) / f.ndays
                    ELSE ((f.yhat_upper - f.yhat_lower)
                          / (2 * retailiq.normal_quantile((1 + f.interval_level) / 2))) ^ 2 / f.ndays
               END AS var
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
-- scheduler: jobs run by background workers on a schedule, and their run history.

-- The schedule language (cron fields, @daily-style shorthands, @every <interval>).
CREATE FUNCTION retailiq.check_schedule(schedule text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'scheduler_check_schedule' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.check_schedule(text) IS
    'true for a valid schedule; an error naming the bad field otherwise';

CREATE FUNCTION retailiq.next_run(schedule text, after timestamptz DEFAULT now(),
                                  time_zone text DEFAULT NULL) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'scheduler_next_run' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.next_run(text, timestamptz, text) IS
    'the first fire time of a schedule strictly after a time (cron fields in retailiq.job_time_zone unless a zone is given)';

CREATE FUNCTION retailiq.next_runs(schedule text, after timestamptz, n int,
                                   time_zone text DEFAULT NULL) RETURNS SETOF timestamptz
    AS 'MODULE_PATHNAME', 'scheduler_next_runs' LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION retailiq.next_runs(text, timestamptz, int, text) IS
    'the next n fire times of a schedule after a time';

-- Whose jobs these are. A job runs in a session of its owner, so a job is a standing session of
-- that role: only the owner's own session (session_user) may create, change, start or remove
-- it, or a superuser's session. SET ROLE and SECURITY DEFINER functions change the current
-- user, which gives a role's privileges, never its session: a masked login role that may
-- SET ROLE to an unmasked one, or an admin that may SET ROLE to a second admin, cannot make a
-- job do what its own session could not. Roles are kept by OID (regrole), so a role dropped
-- and created again under the same name inherits none of the old one's jobs.
CREATE FUNCTION retailiq.job_session_may_own(owner regrole) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(owner = c.oid AND (c.rolname = session_user OR s.rolsuper), false)
    FROM pg_roles c, pg_roles s
    WHERE c.rolname = current_user AND s.rolname = session_user
$$;
COMMENT ON FUNCTION retailiq.job_session_may_own(regrole) IS
    'true when this session may write jobs that run as the role: it is the current user, and the session user or a superuser''s session';

-- The job this backend runs, if it is a job worker: its id, the session user that created
-- it and the session user that last set its command (NULL outside a job). Kept in the
-- worker's memory, so nothing a job's SQL does can change it.
CREATE FUNCTION retailiq.current_job(OUT job_id bigint, OUT created_by regrole, OUT command_by regrole)
    AS 'MODULE_PATHNAME', 'scheduler_current_job' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION retailiq.current_job() IS
    'the running job in a job worker (id, creator, author of its command); nulls in any other session';

-- Built-in jobs take ids 1 to 100 explicitly, so that the install script never draws from
-- the sequence: with wal_level = minimal, PostgreSQL 15 forgets after a crash the values a
-- sequence handed out in the transaction that created it, and ids would be reused.
CREATE SEQUENCE retailiq.job_job_id_seq START 101;
CREATE TABLE retailiq.job (
    job_id        bigint      PRIMARY KEY DEFAULT nextval('retailiq.job_job_id_seq'),
    job_name      text        NOT NULL UNIQUE CHECK (job_name <> '' AND length(job_name) <= 63),
    schedule      text        NOT NULL CHECK (retailiq.check_schedule(schedule)),
    command       text        NOT NULL CHECK (btrim(command) <> ''),
    owner         regrole     NOT NULL DEFAULT pg_catalog.quote_ident(current_user)::regrole,
    created_by    regrole     NOT NULL,   -- session_user that created the job (set by the trigger)
    command_by    regrole     NOT NULL,   -- session_user that last set the command (set by the trigger)
    enabled       boolean     NOT NULL DEFAULT true,
    timeout       interval    CHECK (timeout > interval '0'),
    retries       int         NOT NULL DEFAULT 0 CHECK (retries BETWEEN 0 AND 100),
    retry_delay   interval    NOT NULL DEFAULT interval '1 minute' CHECK (retry_delay >= interval '0'),
    next_run      timestamptz,
    last_run      timestamptz,
    last_status   text,
    failures      int         NOT NULL DEFAULT 0,
    run_requested boolean     NOT NULL DEFAULT false,
    builtin       boolean     NOT NULL DEFAULT false,
    description   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE retailiq.job_job_id_seq OWNED BY retailiq.job.job_id;
COMMENT ON TABLE retailiq.job IS 'scheduled jobs: each runs its command in a session of its owner, on its schedule';

CREATE TABLE retailiq.job_run (
    run_id        bigserial   PRIMARY KEY,
    job_id        bigint      NOT NULL,
    job_name      text        NOT NULL,
    owner         regrole     NOT NULL,
    trigger       text        NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry')),
    status        text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed out', 'cancelled')),
    scheduled_for timestamptz,
    started       timestamptz NOT NULL,
    finished      timestamptz,
    pid           int,
    rows          bigint,
    sqlstate      text,
    message       text,
    detail        text,
    hint          text,
    context       text,
    progress      jsonb         -- the forecast fits of the run (refresh_forecasts): series done/total, time, rate
);
COMMENT ON TABLE retailiq.job_run IS 'run history of scheduled jobs (pruned after retailiq.job_history_retention)';
CREATE INDEX job_run_job_idx ON retailiq.job_run (job_id, run_id);
CREATE INDEX job_run_finished_idx ON retailiq.job_run (finished);
CREATE INDEX job_run_running_idx ON retailiq.job_run (status) WHERE status = 'running';

SELECT pg_catalog.pg_extension_config_dump('retailiq.job', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_run_run_id_seq', '');

-- Everyone may schedule jobs, in their own session; everyone sees the jobs and runs of the
-- roles they have the privileges of. The scheduler and its workers write the run history.
ALTER TABLE retailiq.job ENABLE ROW LEVEL SECURITY;
ALTER TABLE retailiq.job_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_read ON retailiq.job FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY job_insert ON retailiq.job FOR INSERT WITH CHECK (retailiq.job_session_may_own(owner));
CREATE POLICY job_update ON retailiq.job FOR UPDATE USING (retailiq.job_session_may_own(owner))
    WITH CHECK (retailiq.job_session_may_own(owner));
CREATE POLICY job_delete ON retailiq.job FOR DELETE USING (retailiq.job_session_may_own(owner));
CREATE POLICY job_run_read ON retailiq.job_run FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.job TO PUBLIC;
GRANT USAGE ON SEQUENCE retailiq.job_job_id_seq TO PUBLIC;
GRANT SELECT ON retailiq.job_run TO PUBLIC;

-- The next due time after a run was dispatched: the schedule's next fire time after the
-- previous due time (so "@every" keeps its cadence), or after now when that is already past
-- (missed runs collapse into the one that just started: the catch-up policy).
CREATE FUNCTION retailiq_internal.job_advance(schedule text, due timestamptz, now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN n > now THEN n ELSE retailiq.next_run(schedule, now) END
    FROM (SELECT retailiq.next_run(schedule, coalesce(due, now)) AS n) s
$$;

-- Keep next_run in step with the schedule whatever way a row is written, and record who wrote
-- the job: created_by and command_by are the session user (a superuser's session may give
-- them, which is how pg_restore brings them back).
CREATE FUNCTION retailiq_internal.job_before_write() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me regrole := (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user);
    super boolean := (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user);
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT super OR NEW.created_by IS NULL THEN
            NEW.created_by := me;
        END IF;
        IF NOT super OR NEW.command_by IS NULL THEN
            NEW.command_by := me;
        END IF;
    ELSE
        NEW.created_by := OLD.created_by;
        IF NEW.command IS DISTINCT FROM OLD.command OR NEW.owner IS DISTINCT FROM OLD.owner THEN
            NEW.command_by := me;
        ELSIF NOT super OR NEW.command_by IS NULL THEN
            NEW.command_by := OLD.command_by;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.schedule IS DISTINCT FROM OLD.schedule
       OR (NEW.enabled AND NOT OLD.enabled) THEN
        IF NEW.next_run IS NULL OR TG_OP = 'UPDATE' AND NEW.next_run IS NOT DISTINCT FROM OLD.next_run THEN
            NEW.next_run := retailiq.next_run(NEW.schedule, clock_timestamp());
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER job_before_write BEFORE INSERT OR UPDATE ON retailiq.job
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.job_before_write();

-- Refuse to write a job from a session that may not own it (see job_session_may_own).
CREATE FUNCTION retailiq_internal.job_check_session() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF session_user <> current_user AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
        RAISE EXCEPTION 'a job cannot run as "%" from a session of "%"', current_user, session_user
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Jobs run in a session of their owner; SET ROLE and SECURITY DEFINER functions give %I''s privileges, not its session.', current_user),
                  HINT = format('Log in as %I to create or change its jobs, or RESET ROLE to work on your own.', current_user);
    END IF;
END
$$;

CREATE FUNCTION retailiq_internal.job_not_found(job_name text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'job "%" does not exist', job_name
        USING ERRCODE = 'undefined_object',
              HINT = 'List your jobs with SELECT job_name FROM retailiq.job; only a job''s owner may change it.';
END
$$;

CREATE FUNCTION retailiq.schedule(job_name text, schedule text, command text,
                                  enabled boolean DEFAULT true, timeout interval DEFAULT NULL,
                                  retries int DEFAULT 0, retry_delay interval DEFAULT interval '1 minute',
                                  description text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF job_name IS NULL OR schedule IS NULL OR command IS NULL OR enabled IS NULL
       OR retries IS NULL OR retry_delay IS NULL THEN
        RAISE EXCEPTION 'job_name, schedule, command, enabled, retries and retry_delay must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave out an optional argument to get its default.';
    END IF;
    IF job_name = '' OR length(job_name) > 63 THEN
        RAISE EXCEPTION 'job_name must be 1 to 63 characters'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Name jobs after what they do, e.g. ''nightly_forecast''.';
    END IF;
    IF btrim(command) = '' THEN
        RAISE EXCEPTION 'command must not be empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the SQL the job runs, e.g. ''SELECT 1''.';
    END IF;
    IF timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('timeout is %s.', timeout),
                  HINT = 'Leave timeout null to use retailiq.job_timeout.';
    END IF;
    IF retries < 0 OR retries > 100 OR retry_delay < interval '0' THEN
        RAISE EXCEPTION 'retries must be between 0 and 100 and retry_delay not negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('retries is %s, retry_delay is %s.', retries, retry_delay),
                  HINT = 'A failed run is tried again retries times, retry_delay apart.';
    END IF;
    PERFORM retailiq.check_schedule(schedule);
    PERFORM retailiq_internal.job_check_session();
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" cannot log in, so no job can run as it', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Schedule the job as a role with LOGIN (jobs run in a session of their owner).';
    END IF;
    IF EXISTS (SELECT 1 FROM retailiq.job j WHERE j.job_name = schedule.job_name) THEN
        RAISE EXCEPTION 'job "%" already exists', job_name
            USING ERRCODE = 'duplicate_object', HINT = 'Change it with retailiq.alter_job or remove it with retailiq.unschedule.';
    END IF;
    BEGIN
        INSERT INTO retailiq.job (job_name, schedule, command, enabled, timeout, retries, retry_delay, description)
        VALUES (job_name, schedule, command, enabled, timeout, retries, retry_delay, description)
        RETURNING job_id INTO id;
    EXCEPTION WHEN unique_violation THEN
        -- another session created the name between our check and our insert
        RAISE EXCEPTION 'job "%" already exists', job_name
            USING ERRCODE = 'duplicate_object', HINT = 'Change it with retailiq.alter_job or remove it with retailiq.unschedule.';
    END;
    RETURN id;
END
$$;
COMMENT ON FUNCTION retailiq.schedule(text, text, text, boolean, interval, int, interval, text) IS
    'creates a job that runs command in a session of the current user on schedule; returns its id';

CREATE FUNCTION retailiq.unschedule(job_name text) RETURNS boolean
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.job_check_session();
    DELETE FROM retailiq.job j WHERE j.job_name = unschedule.job_name;
    IF NOT FOUND THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION retailiq.unschedule(text) IS 'removes a job (its run history is kept until pruned)';

CREATE FUNCTION retailiq.alter_job(job_name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
                                   enabled boolean DEFAULT NULL, timeout interval DEFAULT NULL,
                                   retries int DEFAULT NULL, retry_delay interval DEFAULT NULL,
                                   next_run timestamptz DEFAULT NULL, description text DEFAULT NULL)
RETURNS retailiq.job LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r retailiq.job;
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'job_name must not be null'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Name the job to change.';
    END IF;
    PERFORM retailiq_internal.job_check_session();
    IF schedule IS NOT NULL THEN
        PERFORM retailiq.check_schedule(schedule);
    END IF;
    IF btrim(command) = '' THEN
        RAISE EXCEPTION 'command must not be empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the SQL the job runs, e.g. ''SELECT 1''.';
    END IF;
    IF timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('timeout is %s.', timeout),
                  HINT = 'Leave timeout out to keep the current one.';
    END IF;
    IF retries < 0 OR retries > 100 THEN
        RAISE EXCEPTION 'retries must be between 0 and 100'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('retries is %s.', retries),
                  HINT = 'A failed run is tried again retries times, retry_delay apart.';
    END IF;
    IF retry_delay < interval '0' THEN
        RAISE EXCEPTION 'retry_delay must not be negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('retry_delay is %s.', retry_delay),
                  HINT = 'A failed run is tried again retries times, retry_delay apart.';
    END IF;
    UPDATE retailiq.job j SET
        schedule = coalesce(alter_job.schedule, j.schedule),
        command = coalesce(alter_job.command, j.command),
        enabled = coalesce(alter_job.enabled, j.enabled),
        timeout = coalesce(alter_job.timeout, j.timeout),
        retries = coalesce(alter_job.retries, j.retries),
        retry_delay = coalesce(alter_job.retry_delay, j.retry_delay),
        next_run = coalesce(alter_job.next_run, j.next_run),
        description = coalesce(alter_job.description, j.description),
        failures = 0
    WHERE j.job_name = alter_job.job_name
    RETURNING j.* INTO r;
    IF NOT FOUND THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION retailiq.alter_job(text, text, text, boolean, interval, int, interval, timestamptz, text) IS
    'changes the given properties of a job (null leaves one unchanged)';

CREATE FUNCTION retailiq.run_job(job_name text) RETURNS timestamptz
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.job_check_session();
    UPDATE retailiq.job j SET run_requested = true WHERE j.job_name = run_job.job_name;
    IF NOT FOUND THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    RETURN clock_timestamp();
END
$$;
COMMENT ON FUNCTION retailiq.run_job(text) IS
    'asks the scheduler to run a job now, even a disabled one, once the calling transaction commits';

CREATE FUNCTION retailiq.wait_for_job(job_name text, timeout interval DEFAULT interval '1 minute')
RETURNS retailiq.job_run LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    r retailiq.job_run;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM retailiq.job j WHERE j.job_name = wait_for_job.job_name) THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    LOOP
        -- each statement of a volatile function sees what others committed meanwhile
        IF NOT (SELECT run_requested FROM retailiq.job j WHERE j.job_name = wait_for_job.job_name) THEN
            SELECT * INTO r FROM retailiq.job_run jr
            WHERE jr.job_id = (SELECT job_id FROM retailiq.job j WHERE j.job_name = wait_for_job.job_name)
            ORDER BY jr.run_id DESC LIMIT 1;
            IF FOUND AND r.status <> 'running' THEN
                RETURN r;
            END IF;
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'job "%" did not finish within %', job_name, timeout
                USING ERRCODE = 'query_canceled',
                      HINT = 'Check that the scheduler runs in this database (retailiq.database) and that run_job was committed.';
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
COMMENT ON FUNCTION retailiq.wait_for_job(text, interval) IS
    'waits until a requested or running job has finished and returns its latest run';

-- Monitoring: one row per job with its last outcome and its recent record. security_invoker:
-- the row-level security of job and job_run applies to the querying role, not to the view's
-- owner (a superuser, who would see every role's jobs and errors).
CREATE VIEW retailiq.job_status WITH (security_barrier, security_invoker) AS
SELECT j.job_name, j.schedule, j.enabled, j.owner, j.next_run, j.last_run, j.last_status,
       j.failures AS consecutive_failures,
       s.runs_24h, s.failed_24h, s.mean_seconds_24h,
       (SELECT jr.message FROM retailiq.job_run jr WHERE jr.job_id = j.job_id AND jr.status <> 'succeeded'
        ORDER BY jr.run_id DESC LIMIT 1) AS last_error
FROM retailiq.job j
LEFT JOIN LATERAL (
    SELECT count(*) AS runs_24h,
           count(*) FILTER (WHERE jr.status IN ('failed', 'timed out', 'cancelled')) AS failed_24h,
           round(avg(extract(epoch FROM jr.finished - jr.started)), 3) AS mean_seconds_24h
    FROM retailiq.job_run jr
    WHERE jr.job_id = j.job_id AND jr.started > now() - interval '24 hours') s ON true;
GRANT SELECT ON retailiq.job_status TO PUBLIC;

-- Built-in jobs, disabled until their source is configured. Their commands call functions of
-- other parts; enable one with retailiq.alter_job('<name>', enabled => true) once it works
-- (retailiq.run_job runs it once to check). See doc/scheduler.md.
INSERT INTO retailiq.job (job_id, job_name, schedule, command, enabled, builtin, timeout, description) VALUES
 (1, 'nightly_forecast', '0 0 * * *', 'SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28])', false, true, '2 hours',
  'next-day, 7-day and 28-day forecasts of every registered sales series, at midnight local time'),
 (2, 'tag_refresh', '@every 30 seconds', 'SELECT retailiq.refresh_customer_tags()', false, true, '25 seconds',
  'customer behaviour tags from events since the last refresh, every 30 seconds'),
 (3, 'report_daily', '15 0 * * *', 'SELECT retailiq.materialize_report(''daily'')', false, true, '1 hour',
  'yesterday''s sales, behaviour and forecast-accuracy report'),
 (4, 'report_weekly', '30 0 * * mon', 'SELECT retailiq.materialize_report(''weekly'')', false, true, '1 hour',
  'last week''s report, Mondays'),
 (5, 'report_monthly', '45 0 1 * *', 'SELECT retailiq.materialize_report(''monthly'')', false, true, '2 hours',
  'last month''s report, on the first'),
 (6, 'sales_alert_check', '0 6 * * *',
  'SELECT count(*) FROM retailiq.check_sales_shortfall(0.10, ''public.sales_actuals'')', false, true, '30 minutes',
  'sales of the last 7 days against their forecasts (alerts part), every morning; needs a view public.sales_actuals (series, day, units)'),
 (7, 'audit_maintenance', '0 3 * * *', 'SELECT retailiq.maintain_audit_log()', false, true, '1 hour',
  'audit-log retention and partition maintenance, nightly'),
 (8, 'nightly_replenishment', '15 2 * * *', 'SELECT retailiq.refresh_replenishment_plan()', false, true, '1 hour',
  'replenishment plan of every sales source with store and product columns from its newest forecasts, after nightly_forecast (doc/replenishment.md)'),
 (9, 'forecast_health_check', '45 1 * * *', 'SELECT count(*) FROM retailiq.check_forecast_health()', false, true, '1 hour',
  'forecasts of every sales source against what then sold: forecast_drift alerts and early refits, after nightly_forecast and before nightly_replenishment (doc/forecast-health.md)'),
 (10, 'slow_mover_check', '45 2 * * *',
  'SELECT count(*) FROM retailiq.sales_source s CROSS JOIN LATERAL retailiq.check_slow_movers(s.name) c WHERE s.store_column IS NOT NULL AND s.product_column IS NOT NULL',
  false, true, '1 hour',
  'slow and dead stock of every sales source with store and product columns: slow_mover alerts and the daily share for the reports, after nightly_replenishment; needs the inventory source (doc/slow-movers.md)');
-- privacy: masking functions, masking rules as security labels, dynamic masking views,
-- static anonymisation.

-- The pseudonym key: one row, readable by superusers and the masking views' owner only.
CREATE FUNCTION retailiq.new_pseudonym_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_new_key' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
CREATE TABLE retailiq.pseudonym_key (
    id         int         PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    key        bytea       NOT NULL CHECK (length(key) BETWEEN 16 AND 1024),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE retailiq.pseudonym_key IS 'the secret key of retailiq.pseudonym in masking views (one row)';
REVOKE ALL ON retailiq.pseudonym_key FROM PUBLIC;
-- made by the first apply_masking() or anonymize_copy(), not here, so that a restored dump
-- (the row is dumped with the data) keeps its key
SELECT pg_catalog.pg_extension_config_dump('retailiq.pseudonym_key', '');

CREATE FUNCTION retailiq.hmac_sha256(data bytea, key bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_hmac_sha256' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.pseudonym(value bigint, key bytea) RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_int8' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.pseudonym(value text, key bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_text' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.mask_partial(value text, keep_start int, keep_end int, pad text DEFAULT '*')
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_partial' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.mask_email(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_email' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.add_noise(value float8, ratio float8, seed bigint DEFAULT 0) RETURNS float8
    AS 'MODULE_PATHNAME', 'privacy_add_noise' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.add_noise(value numeric, ratio float8, seed bigint DEFAULT 0) RETURNS numeric
    LANGUAGE sql STRICT IMMUTABLE PARALLEL SAFE
    RETURN round(retailiq.add_noise(value::float8, ratio, seed)::numeric, scale(value));

CREATE FUNCTION retailiq.is_masked(role regrole) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_is_masked' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.has_masking_rules(rel regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_is_labelled' LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE FUNCTION retailiq_internal.privacy_bad_argument(message text, hint text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'invalid_parameter_value', HINT = hint;
END
$$;

-- Generalisation.
CREATE FUNCTION retailiq.generalize_date(value date, unit text DEFAULT 'month') RETURNS date
    AS 'MODULE_PATHNAME', 'privacy_generalize_date' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.sha256_implementation(force_c boolean DEFAULT false) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_sha256_impl' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- The band of width `width` holding value: [k * width, (k + 1) * width).
CREATE FUNCTION retailiq.band(value numeric, width numeric) RETURNS numrange
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE lo numeric;
BEGIN
    IF width IS NULL OR width <= 0 THEN
        RAISE EXCEPTION 'width must be positive'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('width is %s.', coalesce(width::text, 'NULL')),
                  HINT = 'Pass the band width, e.g. 50 for amounts in bands of 50.';
    END IF;
    IF value IS NULL THEN RETURN NULL; END IF;
    lo := floor(value / width) * width;
    RETURN numrange(lo, lo + width, '[)');
END
$$;

-- The age band of a birth date on a day: width years wide, e.g. [30,40).
CREATE FUNCTION retailiq.age_band(birth_date date, width int DEFAULT 10, as_of date DEFAULT current_date)
RETURNS int4range
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE age int; lo int;
BEGIN
    IF width IS NULL OR width <= 0 THEN
        RAISE EXCEPTION 'width must be positive'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the band width in years, e.g. 10.';
    END IF;
    IF birth_date IS NULL OR as_of IS NULL THEN RETURN NULL; END IF;
    age := extract(year FROM age(as_of, birth_date))::int;
    lo := floor(age::numeric / width)::int * width;
    RETURN int4range(lo, lo + width, '[)');
END
$$;

-- The first `keep` characters of a postcode, spaces removed, e.g. 'SW1A 1AA' -> 'SW1'.
CREATE FUNCTION retailiq.postcode_prefix(value text, keep int DEFAULT 3) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN keep IS NULL OR keep < 0
            THEN (retailiq_internal.privacy_bad_argument('keep must not be negative', 'Pass how many characters to keep, e.g. 3.'))::text
            ELSE left(replace(value, ' ', ''), keep) END;

-- The k of k-anonymity: the size of the smallest group of rows sharing the same values of
-- the quasi-identifier columns (0 for an empty table).
CREATE FUNCTION retailiq.k_anonymity(rel regclass, quasi_identifiers text[]) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c text;
    cols text := '';
    k bigint;
BEGIN
    IF rel IS NULL OR quasi_identifiers IS NULL THEN
        RAISE EXCEPTION 'rel and quasi_identifiers must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table and an array of its column names.';
    END IF;
    IF cardinality(quasi_identifiers) = 0 THEN
        RAISE EXCEPTION 'quasi_identifiers must name at least one column'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ARRAY[''postcode'', ''birth_year'', ''gender''].';
    END IF;
    FOREACH c IN ARRAY quasi_identifiers LOOP
        IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = c AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column "%" of quasi_identifiers does not exist in %', c, rel
                USING ERRCODE = 'undefined_column', HINT = 'Name columns of the table or view.';
        END IF;
        cols := cols || CASE WHEN cols = '' THEN '' ELSE ', ' END || quote_ident(c);
    END LOOP;
    EXECUTE format('SELECT coalesce(min(n), 0) FROM (SELECT count(*) AS n FROM %s GROUP BY %s) g', rel, cols) INTO k;
    RETURN k;
END
$$;

-- Masking rules and masked roles as the catalogs hold them.
CREATE VIEW retailiq.masking_rules AS
SELECT s.objoid::regclass AS table_name, a.attname AS column_name, s.label AS rule
  FROM pg_catalog.pg_seclabel s
  JOIN pg_catalog.pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
 WHERE s.provider = 'retailiq' AND s.classoid = 'pg_catalog.pg_class'::regclass AND s.objsubid > 0;
CREATE VIEW retailiq.masked_roles AS
SELECT s.objoid::regrole AS role_name
  FROM pg_catalog.pg_shseclabel s
 WHERE s.provider = 'retailiq' AND s.classoid = 'pg_catalog.pg_authid'::regclass;

-- The select list that masks rel's labelled columns (rows aliased as `alias`).
CREATE FUNCTION retailiq.masking_select_list(rel regclass, alias text DEFAULT 't') RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
    expr text;
    items text[] := '{}';
BEGIN
    FOR a IN
        SELECT att.attname, att.atttypid, format_type(att.atttypid, att.atttypmod) AS typ, s.label
          FROM pg_attribute att
          LEFT JOIN pg_seclabel s ON s.objoid = att.attrelid AND s.classoid = 'pg_class'::regclass
                                 AND s.objsubid = att.attnum AND s.provider = 'retailiq'
         WHERE att.attrelid = rel AND att.attnum > 0 AND NOT att.attisdropped
         ORDER BY att.attnum
    LOOP
        IF a.label IS NULL THEN
            expr := format('%I.%I', alias, a.attname);
        ELSIF a.label ~* '^\s*MASKED WITH FUNCTION ' THEN
            expr := format('CAST((%s) AS %s)', regexp_replace(a.label, '^\s*MASKED WITH FUNCTION ', '', 'i'), a.typ);
        ELSIF a.label ~* '^\s*MASKED WITH VALUE ' THEN
            expr := format('CAST((%s) AS %s)', regexp_replace(a.label, '^\s*MASKED WITH VALUE ', '', 'i'), a.typ);
        ELSIF a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
            expr := format('retailiq.pseudonym(%I.%I::bigint, (SELECT k.key FROM retailiq.pseudonym_key k))', alias, a.attname);
        ELSE
            expr := format('retailiq.pseudonym(%I.%I::text, (SELECT k.key FROM retailiq.pseudonym_key k))', alias, a.attname);
        END IF;
        items := items || format('%s AS %I', expr, a.attname);
    END LOOP;
    RETURN array_to_string(items, ', ');
END
$$;

-- Builds the masking views and puts the masked roles on them. Run it (as a superuser)
-- after changing labels; retailiq.set_masking_rule() runs it itself.
CREATE FUNCTION retailiq.apply_masking() RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    r record;
    v text;
    n int := 0;
    gaps bigint;
    gap_list text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'retailiq.apply_masking() must be run by a superuser'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'It changes other roles'' settings (search_path, session_preload_libraries).';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_masking_owner') THEN
        CREATE ROLE retailiq_masking_owner NOLOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles o ON o.oid = m.roleid
                WHERE o.rolname = 'retailiq_masking_owner') THEN
        RAISE EXCEPTION 'role retailiq_masking_owner must have no members'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A member could read every labelled table unmasked: REVOKE retailiq_masking_owner FROM them.';
    END IF;
    CREATE SCHEMA IF NOT EXISTS retailiq_mask;
    INSERT INTO retailiq.pseudonym_key (key) VALUES (retailiq.new_pseudonym_key()) ON CONFLICT (id) DO NOTHING;
    GRANT SELECT ON retailiq.pseudonym_key TO retailiq_masking_owner;

    IF EXISTS (SELECT c.relname FROM retailiq.masking_rules m JOIN pg_class c ON c.oid = m.table_name
                GROUP BY c.relname HAVING count(DISTINCT c.oid) > 1) THEN
        RAISE EXCEPTION 'two tables with masking rules have the same name'
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Masking views are named after their table in schema retailiq_mask: rename one table.';
    END IF;

    FOR v IN SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'retailiq_mask' AND c.relkind = 'v' LOOP
        EXECUTE 'DROP VIEW ' || v || ' CASCADE';
    END LOOP;
    PERFORM retailiq_internal.masked_copy_drop_all();

    FOR t IN SELECT DISTINCT m.table_name AS rel, c.relname, ns.nspname
               FROM retailiq.masking_rules m JOIN pg_class c ON c.oid = m.table_name
               JOIN pg_namespace ns ON ns.oid = c.relnamespace LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO retailiq_masking_owner', t.nspname);
        EXECUTE format('GRANT SELECT ON %s TO retailiq_masking_owner', t.rel);
        EXECUTE format('CREATE VIEW retailiq_mask.%I WITH (security_barrier) AS SELECT %s FROM %s t',
                       t.relname, retailiq.masking_select_list(t.rel, 't'), t.rel);
        EXECUTE format('ALTER VIEW retailiq_mask.%I OWNER TO retailiq_masking_owner', t.relname);
        -- masked rows stored beside the table where that is safe (masking_copy.sql)
        PERFORM retailiq_internal.masked_copy_build(t.rel);
        FOR r IN SELECT role_name FROM retailiq.masked_roles LOOP
            EXECUTE format('REVOKE ALL ON %s FROM %s', t.rel, r.role_name);
            EXECUTE format('GRANT SELECT ON retailiq_mask.%I TO %s', t.relname, r.role_name);
        END LOOP;
        n := n + 1;
    END LOOP;

    FOR r IN SELECT role_name FROM retailiq.masked_roles LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA retailiq_mask TO %s', r.role_name);
        EXECUTE format('ALTER ROLE %s SET search_path = retailiq_mask, "$user", public', r.role_name);
        EXECUTE format('ALTER ROLE %s SET session_preload_libraries = ''retailiq''', r.role_name);
    END LOOP;

    -- Columns left raw beside the masked ones: a raw customer id in another table links
    -- every pseudonym back to it. Say which (the first ten; masking_gaps() has them all).
    SELECT count(*), string_agg(format('%s.%I: %s', g.table_name, g.column_name, g.reason), E'\n')
             FILTER (WHERE g.i <= 10)
      INTO gaps, gap_list
      FROM (SELECT m.*, row_number() OVER () AS i FROM retailiq.masking_gaps() m) g;
    IF gaps > 0 THEN
        RAISE WARNING 'masked roles can read % unlabelled column% that may identify a customer',
                      gaps, CASE WHEN gaps = 1 THEN '' ELSE 's' END
            USING ERRCODE = '01000',
                  DETAIL = gap_list || CASE WHEN gaps > 10 THEN format(E'\n... and %s more.', gaps - 10) ELSE '' END,
                  HINT = 'Label them (SELECT * FROM retailiq.masking_gaps() suggests a rule for each) '
                         'or revoke the masked roles'' access to them, then run retailiq.apply_masking() again.';
    END IF;
    PERFORM retailiq.audit_record('apply_masking', jsonb_build_object('views', n, 'gaps', gaps));
    RETURN n;
END
$$;

-- A masked copy of a table: CREATE TABLE target (in source's schema) with every labelled
-- column masked as a masked role would see it. Returns the number of rows copied. The
-- caller needs SELECT on the source and on retailiq.pseudonym_key.
CREATE FUNCTION retailiq.anonymize_copy(source regclass, target name) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp name;
    rows bigint;
BEGIN
    IF source IS NULL OR target IS NULL THEN
        RAISE EXCEPTION 'source and target must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table and the name of the copy.';
    END IF;
    IF NOT retailiq.has_masking_rules(source) THEN
        RAISE EXCEPTION 'table % has no masking rules', source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Label its personal columns with SECURITY LABEL FOR retailiq first.';
    END IF;
    SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    IF NOT EXISTS (SELECT FROM retailiq.pseudonym_key) THEN
        INSERT INTO retailiq.pseudonym_key (key) VALUES (retailiq.new_pseudonym_key()) ON CONFLICT (id) DO NOTHING;
    END IF;
    EXECUTE format('CREATE TABLE %I.%I AS SELECT %s FROM %s t', nsp, target,
                   retailiq.masking_select_list(source, 't'), source);
    GET DIAGNOSTICS rows = ROW_COUNT;
    PERFORM retailiq.audit_record('anonymize_copy', jsonb_build_object('source', source::text, 'target', target, 'rows', rows));
    RETURN rows;
END
$$;
-- privacy: masked rows stored beside the table, so that a masked role's read costs what an
-- unmasked read costs. For a labelled table that allows it, apply_masking() stores the
-- masked rows in retailiq_mask."<table>__masked_rows" (owned by retailiq_masking_owner,
-- readable by nobody else) and points the masking view at them; triggers on the table keep
-- them current row by row (statement triggers with transition tables), and a change of the
-- pseudonym key recomputes them. Each masking function then runs once per written row
-- instead of once per row read, and the values are exactly what the view over the table
-- computes (same functions, same key).
--
-- Only where storing cannot change what a masked role sees: an ordinary table (no
-- partitions, no inheritance) without row security (its policies would not apply to the
-- stored rows), with a primary key whose columns are unlabelled or PSEUDONYMIZED (so a row
-- can be found again from its masked key), no column of a domain or of a non-superuser's
-- type, and rules that call only IMMUTABLE functions, operators and casts owned by
-- superusers and read no other table than the pseudonym key. Any other table keeps the view
-- over the table, computed per read, as before.

CREATE FUNCTION retailiq_internal.masked_copy_name(rel regclass) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT format('retailiq_mask.%I', c.relname || '__masked_rows') FROM pg_class c WHERE c.oid = $1 $$;

-- The columns of rel's primary key, when each is unlabelled or PSEUDONYMIZED; NULL otherwise.
CREATE FUNCTION retailiq_internal.masked_copy_key(rel regclass) RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN bool_and(s.label IS NULL OR upper(btrim(s.label)) = 'PSEUDONYMIZED')
                THEN array_agg(a.attname::text ORDER BY k.i) END
      FROM pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, i)
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      LEFT JOIN pg_seclabel s ON s.objoid = c.conrelid AND s.classoid = 'pg_class'::regclass
                             AND s.objsubid = a.attnum AND s.provider = 'retailiq'
     WHERE c.conrelid = $1 AND c.contype = 'p'
$$;

-- Whether the masking view `view` over rel may be replaced by stored rows (above).
CREATE FUNCTION retailiq_internal.masked_copy_allowed(rel regclass, view regclass) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.relkind = 'r' AND NOT c.relrowsecurity AND NOT c.relhassubclass AND NOT c.relispartition
       AND NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid)
       AND retailiq_internal.masked_copy_key(rel) IS NOT NULL
       -- what the view's rule depends on: functions and operators immutable and owned by
       -- superusers (the triggers run them with the extension owner's rights, so a function
       -- its owner could replace must not be among them), casts likewise, no other table
       AND NOT EXISTS (
           SELECT FROM pg_rewrite w
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
             LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
             LEFT JOIN pg_cast k ON d.refclassid = 'pg_cast'::regclass AND k.oid = d.refobjid
             LEFT JOIN pg_proc p ON p.oid = CASE d.refclassid WHEN 'pg_proc'::regclass THEN d.refobjid
                                                              WHEN 'pg_operator'::regclass THEN o.oprcode
                                                              WHEN 'pg_cast'::regclass THEN k.castfunc END
            WHERE w.ev_class = view
              AND ((p.oid IS NOT NULL AND (p.provolatile <> 'i' OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = p.proowner)))
                   OR (d.refclassid = 'pg_class'::regclass AND d.refobjid NOT IN
                           (rel, view, 'retailiq.pseudonym_key'::regclass))))
       -- no column of a domain or of a type a non-superuser owns (their checks and operators
       -- would run with the extension owner's rights too)
       AND NOT EXISTS (
           SELECT FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
              AND (t.typtype = 'd' OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = t.typowner)))
      FROM pg_class c WHERE c.oid = rel
$$;

-- Stores rel's masked rows and points its masking view (already created over rel by
-- apply_masking) at them, with the triggers that keep them current. Returns whether it did.
CREATE FUNCTION retailiq_internal.masked_copy_build(rel regclass) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    vname text;
    view regclass;
    copy text := retailiq_internal.masked_copy_name(rel);
    key text[] := retailiq_internal.masked_copy_key(rel);
    cols text;
BEGIN
    SELECT format('retailiq_mask.%I', c.relname) INTO vname FROM pg_class c WHERE c.oid = rel;
    view := vname::regclass;
    PERFORM retailiq_internal.masked_copy_drop(rel);
    IF NOT retailiq_internal.masked_copy_allowed(rel, view) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %s AS SELECT * FROM %s', copy, view);
    EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', copy,
                   (SELECT string_agg(quote_ident(k), ', ') FROM unnest(key) k));
    EXECUTE format('ALTER TABLE %s OWNER TO retailiq_masking_owner', copy);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', copy);
    SELECT string_agg(format('m.%I', a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a WHERE a.attrelid = view AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_barrier) AS SELECT %s FROM %s m', vname, cols, copy);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS riq_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS riq_old '
                   'NEW TABLE AS riq_new FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_del AFTER DELETE ON %s REFERENCING OLD TABLE AS riq_old '
                   'FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_trunc AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    RETURN true;
END
$$;

-- Removes every table's stored masked rows and triggers (apply_masking starts with it).
CREATE FUNCTION retailiq_internal.masked_copy_drop_all() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    t text;
BEGIN
    FOR rel IN SELECT DISTINCT g.tgrelid::regclass FROM pg_trigger g WHERE g.tgname LIKE 'retailiq\_masked\_rows\_%' LOOP
        PERFORM retailiq_internal.masked_copy_drop(rel);
    END LOOP;
    FOR t IN SELECT format('retailiq_mask.%I', c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'retailiq_mask' AND c.relkind = 'r' AND c.relname LIKE '%\_\_masked\_rows' LOOP
        EXECUTE 'DROP TABLE ' || t || ' CASCADE';
    END LOOP;
END
$$;

-- Removes rel's stored masked rows and their triggers (the view is apply_masking's).
CREATE FUNCTION retailiq_internal.masked_copy_drop(rel regclass) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ins', 'upd', 'del', 'trunc'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'retailiq_masked_rows_' || t, rel);
    END LOOP;
    EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', retailiq_internal.masked_copy_name(rel));
END
$$;

-- The triggers' function: the masked rows of the statement's new rows in, of its old rows out.
-- SECURITY DEFINER: whoever writes the table writes the stored rows, which nobody else may.
CREATE FUNCTION retailiq_internal.masked_copy_sync() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    copy text := retailiq_internal.masked_copy_name(TG_RELID);
    key text[] := retailiq_internal.masked_copy_key(TG_RELID);
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('TRUNCATE %s', copy);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format('DELETE FROM %s m WHERE (%s) IN (SELECT %s FROM (SELECT %s FROM riq_old t) o)', copy,
                       (SELECT string_agg('m.' || quote_ident(k), ', ') FROM unnest(key) k),
                       (SELECT string_agg('o.' || quote_ident(k), ', ') FROM unnest(key) k),
                       retailiq.masking_select_list(TG_RELID, 't'));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('INSERT INTO %s SELECT %s FROM riq_new t', copy, retailiq.masking_select_list(TG_RELID, 't'));
    END IF;
    RETURN NULL;
END
$$;

-- A new, changed or removed pseudonym key: every stored masked row computed again.
CREATE FUNCTION retailiq_internal.masked_copy_rekey() RETURNS trigger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT DISTINCT t.tgrelid::regclass FROM pg_trigger t WHERE t.tgname = 'retailiq_masked_rows_ins' LOOP
        EXECUTE format('TRUNCATE %s', retailiq_internal.masked_copy_name(rel));
        EXECUTE format('INSERT INTO %s SELECT %s FROM %s t', retailiq_internal.masked_copy_name(rel),
                       retailiq.masking_select_list(rel, 't'), rel);
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER masked_copy_rekey AFTER INSERT OR UPDATE OR DELETE ON retailiq.pseudonym_key
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.masked_copy_rekey();
-- privacy: masking gaps, the unlabelled columns a masked role can read that may still
-- identify a customer. Masking is per column: a pseudonymised customers.customer_id helps
-- nothing while events.customer_id stays raw beside the same store and timestamp as a
-- masked order. retailiq.masking_gaps() lists such columns for the DBA, and apply_masking()
-- warns about them.

-- The family of a type for "same name and type" matches: an int column and a bigint
-- column hold the same ids, and so do text and varchar.
CREATE FUNCTION retailiq_internal.gap_type_family(typ oid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'integer'
            WHEN typ IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN 'text'
            ELSE typ::text END;
REVOKE ALL ON FUNCTION retailiq_internal.gap_type_family(oid) FROM PUBLIC;

-- Column names that usually hold personal data, with the kind of data. Matched against
-- the lower-cased column name; boolean columns (has_email, ...) never match.
CREATE FUNCTION retailiq_internal.gap_personal_kind(col name) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN lower(col) ~ '^(customer|cust|client|member|shopper|consumer|buyer|guest|patient|person|cardholder|card_holder|loyalty|loyalty_card)(_?(id|no|nr|num|number|key|code|ref|uuid))?$'
      OR lower(col) ~ '^(user|visitor|device|cookie)_?(id|uuid)$'
        THEN 'customer identifier'
    WHEN lower(col) ~ '^(e_?mail|e_?mail_?addr(ess)?|mail_?addr(ess)?)$'
        THEN 'e-mail address'
    WHEN lower(col) ~ '^(phone|telephone|tel|mobile|cell|cellphone|fax|msisdn|(mobile|home|work|contact)_?phone|phone_?(no|nr|num|number))$'
        THEN 'phone number'
    WHEN lower(col) ~ '^((full|first|last|given|family|middle|maiden|customer|client|contact|member|person|display)_?name|surname|forename|name_(first|last))$'
        THEN 'person''s name'
    WHEN lower(col) ~ '^(street|address|addr|street_?address|(home|postal|billing|shipping|delivery)_?address|address_?line_?[0-9]*)$'
        THEN 'postal address'
    WHEN lower(col) ~ '^(post_?code|postal_?code|zip|zip_?code)$'
        THEN 'postcode'
    WHEN lower(col) ~ '^(birth_?date|date_?of_?birth|dob|birth_?day|born_on)$'
        THEN 'birth date'
    WHEN lower(col) ~ '^(national_?id|id_?card(_?(no|number))?|passport(_?(no|number))?|ssn|social_security_(no|number)|tax_?id|resident_?id|id_?number)$'
        THEN 'identity document number'
    WHEN lower(col) ~ '^(card_?(no|num|number)|credit_?card(_?(no|number))?|iban|bank_?account(_?(no|number))?)$'
        THEN 'payment card or bank account'
    WHEN lower(col) ~ '^(ip|ip_?addr(ess)?|client_?ip|remote_?addr)$'
        THEN 'IP address'
    END;
REVOKE ALL ON FUNCTION retailiq_internal.gap_personal_kind(name) FROM PUBLIC;

-- The rule masking_gaps suggests for a column: PSEUDONYMIZED for identifiers and keys (so
-- joins keep working), a partial or generalising mask where retailiq has one for the kind
-- of data and the column's type, NULL otherwise.
CREATE FUNCTION retailiq_internal.gap_suggestion(col name, typ oid, kind text, is_key boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN (is_key OR kind = 'customer identifier')
         AND typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'text'::regtype, 'varchar'::regtype)
        THEN 'PSEUDONYMIZED'
    WHEN kind = 'e-mail address' AND retailiq_internal.gap_type_family(typ) = 'text'
        THEN format('MASKED WITH FUNCTION retailiq.mask_email(%I)', col)
    WHEN kind = 'phone number' AND retailiq_internal.gap_type_family(typ) = 'text'
        THEN format('MASKED WITH FUNCTION retailiq.mask_partial(%I, 3, 4)', col)
    WHEN kind = 'postcode' AND retailiq_internal.gap_type_family(typ) = 'text'
        THEN format('MASKED WITH FUNCTION retailiq.postcode_prefix(%I, 3)', col)
    WHEN kind = 'birth date' AND typ = 'date'::regtype
        THEN format('MASKED WITH FUNCTION retailiq.generalize_date(%I, ''year'')', col)
    ELSE 'MASKED WITH VALUE NULL'
    END;
REVOKE ALL ON FUNCTION retailiq_internal.gap_suggestion(name, oid, text, boolean) FROM PUBLIC;

-- The gaps. A column counts when a masked role (or for_role) can read it and it carries no
-- rule: through the masking view of its table (every unlabelled column of a labelled table),
-- through a grant on the table or one of its partitions (PUBLIC and role membership
-- included), or through a view or materialized view it may read, to any depth. It is
-- listed when its name is one personal data goes by, or when it joins to a labelled key:
-- a foreign key to a labelled column, a column a labelled foreign key references, or the
-- same name and type family as a labelled key (PSEUDONYMIZED, or labelled and part of a
-- primary key or unique constraint) of another table.
CREATE FUNCTION retailiq_internal.masking_gaps(for_role regrole)
RETURNS TABLE (table_name regclass, column_name name, reason text, suggested_label text,
               readable_by regrole[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH RECURSIVE
readers AS (
    SELECT r.oid FROM pg_roles r
     WHERE CASE WHEN $1 IS NULL THEN retailiq.is_masked(r.oid::regrole) ELSE r.oid = $1 END
),
labels AS (
    SELECT s.objoid AS relid, a.attname, a.atttypid, s.label,
           upper(btrim(s.label)) = 'PSEUDONYMIZED'
           OR EXISTS (SELECT FROM pg_constraint k
                       WHERE k.conrelid = s.objoid AND k.contype IN ('p', 'u') AND a.attnum = ANY (k.conkey)) AS is_key
      FROM pg_seclabel s
      JOIN pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
     WHERE s.provider = 'retailiq' AND s.classoid = 'pg_class'::regclass AND s.objsubid > 0
),
-- tables and partitioned tables outside the catalogs (partitions count as their root)
tabs AS (
    SELECT c.oid AS relid, c.oid AS rootid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'retailiq_mask')
       AND n.nspname !~ '^pg_(toast_)?temp_'
    UNION ALL
    SELECT c.oid, pg_partition_root(c.oid) FROM pg_class c
     WHERE c.relispartition AND c.relkind IN ('r', 'p')
),
cols AS (
    SELECT t.relid, a.attnum, a.attname, a.atttypid, retailiq_internal.gap_personal_kind(a.attname) AS kind
      FROM tabs t JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE t.relid = t.rootid
       AND NOT EXISTS (SELECT FROM labels l WHERE l.relid = t.relid AND l.attname = a.attname)
),
-- views and materialized views the readers may read, and the views those read
views_read AS (
    SELECT r.oid AS roleid, v.oid AS viewid
      FROM readers r, pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace
     WHERE v.relkind IN ('v', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'retailiq_mask')
       AND has_any_column_privilege(r.oid, v.oid, 'SELECT')
    UNION
    SELECT vr.roleid, d.refobjid
      FROM views_read vr
      JOIN pg_rewrite w ON w.ev_class = vr.viewid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> vr.viewid
      JOIN pg_class c ON c.oid = d.refobjid AND c.relkind IN ('v', 'm')
),
-- table columns a view reads (a whole-row reference reads every column)
view_cols AS (
    SELECT DISTINCT vr.roleid, t.rootid, a.attname
      FROM views_read vr
      JOIN pg_rewrite w ON w.ev_class = vr.viewid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN tabs t ON t.relid = d.refobjid
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum > 0 AND NOT a.attisdropped
                         AND (d.refobjsubid = 0 OR a.attnum = d.refobjsubid)
),
readable AS (
    -- the masking view of a labelled table shows its unlabelled columns as they are
    SELECT c.relid, c.attname, r.oid AS roleid
      FROM cols c CROSS JOIN readers r
     WHERE EXISTS (SELECT FROM labels l WHERE l.relid = c.relid)
    UNION
    -- the hooks refuse every other way into a labelled table, not into the others
    SELECT t.rootid, a.attname, r.oid
      FROM tabs t JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      CROSS JOIN readers r
     WHERE NOT EXISTS (SELECT FROM labels l WHERE l.relid = t.rootid)
       AND has_column_privilege(r.oid, t.relid, a.attnum, 'SELECT')
    UNION
    SELECT vc.rootid, vc.attname, vc.roleid
      FROM view_cols vc
     WHERE NOT EXISTS (SELECT FROM labels l WHERE l.relid = vc.rootid)
),
-- foreign keys, both ends mapped to their partition roots
fkeys AS (
    SELECT DISTINCT coalesce(pg_partition_root(k.conrelid), k.conrelid) AS relid, a.attname,
           coalesce(pg_partition_root(k.confrelid), k.confrelid) AS frelid, fa.attname AS fattname
      FROM pg_constraint k
      CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(col, fcol)
      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.col
      JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.fcol
     WHERE k.contype = 'f'
),
reasons AS (
    SELECT c.relid, c.attname, 1 AS prio, c.kind AS target
      FROM cols c
     WHERE c.kind IS NOT NULL AND c.atttypid <> 'bool'::regtype
    UNION ALL
    SELECT c.relid, c.attname, 2, format('%s.%I', l.relid::regclass, l.attname)
      FROM cols c
      JOIN fkeys f ON f.relid = c.relid AND f.attname = c.attname
      JOIN labels l ON l.relid = f.frelid AND l.attname = f.fattname
    UNION ALL
    SELECT c.relid, c.attname, 3, format('%s.%I', l.relid::regclass, l.attname)
      FROM cols c
      JOIN fkeys f ON f.frelid = c.relid AND f.fattname = c.attname
      JOIN labels l ON l.relid = f.relid AND l.attname = f.attname
    UNION ALL
    SELECT c.relid, c.attname, 4, format('%s.%I', l.relid::regclass, l.attname)
      FROM cols c
      JOIN labels l ON l.attname = c.attname AND l.relid <> c.relid AND l.is_key
     WHERE retailiq_internal.gap_type_family(l.atttypid) = retailiq_internal.gap_type_family(c.atttypid)
),
-- one sentence per kind of reason, the labelled columns it names in a list
reason_texts AS (
    SELECT relid, attname, prio,
           CASE prio WHEN 1 THEN 'name of personal data (' || min(target) || ')'
                     WHEN 2 THEN 'foreign key to labelled column ' || string_agg(DISTINCT target, ', ')
                     WHEN 3 THEN 'referenced by labelled column ' || string_agg(DISTINCT target, ', ')
                     ELSE 'same name and type as labelled key ' || string_agg(DISTINCT target, ', ') END AS txt
      FROM reasons GROUP BY relid, attname, prio
)
SELECT c.relid::regclass, c.attname,
       string_agg(rs.txt, '; ' ORDER BY rs.prio),
       retailiq_internal.gap_suggestion(c.attname, c.atttypid, c.kind, bool_or(rs.prio > 1)),
       (SELECT array_agg(rd.roleid::regrole ORDER BY rd.roleid::regrole::text)
          FROM (SELECT DISTINCT roleid FROM readable r
                 WHERE r.relid = c.relid AND r.attname = c.attname) rd)
  FROM cols c
  JOIN reason_texts rs ON rs.relid = c.relid AND rs.attname = c.attname
 WHERE EXISTS (SELECT FROM readable rd WHERE rd.relid = c.relid AND rd.attname = c.attname)
 GROUP BY c.relid, c.attnum, c.attname, c.atttypid, c.kind
 ORDER BY c.relid::regclass::text, c.attnum
$$;
REVOKE ALL ON FUNCTION retailiq_internal.masking_gaps(regrole) FROM PUBLIC;

-- The list is a map of unmasked personal data, so only DBAs read it: a superuser or a member
-- of retailiq_admin (as the session user, like every privacy decision).
CREATE FUNCTION retailiq.masking_gaps(for_role regrole DEFAULT NULL)
RETURNS TABLE (table_name regclass, column_name name, reason text, suggested_label text,
               readable_by regrole[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT (EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_admin')
                AND pg_has_role(session_user, 'retailiq_admin', 'MEMBER')) THEN
        RAISE EXCEPTION 'only superusers and members of retailiq_admin may list masking gaps'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The list shows where personal data is unmasked: ask a DBA to run it.';
    END IF;
    RETURN QUERY SELECT * FROM retailiq_internal.masking_gaps(for_role);
END
$$;
COMMENT ON FUNCTION retailiq.masking_gaps(regrole) IS
    'unlabelled columns that masked roles (or for_role) can read and that hold personal data or join to a labelled key';
-- privacy: the audit log. Append-only, hash-chained, partitioned by month.

CREATE TABLE retailiq.audit_log (
    id         bigint      NOT NULL,
    logged_at  timestamptz NOT NULL,
    actor      name        NOT NULL,   -- session_user: who logged in
    role_name  name        NOT NULL,   -- current_user when the record was made
    action     text        NOT NULL,
    details    jsonb       NOT NULL,
    prev_hash  bytea       NOT NULL,
    row_hash   bytea       NOT NULL
) PARTITION BY RANGE (logged_at);
COMMENT ON TABLE retailiq.audit_log IS 'append-only, hash-chained audit records (one partition per month)';
REVOKE ALL ON retailiq.audit_log FROM PUBLIC;
-- No key or index on the partitioned table: each monthly partition gets its own primary key
-- (id) from audit_record. The partitions are not extension members, so pg_dump dumps them
-- with their keys; a key on the parent (an extension member, not dumped) would be made again
-- by the restore's ATTACH PARTITION and collide with the dumped one ("multiple primary keys").

-- The head of the chain: its row lock serialises writers, also under REPEATABLE READ
-- (where a concurrent writer gets a serialization failure instead of forking the chain).
CREATE TABLE retailiq.audit_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id   bigint  NOT NULL,
    last_hash bytea   NOT NULL
);
REVOKE ALL ON retailiq.audit_head FROM PUBLIC;
-- dumped with the data (the log's monthly partitions are not extension members and are
-- dumped anyway), so a restored database still verifies; the row is made by the first record
SELECT pg_catalog.pg_extension_config_dump('retailiq.audit_head', '');

-- The hash of one record: SHA-256 over its fields in a fixed text form and its predecessor's hash.
CREATE FUNCTION retailiq.audit_row_hash(id bigint, logged_at timestamptz, actor name, role_name name,
                                        action text, details jsonb, prev_hash bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sha256(convert_to(concat_ws(E'\x1f', id::text, extract(epoch FROM logged_at)::text,
                                   actor::text, role_name::text, action, details::text), 'UTF8') || prev_hash);

-- Appends one record; returns its id. Creates the month's partition when needed.
CREATE FUNCTION retailiq.audit_record(action text, details jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h record;
    ts timestamptz := clock_timestamp();
    m date := date_trunc('month', ts AT TIME ZONE 'UTC')::date;
    part text := format('audit_log_%s', to_char(m, 'YYYY_MM'));
    new_hash bytea;
BEGIN
    IF action IS NULL OR action = '' THEN
        RAISE EXCEPTION 'audit action must not be empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Name what happened, e.g. ''export_unmasked''.';
    END IF;
    details := coalesce(details, '{}');
    INSERT INTO retailiq.audit_head VALUES (true, 0, sha256(convert_to('retailiq audit log', 'UTF8')))
        ON CONFLICT DO NOTHING;
    SELECT * INTO h FROM retailiq.audit_head FOR UPDATE;
    IF to_regclass(format('retailiq.%I', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE retailiq.%I PARTITION OF retailiq.audit_log FOR VALUES FROM (%L) TO (%L)',
                       part, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        EXECUTE format('ALTER TABLE retailiq.%I ADD PRIMARY KEY (id)', part);
        EXECUTE format('REVOKE ALL ON retailiq.%I FROM PUBLIC', part);
    END IF;
    new_hash := retailiq.audit_row_hash(h.last_id + 1, ts, session_user, current_user, action, details, h.last_hash);
    INSERT INTO retailiq.audit_log VALUES (h.last_id + 1, ts, session_user, current_user, action, details, h.last_hash, new_hash);
    UPDATE retailiq.audit_head SET last_id = h.last_id + 1, last_hash = new_hash;
    RETURN h.last_id + 1;
END
$$;
REVOKE ALL ON FUNCTION retailiq.audit_record(text, jsonb) FROM PUBLIC;

-- No UPDATE, no DELETE (except retailiq.purge_audit_log's, of rows past the retention), no TRUNCATE.
CREATE FUNCTION retailiq_internal.audit_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('retailiq.audit_purging', true) = 'on'
       AND OLD.logged_at < now() - current_setting('retailiq.audit_retention')::interval THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'retailiq.audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s refused.', TG_OP),
              HINT = 'Records older than retailiq.audit_retention go with retailiq.purge_audit_log(), after a two-person approval.';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON retailiq.audit_log
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON retailiq.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.audit_append_only();
CREATE TRIGGER audit_head_append_only BEFORE DELETE OR TRUNCATE ON retailiq.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.audit_append_only();

-- The first record whose hash or link to its predecessor does not check out (no row: the
-- chain is intact). The oldest remaining record must link to the start of the chain or to
-- the last record removed by a purge; the newest must be the chain head.
CREATE FUNCTION retailiq.audit_verify()
RETURNS TABLE (id bigint, logged_at timestamptz, action text, problem text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH chain AS (
        SELECT a.id, a.logged_at, a.action, a.prev_hash, a.row_hash,
               retailiq.audit_row_hash(a.id, a.logged_at, a.actor, a.role_name, a.action, a.details, a.prev_hash) AS computed,
               lag(a.row_hash) OVER w AS pred_hash,
               lag(a.id) OVER w AS pred_id,
               row_number() OVER w AS n
          FROM retailiq.audit_log a
        WINDOW w AS (ORDER BY a.id)
    ), problems AS (
        SELECT c.id, c.logged_at, c.action,
               CASE WHEN c.computed <> c.row_hash THEN 'content changed: the record does not match its hash'
                    WHEN c.n > 1 AND c.pred_id <> c.id - 1 THEN 'records missing before this one'
                    WHEN c.n > 1 AND c.pred_hash <> c.prev_hash THEN 'chain broken: prev_hash does not match the previous record'
                    WHEN c.n = 1 AND c.prev_hash <> sha256(convert_to('retailiq audit log', 'UTF8'))
                         AND NOT EXISTS (SELECT 1 FROM retailiq.audit_log p
                                          WHERE p.action = 'purge_audit_log'
                                            AND p.details ->> 'last_purged_hash' = encode(c.prev_hash, 'hex'))
                         THEN 'chain start unknown: records removed outside retailiq.purge_audit_log'
               END AS problem
          FROM chain c
        UNION ALL
        SELECT NULL, NULL, NULL, 'newest records missing: the chain head is ahead of the log'
          FROM retailiq.audit_head h
         WHERE h.last_id <> coalesce((SELECT max(a.id) FROM retailiq.audit_log a), 0)
            OR h.last_hash <> coalesce((SELECT a.row_hash FROM retailiq.audit_log a ORDER BY a.id DESC LIMIT 1), h.last_hash)
    )
    SELECT p.id, p.logged_at, p.action, p.problem FROM problems p
     WHERE p.problem IS NOT NULL
     ORDER BY p.id NULLS LAST
     LIMIT 1;
END;
REVOKE ALL ON FUNCTION retailiq.audit_verify() FROM PUBLIC;
-- privacy: two-person approval of sensitive actions, and the actions it protects.
-- Identities are session_user (the login role): SET ROLE cannot turn a requester into
-- its own approver. They are kept by OID (regrole): a role dropped and created again under
-- the same name is another person and can neither use nor decide the old one's requests.
-- A job runs in a session of its owner; a job that the requester created or wrote the
-- command of cannot approve the request either (retailiq.current_job()).

CREATE TABLE retailiq.approval (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action       text        NOT NULL
                 CHECK (action IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log',
                            'change_forecast_parameters')),
    args         jsonb       NOT NULL,
    requested_by regrole     NOT NULL,
    requested_at timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'rejected', 'used')),
    decided_by   regrole,
    decided_at   timestamptz,
    used_at      timestamptz
);
COMMENT ON TABLE retailiq.approval IS 'two-person approvals of sensitive actions; each approved request is used at most once';
REVOKE ALL ON retailiq.approval FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('retailiq.approval', '');

CREATE FUNCTION retailiq.request_approval(action text, args jsonb DEFAULT '{}', valid_for interval DEFAULT '1 hour')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    expires timestamptz;
BEGIN
    IF action IS NULL OR action NOT IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log',
                            'change_forecast_parameters') THEN
        RAISE EXCEPTION 'unknown action %', coalesce(quote_literal(action), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Actions are export_unmasked, set_masking_rule, change_model, purge_audit_log and change_forecast_parameters.';
    END IF;
    IF args IS NULL OR jsonb_typeof(args) <> 'object' THEN
        RAISE EXCEPTION 'args must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ''{"table": "public.customers"}''.';
    END IF;
    -- Judge the expiry time itself: comparing intervals counts a month as 30 days and a
    -- year as 360, while adding one to a time counts calendar months and years, so
    -- '1000 years -359993 days' compares as 7 days and ends 5,249 days from now.
    BEGIN
        expires := now() + valid_for;
    EXCEPTION WHEN datetime_field_overflow THEN
        expires := 'infinity';
    END;
    IF expires IS NULL OR expires <= now() OR expires > now() + interval '7 days' THEN
        RAISE EXCEPTION 'valid_for must end after now and within 7 days'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('valid_for %s ends at %s.', coalesce(valid_for::text, 'NULL'), coalesce(expires::text, 'NULL')),
                  HINT = 'Give a positive interval of at most 7 days; the default is 1 hour.';
    END IF;
    INSERT INTO retailiq.approval (action, args, requested_by, requested_at, valid_until)
    VALUES (action, args, (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user), now(), expires)
    RETURNING id INTO new_id;
    PERFORM retailiq.audit_record('approval_requested',
                                  jsonb_build_object('approval', new_id, 'action', action, 'args', args));
    RETURN new_id;
END
$$;

CREATE FUNCTION retailiq.privacy_decide(approval_id bigint, approve boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a retailiq.approval;
    me regrole := (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user);
    job record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_admin')
       OR NOT pg_has_role(session_user, 'retailiq_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only members of retailiq_admin decide approvals'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    SELECT * INTO a FROM retailiq.approval WHERE id = approval_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'approval % does not exist', approval_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'retailiq.approval lists the requests.';
    END IF;
    IF a.status <> 'pending' THEN
        RAISE EXCEPTION 'approval % is already %', approval_id, a.status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Make a new request.';
    END IF;
    IF a.valid_until <= now() THEN
        RAISE EXCEPTION 'approval % has expired', approval_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Make a new request.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.requested_by) THEN
        RAISE EXCEPTION 'approval % was requested by a role that no longer exists', approval_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The requester (OID %s) was dropped; a role created later under its name is another role.', a.requested_by::oid),
                  HINT = 'The new role must make its own request.';
    END IF;
    IF approve AND a.requested_by = me THEN
        RAISE EXCEPTION 'a request cannot be approved by the user who made it'
            USING ERRCODE = 'insufficient_privilege', HINT = 'A second member of retailiq_admin must approve it.';
    END IF;
    -- a job runs in a session of its owner (checked above as session_user), but whoever
    -- created it or wrote its command decided what it does
    SELECT * INTO job FROM retailiq.current_job();
    IF approve AND job.job_id IS NOT NULL AND a.requested_by IN (job.created_by, job.command_by) THEN
        RAISE EXCEPTION 'a request cannot be approved by a job created by the requester'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Approval %s was requested by %s, who created or last changed the command of job %s.',
                                  approval_id, a.requested_by, job.job_id),
                  HINT = 'A second member of retailiq_admin must approve it in a session or job of their own.';
    END IF;
    UPDATE retailiq.approval
       SET status = CASE WHEN approve THEN 'approved' ELSE 'rejected' END,
           decided_by = me, decided_at = now()
     WHERE id = approval_id;
    PERFORM retailiq.audit_record(CASE WHEN approve THEN 'approval_granted' ELSE 'approval_rejected' END,
                                  jsonb_build_object('approval', approval_id, 'action', a.action, 'args', a.args,
                                                     'requested_by', a.requested_by::text)
                                  || CASE WHEN job.job_id IS NULL THEN '{}'::jsonb
                                          ELSE jsonb_build_object('job', job.job_id) END);
END
$$;
REVOKE ALL ON FUNCTION retailiq.privacy_decide(bigint, boolean) FROM PUBLIC;

CREATE FUNCTION retailiq.approve(approval_id bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC SELECT retailiq.privacy_decide(approval_id, true); END;
CREATE FUNCTION retailiq.reject(approval_id bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC SELECT retailiq.privacy_decide(approval_id, false); END;

-- Uses up the oldest approved, unexpired request of session_user for exactly this action
-- and these args; raises if there is none. The row lock makes a request usable once even
-- when two sessions race for it (the loser re-reads it as used, or fails to serialize).
CREATE FUNCTION retailiq.consume_approval(action text, args jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    got bigint;
BEGIN
    SELECT a.id INTO got FROM retailiq.approval a
     WHERE a.action = consume_approval.action AND a.args = consume_approval.args
       AND a.requested_by = (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user)
       AND a.status = 'approved' AND a.valid_until > now()
     ORDER BY a.id
     LIMIT 1
       FOR UPDATE;
    IF got IS NULL THEN
        RAISE EXCEPTION '% needs an approval', action
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('No approved, unused, unexpired request by %s for %s with args %s.', session_user, action, args),
                  HINT = format('SELECT retailiq.request_approval(%L, %L); then a second member of retailiq_admin runs retailiq.approve(id).', action, args);
    END IF;
    UPDATE retailiq.approval SET status = 'used', used_at = now() WHERE id = got;
    PERFORM retailiq.audit_record('approval_used', jsonb_build_object('approval', got, 'action', action, 'args', args));
    RETURN got;
END
$$;
REVOKE ALL ON FUNCTION retailiq.consume_approval(text, jsonb) FROM PUBLIC;

-- Export the raw rows of a table (as JSON objects). Approval args: {"table": "<schema.table>"}.
CREATE FUNCTION retailiq.export_unmasked(rel regclass) RETURNS SETOF jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    n bigint;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'rel must not be NULL' USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table.';
    END IF;
    SELECT format('%I.%I', n2.nspname, c.relname) INTO t
      FROM pg_class c JOIN pg_namespace n2 ON n2.oid = c.relnamespace WHERE c.oid = rel;
    PERFORM retailiq.consume_approval('export_unmasked', jsonb_build_object('table', t));
    RETURN QUERY EXECUTE format('SELECT to_jsonb(t) FROM %s t', t);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM retailiq.audit_record('export_unmasked', jsonb_build_object('table', t, 'rows', n));
END
$$;
REVOKE ALL ON FUNCTION retailiq.export_unmasked(regclass) FROM PUBLIC;

-- Change (or, with rule NULL, drop) one masking rule, then rebuild the masking views.
-- Approval args: {"table": "<schema.table>", "column": "<column>", "rule": <rule or null>}.
CREATE FUNCTION retailiq.set_masking_rule(rel regclass, column_name name, rule text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF rel IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'rel and column_name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the table and the column.';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname) INTO t
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
    PERFORM retailiq.consume_approval('set_masking_rule',
                                      jsonb_build_object('table', t, 'column', column_name, 'rule', rule));
    EXECUTE format('SECURITY LABEL FOR retailiq ON COLUMN %s.%I IS %s', t, column_name,
                   coalesce(quote_literal(rule), 'NULL'));
    PERFORM retailiq.audit_record('masking_rule_changed',
                                  jsonb_build_object('table', t, 'column', column_name, 'rule', rule));
    PERFORM retailiq.apply_masking();
END
$$;
REVOKE ALL ON FUNCTION retailiq.set_masking_rule(regclass, name, text) FROM PUBLIC;

-- Remove audit records older than retailiq.audit_retention. Approval args: {}.
CREATE FUNCTION retailiq.purge_audit_log() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz := now() - current_setting('retailiq.audit_retention')::interval;
    last_hash bytea;
    last_id bigint;
    n bigint;
BEGIN
    PERFORM retailiq.consume_approval('purge_audit_log', '{}');
    SELECT a.id, a.row_hash INTO last_id, last_hash FROM retailiq.audit_log a
     WHERE a.logged_at < cutoff ORDER BY a.id DESC LIMIT 1;
    PERFORM set_config('retailiq.audit_purging', 'on', true);
    DELETE FROM retailiq.audit_log a WHERE a.logged_at < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('retailiq.audit_purging', 'off', true);
    PERFORM retailiq.audit_record('purge_audit_log',
                                  jsonb_build_object('cutoff', cutoff, 'rows', n, 'last_purged_id', last_id,
                                                     'last_purged_hash', encode(last_hash, 'hex')));
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION retailiq.purge_audit_log() FROM PUBLIC;

-- A saved model's parameters change only with an approval (new versions through
-- save_model are inserts and need none). Approval args: {"name": "<model name>", "version": <version>}.
CREATE FUNCTION retailiq_internal.models_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq.consume_approval('change_model', jsonb_build_object('name', OLD.name, 'version', OLD.version));
    PERFORM retailiq.audit_record('model_changed', jsonb_build_object('name', OLD.name, 'version', OLD.version,
                                  'changed', OLD.model::text IS DISTINCT FROM NEW.model::text));
    RETURN NEW;
END
$$;
CREATE TRIGGER models_guard BEFORE UPDATE ON retailiq.models
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.models_guard();

-- Forecast parameters under the two-person rule (issue 24). A change of a sales source
-- (register_sales_source, unregister_sales_source) or of a planning threshold
-- (retailiq.set_planning_threshold) by anyone but a superuser uses up an approved
-- change_forecast_parameters request whose args are exactly the change; every change,
-- superusers' too, is audited with the values before and after. register_sales_source and
-- unregister_sales_source run with the caller's rights (they read the caller's relation), so
-- the standard roles may write retailiq.source and retailiq.sales_source_state
-- (create_standard_roles), and a trigger on both refuses any write by a non-superuser that
-- no approval of this transaction covers: the approved relation, columns, method and options
-- of that one source, nothing else. The refresh's own bookkeeping (last_* columns) needs none.

-- The changes approved in the running transactions: the guard's evidence. Rows of finished
-- transactions are removed by the next change.
CREATE TABLE retailiq_internal.approved_change (
    txid        xid8   NOT NULL,
    source      text   NOT NULL,
    change      jsonb  NOT NULL,
    approval_id bigint,
    PRIMARY KEY (txid, source)
);
REVOKE ALL ON retailiq_internal.approved_change FROM PUBLIC;

-- The approval of one change of forecast parameters: change is the approval's args
-- ({"change": "register" | "unregister" | "threshold", "source": ..., ...}); before the
-- current values (NULL for a new one). Uses up the requester's approved request unless the
-- session user is a superuser, records the change with both values in the audit log, and
-- lets this transaction write exactly that change. Returns the approval used (NULL for a
-- superuser).
CREATE FUNCTION retailiq_internal.forecast_change_approve(change jsonb, before jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    got bigint;
    after jsonb := change - 'change' - 'source';
BEGIN
    IF change IS NULL OR change ->> 'change' IS NULL OR change ->> 'source' IS NULL THEN
        RAISE EXCEPTION 'a change of forecast parameters must name the change and the source'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
        got := retailiq.consume_approval('change_forecast_parameters', change);
    END IF;
    DELETE FROM retailiq_internal.approved_change c
     WHERE c.txid < pg_snapshot_xmin(pg_current_snapshot());
    INSERT INTO retailiq_internal.approved_change AS c (txid, source, change, approval_id)
    VALUES (pg_current_xact_id(), change ->> 'source', change, got)
    ON CONFLICT (txid, source) DO UPDATE SET change = excluded.change, approval_id = excluded.approval_id;
    PERFORM retailiq.audit_record('forecast_parameters_changed',
                                  jsonb_build_object('change', change ->> 'change', 'source', change ->> 'source',
                                                     'before', before,
                                                     'after', CASE WHEN change ->> 'change' = 'unregister' THEN NULL
                                                                   ELSE after END,
                                                     'approval', got));
    RETURN got;
END
$$;

-- A sales source's definition as register_sales_source writes it, and as the approval's args
-- carry it (also its "before" in the audit log).
CREATE FUNCTION retailiq_internal.sales_source_definition(source text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('relation', s.relation::text, 'columns', s.columns,
                              'method', st.method, 'options', st.options)
      FROM retailiq.source s JOIN retailiq.sales_source_state st ON st.role = s.role AND st.name = s.name
     WHERE s.role = 'sales' AND s.name = source
$$;

-- The hooks of register_sales_source and unregister_sales_source (src/forecast/operations.sql).
CREATE FUNCTION retailiq_internal.sales_source_change(change text, source text, relation regclass,
                                                      columns jsonb, method text, options jsonb)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT retailiq_internal.forecast_change_approve(
        jsonb_build_object('change', change, 'source', source)
        || CASE WHEN change = 'register'
                THEN jsonb_build_object('relation', relation::text, 'columns', columns,
                                        'method', method, 'options', options)
                ELSE '{}'::jsonb END,
        retailiq_internal.sales_source_definition(source))
$$;

-- Refuses writes of retailiq.source and retailiq.sales_source_state by non-superusers that no
-- approved change of this transaction covers. Superusers (and so pg_restore) pass.
CREATE FUNCTION retailiq_internal.forecast_change_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    c jsonb;
    ok boolean;
BEGIN
    IF (SELECT x.rolsuper FROM pg_roles x WHERE x.rolname = session_user) THEN
        RETURN r;
    END IF;
    -- the refresh's bookkeeping (nested: NEW.method exists only in sales_source_state)
    IF TG_TABLE_NAME = 'sales_source_state' AND TG_OP = 'UPDATE' THEN
        IF (NEW.role, NEW.name, NEW.method, NEW.options, NEW.min_model_version)
           IS NOT DISTINCT FROM (OLD.role, OLD.name, OLD.method, OLD.options, OLD.min_model_version) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF r.role <> 'sales' THEN
        RAISE EXCEPTION 'only a superuser registers the % source', r.role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Operators and admins change sales sources (under the two-person rule); ask a superuser for the others.';
    END IF;
    SELECT a.change INTO c FROM retailiq_internal.approved_change a
     WHERE a.txid = pg_current_xact_id() AND a.source = r.name;
    IF TG_OP = 'DELETE' THEN
        ok := c ->> 'change' = 'unregister';
    ELSIF c ->> 'change' IS DISTINCT FROM 'register' THEN
        ok := false;
    ELSIF TG_TABLE_NAME = 'source' THEN
        ok := NEW.relation = (c ->> 'relation')::regclass AND NEW.columns = c -> 'columns';
    ELSE
        ok := NEW.method = c ->> 'method' AND NEW.options = c -> 'options';
    END IF;
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'changes of sales sources need an approval'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s of %s %s refused: no approved change_forecast_parameters request covers it.',
                                  TG_OP, TG_TABLE_NAME, coalesce(quote_literal(r.name), 'NULL')),
                  HINT = 'Change sources through retailiq.register_sales_source after retailiq.request_approval(''change_forecast_parameters'', ...) and a second admin''s retailiq.approve(id).';
    END IF;
    RETURN r;
END
$$;
CREATE TRIGGER forecast_change_guard BEFORE INSERT OR UPDATE OR DELETE ON retailiq.source
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.forecast_change_guard();
CREATE TRIGGER forecast_change_guard BEFORE INSERT OR UPDATE OR DELETE ON retailiq.sales_source_state
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.forecast_change_guard();
-- privacy: standard roles and store-level row security.

-- Which stores each role may see and change (members of the role inherit them). Roles are
-- kept by OID (regrole, shown by name): a role dropped and created again under its name is
-- another role and inherits no store; the dropped role's rows are ignored (and shown by
-- number) until retailiq.forget_dropped_roles() removes them.
CREATE TABLE retailiq.store_access (
    role_name  regrole NOT NULL,
    store_id   bigint  NOT NULL,
    granted_by regrole NOT NULL DEFAULT pg_catalog.quote_ident(session_user)::regrole,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_name, store_id)
);
REVOKE ALL ON retailiq.store_access FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('retailiq.store_access', '');

CREATE FUNCTION retailiq.create_standard_roles() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['retailiq_admin', 'retailiq_operator', 'retailiq_purchaser', 'retailiq_store_manager'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA retailiq TO %I', r);
    END LOOP;
    -- admin: the governance records and the sensitive actions (each still needs an approval)
    GRANT SELECT ON retailiq.audit_log, retailiq.approval, retailiq.store_access TO retailiq_admin;
    GRANT EXECUTE ON FUNCTION retailiq.audit_verify(), retailiq.export_unmasked(regclass),
          retailiq.set_masking_rule(regclass, name, text), retailiq.purge_audit_log() TO retailiq_admin;
    GRANT SELECT ON retailiq.pseudonym_key TO retailiq_admin;
    -- operator: analysis and forecasting; saves and reads models
    GRANT SELECT, INSERT ON retailiq.models TO retailiq_operator;
    GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.forecast_result TO retailiq_operator;
    -- operator and admin change sales sources (register_sales_source runs with their rights);
    -- every change still needs a second admin's approval (forecast_change_guard, approval.sql);
    -- the refresh locks its source's row through the view
    GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.source, retailiq.sales_source_state TO retailiq_operator, retailiq_admin;
    GRANT UPDATE ON retailiq.sales_source TO retailiq_operator;
    -- purchaser: inventory and replenishment read the forecasts
    GRANT SELECT ON retailiq.forecast_result TO retailiq_purchaser;
    GRANT SELECT ON retailiq.models TO retailiq_purchaser;
    -- store manager: nothing here; tables put under retailiq.enable_store_security() are
    -- granted to it, limited to its stores by row-level security
    PERFORM retailiq.audit_record('create_standard_roles', '{}');
END
$$;

CREATE FUNCTION retailiq.grant_store(role_name regrole, store_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role_name IS NULL OR store_id IS NULL THEN
        RAISE EXCEPTION 'role_name and store_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a role and a store id.';
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT pg_has_role(session_user, 'retailiq_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only members of retailiq_admin grant stores'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    INSERT INTO retailiq.store_access (role_name, store_id)
    VALUES (role_name, store_id) ON CONFLICT DO NOTHING;
    PERFORM retailiq.audit_record('grant_store', jsonb_build_object('role', role_name::text, 'store_id', store_id));
END
$$;

CREATE FUNCTION retailiq.revoke_store(role_name regrole, store_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT pg_has_role(session_user, 'retailiq_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only members of retailiq_admin revoke stores'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    DELETE FROM retailiq.store_access a WHERE a.role_name = revoke_store.role_name AND a.store_id = revoke_store.store_id;
    PERFORM retailiq.audit_record('revoke_store', jsonb_build_object('role', role_name::text, 'store_id', store_id));
END
$$;

-- The stores the given role may see: those granted to it or to a role it is a member of.
-- Row-level policies call it with current_user (the querying role, or a view's owner).
CREATE FUNCTION retailiq.stores_of(role_name name) RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(array_agg(DISTINCT a.store_id), '{}')
      FROM retailiq.store_access a
     WHERE EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = a.role_name)
       AND pg_has_role(stores_of.role_name, a.role_name::oid, 'MEMBER');
END;

-- The run history of a job quotes its errors, and an error may quote the data the job read
-- (a unique violation's detail, a RAISE). A masked session reads only the runs of its own
-- jobs, which ran masked: not those of an unmasked role it is a member of.
ALTER POLICY job_run_read ON retailiq.job_run USING (
    pg_catalog.pg_has_role(owner, 'USAGE')
    AND (owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
         OR NOT retailiq.is_masked((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)::regrole)));

-- What dropped roles left behind: their store grants and their jobs (which no longer run).
-- Their approval requests stay as records; no one can use or decide them.
CREATE FUNCTION retailiq.forget_dropped_roles() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stores bigint;
    jobs bigint;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT (EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_admin')
                AND pg_has_role(session_user, 'retailiq_admin', 'MEMBER')) THEN
        RAISE EXCEPTION 'only members of retailiq_admin forget dropped roles'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    DELETE FROM retailiq.store_access a WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.role_name);
    GET DIAGNOSTICS stores = ROW_COUNT;
    DELETE FROM retailiq.job j WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = j.owner);
    GET DIAGNOSTICS jobs = ROW_COUNT;
    IF stores + jobs > 0 THEN
        PERFORM retailiq.audit_record('forget_dropped_roles', jsonb_build_object('store_grants', stores, 'jobs', jobs));
    END IF;
    RETURN stores + jobs;
END
$$;
COMMENT ON FUNCTION retailiq.forget_dropped_roles() IS
    'removes the store grants and jobs of roles that no longer exist; returns how many';

-- Row-level security on a table with a store column: retailiq_store_manager members see and
-- change only rows of their stores; admin, operator and purchaser see all rows.
CREATE FUNCTION retailiq.enable_store_security(tbl regclass, store_column name) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ text;
BEGIN
    IF tbl IS NULL OR store_column IS NULL THEN
        RAISE EXCEPTION 'tbl and store_column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table and its store id column.';
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO typ FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = store_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
        RAISE EXCEPTION 'column "%" does not exist in %', store_column, tbl
            USING ERRCODE = 'undefined_column', HINT = 'Name the table''s store id column.';
    END IF;
    IF typ NOT IN ('integer', 'bigint', 'smallint') THEN
        RAISE EXCEPTION 'store column "%" of % must be an integer column', store_column, tbl
            USING ERRCODE = 'datatype_mismatch', HINT = 'Store ids are integers.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_store_manager') THEN
        RAISE EXCEPTION 'the standard roles do not exist'
            USING ERRCODE = 'undefined_object', HINT = 'Run SELECT retailiq.create_standard_roles(); first.';
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS retailiq_own_stores ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS retailiq_all_stores ON %s', tbl);
    EXECUTE format('CREATE POLICY retailiq_own_stores ON %s FOR ALL TO retailiq_store_manager '
                   'USING (%I = ANY (retailiq.stores_of(current_user)::%s[])) '
                   'WITH CHECK (%I = ANY (retailiq.stores_of(current_user)::%s[]))',
                   tbl, store_column, typ, store_column, typ);
    EXECUTE format('CREATE POLICY retailiq_all_stores ON %s FOR ALL TO retailiq_admin, retailiq_operator, retailiq_purchaser '
                   'USING (true) WITH CHECK (true)', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO retailiq_store_manager', tbl);
    EXECUTE format('GRANT SELECT ON %s TO retailiq_admin, retailiq_operator, retailiq_purchaser', tbl);
    PERFORM retailiq.audit_record('enable_store_security', jsonb_build_object('table', tbl::text, 'store_column', store_column));
END
$$;
-- Removing retailiq from a database (doc/operations.md, "Removal"). DROP EXTENSION alone
-- fails once the privacy set-up ran: the masking views (schema retailiq_mask, not part of the
-- extension), the store policies and triggers on the retailer's tables depend on retailiq's
-- functions; CASCADE would leave schema retailiq_mask and row security enabled with no policy.
-- retailiq.uninstall() takes those down in order, says what it did, then drops the extension.

CREATE FUNCTION retailiq.uninstall(drop_audit_log boolean DEFAULT false, cascade boolean DEFAULT false)
RETURNS TABLE (step text, object text, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n bigint;
    deps text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'retailiq.uninstall() must be run by a superuser'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'It drops policies, views and triggers on other roles'' tables, and the extension.';
    END IF;
    IF drop_audit_log IS NULL OR cascade IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN drop_audit_log IS NULL THEN 'drop_audit_log' ELSE 'cascade' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass true or false (both default to false, which refuses to lose the audit log or your objects).';
    END IF;
    SELECT count(*) INTO n FROM retailiq.audit_log;
    IF n > 0 AND drop_audit_log IS NOT TRUE THEN
        RAISE EXCEPTION 'the audit log holds % records, which DROP EXTENSION would delete', n
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The audit log is kept for retailiq.audit_retention (at least 6 years).',
                  HINT = 'Export it first (COPY (SELECT * FROM retailiq.audit_log ORDER BY id) TO ...), then call retailiq.uninstall(drop_audit_log => true).';
    END IF;

    -- store security: the two policies of enable_store_security; row security goes off where
    -- no other policy is left (on, with no policy, every ordinary role would see no row)
    FOR r IN SELECT DISTINCT p.polrelid::regclass AS rel FROM pg_policy p
              WHERE p.polname IN ('retailiq_own_stores', 'retailiq_all_stores') LOOP
        EXECUTE format('DROP POLICY IF EXISTS retailiq_own_stores ON %s', r.rel);
        EXECUTE format('DROP POLICY IF EXISTS retailiq_all_stores ON %s', r.rel);
        IF EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = r.rel) THEN
            step := 'store security removed'; object := r.rel::text;
            detail := 'row security stays enabled: the table has policies of its own';
        ELSE
            EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', r.rel);
            step := 'store security removed'; object := r.rel::text;
            detail := 'row security disabled: every role with SELECT now sees every row';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- masking: stored masked rows and their triggers, the views, the schema
    PERFORM retailiq_internal.masked_copy_drop_all();
    IF to_regnamespace('retailiq_mask') IS NOT NULL THEN
        DROP SCHEMA retailiq_mask CASCADE;
        step := 'masking removed'; object := 'schema retailiq_mask';
        detail := 'masked roles keep no access to the labelled tables (apply_masking revoked it)';
        RETURN NEXT;
    END IF;
    -- the column rules of this database (role labels and settings are the cluster's: kept)
    PERFORM retailiq.sha256_implementation();   -- loads the library, so the label provider is there
    FOR r IN SELECT s.objoid::regclass AS rel, a.attname
               FROM pg_seclabel s JOIN pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
              WHERE s.provider = 'retailiq' AND s.classoid = 'pg_class'::regclass AND s.objsubid > 0 LOOP
        EXECUTE format('SECURITY LABEL FOR retailiq ON COLUMN %s.%I IS NULL', r.rel, r.attname);
        step := 'masking rule removed'; object := format('%s.%I', r.rel, r.attname); detail := NULL;
        RETURN NEXT;
    END LOOP;

    -- triggers on the retailer's tables that call retailiq's functions (stock_alert, ...)
    FOR r IN SELECT t.tgname, t.tgrelid::regclass AS rel, t.tgfoid::regproc AS fn
               FROM pg_trigger t
               JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = t.tgfoid AND d.deptype = 'e'
                               AND d.refclassid = 'pg_extension'::regclass
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'retailiq'
              WHERE NOT t.tgisinternal AND t.tgparentid = 0
                AND (SELECT c.relnamespace FROM pg_class c WHERE c.oid = t.tgrelid)
                    NOT IN ('retailiq'::regnamespace, 'retailiq_internal'::regnamespace) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
        step := 'trigger dropped'; object := format('%I on %s', r.tgname, r.rel); detail := r.fn::text;
        RETURN NEXT;
    END LOOP;

    -- whatever else of the user's still depends on retailiq (a view calling its functions, a
    -- column of type retailiq.model): refused unless cascade, which drops it
    SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), ', ') INTO deps
      FROM pg_depend d
      JOIN pg_depend m ON m.classid = d.refclassid AND m.objid = d.refobjid AND m.deptype = 'e'
      JOIN pg_extension e ON e.oid = m.refobjid AND e.extname = 'retailiq'
     WHERE d.deptype = 'n'
       AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = d.classid AND x.objid = d.objid
                          AND x.deptype = 'e' AND x.refobjid = e.oid)
       -- retailiq's own (the audit log's partitions, policies on its tables) go with it
       AND coalesce((pg_identify_object(d.classid, d.objid, d.objsubid)).schema, '') NOT IN ('retailiq', 'retailiq_internal')
       AND pg_describe_object(d.classid, d.objid, d.objsubid) !~ ' (on|of) (table|view) retailiq(_internal)?\.';
    IF deps IS NOT NULL AND cascade IS NOT TRUE THEN
        RAISE EXCEPTION 'objects of yours depend on retailiq'
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = deps || '.',
                  HINT = 'Drop or change them, or call retailiq.uninstall(cascade => true), which drops them with the extension.';
    END IF;

    -- running jobs of this database end now (the scheduler then idles until the extension is back)
    PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
      WHERE a.backend_type = 'retailiq job' AND a.datname = current_database();
    IF cascade THEN
        DROP EXTENSION retailiq CASCADE;
    ELSE
        DROP EXTENSION retailiq;
    END IF;
    step := 'extension dropped'; object := 'retailiq';
    detail := 'roles, role labels and role settings are the cluster''s and were kept (doc/operations.md, Removal)';
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION retailiq.uninstall(boolean, boolean) FROM PUBLIC;
COMMENT ON FUNCTION retailiq.uninstall(boolean, boolean) IS
    'removes retailiq from this database: store policies, masking views and rules, triggers, then the extension';
-- replenishment: from forecast to order (doc/replenishment.md). The supplier/product
-- parameters, the open purchase orders, the stored nightly plan, and the C arithmetic they
-- share with the plan (plan.sql) and the backtest (backtest.sql).
--
-- Who sees what: purchasers, operators and admins every store; any other role the stores
-- granted to it (retailiq.grant_store: store managers). Row-level security on the tables
-- here says so itself, so it holds before retailiq.create_standard_roles has run and needs
-- no enable_store_security call.

-- One store x product's order from its per-day forecast means and variances (demand.c).
CREATE FUNCTION retailiq_internal.replenishment_order(mean float8[], var float8[], lead int, review int,
        shelf int, service_level float8, on_hand float8, on_order float8, pack float8, moq float8,
        OUT demand_mean float8, OUT demand_quantile float8, OUT order_up_to float8,
        OUT order_qty float8, OUT fill_rate float8, OUT reason text)
    AS 'MODULE_PATHNAME', 'replenishment_order' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- One series of the backtest replayed (simulate.c): float8[] of demand, sold, ordered, the sum
-- of end-of-period stock, periods, stock-out periods, cycles, cycles served, start stock.
CREATE FUNCTION retailiq_internal.replenishment_simulate(demand float8[], history int, lead int, review int,
        policy text, service_level float8, start_stock float8, "window" int,
        fc_mean float8[], fc_var float8[])
    RETURNS float8[]
    AS 'MODULE_PATHNAME', 'replenishment_simulate' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Whether the caller sees every store (purchaser, operator, admin, by membership; the roles
-- may not exist yet).
CREATE FUNCTION retailiq_internal.replenishment_all_stores(writer boolean DEFAULT false) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM pg_roles r
                    WHERE r.rolname = ANY (CASE WHEN writer THEN ARRAY['retailiq_admin', 'retailiq_purchaser']
                                                ELSE ARRAY['retailiq_admin', 'retailiq_operator', 'retailiq_purchaser'] END)
                      AND pg_has_role(current_user, r.oid, 'MEMBER'))
$$;

-- Parameters per store x product, product (store_id NULL), store (product_id NULL) or the
-- whole chain (both NULL). Each column is taken from the most specific row that sets it,
-- else the built-in default (retailiq_internal.replenishment_defaults).
CREATE TABLE retailiq.replenishment_parameter (
    store_id        bigint,
    product_id      bigint,
    supplier        text,
    lead_time_days  int     CHECK (lead_time_days BETWEEN 0 AND 3660),
    review_days     int     CHECK (review_days BETWEEN 1 AND 3660),
    service_level   float8  CHECK (service_level > 0 AND service_level < 1),
    pack_size       float8  CHECK (pack_size > 0 AND pack_size <= 1e9),
    moq             float8  CHECK (moq >= 0 AND moq <= 1e12),
    shelf_life_days int     CHECK (shelf_life_days BETWEEN 1 AND 36600),
    updated_by      name    NOT NULL DEFAULT current_user,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT replenishment_parameter_key UNIQUE NULLS NOT DISTINCT (store_id, product_id)
);
COMMENT ON TABLE retailiq.replenishment_parameter IS
    'replenishment parameters (lead time, review period, service level, pack size, MOQ, shelf life) per store x product, product, store or chain; unset columns fall back to the next row and to the defaults';
SELECT pg_catalog.pg_extension_config_dump('retailiq.replenishment_parameter', '');
ALTER TABLE retailiq.replenishment_parameter ENABLE ROW LEVEL SECURITY;
CREATE POLICY replenishment_parameter_read ON retailiq.replenishment_parameter FOR SELECT USING (true);
CREATE POLICY replenishment_parameter_write ON retailiq.replenishment_parameter FOR ALL
    USING ((SELECT retailiq_internal.replenishment_all_stores(true)))
    WITH CHECK ((SELECT retailiq_internal.replenishment_all_stores(true)));
GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.replenishment_parameter TO PUBLIC;

-- The built-in defaults: 2 days' lead time, a daily review, 95% cycle service level, single
-- units, no MOQ, not perishable.
CREATE FUNCTION retailiq_internal.replenishment_defaults(OUT lead_time_days int, OUT review_days int,
        OUT service_level float8, OUT pack_size float8, OUT moq float8, OUT shelf_life_days int)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 2, 1, 0.95::float8, 1::float8, 0::float8, NULL::int $$;

-- The parameters in force for one store x product.
CREATE FUNCTION retailiq.replenishment_parameters(store_id bigint, product_id bigint,
        OUT lead_time_days int, OUT review_days int, OUT service_level float8,
        OUT pack_size float8, OUT moq float8, OUT shelf_life_days int, OUT supplier text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS (
        SELECT p.*, (p.product_id IS NULL)::int * 2 + (p.store_id IS NULL)::int AS rank
          FROM retailiq.replenishment_parameter p
         WHERE (p.store_id = $1 OR p.store_id IS NULL) AND (p.product_id = $2 OR p.product_id IS NULL))
    SELECT coalesce((SELECT r.lead_time_days FROM r WHERE r.lead_time_days IS NOT NULL ORDER BY r.rank LIMIT 1), d.lead_time_days),
           coalesce((SELECT r.review_days FROM r WHERE r.review_days IS NOT NULL ORDER BY r.rank LIMIT 1), d.review_days),
           coalesce((SELECT r.service_level FROM r WHERE r.service_level IS NOT NULL ORDER BY r.rank LIMIT 1), d.service_level),
           coalesce((SELECT r.pack_size FROM r WHERE r.pack_size IS NOT NULL ORDER BY r.rank LIMIT 1), d.pack_size),
           coalesce((SELECT r.moq FROM r WHERE r.moq IS NOT NULL ORDER BY r.rank LIMIT 1), d.moq),
           coalesce((SELECT r.shelf_life_days FROM r WHERE r.shelf_life_days IS NOT NULL ORDER BY r.rank LIMIT 1), d.shelf_life_days),
           (SELECT r.supplier FROM r WHERE r.supplier IS NOT NULL ORDER BY r.rank LIMIT 1)
      FROM retailiq_internal.replenishment_defaults() d
$$;
COMMENT ON FUNCTION retailiq.replenishment_parameters(bigint, bigint) IS
    'the replenishment parameters in force for one store x product (most specific row of retailiq.replenishment_parameter per column, else the defaults)';

-- Purchase orders: open ones are stock on order. Written through record_purchase_order and
-- receive_purchase_order (or directly, under the same row security).
CREATE TABLE retailiq.purchase_order (
    po_id     bigserial PRIMARY KEY,
    store_id     bigint  NOT NULL,
    product_id   bigint  NOT NULL,
    quantity     float8  NOT NULL CHECK (quantity > 0 AND quantity <= 1e12),
    supplier     text,
    ordered_on   date    NOT NULL DEFAULT current_date,
    expected_on  date    NOT NULL,
    status       text    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'received', 'cancelled')),
    received_qty float8  CHECK (received_qty >= 0 AND received_qty <= 1e12),
    received_on  date,
    ordered_by   name    NOT NULL DEFAULT current_user,
    received_by  name,
    CHECK (expected_on >= ordered_on),
    CHECK ((status = 'received') = (received_on IS NOT NULL AND received_qty IS NOT NULL))
);
COMMENT ON TABLE retailiq.purchase_order IS
    'purchase orders per store x product: open orders are the stock on order of the replenishment plan';
CREATE INDEX purchase_order_open ON retailiq.purchase_order (store_id, product_id) WHERE status = 'open';
SELECT pg_catalog.pg_extension_config_dump('retailiq.purchase_order', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.purchase_order_po_id_seq', '');
ALTER TABLE retailiq.purchase_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY purchase_order_stores ON retailiq.purchase_order FOR ALL
    USING ((SELECT retailiq_internal.replenishment_all_stores()) OR store_id = ANY ((SELECT retailiq.stores_of(current_user))::bigint[]))
    WITH CHECK ((SELECT retailiq_internal.replenishment_all_stores()) OR store_id = ANY ((SELECT retailiq.stores_of(current_user))::bigint[]));
GRANT SELECT, INSERT, UPDATE ON retailiq.purchase_order TO PUBLIC;
GRANT USAGE ON SEQUENCE retailiq.purchase_order_po_id_seq TO PUBLIC;

-- Records an order placed with a supplier; expected_on defaults to today + the lead time in
-- force. Returns the order.
CREATE FUNCTION retailiq.record_purchase_order(store_id bigint, product_id bigint, quantity float8,
                                               expected_on date DEFAULT NULL, supplier text DEFAULT NULL,
                                               ordered_on date DEFAULT current_date)
RETURNS retailiq.purchase_order
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o retailiq.purchase_order;
    p record;
BEGIN
    IF store_id IS NULL OR product_id IS NULL OR quantity IS NULL OR ordered_on IS NULL THEN
        RAISE EXCEPTION 'store_id, product_id, quantity and ordered_on must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.record_purchase_order(7, 42, 24).';
    END IF;
    IF NOT (quantity > 0 AND quantity <= 1e12) THEN
        RAISE EXCEPTION 'quantity must be above 0'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('quantity is %s.', quantity),
                  HINT = 'Record the units ordered; cancel an order with retailiq.cancel_purchase_order.';
    END IF;
    SELECT * INTO p FROM retailiq.replenishment_parameters(store_id, product_id);
    IF expected_on IS NOT NULL AND expected_on < ordered_on THEN
        RAISE EXCEPTION 'expected_on must not be before ordered_on'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('ordered_on is %s, expected_on %s.', ordered_on, expected_on);
    END IF;
    INSERT INTO retailiq.purchase_order AS t (store_id, product_id, quantity, supplier, ordered_on, expected_on)
    VALUES (store_id, product_id, quantity, coalesce(supplier, p.supplier), ordered_on,
            coalesce(expected_on, ordered_on + p.lead_time_days))
    RETURNING * INTO o;
    RETURN o;
END
$$;
COMMENT ON FUNCTION retailiq.record_purchase_order(bigint, bigint, float8, date, text, date) IS
    'records an open purchase order (stock on order for the replenishment plan); returns it';

-- Receives an open order (all of it unless received_qty says otherwise): it is no longer on
-- order. With add_to_inventory, the units are added to on_hand in the registered inventory
-- relation in the same transaction, so the position never counts them twice or not at all.
-- The order's row is locked first: two sessions receiving the same order cannot both do it.
CREATE FUNCTION retailiq.receive_purchase_order(po_id bigint, received_qty float8 DEFAULT NULL,
                                                received_on date DEFAULT current_date,
                                                add_to_inventory boolean DEFAULT false)
RETURNS retailiq.purchase_order
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o retailiq.purchase_order;
    n bigint;
BEGIN
    IF po_id IS NULL OR received_on IS NULL OR add_to_inventory IS NULL THEN
        RAISE EXCEPTION 'po_id, received_on and add_to_inventory must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF received_qty IS NOT NULL AND NOT (received_qty >= 0 AND received_qty <= 1e12) THEN
        RAISE EXCEPTION 'received_qty must not be negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('received_qty is %s.', received_qty);
    END IF;
    SELECT * INTO o FROM retailiq.purchase_order p WHERE p.po_id = receive_purchase_order.po_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'purchase order % does not exist', po_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.purchase_order lists the orders of the stores you may see.';
    END IF;
    IF o.status <> 'open' THEN
        RAISE EXCEPTION 'purchase order % is already %', po_id, o.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was %s on %s by %s.', o.status, o.received_on, o.received_by),
                  HINT = 'Only open orders are received.';
    END IF;
    UPDATE retailiq.purchase_order p
       SET status = 'received', received_qty = coalesce(receive_purchase_order.received_qty, p.quantity),
           received_on = receive_purchase_order.received_on, received_by = current_user
     WHERE p.po_id = receive_purchase_order.po_id
    RETURNING * INTO o;
    IF add_to_inventory THEN
        IF NOT EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'inventory') THEN
            RAISE EXCEPTION 'no inventory source is registered'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Register the stock table: retailiq.register_source(''inventory'', relation).';
        END IF;
        EXECUTE format('UPDATE %s SET %I = %I + $1 WHERE %I = $2 AND %I = $3',
                       retailiq_internal.source_relation('inventory'),
                       retailiq_internal.source_column('inventory', 'on_hand'),
                       retailiq_internal.source_column('inventory', 'on_hand'),
                       retailiq_internal.source_column('inventory', 'store_id'),
                       retailiq_internal.source_column('inventory', 'product_id'))
          USING o.received_qty, o.store_id, o.product_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'the inventory has % rows for store % and product %', n, o.store_id, o.product_id
                USING ERRCODE = 'cardinality_violation',
                      HINT = 'Add the product''s stock row (on_hand 0) before receiving it.';
        END IF;
    END IF;
    RETURN o;
END
$$;
COMMENT ON FUNCTION retailiq.receive_purchase_order(bigint, float8, date, boolean) IS
    'receives an open purchase order (optionally adding the units to the registered inventory); an order is received once';

CREATE FUNCTION retailiq.cancel_purchase_order(po_id bigint) RETURNS retailiq.purchase_order
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o retailiq.purchase_order;
BEGIN
    UPDATE retailiq.purchase_order p SET status = 'cancelled'
     WHERE p.po_id = cancel_purchase_order.po_id AND p.status = 'open'
    RETURNING * INTO o;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'purchase order % is not open', po_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'retailiq.purchase_order shows its status.';
    END IF;
    RETURN o;
END
$$;
COMMENT ON FUNCTION retailiq.cancel_purchase_order(bigint) IS 'cancels an open purchase order';

-- The stored plan: what the nightly job (refresh_replenishment_plan) computed, per source,
-- plan date, store and product. Purchasers read every store, store managers theirs.
CREATE TABLE retailiq.order_plan (
    source             text    NOT NULL,
    plan_date          date    NOT NULL,
    store_id           bigint  NOT NULL,
    product_id         bigint  NOT NULL,
    series             text    NOT NULL,
    on_hand            float8  NOT NULL,
    on_order           float8  NOT NULL,
    demand_mean        float8  NOT NULL,
    demand_quantile    float8  NOT NULL,
    service_level      float8  NOT NULL,
    order_up_to        float8  NOT NULL,
    order_qty          float8  NOT NULL,
    expected_fill_rate float8  NOT NULL,
    days_of_cover      float8,
    lead_time_days     int     NOT NULL,
    review_days        int     NOT NULL,
    reason             text    NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, plan_date, store_id, product_id)
);
COMMENT ON TABLE retailiq.order_plan IS
    'the nightly replenishment plan (retailiq.refresh_replenishment_plan): per source, plan date, store and product, the order to place and why';
SELECT pg_catalog.pg_extension_config_dump('retailiq.order_plan', '');
ALTER TABLE retailiq.order_plan ENABLE ROW LEVEL SECURITY;
CREATE POLICY order_plan_stores ON retailiq.order_plan FOR SELECT
    USING ((SELECT retailiq_internal.replenishment_all_stores()) OR store_id = ANY ((SELECT retailiq.stores_of(current_user))::bigint[]));
GRANT SELECT ON retailiq.order_plan TO PUBLIC;
-- replenishment: the plan (doc/replenishment.md). For each store x product of a sales
-- source's newest forecasts: the demand over lead time + review period from the forecasts'
-- means and intervals (per day; a weekly or monthly forecast spread evenly over its days),
-- the inventory position (on hand from the registered inventory relation + open purchase
-- orders), and the order that brings the position up to the service-level quantile, in
-- whole packs, at least the MOQ, never more than sells before it spoils
-- (retailiq_internal.replenishment_order, demand.c).

CREATE FUNCTION retailiq.replenishment_plan(source text, as_of date DEFAULT NULL, stores bigint[] DEFAULT NULL,
                                            missing_inventory text DEFAULT 'error')
RETURNS TABLE (store_id bigint, product_id bigint, series text, on_hand float8, on_order float8,
               demand_mean float8, demand_quantile float8, service_level float8, order_up_to float8,
               order_qty float8, expected_fill_rate float8, days_of_cover float8,
               lead_time_days int, review_days int, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model text := 'forecast:' || source;
    v_created timestamptz;
    v_keyless bigint;
    v_inv text;
    v_missing bigint;
    v_example text;
    v_base text;
BEGIN
    IF source IS NULL OR missing_inventory IS NULL THEN
        RAISE EXCEPTION 'source and missing_inventory must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.replenishment_plan(''store_sales'').';
    END IF;
    IF missing_inventory NOT IN ('error', 'zero', 'skip') THEN
        RAISE EXCEPTION 'missing_inventory must be error, zero or skip'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('missing_inventory is %s.', missing_inventory),
                  HINT = '"error" refuses a plan with a product that has no inventory row, "zero" takes its stock as 0, "skip" leaves it out.';
    END IF;
    PERFORM retailiq_internal.sales_source_named(source);
    SELECT max(r.created_at) INTO v_created FROM retailiq.forecast_result r WHERE r.model_name = v_model;
    IF v_created IS NULL THEN
        RAISE EXCEPTION 'sales source "%" has no stored forecasts', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28], %L) first.', source);
    END IF;
    IF as_of IS NULL THEN
        SELECT min(r.period_start) INTO as_of FROM retailiq.forecast_result r
         WHERE r.model_name = v_model AND r.created_at = v_created;
    END IF;
    SELECT count(*) INTO v_keyless FROM retailiq.forecast_result r
     WHERE r.model_name = v_model AND r.created_at = v_created AND (r.store_id IS NULL OR r.product_id IS NULL);
    IF v_keyless > 0 THEN
        RAISE EXCEPTION 'the forecasts of sales source "%" name no store and product', source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s forecast rows have no store_id or product_id.', v_keyless),
                  HINT = 'Register the source with store_column and product_column, then refresh its forecasts.';
    END IF;
    IF NOT EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'inventory') THEN
        RAISE EXCEPTION 'no inventory source is registered'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Register the stock on hand: retailiq.register_source(''inventory'', relation) with columns store_id, product_id, on_hand.';
    END IF;
    v_inv := retailiq_internal.source_sql('inventory');

    -- the store x product series with a forecast from as_of on, their parameters and stock
    v_base := format($q$
        WITH k AS (
            SELECT DISTINCT ON (r.series) r.series, r.store_id, r.product_id
              FROM retailiq.forecast_result r
             WHERE r.model_name = $1 AND r.period_start >= $2 AND r.store_id IS NOT NULL
               AND r.product_id IS NOT NULL AND ($3::bigint[] IS NULL OR r.store_id = ANY ($3))
             ORDER BY r.series, r.created_at DESC),
        inv AS (
            SELECT i.store_id::bigint AS store_id, i.product_id::bigint AS product_id, sum(i.on_hand)::float8 AS on_hand
              FROM %s i
             WHERE ($3::bigint[] IS NULL OR i.store_id = ANY ($3))
             GROUP BY 1, 2)
        SELECT k.series, k.store_id, k.product_id, inv.on_hand
          FROM k LEFT JOIN inv ON inv.store_id = k.store_id AND inv.product_id = k.product_id$q$, v_inv);

    EXECUTE format('SELECT count(*), min(format(''store %%s, product %%s'', b.store_id, b.product_id)) FROM (%s) b WHERE b.on_hand IS NULL', v_base)
      INTO v_missing, v_example USING v_model, as_of, stores;
    IF v_missing > 0 AND missing_inventory = 'error' THEN
        RAISE EXCEPTION '% store x product series of sales source "%" have no inventory row', v_missing, source
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The first is %s.', v_example),
                  HINT = 'Add their rows to the inventory relation (on_hand 0 when out of stock), or pass missing_inventory => ''zero'' or ''skip''.';
    END IF;

    RETURN QUERY EXECUTE format($q$
        WITH b AS (%s),
        p AS (
            SELECT b.*, coalesce(b.on_hand, 0) AS stock,
                   coalesce((SELECT sum(o.quantity) FROM retailiq.purchase_order o
                              WHERE o.store_id = b.store_id AND o.product_id = b.product_id
                                AND o.status = 'open'), 0)::float8 AS on_order,
                   par.*,
                   greatest(par.lead_time_days + par.review_days,
                            par.lead_time_days + coalesce(par.shelf_life_days, 0)) AS need
              FROM b CROSS JOIN LATERAL retailiq.replenishment_parameters(b.store_id, b.product_id) par
             WHERE b.on_hand IS NOT NULL OR $4 = 'zero'),
        -- each day of [as_of, as_of + need) from the newest forecast whose period covers it
        fd AS (
            SELECT DISTINCT ON (f.series, f.day) f.series, f.day, f.mu, f.var
              FROM (SELECT r.series, r.created_at, d.day::date AS day,
                           greatest(r.yhat, 0) / n.days AS mu,
                           CASE WHEN r.yhat_upper IS NULL THEN greatest(r.yhat, 0)
                                ELSE ((r.yhat_upper - r.yhat_lower)
                                      / (2 * retailiq.normal_quantile((1 + r.interval_level) / 2))) ^ 2
                           END / n.days AS var
                      FROM retailiq.forecast_result r
                     CROSS JOIN LATERAL (SELECT ((r.period_start + CASE r.grain WHEN 'day' THEN interval '1 day'
                                                     WHEN 'week' THEN interval '1 week' ELSE interval '1 month' END)::date
                                                 - r.period_start)::float8 AS days) n
                     CROSS JOIN LATERAL generate_series(r.period_start, r.period_start + n.days::int - 1, interval '1 day') d(day)
                     WHERE r.model_name = $1 AND r.period_start > $2 - 31
                       AND r.period_start < $2 + (SELECT max(p.need) FROM p)
                       AND ($3::bigint[] IS NULL OR r.store_id = ANY ($3))) f
             WHERE f.day >= $2
             ORDER BY f.series, f.day, f.created_at DESC),
        -- days past the forecasts take the mean of the days with one
        arr AS (
            SELECT p.series,
                   array_agg(coalesce(fd.mu, a.mu) ORDER BY g.i) AS mu,
                   array_agg(coalesce(fd.var, a.var) ORDER BY g.i) AS var,
                   count(fd.day) AS covered
              FROM p
             CROSS JOIN LATERAL generate_series(0, p.need - 1) g(i)
              LEFT JOIN fd ON fd.series = p.series AND fd.day = $2 + g.i
             CROSS JOIN LATERAL (SELECT coalesce(avg(x.mu), 0) AS mu, coalesce(avg(x.var), 0) AS var
                                   FROM fd x WHERE x.series = p.series) a
             GROUP BY p.series)
        SELECT p.store_id, p.product_id, p.series, p.stock, p.on_order, o.demand_mean, o.demand_quantile,
               p.service_level, o.order_up_to, o.order_qty, o.fill_rate,
               CASE WHEN o.demand_mean > 0
                    THEN p.stock / (o.demand_mean / (p.lead_time_days + p.review_days)) END,
               p.lead_time_days, p.review_days,
               o.reason || CASE WHEN p.on_hand IS NULL THEN '; no inventory row: stock taken as 0' ELSE '' END
                        || CASE WHEN arr.covered < p.need
                                THEN format('; %%s of %%s days without a forecast took the mean of the others',
                                            p.need - arr.covered, p.need) ELSE '' END
          FROM p JOIN arr ON arr.series = p.series
         CROSS JOIN LATERAL retailiq_internal.replenishment_order(
               arr.mu, arr.var, p.lead_time_days, p.review_days, coalesce(p.shelf_life_days, 0),
               p.service_level, p.stock, p.on_order, p.pack_size, p.moq) o
         ORDER BY p.store_id, p.product_id, p.series$q$, v_base)
      USING v_model, as_of, stores, missing_inventory;
END
$$;
COMMENT ON FUNCTION retailiq.replenishment_plan(text, date, bigint[], text) IS
    'per store x product of a sales source: stock on hand and on order, demand over lead time + review period, order-up-to level, the order to place (packs, MOQ, shelf life), expected fill rate, days of cover and why';

-- The nightly job: the plan of each sales source whose forecasts name stores and products
-- (or the one named) stored in retailiq.order_plan, replacing that source's plan of the
-- same date. Returns the rows written.
CREATE FUNCTION retailiq.refresh_replenishment_plan(source text DEFAULT NULL, as_of date DEFAULT NULL,
                                                    missing_inventory text DEFAULT 'error')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nm text;
    v_date date;
    n bigint;
    total bigint := 0;
BEGIN
    IF source IS NOT NULL THEN
        PERFORM retailiq_internal.sales_source_named(source);
    END IF;
    FOR nm IN SELECT s.name FROM retailiq.sales_source s
               WHERE (refresh_replenishment_plan.source IS NULL
                      AND s.store_column IS NOT NULL AND s.product_column IS NOT NULL
                      AND EXISTS (SELECT FROM retailiq.forecast_result r WHERE r.model_name = 'forecast:' || s.name))
                  OR s.name = refresh_replenishment_plan.source
               ORDER BY s.name LOOP
        v_date := coalesce(as_of, (SELECT min(r.period_start) FROM retailiq.forecast_result r
                                    WHERE r.model_name = 'forecast:' || nm
                                      AND r.created_at = (SELECT max(x.created_at) FROM retailiq.forecast_result x
                                                           WHERE x.model_name = 'forecast:' || nm)));
        DELETE FROM retailiq.order_plan o WHERE o.source = nm AND o.plan_date = v_date;
        INSERT INTO retailiq.order_plan (source, plan_date, store_id, product_id, series, on_hand, on_order,
                                         demand_mean, demand_quantile, service_level, order_up_to, order_qty,
                                         expected_fill_rate, days_of_cover, lead_time_days, review_days, reason)
        SELECT nm, v_date, p.store_id, p.product_id, p.series, p.on_hand, p.on_order, p.demand_mean,
               p.demand_quantile, p.service_level, p.order_up_to, p.order_qty, p.expected_fill_rate,
               p.days_of_cover, p.lead_time_days, p.review_days, p.reason
          FROM retailiq.replenishment_plan(nm, v_date, NULL, missing_inventory) p;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION retailiq.refresh_replenishment_plan(text, date, text) IS
    'stores the replenishment plan of each sales source with store and product forecasts (or the one named) in retailiq.order_plan; returns rows written';
-- replenishment: the backtest (doc/replenishment.md). A past period of a sales source
-- replayed period by period for a policy: demand is what sold, an order arrives after the
-- lead time, demand beyond the stock is lost. 'plan' orders up to the service-level
-- quantile of forecasts refitted on what was known at the time (the registered method and
-- options, rows before the refit date); 'reorder_point' up to mean x (L + R) + z x sd x
-- sqrt(L + R) of the last 8 weeks' demand; 'naive' orders what sold in the last review
-- period. The replay of each series is C (replenishment_simulate, simulate.c).

CREATE FUNCTION retailiq.replenishment_backtest(source text, from_date date, to_date date,
                                                lead_time int, review_period int, service_level float8,
                                                policy text DEFAULT 'plan', refit_every int DEFAULT NULL)
RETURNS TABLE (series text, store_id bigint, product_id bigint, periods int, demand float8,
               units_sold float8, fill_rate float8, cycle_service_level float8, cycles int,
               avg_on_hand float8, stockout_days int, units_ordered float8, turnover float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source;
    v_data text;
    v_pd int;
    v_first date;
    v_last date;
    v_n int;
    v_hist int;
    v_window int;
    v_l int;
    v_r int;
    v_reviews int;
    v_f int;
    v_fits int;
    v_origin date;
    v_model retailiq.model;
    v_fit_options jsonb;
    v_level float8;
    v_z float8;
    v_keys text;
    v_inventory boolean;
    j int;
BEGIN
    IF source IS NULL OR from_date IS NULL OR to_date IS NULL OR lead_time IS NULL
       OR review_period IS NULL OR service_level IS NULL OR policy IS NULL THEN
        RAISE EXCEPTION 'arguments of replenishment_backtest must not be NULL (refit_every excepted)'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.replenishment_backtest(''store_sales'', ''2025-10-01'', ''2025-12-31'', 2, 1, 0.95, ''plan'').';
    END IF;
    IF lead_time < 0 OR lead_time > 3660 THEN
        RAISE EXCEPTION 'lead_time must be between 0 and 3660 days'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('lead_time is %s.', lead_time),
                  HINT = 'Pass the days between placing an order and receiving it.';
    END IF;
    IF review_period < 1 OR review_period > 3660 THEN
        RAISE EXCEPTION 'review_period must be between 1 and 3660 days'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('review_period is %s.', review_period),
                  HINT = 'Pass the days between two orders, e.g. 1 for a daily order, 7 for a weekly one.';
    END IF;
    IF NOT (service_level > 0 AND service_level < 1) THEN
        RAISE EXCEPTION 'service_level must be strictly between 0 and 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('service_level is %s.', service_level),
                  HINT = 'Pass the share of review cycles without a stock-out to aim for, e.g. 0.95.';
    END IF;
    IF policy NOT IN ('plan', 'reorder_point', 'naive') THEN
        RAISE EXCEPTION 'policy "%" is not a replenishment policy', policy
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use plan, reorder_point or naive.';
    END IF;
    IF to_date < from_date THEN
        RAISE EXCEPTION 'to_date must not be before from_date'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('from_date is %s, to_date %s.', from_date, to_date);
    END IF;
    src := retailiq_internal.sales_source_named(source);
    v_data := retailiq_internal.sales_source_query(src, false);

    -- the source's period (smallest gap between its dates) and the replayed periods
    EXECUTE format('SELECT min(d), min(g) FROM (SELECT d, d - lag(d) OVER (ORDER BY d) AS g'
                   ' FROM (SELECT DISTINCT a.d FROM (%s) a) x) y', v_data)
      INTO v_first, v_pd;
    IF v_pd IS NULL OR v_pd NOT IN (1, 7) THEN
        RAISE EXCEPTION 'sales source "%" is neither daily nor weekly', source
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Its dates are %s days apart at the closest.', coalesce(v_pd::text, 'never two')),
                  HINT = 'The backtest replays daily or weekly sales.';
    END IF;
    IF lead_time % v_pd <> 0 OR review_period % v_pd <> 0 THEN
        RAISE EXCEPTION 'lead_time and review_period must be whole periods of the source (% days)', v_pd
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('lead_time is %s, review_period %s.', lead_time, review_period),
                  HINT = 'For a weekly source pass 7, 14, ... days.';
    END IF;
    v_l := lead_time / v_pd;
    v_r := review_period / v_pd;
    v_first := v_first + ((greatest(from_date - v_first, 0) + v_pd - 1) / v_pd) * v_pd;
    v_last := v_first + ((to_date - v_first) / v_pd) * v_pd;
    IF v_last < v_first THEN
        RAISE EXCEPTION 'the period from % to % holds no date of sales source "%"', from_date, to_date, source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_n := (v_last - v_first) / v_pd + 1;
    v_window := 56 / v_pd;                       -- the classic policy's 8 weeks
    v_hist := greatest(v_window, v_r + v_l);
    v_reviews := (v_n + v_r - 1) / v_r;

    IF src.store_column IS NOT NULL AND src.product_column IS NOT NULL THEN
        v_keys := format('SELECT %1$I::text AS s, max(%2$I)::bigint AS store_id, max(%3$I)::bigint AS product_id'
                         ' FROM %4$s WHERE %1$I IS NOT NULL GROUP BY 1',
                         src.series_column, src.store_column, src.product_column, src.relation::text);
    ELSE
        v_keys := 'SELECT NULL::text AS s, NULL::bigint AS store_id, NULL::bigint AS product_id WHERE false';
    END IF;
    -- an earlier call in the same transaction left them (ON COMMIT DROP)
    IF to_regclass('pg_temp.riq_backtest_series') IS NOT NULL THEN
        DROP TABLE pg_temp.riq_backtest_series;
    END IF;
    IF to_regclass('pg_temp.riq_backtest_forecast') IS NOT NULL THEN
        DROP TABLE pg_temp.riq_backtest_forecast;
    END IF;
    -- per series: the demand of the history and replayed periods (no row: 0)
    EXECUTE format($q$
        CREATE TEMP TABLE riq_backtest_series ON COMMIT DROP AS
        WITH a AS MATERIALIZED (SELECT * FROM (%s) a WHERE a.d >= $1 AND a.d <= $2),
        g AS (SELECT g.d::date AS d FROM generate_series($1, $2, make_interval(days => $3)) g(d)),
        k AS (%s)
        SELECT s.s AS series, k.store_id, k.product_id,
               array_agg(coalesce(a.y, 0)::float8 ORDER BY g.d) AS y
          FROM (SELECT DISTINCT a.s FROM a) s
         CROSS JOIN g
          LEFT JOIN a ON a.s = s.s AND a.d = g.d
          LEFT JOIN k ON k.s = s.s
         GROUP BY s.s, k.store_id, k.product_id$q$, v_data, v_keys)
      USING v_first - v_hist * v_pd, v_last, v_pd;

    CREATE TEMP TABLE riq_backtest_forecast (series text, fit int, step int, mu float8, var float8)
        ON COMMIT DROP;
    IF policy = 'plan' THEN
        -- refits: at each review, or every refit_every days (a whole number of reviews)
        IF refit_every IS NOT NULL THEN
            IF refit_every < review_period OR refit_every % review_period <> 0 THEN
                RAISE EXCEPTION 'refit_every must be a whole number of review periods'
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('refit_every is %s, review_period %s.', refit_every, review_period);
            END IF;
            v_f := refit_every / v_pd;
        ELSE
            v_f := v_r * greatest(1, (v_reviews + 15) / 16);
            IF v_f > v_r THEN
                RAISE NOTICE 'refitting the forecasts every % days (% fits), not at each of the % reviews',
                             v_f * v_pd, (v_n + v_f - 1) / v_f, v_reviews
                    USING HINT = 'Pass refit_every => the review period to refit at each review (slower).';
            END IF;
        END IF;
        v_fits := (v_n + v_f - 1) / v_f;
        v_fit_options := retailiq_internal.sales_source_options(src.options);
        v_level := coalesce((v_fit_options ->> 'level')::float8, 0.8);
        v_z := retailiq.normal_quantile((1 + v_level) / 2);
        FOR j IN 0 .. v_fits - 1 LOOP
            v_origin := v_first + j * v_f * v_pd;
            EXECUTE retailiq_internal.sales_source_fit_query(src, src.method, true, src.options ? 'history_days')
               INTO v_model
              USING src.method, v_fit_options, v_origin, (src.options ->> 'history_days')::int;
            CONTINUE WHEN v_model IS NULL;
            INSERT INTO riq_backtest_forecast
            SELECT f.series, j, f.step, greatest(f.yhat, 0),
                   CASE WHEN f.yhat_upper IS NULL THEN greatest(f.yhat, 0)
                        ELSE ((f.yhat_upper - f.yhat_lower) / (2 * v_z)) ^ 2 END
              FROM retailiq.forecast_all(v_model, v_f + v_l + v_r,
                       CASE WHEN cardinality(src.exog_columns) > 0
                                 AND (SELECT fm.factors FROM retailiq.forecast_methods fm WHERE fm.name = src.method)
                            THEN retailiq_internal.sales_source_future_exog(src, v_model, v_f + v_l + v_r, v_origin) END) f
             WHERE f.series IN (SELECT b.series FROM riq_backtest_series b);
        END LOOP;
        CREATE INDEX ON riq_backtest_forecast (series, fit, step);
        ANALYZE riq_backtest_forecast;
    END IF;

    v_inventory := EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'inventory')
                   AND src.store_column IS NOT NULL AND src.product_column IS NOT NULL;
    RETURN QUERY EXECUTE format($q$
        WITH inv AS (%s),
        sim AS (
            SELECT b.series, b.store_id, b.product_id,
                   retailiq_internal.replenishment_simulate(
                       b.y, $1, $2, $3, $4, $5,
                       (SELECT sum(i.on_hand)::float8 FROM inv i
                         WHERE i.store_id = b.store_id AND i.product_id = b.product_id),
                       $6, fc.mu, fc.var) AS r
              FROM riq_backtest_series b
              LEFT JOIN LATERAL (
                  -- review k uses the newest fit at or before it: steps from the review on
                  SELECT array_agg(coalesce(f.mu, 0) ORDER BY k.k, i.i) AS mu,
                         array_agg(coalesce(f.var, 0) ORDER BY k.k, i.i) AS var
                    FROM generate_series(0, $7 - 1) k(k)
                   CROSS JOIN generate_series(0, $2 + $3 - 1) i(i)
                    LEFT JOIN riq_backtest_forecast f
                      ON f.series = b.series AND f.fit = (k.k * $3) / $8
                     AND f.step = k.k * $3 - ((k.k * $3) / $8) * $8 + i.i + 1
                   WHERE $4 = 'plan') fc ON true),
        rows AS (
            SELECT s.series, s.store_id, s.product_id, s.r[5]::int AS periods, s.r[1] AS demand, s.r[2] AS sold,
                   s.r[8] AS served, s.r[7]::int AS cycles, s.r[4] / s.r[5] AS avg_on_hand,
                   s.r[6]::int AS stockouts, s.r[3] AS ordered
              FROM sim s)
        SELECT r.series, r.store_id, r.product_id, r.periods, r.demand, r.sold,
               r.sold / nullif(r.demand, 0), r.served / nullif(r.cycles, 0), r.cycles, r.avg_on_hand,
               r.stockouts, r.ordered, r.sold / nullif(r.avg_on_hand, 0)
          FROM rows r
        UNION ALL
        SELECT NULL, NULL, NULL, max(r.periods), sum(r.demand), sum(r.sold),
               sum(r.sold) / nullif(sum(r.demand), 0), sum(r.served) / nullif(sum(r.cycles), 0),
               sum(r.cycles)::int, sum(r.avg_on_hand), sum(r.stockouts)::int, sum(r.ordered),
               sum(r.sold) / nullif(sum(r.avg_on_hand), 0)
          FROM rows r
        ORDER BY 1 NULLS LAST$q$,
        CASE WHEN v_inventory
             THEN format('SELECT i.store_id::bigint AS store_id, i.product_id::bigint AS product_id, i.on_hand FROM %s i',
                         retailiq_internal.source_sql('inventory'))
             ELSE 'SELECT NULL::bigint AS store_id, NULL::bigint AS product_id, NULL::float8 AS on_hand WHERE false' END)
      USING v_hist, v_l, v_r, policy, service_level, v_window, v_reviews, coalesce(v_f, v_r);
END
$$;
COMMENT ON FUNCTION retailiq.replenishment_backtest(text, date, date, int, int, float8, text, int) IS
    'replays a past period of a sales source period by period under a replenishment policy (plan, reorder_point, naive): fill rate, cycle service level, average stock, stock-outs, units ordered and turnover per series and in total (series NULL)';
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
-- replenishment: slow movers and dead stock (issue 24). Per store x product of a sales
-- source: days of cover, sell-through, weeks since the last sale, ABC (revenue) x XYZ (demand
-- variability), a status (ok, slow, dead) and for slow and dead stock a suggested action:
-- move it to a store where it sells, bundle it with a product customers often buy with it
-- (association rules saved as a model, basket_rules by default, when the caller may read
-- retailiq.models), or mark it down (retailiq.slow_movers). A nightly
-- check raises a slow_mover alert when an item turns slow and keeps the share of slow stock
-- per day for the reports (retailiq.check_slow_movers, retailiq.report_slow_movers).
-- Stock on hand comes from the registered inventory relation, prices and costs from the
-- products relation when it maps price / unit_cost. doc/slow-movers.md.

-- The rules saved under a model name (the newest version; NULL when there is none), over
-- product ids: a model of rules over text items is refused by model_rules_bigint (22023).
CREATE FUNCTION retailiq_internal.product_rules(model_name text) RETURNS retailiq.rule_bigint[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT retailiq.model_rules_bigint(m.model) FROM retailiq.models m
     WHERE m.name = model_name ORDER BY m.version DESC LIMIT 1
$$;

CREATE FUNCTION retailiq.slow_movers(source text, as_of date, rules text)
RETURNS TABLE (store_id bigint, product_id bigint, days_of_cover float8, sell_through float8,
               weeks_since_last_sale float8, abc text, xyz text, status text, stock_value float8,
               action text, reason text, on_hand float8, units_sold float8, revenue float8,
               move_to_store bigint, move_units float8, bundle_with bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source := retailiq_internal.sales_source_named(source);
    prod text := 'SELECT NULL::bigint AS product_id, NULL::float8 AS price, NULL::float8 AS unit_cost WHERE false';
    pcols jsonb;
BEGIN
    IF src.store_column IS NULL OR src.product_column IS NULL THEN
        RAISE EXCEPTION 'sales source "%" names no store and product columns', source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Register it with store_column and product_column (retailiq.register_sales_source).';
    END IF;
    IF NOT EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'inventory') THEN
        RAISE EXCEPTION 'no inventory source is registered'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Register the stock on hand by store and product: retailiq.register_source(''inventory'', relation).';
    END IF;
    as_of := coalesce(as_of, retailiq_internal.sales_source_last_date(src));
    IF as_of IS NULL THEN
        RETURN;
    END IF;
    SELECT s.columns INTO pcols FROM retailiq.source s WHERE s.role = 'products' AND s.name = '';
    IF pcols ? 'price' OR pcols ? 'unit_cost' THEN
        prod := format('SELECT product_id::bigint AS product_id, %s AS price, %s AS unit_cost FROM %s',
                       CASE WHEN pcols ? 'price' THEN 'price::float8' ELSE 'NULL::float8' END,
                       CASE WHEN pcols ? 'unit_cost' THEN 'unit_cost::float8' ELSE 'NULL::float8' END,
                       retailiq_internal.source_sql('products'));
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH t AS (SELECT (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'slow_window_days')::int AS win,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'slow_days_of_cover') AS slow_days,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'dead_weeks') AS dead_weeks,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'move_below_days') AS move_below,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'abc_a') AS abc_a,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'abc_b') AS abc_b,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'xyz_x') AS xyz_x,
                          (SELECT x.value FROM retailiq.planning_thresholds($3) x WHERE x.name = 'xyz_y') AS xyz_y),
        s AS MATERIALIZED (
            SELECT %1$I::bigint AS store_id, %2$I::bigint AS product_id, %3$I::date AS d, sum(%4$I)::float8 AS y
              FROM %5$s CROSS JOIN t
             WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %3$I::date <= $1 AND %3$I::date > $1 - t.win
             GROUP BY 1, 2, 3),
        last AS (
            SELECT %1$I::bigint AS store_id, %2$I::bigint AS product_id, max(%3$I)::date AS last_sale
              FROM %5$s
             WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %3$I::date <= $1 AND %4$I > 0
             GROUP BY 1, 2),
        inv AS (SELECT i.store_id::bigint AS store_id, i.product_id::bigint AS product_id,
                       sum(i.on_hand)::float8 AS on_hand
                  FROM %6$s i WHERE i.store_id IS NOT NULL AND i.product_id IS NOT NULL GROUP BY 1, 2),
        pr AS (SELECT DISTINCT ON (q.product_id) q.* FROM (%7$s) q ORDER BY q.product_id),
        win AS (SELECT s.store_id, s.product_id, sum(s.y) AS units, sum(s.y * coalesce(pr.price, 1)) AS revenue
                  FROM s LEFT JOIN pr ON pr.product_id = s.product_id GROUP BY 1, 2),
        wk AS (SELECT s.store_id, s.product_id, (($1 - s.d) / 7) AS w, sum(s.y) AS y
                 FROM s CROSS JOIN t WHERE s.d > $1 - 7 * greatest(t.win / 7, 1) GROUP BY 1, 2, 3),
        var AS (SELECT wk.store_id, wk.product_id,
                       sum(wk.y) / greatest(t.win / 7, 1) AS mean,
                       sqrt(greatest(sum(wk.y * wk.y) / greatest(t.win / 7, 1)
                                     - (sum(wk.y) / greatest(t.win / 7, 1)) ^ 2, 0)) AS sd
                  FROM wk CROSS JOIN t GROUP BY wk.store_id, wk.product_id, t.win),
        k AS (SELECT inv.store_id, inv.product_id FROM inv UNION SELECT win.store_id, win.product_id FROM win),
        b AS (
            SELECT k.store_id, k.product_id, coalesce(inv.on_hand, 0) AS on_hand,
                   coalesce(win.units, 0) AS units, coalesce(win.revenue, 0) AS revenue,
                   coalesce(win.units, 0) / t.win AS rate, last.last_sale,
                   coalesce(pr.unit_cost, pr.price) AS cost,
                   CASE WHEN var.mean > 0 THEN var.sd / var.mean END AS cv, t.*
              FROM k CROSS JOIN t
              LEFT JOIN inv ON inv.store_id = k.store_id AND inv.product_id = k.product_id
              LEFT JOIN win ON win.store_id = k.store_id AND win.product_id = k.product_id
              LEFT JOIN last ON last.store_id = k.store_id AND last.product_id = k.product_id
              LEFT JOIN var ON var.store_id = k.store_id AND var.product_id = k.product_id
              LEFT JOIN pr ON pr.product_id = k.product_id),
        c AS (
            SELECT b.*,
                   CASE WHEN b.on_hand <= 0 THEN 0::float8 WHEN b.rate > 0 THEN b.on_hand / b.rate
                        ELSE 'Infinity'::float8 END AS cover,
                   ($1 - b.last_sale) / 7.0::float8 AS weeks,
                   sum(b.revenue) OVER (PARTITION BY b.store_id ORDER BY b.revenue DESC, b.product_id
                                        ROWS UNBOUNDED PRECEDING) - b.revenue AS above,
                   sum(b.revenue) OVER (PARTITION BY b.store_id) AS total
              FROM b),
        st AS (
            SELECT c.*,
                   CASE WHEN c.on_hand <= 0 THEN 'ok'
                        WHEN c.last_sale IS NULL OR c.weeks >= c.dead_weeks THEN 'dead'
                        WHEN c.cover > c.slow_days THEN 'slow' ELSE 'ok' END AS status,
                   CASE WHEN c.revenue <= 0 THEN 'C' WHEN c.above < c.abc_a * c.total THEN 'A'
                        WHEN c.above < c.abc_b * c.total THEN 'B' ELSE 'C' END AS abc,
                   CASE WHEN c.cv IS NULL THEN 'Z' WHEN c.cv <= c.xyz_x THEN 'X' WHEN c.cv <= c.xyz_y THEN 'Y'
                        ELSE 'Z' END AS xyz,
                   greatest(c.on_hand - ceil(c.rate * c.slow_days), 0) AS excess
              FROM c),
        -- where stock can go: stores selling the product with little cover and room for more,
        -- fastest first (the two fastest suffice: one of them is another store)
        cand AS (
            SELECT x.* FROM (
                SELECT st.store_id, st.product_id, st.rate, st.cover, st.on_hand,
                       row_number() OVER (PARTITION BY st.product_id ORDER BY st.rate DESC, st.store_id) AS rk
                  FROM st
                 WHERE st.rate > 0 AND st.cover < st.move_below AND st.rate * st.slow_days - st.on_hand > 0) x
             WHERE x.rk <= 2),
        mv AS (
            SELECT DISTINCT ON (x.store_id, x.product_id) x.store_id AS from_store, x.product_id AS from_product,
                   c.store_id, c.rate, c.cover, least(x.excess, ceil(c.rate * x.slow_days - c.on_hand)) AS qty
              FROM st x JOIN cand c ON c.product_id = x.product_id AND c.store_id <> x.store_id
             WHERE x.status <> 'ok' AND x.excess > 0
             ORDER BY x.store_id, x.product_id, c.rk),
        -- each product's partner: the pair rule (one item each side, either way) of highest lift
        bd AS (
            SELECT DISTINCT ON (p.product_id) p.product_id, p.partner, p.lift, p.confidence
              FROM unnest($2::retailiq.rule_bigint[]) r
             CROSS JOIN LATERAL (VALUES (r.antecedent[1], r.consequent[1], r.lift, r.confidence),
                                        (r.consequent[1], r.antecedent[1], r.lift, r.confidence))
                                p(product_id, partner, lift, confidence)
             WHERE cardinality(r.antecedent) = 1 AND cardinality(r.consequent) = 1
             ORDER BY p.product_id, p.lift DESC, p.confidence DESC, p.partner)
        SELECT st.store_id, st.product_id, st.cover,
               CASE WHEN st.units + st.on_hand > 0 THEN st.units / (st.units + st.on_hand) END,
               st.weeks, st.abc, st.xyz, st.status,
               CASE WHEN st.cost IS NOT NULL THEN st.on_hand * st.cost END,
               CASE WHEN st.status = 'ok' THEN NULL WHEN mv.store_id IS NOT NULL THEN 'move'
                    WHEN bd.partner IS NOT NULL THEN 'bundle' ELSE 'markdown' END,
               concat_ws('; ',
                   CASE st.status
                        WHEN 'dead' THEN CASE WHEN st.last_sale IS NULL THEN format('%%s on hand, never sold', st.on_hand)
                                              ELSE format('%%s on hand, no sale for %%s weeks (dead from %%s)', st.on_hand,
                                                          round(st.weeks::numeric, 1), st.dead_weeks) END
                        WHEN 'slow' THEN format('%%s on hand cover %%s days at %%s a day (slow above %%s)', st.on_hand,
                                                round(st.cover::numeric), round(st.rate::numeric, 3), st.slow_days)
                   END,
                   CASE WHEN st.status = 'ok' THEN NULL
                        WHEN mv.store_id IS NOT NULL
                        THEN format('move %%s units to store %%s, where it sells %%s a day with %%s days of cover',
                                    mv.qty, mv.store_id, round(mv.rate::numeric, 3), round(mv.cover::numeric, 1))
                        WHEN bd.partner IS NOT NULL
                        THEN format('bundle with product %%s in a spend-and-save offer (bought together: lift %%s, confidence %%s)',
                                    bd.partner, round(bd.lift::numeric, 2), round(bd.confidence::numeric, 2))
                        ELSE 'mark down: no other store sells it faster and no product is often bought with it' END),
               st.on_hand, st.units, st.revenue, mv.store_id, mv.qty, bd.partner
          FROM st
          LEFT JOIN mv ON mv.from_store = st.store_id AND mv.from_product = st.product_id
          LEFT JOIN bd ON bd.product_id = st.product_id AND st.status <> 'ok'
         ORDER BY st.store_id, st.product_id$q$,
        src.store_column, src.product_column, src.date_column, src.value_column, src.relation::text,
        retailiq_internal.source_sql('inventory'), prod)
    USING as_of, CASE WHEN rules IS NOT NULL AND has_table_privilege('retailiq.models', 'SELECT')
                      THEN retailiq_internal.product_rules(rules) END, source;
END
$$;
COMMENT ON FUNCTION retailiq.slow_movers(text, date, text) IS
    'slow movers with bundles from the association rules saved under the model name rules';

-- The same with the rules saved as basket_rules.
CREATE FUNCTION retailiq.slow_movers(source text, as_of date DEFAULT NULL)
RETURNS TABLE (store_id bigint, product_id bigint, days_of_cover float8, sell_through float8,
               weeks_since_last_sale float8, abc text, xyz text, status text, stock_value float8,
               action text, reason text, on_hand float8, units_sold float8, revenue float8,
               move_to_store bigint, move_units float8, bundle_with bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM retailiq.slow_movers(source, as_of, 'basket_rules') $$;
COMMENT ON FUNCTION retailiq.slow_movers(text, date) IS
    'per store x product of a sales source: days of cover, sell-through, weeks since the last sale, ABC x XYZ, slow / dead status and a suggested action';

-- The status each item had at the last check, for the alert when it turns slow.
CREATE TABLE retailiq.slow_mover_status (
    source     text   NOT NULL,
    store_id   bigint NOT NULL,
    product_id bigint NOT NULL,
    status     text   NOT NULL CHECK (status IN ('ok', 'slow', 'dead')),
    since      date   NOT NULL,
    checked    date   NOT NULL,
    PRIMARY KEY (source, store_id, product_id)
);
COMMENT ON TABLE retailiq.slow_mover_status IS 'the slow-mover status of each store x product at its last check, and since when';
SELECT pg_catalog.pg_extension_config_dump('retailiq.slow_mover_status', '');
REVOKE ALL ON retailiq.slow_mover_status FROM PUBLIC;
GRANT SELECT ON retailiq.slow_mover_status TO PUBLIC;

-- Per source, day and store: stocked products, how many are slow and dead, and their value.
CREATE TABLE retailiq.slow_mover_history (
    source      text   NOT NULL,
    as_of       date   NOT NULL,
    store_id    bigint NOT NULL,
    products    int    NOT NULL,
    slow        int    NOT NULL,
    dead        int    NOT NULL,
    stock_value float8,
    slow_value  float8,
    dead_value  float8,
    PRIMARY KEY (source, as_of, store_id)
);
COMMENT ON TABLE retailiq.slow_mover_history IS 'slow and dead stock per source, day and store, for retailiq.report_slow_movers';
SELECT pg_catalog.pg_extension_config_dump('retailiq.slow_mover_history', '');
REVOKE ALL ON retailiq.slow_mover_history FROM PUBLIC;
GRANT SELECT ON retailiq.slow_mover_history TO PUBLIC;

-- The nightly check of a source: records the day's slow and dead stock per store, raises a
-- slow_mover alert for each item that turned slow or dead since the last check (a first
-- check only records), and resolves it when the item is ok again. Needs EXECUTE on
-- retailiq.raise_alert and retailiq_internal.alert_resolve_subject (as
-- retailiq.check_sales_shortfall). Returns the items whose status changed.
CREATE FUNCTION retailiq.check_slow_movers(source text, as_of date DEFAULT NULL)
RETURNS TABLE (store_id bigint, product_id bigint, status text, previous text, action text, alert_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source := retailiq_internal.sales_source_named(source);
    r record;
    subj jsonb;
BEGIN
    as_of := coalesce(as_of, retailiq_internal.sales_source_last_date(src));
    IF as_of IS NULL THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS riq_slow_movers ON COMMIT DROP AS
        SELECT * FROM retailiq.slow_movers(source, as_of) WITH NO DATA;
    TRUNCATE riq_slow_movers;
    INSERT INTO riq_slow_movers SELECT * FROM retailiq.slow_movers(source, as_of);
    INSERT INTO retailiq.slow_mover_history AS h
    SELECT source, as_of, m.store_id, count(*) FILTER (WHERE m.on_hand > 0),
           count(*) FILTER (WHERE m.status = 'slow'), count(*) FILTER (WHERE m.status = 'dead'),
           sum(m.stock_value) FILTER (WHERE m.on_hand > 0),
           coalesce(sum(m.stock_value) FILTER (WHERE m.status = 'slow'), 0),
           coalesce(sum(m.stock_value) FILTER (WHERE m.status = 'dead'), 0)
      FROM riq_slow_movers m GROUP BY m.store_id
    ON CONFLICT ON CONSTRAINT slow_mover_history_pkey DO UPDATE
       SET products = excluded.products, slow = excluded.slow, dead = excluded.dead,
           stock_value = excluded.stock_value, slow_value = excluded.slow_value, dead_value = excluded.dead_value;
    FOR r IN SELECT m.store_id, m.product_id, m.status, m.action, m.reason, m.stock_value, p.status AS previous
               FROM riq_slow_movers m
               LEFT JOIN retailiq.slow_mover_status p
                      ON p.source = check_slow_movers.source AND p.store_id = m.store_id AND p.product_id = m.product_id
              WHERE p.status IS DISTINCT FROM m.status
              ORDER BY m.store_id, m.product_id LOOP
        subj := jsonb_build_object('source', source, 'store_id', r.store_id, 'product_id', r.product_id);
        alert_id := NULL;
        IF r.previous IS NOT NULL AND r.status <> 'ok' THEN
            alert_id := retailiq.raise_alert('slow_mover', subj,
                            CASE r.status WHEN 'dead' THEN 'critical' ELSE 'warning' END::retailiq.alert_severity,
                            format('product %s turned %s at store %s: %s', r.product_id, r.status, r.store_id, r.reason),
                            r.stock_value, NULL, 'purchaser');
        ELSIF r.previous IS NOT NULL THEN
            alert_id := retailiq_internal.alert_resolve_subject('slow_mover', subj);
        END IF;
        INSERT INTO retailiq.slow_mover_status AS s (source, store_id, product_id, status, since, checked)
        VALUES (check_slow_movers.source, r.store_id, r.product_id, r.status, as_of, as_of)
        ON CONFLICT ON CONSTRAINT slow_mover_status_pkey DO UPDATE
           SET status = excluded.status, since = excluded.since, checked = excluded.checked;
        store_id := r.store_id; product_id := r.product_id; status := r.status; previous := r.previous;
        action := r.action;
        RETURN NEXT;
    END LOOP;
    UPDATE retailiq.slow_mover_status s SET checked = as_of WHERE s.source = check_slow_movers.source;
END
$$;
COMMENT ON FUNCTION retailiq.check_slow_movers(text, date) IS
    'records the day''s slow and dead stock of a source per store and raises slow_mover alerts for items that turned slow or dead';

-- For the reports: per day checked in [since, until], the share of stocked products that are
-- slow or dead and their stock value (over all stores, or one).
CREATE FUNCTION retailiq.report_slow_movers(source text, since date, until date, store_id bigint DEFAULT NULL)
RETURNS TABLE (as_of date, products bigint, slow bigint, dead bigint, slow_share float8,
               stock_value float8, slow_value float8, dead_value float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL OR since IS NULL OR until IS NULL THEN
        RAISE EXCEPTION 'source, since and until must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF since > until THEN
        RAISE EXCEPTION 'since must not be after until' USING ERRCODE = 'invalid_parameter_value',
              DETAIL = format('since is %s, until is %s.', since, until);
    END IF;
    RETURN QUERY
    SELECT h.as_of, sum(h.products)::bigint, sum(h.slow)::bigint, sum(h.dead)::bigint,
           (sum(h.slow) + sum(h.dead))::float8 / nullif(sum(h.products), 0),
           sum(h.stock_value), sum(h.slow_value), sum(h.dead_value)
      FROM retailiq.slow_mover_history h
     WHERE h.source = report_slow_movers.source AND h.as_of BETWEEN since AND until
       AND (report_slow_movers.store_id IS NULL OR h.store_id = report_slow_movers.store_id)
     GROUP BY h.as_of ORDER BY h.as_of;
END
$$;
COMMENT ON FUNCTION retailiq.report_slow_movers(text, date, date, bigint) IS
    'share of stocked products that are slow or dead, and their stock value, per day checked (from retailiq.check_slow_movers)';
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
-- behaviour: what customers do before they buy, turned into tags, profiles, funnels and hot zones.
--
-- Everything here is SQL over the retailer's own events, orders, order_lines, products and
-- store_zones tables or views, read through the core source registry (retailiq.source,
-- src/core/source.sql; doc/behaviour.md has the contract). Tag rules are small validated jsonb conditions
-- compiled to fixed SQL fragments: identifiers come from the registry (regclass output and
-- %I-quoted column names, src/core/source.sql) and every value the user wrote reaches the query as a parameter,
-- so no user text is ever pasted into SQL.

-- ---------------------------------------------------------------------------------------
-- Event source
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION retailiq.register_event_source(events regclass, orders regclass,
                                               order_lines regclass, products regclass,
                                               store_zones regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src jsonb;
    r record;
    found_cat "char";
BEGIN
    IF events IS NULL OR orders IS NULL OR order_lines IS NULL OR products IS NULL
       OR store_zones IS NULL THEN
        RAISE EXCEPTION 'events, orders, order_lines, products and store_zones must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'Pass every source, e.g. register_event_source(''retail'') for the sample layout.';
    END IF;
    src := jsonb_build_object('events', events::oid, 'orders', orders::oid,
                              'order_lines', order_lines::oid, 'products', products::oid,
                              'store_zones', store_zones::oid);
    FOR r IN SELECT c.role AS source, c.column_name, c.type_category
               FROM retailiq_internal.source_contract() c WHERE c.required AND src ? c.role LOOP
        SELECT t.typcategory INTO found_cat
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = (src->>r.source)::oid AND a.attname = r.column_name
           AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'event source % has no column "%"', r.source, r.column_name
                USING ERRCODE = '42703',
                      DETAIL = format('%s is %s.', r.source, ((src->>r.source)::oid)::regclass),
                      HINT = 'Register a view that renames or adds the column (doc/behaviour.md, event contract).';
        END IF;
        IF found_cat <> r.type_category THEN
            RAISE EXCEPTION 'column "%" of event source % has the wrong type', r.column_name, r.source
                USING ERRCODE = '42804',
                      DETAIL = format('Expected a %s column.',
                                      CASE r.type_category WHEN 'N' THEN 'numeric' WHEN 'S' THEN 'text'
                                           ELSE 'timestamptz' END),
                      HINT = 'Register a view that casts the column.';
        END IF;
    END LOOP;
    -- the same relations in the core registry, each column under its own name (optional
    -- columns, such as churn's, where the relation has them)
    PERFORM retailiq.register_source(k, (src->>k)::oid::regclass)
       FROM unnest(ARRAY['events', 'orders', 'order_lines', 'products', 'store_zones']) k;
    -- a new source invalidates every tag: the trigger below marks every rule for a full
    -- recompute at the next refresh
END
$$;

-- The sample layout: <schema>.events, orders, order_lines, products, store_zones.
CREATE FUNCTION retailiq.register_event_source(source_schema name)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source_schema IS NULL THEN
        RAISE EXCEPTION 'source_schema must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass the schema generate_sample_data filled, e.g. ''retail''.';
    END IF;
    IF to_regclass(format('%I.events', source_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" has no table events', source_schema USING ERRCODE = '42P01',
              HINT = 'Create the sample data first, or register each table with register_event_source(events, orders, order_lines, products, store_zones).';
    END IF;
    PERFORM retailiq.register_event_source(
        format('%I.events', source_schema)::regclass, format('%I.orders', source_schema)::regclass,
        format('%I.order_lines', source_schema)::regclass,
        format('%I.products', source_schema)::regclass,
        format('%I.store_zones', source_schema)::regclass);
END
$$;

-- ---------------------------------------------------------------------------------------
-- Tag rules
-- ---------------------------------------------------------------------------------------

-- Validates a tag condition and returns it normalised (defaults filled in). Every error is
-- 22023 and names the offending key.
CREATE FUNCTION retailiq.tag_condition_check(condition jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = postgres
AS $$
DECLARE
    kind text;
    allowed text[];
    k text;
    v jsonb;
    w interval;
    out jsonb;
    ev text;
BEGIN
    IF condition IS NULL THEN
        RAISE EXCEPTION 'tag condition must not be NULL' USING ERRCODE = '22004',
              HINT = 'Write a condition such as {"event": "dwell", "zone_category": "fresh produce", "min_duration_s": 300, "window": "7 days"}.';
    END IF;
    IF jsonb_typeof(condition) <> 'object' THEN
        RAISE EXCEPTION 'tag condition must be a JSON object' USING ERRCODE = '22023',
              DETAIL = format('It is a JSON %s.', jsonb_typeof(condition)),
              HINT = 'Write a condition such as {"kind": "cart_abandoned", "window": "24 hours"}.';
    END IF;
    IF condition ? 'kind' THEN
        IF jsonb_typeof(condition->'kind') <> 'string' THEN
            RAISE EXCEPTION 'tag condition key "kind" must be a string' USING ERRCODE = '22023',
                  HINT = 'Use "events", "cart_abandoned" or "promo_share".';
        END IF;
        kind := condition->>'kind';
    ELSIF condition ? 'event' THEN
        kind := 'events';
    ELSE
        RAISE EXCEPTION 'tag condition needs the key "event" or "kind"' USING ERRCODE = '22023',
              HINT = 'Use "event": "view" | "cart_add" | "dwell", or "kind": "cart_abandoned" | "promo_share".';
    END IF;
    allowed := CASE kind
        WHEN 'events' THEN ARRAY['kind', 'event', 'window', 'min_count', 'min_duration_s',
                                 'min_total_duration_s', 'zone_category', 'zone_name', 'category',
                                 'product_id', 'channel', 'store_id', 'same_product',
                                 'without_purchase']
        WHEN 'cart_abandoned' THEN ARRAY['kind', 'window', 'after', 'category', 'min_count']
        WHEN 'promo_share' THEN ARRAY['kind', 'window', 'min_share', 'min_orders']
        END;
    IF allowed IS NULL THEN
        RAISE EXCEPTION 'tag condition key "kind" has an unknown value' USING ERRCODE = '22023',
              DETAIL = format('"kind" is %s.', condition->'kind'),
              HINT = 'Use "events", "cart_abandoned" or "promo_share".';
    END IF;
    FOR k IN SELECT jsonb_object_keys(condition) ORDER BY 1 LOOP
        IF NOT k = ANY (allowed) THEN
            RAISE EXCEPTION 'tag condition key "%" is unknown', k USING ERRCODE = '22023',
                  DETAIL = format('Conditions of kind %s take the keys %s.', kind, array_to_string(allowed, ', ')),
                  HINT = 'Remove the key or correct its spelling.';
        END IF;
    END LOOP;
    out := jsonb_build_object('kind', kind);

    -- window: an interval string, positive, at most ten years
    IF NOT condition ? 'window' THEN
        RAISE EXCEPTION 'tag condition key "window" is required' USING ERRCODE = '22023',
              HINT = 'Add e.g. "window": "7 days".';
    END IF;
    IF jsonb_typeof(condition->'window') <> 'string' THEN
        RAISE EXCEPTION 'tag condition key "window" must be an interval string' USING ERRCODE = '22023',
              DETAIL = format('"window" is %s.', condition->'window'), HINT = 'Write e.g. "window": "24 hours".';
    END IF;
    BEGIN
        w := (condition->>'window')::interval;
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'tag condition key "window" is not an interval' USING ERRCODE = '22023',
              DETAIL = format('"window" is %s.', condition->'window'), HINT = 'Write e.g. "window": "24 hours".';
    END;
    IF w <= interval '0' OR w > interval '3660 days' THEN
        RAISE EXCEPTION 'tag condition key "window" must be positive and at most 3660 days'
              USING ERRCODE = '22023', DETAIL = format('"window" is %s.', condition->'window'),
                    HINT = 'Write e.g. "window": "7 days".';
    END IF;
    out := out || jsonb_build_object('window', w::text);

    -- every other key: its type and range
    FOR k, v IN SELECT * FROM jsonb_each(condition) WHERE key NOT IN ('kind', 'window') LOOP
        IF k IN ('event', 'zone_category', 'zone_name', 'category', 'channel') THEN
            IF jsonb_typeof(v) <> 'string' OR v #>> '{}' = '' THEN
                RAISE EXCEPTION 'tag condition key "%" must be a non-empty string', k
                      USING ERRCODE = '22023', DETAIL = format('"%s" is %s.', k, v),
                            HINT = 'Quote the value, e.g. "fresh produce".';
            END IF;
        ELSIF k IN ('same_product', 'without_purchase') THEN
            IF jsonb_typeof(v) <> 'boolean' THEN
                RAISE EXCEPTION 'tag condition key "%" must be true or false', k
                      USING ERRCODE = '22023', DETAIL = format('"%s" is %s.', k, v),
                            HINT = 'Write true or false without quotes.';
            END IF;
        ELSIF k IN ('min_count', 'min_orders', 'product_id', 'store_id') THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
               OR (v #>> '{}')::numeric < (k IN ('min_count', 'min_orders'))::int
               OR (v #>> '{}')::numeric > 2147483647 THEN
                RAISE EXCEPTION 'tag condition key "%" must be a % integer', k,
                      CASE WHEN k IN ('min_count', 'min_orders') THEN 'positive' ELSE 'non-negative' END
                      USING ERRCODE = '22023', DETAIL = format('"%s" is %s.', k, v),
                            HINT = 'Write a whole number without quotes.';
            END IF;
        ELSIF k IN ('min_duration_s', 'min_total_duration_s') THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric < 0 THEN
                RAISE EXCEPTION 'tag condition key "%" must be a non-negative number of seconds', k
                      USING ERRCODE = '22023', DETAIL = format('"%s" is %s.', k, v),
                            HINT = 'Write e.g. 300 for five minutes.';
            END IF;
        ELSIF k = 'min_share' THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric <= 0 OR (v #>> '{}')::numeric > 1 THEN
                RAISE EXCEPTION 'tag condition key "min_share" must be a number in (0, 1]'
                      USING ERRCODE = '22023', DETAIL = format('"min_share" is %s.', v),
                            HINT = 'Write e.g. 0.6 for 60%.';
            END IF;
        ELSIF k = 'after' THEN
            IF jsonb_typeof(v) <> 'string' THEN
                RAISE EXCEPTION 'tag condition key "after" must be an interval string'
                      USING ERRCODE = '22023', DETAIL = format('"after" is %s.', v),
                            HINT = 'Write e.g. "after": "30 minutes".';
            END IF;
            BEGIN
                w := (v #>> '{}')::interval;
            EXCEPTION WHEN data_exception THEN
                RAISE EXCEPTION 'tag condition key "after" is not an interval' USING ERRCODE = '22023',
                      DETAIL = format('"after" is %s.', v), HINT = 'Write e.g. "after": "30 minutes".';
            END;
            IF w < interval '0' OR w >= (out->>'window')::interval THEN
                RAISE EXCEPTION 'tag condition key "after" must be at least 0 and shorter than "window"'
                      USING ERRCODE = '22023', DETAIL = format('"after" is %s.', v),
                            HINT = 'Write e.g. "after": "30 minutes".';
            END IF;
            v := to_jsonb(w::text);
        END IF;
        out := out || jsonb_build_object(k, v);
    END LOOP;

    -- what each kind needs, and keys that only make sense together
    IF kind = 'events' THEN
        IF NOT condition ? 'event' THEN
            RAISE EXCEPTION 'tag condition key "event" is required' USING ERRCODE = '22023',
                  HINT = 'Use "event": "view", "cart_add" or "dwell".';
        END IF;
        ev := condition->>'event';
        IF ev NOT IN ('view', 'cart_add', 'dwell') THEN
            RAISE EXCEPTION 'tag condition key "event" must be view, cart_add or dwell' USING ERRCODE = '22023',
                  DETAIL = format('"event" is %s.', condition->'event'), HINT = 'Use one of the three event types of the event contract.';
        END IF;
        FOREACH k IN ARRAY ARRAY['zone_category', 'zone_name', 'min_duration_s', 'min_total_duration_s'] LOOP
            IF condition ? k AND ev <> 'dwell' THEN
                RAISE EXCEPTION 'tag condition key "%" applies to dwell events only', k USING ERRCODE = '22023',
                      DETAIL = format('"event" is %s.', condition->'event'), HINT = 'Remove the key or use "event": "dwell".';
            END IF;
        END LOOP;
        FOREACH k IN ARRAY ARRAY['category', 'product_id', 'same_product', 'without_purchase'] LOOP
            IF condition ? k AND ev = 'dwell' THEN
                RAISE EXCEPTION 'tag condition key "%" applies to view and cart_add events only', k
                      USING ERRCODE = '22023', HINT = 'Use "zone_category" for dwell events.';
            END IF;
        END LOOP;
        out := out || jsonb_build_object('min_count', coalesce(condition->'min_count', '1'));
        IF ev <> 'dwell' THEN
            out := out || jsonb_build_object('same_product', coalesce(condition->'same_product', 'false'),
                                             'without_purchase', coalesce(condition->'without_purchase', 'false'));
        END IF;
    ELSIF kind = 'cart_abandoned' THEN
        out := out || jsonb_build_object('after', coalesce(out->'after', '"00:30:00"'),
                                         'min_count', coalesce(condition->'min_count', '1'));
    ELSIF kind = 'promo_share' THEN
        IF NOT condition ? 'min_share' THEN
            RAISE EXCEPTION 'tag condition key "min_share" is required' USING ERRCODE = '22023',
                  HINT = 'Add e.g. "min_share": 0.6.';
        END IF;
        out := out || jsonb_build_object('min_orders', coalesce(condition->'min_orders', '1'));
    END IF;
    RETURN out;
END
$$;

CREATE TABLE retailiq.tag_rule (
    tag          text PRIMARY KEY CHECK (tag ~ '^[a-z][a-z0-9_]{0,62}$'),
    description  text NOT NULL DEFAULT '',
    condition    jsonb NOT NULL,
    enabled      bool NOT NULL DEFAULT true,
    pending      bool NOT NULL DEFAULT true,
    is_default   bool NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE retailiq.tag_rule IS
    'customer tag rules: a validated jsonb condition over per-customer events in a window (doc/behaviour.md)';
COMMENT ON COLUMN retailiq.tag_rule.pending IS
    'true until the next refresh_tags has evaluated the rule over every customer (set when the condition changes)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.tag_rule', 'WHERE NOT is_default');

CREATE FUNCTION retailiq_internal.tag_rule_validate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.condition := retailiq.tag_condition_check(NEW.condition);
    IF TG_OP = 'INSERT' THEN
        NEW.pending := true;
    ELSIF NEW.condition IS DISTINCT FROM OLD.condition OR NEW.enabled AND NOT OLD.enabled THEN
        NEW.pending := true;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tag_rule_validate BEFORE INSERT OR UPDATE ON retailiq.tag_rule
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.tag_rule_validate();

CREATE TABLE retailiq.customer_tag (
    customer_id        bigint NOT NULL,
    tag                text NOT NULL REFERENCES retailiq.tag_rule ON DELETE CASCADE ON UPDATE CASCADE,
    first_tagged_at    timestamptz NOT NULL,
    last_evaluated_at  timestamptz NOT NULL,
    evidence_from      timestamptz,
    expires_at         timestamptz,
    PRIMARY KEY (customer_id, tag)
);
CREATE INDEX customer_tag_tag ON retailiq.customer_tag (tag);
CREATE INDEX customer_tag_expires ON retailiq.customer_tag (tag, expires_at);
COMMENT ON TABLE retailiq.customer_tag IS
    'the tags that hold: one row per customer and tag, kept current by retailiq.refresh_tags';
COMMENT ON COLUMN retailiq.customer_tag.first_tagged_at IS
    'when the refresh that added the tag ran (clock time); kept while the tag holds';
COMMENT ON COLUMN retailiq.customer_tag.evidence_from IS
    'the oldest event the condition counted at the last evaluation';
COMMENT ON COLUMN retailiq.customer_tag.expires_at IS
    'evidence_from + window: when the evidence starts to age out; the tag is re-evaluated then even without new events';

CREATE TABLE retailiq.tag_refresh_state (
    id                   int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_since           timestamptz,
    last_as_of           timestamptz,
    slack                interval NOT NULL DEFAULT '10 seconds' CHECK (slack >= interval '0'),
    last_run_at          timestamptz,
    last_duration        interval,
    customers_evaluated  bigint,
    tags_added           bigint,
    tags_removed         bigint
);
COMMENT ON TABLE retailiq.tag_refresh_state IS
    'the watermark of retailiq.refresh_customer_tags and figures of the last refresh';
COMMENT ON COLUMN retailiq.tag_refresh_state.slack IS
    'how far before the previous as_of the next refresh_customer_tags looks: covers events committed late with an earlier occurred_at';
INSERT INTO retailiq.tag_refresh_state (id) VALUES (1);

-- Any change of the registered tables (register_event_source, register_source,
-- unregister_source; sales sources aside) invalidates every tag: recompute all rules at the next refresh.
CREATE FUNCTION retailiq_internal.source_changed_tags() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE retailiq.tag_rule SET pending = true WHERE NOT pending;
    UPDATE retailiq.tag_refresh_state SET last_as_of = NULL WHERE last_as_of IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER source_changed_tags AFTER INSERT OR UPDATE ON retailiq.source
    FOR EACH ROW WHEN (NEW.role <> 'sales') EXECUTE FUNCTION retailiq_internal.source_changed_tags();
CREATE TRIGGER source_removed_tags AFTER DELETE ON retailiq.source
    FOR EACH ROW WHEN (OLD.role <> 'sales') EXECUTE FUNCTION retailiq_internal.source_changed_tags();

-- The joins and per-event filters of an events or cart_abandoned condition (normalised):
-- fixed fragments that read every value from the condition passed as $3.
CREATE FUNCTION retailiq_internal.tag_event_filter(c jsonb, OUT joins text, OUT conds text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    joins := '';
    IF c->>'kind' = 'cart_abandoned' THEN
        conds := ' AND e.event_type = ''cart_add''';
    ELSE
        conds := ' AND e.event_type = ($3->>''event'')';
    END IF;
    IF c ? 'zone_category' OR c ? 'zone_name' THEN
        joins := joins || format(' JOIN %s z ON z.store_id = e.store_id AND z.zone_id = e.zone_id',
                                 retailiq_internal.source_sql('store_zones'));
        IF c ? 'zone_category' THEN conds := conds || ' AND z.category = ($3->>''zone_category'')'; END IF;
        IF c ? 'zone_name' THEN conds := conds || ' AND z.zone_name = ($3->>''zone_name'')'; END IF;
    END IF;
    IF c ? 'category' THEN
        joins := joins || format(' JOIN %s p ON p.product_id = e.product_id', retailiq_internal.source_sql('products'));
        conds := conds || ' AND p.category = ($3->>''category'')';
    END IF;
    IF c ? 'product_id' THEN conds := conds || ' AND e.product_id = ($3->>''product_id'')::bigint'; END IF;
    IF c ? 'store_id' THEN conds := conds || ' AND e.store_id = ($3->>''store_id'')::bigint'; END IF;
    IF c ? 'channel' THEN conds := conds || ' AND e.channel = ($3->>''channel'')'; END IF;
    IF c ? 'min_duration_s' THEN
        conds := conds || ' AND e.duration_s >= ($3->>''min_duration_s'')::numeric';
    END IF;
END
$$;

-- The query that finds, for the candidate customers, those for which a rule holds.
-- Parameters: $1 bigint[] candidate customers (NULL = all), $2 as_of, $3 the normalised
-- condition. The text is built from fixed fragments and quoted relation names only.
CREATE FUNCTION retailiq.tag_rule_sql(condition jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c jsonb := retailiq.tag_condition_check(condition);
    ev text := retailiq_internal.source_sql('events');
    ord text := retailiq_internal.source_sql('orders');
    lin text := retailiq_internal.source_sql('order_lines');
    f record;
    q text;
    conds text;
    grp text := 'e.customer_id';
    hav text := 'count(*) >= ($3->>''min_count'')::bigint';
    per_product bool;
BEGIN
    IF c->>'kind' = 'promo_share' THEN
        RETURN format($q$
SELECT o.customer_id::bigint AS customer_id, min(o.ordered_at) AS evidence_from
  FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
 WHERE ($1 IS NULL OR o.customer_id = ANY ($1))
   AND o.ordered_at > $2 - ($3->>'window')::interval AND o.ordered_at <= $2
 GROUP BY o.customer_id
HAVING count(DISTINCT o.order_id) >= ($3->>'min_orders')::bigint
   AND sum(l.quantity * l.unit_price - l.discount) > 0
   AND sum(l.quantity * l.unit_price - l.discount) FILTER (WHERE l.promo_id IS NOT NULL)
       >= ($3->>'min_share')::numeric * sum(l.quantity * l.unit_price - l.discount)$q$, ord, lin);
    END IF;

    f := retailiq_internal.tag_event_filter(c);
    conds := f.conds;
    -- a cart add old enough (after) with no later purchase of that product by the customer
    per_product := c->>'kind' = 'cart_abandoned' OR coalesce((c->>'same_product')::bool, false);
    IF c->>'kind' = 'cart_abandoned' THEN
        conds := conds || ' AND e.occurred_at <= $2 - ($3->>''after'')::interval';
    END IF;
    IF c ? 'min_total_duration_s' THEN
        hav := hav || ' AND sum(e.duration_s) >= ($3->>''min_total_duration_s'')::numeric';
    END IF;
    IF c->>'kind' = 'cart_abandoned' OR coalesce((c->>'without_purchase')::bool, false) THEN
        -- "without buying afterwards": no order (of that product, per product) at or after
        -- the event, so a purchase ageing out of the window cannot revive a tag
        IF per_product THEN
            conds := conds || format(' AND NOT EXISTS (SELECT 1 FROM %s o JOIN %s l ON l.order_id = o.order_id'
                ' WHERE o.customer_id = e.customer_id AND l.product_id = e.product_id'
                ' AND o.ordered_at >= e.occurred_at AND o.ordered_at <= $2)', ord, lin);
        ELSE
            conds := conds || format(' AND NOT EXISTS (SELECT 1 FROM %s o'
                ' WHERE o.customer_id = e.customer_id'
                ' AND o.ordered_at >= e.occurred_at AND o.ordered_at <= $2)', ord);
        END IF;
    END IF;
    IF per_product THEN
        grp := grp || ', e.product_id';
    END IF;
    q := format('SELECT e.customer_id::bigint AS customer_id, min(e.occurred_at) AS evidence_from'
                ' FROM %s e%s'
                ' WHERE ($1 IS NULL OR e.customer_id = ANY ($1))'
                ' AND e.occurred_at > $2 - ($3->>''window'')::interval AND e.occurred_at <= $2%s'
                ' GROUP BY %s HAVING %s', ev, f.joins, conds, grp, hav);
    IF per_product THEN
        q := 'SELECT customer_id, min(evidence_from) AS evidence_from FROM (' || q
             || ') per_product GROUP BY customer_id';
    END IF;
    RETURN q;
END
$$;

-- The customers for whom a rule's answer may have changed between $1 (since) and $2 (as_of):
-- new events that pass the rule's event filters; customers with new orders ($5) when
-- purchases matter to the rule; cart adds crossing the rule's `after` age and orders leaving
-- a promo_share window (the two ways a rule can start to hold without a new row); and
-- customers whose tag's evidence is ageing out ($4 = the tag). Same parameters as
-- tag_rule_sql otherwise: fixed fragments only.
CREATE FUNCTION retailiq_internal.tag_candidates_sql(condition jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c jsonb := retailiq.tag_condition_check(condition);
    ev text := retailiq_internal.source_sql('events');
    ord text := retailiq_internal.source_sql('orders');
    f record;
    q text;
BEGIN
    IF c->>'kind' = 'promo_share' THEN
        q := format('SELECT customer_id::bigint AS c FROM %s o'
                    ' WHERE ordered_at > $1 - ($3->>''window'')::interval'
                    ' AND ordered_at <= $2 - ($3->>''window'')::interval'
                    ' UNION ALL SELECT unnest($5)', ord);
    ELSE
        f := retailiq_internal.tag_event_filter(c);
        IF c->>'kind' = 'cart_abandoned' THEN
            q := format('SELECT e.customer_id::bigint AS c FROM %s e%s'
                        ' WHERE e.occurred_at > $1 - ($3->>''after'')::interval'
                        ' AND e.occurred_at <= $2 - ($3->>''after'')::interval%s'
                        ' UNION ALL SELECT unnest($5)', ev, f.joins, f.conds);
        ELSE
            q := format('SELECT e.customer_id::bigint AS c FROM %s e%s'
                        ' WHERE e.occurred_at >= $1 AND e.occurred_at <= $2%s', ev, f.joins, f.conds);
            IF coalesce((c->>'without_purchase')::bool, false) THEN
                q := q || ' UNION ALL SELECT unnest($5)';
            END IF;
        END IF;
    END IF;
    RETURN q || ' UNION ALL SELECT customer_id FROM retailiq.customer_tag WHERE tag = $4 AND expires_at <= $2';
END
$$;

-- Re-evaluates every enabled rule for the customers whose answer may have changed since
-- `since` (see _tag_candidates_sql), as of `as_of`. Rules changed since the last refresh are
-- evaluated for every customer. Returns what it did.
CREATE FUNCTION retailiq.refresh_tags(since timestamptz, as_of timestamptz DEFAULT now(),
                                      OUT customers_evaluated bigint, OUT tags_added bigint,
                                      OUT tags_removed bigint, OUT rules_evaluated int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ord text := retailiq_internal.source_sql('orders');
    new_orders bigint[];
    rule_cands bigint[];
    all_cands bigint[] := '{}';
    r record;
    added bigint;
    removed bigint;
    stamp timestamptz;
BEGIN
    IF since IS NULL OR as_of IS NULL THEN
        RAISE EXCEPTION 'since and as_of must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass since => ''-infinity'' for a full recompute.';
    END IF;
    IF as_of = 'infinity' OR as_of = '-infinity' OR since > as_of THEN
        RAISE EXCEPTION 'since must not be after as_of, and as_of must be finite' USING ERRCODE = '22023',
              DETAIL = format('since is %s, as_of is %s.', since, as_of),
              HINT = 'Pass the time of the previous refresh as since.';
    END IF;
    -- one refresh at a time: a second waits here, then sees the first one's rows
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_tags'));
    customers_evaluated := NULL; tags_added := 0; tags_removed := 0; rules_evaluated := 0;

    -- tags of rules that were disabled go
    DELETE FROM retailiq.customer_tag t USING retailiq.tag_rule d
     WHERE d.tag = t.tag AND NOT d.enabled;
    GET DIAGNOSTICS removed = ROW_COUNT;
    tags_removed := removed;

    IF since > '-infinity' THEN
        EXECUTE format('SELECT coalesce(array_agg(DISTINCT customer_id::bigint), ''{}'') FROM %s'
                       ' WHERE ordered_at >= $1 AND ordered_at <= $2', ord)
           INTO new_orders USING since, as_of;
    END IF;

    stamp := clock_timestamp();
    FOR r IN SELECT * FROM retailiq.tag_rule WHERE enabled ORDER BY tag LOOP
        IF r.pending OR since = '-infinity' THEN
            rule_cands := NULL;
        ELSE
            EXECUTE format('SELECT coalesce(array_agg(DISTINCT c), ''{}'') FROM (%s) s',
                           retailiq_internal.tag_candidates_sql(r.condition))
               INTO rule_cands USING since, as_of, r.condition, r.tag, new_orders;
            all_cands := all_cands || rule_cands;
            CONTINUE WHEN cardinality(rule_cands) = 0;
        END IF;
        EXECUTE format($q$
            WITH h AS (%s),
            up AS (
                INSERT INTO retailiq.customer_tag AS t
                       (customer_id, tag, first_tagged_at, last_evaluated_at, evidence_from, expires_at)
                SELECT h.customer_id, $4, $5, $5, h.evidence_from,
                       h.evidence_from + ($3->>'window')::interval
                  FROM h
                ON CONFLICT (customer_id, tag) DO UPDATE
                   SET last_evaluated_at = EXCLUDED.last_evaluated_at,
                       evidence_from = EXCLUDED.evidence_from, expires_at = EXCLUDED.expires_at
                RETURNING (xmax = 0) AS inserted),
            del AS (
                DELETE FROM retailiq.customer_tag t
                 WHERE t.tag = $4 AND ($1 IS NULL OR t.customer_id = ANY ($1))
                   AND NOT EXISTS (SELECT 1 FROM h WHERE h.customer_id = t.customer_id)
                RETURNING 1)
            SELECT (SELECT count(*) FILTER (WHERE inserted) FROM up), (SELECT count(*) FROM del)$q$,
            retailiq.tag_rule_sql(r.condition))
          INTO added, removed
          USING rule_cands, as_of, r.condition, r.tag, stamp;
        tags_added := tags_added + added;
        tags_removed := tags_removed + removed;
        rules_evaluated := rules_evaluated + 1;
        IF r.pending THEN
            UPDATE retailiq.tag_rule SET pending = false WHERE tag = r.tag;
        END IF;
    END LOOP;
    IF since > '-infinity' THEN
        SELECT count(DISTINCT x) INTO customers_evaluated FROM unnest(all_cands) x;
    END IF;
END
$$;

-- The scheduler's tag job: refresh_tags since the previous run's as_of (minus the slack),
-- as of now; the first run is a full recompute.
CREATE FUNCTION retailiq.refresh_customer_tags(OUT customers_evaluated bigint, OUT tags_added bigint,
                                               OUT tags_removed bigint, OUT rules_evaluated int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st retailiq.tag_refresh_state;
    t0 timestamptz := clock_timestamp();
    since timestamptz;
    as_of timestamptz := now();
BEGIN
    -- the built-in job runs every 30 s in every database with the extension: where nothing is
    -- registered it has nothing to do, and says so without failing
    IF NOT EXISTS (SELECT 1 FROM retailiq.source WHERE role = 'events') THEN
        RAISE NOTICE 'no event source is registered: no tags to refresh'
              USING HINT = 'Call retailiq.register_event_source(...) to start tagging.';
        tags_added := 0; tags_removed := 0; rules_evaluated := 0;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_tags'));
    SELECT * INTO st FROM retailiq.tag_refresh_state WHERE id = 1 FOR UPDATE;
    since := coalesce(st.last_as_of - st.slack, '-infinity');
    IF since > as_of THEN
        since := as_of;
    END IF;
    SELECT * INTO customers_evaluated, tags_added, tags_removed, rules_evaluated
      FROM retailiq.refresh_tags(since, as_of);
    UPDATE retailiq.tag_refresh_state
       SET last_since = since, last_as_of = as_of, last_run_at = t0,
           last_duration = clock_timestamp() - t0,
           customers_evaluated = refresh_customer_tags.customers_evaluated,
           tags_added = refresh_customer_tags.tags_added,
           tags_removed = refresh_customer_tags.tags_removed
     WHERE id = 1;
END
$$;

-- Default rules: the issue's four examples, on the sample data's names. Edit or disable them;
-- rows you add are kept by pg_dump.
INSERT INTO retailiq.tag_rule (tag, description, condition, is_default) VALUES
 ('fresh_dweller', 'dwelt in the fresh-produce zone for 5 minutes or more in the last 7 days',
  '{"event": "dwell", "zone_category": "fresh produce", "min_duration_s": 300, "window": "7 days"}', true),
 ('product_researcher', 'viewed the same product 3+ times in 24 hours without buying it',
  '{"event": "view", "same_product": true, "min_count": 3, "window": "24 hours", "without_purchase": true}', true),
 ('cart_abandoner', 'put a product in the cart in the last 24 hours and did not buy it within 30 minutes',
  '{"kind": "cart_abandoned", "window": "24 hours", "after": "30 minutes"}', true),
 ('price_sensitive', '25% or more of the spend of the last 90 days on promotion (3+ orders)',
  '{"kind": "promo_share", "min_share": 0.25, "min_orders": 3, "window": "90 days"}', true);
-- behaviour: conversion funnel, in-store zone traffic and dwell hot spots, basket metrics.
-- Set-returning functions over the registered event source; periods are half-open
-- [from_ts, to_ts) and days and hours are UTC (the sample data's store time).

CREATE FUNCTION retailiq_internal.check_period(from_ts timestamptz, to_ts timestamptz) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF from_ts IS NULL OR to_ts IS NULL THEN
        RAISE EXCEPTION 'from_ts and to_ts must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass the period as two timestamps, e.g. ''2025-01-01'', ''2025-02-01''.';
    END IF;
    IF from_ts >= to_ts OR from_ts = '-infinity' OR to_ts = 'infinity' THEN
        RAISE EXCEPTION 'the period must be finite and from_ts before to_ts' USING ERRCODE = '22023',
              DETAIL = format('from_ts is %s, to_ts is %s.', from_ts, to_ts),
              HINT = 'The period is [from_ts, to_ts): to_ts is excluded.';
    END IF;
END
$$;

-- One unit = a customer viewing a product on a day. It is "carted" when the customer also put
-- that product in the cart that day, "purchased" when the customer ordered it that day (any
-- channel). Grouped by day, channel of the view, product category and RFM segment (from
-- customer_profile_data; 'unscored' before refresh_customer_profile has run).
CREATE FUNCTION retailiq.conversion_funnel(from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (day date, channel text, category text, segment text,
               viewed bigint, carted bigint, purchased bigint,
               view_to_cart float8, cart_to_purchase float8, view_to_purchase float8)
LANGUAGE plpgsql STABLE ROWS 10000
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    RETURN QUERY EXECUTE format($q$
        WITH ev AS (
            SELECT e.customer_id::bigint AS customer_id, e.product_id::bigint AS product_id,
                   (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                   min(e.channel::text) FILTER (WHERE e.event_type = 'view') AS channel,
                   bool_or(e.event_type = 'view') AS viewed,
                   bool_or(e.event_type = 'cart_add') AS carted
              FROM %1$s e
             WHERE e.occurred_at >= $1 AND e.occurred_at < $2
               AND e.event_type IN ('view', 'cart_add') AND e.product_id IS NOT NULL
             GROUP BY 1, 2, 3),
        bought AS (
            SELECT DISTINCT o.customer_id::bigint AS customer_id, l.product_id::bigint AS product_id,
                   (o.ordered_at AT TIME ZONE 'UTC')::date AS day
              FROM %2$s o JOIN %3$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2),
        u AS (
            SELECT ev.day, ev.channel, p.category::text AS category,
                   coalesce(d.segment, 'unscored') AS segment,
                   ev.carted, b.customer_id IS NOT NULL AS purchased
              FROM ev
              LEFT JOIN bought b ON b.customer_id = ev.customer_id AND b.product_id = ev.product_id
                                AND b.day = ev.day
              LEFT JOIN %4$s p ON p.product_id = ev.product_id
              LEFT JOIN retailiq.customer_profile_data d ON d.customer_id = ev.customer_id
             WHERE ev.viewed)
        SELECT day, channel, category, segment, count(*), count(*) FILTER (WHERE carted),
               count(*) FILTER (WHERE purchased),
               count(*) FILTER (WHERE carted)::float8 / count(*),
               CASE WHEN count(*) FILTER (WHERE carted) > 0
                    THEN count(*) FILTER (WHERE carted AND purchased)::float8 / count(*) FILTER (WHERE carted) END,
               count(*) FILTER (WHERE purchased)::float8 / count(*)
          FROM u GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4$q$,
        retailiq_internal.source_sql('events'), retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'),
        retailiq_internal.source_sql('products'))
    USING from_ts, to_ts;
END
$$;

-- In-store traffic: dwell events by store, zone and hour of day (UTC). heat is the zone-hour's
-- total dwell time over the busiest zone-hour of its store (1 = the store's hottest spot).
CREATE FUNCTION retailiq.zone_traffic(from_ts timestamptz, to_ts timestamptz, store int DEFAULT NULL)
RETURNS TABLE (store_id bigint, zone_id bigint, zone_name text, hour int, visits bigint,
               visitors bigint, total_dwell_s bigint, avg_dwell_s float8, median_dwell_s float8,
               heat float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    RETURN QUERY EXECUTE format($q$
        WITH z AS (
            SELECT e.store_id::bigint AS store_id, e.zone_id::bigint AS zone_id,
                   extract(hour FROM e.occurred_at AT TIME ZONE 'UTC')::int AS hour,
                   count(*) AS visits, count(DISTINCT e.customer_id) AS visitors,
                   sum(e.duration_s)::bigint AS total_dwell_s, avg(e.duration_s)::float8 AS avg_dwell_s,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_s) AS median_dwell_s
              FROM %1$s e
             WHERE e.occurred_at >= $1 AND e.occurred_at < $2 AND e.event_type = 'dwell'
               AND e.zone_id IS NOT NULL AND ($3 IS NULL OR e.store_id = $3)
             GROUP BY 1, 2, 3)
        SELECT z.store_id, z.zone_id, sz.zone_name::text, z.hour, z.visits, z.visitors,
               z.total_dwell_s, z.avg_dwell_s, z.median_dwell_s,
               z.total_dwell_s::float8 / nullif(max(z.total_dwell_s) OVER (PARTITION BY z.store_id), 0)
          FROM z LEFT JOIN %2$s sz ON sz.store_id = z.store_id AND sz.zone_id = z.zone_id
         ORDER BY 1, 2, 4$q$, retailiq_internal.source_sql('events'), retailiq_internal.source_sql('store_zones'))
    USING from_ts, to_ts, store;
END
$$;

-- The top zone-hours of each store by total dwell time.
CREATE FUNCTION retailiq.dwell_hot_spots(from_ts timestamptz, to_ts timestamptz, top int DEFAULT 5,
                                         store int DEFAULT NULL)
RETURNS TABLE (store_id bigint, rank int, zone_id bigint, zone_name text, hour int, visits bigint,
               total_dwell_s bigint, avg_dwell_s float8, heat float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1' USING ERRCODE = '22023',
              DETAIL = format('top is %s.', coalesce(top::text, 'NULL')), HINT = 'Pass e.g. 5.';
    END IF;
    RETURN QUERY
    SELECT s.store_id, s.rk::int, s.zone_id, s.zone_name, s.hour, s.visits, s.total_dwell_s,
           s.avg_dwell_s, s.heat
      FROM (SELECT t.*, row_number() OVER (PARTITION BY t.store_id
                                           ORDER BY t.total_dwell_s DESC, t.zone_id, t.hour) AS rk
              FROM retailiq.zone_traffic(from_ts, to_ts, store) t) s
     WHERE s.rk <= top
     ORDER BY s.store_id, s.rk;
END
$$;

-- Basket size and value over the orders of a period.
CREATE FUNCTION retailiq.basket_summary(from_ts timestamptz, to_ts timestamptz, store int DEFAULT NULL)
RETURNS TABLE (orders bigint, customers bigint, avg_lines float8, avg_units float8,
               avg_value numeric, promo_line_share float8, online_share float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    RETURN QUERY EXECUTE format($q$
        WITH b AS (
            SELECT o.order_id, o.customer_id, o.channel::text AS channel, o.total_amount,
                   count(l.order_id) AS lines, coalesce(sum(l.quantity), 0) AS units,
                   count(l.promo_id) AS promo_lines
              FROM %1$s o LEFT JOIN %2$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2 AND ($3 IS NULL OR o.store_id = $3)
             GROUP BY o.order_id, o.customer_id, o.channel, o.total_amount)
        SELECT count(*), count(DISTINCT customer_id), avg(lines)::float8, avg(units)::float8,
               round(avg(total_amount)::numeric, 2),
               sum(promo_lines)::float8 / nullif(sum(lines), 0),
               avg((channel = 'online')::int)::float8
          FROM b$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_ts, to_ts, store;
END
$$;

-- Attach rates of the strongest product associations of the period (FP-growth through
-- retailiq.assoc_rules_lines): of the baskets holding the antecedent, the share that also
-- hold the consequent (the rule's confidence), with the rule's support and lift.
CREATE FUNCTION retailiq.basket_attach_rates(from_ts timestamptz, to_ts timestamptz,
                                             store int DEFAULT NULL, top int DEFAULT 10,
                                             min_support float8 DEFAULT 0.002,
                                             min_confidence float8 DEFAULT 0.1)
RETURNS TABLE (antecedent bigint[], consequent bigint[], baskets bigint, support float8,
               attach_rate float8, lift float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.check_period(from_ts, to_ts);
    IF top IS NULL OR top < 1 THEN
        RAISE EXCEPTION 'top must be at least 1' USING ERRCODE = '22023',
              DETAIL = format('top is %s.', coalesce(top::text, 'NULL')), HINT = 'Pass e.g. 10.';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH r AS (
            SELECT unnest(retailiq.assoc_rules_lines(l.order_id::bigint, l.product_id::bigint, $4, $5, 2)) AS r
              FROM %1$s o JOIN %2$s l ON l.order_id = o.order_id
             WHERE o.ordered_at >= $1 AND o.ordered_at < $2 AND ($3 IS NULL OR o.store_id = $3))
        SELECT (r).antecedent, (r).consequent, (r).count, (r).support, (r).confidence, (r).lift
          FROM r ORDER BY (r).lift DESC, (r).support DESC, (r).antecedent, (r).consequent
         LIMIT $6$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
    USING from_ts, to_ts, store, min_support, min_confidence, top;
END
$$;
-- behaviour: the customer profile, one row per customer, the single place a BI tool reads a
-- customer from. The scores come from the other parts (segment: rfm_segments, kmeans_assign;
-- churn: churn_features + a logit model, or BG/NBD; Gamma-Gamma CLV), computed by
-- retailiq.refresh_customer_profile into a table because they are whole-population
-- computations (RFM quintiles) too slow for a view; tags are joined live.

CREATE TABLE retailiq.customer_profile_data (
    customer_id        bigint PRIMARY KEY,
    as_of              timestamptz NOT NULL,
    orders_source      text,        -- the registered orders relation the scores come from
    recency_days       int,
    frequency          bigint,
    monetary           numeric,
    r                  int,
    f                  int,
    m                  int,
    rfm_code           text,
    segment            text,
    cluster            int,
    churn_probability  float8,
    churn_tier         text,
    churn_model        text,
    expected_purchases_90d float8,
    clv                float8
);
COMMENT ON TABLE retailiq.customer_profile_data IS
    'scores behind retailiq.customer_profile, rebuilt by retailiq.refresh_customer_profile';
COMMENT ON COLUMN retailiq.customer_profile_data.orders_source IS
    'the orders relation registered when the profile was computed (reports use the profile only for that source)';

-- The model saved under `name`, or NULL when there is none (load_model raises instead).
CREATE FUNCTION retailiq_internal.model_or_null(name text, kind text) RETURNS retailiq.model
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.model FROM retailiq.models s
     WHERE s.name = $1 AND retailiq.model_kind(s.model) = $2
     ORDER BY s.version DESC LIMIT 1
$$;

CREATE FUNCTION retailiq.refresh_customer_profile(
    as_of timestamptz DEFAULT now(),
    kmeans_model text DEFAULT 'customer_kmeans',
    churn_model text DEFAULT 'churn',
    bgnbd_model text DEFAULT 'bgnbd',
    gammagamma_model text DEFAULT 'gammagamma')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ord text := retailiq_internal.source_sql('orders');
    km retailiq.model;
    lg retailiq.model;
    bg retailiq.model;
    gg retailiq.model;
    n bigint;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = '22004', HINT = 'Omit it for now().';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_customer_profile'));
    km := retailiq_internal.model_or_null(kmeans_model, 'kmeans');
    lg := retailiq_internal.model_or_null(churn_model, 'logit');
    bg := retailiq_internal.model_or_null(bgnbd_model, 'bgnbd');
    gg := retailiq_internal.model_or_null(gammagamma_model, 'gammagamma');

    DELETE FROM retailiq.customer_profile_data;
    INSERT INTO retailiq.customer_profile_data
        (customer_id, as_of, orders_source, recency_days, frequency, monetary, r, f, m, rfm_code, segment, cluster)
    SELECT s.customer_id, as_of, retailiq_internal.source_relation('orders')::text, s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m,
           s.rfm_code, s.segment,
           CASE WHEN km IS NOT NULL
                THEN retailiq.kmeans_assign(km, ARRAY[s.recency_days, s.frequency, s.monetary]::float8[]) END
      FROM retailiq.rfm_segments(retailiq_internal.source_relation('orders'), as_of, 5,
                                 retailiq_internal.source_column('orders', 'customer_id'),
                                 retailiq_internal.source_column('orders', 'ordered_at'),
                                 retailiq_internal.source_column('orders', 'total_amount')) s;
    GET DIAGNOSTICS n = ROW_COUNT;

    -- BG/NBD (weeks): probability of having churned, expected purchases, and CLV with Gamma-Gamma
    IF bg IS NOT NULL THEN
        EXECUTE format($q$
            WITH ps AS (
                SELECT customer_id::bigint AS customer_id,
                       retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                                 ($1 AT TIME ZONE 'UTC')::date, '7 days') AS p
                  FROM %s o WHERE ordered_at <= $1 GROUP BY customer_id)
            UPDATE retailiq.customer_profile_data d
               SET churn_probability = retailiq.churn_probability($2, (ps.p).frequency, (ps.p).recency, (ps.p).t),
                   churn_model = 'bgnbd',
                   expected_purchases_90d = retailiq.expected_purchases($2, (ps.p).frequency, (ps.p).recency,
                                                                        (ps.p).t, 90 / 7.0),
                   clv = CASE WHEN $3 IS NOT NULL AND (ps.p).frequency > 0
                              THEN retailiq.clv($2, $3, (ps.p).frequency, (ps.p).recency, (ps.p).t,
                                                (ps.p).monetary, 12, 0.01, 4.345) END
              FROM ps WHERE ps.customer_id = d.customer_id AND ps.p IS NOT NULL$q$, ord)
        USING as_of, bg, gg;
    END IF;
    -- the supervised model, where saved, takes precedence for the churn probability
    IF lg IS NOT NULL THEN
        UPDATE retailiq.customer_profile_data d
           SET churn_probability = retailiq.churn_probability(lg, cf.features), churn_model = 'logit'
          FROM retailiq.churn_features(refresh_customer_profile.as_of) cf  -- as_of is also a column of d
         WHERE cf.customer_id = d.customer_id;
    END IF;
    UPDATE retailiq.customer_profile_data
       SET churn_tier = retailiq.churn_risk(churn_probability)
     WHERE churn_probability IS NOT NULL;
    RETURN n;
END
$$;

CREATE VIEW retailiq.customer_profile AS
SELECT coalesce(d.customer_id, t.customer_id) AS customer_id,
       d.as_of, d.recency_days, d.frequency, d.monetary, d.r, d.f, d.m, d.rfm_code, d.segment,
       d.cluster, d.churn_probability, d.churn_tier, d.churn_model, d.expected_purchases_90d, d.clv,
       coalesce(t.tags, '{}') AS tags
  FROM retailiq.customer_profile_data d
  FULL JOIN (SELECT customer_id, array_agg(tag ORDER BY tag) AS tags
               FROM retailiq.customer_tag GROUP BY customer_id) t
    ON t.customer_id = d.customer_id;
COMMENT ON VIEW retailiq.customer_profile IS
    'one row per customer: RFM, segment, cluster, churn, CLV (as of the last refresh_customer_profile) and current tags';
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
    RETURN QUERY EXECUTE format($q$
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
               coalesce(s.units, 0), coalesce(s.sales, 0),
               round(s.sales / nullif(s.orders, 0), 2),
               fa.forecast_units, fa.actual_units,
               fa.actual_units / nullif(fa.forecast_units, 0),
               (fa.forecast_units - fa.actual_units) / nullif(fa.actual_units, 0)
          FROM keys k
          LEFT JOIN s ON s.period_start = k.period_start AND coalesce(s.store_id, -1) = coalesce(k.store_id, -1)
          LEFT JOIN fa ON fa.period_start = k.period_start AND coalesce(fa.store_id, -1) = coalesce(k.store_id, -1)
         ORDER BY 1, 2$q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'))
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
-- reports: one self-contained HTML page (inline CSS and SVG, no scripts, no external files)
-- with sales against forecast, the online funnel, RFM segment sizes, hot zones and tags, for
-- teams without a BI tool: SELECT retailiq.report_html(...) and save the text as a .html file.

CREATE FUNCTION retailiq_internal.html(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(replace($1, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;')
$$;

-- A number for people: 12,345 / 1.2 / 0.5.
CREATE FUNCTION retailiq_internal.fmt(v numeric, digits int DEFAULT 0) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN $1 IS NULL THEN '–'
                WHEN $2 = 0 THEN to_char(round($1), 'FM999,999,999,990')
                ELSE to_char(round($1, $2), 'FM999,999,999,990.' || repeat('0', $2)) END
$$;

-- A line chart of one or two series over days (second may be all NULL), w x h pixels.
CREATE FUNCTION retailiq_internal.svg_lines(days date[], a float8[], b float8[], a_name text, b_name text,
                                    w int DEFAULT 1100, h int DEFAULT 300)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := coalesce(array_length(days, 1), 0);
    left_m int := 60;
    right_m int := 20;
    top_m int := 30;
    bottom_m int := 40;
    pw float8 := w - left_m - right_m;
    ph float8 := h - top_m - bottom_m;
    ymax float8;
    step float8;
    svg text;
    pts text;
    i int;
    tick float8;
    has_b bool;
    label_every int;
BEGIN
    IF n = 0 THEN
        RETURN format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="60" role="img">'
                      '<text x="10" y="35" class="empty">No days in this period</text></svg>', w);
    END IF;
    SELECT max(v) INTO ymax FROM unnest(a || b) v;
    has_b := EXISTS (SELECT 1 FROM unnest(b) v WHERE v IS NOT NULL);
    IF ymax IS NULL OR ymax <= 0 THEN ymax := 1; END IF;
    -- a round axis maximum: 1, 2 or 5 times a power of ten
    step := power(10, floor(log(ymax / 4)));
    step := CASE WHEN ymax / 4 <= step THEN step WHEN ymax / 4 <= 2 * step THEN 2 * step
                 WHEN ymax / 4 <= 5 * step THEN 5 * step ELSE 10 * step END;
    ymax := step * ceil(ymax / step);
    svg := format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                  w, h, w, h);
    -- grid and y labels
    tick := 0;
    WHILE tick <= ymax + step / 2 LOOP
        svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>'
                             '<text x="%s" y="%s" class="ylab">%s</text>',
                             left_m, round((top_m + ph - tick / ymax * ph)::numeric, 1), w - right_m,
                             round((top_m + ph - tick / ymax * ph)::numeric, 1),
                             left_m - 6, round((top_m + ph - tick / ymax * ph + 4)::numeric, 1),
                             retailiq_internal.fmt(tick::numeric, CASE WHEN step < 1 THEN 2 ELSE 0 END));
        tick := tick + step;
    END LOOP;
    -- x labels: about ten
    label_every := greatest(1, ceil(n / 10.0)::int);
    FOR i IN 1 .. n LOOP
        IF (i - 1) % label_every = 0 THEN
            svg := svg || format('<text x="%s" y="%s" class="xlab">%s</text>',
                                 round((left_m + CASE WHEN n = 1 THEN pw / 2 ELSE (i - 1) * pw / (n - 1) END)::numeric, 1),
                                 h - bottom_m + 18, to_char(days[i], 'Mon DD'));
        END IF;
    END LOOP;
    -- the series
    SELECT string_agg(format('%s,%s',
                             round((left_m + CASE WHEN n = 1 THEN pw / 2 ELSE (k - 1) * pw / (n - 1) END)::numeric, 1),
                             round((top_m + ph - coalesce(a[k], 0) / ymax * ph)::numeric, 1)), ' ' ORDER BY k)
      INTO pts FROM generate_series(1, n) k;
    svg := svg || format('<polyline points="%s" class="s1"/>', pts);
    IF has_b THEN
        SELECT string_agg(format('%s,%s',
                                 round((left_m + CASE WHEN n = 1 THEN pw / 2 ELSE (k - 1) * pw / (n - 1) END)::numeric, 1),
                                 round((top_m + ph - b[k] / ymax * ph)::numeric, 1)), ' ' ORDER BY k)
          INTO pts FROM generate_series(1, n) k WHERE b[k] IS NOT NULL;
        svg := svg || format('<polyline points="%s" class="s2"/>', pts);
    END IF;
    -- legend
    svg := svg || format('<rect x="%s" y="8" width="14" height="4" class="k1"/><text x="%s" y="14" class="leg">%s</text>',
                         left_m, left_m + 20, retailiq_internal.html(a_name));
    IF has_b THEN
        svg := svg || format('<rect x="%s" y="8" width="14" height="4" class="k2"/><text x="%s" y="14" class="leg">%s</text>',
                             left_m + 200, left_m + 220, retailiq_internal.html(b_name));
    END IF;
    RETURN svg || '</svg>';
END
$$;

-- Horizontal bars: one per label, the value and an optional note written after the bar.
CREATE FUNCTION retailiq_internal.svg_bars(labels text[], vals float8[], notes text[], w int DEFAULT 1100,
                                   bar_class text DEFAULT 'bar')
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := coalesce(array_length(labels, 1), 0);
    label_w int := 170;
    note_w int := 220;
    row_h int := 30;
    vmax float8;
    svg text;
    bw float8;
BEGIN
    IF n = 0 THEN
        RETURN format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="40" role="img">'
                      '<text x="10" y="25" class="empty">No data</text></svg>', w);
    END IF;
    SELECT max(v) INTO vmax FROM unnest(vals) v;
    IF vmax IS NULL OR vmax <= 0 THEN vmax := 1; END IF;
    svg := format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                  w, n * row_h + 10, w, n * row_h + 10);
    FOR i IN 1 .. n LOOP
        bw := greatest(coalesce(vals[i], 0) / vmax * (w - label_w - note_w - 20), 0);
        svg := svg || format('<text x="%s" y="%s" class="blab">%s</text>'
                             '<rect x="%s" y="%s" width="%s" height="%s" class="%s"/>'
                             '<text x="%s" y="%s" class="bval">%s</text>',
                             label_w - 8, (i - 1) * row_h + 24, retailiq_internal.html(labels[i]),
                             label_w, (i - 1) * row_h + 8, round(bw::numeric, 1), row_h - 8, bar_class,
                             label_w + round(bw::numeric, 1) + 8, (i - 1) * row_h + 24,
                             retailiq_internal.html(coalesce(notes[i], retailiq_internal.fmt(vals[i]::numeric))));
    END LOOP;
    RETURN svg || '</svg>';
END
$$;

CREATE FUNCTION retailiq.report_html(from_date date, to_date date, store int DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off    -- seconds of compiling for queries that run in well under a second
AS $$
DECLARE
    tot record;
    v_days date[];
    v_units float8[];
    v_fc float8[];
    fn record;
    seg_labels text[];
    seg_vals float8[];
    seg_notes text[];
    seg_source text;
    prof record;
    zones text;
    tags text;
    body text;
    lo timestamptz;
    hi timestamptz;
    ncust bigint;
BEGIN
    PERFORM retailiq_internal.report_range(from_date, to_date);
    lo := from_date::timestamp AT TIME ZONE 'UTC';
    hi := (to_date + 1)::timestamp AT TIME ZONE 'UTC';

    -- totals over the whole range, and the daily series
    SELECT sum(r.orders) AS orders, sum(r.units) AS units, sum(r.sales) AS sales,
           sum(r.forecast_units) AS fu, sum(r.forecast_actual_units) AS fa,
           array_agg(r.period_start ORDER BY r.period_start) AS d,
           array_agg(r.units::float8 ORDER BY r.period_start) AS u,
           array_agg(r.forecast_units ORDER BY r.period_start) AS f
      INTO tot FROM retailiq.report_sales('daily', from_date, to_date, store) r;
    v_days := tot.d; v_units := tot.u; v_fc := tot.f;
    -- (a hash aggregate: count(DISTINCT) sorts a year's orders)
    EXECUTE format('SELECT count(*) FROM (SELECT customer_id FROM %s o WHERE ordered_at >= $1 AND ordered_at < $2'
                   ' AND ($3 IS NULL OR store_id = $3) AND customer_id IS NOT NULL GROUP BY 1) c',
                   retailiq_internal.source_sql('orders'))
       INTO ncust USING lo, hi, store;
    SELECT coalesce(sum(viewed), 0) AS v, coalesce(sum(carted), 0) AS c, coalesce(sum(purchased), 0) AS b
      INTO fn FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_funnel, 'events', from_date, to_date);

    -- segment sizes: the last refresh_customer_profile when it scored the orders this report
    -- reads, as of a day in the report's period; else RFM computed here as of to_date, saying
    -- why the profile was not used (it is one table per database, and may be stale or another
    -- source's)
    SELECT max(p.as_of), min(p.orders_source), count(DISTINCT p.orders_source)
      INTO prof FROM retailiq.customer_profile_data p;
    IF prof.max IS NOT NULL AND prof.count = 1
       AND prof.min = retailiq_internal.source_relation('orders')::text
       AND prof.max >= lo AND prof.max <= hi THEN
        seg_source := 'customer_profile (as of ' || to_char(prof.max, 'YYYY-MM-DD') || ')';
        SELECT array_agg(segment ORDER BY n DESC, segment), array_agg(n::float8 ORDER BY n DESC, segment)
          INTO seg_labels, seg_vals
          FROM (SELECT coalesce(segment, 'unscored') AS segment, count(*) AS n
                  FROM retailiq.customer_profile_data GROUP BY 1) s;
    ELSE
        seg_source := 'RFM as of ' || to_char(to_date, 'YYYY-MM-DD')
            || CASE WHEN prof.max IS NULL THEN ''
                    WHEN prof.count <> 1 OR prof.min IS DISTINCT FROM retailiq_internal.source_relation('orders')::text
                    THEN '; customer_profile not used: it scored another orders source ('
                         || coalesce(prof.min, 'unknown') || ')'
                    ELSE '; customer_profile not used: it is as of ' || to_char(prof.max, 'YYYY-MM-DD')
                         || ', outside this report''s period' END;
        SELECT array_agg(segment ORDER BY n DESC, segment), array_agg(n::float8 ORDER BY n DESC, segment)
          INTO seg_labels, seg_vals
          FROM (SELECT coalesce(segment, 'unscored') AS segment, count(*) AS n
                  FROM retailiq.rfm_segments(retailiq_internal.source_relation('orders'), hi, 5,
                                             retailiq_internal.source_column('orders', 'customer_id'),
                                             retailiq_internal.source_column('orders', 'ordered_at'),
                                             retailiq_internal.source_column('orders', 'total_amount')) GROUP BY 1) s;
    END IF;
    SELECT array_agg(format('%s customers (%s%%)', retailiq_internal.fmt(v::numeric),
                            retailiq_internal.fmt((100 * v / sum_v)::numeric, 1)) ORDER BY i)
      INTO seg_notes
      FROM unnest(seg_vals) WITH ORDINALITY AS x(v, i),
           (SELECT sum(v) AS sum_v FROM unnest(seg_vals) v) s;

    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s:00</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                             h.store_id, retailiq_internal.html(coalesce(h.zone_name, 'zone ' || h.zone_id)),
                             lpad(h.hour::text, 2, '0'), retailiq_internal.fmt(h.visits::numeric),
                             retailiq_internal.fmt((h.total / 60.0)::numeric),
                             retailiq_internal.fmt((h.total::numeric / h.visits))), '' ORDER BY h.total DESC, h.store_id, h.zone_id, h.hour)
      INTO zones
      FROM (SELECT t.*, row_number() OVER (ORDER BY t.total DESC, t.store_id, t.zone_id, t.hour) AS rk
              FROM (SELECT d.store_id, d.zone_id, d.zone_name, d.hour, sum(d.visits) AS visits,
                           sum(d.total_dwell_s) AS total
                      FROM retailiq_internal.report_dwell_rows(NULL, from_date, to_date, store) d
                     WHERE d.zone_name IS DISTINCT FROM 'checkout' GROUP BY 1, 2, 3, 4) t) h
     WHERE h.rk <= 8;
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td class="num">%s</td></tr>',
                             retailiq_internal.html(r.tag), retailiq_internal.html(r.description),
                             retailiq_internal.fmt(coalesce(c.n, 0)::numeric)), '' ORDER BY r.tag)
      INTO tags
      FROM retailiq.tag_rule r
      LEFT JOIN (SELECT tag, count(*) AS n FROM retailiq.customer_tag GROUP BY tag) c ON c.tag = r.tag
     WHERE r.enabled;

    body := format($h$<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>retailiq report %1$s – %2$s</title>
<style>
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;color:#1d2733;margin:24px 40px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5dbe3;padding-bottom:4px}
.sub{color:#5a6675;font-size:13px}.note{color:#5a6675;font-size:12px;margin:4px 0}
.kpis{display:flex;gap:14px;margin-top:18px}.kpi{flex:1;border:1px solid #d5dbe3;border-radius:6px;padding:10px 14px}
.kpi .v{font-size:22px;font-weight:bold}.kpi .l{font-size:12px;color:#5a6675}
.empty{font-size:16px;fill:#a33}.msg{color:#a33;font-weight:bold}
svg text{font-family:"DejaVu Sans",Arial,sans-serif}
.grid{stroke:#e3e7ec;stroke-width:1}.ylab{font-size:11px;fill:#5a6675;text-anchor:end}
.xlab{font-size:11px;fill:#5a6675;text-anchor:middle}.leg{font-size:12px;fill:#1d2733}
.s1{fill:none;stroke:#2a6fdb;stroke-width:2}.s2{fill:none;stroke:#e8871e;stroke-width:2;stroke-dasharray:6 4}
.k1{fill:#2a6fdb}.k2{fill:#e8871e}
.blab{font-size:13px;fill:#1d2733;text-anchor:end}.bval{font-size:12px;fill:#1d2733}
.bar{fill:#2a6fdb}.fbar{fill:#3c9d5d}
table{border-collapse:collapse;font-size:13px;min-width:600px}td,th{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left}
th{background:#f3f5f8}.num{text-align:right}
</style></head><body>
<h1>Sales and behaviour report</h1>
<div class="sub">%1$s to %2$s · %3$s · generated %4$s by retailiq</div>
%5$s
<div class="kpis">
<div class="kpi"><div class="v">%6$s</div><div class="l">sales</div></div>
<div class="kpi"><div class="v">%7$s</div><div class="l">orders</div></div>
<div class="kpi"><div class="v">%8$s</div><div class="l">customers</div></div>
<div class="kpi"><div class="v">%9$s</div><div class="l">average basket</div></div>
<div class="kpi"><div class="v">%10$s</div><div class="l">units sold</div></div>
<div class="kpi"><div class="v">%11$s</div><div class="l">forecast achievement</div></div>
</div>
<h2>Units sold and forecast, by day</h2>
%12$s
<p class="note">%13$s</p>
<h2>Online conversion funnel</h2>
%14$s
<p class="note">A customer viewing a product on a day; carted: also put in the cart that day; purchased: also ordered that day.%19$s</p>
<h2>Customer segments (RFM)</h2>
%15$s
<p class="note">Source: %16$s.</p>
<h2>In-store hot spots (zone and hour, by total dwell time, checkout excluded)</h2>
%17$s
<h2>Customer tags (current)</h2>
%18$s
</body></html>
$h$,
        from_date, to_date,
        CASE WHEN store IS NULL THEN 'all stores' ELSE 'store ' || store END,
        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
        CASE WHEN coalesce(tot.units, 0) = 0
             THEN '<p class="msg">No orders in this period: the figures below are empty.</p>' ELSE '' END,
        retailiq_internal.fmt(tot.sales, 0), retailiq_internal.fmt(tot.orders::numeric), retailiq_internal.fmt(ncust::numeric),
        retailiq_internal.fmt(tot.sales / nullif(tot.orders, 0), 2),
        retailiq_internal.fmt(tot.units),
        CASE WHEN tot.fu > 0 THEN retailiq_internal.fmt((100 * tot.fa / tot.fu)::numeric, 1) || '%' ELSE 'no forecast' END,
        CASE WHEN coalesce(tot.units, 0) = 0 AND coalesce(tot.fu, 0) = 0
             THEN '<p class="note">No units sold and no forecast in this period.</p>'
             ELSE retailiq_internal.svg_lines(v_days, v_units, v_fc, 'units sold', 'forecast (series with a forecast)') END,
        CASE WHEN tot.fu > 0
             THEN format('Forecast: the newest day forecast of each store/product series in retailiq.forecast_result; achievement = units sold of those series / forecast units = %s%%, bias (forecast − actual) / actual = %s%%.',
                         retailiq_internal.fmt((100 * tot.fa / tot.fu)::numeric, 1),
                         retailiq_internal.fmt((100 * (tot.fu - tot.fa) / nullif(tot.fa, 0))::numeric, 1))
             ELSE 'No forecasts in retailiq.forecast_result for these days.' END,
        CASE WHEN fn.v = 0 THEN '<p class="note">No online product views in this period.</p>' ELSE
        retailiq_internal.svg_bars(ARRAY['viewed', 'carted', 'purchased'],
                           ARRAY[fn.v, fn.c, fn.b]::float8[],
                           ARRAY[retailiq_internal.fmt(fn.v::numeric) || ' (100%)',
                                 retailiq_internal.fmt(fn.c::numeric) || ' (' || retailiq_internal.fmt((100.0 * fn.c / nullif(fn.v, 0))::numeric, 1) || '%)',
                                 retailiq_internal.fmt(fn.b::numeric) || ' (' || retailiq_internal.fmt((100.0 * fn.b / nullif(fn.v, 0))::numeric, 1) || '%)'],
                           1100, 'fbar') END,
        retailiq_internal.svg_bars(seg_labels, seg_vals, seg_notes),
        retailiq_internal.html(seg_source),
        CASE WHEN zones IS NULL THEN '<p class="note">No dwell events in this period.</p>'
             ELSE '<table><tr><th>store</th><th>zone</th><th>hour</th><th class="num">visits</th><th class="num">dwell (min)</th><th class="num">average dwell (s)</th></tr>' || zones || '</table>' END,
        CASE WHEN tags IS NULL THEN '<p class="note">No tag rules are enabled.</p>'
             ELSE '<table><tr><th>tag</th><th>rule</th><th class="num">customers</th></tr>' || tags || '</table>' END,
        CASE WHEN store IS NOT NULL THEN ' Online events carry no store: the funnel, the segments and the tags cover every customer.' ELSE '' END);
    RETURN body;
END
$$;
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
-- and created again, or another source registered, makes the stored days unused).
CREATE FUNCTION retailiq_internal.report_sources(part text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('%s:%s', (retailiq_internal.source_row(r)).relation::oid,
                             (retailiq_internal.source_row(r)).columns), ' ' ORDER BY k)
      FROM unnest(CASE $1 WHEN 'orders' THEN ARRAY['orders', 'order_lines']
                          ELSE ARRAY['events', 'orders', 'order_lines', 'products'] END)
           WITH ORDINALITY AS u(r, k)
$$;

-- Whether the caller may read the stored days. They are sums over every store's rows, so
-- they bypass the row security of the tables they were computed from: a role reads them
-- only when granted SELECT on all eight tables (superusers and the extension's owner can; a DBA
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
                        'retailiq.report_period']) t
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
BEGIN
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
    rel regclass := retailiq_internal.source_relation('orders');
    probe boolean;
BEGIN
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
LANGUAGE sql STABLE ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.day, sum(f.viewed)::bigint, sum(f.carted)::bigint, sum(f.purchased)::bigint
      FROM retailiq.conversion_funnel($1::timestamp AT TIME ZONE 'UTC', ($2 + 1)::timestamp AT TIME ZONE 'UTC') f
     GROUP BY f.day
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
BEGIN
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
    INSERT INTO retailiq.report_day_sales SELECT * FROM retailiq_internal.report_day_sales_live(lo, hi);
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
-- reports: the purchaser's daily page (doc/replenishment.md). The orders to place from the
-- replenishment plan (the stored nightly plan of the day, else computed now), the stock-outs
-- they avoid, and, where this installation has them, the slow movers and the forecast
-- health of the same source (looked up by signature: the page does not depend on them).

CREATE FUNCTION retailiq.report_purchaser(source text, as_of date DEFAULT NULL, store int DEFAULT NULL,
                                          max_rows int DEFAULT 50)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_date date;
    v_from text;
    k record;
    orders text;
    bars text;
    slow text;
    health text;
BEGIN
    IF source IS NULL OR max_rows IS NULL THEN
        RAISE EXCEPTION 'source and max_rows must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Example: retailiq.report_purchaser(''store_sales'').';
    END IF;
    IF max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('max_rows is %s.', max_rows);
    END IF;
    v_date := coalesce(as_of, (SELECT max(o.plan_date) FROM retailiq.order_plan o WHERE o.source = report_purchaser.source));
    CREATE TEMP TABLE riq_purchaser_plan ON COMMIT DROP AS
    SELECT o.store_id, o.product_id, o.on_hand, o.on_order, o.demand_mean, o.demand_quantile, o.order_qty,
           o.expected_fill_rate, o.days_of_cover, o.reason
      FROM retailiq.order_plan o
     WHERE o.source = report_purchaser.source AND o.plan_date = v_date
       AND (store IS NULL OR o.store_id = store);
    IF NOT EXISTS (SELECT FROM riq_purchaser_plan) THEN
        -- no stored plan for the day: compute it (with the caller's rights)
        v_from := 'computed now';
        INSERT INTO riq_purchaser_plan
        SELECT p.store_id, p.product_id, p.on_hand, p.on_order, p.demand_mean, p.demand_quantile, p.order_qty,
               p.expected_fill_rate, p.days_of_cover, p.reason
          FROM retailiq.replenishment_plan(source, as_of, CASE WHEN store IS NULL THEN NULL ELSE ARRAY[store::bigint] END) p;
        v_date := coalesce(as_of, v_date);
    ELSE
        v_from := 'the nightly plan';
    END IF;

    -- an expected stock-out averted: the stock and what is on order fall short of the expected
    -- demand over lead time + review period (at the forecasts' mean the series runs out before
    -- the delivery after this one), and today's order lifts it to at least that demand. An
    -- expectation from the forecasts: the page has no day-by-day record of the stock.
    SELECT count(*) FILTER (WHERE p.order_qty > 0) AS n_orders, coalesce(sum(p.order_qty), 0) AS units,
           count(*) FILTER (WHERE p.order_qty > 0 AND p.on_hand + p.on_order < p.demand_mean
                                AND p.on_hand + p.on_order + p.order_qty >= p.demand_mean) AS avoided,
           count(*) FILTER (WHERE p.on_hand <= 0) AS out_now,
           count(*) AS series,
           sum(p.expected_fill_rate * p.demand_mean) / nullif(sum(p.demand_mean), 0) AS fill
      INTO k FROM riq_purchaser_plan p;

    SELECT coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td>'
                                      '<td class="num">%s</td><td class="num">%s</td><td class="num"><b>%s</b></td>'
                                      '<td class="num">%s</td><td class="num">%s</td><td>%s</td></tr>',
                                      p.store_id, p.product_id, retailiq_internal.fmt(p.on_hand::numeric),
                                      retailiq_internal.fmt(p.on_order::numeric),
                                      retailiq_internal.fmt(p.demand_mean::numeric, 1),
                                      retailiq_internal.fmt(p.demand_quantile::numeric),
                                      retailiq_internal.fmt(p.order_qty::numeric),
                                      retailiq_internal.fmt((100 * p.expected_fill_rate)::numeric, 1) || '%',
                                      retailiq_internal.fmt(p.days_of_cover::numeric, 1),
                                      retailiq_internal.html(p.reason)), '' ORDER BY p.rk), '')
      INTO orders
      FROM (SELECT q.*, row_number() OVER (ORDER BY q.on_hand + q.on_order - q.demand_mean, q.order_qty DESC,
                                                    q.store_id, q.product_id) AS rk
              FROM riq_purchaser_plan q WHERE q.order_qty > 0) p
     WHERE p.rk <= max_rows;
    SELECT retailiq_internal.svg_bars(array_agg('store ' || s.store_id ORDER BY s.units DESC, s.store_id),
                                      array_agg(s.units ORDER BY s.units DESC, s.store_id),
                                      array_agg(retailiq_internal.fmt(s.units::numeric) || ' units, ' || s.n || ' orders'
                                                ORDER BY s.units DESC, s.store_id), 900)
      INTO bars
      FROM (SELECT q.store_id, sum(q.order_qty) AS units, count(*) AS n FROM riq_purchaser_plan q
             WHERE q.order_qty > 0 GROUP BY q.store_id ORDER BY units DESC, q.store_id LIMIT 20) s;

    -- sections of other parts, when this installation has them
    IF to_regprocedure('retailiq.slow_movers(text,date)') IS NOT NULL THEN
        EXECUTE $q$
            SELECT coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td>'
                                              '<td class="num">%s</td><td>%s%s</td><td>%s</td></tr>',
                                              m.store_id, m.product_id, retailiq_internal.html(m.status),
                                              retailiq_internal.fmt(m.stock_value::numeric),
                                              retailiq_internal.fmt(m.weeks_since_last_sale::numeric, 1),
                                              retailiq_internal.html(coalesce(m.abc, '')),
                                              retailiq_internal.html(coalesce(m.xyz, '')),
                                              retailiq_internal.html(coalesce(m.action, ''))),
                                       '' ORDER BY m.stock_value DESC NULLS LAST, m.store_id, m.product_id), '')
              FROM (SELECT * FROM retailiq.slow_movers($1, $2) s
                     WHERE s.status IS DISTINCT FROM 'ok' AND s.status IS DISTINCT FROM 'normal'
                       AND ($3 IS NULL OR s.store_id = $3)
                     ORDER BY s.stock_value DESC NULLS LAST, s.store_id, s.product_id LIMIT $4) m$q$
          INTO slow USING source, as_of, store, max_rows;
        slow := '<table><tr><th>store</th><th>product</th><th>status</th><th class="num">stock value</th>'
                '<th class="num">weeks since last sale</th><th>class</th><th>action</th></tr>' || slow || '</table>';
    ELSE
        slow := '<p class="note">Slow movers are not available in this installation.</p>';
    END IF;
    IF to_regprocedure('retailiq.forecast_health(text,integer)') IS NOT NULL THEN
        EXECUTE $q$
            SELECT coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td>'
                                              '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                                              h.store_id, h.product_id, retailiq_internal.html(h.status),
                                              retailiq_internal.fmt((100 * h.wape)::numeric, 1) || '%',
                                              retailiq_internal.fmt(h.mase::numeric, 2),
                                              retailiq_internal.fmt((100 * h.bias)::numeric, 1) || '%', h.n),
                                       '' ORDER BY h.wape DESC NULLS LAST, h.store_id, h.product_id), '')
              FROM (SELECT * FROM retailiq.forecast_health($1) f
                     WHERE f.status IS DISTINCT FROM 'ok' AND ($2 IS NULL OR f.store_id = $2)
                     ORDER BY f.wape DESC NULLS LAST, f.store_id, f.product_id LIMIT $3) h$q$
          INTO health USING source, store, max_rows;
        health := '<table><tr><th>store</th><th>product</th><th>status</th><th class="num">WAPE</th>'
                  '<th class="num">MASE</th><th class="num">bias</th><th class="num">periods</th></tr>' || health || '</table>';
    ELSE
        health := '<p class="note">Forecast health is not available in this installation.</p>';
    END IF;
    DROP TABLE riq_purchaser_plan;

    RETURN format($h$<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>retailiq purchaser %1$s %2$s</title>
<style>
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;color:#1d2733;margin:24px 40px}
h2{font-size:18px;border-bottom:1px solid #d5dbe3}.note,.sub{color:#5a6675;font-size:12px}
.kpis{display:flex;gap:14px}.kpi{flex:1;border:1px solid #d5dbe3;border-radius:6px;padding:10px 14px}
.kpi .v{font-size:22px;font-weight:bold}.kpi .l{font-size:12px;color:#5a6675}
.blab{font-size:13px;text-anchor:end}.bval{font-size:12px}.bar{fill:#2a6fdb}.empty{fill:#a33}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left}
th{background:#f3f5f8}.num{text-align:right}
</style></head><body>
<h1>Purchaser's daily page</h1>
<div class="sub">sales source %1$s · plan of %2$s (%3$s) · %4$s · generated %5$s by retailiq</div>
<div class="kpis">
<div class="kpi"><div class="v">%6$s</div><div class="l">orders to place</div></div>
<div class="kpi"><div class="v">%7$s</div><div class="l">units to order</div></div>
<div class="kpi"><div class="v">%8$s</div><div class="l">expected stock-outs averted</div></div>
<div class="kpi"><div class="v">%9$s</div><div class="l">out of stock now</div></div>
<div class="kpi"><div class="v">%10$s</div><div class="l">expected fill rate</div></div>
</div>
<h2>Orders to place (the most urgent first)</h2>
<table><tr><th>store</th><th>product</th><th class="num">on hand</th><th class="num">on order</th>
<th class="num">demand (mean)</th><th class="num">demand (quantile)</th><th class="num">order</th>
<th class="num">fill rate</th><th class="num">days of cover</th><th>reason</th></tr>
%11$s</table>
<p class="note">Expected stock-outs averted: series whose stock on hand + on order is below their expected demand over lead time + review period (at the forecasts' mean they run out before the delivery after this one) and whose order today lifts it to at least that demand. An expectation from the forecasts, not a count of stock-outs that happened. %12$s of %13$s series planned.</p>
<h2>Units to order by store</h2>
%14$s
<h2>Slow movers and dead stock</h2>
%15$s
<h2>Forecast health (series off their forecasts)</h2>
%16$s
</body></html>
$h$,
        retailiq_internal.html(source), coalesce(v_date::text, '–'), v_from,
        CASE WHEN store IS NULL THEN 'all stores' ELSE 'store ' || store END,
        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
        retailiq_internal.fmt(k.n_orders::numeric), retailiq_internal.fmt(k.units::numeric),
        retailiq_internal.fmt(k.avoided::numeric), retailiq_internal.fmt(k.out_now::numeric),
        coalesce(retailiq_internal.fmt((100 * k.fill)::numeric, 1) || '%', '–'),
        orders, retailiq_internal.fmt(k.n_orders::numeric), retailiq_internal.fmt(k.series::numeric),
        bars, slow, health);
END
$$;
COMMENT ON FUNCTION retailiq.report_purchaser(text, date, int, int) IS
    'the purchaser''s daily page (HTML): orders to place from the replenishment plan, stock-outs avoided, slow movers and forecast health when available';

-- marketing: recommendations for each customer (implicit-feedback ALS, item-to-item cosine
-- neighbours and the customer's own repeat purchases, blended by weights chosen on the
-- caller's own history; see doc/marketing.md).

CREATE FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz)
    RETURNS internal AS 'MODULE_PATHNAME', 'recommender_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'recommender_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'recommender_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'recommender_fit_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'recommender_fit_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'recommender_fit_final' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz) IS
    'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz, jsonb) IS
    'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_combine(internal, internal) IS 'aggregate combine function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_serialize(internal) IS 'aggregate serial function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_deserialize(bytea, internal) IS 'aggregate deserial function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_final(internal) IS 'aggregate final function';

CREATE AGGREGATE retailiq.recommender_fit(customer bigint, product bigint, quantity float8, at timestamptz) (
    SFUNC = retailiq_internal.recommender_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.recommender_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.recommender_fit_combine,
    SERIALFUNC = retailiq_internal.recommender_fit_serialize,
    DESERIALFUNC = retailiq_internal.recommender_fit_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.recommender_fit(bigint, bigint, float8, timestamptz) IS
    'per-customer recommender (ALS + item-to-item + own repeat purchases) over purchase lines';
CREATE AGGREGATE retailiq.recommender_fit(customer bigint, product bigint, quantity float8, at timestamptz,
                                          options jsonb) (
    SFUNC = retailiq_internal.recommender_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.recommender_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.recommender_fit_combine,
    SERIALFUNC = retailiq_internal.recommender_fit_serialize,
    DESERIALFUNC = retailiq_internal.recommender_fit_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.recommender_fit(bigint, bigint, float8, timestamptz, jsonb) IS
    'per-customer recommender (ALS + item-to-item + own repeat purchases) over purchase lines, with options';

CREATE FUNCTION retailiq.recommend_for_customer(model retailiq.model, customer bigint, n int,
                                                options jsonb DEFAULT NULL)
    RETURNS TABLE (product bigint, score float8, reason text)
    AS 'MODULE_PATHNAME', 'recommend_for_customer' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION retailiq.recommend_for_customer(retailiq.model, bigint, int, jsonb) IS
    'the n products a customer is most likely to buy next, best first, with the reason';
CREATE FUNCTION retailiq.recommend_for_customers(model retailiq.model, n int, options jsonb DEFAULT NULL)
    RETURNS TABLE (customer bigint, rank int, product bigint, score float8, reason text)
    AS 'MODULE_PATHNAME', 'recommend_for_customers' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10000;
COMMENT ON FUNCTION retailiq.recommend_for_customers(retailiq.model, int, jsonb) IS
    'the n products each customer of the model is most likely to buy next, ranked, with the reason';

-- marketing: what a price does. Own- and cross-price elasticities per product, log-log with
-- store fixed effects, each store's estimate shrunk toward the pooled one (elasticity.h).

CREATE FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'elasticity_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[])
    RETURNS internal AS 'MODULE_PATHNAME', 'elasticity_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'elasticity_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'elasticity_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'elasticity_fit_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'elasticity_fit_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'elasticity_fit_final' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[]) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[], jsonb) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_combine(internal, internal) IS 'aggregate combine function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_serialize(internal) IS 'aggregate serial function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_deserialize(bytea, internal) IS 'aggregate deserial function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_final(internal) IS 'aggregate final function';

CREATE AGGREGATE retailiq.elasticity_fit(product bigint, store bigint, period date, units float8, price float8) (
    SFUNC = retailiq_internal.elasticity_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.elasticity_fit_final,
    COMBINEFUNC = retailiq_internal.elasticity_fit_combine,
    SERIALFUNC = retailiq_internal.elasticity_fit_serialize,
    DESERIALFUNC = retailiq_internal.elasticity_fit_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE retailiq.elasticity_fit(product bigint, store bigint, period date, units float8, price float8,
                                         factors float8[]) (
    SFUNC = retailiq_internal.elasticity_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.elasticity_fit_final,
    COMBINEFUNC = retailiq_internal.elasticity_fit_combine,
    SERIALFUNC = retailiq_internal.elasticity_fit_serialize,
    DESERIALFUNC = retailiq_internal.elasticity_fit_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE retailiq.elasticity_fit(product bigint, store bigint, period date, units float8, price float8,
                                         factors float8[], options jsonb) (
    SFUNC = retailiq_internal.elasticity_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.elasticity_fit_final,
    COMBINEFUNC = retailiq_internal.elasticity_fit_combine,
    SERIALFUNC = retailiq_internal.elasticity_fit_serialize,
    DESERIALFUNC = retailiq_internal.elasticity_fit_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.elasticity_fit(bigint, bigint, date, float8, float8) IS
    'price elasticity per product: log-log with store fixed effects, store estimates shrunk toward the pooled one';
COMMENT ON AGGREGATE retailiq.elasticity_fit(bigint, bigint, date, float8, float8, float8[]) IS
    'price elasticity per product, controlling for factors (deal, feature, other products'' log prices)';
COMMENT ON AGGREGATE retailiq.elasticity_fit(bigint, bigint, date, float8, float8, float8[], jsonb) IS
    'price elasticity per product with factors and options (level, harmonics, pooling)';

CREATE FUNCTION retailiq.elasticities(model retailiq.model)
    RETURNS TABLE (product bigint, store bigint, elasticity float8, lower float8, upper float8,
                   observations bigint, reason text)
    AS 'MODULE_PATHNAME', 'elasticity_elasticities' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.elasticities(retailiq.model) IS
    'own-price elasticity of each product (store NULL: pooled) and of each store (shrunk), with the interval';

CREATE FUNCTION retailiq.elasticity_predict(model retailiq.model, product bigint, store bigint, period date,
                                            price float8, factors float8[] DEFAULT NULL)
    RETURNS float8 AS 'MODULE_PATHNAME', 'elasticity_predict' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.elasticity_predict(retailiq.model, bigint, bigint, date, float8, float8[]) IS
    'expected units of a product in a store in a period at a price (and factors), from an elasticity model';

-- marketing: a recommended price from an elasticity model. The margin-maximising price
-- within bounds (cost plus a minimum margin, the largest change allowed, price endings),
-- with expected units, revenue and margin and their intervals (from the elasticity's
-- interval); with stock and periods, the stock-aware variant that clears slow stock by a date.

CREATE FUNCTION retailiq.recommend_price(model retailiq.model, product bigint, store bigint,
                                         price float8, unit_cost float8, units float8,
                                         options jsonb DEFAULT '{}')
RETURNS TABLE (recommended_price float8, change_pct float8, elasticity float8,
               expected_units float8, units_lower float8, units_upper float8,
               revenue float8, revenue_lower float8, revenue_upper float8,
               margin float8, margin_lower float8, margin_upper float8,
               leftover_units float8, reason text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    min_margin float8 := coalesce((options ->> 'min_margin')::float8, 0.1);
    max_change float8 := coalesce((options ->> 'max_change')::float8, 0.1);
    endings float8[] := CASE WHEN options ? 'endings' AND jsonb_typeof(options -> 'endings') = 'array'
                             THEN ARRAY(SELECT e::float8 FROM jsonb_array_elements_text(options -> 'endings') e) END;
    stock float8 := (options ->> 'stock')::float8;
    periods float8 := (options ->> 'periods')::float8;
    salvage float8 := coalesce((options ->> 'salvage')::float8, 0);
    e record;
    lo float8;
    hi float8;
    k text;
BEGIN
    FOR k IN SELECT jsonb_object_keys(options) LOOP
        IF k NOT IN ('min_margin', 'max_change', 'endings', 'stock', 'periods', 'salvage') THEN
            RAISE EXCEPTION 'unknown option "%" of recommend_price', k USING ERRCODE = '22023',
                HINT = 'The options are min_margin, max_change, endings, stock, periods and salvage.';
        END IF;
    END LOOP;
    IF model IS NULL OR product IS NULL OR price IS NULL OR unit_cost IS NULL OR units IS NULL THEN
        RAISE EXCEPTION 'recommend_price: model, product, price, unit_cost and units must not be NULL'
            USING ERRCODE = '22004', HINT = 'store may be NULL (the pooled elasticity).';
    END IF;
    IF NOT (price > 0 AND price < 'Infinity') OR NOT (unit_cost >= 0 AND unit_cost < 'Infinity')
       OR NOT (units >= 0 AND units < 'Infinity') THEN
        RAISE EXCEPTION 'recommend_price: price must be above 0, unit_cost and units at least 0, all finite'
            USING ERRCODE = '22023', DETAIL = format('price %s, unit_cost %s, units %s.', price, unit_cost, units),
            HINT = 'units are the expected units per period at the current price (e.g. the last weeks'' mean).';
    END IF;
    IF NOT (min_margin >= -1 AND min_margin < 100) OR NOT (max_change >= 0 AND max_change < 1)
       OR NOT (salvage >= 0 AND salvage < 'Infinity')
       OR (endings IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(endings) x WHERE NOT (x >= 0 AND x < 1)))
       OR ((stock IS NULL) <> (periods IS NULL))
       OR (stock IS NOT NULL AND NOT (stock >= 0 AND stock < 'Infinity' AND periods > 0 AND periods < 'Infinity')) THEN
        RAISE EXCEPTION 'recommend_price: an option is out of range' USING ERRCODE = '22023',
            DETAIL = format('options %s.', options),
            HINT = 'min_margin >= -1 (share of cost), max_change in [0, 1), endings in [0, 1) (e.g. [0.99, 0.49]), stock and periods together (periods > 0), salvage >= 0.';
    END IF;

    SELECT x.elasticity, x.lower, x.upper, x.reason INTO e
    FROM retailiq.elasticities(model) x
    WHERE x.product = recommend_price.product
      AND (x.store = recommend_price.store OR (x.store IS NULL AND NOT EXISTS (
               SELECT 1 FROM retailiq.elasticities(model) y
               WHERE y.product = recommend_price.product AND y.store = recommend_price.store)))
    ORDER BY x.store NULLS LAST LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            'no price: the model has no estimate for this product'::text;
        RETURN;
    END IF;
    IF e.elasticity IS NULL THEN
        RETURN QUERY SELECT NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            ('no price: ' || e.reason)::text;
        RETURN;
    END IF;
    lo := greatest(unit_cost * (1 + min_margin), price * (1 - max_change));
    hi := price * (1 + max_change);

    RETURN QUERY
    WITH cand AS (
        SELECT (c / 100.0)::float8 AS p
        FROM generate_series(ceil(lo * 100 - 1e-9)::bigint, floor(hi * 100 + 1e-9)::bigint) c
        WHERE endings IS NULL OR round((c % 100)::numeric) = ANY (ARRAY(SELECT round((100 * x)::numeric) FROM unnest(endings) x))),
         q AS (
        SELECT cand.p,
               units * (cand.p / price) ^ e.elasticity AS u,
               units * least((cand.p / price) ^ e.lower, (cand.p / price) ^ e.upper) AS u_lo,
               units * greatest((cand.p / price) ^ e.lower, (cand.p / price) ^ e.upper) AS u_hi
        FROM cand),
         s AS (   -- with stock: what sells by the date (at most the stock), what is left
        SELECT q.p,
               CASE WHEN stock IS NULL THEN q.u ELSE least(q.u * periods, stock) END AS u,
               CASE WHEN stock IS NULL THEN q.u_lo ELSE least(q.u_lo * periods, stock) END AS u_lo,
               CASE WHEN stock IS NULL THEN q.u_hi ELSE least(q.u_hi * periods, stock) END AS u_hi
        FROM q),
         v AS (
        SELECT s.*,
               CASE WHEN stock IS NULL THEN (s.p - unit_cost) * s.u
                    ELSE s.p * s.u + salvage * (stock - s.u) - unit_cost * stock END AS obj
        FROM s)
    SELECT v.p, 100 * (v.p / price - 1), e.elasticity, v.u, v.u_lo, v.u_hi,
           v.p * v.u, v.p * v.u_lo, v.p * v.u_hi,
           CASE WHEN stock IS NULL THEN (v.p - unit_cost) * v.u ELSE v.obj END,
           CASE WHEN stock IS NULL THEN (v.p - unit_cost) * v.u_lo ELSE v.p * v.u_lo + salvage * (stock - v.u_lo) - unit_cost * stock END,
           CASE WHEN stock IS NULL THEN (v.p - unit_cost) * v.u_hi ELSE v.p * v.u_hi + salvage * (stock - v.u_hi) - unit_cost * stock END,
           CASE WHEN stock IS NULL THEN NULL ELSE stock - v.u END,
           CASE WHEN e.reason IS NOT NULL THEN e.reason END
    FROM v ORDER BY v.obj DESC, abs(v.p - price), v.p LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::float8, NULL::float8, e.elasticity, NULL::float8, NULL::float8, NULL::float8,
            NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
            format('no price: no price from %s to %s meets the bounds and endings', round(lo::numeric, 2), round(hi::numeric, 2));
    END IF;
END
$$;
COMMENT ON FUNCTION retailiq.recommend_price(retailiq.model, bigint, bigint, float8, float8, float8, jsonb) IS
    'the margin-maximising price within bounds (cost + minimum margin, largest change, endings) or, with stock and periods, the price that earns most from the stock by the date, with expected units, revenue and margin and their intervals';

-- marketing: what a promotion earned. Incremental units, revenue and margin of each
-- promotion against the counterfactual of the factor regression (forecast_regression_fit,
-- issue 17), the dips before and after it (pantry loading), the cannibalisation of the
-- same category's other products, cost and ROI, with intervals (doc/marketing.md).

-- The regression's coefficients of one series for the promotion's factors, read from the
-- model's text form; transform 'log' means the model is on log(1 + units).
CREATE FUNCTION retailiq_internal.promotion_coefficients(model retailiq.model)
RETURNS TABLE (series text, transform text, sigma2 float8, b_promo float8, b_depth float8,
               b_featured float8, b_before float8, b_after float8, b_cannibal float8)
LANGUAGE sql STRICT IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH j AS (SELECT model::text::jsonb AS j),
         p AS (SELECT j, 1 + 2 * (j -> 'params' ->> 'harmonics')::int AS o,
                      j -> 'params' ->> 'transform' AS transform
               FROM j
               WHERE j ->> 'kind' = 'forecast_regression' AND (j -> 'params' ->> 'n_exog')::int = 6)
    SELECT s.key, p.transform, (j -> 'data' -> 'sigma2' ->> (s.i - 1)::int)::float8,
           (c ->> o)::float8, (c ->> (o + 1))::float8, (c ->> (o + 2))::float8,
           (c ->> (o + 3))::float8, (c ->> (o + 4))::float8, (c ->> (o + 5))::float8
    FROM p, jsonb_array_elements_text(j -> 'data' -> 'series') WITH ORDINALITY AS s(key, i),
         LATERAL (SELECT j -> 'data' -> 'coef' -> (s.i - 1)::int AS c) cc
$$;

CREATE FUNCTION retailiq.promotion_effects(sales regclass, promotions regclass, products regclass,
                                           options jsonb DEFAULT '{}')
RETURNS TABLE (promo_id bigint, product_id bigint, store_id bigint, starts_on date, ends_on date,
               periods int, units float8, baseline_units float8,
               incremental_units float8, incremental_units_lower float8, incremental_units_upper float8,
               uplift float8, incremental_revenue float8,
               incremental_margin float8, incremental_margin_lower float8, incremental_margin_upper float8,
               cost float8, roi float8, roi_lower float8, roi_upper float8,
               dip_before_units float8, dip_after_units float8,
               cannibalised_units float8, cannibalised_margin float8, net_margin float8, reason text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grain text := coalesce(options ->> 'grain', 'store');
    dip int;
    step int;
    lvl float8 := coalesce((options ->> 'level')::float8, 0.8);
    fixed float8 := coalesce((options ->> 'fixed_cost')::float8, 0);
    min_base int := coalesce((options ->> 'min_baseline')::int, 8);
    reg jsonb := coalesce(options -> 'regression', '{}');
    z float8;
    m retailiq.model;
    k text;
BEGIN
    FOR k IN SELECT jsonb_object_keys(options) LOOP
        IF k NOT IN ('grain', 'dip_periods', 'level', 'fixed_cost', 'min_baseline', 'regression') THEN
            RAISE EXCEPTION 'unknown option "%" of promotion_effects', k USING ERRCODE = '22023',
                HINT = 'The options are grain, dip_periods, level, fixed_cost, min_baseline and regression.';
        END IF;
    END LOOP;
    IF grain NOT IN ('store', 'chain') THEN
        RAISE EXCEPTION 'options.grain must be "store" or "chain"' USING ERRCODE = '22023',
            HINT = '"store": one series per store and product; "chain": the product''s sales over all stores.';
    END IF;
    IF NOT (lvl > 0 AND lvl < 1) OR NOT (fixed >= 0) OR fixed = 'Infinity' OR min_base < 1 THEN
        RAISE EXCEPTION 'options.level must be in (0, 1), fixed_cost finite and at least 0, min_baseline at least 1'
            USING ERRCODE = '22023', DETAIL = format('level %s, fixed_cost %s, min_baseline %s.', lvl, fixed, min_base),
            HINT = 'For example {"level": 0.8, "fixed_cost": 500}.';
    END IF;
    z := retailiq.normal_quantile(0.5 + lvl / 2);

    -- the sales, one row per store (or chain), product and period
    DROP TABLE IF EXISTS promo_sales, promo_list, promo_grid, promo_coef, promo_r, promo_se;
    EXECUTE format($q$
        CREATE TEMP TABLE promo_sales ON COMMIT DROP AS
        SELECT CASE WHEN %L = 'chain' THEN -1 ELSE store_id::bigint END AS store_id,
               product_id::bigint AS product_id, day::date AS day,
               sum(units)::float8 AS units, sum(revenue)::float8 AS revenue
        FROM %s GROUP BY 1, 2, 3$q$, grain, sales);
    ANALYZE promo_sales;
    IF NOT EXISTS (SELECT 1 FROM promo_sales) THEN
        RAISE EXCEPTION 'promotion_effects: % has no sales', sales USING ERRCODE = '22023',
            HINT = 'Give the sales relation (store_id, product_id, day, units, revenue).';
    END IF;
    IF EXISTS (SELECT 1 FROM promo_sales s WHERE s.units IS NULL OR s.units = 'NaN' OR s.units < 0
                   OR s.units = 'Infinity' OR s.day IS NULL OR s.product_id IS NULL) THEN
        RAISE EXCEPTION 'promotion_effects: % has NULL, NaN, infinite or negative units, or NULL keys', sales
            USING ERRCODE = '22023', HINT = 'Clean or filter the sales relation first.';
    END IF;
    SELECT coalesce(min(d), 1) INTO step
    FROM (SELECT s.day - lag(s.day) OVER (PARTITION BY s.store_id, s.product_id ORDER BY s.day) AS d
          FROM promo_sales s) g WHERE d > 0;
    dip := coalesce((options ->> 'dip_periods')::int, CASE WHEN step >= 7 THEN 2 ELSE 7 END);
    IF dip < 0 OR dip > 1000 THEN
        RAISE EXCEPTION 'options.dip_periods must be between 0 and 1000' USING ERRCODE = '22023',
            HINT = 'The periods before and after a promotion in which its pantry-loading dip is measured.';
    END IF;

    -- the promotions, one row per promotion, product and store (a NULL store: every store)
    EXECUTE format($q$
        CREATE TEMP TABLE promo_list ON COMMIT DROP AS
        SELECT p.promo_id::bigint AS promo_id, p.product_id::bigint AS product_id,
               s.store_id, p.starts_on::date AS starts_on, p.ends_on::date AS ends_on,
               coalesce((to_jsonb(p) ->> 'discount_pct')::float8 / 100, 0) AS depth,
               coalesce((to_jsonb(p) ->> 'featured')::bool, false) AS featured,
               (to_jsonb(p) ->> 'cost')::float8 AS promo_cost
        FROM %s p
        JOIN (SELECT DISTINCT ps.store_id, ps.product_id FROM promo_sales ps) s
          ON s.product_id = p.product_id
         AND (%L = 'chain' OR p.store_id IS NULL OR p.store_id = s.store_id)$q$, promotions, grain);
    IF EXISTS (SELECT 1 FROM promo_list l WHERE l.starts_on IS NULL OR l.ends_on IS NULL OR l.ends_on < l.starts_on
                   OR l.depth < 0 OR l.depth >= 1 OR l.depth = 'NaN') THEN
        RAISE EXCEPTION 'promotion_effects: % has a promotion without dates, ending before it starts, or with a discount outside 0-100%%', promotions
            USING ERRCODE = '22023', HINT = 'Each promotion needs starts_on <= ends_on and discount_pct from 0 to under 100.';
    END IF;
    ANALYZE promo_list;

    -- every period of each series, with its factors: on promotion, depth, featured, the
    -- dip windows before and after, and other products of the category on promotion
    EXECUTE format($q$
        CREATE TEMP TABLE promo_grid ON COMMIT DROP AS
        WITH span AS (SELECT ps.store_id, ps.product_id, min(ps.day) AS d0, max(ps.day) AS d1
                      FROM promo_sales ps GROUP BY 1, 2),
             cat AS (SELECT pr.product_id::bigint AS product_id, pr.category::text AS category,
                            pr.price::float8 AS price, pr.unit_cost::float8 AS unit_cost FROM %s pr),
             g AS MATERIALIZED (SELECT sp.store_id, sp.product_id, d::date AS day
                   FROM span sp, generate_series(sp.d0, sp.d1, make_interval(days => %s)) d),
             onp AS (SELECT DISTINCT ON (g.store_id, g.product_id, g.day) g.store_id, g.product_id, g.day,
                            l.promo_id AS promo, l.depth, l.featured
                     FROM g JOIN promo_list l ON l.product_id = g.product_id AND l.store_id = g.store_id
                      AND g.day + %s > l.starts_on AND g.day <= l.ends_on
                     ORDER BY g.store_id, g.product_id, g.day, l.promo_id),
             bef AS (SELECT DISTINCT g.store_id, g.product_id, g.day
                     FROM g JOIN promo_list b ON b.product_id = g.product_id AND b.store_id = g.store_id
                      AND g.day >= b.starts_on - %s * %s AND g.day < b.starts_on),
             aft AS (SELECT DISTINCT g.store_id, g.product_id, g.day
                     FROM g JOIN promo_list a ON a.product_id = g.product_id AND a.store_id = g.store_id
                      AND g.day > a.ends_on AND g.day <= a.ends_on + %s * %s)
        SELECT g.store_id, g.product_id, g.day,
               coalesce(ps.units, 0) AS units, coalesce(ps.revenue, 0) AS revenue, onp.promo,
               c.category, c.price, c.unit_cost,
               coalesce(onp.depth, 0) AS depth, coalesce(onp.featured, false) AS featured,
               onp.promo IS NULL AND bef.day IS NOT NULL AS before,
               onp.promo IS NULL AND aft.day IS NOT NULL AS after
        FROM g LEFT JOIN promo_sales ps USING (store_id, product_id, day)
        LEFT JOIN onp USING (store_id, product_id, day)
        LEFT JOIN bef USING (store_id, product_id, day)
        LEFT JOIN aft USING (store_id, product_id, day)
        LEFT JOIN cat c USING (product_id)$q$,
        products, step, step, dip, step, dip, step);
    ALTER TABLE promo_grid ADD COLUMN cannibal int;
    UPDATE promo_grid g SET cannibal = c.n - (g.promo IS NOT NULL)::int
    FROM (SELECT o.store_id AS sid, o.day, coalesce(o.category, '') AS cat,
                 count(*) FILTER (WHERE o.promo IS NOT NULL) AS n
          FROM promo_grid o GROUP BY 1, 2, 3) c
    WHERE c.sid = g.store_id AND c.day = g.day AND c.cat = coalesce(g.category, '');
    ANALYZE promo_grid;

    -- the factor regression of issue 17 over every series
    SELECT retailiq.forecast_regression_fit(
               g.store_id || '/' || g.product_id, g.day, g.units,
               ARRAY[(g.promo IS NOT NULL)::int, g.depth, g.featured::int, g.before::int,
                     g.after::int, g.cannibal]::float8[],
               reg)
      INTO m FROM promo_grid g;

    CREATE TEMP TABLE promo_coef ON COMMIT DROP AS
    SELECT * FROM retailiq_internal.promotion_coefficients(m);
    -- each period's counterfactuals: without its promotion, without its dip, without one cannibal
    CREATE TEMP TABLE promo_r ON COMMIT DROP AS
        SELECT g.*, c.transform, c.sigma2, c.b_promo, c.b_before, c.b_after, c.b_cannibal,
               c.series IS NOT NULL AS fitted,
               CASE WHEN g.promo IS NULL THEN g.units
                    WHEN c.transform = 'log' THEN (1 + g.units) * exp(-(c.b_promo + c.b_depth * g.depth + c.b_featured * g.featured::int)) - 1
                    ELSE g.units - (c.b_promo + c.b_depth * g.depth + c.b_featured * g.featured::int) END AS base,
               CASE WHEN c.transform = 'log' THEN (1 + g.units) * exp(-(c.b_before * g.before::int + c.b_after * g.after::int)) - 1
                    ELSE g.units - (c.b_before * g.before::int + c.b_after * g.after::int) END AS nodip,
               CASE WHEN g.cannibal = 0 THEN g.units
                    WHEN c.transform = 'log' THEN (1 + g.units) * exp(-c.b_cannibal) - 1
                    ELSE g.units - c.b_cannibal END AS nocann
        FROM promo_grid g
        LEFT JOIN promo_coef c ON c.series = g.store_id || '/' || g.product_id;
    CREATE INDEX ON promo_r (product_id, day);
    ANALYZE promo_r;
    -- the promotion effect's own uncertainty, per series: the variance of a difference of
    -- means, sigma^2 (1 / promoted periods + 1 / periods outside promotions and dips), on the
    -- model's scale. The regression shrinks each series' coefficients toward the pooled ones,
    -- whose posterior variance is at most this: the interval errs wide, never narrow.
    CREATE TEMP TABLE promo_se ON COMMIT DROP AS
    SELECT r.store_id, r.product_id,
           max(r.sigma2) * (1.0 / nullif(count(*) FILTER (WHERE r.promo IS NOT NULL), 0)
                            + 1.0 / nullif(count(*) FILTER (WHERE r.promo IS NULL AND NOT r.before AND NOT r.after), 0))
               AS coef_var
      FROM promo_r r GROUP BY 1, 2;

    RETURN QUERY
    WITH e AS (   -- per promotion and store: the promotion window
        SELECT l.promo_id, l.product_id, l.store_id, l.starts_on, l.ends_on, l.promo_cost,
               count(r.day)::int AS periods, sum(r.units) AS units, sum(r.revenue) AS revenue,
               sum(greatest(r.base, 0)) AS base,
               -- the baseline's spread: each period's noise, plus the effect's uncertainty,
               -- which moves every period of the window together (d base / d effect is
               -- -(1 + base) on the log scale, -1 on the units' scale)
               sqrt(sum(CASE WHEN r.transform = 'log' THEN (1 + greatest(r.base, 0)) ^ 2 * r.sigma2 ELSE r.sigma2 END)
                    + coalesce(min(se.coef_var), 0)
                      * sum(CASE WHEN r.transform = 'log' THEN 1 + greatest(r.base, 0) ELSE 1 END) ^ 2) AS base_sd,
               bool_and(r.fitted) AS fitted, min(r.price) AS price, min(r.unit_cost) AS unit_cost,
               min(l.depth) AS depth
        FROM promo_list l JOIN promo_r r ON r.promo = l.promo_id AND r.product_id = l.product_id
                                AND r.store_id = l.store_id
        LEFT JOIN promo_se se ON se.store_id = l.store_id AND se.product_id = l.product_id
        GROUP BY 1, 2, 3, 4, 5, 6),
         baseline AS (   -- periods of each series outside any promotion and its dips
        SELECT g.store_id, g.product_id, count(*) AS n FROM promo_grid g
        WHERE g.promo IS NULL AND NOT g.before AND NOT g.after GROUP BY 1, 2),
         d AS (
        SELECT l.promo_id, l.product_id, l.store_id,
               sum(r.units - r.nodip) FILTER (WHERE r.before AND r.day < l.starts_on) AS dip_before,
               sum(r.units - r.nodip) FILTER (WHERE r.after AND r.day > l.ends_on) AS dip_after
        FROM promo_list l JOIN promo_r r ON r.product_id = l.product_id AND r.store_id = l.store_id
         AND r.day >= l.starts_on - dip * step AND r.day <= l.ends_on + dip * step
        GROUP BY 1, 2, 3),
         cn AS (
        SELECT l.promo_id, l.product_id, l.store_id,
               sum(r.units - r.nocann) AS units, sum((r.units - r.nocann) * (r.price - r.unit_cost)) AS margin
        FROM promo_list l JOIN promo_grid own ON own.promo = l.promo_id AND own.product_id = l.product_id
             AND own.store_id = l.store_id
        JOIN promo_r r ON r.store_id = l.store_id AND r.day = own.day
             AND r.category = own.category AND r.product_id <> l.product_id AND r.cannibal > 0
        GROUP BY 1, 2, 3),
         money AS (
        SELECT e.*, b.n AS nbase,
               CASE WHEN e.units > 0 THEN e.revenue / e.units ELSE e.price * (1 - e.depth) END AS promo_price,
               coalesce(e.promo_cost, 0) + fixed AS fixed_cost
        FROM e LEFT JOIN baseline b ON b.store_id = e.store_id AND b.product_id = e.product_id),
         v AS (
        SELECT mo.*, d.dip_before, d.dip_after, cn.units AS cann_units, cn.margin AS cann_margin,
               CASE WHEN NOT coalesce(mo.fitted, false) THEN 'no baseline: the regression left this series out (too short)'
                    WHEN coalesce(mo.nbase, 0) < min_base THEN format('no baseline: %s periods outside promotions, fewer than min_baseline %s', coalesce(mo.nbase, 0), min_base)
                    WHEN mo.price IS NULL OR mo.unit_cost IS NULL THEN 'no price or unit cost for the product: units only'
               END AS why
        FROM money mo LEFT JOIN d USING (promo_id, product_id, store_id)
        LEFT JOIN cn USING (promo_id, product_id, store_id))
    SELECT v.promo_id, v.product_id, CASE WHEN grain = 'chain' THEN NULL ELSE v.store_id END, v.starts_on, v.ends_on, v.periods, v.units,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.base END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.units - v.base END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.units - (v.base + z * v.base_sd) END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE v.units - greatest(v.base - z * v.base_sd, 0) END,
           CASE WHEN v.why LIKE 'no baseline%' OR v.base <= 0 THEN NULL ELSE v.units / v.base END,
           CASE WHEN v.why IS NULL THEN v.revenue - v.base * v.price END,
           q.im, q.im_lo, q.im_hi, q.cost,
           CASE WHEN q.cost > 0 THEN q.im / q.cost END,
           CASE WHEN q.cost > 0 THEN q.im_lo / q.cost END,   -- cost grows with the baseline: the
           CASE WHEN q.cost > 0 THEN q.im_hi / q.cost END,   -- bounds take it at its point value
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE coalesce(v.dip_before, 0) END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE coalesce(v.dip_after, 0) END,
           CASE WHEN v.why LIKE 'no baseline%' THEN NULL ELSE coalesce(v.cann_units, 0) END,
           CASE WHEN v.why IS NULL THEN coalesce(v.cann_margin, 0) END,
           CASE WHEN v.why IS NULL THEN q.im - q.cost + (coalesce(v.dip_before, 0) + coalesce(v.dip_after, 0))
                                        * (v.price - v.unit_cost) + coalesce(v.cann_margin, 0) END,
           coalesce(v.why, CASE WHEN q.cost = 0 THEN 'no cost: the promotion gave no discount and has no fixed cost' END)
    FROM v, LATERAL (SELECT
           CASE WHEN v.why IS NULL THEN (v.units - v.base) * (v.promo_price - v.unit_cost) END AS im,
           CASE WHEN v.why IS NULL THEN (v.units - v.base - z * v.base_sd) * (v.promo_price - v.unit_cost) END AS im_lo,
           CASE WHEN v.why IS NULL THEN (v.units - greatest(v.base - z * v.base_sd, 0)) * (v.promo_price - v.unit_cost) END AS im_hi,
           CASE WHEN v.why IS NULL THEN v.base * greatest(v.price - v.promo_price, 0) + v.fixed_cost END AS cost) q
    ORDER BY v.promo_id, v.product_id, v.store_id;
END
$$;
COMMENT ON FUNCTION retailiq.promotion_effects(regclass, regclass, regclass, jsonb) IS
    'per promotion, product and store: incremental units, revenue and margin against the factor regression''s counterfactual, dips, cannibalisation, cost and ROI with intervals';

-- Per campaign: the promotions' effects summed. A campaign is the promotions relation's
-- `campaign` column where it has one, else each promotion (promo_id) over its products and
-- stores. The interval of a sum takes the rows' spreads as independent (each is its series'
-- noise and its own coefficients): the square root of the summed squared half-widths.
CREATE FUNCTION retailiq.promotion_campaigns(sales regclass, promotions regclass, products regclass,
                                             options jsonb DEFAULT '{}')
RETURNS TABLE (campaign text, n_promotions int, n_products int, n_stores int, starts_on date, ends_on date,
               units float8, baseline_units float8,
               incremental_units float8, incremental_units_lower float8, incremental_units_upper float8,
               incremental_revenue float8,
               incremental_margin float8, incremental_margin_lower float8, incremental_margin_upper float8,
               cost float8, roi float8, roi_lower float8, roi_upper float8,
               dip_units float8, cannibalised_units float8, net_margin float8, rows_without_baseline int)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF sales IS NULL OR promotions IS NULL OR products IS NULL THEN
        RAISE EXCEPTION 'promotion_campaigns: sales, promotions and products must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.promotion_campaigns(''retail.daily_sales'', ''retail.promotions'', ''retail.products'').';
    END IF;
    DROP TABLE IF EXISTS promo_campaign_of;
    EXECUTE format('CREATE TEMP TABLE promo_campaign_of ON COMMIT DROP AS
                    SELECT DISTINCT p.promo_id::bigint AS promo_id,
                           coalesce(to_jsonb(p) ->> ''campaign'', p.promo_id::text) AS campaign
                      FROM %s p', promotions);
    IF EXISTS (SELECT FROM promo_campaign_of c GROUP BY c.promo_id HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'promotion_campaigns: a promotion of % belongs to two campaigns', promotions
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give each promo_id one campaign.';
    END IF;
    RETURN QUERY
    WITH e AS (SELECT c.campaign AS camp, x.*
                 FROM retailiq.promotion_effects(sales, promotions, products, options) x
                 JOIN promo_campaign_of c ON c.promo_id = x.promo_id),
         s AS (SELECT e.camp, min(e.promo_id) AS first_promo, count(DISTINCT e.promo_id)::int AS npromo, count(DISTINCT e.product_id)::int AS nprod,
                      count(DISTINCT e.store_id)::int AS nstore, min(e.starts_on) AS d0, max(e.ends_on) AS d1,
                      sum(e.units) AS u, sum(e.baseline_units) AS b,
                      sum(e.incremental_units) AS iu,
                      sqrt(sum((e.incremental_units - e.incremental_units_lower) ^ 2)) AS iu_lo,
                      sqrt(sum((e.incremental_units_upper - e.incremental_units) ^ 2)) AS iu_hi,
                      sum(e.incremental_revenue) AS ir,
                      sum(e.incremental_margin) AS im,
                      sqrt(sum((e.incremental_margin - e.incremental_margin_lower) ^ 2)) AS im_lo,
                      sqrt(sum((e.incremental_margin_upper - e.incremental_margin) ^ 2)) AS im_hi,
                      sum(e.cost) AS c,
                      sum(coalesce(e.dip_before_units, 0) + coalesce(e.dip_after_units, 0))
                          FILTER (WHERE e.baseline_units IS NOT NULL) AS dip,
                      sum(e.cannibalised_units) AS cann, sum(e.net_margin) AS net,
                      count(*) FILTER (WHERE e.baseline_units IS NULL)::int AS nobase
                 FROM e GROUP BY e.camp)
    SELECT s.camp, s.npromo, s.nprod, s.nstore, s.d0, s.d1, s.u, s.b,
           s.iu, s.iu - s.iu_lo, s.iu + s.iu_hi, s.ir, s.im, s.im - s.im_lo, s.im + s.im_hi, s.c,
           CASE WHEN s.c > 0 THEN s.im / s.c END,
           CASE WHEN s.c > 0 THEN (s.im - s.im_lo) / s.c END,
           CASE WHEN s.c > 0 THEN (s.im + s.im_hi) / s.c END,
           s.dip, s.cann, s.net, s.nobase
      FROM s ORDER BY s.first_promo, s.camp;
END
$$;
COMMENT ON FUNCTION retailiq.promotion_campaigns(regclass, regclass, regclass, jsonb) IS
    'per campaign (the promotions'' campaign column, else each promotion): promotion_effects summed, with intervals of the sums';

-- marketing: retention offers for a campaign budget. Each customer's churn probability and
-- value (from the churn part's models), the offers the retention strategy suggests for their
-- risk tier and reason, and what each offer costs and saves: expected value saved =
-- churn probability x CLV x the offer's effect, ranked, within the budget (doc/marketing.md).

-- What an offer (a retention_strategy action) costs per customer and what share of the
-- churn risk it removes. The defaults are planning assumptions: replace them with what
-- your own campaigns measured (a holdout group per offer).
CREATE TABLE retailiq.retention_offer (
    action      text PRIMARY KEY,
    cost        float8 NOT NULL CHECK (cost >= 0 AND cost < 'Infinity'),
    effect      float8 NOT NULL CHECK (effect >= 0 AND effect <= 1),
    is_default  bool NOT NULL DEFAULT false
);
COMMENT ON TABLE retailiq.retention_offer IS
    'retention action -> cost per customer and share of churn risk it removes (edit to measured values)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.retention_offer', 'WHERE NOT is_default');
-- Who reads the retention tables: every role that may call retention_offers or the churn
-- part's retention_action (both PUBLIC, running with the caller's rights, so the caller needs
-- SELECT on what they read). The tables hold configuration (tier x reason -> action, action ->
-- cost and effect, feature -> reason), no customer data; writing them stays with their owner.
GRANT SELECT ON retailiq.retention_offer, retailiq.retention_strategy, retailiq.churn_reason TO PUBLIC;

INSERT INTO retailiq.retention_offer (action, cost, effect, is_default) VALUES
    ('win-back offer: personal coupon by e-mail this week', 5, 0.15, true),
    ('loyalty bonus on the next purchase and a call from the store manager', 12, 0.25, true),
    ('coupon of 15% on the categories they buy', 8, 0.20, true),
    ('service call about the recent returns', 6, 0.20, true),
    ('re-engagement campaign with personalised recommendations', 2, 0.08, true),
    ('reminder of the abandoned cart with free delivery', 4, 0.12, true),
    ('bundle offer on complementary products', 5, 0.10, true),
    ('replenishment reminder timed to their purchase cycle', 1, 0.08, true),
    ('invite to the preferred channel (app or nearby store event)', 3, 0.08, true),
    ('welcome series with a second-purchase incentive', 4, 0.15, true),
    ('personal win-back offer', 6, 0.15, true),
    ('we-miss-you e-mail with a small incentive', 2, 0.08, true),
    ('loyalty points boost', 3, 0.08, true),
    ('early access to the next promotion', 1, 0.05, true),
    ('satisfaction survey about the returned items', 1, 0.05, true),
    ('newsletter with new arrivals in their categories', 0.2, 0.02, true),
    ('abandoned cart reminder', 0.2, 0.04, true),
    ('regular loyalty communication, watch next month', 0.1, 0.01, true),
    ('no action', 0, 0, true);

CREATE FUNCTION retailiq.retention_offers(budget float8, customers bigint[], probabilities float8[],
                                          lifetime_values float8[], reasons text[] DEFAULT NULL,
                                          thresholds float8[] DEFAULT '{0.6,0.3}')
RETURNS TABLE (rank int, customer_id bigint, tier text, reason text, offer text,
               churn_probability float8, clv float8, effect float8, cost float8,
               expected_value_saved float8, net_value float8, cumulative_cost float8,
               selected bool, why text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := cardinality(customers);
BEGIN
    IF budget IS NULL OR customers IS NULL OR probabilities IS NULL OR lifetime_values IS NULL THEN
        RAISE EXCEPTION 'retention_offers: budget, customers, probabilities and lifetime_values must not be NULL'
            USING ERRCODE = '22004', HINT = 'Build the arrays with array_agg over one row per customer.';
    END IF;
    IF NOT (budget >= 0) OR budget = 'Infinity' THEN
        RAISE EXCEPTION 'budget must be a finite number at least 0' USING ERRCODE = '22023',
            DETAIL = format('It is %s.', budget), HINT = 'The campaign''s spend on offers, in the currency of clv.';
    END IF;
    IF cardinality(probabilities) <> n OR cardinality(lifetime_values) <> n
       OR (reasons IS NOT NULL AND cardinality(reasons) <> n) THEN
        RAISE EXCEPTION 'customers, probabilities, lifetime_values and reasons must have the same length'
            USING ERRCODE = '2202E',
            DETAIL = format('Lengths %s, %s, %s, %s.', n, cardinality(probabilities), cardinality(lifetime_values),
                            coalesce(cardinality(reasons)::text, 'NULL')),
            HINT = 'Aggregate them in one query: array_agg(x ORDER BY customer_id) for each.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(probabilities) p WHERE p IS NULL OR NOT (p >= 0 AND p <= 1)) THEN
        RAISE EXCEPTION 'probabilities must hold churn probabilities from 0 to 1, without NULLs' USING ERRCODE = '22023',
            HINT = 'Use retailiq.churn_probability of a BG/NBD or logistic model.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(lifetime_values) v WHERE v IS NULL OR v = 'NaN' OR v IN ('Infinity', '-Infinity'))
       OR EXISTS (SELECT 1 FROM unnest(customers) c WHERE c IS NULL) THEN
        RAISE EXCEPTION 'lifetime_values must hold finite numbers and customers no NULLs' USING ERRCODE = '22023',
            HINT = 'Use retailiq.clv; leave out customers without a value.';
    END IF;

    RETURN QUERY
    WITH c AS (
        SELECT u.cid, u.p, u.v, coalesce(u.why, 'general') AS reason,
               retailiq.churn_risk(u.p, thresholds) AS tier
        FROM unnest(customers, probabilities, lifetime_values, coalesce(reasons, array_fill(NULL::text, ARRAY[n])))
             AS u(cid, p, v, why)),
         o AS (   -- every offer the strategy allows for the customer's tier and reason: the best net value
        SELECT DISTINCT ON (c.cid) c.*, s.action, f.effect, f.cost,
               c.p * greatest(c.v, 0) * f.effect AS saved,
               c.p * greatest(c.v, 0) * f.effect - f.cost AS net
        FROM c JOIN retailiq.retention_strategy s ON s.tier = c.tier AND s.reason IN (c.reason, 'general')
               JOIN retailiq.retention_offer f ON f.action = s.action
        WHERE f.cost > 0
        ORDER BY c.cid, c.p * greatest(c.v, 0) * f.effect - f.cost DESC, s.reason = 'general', s.action),
         ranked AS (
        SELECT o.*, row_number() OVER (ORDER BY o.saved / o.cost DESC, o.net DESC, o.cid) AS rk
        FROM o WHERE o.net > 0),
         run AS (
        SELECT r.*, sum(r.cost) OVER (ORDER BY r.rk) AS cum FROM ranked r)
    SELECT r.rk::int, r.cid, r.tier, r.reason, r.action, r.p, r.v, r.effect, r.cost, r.saved, r.net,
           r.cum, r.cum <= budget,
           format('churn probability %s (%s risk), CLV %s, reason %s: "%s" removes %s%% of the risk, saving %s for %s (%s per unit spent)%s',
                  round(r.p::numeric, 2), r.tier, round(r.v::numeric, 2), r.reason, r.action,
                  round((100 * r.effect)::numeric), round(r.saved::numeric, 2), round(r.cost::numeric, 2),
                  round((r.saved / r.cost)::numeric, 2),
                  CASE WHEN r.cum > budget THEN '; over the budget' ELSE '' END)
    FROM run r ORDER BY r.rk;
END
$$;
COMMENT ON FUNCTION retailiq.retention_offers(float8, bigint[], float8[], float8[], text[], float8[]) IS
    'which customers get which retention offer within a budget: churn probability x CLV x effect, ranked by value per cost, with the reason';
-- privileges: the last part of the install script, run after every part has created its
-- objects.
--
-- Aggregate support functions (transition, combine, serialize, deserialize, final; all in
-- schema retailiq_internal, named <what>_accum/_combine/_serialize/_deserialize/_final) are
-- nobody's to call: PostgreSQL checks EXECUTE on them against the aggregate's owner (the
-- role that created the extension), not against the caller, so retailiq's own aggregates
-- keep working for every role while no other role can wrap a support function in an
-- aggregate of its own and hand it a state it forged (CREATE AGGREGATE checks the
-- creator's EXECUTE right). The C functions still check every state they are given.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT DISTINCT fn::regprocedure
        FROM pg_catalog.pg_aggregate a
        JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
        CROSS JOIN LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn),
                                   (a.aggserialfn), (a.aggdeserialfn), (a.aggmtransfn),
                                   (a.aggminvtransfn), (a.aggmfinalfn)) s(fn)
        WHERE p.pronamespace = 'retailiq'::regnamespace AND s.fn <> 0
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- Every other function in retailiq_internal is machinery too: triggers, the helpers of the
-- API's plpgsql functions, developer checks. None is executable by PUBLIC, except the
-- helpers below: API functions that run with the caller's rights (so that the caller's
-- table privileges, row security and masking apply to what they read) call them, and
-- PostgreSQL checks EXECUTE against the caller. Each takes only its arguments, reads or
-- writes nothing the caller could not, and checks its input as the API does. Trigger
-- functions need no grant (EXECUTE is checked when a trigger is created, not when it fires).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA retailiq_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA retailiq_internal TO PUBLIC;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'retailiq_internal'::regnamespace
          AND p.proname = ANY (ARRAY[
            -- distributed association rules (assoc_rules_distributed, issue 19)
            'basket_item_set', 'itemset_count',
            -- its support functions: Citus checks EXECUTE on them for the calling role
            'itemset_count_accum', 'itemset_count_combine', 'itemset_count_final',
            -- forecasting operations (refresh_forecasts, backtest, register_sales_source)
            'check_horizons', 'column_base_type', 'forecast_grain', 'forecast_methods',
            'forecast_method_table', 'refresh_source', 'sales_source_fit_query',
            'sales_source_future_exog', 'sales_source_ops_keys', 'sales_source_options',
            'sales_source_query', 'forecast_progress_rows', 'forecast_fit_method',
            -- the two-person rule of sales sources, forecast health and slow movers (issue 24)
            'sales_source_change', 'forecast_issued_record', 'planning_threshold',
            'planning_threshold_table', 'sales_source_named', 'sales_source_last_date',
            'forecast_health_rows', 'forecast_refit_series', 'product_rules',
            -- the source registry's readers (reports, behaviour, churn features, basket)
            'source_column', 'source_contract', 'source_relation', 'source_require',
            'source_row', 'source_sql',
            -- reports and behaviour
            'check_period', 'fmt', 'html', 'svg_bars', 'svg_lines', 'report_bad_grain',
            'report_forecasts', 'report_grain', 'report_range',
            -- the stored days of the reports (src/reports/report_days.sql)
            'report_customers_live', 'report_customers_rows', 'report_day_customers_live',
            'report_day_dwell_live', 'report_day_funnel_live', 'report_day_rows',
            'report_day_sales_live', 'report_days_readable', 'report_dwell_rows', 'report_gaps',
            'report_sources',
            'model_or_null', 'tag_candidates_sql', 'tag_event_filter',
            -- replenishment (replenishment_plan, replenishment_backtest, the row security
            -- of purchase_order, order_plan and replenishment_parameter)
            'replenishment_order', 'replenishment_simulate', 'replenishment_all_stores',
            'replenishment_defaults',
            -- the scheduler's API (schedule, alter_job, run_job, unschedule, wait_for_job)
            'job_check_session', 'job_not_found',
            -- masking functions (mask_partial) and generate_sample_data
            'privacy_bad_argument',
            'sample_calendar', 'sample_customers', 'sample_events', 'sample_inventory_daily',
            'sample_order_lines', 'sample_orders', 'sample_products', 'sample_promotions',
            'sample_rules', 'sample_stores', 'sample_zones',
            -- marketing (promotion_effects)
            'promotion_coefficients'])
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$$;
