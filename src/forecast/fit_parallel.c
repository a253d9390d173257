/*
 * fit_parallel.c: the loop that fits every series of a forecast_fit panel, in the backend
 * or spread over PostgreSQL parallel workers (the ParallelContext machinery a parallel
 * B-tree build uses), as retailiq.forecast_workers allows.
 *
 * A fit depends on the series' values, the season and the typed options, nothing else (no
 * state shared between series; 'auto' seeds its generator from the options' seed alone), so
 * a series fitted by a worker is bit for bit the one the backend would have fitted, and the
 * model does not depend on how many workers ran or which took which series.
 *
 * The parallel run puts the panel (each series' values, its length, what the method needs
 * and its key for messages), the typed options and one result slot per series in a dynamic
 * shared memory segment. The leader and every worker it got claim series one at a time from
 * a shared counter (long and short series balance by themselves) and write each fit into
 * the series' slot; the leader copies the slots out once every worker has finished. A
 * worker's ERROR reaches the leader at its next CHECK_FOR_INTERRUPTS and fails the call with
 * the series named (error context); a cancel of the leader stops its workers as the
 * transaction aborts.
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/dsm.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "core/memory.h"
#include "forecast/fit_parallel.h"
#include "forecast/progress.h"

int			forecast_workers = 2;
char	   *forecast_debug_fail_series = NULL;

/* the current call's series fitted so far (as the backend knows) and its workers */
static int64 fit_done;
static int	fit_launched;

/* a streamed forecast_fit's groups: one progress row and one run record for all of them */
static bool groups_active = false;
static int	groups_slot = -1;
static instr_time groups_t0;
static ForecastRunTotals groups_totals;

/* keys of the shared segment's table of contents */
#define FIT_KEY_SHARED	UINT64CONST(0x5249510000000001)
#define FIT_KEY_SERIES	UINT64CONST(0x5249510000000002)
#define FIT_KEY_VALUES	UINT64CONST(0x5249510000000003)
#define FIT_KEY_KEYS	UINT64CONST(0x5249510000000004)
#define FIT_KEY_RESULTS UINT64CONST(0x5249510000000005)

/* what every participant reads, and the counters they share */
typedef struct FitShared
{
	int			nseries;
	int			m;
	int			method_index;	/* o.method as a registry index: workers map the library anew */
	int			progress_slot;	/* the leader's row of retailiq.forecast_progress, or -1 */
	ForecastOptions o;			/* o.method is NULL here */
	pg_atomic_uint32 next;		/* the next series to claim */
	pg_atomic_uint32 done;		/* series fitted */
} FitShared;

/* one series of the panel: where its values and key are in the segment */
typedef struct FitSeries
{
	Size		values;			/* offset in doubles into the values chunk */
	Size		key;			/* offset in bytes into the keys chunk */
	int			n;
	int			need;
	WarmPlan	plan;			/* the fitter writes back the status */
} FitSeries;

/* one series' result, written by whoever fitted it: its method's SeriesFit records */
typedef struct FitResult
{
	double		vmae;
	bool		keep;
	SeriesFit	fit[FLEXIBLE_ARRAY_MEMBER];
} FitResult;

/* the bytes of one series' result, and series i's result, for nrec records per series */
#define FIT_RESULT_SIZE(nrec) MAXALIGN(offsetof(FitResult, fit) + sizeof(SeriesFit) * (nrec))
#define FIT_RESULT(results, i, nrec) \
	((FitResult *) ((char *) (results) + (Size) (i) * FIT_RESULT_SIZE(nrec)))

PGDLLEXPORT void forecast_fit_parallel_main(dsm_segment *seg, shm_toc *toc);

/* ---------- one series ---------- */

static void
fit_error_context(void *arg)
{
	errcontext("forecast_fit fitting series \"%s\"", (const char *) arg);
}

/*
 * A series too short for the method, with the fallback (options.short "fallback", the
 * default of 'auto'): seasonal naive becomes the plain naive forecast, every other method the
 * mean, both with an interval from at least one in-sample error. A single period has none:
 * the series is left out of the model (false); forecast_fit names each in a NOTICE.
 */
static bool
fit_short(const ForecastMethod *m, const double *y, int n, SeriesFit *fit)
{
	if (n < 2)
		return false;
	if (m->code == FIT_SNAIVE)
		snaive_fit(y, n, 1, fit);
	else
		mean_fit(y, n, fit);
	return true;
}

