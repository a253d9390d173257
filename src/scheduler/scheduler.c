/*
 * scheduler.c: the GUCs and the three kinds of background worker of the job scheduler.
 *
 *   launcher   one static worker, connected to no database. It starts a scheduler for each
 *              database named in retailiq.database that exists, restarts one that stops, and
 *              stops one whose database left the list (SIGHUP) or when retailiq.scheduler_enabled
 *              is off.
 *   scheduler  one dynamic worker per database. While the extension exists there, it reads
 *              due jobs from retailiq.job, records each run in retailiq.job_run and starts a
 *              job worker for it, at most retailiq.max_job_workers at a time. It never runs a
 *              job's SQL itself, and an error in its own bookkeeping is logged, rolled back
 *              and retried on the next round: it does not exit.
 *   job        one dynamic worker per run, connected as the job's owner (never as a superuser
 *              unless the owner is one; owners are kept by OID, so a role dropped and created
 *              again under its name does not inherit the job). It holds a session advisory lock on the job for the
 *              whole run, so a job never runs twice at once, runs the command in one
 *              transaction under the job's timeout, and records the outcome: succeeded (with
 *              the row count), failed (SQLSTATE, message, detail, hint, context), timed out
 *              or cancelled.
 *
 * The bookkeeping writes of a job worker are made as the bootstrap superuser through
 * SetUserIdAndSecContext, in their own transactions, never around the job's own command.
 * A job worker remembers which job it runs and who wrote it (retailiq.current_job()), so
 * that the privacy part can refuse an approval by a job that the requester wrote.
 */
#include "postgres.h"

#include <limits.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "forecast/progress.h"
#include "scheduler/scheduler.h"

/* the first key of every advisory lock the scheduler takes: 'RIQ1' */
#define SCHED_LOCK_KEY		1380536625
#define MAX_DATABASES		32
#define MAX_JOB_SLOTS		128
#define RESTART_DELAY_MS	1000
/* a job worker still alive this long past its timeout is terminated by the scheduler */
#define TIMEOUT_GRACE_MS	5000

bool		scheduler_enabled = true;
char	   *scheduler_databases = NULL;
int			scheduler_naptime_ms = 1000;
int			scheduler_max_job_workers = 4;
int			scheduler_default_timeout_ms = 3600 * 1000;
int			scheduler_history_retention_min = 7 * 24 * 60;
char	   *scheduler_time_zone = NULL;

PGDLLEXPORT void scheduler_launcher_main(Datum arg);
PGDLLEXPORT void scheduler_db_main(Datum arg);
PGDLLEXPORT void scheduler_job_main(Datum arg);

/* what a scheduler hands to a job worker */
typedef struct JobWorkerArgs
{
	Oid			dboid;
	Oid			owner;
	int64		job_id;
	int64		run_id;
	int32		timeout_ms;		/* 0 = none */
} JobWorkerArgs;

static ProcessUtility_hook_type prev_process_utility = NULL;

/* in a job worker: the job being run and who wrote it (retailiq.current_job()) */
static int64 current_job_id = 0;
static Oid	current_job_created_by = InvalidOid;
static Oid	current_job_command_by = InvalidOid;

/*
 * DROP DATABASE and ALTER DATABASE ... RENAME need the database to themselves: stop the
 * scheduler and the job workers connected to it first (they would otherwise block the
 * command for five seconds and make it fail). The launcher starts a scheduler again only
 * for a database that still exists and is still listed.
 */
static void
stop_workers_in_database(const char *dbname)
{
	Oid			dboid;
	int			n,
				i;

	if (dbname == NULL || !IsTransactionState())
		return;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid))
		return;
	pgstat_clear_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		const char *type;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_databaseid != dboid || be->st_backendType != B_BG_WORKER || be->st_procpid == MyProcPid)
			continue;
		type = GetBackgroundWorkerTypeByPid(be->st_procpid);
		if (type && strncmp(type, "retailiq ", 9) == 0)
			(void) kill(be->st_procpid, SIGTERM);
	}
	pgstat_clear_snapshot();
	/* give them a moment to exit before the command counts the other sessions */
	pg_usleep(100 * 1000L);
}

static void
scheduler_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (IsA(stmt, DropdbStmt))
		stop_workers_in_database(((DropdbStmt *) stmt)->dbname);
	else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		stop_workers_in_database(((RenameStmt *) stmt)->subname);
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

static bool
check_time_zone(char **newval, void **extra, GucSource source)
{
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not recognized.", *newval);
		return false;
	}
	return true;
}

