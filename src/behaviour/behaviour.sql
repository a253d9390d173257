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
