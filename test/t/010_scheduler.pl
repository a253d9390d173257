# The job scheduler in a real server: jobs run on schedule and as their owner, failures,
# timeouts and cancellations are recorded while healthy jobs keep running, no job runs twice
# at once, and all of it survives a killed scheduler and launcher, a killed job worker
# (crash restart), a server restart (with the documented catch-up) and DROP DATABASE.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('scheduler');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.database = 'postgres, shop'
retailiq.scheduler_naptime = '200ms'
max_worker_processes = 20
restart_after_crash = on
});
$node->start;

sub sql($) { return $node->safe_psql('postgres', $_[0]); }
sub wait_for { my ($sql, $what) = @_; ok($node->poll_query_until('postgres', $sql), $what); }
sub runs { return sql("SELECT count(*) FROM retailiq.job_run WHERE job_name = '$_[0]' AND status = 'succeeded'"); }
sub scheduler_pid { return sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'retailiq scheduler' AND datname = 'postgres'"); }

sql(q{CREATE EXTENSION retailiq;
	CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp());
	CREATE ROLE alice LOGIN;
	CREATE TABLE alice_log (who name, super boolean);
	GRANT INSERT ON alice_log TO alice;
	CREATE TABLE payroll (salary int);
	INSERT INTO payroll VALUES (1000);});

# --- a job runs on schedule: @every 1 second, at least 10 runs in 15 seconds
sql(q{SELECT retailiq.schedule('tick', '@every 1 second', 'INSERT INTO ticks DEFAULT VALUES')});
wait_for(q{SELECT count(*) >= 10 FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded'},
	'@every 1 second job recorded 10 successful runs');
is(sql q{SELECT max(started) - min(started) <= interval '15 seconds'
	FROM (SELECT started FROM retailiq.job_run WHERE job_name = 'tick' ORDER BY run_id LIMIT 10) s}, 't',
	'the first 10 runs started within 15 seconds');
# one statement, one snapshot: a run commits its work before its run record, so at most the
# run in flight has ticked without being recorded yet
is(sql q{SELECT (SELECT count(*) FROM ticks)
	          - (SELECT count(*) FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded') IN (0, 1)},
	't', 'each successful run did its work once');
is(sql q{SELECT bool_and(rows = 1 AND finished >= started AND started >= scheduled_for) FROM retailiq.job_run WHERE job_name = 'tick'},
	't', 'run records carry the row count and never start before they are due');

# --- a failing job is recorded with its error; the healthy one keeps running
sql(q{SELECT retailiq.schedule('boom', '@every 1 second',
	$x$DO $b$BEGIN RAISE EXCEPTION 'stock table missing' USING ERRCODE = '42P01', DETAIL = 'no such table', HINT = 'load the data'; END$b$$x$)});
wait_for(q{SELECT count(*) >= 2 FROM retailiq.job_run WHERE job_name = 'boom' AND status = 'failed'}, 'the failing job ran twice');
is(sql q{SELECT sqlstate || '|' || message || '|' || detail || '|' || hint FROM retailiq.job_run WHERE job_name = 'boom' ORDER BY run_id LIMIT 1},
	'42P01|stock table missing|no such table|load the data', 'failure recorded with SQLSTATE, message, detail and hint');
my $ticks = runs('tick');
wait_for("SELECT count(*) > $ticks FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded'",
	'the healthy job keeps running beside the failing one');
is(sql q{SELECT last_status || ' ' || (consecutive_failures > 0) FROM retailiq.job_status WHERE job_name = 'boom'}, 'failed true',
	'job_status shows the failing job');
sql(q{SELECT retailiq.alter_job('boom', enabled => false)});

# --- timeout: a job past its timeout is cancelled and recorded as timed out
sql(q{SELECT retailiq.schedule('slow', '@every 1 second', 'SELECT pg_sleep(60)', timeout => '1 second')});
wait_for(q{SELECT count(*) >= 1 FROM retailiq.job_run WHERE job_name = 'slow' AND status = 'timed out'}, 'a job past its timeout is timed out');
is(sql q{SELECT sqlstate FROM retailiq.job_run WHERE job_name = 'slow' AND status = 'timed out' LIMIT 1}, '57014', 'timed out with SQLSTATE 57014');
sql(q{SELECT retailiq.unschedule('slow')});

# --- pg_cancel_backend of a job worker: cancelled
# its own sleep text, so a late worker of 'slow' above is never taken for it
sql(q{SELECT retailiq.schedule('cancel_me', '@every 1 second', 'SELECT pg_sleep(61)')});
wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'retailiq job' AND query LIKE '%pg_sleep(61)%'}, 'long job is running');
sql(q{SELECT retailiq.alter_job('cancel_me', enabled => false)});
sql(q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'retailiq job' AND query LIKE '%pg_sleep(61)%'});
wait_for(q{SELECT count(*) = 1 FROM retailiq.job_run WHERE job_name = 'cancel_me' AND status = 'cancelled'}, 'a cancelled run is recorded as cancelled');

