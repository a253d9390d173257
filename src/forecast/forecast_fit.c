/*
 * forecast_fit.c: the retailiq.forecast_fit aggregate (seasonal naive, ETS, Croston, SBA,
 * auto) and the predict functions behind retailiq.forecast / forecast_all for its models.
 *
 * One model holds every series of the group: per series its method code, ETS form,
 * parameters and final state, so predicting needs nothing but the model. The rows go
 * through the shared series collector (series.c), which makes the fit independent of the
 * row order and of the plan (serial or parallel).
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/arrays.h"
#include "core/model.h"
#include "forecast/baselines.h"
#include "forecast/series.h"

PG_FUNCTION_INFO_V1(forecast_fit_sfunc);
PG_FUNCTION_INFO_V1(forecast_fit_final);
PG_FUNCTION_INFO_V1(forecast_stat_predict);
PG_FUNCTION_INFO_V1(forecast_stat_predict_all);
PG_FUNCTION_INFO_V1(forecast_model_series);

#define NPAR 7					/* alpha, beta, gamma, phi, sigma2, level, slope */
#define NSPEC 5					/* error, trend, season, damped, m */
#define MAX_HORIZON 100000

typedef enum FitRequest
{
	REQ_SNAIVE,
	REQ_ETS,
	REQ_CROSTON,
	REQ_SBA,
	REQ_AUTO
} FitRequest;

typedef struct FitOptions
{
	FitRequest	req;
	const char *method;
	double		level;
	int			season;			/* 0 = from the frequency */
	int64		seed;
	double		croston_alpha;
	int			validation;		/* 0 = the season */
	EtsOptions	ets;
	SeriesOptions series;
	bool		verbose;		/* progress NOTICEs */
	bool		short_error;	/* a series too short for the method: ERROR (else fall back) */
} FitOptions;

/*
 * The fewest observations of a series each method is fitted on (doc/forecast.md, "Short
 * series"): ETS needs 5 for its smallest form to have an AICc (n > parameters + 2).
 */
#define ETS_MIN_LENGTH 5

static const char *method_name(const SeriesFit *f, char *buf);

static const char *const fit_option_keys[] = {
	"level", "season", "seed", "croston_alpha", "validation", "maxit", "ets_model", "damped",
	"multiplicative", "verbose", "short", NULL
};

/* ---------- options ---------- */

static double
opt_number(Jsonb *j, const char *key, double dflt, double lo, double hi, bool integer,
		   const char *what)
{
	JsonbValue *v = series_option_value(j, key);
	double		f;

	if (v == NULL)
		return dflt;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be a number", key),
				 errhint("%s", what)));
	f = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!(f >= lo && f <= hi) || (integer && f != floor(f)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s is out of range", key),
				 errdetail("It is %g.", f),
				 errhint("%s", what)));
	return f;
}

static void
parse_ets_model(const char *s, EtsOptions *o)
{
	const char *p = s;

	if (*p == 'A' || *p == 'M')
		o->error = *p == 'A' ? ETS_ADD : ETS_MULT;
	else if (*p != 'Z')
		goto bad;
	p++;
	if (p[0] == 'A' && p[1] == 'd')
	{
		o->trend = ETS_ADD;
		o->damped = 1;
		p += 2;
	}
	else if (*p == 'A' || *p == 'N')
	{
		o->trend = *p == 'A' ? ETS_ADD : ETS_NONE;
		o->damped = 0;
		p++;
	}
	else if (*p == 'Z')
		p++;
	else
		goto bad;
	if (*p == 'N' || *p == 'A' || *p == 'M')
		o->season = *p == 'N' ? ETS_NONE : (*p == 'A' ? ETS_ADD : ETS_MULT);
	else if (*p != 'Z')
		goto bad;
	p++;
	if (*p != '\0')
		goto bad;
	if (o->error == ETS_ADD && o->season == ETS_MULT)
	{
		char	   *alt = pstrdup(s);

		alt[0] = 'M';
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.ets_model \"%s\" is not allowed: additive error with multiplicative season", s),
				 errhint("Multiplicative seasons need multiplicative errors: use \"%s\".", alt)));
	}
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("options.ets_model must spell error, trend and season, like \"ZZZ\", \"MAdM\" or \"ANN\""),
			 errdetail("It is \"%s\".", s),
			 errhint("Error A, M or Z; trend N, A, Ad or Z; season N, A, M or Z (Z = choose by AICc).")));
}