static void
fit_one(const char *key, const double *y, int n, int need, int m, const ForecastOptions *o,
		WarmPlan *plan, SeriesFit *fit, bool *keep, double *vmae)
{
	ErrorContextCallback cb;

	cb.callback = fit_error_context;
	cb.arg = (void *) key;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	if (forecast_debug_fail_series != NULL && forecast_debug_fail_series[0] != '\0' &&
		strcmp(key, forecast_debug_fail_series) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("forecast_fit failed on series \"%s\" as retailiq.debug_fail_series asks", key),
				 errhint("This setting is for testing error handling: RESET retailiq.debug_fail_series.")));
	*keep = true;
	if (plan->status == WARM_SKIPPED)
	{
		/* no new rows: the previous fit is in fit already (warm_start_plan) */
		*vmae = plan->prev_vmae;
		error_context_stack = cb.previous;
		return;
	}
	memset(fit, 0, sizeof(SeriesFit) * forecast_fit_records(o, m));
	*vmae = NAN;
	if (need > 0)
	{
		*keep = fit_short(o->method, y, n, fit);
		if (plan->status == WARM_REFIT)
			plan->status = WARM_RESELECT_OTHER;
	}
	else if (plan->status == WARM_REFIT)
		*vmae = warm_start_fit(plan, y, n, m, o, fit);
	else
		*vmae = o->method->fit(y, n, m, o, fit);
	error_context_stack = cb.previous;
}

/* progress NOTICEs (verbose) or DEBUG1 lines: about every tenth of the series */
typedef struct FitReport
{
	int			ns;
	int			next;			/* report when this many are done */
	bool		verbose;
	instr_time	t0;
} FitReport;

static void
report_init(FitReport *r, int ns, bool verbose)
{
	r->ns = ns;
	r->next = Max(ns / 10, 1);
	/* a streamed fit's 64 groups would give ten NOTICEs each: its groups report at DEBUG1 */
	r->verbose = verbose && !groups_active;
	INSTR_TIME_SET_CURRENT(r->t0);
}

static void
report_done(FitReport *r, int done)
{
	instr_time	now;

	if (done < r->next && done < r->ns)
		return;
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, r->t0);
	ereport(r->verbose ? NOTICE : DEBUG1,
			(errmsg("forecast_fit: %d of %d series fitted (%.1f s)",
					done, r->ns, INSTR_TIME_GET_DOUBLE(now))));
	while (r->next <= done)
		r->next += Max(r->ns / 10, 1);
}

/* ---------- in the backend ---------- */

static void
fit_serial(const ForecastPanel *panel, int m, const ForecastOptions *o, const int *need,
		   WarmPlan *plans, SeriesFit *fits, bool *keep, double *vmae, int slot)
{
	FitReport	r;
	int			nrec = forecast_fit_records(o, m),
				i;

	report_init(&r, panel->nseries, o->verbose);
	for (i = 0; i < panel->nseries; i++)
	{
		const ForecastSeries *s = &panel->series[i];

		CHECK_FOR_INTERRUPTS();
		fit_one(s->key, s->y, s->n, need[i], m, o, &plans[i], &fits[(Size) i * nrec], &keep[i],
				&vmae[i]);
		forecast_progress_add(slot, 1);
		fit_done = i + 1;
		report_done(&r, i + 1);
	}
}

/* ---------- in parallel ---------- */

/*
 * Claim and fit series until none is left: the leader and every worker run this. The
 * leader (r not NULL) also reports progress as the shared count of fitted series grows.
 * cxt is reset after each series, once its size is checked against retailiq.max_memory
 * together with the shared segment every participant maps.
 */
static void
fit_claimed(FitShared *sh, FitSeries *series, const double *values, const char *keys,
			FitResult *results, const ForecastOptions *o, MemoryContext cxt, Size mapped,
			FitReport *r)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			nrec = forecast_fit_records(o, sh->m);

	for (;;)
	{
		uint32		i = pg_atomic_fetch_add_u32(&sh->next, 1);
		FitSeries  *s;
		FitResult  *res;
		uint32		done;

		if (i >= (uint32) sh->nseries)
			break;
		CHECK_FOR_INTERRUPTS();
		s = &series[i];
		res = FIT_RESULT(results, i, nrec);
		fit_one(keys + s->key, values + s->values, s->n, s->need, sh->m, o, &s->plan,
				res->fit, &res->keep, &res->vmae);
		riq_memory_check(cxt, mapped, "a forecast_fit worker");
		MemoryContextReset(cxt);
		done = pg_atomic_add_fetch_u32(&sh->done, 1);
		forecast_progress_add(sh->progress_slot, 1);
		if (r != NULL)
		{
			fit_done = done;
			report_done(r, (int) done);
		}
	}
	MemoryContextSwitchTo(old);
}