void
scheduler_init(void)
{
	BackgroundWorker worker;

	DefineCustomBoolVariable("retailiq.scheduler_enabled",
							 "Runs scheduled jobs.",
							 "Off stops every scheduler; jobs and run history are kept.",
							 &scheduler_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("retailiq.database",
							   "Databases whose retailiq jobs are run (comma-separated list).",
							   NULL, &scheduler_databases, "postgres", PGC_SIGHUP,
							   GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("retailiq.scheduler_naptime",
							"Longest sleep of a scheduler between looks at its job table.",
							"A scheduler also wakes when the next job is due.",
							&scheduler_naptime_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("retailiq.max_job_workers",
							"Jobs that may run at the same time in one database.",
							"Each running job uses one of max_worker_processes.",
							&scheduler_max_job_workers, 4, 1, MAX_JOB_SLOTS, PGC_SIGHUP,
							0, NULL, NULL, NULL);
	DefineCustomIntVariable("retailiq.job_timeout",
							"Timeout of a job that sets none; 0 means no timeout.",
							NULL, &scheduler_default_timeout_ms, 3600 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("retailiq.job_history_retention",
							"Age after which finished runs are deleted from retailiq.job_run; 0 keeps them.",
							NULL, &scheduler_history_retention_min, 7 * 24 * 60, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomStringVariable("retailiq.job_time_zone",
							   "Time zone in which cron schedules are read.",
							   NULL, &scheduler_time_zone, "UTC", PGC_SIGHUP, 0,
							   check_time_zone, NULL, NULL);

	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = scheduler_process_utility;

	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "retailiq");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "scheduler_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "retailiq launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "retailiq launcher");
	RegisterBackgroundWorker(&worker);
}

/* ---------------------------------------------------------------- launcher */

typedef struct DbSlot
{
	Oid			dboid;
	char		name[NAMEDATALEN];
	BackgroundWorkerHandle *handle;
	TimestampTz stopped_at;
	bool		wanted;
} DbSlot;

static DbSlot db_slots[MAX_DATABASES];
static int	n_db_slots = 0;

static void
launcher_start_scheduler(DbSlot *slot)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "retailiq");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "scheduler_db_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "retailiq scheduler for %s", slot->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "retailiq scheduler");
	worker.bgw_main_arg = ObjectIdGetDatum(slot->dboid);
	worker.bgw_notify_pid = MyProcPid;
	/* the handle outlives this loop: keep it in TopMemoryContext */
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &slot->handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		slot->handle = NULL;
		slot->stopped_at = GetCurrentTimestamp();
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the retailiq scheduler for database \"%s\"", slot->name),
				 errhint("Raise max_worker_processes.")));
	}
}

/*
 * A database's oid by a heap scan of pg_database, as the autovacuum launcher does: with no
 * database selected, only nailed relations such as pg_database itself can be opened (not
 * its name index, whose relcache entry would need pg_class).
 */
static Oid
database_oid(const char *name)
{
	Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	Oid			result = InvalidOid;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), name) == 0 && db->datallowconn && db->datconnlimit != -2)
		{
			result = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* Match the configured list with the running schedulers. */
static void
launcher_reconcile(bool warn_missing)
{
	char	   *raw;
	List	   *names = NIL;
	ListCell   *lc;
	int			i;

	for (i = 0; i < n_db_slots; i++)
		db_slots[i].wanted = false;

	if (scheduler_enabled)
	{
		raw = pstrdup(scheduler_databases ? scheduler_databases : "");
		if (!SplitGUCList(raw, ',', &names))
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retailiq.database is not a valid list of database names"),
					 errhint("Write database names separated by commas.")));
			names = NIL;
		}
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		foreach(lc, names)
		{
			const char *name = (const char *) lfirst(lc);
			Oid			dboid = database_oid(name);

			if (!OidIsValid(dboid))
			{
				if (warn_missing)
					ereport(LOG,
							(errmsg("retailiq scheduler: database \"%s\" in retailiq.database does not exist or does not allow connections", name)));
				continue;
			}
			for (i = 0; i < n_db_slots; i++)
				if (db_slots[i].dboid == dboid)
					break;
			if (i == n_db_slots)
			{
				if (n_db_slots == MAX_DATABASES)
					continue;
				memset(&db_slots[i], 0, sizeof(DbSlot));
				db_slots[i].dboid = dboid;
				strlcpy(db_slots[i].name, name, NAMEDATALEN);
				n_db_slots++;
			}
			db_slots[i].wanted = true;
		}
		CommitTransactionCommand();
	}

	for (i = 0; i < n_db_slots; i++)
	{
		DbSlot	   *slot = &db_slots[i];
		pid_t		pid;

		if (slot->handle && GetBackgroundWorkerPid(slot->handle, &pid) == BGWH_STOPPED)
		{
			pfree(slot->handle);
			slot->handle = NULL;
			slot->stopped_at = GetCurrentTimestamp();
		}
		if (!slot->wanted && slot->handle)
		{
			TerminateBackgroundWorker(slot->handle);
			continue;
		}
		if (slot->wanted && !slot->handle &&
			TimestampDifferenceExceeds(slot->stopped_at, GetCurrentTimestamp(), RESTART_DELAY_MS))
			launcher_start_scheduler(slot);
	}
}

