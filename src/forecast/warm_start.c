/*
 * warm_start.c: forecast_fit's warm starts (warm_start.h). The previous model is read from
 * retailiq.models by name (and version) through SPI, as the caller, and checked like any
 * model a forecast reads (local_model.c); everything after that is per series and depends
 * on nothing but the series' values, its plan and the options, so the backend and the
 * parallel workers give the same fits.
 *
 * A warm refit is the cold fit of the previous method with the form searches pinned: ETS
 * fits the previous error/trend/season/damping; 'combo' fits its ETS component with its
 * previous form (its weights are re-estimated by its own validation, seasonal naive and
 * Theta as always; a combination saved before 2026-12-07 also had a damped ETS component,
 * whose form is no longer pinned); the other methods have no form and are fitted as they
 * are. Pinning a search to the form it would have found changes nothing else, so a warm
 * refit equals a cold fit that happens to select the same forms.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "forecast/local_model.h"
#include "forecast/warm_start.h"

extern const ForecastMethod ets_method;
extern const ForecastMethod combo_method;

#define WARM_DEFAULT_DEGRADE 1.5

/* ---------- the previous model ---------- */

/* the saved model name (version, 0 = the newest), read as the caller, detoasted in cxt */
static bytea *
warm_load(const char *name, int version)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', version > 0 ? ' ' : 'n'};
	bytea	   *result;
	bool		isnull;
	Datum		d;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "warm_start: SPI_connect failed");
	if (SPI_execute_with_args("SELECT m.model FROM retailiq.models m WHERE m.name = $1"
							  " AND ($2::int IS NULL OR m.version = $2) ORDER BY m.version DESC LIMIT 1",
							  2, types, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "warm_start: could not read retailiq.models");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("options.warm_start: model \"%s\"%s not found", name,
						version > 0 ? psprintf(" version %d", version) : ""),
				 errhint("retailiq.models lists the saved models; retailiq.save_model saves one.")));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "warm_start: a saved model is NULL");
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		result = (bytea *) PG_DETOAST_DATUM_COPY(d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/* options.warm_start: {"model": name, "version": v (optional)}; NULL name when absent */
static void
warm_option(Jsonb *j, char **name, int *version)
{
	JsonbValue *v = series_option_value(j, "warm_start");
	JsonbValue	mv,
				vv;
	JsonbContainer *c;
	bool		has_model,
				has_version;

	*name = NULL;
	*version = 0;
	if (v == NULL)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.warm_start must be an object"),
				 errhint("Name the previous model: {\"model\": \"forecast:shop\"}, optionally with \"version\".")));
	c = v->val.binary.data;
	has_model = getKeyJsonValueFromContainer(c, "model", 5, &mv) != NULL;
	has_version = getKeyJsonValueFromContainer(c, "version", 7, &vv) != NULL;
	if (!has_model || mv.type != jbvString || mv.val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.warm_start.model must be the name of a saved model"),
				 errhint("Name the previous model: {\"model\": \"forecast:shop\"}.")));
	*name = pnstrdup(mv.val.string.val, mv.val.string.len);
	if (has_version && vv.type != jbvNull)
	{
		double		f = vv.type == jbvNumeric
			? DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(vv.val.numeric)))
			: NAN;

		if (!(f >= 1 && f <= PG_INT32_MAX && f == floor(f)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.warm_start.version must be a positive whole number"),
					 errhint("Leave it out for the newest version.")));
		*version = (int) f;
	}
	{
		JsonbIterator *it = JsonbIteratorInit(c);
		JsonbValue	k;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
			if (tok == WJB_KEY &&
				!(k.val.string.len == 5 && memcmp(k.val.string.val, "model", 5) == 0) &&
				!(k.val.string.len == 7 && memcmp(k.val.string.val, "version", 7) == 0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("options.warm_start has an unknown key \"%.*s\"",
								k.val.string.len, k.val.string.val),
						 errhint("Its keys are \"model\" and \"version\".")));
	}
}

