-- scheduler: jobs run by background workers on a schedule, and their run history.

-- The schedule language (cron fields, @daily-style shorthands, @every <interval>).
CREATE FUNCTION retailiq.check_schedule(schedule text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'scheduler_check_schedule' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.check_schedule(text) IS
    'true for a valid schedule; an error naming the bad field otherwise';

CREATE FUNCTION retailiq.next_run(schedule text, after timestamptz DEFAULT now(),
                                  time_zone text DEFAULT NULL) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'scheduler_next_run' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.next_run(text, timestamptz, text) IS
    'the first fire time of a schedule strictly after a time (cron fields in retailiq.job_time_zone unless a zone is given)';

CREATE FUNCTION retailiq.next_runs(schedule text, after timestamptz, n int,
                                   time_zone text DEFAULT NULL) RETURNS SETOF timestamptz
    AS 'MODULE_PATHNAME', 'scheduler_next_runs' LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION retailiq.next_runs(text, timestamptz, int, text) IS
    'the next n fire times of a schedule after a time';

-- Whose jobs these are. A job runs in a session of its owner, so a job is a standing session of
-- that role: only the owner's own session (session_user) may create, change, start or remove
-- it, or a superuser's session. SET ROLE and SECURITY DEFINER functions change the current
-- user, which gives a role's privileges, never its session: a masked login role that may
-- SET ROLE to an unmasked one, or an admin that may SET ROLE to a second admin, cannot make a
-- job do what its own session could not. Roles are kept by OID (regrole), so a role dropped
-- and created again under the same name inherits none of the old one's jobs.
CREATE FUNCTION retailiq.job_session_may_own(owner regrole) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(owner = c.oid AND (c.rolname = session_user OR s.rolsuper), false)
    FROM pg_roles c, pg_roles s
    WHERE c.rolname = current_user AND s.rolname = session_user
$$;
COMMENT ON FUNCTION retailiq.job_session_may_own(regrole) IS
    'true when this session may write jobs that run as the role: it is the current user, and the session user or a superuser''s session';

-- The job this backend runs, if it is a job worker: its id, the session user that created
-- it and the session user that last set its command (NULL outside a job). Kept in the
-- worker's memory, so nothing a job's SQL does can change it.
CREATE FUNCTION retailiq.current_job(OUT job_id bigint, OUT created_by regrole, OUT command_by regrole)
    AS 'MODULE_PATHNAME', 'scheduler_current_job' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION retailiq.current_job() IS
    'the running job in a job worker (id, creator, author of its command); nulls in any other session';

-- Built-in jobs take ids 1 to 100 explicitly, so that the install script never draws from
-- the sequence: with wal_level = minimal, PostgreSQL 15 forgets after a crash the values a
-- sequence handed out in the transaction that created it, and ids would be reused.
CREATE SEQUENCE retailiq.job_job_id_seq START 101;
CREATE TABLE retailiq.job (
    job_id        bigint      PRIMARY KEY DEFAULT nextval('retailiq.job_job_id_seq'),
    job_name      text        NOT NULL UNIQUE CHECK (job_name <> '' AND length(job_name) <= 63),
    schedule      text        NOT NULL CHECK (retailiq.check_schedule(schedule)),
    command       text        NOT NULL CHECK (btrim(command) <> ''),
    owner         regrole     NOT NULL DEFAULT pg_catalog.quote_ident(current_user)::regrole,
    created_by    regrole     NOT NULL,   -- session_user that created the job (set by the trigger)
    command_by    regrole     NOT NULL,   -- session_user that last set the command (set by the trigger)
    enabled       boolean     NOT NULL DEFAULT true,
    timeout       interval    CHECK (timeout > interval '0'),
    retries       int         NOT NULL DEFAULT 0 CHECK (retries BETWEEN 0 AND 100),
    retry_delay   interval    NOT NULL DEFAULT interval '1 minute' CHECK (retry_delay >= interval '0'),
    next_run      timestamptz,
    last_run      timestamptz,
    last_status   text,
    failures      int         NOT NULL DEFAULT 0,
    run_requested boolean     NOT NULL DEFAULT false,
    builtin       boolean     NOT NULL DEFAULT false,
    description   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE retailiq.job_job_id_seq OWNED BY retailiq.job.job_id;
COMMENT ON TABLE retailiq.job IS 'scheduled jobs: each runs its command in a session of its owner, on its schedule';

CREATE TABLE retailiq.job_run (
    run_id        bigserial   PRIMARY KEY,
    job_id        bigint      NOT NULL,
    job_name      text        NOT NULL,
    owner         regrole     NOT NULL,
    trigger       text        NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry')),
    status        text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed out', 'cancelled')),
    scheduled_for timestamptz,
    started       timestamptz NOT NULL,
    finished      timestamptz,
    pid           int,
    rows          bigint,
    sqlstate      text,
    message       text,
    detail        text,
    hint          text,
    context       text,
    progress      jsonb         -- the forecast fits of the run (refresh_forecasts): series done/total, time, rate
);
COMMENT ON TABLE retailiq.job_run IS 'run history of scheduled jobs (pruned after retailiq.job_history_retention)';
CREATE INDEX job_run_job_idx ON retailiq.job_run (job_id, run_id);
CREATE INDEX job_run_finished_idx ON retailiq.job_run (finished);
CREATE INDEX job_run_running_idx ON retailiq.job_run (status) WHERE status = 'running';

SELECT pg_catalog.pg_extension_config_dump('retailiq.job', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('retailiq.job_run_run_id_seq', '');

-- Everyone may schedule jobs, in their own session; everyone sees the jobs and runs of the
-- roles they have the privileges of. The scheduler and its workers write the run history.
ALTER TABLE retailiq.job ENABLE ROW LEVEL SECURITY;
ALTER TABLE retailiq.job_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_read ON retailiq.job FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY job_insert ON retailiq.job FOR INSERT WITH CHECK (retailiq.job_session_may_own(owner));
CREATE POLICY job_update ON retailiq.job FOR UPDATE USING (retailiq.job_session_may_own(owner))
    WITH CHECK (retailiq.job_session_may_own(owner));
CREATE POLICY job_delete ON retailiq.job FOR DELETE USING (retailiq.job_session_may_own(owner));
CREATE POLICY job_run_read ON retailiq.job_run FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.job TO PUBLIC;
GRANT USAGE ON SEQUENCE retailiq.job_job_id_seq TO PUBLIC;
GRANT SELECT ON retailiq.job_run TO PUBLIC;

-- The next due time after a run was dispatched: the schedule's next fire time after the
-- previous due time (so "@every" keeps its cadence), or after now when that is already past
-- (missed runs collapse into the one that just started: the catch-up policy).
CREATE FUNCTION retailiq_internal.job_advance(schedule text, due timestamptz, now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN n > now THEN n ELSE retailiq.next_run(schedule, now) END
    FROM (SELECT retailiq.next_run(schedule, coalesce(due, now)) AS n) s
$$;

-- Keep next_run in step with the schedule whatever way a row is written, and record who wrote
-- the job: created_by and command_by are the session user (a superuser's session may give
-- them, which is how pg_restore brings them back).
CREATE FUNCTION retailiq_internal.job_before_write() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me regrole := (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user);
    super boolean := (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user);
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT super OR NEW.created_by IS NULL THEN
            NEW.created_by := me;
        END IF;
        IF NOT super OR NEW.command_by IS NULL THEN
            NEW.command_by := me;
        END IF;
    ELSE
        NEW.created_by := OLD.created_by;
        IF NEW.command IS DISTINCT FROM OLD.command OR NEW.owner IS DISTINCT FROM OLD.owner THEN
            NEW.command_by := me;
        ELSIF NOT super OR NEW.command_by IS NULL THEN
            NEW.command_by := OLD.command_by;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.schedule IS DISTINCT FROM OLD.schedule
       OR (NEW.enabled AND NOT OLD.enabled) THEN
        IF NEW.next_run IS NULL OR TG_OP = 'UPDATE' AND NEW.next_run IS NOT DISTINCT FROM OLD.next_run THEN
            NEW.next_run := retailiq.next_run(NEW.schedule, clock_timestamp());
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER job_before_write BEFORE INSERT OR UPDATE ON retailiq.job
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.job_before_write();

-- Refuse to write a job from a session that may not own it (see job_session_may_own).
CREATE FUNCTION retailiq_internal.job_check_session() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF session_user <> current_user AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
        RAISE EXCEPTION 'a job cannot run as "%" from a session of "%"', current_user, session_user
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Jobs run in a session of their owner; SET ROLE and SECURITY DEFINER functions give %I''s privileges, not its session.', current_user),
                  HINT = format('Log in as %I to create or change its jobs, or RESET ROLE to work on your own.', current_user);
    END IF;
END
$$;

CREATE FUNCTION retailiq_internal.job_not_found(job_name text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'job "%" does not exist', job_name
        USING ERRCODE = 'undefined_object',
              HINT = 'List your jobs with SELECT job_name FROM retailiq.job; only a job''s owner may change it.';
END
$$;

CREATE FUNCTION retailiq.schedule(job_name text, schedule text, command text,
                                  enabled boolean DEFAULT true, timeout interval DEFAULT NULL,
                                  retries int DEFAULT 0, retry_delay interval DEFAULT interval '1 minute',
                                  description text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF job_name IS NULL OR schedule IS NULL OR command IS NULL OR enabled IS NULL
       OR retries IS NULL OR retry_delay IS NULL THEN
        RAISE EXCEPTION 'job_name, schedule, command, enabled, retries and retry_delay must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave out an optional argument to get its default.';
    END IF;
    IF job_name = '' OR length(job_name) > 63 THEN
        RAISE EXCEPTION 'job_name must be 1 to 63 characters'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Name jobs after what they do, e.g. ''nightly_forecast''.';
    END IF;
    IF btrim(command) = '' THEN
        RAISE EXCEPTION 'command must not be empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the SQL the job runs, e.g. ''SELECT 1''.';
    END IF;
    IF timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('timeout is %s.', timeout),
                  HINT = 'Leave timeout null to use retailiq.job_timeout.';
    END IF;
    IF retries < 0 OR retries > 100 OR retry_delay < interval '0' THEN
        RAISE EXCEPTION 'retries must be between 0 and 100 and retry_delay not negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('retries is %s, retry_delay is %s.', retries, retry_delay),
                  HINT = 'A failed run is tried again retries times, retry_delay apart.';
    END IF;
    PERFORM retailiq.check_schedule(schedule);
    PERFORM retailiq_internal.job_check_session();
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" cannot log in, so no job can run as it', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Schedule the job as a role with LOGIN (jobs run in a session of their owner).';
    END IF;
    IF EXISTS (SELECT 1 FROM retailiq.job j WHERE j.job_name = schedule.job_name) THEN
        RAISE EXCEPTION 'job "%" already exists', job_name
            USING ERRCODE = 'duplicate_object', HINT = 'Change it with retailiq.alter_job or remove it with retailiq.unschedule.';
    END IF;
    BEGIN
        INSERT INTO retailiq.job (job_name, schedule, command, enabled, timeout, retries, retry_delay, description)
        VALUES (job_name, schedule, command, enabled, timeout, retries, retry_delay, description)
        RETURNING job_id INTO id;
    EXCEPTION WHEN unique_violation THEN
        -- another session created the name between our check and our insert
        RAISE EXCEPTION 'job "%" already exists', job_name
            USING ERRCODE = 'duplicate_object', HINT = 'Change it with retailiq.alter_job or remove it with retailiq.unschedule.';
    END;
    RETURN id;
END
$$;
COMMENT ON FUNCTION retailiq.schedule(text, text, text, boolean, interval, int, interval, text) IS
    'creates a job that runs command in a session of the current user on schedule; returns its id';

CREATE FUNCTION retailiq.unschedule(job_name text) RETURNS boolean
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.job_check_session();
    DELETE FROM retailiq.job j WHERE j.job_name = unschedule.job_name;
    IF NOT FOUND THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION retailiq.unschedule(text) IS 'removes a job (its run history is kept until pruned)';

CREATE FUNCTION retailiq.alter_job(job_name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
                                   enabled boolean DEFAULT NULL, timeout interval DEFAULT NULL,
                                   retries int DEFAULT NULL, retry_delay interval DEFAULT NULL,
                                   next_run timestamptz DEFAULT NULL, description text DEFAULT NULL)
RETURNS retailiq.job LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r retailiq.job;
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'job_name must not be null'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Name the job to change.';
    END IF;
    PERFORM retailiq_internal.job_check_session();
    IF schedule IS NOT NULL THEN
        PERFORM retailiq.check_schedule(schedule);
    END IF;
    IF btrim(command) = '' THEN
        RAISE EXCEPTION 'command must not be empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the SQL the job runs, e.g. ''SELECT 1''.';
    END IF;
    IF timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('timeout is %s.', timeout),
                  HINT = 'Leave timeout out to keep the current one.';
    END IF;
    IF retries < 0 OR retries > 100 THEN
        RAISE EXCEPTION 'retries must be between 0 and 100'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('retries is %s.', retries),
                  HINT = 'A failed run is tried again retries times, retry_delay apart.';
    END IF;
    IF retry_delay < interval '0' THEN
        RAISE EXCEPTION 'retry_delay must not be negative'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('retry_delay is %s.', retry_delay),
                  HINT = 'A failed run is tried again retries times, retry_delay apart.';
    END IF;
    UPDATE retailiq.job j SET
        schedule = coalesce(alter_job.schedule, j.schedule),
        command = coalesce(alter_job.command, j.command),
        enabled = coalesce(alter_job.enabled, j.enabled),
        timeout = coalesce(alter_job.timeout, j.timeout),
        retries = coalesce(alter_job.retries, j.retries),
        retry_delay = coalesce(alter_job.retry_delay, j.retry_delay),
        next_run = coalesce(alter_job.next_run, j.next_run),
        description = coalesce(alter_job.description, j.description),
        failures = 0
    WHERE j.job_name = alter_job.job_name
    RETURNING j.* INTO r;
    IF NOT FOUND THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION retailiq.alter_job(text, text, text, boolean, interval, int, interval, timestamptz, text) IS
    'changes the given properties of a job (null leaves one unchanged)';

CREATE FUNCTION retailiq.run_job(job_name text) RETURNS timestamptz
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq_internal.job_check_session();
    UPDATE retailiq.job j SET run_requested = true WHERE j.job_name = run_job.job_name;
    IF NOT FOUND THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    RETURN clock_timestamp();
END
$$;
COMMENT ON FUNCTION retailiq.run_job(text) IS
    'asks the scheduler to run a job now, even a disabled one, once the calling transaction commits';

CREATE FUNCTION retailiq.wait_for_job(job_name text, timeout interval DEFAULT interval '1 minute')
RETURNS retailiq.job_run LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    r retailiq.job_run;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM retailiq.job j WHERE j.job_name = wait_for_job.job_name) THEN
        PERFORM retailiq_internal.job_not_found(job_name);
    END IF;
    LOOP
        -- each statement of a volatile function sees what others committed meanwhile
        IF NOT (SELECT run_requested FROM retailiq.job j WHERE j.job_name = wait_for_job.job_name) THEN
            SELECT * INTO r FROM retailiq.job_run jr
            WHERE jr.job_id = (SELECT job_id FROM retailiq.job j WHERE j.job_name = wait_for_job.job_name)
            ORDER BY jr.run_id DESC LIMIT 1;
            IF FOUND AND r.status <> 'running' THEN
                RETURN r;
            END IF;
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'job "%" did not finish within %', job_name, timeout
                USING ERRCODE = 'query_canceled',
                      HINT = 'Check that the scheduler runs in this database (retailiq.database) and that run_job was committed.';
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
COMMENT ON FUNCTION retailiq.wait_for_job(text, interval) IS
    'waits until a requested or running job has finished and returns its latest run';

-- Monitoring: one row per job with its last outcome and its recent record. security_invoker:
-- the row-level security of job and job_run applies to the querying role, not to the view's
-- owner (a superuser, who would see every role's jobs and errors).
CREATE VIEW retailiq.job_status WITH (security_barrier, security_invoker) AS
SELECT j.job_name, j.schedule, j.enabled, j.owner, j.next_run, j.last_run, j.last_status,
       j.failures AS consecutive_failures,
       s.runs_24h, s.failed_24h, s.mean_seconds_24h,
       (SELECT jr.message FROM retailiq.job_run jr WHERE jr.job_id = j.job_id AND jr.status <> 'succeeded'
        ORDER BY jr.run_id DESC LIMIT 1) AS last_error
FROM retailiq.job j
LEFT JOIN LATERAL (
    SELECT count(*) AS runs_24h,
           count(*) FILTER (WHERE jr.status IN ('failed', 'timed out', 'cancelled')) AS failed_24h,
           round(avg(extract(epoch FROM jr.finished - jr.started)), 3) AS mean_seconds_24h
    FROM retailiq.job_run jr
    WHERE jr.job_id = j.job_id AND jr.started > now() - interval '24 hours') s ON true;
GRANT SELECT ON retailiq.job_status TO PUBLIC;

-- Built-in jobs, disabled until their source is configured. Their commands call functions of
-- other parts; enable one with retailiq.alter_job('<name>', enabled => true) once it works
-- (retailiq.run_job runs it once to check). See doc/scheduler.md.
INSERT INTO retailiq.job (job_id, job_name, schedule, command, enabled, builtin, timeout, description) VALUES
 (1, 'nightly_forecast', '0 0 * * *', 'SELECT retailiq.refresh_forecasts(ARRAY[1, 7, 28])', false, true, '2 hours',
  'next-day, 7-day and 28-day forecasts of every registered sales series, at midnight local time'),
 (2, 'tag_refresh', '@every 30 seconds', 'SELECT retailiq.refresh_customer_tags()', false, true, '25 seconds',
  'customer behaviour tags from events since the last refresh, every 30 seconds'),
 (3, 'report_daily', '15 0 * * *', 'SELECT retailiq.materialize_report(''daily'')', false, true, '1 hour',
  'yesterday''s sales, behaviour and forecast-accuracy report'),
 (4, 'report_weekly', '30 0 * * mon', 'SELECT retailiq.materialize_report(''weekly'')', false, true, '1 hour',
  'last week''s report, Mondays'),
 (5, 'report_monthly', '45 0 1 * *', 'SELECT retailiq.materialize_report(''monthly'')', false, true, '2 hours',
  'last month''s report, on the first'),
 (6, 'sales_alert_check', '0 6 * * *',
  'SELECT count(*) FROM retailiq.check_sales_shortfall(0.10, ''public.sales_actuals'')', false, true, '30 minutes',
  'sales of the last 7 days against their forecasts (alerts part), every morning; needs a view public.sales_actuals (series, day, units)'),
 (7, 'audit_maintenance', '0 3 * * *', 'SELECT retailiq.maintain_audit_log()', false, true, '1 hour',
  'audit-log retention and partition maintenance, nightly'),
 (8, 'nightly_replenishment', '15 2 * * *', 'SELECT retailiq.refresh_replenishment_plan()', false, true, '1 hour',
  'replenishment plan of every sales source with store and product columns from its newest forecasts, after nightly_forecast (doc/replenishment.md)'),
 (9, 'forecast_health_check', '45 1 * * *', 'SELECT count(*) FROM retailiq.check_forecast_health()', false, true, '1 hour',
  'forecasts of every sales source against what then sold: forecast_drift alerts and early refits, after nightly_forecast and before nightly_replenishment (doc/forecast-health.md)'),
 (10, 'slow_mover_check', '45 2 * * *',
  'SELECT count(*) FROM retailiq.sales_source s CROSS JOIN LATERAL retailiq.check_slow_movers(s.name) c WHERE s.store_column IS NOT NULL AND s.product_column IS NOT NULL',
  false, true, '1 hour',
  'slow and dead stock of every sales source with store and product columns: slow_mover alerts and the daily share for the reports, after nightly_replenishment; needs the inventory source (doc/slow-movers.md)');
