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
