-- Recommendations for each customer: retailiq.recommender_fit over purchase lines and
-- recommend_for_customer / recommend_for_customers (doc/marketing.md).
SET jit = off;
SET extra_float_digits = 0;

-- A hand-worked example: three customers, four products, every purchase on one day.
--   customer 1: 10, 20     customer 2: 10, 20, 30     customer 3: 20, 30, 40
-- Cosine similarity on the binary customer x product matrix (customers buying both over the
-- square root of the product of the numbers buying each):
--   sim(10,20) = 2/sqrt(2*3) = 0.8165   sim(10,30) = 1/sqrt(2*2) = 0.5   sim(10,40) = 0
--   sim(20,30) = 2/sqrt(3*2) = 0.8165   sim(20,40) = 1/sqrt(3*1) = 0.5774   sim(30,40) = 1/sqrt(2*1) = 0.7071
-- so customer 1's new products score 30: 0.5 + 0.8165 = 1.3165 and 40: 0 + 0.5774 = 0.5774.
CREATE TABLE lines (customer bigint, product bigint, quantity float8, at timestamptz);
INSERT INTO lines VALUES (1, 10, 1, '2024-03-01 10:00+00'), (1, 20, 2, '2024-03-01 10:00+00'),
    (2, 10, 1, '2024-03-01 11:00+00'), (2, 20, 1, '2024-03-01 11:00+00'), (2, 30, 5, '2024-03-01 11:00+00'),
    (3, 20, 1, '2024-03-01 12:00+00'), (3, 30, 1, '2024-03-01 12:00+00'), (3, 40, 3, '2024-03-01 12:00+00');
CREATE TABLE fit AS SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7}') AS m FROM lines;
SELECT retailiq.model_kind(m) FROM fit;
-- one purchase day each: nobody can be held back, so nothing is validated and the defaults hold
SELECT i->'metrics'->'customers' AS customers, i->'metrics'->'products' AS products,
       i->'metrics'->'validation_customers' AS validated, i->'params'->'neighbours' AS neighbours,
       i->'params'->'factors' AS factors
FROM (SELECT retailiq.model_info(m) AS i FROM fit) s;
SELECT product, round(score::numeric, 4) AS score, reason
FROM fit, retailiq.recommend_for_customer(m, 1, 10, '{"repeat": false, "method": "item"}');
-- neighbour_weighting 1: each customer's purchases count 1 / (his number of products), and
-- the similarity is the weighted cosine: customer 1 weighs 1/2, customers 2 and 3 1/3 each;
-- W(10) = 1/2 + 1/3 = 5/6, W(20) = 7/6, W(30) = 2/3, W(40) = 1/3;
--   sim(10,30) = (1/3) / sqrt(5/6 * 2/3) = 0.4472   sim(20,30) = (2/3) / sqrt(7/6 * 2/3) = 0.7559
--   sim(20,40) = (1/3) / sqrt(7/6 * 1/3) = 0.5345
-- so customer 1's new products score 30: 0.4472 + 0.7559 = 1.2031 and 40: 0.5345.
SELECT product, round(score::numeric, 4) AS score
FROM (SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7, "neighbour_weighting": 1}') AS m
        FROM lines) f, retailiq.recommend_for_customer(m, 1, 10, '{"repeat": false, "method": "item"}');
SELECT retailiq.model_info(retailiq.recommender_fit(customer, product, quantity, at, '{"neighbour_weighting": 1}'))
           ->'params'->'neighbour_weighting' AS weighting FROM lines;
