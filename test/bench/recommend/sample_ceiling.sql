-- How far can "new products only" go on the sample? A diagnostic, not a peer and not part of
-- `make bench`: rankings built from what the generator plants (src/sample/world.c:
-- pick_product), which no recommender is given, scored like the bench's lists.
--
-- psql variables: schema (a generate_sample_data schema), train, last, test (tables made from
-- it as sample.sql makes smp_train, smp_last, smp_test). Prints recall@10 and NDCG@10 of:
--   popularity          baskets holding the product in the training lines (no decay)
--   planted, no day     the planted pick model without knowing the held-back day: 30% from the
--                       customer's favourite category (estimated: his most-bought category in
--                       training), 70% by the product's base popularity (its training lines a
--                       day on days it was not promoted)
--   planted, last+7     the same with the chain-wide promotions running 7 days after the
--                       customer's last training day (a promoted product's pick weight
--                       x (1 + 6 depth), x1.5 featured; bargain hunters take 60% of picks
--                       uniformly from what is promoted)
--   planted, test day   the same with the promotions of the held-back day itself: knows the
--                       held-back day, which no recommender is told (an upper bound)
-- The customer's past products are excluded, as in the bench's "new products only".
\set ON_ERROR_STOP 1
\ir score.sql
\o /dev/null
CREATE TEMP TABLE c_hist AS
    SELECT customer, product, count(DISTINCT day) AS n FROM :train
    WHERE customer IN (SELECT customer FROM :last) GROUP BY 1, 2;
CREATE TEMP TABLE c_ltrain AS
    SELECT customer, max(day) AS l FROM :train WHERE customer IN (SELECT customer FROM :last) GROUP BY 1;
CREATE TEMP TABLE c_promoted AS
    SELECT t.product, t.day, EXISTS (SELECT 1 FROM :schema.promotions p WHERE p.product_id = t.product
                                      AND p.store_id IS NULL AND t.day BETWEEN p.starts_on AND p.ends_on) AS promo
    FROM :train t;
CREATE TEMP TABLE c_base AS
    SELECT product, count(*) FILTER (WHERE NOT promo)::float8
                    / greatest(1, count(DISTINCT day) FILTER (WHERE NOT promo)) AS b,
           count(*)::float8 AS lines
    FROM c_promoted GROUP BY 1;
CREATE TEMP TABLE c_cat AS
    SELECT b.product, p.category, b.b, b.b / sum(b.b) OVER (PARTITION BY p.category) AS within
    FROM c_base b JOIN :schema.products p ON p.product_id = b.product;
CREATE TEMP TABLE c_fav AS
    SELECT DISTINCT ON (h.customer) h.customer, c.category
    FROM c_hist h JOIN c_cat c USING (product) GROUP BY 1, 2 ORDER BY h.customer, sum(h.n) DESC, c.category;
CREATE TEMP TABLE c_bargain AS
    SELECT customer_id::bigint AS customer FROM :schema.planted_customers WHERE customer_type = 'bargain hunter';

-- the planted pick probability of each product for each held-back customer on day d(customer)
CREATE FUNCTION pg_temp.planted(days regclass, out_table text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE format($q$
        CREATE TEMP TABLE %2$s AS
        WITH w AS (
            SELECT d.customer, c.product, c.category, c.b, c.within,
                   c.b * (1 + coalesce(max(6 * pr.discount_pct / 100 * CASE WHEN pr.featured THEN 1.5 ELSE 1 END), 0)) AS w,
                   bool_or(pr.promo_id IS NOT NULL) AS prom
            FROM %1$s d CROSS JOIN c_cat c
            LEFT JOIN %3$s.promotions pr ON d.day IS NOT NULL AND pr.product_id = c.product AND pr.store_id IS NULL
                                        AND d.day BETWEEN pr.starts_on AND pr.ends_on
            GROUP BY 1, 2, 3, 4, 5),
        s AS (
            SELECT w.customer, w.product,
                   0.3 * CASE WHEN w.category = f.category THEN w.within ELSE 0 END
                   + 0.7 * CASE WHEN b.customer IS NOT NULL AND sum(w.prom::int) OVER (PARTITION BY w.customer) > 0
                                THEN 0.6 * w.prom::int / sum(w.prom::int) OVER (PARTITION BY w.customer)
                                     + 0.4 * w.w / sum(w.w) OVER (PARTITION BY w.customer)
                                ELSE w.w / sum(w.w) OVER (PARTITION BY w.customer) END AS s
            FROM w LEFT JOIN c_fav f USING (customer) LEFT JOIN c_bargain b USING (customer))
        SELECT customer, rank, product FROM (
            SELECT customer, product, row_number() OVER (PARTITION BY customer ORDER BY s DESC, product) AS rank
            FROM s WHERE NOT EXISTS (SELECT 1 FROM c_hist h WHERE h.customer = s.customer AND h.product = s.product)) x
        WHERE rank <= 10$q$, days, out_table, current_setting('ceiling.schema'));
END $f$;
SELECT set_config('ceiling.schema', :'schema', false);
CREATE TEMP TABLE c_no_day AS SELECT customer, NULL::date AS day FROM c_ltrain;
CREATE TEMP TABLE c_last7 AS SELECT customer, l + 7 AS day FROM c_ltrain;
CREATE TEMP TABLE c_test_day AS SELECT customer, last_day AS day FROM :last;
SELECT pg_temp.planted('c_no_day', 'c_r_no_day'), pg_temp.planted('c_last7', 'c_r_last7'),
       pg_temp.planted('c_test_day', 'c_r_test_day');
CREATE TEMP TABLE c_r_pop AS
    SELECT customer, rank, product FROM (
        SELECT l.customer, b.product, row_number() OVER (PARTITION BY l.customer ORDER BY b.lines DESC, b.product) AS rank
        FROM c_ltrain l CROSS JOIN c_base b
        WHERE NOT EXISTS (SELECT 1 FROM c_hist h WHERE h.customer = l.customer AND h.product = b.product)) x
    WHERE rank <= 10;
\o
\pset format unaligned
\pset fieldsep ' '
\pset tuples_only on
SELECT rpad(m, 20), round(s.recall10::numeric, 4), round(s.ndcg10::numeric, 4)
FROM (VALUES ('popularity', 'c_r_pop'), ('planted, no day', 'c_r_no_day'), ('planted, last+7', 'c_r_last7'),
             ('planted, test day', 'c_r_test_day')) v(m, t),
     LATERAL pg_temp.score_recs(v.t::regclass, :'test'::regclass) s;