static void
parse_options(const char *method, Jsonb *j, FitOptions *o)
{
	JsonbValue *v;

	memset(o, 0, sizeof(*o));
	o->method = method;
	if (strcmp(method, "snaive") == 0)
		o->req = REQ_SNAIVE;
	else if (strcmp(method, "ets") == 0)
		o->req = REQ_ETS;
	else if (strcmp(method, "croston") == 0)
		o->req = REQ_CROSTON;
	else if (strcmp(method, "sba") == 0)
		o->req = REQ_SBA;
	else if (strcmp(method, "auto") == 0)
		o->req = REQ_AUTO;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("method must be 'snaive', 'ets', 'croston', 'sba' or 'auto'"),
				 errdetail("It is '%s'.", method),
				 errhint("For the neural network use retailiq.forecast_lstm_fit.")));
	series_check_option_keys(j, fit_option_keys, "forecast_fit");
	series_options_from_jsonb(j, &o->series);
	o->level = opt_number(j, "level", 0.8, 1e-6, 1 - 1e-6, false,
						  "The interval coverage is a probability such as 0.8 or 0.95.");
	if (!(o->level > 0 && o->level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.level must be between 0 and 1")));
	o->season = (int) opt_number(j, "season", 0, 1, FIT_MAX_M, true,
								 "The season is a whole number of periods from 1 (none) to 64.");
	o->seed = (int64) opt_number(j, "seed", 42, 0, 9007199254740992.0, true,
								 "The seed is a non-negative integer.");
	o->croston_alpha = opt_number(j, "croston_alpha", 0.1, 0, 1, false,
								  "A smoothing weight between 0 and 1 (0 = chosen by in-sample error).");
	o->validation = (int) opt_number(j, "validation", 0, 1, 100000, true,
									 "The number of final periods auto holds out to compare methods.");
	ets_default_options(&o->ets);
	o->ets.maxit = (int) opt_number(j, "maxit", 5000, 50, 1000000, true,
									"Nelder-Mead evaluations per ETS form, 50 or more.");
	if ((v = series_option_value(j, "ets_model")) != NULL)
	{
		if (v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.ets_model must be a string such as \"ZZZ\"")));
		parse_ets_model(pnstrdup(v->val.string.val, v->val.string.len), &o->ets);
	}
	if ((v = series_option_value(j, "damped")) != NULL)
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.damped must be true or false")));
		o->ets.allow_damped = v->val.boolean;
	}
	if ((v = series_option_value(j, "multiplicative")) != NULL)
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.multiplicative must be true or false")));
		o->ets.allow_mult = v->val.boolean;
	}
	if ((v = series_option_value(j, "verbose")) != NULL)
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.verbose must be true or false")));
		o->verbose = v->val.boolean;
	}
	/* 'auto' serves nightly refreshes over many series: it falls back; a named method refuses */
	o->short_error = o->req != REQ_AUTO;
	if ((v = series_option_value(j, "short")) != NULL)
	{
		char	   *sv = v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;

		if (sv != NULL && strcmp(sv, "error") == 0)
			o->short_error = true;
		else if (sv != NULL && strcmp(sv, "fallback") == 0)
			o->short_error = false;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.short must be \"error\" or \"fallback\""),
					 errhint("\"error\" refuses a series too short for the method, \"fallback\" fits it with a simpler one and says so in a NOTICE.")));
	}
}

/* ---------- short series ---------- */

/*
 * The fewest periods series y needs for what was asked (0 when it has enough). Seasonal
 * naive needs two seasons (one season of seasonal differences for its interval), naive two
 * periods; ETS five, and two seasons for a seasonal form named in ets_model; Croston and SBA
 * two periods with one after the first sale (else no in-sample error: an interval of zero
 * width); auto what ETS needs.
 */
static int
short_need(FitRequest req, const double *y, int n, int m, const FitOptions *o)
{
	int			need = 2;
	int			t;

	switch (req)
	{
		case REQ_SNAIVE:
			need = m > 1 ? 2 * m : 2;
			break;
		case REQ_ETS:
		case REQ_AUTO:
			need = ETS_MIN_LENGTH;
			if (req == REQ_ETS && o->ets.season > ETS_NONE && m >= 2 && m <= ETS_MAX_SEASON)
				need = Max(need, 2 * m);
			break;
		case REQ_CROSTON:
		case REQ_SBA:
			need = 2;
			for (t = 0; t < n && y[t] == 0; t++)
				;
			if (t == n - 1 && n >= need)
				return n + 1;	/* the only sale is the last period */
			break;
	}
	return n < need ? need : 0;
}

/*
 * A series too short for the method, with the fallback (options.short "fallback", the
 * default of 'auto'): seasonal naive becomes the plain naive forecast, every other method the
 * mean, both with an interval from at least one in-sample error. A single period has none:
 * the series is left out of the model (false). Nothing here is silent: the caller names
 * every such series in a NOTICE.
 */
