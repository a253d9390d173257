-- privacy: store-level row security. A store manager sees and changes only the rows of
-- its stores, whatever it tries: joins, subqueries, OR-ed conditions, functions, views,
-- leaky functions and operators, statistics, writes into other stores.
BEGIN;
SELECT plan(30);
SET LOCAL jit = off;
SET LOCAL client_min_messages = warning;

DO $$ BEGIN PERFORM retailiq.generate_sample_data('tap_rls', 300, 5, 40, 120, 11); END $$;
ANALYZE tap_rls.daily_sales;
SELECT retailiq.create_standard_roles();
CREATE ROLE tap_mgr1 IN ROLE retailiq_store_manager;
CREATE ROLE tap_mgr2 IN ROLE retailiq_store_manager;
CREATE ROLE tap_mgr_none IN ROLE retailiq_store_manager;
CREATE ROLE tap_deputy1 IN ROLE tap_mgr1;
CREATE ROLE tap_op IN ROLE retailiq_operator;
CREATE ROLE tap_clerk;
GRANT USAGE ON SCHEMA tap_rls TO retailiq_store_manager, retailiq_operator;
GRANT SELECT ON tap_rls.stores TO retailiq_store_manager;
GRANT CREATE ON SCHEMA public TO retailiq_store_manager;
CREATE TABLE public.tap_rls_leaked (store_id int);
GRANT ALL ON public.tap_rls_leaked TO retailiq_store_manager;

SELECT retailiq.grant_store('tap_mgr1', 1);
SELECT retailiq.grant_store('tap_mgr2', 2);
SELECT retailiq.grant_store('tap_mgr2', 3);
SELECT lives_ok($$SELECT retailiq.enable_store_security('tap_rls.daily_sales', 'store_id')$$, 'daily_sales under store security');
SELECT lives_ok($$SELECT retailiq.enable_store_security('tap_rls.orders', 'store_id')$$, 'orders under store security');
SELECT throws_ok($$SELECT retailiq.enable_store_security('tap_rls.daily_sales', 'shop')$$, '42703', NULL, 'unknown column');
SELECT throws_ok($$SELECT retailiq.enable_store_security('tap_rls.stores', 'name')$$, '42804', NULL, 'a text column refused');
CREATE TEMP TABLE expected_rows AS SELECT store_id, count(*) AS n FROM tap_rls.daily_sales GROUP BY store_id;
GRANT SELECT ON expected_rows TO PUBLIC;

SET LOCAL ROLE tap_mgr1;
SELECT is((SELECT array_agg(DISTINCT store_id) FROM tap_rls.daily_sales), ARRAY[1], 'manager 1 sees store 1 only');
SELECT is((SELECT count(*) FROM tap_rls.daily_sales), (SELECT n FROM expected_rows WHERE store_id = 1), 'all of store 1''s rows');
SELECT is((SELECT count(*) FROM tap_rls.daily_sales WHERE store_id = 2 OR true), (SELECT n FROM expected_rows WHERE store_id = 1),
          'an OR-ed condition does not widen it');
SELECT is((SELECT count(*) FROM tap_rls.daily_sales d JOIN tap_rls.stores s USING (store_id) WHERE s.store_id = 2), 0::bigint,
          'a join on another store finds nothing');
SELECT is((SELECT count(*) FROM tap_rls.daily_sales WHERE store_id IN (SELECT store_id FROM tap_rls.stores)),
          (SELECT n FROM expected_rows WHERE store_id = 1), 'a subquery over all stores finds store 1 only');
SELECT is((SELECT count(*) FROM tap_rls.orders o WHERE EXISTS (SELECT 1 FROM tap_rls.daily_sales d WHERE d.store_id = o.store_id AND d.store_id <> 1)),
          0::bigint, 'a correlated subquery finds nothing of other stores');
CREATE FUNCTION public.tap_rls_count(s int) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tap_rls.daily_sales WHERE store_id = s';
SELECT is(public.tap_rls_count(2), 0::bigint, 'its own function sees nothing of store 2');
CREATE FUNCTION public.tap_rls_definer(s int) RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM tap_rls.daily_sales WHERE store_id = s';
SELECT is(public.tap_rls_definer(2), 0::bigint, 'its own SECURITY DEFINER function neither');
CREATE VIEW public.tap_rls_view AS SELECT * FROM tap_rls.daily_sales;
SELECT is((SELECT count(*) FROM public.tap_rls_view WHERE store_id = 2), 0::bigint, 'its own view neither');
CREATE FUNCTION public.tap_rls_leak(a int, b int) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
    $$ BEGIN INSERT INTO public.tap_rls_leaked VALUES (a); RETURN a = b; END $$;