void
scheduler_launcher_main(Datum arg)
{
	bool		warn_missing = true;
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* no database: only the shared catalogs (pg_database) are read */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("retailiq launcher");
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "retailiq launcher loop", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			warn_missing = true;
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		launcher_reconcile(warn_missing);
		MemoryContextSwitchTo(TopMemoryContext);
		warn_missing = false;
		/* a scheduler stopping sets our latch (bgw_notify_pid) */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(RESTART_DELAY_MS, Min(scheduler_naptime_ms, 5000)), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* --------------------------------------------------------------- scheduler */

typedef struct JobSlot
{
	bool		used;
	int64		job_id;
	int64		run_id;
	int32		timeout_ms;
	TimestampTz started;
	bool		terminated_for_timeout;
	BackgroundWorkerHandle *handle;
} JobSlot;

static JobSlot job_slots[MAX_JOB_SLOTS];
static MemoryContext sched_round_cxt = NULL;

typedef struct Launch
{
	int64		job_id;
	int64		run_id;
	Oid			owner;
	int32		timeout_ms;
	char		name[NAMEDATALEN * 2];
} Launch;

static int
running_jobs(void)
{
	int			i,
				n = 0;

	for (i = 0; i < MAX_JOB_SLOTS; i++)
		if (job_slots[i].used)
			n++;
	return n;
}

static bool
job_is_running_here(int64 job_id)
{
	int			i;

	for (i = 0; i < MAX_JOB_SLOTS; i++)
		if (job_slots[i].used && job_slots[i].job_id == job_id)
			return true;
	return false;
}

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "retailiq scheduler: query failed (%d): %s", rc, sql);
}

static void
begin_txn(const char *what)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

static void
end_txn(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Is the retailiq extension (with its job table) installed in this database? */
static bool
extension_present(void)
{
	return OidIsValid(get_extension_oid("retailiq", true));
}

/* Record the end of a run that its worker could not record itself. */
/*
 * Every transaction that writes both retailiq.job and retailiq.job_run locks job first, in
 * the order DROP EXTENSION takes them: otherwise a run's bookkeeping (job_run, then job) and
 * a DROP EXTENSION in the same database (job, then job_run) deadlock.
 */
static void
lock_job_first(void)
{
	spi_exec("LOCK TABLE retailiq.job IN ROW EXCLUSIVE MODE", 0, NULL, NULL, SPI_OK_UTILITY);
}

static void
record_lost_run(int64 run_id, const char *status, const char *message, const char *detail)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];

	lock_job_first();
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = CStringGetTextDatum(message);
	values[3] = CStringGetTextDatum(detail);
	spi_exec("UPDATE retailiq.job_run SET status = $2, finished = clock_timestamp(), message = $3, detail = $4,"
			 " sqlstate = CASE $2 WHEN 'timed out' THEN '57014' ELSE '57P01' END"
			 " WHERE run_id = $1 AND status = 'running'", 4, types, values, SPI_OK_UPDATE);
	spi_exec("UPDATE retailiq.job j SET last_status = r.status, failures = j.failures + 1"
			 " FROM retailiq.job_run r WHERE r.run_id = $1 AND j.job_id = r.job_id AND r.status = $2",
			 2, types, values, SPI_OK_UPDATE);
}

