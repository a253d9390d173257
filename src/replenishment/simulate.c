/*
 * simulate.c: retailiq_internal.replenishment_simulate, one series of the replenishment
 * backtest replayed period by period (replenishment_backtest in backtest.sql gathers the
 * demand and, for the plan, the forecasts made at each review on what was known then).
 *
 * Each period: at a review (every `review` periods from the first) the policy orders
 * against the inventory position (on hand + on order); then what was ordered `lead`
 * periods ago arrives; then demand comes and sells from stock, the rest is lost. A cycle is
 * the review period an order covers, from its arrival to the next arrival; it is served when
 * no sale was lost in it (cycle service level). Orders are whole units.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/arrays.h"
#include "core/memory.h"
#include "core/stats.h"
#include "replenishment/replenish.h"

typedef enum
{
	POLICY_PLAN,
	POLICY_REORDER_POINT,
	POLICY_NAIVE
} ReplPolicy;

/* the figures returned, in this order (backtest.sql reads them by position) */
enum
{
	SIM_DEMAND, SIM_SOLD, SIM_ORDERED, SIM_ON_HAND_SUM, SIM_PERIODS, SIM_STOCKOUTS,
	SIM_CYCLES, SIM_CYCLES_SERVED, SIM_START_STOCK, SIM_NFIELDS
};

/* the plan's order-up-to level at review k: the service-level quantile of its forecasts */
static double
plan_level(const double *fc_mean, const double *fc_var, int k, int cover, double level)
{
	ReplDist	d;
	double		m = 0,
				v = 0,
				s;
	int			i;

	for (i = 0; i < cover; i++)
	{
		m += fc_mean[(Size) k * cover + i];
		v += fc_var[(Size) k * cover + i];
	}
	repl_dist_init(&d, m, v);
	s = repl_dist_quantile(&d, level);
	repl_dist_free(&d);
	return s;
}

/* the plan's order at review k from position x: lost sales, as the plan computes it */
static double
plan_order(const double *fc_mean, const double *fc_var, int k, int lead, int review, double level,
		   double x)
{
	ReplDist	dl,
				dr;
	double		ml = 0,
				vl = 0,
				mr = 0,
				vr = 0,
				q;
	int			i,
				cover = lead + review;

	for (i = 0; i < cover; i++)
	{
		if (i < lead)
		{
			ml += fc_mean[(Size) k * cover + i];
			vl += fc_var[(Size) k * cover + i];
		}
		else
		{
			mr += fc_mean[(Size) k * cover + i];
			vr += fc_var[(Size) k * cover + i];
		}
	}
	repl_dist_init(&dl, ml, vl);
	repl_dist_init(&dr, mr, vr);
	q = repl_lost_sales_qty(lead > 0 ? &dl : NULL, &dr, x, level,
							plan_level(fc_mean, fc_var, k, cover, level) - x);
	repl_dist_free(&dl);
	repl_dist_free(&dr);
	return q;
}

/* the classic level: mean x cover + z x sd x sqrt(cover) over the last `window` periods */
static double
reorder_point_level(const double *y, int end, int window, int cover, double z)
{
	int			from = Max(0, end - window),
				n = end - from,
				i;
	double		m = 0,
				ss = 0;

	if (n <= 0)
		return 0;
	for (i = from; i < end; i++)
		m += y[i];
	m /= n;
	for (i = from; i < end; i++)
		ss += (y[i] - m) * (y[i] - m);
	return m * cover + z * (n > 1 ? sqrt(ss / (n - 1)) : 0) * sqrt((double) cover);
}

PG_FUNCTION_INFO_V1(replenishment_simulate);

/*
 * replenishment_simulate(demand float8[], history int, lead int, review int, policy text,
 *                        service_level float8, start_stock float8, window int,
 *                        fc_mean float8[], fc_var float8[], levels float8[]) -> float8[]
 * demand: `history` periods before the replayed ones, then the replayed ones. fc_mean and
 * fc_var (plan only): for each review in order, the forecast of the lead + review periods
 * from it. levels (plan only, may be NULL): the service level of each review instead of
 * service_level (the pooled allocation, replenishment_pooled_levels). start_stock NULL: the
 * policy's own level at the first review.
 */
