-- privacy: two-person approval. Self-approval, approval by a non-admin, reuse, expiry,
-- rejection and mismatched arguments are refused; each protected action consumes exactly
-- one approval of its requester and leaves audit records.
BEGIN;
SELECT plan(31);
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_appr_alice LOGIN;
CREATE ROLE tap_appr_bob LOGIN;
CREATE ROLE tap_appr_carol LOGIN;
SELECT retailiq.create_standard_roles();
GRANT retailiq_admin TO tap_appr_alice, tap_appr_bob;
GRANT retailiq_operator TO tap_appr_carol;
GRANT tap_appr_bob TO tap_appr_alice;   -- alice may SET ROLE bob: still her session
CREATE TABLE public.tap_appr_customers (id int, phone text);
INSERT INTO public.tap_appr_customers VALUES (1, '+86 139 0000 0001'), (2, '+86 139 0000 0002');
CREATE TABLE public.tap_appr_other (id int);
GRANT SELECT ON public.tap_appr_customers, public.tap_appr_other TO retailiq_admin;

-- request by alice
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT retailiq.request_approval('export_unmasked', '{"table": "public.tap_appr_customers"}') AS a1 \gset
SELECT throws_ok('SELECT retailiq.export_unmasked(''public.tap_appr_customers'')', '42501', NULL, 'no export before approval');
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a1), '42501', NULL, 'self-approval refused');
SET LOCAL ROLE tap_appr_bob;
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a1), '42501', NULL, 'self-approval through SET ROLE refused');
RESET ROLE;
SET LOCAL SESSION AUTHORIZATION tap_appr_carol;
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a1), '42501', NULL, 'approval by a non-admin refused');
SET LOCAL SESSION AUTHORIZATION tap_appr_bob;
SELECT lives_ok(format('SELECT retailiq.approve(%s)', :a1), 'a second admin approves');
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a1), '22023', NULL, 'a decided request cannot be approved again');
SELECT throws_ok('SELECT retailiq.export_unmasked(''public.tap_appr_customers'')', '42501', NULL,
                 'the approver cannot use the requester''s approval');
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT throws_ok('SELECT retailiq.export_unmasked(''public.tap_appr_other'')', '42501', NULL,
                 'an approval covers its own arguments only');
SELECT is((SELECT count(*) FROM retailiq.export_unmasked('public.tap_appr_customers') r WHERE r ->> 'phone' LIKE '+86 139%'),
          2::bigint, 'the approved export returns the raw rows');
SELECT throws_ok('SELECT retailiq.export_unmasked(''public.tap_appr_customers'')', '42501', NULL, 'reuse refused');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT status FROM retailiq.approval WHERE id = :a1), 'used', 'the approval is marked used');

-- expiry: before approval, and between approval and use
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT retailiq.request_approval('export_unmasked', '{"table": "public.tap_appr_customers"}', '10 minutes') AS a2 \gset
SELECT retailiq.request_approval('export_unmasked', '{"table": "public.tap_appr_customers"}', '10 minutes') AS a3 \gset
RESET SESSION AUTHORIZATION;
UPDATE retailiq.approval SET requested_at = now() - interval '1 hour', valid_until = now() - interval '50 minutes' WHERE id = :a2;
SET LOCAL SESSION AUTHORIZATION tap_appr_bob;
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a2), '22023', NULL, 'an expired request cannot be approved');
SELECT lives_ok(format('SELECT retailiq.approve(%s)', :a3), 'approve the other');
RESET SESSION AUTHORIZATION;
UPDATE retailiq.approval SET valid_until = now() - interval '1 second' WHERE id = :a3;
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT throws_ok('SELECT retailiq.export_unmasked(''public.tap_appr_customers'')', '42501', NULL, 'an expired approval cannot be used');

-- rejection
SELECT retailiq.request_approval('export_unmasked', '{"table": "public.tap_appr_customers"}') AS a4 \gset
SET LOCAL SESSION AUTHORIZATION tap_appr_bob;
SELECT lives_ok(format('SELECT retailiq.reject(%s)', :a4), 'a second admin rejects');
SELECT throws_ok(format('SELECT retailiq.approve(%s)', :a4), '22023', NULL, 'a rejected request cannot be approved');
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT throws_ok('SELECT retailiq.export_unmasked(''public.tap_appr_customers'')', '42501', NULL, 'a rejected request cannot be used');