bytea *
warm_start_load(Jsonb *j)
{
	char	   *name;
	int			version;

	warm_option(j, &name, &version);
	return name == NULL ? NULL : warm_load(name, version);
}

/* the options without the keys that do not change a fit */
static Datum
fit_relevant(Jsonb *j)
{
	static const char *const warm_keys[] = {"warm_start", "reselect_days", "degrade_ratio", "verbose"};
	Datum		d = j != NULL ? JsonbPGetDatum(j)
		: DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));

	for (int k = 0; k < (int) lengthof(warm_keys); k++)
		d = DirectFunctionCall2(jsonb_delete, d, CStringGetTextDatum(warm_keys[k]));
	return d;
}

/* was prev fitted by the same method, season and fit options as this call? */
static bool
same_fit(const ModelView *mv, Jsonb *j, const ForecastOptions *o, const ForecastPanel *panel,
		 int m)
{
	const ModelEntry *e = model_find(mv, MODEL_PARAMS, "options");
	Jsonb	   *pj = NULL;

	if (strcmp(model_get_text(mv, MODEL_PARAMS, "method"), o->method->name) != 0 ||
		model_get_int(mv, MODEL_PARAMS, "season") != m ||
		strcmp(model_get_text(mv, MODEL_PARAMS, "frequency"), series_freq_name(panel->freq)) != 0)
		return false;
	if (e != NULL)
		pj = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(model_get_text(mv, MODEL_PARAMS, "options"))));
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, fit_relevant(pj), fit_relevant(j)));
}

/* a hash of a series' values (and start): equal hashes, start and length = no new rows */
int64
warm_start_hash(const ForecastSeries *s)
{
	uint64		h = hash_bytes_extended((const unsigned char *) &s->start, sizeof(s->start), s->n);
	const Size	chunk = 1 << 20;	/* values at a time (the hash takes an int length) */

	for (Size t = 0; t < (Size) s->n; t += chunk)
		h = hash_combine64(h, hash_bytes_extended((const unsigned char *) (s->y + t),
												  (int) (sizeof(double) * Min(chunk, (Size) s->n - t)), 0));
	return (int64) h;
}

static DateADT
series_last(const ForecastPanel *panel, const ForecastSeries *s)
{
	return series_date_add(panel->freq, s->start, s->n - 1);
}

/* an optional per-series int array of the previous model (NULL when it has none) */
static int64 *
optional_ints(const ModelView *mv, ModelSection sec, const char *key, int ns)
{
	int			dims[1] = {ns};

	if (model_find(mv, sec, key) == NULL)
		return NULL;
	return model_get_int_array(mv, sec, key, 1, dims);
}

/* ---------- the plan ---------- */

/* can a warm refit use method code `code` for a fit of method o->method? */
static const ForecastMethod *
warm_method(int code, const ForecastOptions *o, int nrec)
{
	const ForecastMethod *pm = forecast_method_by_code(code);

	if (pm == NULL || !pm->requestable || pm->scope != METHOD_LOCAL || pm->fit == NULL ||
		forecast_method_records(pm) > nrec)
		return NULL;
	if (pm != o->method && strcmp(o->method->name, "auto") != 0)
		return NULL;			/* a named method's fallback (seasonal naive, the mean) */
	return pm;
}

