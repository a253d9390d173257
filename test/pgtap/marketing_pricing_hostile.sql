-- Hostile input to the elasticity model (elasticity_fit, its support functions, its model,
-- elasticities / elasticity_predict / recommend_price): forged serial states, crafted models
-- (valid checksum, fields that cannot be right) and direct calls end in a clean ERROR with
-- its SQLSTATE; the state is internal, so no INITCOND can reach the transition function.
BEGIN;
SELECT plan(13);
CREATE TEMP TABLE eh AS
SELECT (s % 3)::bigint AS product, s::bigint AS store, date '2024-01-01' + 7 * w AS week,
       exp(2 - 1.2 * ln(1 + (w % 4) * 0.1) + 0.05 * ((w * s) % 3)) AS units, 1 + (w % 4) * 0.1 AS price
FROM generate_series(1, 6) s, generate_series(0, 30) w;
CREATE TEMP TABLE eh_m AS SELECT retailiq.elasticity_fit(product, store, week, units, price) AS m FROM eh;
CREATE FUNCTION pg_temp.mut(m retailiq.model, path text[], v jsonb) RETURNS retailiq.model
    LANGUAGE sql AS $$ SELECT jsonb_set(m::text::jsonb, path, v)::text::retailiq.model $$;
CREATE FUNCTION pg_temp.rows(m retailiq.model) RETURNS bigint
    LANGUAGE sql AS $$ SELECT count(*) FROM retailiq.elasticities(m) $$;

SELECT is(pg_temp.rows((SELECT m FROM eh_m)), 9::bigint, 'three products, each pooled and in two stores');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{data,store}', '[6, 3, 1, 4, 2, 5]')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'stores out of order');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{data,store_offset}', '[0, 2, 4, 7]')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'offsets beyond the stores');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{data,product}', '[0, 1]')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'fewer products than their arrays');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{data,store_rows,0}', '0')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'a store without rows');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{data,store_status,0}', '12')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'a store without an estimate of a product that has one');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{params,n_factors}', '1000')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'absurd factor count');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{params,level}', '2.0')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'level out of range');
SELECT throws_ok($$SELECT pg_temp.rows(pg_temp.mut(m, '{data,pooled_se,0,0}', '-1.0')) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'a negative standard error');
SELECT throws_ok($$SELECT retailiq.elasticity_predict(pg_temp.mut(m, '{data,store_coef,0,0}', '"Infinity"'), 0, 3, '2025-01-01', 1) FROM eh_m$$,
                 'XX001', 'elasticity model is corrupt', 'predict checks the coefficients');
-- the state is internal: no SQL value can be handed to the support functions, and PUBLIC
-- may not execute them anyway (src/privileges.sql)
SELECT ok(NOT has_function_privilege('public', 'retailiq_internal.elasticity_fit_deserialize(bytea, internal)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8)', 'EXECUTE'),
          'no PUBLIC EXECUTE on the support functions');
SELECT throws_ok($$SELECT retailiq.elasticity_fit(product, 9007199254740993, week, units, price) FROM eh$$,
                 '22003', 'store is out of range for elasticity_fit', 'ids beyond 2^53');
-- a parallel plan: forged partial states never arrive, real ones give the serial model
SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL max_parallel_workers_per_gather = 2;
SELECT is((SELECT retailiq.elasticity_fit(product, store, week, units, price) FROM eh)::text::jsonb - 'trained_at',
          (SELECT m FROM eh_m)::text::jsonb - 'trained_at', 'parallel = serial');
SELECT * FROM finish();
ROLLBACK;