/* a worker's entry point (CreateParallelContext names it) */
void
forecast_fit_parallel_main(dsm_segment *seg, shm_toc *toc)
{
	FitShared  *sh = shm_toc_lookup(toc, FIT_KEY_SHARED, false);
	ForecastOptions o = sh->o;
	MemoryContext cxt;

	o.method = forecast_method_at(sh->method_index);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit worker",
								ALLOCSET_DEFAULT_SIZES);
	fit_claimed(sh, shm_toc_lookup(toc, FIT_KEY_SERIES, false),
				shm_toc_lookup(toc, FIT_KEY_VALUES, false),
				shm_toc_lookup(toc, FIT_KEY_KEYS, false),
				shm_toc_lookup(toc, FIT_KEY_RESULTS, false),
				&o, cxt, dsm_segment_map_length(seg), NULL);
	MemoryContextDelete(cxt);
}

/* Can this backend start workers now? */
static bool
parallel_possible(int ns)
{
	return forecast_workers > 0 && ns >= FIT_PARALLEL_MIN_SERIES && IsUnderPostmaster &&
		!IsInParallelMode() && ActiveSnapshotSet();
}

static void
fit_parallel(const ForecastPanel *panel, int m, const ForecastOptions *o, const int *need,
			 WarmPlan *plans, SeriesFit *fits, bool *keep, double *vmae, int slot)
{
	int			ns = panel->nseries,
				nrec = forecast_fit_records(o, m),
				i;
	Size		nvalues = 0,
				nkeys = 0,
				sz_series,
				sz_values,
				sz_results,
				total;
	ParallelContext *pcxt;
	FitShared  *sh;
	FitSeries  *series;
	double	   *values;
	char	   *keys;
	FitResult  *results;
	FitReport	r;
	MemoryContext cxt;

	for (i = 0; i < ns; i++)
	{
		nvalues = add_size(nvalues, panel->series[i].n);
		nkeys = add_size(nkeys, strlen(panel->series[i].key) + 1);
	}
	sz_series = riq_mul_size(ns, sizeof(FitSeries), "the forecast panel");
	sz_values = riq_mul_size(nvalues, sizeof(double), "the forecast panel");
	sz_results = riq_mul_size(ns, FIT_RESULT_SIZE(nrec), "the forecast panel");
	total = add_size(add_size(add_size(sizeof(FitShared), sz_series), add_size(sz_values, nkeys)),
					 sz_results);
	/* the segment is a second copy of the panel, on top of what this backend holds */
	riq_memory_check(CurrentMemoryContext, total, "forecast_fit's shared panel");

	EnterParallelMode();
	pcxt = CreateParallelContext("retailiq", "forecast_fit_parallel_main",
								 Min(forecast_workers, ns - 1));
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(FitShared));
	shm_toc_estimate_chunk(&pcxt->estimator, sz_series);
	shm_toc_estimate_chunk(&pcxt->estimator, sz_values);
	shm_toc_estimate_chunk(&pcxt->estimator, nkeys);
	shm_toc_estimate_chunk(&pcxt->estimator, sz_results);
	shm_toc_estimate_keys(&pcxt->estimator, 5);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no segment to be had (too many in use): fit here */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		fit_serial(panel, m, o, need, plans, fits, keep, vmae, slot);
		return;
	}

	sh = shm_toc_allocate(pcxt->toc, sizeof(FitShared));
	memset(sh, 0, sizeof(FitShared));
	sh->nseries = ns;
	sh->m = m;
	sh->method_index = forecast_method_index(o->method);
	sh->progress_slot = slot;
	sh->o = *o;
	sh->o.method = NULL;
	pg_atomic_init_u32(&sh->next, 0);
	pg_atomic_init_u32(&sh->done, 0);
	series = shm_toc_allocate(pcxt->toc, sz_series);
	values = shm_toc_allocate(pcxt->toc, sz_values);
	keys = shm_toc_allocate(pcxt->toc, nkeys);
	results = shm_toc_allocate(pcxt->toc, sz_results);
	nvalues = 0;
	nkeys = 0;
	for (i = 0; i < ns; i++)
	{
		const ForecastSeries *s = &panel->series[i];
		Size		klen = strlen(s->key) + 1;

		series[i].values = nvalues;
		series[i].key = nkeys;
		series[i].n = s->n;
		series[i].need = need[i];
		series[i].plan = plans[i];
		memcpy(values + nvalues, s->y, sizeof(double) * s->n);
		memcpy(keys + nkeys, s->key, klen);
		nvalues += s->n;
		nkeys += klen;
	}
	shm_toc_insert(pcxt->toc, FIT_KEY_SHARED, sh);
	shm_toc_insert(pcxt->toc, FIT_KEY_SERIES, series);
	shm_toc_insert(pcxt->toc, FIT_KEY_VALUES, values);
	shm_toc_insert(pcxt->toc, FIT_KEY_KEYS, keys);
	shm_toc_insert(pcxt->toc, FIT_KEY_RESULTS, results);

	LaunchParallelWorkers(pcxt);
	forecast_progress_workers(slot, pcxt->nworkers_launched);
	fit_launched = pcxt->nworkers_launched;
	ereport(DEBUG1,
			(errmsg("forecast_fit: %d series over %d parallel workers and the leader",
					ns, pcxt->nworkers_launched)));

	/* the leader fits too; with no worker launched it fits everything */
	report_init(&r, ns, o->verbose);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit leader",
								ALLOCSET_DEFAULT_SIZES);
	fit_claimed(sh, series, values, keys, results, o, cxt, 0, &r);
	MemoryContextDelete(cxt);
	WaitForParallelWorkersToFinish(pcxt);

	fit_done = pg_atomic_read_u32(&sh->done);
	if (pg_atomic_read_u32(&sh->done) != (uint32) ns)
		elog(ERROR, "forecast_fit: %u of %d series fitted by the parallel workers",
			 pg_atomic_read_u32(&sh->done), ns);
	for (i = 0; i < ns; i++)
	{
		const FitResult *res = FIT_RESULT(results, i, nrec);

		plans[i] = series[i].plan;
		/* a skipped series' fit was filled in here, not in the segment */
		if (plans[i].status != WARM_SKIPPED)
			memcpy(&fits[(Size) i * nrec], res->fit, sizeof(SeriesFit) * nrec);
		keep[i] = res->keep;
		vmae[i] = res->vmae;
	}
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

