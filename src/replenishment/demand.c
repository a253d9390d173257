/*
 * demand.c: the distribution of demand over a protection period (lead time + review
 * period) and the order-up-to order that covers it (replenish.h).
 *
 * The stored forecasts give, per period, a mean and a prediction interval; the interval's
 * width gives a variance. A Normal with that mean and variance is wrong for the demand a
 * store sees of most products: small counts, many zero days, a long right tail. Summed over
 * the protection period, demand is taken as a negative binomial with the summed mean and
 * variance (a Poisson when the variance does not exceed the mean): the sum of per-period
 * negative binomials of a common dispersion is exactly that, and it keeps the mass at zero
 * and the skew that intermittent demand has, so its quantile is the order-up-to level at a
 * service level and its partial expectation the expected shortage (fill rate).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/memory.h"
#include "replenishment/replenish.h"

/* grid points at most: finer than any pack size matters at this spread */
#define REPL_GRID_MAX 8192

void
repl_dist_init(ReplDist *d, double mean, double var)
{
	double		sd,
				kmin,
				kmax,
				r = 0,
				logp = 0,
				log1mp = 0,
				total = 0;
	bool		poisson;
	int			i;

	d->mean = mean > 0 ? mean : 0;
	d->var = var > 0 ? var : 0;
	if (d->mean <= 0)
	{
		d->k0 = 0;
		d->step = 1;
		d->n = 1;
		d->p = palloc(sizeof(double));
		d->p[0] = 1;
		return;
	}
	poisson = d->var <= d->mean;
	sd = sqrt(poisson ? d->mean : d->var);
	kmin = floor(fmax(0, d->mean - 12 * sd));
	/* the negative binomial's right tail is long when its shape is small */
	kmax = ceil(d->mean + 40 * sd + 20);
	d->step = fmax(1, ceil((kmax - kmin) / (REPL_GRID_MAX - 1)));
	d->k0 = kmin;
	d->n = (int) floor((kmax - kmin) / d->step) + 1;
	d->p = riq_alloc(CurrentMemoryContext, riq_mul_size(d->n, sizeof(double), "demand distribution"),
					 "demand distribution");
	if (!poisson)
	{
		double		prob = d->mean / d->var;

		r = d->mean * d->mean / (d->var - d->mean);
		logp = log(prob);
		log1mp = log1p(-prob);
	}
	for (i = 0; i < d->n; i++)
	{
		double		k = d->k0 + i * d->step;
		double		lp;

		if (poisson)
			lp = k * log(d->mean) - d->mean - lgamma(k + 1);
		else
			lp = lgamma(k + r) - lgamma(r) - lgamma(k + 1) + r * logp + k * log1mp;
		d->p[i] = exp(lp);
		total += d->p[i];
	}
	/* the grid holds all but a negligible tail; renormalised, it is a distribution */
	if (!(total > 0) || !isfinite(total))
	{
		/* cannot happen for finite moments; keep the mean as a point mass */
		d->k0 = round(d->mean);
		d->n = 1;
		d->p[0] = 1;
		return;
	}
	for (i = 0; i < d->n; i++)
		d->p[i] /= total;
}

void
repl_dist_free(ReplDist *d)
{
	if (d->p)
		pfree(d->p);
	d->p = NULL;
}

double
repl_dist_quantile(const ReplDist *d, double alpha)
{
	double		cum = 0;
	int			i;

	for (i = 0; i < d->n; i++)
	{
		cum += d->p[i];
		/* tolerance: the renormalised sum may end a rounding error short of 1 */
		if (cum >= alpha - 1e-12)
			return d->k0 + i * d->step;
	}
	return d->k0 + (d->n - 1) * d->step;
}

double
repl_dist_shortage(const ReplDist *d, double s)
{
	double		e = 0;
	int			i;

	for (i = d->n - 1; i >= 0; i--)
	{
		double		k = d->k0 + i * d->step;

		if (k <= s)
			break;
		e += (k - s) * d->p[i];
	}
	return e;
}

static void
repl_sum(const double *mean, const double *var, int from, int to, double *m, double *v)
{
	int			i;

	*m = 0;
	*v = 0;
	for (i = from; i < to; i++)
	{
		*m += fmax(mean[i], 0);
		*v += fmax(var[i], 0);
	}
}

void
repl_order(const double *mean, const double *var, int lead, int review, int shelf,
		   double service_level, double position, double pack, double moq, ReplOrder *out)
{
	ReplDist	dlr,
				dl;
	double		m,
				v,
				cap = INFINITY,
				level,
				raw,
				q = 0,
				review_demand;

	memset(out, 0, sizeof(*out));
	repl_sum(mean, var, 0, lead + review, &m, &v);
	repl_dist_init(&dlr, m, v);
	out->demand_mean = m;
	out->demand_quantile = repl_dist_quantile(&dlr, service_level);
	level = out->demand_quantile;
	if (m <= 0)
		out->reasons |= REPL_NO_DEMAND;

	/* perishables: never more than sells, at the service level, before the order spoils */
	if (shelf > 0)
	{
		ReplDist	ds;

		repl_sum(mean, var, 0, lead + shelf, &m, &v);
		repl_dist_init(&ds, m, v);
		cap = repl_dist_quantile(&ds, 1 - service_level);
		repl_dist_free(&ds);
		if (cap < level)
		{
			level = cap;
			out->reasons |= REPL_SHELF;
		}
	}
	out->order_up_to = level;

	raw = level - position;
	if (raw <= 0 || out->demand_mean <= 0)
		out->reasons |= REPL_ENOUGH;
	else
	{
		q = raw;
		if (q < moq)
		{
			q = moq;
			out->reasons |= REPL_MOQ;
		}
		if (pack > 0 && fmod(q, pack) != 0)
		{
			q = ceil(q / pack) * pack;
			out->reasons |= REPL_PACK;
		}
		if (position + q > cap)
		{
			/* whole packs that still sell before they spoil */
			q = pack > 0 ? floor((cap - position) / pack) * pack : cap - position;
			out->reasons &= ~REPL_PACK;
			if (q < moq || q <= 0)
			{
				q = 0;
				out->reasons |= REPL_SHELF_MOQ;
			}
		}
	}
	out->order_qty = q;

	/* expected fill rate of the review period's demand with the position after ordering */
	repl_sum(mean, var, lead, lead + review, &review_demand, &v);
	if (review_demand <= 0)
		out->fill_rate = 1;
	else
	{
		double		s = position + q;
		double		short_lr = repl_dist_shortage(&dlr, s);
		double		short_l = 0;

		if (lead > 0)
		{
			repl_sum(mean, var, 0, lead, &m, &v);
			repl_dist_init(&dl, m, v);
			short_l = repl_dist_shortage(&dl, s);
			repl_dist_free(&dl);
		}
		out->fill_rate = fmin(1, fmax(0, 1 - (short_lr - short_l) / review_demand));
	}
	repl_dist_free(&dlr);
}
