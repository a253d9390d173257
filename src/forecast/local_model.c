/*
 * local_model.c: reading a forecast_fit model back (every series' method code, form,
 * parameters and states), checked as the methods will use it, and what is done with it:
 * the local methods' predict (retailiq.forecast / forecast_all dispatch here through the
 * method table) and retailiq.forecast_model_series.
 *
 * The layout (forecast_fit.c writes it): per series i, series[i], start[i], n[i]; per
 * record r (nrec records per series, series by series: a combination keeps its components
 * after its own record; nrec = 1 for every other method) method[r] (a method's code, 0 for
 * an unused record), spec[r][5] = error, trend, season, damped, m; par[r][7] = alpha, beta,
 * gamma, phi, sigma2, level, slope; seasonal[r][maxm].
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/model.h"
#include "forecast/local_model.h"


/* record r (of every series' records, flat) */
static void
record_of(const StatModel *sm, int i, SeriesFit *f)
{
	int			k;

	memset(f, 0, sizeof(*f));
	f->method = (int) sm->meth[i];
	f->error = (int) sm->spec[i * LOCAL_NSPEC + 0];
	f->trend = (int) sm->spec[i * LOCAL_NSPEC + 1];
	f->season = (int) sm->spec[i * LOCAL_NSPEC + 2];
	f->damped = sm->spec[i * LOCAL_NSPEC + 3] != 0;
	f->m = (int) sm->spec[i * LOCAL_NSPEC + 4];
	f->alpha = sm->par[i * LOCAL_NPAR + 0];
	f->beta = sm->par[i * LOCAL_NPAR + 1];
	f->gamma = sm->par[i * LOCAL_NPAR + 2];
	f->phi = sm->par[i * LOCAL_NPAR + 3];
	f->sigma2 = sm->par[i * LOCAL_NPAR + 4];
	f->level = sm->par[i * LOCAL_NPAR + 5];
	f->slope = sm->par[i * LOCAL_NPAR + 6];
	for (k = 0; k < f->m; k++)
		f->s[k] = sm->seas[(Size) i * sm->maxm + k];
}

/* series i's records into f[0 .. nrec - 1] */
void
local_model_fits(const StatModel *sm, int i, SeriesFit *f)
{
	int			r;

	/* records the model does not have (a layout that grew since) read as unused */
	memset(f, 0, sizeof(SeriesFit) * FORECAST_MAX_RECORDS);
	for (r = 0; r < sm->nrec; r++)
		record_of(sm, i * sm->nrec + r, &f[r]);
}

/*
 * Record r of series i, checked as its method will use it: a model value can be written by
 * hand (its text form is parseable and the checksum is no secret), so a method code, a
 * period or a parameter outside what a fit produces is a corrupt model, not a NaN forecast
 * or a read past the seasonal states. What is common is checked here, the rest by the
 * method (a combination checks its components through their methods). A record after the
 * first may be unused (code 0, all zero); the first never is, and a method is given no
 * more records than it asks for.
 */
static void
check_series_fit(const ModelView *mv, const StatModel *sm, int i, int r)
{
	int			rec = i * sm->nrec + r;
	const ForecastMethod *m = forecast_method_by_code((int) sm->meth[rec]);
	const int64 *sp = sm->spec + (Size) rec * LOCAL_NSPEC;
	const double *p = sm->par + (Size) rec * LOCAL_NPAR;
	SeriesFit	f[FORECAST_MAX_RECORDS];
	const char *why;
	int			k;

	if (r > 0 && sm->meth[rec] == 0)
		return;
	if (m == NULL || m->check == NULL || forecast_method_min_records(m) > sm->nrec - r)
		model_corrupt(mv, "series %d has an invalid description", i);
	for (k = 0; k < LOCAL_NPAR; k++)
		if (!isfinite(p[k]))
			model_corrupt(mv, "A parameter of series %d is not finite.", i);
	for (k = 0; k < sp[4]; k++)
		if (!isfinite(sm->seas[(Size) i * sm->maxm + k]))
			model_corrupt(mv, "A seasonal state of series %d is not finite.", i);
	if (p[4] < 0)
		model_corrupt(mv, "Series %d has a negative variance.", i);
	for (k = 0; k < 4; k++)
		if (sp[k] < 0 || sp[k] > 2 || (k == 3 && sp[k] > 1))
			model_corrupt(mv, "Series %d has an invalid form.", i);
	/* records the model does not have (a layout that grew since) read as unused */
	memset(f, 0, sizeof(f));
	for (k = 0; k < sm->nrec - r; k++)
		record_of(sm, rec + k, &f[k]);
	if ((why = m->check(f)) != NULL)
		model_corrupt(mv, "Series %d has %s.", i, why);
}

