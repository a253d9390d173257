/*
 * forecast_fit.c: the retailiq.forecast_fit aggregate, which fits every series of the
 * group with one local method of the method table (method.h), or lets 'auto' choose per
 * series, and writes one model holding them all: per series its method code, form,
 * parameters and final state (local_model.h), so predicting needs nothing but the model.
 * The rows go through the shared series collector (series.c), which makes the fit
 * independent of the row order and of the plan (serial or parallel).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/memory.h"
#include "core/model.h"
#include "forecast/fit_parallel.h"
#include "forecast/fit_stage.h"
#include "forecast/local_model.h"

PG_FUNCTION_INFO_V1(forecast_fit_sfunc);
PG_FUNCTION_INFO_V1(forecast_fit_final);

/*
 * forecast_fit's row (state, series, ts, y, method, options) into the collector; also the
 * row of forecast_fit_part (fit_merge.c). The method and options travel with the rows (the
 * first row's, checked equal in the rest).
 */
SeriesCollector *
forecast_fit_collect_row(FunctionCallInfo fcinfo)
{
	SeriesCollector *st;

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL"),
				 errhint("SELECT name FROM retailiq.forecast_methods lists the methods.")));
	st = series_collect_sfunc(fcinfo, 0);
	series_collect_options_from_args(st, fcinfo, 4, 5);
	/* past an eighth of retailiq.max_memory, the rows go to group files (series.h) */
	series_collect_stream(fcinfo, st);
	return st;
}

Datum
forecast_fit_sfunc(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(forecast_fit_collect_row(fcinfo));
}

/* ---------- short series ---------- */

/* The series too short for the method, gathered for one NOTICE. */
typedef struct ShortReport
{
	int			n;				/* series too short */
	int			kept;			/* series in the model */
	const char *first;			/* the first one's key, length and need */
	int			first_n;
	int			first_need;
	StringInfoData list;		/* the first ten, with what they got */
} ShortReport;

static void
short_refuse(const ForecastOptions *o, const ForecastPanel *panel, const ForecastSeries *s, int need)
{
	const char *unit = series_freq_name(panel->freq);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("series \"%s\" is too short for method '%s'", s->key, o->method->name),
			 errdetail("It has %d %s%s; '%s' needs at least %d%s.", s->n, unit,
					   s->n == 1 ? "" : "s", o->method->name, need,
					   o->method->length_note ? o->method->length_note : ""),
			 errhint("Use method 'auto' or the option \"short\": \"fallback\" to fit short series with a simpler method (named in a NOTICE), or leave them out (for instance HAVING count(*) >= %d).",
					 need)));
}

static void
short_note(ShortReport *r, const ForecastPanel *panel, const ForecastSeries *s, int need,
		   const SeriesFit *fit, bool kept)
{
	const char *unit = series_freq_name(panel->freq);

	if (r->n < 10)
	{
		char		buf[16];

		appendStringInfo(&r->list, "%s\"%s\" (%d %s%s): %s", r->n ? "; " : "", s->key,
						 s->n, unit, s->n == 1 ? "" : "s",
						 kept ? forecast_method_by_code(fit->method)->label(fit, buf) : "left out");
	}
	if (r->n == 0)
	{
		r->first = s->key;
		r->first_need = need;
		r->first_n = s->n;
	}
	r->n++;
}

static void
short_report(const ShortReport *r, const ForecastOptions *o, const ForecastPanel *panel)
{
	const char *name = o->method->name;

	if (r->n == 0)
		return;
	if (r->kept == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every series is too short for forecast_fit: series \"%s\" has %d %s",
						r->first, r->first_n, series_freq_name(panel->freq)),
				 errdetail("A series needs at least 2 periods for a forecast with an interval; '%s' needs %d.",
						   name, r->first_need),
				 errhint("Collect more history before forecasting these series.")));
	ereport(NOTICE,
			(errmsg("forecast_fit: series \"%s\"%s too short for method '%s'",
					r->first, r->n > 1 ? psprintf(" and %d more are", r->n - 1) : " is", name),
			 errdetail("%s%s.", r->list.data, r->n > 10 ? psprintf("; and %d more", r->n - 10) : ""),
			 errhint("'%s' needs at least %d periods per series: shorter ones get a simpler method (seasonal naive the naive forecast, the others the mean), a single period none. The option \"short\": \"error\" refuses them instead.",
					 name, r->first_need)));
}

