# A job never lets its creator do what the creator's own session could not (issue 16, parts 2
# and 5), in a real server with the scheduler running:
#   - a masked login role that may SET ROLE to an unmasked role cannot schedule, change or
#     start a job that runs as that role, and its own jobs run masked;
#   - an admin cannot SET ROLE to a second admin and schedule that admin's approval of its
#     own request; a job cannot approve a request of the session user who created it;
#   - a job whose owner was dropped does not run as a new role of the same name.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('scheduler_owner');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.scheduler_naptime = '200ms'
max_worker_processes = 16
jit = off
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }
# psql in a fresh session of a login role: (exit code, stdout, stderr)
sub as_role
{
	my ($role, $query) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $query, connstr => $node->connstr('postgres') . " user=$role");
	return ($ret, $out, $err);
}
sub wait_for { my ($query, $what) = @_; ok($node->poll_query_until('postgres', $query), $what); }

sql(q{
CREATE EXTENSION retailiq;
LOAD 'retailiq';
CREATE TABLE customers (customer_id int PRIMARY KEY, full_name text, phone text);
INSERT INTO customers SELECT i, 'Customer ' || i, '+86 139 0000 ' || lpad(i::text, 4, '0') FROM generate_series(1, 20) i;
SECURITY LABEL FOR retailiq ON COLUMN customers.full_name IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)';
-- etl: an unmasked login role that loads the raw data; analyst: masked, and a member of etl
CREATE ROLE etl LOGIN;
CREATE ROLE analyst LOGIN IN ROLE etl;
GRANT SELECT ON customers TO etl;
GRANT CREATE ON SCHEMA public TO etl, analyst;
SECURITY LABEL FOR retailiq ON ROLE analyst IS 'MASKED';
SELECT retailiq.apply_masking();
});

# The masked role cannot read raw values itself, not even after SET ROLE etl.
my ($ret, $out, $err) = as_role('analyst', 'SET ROLE etl; SELECT count(*) FROM public.customers');
isnt($ret, 0, 'analyst cannot read the raw table after SET ROLE etl');

# ---- attack 1: SET ROLE etl, then schedule a job that runs as etl, unmasked
($ret, $out, $err) = as_role('analyst', q{SET ROLE etl;
	SELECT retailiq.schedule('loot', '@every 1 second',
	  'CREATE TABLE public.loot AS SELECT full_name, phone FROM public.customers; GRANT SELECT ON public.loot TO PUBLIC')});
isnt($ret, 0, 'a masked session cannot schedule a job as the unmasked role it SET ROLE to');
like($err, qr/ERROR:  a job cannot run as "etl" from a session of "analyst"/, 'with an error naming both roles');
# nor by writing the job table directly
($ret, $out, $err) = as_role('analyst', q{SET ROLE etl;
	INSERT INTO retailiq.job (job_name, schedule, command) VALUES ('loot2', '@every 1 second',
	  'CREATE TABLE public.loot AS SELECT full_name, phone FROM public.customers; GRANT SELECT ON public.loot TO PUBLIC')});
isnt($ret, 0, 'nor insert such a job into retailiq.job directly');
like($err, qr/row-level security|a job cannot run as/, 'refused by the job table itself');

# etl's own job, created in etl's session, cannot be changed or started through SET ROLE etl
as_role('etl', q{SELECT retailiq.schedule('etl_nightly', '@daily', 'SELECT 1')});
($ret, $out, $err) = as_role('analyst', q{SET ROLE etl;
	SELECT retailiq.alter_job('etl_nightly', command => 'CREATE TABLE public.loot AS SELECT full_name, phone FROM public.customers; GRANT SELECT ON public.loot TO PUBLIC')});
isnt($ret, 0, "a masked session cannot change the command of etl's job");
($ret, $out, $err) = as_role('analyst', q{SET ROLE etl;
	UPDATE retailiq.job SET command = 'CREATE TABLE public.loot AS SELECT full_name, phone FROM public.customers; GRANT SELECT ON public.loot TO PUBLIC', run_requested = true
	WHERE job_name = 'etl_nightly' RETURNING job_id});
