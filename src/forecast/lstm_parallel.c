/*
 * lstm_parallel.c: the independent pieces of forecast_lstm_fit's work, done one after
 * another in the backend or side by side in PostgreSQL parallel workers, as
 * retailiq.forecast_workers allows (the ParallelContext machinery fit_parallel.c uses).
 *
 * Three kinds of jobs, each a pure function of its inputs:
 *   bases    the ETS base of a run of series (LSTM_PAR_CHUNK of them per job);
 *   windows  one candidate window's trial network (lstm_train without refit or ensemble);
 *   refit    one network of the ensemble on the whole history.
 * The jobs are fixed by the panel and the options, never by the number of processes: a
 * job's result lands in its own slot whoever ran it, and the backend assembles the slots
 * in job order. So the model is bit for bit the same with 0, 1 or more workers, and the
 * serial path is the same job function called in a loop.
 *
 * The shared segment holds the panel (values, factors, keys, start dates), the inputs of
 * the kind (bases, forms, the learning-rate schedule) and one result slot per job. The
 * leader takes jobs too. A worker's ERROR (series named by its context, or the memory
 * budget) reaches the leader at its next CHECK_FOR_INTERRUPTS and fails the fit; a cancel
 * of the leader stops the workers as its transaction aborts.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "core/memory.h"
#include "forecast/fit_parallel.h"
#include "forecast/lstm_train.h"
#include "forecast/progress.h"

/* series per bases job: enough to make claiming cheap, few enough to balance */
#define LSTM_PAR_CHUNK 32
#define LSTM_PAR_MAX_CAND 3

#define LP_KEY_SHARED	UINT64CONST(0x5249510000000101)
#define LP_KEY_SERIES	UINT64CONST(0x5249510000000102)
#define LP_KEY_VALUES	UINT64CONST(0x5249510000000103)
#define LP_KEY_KEYS		UINT64CONST(0x5249510000000104)
#define LP_KEY_BASES	UINT64CONST(0x5249510000000105)
#define LP_KEY_FORMS	UINT64CONST(0x5249510000000106)
#define LP_KEY_LR		UINT64CONST(0x5249510000000107)
#define LP_KEY_RESULTS	UINT64CONST(0x5249510000000108)

typedef enum LstmParKind
{
	LP_BASES,
	LP_WINDOWS,
	LP_REFIT
} LstmParKind;

/* what every participant reads, and the job counter */
typedef struct LstmParShared
{
	LstmParKind kind;
	int			njobs;
	ForecastFreq freq;
	int			season;
	int			n_exog;
	int			nseries;
	LstmConfig	cfg;			/* pointers cleared: the segment's are used */
	int			V;				/* bases: periods left out at the end */
	int			cand[LSTM_PAR_MAX_CAND];	/* windows: the candidates */
	int			order[LSTM_PAR_MAX_CAND];	/* windows: candidate of job j (longest first) */
	int			epochs;			/* refit: epochs to train, lr_hist's length */
	Size		slot;			/* doubles per result slot (windows, refit) */
	int			progress_slot;	/* bases: the fit's row of retailiq.forecast_progress */
	pg_atomic_uint32 next;
} LstmParShared;

/* the fit's progress row (lstm_parallel_track) and the most workers a piece had */
static int	track_slot = -1;
static int	track_workers = 0;

/* one series in the segment */
typedef struct LstmParSeries
{
	Size		values;			/* offset in doubles: n values, then n * n_exog factors */
	Size		key;			/* offset in bytes into the keys */
	int			n;
	DateADT		start;
} LstmParSeries;

/* what a job reads and writes, in the segment or (serial) in the backend's memory */
typedef struct LstmParJob
{
	const LstmParShared *sh;
	const ForecastPanel *panel;
	SeriesFit  *bases;			/* bases: out; windows, refit: in */
	int8	   *forms;			/* bases: in and out */
	const double *lr_hist;		/* refit */
	double	   *results;		/* windows, refit: njobs x slot */
} LstmParJob;