/* ---------- fitting ---------- */

/*
 * Fit every series of the panel with the method asked for; keep[i] false for a series
 * left out (too short even for the fallback); vmae[i] auto's validation error. The
 * lengths are checked first, so a refused series stops the call before any fit; the fits
 * run in this backend or in parallel workers (fit_parallel.c), with the same result.
 */
static int *
fit_panel(const ForecastPanel *panel, int m, const ForecastOptions *o, WarmPlan *plans,
		  SeriesFit *fits, bool *keep, double *vmae)
{
	int			ns = panel->nseries,
				i;
	int		   *need = palloc(sizeof(int) * Max(ns, 1));

	for (i = 0; i < ns; i++)
	{
		const ForecastSeries *s = &panel->series[i];

		need[i] = o->method->min_length(s->y, s->n, m, o);
		if (need[i] > 0 && o->short_error)
			short_refuse(o, panel, s, need[i]);
	}
	forecast_fit_series(panel, m, o, need, plans, fits, keep, vmae);
	return need;
}

/* ---------- the model ---------- */

/*
 * The evidence of an interval calibrated on held-out periods (combo): the share of those
 * periods, pooled over the series, inside the components' own interval and inside the
 * calibrated one, and how many periods that is. Display only: no forecast reads them.
 */
static void
put_coverage(ModelBuilder *b, const ForecastMethod *em, const SeriesFit *fits, int ns, int nrec)
{
	double		inside = 0,
				inside_cal = 0,
				count = 0;

	if (em->coverage == NULL)
		return;
	for (int i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];
		double		a,
					c,
					k;

		if (f->method == em->code && em->coverage(f, &a, &c, &k))
		{
			inside += a;
			inside_cal += c;
			count += k;
		}
	}
	if (!(count > 0))
		return;
	model_put_float(b, MODEL_METRICS, "validation_coverage", inside / count);
	model_put_float(b, MODEL_METRICS, "validation_coverage_calibrated", inside_cal / count);
	model_put_int(b, MODEL_METRICS, "validation_coverage_periods", (int64) count);
}

/*
 * The validation evidence of the fits whose method measured candidates on held-out periods
 * (combo, also as 'auto's choice): the candidates' names, each series' WAPE per candidate
 * there (NaN: the series was not validated this way) and the WAPE pooled over those series
 * (sums of absolute errors over sums of absolute actuals). Display only: no forecast reads
 * them. One method's candidates per model (the first series' method that has any).
 */