/* Reap job workers that stopped; terminate those far past their timeout. */
static void
reap_job_workers(void)
{
	int			i;
	bool		any = false;

	for (i = 0; i < MAX_JOB_SLOTS; i++)
	{
		JobSlot    *s = &job_slots[i];
		pid_t		pid;

		if (!s->used)
			continue;
		if (GetBackgroundWorkerPid(s->handle, &pid) == BGWH_STOPPED)
		{
			any = true;
			continue;
		}
		if (s->timeout_ms > 0 && !s->terminated_for_timeout &&
			TimestampDifferenceExceeds(s->started, GetCurrentTimestamp(), s->timeout_ms + TIMEOUT_GRACE_MS))
		{
			TerminateBackgroundWorker(s->handle);
			s->terminated_for_timeout = true;
		}
	}
	if (!any)
		return;

	begin_txn("retailiq scheduler: reaping job workers");
	for (i = 0; i < MAX_JOB_SLOTS; i++)
	{
		JobSlot    *s = &job_slots[i];
		pid_t		pid;

		if (!s->used || GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
			continue;
		if (extension_present())
		{
			if (s->terminated_for_timeout)
				record_lost_run(s->run_id, "timed out", "job ran past its timeout and was terminated",
								"The job did not respond to cancellation within 5 seconds of its timeout.");
			else
				record_lost_run(s->run_id, "failed", "job worker exited before recording a result",
								"The worker was terminated or crashed while the job ran.");
		}
		pfree(s->handle);
		s->used = false;
	}
	end_txn();
}

/* Runs left 'running' by workers that no longer exist (server restart, killed scheduler). */
static void
sweep_orphan_runs(void)
{
	spi_exec("UPDATE retailiq.job_run r SET status = 'failed', finished = clock_timestamp(), sqlstate = '57P01',"
			 " message = 'job worker exited before recording a result',"
			 " detail = 'The server restarted or the worker was killed while the job ran.'"
			 " WHERE r.status = 'running'"
			 "   AND (r.pid IS NOT NULL OR r.started < clock_timestamp() - interval '1 minute')"
			 "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
			 "                   WHERE a.pid = r.pid AND a.backend_type = 'retailiq job')",
			 0, NULL, NULL, SPI_OK_UPDATE);
}

/* a due job, as the round's query returns it */
typedef struct DueJob
{
	int64		job_id;
	char	   *job_name;
	Datum		owner;
	bool		owner_missing;
	bool		can_login;
	bool		requested;
	int64		timeout_ms;
} DueJob;

/* Delete finished runs older than retailiq.job_history_retention, at most once a minute. */
static void
prune_history(TimestampTz *last_prune)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];

	if (scheduler_history_retention_min > 0 &&
		TimestampDifferenceExceeds(*last_prune, GetCurrentTimestamp(), 60 * 1000))
	{
		values[0] = Int64GetDatum(0);
		values[1] = Int32GetDatum(scheduler_history_retention_min);
		spi_exec("DELETE FROM retailiq.job_run WHERE status <> 'running'"
				 " AND finished < clock_timestamp() - make_interval(mins => $2)",
				 2, types, values, SPI_OK_DELETE);
		*last_prune = GetCurrentTimestamp();
	}
}

static void
read_due_job(HeapTuple tup, TupleDesc desc, DueJob *job)
{
	bool		isnull;
	Datum		timeout_d;

	job->job_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	job->job_name = SPI_getvalue(tup, desc, 2);
	job->owner = SPI_getbinval(tup, desc, 3, &isnull);
	job->owner_missing = isnull;
	job->can_login = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)) && !isnull;
	job->requested = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	timeout_d = SPI_getbinval(tup, desc, 6, &isnull);
	job->timeout_ms = isnull ? scheduler_default_timeout_ms : DatumGetInt64(timeout_d);
}

/* Never twice at once: is the job running, ours in memory, anyone's through its advisory lock? */
static bool
job_busy(int64 job_id)
{
	Oid			types[3] = {INT8OID, INT4OID, INT4OID};
	Datum		values[3];
	bool		isnull;
	bool		busy = job_is_running_here(job_id);

	if (!busy)
	{
		values[0] = Int64GetDatum(job_id);
		values[1] = Int32GetDatum(SCHED_LOCK_KEY);
		values[2] = Int32GetDatum((int32) job_id);
		spi_exec("SELECT pg_catalog.pg_try_advisory_lock($2, $3)", 3, types, values, SPI_OK_SELECT);
		busy = !DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (!busy)
			spi_exec("SELECT pg_catalog.pg_advisory_unlock($2, $3)", 3, types, values, SPI_OK_SELECT);
	}
	return busy;
}

