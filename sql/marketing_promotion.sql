-- What a promotion earned: a hand-worked case with an exact uplift (marketing, issue 25).
SET client_min_messages = warning;
CREATE SCHEMA promo_t;
CREATE TABLE promo_t.products (product_id int, category text, price numeric, unit_cost numeric);
INSERT INTO promo_t.products VALUES (1, 'juice', 2, 1), (2, 'juice', 3, 2), (3, 'tea', 5, 2);
CREATE TABLE promo_t.promotions (promo_id int, product_id int, store_id int, starts_on date, ends_on date,
                                 discount_pct numeric, featured bool);
INSERT INTO promo_t.promotions VALUES
    (1, 1, NULL, '2025-02-01', '2025-02-10', 20, false),
    (2, 1, 7,    '2025-04-01', '2025-04-10', 40, true),
    (3, 3, 7,    '2025-03-01', '2025-03-10', 10, false);
-- product 1 sells 9 a day and 19 on promotion: (1 + 19) / (1 + 9) = exactly twice on the
-- regression's log(1 + units) scale; product 2 (same category) sells 5, and 4 while product 1
-- is promoted (cannibalised); product 3 sells only while on promotion (no baseline)
CREATE TABLE promo_t.sales AS
SELECT 7 AS store_id, p AS product_id, d::date AS day,
       (CASE WHEN p = 1 THEN CASE WHEN on1 THEN 19 ELSE 9 END
            ELSE CASE WHEN on1 THEN 4 ELSE 5 END END)::float8 AS units,
       CASE WHEN p = 1 THEN CASE WHEN d < '2025-03-01' AND on1 THEN 19 * 1.6 WHEN on1 THEN 19 * 1.2 ELSE 18 END
            ELSE 3 * CASE WHEN on1 THEN 4 ELSE 5 END END AS revenue
FROM generate_series('2025-01-01'::date, '2025-05-31', '1 day') d, generate_series(1, 2) p,
     LATERAL (SELECT d BETWEEN '2025-02-01' AND '2025-02-10' OR d BETWEEN '2025-04-01' AND '2025-04-10' AS on1) o
UNION ALL
SELECT 7, 3, d::date, 6, 27 FROM generate_series('2025-03-01'::date, '2025-03-10', '1 day') d;
SELECT promo_id, product_id, store_id, periods, units, round(baseline_units::numeric, 3) AS baseline,
       round(incremental_units::numeric, 3) AS incremental, round(uplift::numeric, 4) AS uplift,
       round(incremental_revenue::numeric, 2) AS inc_revenue, round(incremental_margin::numeric, 2) AS inc_margin,
       round(cost::numeric, 2) AS cost, round(roi::numeric, 3) AS roi,
       round(dip_before_units::numeric, 3) AS dip_before, round(dip_after_units::numeric, 3) AS dip_after,
       round(cannibalised_units::numeric, 4) AS cannibalised, reason
FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products',
     '{"regression": {"transform": "log", "harmonics": 0, "validation": 0, "errors": "none",
                      "pooling": "none", "robust": false, "halflife": 0}}');
-- the intervals hold the point estimates
SELECT bool_and(incremental_units_lower <= incremental_units AND incremental_units <= incremental_units_upper) AS ordered
FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products',
     '{"regression": {"transform": "log", "harmonics": 0, "validation": 0, "errors": "none", "pooling": "none"}}')
WHERE reason IS NULL;
-- bad input
SELECT * FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products', '{"grain": "aisle"}');
SELECT * FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products', '{"colour": 1}');
SELECT * FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products', '{"level": 1.5}');
UPDATE promo_t.sales SET units = 'NaN' WHERE product_id = 2 AND day = '2025-01-05';
SELECT count(*) FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products');
UPDATE promo_t.sales SET units = 5 WHERE product_id = 2 AND day = '2025-01-05';
INSERT INTO promo_t.promotions VALUES (4, 2, 7, '2025-05-10', '2025-05-01', 10, false);
SELECT count(*) FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products');
DELETE FROM promo_t.promotions WHERE promo_id = 4;
-- NULL options are the defaults (validation chooses the regression's form); the same answer
SELECT promo_id, round(incremental_units::numeric) AS incremental, reason
FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products', NULL);
-- per campaign: without a campaign column each promotion is one; the sums are the rows' sums,
-- ROI their ratio, and the interval holds the point
CREATE TEMP TABLE promo_rows AS
SELECT * FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products',
     '{"regression": {"transform": "log", "harmonics": 0, "validation": 0, "errors": "none", "pooling": "none"}}');
CREATE TEMP TABLE promo_camps AS
SELECT * FROM retailiq.promotion_campaigns('promo_t.sales', 'promo_t.promotions', 'promo_t.products',
     '{"regression": {"transform": "log", "harmonics": 0, "validation": 0, "errors": "none", "pooling": "none"}}');
SELECT campaign, n_promotions, n_products, n_stores, starts_on, ends_on, units, rows_without_baseline,
       round(roi::numeric, 3) AS roi