static void
put_evidence(ModelBuilder *b, const SeriesFit *fits, int ns, int nrec)
{
	const ForecastMethod *em = NULL;
	int			nc = 0,
				validated = 0,
				dims[2],
				i,
				c;
	double	   *wape,
				pooled_sae[FORECAST_MAX_EVIDENCE] = {0},
				pooled_say = 0;
	bool		measured[FORECAST_MAX_EVIDENCE] = {0};

	for (i = 0; i < ns && em == NULL; i++)
	{
		const ForecastMethod *fm = forecast_method_by_code(fits[(Size) i * nrec].method);

		if (fm != NULL && fm->evidence != NULL && fm->evidence_names != NULL)
			em = fm;
	}
	if (em == NULL)
		return;
	while (em->evidence_names[nc] != NULL && nc < FORECAST_MAX_EVIDENCE)
		nc++;
	wape = palloc(sizeof(double) * Max(ns, 1) * nc);
	/* a candidate measured on no series (combo's global member, on a panel too short) */
	for (i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];
		double		sae[FORECAST_MAX_EVIDENCE],
					say;

		if (f->method == em->code && em->evidence(f, sae, &say))
			for (c = 0; c < nc; c++)
				measured[c] = measured[c] || isfinite(sae[c]);
	}
	for (i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];
		double		sae[FORECAST_MAX_EVIDENCE],
					say;
		bool		ok = f->method == em->code && em->evidence(f, sae, &say);

		for (c = 0; c < nc; c++)
			wape[(Size) i * nc + c] = ok ? sae[c] / say : NAN;
		if (ok)
		{
			bool		all = true;

			for (c = 0; c < nc; c++)
				all = all && (isfinite(sae[c]) || !measured[c]);
			/* pooled over the series where every candidate measured at all was measured */
			if (all)
			{
				for (c = 0; c < nc; c++)
					pooled_sae[c] += sae[c];
				pooled_say += say;
				validated++;
			}
		}
	}
	model_put_text_array(b, MODEL_METRICS, "validation_candidates", em->evidence_names, nc);
	dims[0] = ns;
	dims[1] = nc;
	model_put_float_array(b, MODEL_METRICS, "validation_wape", wape, 2, dims);
	for (c = 0; c < nc; c++)
		pooled_sae[c] = validated > 0 ? pooled_sae[c] / pooled_say : NAN;
	dims[0] = nc;
	model_put_float_array(b, MODEL_METRICS, "validation_wape_pooled", pooled_sae, 1, dims);
	model_put_int(b, MODEL_METRICS, "validation_series", validated);
	pfree(wape);
	put_coverage(b, em, fits, ns, nrec);
	if (em->panel_evidence != NULL)
		em->panel_evidence(b, fits, ns, nrec);
}

/*
 * The fitted series (the first ns of panel->series, nrec records each in fits) into the
 * model's layout: the per-series arrays have ns entries, the per-record ones (method,
 * spec, par, seasonal) ns * nrec rows, series by series.
 */
static void
put_series(ModelBuilder *b, const ForecastPanel *panel, const SeriesFit *fits, int ns,
		   int nrec, const double *vmae, bool with_vmae)
{
	int			nr = ns * nrec;
	const char **keys = palloc(sizeof(char *) * Max(ns, 1));
	int64	   *start = palloc(sizeof(int64) * Max(ns, 1)),
			   *len = palloc(sizeof(int64) * Max(ns, 1)),
			   *meth = palloc(sizeof(int64) * Max(nr, 1)),
			   *spec = palloc(sizeof(int64) * Max(nr, 1) * LOCAL_NSPEC);
	double	   *par = palloc(sizeof(double) * Max(nr, 1) * LOCAL_NPAR),
			   *loglik = palloc(sizeof(double) * Max(ns, 1)),
			   *aicc = palloc(sizeof(double) * Max(ns, 1)),
			   *mse = palloc(sizeof(double) * Max(ns, 1)),
			   *seas;
	int			maxm = 1,
				dims[2],
				i,
				k;

	for (i = 0; i < nr; i++)
		maxm = Max(maxm, fits[i].m);
	seas = palloc0(sizeof(double) * Max(nr, 1) * maxm);
	for (i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];

		keys[i] = panel->series[i].key;
		start[i] = panel->series[i].start;
		len[i] = panel->series[i].n;
		loglik[i] = f->method == FIT_ETS ? f->loglik : NAN;
		aicc[i] = f->method == FIT_ETS ? f->aicc : NAN;
		mse[i] = f->mse;
	}
	for (i = 0; i < nr; i++)
	{
		const SeriesFit *f = &fits[i];
		int64	   *sp = spec + (Size) i * LOCAL_NSPEC;
		double	   *p = par + (Size) i * LOCAL_NPAR;

		meth[i] = f->method;
		sp[0] = f->error;
		sp[1] = f->trend;
		sp[2] = f->season;
		sp[3] = f->damped ? 1 : 0;
		sp[4] = Max(f->m, 1);
		p[0] = f->alpha;
		p[1] = f->beta;
		p[2] = f->gamma;
		p[3] = f->phi;
		p[4] = f->sigma2;
		p[5] = f->level;
		p[6] = f->slope;
		for (k = 0; k < f->m && k < maxm; k++)
			seas[(Size) i * maxm + k] = f->s[k];
	}
	dims[0] = ns;
	model_put_float_array(b, MODEL_METRICS, "loglik", loglik, 1, dims);
	model_put_float_array(b, MODEL_METRICS, "aicc", aicc, 1, dims);
	model_put_float_array(b, MODEL_METRICS, "mse", mse, 1, dims);
	if (with_vmae)
		model_put_float_array(b, MODEL_METRICS, "validation_mae", (double *) vmae, 1, dims);
	put_evidence(b, fits, ns, nrec);
	model_put_text_array(b, MODEL_DATA, "series", keys, ns);
	model_put_int_array(b, MODEL_DATA, "start", start, 1, dims);
	model_put_int_array(b, MODEL_DATA, "n", len, 1, dims);
	dims[0] = nr;
	model_put_int_array(b, MODEL_DATA, "method", meth, 1, dims);
	dims[1] = LOCAL_NSPEC;
	model_put_int_array(b, MODEL_DATA, "spec", spec, 2, dims);
	dims[1] = LOCAL_NPAR;
	model_put_float_array(b, MODEL_DATA, "par", par, 2, dims);
	dims[1] = maxm;
	model_put_float_array(b, MODEL_DATA, "seasonal", seas, 2, dims);
}