/* A busy job's occurrence is skipped: its next run moves on. */
static void
skip_occurrence(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	spi_exec("UPDATE retailiq.job SET next_run = retailiq_internal.job_advance(schedule, next_run, clock_timestamp())"
			 " WHERE job_id = $1", 1, types, values, SPI_OK_UPDATE);
}

/* Record a run of the job as running and advance the job's next run; returns the run's id. */
static int64
start_run(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	bool		isnull;
	int64		run_id;

	spi_exec("INSERT INTO retailiq.job_run (job_id, job_name, owner, trigger, status, scheduled_for, started)"
			 " SELECT job_id, job_name, owner,"
			 "        CASE WHEN run_requested THEN 'manual' WHEN failures > 0 AND failures <= retries"
			 "             THEN 'retry' ELSE 'schedule' END,"
			 "        'running', CASE WHEN run_requested THEN clock_timestamp() ELSE next_run END, clock_timestamp()"
			 " FROM retailiq.job WHERE job_id = $1 RETURNING run_id", 1, types, values, SPI_OK_INSERT_RETURNING);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	spi_exec("UPDATE retailiq.job SET run_requested = false, last_run = clock_timestamp(),"
			 " next_run = CASE WHEN enabled AND (next_run IS NULL OR next_run <= clock_timestamp())"
			 "            THEN retailiq_internal.job_advance(schedule, next_run, clock_timestamp()) ELSE next_run END"
			 " WHERE job_id = $1", 1, types, values, SPI_OK_UPDATE);
	return run_id;
}

/* Can the job's owner run it? If not, the run is recorded as failed (and why). */
static bool
owner_can_run(const DueJob *job, int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job->job_id)};

	if (job->owner_missing)
	{
		/*
		 * The role was dropped: a role created later under its name is another role and
		 * inherits nothing. The job stays, disabled, until a superuser or
		 * retailiq.forget_dropped_roles() removes it.
		 */
		record_lost_run(run_id, "failed", "the owner of the job no longer exists",
						"The role that owned the job was dropped; the job was disabled.");
		spi_exec("UPDATE retailiq.job SET enabled = false WHERE job_id = $1", 1, types, values, SPI_OK_UPDATE);
		return false;
	}
	if (!job->can_login)
	{
		record_lost_run(run_id, "failed", "the owner of the job cannot log in",
						"Jobs run in a session of their owner, which needs the LOGIN attribute.");
		return false;
	}
	return true;
}

/* What launch_job needs, in the round's context: SPI's memory goes away at SPI_finish. */
static Launch *
make_launch(const DueJob *job, int64 run_id)
{
	Launch	   *l = MemoryContextAllocZero(sched_round_cxt, sizeof(Launch));

	l->job_id = job->job_id;
	l->run_id = run_id;
	l->owner = DatumGetObjectId(job->owner);
	l->timeout_ms = (int32) Min(Max(job->timeout_ms, 0), INT_MAX);
	strlcpy(l->name, job->job_name, sizeof(l->name));
	return l;
}

/* The time until the next job is due, at most naptime. */
static long
next_sleep_ms(void)
{
	bool		isnull;
	Datum		d;

	spi_exec("SELECT ceil(extract(epoch FROM min(next_run) - clock_timestamp()) * 1000)::bigint"
			 " FROM retailiq.job WHERE enabled", 0, NULL, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return scheduler_naptime_ms;
	return Max(1, Min((int64) scheduler_naptime_ms, DatumGetInt64(d)));
}

/*
 * One round: find due jobs, record their runs, advance their next run. Returns the launches
 * to make after commit and sets *sleep_ms to the time until the next job is due.
 */
static List *
dispatch_round(long *sleep_ms, TimestampTz *last_prune)
{
	List	   *launches = NIL;
	int			free_slots = scheduler_max_job_workers - running_jobs();
	SPITupleTable *tt;
	uint64		n;

	lock_job_first();
	sweep_orphan_runs();
	prune_history(last_prune);

	spi_exec("SELECT j.job_id, j.job_name, r.oid, r.rolcanlogin, j.run_requested,"
			 "       (extract(epoch FROM j.timeout) * 1000)::bigint"
			 " FROM retailiq.job j LEFT JOIN pg_catalog.pg_roles r ON r.oid = j.owner"
			 " WHERE (j.enabled AND j.next_run <= clock_timestamp()) OR j.run_requested"
			 " ORDER BY j.run_requested DESC, j.next_run"
			 " FOR UPDATE OF j SKIP LOCKED", 0, NULL, NULL, SPI_OK_SELECT);
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		DueJob		job;
		int64		run_id;
		Launch	   *l;

		read_due_job(tt->vals[i], tt->tupdesc, &job);
		if (job_busy(job.job_id))
		{
			/* this occurrence is skipped; a requested run waits for the current one */
			if (!job.requested)
				skip_occurrence(job.job_id);
			continue;
		}
		if (free_slots <= 0)
			break;
		run_id = start_run(job.job_id);
		if (!owner_can_run(&job, run_id))
			continue;
		l = make_launch(&job, run_id);
		{
			MemoryContext old = MemoryContextSwitchTo(sched_round_cxt);

			launches = lappend(launches, l);
			MemoryContextSwitchTo(old);
		}
		free_slots--;
	}

	*sleep_ms = next_sleep_ms();
	return launches;
}

