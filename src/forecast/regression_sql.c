/*
 * regression_sql.c: the dynamic regression forecaster as SQL: the forecast_regression_fit
 * aggregates (rows gathered by the shared series collector), the choice of the model's form
 * by validation on the caller's own history, the model value and its checked reader, the
 * predict entry of the method table (retailiq.forecast / forecast_all) and
 * forecast_regression_series.
 *
 * Validation: every candidate form (log or plain scale; with or without the season's
 * Fourier terms) is fitted on each series without its last `validation` periods and
 * forecast over them with the factors as they were; the lowest pooled WAPE wins (the first
 * candidate on ties), and the model records every candidate's figure. The same held-out
 * errors, standardised by the forecast's own standard deviation, calibrate the interval.
 * On the log scale the point forecast is the median or the mean of the log-normal, whichever
 * of the two has the lower WAPE on the same held-out periods (a WAPE is smallest at the
 * median; the mean is what a sum of forecasts needs). The chosen form is then refitted on
 * the whole history. With 2 to 6 factors, the form chosen is then offered with the product of
 * every two factors as further terms (a deal or a feature changes the response to price).
 * With factors, the form chosen is then offered with every factor also
 * taken one period earlier (a promotion's dip afterwards, when shoppers have stocked up: the
 * pantry loading of the marketing literature), kept when validation prefers it.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/stats.h"
#include "forecast/method.h"
#include "forecast/regression.h"
#include "forecast/series.h"

PG_FUNCTION_INFO_V1(forecast_regression_fit_accum);
PG_FUNCTION_INFO_V1(forecast_regression_fit_final);
PG_FUNCTION_INFO_V1(forecast_regression_series);

static const char *const regression_option_keys[] = {
	"horizon", "validation", "level", "transform", "harmonics", "errors", "pooling", "halflife", "robust", "point", "lags", "verbose", "origins", "interactions", NULL
};

#define REG_MAX_CANDIDATES 10
#define REG_ORIGINS 3			/* rolling validation origins by default */
#define REG_MAX_ORIGINS 10

/* A decoded model. */
typedef struct RegModel
{
	RegLayout	L;					/* L.n_exog counts the factors' products and lags too */
	int			n_exog;			/* the factors future_exog gives */
	bool		lags;			/* the factors one period earlier are terms too */
	bool		pairs;			/* the products of every two factors are terms too */
	double	   *last_exog;		/* lags: nseries x n_exog, each series' last factors */
	bool		log_scale;
	bool		median;			/* point forecast: the log-normal's median (else its mean) */
	bool		nonnegative;
	double		level;
	double		calib;
	int			nseries;
	char	  **keys;
	int64	   *last;
	double	   *coef;			/* nseries x (1 + ncoef) */
	double	   *phi;
	double	   *sigma2;
	double	   *resid;
} RegModel;

/* ---------------------------------------------------------------- aggregate */

Datum
forecast_regression_fit_accum(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(series_collect_panel_accum(fcinfo, "forecast_regression_fit_accum"));
}

/* a text option among choices (NULL-terminated); the index, or dflt when absent */
static int
opt_choice(Jsonb *jb, const char *key, const char *const *choices, int dflt, const char *hint)
{
	JsonbValue *v = series_option_value(jb, key);

	if (v == NULL)
		return dflt;
	if (v->type == jbvString)
		for (int i = 0; choices[i] != NULL; i++)
			if (strlen(choices[i]) == (size_t) v->val.string.len &&
				memcmp(choices[i], v->val.string.val, v->val.string.len) == 0)
				return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("options.%s must be one of %s", key,
					choices[2] ? psprintf("\"%s\", \"%s\" or \"%s\"", choices[0], choices[1], choices[2]) :
					psprintf("\"%s\" or \"%s\"", choices[0], choices[1])),
			 errhint("%s", hint)));
	return dflt;
}

static int
default_horizon(ForecastFreq freq)
{
	return freq == FREQ_DAY ? 28 : freq == FREQ_WEEK ? 13 : 12;
}

/* the season's length in periods for the Fourier terms: a year of weeks is 365.25 / 7 */
static double
season_period(ForecastFreq freq, int season)
{
	if (season < 2)
		return 0.0;
	if (freq == FREQ_WEEK && season == 52)
		return 365.25 / 7.0;
	return (double) season;
}

static int
max_harmonics(double period)
{
	return period >= 2 ? Min((int) floor((period - 1) / 2), REG_MAX_HARMONICS) : 0;
}

static const char *
candidate_name(const RegConfig *c)
{
	return psprintf("%s%s%s%s%s%s", c->log_scale ? "log" : "none",
					c->harmonics > 0 ? psprintf("+fourier%d", c->harmonics) : "",
					c->halflife > 0 ? psprintf("+halflife%g", c->halflife) : "",
					c->pairs ? "+pairs" : "",
					c->lags ? "+lag1" : "",
					c->log_scale && c->median ? "+median" : "");
}

/* the terms E factors give: themselves, then with pairs the product of every two */
static int
pair_width(int E, bool pairs)
{
	return pairs ? E + E * (E - 1) / 2 : E;
}

