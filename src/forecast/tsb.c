/*
 * tsb.c: the Teunter-Syntetos-Babai method for intermittent demand (Teunter, Syntetos &
 * Babai 2011, "Intermittent demand: linking forecasting to inventory obsolescence").
 *
 * Unlike Croston, which updates only when a sale happens, TSB smooths the probability of a
 * sale p in every period (p += beta (1 - p) after a sale, p -= beta p after none) and the
 * demand size z in periods with a sale (z += alpha (y - z)); the forecast per period is
 * p z. So a product that stops selling sees its forecast decay towards zero instead of
 * staying at its last level: the obsolescence Croston cannot see. Start: z the first
 * demand, p one over the periods up to it. A smoothing weight of 0 is chosen from 0.05,
 * 0.10, ..., 0.30 by the in-sample one-step mean squared error. The interval is the
 * forecast plus or minus a normal quantile times the in-sample RMSE, as for Croston (no
 * stochastic model; an approximation), cut at zero for non-negative data.
 *
 * In a forecast_fit model the series' alpha and beta are stored as such, z as the level
 * and p as the slope; the model's kind is croston's (the intermittent-demand family).
 */
#include "postgres.h"

#include <math.h>

#include "forecast/method.h"

#define FIT_TSB 6				/* per-series code in forecast_fit models: never renumber */

typedef struct TsbOptions
{
	double		alpha;			/* size weight; <= 0: chosen by in-sample error */
	double		beta;			/* probability weight; <= 0: chosen likewise */
} TsbOptions;

StaticAssertDecl(sizeof(TsbOptions) <= FORECAST_METHOD_OPTS, "options too large");

extern const ForecastMethod tsb_method;

static const char *const tsb_keys[] = {"tsb_alpha", "tsb_beta", NULL};

static void
tsb_options(Jsonb *j, void *opts)
{
	TsbOptions *o = opts;

	o->alpha = forecast_opt_number(j, "tsb_alpha", 0.1, 0, 1, false,
								   "The demand size weight, between 0 and 1 (0 = chosen by in-sample error).");
	o->beta = forecast_opt_number(j, "tsb_beta", 0.1, 0, 1, false,
								  "The demand probability weight, between 0 and 1 (0 = chosen by in-sample error).");
}

/* one pass: the final size and probability, and the one-step mean squared error */
static double
tsb_run(const double *y, int n, double alpha, double beta, double *z_out, double *p_out)
{
	double		z,
				p,
				sse = 0;
	int			t0,
				t,
				cnt = 0;

	for (t0 = 0; t0 < n && y[t0] == 0; t0++)
		;
	if (t0 == n)
	{
		*z_out = *p_out = 0;
		return 0;
	}
	z = y[t0];
	p = 1.0 / (t0 + 1);
	for (t = t0 + 1; t < n; t++)
	{
		double		f = p * z;

		sse += (y[t] - f) * (y[t] - f);
		cnt++;
		if (y[t] != 0)
		{
			p += beta * (1 - p);
			z += alpha * (y[t] - z);
		}
		else
			p -= beta * p;
	}
	*z_out = z;
	*p_out = p;
	return cnt > 0 ? sse / cnt : 0;
}

static int
tsb_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < 2 ? 2 : 0;
}

static double
tsb_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	const TsbOptions *to = forecast_method_options(o, &tsb_method);
	double		alpha = to->alpha,
				beta = to->beta,
				z,
				p,
				mse;

	if (alpha <= 0 || beta <= 0)
	{
		double		best = HUGE_VAL;
		double		a0 = alpha,
					b0 = beta;
		int			i,
					k;

		for (i = 1; i <= 6; i++)
			for (k = 1; k <= 6; k++)
			{
				double		a = a0 > 0 ? a0 : 0.05 * i,
							b = b0 > 0 ? b0 : 0.05 * k;

				mse = tsb_run(y, n, a, b, &z, &p);
				if (mse < best - 1e-12)
				{
					best = mse;
					alpha = a;
					beta = b;
				}
			}
	}
	mse = tsb_run(y, n, alpha, beta, &z, &p);
	memset(fit, 0, sizeof(*fit));
	fit->method = FIT_TSB;
	fit->m = 1;
	fit->n = n;
	fit->alpha = alpha;
	fit->beta = beta;
	fit->level = z;
	fit->slope = p;
	fit->sigma2 = mse;
	fit->mse = mse;
	return NAN;
}

static void
tsb_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			 double *yhat, double *lo, double *hi)
{
	forecast_flat(fit, fit->slope * fit->level, h, level, yhat, lo, hi);
}

static const char *
tsb_check(const SeriesFit *fit)
{
	if (!(fit->alpha > 0 && fit->alpha <= 1) || !(fit->beta > 0 && fit->beta <= 1) ||
		!(fit->slope >= 0 && fit->slope <= 1) || fit->m != 1)
		return "invalid TSB parameters";
	return NULL;
}

static void
tsb_shown(const SeriesFit *fit, bool shown[4])
{
	shown[0] = shown[1] = true;
}

static const char *
tsb_label(const SeriesFit *fit, char *buf)
{
	return "tsb";
}

const ForecastMethod tsb_method = {
	.name = "tsb",
	.code = FIT_TSB,
	.kind = MODEL_KIND_CROSTON,
	.scope = METHOD_LOCAL,
	.intermittent = true,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "Teunter-Syntetos-Babai: demand probability smoothed every period times demand size, so dying products decay",
	.option_keys = tsb_keys,
	.parse_options = tsb_options,
	.min_length = tsb_min_length,
	.fit = tsb_fit,
	.forecast = tsb_forecast,
	.check = tsb_check,
	.shown = tsb_shown,
	.label = tsb_label,
	.predict = forecast_local_predict,
};
