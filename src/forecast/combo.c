/*
 * combo.c: 'combo', a combination of exponential smoothing (the form chosen by AICc),
 * damped-trend exponential smoothing and Theta, the lesson of the M3 and M4 competitions
 * (Makridakis et al. 2020: combinations beat the single methods they combine; M4's "Comb"
 * benchmark averages SES, Holt and damped).
 *
 * Weights come from the caller's own history: each component is fitted without the last v
 * periods and forecasts them; its weight is proportional to the inverse square of its mean
 * absolute error there (Bates & Granger 1969's inverse-MSE weighting, with the mean absolute
 * error so that one bad period does not decide), then every component is refitted on the
 * whole series. v is options.validation, else the season (7 for non-seasonal data), at most a
 * quarter of the series; when the series is too short to hold v back the weights are equal.
 *
 * The forecast is the weighted mean of the components' forecasts, and each bound the
 * weighted mean of their bounds (quantile averaging: the combined interval's coverage
 * stays near the components' own).
 *
 * In a forecast_fit model a series takes 1 + COMBO_PARTS records: this method's own (the
 * weights in alpha, beta, gamma; sigma2 the weighted components' variance, for display)
 * and then each component's fit as its method stores it. A component that could not be
 * fitted (damped ETS on a constant series) has weight 0 and an unused record.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "forecast/method.h"
#include "forecast/warm_start.h"

#define FIT_COMBO 10			/* per-series code in forecast_fit models: never renumber */
#define COMBO_PARTS 3
#define COMBO_MIN_LENGTH 5		/* what ETS and Theta need */

StaticAssertDecl(1 + COMBO_PARTS <= FORECAST_MAX_RECORDS, "raise FORECAST_MAX_RECORDS");

extern const ForecastMethod combo_method;
extern const ForecastMethod ets_method;
extern const ForecastMethod theta_method;

static int
combo_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < COMBO_MIN_LENGTH ? COMBO_MIN_LENGTH : 0;
}

/* component c of y[0 .. n): false when it cannot be fitted (its record stays unused) */
static bool
combo_fit_part(int c, const double *y, int n, int m, const ForecastOptions *o, SeriesFit *f)
{
	memset(f, 0, sizeof(*f));
	switch (c)
	{
		case 0:
			ets_method.fit(y, n, m, o, f);
			return true;
		case 1:
			{
				/* the damped trend, error and season still chosen by AICc */
				EtsOptions	d = *(const EtsOptions *) forecast_method_options(o, &ets_method);

				d.trend = ETS_ADD;
				d.damped = 1;
				d.allow_damped = true;
				warm_start_damped_form(&d);	/* a warm refit: its previous form */
				if (ets_fit(y, n, m, &d, f))
					return true;
				memset(f, 0, sizeof(*f));
				return false;
			}
		default:
			theta_method.fit(y, n, m, o, f);
			return true;
	}
}

/* the point forecasts of a fitted component over h periods (no interval needed) */
static void
combo_point(const SeriesFit *f, int h, const ForecastOptions *o, double *yhat)
{
	double	   *lo = palloc(sizeof(double) * h),
			   *hi = palloc(sizeof(double) * h);
	RiqRng		rng;

	riq_rng_seed(&rng, (uint64) o->seed, 0);
	if (f->method == FIT_ETS)
		ets_point(f, h, yhat);
	else
		fit_forecast(f, h, o->level, false, &rng, yhat, lo, hi);
	if (!o->series.allow_negative)
		for (int t = 0; t < h; t++)
			yhat[t] = Max(yhat[t], 0);
	pfree(lo);
	pfree(hi);
}

/*
 * The validation: each component's mean absolute error on the last v periods, fitted
 * without them; weights proportional to their inverses. Returns the combination's own
 * error there (what auto compares), or NaN when the series is too short to hold v back.
 */
static double
combo_weights(const double *y, int n, int m, const ForecastOptions *o, double *w)
{
	int			v = o->validation > 0 ? o->validation : Max(m, 7);
	double		mae[COMBO_PARTS],
				total = 0,
				comb_mae = 0;
	double	   *yhat[COMBO_PARTS];
	bool		ok[COMBO_PARTS];
	int			c,
				t;

	v = Min(v, n / 4);
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] = 1.0 / COMBO_PARTS;
	if (v < 1 || n - v < Max(2 * m, 8))
		return NAN;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		SeriesFit	f;

		yhat[c] = palloc(sizeof(double) * v);
		ok[c] = combo_fit_part(c, y, n - v, m, o, &f);
		mae[c] = 0;
		if (ok[c])
		{
			combo_point(&f, v, o, yhat[c]);
			for (t = 0; t < v; t++)
				mae[c] += fabs(y[n - v + t] - yhat[c][t]);
			mae[c] /= v;
		}
	}
	/* inverse errors; a perfect component (error 0) takes the weight alone */
	for (c = 0; c < COMBO_PARTS; c++)
		if (ok[c] && mae[c] == 0)
		{
			for (int k = 0; k < COMBO_PARTS; k++)
				w[k] = k == c ? 1 : 0;
			return 0;
		}
	for (c = 0; c < COMBO_PARTS; c++)
	{
		w[c] = ok[c] && isfinite(mae[c]) ? 1 / (mae[c] * mae[c]) : 0;
		total += w[c];
	}
	if (!(total > 0) || !isfinite(total))
	{
		for (c = 0; c < COMBO_PARTS; c++)
			w[c] = 1.0 / COMBO_PARTS;
		return NAN;
	}
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] /= total;
	for (t = 0; t < v; t++)
	{
		double		f = 0;

		for (c = 0; c < COMBO_PARTS; c++)
			if (w[c] > 0)
				f += w[c] * yhat[c][t];
		comb_mae += fabs(y[n - v + t] - f);
	}
	for (c = 0; c < COMBO_PARTS; c++)
		pfree(yhat[c]);
	return comb_mae / v;
}

