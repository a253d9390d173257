-- Hostile bytes (issue 16): no role can crash the server through a state or a model it
-- built itself. Aggregate support functions are not PUBLIC, so an ordinary role cannot wrap
-- them; a superuser who does gets a clean XX001 for every forged state; and a seeded slice
-- of the in-server fuzzer (test/fuzz/hostile.sql, run for minutes under AddressSanitizer
-- by `make fuzz-sql`) finds no internal error here. Everything is rolled back.
BEGIN;
SELECT plan(24);
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_mallory LOGIN;
GRANT CREATE ON SCHEMA public TO tap_mallory;
CREATE TABLE public.tap_pts AS
SELECT x, ARRAY[x, x * x % 7]::float8[] AS f, x % 2 = 0 OR x % 5 = 0 AS label FROM generate_series(1, 40) x;
GRANT SELECT ON public.tap_pts TO tap_mallory;

-- 1. No support function of a retailiq aggregate is executable by PUBLIC.
SELECT is((SELECT string_agg(DISTINCT s.fn::regprocedure::text, ', ')
           FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
           CROSS JOIN LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn),
                                      (a.aggserialfn), (a.aggdeserialfn)) s(fn)
           WHERE p.pronamespace = 'retailiq'::regnamespace AND s.fn <> 0
             AND has_function_privilege('tap_mallory', s.fn, 'EXECUTE')),
          NULL, 'no aggregate support function of retailiq is executable by an ordinary role');

-- 2. The attack of the issue, as an ordinary role: refused before it runs.
SET LOCAL ROLE tap_mallory;
SELECT throws_ok($$CREATE AGGREGATE public.evil_pass(float8[], retailiq.model)
  (SFUNC = retailiq_internal.kmeans_pass_accum, STYPE = bytea,
   INITCOND = '\x00e1f50501000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000')$$,
  '42501', NULL, 'an ordinary role cannot wrap kmeans_pass_accum in an aggregate of its own');
SELECT throws_ok($$CREATE AGGREGATE public.evil_wape(float8, float8)
  (SFUNC = retailiq_internal.wape_accum, STYPE = float8[], INITCOND = '{1}')$$,
  '42501', NULL, 'nor an accuracy accumulator');
SELECT throws_ok($$SELECT retailiq_internal.logit_start_final('{1000,1,1,1}')$$,
  '42501', NULL, 'nor call a final function with a state it made');

-- 3. ... while every aggregate keeps working for it, in a parallel plan too.
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL force_parallel_mode = on;
SELECT lives_ok($$SELECT retailiq.kmeans_pass(f, (SELECT retailiq.kmeans_segment(f, 3) FROM public.tap_pts)) FROM public.tap_pts$$,
  'an ordinary role runs kmeans_segment and kmeans_pass');
SELECT lives_ok($$SELECT retailiq.logit_step(f, label, (SELECT retailiq.logit_start(f, label) FROM public.tap_pts)) FROM public.tap_pts$$,
  'an ordinary role runs logit_start and logit_step');
SELECT is((SELECT round(retailiq.wape(x, x + 1)::numeric, 6) FROM public.tap_pts), 0.048780,
  'an ordinary role runs wape, with the right answer');
SELECT lives_ok($$SELECT retailiq.rfm_breaks(r) FROM (SELECT retailiq.rfm_agg(now() - x * interval '1 day', x::float8, now()) r
                  FROM public.tap_pts GROUP BY x % 10) s$$, 'an ordinary role runs rfm_agg and rfm_breaks');
SELECT lives_ok($$SELECT retailiq.assoc_rules(ARRAY[(x % 3)::text, (x % 5)::text], 0.1, 0.1) FROM public.tap_pts$$,
  'an ordinary role runs assoc_rules');
SELECT lives_ok($$SELECT retailiq.forecast_fit('s', date '2025-01-01' + x, x::float8, 'ets') FROM public.tap_pts$$,
  'an ordinary role runs forecast_fit');
SELECT is((SELECT count(*) FROM retailiq.forecast_methods WHERE name IN ('ets', 'tsb')), 2::bigint,
  'an ordinary role reads retailiq.forecast_methods');
