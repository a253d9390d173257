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

/* P(D <= v) on the grid: the probability of the grid points at or below v */
static double
repl_dist_cdf_at(const ReplDist *d, const double *cdf, double v)
{
	double		i;

	if (v < d->k0)
		return 0;
	i = floor((v - d->k0) / d->step);
	return i >= d->n - 1 ? 1 : cdf[(int) i];
}

/*
 * Lost sales: what sells during the lead time comes out of the stock there is, and demand
 * beyond it is lost, not owed; the order arrives after the lead time whole. The review
 * period after the arrival is served when its demand D_R stays within (x - D_L)+ + q (x: on
 * hand + on order, taken as there at the start; D_L: the lead time's demand). The smallest
 * whole q with that probability at least `level` (binary search: it grows with q); never more
 * than the backorder answer `hi`.
 */
double
repl_lost_sales_qty(const ReplDist *dl, const ReplDist *dr, double x, double level, double hi)
{
	double	   *cdf = palloc(sizeof(double) * dr->n),
				lo = 0,
				cum = 0;
	int			i;

	for (i = 0; i < dr->n; i++)
	{
		cum += dr->p[i];
		cdf[i] = cum;
	}
	hi = fmax(0, ceil(hi));
	while (lo < hi)
	{
		double		q = floor((lo + hi) / 2),
					served = 0;

		CHECK_FOR_INTERRUPTS();
		if (dl == NULL)
			served = repl_dist_cdf_at(dr, cdf, x + q);
		else
			for (i = 0; i < dl->n; i++)
				served += dl->p[i] * repl_dist_cdf_at(dr, cdf, fmax(0, x - (dl->k0 + i * dl->step)) + q);
		if (served >= level - 1e-12)
			hi = q;
		else
			lo = q + 1;
	}
	pfree(cdf);
	return lo;
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
				dl,
				dr;
	double		m,
				v,
				cap = INFINITY,
				need,
				q = 0,
				review_demand;

	memset(out, 0, sizeof(*out));
	repl_sum(mean, var, 0, lead + review, &m, &v);
	repl_dist_init(&dlr, m, v);
	out->demand_mean = m;
	out->demand_quantile = repl_dist_quantile(&dlr, service_level);
	if (m <= 0)
		out->reasons |= REPL_NO_DEMAND;
	repl_sum(mean, var, 0, lead, &m, &v);
	repl_dist_init(&dl, m, v);
	repl_sum(mean, var, lead, lead + review, &review_demand, &v);
	repl_dist_init(&dr, review_demand, v);

	/* the order that serves the review period after its arrival at the service level */
	need = repl_lost_sales_qty(lead > 0 ? &dl : NULL, &dr, position, service_level,
							   out->demand_quantile - position);
	out->order_up_to = position + need;

	/* perishables: never more than sells, at the service level, before the order spoils */
	if (shelf > 0)
	{
		ReplDist	ds;

		repl_sum(mean, var, 0, lead + shelf, &m, &v);
		repl_dist_init(&ds, m, v);
		cap = repl_dist_quantile(&ds, 1 - service_level);
		out->shelf_cap = cap;
		repl_dist_free(&ds);
		if (cap < out->order_up_to)
		{
			out->order_up_to = Max(cap, position);
			out->reasons |= REPL_SHELF;
		}
	}

	if (need <= 0 || out->demand_mean <= 0)
		out->reasons |= REPL_ENOUGH;
	else
	{
		q = need;
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

	/*
	 * expected fill rate of the review period after the arrival, with lost sales: the
	 * review period's expected shortage E[(D_R - A)+], A = (x - D_L)+ + q, over its demand
	 */
	if (review_demand <= 0)
		out->fill_rate = 1;
	else
	{
		double	   *t0 = palloc(sizeof(double) * (dr.n + 1)),
				   *t1 = palloc(sizeof(double) * (dr.n + 1)),
					shortage = 0;
		int			i;

		/* tails: t0[i] = P(D_R at grid point i or above), t1[i] = its partial mean */
		t0[dr.n] = t1[dr.n] = 0;
		for (i = dr.n - 1; i >= 0; i--)
		{
			t0[i] = t0[i + 1] + dr.p[i];
			t1[i] = t1[i + 1] + dr.p[i] * (dr.k0 + i * dr.step);
		}
		for (i = 0; i < (lead > 0 ? dl.n : 1); i++)
		{
			double		a = fmax(0, position - (lead > 0 ? dl.k0 + i * dl.step : 0)) + q,
						first = a < dr.k0 ? 0 : floor((a - dr.k0) / dr.step) + 1;
			int			j = first > dr.n ? dr.n : (int) first;

			shortage += (lead > 0 ? dl.p[i] : 1) * (t1[j] - a * t0[j]);
		}
		out->fill_rate = fmin(1, fmax(0, 1 - shortage / review_demand));
		pfree(t0);
		pfree(t1);
	}
	repl_dist_free(&dlr);
	repl_dist_free(&dl);
	repl_dist_free(&dr);
}

/*
 * Pooled service levels (replenish.h). For series i, stocking S units over the protection
 * period serves a cycle with probability F_i(S) and costs about S units of stock. With one
 * price lambda of a unit of stock in cycles served, each series takes the S that maximises
 * F_i(S) - lambda * S, a vertex of the upper concave hull of its points (S, F_i(S)); the
 * mean level falls as lambda rises, and lambda is the largest whose mean level still reaches
 * the target (bisection). That is the marginal analysis: stock goes first where a unit buys
 * the most service (a slow mover's next unit covers a large share of its demand, a fast
 * mover's a thin tail). No series goes below `floor_level` (its hull starts at the first
 * level at or above it): without a floor, a fast mover whose every cycle costs many units
 * may be given none at all, which serves the count of cycles and not the customers. Hull vertices whose F is within 1e-12 of 1 are dropped (all but the
 * first), which bounds each hull by the distribution's body, not its 40-sd grid.
 */
typedef struct ReplHull
{
	int			n;
	double	   *k;				/* stock levels, increasing */
	double	   *f;				/* F at them, increasing, concave in k */
} ReplHull;

/* the vertex maximising F - lambda * k (the larger on a tie) */
static int
repl_hull_best(const ReplHull *h, double lambda)
{
	int			lo = 0,
				hi = h->n - 1;

	/* the first vertex whose slope to the next is below lambda: slopes decrease */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if ((h->f[mid + 1] - h->f[mid]) >= lambda * (h->k[mid + 1] - h->k[mid]))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
repl_pooled_levels(const double *mean, const double *var, int n, double target, double floor_level,
				   double *levels)
{
	ReplHull   *hull;
	double		lo = 0,
				hi = 1;
	int			i,
				it;

	if (n <= 0)
		return;
	hull = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(ReplHull), "pooled service levels"),
					 "pooled service levels");
	for (i = 0; i < n; i++)
	{
		ReplDist	d;
		ReplHull   *h = &hull[i];
		double		cum = 0;
		int			j,
					m = 0,
					cap;

		CHECK_FOR_INTERRUPTS();
		repl_dist_init(&d, mean[i], var[i]);
		cap = d.n + 1;
		h->k = riq_alloc(CurrentMemoryContext, riq_mul_size(cap, sizeof(double), "pooled service levels"),
						 "pooled service levels");
		h->f = riq_alloc(CurrentMemoryContext, riq_mul_size(cap, sizeof(double), "pooled service levels"),
						 "pooled service levels");
		/* no stock at all: served only when nothing is asked for */
		if (d.k0 > 0 && floor_level <= 0)
		{
			h->k[0] = 0;
			h->f[0] = 0;
			m = 1;
		}
		for (j = 0; j < d.n; j++)
		{
			double		k = d.k0 + j * d.step;

			cum = (j == d.n - 1) ? 1 : fmin(1, cum + d.p[j]);
			/* below the floor: not a level this series may take */
			if (cum < floor_level)
				continue;
			/* pop vertices under the chord from the one before to this point */
			while (m >= 2 &&
				   (h->f[m - 1] - h->f[m - 2]) * (k - h->k[m - 2]) <= (cum - h->f[m - 2]) * (h->k[m - 1] - h->k[m - 2]))
				m--;
			h->k[m] = k;
			h->f[m] = cum;
			m++;
			if (cum >= 1 - 1e-12)
				break;
		}
		h->n = m;
		repl_dist_free(&d);
	}

	/* the largest price whose mean level reaches the target: it falls as the price rises */
	for (it = 0; it < 80; it++)
	{
		double		lambda = (lo + hi) / 2,
					total = 0;

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < n; i++)
			total += hull[i].f[repl_hull_best(&hull[i], lambda)];
		if (total / n >= target)
			lo = lambda;
		else
			hi = lambda;
	}
	for (i = 0; i < n; i++)
	{
		levels[i] = hull[i].f[repl_hull_best(&hull[i], lo)];
		pfree(hull[i].k);
		pfree(hull[i].f);
	}
	pfree(hull);
}