static void
open_local(FunctionCallInfo fcinfo, StatModel *sm)
{
	local_model_read(model_open_cached(fcinfo, 0, MODEL_KIND_ANY), sm);
}

/*
 * The validation evidence (forecast_fit.c, put_evidence), when the model has it: no forecast
 * reads it, but what model_info shows must still be what a fit could write: as many names
 * as candidates (1 to FORECAST_MAX_EVIDENCE), a WAPE per series and candidate, NaN or >= 0.
 */
static void
check_evidence(const ModelView *mv, int ns)
{
	int			nc,
				dims[2],
				i;
	const double *w;

	/* the calibration's evidence, when there is any: shares in [0, 1] */
	for (i = 0; i < 2; i++)
	{
		const char *key = i == 0 ? "validation_coverage" : "validation_coverage_calibrated";

		if (model_find(mv, MODEL_METRICS, key) != NULL)
		{
			double		c = model_get_float(mv, MODEL_METRICS, key);

			if (!(c >= 0 && c <= 1))
				model_corrupt(mv, "The %s is %g, not a share.", key, c);
		}
	}
	if (model_find(mv, MODEL_METRICS, "validation_candidates") == NULL &&
		model_find(mv, MODEL_METRICS, "validation_wape") == NULL &&
		model_find(mv, MODEL_METRICS, "validation_wape_pooled") == NULL)
		return;
	(void) model_get_text_array(mv, MODEL_METRICS, "validation_candidates", &nc);
	if (nc < 1 || nc > FORECAST_MAX_EVIDENCE)
		model_corrupt(mv, "%d validation candidates", nc);
	dims[0] = ns;
	dims[1] = nc;
	w = model_get_float_array(mv, MODEL_METRICS, "validation_wape", 2, dims);
	for (i = 0; i < ns * nc; i++)
		if (!(isnan(w[i]) || (w[i] >= 0 && isfinite(w[i]))))
			model_corrupt(mv, "A validation WAPE of series %d is %g.", i / nc, w[i]);
	dims[0] = nc;
	w = model_get_float_array(mv, MODEL_METRICS, "validation_wape_pooled", 1, dims);
	for (i = 0; i < nc; i++)
		if (!(isnan(w[i]) || (w[i] >= 0 && isfinite(w[i]))))
			model_corrupt(mv, "The pooled validation WAPE of candidate %d is %g.", i, w[i]);
	/* a panel's choice among member sets (combo): names, a pooled WAPE each, one chosen */
	if (model_find(mv, MODEL_METRICS, "validation_member_sets") != NULL ||
		model_find(mv, MODEL_METRICS, "validation_member_sets_wape_pooled") != NULL ||
		model_find(mv, MODEL_METRICS, "validation_member_set") != NULL)
	{
		char	  **names = model_get_text_array(mv, MODEL_METRICS, "validation_member_sets", &nc);
		char	   *chosen = model_get_text(mv, MODEL_METRICS, "validation_member_set");
		bool		known = false;

		if (nc < 1 || nc > FORECAST_MAX_EVIDENCE)
			model_corrupt(mv, "%d member sets", nc);
		dims[0] = nc;
		w = model_get_float_array(mv, MODEL_METRICS, "validation_member_sets_wape_pooled", 1, dims);
		for (i = 0; i < nc; i++)
		{
			if (!(isnan(w[i]) || (w[i] >= 0 && isfinite(w[i]))))
				model_corrupt(mv, "The pooled validation WAPE of member set %d is %g.", i, w[i]);
			known = known || strcmp(names[i], chosen) == 0;
		}
		if (!known)
			model_corrupt(mv, "The chosen member set \"%s\" is not among the sets.", chosen);
	}
}