/* The fit stage of a collector in memory; freq: the frequency, NULL to infer it. */
static bool
fit_stage(SeriesCollector *st, bytea *warm_given, const ForecastFreq *freq, FitStage *fs)
{
	const char *opts = series_collect_options(st);
	const char *nl;
	Jsonb	   *j = NULL;
	ForecastOptions o;
	ForecastPanel *panel;
	int			ns,
				i;

	if (st == NULL || opts == NULL)
		return false;
	nl = strchr(opts, '\n');
	if (nl == NULL)
		elog(ERROR, "forecast_fit state without a method");
	if (nl[1] != '\0')
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(nl + 1)));
	forecast_options_parse(pnstrdup(opts, nl - opts), j, &o);
	panel = series_collect_finish_freq(st, &o.series, freq);
	if (panel == NULL)
		return false;
	memset(fs, 0, sizeof(*fs));
	fs->opts = pstrdup(opts);
	fs->freq = panel->freq;
	fs->m = o.season > 0 ? o.season : panel->season;
	fs->ns = ns = panel->nseries;
	fs->nrec = forecast_fit_records(&o, fs->m);
	fs->rows = series_collect_rows(st);
	fs->fits = palloc0_array(SeriesFit, (Size) ns * fs->nrec);
	fs->vmae = palloc(sizeof(double) * Max(ns, 1));
	fs->keep = palloc(sizeof(bool) * Max(ns, 1));
	fs->plans = warm_start_plan(j, &o, panel, fs->m, fs->fits, fs->nrec, warm_given);	/* warm_start.c */
	fs->need = fit_panel(panel, fs->m, &o, fs->plans, fs->fits, fs->keep, fs->vmae);
	fs->keys = palloc(sizeof(char *) * Max(ns, 1));
	fs->start = palloc(sizeof(int32) * Max(ns, 1));
	fs->len = palloc(sizeof(int32) * Max(ns, 1));
	fs->hash = palloc(sizeof(int64) * Max(ns, 1));
	for (i = 0; i < ns; i++)
	{
		fs->keys[i] = panel->series[i].key;
		fs->start[i] = panel->series[i].start;
		fs->len[i] = panel->series[i].n;
		fs->hash[i] = warm_start_hash(&panel->series[i]);
	}
	return true;
}

/* ---------- a streamed collector: group by group ---------- */

