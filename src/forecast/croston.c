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

#include "forecast/baselines.h"

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