/* ---------- the entry ---------- */

void
forecast_fit_groups_begin(const char *method, int64 total)
{
	groups_slot = forecast_progress_begin(method, total);
	groups_active = true;
	memset(&groups_totals, 0, sizeof(groups_totals));
	groups_totals.fits = 1;
	groups_totals.series_total = total;
	INSTR_TIME_SET_CURRENT(groups_t0);
}

void
forecast_fit_groups_end(void)
{
	instr_time	now;

	if (!groups_active)
		return;
	groups_active = false;
	forecast_progress_end(groups_slot);
	groups_slot = -1;
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, groups_t0);
	groups_totals.seconds = INSTR_TIME_GET_DOUBLE(now);
	forecast_run_totals_add(&groups_totals);
}

void
forecast_fit_series(const ForecastPanel *panel, int m, const ForecastOptions *o,
					const int *need, WarmPlan *plans, SeriesFit *fits, bool *keep, double *vmae)
{
	bool		grouped = groups_active;
	int			slot = grouped ? groups_slot : forecast_progress_begin(o->method->name, panel->nseries);
	instr_time	t0;

	INSTR_TIME_SET_CURRENT(t0);
	fit_done = 0;
	fit_launched = 0;
	PG_TRY();
	{
		if (parallel_possible(panel->nseries))
			fit_parallel(panel, m, o, need, plans, fits, keep, vmae, slot);
		else
			fit_serial(panel, m, o, need, plans, fits, keep, vmae, slot);
	}
	PG_FINALLY();
	{
		ForecastRunTotals one;
		instr_time	now;

		if (!grouped)
			forecast_progress_end(slot);
		/* the session's totals (the scheduler's run record), a failed call's too */
		memset(&one, 0, sizeof(one));
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, t0);
		one.fits = 1;
		one.series_total = panel->nseries;
		one.series_done = fit_done;
		one.seconds = INSTR_TIME_GET_DOUBLE(now);
		one.workers = fit_launched;
		for (int i = 0; i < panel->nseries; i++)
		{
			one.series_warm += plans[i].status == WARM_REFIT;
			one.series_skipped += plans[i].status == WARM_SKIPPED;
		}
		if (grouped)
		{
			/* one fit of the whole stream: its series and workers, its time at the end */
			groups_totals.series_done += one.series_done;
			groups_totals.series_warm += one.series_warm;
			groups_totals.series_skipped += one.series_skipped;
			groups_totals.workers = Max(groups_totals.workers, one.workers);
		}
		else
			forecast_run_totals_add(&one);
	}
	PG_END_TRY();
}
