-- privacy: store grants, approval requests and jobs belong to a role by OID, not by name.
-- After DROP ROLE m; CREATE ROLE m the new role inherits none of the old one's stores,
-- approvals or jobs; the old rows are ignored at use time and retailiq.forget_dropped_roles()
-- removes the grants and jobs that are left.
BEGIN;
SELECT plan(22);
SET LOCAL client_min_messages = warning;
SELECT retailiq.create_standard_roles();

-- stores
CREATE ROLE tap_drop_mgr IN ROLE retailiq_store_manager;
CREATE TABLE public.tap_drop_sales (store_id int, units int);
INSERT INTO public.tap_drop_sales VALUES (7, 10), (7, 11), (8, 12);
SELECT retailiq.enable_store_security('public.tap_drop_sales', 'store_id');
SELECT retailiq.grant_store('tap_drop_mgr', 7);
SELECT is(retailiq.stores_of('tap_drop_mgr'), ARRAY[7]::bigint[], 'the manager has store 7');
SET LOCAL ROLE tap_drop_mgr;
SELECT is((SELECT count(*) FROM public.tap_drop_sales), 2::bigint, 'and sees its rows');
RESET ROLE;
DROP ROLE tap_drop_mgr;
CREATE ROLE tap_drop_mgr IN ROLE retailiq_store_manager;
SELECT is(retailiq.stores_of('tap_drop_mgr'), '{}'::bigint[], 'a new role of the same name has no stores');
SET LOCAL ROLE tap_drop_mgr;
SELECT is((SELECT count(*) FROM public.tap_drop_sales), 0::bigint, 'and sees no rows');
RESET ROLE;
SELECT is((SELECT count(*) FROM retailiq.store_access a WHERE a.role_name::text ~ '^[0-9]+$'), 1::bigint,
          'the old grant shows the dropped role by its OID');
SELECT lives_ok($$SELECT retailiq.grant_store('tap_drop_mgr', 8)$$, 'the new role can be granted a store of its own');
SELECT is(retailiq.stores_of('tap_drop_mgr'), ARRAY[8]::bigint[], 'and has that one only');

-- approvals
CREATE ROLE tap_drop_alice LOGIN IN ROLE retailiq_admin;
CREATE ROLE tap_drop_bob LOGIN IN ROLE retailiq_admin;
CREATE TABLE public.tap_drop_customers (id int, phone text);
INSERT INTO public.tap_drop_customers VALUES (1, '+86 139 0000 0001');
GRANT SELECT ON public.tap_drop_customers TO retailiq_admin;
SET LOCAL SESSION AUTHORIZATION tap_drop_alice;
SELECT retailiq.request_approval('export_unmasked', '{"table": "public.tap_drop_customers"}') AS a1 \gset
SELECT retailiq.request_approval('export_unmasked', '{"table": "public.tap_drop_customers"}') AS a2 \gset
SET LOCAL SESSION AUTHORIZATION tap_drop_bob;
SELECT retailiq.approve(:a1);
RESET SESSION AUTHORIZATION;
DROP ROLE tap_drop_alice;
CREATE ROLE tap_drop_alice LOGIN IN ROLE retailiq_admin;
SET LOCAL SESSION AUTHORIZATION tap_drop_alice;
SELECT throws_ok($$SELECT retailiq.export_unmasked('public.tap_drop_customers')$$, '42501', NULL,
                 'a new role of the same name cannot use the old role''s approval');
SET LOCAL SESSION AUTHORIZATION tap_drop_bob;
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a2), '22023', NULL,
                 'a request of a dropped role cannot be approved');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT status FROM retailiq.approval WHERE id = :a1), 'approved', 'the approval stays unused');
SELECT ok((SELECT requested_by::text ~ '^[0-9]+$' FROM retailiq.approval WHERE id = :a1),
          'and shows its requester by OID');

-- jobs
CREATE ROLE tap_drop_carol LOGIN;
SET LOCAL SESSION AUTHORIZATION tap_drop_carol;
SELECT retailiq.schedule('tap_drop_job', '@daily', 'SELECT 1') IS NOT NULL AS scheduled;
SELECT is((SELECT owner::text FROM retailiq.job WHERE job_name = 'tap_drop_job'), 'tap_drop_carol', 'carol owns her job');
RESET SESSION AUTHORIZATION;
DROP ROLE tap_drop_carol;
CREATE ROLE tap_drop_carol LOGIN;
SET LOCAL SESSION AUTHORIZATION tap_drop_carol;
SELECT is((SELECT count(*) FROM retailiq.job WHERE job_name = 'tap_drop_job'), 0::bigint,
          'a new role of the same name does not see the old role''s job');
SELECT throws_ok($$SELECT retailiq.alter_job('tap_drop_job', command => 'SELECT 2')$$, '42704', NULL, 'nor change it');
SELECT throws_ok($$SELECT retailiq.run_job('tap_drop_job')$$, '42704', NULL, 'nor run it');
SELECT throws_ok($$SELECT retailiq.unschedule('tap_drop_job')$$, '42704', NULL, 'nor remove it');
SELECT results_eq($$WITH u AS (UPDATE retailiq.job SET owner = 'tap_drop_carol' WHERE job_name = 'tap_drop_job' RETURNING 1)
                     SELECT count(*) FROM u$$, $$VALUES (0::bigint)$$, 'nor take it over by writing the table');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT command FROM retailiq.job WHERE job_name = 'tap_drop_job'), 'SELECT 1', 'the job is unchanged');

-- the clean-up: members of retailiq_admin remove what dropped roles left
SET LOCAL SESSION AUTHORIZATION tap_drop_carol;
SELECT throws_ok($$SELECT retailiq.forget_dropped_roles()$$, '42501', NULL, 'only admins clean up');
SET LOCAL SESSION AUTHORIZATION tap_drop_bob;
SELECT is(retailiq.forget_dropped_roles(), 2::bigint, 'an admin removes the dropped roles'' store grant and job');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM retailiq.job WHERE job_name = 'tap_drop_job')
          + (SELECT count(*) FROM retailiq.store_access a WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.role_name)),
          0::bigint, 'nothing of the dropped roles is left');
SELECT ok((SELECT count(*) FROM retailiq.audit_log WHERE action = 'forget_dropped_roles') >= 1, 'the clean-up is audited');

SELECT * FROM finish();
ROLLBACK;