# --- a job never runs twice at once: a 3-second job every second, plus a manual request
sql(q{SELECT retailiq.schedule('long', '@every 1 second', 'SELECT pg_sleep(3)')});
wait_for(q{SELECT count(*) >= 1 FROM retailiq.job_run WHERE job_name = 'long' AND status = 'running'}, 'long job started');
sql(q{SELECT retailiq.run_job('long')});
wait_for(q{SELECT count(*) >= 3 FROM retailiq.job_run WHERE job_name = 'long' AND status = 'succeeded'}, 'long job ran three times');
sql(q{SELECT retailiq.alter_job('long', enabled => false)});
is(sql q{SELECT count(*) FROM retailiq.job_run a JOIN retailiq.job_run b ON a.job_id = b.job_id AND a.run_id < b.run_id
	WHERE a.job_name = 'long' AND b.started < coalesce(a.finished, 'infinity')}, '0', 'no two runs of one job overlap');
is(sql q{SELECT count(*) FROM retailiq.job_run WHERE job_name = 'long' AND trigger = 'manual'}, '1', 'the manual request ran after the running one, once');

# --- runs as the owner, never as superuser; a job cannot do what its owner cannot
$node->safe_psql('postgres', q{SET ROLE alice;
	SELECT retailiq.schedule('as_alice', '@every 1 second', 'INSERT INTO alice_log SELECT session_user, rolsuper FROM pg_roles WHERE rolname = current_user');
	SELECT retailiq.schedule('alice_snoops', '@every 1 second', 'SELECT * FROM payroll');
	SELECT retailiq.schedule('alice_escalates', '@every 1 second', 'RESET ROLE; SET ROLE postgres');});
wait_for(q{SELECT count(DISTINCT job_name) = 2 FROM retailiq.job_run
	WHERE job_name IN ('alice_escalates', 'alice_snoops') AND status <> 'running'}, "alice's jobs ran");
wait_for(q{SELECT count(*) >= 1 FROM alice_log}, "alice's job did its work");
is(sql q{SELECT DISTINCT who || ' ' || super FROM alice_log}, 'alice false', 'the job ran in a session of alice, not as superuser');
is(sql q{SELECT DISTINCT status || ' ' || sqlstate FROM retailiq.job_run WHERE job_name = 'alice_snoops' AND status <> 'running'}, 'failed 42501',
	'a job cannot read what its owner cannot');
is(sql q{SELECT DISTINCT status || ' ' || sqlstate FROM retailiq.job_run WHERE job_name = 'alice_escalates' AND status <> 'running'}, 'failed 42501',
	'a job cannot become a role its owner is not a member of');
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT count(*) FROM retailiq.job WHERE job_name = 'tick'}), '0',
	'alice does not see the jobs of others');
sql(q{SELECT retailiq.unschedule(j) FROM unnest(ARRAY['as_alice', 'alice_snoops', 'alice_escalates']) j});

# --- SIGHUP: a long naptime delays a requested run; a short one (after reload) picks it up
sql(q{SELECT retailiq.alter_job('tick', enabled => false)});
# no job may be running: a worker that stops wakes the scheduler
wait_for(q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'retailiq job'}, 'no job is running');
$node->append_conf('postgresql.conf', "retailiq.scheduler_naptime = '1h'\n");
$node->reload;
sleep 2;
my $manual_before = sql q{SELECT count(*) FROM retailiq.job_run WHERE job_name = 'boom'};
sql(q{SELECT retailiq.run_job('boom')});
sleep 3;
is(sql q{SELECT count(*) FROM retailiq.job_run WHERE job_name = 'boom'}, $manual_before,
	'with a 1 hour naptime and no job due, a request waits');
$node->append_conf('postgresql.conf', "retailiq.scheduler_naptime = '200ms'\n");
$node->reload;
wait_for("SELECT count(*) > $manual_before FROM retailiq.job_run WHERE job_name = 'boom'", 'after SIGHUP with a short naptime it runs');
sql(q{SELECT retailiq.alter_job('tick', enabled => true)});

# --- killing the scheduler and the launcher: both come back, jobs keep running
my $old = scheduler_pid();
sql("SELECT pg_terminate_backend($old)");
wait_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'retailiq scheduler' AND datname = 'postgres' AND pid <> $old",
	'a terminated scheduler is restarted by the launcher');
sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'retailiq launcher'});
wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'retailiq launcher'}, 'a terminated launcher is restarted by the postmaster');
$ticks = runs('tick');
wait_for("SELECT count(*) >= $ticks + 3 FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded'", 'jobs keep running after both kills');
is(sql q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'retailiq scheduler' AND datname = 'postgres'}, '1',
	'still exactly one scheduler for the database');

