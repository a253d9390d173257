-- The simple peers of the README, in SQL, on a training table (customer, product, day) and the
-- held-back customers: popularity (baskets holding the product), the customer's own most-bought
-- products (personal_top: his baskets holding the product, ties by his last purchase, then
-- popularity; filled with popularity) and item-to-item cosine kNN on the binary customer x
-- product matrix (k nearest neighbours of each product, a product's score = the sum of its
-- similarities to the customer's products, filled with popularity), repeat and new variants.
-- psql variables: train, last (held-back customers), k. Results: peer_personal_top,
-- peer_item_knn_repeat, peer_item_knn_new (customer, rank, product).
CREATE TEMP TABLE pop AS
    SELECT product, count(DISTINCT (customer, day)) AS baskets FROM :train GROUP BY product;
CREATE TEMP TABLE pop_rank AS
    SELECT product, baskets, row_number() OVER (ORDER BY baskets DESC, product) AS r FROM pop;
CREATE TEMP TABLE hist AS
    SELECT customer, product, count(DISTINCT day) AS baskets, max(day) AS last_day
    FROM :train WHERE customer IN (SELECT customer FROM :last) GROUP BY customer, product;
-- personal_top (repeat only)
CREATE TABLE peer_personal_top AS
    SELECT customer, rank, product FROM (
        SELECT customer, product, row_number() OVER (PARTITION BY customer ORDER BY own DESC, last_day DESC NULLS LAST, r) AS rank
        FROM (SELECT c.customer, p.product, p.r, coalesce(h.baskets, 0) AS own, h.last_day
              FROM (SELECT customer FROM :last) c
              CROSS JOIN (SELECT * FROM pop_rank WHERE r <= 10) p
              LEFT JOIN hist h USING (customer, product)
              UNION ALL
              SELECT h.customer, h.product, p.r, h.baskets, h.last_day
              FROM hist h JOIN pop_rank p USING (product)
              WHERE p.r > 10) s) s
    WHERE rank <= 10;
-- item-to-item cosine on the binary customer x product matrix of the whole training table
CREATE TEMP TABLE cb AS SELECT DISTINCT customer, product FROM :train;
CREATE TEMP TABLE nbuy AS SELECT product, count(*)::float8 AS n FROM cb GROUP BY product;
CREATE TEMP TABLE sim AS
    SELECT a.product AS i, b.product AS j, count(*) / sqrt(max(na.n) * max(nb.n)) AS s
    FROM cb a JOIN cb b ON a.customer = b.customer AND a.product <> b.product
    JOIN nbuy na ON na.product = a.product JOIN nbuy nb ON nb.product = b.product
    GROUP BY a.product, b.product;
CREATE TEMP TABLE simk AS
    SELECT i, j, s FROM (SELECT i, j, s, row_number() OVER (PARTITION BY i ORDER BY s DESC, j) AS q FROM sim) x
    WHERE q <= :k;
-- score(j) = sum over the customer's products i of sim_k(j, i) (j's own k nearest neighbours)
CREATE TEMP TABLE knn_score AS
    SELECT h.customer, k.i AS product, sum(k.s) AS score
    FROM hist h JOIN simk k ON k.j = h.product GROUP BY h.customer, k.i;
CREATE TABLE peer_item_knn_repeat AS
    SELECT customer, rank, product FROM (
        SELECT customer, product, row_number() OVER (PARTITION BY customer ORDER BY score DESC, r) AS rank
        FROM (SELECT customer, product, score, r FROM knn_score JOIN pop_rank USING (product)
              UNION ALL
              SELECT c.customer, p.product, -1, p.r FROM (SELECT customer FROM :last) c
              CROSS JOIN (SELECT * FROM pop_rank WHERE r <= 10) p
              WHERE NOT EXISTS (SELECT 1 FROM knn_score s WHERE s.customer = c.customer AND s.product = p.product)) s) s
    WHERE rank <= 10;
CREATE TABLE peer_item_knn_new AS
    SELECT customer, rank, product FROM (
        SELECT customer, product, row_number() OVER (PARTITION BY customer ORDER BY score DESC, r) AS rank
        FROM (SELECT customer, product, score, r FROM knn_score JOIN pop_rank USING (product)
              WHERE NOT EXISTS (SELECT 1 FROM hist h WHERE h.customer = knn_score.customer AND h.product = knn_score.product)
              UNION ALL
              SELECT c.customer, p.product, -1, p.r FROM (SELECT customer FROM :last) c
              CROSS JOIN (SELECT * FROM pop_rank WHERE r <= 200) p
              WHERE NOT EXISTS (SELECT 1 FROM knn_score s WHERE s.customer = c.customer AND s.product = p.product)
                AND NOT EXISTS (SELECT 1 FROM hist h WHERE h.customer = c.customer AND h.product = p.product)) s) s
    WHERE rank <= 10;
DROP TABLE pop, pop_rank, hist, cb, nbuy, sim, simk, knn_score;
