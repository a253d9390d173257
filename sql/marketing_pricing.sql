-- What a price does: elasticities, predictions and a recommended price (marketing, issue 25).
SET extra_float_digits = 0;
-- product 1 in two stores follows units = level_s * price^-2 exactly: elasticity -2 in each
-- store and pooled; in store 30 its price never moves (its units do: the interval's width).
-- Product 2's price never moves at all.
CREATE TABLE pr_sales AS
SELECT 1::bigint AS product, s::bigint AS store, ('2025-01-06'::date + 7 * w) AS week,
       (CASE s WHEN 10 THEN 100 ELSE 50 END) * (2 + (w % 3) * 0.5 + (w % 2) * 0.25) ^ -2 AS units,
       (2 + (w % 3) * 0.5 + (w % 2) * 0.25)::float8 AS price
FROM generate_series(0, 11) w, unnest(ARRAY[10, 20]) s
UNION ALL
SELECT 1, 30, '2025-01-06'::date + 7 * w, 20 + w % 4, 2.5 FROM generate_series(0, 11) w
UNION ALL
SELECT 2, s, '2025-01-06'::date + 7 * w, 10 + w % 3, 4 FROM generate_series(0, 11) w, unnest(ARRAY[10, 20]) s;
CREATE TABLE pr_model AS SELECT retailiq.elasticity_fit(product, store, week, units, price) AS m FROM pr_sales;
SELECT retailiq.model_kind(m), retailiq.model_info(m) -> 'params' AS params FROM pr_model;
SELECT product, store, round(elasticity::numeric, 9) AS elasticity, round(lower::numeric, 6) AS lower,
       round(upper::numeric, 6) AS upper, observations, reason
FROM pr_model, retailiq.elasticities(m) ORDER BY product, store NULLS FIRST;
-- expected units: 100 * 4^-2 = 6.25 in store 10 at price 4; unknown store or product: NULL
SELECT round(retailiq.elasticity_predict(m, 1, 10, '2025-06-02', 4)::numeric, 9) AS at_4,
       retailiq.elasticity_predict(m, 1, 99, '2025-06-02', 4) AS unknown_store,
       retailiq.elasticity_predict(m, 2, 10, '2025-06-02', 4) AS no_estimate
FROM pr_model;
-- the same rows in another order, and under a parallel plan, give the same model
SELECT (SELECT retailiq.elasticity_fit(product, store, week, units, price ORDER BY units DESC) FROM pr_sales)::text::jsonb - 'trained_at'
       = m::text::jsonb - 'trained_at' AS same_order
FROM pr_model;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
SELECT (SELECT retailiq.elasticity_fit(product, store, week, units, price) FROM pr_sales)::text::jsonb - 'trained_at'
       = m::text::jsonb - 'trained_at' AS same_parallel
FROM pr_model;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation;

-- a recommended price: with elasticity -2 and cost 1 the best price is 2 (cost x e / (1 + e)),
-- but only a 10% change is allowed: 3.60; with endings .99 the only price in range is 3.99
SELECT recommended_price, round(change_pct::numeric, 2) AS change_pct, elasticity,
       round(expected_units::numeric, 4) AS units, round(margin::numeric, 4) AS margin, reason
FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100);
SELECT recommended_price, round(expected_units::numeric, 4) AS units
FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"endings": [0.99]}');
SELECT recommended_price, round(margin::numeric, 2) AS margin
FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"max_change": 0.6}');
-- a minimum margin of 200% on cost 1 floors the price at 3
SELECT recommended_price FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"max_change": 0.6, "min_margin": 2}');
-- stock-aware: 600 units to clear in 2 weeks at 100 a week at price 4; salvage 0: the price
-- that earns most from the stock by the date (units sold at most the stock)
SELECT recommended_price, round(expected_units::numeric, 2) AS units, round(leftover_units::numeric, 2) AS leftover,
       round(margin::numeric, 2) AS margin
FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"max_change": 0.5, "stock": 600, "periods": 2}');
-- no estimate: a reason instead of a price
SELECT recommended_price, reason FROM pr_model, retailiq.recommend_price(m, 2, 10, 4, 1, 100);
SELECT recommended_price, reason FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"endings": [0.5], "max_change": 0.05}');