static void
launch_job(Launch *l)
{
	BackgroundWorker worker;
	JobWorkerArgs args;
	int			i;
	bool		registered = false;

	for (i = 0; i < MAX_JOB_SLOTS; i++)
		if (!job_slots[i].used)
			break;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "retailiq");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "scheduler_job_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "retailiq job %s", l->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "retailiq job");
	worker.bgw_notify_pid = MyProcPid;
	args.dboid = MyDatabaseId;
	args.owner = l->owner;
	args.job_id = l->job_id;
	args.run_id = l->run_id;
	args.timeout_ms = l->timeout_ms;
	memcpy(worker.bgw_extra, &args, sizeof(args));

	if (i < MAX_JOB_SLOTS)
	{
		/* the handle outlives this round: keep it in TopMemoryContext */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		registered = RegisterDynamicBackgroundWorker(&worker, &job_slots[i].handle);
		MemoryContextSwitchTo(old);
	}
	if (registered)
	{
		job_slots[i].used = true;
		job_slots[i].job_id = l->job_id;
		job_slots[i].run_id = l->run_id;
		job_slots[i].timeout_ms = l->timeout_ms;
		job_slots[i].started = GetCurrentTimestamp();
		job_slots[i].terminated_for_timeout = false;
		return;
	}
	begin_txn("retailiq scheduler: recording a run that could not start");
	record_lost_run(l->run_id, "failed", "could not start a background worker for the job",
					"All of max_worker_processes are in use.");
	end_txn();
}