RESET ROLE;
RESET force_parallel_mode;
-- privacy decisions judge the session user, not SET ROLE
SET LOCAL SESSION AUTHORIZATION tap_mallory;
SELECT throws_ok($$SELECT * FROM retailiq.masking_gaps()$$, '42501', NULL,
  'an ordinary role cannot list masking gaps (a map of unmasked personal data)');
RESET SESSION AUTHORIZATION;

-- 4. A superuser may still wrap them: every forged state is a clean XX001.
CREATE AGGREGATE public.evil_pass(float8[], retailiq.model)
  (SFUNC = retailiq_internal.kmeans_pass_accum, STYPE = bytea,
   INITCOND = '\x00e1f50501000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000');
SELECT throws_ok($$SELECT public.evil_pass(ARRAY[1.0]::float8[], (SELECT retailiq.kmeans_segment(ARRAY[x]::float8[], 1) FROM generate_series(1, 10) x))$$,
  'XX001', NULL, 'the issue''s forged kmeans_pass state (k = 100,000,000 in 56 bytes) is refused');
CREATE AGGREGATE public.evil_pass_k2(float8[], retailiq.model)
  (SFUNC = retailiq_internal.kmeans_pass_accum, STYPE = bytea, FINALFUNC = retailiq_internal.kmeans_pass_final,
   INITCOND = '\x0200000001000000000000000000000000000000000000000000000000000000000000000000000000000000');
SELECT throws_ok($$SELECT public.evil_pass_k2(ARRAY[1.0]::float8[], (SELECT retailiq.kmeans_segment(ARRAY[x]::float8[], 2) FROM generate_series(1, 10) x))$$,
  'XX001', NULL, 'a kmeans_pass state whose header disagrees with its length is refused');
CREATE AGGREGATE public.evil_start(float8[], bool)
  (SFUNC = retailiq_internal.logit_start_accum, STYPE = float8[], FINALFUNC = retailiq_internal.logit_start_final,
   INITCOND = '{1000,1,1,1}');
SELECT throws_ok($$SELECT public.evil_start(f, label) FROM public.tap_pts$$,
  'XX001', NULL, 'a logit_start state claiming 1,000 features in 4 elements is refused');
SELECT throws_ok($$SELECT retailiq_internal.logit_start_final('{2,40,20,1,780,0,20540,26,1,1,5}')$$,
  'XX001', NULL, 'a logit_start state one element too long is refused by the final function');
SELECT throws_ok($$SELECT retailiq_internal.logit_start_combine('{2,40,20,1,780,0,20540,26,1,1}', '{{2,40},{20,1}}')$$,
  'XX001', NULL, 'a two-dimensional logit_start state is refused by the combine function');
SELECT throws_ok($$SELECT retailiq_internal.logit_step_final('\x00000000000000000000f03f'::bytea)$$,
  'XX001', NULL, 'a logit_step state of 2 coefficients without their sums is refused');
CREATE AGGREGATE public.step_state(float8[], bool, retailiq.model)
  (SFUNC = retailiq_internal.logit_step_accum, STYPE = bytea);
CREATE TABLE public.tap_step AS
SELECT public.step_state(f, label, (SELECT retailiq.logit_start(f, label) FROM public.tap_pts)) AS s FROM public.tap_pts;
SELECT throws_ok($$SELECT retailiq_internal.logit_step_final(substr(s, 1, length(s) - 1)) FROM public.tap_step$$,
  'XX001', NULL, 'a logit_step state one byte short is refused');
SELECT lives_ok($$SELECT retailiq_internal.logit_step_final(s) FROM public.tap_step$$,
  'the same state whole gives a model');
SELECT throws_ok($$SELECT retailiq_internal.wape_accum('{1}', 1, 2)$$,
  'XX001', NULL, 'a wape state of the wrong length is refused');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_wape_final('{{1,2,3},{4,5,6}}')$$,
  'XX001', NULL, 'a two-dimensional accuracy state is refused');

-- 5. A seeded slice of the fuzzer: every case ends in a result or a clean ERROR.
\ir ../fuzz/hostile.sql
SELECT is(fuzz.run(16, 1500), 0::bigint, '1,500 fuzzed calls, states and models: no internal error (XX000)');
SELECT cmp_ok((SELECT count(DISTINCT target) FROM fuzz.outcome), '>', 80::bigint,
  'the slice reached more than 80 functions, aggregates and state functions');

SELECT * FROM finish();
ROLLBACK;