static bool
fit_short(FitRequest req, const double *y, int n, SeriesFit *fit)
{
	if (n < 2)
		return false;
	if (req == REQ_SNAIVE)
		snaive_fit(y, n, 1, fit);
	else
		mean_fit(y, n, fit);
	return true;
}

/* ---------- fitting ---------- */

static void
fit_request(FitRequest req, const double *y, int n, int m, const FitOptions *o, SeriesFit *fit)
{
	switch (req)
	{
		case REQ_SNAIVE:
			snaive_fit(y, n, m, fit);
			return;
		case REQ_CROSTON:
		case REQ_SBA:
			croston_fit(y, n, o->croston_alpha, req == REQ_SBA, fit);
			return;
		case REQ_ETS:
			if (ets_fit(y, n, m, &o->ets, fit))
				return;
			/* constant or too short for any ETS form */
			if (n > m && m > 1 && n >= 2 * m)
				snaive_fit(y, n, m, fit);
			else
				mean_fit(y, n, fit);
			{
				bool		constant = true;
				int			t;

				for (t = 1; t < n; t++)
					if (y[t] != y[0])
						constant = false;
				if (constant)
					mean_fit(y, n, fit);
			}
			return;
		case REQ_AUTO:
			break;
	}
	elog(ERROR, "unexpected fit request");
}

/* auto: the method with the lowest mean absolute error over a held-out tail */
static double
fit_auto(const double *y, int n, int m, const FitOptions *o, SeriesFit *fit)
{
	int			v = o->validation > 0 ? o->validation : Max(m, 7);
	int			zeros = 0,
				t,
				c;
	FitRequest	cand[4];
	int			ncand = 0;
	FitRequest	best = REQ_ETS;
	double		best_mae = HUGE_VAL;
	double	   *yhat,
			   *lo,
			   *hi;
	RiqRng		rng;

	for (t = 0; t < n; t++)
		if (y[t] == 0)
			zeros++;
	cand[ncand++] = REQ_ETS;
	cand[ncand++] = REQ_SNAIVE;
	if (zeros >= 0.3 * n)
	{
		cand[ncand++] = REQ_CROSTON;
		cand[ncand++] = REQ_SBA;
	}
	if (n - v < Max(2 * m, 8))
	{
		fit_request(zeros >= 0.3 * n ? REQ_SBA : REQ_ETS, y, n, m, o, fit);
		return NAN;
	}
	yhat = palloc(sizeof(double) * v);
	lo = palloc(sizeof(double) * v);
	hi = palloc(sizeof(double) * v);
	for (c = 0; c < ncand; c++)
	{
		SeriesFit	f;
		double		mae = 0;

		fit_request(cand[c], y, n - v, m, o, &f);
		/* point forecasts only: the interval is not compared */
		riq_rng_seed(&rng, o->seed, 0);
		if (f.method == FIT_ETS)
		{
			ets_point(&f, v, yhat);
			if (!o->series.allow_negative)
				for (t = 0; t < v; t++)
					yhat[t] = Max(yhat[t], 0);
		}
		else
			fit_forecast(&f, v, o->level, !o->series.allow_negative, &rng, yhat, lo, hi);
		for (t = 0; t < v; t++)
			mae += fabs(y[n - v + t] - yhat[t]);
		mae /= v;
		if (mae < best_mae)
		{
			best_mae = mae;
			best = cand[c];
		}
	}
	pfree(yhat);
	pfree(lo);
	pfree(hi);
	fit_request(best, y, n, m, o, fit);
	return best_mae;
}

/* ---------- the aggregate ---------- */

Datum
forecast_fit_sfunc(PG_FUNCTION_ARGS)
{
	SeriesCollector *st;
	StringInfoData buf;

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL"),
				 errhint("Use 'ets', 'snaive', 'croston', 'sba' or 'auto'.")));
	st = series_collect_sfunc(fcinfo, 0);
	/* method and options travel with the rows (the first row's, checked equal in the rest) */
	initStringInfo(&buf);
	appendStringInfoString(&buf, text_to_cstring(PG_GETARG_TEXT_PP(4)));
	appendStringInfoChar(&buf, '\n');
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
	{
		Jsonb	   *j = PG_GETARG_JSONB_P(5);

		appendStringInfoString(&buf, JsonbToCString(NULL, &j->root, VARSIZE(j)));
	}
	series_collect_set_options(st, buf.data);
	pfree(buf.data);
	PG_RETURN_POINTER(st);
}