Datum
replenishment_simulate(PG_FUNCTION_ARGS)
{
	double	   *y,
			   *fc_mean = NULL,
			   *fc_var = NULL,
			   *levels = NULL,
			   *arrive,
			   *sold,
			   *lost,
				level,
				z = 0,
				on_hand,
				out[SIM_NFIELDS];
	int			ny,
				hist,
				lead,
				review,
				window,
				n,
				cover,
				reviews,
				t,
				i;
	char	   *pname;
	ReplPolicy	policy;

	for (i = 0; i < 8; i++)
		if (i != 6 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of replenishment_simulate other than start_stock and the forecasts must not be NULL")));
	y = riq_float8_array(PG_GETARG_ARRAYTYPE_P(0), "demand", &ny, false);
	hist = PG_GETARG_INT32(1);
	lead = PG_GETARG_INT32(2);
	review = PG_GETARG_INT32(3);
	pname = text_to_cstring(PG_GETARG_TEXT_PP(4));
	level = PG_GETARG_FLOAT8(5);
	window = PG_GETARG_INT32(7);
	repl_check_periods(lead, review, 0);
	repl_check_level(level);
	if (strcmp(pname, "plan") == 0)
		policy = POLICY_PLAN;
	else if (strcmp(pname, "reorder_point") == 0)
		policy = POLICY_REORDER_POINT;
	else if (strcmp(pname, "naive") == 0)
		policy = POLICY_NAIVE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" is not a replenishment policy", pname),
				 errhint("Use plan, reorder_point or naive.")));
	if (hist < 0 || hist >= ny || window < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must be from 0 to below the length of demand, window at least 1"),
				 errdetail("history is %d, demand has %d periods, window is %d.", hist, ny, window)));
	for (i = 0; i < ny; i++)
		if (y[i] < 0 || y[i] > 1e12)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("demand must not be negative or above 1e12 units a period"),
					 errdetail("Period %d has demand %g.", i + 1, y[i]),
					 errhint("Leave returns out of the sales source, or clip them at 0.")));
	n = ny - hist;
	cover = lead + review;
	reviews = (n + review - 1) / review;
	if (policy == POLICY_PLAN)
	{
		int			nm,
					nv;

		if (PG_ARGISNULL(8) || PG_ARGISNULL(9))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the plan policy needs fc_mean and fc_var")));
		fc_mean = riq_float8_array(PG_GETARG_ARRAYTYPE_P(8), "fc_mean", &nm, false);
		fc_var = riq_float8_array(PG_GETARG_ARRAYTYPE_P(9), "fc_var", &nv, false);
		if (nm != nv || (Size) nm != (Size) reviews * cover)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("fc_mean and fc_var must hold lead + review values for each review"),
					 errdetail("They have %d and %d values; %d reviews need %d.", nm, nv, reviews,
							   reviews * cover)));
		for (i = 0; i < nm; i++)
			if (!repl_demand_sane(fc_mean[i], fc_var[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("forecast means and variances must not be negative or absurdly large"),
						 errdetail("Value %d has mean %g and variance %g.", i + 1, fc_mean[i], fc_var[i])));
		if (PG_NARGS() > 10 && !PG_ARGISNULL(10))
		{
			int			nl;

			levels = riq_float8_array(PG_GETARG_ARRAYTYPE_P(10), "levels", &nl, false);
			if (nl != reviews)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("levels must hold one service level for each review"),
						 errdetail("It has %d values; there are %d reviews.", nl, reviews),
						 errhint("Pass NULL to use service_level at every review.")));
			for (i = 0; i < nl; i++)
				if (!(levels[i] >= 0 && levels[i] <= 1))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("levels must be from 0 to 1"),
							 errdetail("Review %d has level %g.", i + 1, levels[i]),
							 errhint("A level is the probability that the review's cycle has no lost sale.")));
		}
	}
	else
		z = riq_normal_quantile(level);

	arrive = riq_alloc(CurrentMemoryContext, riq_mul_size(n + lead + 1, sizeof(double), "backtest"), "backtest");
	sold = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "backtest"), "backtest");
	lost = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "backtest"), "backtest");
	memset(arrive, 0, sizeof(double) * (n + lead + 1));
	memset(out, 0, sizeof(out));

	if (!PG_ARGISNULL(6))
	{
		on_hand = PG_GETARG_FLOAT8(6);
		if (!(on_hand >= 0 && on_hand <= 1e15))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("start_stock must be finite and not negative"),
					 errdetail("start_stock is %g.", on_hand)));
	}
	else if (policy == POLICY_PLAN)
		on_hand = plan_level(fc_mean, fc_var, 0, cover, levels ? levels[0] : level);
	else if (policy == POLICY_REORDER_POINT)
		on_hand = ceil(fmax(0, reorder_point_level(y, hist, window, cover, z)));
	else
	{
		/* naive: what sold over the last lead + review periods */
		on_hand = 0;
		for (i = Max(0, hist - cover); i < hist; i++)
			on_hand += y[i];
	}
	out[SIM_START_STOCK] = on_hand;

	for (t = 0; t < n; t++)
	{
		double		d = y[hist + t];

		CHECK_FOR_INTERRUPTS();
		if (t % review == 0)
		{
			double		position = on_hand,
						q = 0;

			for (i = t; i <= t + lead && i < n + lead + 1; i++)
				position += arrive[i];
			switch (policy)
			{
				case POLICY_PLAN:
					q = plan_order(fc_mean, fc_var, t / review, lead, review,
								   levels ? levels[t / review] : level, position);
					break;
				case POLICY_REORDER_POINT:
					q = reorder_point_level(y, hist + t, window, cover, z) - position;
					break;
				case POLICY_NAIVE:
					for (i = t - review; i < t; i++)
						q += i >= 0 ? sold[i] : y[hist + i];
					break;
			}
			q = q > 0 ? ceil(q - 1e-9) : 0;
			arrive[t + lead] += q;
			out[SIM_ORDERED] += q;
		}
		on_hand += arrive[t];
		sold[t] = Min(on_hand, d);
		lost[t] = d - sold[t];
		on_hand -= sold[t];
		out[SIM_DEMAND] += d;
		out[SIM_SOLD] += sold[t];
		out[SIM_ON_HAND_SUM] += on_hand;
		if (lost[t] > 0)
			out[SIM_STOCKOUTS] += 1;
	}
	out[SIM_PERIODS] = n;
	/* cycles whose whole window lies inside the replay */
	for (t = 0; t + lead + review <= n; t += review)
	{
		bool		served = true;

		for (i = t + lead; i < t + lead + review; i++)
			if (lost[i] > 0)
				served = false;
		out[SIM_CYCLES] += 1;
		out[SIM_CYCLES_SERVED] += served ? 1 : 0;
	}
	PG_RETURN_ARRAYTYPE_P(riq_float8_array_make(out, SIM_NFIELDS));
}

