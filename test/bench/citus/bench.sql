-- per analytic: best of 3 on one node (schema one) and on the cluster (schema retail)
\pset footer off
CREATE TABLE one.baskets AS
SELECT order_id, array_agg(product_id::bigint ORDER BY product_id) AS items FROM one.order_lines GROUP BY order_id;
CREATE TABLE retail.baskets (order_id bigint, items bigint[]);
SELECT create_distributed_table('retail.baskets', 'order_id', colocate_with => 'retail.order_lines') \gset
INSERT INTO retail.baskets SELECT * FROM one.baskets;
CREATE TABLE one.rfm_features AS
SELECT customer_id::int AS customer_id, ARRAY[recency_days, frequency, monetary]::float8[] AS x
FROM retailiq.rfm_segments('one.orders', '2024-05-30');
CREATE TABLE retail.rfm_features (LIKE one.rfm_features);
SELECT create_distributed_table('retail.rfm_features', 'customer_id', colocate_with => 'retail.customers') \gset
INSERT INTO retail.rfm_features SELECT * FROM one.rfm_features;
SELECT retailiq.kmeans_segment(x, 5, 1) AS km FROM one.rfm_features \gset
CREATE TABLE one.summary AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                               '2024-05-30', '7 days')).*
FROM one.orders GROUP BY customer_id;
CREATE TABLE retail.summary (LIKE one.summary);
SELECT create_distributed_table('retail.summary', 'customer_id', colocate_with => 'retail.customers') \gset
INSERT INTO retail.summary SELECT * FROM one.summary;
-- level-2 candidates of assoc_rules_distributed's count: every pair of the 30 first products
SELECT array_agg(ARRAY[a::text, b::text]) AS cand2 FROM generate_series(1, 30) a, generate_series(1, 30) b WHERE a < b \gset

