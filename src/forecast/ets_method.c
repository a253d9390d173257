/*
 * ets_method.c: ETS (damped included) as an entry of the method table: its options (the
 * form to fit or search, damping, multiplicative components, the optimiser's budget), its
 * fallback for series no form fits, its intervals, and the check of a stored ETS fit.
 * The estimation itself is ets.c.
 */
#include "postgres.h"

#include <math.h>

#include "core/stats.h"
#include "forecast/method.h"

#define SIM_PATHS 5000

/*
 * The fewest observations ETS is fitted on (doc/forecast.md, "Short series"): 5 for its
 * smallest form to have an AICc (n > parameters + 2).
 */
#define ETS_MIN_LENGTH 5

extern const ForecastMethod ets_method;

StaticAssertDecl(sizeof(EtsOptions) <= FORECAST_METHOD_OPTS, "options too large");

static const char *const ets_keys[] = {"maxit", "ets_model", "damped", "multiplicative", NULL};

void
ets_parse_model(const char *s, EtsOptions *o)
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
ets_options(Jsonb *j, void *opts)
{
	EtsOptions *o = opts;
	JsonbValue *v;

	ets_default_options(o);
	o->maxit = (int) forecast_opt_number(j, "maxit", 5000, 50, 1000000, true,
										 "Nelder-Mead evaluations per ETS form, 50 or more.");
	if ((v = series_option_value(j, "ets_model")) != NULL)
	{
		if (v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.ets_model must be a string such as \"ZZZ\"")));
		ets_parse_model(pnstrdup(v->val.string.val, v->val.string.len), o);
	}
	o->allow_damped = forecast_opt_bool(j, "damped", o->allow_damped);
	o->allow_mult = forecast_opt_bool(j, "multiplicative", o->allow_mult);
}

/* five periods, and two seasons for a seasonal form named in ets_model */
static int
ets_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	const EtsOptions *eo = forecast_method_options(o, &ets_method);
	int			need = ETS_MIN_LENGTH;

	if (eo->season > ETS_NONE && m >= 2 && m <= ETS_MAX_SEASON)
		need = Max(need, 2 * m);
	return n < need ? need : 0;
}

/* the AICc search (or the fixed form); a series no form fits gets seasonal naive or the mean */
static double
ets_fit_one(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	bool		constant = true;
	int			t;

	if (ets_fit(y, n, m, forecast_method_options(o, &ets_method), fit))
		return NAN;
	if (n > m && m > 1 && n >= 2 * m)
		snaive_fit(y, n, m, fit);
	else
		mean_fit(y, n, fit);
	for (t = 1; t < n; t++)
		if (y[t] != y[0])
			constant = false;
	if (constant)
		mean_fit(y, n, fit);
	return NAN;
}

static void
ets_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			 double *yhat, double *lo, double *hi)
{
	double		z = riq_normal_quantile((1 + level) / 2);
	int			i;

	ets_point(fit, h, yhat);
	if (fit->error == ETS_ADD && fit->season != ETS_MULT)
	{
		double	   *var = palloc(sizeof(double) * h);

		ets_class1_variance(fit, h, var);
		for (i = 0; i < h; i++)
		{
			lo[i] = yhat[i] - z * sqrt(var[i]);
			hi[i] = yhat[i] + z * sqrt(var[i]);
		}
		pfree(var);
	}
	else
	{
		ets_simulate_interval(fit, h, level, rng, SIM_PATHS, lo, hi);
		/* a skewed path distribution can leave the mean outside a narrow band */
		for (i = 0; i < h; i++)
		{
			lo[i] = Min(lo[i], yhat[i]);
			hi[i] = Max(hi[i], yhat[i]);
		}
	}
}

static const char *
ets_check(const SeriesFit *f)
{
	if ((f->error != ETS_ADD && f->error != ETS_MULT) ||
		(f->trend != ETS_NONE && f->trend != ETS_ADD) ||
		(f->season != ETS_NONE && f->season != ETS_ADD && f->season != ETS_MULT) ||
		(f->damped && f->trend == ETS_NONE) ||
		(f->season != ETS_NONE ? (f->m < 2 || f->m > ETS_MAX_SEASON) : f->m != 1))
		return "an invalid ETS form";
	if (!(f->alpha > 0 && f->alpha <= 1) || !(f->beta >= 0 && f->beta <= 1) ||
		!(f->gamma >= 0 && f->gamma <= 1) || (f->damped && !(f->phi > 0 && f->phi <= 1)))
		return "ETS smoothing parameters outside [0, 1]";
	return NULL;
}

static void
ets_shown(const SeriesFit *f, bool shown[4])
{
	shown[0] = true;
	shown[1] = f->trend != ETS_NONE;
	shown[2] = f->season != ETS_NONE;
	shown[3] = f->damped;
}

static const char *
ets_label(const SeriesFit *f, char *buf)
{
	snprintf(buf, 16, "ets(%c,%s,%c)", f->error == ETS_MULT ? 'M' : 'A',
			 f->trend == ETS_NONE ? "N" : (f->damped ? "Ad" : "A"),
			 f->season == ETS_NONE ? 'N' : (f->season == ETS_ADD ? 'A' : 'M'));
	return buf;
}

const ForecastMethod ets_method = {
	.name = "ets",
	.code = FIT_ETS,
	.kind = MODEL_KIND_ETS,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "exponential smoothing (ETS, damped trend included), the form chosen by AICc",
	.option_keys = ets_keys,
	.parse_options = ets_options,
	.min_length = ets_min_length,
	.fit = ets_fit_one,
	.forecast = ets_forecast,
	.check = ets_check,
	.shown = ets_shown,
	.label = ets_label,
	.predict = forecast_local_predict,
};
