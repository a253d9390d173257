/*
 * adida.c: ADIDA, the aggregate-disaggregate intermittent demand approach (Nikolopoulos,
 * Syntetos, Boylan, Petropoulos & Assimakopoulos 2011). A series that sells every few
 * periods is summed into non-overlapping buckets as long as its mean inter-demand interval
 * (rounded: the level k), so the buckets mostly hold a sale and simple exponential
 * smoothing sees a smooth series; the bucket forecast is spread evenly over the k periods.
 *
 * Buckets end at the last period (the oldest n mod k periods are left out); SES starts at
 * the first bucket and its weight, unless given, is chosen from 0.05, 0.10, ..., 0.30 by the
 * in-sample one-step squared error of the buckets (the intermittent family's grid, as
 * Croston's). The level k is at most n / 2, so there are two buckets to learn from. The
 * interval is the forecast plus or minus a normal quantile times the in-sample RMSE of the
 * per-period forecasts (no stochastic model; an approximation, as for Croston), cut at 0
 * for non-negative data.
 *
 * In a forecast_fit model: alpha as such, the SES level (per bucket) as the level and k
 * as the slope, so the forecast per period is level / slope (Croston stores size and
 * interval the same way).
 */
#include "postgres.h"

#include <math.h>

#include "forecast/adida.h"
#include "forecast/demand_class.h"

#define FIT_ADIDA 8				/* per-series code in forecast_fit models: never renumber */

typedef struct AdidaOptions
{
	double		alpha;			/* <= 0: chosen by in-sample error */
	int			level;			/* 0: the mean inter-demand interval */
} AdidaOptions;

StaticAssertDecl(sizeof(AdidaOptions) <= FORECAST_METHOD_OPTS, "options too large");

extern const ForecastMethod adida_method;

static const char *const adida_keys[] = {"adida_alpha", "adida_level", NULL};

int
adida_default_level(const double *y, int n)
{
	double		adi,
				cv2;
	int			k = 1;

	if (demand_stats(y, n, &adi, &cv2) > 0)
		k = (int) Min(floor(adi + 0.5), (double) PG_INT32_MAX);
	return Max(1, Min(k, n / 2));
}

/* SES over the buckets b[0..nb-1] with weight alpha: the squared error, the final level */
static double
ses_run(const double *b, int nb, double alpha, double *level)
{
	double		l = b[0],
				sse = 0;
	int			i;

	for (i = 1; i < nb; i++)
	{
		sse += (b[i] - l) * (b[i] - l);
		l += alpha * (b[i] - l);
	}
	*level = l;
	return sse;
}

void
adida_level(const double *y, int n, int k, double alpha, double *level, double *alpha_out,
			double *per_period)
{
	int			nb = n / k,
				off = n - nb * k,
				i,
				t;
	double	   *b = palloc0(sizeof(double) * Max(nb, 1));

	Assert(k >= 1 && nb >= 1);
	for (i = 0; i < nb; i++)
		for (t = 0; t < k; t++)
			b[i] += y[off + i * k + t];
	if (alpha <= 0)
	{
		double		best = HUGE_VAL;

		for (i = 1; i <= ADIDA_ALPHA_STEPS; i++)
		{
			double		a = ADIDA_ALPHA_STEP * i,
						l,
						sse = ses_run(b, nb, a, &l);

			if (i == 1 || sse < best - 1e-12 * (1 + best))
			{
				best = sse;
				alpha = a;
			}
		}
	}
	(void) ses_run(b, nb, alpha, level);
	*alpha_out = alpha;
	if (per_period != NULL)
	{
		double		l = b[0];

		for (t = 0; t < n; t++)
			per_period[t] = NAN;
		for (i = 1; i < nb; i++)
		{
			for (t = 0; t < k; t++)
				per_period[off + i * k + t] = l / k;
			l += alpha * (b[i] - l);
		}
	}
	pfree(b);
}

static void
adida_options(Jsonb *j, void *opts)
{
	AdidaOptions *o = opts;

	o->alpha = forecast_opt_number(j, "adida_alpha", 0, 0, 1, false,
								   "The smoothing weight of the aggregated series, between 0 and 1 (0 = chosen by in-sample error).");
	o->level = (int) forecast_opt_number(j, "adida_level", 0, 0, ADIDA_MAX_LEVEL, true,
										 "The aggregation level, a whole number of periods per bucket (0 = the mean interval between sales).");
}

static int
adida_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < 2 ? 2 : 0;
}

static double
adida_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	const AdidaOptions *ao = forecast_method_options(o, &adida_method);
	int			k = ao->level > 0 ? Min(ao->level, Max(n / 2, 1)) : adida_default_level(y, n);
	double	   *pp = palloc(sizeof(double) * n);
	double		level,
				alpha,
				sse = 0;
	int			cnt = 0,
				t;

	adida_level(y, n, k, ao->alpha, &level, &alpha, pp);
	for (t = 0; t < n; t++)
		if (!isnan(pp[t]))
		{
			sse += (y[t] - pp[t]) * (y[t] - pp[t]);
			cnt++;
		}
	pfree(pp);
	memset(fit, 0, sizeof(*fit));
	fit->method = FIT_ADIDA;
	fit->m = 1;
	fit->n = n;
	fit->alpha = alpha;
	fit->level = level;
	fit->slope = k;
	fit->sigma2 = cnt > 0 ? sse / cnt : 0;
	fit->mse = fit->sigma2;
	return NAN;
}

static void
adida_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			   double *yhat, double *lo, double *hi)
{
	forecast_flat(fit, fit->level / fit->slope, h, level, yhat, lo, hi);
}

static const char *
adida_check(const SeriesFit *fit)
{
	if (!(fit->alpha > 0 && fit->alpha <= 1) || fit->m != 1 ||
		!(fit->slope >= 1 && fit->slope <= PG_INT32_MAX) || fit->slope != floor(fit->slope))
		return "invalid ADIDA parameters";
	return NULL;
}

static void
adida_shown(const SeriesFit *fit, bool shown[4])
{
	shown[0] = true;
}

static const char *
adida_label(const SeriesFit *fit, char *buf)
{
	return "adida";
}

const ForecastMethod adida_method = {
	.name = "adida",
	.code = FIT_ADIDA,
	.kind = MODEL_KIND_CROSTON,
	.scope = METHOD_LOCAL,
	.intermittent = true,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "ADIDA: SES on buckets as long as the mean interval between sales, spread evenly over the bucket",
	.option_keys = adida_keys,
	.parse_options = adida_options,
	.min_length = adida_min_length,
	.fit = adida_fit,
	.forecast = adida_forecast,
	.check = adida_check,
	.shown = adida_shown,
	.label = adida_label,
	.predict = forecast_local_predict,
};
