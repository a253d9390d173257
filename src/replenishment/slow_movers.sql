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