-- factors and options: a deal factor with a known effect, the season off
CREATE TABLE pr_deal AS
SELECT 5::bigint AS product, s::bigint AS store, '2024-01-01'::date + 7 * w AS week,
       exp(3 + (s / 10) * 0.1 - 1.5 * ln(p) + 0.4 * deal + 0.01 * sin(w)) AS units, p AS price,
       ARRAY[deal]::float8[] AS factors
FROM generate_series(0, 59) w, unnest(ARRAY[10, 20, 30]) s,
     LATERAL (SELECT 1.5 + ((w * 7 + s) % 5) * 0.2 AS p, ((w + s) % 4 = 0)::int AS deal) x;
SELECT product, store, round(elasticity::numeric, 2) AS elasticity, observations
FROM retailiq.elasticities((SELECT retailiq.elasticity_fit(product, store, week, units, price, factors,
                                                           '{"harmonics": 0, "level": 0.9}') FROM pr_deal))
ORDER BY store NULLS FIRST;
SELECT retailiq.model_info(retailiq.elasticity_fit(product, store, week, units, price, factors, '{"pooling": "none"}')) -> 'params'
FROM pr_deal;

-- bad input
SELECT retailiq.elasticity_fit(product, store, week, units, -price) FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, 'NaN', price) FROM pr_sales;
SELECT retailiq.elasticity_fit(NULL, store, week, units, price) FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, 'infinity', units, price) FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, units, price, CASE WHEN store = 10 THEN ARRAY[1.0] END) FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, units, price, ARRAY['NaN']::float8[]) FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, units, price, NULL, '{"harmonics": 1.5}') FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, units, price, NULL, '{"pooling": "all"}') FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, units, price, NULL, '{"shrink": true}') FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, 0, price) FROM pr_sales;
SELECT retailiq.elasticity_fit(product, store, week, units, price) IS NULL AS empty FROM pr_sales WHERE false;
SELECT retailiq.elasticity_predict(m, 1, 10, '2025-06-02', 0) FROM pr_model;
SELECT retailiq.elasticity_predict(m, 1, 10, '2025-06-02', 4, ARRAY[1.0]) FROM pr_model;
SELECT * FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"stock": 10}');
SELECT * FROM pr_model, retailiq.recommend_price(m, 1, 10, 'NaN', 1, 100);
SELECT * FROM pr_model, retailiq.recommend_price(m, 1, 10, 4, 1, 100, '{"speed": 1}');
-- a model whose fields do not hold together
SELECT * FROM retailiq.elasticities((SELECT jsonb_set(m::text::jsonb, '{data,product_status}', '[7, 1]')::text::retailiq.model FROM pr_model));
SELECT * FROM retailiq.elasticities((SELECT jsonb_set(m::text::jsonb, '{data,store_offset}', '[0, 5, 5]')::text::retailiq.model FROM pr_model));
SELECT * FROM retailiq.elasticities((SELECT jsonb_set(m::text::jsonb, '{params,harmonics}', '3')::text::retailiq.model FROM pr_model));
SELECT * FROM retailiq.elasticities((SELECT jsonb_set(m::text::jsonb, '{data,store_level,0}', '"NaN"')::text::retailiq.model FROM pr_model));
SELECT * FROM retailiq.elasticities((SELECT retailiq.bgnbd_fit(1, 1, 2)));

-- an ordinary role trains and reads
CREATE ROLE pr_analyst;
GRANT SELECT ON pr_sales, pr_model TO pr_analyst;
SET ROLE pr_analyst;
SELECT product, store, round(elasticity::numeric, 6) AS elasticity
FROM retailiq.elasticities((SELECT retailiq.elasticity_fit(product, store, week, units, price) FROM pr_sales))
WHERE product = 1;
SELECT recommended_price FROM pr_model, retailiq.recommend_price(m, 1, NULL, 4, 1, 100);
RESET ROLE;
DROP TABLE pr_sales, pr_model, pr_deal;
DROP ROLE pr_analyst;
