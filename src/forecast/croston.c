/*
 * croston.c: Croston's method for intermittent demand, and the Syntetos-Boylan
 * approximation (SBA) that removes its bias.
 *
 * Demand sizes z and the intervals p between demands are smoothed separately with the
 * same alpha, updated only in periods with demand; the forecast per period is z / p
 * (SBA: (1 - alpha / 2) z / p). Start: the first demand and the periods up to it, as R's
 * forecast::croston. With alpha <= 0 it is chosen from 0.05, 0.10, ..., 0.30 by the
 * in-sample one-step mean squared error. The interval is the forecast plus or minus a
 * normal quantile times the in-sample one-step RMSE (Croston has no stochastic model;
 * documented as an approximation), cut at zero.
 */
#include "postgres.h"

#include <math.h>

#include "forecast/method.h"

static double
croston_run(const double *y, int n, double alpha, bool sba, double *z_out, double *p_out)
{
	double		z = 0,
				p = 0,
				sse = 0;
	int			since = 0,
				cnt = 0,
				t;
	bool		started = false;

	for (t = 0; t < n; t++)
	{
		since++;
		if (started)
		{
			double		f = z / p * (sba ? 1 - alpha / 2 : 1);

			sse += (y[t] - f) * (y[t] - f);
			cnt++;
		}
		if (y[t] != 0)
		{
			if (!started)
			{
				z = y[t];
				p = since;
				started = true;
			}
			else
			{
				z += alpha * (y[t] - z);
				p += alpha * (since - p);
			}
			since = 0;
		}
	}
	*z_out = z;
	*p_out = started ? p : 0;
	return cnt > 0 ? sse / cnt : 0;
}

void
croston_fit(const double *y, int n, double alpha, bool sba, SeriesFit *fit)
{
	double		z,
				p,
				mse;

	memset(fit, 0, sizeof(*fit));
	if (alpha <= 0)
	{
		double		best = HUGE_VAL;
		int			k;

		for (k = 1; k <= 6; k++)
		{
			double		a = 0.05 * k;

			mse = croston_run(y, n, a, sba, &z, &p);
			if (mse < best - 1e-12)
			{
				best = mse;
				alpha = a;
			}
		}
	}
	mse = croston_run(y, n, alpha, sba, &z, &p);
	fit->method = sba ? FIT_SBA : FIT_CROSTON;
	fit->m = 1;
	fit->n = n;
	fit->alpha = alpha;
	fit->level = z;
	fit->slope = p;
	fit->sigma2 = mse;
	fit->mse = mse;
}

/* ---------- the method table's entries ---------- */

typedef struct CrostonOptions
{
	double		alpha;			/* <= 0: chosen by in-sample error */
} CrostonOptions;

StaticAssertDecl(sizeof(CrostonOptions) <= FORECAST_METHOD_OPTS, "options too large");

extern const ForecastMethod croston_method;
extern const ForecastMethod sba_method;

static const char *const croston_keys[] = {"croston_alpha", NULL};

static void
croston_options(Jsonb *j, void *opts)
{
	CrostonOptions *o = opts;

	o->alpha = forecast_opt_number(j, "croston_alpha", 0.1, 0, 1, false,
								   "A smoothing weight between 0 and 1 (0 = chosen by in-sample error).");
}

/* two periods, one of them after the first sale (else no in-sample error: a zero-width interval) */
static int
croston_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	int			t;

	for (t = 0; t < n && y[t] == 0; t++)
		;
	if (t == n - 1 && n >= 2)
		return n + 1;			/* the only sale is the last period */
	return n < 2 ? 2 : 0;
}

static double
croston_fit_one(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	const CrostonOptions *co = forecast_method_options(o, &croston_method);

	croston_fit(y, n, co->alpha, false, fit);
	return NAN;
}

static double
sba_fit_one(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	const CrostonOptions *co = forecast_method_options(o, &sba_method);

	croston_fit(y, n, co->alpha, true, fit);
	return NAN;
}

static void
croston_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
				 double *yhat, double *lo, double *hi)
{
	int			i;

	for (i = 0; i < h; i++)
	{
		yhat[i] = fit->slope > 0 ? fit->level / fit->slope : 0;
		if (fit->method == FIT_SBA)
			yhat[i] *= 1 - fit->alpha / 2;
	}
	forecast_flat_interval(fit, h, level, yhat, lo, hi);
}

static const char *
croston_check(const SeriesFit *fit)
{
	if (!(fit->alpha > 0 && fit->alpha <= 1) || fit->slope < 0 || fit->m != 1)
		return "invalid Croston parameters";
	return NULL;
}

static void
croston_shown(const SeriesFit *fit, bool shown[4])
{
	shown[0] = true;
}

static const char *
croston_label(const SeriesFit *fit, char *buf)
{
	return fit->method == FIT_SBA ? "sba" : "croston";
}

const ForecastMethod croston_method = {
	.name = "croston",
	.code = FIT_CROSTON,
	.kind = MODEL_KIND_CROSTON,
	.scope = METHOD_LOCAL,
	.intermittent = true,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "Croston's method for intermittent demand: demand size over demand interval",
	.option_keys = croston_keys,
	.parse_options = croston_options,
	.min_length = croston_min_length,
	.length_note = ", one of them after the first sale",
	.fit = croston_fit_one,
	.forecast = croston_forecast,
	.check = croston_check,
	.shown = croston_shown,
	.label = croston_label,
	.predict = forecast_local_predict,
};

const ForecastMethod sba_method = {
	.name = "sba",
	.code = FIT_SBA,
	.kind = MODEL_KIND_CROSTON,
	.scope = METHOD_LOCAL,
	.intermittent = true,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "Syntetos-Boylan approximation: Croston without its bias",
	.option_keys = croston_keys,
	.parse_options = croston_options,
	.min_length = croston_min_length,
	.length_note = ", one of them after the first sale",
	.fit = sba_fit_one,
	.forecast = croston_forecast,
	.check = croston_check,
	.shown = croston_shown,
	.label = croston_label,
	.predict = forecast_local_predict,
};