is($out, '', "nor update etl's job in the table directly");
($ret, $out, $err) = as_role('analyst', q{SET ROLE etl; SELECT retailiq.run_job('etl_nightly')});
isnt($ret, 0, "nor start etl's job");
is(sql(q{SELECT command FROM retailiq.job WHERE job_name = 'etl_nightly'}), 'SELECT 1', "etl's job is unchanged");

# the masked role's own job runs in a masked session: masked values or a refusal, never raw ones
as_role('analyst', q{CREATE TABLE public.analyst_copy (full_name text, phone text)});
($ret, $out, $err) = as_role('analyst', q{
	SELECT retailiq.schedule('analyst_masked', '@every 1 second', 'INSERT INTO public.analyst_copy SELECT full_name, phone FROM customers');
	SELECT retailiq.schedule('analyst_raw', '@every 1 second', 'INSERT INTO public.analyst_copy SELECT full_name, phone FROM public.customers');
	SELECT retailiq.schedule('analyst_setrole', '@every 1 second', 'SET ROLE etl; INSERT INTO public.analyst_copy SELECT full_name, phone FROM public.customers')});
is($ret, 0, 'the masked role schedules jobs as itself') or diag($err);
wait_for(q{SELECT count(DISTINCT job_name) = 3 FROM retailiq.job_run WHERE job_name LIKE 'analyst_%' AND status <> 'running'},
	"the masked role's jobs ran");
sleep 2;
is(sql(q{SELECT DISTINCT status FROM retailiq.job_run WHERE job_name = 'analyst_masked' AND status <> 'running'}), 'succeeded',
	'its job reads the masking view');
is(sql(q{SELECT DISTINCT status || ' ' || sqlstate FROM retailiq.job_run WHERE job_name IN ('analyst_raw', 'analyst_setrole') AND status <> 'running'}),
	'failed 42501', 'its jobs cannot read the raw table, with or without SET ROLE');
is(sql(q{SELECT count(*) FROM public.analyst_copy WHERE full_name IS NOT NULL OR phone LIKE '+86 139%'}), '0',
	'no raw value reached the copy');
ok(sql(q{SELECT count(*) FROM public.analyst_copy}) > 0, 'masked values did');
is(sql(q{SELECT count(*) FROM pg_class WHERE relname = 'loot'}), '0', 'no job ever copied the raw table for the masked role');
sql(q{DELETE FROM retailiq.job WHERE job_name LIKE 'analyst_%'});

# the run history of etl's jobs may quote raw values in its errors: not for a masked member
as_role('etl', q{SELECT retailiq.schedule('etl_fails', '@daily',
	$x$DO $b$BEGIN RAISE EXCEPTION 'bad row %', (SELECT phone FROM public.customers ORDER BY 1 LIMIT 1); END$b$$x$);
	SELECT retailiq.run_job('etl_fails')});
wait_for(q{SELECT count(*) = 1 FROM retailiq.job_run WHERE job_name = 'etl_fails' AND status = 'failed'}, "etl's job failed");
is((as_role('etl', q{SELECT count(*) FROM retailiq.job_status WHERE last_error LIKE '%+86 139%'}))[1], '1',
	'etl reads the raw value in its own job\'s error');
is((as_role('analyst', q{SELECT count(*) FROM retailiq.job_run WHERE message LIKE '%+86 139%'}))[1], '0',
	"the masked member does not read etl's job errors");
is((as_role('analyst', q{SET ROLE etl; SELECT count(*) FROM retailiq.job_run WHERE message LIKE '%+86 139%'}))[1], '0',
	'not after SET ROLE etl either');
is((as_role('analyst', q{SELECT count(*) FROM retailiq.job_status WHERE last_error LIKE '%+86 139%'}))[1], '0',
	'nor through job_status');

# ---- attack 2: the two-person rule through SET ROLE and a job
sql(q{
SELECT retailiq.create_standard_roles();
CREATE ROLE admin1 LOGIN IN ROLE retailiq_admin;
CREATE ROLE admin2 LOGIN IN ROLE retailiq_admin;
GRANT admin2 TO admin1;
CREATE TABLE vault (secret text);
INSERT INTO vault VALUES ('the combination');
GRANT SELECT ON vault TO retailiq_admin;
});
my $req = (as_role('admin1', q{SELECT retailiq.request_approval('export_unmasked', '{"table": "public.vault"}', '1 hour')}))[1];
like($req, qr/^\d+$/, 'admin1 requests an export');
($ret, $out, $err) = as_role('admin1', qq{SET ROLE admin2;
	SELECT retailiq.schedule('sneak', '\@every 1 second', 'SELECT retailiq.approve($req)')});
