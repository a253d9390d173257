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
        fc_mean float8[], fc_var float8[], levels float8[] DEFAULT NULL)
    RETURNS float8[]
    AS 'MODULE_PATHNAME', 'replenishment_simulate' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Pooled service levels (simulate.c, demand.c): per series, from its demand over the
-- protection period, the cycle service level that makes their mean the target at the least
-- total stock, none below floor (the backtest's 'plan_pooled', replenishment_plan's service_target 'pooled').
CREATE FUNCTION retailiq_internal.replenishment_pooled_levels(mean float8[], var float8[], target float8,
                                                              floor float8 DEFAULT 0)
    RETURNS float8[]
    AS 'MODULE_PATHNAME', 'replenishment_pooled_levels' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- A forecast's demand mean and variance, from its point forecast and its interval at `level`
-- (replenishment_plan, replenishment_backtest and the alerts' safety_stock;
-- doc/replenishment.md, "How the order is worked out"): Poisson without an interval, the
-- log-normal through the bounds of an interval skewed to the right, else a Normal (order.c).
CREATE FUNCTION retailiq_internal.replenishment_moments(yhat float8, lower float8, upper float8, level float8,
                                                        OUT mean float8, OUT var float8)
    AS 'MODULE_PATHNAME', 'replenishment_moments' LANGUAGE C IMMUTABLE PARALLEL SAFE;

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
