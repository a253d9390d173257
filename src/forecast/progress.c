/*
 * progress.c: retailiq.forecast_progress, the view of every forecast_fit fitting now (the
 * way pg_stat_progress_* shows a VACUUM or a CREATE INDEX). The shared area holds one slot
 * per backend, indexed by the backend id of the backend that runs the aggregate; its
 * parallel workers count the series they fit into the same slot. The fixed fields are
 * written under the slot's spinlock when a fit starts and ends; the count of series done is
 * an atomic that every participant adds to without a lock.
 *
 * The area is requested in _PG_init, so it exists only when retailiq is in
 * shared_preload_libraries; a backend that loaded the library later has none and every call
 * here is a no-op (the view is then empty).
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "forecast/progress.h"

#define PROGRESS_LABEL_LEN 128
#define PROGRESS_METHOD_LEN 32

typedef struct ProgressSlot
{
	slock_t		mutex;
	int			pid;			/* 0: the slot is free */
	Oid			dbid;
	Oid			userid;
	int			workers;
	int64		total;
	int			units;			/* counted per series (forecast_progress_begin_units) */
	TimestampTz started;
	char		label[PROGRESS_LABEL_LEN];
	char		method[PROGRESS_METHOD_LEN];
	pg_atomic_uint64 done;
} ProgressSlot;

typedef struct ProgressArea
{
	int			nslots;
	ProgressSlot slots[FLEXIBLE_ARRAY_MEMBER];
} ProgressArea;

char	   *forecast_progress_label = NULL;

static ProgressArea *area = NULL;
static shmem_request_hook_type prev_request_hook = NULL;
static shmem_startup_hook_type prev_startup_hook = NULL;
static bool exit_callback_set = false;

static Size
area_size(void)
{
	return add_size(offsetof(ProgressArea, slots), mul_size(MaxBackends, sizeof(ProgressSlot)));
}

static void
progress_request(void)
{
	if (prev_request_hook)
		prev_request_hook();
	RequestAddinShmemSpace(area_size());
}

static void
progress_startup(void)
{
	bool		found;
	int			i;

	if (prev_startup_hook)
		prev_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	area = ShmemInitStruct("retailiq forecast progress", area_size(), &found);
	if (!found)
	{
		area->nslots = MaxBackends;
		for (i = 0; i < MaxBackends; i++)
		{
			ProgressSlot *s = &area->slots[i];

			SpinLockInit(&s->mutex);
			s->pid = 0;
			pg_atomic_init_u64(&s->done, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
forecast_progress_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_request_hook = shmem_request_hook;
	shmem_request_hook = progress_request;
	prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = progress_startup;
}

/* a backend that exits (FATAL, terminate) in the middle of a fit leaves no row behind */
static void
progress_on_exit(int code, Datum arg)
{
	forecast_progress_end(DatumGetInt32(arg));
}

int
forecast_progress_begin(const char *method, int64 total)
{
	return forecast_progress_begin_units(method, total, 1);
}

int
forecast_progress_begin_units(const char *method, int64 total, int units)
{
	int			slot = MyBackendId - 1;
	ProgressSlot *s;

	if (area == NULL || slot < 0 || slot >= area->nslots)
		return -1;
	if (!exit_callback_set)
	{
		before_shmem_exit(progress_on_exit, Int32GetDatum(slot));
		exit_callback_set = true;
	}
	s = &area->slots[slot];
	SpinLockAcquire(&s->mutex);
	s->pid = MyProcPid;
	s->dbid = MyDatabaseId;
	s->userid = GetUserId();
	s->workers = 0;
	s->total = total;
	s->units = Max(units, 1);
	s->started = GetCurrentTimestamp();
	strlcpy(s->label, forecast_progress_label ? forecast_progress_label : "", PROGRESS_LABEL_LEN);
	strlcpy(s->method, method, PROGRESS_METHOD_LEN);
	pg_atomic_write_u64(&s->done, 0);
	SpinLockRelease(&s->mutex);
	return slot;
}

void
forecast_progress_workers(int slot, int workers)
{
	ProgressSlot *s;

	if (area == NULL || slot < 0)
		return;
	s = &area->slots[slot];
	SpinLockAcquire(&s->mutex);
	s->workers = workers;
	SpinLockRelease(&s->mutex);
}

void
forecast_progress_add(int slot, int64 n)
{
	if (area == NULL || slot < 0)
		return;
	pg_atomic_fetch_add_u64(&area->slots[slot].done, n);
}

int64
forecast_progress_done(int slot)
{
	if (area == NULL || slot < 0)
		return -1;
	return (int64) pg_atomic_read_u64(&area->slots[slot].done) / Max(area->slots[slot].units, 1);
}

void
forecast_progress_end(int slot)
{
	ProgressSlot *s;

	if (area == NULL || slot < 0)
		return;
	s = &area->slots[slot];
	SpinLockAcquire(&s->mutex);
	if (s->pid == MyProcPid)
		s->pid = 0;
	SpinLockRelease(&s->mutex);
}

PG_FUNCTION_INFO_V1(forecast_progress_rows);

/*
 * The rows of retailiq.forecast_progress. Like pg_stat_progress_*, a fit of another role is
 * shown to members of that role and of pg_read_all_stats only.
 */
Datum
forecast_progress_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (area == NULL)
		PG_RETURN_VOID();
	for (i = 0; i < area->nslots; i++)
	{
		ProgressSlot *s = &area->slots[i];
		ProgressSlot c;
		Datum		values[8];
		bool		nulls[8];

		SpinLockAcquire(&s->mutex);
		c.pid = s->pid;
		c.dbid = s->dbid;
		c.userid = s->userid;
		c.workers = s->workers;
		c.total = s->total;
		c.units = s->units;
		c.started = s->started;
		memcpy(c.label, s->label, PROGRESS_LABEL_LEN);
		memcpy(c.method, s->method, PROGRESS_METHOD_LEN);
		SpinLockRelease(&s->mutex);
		if (c.pid == 0)
			continue;
		if (!has_privs_of_role(GetUserId(), c.userid) &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(c.pid);
		values[1] = ObjectIdGetDatum(c.dbid);
		values[2] = CStringGetTextDatum(c.label);
		nulls[2] = c.label[0] == '\0';
		values[3] = CStringGetTextDatum(c.method);
		values[4] = Int64GetDatum(Min((int64) pg_atomic_read_u64(&s->done) / c.units, c.total));
		values[5] = Int64GetDatum(c.total);
		values[6] = Int32GetDatum(c.workers);
		values[7] = TimestampTzGetDatum(c.started);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/* ---------- this session's totals (the scheduler's run record) ---------- */

static ForecastRunTotals run_totals;

void
forecast_run_totals_reset(void)
{
	memset(&run_totals, 0, sizeof(run_totals));
}

void
forecast_run_totals_add(const ForecastRunTotals *one)
{
	run_totals.fits += one->fits;
	run_totals.series_total += one->series_total;
	run_totals.series_done += one->series_done;
	run_totals.series_warm += one->series_warm;
	run_totals.series_skipped += one->series_skipped;
	run_totals.seconds += one->seconds;
	run_totals.workers = Max(run_totals.workers, one->workers);
}

const ForecastRunTotals *
forecast_run_totals(void)
{
	return &run_totals;
}