static ModelKind
request_kind(FitRequest r)
{
	switch (r)
	{
		case REQ_SNAIVE:
			return MODEL_KIND_SEASONAL_NAIVE;
		case REQ_ETS:
			return MODEL_KIND_ETS;
		case REQ_CROSTON:
		case REQ_SBA:
			return MODEL_KIND_CROSTON;
		case REQ_AUTO:
			return MODEL_KIND_FORECAST_ENSEMBLE;
	}
	return MODEL_KIND_ETS;
}

Datum
forecast_fit_final(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	const char *opts = series_collect_options(st);
	const char *nl;
	char	   *method;
	Jsonb	   *j = NULL;
	FitOptions	o;
	ForecastPanel *panel;
	SeriesFit  *fits;
	MemoryContext work,
				old;
	ModelBuilder *b;
	int			ns,
				i,
				k,
				m,
				maxm = 1;
	const char **keys;
	int64	   *start,
			   *len,
			   *meth,
			   *spec;
	double	   *par,
			   *seas,
			   *loglik,
			   *aicc,
			   *mse,
			   *vmae;
	int			dims[2];
	bytea	   *result;
	instr_time	t0;
	bool	   *keep;
	int			nkeep = 0,
				nshort = 0,
				first_need = 0,
				first_n = 0;
	const char *first_short = NULL;
	StringInfoData shorts;

	if (st == NULL || opts == NULL)
		PG_RETURN_NULL();
	nl = strchr(opts, '\n');
	if (nl == NULL)
		elog(ERROR, "forecast_fit state without a method");
	method = pnstrdup(opts, nl - opts);
	if (nl[1] != '\0')
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(nl + 1)));
	parse_options(method, j, &o);

	work = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	panel = series_collect_finish(st, &o.series);
	if (panel == NULL)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(work);
		PG_RETURN_NULL();
	}
	m = o.season > 0 ? o.season : panel->season;
	ns = panel->nseries;
	fits = palloc0(sizeof(SeriesFit) * ns);
	vmae = palloc(sizeof(double) * ns);
	INSTR_TIME_SET_CURRENT(t0);
	keep = palloc(sizeof(bool) * ns);
	initStringInfo(&shorts);
	for (i = 0; i < ns; i++)
	{
		const ForecastSeries *s = &panel->series[i];
		int			need = short_need(o.req, s->y, s->n, m, &o);

		CHECK_FOR_INTERRUPTS();
		vmae[i] = NAN;
		keep[i] = true;
		if (need > 0)
		{
			const char *unit = series_freq_name(panel->freq);

			if (o.short_error)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("series \"%s\" is too short for method '%s'", s->key, o.method),
						 errdetail("It has %d %s%s; '%s' needs at least %d%s.", s->n, unit,
								   s->n == 1 ? "" : "s", o.method, need,
								   (o.req == REQ_CROSTON || o.req == REQ_SBA) ?
								   ", one of them after the first sale" : ""),
						 errhint("Use method 'auto' or the option \"short\": \"fallback\" to fit short series with a simpler method (named in a NOTICE), or leave them out (for instance HAVING count(*) >= %d).",
								 need)));
			keep[i] = fit_short(o.req, s->y, s->n, &fits[i]);
			if (nshort < 10)
			{
				char		buf[16];

				appendStringInfo(&shorts, "%s\"%s\" (%d %s%s): %s", nshort ? "; " : "", s->key,
								 s->n, unit, s->n == 1 ? "" : "s",
								 keep[i] ? method_name(&fits[i], buf) : "left out");
			}
			if (nshort == 0)
			{
				first_short = s->key;
				first_need = need;
				first_n = s->n;
			}
			nshort++;
		}
		else if (o.req == REQ_AUTO)
			vmae[i] = fit_auto(s->y, s->n, m, &o, &fits[i]);
		else
			fit_request(o.req, s->y, s->n, m, &o, &fits[i]);
		if (keep[i])
			nkeep++;
		maxm = Max(maxm, fits[i].m);
		/* progress: about every tenth of the series (always at DEBUG1) */
		if ((i + 1) % Max(ns / 10, 1) == 0 || i + 1 == ns)
		{
			instr_time	now;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, t0);
			ereport(o.verbose ? NOTICE : DEBUG1,
					(errmsg("forecast_fit: %d of %d series fitted (%.1f s)",
							i + 1, ns, INSTR_TIME_GET_DOUBLE(now))));
		}
	}

	if (nshort > 0)
	{
		if (nkeep == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("every series is too short for forecast_fit: series \"%s\" has %d %s",
							first_short, first_n, series_freq_name(panel->freq)),
					 errdetail("A series needs at least 2 periods for a forecast with an interval; '%s' needs %d.",
							   o.method, first_need),
					 errhint("Collect more history before forecasting these series.")));
		ereport(NOTICE,
				(errmsg("forecast_fit: series \"%s\"%s too short for method '%s'",
						first_short, nshort > 1 ? psprintf(" and %d more are", nshort - 1) : " is",
						o.method),
				 errdetail("%s%s.", shorts.data, nshort > 10 ? psprintf("; and %d more", nshort - 10) : ""),
				 errhint("'%s' needs at least %d periods per series: shorter ones get a simpler method (seasonal naive the naive forecast, the others the mean), a single period none. The option \"short\": \"error\" refuses them instead.",
						 o.method, first_need)));
	}
	/* the model holds the series kept, in panel (key) order */
	for (i = 0, k = 0; i < ns; i++)
		if (keep[i])
		{
			fits[k] = fits[i];
			vmae[k] = vmae[i];
			panel->series[k] = panel->series[i];
			k++;
		}
	ns = nkeep;
	keys = palloc(sizeof(char *) * ns);
	start = palloc(sizeof(int64) * ns);
	len = palloc(sizeof(int64) * ns);
	meth = palloc(sizeof(int64) * ns);
	spec = palloc(sizeof(int64) * ns * NSPEC);
	par = palloc(sizeof(double) * ns * NPAR);
	seas = palloc0(sizeof(double) * ns * maxm);
	loglik = palloc(sizeof(double) * ns);
	aicc = palloc(sizeof(double) * ns);
	mse = palloc(sizeof(double) * ns);
	for (i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[i];

		keys[i] = panel->series[i].key;
		start[i] = panel->series[i].start;
		len[i] = panel->series[i].n;
		meth[i] = f->method;
		spec[i * NSPEC + 0] = f->error;
		spec[i * NSPEC + 1] = f->trend;
		spec[i * NSPEC + 2] = f->season;
		spec[i * NSPEC + 3] = f->damped ? 1 : 0;
		spec[i * NSPEC + 4] = Max(f->m, 1);
		par[i * NPAR + 0] = f->alpha;
		par[i * NPAR + 1] = f->beta;
		par[i * NPAR + 2] = f->gamma;
		par[i * NPAR + 3] = f->phi;
		par[i * NPAR + 4] = f->sigma2;
		par[i * NPAR + 5] = f->level;
		par[i * NPAR + 6] = f->slope;
		for (k = 0; k < f->m && k < maxm; k++)
			seas[i * maxm + k] = f->s[k];
		loglik[i] = f->method == FIT_ETS ? f->loglik : NAN;
		aicc[i] = f->method == FIT_ETS ? f->aicc : NAN;
		mse[i] = f->mse;
	}

	MemoryContextSwitchTo(old);
	b = model_begin(request_kind(o.req));
	model_put_text(b, MODEL_PARAMS, "method", o.method);
	model_put_text(b, MODEL_PARAMS, "frequency", series_freq_name(panel->freq));
	model_put_int(b, MODEL_PARAMS, "season", m);
	model_put_float(b, MODEL_PARAMS, "level", o.level);
	model_put_int(b, MODEL_PARAMS, "seed", o.seed);
	model_put_bool(b, MODEL_PARAMS, "nonneg", !o.series.allow_negative);
	if (j != NULL)
		model_put_text(b, MODEL_PARAMS, "options", nl + 1);
	model_put_int(b, MODEL_METRICS, "nseries", ns);
	model_put_int(b, MODEL_METRICS, "rows", series_collect_rows(st));
	dims[0] = ns;
	model_put_float_array(b, MODEL_METRICS, "loglik", loglik, 1, dims);
	model_put_float_array(b, MODEL_METRICS, "aicc", aicc, 1, dims);
	model_put_float_array(b, MODEL_METRICS, "mse", mse, 1, dims);
	if (o.req == REQ_AUTO)
		model_put_float_array(b, MODEL_METRICS, "validation_mae", vmae, 1, dims);
	model_put_text_array(b, MODEL_DATA, "series", keys, ns);
	model_put_int_array(b, MODEL_DATA, "start", start, 1, dims);
	model_put_int_array(b, MODEL_DATA, "n", len, 1, dims);
	model_put_int_array(b, MODEL_DATA, "method", meth, 1, dims);
	dims[1] = NSPEC;
	model_put_int_array(b, MODEL_DATA, "spec", spec, 2, dims);
	dims[1] = NPAR;
	model_put_float_array(b, MODEL_DATA, "par", par, 2, dims);
	dims[1] = maxm;
	model_put_float_array(b, MODEL_DATA, "seasonal", seas, 2, dims);
	result = model_finish(b);
	MemoryContextDelete(work);
	PG_RETURN_BYTEA_P(result);
}