/* group's stage gs appended to fs (room for cap series), copied into the current context */
static void
stage_append(FitStage *fs, const FitStage *gs, int cap)
{
	int			at = fs->ns;

	if (at == 0)
	{
		fs->opts = pstrdup(gs->opts);
		fs->freq = gs->freq;
		fs->m = gs->m;
		fs->nrec = gs->nrec;
		fs->keys = palloc(sizeof(char *) * cap);
		fs->start = palloc(sizeof(int32) * cap);
		fs->len = palloc(sizeof(int32) * cap);
		fs->need = palloc(sizeof(int) * cap);
		fs->keep = palloc(sizeof(bool) * cap);
		fs->vmae = palloc(sizeof(double) * cap);
		fs->plans = palloc(sizeof(WarmPlan) * cap);
		fs->hash = palloc(sizeof(int64) * cap);
		fs->fits = riq_alloc(CurrentMemoryContext,
							 riq_mul_size((Size) cap * fs->nrec, sizeof(SeriesFit), "the forecast fits"),
							 "the forecast fits");
	}
	if (gs->ns > cap - at || gs->nrec != fs->nrec || gs->m != fs->m)
		elog(ERROR, "forecast_fit group of %d series does not fit the stage", gs->ns);
	for (int i = 0; i < gs->ns; i++)
		fs->keys[at + i] = pstrdup(gs->keys[i]);
	memcpy(fs->start + at, gs->start, sizeof(int32) * gs->ns);
	memcpy(fs->len + at, gs->len, sizeof(int32) * gs->ns);
	memcpy(fs->need + at, gs->need, sizeof(int) * gs->ns);
	memcpy(fs->keep + at, gs->keep, sizeof(bool) * gs->ns);
	memcpy(fs->vmae + at, gs->vmae, sizeof(double) * gs->ns);
	memcpy(fs->plans + at, gs->plans, sizeof(WarmPlan) * gs->ns);
	memcpy(fs->hash + at, gs->hash, sizeof(int64) * gs->ns);
	memcpy(fs->fits + (Size) at * fs->nrec, gs->fits, sizeof(SeriesFit) * gs->ns * fs->nrec);
	fs->ns += gs->ns;
	fs->rows += gs->rows;
}

static int
index_key_cmp(const void *a, const void *b, void *arg)
{
	char	  **keys = (char **) arg;

	return strcmp(keys[*(const int *) a], keys[*(const int *) b]);
}

/*
 * The series of fs in key (byte) order, as one panel has them. The fits (the big array:
 * up to FORECAST_MAX_RECORDS records a series) are permuted in place, cycle by cycle.
 */
static void
stage_sort(FitStage *fs)
{
	int			ns = fs->ns,
				nrec = fs->nrec;
	int		   *ord = palloc(sizeof(int) * Max(ns, 1));
	bool	   *moved = palloc0(sizeof(bool) * Max(ns, 1));
	SeriesFit  *tmp = palloc(sizeof(SeriesFit) * nrec);
	FitStage	o = *fs;

	for (int i = 0; i < ns; i++)
		ord[i] = i;
	qsort_arg(ord, ns, sizeof(int), index_key_cmp, fs->keys);
	fs->keys = palloc(sizeof(char *) * Max(ns, 1));
	fs->start = palloc(sizeof(int32) * Max(ns, 1));
	fs->len = palloc(sizeof(int32) * Max(ns, 1));
	fs->need = palloc(sizeof(int) * Max(ns, 1));
	fs->keep = palloc(sizeof(bool) * Max(ns, 1));
	fs->vmae = palloc(sizeof(double) * Max(ns, 1));
	fs->plans = palloc(sizeof(WarmPlan) * Max(ns, 1));
	fs->hash = palloc(sizeof(int64) * Max(ns, 1));
	for (int k = 0; k < ns; k++)
	{
		int			i = ord[k];

		fs->keys[k] = o.keys[i];
		fs->start[k] = o.start[i];
		fs->len[k] = o.len[i];
		fs->need[k] = o.need[i];
		fs->keep[k] = o.keep[i];
		fs->vmae[k] = o.vmae[i];
		fs->plans[k] = o.plans[i];
		fs->hash[k] = o.hash[i];
	}
	/* position k takes the fits of series ord[k]: follow each cycle once */
	for (int k = 0; k < ns; k++)
	{
		int			j = k;

		if (moved[k] || ord[k] == k)
			continue;
		memcpy(tmp, &fs->fits[(Size) k * nrec], sizeof(SeriesFit) * nrec);
		for (;;)
		{
			int			i = ord[j];

			moved[j] = true;
			if (i == k)
			{
				memcpy(&fs->fits[(Size) j * nrec], tmp, sizeof(SeriesFit) * nrec);
				break;
			}
			memcpy(&fs->fits[(Size) j * nrec], &fs->fits[(Size) i * nrec], sizeof(SeriesFit) * nrec);
			j = i;
		}
	}
	pfree(tmp);
	pfree(moved);
	pfree(ord);
}