/* the terms of a form: the factors' terms, then with lags those of the period before */
static int
terms_width(int E, bool pairs, bool lags)
{
	return pair_width(E, pairs) * (lags ? 2 : 1);
}

static void
expand_factors(int E, bool pairs, const double *x, double *out)
{
	int			c = E;

	memcpy(out, x, sizeof(double) * E);
	if (pairs)
		for (int j = 0; j < E; j++)
			for (int k = j + 1; k < E; k++)
				out[c++] = x[j] * x[k];
}

/*
 * One period's terms from its factors x and, with lags, the factors prev of the period
 * before: x, x_j x_k (j < k) with pairs, then the same of prev with lags.
 */
static void
expand_row(int E, bool pairs, bool lags, const double *x, const double *prev, double *out)
{
	expand_factors(E, pairs, x, out);
	if (lags)
		expand_factors(E, pairs, prev, out + pair_width(E, pairs));
}

/*
 * The panel with each period's factors expanded to the terms of a form (expand_row; the
 * first period is its own predecessor): what a form with pairs or lags is fitted on.
 * Memory in the current context, charged to retailiq.max_memory.
 */
static ForecastPanel *
panel_expanded(const ForecastPanel *panel, bool pairs, bool lags)
{
	int			E = panel->n_exog,
				T = terms_width(E, pairs, lags);
	ForecastPanel *p = palloc(sizeof(ForecastPanel));

	*p = *panel;
	p->n_exog = T;
	p->series = palloc(sizeof(ForecastSeries) * panel->nseries);
	for (int i = 0; i < panel->nseries; i++)
	{
		const ForecastSeries *sr = &panel->series[i];
		double	   *x = riq_alloc(CurrentMemoryContext,
								  riq_mul_size(riq_mul_size(sr->n, T, "the factors' terms"),
											   sizeof(double), "the factors' terms"),
								  "the factors' terms");

		CHECK_FOR_INTERRUPTS();
		for (int t = 0; t < sr->n; t++)
			expand_row(E, pairs, lags, sr->exog + (Size) t * E, sr->exog + (Size) Max(t - 1, 0) * E,
					   x + (Size) t * T);
		p->series[i] = *sr;
		p->series[i].exog = x;
	}
	return p;
}

/* the panel a form is fitted on (built once per form of terms, in panels[4]) */
static const ForecastPanel *
form_panel(const ForecastPanel *panel, ForecastPanel **panels, const RegConfig *c)
{
	int			k = (c->pairs ? 2 : 0) + (c->lags ? 1 : 0);

	if (k == 0)
		return panel;
	if (panels[k] == NULL)
		panels[k] = panel_expanded(panel, c->pairs, c->lags);
	return panels[k];
}

typedef struct ValResult
{
	double		wape;			/* NaN: nothing to validate on */
	double		wape_other;		/* log scale: with the other point forecast (median / mean) */
	double		calib;
	double		coverage;		/* share of the held-out periods inside the uncalibrated interval */
	double		coverage_calibrated;	/* ... inside the calibrated one */
	int			series;			/* series scored */
} ValResult;

/*
 * Fit cfg without the last H + k * step periods of every series (k = 0 .. origins - 1, step
 * = H / 2, at least 1: rolling origins, one tail's errors decide by chance too often) and
 * forecast the H periods after each cut with their own factors: the pooled WAPE over every
 * origin, and the calibration of the interval (the level-quantile of the standardised errors
 * over the normal quantile) with the coverage before and after it. A series too short for an
 * origin is left out of that origin.
 */