/* ---------- predicting ---------- */

typedef struct StatModel
{
	ForecastFreq freq;
	double		level;
	int64		seed;
	bool		nonneg;
	int			ns;
	int			maxm;
	char	  **keys;
	int64	   *start,
			   *len,
			   *meth,
			   *spec;
	double	   *par,
			   *seas;
} StatModel;

/*
 * The parameters of series i, checked as fit_forecast will use them: a model value can be
 * written by hand (its text form is parseable and the checksum is no secret), so a form code,
 * a period or a parameter outside what a fit produces is a corrupt model, not a NaN forecast
 * or a read past the seasonal states.
 */
static void
check_series_fit(const ModelView *mv, const StatModel *sm, int i)
{
	const int64 *sp = sm->spec + (Size) i * NSPEC;
	const double *p = sm->par + (Size) i * NPAR;
	int			method = (int) sm->meth[i];
	int64		m = sp[4];
	double		alpha = p[0],
				beta = p[1],
				gamma = p[2],
				phi = p[3],
				sigma2 = p[4];
	int			k;

	for (k = 0; k < NPAR; k++)
		if (!isfinite(p[k]))
			model_corrupt(mv, "A parameter of series %d is not finite.", i);
	for (k = 0; k < m; k++)
		if (!isfinite(sm->seas[(Size) i * sm->maxm + k]))
			model_corrupt(mv, "A seasonal state of series %d is not finite.", i);
	if (sigma2 < 0)
		model_corrupt(mv, "Series %d has a negative variance.", i);
	switch (method)
	{
		case FIT_ETS:
			if ((sp[0] != ETS_ADD && sp[0] != ETS_MULT) ||
				(sp[1] != ETS_NONE && sp[1] != ETS_ADD) ||
				(sp[2] != ETS_NONE && sp[2] != ETS_ADD && sp[2] != ETS_MULT) ||
				(sp[3] != 0 && sp[3] != 1) || (sp[3] == 1 && sp[1] == ETS_NONE) ||
				(sp[2] != ETS_NONE ? (m < 2 || m > ETS_MAX_SEASON) : m != 1))
				model_corrupt(mv, "Series %d has an invalid ETS form.", i);
			if (!(alpha > 0 && alpha <= 1) || !(beta >= 0 && beta <= 1) ||
				!(gamma >= 0 && gamma <= 1) || (sp[3] == 1 && !(phi > 0 && phi <= 1)))
				model_corrupt(mv, "Series %d has ETS smoothing parameters outside [0, 1].", i);
			break;
		case FIT_CROSTON:
		case FIT_SBA:
			if (!(alpha > 0 && alpha <= 1) || p[6] < 0 || m != 1)
				model_corrupt(mv, "Series %d has invalid Croston parameters.", i);
			break;
		case FIT_SNAIVE:
		case FIT_MEAN:
			if (method == FIT_MEAN && m != 1)
				model_corrupt(mv, "Series %d has a season with the mean method.", i);
			break;
	}
}