/*
 * The fit stage of a streamed collector (series_collect_stream): each group read back,
 * fitted and reduced to its stage in a memory context of its own, which goes before the
 * next group is read; the groups' series then put in key order. The frequency is the one
 * of all the rows and every series' fit is its own, so this is the stage one panel of all
 * the rows gives, with one group's rows in memory at a time. The warm start's model is
 * read once for all groups.
 */
static void
fit_groups(SeriesCollector *st, bytea *warm, ForecastFreq freq, FitStage *fs)
{
	int			ng = series_collect_groups(st),
				total = series_collect_nseries(st);

	for (int g = 0; g < ng; g++)
	{
		MemoryContext gcxt = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit group",
												   ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(gcxt);
		SeriesCollector *sub = series_collect_group(st, g);
		FitStage	gs;
		bool		ok = sub != NULL && fit_stage(sub, warm, &freq, &gs);

		MemoryContextSwitchTo(old);
		if (ok)
			stage_append(fs, &gs, total);
		MemoryContextDelete(gcxt);
	}
}

/* the groups fitted as one fit (progress, run record), also when one fails */
static void
fit_groups_tracked(SeriesCollector *st, const char *method, bytea *warm, FitStage *fs)
{
	ForecastFreq freq = series_collect_groups_freq(st);

	forecast_fit_groups_begin(method, series_collect_nseries(st));
	PG_TRY();
	{
		fit_groups(st, warm, freq, fs);
	}
	PG_FINALLY();
	{
		forecast_fit_groups_end();
	}
	PG_END_TRY();
}

static bool
fit_stage_groups(SeriesCollector *st, bytea *warm_given, FitStage *fs)
{
	const char *opts = series_collect_options(st);
	const char *nl = opts ? strchr(opts, '\n') : NULL;
	bytea	   *warm = warm_given;

	if (nl == NULL)
		elog(ERROR, "forecast_fit state without a method");
	if (warm == NULL && nl[1] != '\0')
		warm = warm_start_load(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(nl + 1))));
	memset(fs, 0, sizeof(*fs));
	ereport(DEBUG1,
			(errmsg("forecast_fit: " INT64_FORMAT " rows of %d series fitted in %d groups",
					series_collect_rows(st), series_collect_nseries(st), series_collect_groups(st))));
	fit_groups_tracked(st, pnstrdup(opts, nl - opts), warm, fs);
	if (fs->ns == 0)
		return false;
	stage_sort(fs);
	return true;
}

/*
 * The fit stage: every series of the collector fitted (fit_stage.h). Everything the model
 * stage needs is per series, so the stages of several groups of series (a distributed
 * table's stores, or a streamed collector's groups) concatenated in key order give the
 * stage of all of them. Returns false when there are no rows.
 */
bool
forecast_fit_stage(SeriesCollector *st, bytea *warm_given, FitStage *fs)
{
	if (series_collect_groups(st) > 0)
		return fit_stage_groups(st, warm_given, fs);
	return fit_stage(st, warm_given, NULL, fs);
}

/* the records the model keeps a series: the most any series (kept ones, keep not NULL) uses, at least `least` */
static int
records_used(const SeriesFit *fits, int ns, int nrec, const bool *keep, int least)
{
	int			used = least;

	for (int i = 0; i < ns; i++)
		for (int r = nrec - 1; r >= used; r--)
			if ((keep == NULL || keep[i]) && fits[(Size) i * nrec + r].method != 0)
			{
				used = r + 1;
				break;
			}
	return used;
}

