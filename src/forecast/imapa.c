/*
 * imapa.c: IMAPA, the intermittent multiple aggregation prediction algorithm (Petropoulos
 * & Kourentzes 2015, "Forecast combinations for intermittent demand"): ADIDA at every
 * aggregation level k = 1, 2, ..., K (adida.c: buckets of k periods ending at the last
 * period, SES, spread evenly), the per-period forecasts averaged with equal weights. No
 * single level has to be right; K is the mean inter-demand interval rounded (at most n / 2),
 * so a smooth series (K = 1) gets plain SES.
 *
 * Each level chooses its own SES weight (or takes adida_alpha). The interval is the
 * forecast plus or minus a normal quantile times the in-sample RMSE of the combined
 * per-period forecast, over the periods every level has a forecast for; cut at 0 for
 * non-negative data (an approximation, as for Croston).
 *
 * In a forecast_fit model: the combined forecast per period as the level, K as the slope;
 * alpha is the mean of the levels' weights (not shown: no single weight made the forecast).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "forecast/adida.h"

#define FIT_IMAPA 9				/* per-series code in forecast_fit models: never renumber */

typedef struct ImapaOptions
{
	double		alpha;			/* <= 0: chosen per level by in-sample error */
	int			max_level;		/* 0: the mean inter-demand interval */
} ImapaOptions;

StaticAssertDecl(sizeof(ImapaOptions) <= FORECAST_METHOD_OPTS, "options too large");

extern const ForecastMethod imapa_method;

static const char *const imapa_keys[] = {"adida_alpha", "imapa_max_level", NULL};

static void
imapa_options(Jsonb *j, void *opts)
{
	ImapaOptions *o = opts;

	o->alpha = forecast_opt_number(j, "adida_alpha", 0, 0, 1, false,
								   "The smoothing weight of the aggregated series, between 0 and 1 (0 = chosen by in-sample error).");
	o->max_level = (int) forecast_opt_number(j, "imapa_max_level", 0, 0, ADIDA_MAX_LEVEL, true,
											 "The highest aggregation level, a whole number of periods (0 = the mean interval between sales).");
}

static int
imapa_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < 2 ? 2 : 0;
}

static double
imapa_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	const ImapaOptions *io = forecast_method_options(o, &imapa_method);
	int			kmax = io->max_level > 0 ? Min(io->max_level, Max(n / 2, 1)) : adida_default_level(y, n);
	double	   *pp = palloc(sizeof(double) * n),
			   *sum = palloc0(sizeof(double) * n);
	int		   *cnt = palloc0(sizeof(int) * n);
	double		forecast = 0,
				alphas = 0,
				sse = 0;
	int			k,
				t,
				used = 0;

	for (k = 1; k <= kmax; k++)
	{
		double		level,
					alpha;

		CHECK_FOR_INTERRUPTS();
		adida_level(y, n, k, io->alpha, &level, &alpha, pp);
		forecast += level / k;
		alphas += alpha;
		for (t = 0; t < n; t++)
			if (!isnan(pp[t]))
			{
				sum[t] += pp[t];
				cnt[t]++;
			}
	}
	for (t = 0; t < n; t++)
		if (cnt[t] == kmax)
		{
			double		e = y[t] - sum[t] / kmax;

			sse += e * e;
			used++;
		}
	pfree(pp);
	pfree(sum);
	pfree(cnt);
	memset(fit, 0, sizeof(*fit));
	fit->method = FIT_IMAPA;
	fit->m = 1;
	fit->n = n;
	fit->alpha = alphas / kmax;
	fit->level = forecast / kmax;
	fit->slope = kmax;
	fit->sigma2 = used > 0 ? sse / used : 0;
	fit->mse = fit->sigma2;
	return NAN;
}

static void
imapa_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			   double *yhat, double *lo, double *hi)
{
	forecast_flat(fit, fit->level, h, level, yhat, lo, hi);
}

static const char *
imapa_check(const SeriesFit *fit)
{
	if (!(fit->alpha > 0 && fit->alpha <= 1) || fit->m != 1 ||
		!(fit->slope >= 1 && fit->slope <= PG_INT32_MAX) || fit->slope != floor(fit->slope))
		return "invalid IMAPA parameters";
	return NULL;
}

static const char *
imapa_label(const SeriesFit *fit, char *buf)
{
	return "imapa";
}

const ForecastMethod imapa_method = {
	.name = "imapa",
	.code = FIT_IMAPA,
	.kind = MODEL_KIND_CROSTON,
	.scope = METHOD_LOCAL,
	.intermittent = true,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "IMAPA: the ADIDA forecasts of every aggregation level from 1 to the mean interval between sales, averaged",
	.option_keys = imapa_keys,
	.parse_options = imapa_options,
	.min_length = imapa_min_length,
	.fit = imapa_fit,
	.forecast = imapa_forecast,
	.check = imapa_check,
	.label = imapa_label,
	.predict = forecast_local_predict,
};