isnt($ret, 0, 'admin1 cannot schedule an approval as admin2 through SET ROLE');
like($err, qr/a job cannot run as "admin2" from a session of "admin1"/, 'refused when scheduling');
sleep 2;
is(sql(qq{SELECT status FROM retailiq.approval WHERE id = $req}), 'pending', 'the request is still pending');
($ret, $out, $err) = as_role('admin1', q{SELECT count(*) FROM retailiq.export_unmasked('public.vault')});
isnt($ret, 0, 'and admin1 cannot export');

# a superuser's session may schedule for another role, but the job still cannot approve a
# request of the session user who created it
my $sreq = sql(q{SELECT retailiq.request_approval('export_unmasked', '{"table": "public.vault"}')});
sql(qq{SET ROLE admin2; SELECT retailiq.schedule('super_sneak', '\@every 1 second', 'SELECT retailiq.approve($sreq)')});
wait_for(q{SELECT count(*) >= 1 FROM retailiq.job_run WHERE job_name = 'super_sneak' AND status <> 'running'}, 'the superuser-made job ran');
is(sql(q{SELECT status || ' ' || sqlstate FROM retailiq.job_run WHERE job_name = 'super_sneak' AND status <> 'running' ORDER BY run_id LIMIT 1}),
	'failed 42501', 'a job cannot approve a request of the user who created it');
like(sql(q{SELECT message FROM retailiq.job_run WHERE job_name = 'super_sneak' AND status <> 'running' ORDER BY run_id LIMIT 1}),
	qr/created by the requester/, 'and says why');
is(sql(qq{SELECT status FROM retailiq.approval WHERE id = $sreq}), 'pending', "the superuser's request is still pending");
sql(q{SELECT retailiq.unschedule('super_sneak')});

# admin2's own job may approve admin1's request: two people still decided
($ret, $out, $err) = as_role('admin2', qq{SELECT retailiq.schedule('admin2_approves', '\@daily', 'SELECT retailiq.approve($req)');
	SELECT retailiq.run_job('admin2_approves')});
is($ret, 0, "admin2 schedules an approval in admin2's own session") or diag($err);
wait_for(q{SELECT count(*) >= 1 FROM retailiq.job_run WHERE job_name = 'admin2_approves' AND status <> 'running'}, "admin2's job ran");
is(sql(qq{SELECT status || ' ' || decided_by FROM retailiq.approval WHERE id = $req}), 'approved admin2', "admin2's job approved it");

# ---- a dropped owner: its job does not run as a new role of the same name
sql(q{CREATE ROLE temp_worker LOGIN;
	CREATE TABLE worker_log (who name, at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT ON worker_log TO temp_worker;});
as_role('temp_worker', q{SELECT retailiq.schedule('temp_tick', '@every 1 second', 'INSERT INTO worker_log (who) VALUES (session_user)')});
wait_for(q{SELECT count(*) >= 1 FROM worker_log}, "temp_worker's job runs");
sql(q{DROP OWNED BY temp_worker; DROP ROLE temp_worker;});
sleep 1;
my $before = sql(q{SELECT count(*) FROM worker_log});
# a new role of the same name, given the same rights again
sql(q{CREATE ROLE temp_worker LOGIN; GRANT INSERT ON worker_log TO temp_worker;});
sleep 3;
is(sql(q{SELECT count(*) FROM worker_log}), $before, 'the job of the dropped role does not run as the new role of the same name');
like(sql(q{SELECT message FROM retailiq.job_run WHERE job_name = 'temp_tick' ORDER BY run_id DESC LIMIT 1}),
	qr/owner of the job no longer exists/, 'its run is recorded as failed, saying why');
is(sql(q{SELECT enabled FROM retailiq.job WHERE job_name = 'temp_tick'}), 'f', 'and the job is disabled');
is((as_role('temp_worker', q{SELECT count(*) FROM retailiq.job WHERE job_name = 'temp_tick'}))[1], '0',
	'the new role does not see it');

my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|TRAP:|terminated by signal/, 'no crash in the server log');
$node->stop;
done_testing();
