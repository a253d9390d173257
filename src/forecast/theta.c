/*
 * theta.c: the Theta method of Assimakopoulos & Nikolopoulos (2000), in the form Hyndman &
 * Billah (2003) showed it to be, simple exponential smoothing with drift, computed as R's
 * forecast::thetaf computes it:
 *
 *  1. Seasonality: with a season m > 1, a non-constant series longer than 2m periods is
 *     called seasonal when its autocorrelation at lag m passes a 90% test,
 *     |r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n). A seasonal series is divided by the
 *     factors of a classical multiplicative decomposition (centred moving average of order
 *     m; the mean ratio to it per position in the season, counted from the first period,
 *     normalised to mean 1), unless a factor is below 1e-4 in size (then, as R, no
 *     adjustment).
 *  2. SES on the adjusted series x: the ETS form (A,N,N), its alpha and initial level
 *     estimated by maximum likelihood (ets.c, as R's ses does through ets).
 *  3. Drift b = half the slope of the least-squares line through x; step h forecasts
 *     level + b ((h - 1) + (1 - (1 - alpha)^n) / alpha), times the factor of its position
 *     in the season for a seasonal series.
 *  4. Interval: the forecast plus or minus a normal quantile times
 *     sigma sqrt(1 + (h - 1) alpha^2), sigma^2 the SES innovation variance (SSE / (n - 2)),
 *     as thetaf (its width is not reseasonalised either).
 *
 * A constant series (no SES fit) forecasts its value with a zero-width interval, as R.
 *
 * In a forecast_fit model: alpha as such, the slope is the drift b, the level the
 * adjusted step-1 forecast (the SES level plus b (1 - (1 - alpha)^n) / alpha, so the
 * series length need not be stored), the season form M with the m factors (s[m - 1] for
 * the next period, as ETS stores its states) or N with m = 1; sigma2 the variance above.
 */
#include "postgres.h"

#include <math.h>

#include "core/stats.h"
#include "forecast/method.h"

#define FIT_THETA 7				/* per-series code in forecast_fit models: never renumber */
#define THETA_MIN_LENGTH 5		/* SES (A,N,N) with its AICc: n > parameters + 2 */
#define THETA_MIN_FACTOR 1e-4	/* R's "seasonal indexes close to zero" */

extern const ForecastMethod theta_method;

/* thetaf's seasonality test: the lag-m autocorrelation at the 90% level */
static bool
theta_is_seasonal(const double *y, int n, int m)
{
	double		mean = 0,
				c0 = 0,
				sum_r2 = 0,
				rm = 0;
	int			t,
				k;

	if (m < 2 || n <= 2 * m)
		return false;
	for (t = 0; t < n; t++)
		mean += y[t];
	mean /= n;
	for (t = 0; t < n; t++)
		c0 += (y[t] - mean) * (y[t] - mean);
	if (c0 <= 0)
		return false;			/* constant */
	for (k = 1; k <= m; k++)
	{
		double		ck = 0,
					r;

		for (t = 0; t + k < n; t++)
			ck += (y[t] - mean) * (y[t + k] - mean);
		r = ck / c0;
		if (k < m)
			sum_r2 += r * r;
		else
			rm = r;
	}
	return fabs(rm) / sqrt((1 + 2 * sum_r2) / n) > riq_normal_quantile(0.95);
}

/*
 * Classical multiplicative decomposition (R's decompose): figure[i] is the factor of the
 * periods i, i + m, i + 2m, ... of y. False when a factor is not finite or too close to
 * zero to divide by (R then uses the series unadjusted).
 */
static bool
theta_factors(const double *y, int n, int m, double *figure)
{
	int			half = m / 2;
	double		total = 0;
	int			i,
				t;

	for (i = 0; i < m; i++)
	{
		double		sum = 0;
		int			cnt = 0;

		for (t = i; t < n; t += m)
		{
			double		trend = 0,
						ratio;
			int			j;

			if (t - half < 0 || t + half >= n)
				continue;		/* the moving average is not defined at the ends */
			if (m % 2 == 0)
			{
				/* order 2 x m: half weights on the two ends */
				trend = 0.5 * (y[t - half] + y[t + half]);
				for (j = -half + 1; j < half; j++)
					trend += y[t + j];
			}
			else
				for (j = -half; j <= half; j++)
					trend += y[t + j];
			trend /= m;
			ratio = y[t] / trend;
			if (isnan(ratio))
				continue;		/* 0 / 0: R's mean(na.rm = TRUE) leaves it out */
			sum += ratio;
			cnt++;
		}
		figure[i] = cnt > 0 ? sum / cnt : NAN;
		total += figure[i];
	}
	for (i = 0; i < m; i++)
	{
		figure[i] /= total / m;
		if (!isfinite(figure[i]) || fabs(figure[i]) < THETA_MIN_FACTOR)
			return false;
	}
	return true;
}