WarmPlan *
warm_start_plan(Jsonb *j, const ForecastOptions *o, const ForecastPanel *panel, int m,
				SeriesFit *fits, int nrec, bytea *given)
{
	int			ns = panel->nseries;
	WarmPlan   *plans = palloc0(sizeof(WarmPlan) * Max(ns, 1));
	int			reselect = (int) forecast_opt_number(j, "reselect_days", WARM_DEFAULT_RESELECT_DAYS,
													 0, 36600, true,
													 "Days between form selections, e.g. 7 (0 selects at every refit).");
	double		degrade = forecast_opt_number(j, "degrade_ratio", WARM_DEFAULT_DEGRADE, 1, 1e6, false,
											  "How much the in-sample error may grow before the form is selected again, e.g. 1.5.");
	char	   *name;
	int			version;
	ModelView  *mv;
	StatModel	sm;
	int64	   *hash,
			   *selected;
	double	   *mse,
			   *vmae,
			   *aicc,
			   *loglik;
	int			dims[1];
	bool		reusable;

	for (int i = 0; i < ns; i++)
	{
		plans[i].status = WARM_NEW;
		plans[i].degrade = degrade;
	}
	warm_option(j, &name, &version);
	if (name == NULL || ns == 0)
		return plans;
	mv = model_open(given != NULL ? given : warm_load(name, version), MODEL_KIND_ANY);
	if (o->method->pooled)
		return plans;			/* a pooled method's fits all change with any series */
	if (forecast_method_by_kind(mv->kind) == NULL ||
		forecast_method_by_kind(mv->kind)->scope != METHOD_LOCAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.warm_start: model \"%s\" is not a forecast_fit model", name),
				 errhint("Warm starts refit the per-series models of retailiq.forecast_fit.")));
	local_model_read(mv, &sm);
	reusable = same_fit(mv, j, o, panel, m);
	if (!reusable || sm.nrec > nrec)
	{
		for (int i = 0; i < ns; i++)
			plans[i].status = WARM_RESELECT_OTHER;
		return plans;
	}
	hash = optional_ints(mv, MODEL_DATA, "fit_hash", sm.ns);
	selected = optional_ints(mv, MODEL_DATA, "selected", sm.ns);
	dims[0] = sm.ns;
	mse = model_get_float_array(mv, MODEL_METRICS, "mse", 1, dims);
	aicc = model_get_float_array(mv, MODEL_METRICS, "aicc", 1, dims);
	loglik = model_get_float_array(mv, MODEL_METRICS, "loglik", 1, dims);
	vmae = model_find(mv, MODEL_METRICS, "validation_mae") != NULL
		? model_get_float_array(mv, MODEL_METRICS, "validation_mae", 1, dims) : NULL;
	for (int p = 0; selected != NULL && p < sm.ns; p++)
		if (!IS_VALID_DATE(selected[p]))
			model_corrupt(mv, "Series %d has an invalid selection date.", p);

	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *s = &panel->series[i];
		WarmPlan   *pl = &plans[i];
		int			p = series_key_index(sm.keys, sm.ns, s->key);
		SeriesFit	prev[FORECAST_MAX_RECORDS];
		DateADT		last = series_last(panel, s);

		if (p < 0)
			continue;			/* WARM_NEW */
		local_model_fits(&sm, p, prev);
		pl->method = prev[0].method;
		pl->prev_mse = mse[p];
		pl->prev_vmae = vmae != NULL ? vmae[p] : NAN;
		pl->selected = selected != NULL ? (int32) selected[p]
			: (int32) series_date_add(panel->freq, (DateADT) sm.start[p], (int) sm.len[p] - 1);
		for (int r = 0; r < WARM_FORMS; r++)
		{
			bool		ets = r < sm.nrec && prev[r].method == FIT_ETS;

			pl->form[r][0] = ets ? prev[r].error : -1;
			pl->form[r][1] = ets ? prev[r].trend : -1;
			pl->form[r][2] = ets ? prev[r].season : -1;
			pl->form[r][3] = ets ? (prev[r].damped ? 1 : 0) : -1;
		}
		if (hash != NULL && sm.start[p] == s->start && sm.len[p] == s->n && hash[p] == warm_start_hash(s))
		{
			/* no new rows: the previous fit as it was (what the model keeps of it) */
			pl->status = WARM_SKIPPED;
			prev[0].mse = mse[p];
			prev[0].aicc = aicc[p];
			prev[0].loglik = loglik[p];
			memcpy(&fits[(Size) i * nrec], prev, sizeof(SeriesFit) * sm.nrec);
		}
		else if ((int64) last - pl->selected >= reselect)
			pl->status = WARM_RESELECT_AGE;
		else if (warm_method(pl->method, o, nrec) == NULL)
			pl->status = WARM_RESELECT_OTHER;
		else
			pl->status = WARM_REFIT;
	}
	return plans;
}