/* component c's weight, kept in the combination's own record */
static double
combo_weight(const SeriesFit *fit, int c)
{
	return c == 0 ? fit->alpha : c == 1 ? fit->beta : fit->gamma;
}

static double
combo_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	double		w[COMBO_PARTS];
	double		vmae = combo_weights(y, n, m, o, w),
				total = 0;
	int			c;

	memset(fit, 0, sizeof(*fit));
	for (c = 0; c < COMBO_PARTS; c++)
	{
		CHECK_FOR_INTERRUPTS();
		if (w[c] > 0 && !combo_fit_part(c, y, n, m, o, &fit[1 + c]))
			w[c] = 0;
		total += w[c];
	}
	if (!(total > 0))
	{
		/* nothing but ETS, which always fits (its own fallback included) */
		combo_fit_part(0, y, n, m, o, &fit[1]);
		w[0] = total = 1;
		w[1] = w[2] = 0;
	}
	fit->method = FIT_COMBO;
	fit->m = 1;
	fit->n = n;
	fit->alpha = w[0] / total;
	fit->beta = w[1] / total;
	fit->gamma = w[2] / total;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		fit->sigma2 += combo_weight(fit, c) * fit[1 + c].sigma2;
		fit->mse += combo_weight(fit, c) * fit[1 + c].mse;
	}
	return vmae;
}

static void
combo_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			   double *yhat, double *lo, double *hi)
{
	double	   *py = palloc(sizeof(double) * h),
			   *pl = palloc(sizeof(double) * h),
			   *ph = palloc(sizeof(double) * h);
	int			c,
				t;

	for (t = 0; t < h; t++)
		yhat[t] = lo[t] = hi[t] = 0;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		double		w = combo_weight(fit, c);

		if (w <= 0)
			continue;
		fit_forecast(&fit[1 + c], h, level, false, rng, py, pl, ph);
		for (t = 0; t < h; t++)
		{
			yhat[t] += w * py[t];
			lo[t] += w * pl[t];
			hi[t] += w * ph[t];
		}
	}
	pfree(py);
	pfree(pl);
	pfree(ph);
}

/* weights in [0, 1] summing to 1; every weighted component a valid fit of its method */
static const char *
combo_check(const SeriesFit *fit)
{
	double		sum = 0;
	int			c;

	if (fit->m != 1)
		return "an invalid combination";
	for (c = 0; c < COMBO_PARTS; c++)
	{
		double		w = combo_weight(fit, c);
		const SeriesFit *part = &fit[1 + c];
		const ForecastMethod *pm;

		if (!(w >= 0 && w <= 1))
			return "a combination weight outside [0, 1]";
		sum += w;
		if (w == 0)
			continue;
		pm = forecast_method_by_code(part->method);
		if (pm == NULL || pm->check == NULL || forecast_method_records(pm) != 1 ||
			pm == &combo_method)
			return "a combination component of no known method";
		if (pm->check(part) != NULL)
			return pm->check(part);
	}
	if (fabs(sum - 1) > 1e-9)
		return "combination weights that do not sum to 1";
	return NULL;
}

static void
combo_shown(const SeriesFit *f, bool shown[4])
{
	shown[0] = shown[1] = shown[2] = true;	/* the weights */
	shown[3] = false;
}

static const char *
combo_label(const SeriesFit *f, char *buf)
{
	snprintf(buf, 16, "combo");
	return buf;
}

const ForecastMethod combo_method = {
	.name = "combo",
	.code = FIT_COMBO,
	.kind = MODEL_KIND_FORECAST_ENSEMBLE,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.records = 1 + COMBO_PARTS,
	.trainer = "forecast_fit",
	.description = "ETS, damped ETS and Theta combined, weighted by their errors on the last periods",
	.min_length = combo_min_length,
	.fit = combo_fit,
	.forecast = combo_forecast,
	.check = combo_check,
	.shown = combo_shown,
	.label = combo_label,
	.predict = forecast_local_predict,
};