FROM promo_camps;
SELECT bool_and(abs(c.incremental_units - r.iu) < 1e-9 AND abs(c.cost - r.cost) < 1e-9
                AND abs(c.roi - r.im / r.cost) < 1e-9
                AND c.incremental_margin_lower <= c.incremental_margin
                AND c.incremental_margin <= c.incremental_margin_upper
                AND c.roi_lower <= c.roi AND c.roi <= c.roi_upper) AS sums_agree
FROM promo_camps c
JOIN (SELECT promo_id::text AS campaign, sum(incremental_units) AS iu, sum(incremental_margin) AS im, sum(cost) AS cost
        FROM promo_rows WHERE reason IS NULL GROUP BY 1) r USING (campaign);
-- a campaign column groups promotions 1 and 2 (product 1, February and April) into one
ALTER TABLE promo_t.promotions ADD COLUMN campaign text;
UPDATE promo_t.promotions SET campaign = CASE WHEN promo_id IN (1, 2) THEN 'juice days' ELSE 'tea week' END;
SELECT campaign, n_promotions, starts_on, ends_on, units,
       abs(incremental_units - (SELECT sum(incremental_units) FROM promo_rows WHERE promo_id IN (1, 2))) < 1e-9 AS summed,
       -- two independent rows: the half-width is the root of the squared half-widths
       abs((incremental_units_upper - incremental_units)
           - (SELECT sqrt(sum((incremental_units_upper - incremental_units) ^ 2)) FROM promo_rows WHERE promo_id IN (1, 2))) < 1e-9 AS root_sum_squares
FROM retailiq.promotion_campaigns('promo_t.sales', 'promo_t.promotions', 'promo_t.products',
     '{"regression": {"transform": "log", "harmonics": 0, "validation": 0, "errors": "none", "pooling": "none"}}');
-- bad input: a promotion in two campaigns, NULL relations
INSERT INTO promo_t.promotions VALUES (3, 3, 8, '2025-03-01', '2025-03-10', 10, false, 'other');
SELECT * FROM retailiq.promotion_campaigns('promo_t.sales', 'promo_t.promotions', 'promo_t.products');
DELETE FROM promo_t.promotions WHERE campaign = 'other';
SELECT * FROM retailiq.promotion_campaigns(NULL, 'promo_t.promotions', 'promo_t.products');
ALTER TABLE promo_t.promotions DROP COLUMN campaign;
-- the effect's own uncertainty, worked by hand: one noisy series (units scale, one series, no
-- pooling) with a 10-day and a 5-day promotion. Each interval's half-width is
-- z * sigma * sqrt(P + P^2 * c), c = 1 / promoted periods + 1 / baseline periods (15 and
-- 151 - 15 - 4 x 7 dip days = 108), the same sigma for both: their squared ratio is
-- (10 + 100 c) / (5 + 25 c), where noise alone would give exactly 2
CREATE TABLE promo_t.noisy AS
SELECT 9 AS store_id, 5 AS product_id, d::date AS day,
       (10 + ((i * 37) % 11) - 5 + CASE WHEN d BETWEEN '2025-02-01' AND '2025-02-10'
                                          OR d BETWEEN '2025-04-01' AND '2025-04-05' THEN 8 ELSE 0 END)::float8 AS units,
       0::float8 AS revenue
FROM generate_series('2025-01-01'::date, '2025-05-31', '1 day') WITH ORDINALITY g(d, i);
CREATE TABLE promo_t.noisy_promos (promo_id int, product_id int, store_id int, starts_on date, ends_on date,
                                   discount_pct numeric, featured bool);
INSERT INTO promo_t.noisy_promos VALUES (11, 5, 9, '2025-02-01', '2025-02-10', 20, false),
                                        (12, 5, 9, '2025-04-01', '2025-04-05', 20, false);
INSERT INTO promo_t.products VALUES (5, 'snack', 4, 2);
SELECT round(((max(h) FILTER (WHERE promo_id = 11) / max(h) FILTER (WHERE promo_id = 12)) ^ 2)::numeric, 6) AS ratio,
       round(((10 + 100 * (1.0 / 15 + 1.0 / 108)) / (5 + 25 * (1.0 / 15 + 1.0 / 108)))::numeric, 6) AS by_hand
FROM (SELECT promo_id, incremental_units - incremental_units_lower AS h
        FROM retailiq.promotion_effects('promo_t.noisy', 'promo_t.noisy_promos', 'promo_t.products',
             '{"regression": {"transform": "none", "harmonics": 0, "validation": 0, "errors": "none",
                              "pooling": "none", "robust": false, "halflife": 0}}')) e;
DELETE FROM promo_t.products WHERE product_id = 5;
-- an ordinary role reads what it may read
CREATE ROLE promo_analyst;
GRANT USAGE ON SCHEMA promo_t TO promo_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA promo_t TO promo_analyst;
SET ROLE promo_analyst;
SELECT promo_id, round(incremental_units::numeric, 3) AS incremental
FROM retailiq.promotion_effects('promo_t.sales', 'promo_t.promotions', 'promo_t.products',
     '{"regression": {"transform": "log", "harmonics": 0, "validation": 0, "errors": "none", "pooling": "none", "robust": false, "halflife": 0}}')
WHERE promo_id = 1;
RESET ROLE;
DROP SCHEMA promo_t CASCADE;
DROP OWNED BY promo_analyst;
DROP ROLE promo_analyst;