static void
open_stat(FunctionCallInfo fcinfo, StatModel *sm)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_ANY);
	int			dims[2];
	int			n;
	char	   *freq;
	int			i;

	if (mv->kind != MODEL_KIND_ETS && mv->kind != MODEL_KIND_SEASONAL_NAIVE &&
		mv->kind != MODEL_KIND_CROSTON && mv->kind != MODEL_KIND_FORECAST_ENSEMBLE)
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
	sm->meth = model_get_int_array(mv, MODEL_DATA, "method", 1, dims);
	dims[1] = NSPEC;
	sm->spec = model_get_int_array(mv, MODEL_DATA, "spec", 2, dims);
	dims[1] = NPAR;
	sm->par = model_get_float_array(mv, MODEL_DATA, "par", 2, dims);
	dims[1] = -1;
	sm->seas = model_get_float_array(mv, MODEL_DATA, "seasonal", 2, dims);
	sm->maxm = dims[1];
	if (!(sm->level > 0 && sm->level < 1) || sm->maxm < 1 || sm->maxm > FIT_MAX_M)
		model_corrupt(mv, "level %g, season width %d", sm->level, sm->maxm);
	for (i = 0; i < n; i++)
	{
		int64		mi = sm->spec[i * NSPEC + 4];

		if (sm->meth[i] < FIT_SNAIVE || sm->meth[i] > FIT_MEAN || mi < 1 || mi > sm->maxm ||
			sm->len[i] < 1 || sm->len[i] > PG_INT32_MAX / 2 || !IS_VALID_DATE(sm->start[i]) ||
			(i > 0 && strcmp(sm->keys[i - 1], sm->keys[i]) >= 0))
			model_corrupt(mv, "series %d has an invalid description", i);
		check_series_fit(mv, sm, i);
	}
}