void
local_model_read(const ModelView *mv, StatModel *sm)
{
	const ForecastMethod *kind_method = forecast_method_by_kind(mv->kind);
	int			dims[2];
	int			n;
	char	   *freq;
	int			i,
				r;

	if (kind_method == NULL || kind_method->scope != METHOD_LOCAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model is not a forecasting model"),
				 errhint("Train one with retailiq.forecast_fit or retailiq.forecast_lstm_fit.")));
	freq = model_get_text(mv, MODEL_PARAMS, "frequency");
	sm->freq = series_freq_parse(freq, "the model's frequency");
	sm->level = model_get_float(mv, MODEL_PARAMS, "level");
	sm->seed = model_get_int(mv, MODEL_PARAMS, "seed");
	sm->nonneg = model_get_bool(mv, MODEL_PARAMS, "nonneg");
	sm->keys = model_get_text_array(mv, MODEL_DATA, "series", &n);
	sm->ns = n;
	dims[0] = n;
	sm->start = model_get_int_array(mv, MODEL_DATA, "start", 1, dims);
	sm->len = model_get_int_array(mv, MODEL_DATA, "n", 1, dims);
	dims[0] = -1;
	sm->meth = model_get_int_array(mv, MODEL_DATA, "method", 1, dims);
	if (n < 1 || dims[0] % n != 0 || dims[0] / n < 1 || dims[0] / n > FORECAST_MAX_RECORDS)
		model_corrupt(mv, "%d method codes for %d series", dims[0], n);
	sm->nrec = dims[0] / n;
	dims[1] = LOCAL_NSPEC;
	sm->spec = model_get_int_array(mv, MODEL_DATA, "spec", 2, dims);
	dims[1] = LOCAL_NPAR;
	sm->par = model_get_float_array(mv, MODEL_DATA, "par", 2, dims);
	dims[1] = -1;
	sm->seas = model_get_float_array(mv, MODEL_DATA, "seasonal", 2, dims);
	sm->maxm = dims[1];
	if (!(sm->level > 0 && sm->level < 1) || sm->maxm < 1 || sm->maxm > FIT_MAX_M)
		model_corrupt(mv, "level %g, season width %d", sm->level, sm->maxm);
	for (i = 0; i < n; i++)
	{
		if (sm->len[i] < 1 || sm->len[i] > PG_INT32_MAX / 2 || !IS_VALID_DATE(sm->start[i]) ||
			(i > 0 && strcmp(sm->keys[i - 1], sm->keys[i]) >= 0))
			model_corrupt(mv, "series %d has an invalid description", i);
		for (r = 0; r < sm->nrec; r++)
		{
			int			rec = i * sm->nrec + r;
			int64		mi = sm->spec[(Size) rec * LOCAL_NSPEC + 4];
			bool		unused = r > 0 && sm->meth[rec] == 0;

			if ((!unused && forecast_method_by_code((int) sm->meth[rec]) == NULL) ||
				(!unused && (mi < 1 || mi > sm->maxm)) || (unused && mi > sm->maxm))
				model_corrupt(mv, "series %d has an invalid description", i);
			check_series_fit(mv, sm, i, r);
		}
	}
	check_evidence(mv, n);
}