-- confidence "bm25": an entry's confidence is 1 + alpha x its BM25 weight, which carries
-- idf_u = log(products) - log(1 + the customer's products), at least 0. When every customer
-- has bought 3 or more of the 4 products, idf_u = log 4 - log 4 (or log 5) <= 0 for all of
-- them: every confidence is 1, as with alpha 0, and the factors are those of alpha 0 bit for
-- bit (linear confidence with alpha 5 gives others). Above, customer 1 has 2 products
-- (idf log 4 - log 3 = 0.288): his purchases weigh, and the factors differ from alpha 0's.
CREATE TABLE lines_full (customer bigint, product bigint, quantity float8, at timestamptz);
INSERT INTO lines_full SELECT c, p, 1, '2024-03-01 10:00+00' FROM generate_series(1, 3) c, generate_series(10, 40, 10) p
 WHERE (c, p) NOT IN ((1, 40), (3, 10));
SELECT (b.m::text::jsonb->'data'->'customer_factors') = (z.m::text::jsonb->'data'->'customer_factors') AS bm25_all_idf_0_is_alpha_0,
       (l.m::text::jsonb->'data'->'customer_factors') <> (z.m::text::jsonb->'data'->'customer_factors') AS linear_alpha_5_differs,
       retailiq.model_info(b.m)->'params'->>'confidence' AS confidence
FROM (SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7, "alpha": 5, "confidence": "bm25"}') AS m FROM lines_full) b,
     (SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7, "alpha": 0}') AS m FROM lines_full) z,
     (SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7, "alpha": 5}') AS m FROM lines_full) l;
SELECT (b.m::text::jsonb->'data'->'customer_factors') <> (z.m::text::jsonb->'data'->'customer_factors') AS bm25_weighs_customer_1,
       retailiq.model_info(f.m)->'params'->>'confidence' AS default_without_validation
FROM (SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7, "alpha": 5, "confidence": "bm25"}') AS m FROM lines) b,
     (SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7, "alpha": 0}') AS m FROM lines) z, fit f;
-- the own history: one basket each, ties by popularity (20 is in three baskets), then by id
SELECT product, round(score::numeric, 4) AS score, reason
FROM fit, retailiq.recommend_for_customer(m, 2, 10, '{"method": "own"}');
-- a customer the model has never seen gets what sells (baskets: 20 three, 10 and 30 two, 40 one)
SELECT product, round(score::numeric, 4) AS score, reason FROM fit, retailiq.recommend_for_customer(m, 99, 10);
-- ... or what sells among the customers of his segment (here: customer 3)
SELECT product, round(score::numeric, 4) AS score, reason
FROM fit, retailiq.recommend_for_customer(m, 99, 3, '{"peers": [3, 12345]}');
-- Popularity for new products counts first purchases. Customers 1-3 as above on 2024-03-21,
-- and customer 4 buys product 40 on 03-01, 03-11 and 03-21; only customer 4 has two purchase
-- days, so nothing is validated and the defaults hold: popularity halves every 10 days back
-- from 03-21, counting every basket for repeat purchases and each customer's first basket of
-- a product for new products only:
--   baskets:         10: 2   20: 3   30: 2   40: 1 + (0.25 + 0.5 + 1) = 2.75
--   first purchases: 10: 2   20: 3   30: 2   40: 1 + 0.25 (customer 4's on 03-01) = 1.25
-- A customer the model has never seen gets them scaled to a maximum of 1.
CREATE TABLE lines_first AS SELECT customer, product, quantity, at + interval '20 days' AS at FROM lines
UNION ALL SELECT 4, 40, 1, d FROM unnest(ARRAY[timestamptz '2024-03-01 09:00+00', '2024-03-11 09:00+00', '2024-03-21 09:00+00']) d;
CREATE TABLE fit_first AS SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7}') AS m FROM lines_first;
SELECT i->'metrics'->'validation_customers' AS validated, i->'params'->'new_pop_first' AS new_first,
       i->'params'->'repeat_pop_first' AS repeat_first
FROM (SELECT retailiq.model_info(m) AS i FROM fit_first) s;
SELECT product, round(score::numeric, 4) AS score, reason FROM fit_first, retailiq.recommend_for_customer(m, 99, 4);
SELECT product, round(score::numeric, 4) AS score, reason FROM fit_first, retailiq.recommend_for_customer(m, 99, 4, '{"repeat": false}');
-- among a segment's customers (3 and 4) new products count the peers who bought them, repeat
-- purchases their baskets: 40 is bought by both (first purchases 2, 20 and 30 one each;
-- baskets 1 + 3 = 4 against one each)
SELECT product, round(score::numeric, 4) AS score FROM fit_first, retailiq.recommend_for_customer(m, 99, 3, '{"repeat": false, "peers": [3, 4]}');
SELECT product, round(score::numeric, 4) AS score FROM fit_first, retailiq.recommend_for_customer(m, 99, 3, '{"peers": [3, 4]}');
DROP TABLE lines_first, fit_first;
-- the blend, new products only; out of stock or outside the chosen categories is left out
SELECT product, reason FROM fit, retailiq.recommend_for_customer(m, 1, 10, '{"repeat": false}');
SELECT product FROM fit, retailiq.recommend_for_customer(m, 1, 10, '{"repeat": false, "exclude": [30]}');
SELECT product FROM fit, retailiq.recommend_for_customer(m, 2, 10, '{"only": [20, 40, 777]}');
-- more than the catalogue: every product once
SELECT count(*), count(DISTINCT product) FROM fit, retailiq.recommend_for_customer(m, 3, 1000000);
-- every customer at once, ranked
SELECT customer, rank, product FROM fit, retailiq.recommend_for_customers(m, 2, '{"repeat": false}')
ORDER BY customer, rank;

-- ALS is reproducible for a seed, bit for bit, and another seed gives other factors
CREATE TABLE fit2 AS SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7}') AS m FROM lines;
CREATE TABLE fit3 AS SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 8}') AS m FROM lines;
SELECT (a.m::text::jsonb - 'trained_at') = (b.m::text::jsonb - 'trained_at') AS same_seed_same_model,
       (a.m::text::jsonb->'data'->'customer_factors') = (c.m::text::jsonb->'data'->'customer_factors') AS other_seed_same_factors
