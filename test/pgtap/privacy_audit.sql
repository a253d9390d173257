-- privacy: the audit log is append-only and hash-chained; audit_verify() finds the first
-- record edited, removed or re-hashed by a superuser who went around the triggers; the
-- retention cannot be set below 6 years and the approved purge keeps the chain verifiable.
BEGIN;
SELECT plan(31);
SET LOCAL client_min_messages = warning;

SELECT ok(retailiq.audit_record('test_event', jsonb_build_object('n', n)) > 0, 'record ' || n)
  FROM generate_series(1, 3) n;
DO $$ BEGIN FOR n IN 4 .. 20 LOOP PERFORM retailiq.audit_record('test_event', jsonb_build_object('n', n)); END LOOP; END $$;
SELECT is((SELECT count(*) FROM retailiq.audit_verify()), 0::bigint, 'an untouched chain verifies');
SELECT ok((SELECT bool_and(c.relispartition) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
            WHERE i.inhparent = 'retailiq.audit_log'::regclass), 'records live in monthly partitions');
SELECT is((SELECT count(*) FROM retailiq.audit_log WHERE details ? 'n'), 20::bigint, '20 test records');
SELECT is((SELECT prev_hash FROM retailiq.audit_log WHERE details ->> 'n' = '5'),
          (SELECT row_hash FROM retailiq.audit_log WHERE details ->> 'n' = '4'), 'each record links to its predecessor');
SELECT is((SELECT row_hash FROM retailiq.audit_log WHERE details ->> 'n' = '5'),
          (SELECT sha256(convert_to(concat_ws(E'\x1f', id::text, extract(epoch FROM logged_at)::text, actor::text,
                                             role_name::text, action, details::text), 'UTF8') || prev_hash)
             FROM retailiq.audit_log WHERE details ->> 'n' = '5'), 'the hash is SHA-256 over the fields and the predecessor hash');

-- the triggers refuse changes, even to a superuser
SELECT throws_ok($$UPDATE retailiq.audit_log SET details = '{}' WHERE details ->> 'n' = '3'$$, '42501', NULL, 'UPDATE refused');
SELECT throws_ok($$DELETE FROM retailiq.audit_log WHERE details ->> 'n' = '3'$$, '42501', NULL, 'DELETE refused');
SELECT throws_ok('TRUNCATE retailiq.audit_log', '42501', NULL, 'TRUNCATE refused');
SET LOCAL retailiq.audit_purging = on;
SELECT throws_ok($$DELETE FROM retailiq.audit_log WHERE details ->> 'n' = '3'$$, '42501', NULL,
                 'DELETE of a recent record refused even with audit_purging on');
RESET retailiq.audit_purging;

-- retention: at least 6 years
SELECT throws_ok($$SET retailiq.audit_retention = '5 years'$$, '22023', NULL, '5 years refused');
SELECT throws_ok($$SET retailiq.audit_retention = '2000 days'$$, '22023', NULL, '2000 days refused');
SELECT throws_ok($$SET retailiq.audit_retention = 'forever'$$, '22023', NULL, 'nonsense refused');
SET LOCAL retailiq.audit_retention = '72 months';
SELECT is(current_setting('retailiq.audit_retention'), '72 months', '72 months accepted');
RESET retailiq.audit_retention;

-- tampering by a superuser who disables the triggers
SAVEPOINT t;
SET LOCAL session_replication_role = replica;
UPDATE retailiq.audit_log SET details = '{"n": 7, "edited": true}' WHERE details ->> 'n' = '7';
SELECT is((SELECT v.problem FROM retailiq.audit_verify() v JOIN retailiq.audit_log a USING (id) WHERE a.details ->> 'n' = '7'),
          'content changed: the record does not match its hash', 'an edited record is found');
ROLLBACK TO SAVEPOINT t;

SAVEPOINT t;
SET LOCAL session_replication_role = replica;
-- edit and re-hash record 7: its successor's link breaks
UPDATE retailiq.audit_log a SET details = '{"n": 7, "edited": true}',
       row_hash = retailiq.audit_row_hash(a.id, a.logged_at, a.actor, a.role_name, a.action, '{"n": 7, "edited": true}', a.prev_hash)
 WHERE details ->> 'n' = '7';
SELECT is((SELECT a.details ->> 'n' FROM retailiq.audit_verify() v JOIN retailiq.audit_log a USING (id)), '8',
          'a re-hashed record breaks the link of the next one');
ROLLBACK TO SAVEPOINT t;