PGDLLEXPORT void lstm_parallel_main(dsm_segment *seg, shm_toc *toc);

static void
lstm_par_error_context(void *arg)
{
	errcontext("forecast_lstm_fit fitting the ETS base of series \"%s\"", (const char *) arg);
}

static void
run_job(const LstmParJob *job, int j)
{
	const LstmParShared *sh = job->sh;
	const ForecastPanel *panel = job->panel;

	switch (sh->kind)
	{
		case LP_BASES:
			{
				int			lo = j * LSTM_PAR_CHUNK,
							hi = Min(panel->nseries, lo + LSTM_PAR_CHUNK);

				for (int i = lo; i < hi; i++)
				{
					const ForecastSeries *sr = &panel->series[i];
					ErrorContextCallback cb;

					CHECK_FOR_INTERRUPTS();
					cb.callback = lstm_par_error_context;
					cb.arg = sr->key;
					cb.previous = error_context_stack;
					error_context_stack = &cb;
					lstm_base_fit(sr->y, Max(sr->n - sh->V, 0), panel->season,
								  job->forms + (Size) i * 4, &job->bases[i]);
					error_context_stack = cb.previous;
					forecast_progress_add(sh->progress_slot, 1);
				}
				break;
			}
		case LP_WINDOWS:
			{
				LstmConfig	trial = sh->cfg;
				int			c = sh->order[j];
				double	   *slot = job->results + (Size) c * sh->slot;
				LstmTrained *t;

				trial.window = sh->cand[c];
				trial.base_init = job->bases;
				t = lstm_train(panel, &trial);
				/* WAPE, epochs, then the held-out network's weights and its schedule */
				slot[0] = t->val_wape_net;
				slot[1] = t->held.params ? t->held.epochs : -1;
				if (t->held.params)
				{
					memcpy(slot + 2, t->held.params, sizeof(double) * t->held.nparams);
					memcpy(slot + 2 + t->held.nparams, t->held.lr_hist,
						   sizeof(double) * t->held.epochs);
				}
				break;
			}
		case LP_REFIT:
			{
				LstmConfig	cfg = sh->cfg;

				cfg.base_init = job->bases;
				lstm_train_refit_net(panel, &cfg, j, sh->epochs, job->lr_hist,
									 job->results + (Size) j * sh->slot);
				break;
			}
	}
}