static ValResult
validate(const ForecastPanel *panel, const RegLayout *L, const RegConfig *cfg, int H,
		 int origins, double level, bool nonnegative, bool verbose)
{
	MemoryContext work = AllocSetContextCreate(CurrentMemoryContext, "forecast_regression_fit validation",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(work);
	ValResult	r = {get_float8_nan(), get_float8_nan(), 1.0, get_float8_nan(), get_float8_nan(), 0};
	int			p = 1 + L->ncoef,
				step = Max(H / 2, 1);
	double	   *mu = palloc(sizeof(double) * H),
			   *var = palloc(sizeof(double) * H),
			   *err;
	double		zq = riq_normal_quantile(0.5 + level / 2),
				num = 0.0,
				num_other = 0.0,
				den = 0.0;
	Size		nerr = 0,
				inside = 0;

	err = riq_alloc(work, riq_mul_size(riq_mul_size(riq_mul_size(panel->nseries, H, "the validation errors"),
													origins, "the validation errors"),
									   sizeof(double), "the validation errors"),
					"the validation errors");
	for (int k = 0; k < origins; k++)
	{
		int			cut = H + k * step;
		MemoryContext one = AllocSetContextCreate(work, "forecast_regression_fit origin",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext prev = MemoryContextSwitchTo(one);
		RegFit	   *fit = reg_fit(panel, L, cfg, cut, false);

		for (int i = 0; i < panel->nseries; i++)
		{
			const ForecastSeries *sr = &panel->series[i];
			int			n = fit->nobs[i];

			/* the series keeps a period before the cut */
			if (n == 0)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (k == 0)
				r.series++;
			reg_forecast_z(L, fit->coef + (Size) i * p, fit->phi[i], fit->sigma2[i], fit->resid[i],
						   reg_position(L->freq, sr->start) + n, H,
						   L->n_exog > 0 ? sr->exog + (Size) n * L->n_exog : NULL, mu, var);
			for (int j = 0; j < H; j++)
			{
				double		y = sr->y[n + j],
							yhat,
							other,
							lo,
							hi,
							z = cfg->log_scale ? log1p(y) : y;

				if (!reg_back(cfg->log_scale, cfg->median, mu[j], var[j], zq, 1.0, nonnegative, &yhat, &lo, &hi))
					yhat = get_float8_infinity();	/* a candidate that explodes loses */
				if (!reg_back(cfg->log_scale, !cfg->median, mu[j], var[j], zq, 1.0, nonnegative, &other, &lo, &hi))
					other = get_float8_infinity();
				num += fabs(y - yhat);
				num_other += fabs(y - other);
				den += fabs(y);
				err[nerr] = fabs(z - mu[j]) / sqrt(var[j]);
				if (err[nerr] <= zq)
					inside++;
				nerr++;
			}
		}
		MemoryContextSwitchTo(prev);
		MemoryContextDelete(one);
	}
	if (r.series > 0 && den > 0 && nerr > 0)
	{
		Size		inside_cal = 0;

		r.wape = num / den;
		if (cfg->log_scale)
			r.wape_other = num_other / den;
		qsort(err, nerr, sizeof(double), riq_cmp_double);
		r.calib = err[Min((Size) floor(level * nerr), nerr - 1)] / zq;
		r.calib = Min(Max(r.calib, 0.1), 10.0);
		for (Size e = 0; e < nerr; e++)
			if (err[e] <= r.calib * zq)
				inside_cal++;
		r.coverage = (double) inside / nerr;
		r.coverage_calibrated = (double) inside_cal / nerr;
	}
	if (verbose)
		ereport(NOTICE,
				(errmsg("forecast_regression_fit: %s: validation WAPE %.4f on %d series",
						candidate_name(cfg), r.wape, r.series)));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return r;
}

static void
put_model(ModelBuilder *b, const ForecastPanel *panel, const RegFit *fit, int season,
		  int horizon, int validation, int origins, double level, const ValResult *val,
		  bool nonnegative, int ncand, const RegConfig *cand, const double *cand_wape)
{
	double		calib = val->calib;
	const RegLayout *L = &fit->layout;
	int			ns = panel->nseries,
				q = L->ncoef,
				p = 1 + q;
	int			dims[2];
	const char **keys = palloc(sizeof(char *) * ns);
	const char **names = palloc(sizeof(char *) * (p));
	const char **cnames = palloc(sizeof(char *) * REG_MAX_CANDIDATES);
	int64	   *last = palloc(sizeof(int64) * ns);
	int64	   *len = palloc(sizeof(int64) * ns);
	const char *pooling = fit->config.pooling == REG_POOL_SHRINK ? "shrink" :
		fit->config.pooling == REG_POOL_NONE ? "none" : "full";

	model_put_text(b, MODEL_PARAMS, "freq", series_freq_name(L->freq));
	model_put_int(b, MODEL_PARAMS, "season", season);
	model_put_float(b, MODEL_PARAMS, "period", L->period);
	model_put_int(b, MODEL_PARAMS, "harmonics", L->harmonics);
	model_put_int(b, MODEL_PARAMS, "n_exog", panel->n_exog);
	model_put_int(b, MODEL_PARAMS, "lags", fit->config.lags ? 1 : 0);
	model_put_int(b, MODEL_PARAMS, "pairs", fit->config.pairs ? 1 : 0);
	model_put_text(b, MODEL_PARAMS, "transform", fit->config.log_scale ? "log" : "none");
	if (fit->config.log_scale)
		model_put_text(b, MODEL_PARAMS, "point", fit->config.median ? "median" : "mean");
	model_put_text(b, MODEL_PARAMS, "errors", fit->config.ar ? "ar1" : "none");
	model_put_text(b, MODEL_PARAMS, "pooling", pooling);
	model_put_float(b, MODEL_PARAMS, "level", level);
	model_put_int(b, MODEL_PARAMS, "horizon", horizon);
	model_put_int(b, MODEL_PARAMS, "validation", validation);
	model_put_int(b, MODEL_PARAMS, "origins", origins);
	model_put_bool(b, MODEL_PARAMS, "nonnegative", nonnegative);

	model_put_int(b, MODEL_METRICS, "series", ns);
	names[0] = "level";
	for (int k = 1; k <= L->harmonics; k++)
	{
		names[2 * k - 1] = psprintf("cos%d", k);
		names[2 * k] = psprintf("sin%d", k);
	}
	{
		/* exogJ, exogJ*exogK with pairs, then the same with _lag1 with lags */
		int			W = pair_width(panel->n_exog, fit->config.pairs),
					c = 1 + 2 * L->harmonics;

		for (int k = 0; k < panel->n_exog; k++)
			names[c + k] = psprintf("exog%d", k + 1);
		if (fit->config.pairs)
		{
			int			o = c + panel->n_exog;

			for (int j = 0; j < panel->n_exog; j++)
				for (int k = j + 1; k < panel->n_exog; k++)
					names[o++] = psprintf("exog%d*exog%d", j + 1, k + 1);
		}
		if (fit->config.lags)
			for (int k = 0; k < W; k++)
				names[c + W + k] = psprintf("%s_lag1", names[c + k]);
	}
	model_put_text_array(b, MODEL_METRICS, "coef_names", names, p);
	if (q > 0)
	{
		dims[0] = q;
		model_put_text_array(b, MODEL_METRICS, "pooled_names", names + 1, q);
		model_put_float_array(b, MODEL_METRICS, "pooled", fit->pooled, 1, dims);
		if (fit->config.pooling != REG_POOL_NONE)
			model_put_float_array(b, MODEL_METRICS, "between_sd", fit->tau, 1, dims);
		model_put_float_array(b, MODEL_METRICS, "shrinkage", fit->shrink, 1, dims);
	}
	if (fit->config.pooling == REG_POOL_SHRINK && q > 0)
		model_put_int(b, MODEL_METRICS, "em_iterations", fit->em_iterations);
	{
		double		ph = 0.0;

		for (int i = 0; i < ns; i++)
			ph += fit->phi[i] / ns;
		model_put_float(b, MODEL_METRICS, "mean_phi", ph);
	}
	if (ncand > 0)
	{
		for (int c = 0; c < ncand; c++)
			cnames[c] = candidate_name(&cand[c]);
		dims[0] = ncand;
		model_put_text_array(b, MODEL_METRICS, "candidates", cnames, ncand);
		model_put_float_array(b, MODEL_METRICS, "validation_wape", cand_wape, 1, dims);
	}
	if (isfinite(val->coverage))
	{
		/* the chosen form's interval on the held-out periods, before and after calibration */
		model_put_float(b, MODEL_METRICS, "validation_coverage", val->coverage);
		model_put_float(b, MODEL_METRICS, "validation_coverage_calibrated", val->coverage_calibrated);
	}

	model_put_float(b, MODEL_DATA, "calibration", calib);
	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *sr = &panel->series[i];

		keys[i] = sr->key;
		last[i] = series_date_add(L->freq, sr->start, sr->n - 1);
		len[i] = sr->n;
	}
	model_put_text_array(b, MODEL_DATA, "series", keys, ns);
	dims[0] = ns;
	model_put_int_array(b, MODEL_DATA, "last_date", last, 1, dims);
	model_put_int_array(b, MODEL_DATA, "length", len, 1, dims);
	model_put_float_array(b, MODEL_DATA, "phi", fit->phi, 1, dims);
	model_put_float_array(b, MODEL_DATA, "sigma2", fit->sigma2, 1, dims);
	model_put_float_array(b, MODEL_DATA, "resid", fit->resid, 1, dims);
	dims[1] = p;
	model_put_float_array(b, MODEL_DATA, "coef", fit->coef, 2, dims);
	if (fit->config.lags)
	{
		double	   *lastx = palloc(sizeof(double) * ns * panel->n_exog);

		for (int i = 0; i < ns; i++)
			memcpy(lastx + (Size) i * panel->n_exog,
				   panel->series[i].exog + (Size) (panel->series[i].n - 1) * panel->n_exog,
				   sizeof(double) * panel->n_exog);
		dims[1] = panel->n_exog;
		model_put_float_array(b, MODEL_DATA, "last_exog", lastx, 2, dims);
	}
}

Datum
forecast_regression_fit_final(PG_FUNCTION_ARGS)
{
	static const char *const transforms[] = {"auto", "log", "none", NULL};
	static const char *const errors[] = {"ar1", "none", NULL};
	static const char *const poolings[] = {"shrink", "none", "full", NULL};
	static const char *const points[] = {"auto", "median", "mean", NULL};
	static const char *const lag_choices[] = {"auto", "none", "previous", NULL};
	static const char *const pair_choices[] = {"auto", "none", "pairs", NULL};
	SeriesCollector *state;
	const char *opttext;
	Jsonb	   *jb = NULL;
	SeriesOptions sopt;
	ForecastPanel *panel;
	RegLayout	L;
	RegConfig	cand[REG_MAX_CANDIDATES],
				best;
	double		cand_wape[REG_MAX_CANDIDATES];
	int			ncand = 0,
				ntr = 0,
				nharm = 0,
				tr[2],
				harm[2],
				horizon,
				validation,
				origins,
				longest = 0,
				transform,
				point,
				lags_opt,
				pairs_opt,
				kmax;
	double		level,
				best_wape;
	ValResult	best_val = {get_float8_nan(), get_float8_nan(), 1.0, get_float8_nan(), get_float8_nan(), 0};
	bool		verbose,
				nonnegative,
				ar;
	RegPooling	pooling;
	double		halflife;
	bool		halflife_given,
				robust;
	JsonbValue *hv;
	RegFit	   *fit;
	ModelBuilder *b;
	ForecastPanel *panels[4] = {NULL, NULL, NULL, NULL};
	const ForecastPanel *fp;
	bool		pairs_ok;

	(void) riq_agg_context(fcinfo, "forecast_regression_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesCollector *) PG_GETARG_POINTER(0);
	if (series_collect_rows(state) == 0)
		PG_RETURN_NULL();
	opttext = series_collect_options(state);
	if (opttext)
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(opttext)));
	series_check_option_keys(jb, regression_option_keys, "forecast_regression_fit");
	series_options_from_jsonb(jb, &sopt);
	panel = series_collect_finish(state, &sopt);
	if (panel == NULL || panel->nseries == 0)
		PG_RETURN_NULL();
	if (panel->n_exog > REG_MAX_EXOG)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("exog has %d factors; forecast_regression_fit takes at most %d",
						panel->n_exog, REG_MAX_EXOG),
				 errhint("Keep the factors that plausibly move sales (promotion, price, holidays).")));
	for (int i = 0; i < panel->nseries; i++)
		longest = Max(longest, panel->series[i].n);

	horizon = (int) forecast_opt_number(jb, "horizon", default_horizon(panel->freq), 1,
										FORECAST_MAX_HORIZON, true,
										"The horizon is the number of periods the validation forecasts, e.g. 13 for a quarter of weeks.");
	validation = (int) forecast_opt_number(jb, "validation", horizon, 0, FORECAST_MAX_HORIZON, true,
										   "The number of final periods held out to choose the model's form (0: none).");
	origins = (int) forecast_opt_number(jb, "origins", REG_ORIGINS, 1, REG_MAX_ORIGINS, true,
										"From 1 to 10 rolling validation origins, each horizon / 2 periods before the next (1: the last tail only).");
	level = forecast_opt_number(jb, "level", 0.8, 0.01, 0.99, false,
								"The interval coverage is a probability such as 0.8 or 0.95.");
	verbose = forecast_opt_bool(jb, "verbose", false);
	transform = opt_choice(jb, "transform", transforms, 0,
						   "\"auto\" lets validation choose between log(1 + y) and the sales themselves.");
	ar = opt_choice(jb, "errors", errors, 0,
					"\"ar1\" carries the latest departure from the level into the forecast; \"none\" does not.") == 0;
	pooling = (RegPooling) opt_choice(jb, "pooling", poolings, REG_POOL_SHRINK,
									  "\"shrink\" pools the coefficients with shrinkage estimated from the data; \"none\" fits each series alone; \"full\" one set for all.");
	robust = forecast_opt_bool(jb, "robust", true);
	lags_opt = opt_choice(jb, "lags", lag_choices, 0,
						  "\"auto\" lets validation choose whether each factor also counts one period later.");
	pairs_opt = opt_choice(jb, "interactions", pair_choices, 0,
						   "\"auto\" lets validation choose whether the product of every two factors is a term too.");
	pairs_ok = panel->n_exog >= 2 && panel->n_exog <= REG_MAX_PAIRS_EXOG;
	if (pairs_opt == 2 && !pairs_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.interactions \"pairs\" needs 2 to %d factors, not %d",
						REG_MAX_PAIRS_EXOG, panel->n_exog),
				 errhint("Leave \"interactions\" out, or give \"none\".")));
	point = opt_choice(jb, "point", points, 0,
					   "\"auto\" lets validation choose between the median and the mean of the log-scale forecast.");
	halflife_given = series_option_value(jb, "halflife") != NULL;
	halflife = forecast_opt_number(jb, "halflife", 0, 0, 1e6, false,
								   "The half-life of the observation weights in periods (0: equal weights; leave it out to let validation choose).");
	nonnegative = !sopt.allow_negative;
	if (transform == 1 && !nonnegative)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.transform \"log\" needs sales of 0 or more"),
				 errhint("Leave \"allow_negative\" out, or use \"transform\": \"none\".")));

	memset(&L, 0, sizeof(L));
	L.freq = panel->freq;
	L.n_exog = panel->n_exog;
	L.period = season_period(panel->freq, panel->season);
	kmax = max_harmonics(L.period);
	hv = series_option_value(jb, "harmonics");
	if (hv != NULL)
	{
		harm[nharm++] = (int) forecast_opt_number(jb, "harmonics", 0, 0, kmax, true,
												  psprintf("The season of %g periods takes 0 to %d Fourier pairs.", L.period, kmax));
	}
	else
	{
		/* the season's terms are a candidate when the history holds two seasons */
		if (kmax > 0 && longest >= 2 * L.period)
			harm[nharm++] = Min(kmax, 5);
		harm[nharm++] = 0;
	}
	if (transform == 0)
	{
		if (nonnegative)
			tr[ntr++] = 1;
		tr[ntr++] = 0;
	}
	else
		tr[ntr++] = transform == 1;
	for (int a = 0; a < ntr; a++)
		for (int h = 0; h < nharm; h++)
		{
			cand[ncand].log_scale = tr[a];
			cand[ncand].median = point == 1;
			cand[ncand].harmonics = harm[h];
			cand[ncand].ar = ar;
			cand[ncand].pooling = pooling;
			cand[ncand].halflife = halflife;
			cand[ncand].robust = robust;
			cand[ncand].lags = lags_opt == 2 && panel->n_exog > 0;
			cand[ncand].pairs = pairs_opt == 2;
			ncand++;
		}

	/* validation: some series must keep a period before the held-out tail */
	if (validation > 0 && longest <= validation)
	{
		ereport(NOTICE,
				(errmsg("forecast_regression_fit: no series is longer than the validation tail of %d periods; the model's form is not validated",
						validation),
				 errhint("Give \"validation\": 0 to say so, or a shorter one.")));
		validation = 0;
	}
	/*
	 * Four stages: the scale and the season with equal weights; for the best of those,
	 * observation weights with a half-life of four and of two validation tails (a level that
	 * moves is followed more closely); for the best so far, with 2 to REG_AUTO_PAIRS_EXOG
	 * factors, the products of every two (a deal or a feature changes how sales answer the
	 * price); for the best so far,
	 * the factors' lags. The first candidate wins ties.
	 */
	best = cand[0];
	best_wape = get_float8_infinity();
	for (int stage = 0; stage < 4; stage++)
	{
		int			from = stage == 0 ? 0 : ncand;

		if (stage == 1 && validation > 0 && !halflife_given && isfinite(best_wape))
			for (int k = 4; k >= 2; k -= 2)
			{
				cand[ncand] = best;
				cand[ncand].halflife = (double) k * validation;
				ncand++;
			}
		if (stage == 2 && validation > 0 && pairs_opt == 0 && panel->n_exog >= 2 &&
			panel->n_exog <= REG_AUTO_PAIRS_EXOG && isfinite(best_wape))
		{
			cand[ncand] = best;
			cand[ncand].pairs = true;
			ncand++;
		}
		if (stage == 3 && validation > 0 && lags_opt == 0 && panel->n_exog > 0 && isfinite(best_wape))
		{
			cand[ncand] = best;
			cand[ncand].lags = true;
			ncand++;
		}
		for (int c = from; c < ncand; c++)
		{
			ValResult	v;
			RegLayout	Lc = L;

			cand_wape[c] = get_float8_nan();
			if (validation == 0)
				continue;
			Lc.harmonics = cand[c].harmonics;
			fp = form_panel(panel, panels, &cand[c]);
			Lc.n_exog = fp->n_exog;
			Lc.ncoef = 2 * Lc.harmonics + Lc.n_exog;
			v = validate(fp, &Lc, &cand[c], validation, origins, level, nonnegative, verbose);
			/* the other point forecast of a log-scale form, unless options.point fixes it */
			if (point == 0 && v.wape_other < v.wape)
			{
				cand[c].median = !cand[c].median;
				v.wape = v.wape_other;
			}
			cand_wape[c] = v.wape;
			if (v.wape < best_wape)
			{
				best_wape = v.wape;
				best = cand[c];
				best_val = v;
			}
		}
	}
	L.harmonics = best.harmonics;
	fp = form_panel(panel, panels, &best);
	L.n_exog = fp->n_exog;
	L.ncoef = 2 * L.harmonics + L.n_exog;
	fit = reg_fit(fp, &L, &best, 0, verbose);

	b = model_begin(MODEL_KIND_FORECAST_REGRESSION);
	put_model(b, panel, fit, panel->season, horizon, validation, origins, level, &best_val, nonnegative,
			  validation > 0 ? ncand : 0, cand, cand_wape);
	PG_RETURN_BYTEA_P(model_finish(b));
}