/* The model stage: the model of a fit stage (fit_stage.h). fs is consumed. */
bytea *
forecast_fit_model(FitStage *fs)
{
	const char *nl = strchr(fs->opts, '\n');
	Jsonb	   *j = NULL;
	ForecastOptions o;
	ForecastPanel panel;
	ShortReport shorts;
	SeriesFit  *fits = fs->fits;
	ModelBuilder *b;
	int			ns = fs->ns,
				nrec = fs->nrec,
				used,
				i,
				k;

	if (nl == NULL)
		elog(ERROR, "forecast_fit state without a method");
	if (nl[1] != '\0')
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(nl + 1)));
	forecast_options_parse(pnstrdup(fs->opts, nl - fs->opts), j, &o);
	if (forecast_fit_records(&o, fs->m) != nrec)
		elog(ERROR, "forecast_fit stage with %d records per series", nrec);
	panel.freq = fs->freq;
	panel.season = fs->m;
	panel.n_exog = 0;
	panel.nseries = ns;
	panel.series = palloc0(sizeof(ForecastSeries) * Max(ns, 1));
	for (i = 0; i < ns; i++)
	{
		panel.series[i].key = fs->keys[i];
		panel.series[i].start = fs->start[i];
		panel.series[i].n = fs->len[i];
	}
	memset(&shorts, 0, sizeof(shorts));
	initStringInfo(&shorts.list);
	for (i = 0; i < ns; i++)
	{
		if (fs->need[i] > 0)
			short_note(&shorts, &panel, &panel.series[i], fs->need[i], &fits[(Size) i * nrec], fs->keep[i]);
		if (fs->keep[i])
			shorts.kept++;
	}
	short_report(&shorts, &o, &panel);
	/*
	 * The model holds the series kept, in panel (key) order, with as many records each as the
	 * most any of them used ('auto' may give none of them a combination: one record each).
	 */
	used = records_used(fits, ns, nrec, fs->keep, 1);
	for (i = 0, k = 0; i < ns; i++)
		if (fs->keep[i])
		{
			memmove(&fits[(Size) k * nrec], &fits[(Size) i * nrec], sizeof(SeriesFit) * nrec);
			fs->vmae[k] = fs->vmae[i];
			fs->plans[k] = fs->plans[i];
			fs->hash[k] = fs->hash[i];
			panel.series[k] = panel.series[i];
			k++;
		}
	ns = k;
	/*
	 * The panel steps see every record a fit wrote (a pooled method's stashed values are in
	 * records of code 0, which no model keeps), then the records kept are packed.
	 */
	forecast_finish_panel(fits, ns, nrec, &o);
	/* (and the records a panel step wrote: combo's global member) */
	used = records_used(fits, ns, nrec, NULL, used);
	for (k = 0; k < ns; k++)
		memmove(&fits[(Size) k * used], &fits[(Size) k * nrec], sizeof(SeriesFit) * used);
	nrec = used;

	b = model_begin(o.method->kind);
	model_put_text(b, MODEL_PARAMS, "method", o.method->name);
	model_put_text(b, MODEL_PARAMS, "frequency", series_freq_name(panel.freq));
	model_put_int(b, MODEL_PARAMS, "season", fs->m);
	model_put_float(b, MODEL_PARAMS, "level", o.level);
	model_put_int(b, MODEL_PARAMS, "seed", o.seed);
	model_put_bool(b, MODEL_PARAMS, "nonneg", !o.series.allow_negative);
	if (j != NULL)
		model_put_text(b, MODEL_PARAMS, "options", nl + 1);
	model_put_int(b, MODEL_METRICS, "nseries", ns);
	model_put_int(b, MODEL_METRICS, "rows", fs->rows);
	put_series(b, &panel, fits, ns, nrec, fs->vmae, o.method == forecast_method_by_name("auto"));
	warm_start_put(b, &panel, fs->plans, fs->hash, ns);
	return model_finish(b);
}

Datum
forecast_fit_final(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	MemoryContext work,
				old;
	FitStage	fs;
	bytea	   *model,
			   *result = NULL;

	work = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	if (forecast_fit_stage(st, NULL, &fs))
	{
		model = forecast_fit_model(&fs);
		MemoryContextSwitchTo(old);
		result = (bytea *) palloc(VARSIZE(model));
		memcpy(result, model, VARSIZE(model));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(result);
}