FROM fit a, fit2 b, fit3 c;
-- the same rows in another order give the same model
CREATE TABLE fit4 AS SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 7}' ORDER BY product DESC, customer DESC) AS m FROM lines;
SELECT (a.m::text::jsonb - 'trained_at') = (b.m::text::jsonb - 'trained_at') AS order_does_not_matter FROM fit a, fit4 b;

-- Bad input: rows with a NULL are skipped and counted; the rest is refused with a reason.
SELECT retailiq.model_info(retailiq.recommender_fit(customer, product, quantity, at))->'metrics'->'skipped_rows' AS skipped
FROM (SELECT * FROM lines UNION ALL VALUES (NULL::bigint, 10::bigint, 1::float8, now()), (4, NULL, 1, now()), (4, 10, NULL, now()), (4, 10, 1, NULL)) s;
SELECT retailiq.recommender_fit(customer, product, quantity, at) IS NULL AS no_lines_no_model FROM lines WHERE false;
SELECT retailiq.recommender_fit(1, 10, -2, now());
SELECT retailiq.recommender_fit(1, 10, 'NaN', now());
SELECT retailiq.recommender_fit(1, 10, 1, 'infinity');
SELECT retailiq.recommender_fit(1, 10, 1, now(), '{"factors": 0}');
SELECT retailiq.recommender_fit(1, 10, 1, now(), '{"neighbour_weighting": 2.5}');
SELECT retailiq.recommender_fit(1, 10, 1, now(), '{"confidence": "log"}');
SELECT retailiq.recommender_fit(1, 10, 1, now(), '{"confidence": 1}');
SELECT retailiq.recommender_fit(1, 10, 1, now(), '{"factor": 8}');
SELECT retailiq.recommender_fit(1, 10, 1, now(), '[8]');
SELECT retailiq.recommender_fit(customer, product, quantity, at, jsonb_build_object('seed', customer)) FROM lines;
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 0);
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 2000000);
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, NULL);
SELECT * FROM fit, retailiq.recommend_for_customer(m, NULL, 5);
SELECT * FROM retailiq.recommend_for_customer(NULL, 1, 5);
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 5, '{"repeat": 1}');
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 5, '{"exclude": 30}');
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 5, '{"exclude": [1.5]}');
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 5, '{"method": "magic"}');
SELECT * FROM fit, retailiq.recommend_for_customer(m, 1, 5, '{"colour": "red"}');
-- the lines held are charged to retailiq.max_memory
SET retailiq.max_memory = '2MB';
SELECT retailiq.recommender_fit(x % 1000, x % 97, 1, timestamptz '2024-01-01' + x * interval '1 hour')
FROM generate_series(1, 200000) x;
RESET retailiq.max_memory;
-- a model whose bytes were edited: a history that names a fifth product of four
SELECT * FROM fit, retailiq.recommend_for_customer(
    replace(m::text, '"history_product": [0, 1,', '"history_product": [0, 4,')::retailiq.model, 1, 5);
-- a model of another kind
SELECT * FROM retailiq.recommend_for_customer(
    (SELECT retailiq.bgnbd_fit(f, r, t) FROM (VALUES (1, 2.0, 5.0), (0, 0, 5), (3, 4, 5), (2, 1, 5)) v(f, r, t)), 1, 5);
-- the support functions take no state from outside: a superuser's aggregate with an initial
-- state cannot start (the state type is internal), and other roles may not use them at all
CREATE AGGREGATE forged(bigint, bigint, float8, timestamptz) (
    SFUNC = retailiq_internal.recommender_fit_accum, STYPE = internal, INITCOND = 'x',
    FINALFUNC = retailiq_internal.recommender_fit_final);
SELECT forged(1, 10, 1, now());
DROP AGGREGATE forged(bigint, bigint, float8, timestamptz);

-- An ordinary role trains on its own table and reads its recommendations.
CREATE ROLE reco_clerk;
GRANT SELECT ON lines TO reco_clerk;
SET ROLE reco_clerk;
SELECT product FROM retailiq.recommend_for_customer(
    (SELECT retailiq.recommender_fit(customer, product, quantity, at) FROM lines), 1, 2, '{"repeat": false}');
CREATE AGGREGATE pg_temp.forged(bigint, bigint, float8, timestamptz) (
    SFUNC = retailiq_internal.recommender_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.recommender_fit_final);
RESET ROLE;
DROP OWNED BY reco_clerk;
DROP ROLE reco_clerk;
DROP TABLE lines, fit, fit2, fit3, fit4;