-- bad requests
SELECT throws_ok('SELECT retailiq.request_approval(''drop_everything'', ''{}'')', '22023', NULL, 'unknown action refused');
SELECT throws_ok('SELECT retailiq.request_approval(''export_unmasked'', ''[1]'')', '22023', NULL, 'args must be an object');
SELECT throws_ok('SELECT retailiq.approve(999999999)', '22023', NULL, 'unknown approval');
RESET SESSION AUTHORIZATION;

-- changing a saved model's parameters
SELECT retailiq.save_model('tap_appr_model', '{"kind": "kmeans", "trained_at": "2026-01-01T00:00:00+00:00", "trained_by": "t", "params": {"k": 2}, "data": {"centroids": [[0.0], [1.0]]}}');
SELECT throws_ok($$UPDATE retailiq.models SET model = '{"kind": "kmeans", "trained_at": "2026-01-01T00:00:00+00:00", "trained_by": "t", "params": {"k": 3}, "data": {"centroids": [[0.0], [1.0]]}}' WHERE name = 'tap_appr_model'$$,
                 '42501', NULL, 'a model change needs an approval');
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT retailiq.request_approval('change_model', '{"name": "tap_appr_model", "version": 1}') AS a5 \gset
SET LOCAL SESSION AUTHORIZATION tap_appr_bob;
SELECT retailiq.approve(:a5);
RESET SESSION AUTHORIZATION;
GRANT SELECT, UPDATE ON retailiq.models TO tap_appr_alice;
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT lives_ok($$UPDATE retailiq.models SET model = '{"kind": "kmeans", "trained_at": "2026-01-01T00:00:00+00:00", "trained_by": "t", "params": {"k": 3}, "data": {"centroids": [[0.0], [1.0]]}}' WHERE name = 'tap_appr_model'$$,
                'the approved model change goes through');
SELECT throws_ok($$UPDATE retailiq.models SET created_by = 'x' WHERE name = 'tap_appr_model'$$, '42501', NULL,
                 'a second change needs a second approval');

-- changing a masking rule
SELECT throws_ok('SECURITY LABEL FOR retailiq ON COLUMN public.tap_appr_customers.phone IS ''MASKED WITH VALUE NULL''',
                 '42501', NULL, 'a direct SECURITY LABEL by a non-superuser is refused');
SELECT retailiq.request_approval('set_masking_rule',
    '{"table": "public.tap_appr_customers", "column": "phone", "rule": "MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)"}') AS a6 \gset
SET LOCAL SESSION AUTHORIZATION tap_appr_bob;
SELECT retailiq.approve(:a6);
SET LOCAL SESSION AUTHORIZATION tap_appr_alice;
SELECT throws_ok('SELECT retailiq.set_masking_rule(''public.tap_appr_customers'', ''phone'', ''MASKED WITH VALUE NULL'')',
                 '42501', NULL, 'another rule than the approved one is refused');
SELECT lives_ok('SELECT retailiq.set_masking_rule(''public.tap_appr_customers'', ''phone'', ''MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)'')',
                'the approved rule is set');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT rule FROM retailiq.masking_rules WHERE table_name = 'public.tap_appr_customers'::regclass),
          'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)', 'the label holds the rule');
SELECT is((SELECT string_agg(phone, ',' ORDER BY phone) FROM retailiq_mask.tap_appr_customers), '+86************01,+86************02',
          'and the masking view was rebuilt');

-- the audit trail
SELECT ok((SELECT count(*) FROM retailiq.audit_log WHERE action IN ('approval_requested', 'approval_granted', 'approval_rejected', 'approval_used')) >= 13,
          'requests, decisions and uses are audited');
SELECT is((SELECT count(*) FROM retailiq.audit_log WHERE action = 'export_unmasked' AND details ->> 'rows' = '2'), 1::bigint,
          'the export is audited with its row count');
SELECT is((SELECT count(*) FROM retailiq.audit_verify()), 0::bigint, 'the audit chain verifies');

SELECT * FROM finish();
ROLLBACK;