/* ---------- one warm refit ---------- */

static void
pin_form(EtsOptions *eo, const int8 form[4])
{
	eo->error = form[0];
	eo->trend = form[1];
	eo->season = form[2];
	eo->damped = form[3];
}

/* record r of fit has the form the plan pinned (an unused component record passes) */
static bool
kept_form(const WarmPlan *plan, const SeriesFit *fit, int r, bool unused_ok)
{
	const SeriesFit *f = &fit[r];

	if (plan->form[r][0] < 0)
		return true;
	if (f->method == 0 && unused_ok)
		return true;
	return f->method == FIT_ETS && f->error == plan->form[r][0] && f->trend == plan->form[r][1] &&
		f->season == plan->form[r][2] && (f->damped ? 1 : 0) == plan->form[r][3];
}

double
warm_start_fit(WarmPlan *plan, const double *y, int n, int m, const ForecastOptions *o,
			   SeriesFit *fit)
{
	const ForecastMethod *pm = warm_method(plan->method, o, forecast_method_records(o->method));
	ForecastOptions wo = *o;
	EtsOptions *eo = (EtsOptions *) wo.per[forecast_method_index(&ets_method)].bytes;
	bool		ok = pm != NULL;

	if (ok)
	{
		if (pm == &ets_method)
			pin_form(eo, plan->form[0]);
		else if (pm == &combo_method && plan->form[1][0] >= 0)
			pin_form(eo, plan->form[1]);
		(void) pm->fit(y, n, m, &wo, fit);
		if (pm == &ets_method)
			ok = kept_form(plan, fit, 0, false);
		else if (pm == &combo_method)
			ok = kept_form(plan, fit, 1, true);
		/* degraded: the in-sample error grew beyond degrade_ratio times the previous one */
		if (ok && isfinite(plan->prev_mse) && plan->prev_mse > 0 &&
			!(fit[0].mse <= plan->degrade * plan->prev_mse))
			ok = false;
	}
	if (ok)
		return NAN;				/* not validated against other methods this time */
	plan->status = WARM_RESELECT_DEGRADED;
	memset(fit, 0, sizeof(SeriesFit) * forecast_fit_records(o, m));
	return o->method->fit(y, n, m, o, fit);
}

/* ---------- the record ---------- */

void
warm_start_put(ModelBuilder *b, const ForecastPanel *panel, const WarmPlan *plans,
			   const int64 *hash, int ns)
{
	int64	   *selected = palloc(sizeof(int64) * Max(ns, 1)),
			   *status = palloc(sizeof(int64) * Max(ns, 1));
	int64		counts[WARM_NSTATUS] = {0};
	int			dims[1] = {ns};

	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *s = &panel->series[i];
		bool		kept = plans[i].status == WARM_REFIT || plans[i].status == WARM_SKIPPED;

		selected[i] = kept ? plans[i].selected : series_last(panel, s);
		status[i] = plans[i].status;
		counts[plans[i].status]++;
	}
	model_put_int_array(b, MODEL_DATA, "fit_hash", hash, 1, dims);
	model_put_int_array(b, MODEL_DATA, "selected", selected, 1, dims);
	model_put_int_array(b, MODEL_METRICS, "warm_status", status, 1, dims);
	model_put_int(b, MODEL_METRICS, "series_warm", counts[WARM_REFIT]);
	model_put_int(b, MODEL_METRICS, "series_skipped", counts[WARM_SKIPPED]);
	model_put_int(b, MODEL_METRICS, "series_cold", ns - counts[WARM_REFIT] - counts[WARM_SKIPPED]);
	model_put_int(b, MODEL_METRICS, "series_reselected_degraded", counts[WARM_RESELECT_DEGRADED]);
}