static void
emit_series(ReturnSetInfo *rsi, const StatModel *sm, int i, int h, bool with_key)
{
	SeriesFit	f[FORECAST_MAX_RECORDS];
	RiqRng		rng;
	double	   *yhat = palloc(sizeof(double) * h);
	double	   *lo = palloc(sizeof(double) * h);
	double	   *hi = palloc(sizeof(double) * h);
	int			t;

	local_model_fits(sm, i, f);
	riq_rng_seed(&rng, (uint64) sm->seed, (uint64) i);
	fit_forecast(f, h, sm->level, sm->nonneg, &rng, yhat, lo, hi);
	for (t = 0; t < h; t++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		int			c = 0;

		if (with_key)
			values[c++] = CStringGetTextDatum(sm->keys[i]);
		values[c++] = Int32GetDatum(t + 1);
		values[c++] = DateADTGetDatum(series_date_add(sm->freq, (DateADT) sm->start[i],
													  (int) sm->len[i] - 1 + t + 1));
		values[c++] = Float8GetDatum(yhat[t]);
		values[c++] = Float8GetDatum(lo[t]);
		values[c++] = Float8GetDatum(hi[t]);
		tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
	}
	pfree(yhat);
	pfree(lo);
	pfree(hi);
}

/*
 * forecast(model, series, horizon, future_exog) or forecast_all(model, horizon,
 * future_exog) for a forecast_fit model; the dispatch (methods.c) has checked the NULLs
 * and the horizon. The local methods take no factors: future_exog is not read.
 */
Datum
forecast_local_predict(FunctionCallInfo fcinfo, bool all)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	StatModel	sm;
	int			h = PG_GETARG_INT32(all ? 1 : 2),
				i;

	open_local(fcinfo, &sm);
	if (!all)
	{
		char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(1));

		i = series_key_index(sm.keys, sm.ns, key);
		if (i < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("series \"%s\" is not in the model", key),
					 errdetail("The model has %d series.", sm.ns),
					 errhint("retailiq.forecast_model_series(model) lists them; train with this series to forecast it.")));
		InitMaterializedSRF(fcinfo, 0);
		emit_series(rsi, &sm, i, h, false);
		PG_RETURN_NULL();
	}
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < sm.ns; i++)
	{
		CHECK_FOR_INTERRUPTS();
		emit_series(rsi, &sm, i, h, true);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(forecast_model_series);

/* forecast_model_series(model) -> (series, method, n, alpha, beta, gamma, phi, sigma2, aicc, season) */
Datum
forecast_model_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	StatModel	sm;
	ModelView  *mv;
	double	   *aicc;
	int			dims[1];
	int			i;

	open_local(fcinfo, &sm);
	mv = model_open_cached(fcinfo, 0, MODEL_KIND_ANY);
	dims[0] = sm.ns;
	aicc = model_get_float_array(mv, MODEL_METRICS, "aicc", 1, dims);
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < sm.ns; i++)
	{
		SeriesFit	fr[FORECAST_MAX_RECORDS];
		SeriesFit  *fp = fr;
		char		buf[16];
		Datum		values[10];
		bool		nulls[10] = {0};
		bool		shown[4];
		const ForecastMethod *m;

		local_model_fits(&sm, i, fr);
		m = forecast_method_by_code(fp->method);
		memset(shown, 0, sizeof(shown));
		if (m->shown != NULL)
			m->shown(fp, shown);
		values[0] = CStringGetTextDatum(sm.keys[i]);
		values[1] = CStringGetTextDatum(m->label(fp, buf));
		values[2] = Int32GetDatum((int32) sm.len[i]);
		values[3] = Float8GetDatum(fp->alpha);
		values[4] = Float8GetDatum(fp->beta);
		values[5] = Float8GetDatum(fp->gamma);
		values[6] = Float8GetDatum(fp->phi);
		for (int k = 0; k < 4; k++)
			nulls[3 + k] = !shown[k];
		values[7] = Float8GetDatum(fp->sigma2);
		values[8] = Float8GetDatum(aicc[i]);
		nulls[8] = isnan(aicc[i]);
		values[9] = Int32GetDatum(m->season != NULL ? m->season(fp) : fp->m);
		tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