/* ---------------------------------------------------------------- reading the model */

/* a 0/1 parameter of the model (absent in models written before it: 0) */
static bool
param_flag(const ModelView *mv, const char *key)
{
	int64		v = model_find(mv, MODEL_PARAMS, key) != NULL ? model_get_int(mv, MODEL_PARAMS, key) : 0;

	if (v != 0 && v != 1)
		model_corrupt(mv, "The %s %lld are not 0 or 1.", key, (long long) v);
	return v == 1;
}

static RegModel *
load_model(FunctionCallInfo fcinfo)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_FORECAST_REGRESSION);
	RegModel   *m = palloc0(sizeof(RegModel));
	RegLayout  *L = &m->L;
	char	   *s;
	int			dims[2],
				n,
				season,
				p;
	bool		ar;

	L->freq = series_model_freq(mv, "freq");
	season = (int) model_get_int(mv, MODEL_PARAMS, "season");
	L->period = model_get_float(mv, MODEL_PARAMS, "period");
	L->harmonics = (int) model_get_int(mv, MODEL_PARAMS, "harmonics");
	m->n_exog = (int) model_get_int(mv, MODEL_PARAMS, "n_exog");
	m->lags = param_flag(mv, "lags");
	if (m->lags && m->n_exog < 1)
		model_corrupt(mv, "A model without factors has no lags.");
	m->pairs = param_flag(mv, "pairs");
	if (m->pairs && (m->n_exog < 2 || m->n_exog > REG_MAX_PAIRS_EXOG))
		model_corrupt(mv, "A model with %d factors has no products of factors.", m->n_exog);
	if (season < 1 || season > 1000 || m->n_exog < 0 || m->n_exog > REG_MAX_EXOG ||
		L->harmonics < 0 || L->harmonics > REG_MAX_HARMONICS)
		model_corrupt(mv, "A size of the regression is out of range.");
	L->n_exog = terms_width(m->n_exog, m->pairs, m->lags);
	if (L->period != season_period(L->freq, season))
		model_corrupt(mv, "The period %g does not belong to a season of %d.", L->period, season);
	if (L->harmonics > max_harmonics(L->period))
		model_corrupt(mv, "%d Fourier pairs do not fit a season of %g periods.", L->harmonics, L->period);
	L->ncoef = 2 * L->harmonics + L->n_exog;
	p = 1 + L->ncoef;
	s = model_get_text(mv, MODEL_PARAMS, "transform");
	if (strcmp(s, "log") == 0)
		m->log_scale = true;
	else if (strcmp(s, "none") != 0)
		model_corrupt(mv, "The transform \"%s\" is not log or none.", s);
	if (m->log_scale && model_find(mv, MODEL_PARAMS, "point") != NULL)	/* absent: the mean */
	{
		s = model_get_text(mv, MODEL_PARAMS, "point");
		if (strcmp(s, "median") == 0)
			m->median = true;
		else if (strcmp(s, "mean") != 0)
			model_corrupt(mv, "The point forecast \"%s\" is not median or mean.", s);
	}
	s = model_get_text(mv, MODEL_PARAMS, "errors");
	if (strcmp(s, "ar1") != 0 && strcmp(s, "none") != 0)
		model_corrupt(mv, "The errors \"%s\" are not ar1 or none.", s);
	ar = strcmp(s, "ar1") == 0;
	m->nonnegative = model_get_bool(mv, MODEL_PARAMS, "nonnegative");
	if (m->log_scale && !m->nonnegative)
		model_corrupt(mv, "A log-scale model must forecast sales of 0 or more.");
	m->level = model_get_float(mv, MODEL_PARAMS, "level");
	if (!(m->level >= 0.01 && m->level <= 0.99))
		model_corrupt(mv, "The level %g is not between 0.01 and 0.99.", m->level);
	m->calib = model_get_float(mv, MODEL_DATA, "calibration");
	if (!(m->calib >= 0.1 && m->calib <= 10))
		model_corrupt(mv, "The interval calibration %g is not between 0.1 and 10.", m->calib);

	m->keys = model_get_text_array(mv, MODEL_DATA, "series", &n);
	if (n < 1)
		model_corrupt(mv, "The model holds no series.");
	m->nseries = n;
	for (int i = 1; i < n; i++)
		if (strcmp(m->keys[i - 1], m->keys[i]) >= 0)
			model_corrupt(mv, "The series keys are not sorted.");
	dims[0] = n;
	m->last = model_get_int_array(mv, MODEL_DATA, "last_date", 1, dims);
	for (int i = 0; i < n; i++)
		if (m->last[i] < -2451545 || m->last[i] > 100000000)
			model_corrupt(mv, "A last date is out of range.");
	{
		int64	   *len = model_get_int_array(mv, MODEL_DATA, "length", 1, dims);

		for (int i = 0; i < n; i++)
			if (len[i] < 1 || len[i] > PG_INT32_MAX)
				model_corrupt(mv, "A series length is out of range.");
	}
	m->phi = model_get_float_array(mv, MODEL_DATA, "phi", 1, dims);
	m->sigma2 = model_get_float_array(mv, MODEL_DATA, "sigma2", 1, dims);
	m->resid = model_get_float_array(mv, MODEL_DATA, "resid", 1, dims);
	for (int i = 0; i < n; i++)
	{
		if (!(m->phi[i] >= 0 && m->phi[i] <= REG_MAX_PHI) || (!ar && m->phi[i] != 0))
			model_corrupt(mv, "An AR(1) coefficient %g is not between 0 and %g%s.", m->phi[i],
						  ar ? REG_MAX_PHI : 0.0, ar ? "" : " (the errors are independent)");
		if (!(m->sigma2[i] > 0 && isfinite(m->sigma2[i])))
			model_corrupt(mv, "A residual variance is not a positive finite number.");
		if (!isfinite(m->resid[i]))
			model_corrupt(mv, "A last residual is not finite.");
	}
	dims[1] = p;
	m->coef = model_get_float_array(mv, MODEL_DATA, "coef", 2, dims);
	for (Size i = 0; i < (Size) n * p; i++)
		if (!isfinite(m->coef[i]))
			model_corrupt(mv, "A coefficient is not finite.");
	if (m->lags)
	{
		dims[1] = m->n_exog;
		m->last_exog = model_get_float_array(mv, MODEL_DATA, "last_exog", 2, dims);
		for (Size i = 0; i < (Size) n * m->n_exog; i++)
			if (!isfinite(m->last_exog[i]))
				model_corrupt(mv, "A last factor is not finite.");
	}
	return m;
}