static int
theta_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < THETA_MIN_LENGTH ? THETA_MIN_LENGTH : 0;
}

static double
theta_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	double		figure[FIT_MAX_M];
	double	   *x = palloc(sizeof(double) * n);
	bool		seasonal = false;
	EtsOptions	eo;
	SeriesFit	ses;
	double		tbar = (n - 1) / 2.0,
				xbar = 0,
				sxy = 0,
				stt = 0,
				drift,
				alpha;
	int			t,
				j;

	if (m >= 2 && m <= FIT_MAX_M && theta_is_seasonal(y, n, m))
		seasonal = theta_factors(y, n, m, figure);
	for (t = 0; t < n; t++)
		x[t] = seasonal ? y[t] / figure[t % m] : y[t];

	ets_default_options(&eo);
	eo.error = ETS_ADD;
	eo.trend = ETS_NONE;
	eo.season = ETS_NONE;
	eo.damped = 0;
	if (!ets_fit(x, n, 1, &eo, &ses))
	{
		/* a constant series (or none SES fits): its value, no drift, a zero-width interval */
		pfree(x);
		mean_fit(y, n, fit);
		if (fit->sigma2 > 0)
			return NAN;			/* not constant: the mean, with its interval */
		memset(fit, 0, sizeof(*fit));
		fit->method = FIT_THETA;
		fit->m = 1;
		fit->n = n;
		fit->alpha = 0.9999;
		fit->level = y[n - 1];
		return NAN;
	}

	for (t = 0; t < n; t++)
		xbar += x[t];
	xbar /= n;
	for (t = 0; t < n; t++)
	{
		sxy += (t - tbar) * (x[t] - xbar);
		stt += (t - tbar) * (t - tbar);
	}
	drift = sxy / stt / 2;
	alpha = Max(ses.alpha, 1e-10);

	memset(fit, 0, sizeof(*fit));
	fit->method = FIT_THETA;
	fit->n = n;
	fit->alpha = ses.alpha;
	fit->slope = drift;
	fit->level = ses.level + drift * (1 - pow(1 - alpha, n)) / alpha;
	fit->sigma2 = ses.sigma2;
	fit->mse = ses.mse;
	if (seasonal)
	{
		fit->season = ETS_MULT;
		fit->m = m;
		for (j = 0; j < m; j++)
			fit->s[m - 1 - j] = figure[(n + j) % m];
	}
	else
		fit->m = 1;
	pfree(x);
	return NAN;
}

static void
theta_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			   double *yhat, double *lo, double *hi)
{
	double		z = riq_normal_quantile((1 + level) / 2);
	double		sd = sqrt(fit->sigma2);
	int			i;

	for (i = 0; i < h; i++)
	{
		double		f = fit->level + fit->slope * i;
		double		se = sd * sqrt(1 + i * fit->alpha * fit->alpha);

		if (fit->season == ETS_MULT)
			f *= fit->s[fit->m - 1 - (i % fit->m)];
		yhat[i] = f;
		lo[i] = f - z * se;
		hi[i] = f + z * se;
	}
}

static const char *
theta_check(const SeriesFit *fit)
{
	int			k;

	if (fit->error != ETS_NONE || fit->trend != ETS_NONE || fit->damped ||
		!(fit->alpha > 0 && fit->alpha <= 1))
		return "invalid Theta parameters";
	if (fit->season == ETS_MULT)
	{
		if (fit->m < 2 || fit->m > FIT_MAX_M)
			return "an invalid Theta season";
		for (k = 0; k < fit->m; k++)
			if (!(fabs(fit->s[k]) >= THETA_MIN_FACTOR))
				return "a Theta seasonal factor close to zero";
	}
	else if (fit->season != ETS_NONE || fit->m != 1)
		return "an invalid Theta season";
	return NULL;
}

static void
theta_shown(const SeriesFit *fit, bool shown[4])
{
	shown[0] = true;
}

static const char *
theta_label(const SeriesFit *fit, char *buf)
{
	return "theta";
}

const ForecastMethod theta_method = {
	.name = "theta",
	.code = FIT_THETA,
	.kind = MODEL_KIND_THETA,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.trainer = "forecast_fit",
	.description = "Theta (Assimakopoulos-Nikolopoulos; R's thetaf): SES with drift, after a multiplicative seasonal adjustment when the series tests seasonal",
	.min_length = theta_min_length,
	.fit = theta_fit,
	.forecast = theta_forecast,
	.check = theta_check,
	.shown = theta_shown,
	.label = theta_label,
	.predict = forecast_local_predict,
};