/* claim and run jobs until none is left: the leader and every worker */
static void
run_claimed(LstmParShared *sh, const LstmParJob *job)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "forecast_lstm_fit job",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	for (;;)
	{
		uint32		j = pg_atomic_fetch_add_u32(&sh->next, 1);

		if (j >= (uint32) sh->njobs)
			break;
		CHECK_FOR_INTERRUPTS();
		run_job(job, (int) j);
		MemoryContextReset(cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

void
lstm_parallel_main(dsm_segment *seg, shm_toc *toc)
{
	LstmParShared *sh = shm_toc_lookup(toc, LP_KEY_SHARED, false);
	LstmParSeries *ps = shm_toc_lookup(toc, LP_KEY_SERIES, false);
	double	   *values = shm_toc_lookup(toc, LP_KEY_VALUES, false);
	char	   *keys = shm_toc_lookup(toc, LP_KEY_KEYS, false);
	ForecastPanel panel;
	LstmParJob	job;

	panel.freq = sh->freq;
	panel.season = sh->season;
	panel.n_exog = sh->n_exog;
	panel.nseries = sh->nseries;
	panel.series = palloc0(sizeof(ForecastSeries) * sh->nseries);
	for (int i = 0; i < sh->nseries; i++)
	{
		ForecastSeries *sr = &panel.series[i];

		sr->key = keys + ps[i].key;
		sr->start = ps[i].start;
		sr->n = ps[i].n;
		sr->y = values + ps[i].values;
		sr->exog = sh->n_exog > 0 ? sr->y + sr->n : NULL;
	}
	memset(&job, 0, sizeof(job));
	job.sh = sh;
	job.panel = &panel;
	job.bases = shm_toc_lookup(toc, LP_KEY_BASES, true);
	job.forms = shm_toc_lookup(toc, LP_KEY_FORMS, true);
	job.lr_hist = shm_toc_lookup(toc, LP_KEY_LR, true);
	job.results = shm_toc_lookup(toc, LP_KEY_RESULTS, true);
	run_claimed(sh, &job);
}

static bool
parallel_possible(int njobs)
{
	return forecast_workers > 0 && njobs >= 2 && IsUnderPostmaster && !IsInParallelMode() &&
		ActiveSnapshotSet();
}

/*
 * Run the jobs of sh: with workers when possible, else (or without a segment to be had)
 * in the backend. job holds the backend's own inputs and outputs; sizes of the chunks
 * the kind uses: bases (ns SeriesFit), forms (ns x 4), lr (epochs), results (njobs slots).
 */
static void
run_jobs(LstmParShared *sh, LstmParJob *job)
{
	const ForecastPanel *panel = job->panel;
	int			ns = panel->nseries,
				E = panel->n_exog;
	Size		nvalues = 0,
				nkeys = 0,
				sz_series,
				sz_values,
				sz_bases,
				sz_forms,
				sz_lr,
				sz_results;
	ParallelContext *pcxt;
	LstmParShared *dsh;
	LstmParSeries *ps;
	double	   *values;
	char	   *keys;
	LstmParJob	djob;

	job->sh = sh;
	pg_atomic_init_u32(&sh->next, 0);
	if (!parallel_possible(sh->njobs))
	{
		run_claimed(sh, job);
		return;
	}
	for (int i = 0; i < ns; i++)
	{
		nvalues = add_size(nvalues, riq_mul_size(panel->series[i].n, 1 + E, "the LSTM panel"));
		nkeys = add_size(nkeys, strlen(panel->series[i].key) + 1);
	}
	sz_series = riq_mul_size(ns, sizeof(LstmParSeries), "the LSTM panel");
	sz_values = riq_mul_size(nvalues, sizeof(double), "the LSTM panel");
	sz_bases = job->bases ? riq_mul_size(ns, sizeof(SeriesFit), "the LSTM panel") : 0;
	sz_forms = job->forms ? riq_mul_size(ns, 4, "the LSTM panel") : 0;
	sz_lr = job->lr_hist ? riq_mul_size(Max(sh->epochs, 1), sizeof(double), "the LSTM panel") : 0;
	sz_results = job->results ? riq_mul_size(riq_mul_size(sh->njobs, sh->slot, "the LSTM panel"),
											 sizeof(double), "the LSTM panel") : 0;
	/* the segment is a second copy of the panel, on top of what this backend holds */
	riq_memory_check(CurrentMemoryContext,
					 add_size(add_size(add_size(sz_series, sz_values), add_size(nkeys, sz_bases)),
							  add_size(add_size(sz_forms, sz_lr), sz_results)),
					 "forecast_lstm_fit's shared panel");

	EnterParallelMode();
	pcxt = CreateParallelContext("retailiq", "lstm_parallel_main",
								 Min(forecast_workers, sh->njobs - 1));
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(LstmParShared));
	shm_toc_estimate_chunk(&pcxt->estimator, sz_series);
	shm_toc_estimate_chunk(&pcxt->estimator, sz_values);
	shm_toc_estimate_chunk(&pcxt->estimator, nkeys);
	if (sz_bases)
		shm_toc_estimate_chunk(&pcxt->estimator, sz_bases);
	if (sz_forms)
		shm_toc_estimate_chunk(&pcxt->estimator, sz_forms);
	if (sz_lr)
		shm_toc_estimate_chunk(&pcxt->estimator, sz_lr);
	if (sz_results)
		shm_toc_estimate_chunk(&pcxt->estimator, sz_results);
	shm_toc_estimate_keys(&pcxt->estimator, 8);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		run_claimed(sh, job);
		return;
	}

	dsh = shm_toc_allocate(pcxt->toc, sizeof(LstmParShared));
	memcpy(dsh, sh, sizeof(LstmParShared));
	pg_atomic_init_u32(&dsh->next, 0);
	ps = shm_toc_allocate(pcxt->toc, sz_series);
	values = shm_toc_allocate(pcxt->toc, sz_values);
	keys = shm_toc_allocate(pcxt->toc, nkeys);
	nvalues = 0;
	nkeys = 0;
	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *sr = &panel->series[i];
		Size		klen = strlen(sr->key) + 1;

		ps[i].values = nvalues;
		ps[i].key = nkeys;
		ps[i].n = sr->n;
		ps[i].start = sr->start;
		memcpy(values + nvalues, sr->y, sizeof(double) * sr->n);
		if (E > 0)
			memcpy(values + nvalues + sr->n, sr->exog, sizeof(double) * (Size) sr->n * E);
		memcpy(keys + nkeys, sr->key, klen);
		nvalues += (Size) sr->n * (1 + E);
		nkeys += klen;
	}
	shm_toc_insert(pcxt->toc, LP_KEY_SHARED, dsh);
	shm_toc_insert(pcxt->toc, LP_KEY_SERIES, ps);
	shm_toc_insert(pcxt->toc, LP_KEY_VALUES, values);
	shm_toc_insert(pcxt->toc, LP_KEY_KEYS, keys);
	memset(&djob, 0, sizeof(djob));
	djob.sh = dsh;
	djob.panel = panel;			/* the leader reads its own copy */
	if (sz_bases)
	{
		djob.bases = shm_toc_allocate(pcxt->toc, sz_bases);
		/* inputs of windows and refit; the bases jobs write them (nothing to copy) */
		if (sh->kind != LP_BASES)
			memcpy(djob.bases, job->bases, sz_bases);
		shm_toc_insert(pcxt->toc, LP_KEY_BASES, djob.bases);
	}
	if (sz_forms)
	{
		djob.forms = shm_toc_allocate(pcxt->toc, sz_forms);
		memcpy(djob.forms, job->forms, sz_forms);
		shm_toc_insert(pcxt->toc, LP_KEY_FORMS, djob.forms);
	}
	if (sz_lr)
	{
		double	   *lr = shm_toc_allocate(pcxt->toc, sz_lr);

		memcpy(lr, job->lr_hist, sizeof(double) * sh->epochs);
		djob.lr_hist = lr;
		shm_toc_insert(pcxt->toc, LP_KEY_LR, lr);
	}
	if (sz_results)
	{
		djob.results = shm_toc_allocate(pcxt->toc, sz_results);
		shm_toc_insert(pcxt->toc, LP_KEY_RESULTS, djob.results);
	}

	LaunchParallelWorkers(pcxt);
	track_workers = Max(track_workers, pcxt->nworkers_launched);
	forecast_progress_workers(track_slot, track_workers);
	ereport(DEBUG1,
			(errmsg("forecast_lstm_fit: %d jobs over %d parallel workers and the leader",
					sh->njobs, pcxt->nworkers_launched)));
	run_claimed(dsh, &djob);
	WaitForParallelWorkersToFinish(pcxt);
	if (pg_atomic_read_u32(&dsh->next) < (uint32) sh->njobs)
		elog(ERROR, "forecast_lstm_fit: the parallel jobs did not all run");
	if (sz_bases && sh->kind == LP_BASES)
		memcpy(job->bases, djob.bases, sz_bases);
	if (sz_forms)
		memcpy(job->forms, djob.forms, sz_forms);
	if (sz_results)
		memcpy(job->results, djob.results, sz_results);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