SAVEPOINT t;
SET LOCAL session_replication_role = replica;
DELETE FROM retailiq.audit_log WHERE details ->> 'n' = '12';
SELECT is((SELECT problem FROM retailiq.audit_verify()), 'records missing before this one', 'a deleted record is found');
ROLLBACK TO SAVEPOINT t;

SAVEPOINT t;
SET LOCAL session_replication_role = replica;
DELETE FROM retailiq.audit_log WHERE details ->> 'n' = '20';
SELECT is((SELECT problem FROM retailiq.audit_verify()), 'newest records missing: the chain head is ahead of the log',
          'a deleted newest record is found');
ROLLBACK TO SAVEPOINT t;

SAVEPOINT t;
SET LOCAL session_replication_role = replica;
DELETE FROM retailiq.audit_log WHERE id = (SELECT min(id) FROM retailiq.audit_log);
SELECT is((SELECT problem FROM retailiq.audit_verify()), 'chain start unknown: records removed outside retailiq.purge_audit_log',
          'a deleted oldest record is found');
ROLLBACK TO SAVEPOINT t;
SELECT is((SELECT count(*) FROM retailiq.audit_verify()), 0::bigint, 'intact again after the rollbacks');

-- the approved purge: make the first records old (as if written in 2015), then purge them
CREATE TABLE retailiq.audit_log_2015_01 PARTITION OF retailiq.audit_log FOR VALUES FROM ('2015-01-01') TO ('2015-02-01');
SET LOCAL session_replication_role = replica;
UPDATE retailiq.audit_log SET logged_at = '2015-01-15' WHERE (details ->> 'n')::int <= 5;
RESET session_replication_role;
CREATE ROLE tap_audit_alice LOGIN;
CREATE ROLE tap_audit_bob LOGIN;
SELECT retailiq.create_standard_roles();
GRANT retailiq_admin TO tap_audit_alice, tap_audit_bob;
SELECT throws_ok('SELECT retailiq.purge_audit_log()', '42501', NULL, 'purge needs an approval');
SET LOCAL SESSION AUTHORIZATION tap_audit_alice;
SELECT retailiq.request_approval('purge_audit_log', '{}') AS approval \gset
SET LOCAL SESSION AUTHORIZATION tap_audit_bob;
SELECT retailiq.approve(:approval);
SET LOCAL SESSION AUTHORIZATION tap_audit_alice;
SELECT is(retailiq.purge_audit_log(), 5::bigint, 'the approved purge removes the records past the retention');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM retailiq.audit_log WHERE logged_at < '2016-01-01'), 0::bigint, 'none of them is left');
SELECT is((SELECT count(*) FROM retailiq.audit_verify()), 0::bigint, 'the chain still verifies from the purge record');

-- retailiq.audit_reads: reads of labelled tables by unmasked roles, one record per statement
CREATE TABLE public.tap_audit_t (id int, phone text);
INSERT INTO public.tap_audit_t VALUES (1, '+86 139 0000 0001');
SECURITY LABEL FOR retailiq ON COLUMN public.tap_audit_t.phone IS 'MASKED WITH VALUE NULL';
CREATE ROLE tap_audit_clerk;
GRANT SELECT ON public.tap_audit_t TO tap_audit_clerk;
SET LOCAL ROLE tap_audit_clerk;
SELECT count(*) FROM public.tap_audit_t a JOIN public.tap_audit_t b USING (id);
RESET ROLE;
SELECT is((SELECT count(*) FROM retailiq.audit_log WHERE action = 'read'), 0::bigint, 'no read records while audit_reads is off');
SELECT is((SELECT details FROM retailiq.audit_log WHERE action = 'security_label' ORDER BY id DESC LIMIT 1),
          '{"object": "column phone of table tap_audit_t", "label": "MASKED WITH VALUE NULL"}'::jsonb,
          'a superuser''s direct SECURITY LABEL is recorded');
SET LOCAL retailiq.audit_reads = on;
SET LOCAL ROLE tap_audit_clerk;
SELECT count(*) FROM public.tap_audit_t a JOIN public.tap_audit_t b USING (id);
SELECT throws_ok('SET retailiq.audit_reads = off', '42501', NULL, 'an ordinary role cannot turn audit_reads off');
RESET ROLE;
SELECT is((SELECT details FROM retailiq.audit_log WHERE action = 'read'),
          '{"role": "tap_audit_clerk", "tables": ["public.tap_audit_t"]}'::jsonb, 'a read is recorded with the role and the table');
SELECT is((SELECT count(*) FROM retailiq.audit_verify()), 0::bigint, 'and the chain still verifies');

SELECT * FROM finish();
ROLLBACK;
