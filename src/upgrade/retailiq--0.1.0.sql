-- core: the schema, the retailiq.model type and the model store.

\echo Use "CREATE EXTENSION retailiq" to load this file. \quit

CREATE SCHEMA retailiq;
COMMENT ON SCHEMA retailiq IS 'retailiq: retail analytics inside PostgreSQL';
GRANT USAGE ON SCHEMA retailiq TO PUBLIC;

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
-- sample: a realistic retail schema with planted structure, for demos, tests and benchmarks.

-- Internal row sources (one per table); generate_sample_data() is the entry point.
CREATE FUNCTION retailiq._sample_customers(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (customer_id int, full_name text, phone text, email text, birth_date date,
               gender text, city text, home_store_id int, signup_date date,
               customer_type text, churn_date date)
AS 'MODULE_PATHNAME', 'sample_customers' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 10000;
CREATE FUNCTION retailiq._sample_stores(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (store_id int, name text, city text, region text, opened_on date, size_sqm int)
AS 'MODULE_PATHNAME', 'sample_stores' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION retailiq._sample_zones(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (store_id int, zone_id int, zone_name text, category text)
AS 'MODULE_PATHNAME', 'sample_zones' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 200;
CREATE FUNCTION retailiq._sample_products(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (product_id int, sku text, name text, category text, brand text, price numeric, unit_cost numeric)
AS 'MODULE_PATHNAME', 'sample_products' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 500;
CREATE FUNCTION retailiq._sample_promotions(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (promo_id int, product_id int, store_id int, starts_on date, ends_on date,
               discount_pct numeric, featured bool)
AS 'MODULE_PATHNAME', 'sample_promotions' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 4000;
CREATE FUNCTION retailiq._sample_calendar(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (day date, dow int, is_weekend bool, is_holiday bool, holiday_name text, temperature_c numeric)
AS 'MODULE_PATHNAME', 'sample_calendar' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 730;
CREATE FUNCTION retailiq._sample_rules(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (antecedent_product_id int, consequent_product_id int, probability float8)
AS 'MODULE_PATHNAME', 'sample_rules' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 25;
CREATE FUNCTION retailiq._sample_orders(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (order_id bigint, customer_id int, store_id int, channel text, ordered_at timestamptz,
               item_count int, total_amount numeric, discount_amount numeric)
AS 'MODULE_PATHNAME', 'sample_orders' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 400000;
CREATE FUNCTION retailiq._sample_order_lines(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (order_id bigint, line_no int, product_id int, quantity int, unit_price numeric,
               discount numeric, promo_id int, returned bool)
AS 'MODULE_PATHNAME', 'sample_order_lines' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 2000000;
CREATE FUNCTION retailiq._sample_events(customers int, stores int, products int, days int, seed int)
RETURNS TABLE (event_id bigint, customer_id int, store_id int, channel text, event_type text,
               product_id int, zone_id int, occurred_at timestamptz, duration_s int)
AS 'MODULE_PATHNAME', 'sample_events' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 2000000;
CREATE FUNCTION retailiq._sample_inventory_daily(customers int, stores int, products int, days int, seed int)
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

    -- each step creates a table and fills it; the row count comes from the fill itself
    FOREACH step IN ARRAY ARRAY[
      'stores|CREATE TABLE %1$s.stores (
        store_id int PRIMARY KEY, name text NOT NULL, city text NOT NULL, region text NOT NULL,
        opened_on date NOT NULL, size_sqm int NOT NULL)
      |INSERT INTO %1$s.stores SELECT * FROM retailiq._sample_stores%2$s',
      'store_zones|CREATE TABLE %1$s.store_zones (
        store_id int REFERENCES %1$s.stores, zone_id int, zone_name text NOT NULL, category text,
        PRIMARY KEY (store_id, zone_id))
      |INSERT INTO %1$s.store_zones SELECT * FROM retailiq._sample_zones%2$s',
      'products|CREATE TABLE %1$s.products (
        product_id int PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL,
        category text NOT NULL, brand text NOT NULL, price numeric(10,2) NOT NULL,
        unit_cost numeric(10,2) NOT NULL)
      |INSERT INTO %1$s.products SELECT * FROM retailiq._sample_products%2$s',
      'calendar|CREATE TABLE %1$s.calendar (
        day date PRIMARY KEY, dow int NOT NULL, is_weekend bool NOT NULL, is_holiday bool NOT NULL,
        holiday_name text, temperature_c numeric(4,1) NOT NULL)
      |INSERT INTO %1$s.calendar SELECT * FROM retailiq._sample_calendar%2$s',
      'promotions|CREATE TABLE %1$s.promotions (
        promo_id int PRIMARY KEY, product_id int NOT NULL REFERENCES %1$s.products,
        store_id int REFERENCES %1$s.stores, starts_on date NOT NULL, ends_on date NOT NULL,
        discount_pct numeric(5,2) NOT NULL, featured bool NOT NULL)
      |INSERT INTO %1$s.promotions SELECT * FROM retailiq._sample_promotions%2$s',
      'customers|CREATE TABLE %1$s.customers (
        customer_id int PRIMARY KEY, full_name text NOT NULL, phone text NOT NULL,
        email text NOT NULL, birth_date date NOT NULL, gender text NOT NULL, city text NOT NULL,
        home_store_id int NOT NULL REFERENCES %1$s.stores, signup_date date NOT NULL);
       CREATE TEMP TABLE _riq_customers ON COMMIT DROP AS SELECT * FROM retailiq._sample_customers%2$s
      |INSERT INTO %1$s.customers SELECT customer_id, full_name, phone, email, birth_date, gender,
        city, home_store_id, signup_date FROM _riq_customers',
      'planted_customers|CREATE TABLE %1$s.planted_customers (
        customer_id int PRIMARY KEY REFERENCES %1$s.customers, customer_type text NOT NULL,
        churn_date date)
      |INSERT INTO %1$s.planted_customers SELECT customer_id, customer_type, churn_date FROM _riq_customers',
      'planted_rules|CREATE TABLE %1$s.planted_rules (
        antecedent_product_id int REFERENCES %1$s.products,
        consequent_product_id int REFERENCES %1$s.products, probability float8 NOT NULL,
        PRIMARY KEY (antecedent_product_id, consequent_product_id))
      |INSERT INTO %1$s.planted_rules SELECT * FROM retailiq._sample_rules%2$s',
      'orders|CREATE TABLE %1$s.orders (
        order_id bigint NOT NULL, customer_id int NOT NULL, store_id int NOT NULL,
        channel text NOT NULL, ordered_at timestamptz NOT NULL, item_count int NOT NULL,
        total_amount numeric(12,2) NOT NULL, discount_amount numeric(12,2) NOT NULL)
      |INSERT INTO %1$s.orders SELECT * FROM retailiq._sample_orders%2$s',
      'order_lines|CREATE TABLE %1$s.order_lines (
        order_id bigint NOT NULL, line_no int NOT NULL, product_id int NOT NULL,
        quantity int NOT NULL, unit_price numeric(10,2) NOT NULL, discount numeric(10,2) NOT NULL,
        promo_id int, returned bool NOT NULL)
      |INSERT INTO %1$s.order_lines SELECT * FROM retailiq._sample_order_lines%2$s',
      'events|CREATE TABLE %1$s.events (
        event_id bigint NOT NULL, customer_id int NOT NULL, store_id int, channel text NOT NULL,
        event_type text NOT NULL, product_id int, zone_id int, occurred_at timestamptz NOT NULL,
        duration_s int)
      |INSERT INTO %1$s.events SELECT * FROM retailiq._sample_events%2$s',
      'inventory_daily|CREATE TABLE %1$s.inventory_daily (
        day date NOT NULL, store_id int NOT NULL, product_id int NOT NULL, on_hand int NOT NULL,
        received int NOT NULL, sold int NOT NULL);
       CREATE TEMP TABLE _riq_inventory ON COMMIT DROP AS
         SELECT * FROM retailiq._sample_inventory_daily%2$s
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