/* ---------------------------------------------------------------- predicting */

/* series s over h periods: yhat, lo, hi */
static void
forecast_one(const RegModel *m, int s, int h, const double *x, double *yhat, double *lo, double *hi)
{
	const RegLayout *L = &m->L;
	double	   *mu = palloc(sizeof(double) * h),
			   *var = palloc(sizeof(double) * h);
	double		zq = riq_normal_quantile(0.5 + m->level / 2);
	DateADT		first = series_date_add(L->freq, (DateADT) m->last[s], 1);
	int			E = m->n_exog;

	if (m->lags || m->pairs)
	{
		/*
		 * each period's terms: its factors (and their products), then those of the period
		 * before (the last one known for the first)
		 */
		double	   *xx = palloc(sizeof(double) * (Size) h * L->n_exog);

		for (int k = 0; k < h; k++)
			expand_row(E, m->pairs, m->lags, x + (Size) k * E,
					   !m->lags ? x : k == 0 ? m->last_exog + (Size) s * E : x + (Size) (k - 1) * E,
					   xx + (Size) k * L->n_exog);
		x = xx;
	}
	reg_forecast_z(L, m->coef + (Size) s * (1 + L->ncoef), m->phi[s], m->sigma2[s], m->resid[s],
				   reg_position(L->freq, first), h, x, mu, var);
	for (int k = 0; k < h; k++)
		if (!reg_back(m->log_scale, m->median, mu[k], var[k], zq, m->calib, m->nonnegative, &yhat[k], &lo[k], &hi[k]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("forecast is out of range"),
					 errdetail("Series \"%s\", step %d: the log-scale forecast %g does not map back to a finite sales figure.",
							   m->keys[s], k + 1, mu[k]),
					 errhint("Check future_exog against the factors the model was trained on (their order and scale).")));
	pfree(mu);
	pfree(var);
}

