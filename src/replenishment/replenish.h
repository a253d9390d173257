/*
 * replenish.h: the demand distribution over a protection period and the order it calls for,
 * shared by the plan (replenishment_order) and the backtest's simulation
 * (replenishment_simulate). Pure C over doubles: no server calls except palloc and ereport.
 */
#ifndef RETAILIQ_REPLENISH_H
#define RETAILIQ_REPLENISH_H

#include "postgres.h"

/*
 * Demand over a number of periods, from the per-period forecast means and variances summed
 * (periods taken as independent): a negative binomial with that mean and variance when the
 * variance exceeds the mean (over-dispersed and intermittent demand: a large mass at zero
 * and a long right tail), a Poisson otherwise, nothing when the mean is zero. Held as
 * probabilities on an integer grid k0, k0 + step, ... (step 1 unless the spread is wide).
 */
typedef struct ReplDist
{
	double		mean;
	double		var;
	double		k0;				/* first grid point */
	double		step;			/* grid spacing (units) */
	int			n;				/* grid points */
	double	   *p;				/* their probabilities, summing to 1 */
} ReplDist;

extern void repl_dist_init(ReplDist *d, double mean, double var);
extern void repl_dist_free(ReplDist *d);
/* the smallest grid value whose cumulative probability reaches alpha */
extern double repl_dist_quantile(const ReplDist *d, double alpha);

/*
 * The smallest whole order that serves the review period after its arrival with probability
 * `level` under lost sales (dl NULL: no lead time), x the position; at most hi.
 */
extern double repl_lost_sales_qty(const ReplDist *dl, const ReplDist *dr, double x, double level,
								  double hi);

/* One store x product's order at a review (replenishment_order). */
typedef struct ReplOrder
{
	double		demand_mean;	/* over lead time + review period */
	double		demand_quantile;	/* its service-level quantile */
	double		order_up_to;	/* the position the order brings it to (before packs and MOQ) */
	double		order_qty;
	double		fill_rate;		/* expected, with the position after ordering */
	double		shelf_cap;		/* what sells before it spoils (perishables) */
	int			reasons;		/* REPL_* bits */
} ReplOrder;

#define REPL_ENOUGH			0x01	/* the position reaches the order-up-to level */
#define REPL_PACK			0x02	/* rounded up to whole packs */
#define REPL_MOQ			0x04	/* raised to the minimum order quantity */
#define REPL_SHELF			0x08	/* order-up-to level capped by shelf life */
#define REPL_SHELF_MOQ		0x10	/* the minimum order would spoil: nothing ordered */
#define REPL_NO_DEMAND		0x20	/* no demand forecast over the protection period */

/*
 * mean/var: per period from the review on, at least lead + review periods, and lead + shelf
 * when shelf > 0 (0: not perishable). position: on hand + on order.
 */
extern void repl_order(const double *mean, const double *var, int lead, int review, int shelf,
					   double service_level, double position, double pack, double moq,
					   ReplOrder *out);

/*
 * Pooled service levels: per series a cycle service level, from its protection-period demand
 * (mean, var), so that their mean is at least `target` at the least total order-up-to stock
 * (marginal analysis over one price of a unit of stock; demand.c), none below floor_level.
 */
extern void repl_pooled_levels(const double *mean, const double *var, int n, double target,
							   double floor_level, double *levels);

/* ERRORs (22023) for out-of-range periods (days or source periods) and service levels */
extern void repl_check_periods(int lead, int review, int shelf);
extern void repl_check_level(double service_level);

/* a demand mean and variance the distributions can take (not negative, not absurdly large) */
static inline bool
repl_demand_sane(double mean, double var)
{
	return mean >= 0 && var >= 0 && mean <= 1e12 && var <= 1e24;
}

/* ERROR (22023) naming the first of n means and variances that is not sane ("Day 3 has ...") */
extern void repl_check_demand(const double *mean, const double *var, int n, const char *unit);

#endif