CREATE OPERATOR public.=== (FUNCTION = public.tap_rls_leak, LEFTARG = int, RIGHTARG = int, RESTRICT = eqsel);
SELECT is((SELECT count(*) FROM tap_rls.daily_sales WHERE public.tap_rls_leak(store_id, 2)), 0::bigint, 'a leaky function ran');
SELECT is((SELECT count(*) FROM tap_rls.daily_sales WHERE store_id === 3), 0::bigint, 'a leaky operator with an estimator ran');
SELECT is((SELECT array_agg(DISTINCT store_id) FROM public.tap_rls_leaked WHERE store_id IS NOT NULL), ARRAY[1],
          'the leaky function and estimator saw store 1 only');
SELECT is((SELECT count(*) FROM pg_stats WHERE schemaname = 'tap_rls' AND tablename = 'daily_sales'), 0::bigint,
          'pg_stats hides the table from a role under row security');

-- writes
SELECT throws_ok($$INSERT INTO tap_rls.daily_sales VALUES ('2030-01-01', 2, 1, 1, 1.00, false)$$, '42501', NULL,
                 'inserting a row of another store refused');
SELECT lives_ok($$INSERT INTO tap_rls.daily_sales VALUES ('2030-01-01', 1, 1, 1, 1.00, false)$$, 'inserting into its own store works');
SELECT throws_ok($$UPDATE tap_rls.daily_sales SET store_id = 2 WHERE day = '2030-01-01'$$, '42501', NULL,
                 'moving a row into another store refused');
UPDATE tap_rls.daily_sales SET units = 0 WHERE store_id = 2;
DELETE FROM tap_rls.daily_sales WHERE store_id = 3;
RESET ROLE;
SELECT is((SELECT count(*) FROM tap_rls.daily_sales WHERE store_id IN (2, 3) AND units = 0), 0::bigint, 'an UPDATE of store 2 changed nothing');
SELECT is((SELECT count(*) FROM tap_rls.daily_sales WHERE store_id = 3), (SELECT n FROM expected_rows WHERE store_id = 3), 'a DELETE of store 3 removed nothing');

-- other roles
SET LOCAL ROLE tap_mgr2;
SELECT is((SELECT array_agg(DISTINCT store_id ORDER BY store_id) FROM tap_rls.daily_sales), ARRAY[2, 3], 'manager 2 sees stores 2 and 3');
SET LOCAL ROLE tap_deputy1;
SELECT is((SELECT array_agg(DISTINCT store_id) FROM tap_rls.daily_sales), ARRAY[1], 'a member of manager 1 sees store 1');
SET LOCAL ROLE tap_mgr_none;
SELECT is((SELECT count(*) FROM tap_rls.daily_sales), 0::bigint, 'a manager without stores sees nothing');
SET LOCAL ROLE tap_op;
SELECT is((SELECT count(DISTINCT store_id) FROM tap_rls.daily_sales), 5::bigint, 'an operator sees every store');
SET LOCAL ROLE tap_clerk;
SELECT throws_ok('SELECT count(*) FROM tap_rls.daily_sales', '42501', NULL, 'a role outside the standard roles gets nothing');
RESET ROLE;
SET LOCAL SESSION AUTHORIZATION tap_clerk;
SELECT throws_ok($$SELECT retailiq.grant_store('tap_clerk', 1)$$, '42501', NULL, 'only admins grant stores');
RESET SESSION AUTHORIZATION;

SELECT retailiq.revoke_store('tap_mgr1', 1);
SET LOCAL ROLE tap_mgr1;
SELECT is((SELECT count(*) FROM tap_rls.daily_sales), 0::bigint, 'after revoke_store manager 1 sees nothing');
RESET ROLE;
SELECT is((SELECT count(*) FROM retailiq.audit_log WHERE action IN ('grant_store', 'revoke_store', 'enable_store_security')
              AND (details ->> 'role' LIKE 'tap_%' OR details ->> 'table' LIKE 'tap_rls.%')), 6::bigint,
          'grants, revokes and enabled tables are audited');

SELECT * FROM finish();
ROLLBACK;