int
lstm_parallel_track(int slot)
{
	int			most = track_workers;

	track_slot = slot;
	track_workers = 0;
	return most;
}

void
lstm_parallel_bases(const ForecastPanel *panel, int V, int8 *forms, SeriesFit *bases)
{
	LstmParShared sh;
	LstmParJob	job;

	memset(&sh, 0, sizeof(sh));
	sh.kind = LP_BASES;
	sh.njobs = (panel->nseries + LSTM_PAR_CHUNK - 1) / LSTM_PAR_CHUNK;
	sh.freq = panel->freq;
	sh.season = panel->season;
	sh.n_exog = panel->n_exog;
	sh.nseries = panel->nseries;
	sh.V = V;
	sh.progress_slot = track_slot;
	memset(&job, 0, sizeof(job));
	job.panel = panel;
	job.bases = bases;
	job.forms = forms;
	run_jobs(&sh, &job);
}

/* the config as the segment carries it: no pointers */
static void
shared_config(LstmParShared *sh, const ForecastPanel *panel, const LstmConfig *cfg)
{
	sh->freq = panel->freq;
	sh->season = panel->season;
	sh->n_exog = panel->n_exog;
	sh->nseries = panel->nseries;
	sh->cfg = *cfg;
	sh->cfg.base_init = NULL;
	sh->cfg.base_form = NULL;
	sh->cfg.base_selected = NULL;
	sh->cfg.held = NULL;
}