static void
series_fit_of(const StatModel *sm, int i, SeriesFit *f)
{
	int			k;

	memset(f, 0, sizeof(*f));
	f->method = (int) sm->meth[i];
	f->error = (int) sm->spec[i * NSPEC + 0];
	f->trend = (int) sm->spec[i * NSPEC + 1];
	f->season = (int) sm->spec[i * NSPEC + 2];
	f->damped = sm->spec[i * NSPEC + 3] != 0;
	f->m = (int) sm->spec[i * NSPEC + 4];
	f->alpha = sm->par[i * NPAR + 0];
	f->beta = sm->par[i * NPAR + 1];
	f->gamma = sm->par[i * NPAR + 2];
	f->phi = sm->par[i * NPAR + 3];
	f->sigma2 = sm->par[i * NPAR + 4];
	f->level = sm->par[i * NPAR + 5];
	f->slope = sm->par[i * NPAR + 6];
	for (k = 0; k < f->m; k++)
		f->s[k] = sm->seas[i * sm->maxm + k];
}

static void
check_horizon(int h)
{
	if (h < 1 || h > MAX_HORIZON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be between 1 and %d", MAX_HORIZON),
				 errdetail("It is %d.", h),
				 errhint("Ask for at least one period ahead.")));
}

static void
emit_series(ReturnSetInfo *rsi, const StatModel *sm, int i, int h, bool with_key)
{
	SeriesFit	f;
	RiqRng		rng;
	double	   *yhat = palloc(sizeof(double) * h);
	double	   *lo = palloc(sizeof(double) * h);
	double	   *hi = palloc(sizeof(double) * h);
	int			t;

	series_fit_of(sm, i, &f);
	riq_rng_seed(&rng, (uint64) sm->seed, (uint64) i);
	fit_forecast(&f, h, sm->level, sm->nonneg, &rng, yhat, lo, hi);
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

/* _forecast_stat(model, series, horizon) */
Datum
forecast_stat_predict(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	StatModel	sm;
	char	   *key;
	int			h,
				i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : (PG_ARGISNULL(1) ? "series" : "horizon"))));
	h = PG_GETARG_INT32(2);
	check_horizon(h);
	open_stat(fcinfo, &sm);
	key = text_to_cstring(PG_GETARG_TEXT_PP(1));
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

/* _forecast_stat_all(model, horizon) */
Datum
forecast_stat_predict_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	StatModel	sm;
	int			h,
				i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : "horizon")));
	h = PG_GETARG_INT32(1);
	check_horizon(h);
	open_stat(fcinfo, &sm);
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < sm.ns; i++)
	{
		CHECK_FOR_INTERRUPTS();
		emit_series(rsi, &sm, i, h, true);
	}
	PG_RETURN_NULL();
}

static const char *
method_name(const SeriesFit *f, char *buf)
{
	switch (f->method)
	{
		case FIT_SNAIVE:
			return f->m > 1 ? "snaive" : "naive";
		case FIT_CROSTON:
			return "croston";
		case FIT_SBA:
			return "sba";
		case FIT_MEAN:
			return "mean";
		case FIT_ETS:
			snprintf(buf, 16, "ets(%c,%s,%c)", f->error == ETS_MULT ? 'M' : 'A',
					 f->trend == ETS_NONE ? "N" : (f->damped ? "Ad" : "A"),
					 f->season == ETS_NONE ? 'N' : (f->season == ETS_ADD ? 'A' : 'M'));
			return buf;
	}
	return "?";
}