# --- a job worker killed hard: the server restarts, the run is recorded as failed, jobs resume
sql(q{SELECT retailiq.alter_job('long', enabled => true)});
wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'retailiq job' AND query LIKE '%pg_sleep(3)%'}, 'long job running again');
my $victim = sql q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'retailiq job' AND query LIKE '%pg_sleep(3)%'};
my $victim_run = sql("SELECT run_id FROM retailiq.job_run WHERE pid = $victim");
kill 'KILL', $victim;
sleep 1;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back after the crash';
wait_for("SELECT status = 'failed' FROM retailiq.job_run WHERE run_id = $victim_run", 'the killed run is recorded as failed');
like(sql("SELECT message FROM retailiq.job_run WHERE run_id = $victim_run"), qr/exited before recording a result/, 'with a message saying why');
$ticks = runs('tick');
wait_for("SELECT count(*) >= $ticks + 3 FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded'", 'jobs resume after the crash restart');
sql(q{SELECT retailiq.alter_job('long', enabled => false)});

# --- server restart: definitions and history survive; a run missed while down runs once
sql(q{SELECT retailiq.schedule('yearly', '0 0 1 1 *', 'INSERT INTO ticks VALUES (''2000-01-01'')')});
sql(q{SELECT retailiq.alter_job('yearly', next_run => clock_timestamp() + interval '2 seconds')});
my $jobs_before = sql q{SELECT string_agg(job_name || ':' || schedule || ':' || enabled, ',' ORDER BY job_name) FROM retailiq.job};
$node->stop('fast');
sleep 3;
$node->start;
is(sql q{SELECT string_agg(job_name || ':' || schedule || ':' || enabled, ',' ORDER BY job_name) FROM retailiq.job}, $jobs_before,
	'job definitions survive a restart');
wait_for(q{SELECT count(*) = 1 FROM retailiq.job_run WHERE job_name = 'yearly' AND status = 'succeeded'}, 'the run missed while down ran on start-up');
sleep 2;
is(sql q{SELECT count(*) FROM retailiq.job_run WHERE job_name = 'yearly'}, '1', 'exactly once (catch-up policy)');
is(sql q{SELECT next_run > now() + interval '1 day' FROM retailiq.job WHERE job_name = 'yearly'}, 't', 'and its next run is next year');
$ticks = runs('tick');
wait_for("SELECT count(*) >= $ticks + 3 FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded'", 'jobs resume after a restart');
is(sql q{SELECT count(*) FROM retailiq.job_run WHERE status = 'running' AND pid IS NOT NULL
	AND pid NOT IN (SELECT pid FROM pg_stat_activity)}, '0', 'no run is left running without a worker');

# --- the history is pruned by age
sql(q{UPDATE retailiq.job_run SET finished = finished - interval '30 days', started = started - interval '30 days' WHERE job_name = 'boom'});
$node->append_conf('postgresql.conf', "retailiq.job_history_retention = '7d'\n");
$node->reload;
wait_for(q{SELECT count(*) = 0 FROM retailiq.job_run WHERE job_name = 'boom'}, 'runs older than retailiq.job_history_retention are deleted');

# --- another listed database; dropping the extension stops its jobs; DROP DATABASE works
sql(q{CREATE DATABASE shop});
$node->safe_psql('shop', q{CREATE EXTENSION retailiq; CREATE TABLE t (x int);
	SELECT retailiq.schedule('shop_tick', '@every 1 second', 'INSERT INTO t VALUES (1)')});
ok($node->poll_query_until('shop', q{SELECT count(*) >= 2 FROM t}), 'a job runs in a second listed database');
$node->safe_psql('shop', q{DROP EXTENSION retailiq});
sleep 1;
my $n = $node->safe_psql('shop', q{SELECT count(*) FROM t});
sleep 2;
is($node->safe_psql('shop', q{SELECT count(*) FROM t}), $n, "dropping the extension stops the database's jobs");
$node->safe_psql('shop', q{CREATE EXTENSION retailiq; SELECT retailiq.schedule('shop_tick', '@every 1 second', 'INSERT INTO t VALUES (2)')});
ok($node->poll_query_until('shop', q{SELECT count(*) >= 1 FROM t WHERE x = 2}), 'creating it again starts them again');
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop');
is($ret, 0, "DROP DATABASE of a database with running jobs succeeds $err");
$ticks = runs('tick');
wait_for("SELECT count(*) >= $ticks + 2 FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'succeeded'", 'other databases are unaffected');

# --- disabled scheduler: no runs; enabled again: runs
$node->append_conf('postgresql.conf', "retailiq.scheduler_enabled = off\n");
$node->reload;
wait_for(q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'retailiq scheduler'}, 'retailiq.scheduler_enabled = off stops the schedulers');
$node->append_conf('postgresql.conf', "retailiq.scheduler_enabled = on\n");
$node->reload;
wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'retailiq scheduler'}, 'and on starts them again');

my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|TRAP:|terminated by signal 11/, 'no panic, assertion or segfault in the server log');
$node->stop;
done_testing();