static Datum
regression_predict(FunctionCallInfo fcinfo, bool all)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			hpos = all ? 1 : 2;
	int32		horizon = PG_GETARG_INT32(hpos);
	RegModel   *m = load_model(fcinfo);
	int			first = 0,
				count = m->nseries;
	double	   *fex,
			   *yhat = palloc(sizeof(double) * horizon),
			   *lo = palloc(sizeof(double) * horizon),
			   *hi = palloc(sizeof(double) * horizon);

	if (!all)
	{
		char	   *key = text_to_cstring(PG_GETARG_TEXT_PP(1));

		first = series_key_index(m->keys, m->nseries, key);
		if (first < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("series \"%s\" is not in the model", key),
					 errhint("retailiq.forecast_regression_series(model) lists the series the model was trained on.")));
		count = 1;
	}
	fex = forecast_future_exog(fcinfo, hpos + 1, m->n_exog, m->nseries, horizon, all,
							   "retailiq.forecast_regression_fit");
	riq_memory_check(CurrentMemoryContext,
					 riq_mul_size(riq_mul_size(count, horizon, "the forecast"), 6 * sizeof(double), "the forecast"),
					 "the forecast");

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < count; i++)
	{
		int			s = first + i;
		Datum		key = all ? CStringGetTextDatum(m->keys[s]) : (Datum) 0;

		CHECK_FOR_INTERRUPTS();
		forecast_one(m, s, horizon, fex ? fex + (Size) i * horizon * m->n_exog : NULL, yhat, lo, hi);
		for (int k = 0; k < horizon; k++)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};
			int			c = 0;

			if (all)
				values[c++] = key;
			values[c++] = Int32GetDatum(k + 1);
			values[c++] = DateADTGetDatum(series_date_add(m->L.freq, (DateADT) m->last[s], k + 1));
			values[c++] = Float8GetDatum(yhat[k]);
			values[c++] = Float8GetDatum(lo[k]);
			values[c++] = Float8GetDatum(hi[k]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_RETURN_NULL();
}

/* forecast_regression_series(model): the series in model order (that of forecast_all) */
Datum
forecast_regression_series(PG_FUNCTION_ARGS)
{
	RegModel   *m = load_model(fcinfo);

	return forecast_emit_keys(fcinfo, m->keys, m->nseries);
}

/* ---------------------------------------------------------------- method table */

const ForecastMethod regression_method = {
	.name = "regression",
	.kind = MODEL_KIND_FORECAST_REGRESSION,
	.scope = METHOD_GLOBAL,
	.factors = true,
	.intermittent = false,
	.requestable = true,
	.trainer = "forecast_regression_fit",
	.description = "dynamic regression on the factors with level, season and AR(1) errors, per series and pooled across series with shrinkage",
	.option_keys = regression_option_keys,
	.predict = regression_predict,
};