void
lstm_parallel_windows(const ForecastPanel *panel, const LstmConfig *trial, int ncand,
					  const int *cand, double *val_wape, LstmHeld *held)
{
	LstmParShared sh;
	LstmParJob	job;
	int			maxnp = 0;

	Assert(ncand <= LSTM_PAR_MAX_CAND);
	memset(&sh, 0, sizeof(sh));
	shared_config(&sh, panel, trial);
	sh.kind = LP_WINDOWS;
	sh.njobs = ncand;
	for (int i = 0; i < ncand; i++)
	{
		LstmConfig	c = *trial;

		c.window = cand[i];
		maxnp = Max(maxnp, lstm_train_nparams(panel, &c));
		sh.cand[i] = cand[i];
		sh.order[i] = i;
	}
	/* the longest window (the costliest network) is claimed first */
	for (int i = 1; i < ncand; i++)
		for (int k = i; k > 0 && cand[sh.order[k]] > cand[sh.order[k - 1]]; k--)
		{
			int			tmp = sh.order[k];

			sh.order[k] = sh.order[k - 1];
			sh.order[k - 1] = tmp;
		}
	sh.slot = 2 + (Size) maxnp + Max(trial->max_epochs, 1);
	memset(&job, 0, sizeof(job));
	job.panel = panel;
	job.bases = (SeriesFit *) trial->base_init;
	job.results = palloc(sizeof(double) * sh.slot * ncand);
	run_jobs(&sh, &job);
	for (int i = 0; i < ncand; i++)
	{
		const double *slot = job.results + (Size) i * sh.slot;
		LstmConfig	c = *trial;

		val_wape[i] = slot[0];
		memset(&held[i], 0, sizeof(LstmHeld));
		if (slot[1] < 0)
			continue;
		c.window = cand[i];
		held[i].window = cand[i];
		held[i].nparams = lstm_train_nparams(panel, &c);
		held[i].epochs = (int) slot[1];
		held[i].params = palloc(sizeof(double) * held[i].nparams);
		memcpy(held[i].params, slot + 2, sizeof(double) * held[i].nparams);
		held[i].lr_hist = palloc(sizeof(double) * Max(held[i].epochs, 1));
		memcpy(held[i].lr_hist, slot + 2 + held[i].nparams, sizeof(double) * held[i].epochs);
	}
	pfree(job.results);
}

void
lstm_parallel_refit(const ForecastPanel *panel, const LstmConfig *cfg, int nmodels, int np,
					int epochs, const double *lr_hist, double *params)
{
	LstmParShared sh;
	LstmParJob	job;

	memset(&sh, 0, sizeof(sh));
	shared_config(&sh, panel, cfg);
	sh.kind = LP_REFIT;
	sh.njobs = nmodels;
	sh.epochs = epochs;
	sh.slot = np;
	memset(&job, 0, sizeof(job));
	job.panel = panel;
	job.bases = (SeriesFit *) cfg->base_init;
	job.lr_hist = lr_hist;
	job.results = params;
	run_jobs(&sh, &job);
}