void
scheduler_db_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	static TimestampTz last_prune = 0;
	static bool have_lock = false;
	MemoryContext round_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* as the bootstrap superuser: it reads every owner's jobs and writes the run history */
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("retailiq scheduler");
	round_cxt = AllocSetContextCreate(TopMemoryContext, "retailiq scheduler round", ALLOCSET_DEFAULT_SIZES);
	sched_round_cxt = round_cxt;

	for (;;)
	{
		long		sleep_ms = scheduler_naptime_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			last_prune = 0;		/* a new retention applies at once */
		}
		/* a launcher that died has been replaced, and its successor starts our successor */
		if (BackendPidGetProc(MyBgworkerEntry->bgw_notify_pid) == NULL)
			proc_exit(0);

		MemoryContextReset(round_cxt);
		MemoryContextSwitchTo(round_cxt);
		PG_TRY();
		{
			List	   *launches = NIL;
			ListCell   *lc;
			bool		ready;
			bool		isnull;

			reap_job_workers();
			begin_txn("retailiq scheduler: looking for due jobs");
			ready = extension_present();
			if (ready && !have_lock)
			{
				/* one scheduler per database, even if an old one outlived its launcher */
				Oid			types[1] = {INT4OID};
				Datum		values[1] = {Int32GetDatum(SCHED_LOCK_KEY)};

				spi_exec("SELECT pg_catalog.pg_try_advisory_lock($1, 0)", 1, types, values, SPI_OK_SELECT);
				have_lock = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			}
			if (ready && have_lock)
				launches = dispatch_round(&sleep_ms, &last_prune);
			end_txn();
			foreach(lc, launches)
				launch_job((Launch *) lfirst(lc));
		}
		PG_CATCH();
		{
			/* log, roll back, and try again next round: the scheduler does not exit */
			MemoryContextSwitchTo(round_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);
			sleep_ms = scheduler_naptime_ms;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------- job worker */

/*
 * retailiq.current_job() -> (job_id, created_by, command_by): the job this backend runs, all
 * null outside a job worker. The values live in the worker's memory, set before the job's
 * command starts, so the command cannot change them.
 */
PG_FUNCTION_INFO_V1(scheduler_current_job);
Datum
scheduler_current_job(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (current_job_id != 0)
	{
		values[0] = Int64GetDatum(current_job_id);
		values[1] = ObjectIdGetDatum(current_job_created_by);
		values[2] = ObjectIdGetDatum(current_job_command_by);
		nulls[0] = false;
		nulls[1] = !OidIsValid(current_job_created_by);
		nulls[2] = !OidIsValid(current_job_command_by);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static void
as_superuser_begin(Oid *saved_user, int *saved_sec)
{
	GetUserIdAndSecContext(saved_user, saved_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, *saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/*
 * Claim the run: record this worker's pid on it and read the command, and who wrote it, as
 * the job has them now; only if the run is still running and the owner unchanged. The
 * strings are kept in TopMemoryContext. False when the run was settled (or deleted) before
 * the worker started.
 */
static bool
job_claim_run(const JobWorkerArgs *args, char **command, char **job_name)
{
	Oid			types[3] = {INT8OID, INT4OID, OIDOID};
	Datum		values[3];
	Oid			saved_user;
	int			saved_sec;
	bool		isnull;
	bool		claimed = false;

	as_superuser_begin(&saved_user, &saved_sec);
	begin_txn("retailiq job: starting");
	values[0] = Int64GetDatum(args->run_id);
	values[1] = Int32GetDatum(MyProcPid);
	values[2] = ObjectIdGetDatum(args->owner);
	lock_job_first();
	spi_exec("UPDATE retailiq.job_run r SET pid = $2 FROM retailiq.job j"
			 " WHERE r.run_id = $1 AND r.status = 'running' AND j.job_id = r.job_id AND j.owner = $3"
			 " RETURNING j.command, r.job_name, j.created_by::oid, j.command_by::oid",
			 3, types, values, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*command = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		*job_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		current_job_created_by = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		current_job_command_by = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
		current_job_id = args->job_id;
		MemoryContextSwitchTo(old);
		claimed = true;
	}
	end_txn();
	SetUserIdAndSecContext(saved_user, saved_sec);
	return claimed;
}

/* The job's session advisory lock, held until the worker exits; false if another run has it. */
static bool
job_try_lock(int64 job_id)
{
	Oid			lt[2] = {INT4OID, INT4OID};
	Datum		lv[2] = {Int32GetDatum(SCHED_LOCK_KEY), Int32GetDatum((int32) job_id)};
	bool		isnull;
	bool		got_lock;

	begin_txn("retailiq job: locking");
	spi_exec("SELECT pg_catalog.pg_try_advisory_lock($1, $2)", 2, lt, lv, SPI_OK_SELECT);
	got_lock = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	end_txn();
	return got_lock;
}

/*
 * Run the command in one transaction under the job's timeout (counted from t0). Returns
 * the status: succeeded (*rows set), or failed, timed out or cancelled (*edata, a copy of
 * the error in TopMemoryContext).
 */
static const char *
job_run_command(const JobWorkerArgs *args, const char *command, const char *job_name,
				TimestampTz t0, int64 *rows, ErrorData **edata)
{
	MemoryContext old = CurrentMemoryContext;
	char		appname[NAMEDATALEN];
	const char *status;

	snprintf(appname, sizeof(appname), "retailiq job %s", job_name);
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
	PG_TRY();
	{
		begin_txn(command);
		forecast_run_totals_reset();	/* the run record's forecast figures */
		if (args->timeout_ms > 0)
			enable_timeout_after(STATEMENT_TIMEOUT, args->timeout_ms);
		if (SPI_execute(command, false, 0) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the command of job \"%s\" could not be run", job_name)));
		*rows = (int64) SPI_processed;
		if (args->timeout_ms > 0)
			disable_timeout(STATEMENT_TIMEOUT, false);
		end_txn();
		status = "succeeded";
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(TopMemoryContext);
		*edata = CopyErrorData();
		FlushErrorState();
		disable_all_timeouts(false);
		AbortCurrentTransaction();
		MemoryContextSwitchTo(old);
		if ((*edata)->sqlerrcode == ERRCODE_QUERY_CANCELED)
			status = (args->timeout_ms > 0 &&
					  TimestampDifferenceExceeds(t0, GetCurrentTimestamp(), args->timeout_ms - 1))
				? "timed out" : "cancelled";
		else
			status = "failed";
	}
	PG_END_TRY();
	return status;
}

/*
 * Record the outcome on the run (status, rows, the error's fields) and on the job (its
 * last status; failures count towards retries: a failed run comes back after retry_delay).
 */
static void
job_record_outcome(const JobWorkerArgs *args, const char *status, int64 rows,
				   const ErrorData *edata, bool got_lock)
{
	Oid			types[9] = {INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9];
	Oid			saved_user;
	int			saved_sec;
	const ForecastRunTotals *ft = forecast_run_totals();

	as_superuser_begin(&saved_user, &saved_sec);
	begin_txn("retailiq job: recording the result");
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(args->run_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int64GetDatum(rows);
	if (status[0] != 's')
		nulls[2] = 'n';
	if (edata)
	{
		values[3] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
		values[4] = CStringGetTextDatum(edata->message ? edata->message : "");
		values[5] = edata->detail ? CStringGetTextDatum(edata->detail) : (Datum) 0;
		values[6] = edata->hint ? CStringGetTextDatum(edata->hint) : (Datum) 0;
		values[7] = edata->context ? CStringGetTextDatum(edata->context) : (Datum) 0;
		nulls[5] = edata->detail ? ' ' : 'n';
		nulls[6] = edata->hint ? ' ' : 'n';
		nulls[7] = edata->context ? ' ' : 'n';
	}
	else if (!got_lock)
	{
		values[3] = CStringGetTextDatum("55006");
		values[4] = CStringGetTextDatum("another run of this job was still in progress");
		nulls[5] = nulls[6] = nulls[7] = 'n';
	}
	else
		nulls[3] = nulls[4] = nulls[5] = nulls[6] = nulls[7] = 'n';
	/* the forecast fits the command ran (refresh_forecasts): series done of total, time, rate */
	nulls[8] = 'n';
	if (ft->fits > 0)
	{
		StringInfoData p;

		initStringInfo(&p);
		appendStringInfo(&p, "{\"fits\": " INT64_FORMAT ", \"series_total\": " INT64_FORMAT
						 ", \"series_done\": " INT64_FORMAT ", \"series_warm\": " INT64_FORMAT
						 ", \"series_skipped\": " INT64_FORMAT ", \"fit_seconds\": %.3f"
						 ", \"series_per_second\": %.1f, \"workers\": %d}",
						 ft->fits, ft->series_total, ft->series_done, ft->series_warm,
						 ft->series_skipped, ft->seconds,
						 ft->seconds > 0 ? ft->series_done / ft->seconds : 0.0, ft->workers);
		values[8] = CStringGetTextDatum(p.data);
		nulls[8] = ' ';
	}
	lock_job_first();
	if (SPI_execute_with_args("UPDATE retailiq.job_run SET status = $2, finished = clock_timestamp(), rows = $3,"
							  " sqlstate = $4, message = $5, detail = $6, hint = $7, context = $8,"
							  " progress = $9::jsonb"
							  " WHERE run_id = $1 AND status = 'running'",
							  9, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "retailiq job: could not record the result of run " INT64_FORMAT, args->run_id);
	values[0] = Int64GetDatum(args->job_id);
	if (SPI_execute_with_args("UPDATE retailiq.job SET last_status = $2,"
							  " failures = CASE WHEN $2 = 'succeeded' THEN 0 ELSE failures + 1 END,"
							  " next_run = CASE WHEN $2 IN ('failed', 'timed out') AND failures < retries"
							  "            THEN LEAST(next_run, clock_timestamp() + retry_delay) ELSE next_run END"
							  " WHERE job_id = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "retailiq job: could not update job " INT64_FORMAT, args->job_id);
	end_txn();
	SetUserIdAndSecContext(saved_user, saved_sec);
}

void
scheduler_job_main(Datum arg)
{
	JobWorkerArgs args;
	char	   *command = NULL;
	char	   *job_name = NULL;
	bool		got_lock;
	const char *status;
	ErrorData  *edata = NULL;
	int64		rows = 0;
	TimestampTz t0;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* a session of the owner: the job can do what its owner can, and no more */
	BackgroundWorkerInitializeConnectionByOid(args.dboid, args.owner, 0);

	if (!job_claim_run(&args, &command, &job_name))
		proc_exit(0);			/* the run was settled (or deleted) before we started */
	got_lock = job_try_lock(args.job_id);
	t0 = GetCurrentTimestamp();
	if (!got_lock)
		status = "cancelled";
	else
		status = job_run_command(&args, command, job_name, t0, &rows, &edata);
	job_record_outcome(&args, status, rows, edata, got_lock);
	proc_exit(0);
}