CREATE FUNCTION retailiq.rfm_accum_numeric(internal, timestamptz, numeric, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_accum_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_accum_float8(internal, timestamptz, float8, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_accum_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_final(internal) RETURNS retailiq.rfm
    AS 'MODULE_PATHNAME', 'rfm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.rfm_agg(ordered_at timestamptz, amount numeric, as_of timestamptz) (
    SFUNC = retailiq.rfm_accum_numeric, STYPE = internal, SSPACE = 160, FINALFUNC = retailiq.rfm_final,
    COMBINEFUNC = retailiq.rfm_combine, SERIALFUNC = retailiq.rfm_serialize,
    DESERIALFUNC = retailiq.rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.rfm_agg(ordered_at timestamptz, amount float8, as_of timestamptz) (
    SFUNC = retailiq.rfm_accum_float8, STYPE = internal, SSPACE = 64, FINALFUNC = retailiq.rfm_final,
    COMBINEFUNC = retailiq.rfm_combine, SERIALFUNC = retailiq.rfm_serialize,
    DESERIALFUNC = retailiq.rfm_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rfm_agg(timestamptz, numeric, timestamptz) IS
    'recency (days), frequency and monetary value of one customer''s orders as of a date';

CREATE FUNCTION retailiq.rfm_breaks_accum(internal, retailiq.rfm) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_breaks_accum(internal, retailiq.rfm, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_breaks_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_breaks_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_breaks_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_breaks_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.rfm_breaks_final(internal) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'rfm_breaks_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.rfm_breaks(rfm retailiq.rfm) (
    SFUNC = retailiq.rfm_breaks_accum, STYPE = internal, FINALFUNC = retailiq.rfm_breaks_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.rfm_breaks_combine, SERIALFUNC = retailiq.rfm_breaks_serialize,
    DESERIALFUNC = retailiq.rfm_breaks_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.rfm_breaks(rfm retailiq.rfm, bins int) (
    SFUNC = retailiq.rfm_breaks_accum, STYPE = internal, FINALFUNC = retailiq.rfm_breaks_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.rfm_breaks_combine, SERIALFUNC = retailiq.rfm_breaks_serialize,
    DESERIALFUNC = retailiq.rfm_breaks_deserialize, PARALLEL = SAFE);
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
    RETURN QUERY EXECUTE format(
        'WITH c AS (SELECT %1$I::bigint AS cid, retailiq.rfm_agg(%2$I, %3$I, $1) AS v
                      FROM %4$s GROUP BY 1),
              c2 AS (SELECT * FROM c WHERE v IS NOT NULL),
              b AS (SELECT retailiq.rfm_breaks(v, $2) AS br FROM c2)
         SELECT c2.cid, (c2.v).recency_days, (c2.v).frequency, (c2.v).monetary,
                (s.sc).r, (s.sc).f, (s.sc).m, (s.sc).rfm_code, (s.sc).segment
           FROM c2 CROSS JOIN b
                CROSS JOIN LATERAL (SELECT retailiq.rfm_score(c2.v, b.br) AS sc) s',
        customer_column, time_column, amount_column, orders)
    USING as_of, bins;
END
$$;
COMMENT ON FUNCTION retailiq.rfm_segments(regclass, timestamptz, int, name, name, name) IS
    'RFM scores and segment of every customer in an orders table';

-- k-means. Aggregates take no DEFAULTs, so each optional argument has its own overload.
CREATE FUNCTION retailiq.kmeans_segment_accum(internal, float8[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_segment_accum(internal, float8[], int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_segment_accum(internal, float8[], int, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_segment_accum(internal, float8[], int, int, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_segment_accum(internal, float8[], int, int, int, int, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_segment_accum(internal, float8[], int, int, int, int, float8, bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_buf_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_buf_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_buf_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_buf_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_buf_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_buf_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_segment_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'kmeans_segment_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int) (
    SFUNC = retailiq.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int) (
    SFUNC = retailiq.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int) (
    SFUNC = retailiq.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int) (
    SFUNC = retailiq.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int,
                                         tol float8) (
    SFUNC = retailiq.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int,
                                         tol float8, standardize bool) (
    SFUNC = retailiq.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
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

CREATE FUNCTION retailiq.kmeans_silhouette_accum(internal, float8[], retailiq.model) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_silhouette_accum(internal, float8[], retailiq.model, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_silhouette_accum(internal, float8[], retailiq.model, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_silhouette_final(internal) RETURNS float8
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model) (
    SFUNC = retailiq.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model, sample_size int) (
    SFUNC = retailiq.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model, sample_size int,
                                            seed int) (
    SFUNC = retailiq.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.kmeans_buf_combine, SERIALFUNC = retailiq.kmeans_buf_serialize,
    DESERIALFUNC = retailiq.kmeans_buf_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_silhouette(float8[], retailiq.model) IS
    'mean silhouette of the rows under a k-means model: exact up to sample_size rows, sampled beyond';

-- Streaming k-means: one Lloyd pass as an aggregate with a bytea (varlena) state of
-- per-center partial sums, so parallel workers and Citus workers can each run part of it.
CREATE FUNCTION retailiq.kmeans_pass_accum(bytea, float8[], retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_pass_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_pass_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_pass_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.kmeans_pass_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'kmeans_pass_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.kmeans_pass(features float8[], model retailiq.model) (
    SFUNC = retailiq.kmeans_pass_accum, STYPE = bytea, FINALFUNC = retailiq.kmeans_pass_final,
    COMBINEFUNC = retailiq.kmeans_pass_combine, PARALLEL = SAFE);
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
CREATE FUNCTION retailiq._basket_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._basket_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'basket_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq._basket_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_final(internal) RETURNS retailiq.itemset[]
    AS 'MODULE_PATHNAME', 'basket_itemsets_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_final_bigint(internal) RETURNS retailiq.itemset_bigint[]
    AS 'MODULE_PATHNAME', 'basket_itemsets_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_final(internal) RETURNS retailiq.rule[]
    AS 'MODULE_PATHNAME', 'basket_rules_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_final_bigint(internal) RETURNS retailiq.rule_bigint[]
    AS 'MODULE_PATHNAME', 'basket_rules_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- transition functions, one per argument list (an aggregate cannot have defaults)
CREATE FUNCTION retailiq._itemsets_trans(internal, text[], float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_trans(internal, text[], float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_trans(internal, bigint[], float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_trans(internal, bigint[], float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_trans(internal, text[], float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_trans(internal, text[], float8, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_trans(internal, text[], float8, float8, int, float8, int, bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_trans(internal, bigint[], float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_trans(internal, bigint[], float8, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_trans(internal, bigint[], float8, float8, int, float8, int, bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_lines_trans(internal, bigint, text, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_lines_trans(internal, bigint, text, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_lines_trans(internal, bigint, bigint, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._itemsets_lines_trans(internal, bigint, bigint, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_itemsets_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_lines_trans(internal, bigint, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_lines_trans(internal, bigint, text, float8, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_lines_trans(internal, bigint, bigint, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rules_lines_trans(internal, bigint, bigint, float8, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'basket_rules_pairs_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- frequent_itemsets(items, min_support [, max_len])
CREATE AGGREGATE retailiq.frequent_itemsets(items text[], min_support float8) (
    SFUNC = retailiq._itemsets_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items text[], min_support float8, max_len int) (
    SFUNC = retailiq._itemsets_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items bigint[], min_support float8) (
    SFUNC = retailiq._itemsets_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets(items bigint[], min_support float8, max_len int) (
    SFUNC = retailiq._itemsets_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);

-- assoc_rules(items, min_support, min_confidence [, max_len [, min_lift, max_consequent, empty_antecedent]])
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8) (
    SFUNC = retailiq._rules_trans, STYPE = internal, FINALFUNC = retailiq._rules_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq._rules_trans, STYPE = internal, FINALFUNC = retailiq._rules_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items text[], min_support float8, min_confidence float8, max_len int,
                                      min_lift float8, max_consequent int, empty_antecedent bool) (
    SFUNC = retailiq._rules_trans, STYPE = internal, FINALFUNC = retailiq._rules_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8) (
    SFUNC = retailiq._rules_trans, STYPE = internal, FINALFUNC = retailiq._rules_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq._rules_trans, STYPE = internal, FINALFUNC = retailiq._rules_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules(items bigint[], min_support float8, min_confidence float8, max_len int,
                                      min_lift float8, max_consequent int, empty_antecedent bool) (
    SFUNC = retailiq._rules_trans, STYPE = internal, FINALFUNC = retailiq._rules_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);

-- the same over order lines: one row per (order id, item), no array_agg needed
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item text, min_support float8) (
    SFUNC = retailiq._itemsets_lines_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item text, min_support float8, max_len int) (
    SFUNC = retailiq._itemsets_lines_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item bigint, min_support float8) (
    SFUNC = retailiq._itemsets_lines_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.frequent_itemsets_lines(order_id bigint, item bigint, min_support float8, max_len int) (
    SFUNC = retailiq._itemsets_lines_trans, STYPE = internal, FINALFUNC = retailiq._itemsets_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item text, min_support float8, min_confidence float8) (
    SFUNC = retailiq._rules_lines_trans, STYPE = internal, FINALFUNC = retailiq._rules_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item text, min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq._rules_lines_trans, STYPE = internal, FINALFUNC = retailiq._rules_final,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item bigint, min_support float8, min_confidence float8) (
    SFUNC = retailiq._rules_lines_trans, STYPE = internal, FINALFUNC = retailiq._rules_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.assoc_rules_lines(order_id bigint, item bigint, min_support float8, min_confidence float8, max_len int) (
    SFUNC = retailiq._rules_lines_trans, STYPE = internal, FINALFUNC = retailiq._rules_final_bigint,
    COMBINEFUNC = retailiq._basket_combine, SERIALFUNC = retailiq._basket_serialize,
    DESERIALFUNC = retailiq._basket_deserialize, PARALLEL = SAFE);

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
-- forecast, baselines: the shared series collector's support functions, the statistical
-- baselines (seasonal naive, ETS, Croston/SBA, auto) and the forecast dispatchers.

-- The collector state (series.c) is shared by every forecasting aggregate: these three
-- functions make each of them PARALLEL SAFE.
CREATE FUNCTION retailiq.forecast_collect_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_collect_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'forecast_collect_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_collect_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- What a forecasting aggregate sees: frequency, season and one entry per series
-- (start, end, length after gap filling, filled periods, sum).
CREATE FUNCTION retailiq._forecast_series_summary_sfunc(internal, text, date, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._forecast_series_summary_sfunc(internal, text, date, float8, float8[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._forecast_series_summary_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'forecast_series_summary_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8) (
    SFUNC = retailiq._forecast_series_summary_sfunc, STYPE = internal,
    FINALFUNC = retailiq._forecast_series_summary_final,
    COMBINEFUNC = retailiq.forecast_collect_combine,
    SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq._forecast_series_summary_sfunc, STYPE = internal,
    FINALFUNC = retailiq._forecast_series_summary_final,
    COMBINEFUNC = retailiq.forecast_collect_combine,
    SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_series_summary(text, date, float8, float8[], jsonb) IS
    'the panel a forecasting aggregate would train on: frequency, season, per-series length and gaps';

-- forecast_fit: the statistical baselines, one model for every series of the group.
CREATE FUNCTION retailiq._forecast_fit_sfunc(internal, text, date, float8, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._forecast_fit_sfunc(internal, text, date, float8, text, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._forecast_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_fit(series text, ts date, y float8, method text) (
    SFUNC = retailiq._forecast_fit_sfunc, STYPE = internal,
    FINALFUNC = retailiq._forecast_fit_final,
    COMBINEFUNC = retailiq.forecast_collect_combine,
    SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_fit(series text, ts date, y float8, method text, options jsonb) (
    SFUNC = retailiq._forecast_fit_sfunc, STYPE = internal,
    FINALFUNC = retailiq._forecast_fit_final,
    COMBINEFUNC = retailiq.forecast_collect_combine,
    SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_fit(text, date, float8, text, jsonb) IS
    'fit a statistical forecasting model (snaive, ets, croston, sba, auto) to every series of the group';

CREATE FUNCTION retailiq._forecast_stat(model retailiq.model, series text, horizon int)
    RETURNS TABLE (step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_stat_predict' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 12;
CREATE FUNCTION retailiq._forecast_stat_all(model retailiq.model, horizon int)
    RETURNS TABLE (series text, step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_stat_predict_all' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_model_series(model retailiq.model)
    RETURNS TABLE (series text, method text, n int, alpha float8, beta float8, gamma float8,
                   phi float8, sigma2 float8, aicc float8, season int)
    AS 'MODULE_PATHNAME', 'forecast_model_series' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.forecast_model_series(retailiq.model) IS
    'per series of a forecast_fit model: the method chosen and its parameters';

-- The dispatchers: a model from forecast_fit is predicted here, an LSTM model by the
-- LSTM part's functions (called dynamically, so either part may be installed first).
CREATE FUNCTION retailiq.forecast(model retailiq.model, series text, horizon int,
                                  future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF model IS NULL OR series IS NULL OR horizon IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = format('%s must not be NULL',
                             CASE WHEN model IS NULL THEN 'model' WHEN series IS NULL THEN 'series' ELSE 'horizon' END);
    END IF;
    IF retailiq.model_kind(model) = 'lstm' THEN
        RETURN QUERY EXECUTE 'SELECT * FROM retailiq.forecast_lstm($1, $2, $3, $4)'
            USING model, series, horizon, future_exog;
    ELSE
        RETURN QUERY SELECT * FROM retailiq._forecast_stat(model, series, horizon);
    END IF;
END $$;
COMMENT ON FUNCTION retailiq.forecast(retailiq.model, text, int, float8[]) IS
    'forecast one series of a forecasting model (forecast_fit or forecast_lstm_fit) horizon periods ahead';

CREATE FUNCTION retailiq.forecast_all(model retailiq.model, horizon int,
                                      future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (series text, step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF model IS NULL OR horizon IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = format('%s must not be NULL', CASE WHEN model IS NULL THEN 'model' ELSE 'horizon' END);
    END IF;
    IF retailiq.model_kind(model) = 'lstm' THEN
        RETURN QUERY EXECUTE 'SELECT * FROM retailiq.forecast_lstm_all($1, $2, $3)'
            USING model, horizon, future_exog;
    ELSE
        RETURN QUERY SELECT * FROM retailiq._forecast_stat_all(model, horizon);
    END IF;
END $$;
COMMENT ON FUNCTION retailiq.forecast_all(retailiq.model, int, float8[]) IS
    'forecast every series of a forecasting model horizon periods ahead';

-- For tests against a reference implementation: one ETS form with given parameters and
-- initial state (nothing estimated) -> {loglik, yhat[1..h], lower[1..h], upper[1..h]}.
CREATE FUNCTION retailiq._ets_check(y float8[], m int, model text, par float8[], init float8[],
                                    h int, level float8 DEFAULT 0.8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'forecast_ets_check' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
-- forecast, LSTM: a global LSTM forecaster over many series (lstm_net.c, lstm_train.c,
-- lstm_sql.c). See doc/forecast-lstm.md.

CREATE FUNCTION retailiq.forecast_lstm_gradient_check(seed int, layers int DEFAULT 1) RETURNS float8
    AS 'MODULE_PATHNAME', 'forecast_lstm_gradient_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.forecast_lstm_gradient_check(int, int) IS
    'largest relative error of the LSTM backward pass against finite differences on a small random network (a self-test)';

-- forecast_lstm_fit(series, ts, y [, exog [, options]]): one global model over every
-- series of the group. The rows are gathered by the shared series collector
-- (forecast_collect_*), so the aggregate runs in parallel like every forecasting aggregate.
CREATE FUNCTION retailiq.forecast_lstm_fit_accum(internal, text, date, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_lstm_fit_accum(internal, text, date, float8, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_lstm_fit_accum(internal, text, date, float8, float8[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_lstm_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8) (
    SFUNC = retailiq.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.forecast_collect_combine, SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8, exog float8[]) (
    SFUNC = retailiq.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.forecast_collect_combine, SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq.forecast_collect_combine, SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
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
-- forecast accuracy: WAPE, MAPE, sMAPE, bias, RMSE, MASE, RMSSE and interval coverage as
-- parallel-safe aggregates over (actual, forecast) rows, and the seasonal-naive scale that
-- MASE and RMSSE divide by (accuracy.c; doc/forecast-operations.md).
--
-- Each state is a short float8[] (n and sums) with one shared combine function: no
-- serialize/deserialize needed, and Citus can split them too. Rows with a NULL argument are
-- left out (STRICT transition functions); NaN and infinities are errors; no rows -> NULL.

CREATE FUNCTION retailiq._accuracy_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_combine' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._accuracy_mean_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_mean_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._accuracy_root_mean_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_root_mean_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._accuracy_wape_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_wape_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION retailiq._wape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_wape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._mape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_mape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._smape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_smape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._bias_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_bias_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rmse_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_rmse_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._mase_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_mase_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._rmsse_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_rmsse_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._coverage_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_coverage_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.wape(actual float8, forecast float8) (
    SFUNC = retailiq._wape_accum, STYPE = float8[], INITCOND = '{0,0,0}',
    FINALFUNC = retailiq._accuracy_wape_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.wape(float8, float8) IS
    'weighted absolute percentage error sum|actual - forecast| / sum|actual| (a fraction); NULL when every actual is 0';

CREATE AGGREGATE retailiq.mape(actual float8, forecast float8) (
    SFUNC = retailiq._mape_accum, STYPE = float8[], INITCOND = '{0,0,0}',
    FINALFUNC = retailiq._accuracy_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.mape(float8, float8) IS
    'mean absolute percentage error mean(|actual - forecast| / |actual|) (a fraction); rows with actual 0 are left out';

CREATE AGGREGATE retailiq.smape(actual float8, forecast float8) (
    SFUNC = retailiq._smape_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq._accuracy_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.smape(float8, float8) IS
    'symmetric MAPE mean(2|actual - forecast| / (|actual| + |forecast|)), in [0, 2]; a 0/0 term counts 0';

CREATE AGGREGATE retailiq.bias(actual float8, forecast float8) (
    SFUNC = retailiq._bias_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq._accuracy_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.bias(float8, float8) IS
    'mean error mean(forecast - actual): positive when the forecast runs high';

CREATE AGGREGATE retailiq.rmse(actual float8, forecast float8) (
    SFUNC = retailiq._rmse_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq._accuracy_root_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rmse(float8, float8) IS
    'root mean squared error sqrt(mean((actual - forecast)^2))';

CREATE AGGREGATE retailiq.mase(actual float8, forecast float8, scale float8) (
    SFUNC = retailiq._mase_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq._accuracy_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.mase(float8, float8, float8) IS
    'mean absolute scaled error mean(|actual - forecast| / scale), scale = retailiq.naive_scale(history, season)';

CREATE AGGREGATE retailiq.rmsse(actual float8, forecast float8, scale float8) (
    SFUNC = retailiq._rmsse_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq._accuracy_root_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rmsse(float8, float8, float8) IS
    'root mean squared scaled error sqrt(mean((actual - forecast)^2 / scale)), scale = retailiq.naive_scale(history, season, true)';

CREATE AGGREGATE retailiq.coverage(actual float8, lower float8, upper float8) (
    SFUNC = retailiq._coverage_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq._accuracy_mean_final, COMBINEFUNC = retailiq._accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.coverage(float8, float8, float8) IS
    'share of actuals inside their prediction interval [lower, upper]';

CREATE FUNCTION retailiq.naive_scale(y float8[], season int, squared boolean DEFAULT false)
RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_naive_scale' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.naive_scale(float8[], int, boolean) IS
    'in-sample seasonal-naive error of a history (oldest first): mean |y[t] - y[t-season]| (the MASE scale), or the mean square with squared (the RMSSE scale)';
-- forecast operations: registered sales sources, the nightly refresh that writes
-- retailiq.forecast_result, and rolling-origin backtests (doc/forecast-operations.md).
--
-- Everything here is SQL over the forecasting values (forecast_fit, forecast_all, the
-- accuracy aggregates): SECURITY INVOKER, so a source is read with the caller's rights, and
-- search_path pinned, so relation names print schema-qualified into the dynamic SQL and no
-- object of the caller's schemas can stand in for ours. Identifiers are quoted with %I;
-- values travel as parameters.

-- Methods a source may name: forecast_fit's, and the LSTM (forecast_lstm_fit).
CREATE FUNCTION retailiq._forecast_methods() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['snaive', 'ets', 'croston', 'sba', 'auto', 'lstm'] $$;

-- Option keys that belong to the operations layer; every other key goes to the fit.
CREATE FUNCTION retailiq._sales_source_ops_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['max_model_age', 'history_days', 'steps', 'keep_days'] $$;

CREATE TABLE retailiq.sales_source (
    name              text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    relation          regclass    NOT NULL,
    series_column     name        NOT NULL,
    date_column       name        NOT NULL,
    value_column      name        NOT NULL,
    exog_columns      name[]      NOT NULL DEFAULT '{}',
    method            text        NOT NULL DEFAULT 'auto'
                                  CHECK (method = ANY (retailiq._forecast_methods())),
    options           jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    registered_by     name        NOT NULL DEFAULT current_user,
    registered_at     timestamptz NOT NULL DEFAULT now(),
    min_model_version int         NOT NULL DEFAULT 1 CHECK (min_model_version >= 1),
    last_refreshed_at timestamptz,
    last_model_version int,
    last_model_reused boolean,
    last_rows         bigint
);
COMMENT ON TABLE retailiq.sales_source IS
    'sales sources the nightly forecast refreshes: a relation with series, date, quantity and factor columns, a method and options';
SELECT pg_catalog.pg_extension_config_dump('retailiq.sales_source', '');
GRANT SELECT ON retailiq.sales_source TO PUBLIC;

-- Checks the operations keys of a source's options; returns the options the fit gets.
CREATE FUNCTION retailiq._sales_source_options(options jsonb) RETURNS jsonb
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
    RETURN options - retailiq._sales_source_ops_keys();
END
$$;

-- The base type of a column's type (through domains).
CREATE FUNCTION retailiq._column_base_type(rel regclass, col name) RETURNS regtype
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
                                               options jsonb DEFAULT '{}')
RETURNS retailiq.sales_source
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r retailiq.sales_source;
    c record;
    typ regtype;
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
    IF NOT method = ANY (retailiq._forecast_methods()) THEN
        RAISE EXCEPTION 'method "%" is not a forecasting method', method
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of ' || array_to_string(retailiq._forecast_methods(), ', ') || '.';
    END IF;
    IF cardinality(exog_columns) > 0 AND method <> 'lstm' THEN
        RAISE EXCEPTION 'exog_columns are used only by method lstm'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('method is %s, exog_columns are %s.', method, exog_columns),
                  HINT = 'Register with method => ''lstm'', or without exog_columns.';
    END IF;
    PERFORM retailiq._sales_source_options(options);
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
             ORDER BY 1 LOOP
        IF c.col IS NULL THEN
            RAISE EXCEPTION 'exog_columns must not contain NULL'
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        typ := retailiq._column_base_type(relation, c.col);
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
           OR (c.arg = 'exog_columns' AND NOT typ = ANY (numeric_types || 'boolean'::regtype)) THEN
            RAISE EXCEPTION '% "%" of % is of type %', c.arg, c.col, relation, format_type(typ, NULL)
                USING ERRCODE = 'datatype_mismatch',
                      HINT = CASE c.arg WHEN 'date_column' THEN 'The date column must be a date or a timestamp.'
                                        WHEN 'value_column' THEN 'The value column must be numeric (integer, numeric or floating point).'
                                        ELSE 'Factor columns must be numeric or boolean.' END;
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT x) FROM unnest(ARRAY[series_column, date_column, value_column] || exog_columns) x)
       <> 3 + cardinality(exog_columns) THEN
        RAISE EXCEPTION 'series, date, value and factor columns must all be different'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name each column once.';
    END IF;
    -- Models saved before this definition are not reused: the refresh reuses only versions
    -- from min_model_version on.
    INSERT INTO retailiq.sales_source AS t (name, relation, series_column, date_column, value_column,
                                          exog_columns, method, options, min_model_version)
    VALUES (name, relation, series_column, date_column, value_column, exog_columns::name[], method, options,
            (SELECT coalesce(max(m.version), 0) + 1 FROM retailiq.models m
              WHERE m.name = 'forecast:' || register_sales_source.name))
    ON CONFLICT ON CONSTRAINT sales_source_pkey DO UPDATE
       SET relation = excluded.relation, series_column = excluded.series_column,
           date_column = excluded.date_column, value_column = excluded.value_column,
           exog_columns = excluded.exog_columns, method = excluded.method, options = excluded.options,
           registered_by = current_user, registered_at = now(),
           min_model_version = excluded.min_model_version, last_refreshed_at = NULL,
           last_model_version = NULL, last_model_reused = NULL, last_rows = NULL
    RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION retailiq.register_sales_source(text, regclass, text, text, text, text[], text, jsonb) IS
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
    DELETE FROM retailiq.sales_source s WHERE s.name = unregister_sales_source.name;
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
CREATE FUNCTION retailiq._forecast_grain(first date, second date) RETURNS text
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
CREATE FUNCTION retailiq._sales_source_query(src retailiq.sales_source, with_exog boolean,
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
                   CASE WHEN retailiq._column_base_type(src.relation, e.col) = 'boolean'::regtype
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

-- The fit of a source's rows dated before `before` (NULL: all) and, with history_days, no
-- older than that many days before the latest: $1 method, $2 fit options, $3 before,
-- $4 history_days (the filters are left out of the SQL when not needed).
CREATE FUNCTION retailiq._sales_source_fit_query(src retailiq.sales_source, method text,
                                                 with_before boolean, with_history boolean)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fit text := CASE WHEN method <> 'lstm' THEN 'retailiq.forecast_fit(s, d, y, $1, $2)'
                     WHEN cardinality(src.exog_columns) > 0 THEN 'retailiq.forecast_lstm_fit(s, d, y, x, $2)'
                     ELSE 'retailiq.forecast_lstm_fit(s, d, y, NULL::float8[], $2)' END;
    rows text := retailiq._sales_source_query(src, method = 'lstm');
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
CREATE FUNCTION retailiq._sales_source_future_exog(src retailiq.sales_source, model retailiq.model,
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
              FROM retailiq.forecast_lstm_series($1) WITH ORDINALITY o(s, i)
              JOIN last l ON l.s = o.s
             CROSS JOIN spacing sp CROSS JOIN generate_series(1, $2) k(k)),
        cells AS (
            SELECT g.i, g.s, g.k, g.d, a.x FROM grid g LEFT JOIN a ON a.s = g.s AND a.d = g.d)
        SELECT (SELECT array_agg(r.xs ORDER BY r.i)
                  FROM (SELECT c.i, array_agg(c.x ORDER BY c.k) AS xs FROM cells c GROUP BY c.i) r
                 WHERE NOT EXISTS (SELECT FROM cells c WHERE c.x IS NULL)),
               (SELECT row(c.s, c.d)::text FROM cells c WHERE c.x IS NULL ORDER BY c.i, c.k LIMIT 1)
        $q$, retailiq._sales_source_query(src, true, true))
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

CREATE FUNCTION retailiq._check_horizons(horizons int[]) RETURNS void
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
CREATE FUNCTION retailiq._refresh_source(source_name text, horizons int[]) RETURNS bigint
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
    v_max_age interval;
    v_level float8;
    v_clamp boolean;
    v_all_steps boolean;
    v_keep int;
    v_hmax int := (SELECT max(h) FROM unnest(horizons) h);
    v_rows bigint;
    v_grain text;
    a_series text[];
    a_step int[];
    a_ts date[];
    a_yhat float8[];
    a_lower float8[];
    a_upper float8[];
    f_series text[];
    f_first date[];
BEGIN
    -- One refresh of a source at a time: a second one waits here, then replaces the first's
    -- rows. The row lock below makes a second one under REPEATABLE READ fail (40001) rather
    -- than miss the first's rows.
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_forecasts'), hashtext(source_name));
    SELECT * INTO src FROM retailiq.sales_source s WHERE s.name = source_name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;               -- unregistered while we waited
    END IF;
    v_fit_options := retailiq._sales_source_options(src.options);
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
        EXECUTE retailiq._sales_source_fit_query(src, src.method, false, src.options ? 'history_days') INTO v_model
          USING src.method, v_fit_options, NULL::date, (src.options ->> 'history_days')::int;
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
                                 CASE WHEN src.method = 'lstm' AND cardinality(src.exog_columns) > 0
                                      THEN retailiq._sales_source_future_exog(src, v_model, greatest(v_hmax, 2), NULL)
                                 END) q;
    IF a_series IS NULL THEN
        RETURN 0;
    END IF;
    v_grain := retailiq._forecast_grain(a_ts[1], a_ts[2]);

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
    INSERT INTO retailiq.forecast_result (series, period_start, grain, horizon, yhat, yhat_lower,
                                          yhat_upper, interval_level, model_name, model_version, created_at)
    SELECT u.series, u.ts, v_grain, u.step,
           CASE WHEN v_clamp THEN greatest(u.yhat, 0) ELSE u.yhat END,
           u.yhat_lower,
           CASE WHEN v_clamp THEN greatest(u.yhat_upper, 0) ELSE u.yhat_upper END,
           v_level, v_name, v_version, now()
      FROM unnest(a_series, a_step, a_ts, a_yhat, a_lower, a_upper)
           u(series, step, ts, yhat, yhat_lower, yhat_upper)
     WHERE u.step <= v_hmax AND (v_all_steps OR u.step = ANY (horizons));
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    UPDATE retailiq.sales_source s
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
    PERFORM retailiq._check_horizons(horizons);
    IF source IS NOT NULL AND NOT EXISTS (SELECT FROM retailiq.sales_source s WHERE s.name = source) THEN
        RAISE EXCEPTION 'sales source "%" is not registered', source
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.sales_source lists the registered sources; retailiq.register_sales_source adds one.';
    END IF;
    FOR nm IN SELECT s.name FROM retailiq.sales_source s
               WHERE refresh_forecasts.source IS NULL OR s.name = refresh_forecasts.source
               ORDER BY s.name LOOP
        total := total + retailiq._refresh_source(nm, horizons);
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
    SELECT * INTO src FROM retailiq.sales_source s WHERE s.name = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales source "%" is not registered', source
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.sales_source lists the registered sources; retailiq.register_sales_source adds one.';
    END IF;
    IF cardinality(methods) = 0 OR cardinality(origins) = 0 THEN
        RAISE EXCEPTION 'methods and origins must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass at least one method and one origin date.';
    END IF;
    FOREACH v_method IN ARRAY methods LOOP
        IF NOT v_method = ANY (retailiq._forecast_methods()) THEN
            RAISE EXCEPTION 'method "%" is not a forecasting method', v_method
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use one of ' || array_to_string(retailiq._forecast_methods(), ', ') || '.';
        END IF;
    END LOOP;
    IF horizon < 1 OR horizon > 1000 THEN
        RAISE EXCEPTION 'horizon must be 1 to 1000 steps'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('horizon is %s.', horizon),
                  HINT = 'Pass the steps ahead to evaluate, e.g. 7 or 28 for daily data.';
    END IF;
    v_fit_options := retailiq._sales_source_options(src.options);
    v_season := (v_fit_options ->> 'season')::int;
    v_data := retailiq._sales_source_query(src, false);
    FOREACH v_origin IN ARRAY origins LOOP
        FOREACH v_method IN ARRAY methods LOOP
            v_t0 := clock_timestamp();
            EXECUTE retailiq._sales_source_fit_query(src, v_method, true, src.options ? 'history_days') INTO v_model
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
                g AS (SELECT retailiq._forecast_grain(min(f.ts), max(f.ts)) AS grain
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
                    CASE WHEN v_method = 'lstm' AND cardinality(src.exog_columns) > 0
                         THEN retailiq._sales_source_future_exog(src, v_model, greatest(horizon, 2), v_origin) END;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION retailiq.backtest(text, text[], int, date[]) IS
    'rolling-origin backtest of forecasting methods on a registered sales source: WAPE, sMAPE, MASE, bias and interval coverage per method and origin';
-- forecast: the contract table between forecasting and its consumers (alerts, reports).
--
-- Issue 5 (forecasting) fills this table; the alerts part reads it (safety stock for the
-- stock trigger, sales shortfall checks). Only the table lives here until then.

-- One row per forecast value: a series (e.g. '7/42' for store 7, product 42: the key values
-- joined by '/'), a period at a grain, the point forecast and its prediction interval.
CREATE TABLE retailiq.forecast_result (
    series          text        NOT NULL CHECK (series <> ''),
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
COMMENT ON COLUMN retailiq.forecast_result.horizon IS
    'steps ahead of the forecast origin, in grain units (1 = the first period after the origin)';
COMMENT ON COLUMN retailiq.forecast_result.interval_level IS
    'coverage of [yhat_lower, yhat_upper], e.g. 0.8 for an 80% prediction interval';
-- refresh_forecasts (40_operations.sql) replaces and prunes a model's rows by model name,
-- series and period.
CREATE INDEX forecast_result_model ON retailiq.forecast_result (model_name, series, period_start);
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_result', '');
GRANT SELECT ON retailiq.forecast_result TO PUBLIC;

-- churn: BG/NBD and Gamma-Gamma customer-base models, a logistic churn model over
-- behavioural features, risk tiers, reasons and retention actions.

-- Shared by the fitting aggregates: their state is the rows they keep (see churn.h).
CREATE FUNCTION retailiq._churn_rows_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._churn_rows_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'churn_rows_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq._churn_rows_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_deserialize' LANGUAGE C STRICT PARALLEL SAFE;

-- BG/NBD (Fader, Hardie & Lee 2005)
CREATE FUNCTION retailiq._bgnbd_fit_sfunc(internal, int, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bgnbd_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._bgnbd_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'bgnbd_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.bgnbd_fit(frequency int, recency float8, t float8) (
    SFUNC = retailiq._bgnbd_fit_sfunc, STYPE = internal,
    FINALFUNC = retailiq._bgnbd_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine,
    SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize,
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
CREATE FUNCTION retailiq._purchase_summary_sfunc(internal, date, float8, date, interval) RETURNS internal
    AS 'MODULE_PATHNAME', 'purchase_summary_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._purchase_summary_final(internal) RETURNS retailiq.purchase_summary
    AS 'MODULE_PATHNAME', 'purchase_summary_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.purchase_summary(purchased_on date, amount float8, as_of date,
                                           time_unit interval) (
    SFUNC = retailiq._purchase_summary_sfunc, STYPE = internal,
    FINALFUNC = retailiq._purchase_summary_final,
    COMBINEFUNC = retailiq._churn_rows_combine,
    SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.purchase_summary(date, float8, date, interval) IS
    'one customer''s orders -> frequency, recency, t (in time_unit) and mean repeat spend, as of a date';

-- Gamma-Gamma spend model and customer lifetime value
CREATE FUNCTION retailiq._gammagamma_fit_sfunc(internal, int, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'gammagamma_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._gammagamma_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'gammagamma_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.gammagamma_fit(frequency int, monetary float8) (
    SFUNC = retailiq._gammagamma_fit_sfunc, STYPE = internal,
    FINALFUNC = retailiq._gammagamma_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine,
    SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize,
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
CREATE FUNCTION retailiq._logit_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool, float8, text[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool, float8, text[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[]) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[],
                                    max_iter int) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
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

-- One row per customer with an order before as_of: the features as of that moment, from
-- <source_schema>.orders, order_lines, products and events (the sample schema's layout).
CREATE FUNCTION retailiq.churn_features(as_of timestamptz, source_schema name DEFAULT 'retail')
RETURNS TABLE (customer_id int, features float8[])
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := quote_ident(source_schema);
BEGIN
    IF as_of = 'infinity' OR as_of = '-infinity' THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the cut-off date of the features, e.g. now() or ''2025-09-01''.';
    END IF;
    IF to_regclass(s || '.orders') IS NULL OR to_regclass(s || '.order_lines') IS NULL
       OR to_regclass(s || '.products') IS NULL OR to_regclass(s || '.events') IS NULL THEN
        RAISE EXCEPTION 'schema "%" lacks the orders, order_lines, products or events table', source_schema
            USING ERRCODE = 'undefined_table',
                  HINT = 'Point source_schema at a schema laid out like retailiq.generate_sample_data''s.';
    END IF;
    RETURN QUERY EXECUTE format($q$
    WITH o AS (
        SELECT o.order_id, o.customer_id, o.store_id, o.channel, o.item_count,
               o.total_amount::float8 AS amount, o.discount_amount::float8 AS discount,
               extract(epoch FROM $1 - o.ordered_at)::float8 / 86400 AS age
        FROM %1$s.orders o WHERE o.ordered_at < $1),
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
        FROM o JOIN %1$s.order_lines ol USING (order_id)
               JOIN %1$s.products p ON p.product_id = ol.product_id
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
              FROM %1$s.events ev WHERE ev.occurred_at < $1 AND ev.occurred_at >= $1 - interval '365 days') e
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
    $q$, s) USING as_of;
END
$fn$;
COMMENT ON FUNCTION retailiq.churn_features(timestamptz, name) IS
    'behavioural churn features per customer as of a date (names: retailiq.churn_feature_names())';

-- churned = no order in [as_of, as_of + horizon_days) for every customer with an order before as_of.
CREATE FUNCTION retailiq.churn_labels(as_of timestamptz, horizon_days int DEFAULT 90,
                                      source_schema name DEFAULT 'retail')
RETURNS TABLE (customer_id int, churned bool)
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s text := quote_ident(source_schema);
BEGIN
    IF horizon_days < 1 THEN
        RAISE EXCEPTION 'horizon_days must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('horizon_days is %s.', horizon_days),
                  HINT = 'Churn is usually "no purchase in the next 90 days".';
    END IF;
    IF to_regclass(s || '.orders') IS NULL THEN
        RAISE EXCEPTION 'schema "%" has no orders table', source_schema
            USING ERRCODE = 'undefined_table',
                  HINT = 'Point source_schema at a schema laid out like retailiq.generate_sample_data''s.';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT o.customer_id::int,
               NOT bool_or(o.ordered_at >= $1 AND o.ordered_at < $1 + make_interval(days => $2))
        FROM %1$s.orders o WHERE o.ordered_at < $1 + make_interval(days => $2)
        GROUP BY o.customer_id HAVING bool_or(o.ordered_at < $1)
    $q$, s) USING as_of, horizon_days;
END
$fn$;
COMMENT ON FUNCTION retailiq.churn_labels(timestamptz, int, name) IS
    'churned = no purchase in the horizon_days after as_of, for customers who bought before as_of';

-- Logistic regression in one-pass steps with partial-sum states that are plain arrays /
-- bytea, not internal: a distributed engine (Citus) can run each step on its workers and add
-- the partial sums. logit_start gives the intercept-only model with the standardisation;
-- each logit_step is one Newton step over all rows.
CREATE FUNCTION retailiq._logit_start_sfunc(float8[], float8[], bool) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_start_sfunc(float8[], float8[], bool, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_start_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_combine' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_start_final(float8[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_start_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_start(features float8[], label bool) (
    SFUNC = retailiq._logit_start_sfunc, STYPE = float8[], FINALFUNC = retailiq._logit_start_final,
    COMBINEFUNC = retailiq._logit_start_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_start(features float8[], label bool, l2 float8) (
    SFUNC = retailiq._logit_start_sfunc, STYPE = float8[], FINALFUNC = retailiq._logit_start_final,
    COMBINEFUNC = retailiq._logit_start_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_start(float8[], bool, float8) IS
    'the intercept-only logistic model with feature means and scales: the start of logit_step';

CREATE FUNCTION retailiq._logit_step_sfunc(bytea, float8[], bool, retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'logit_step_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_step_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'logit_step_combine' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_step_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_step_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_step(features float8[], label bool, model retailiq.model) (
    SFUNC = retailiq._logit_step_sfunc, STYPE = bytea, FINALFUNC = retailiq._logit_step_final,
    COMBINEFUNC = retailiq._logit_step_combine, PARALLEL = SAFE);
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
CREATE FUNCTION retailiq._alert_invoker() RETURNS name
    AS 'MODULE_PATHNAME', 'alert_invoker' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- The standard normal quantile (Wichura's AS 241, about 16 significant digits).
CREATE FUNCTION retailiq.normal_quantile(p float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'alert_normal_quantile' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.normal_quantile(float8) IS 'standard normal quantile (inverse CDF), p in (0, 1)';

-- NOTIFY retailiq_alert with a compact JSON payload (delivered on commit, like any NOTIFY).
CREATE FUNCTION retailiq._alert_notify(a retailiq.alert, event text) RETURNS void
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
REVOKE ALL ON FUNCTION retailiq._alert_notify(retailiq.alert, text) FROM PUBLIC;

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
                PERFORM retailiq._alert_notify(a, 'escalated');
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
            PERFORM retailiq._alert_notify(a, 'new');
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
CREATE FUNCTION retailiq._alert_resolve_subject(kind text, subject jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a retailiq.alert;
BEGIN
    UPDATE retailiq.alert t SET status = 'resolved', resolved_at = now()
     WHERE t.kind = _alert_resolve_subject.kind AND t.subject = _alert_resolve_subject.subject
       AND t.status <> 'resolved'
    RETURNING * INTO a;
    IF a.id IS NOT NULL THEN
        PERFORM retailiq._alert_notify(a, 'resolved');
    END IF;
    RETURN a.id;
END
$$;
REVOKE ALL ON FUNCTION retailiq._alert_resolve_subject(text, jsonb) FROM PUBLIC;

-- Shared by acknowledge_alert and resolve_alert: moves one alert to a new status.
CREATE FUNCTION retailiq._alert_set_status(alert_id bigint, new_status text) RETURNS retailiq.alert
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
               SET status = 'acknowledged', acknowledged_by = retailiq._alert_invoker(),
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
REVOKE ALL ON FUNCTION retailiq._alert_set_status(bigint, text) FROM PUBLIC;

-- Acknowledges an open alert (someone is on it): it stays active, so repeats still count,
-- but only an escalation notifies again. Returns the alert as it now is.
CREATE FUNCTION retailiq.acknowledge_alert(alert_id bigint) RETURNS retailiq.alert
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT retailiq._alert_set_status(alert_id, 'acknowledged') $$;
REVOKE ALL ON FUNCTION retailiq.acknowledge_alert(bigint) FROM PUBLIC;

-- Resolves an alert by hand; the next occurrence raises a new one.
CREATE FUNCTION retailiq.resolve_alert(alert_id bigint) RETURNS retailiq.alert
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT retailiq._alert_set_status(alert_id, 'resolved') $$;
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

-- Built-in jobs take ids 1 to 100 explicitly, so that the install script never draws from
-- the sequence: with wal_level = minimal, PostgreSQL 15 forgets after a crash the values a
-- sequence handed out in the transaction that created it, and ids would be reused.
CREATE SEQUENCE retailiq.job_job_id_seq START 101;
CREATE TABLE retailiq.job (
    job_id        bigint      PRIMARY KEY DEFAULT nextval('retailiq.job_job_id_seq'),
    job_name      text        NOT NULL UNIQUE CHECK (job_name <> '' AND length(job_name) <= 63),
    schedule      text        NOT NULL CHECK (retailiq.check_schedule(schedule)),
    command       text        NOT NULL CHECK (btrim(command) <> ''),
    owner         name        NOT NULL DEFAULT current_user,
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
COMMENT ON TABLE retailiq.job IS 'scheduled jobs: each runs its command as its owner, on its schedule';

CREATE TABLE retailiq.job_run (
    run_id        bigserial   PRIMARY KEY,
    job_id        bigint      NOT NULL,
    job_name      text        NOT NULL,
    owner         name        NOT NULL,
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
    context       text
);
COMMENT ON TABLE retailiq.job_run IS 'run history of scheduled jobs (pruned after retailiq.job_history_retention)';
CREATE INDEX job_run_job_idx ON retailiq.job_run (job_id, run_id);
CREATE INDEX job_run_finished_idx ON retailiq.job_run (finished);
CREATE INDEX job_run_running_idx ON retailiq.job_run (status) WHERE status = 'running';

SELECT pg_catalog.pg_extension_config_dump('retailiq.job', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_run_run_id_seq', '');

-- Everyone may schedule jobs, as themselves; everyone sees the jobs and runs of the roles
-- they have the privileges of. The scheduler and its workers write the run history.
ALTER TABLE retailiq.job ENABLE ROW LEVEL SECURITY;
ALTER TABLE retailiq.job_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_read ON retailiq.job FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY job_insert ON retailiq.job FOR INSERT WITH CHECK (owner = current_user);
CREATE POLICY job_update ON retailiq.job FOR UPDATE USING (owner = current_user) WITH CHECK (owner = current_user);
CREATE POLICY job_delete ON retailiq.job FOR DELETE USING (owner = current_user);
CREATE POLICY job_run_read ON retailiq.job_run FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.job TO PUBLIC;
GRANT USAGE ON SEQUENCE retailiq.job_job_id_seq TO PUBLIC;
GRANT SELECT ON retailiq.job_run TO PUBLIC;

-- The next due time after a run was dispatched: the schedule's next fire time after the
-- previous due time (so "@every" keeps its cadence), or after now when that is already past
-- (missed runs collapse into the one that just started: the catch-up policy).
CREATE FUNCTION retailiq._job_advance(schedule text, due timestamptz, now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN n > now THEN n ELSE retailiq.next_run(schedule, now) END
    FROM (SELECT retailiq.next_run(schedule, coalesce(due, now)) AS n) s
$$;

-- Keep next_run in step with the schedule whatever way a row is written.
CREATE FUNCTION retailiq._job_before_write() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
    FOR EACH ROW EXECUTE FUNCTION retailiq._job_before_write();

CREATE FUNCTION retailiq._job_not_found(job_name text) RETURNS void LANGUAGE plpgsql
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
    'creates a job that runs command as the current user on schedule; returns its id';

CREATE FUNCTION retailiq.unschedule(job_name text) RETURNS boolean
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM retailiq.job j WHERE j.job_name = unschedule.job_name;
    IF NOT FOUND THEN
        PERFORM retailiq._job_not_found(job_name);
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
        PERFORM retailiq._job_not_found(job_name);
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
    UPDATE retailiq.job j SET run_requested = true WHERE j.job_name = run_job.job_name;
    IF NOT FOUND THEN
        PERFORM retailiq._job_not_found(job_name);
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
        PERFORM retailiq._job_not_found(job_name);
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

-- Monitoring: one row per job with its last outcome and its recent record.
CREATE VIEW retailiq.job_status WITH (security_barrier) AS
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
  'audit-log retention and partition maintenance, nightly');
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

CREATE FUNCTION retailiq.privacy_bad_argument(message text, hint text) RETURNS void
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
            THEN (retailiq.privacy_bad_argument('keep must not be negative', 'Pass how many characters to keep, e.g. 3.'))::text
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

    FOR t IN SELECT DISTINCT m.table_name AS rel, c.relname, ns.nspname
               FROM retailiq.masking_rules m JOIN pg_class c ON c.oid = m.table_name
               JOIN pg_namespace ns ON ns.oid = c.relnamespace LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO retailiq_masking_owner', t.nspname);
        EXECUTE format('GRANT SELECT ON %s TO retailiq_masking_owner', t.rel);
        EXECUTE format('CREATE VIEW retailiq_mask.%I WITH (security_barrier) AS SELECT %s FROM %s t',
                       t.relname, retailiq.masking_select_list(t.rel, 't'), t.rel);
        EXECUTE format('ALTER VIEW retailiq_mask.%I OWNER TO retailiq_masking_owner', t.relname);
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
    PERFORM retailiq.audit_record('apply_masking', jsonb_build_object('views', n));
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
-- privacy: the audit log. Append-only, hash-chained, partitioned by month.

CREATE TABLE retailiq.audit_log (
    id         bigint      NOT NULL,
    logged_at  timestamptz NOT NULL,
    actor      name        NOT NULL,   -- session_user: who logged in
    role_name  name        NOT NULL,   -- current_user when the record was made
    action     text        NOT NULL,
    details    jsonb       NOT NULL,
    prev_hash  bytea       NOT NULL,
    row_hash   bytea       NOT NULL,
    PRIMARY KEY (id, logged_at)
) PARTITION BY RANGE (logged_at);
COMMENT ON TABLE retailiq.audit_log IS 'append-only, hash-chained audit records (one partition per month)';
REVOKE ALL ON retailiq.audit_log FROM PUBLIC;
CREATE INDEX ON retailiq.audit_log (id);

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
CREATE FUNCTION retailiq.audit_append_only() RETURNS trigger
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
    FOR EACH ROW EXECUTE FUNCTION retailiq.audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON retailiq.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq.audit_append_only();
CREATE TRIGGER audit_head_append_only BEFORE DELETE OR TRUNCATE ON retailiq.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq.audit_append_only();

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
-- its own approver.

CREATE TABLE retailiq.approval (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action       text        NOT NULL
                 CHECK (action IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log')),
    args         jsonb       NOT NULL,
    requested_by name        NOT NULL,
    requested_at timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'rejected', 'used')),
    decided_by   name,
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
BEGIN
    IF action IS NULL OR action NOT IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log') THEN
        RAISE EXCEPTION 'unknown action %', coalesce(quote_literal(action), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Actions are export_unmasked, set_masking_rule, change_model and purge_audit_log.';
    END IF;
    IF args IS NULL OR jsonb_typeof(args) <> 'object' THEN
        RAISE EXCEPTION 'args must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ''{"table": "public.customers"}''.';
    END IF;
    IF valid_for IS NULL OR valid_for <= interval '0' OR valid_for > interval '7 days' THEN
        RAISE EXCEPTION 'valid_for must be between 0 and 7 days'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The default is 1 hour.';
    END IF;
    INSERT INTO retailiq.approval (action, args, requested_by, requested_at, valid_until)
    VALUES (action, args, session_user, now(), now() + valid_for)
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
    IF approve AND a.requested_by = session_user THEN
        RAISE EXCEPTION 'a request cannot be approved by the user who made it'
            USING ERRCODE = 'insufficient_privilege', HINT = 'A second member of retailiq_admin must approve it.';
    END IF;
    UPDATE retailiq.approval
       SET status = CASE WHEN approve THEN 'approved' ELSE 'rejected' END,
           decided_by = session_user, decided_at = now()
     WHERE id = approval_id;
    PERFORM retailiq.audit_record(CASE WHEN approve THEN 'approval_granted' ELSE 'approval_rejected' END,
                                  jsonb_build_object('approval', approval_id, 'action', a.action, 'args', a.args,
                                                     'requested_by', a.requested_by));
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
       AND a.requested_by = session_user AND a.status = 'approved' AND a.valid_until > now()
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
CREATE FUNCTION retailiq.models_guard() RETURNS trigger
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
    FOR EACH ROW EXECUTE FUNCTION retailiq.models_guard();
-- privacy: standard roles and store-level row security.

-- Which stores each role may see and change (members of the role inherit them).
CREATE TABLE retailiq.store_access (
    role_name  name   NOT NULL,
    store_id   bigint NOT NULL,
    granted_by name   NOT NULL DEFAULT session_user,
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
    VALUES (role_name::text, store_id) ON CONFLICT DO NOTHING;
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
    DELETE FROM retailiq.store_access a WHERE a.role_name = revoke_store.role_name::text AND a.store_id = revoke_store.store_id;
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
     WHERE EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = a.role_name)
       AND pg_has_role(stores_of.role_name, a.role_name, 'MEMBER');
END;

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
-- behaviour: what customers do before they buy, turned into tags, profiles, funnels and hot zones.
--
-- Everything here is SQL over a registered event source (retailiq.event_source): the
-- retailer's own events, orders, order_lines, products and store_zones tables or views
-- (doc/behaviour.md has the contract). Tag rules are small validated jsonb conditions
-- compiled to fixed SQL fragments: identifiers come from regclass values (always quoted by
-- their output function) and every value the user wrote reaches the query as a parameter,
-- so no user text is ever pasted into SQL.

-- ---------------------------------------------------------------------------------------
-- Event source
-- ---------------------------------------------------------------------------------------

CREATE TABLE retailiq.event_source (
    id             int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    events         regclass NOT NULL,
    orders         regclass NOT NULL,
    order_lines    regclass NOT NULL,
    products       regclass NOT NULL,
    store_zones    regclass NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE retailiq.event_source IS
    'the tables or views behaviour analytics and reports read (one row; see retailiq.register_event_source)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.event_source', '');

-- The columns each source must offer (name, type category: N numeric, S string, D timestamp).
CREATE FUNCTION retailiq._event_source_contract()
RETURNS TABLE (source text, column_name name, type_category "char")
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('events', 'customer_id'::name, 'N'::"char"), ('events', 'store_id', 'N'),
           ('events', 'channel', 'S'), ('events', 'event_type', 'S'), ('events', 'product_id', 'N'),
           ('events', 'zone_id', 'N'), ('events', 'occurred_at', 'D'), ('events', 'duration_s', 'N'),
           ('orders', 'order_id', 'N'), ('orders', 'customer_id', 'N'), ('orders', 'store_id', 'N'),
           ('orders', 'channel', 'S'), ('orders', 'ordered_at', 'D'), ('orders', 'total_amount', 'N'),
           ('order_lines', 'order_id', 'N'), ('order_lines', 'product_id', 'N'),
           ('order_lines', 'quantity', 'N'), ('order_lines', 'unit_price', 'N'),
           ('order_lines', 'discount', 'N'), ('order_lines', 'promo_id', 'N'),
           ('products', 'product_id', 'N'), ('products', 'category', 'S'),
           ('store_zones', 'store_id', 'N'), ('store_zones', 'zone_id', 'N'),
           ('store_zones', 'zone_name', 'S'), ('store_zones', 'category', 'S')
$$;

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
    FOR r IN SELECT * FROM retailiq._event_source_contract() LOOP
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
    INSERT INTO retailiq.event_source (id, events, orders, order_lines, products, store_zones)
    VALUES (1, events, orders, order_lines, products, store_zones)
    ON CONFLICT (id) DO UPDATE
       SET events = EXCLUDED.events, orders = EXCLUDED.orders, order_lines = EXCLUDED.order_lines,
           products = EXCLUDED.products, store_zones = EXCLUDED.store_zones,
           registered_at = now();
    -- a new source invalidates every tag: recompute all rules at the next refresh
    UPDATE retailiq.tag_rule SET pending = true;
    UPDATE retailiq.tag_refresh_state SET last_as_of = NULL;
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

-- The registered relation for one role, as quoted SQL text (regclass output quotes it).
CREATE FUNCTION retailiq._source(which text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
BEGIN
    SELECT CASE which WHEN 'events' THEN s.events WHEN 'orders' THEN s.orders
                      WHEN 'order_lines' THEN s.order_lines WHEN 'products' THEN s.products
                      WHEN 'store_zones' THEN s.store_zones END
      INTO rel FROM retailiq.event_source s WHERE s.id = 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no event source is registered' USING ERRCODE = '55000',
              HINT = 'Call retailiq.register_event_source(''retail'') (sample layout) or register_event_source(events, orders, order_lines, products, store_zones).';
    END IF;
    IF rel IS NULL THEN
        RAISE EXCEPTION 'unknown event source role "%"', which USING ERRCODE = 'XX000';
    END IF;
    RETURN rel::text;
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

CREATE FUNCTION retailiq._tag_rule_validate() RETURNS trigger
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
    FOR EACH ROW EXECUTE FUNCTION retailiq._tag_rule_validate();

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

-- The joins and per-event filters of an events or cart_abandoned condition (normalised):
-- fixed fragments that read every value from the condition passed as $3.
CREATE FUNCTION retailiq._tag_event_filter(c jsonb, OUT joins text, OUT conds text)
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
                                 retailiq._source('store_zones'));
        IF c ? 'zone_category' THEN conds := conds || ' AND z.category = ($3->>''zone_category'')'; END IF;
        IF c ? 'zone_name' THEN conds := conds || ' AND z.zone_name = ($3->>''zone_name'')'; END IF;
    END IF;
    IF c ? 'category' THEN
        joins := joins || format(' JOIN %s p ON p.product_id = e.product_id', retailiq._source('products'));
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
    ev text := retailiq._source('events');
    ord text := retailiq._source('orders');
    lin text := retailiq._source('order_lines');
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

    f := retailiq._tag_event_filter(c);
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
CREATE FUNCTION retailiq._tag_candidates_sql(condition jsonb) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c jsonb := retailiq.tag_condition_check(condition);
    ev text := retailiq._source('events');
    ord text := retailiq._source('orders');
    f record;
    q text;
BEGIN
    IF c->>'kind' = 'promo_share' THEN
        q := format('SELECT customer_id::bigint AS c FROM %s'
                    ' WHERE ordered_at > $1 - ($3->>''window'')::interval'
                    ' AND ordered_at <= $2 - ($3->>''window'')::interval'
                    ' UNION ALL SELECT unnest($5)', ord);
    ELSE
        f := retailiq._tag_event_filter(c);
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
    ord text := retailiq._source('orders');
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
                           retailiq._tag_candidates_sql(r.condition))
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
    IF NOT EXISTS (SELECT 1 FROM retailiq.event_source) THEN
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

CREATE FUNCTION retailiq._check_period(from_ts timestamptz, to_ts timestamptz) RETURNS void
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
    PERFORM retailiq._check_period(from_ts, to_ts);
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
        retailiq._source('events'), retailiq._source('orders'), retailiq._source('order_lines'),
        retailiq._source('products'))
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
    PERFORM retailiq._check_period(from_ts, to_ts);
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
         ORDER BY 1, 2, 4$q$, retailiq._source('events'), retailiq._source('store_zones'))
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
    PERFORM retailiq._check_period(from_ts, to_ts);
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
          FROM b$q$, retailiq._source('orders'), retailiq._source('order_lines'))
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
    PERFORM retailiq._check_period(from_ts, to_ts);
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
         LIMIT $6$q$, retailiq._source('orders'), retailiq._source('order_lines'))
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

-- The model saved under `name`, or NULL when there is none (load_model raises instead).
CREATE FUNCTION retailiq._model_or_null(name text, kind text) RETURNS retailiq.model
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
    ord text := retailiq._source('orders');
    ord_schema name;
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
    km := retailiq._model_or_null(kmeans_model, 'kmeans');
    lg := retailiq._model_or_null(churn_model, 'logit');
    bg := retailiq._model_or_null(bgnbd_model, 'bgnbd');
    gg := retailiq._model_or_null(gammagamma_model, 'gammagamma');
    SELECT n.nspname INTO ord_schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = ord::regclass;

    DELETE FROM retailiq.customer_profile_data;
    INSERT INTO retailiq.customer_profile_data
        (customer_id, as_of, recency_days, frequency, monetary, r, f, m, rfm_code, segment, cluster)
    SELECT s.customer_id, as_of, s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m,
           s.rfm_code, s.segment,
           CASE WHEN km IS NOT NULL
                THEN retailiq.kmeans_assign(km, ARRAY[s.recency_days, s.frequency, s.monetary]::float8[]) END
      FROM retailiq.rfm_segments(ord::regclass, as_of) s;
    GET DIAGNOSTICS n = ROW_COUNT;

    -- BG/NBD (weeks): probability of having churned, expected purchases, and CLV with Gamma-Gamma
    IF bg IS NOT NULL THEN
        EXECUTE format($q$
            WITH ps AS (
                SELECT customer_id::bigint AS customer_id,
                       retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                                 ($1 AT TIME ZONE 'UTC')::date, '7 days') AS p
                  FROM %s WHERE ordered_at <= $1 GROUP BY customer_id)
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
          FROM retailiq.churn_features(refresh_customer_profile.as_of, ord_schema) cf  -- as_of is also a column of d
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
-- set-returning functions over the registered event source (retailiq.event_source) and
-- retailiq.forecast_result; retailiq.materialize_report keeps them in tables for the
-- scheduler's report jobs. Periods are inclusive date ranges [from_date, to_date] in UTC.

-- 'daily' | 'day' -> 'day', and so on; anything else is 22023.
CREATE FUNCTION retailiq._report_grain(grain text) RETURNS text
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
        ELSE retailiq._report_bad_grain(grain) END;
END
$$;

CREATE FUNCTION retailiq._report_bad_grain(grain text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION 'unknown report grain "%"', grain USING ERRCODE = '22023',
          HINT = 'Use ''daily'', ''weekly'' or ''monthly''.';
END
$$;

CREATE FUNCTION retailiq._report_range(from_date date, to_date date) RETURNS void
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

-- The newest day-grain forecast of each series, model and day of the range, for series named
-- '<store_id>/<product_id>' (the forecasting part's key convention).
CREATE FUNCTION retailiq._report_forecasts(from_date date, to_date date, store int)
RETURNS TABLE (day date, store_id bigint, product_id bigint, model_name text, yhat float8,
               yhat_lower float8, yhat_upper float8)
LANGUAGE sql STABLE ROWS 100000
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT ON (r.series, r.period_start, r.model_name)
           r.period_start, split_part(r.series, '/', 1)::bigint, split_part(r.series, '/', 2)::bigint,
           r.model_name, r.yhat, r.yhat_lower, r.yhat_upper
      FROM retailiq.forecast_result r
     WHERE r.grain = 'day' AND r.period_start BETWEEN $1 AND $2
       AND r.series ~ '^[0-9]{1,18}/[0-9]{1,18}$'
       AND ($3 IS NULL OR split_part(r.series, '/', 1)::bigint = $3)
     ORDER BY r.series, r.period_start, r.model_name, r.created_at DESC
$$;

CREATE FUNCTION retailiq.report_sales(grain text, from_date date, to_date date, store int DEFAULT NULL,
                                      by_store bool DEFAULT false)
RETURNS TABLE (period_start date, store_id bigint, orders bigint, customers bigint, units bigint,
               sales numeric, avg_basket numeric, forecast_units float8, forecast_actual_units float8,
               achievement float8, bias float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := retailiq._report_grain(grain);
BEGIN
    PERFORM retailiq._report_range(from_date, to_date);
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
        f0 AS MATERIALIZED (SELECT * FROM retailiq._report_forecasts($1, $2, $3)),
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
         ORDER BY 1, 2$q$, retailiq._source('orders'), retailiq._source('order_lines'))
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
    g text := retailiq._report_grain(grain);
BEGIN
    PERFORM retailiq._report_range(from_date, to_date);
    RETURN QUERY EXECUTE format($q$
        WITH f AS MATERIALIZED (SELECT * FROM retailiq._report_forecasts($1, $2, $3)),
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
        retailiq._source('orders'), retailiq._source('order_lines'))
    USING from_date, to_date, store, g;
END
$$;

-- Dwell by store, zone and hour of day (UTC) over [lo, hi): the aggregate behind the hot-zone
-- parts of the reports (zone_traffic adds visitors and medians, which cost a sort).
CREATE FUNCTION retailiq._zone_dwell(lo timestamptz, hi timestamptz, store int)
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
        retailiq._source('events'), retailiq._source('store_zones'))
    USING lo, hi, store;
END
$$;

-- Behaviour by period in long form (metric, dimension, value): online conversion, the hottest
-- in-store zone-hours, new / active / lost customers, tags first given in the period. Each
-- part is one pass over the whole range, bucketed into periods.
CREATE FUNCTION retailiq.report_behaviour(grain text, from_date date, to_date date, store int DEFAULT NULL)
RETURNS TABLE (period_start date, metric text, dimension text, value float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g text := retailiq._report_grain(grain);
    lo timestamptz;
    hi timestamptz;
BEGIN
    PERFORM retailiq._report_range(from_date, to_date);
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
                      FROM retailiq._zone_dwell(lo, hi, store) d GROUP BY 1, 2, 3, 4, 5) z) h
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
              FROM %s WHERE ordered_at < $2 AND ($3 IS NULL OR store_id = $3)),
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
         ORDER BY p.ps, m.k$q$, retailiq._source('orders'))
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
    g text := retailiq._report_grain(grain);
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

CREATE FUNCTION retailiq._html(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(replace($1, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;')
$$;

-- A number for people: 12,345 / 1.2 / 0.5.
CREATE FUNCTION retailiq._fmt(v numeric, digits int DEFAULT 0) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN $1 IS NULL THEN '–'
                WHEN $2 = 0 THEN to_char(round($1), 'FM999,999,999,990')
                ELSE to_char(round($1, $2), 'FM999,999,999,990.' || repeat('0', $2)) END
$$;

-- A line chart of one or two series over days (second may be all NULL), w x h pixels.
CREATE FUNCTION retailiq._svg_lines(days date[], a float8[], b float8[], a_name text, b_name text,
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
                             retailiq._fmt(tick::numeric, CASE WHEN step < 1 THEN 2 ELSE 0 END));
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
                         left_m, left_m + 20, retailiq._html(a_name));
    IF has_b THEN
        svg := svg || format('<rect x="%s" y="8" width="14" height="4" class="k2"/><text x="%s" y="14" class="leg">%s</text>',
                             left_m + 200, left_m + 220, retailiq._html(b_name));
    END IF;
    RETURN svg || '</svg>';
END
$$;

-- Horizontal bars: one per label, the value and an optional note written after the bar.
CREATE FUNCTION retailiq._svg_bars(labels text[], vals float8[], notes text[], w int DEFAULT 1100,
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
                             label_w - 8, (i - 1) * row_h + 24, retailiq._html(labels[i]),
                             label_w, (i - 1) * row_h + 8, round(bw::numeric, 1), row_h - 8, bar_class,
                             label_w + round(bw::numeric, 1) + 8, (i - 1) * row_h + 24,
                             retailiq._html(coalesce(notes[i], retailiq._fmt(vals[i]::numeric))));
    END LOOP;
    RETURN svg || '</svg>';
END
$$;

CREATE FUNCTION retailiq.report_html(from_date date, to_date date, store int DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
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
    zones text;
    tags text;
    body text;
    lo timestamptz;
    hi timestamptz;
    ncust bigint;
BEGIN
    PERFORM retailiq._report_range(from_date, to_date);
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
    EXECUTE format('SELECT count(DISTINCT customer_id) FROM %s WHERE ordered_at >= $1 AND ordered_at < $2'
                   ' AND ($3 IS NULL OR store_id = $3)', retailiq._source('orders'))
       INTO ncust USING lo, hi, store;
    SELECT coalesce(sum(viewed), 0) AS v, coalesce(sum(carted), 0) AS c, coalesce(sum(purchased), 0) AS b
      INTO fn FROM retailiq.conversion_funnel(lo, hi);

    -- segment sizes: the last refresh_customer_profile, or RFM computed here as of to_date
    IF EXISTS (SELECT 1 FROM retailiq.customer_profile_data) THEN
        seg_source := 'customer_profile (as of ' || (SELECT to_char(max(as_of), 'YYYY-MM-DD') FROM retailiq.customer_profile_data) || ')';
        SELECT array_agg(segment ORDER BY n DESC, segment), array_agg(n::float8 ORDER BY n DESC, segment)
          INTO seg_labels, seg_vals
          FROM (SELECT coalesce(segment, 'unscored') AS segment, count(*) AS n
                  FROM retailiq.customer_profile_data GROUP BY 1) s;
    ELSE
        seg_source := 'RFM as of ' || to_date;
        SELECT array_agg(segment ORDER BY n DESC, segment), array_agg(n::float8 ORDER BY n DESC, segment)
          INTO seg_labels, seg_vals
          FROM (SELECT coalesce(segment, 'unscored') AS segment, count(*) AS n
                  FROM retailiq.rfm_segments(retailiq._source('orders')::regclass, hi) GROUP BY 1) s;
    END IF;
    SELECT array_agg(format('%s customers (%s%%)', retailiq._fmt(v::numeric),
                            retailiq._fmt((100 * v / sum_v)::numeric, 1)) ORDER BY i)
      INTO seg_notes
      FROM unnest(seg_vals) WITH ORDINALITY AS x(v, i),
           (SELECT sum(v) AS sum_v FROM unnest(seg_vals) v) s;

    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s:00</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                             h.store_id, retailiq._html(coalesce(h.zone_name, 'zone ' || h.zone_id)),
                             lpad(h.hour::text, 2, '0'), retailiq._fmt(h.visits::numeric),
                             retailiq._fmt((h.total / 60.0)::numeric),
                             retailiq._fmt((h.total::numeric / h.visits))), '' ORDER BY h.total DESC, h.store_id, h.zone_id, h.hour)
      INTO zones
      FROM (SELECT t.*, row_number() OVER (ORDER BY t.total DESC, t.store_id, t.zone_id, t.hour) AS rk
              FROM (SELECT d.store_id, d.zone_id, d.zone_name, d.hour, sum(d.visits) AS visits,
                           sum(d.total_dwell_s) AS total
                      FROM retailiq._zone_dwell(lo, hi, store) d
                     WHERE d.zone_name IS DISTINCT FROM 'checkout' GROUP BY 1, 2, 3, 4) t) h
     WHERE h.rk <= 8;
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td class="num">%s</td></tr>',
                             retailiq._html(r.tag), retailiq._html(r.description),
                             retailiq._fmt(coalesce(c.n, 0)::numeric)), '' ORDER BY r.tag)
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
        retailiq._fmt(tot.sales, 0), retailiq._fmt(tot.orders::numeric), retailiq._fmt(ncust::numeric),
        retailiq._fmt(tot.sales / nullif(tot.orders, 0), 2),
        retailiq._fmt(tot.units),
        CASE WHEN tot.fu > 0 THEN retailiq._fmt((100 * tot.fa / tot.fu)::numeric, 1) || '%' ELSE 'no forecast' END,
        CASE WHEN coalesce(tot.units, 0) = 0 AND coalesce(tot.fu, 0) = 0
             THEN '<p class="note">No units sold and no forecast in this period.</p>'
             ELSE retailiq._svg_lines(v_days, v_units, v_fc, 'units sold', 'forecast (series with a forecast)') END,
        CASE WHEN tot.fu > 0
             THEN format('Forecast: the newest day forecast of each store/product series in retailiq.forecast_result; achievement = units sold of those series / forecast units = %s%%, bias (forecast − actual) / actual = %s%%.',
                         retailiq._fmt((100 * tot.fa / tot.fu)::numeric, 1),
                         retailiq._fmt((100 * (tot.fu - tot.fa) / nullif(tot.fa, 0))::numeric, 1))
             ELSE 'No forecasts in retailiq.forecast_result for these days.' END,
        CASE WHEN fn.v = 0 THEN '<p class="note">No online product views in this period.</p>' ELSE
        retailiq._svg_bars(ARRAY['viewed', 'carted', 'purchased'],
                           ARRAY[fn.v, fn.c, fn.b]::float8[],
                           ARRAY[retailiq._fmt(fn.v::numeric) || ' (100%)',
                                 retailiq._fmt(fn.c::numeric) || ' (' || retailiq._fmt((100.0 * fn.c / nullif(fn.v, 0))::numeric, 1) || '%)',
                                 retailiq._fmt(fn.b::numeric) || ' (' || retailiq._fmt((100.0 * fn.b / nullif(fn.v, 0))::numeric, 1) || '%)'],
                           1100, 'fbar') END,
        retailiq._svg_bars(seg_labels, seg_vals, seg_notes),
        retailiq._html(seg_source),
        CASE WHEN zones IS NULL THEN '<p class="note">No dwell events in this period.</p>'
             ELSE '<table><tr><th>store</th><th>zone</th><th>hour</th><th class="num">visits</th><th class="num">dwell (min)</th><th class="num">average dwell (s)</th></tr>' || zones || '</table>' END,
        CASE WHEN tags IS NULL THEN '<p class="note">No tag rules are enabled.</p>'
             ELSE '<table><tr><th>tag</th><th>rule</th><th class="num">customers</th></tr>' || tags || '</table>' END,
        CASE WHEN store IS NOT NULL THEN ' Online events carry no store: the funnel, the segments and the tags cover every customer.' ELSE '' END);
    RETURN body;
END
$$;