CREATE FUNCTION citus_test.best(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best float8 := 'Infinity';
BEGIN
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        EXECUTE q;   -- every row computed and fetched (a count(*) around it would let the planner drop unused columns)
        best := least(best, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RETURN best;
END $$;
CREATE FUNCTION citus_test.tasks(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        IF l ~ 'Task Count' THEN r := r || btrim(l) || ' '; END IF;
        IF l ~ 'worker_partial_agg' AND r !~ 'partial' THEN r := r || 'partial aggregates on workers '; END IF;
    END LOOP;
    RETURN btrim(r);
EXCEPTION WHEN OTHERS THEN
    RETURN 'cannot plan on the cluster: ' || SQLERRM;
END $$;
-- What reaches the coordinator: the task query Citus sends to one shard (EXPLAIN VERBOSE),
-- run on every shard (run_command_on_shards), counting its rows and the bytes of their text
-- form, the form Citus moves them in. EXPLAIN ANALYZE cannot be used: Citus 13.2 fails on it
-- for split aggregates ("pseudo-type cstring") and for pushed-down composite results.
CREATE FUNCTION citus_test.coord_rows(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; wq text; shard text; rel text; n numeric; b numeric; tasks int := 0;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        IF l ~ 'Distributed Subplan' THEN RETURN 'n/a (subplans)'; END IF;
        IF wq IS NULL AND l ~ '^\s*Query: ' THEN wq := regexp_replace(l, '^\s*Query: ', ''); END IF;
    END LOOP;
    shard := substring(wq from '(retail\.[a-z_]+_[0-9]+)');
    IF shard IS NULL OR wq ~ '%' THEN RETURN 'n/a'; END IF;
    rel := regexp_replace(shard, '_[0-9]+$', '');
    wq := replace(wq, shard, '%s');
    SELECT sum(split_part(result, ' ', 1)::numeric), sum(split_part(result, ' ', 2)::numeric), count(*)
      INTO n, b, tasks
      FROM run_command_on_shards(rel, 'SELECT count(*) || '' '' || coalesce(sum(octet_length(t::text)), 0) FROM (' || wq || ') t');
    RETURN n || ' rows, ' || pg_size_pretty(b) || ' from ' || tasks || ' shards';
EXCEPTION WHEN OTHERS THEN
    RETURN 'n/a: ' || left(SQLERRM, 60);
END $$;

CREATE TEMP TABLE q (name text, body text);
INSERT INTO q VALUES
 ('rfm_agg per customer', $$SELECT customer_id, retailiq.rfm_agg(ordered_at, total_amount, '2024-05-30') FROM S.orders GROUP BY customer_id$$),
 ('rfm_segments', $$SELECT * FROM retailiq.rfm_segments('S.orders', '2024-05-30')$$),
 ('purchase_summary per customer', $$SELECT customer_id, retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8, '2024-05-30', '7 days') FROM S.orders GROUP BY customer_id$$),
 ('bgnbd_fit (distinct rows per shard)', $$SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM S.summary$$),
 ('gammagamma_fit (distinct rows per shard)', $$SELECT retailiq.gammagamma_fit(frequency, monetary) FROM S.summary$$),
 ('kmeans_pass (one Lloyd pass)', format($$SELECT retailiq.kmeans_pass(x, %L::retailiq.model) FROM S.rfm_features$$, :'km')),
 ('kmeans_segment (rows gathered)', $$SELECT retailiq.kmeans_segment(x, 5, 1) FROM S.rfm_features$$),
 ('wape over daily_sales', $$SELECT retailiq.wape(units::float8, (units + 1)::float8) FROM S.daily_sales$$),
 ('forecast_fit ets GROUP BY store', $$SELECT store_id, retailiq.forecast_fit(product_id::text, day, units::float8, 'ets') FROM S.daily_sales WHERE product_id <= 20 GROUP BY store_id$$),
 ('assoc_rules (split: baskets per shard)', $$SELECT retailiq.assoc_rules(items, 0.01, 0.3) FROM S.baskets$$),
 ('itemset_count (one level, 435 candidates)', format($$SELECT retailiq_internal.itemset_count(items::text[], %L) FROM S.baskets$$, :'cand2')),
 ('assoc_rules_distributed (all levels)', $$SELECT * FROM retailiq.assoc_rules_distributed('S.baskets', 'items', 0.01, 0.3)$$),
 ('bgnbd_loglik (one step of bgnbd_fit_iterative)', $$SELECT retailiq_internal.bgnbd_loglik(frequency, recency, t, '{0,0.5,0,0}') FROM S.summary$$),
 ('bgnbd_fit_iterative (all steps)', $$SELECT retailiq.bgnbd_fit_iterative('S.summary')$$),
 ('gammagamma_fit_iterative (all steps)', $$SELECT retailiq.gammagamma_fit_iterative('S.summary')$$);
SET retailiq.forecast_workers = 0;
SELECT name, round(o::numeric, 3) AS one_node_s, round(c::numeric, 3) AS cluster_s,
       round((c / nullif(o, 0))::numeric, 2) AS ratio,
       citus_test.coord_rows(replace(body, 'S.', 'retail.')) AS rows_to_coordinator,
       citus_test.tasks(replace(body, 'S.', 'retail.')) AS on_workers
FROM q, LATERAL (SELECT citus_test.best(replace(body, 'S.', 'one.'))) AS u(o),
        LATERAL (SELECT citus_test.best(replace(body, 'S.', 'retail.'))) AS t(c);

-- The reports over 150 days, every day computed (none stored), on one node (the event source
-- over schema one) and on the cluster (over schema retail: report_distributed_sql's queries).
-- (The registration is committed before the reports run: a report's query that reads a
-- reference table is run by Citus over a connection of its own, which sees committed rows.)
CREATE TEMP TABLE rep (name text, body text);
INSERT INTO rep VALUES
 ('report_sales daily by store', $$SELECT * FROM retailiq.report_sales('daily', '2024-01-01', '2024-05-31', by_store => true)$$),
 ('report_behaviour weekly', $$SELECT * FROM retailiq.report_behaviour('weekly', '2024-01-01', '2024-05-31')$$),
 ('report_html', $$SELECT retailiq.report_html('2024-01-01', '2024-05-31')$$);
SELECT retailiq.register_event_source('one') \gset
CREATE TEMP TABLE rep_one AS SELECT name, citus_test.best(body) AS s FROM rep;
SELECT retailiq.register_event_source('retail') \gset
SELECT r.name, round(o.s::numeric, 3) AS one_node_s, round(c.s::numeric, 3) AS cluster_s,
       round((c.s / nullif(o.s, 0))::numeric, 2) AS ratio
FROM rep r JOIN rep_one o USING (name), LATERAL (SELECT citus_test.best(r.body)) AS c(s);

-- The reports' computed days on the cluster (150 days): what reaches the coordinator from the
-- workers and what the coordinator sends them (the range's orders, as an intermediate
-- result), from Citus's EXPLAIN ANALYZE
CREATE FUNCTION citus_test.moved(kind text) RETURNS TABLE (query text, to_coordinator text, to_workers text) LANGUAGE plpgsql AS $$
DECLARE l text; rx numeric := 0; tx numeric := 0; pending numeric;
BEGIN
    EXECUTE format('PREPARE rq_bench(date, date%s) AS %s', CASE WHEN kind = 'customers' THEN ', text' END,
                   retailiq_internal.report_distributed_sql(kind));
    FOR l IN EXECUTE format('EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE rq_bench(''2024-01-01'', ''2024-05-31''%s)',
                            CASE WHEN kind = 'customers' THEN ', ''week''' END) LOOP
        IF l ~ 'Tuple data received from nodes: ' THEN
            rx := rx + citus_test.bytes(substring(l from 'nodes: (.*)$'));
        ELSIF l ~ 'Intermediate Data Size: ' THEN
            pending := citus_test.bytes(substring(l from 'Size: (.*)$'));
        ELSIF l ~ 'Result destination: Send to' THEN
            tx := tx + pending * substring(l from 'Send to ([0-9]+)')::numeric;
        END IF;
    END LOOP;
    DEALLOCATE rq_bench;
    RETURN QUERY SELECT kind, pg_size_pretty(rx), pg_size_pretty(tx);
END $$;
CREATE FUNCTION citus_test.bytes(t text) RETURNS numeric LANGUAGE sql AS $$
    SELECT split_part(t, ' ', 1)::numeric * CASE split_part(t, ' ', 2) WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END $$;
SELECT m.* FROM unnest(ARRAY['day_sales', 'day_units', 'day_customers', 'day_funnel', 'customers']) k, citus_test.moved(k) m;
SELECT (SELECT count(*) FROM retail.orders) AS orders, (SELECT count(*) FROM retail.order_lines) AS order_lines,
       (SELECT count(*) FROM retail.events) AS events;
