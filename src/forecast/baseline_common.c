/*
 * baseline_common.c: seasonal naive, the mean fallback, and the forecast routine every
 * statistical baseline shares (point forecasts and prediction intervals).
 *
 * Seasonal naive repeats the last season; its interval is R's: residuals are the
 * seasonal differences y[t] - y[t-m], sigma^2 their mean square, and step h has variance
 * sigma^2 * (floor((h - 1) / m) + 1).
 */
#include "postgres.h"

#include <math.h>

#include "core/stats.h"
#include "forecast/baselines.h"

#define SIM_PATHS 5000

void
snaive_fit(const double *y, int n, int m, SeriesFit *fit)
{
	double		ss = 0;
	int			t,
				k;

	memset(fit, 0, sizeof(*fit));
	if (m < 1 || m > FIT_MAX_M || n <= m)
		m = 1;
	fit->method = FIT_SNAIVE;
	fit->m = m;
	fit->n = n;
	for (k = 0; k < m; k++)
		fit->s[k] = y[n - 1 - k];
	for (t = m; t < n; t++)
		ss += (y[t] - y[t - m]) * (y[t] - y[t - m]);
	fit->sigma2 = n > m ? ss / (n - m) : 0;
	fit->mse = fit->sigma2;
	fit->level = y[n - 1];
}

void
mean_fit(const double *y, int n, SeriesFit *fit)
{
	double		s = 0,
				ss = 0;
	int			t;

	memset(fit, 0, sizeof(*fit));
	fit->method = FIT_MEAN;
	fit->m = 1;
	fit->n = n;
	for (t = 0; t < n; t++)
		s += y[t];
	fit->level = n > 0 ? s / n : 0;
	for (t = 0; t < n; t++)
		ss += (y[t] - fit->level) * (y[t] - fit->level);
	fit->sigma2 = n > 1 ? ss / (n - 1) : 0;
	fit->mse = n > 0 ? ss / n : 0;
}

void
fit_forecast(const SeriesFit *fit, int h, double level, bool nonneg, RiqRng *rng,
			 double *yhat, double *lo, double *hi)
{
	double		z = riq_normal_quantile((1 + level) / 2);
	int			i;

	switch (fit->method)
	{
		case FIT_SNAIVE:
			for (i = 0; i < h; i++)
			{
				double		sd = sqrt(fit->sigma2 * (floor((double) i / fit->m) + 1));

				yhat[i] = fit->s[fit->m - 1 - (i % fit->m)];
				lo[i] = yhat[i] - z * sd;
				hi[i] = yhat[i] + z * sd;
			}
			break;
		case FIT_ETS:
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
			break;
		case FIT_CROSTON:
		case FIT_SBA:
		case FIT_MEAN:
			for (i = 0; i < h; i++)
			{
				double		sd = sqrt(fit->sigma2);

				if (fit->method == FIT_MEAN)
					yhat[i] = fit->level;
				else
					yhat[i] = fit->slope > 0 ? fit->level / fit->slope : 0;
				if (fit->method == FIT_SBA)
					yhat[i] *= 1 - fit->alpha / 2;
				lo[i] = yhat[i] - z * sd;
				hi[i] = yhat[i] + z * sd;
			}
			break;
		default:
			elog(ERROR, "unknown forecast method %d", fit->method);
	}
	if (nonneg)
		for (i = 0; i < h; i++)
		{
			yhat[i] = Max(yhat[i], 0);
			lo[i] = Max(lo[i], 0);
			hi[i] = Max(hi[i], 0);
		}
}