/* forecast_model_series(model) -> (series, method, n, alpha, beta, gamma, phi, sigma2, aicc) */
Datum
forecast_model_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	StatModel	sm;
	ModelView  *mv;
	double	   *aicc;
	int			dims[1];
	int			i;

	open_stat(fcinfo, &sm);
	mv = model_open_cached(fcinfo, 0, MODEL_KIND_ANY);
	dims[0] = sm.ns;
	aicc = model_get_float_array(mv, MODEL_METRICS, "aicc", 1, dims);
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < sm.ns; i++)
	{
		SeriesFit	f;
		char		buf[16];
		Datum		values[10];
		bool		nulls[10] = {0};
		bool		ets;

		series_fit_of(&sm, i, &f);
		ets = f.method == FIT_ETS;
		values[0] = CStringGetTextDatum(sm.keys[i]);
		values[1] = CStringGetTextDatum(method_name(&f, buf));
		values[2] = Int32GetDatum((int32) sm.len[i]);
		values[3] = Float8GetDatum(f.alpha);
		nulls[3] = !(ets || f.method == FIT_CROSTON || f.method == FIT_SBA);
		values[4] = Float8GetDatum(f.beta);
		nulls[4] = !(ets && f.trend != ETS_NONE);
		values[5] = Float8GetDatum(f.gamma);
		nulls[5] = !(ets && f.season != ETS_NONE);
		values[6] = Float8GetDatum(f.phi);
		nulls[6] = !(ets && f.damped);
		values[7] = Float8GetDatum(f.sigma2);
		values[8] = Float8GetDatum(aicc[i]);
		nulls[8] = !ets || isnan(aicc[i]);
		values[9] = Int32GetDatum(f.m);
		tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * _ets_check(y float8[], m int, model text, par float8[4], init float8[], h int, level float8)
 * -> float8[]: {loglik, yhat[1..h], lower[1..h], upper[1..h]} for an ETS form with given
 * smoothing parameters (alpha, beta, gamma, phi) and initial state (level, [slope],
 * s1..sm as R's ets reports initstate). For checking the equations against a reference
 * implementation: nothing is estimated.
 */
PG_FUNCTION_INFO_V1(forecast_ets_check);

Datum
forecast_ets_check(PG_FUNCTION_ARGS)
{
	int			n,
				npar,
				ninit,
				m = PG_GETARG_INT32(1);
	double	   *y = riq_float8_array(PG_GETARG_ARRAYTYPE_P(0), "y", &n, false);
	char	   *spec = text_to_cstring(PG_GETARG_TEXT_PP(2));
	double	   *par = riq_float8_array(PG_GETARG_ARRAYTYPE_P(3), "par", &npar, false);
	double	   *init = riq_float8_array(PG_GETARG_ARRAYTYPE_P(4), "init", &ninit, false);
	int			h = PG_GETARG_INT32(5);
	double		level = PG_GETARG_FLOAT8(6);
	EtsOptions	eo;
	SeriesFit	f;
	RiqRng		rng;
	double	   *out;
	int			i,
				k = 0,
				need;

	ets_default_options(&eo);
	parse_ets_model(spec, &eo);
	if (eo.error < 0 || eo.trend < 0 || eo.season < 0 || eo.damped < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must be a fully specified form such as \"MAdM\"")));
	check_horizon(h);
	if (npar != 4 || n < 1 || m < 1 || m > ETS_MAX_SEASON || !(level > 0 && level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("par must have 4 elements, m be 1..24 and level in (0, 1)")));
	if (!(par[0] > 0 && par[0] <= 1) || !(par[1] >= 0 && par[1] <= 1) ||
		!(par[2] >= 0 && par[2] <= 1) || !(par[3] > 0 && par[3] <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("par must hold alpha in (0, 1], beta and gamma in [0, 1] and phi in (0, 1]"),
				 errdetail("par is {%g, %g, %g, %g}.", par[0], par[1], par[2], par[3]),
				 errhint("Pass the smoothing parameters in the order alpha, beta, gamma, phi (1 for an unused one is fine).")));
	memset(&f, 0, sizeof(f));
	f.method = FIT_ETS;
	f.error = eo.error;
	f.trend = eo.trend;
	f.season = eo.season;
	f.damped = eo.damped == 1;
	f.m = f.season != ETS_NONE ? m : 1;
	f.alpha = par[0];
	f.beta = par[1];
	f.gamma = par[2];
	f.phi = par[3];
	need = 1 + (f.trend != ETS_NONE) + (f.season != ETS_NONE ? f.m : 0);
	if (ninit != need)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("init has %d elements, the form needs %d", ninit, need)));
	f.level = init[k++];
	if (f.trend != ETS_NONE)
		f.slope = init[k++];
	if (f.season != ETS_NONE)
		for (i = 0; i < f.m; i++)
			f.s[i] = init[k++];
	{
		double		sse;
		double		lik = ets_filter(y, n, &f, &sse);
		/* R's count: smoothing parameters and free initial states (m - 1 seasonal) */
		int			np = 2 + (f.trend != ETS_NONE) * 2 + (f.season != ETS_NONE) * f.m + (f.damped ? 1 : 0);

		f.loglik = -0.5 * lik;
		f.sigma2 = sse / Max(n - np, 1);
	}
	out = palloc(sizeof(double) * (1 + 3 * h));
	out[0] = f.loglik;
	riq_rng_seed(&rng, 42, 0);
	fit_forecast(&f, h, level, false, &rng, out + 1, out + 1 + h, out + 1 + 2 * h);
	PG_RETURN_ARRAYTYPE_P(riq_float8_array_make(out, 1 + 3 * h));
}