PG_FUNCTION_INFO_V1(replenishment_pooled_levels);

/*
 * replenishment_pooled_levels(mean float8[], var float8[], target float8, floor float8)
 *   -> float8[]
 * Per series (its demand over the protection period: mean and variance), the cycle service
 * level that the pooled target gives it: their mean reaches the target at the least total
 * order-up-to stock, none below floor (repl_pooled_levels, demand.c).
 */
Datum
replenishment_pooled_levels(PG_FUNCTION_ARGS)
{
	double	   *mean,
			   *var,
			   *levels,
				target,
				floor_level;
	int			n,
				nv;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mean, var, target and floor of replenishment_pooled_levels must not be NULL"),
				 errhint("Pass each series' demand mean and variance over the protection period and the pooled target.")));
	target = PG_GETARG_FLOAT8(2);
	repl_check_level(target);
	floor_level = PG_GETARG_FLOAT8(3);
	if (!(floor_level >= 0 && floor_level <= target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("floor must be from 0 to the target"),
				 errdetail("floor is %g, target %g.", floor_level, target),
				 errhint("Pass the lowest cycle service level any series may be given, e.g. 0.8 for a target of 0.95.")));
	mean = riq_float8_array(PG_GETARG_ARRAYTYPE_P(0), "mean", &n, false);
	var = riq_float8_array(PG_GETARG_ARRAYTYPE_P(1), "var", &nv, false);
	if (n != nv)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("mean and var must have the same length"),
				 errdetail("mean has %d elements, var %d.", n, nv),
				 errhint("Pass one mean and one variance per series.")));
	repl_check_demand(mean, var, n, "Series");
	levels = riq_alloc(CurrentMemoryContext, riq_mul_size(Max(n, 1), sizeof(double), "pooled service levels"),
					   "pooled service levels");
	repl_pooled_levels(mean, var, n, target, floor_level, levels);
	PG_RETURN_ARRAYTYPE_P(riq_float8_array_make(levels, n));
}
