/*
 * baseline_common.c: the two simplest methods of the table, seasonal naive and the mean
 * (the fallback for series too short for anything else), and the flat interval the
 * methods without a stochastic model share.
 *
 * Seasonal naive repeats the last season; its interval is R's: residuals are the
 * seasonal differences y[t] - y[t-m], sigma^2 their mean square, and step h has variance
 * sigma^2 * (floor((h - 1) / m) + 1).
 */
#include "postgres.h"

#include <math.h>

#include "core/stats.h"
#include "forecast/method.h"

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
forecast_flat(const SeriesFit *fit, double value, int h, double level,
			  double *yhat, double *lo, double *hi)
{
	int			i;

	for (i = 0; i < h; i++)
		yhat[i] = value;
	forecast_flat_interval(fit, h, level, yhat, lo, hi);
}

void
forecast_flat_interval(const SeriesFit *fit, int h, double level, const double *yhat,
					   double *lo, double *hi)
{
	double		z = riq_normal_quantile((1 + level) / 2);
	double		sd = sqrt(fit->sigma2);
	int			i;

	for (i = 0; i < h; i++)
	{
		lo[i] = yhat[i] - z * sd;
		hi[i] = yhat[i] + z * sd;
	}
}

/* ---------- seasonal naive ---------- */

static int
snaive_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	int			need = m > 1 ? 2 * m : 2;

	return n < need ? need : 0;
}

static double
snaive_fit_one(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	snaive_fit(y, n, m, fit);
	return NAN;
}

static void
snaive_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
				double *yhat, double *lo, double *hi)
{
	double		z = riq_normal_quantile((1 + level) / 2);
	int			i;

	for (i = 0; i < h; i++)
	{
		double		sd = sqrt(fit->sigma2 * (floor((double) i / fit->m) + 1));

		yhat[i] = fit->s[fit->m - 1 - (i % fit->m)];
		lo[i] = yhat[i] - z * sd;
		hi[i] = yhat[i] + z * sd;
	}
}

static const char *
snaive_check(const SeriesFit *fit)
{
	return NULL;
}

static const char *
snaive_label(const SeriesFit *fit, char *buf)
{
	return fit->m > 1 ? "snaive" : "naive";
}

const ForecastMethod snaive_method = {
	.name = "snaive",
	.code = FIT_SNAIVE,
	.kind = MODEL_KIND_SEASONAL_NAIVE,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "seasonal naive: the last season repeated (the naive forecast without a season)",
	.min_length = snaive_min_length,
	.fit = snaive_fit_one,
	.forecast = snaive_forecast,
	.check = snaive_check,
	.label = snaive_label,
	.predict = forecast_local_predict,
};

/* ---------- the mean ---------- */

static void
mean_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			  double *yhat, double *lo, double *hi)
{
	forecast_flat(fit, fit->level, h, level, yhat, lo, hi);
}

static const char *
mean_check(const SeriesFit *fit)
{
	return fit->m != 1 ? "a season with the mean method" : NULL;
}

static const char *
mean_label(const SeriesFit *fit, char *buf)
{
	return "mean";
}

/* only a fallback: no user asks for it, and it writes no model of its own */
const ForecastMethod mean_method = {
	.name = "mean",
	.code = FIT_MEAN,
	.kind = MODEL_KIND_ANY,
	.scope = METHOD_LOCAL,
	.trainer = "forecast_fit",
	.description = "the mean of the series (the fallback for very short series)",
	.forecast = mean_forecast,
	.check = mean_check,
	.label = mean_label,
};
