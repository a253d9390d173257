-- Jobs: retailiq.schedule, alter_job, unschedule and run_job, the job and job_run tables,
-- who may see and change which job, and the built-in jobs. The scheduler does not run in
-- this database (it is not in retailiq.database), so nothing here fires; test/t/010_scheduler.pl
-- runs jobs in a real server.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- the built-in jobs exist from the start, disabled until their functions are configured
SELECT job_id, job_name, schedule, command, enabled, timeout
FROM retailiq.job WHERE builtin ORDER BY job_id;

-- a job: the current user owns it, the next run is computed from the schedule
SELECT retailiq.schedule('refresh_daily_sales', '30 1 * * *',
                         'REFRESH MATERIALIZED VIEW daily_sales_mv', timeout => '10 minutes') > 100 AS new_id;
SELECT job_name, schedule, owner = current_user::regrole AS mine, enabled, timeout, retries, retry_delay,
       next_run > now() AND next_run <= now() + interval '1 day' AS next_run_within_a_day,
       next_run = retailiq.next_run(schedule, next_run - interval '1 day') AS next_run_on_schedule,
       last_run, last_status
FROM retailiq.job WHERE job_name = 'refresh_daily_sales';
SELECT retailiq.schedule('every_minute', '* * * * *', 'SELECT 1', retries => 2, retry_delay => '30 seconds',
                         description => 'a heartbeat') > 100 AS new_id;
SELECT job_name, retries, retry_delay, description,
       next_run = date_trunc('minute', now()) + interval '1 minute'
         OR next_run = date_trunc('minute', now()) + interval '2 minutes' AS next_minute
FROM retailiq.job WHERE job_name = 'every_minute';

-- changing a job: only what is given changes; a new schedule gives a new next run
SELECT job_name, schedule, command, enabled, timeout
FROM retailiq.alter_job('refresh_daily_sales', schedule => '@hourly', enabled => false);
SELECT next_run = date_trunc('hour', now()) + interval '1 hour'
         OR next_run = date_trunc('hour', now()) + interval '2 hours' AS next_run_on_the_hour
FROM retailiq.job WHERE job_name = 'refresh_daily_sales';
SELECT (retailiq.alter_job('refresh_daily_sales', next_run => '2030-01-01 00:00+00')).next_run;

-- run now: the request is recorded for the scheduler, even for a disabled job
SELECT retailiq.run_job('refresh_daily_sales') <= clock_timestamp() AS requested;
SELECT job_name, enabled, run_requested FROM retailiq.job WHERE job_name = 'refresh_daily_sales';

-- errors
SELECT retailiq.schedule('refresh_daily_sales', '@daily', 'SELECT 1');
SELECT retailiq.schedule('bad', '0 0 * * 8', 'SELECT 1');
SELECT retailiq.schedule('bad', '@daily', '   ');
SELECT retailiq.schedule('', '@daily', 'SELECT 1');
SELECT retailiq.schedule(NULL, '@daily', 'SELECT 1');
SELECT retailiq.schedule('bad', '@daily', 'SELECT 1', timeout => '0 seconds');
SELECT retailiq.schedule('bad', '@daily', 'SELECT 1', retries => -1);
SELECT retailiq.alter_job('no_such_job', enabled => true);
SELECT retailiq.alter_job('every_minute', schedule => '61 * * * *');
SELECT retailiq.alter_job('every_minute', retries => 101);
SELECT retailiq.alter_job('every_minute', command => '');
SELECT retailiq.unschedule('no_such_job');
SELECT retailiq.run_job('no_such_job');
SELECT retailiq.wait_for_job('no_such_job');
-- the table itself rejects a bad schedule written directly
INSERT INTO retailiq.job (job_name, schedule, command) VALUES ('direct', '* * *', 'SELECT 1');

-- roles: a job runs as its owner, so each role sees and changes only its own jobs
CREATE ROLE regress_sched_alice LOGIN;
CREATE ROLE regress_sched_bob LOGIN;
CREATE ROLE regress_sched_group NOLOGIN;
GRANT regress_sched_alice TO regress_sched_bob;
SET ROLE regress_sched_alice;
SELECT retailiq.schedule('alice_job', '@daily', 'SELECT 1') > 100 AS created;
SELECT job_name, owner FROM retailiq.job ORDER BY job_name;
SELECT job_name, owner FROM retailiq.job_status ORDER BY job_name;
SELECT retailiq.alter_job('every_minute', enabled => false);
SELECT retailiq.unschedule('every_minute');
UPDATE retailiq.job SET command = 'DROP TABLE precious' WHERE job_name = 'every_minute';
INSERT INTO retailiq.job (job_name, schedule, command, owner) VALUES ('forged', '@daily', 'SELECT 1', 'postgres');
UPDATE retailiq.job SET owner = 'regress_sched_bob' WHERE job_name = 'alice_job';
SELECT count(*) AS runs_visible FROM retailiq.job_run;
INSERT INTO retailiq.job_run (job_id, job_name, owner, trigger, status, started)
VALUES (1, 'fake', 'regress_sched_alice', 'manual', 'succeeded', now());
RESET ROLE;
-- a role that cannot log in cannot own a job (jobs run in a session of their owner)
SET ROLE regress_sched_group;
SELECT retailiq.schedule('group_job', '@daily', 'SELECT 1');
RESET ROLE;
-- a job runs in a session of its owner, so only the owner's own session (or a superuser's)
-- may create, change or start it: SET ROLE gives a role's privileges, not its session
SET SESSION AUTHORIZATION regress_sched_bob;
SET ROLE regress_sched_alice;
SELECT retailiq.schedule('bob_as_alice', '@daily', 'SELECT 1');
SELECT retailiq.alter_job('alice_job', command => 'SELECT 2');
SELECT retailiq.run_job('alice_job');
SELECT retailiq.unschedule('alice_job');
RESET ROLE;
RESET SESSION AUTHORIZATION;
-- members see the jobs of the roles whose privileges they have (bob is a member of alice)
SET ROLE regress_sched_bob;
SELECT job_name, owner FROM retailiq.job ORDER BY job_name;
RESET ROLE;
SELECT job_name, owner FROM retailiq.job WHERE NOT builtin ORDER BY job_name;
SET ROLE regress_sched_alice;
SELECT retailiq.unschedule('alice_job');
RESET ROLE;

-- job_status: one monitoring row per job
SELECT job_name, enabled, last_status, consecutive_failures, runs_24h, failed_24h, last_error
FROM retailiq.job_status ORDER BY job_name;

SELECT retailiq.unschedule('refresh_daily_sales'), retailiq.unschedule('every_minute');
SELECT count(*) AS user_jobs_left FROM retailiq.job WHERE NOT builtin;
DROP ROLE regress_sched_alice, regress_sched_bob, regress_sched_group;
