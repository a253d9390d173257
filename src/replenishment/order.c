/*
 * order.c: retailiq_internal.replenishment_order, the order of one store x product at a
 * review from its per-day forecast means and variances (demand.c does the arithmetic; the
 * plan in replenishment_plan.sql gathers the inputs and calls this per row).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "core/arrays.h"
#include "core/stats.h"
#include "replenishment/replenish.h"

void
repl_check_periods(int lead, int review, int shelf)
{
	if (lead < 0 || lead > 3660)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lead time must be between 0 and 3660 days"),
				 errdetail("The lead time is %d.", lead),
				 errhint("Pass the days between placing an order and receiving it.")));
	if (review < 1 || review > 3660)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("review period must be between 1 and 3660 days"),
				 errdetail("The review period is %d.", review),
				 errhint("Pass the days between two orders, e.g. 1 for a daily order.")));
	if (shelf < 0 || shelf > 36600)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shelf life must be between 0 (not perishable) and 36600 days"),
				 errdetail("The shelf life is %d.", shelf),
				 errhint("Leave the shelf life NULL or 0 for products that do not spoil.")));
}

void
repl_check_level(double service_level)
{
	if (!(service_level > 0 && service_level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("service level must be strictly between 0 and 1"),
				 errdetail("The service level is %g.", service_level),
				 errhint("Pass the share of review cycles without a stock-out to aim for, e.g. 0.95.")));
}

void
repl_check_demand(const double *mean, const double *var, int n, const char *unit)
{
	for (int i = 0; i < n; i++)
		if (!repl_demand_sane(mean[i], var[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("mean and var must not be negative or absurdly large"),
					 errdetail("%s %d has mean %g and var %g.", unit, i + 1, mean[i], var[i]),
					 errhint("Clip forecasts at 0 before passing them.")));
}

static char *
repl_reason_text(const ReplOrder *o, double position)
{
	StringInfoData s;

	initStringInfo(&s);
	if (o->reasons & REPL_NO_DEMAND)
		appendStringInfoString(&s, "no demand forecast over the protection period");
	else if (o->reasons & REPL_ENOUGH)
		appendStringInfo(&s, "nothing to order: on hand + on order (%g) serve the review period at the service level",
						 position);
	else if ((o->reasons & REPL_SHELF_MOQ) && o->shelf_cap <= position)
		appendStringInfo(&s, "nothing to order: on hand + on order (%g) already reach what sells before it spoils",
						 position);
	else if (o->reasons & REPL_SHELF_MOQ)
		appendStringInfoString(&s, "nothing ordered: the minimum order would not sell before it spoils");
	else
	{
		appendStringInfo(&s, "below the order-up-to level (%g - %g = %g)", o->order_up_to, position,
						 o->order_up_to - position);
		if (o->reasons & REPL_MOQ)
			appendStringInfoString(&s, "; raised to the minimum order quantity");
		if (o->reasons & REPL_PACK)
			appendStringInfoString(&s, "; rounded up to whole packs");
	}
	if (o->reasons & REPL_SHELF)
		appendStringInfo(&s, "; capped by shelf life: at most %g sell before it spoils at the service level",
						 o->shelf_cap);
	return s.data;
}

PG_FUNCTION_INFO_V1(replenishment_order);

/*
 * replenishment_order(mean float8[], var float8[], lead int, review int, shelf int,
 *                     service_level float8, on_hand float8, on_order float8, pack float8,
 *                     moq float8)
 *   -> (demand_mean, demand_quantile, order_up_to, order_qty, fill_rate, reason)
 */
Datum
replenishment_order(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	const char *names[] = {"mean", "var", "lead", "review", "shelf", "service_level",
	"on_hand", "on_order", "pack", "moq"};
	double	   *mean,
			   *var,
				level,
				on_hand,
				on_order,
				pack,
				moq;
	int			lead,
				review,
				shelf,
				n,
				nv,
				need,
				i;
	ReplOrder	o;

	for (i = 0; i < 10; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i]),
					 errhint("Pass every argument; shelf 0 for a product that does not spoil, moq 0 for none.")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "replenishment_order must return a record");
	lead = PG_GETARG_INT32(2);
	review = PG_GETARG_INT32(3);
	shelf = PG_GETARG_INT32(4);
	level = PG_GETARG_FLOAT8(5);
	on_hand = PG_GETARG_FLOAT8(6);
	on_order = PG_GETARG_FLOAT8(7);
	pack = PG_GETARG_FLOAT8(8);
	moq = PG_GETARG_FLOAT8(9);
	repl_check_periods(lead, review, shelf);
	repl_check_level(level);
	if (!isfinite(on_hand) || !isfinite(on_order) || on_order < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_hand must be finite and on_order finite and not negative"),
				 errdetail("on_hand is %g, on_order %g.", on_hand, on_order),
				 errhint("Check the inventory row and the open purchase orders.")));
	if (!(pack > 0 && pack <= 1e9) || !(moq >= 0 && moq <= 1e12))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pack must be above 0 and moq not negative"),
				 errdetail("pack is %g, moq %g.", pack, moq),
				 errhint("Use pack 1 for single units and moq 0 for no minimum order.")));
	mean = riq_float8_array(PG_GETARG_ARRAYTYPE_P(0), "mean", &n, false);
	var = riq_float8_array(PG_GETARG_ARRAYTYPE_P(1), "var", &nv, false);
	need = Max(lead + review, shelf > 0 ? lead + shelf : 0);
	if (nv != n || n < need)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("mean and var must have the same length, at least lead + review (and lead + shelf)"),
				 errdetail("mean has %d elements, var %d; %d are needed.", n, nv, need),
				 errhint("Pass one mean and one variance per day from the review on.")));
	repl_check_demand(mean, var, n, "Day");

	repl_order(mean, var, lead, review, shelf, level, on_hand + on_order, pack, moq, &o);
	values[0] = Float8GetDatum(o.demand_mean);
	values[1] = Float8GetDatum(o.demand_quantile);
	values[2] = Float8GetDatum(o.order_up_to);
	values[3] = Float8GetDatum(o.order_qty);
	values[4] = Float8GetDatum(o.fill_rate);
	values[5] = CStringGetTextDatum(repl_reason_text(&o, on_hand + on_order));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(replenishment_moments);

/*
 * replenishment_moments(yhat, lower, upper, level) -> (mean, var): a stored forecast's demand
 * mean and variance, read by the plan, the backtest and the alerts' safety_stock for every
 * forecast row, so that one place reads intervals (C: a SQL function here cost some 18 us a
 * row, most of the plan's reading of its forecasts).
 *
 * No interval (upper NULL): Poisson, the variance the mean. An interval skewed to the right
 * (lower bound above 0, upper bound further from the point than the lower one: a forecast
 * made on the log scale, whose interval is expm1 of a Normal's quantiles) is read as the
 * shifted log-normal through its two bounds, log(1 + D) ~ N(m, s^2) with m the midpoint and s
 * the half-width over z of log(1 + bound): mean exp(m + s^2/2) - 1, variance
 * (exp(s^2) - 1) exp(2m + s^2). Otherwise a Normal: the point (clipped at 0) and
 * ((upper - lower) / 2z)^2. The Normal reading of a log-normal's interval understates both
 * moments (the point is its median, the width misses the long right tail). A NULL point
 * counts as 0; with an interval, a NULL lower bound or level gives a NULL variance.
 */
Datum
replenishment_moments(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	double		yhat = PG_ARGISNULL(0) ? 0 : PG_GETARG_FLOAT8(0),
				point = isnan(yhat) || yhat > 0 ? yhat : 0,	/* as greatest(yhat, 0) */
				mean = point,
				var = point;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "replenishment_moments must return a record");
	if (!PG_ARGISNULL(2))
	{
		double		upper = PG_GETARG_FLOAT8(2);

		if (PG_ARGISNULL(1) || PG_ARGISNULL(3))
			nulls[1] = true;
		else
		{
			double		lower = PG_GETARG_FLOAT8(1),
						level = PG_GETARG_FLOAT8(3),
						z;

			if (!(level > 0 && level < 1))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("level must be strictly between 0 and 1"),
						 errdetail("level is %g.", level),
						 errhint("Pass the prediction interval's coverage, e.g. 0.8.")));
			z = riq_normal_quantile((1 + level) / 2);
			var = (upper - lower) / (2 * z);
			var *= var;
			if (!PG_ARGISNULL(0) && lower > 0 && upper > lower &&
				upper - yhat > (yhat - lower) * (1 + 1e-9))
			{
				double		m = (log(1 + upper) + log(1 + lower)) / 2,
							s = (log(1 + upper) - log(1 + lower)) / (2 * z),
							s2 = s * s;

				if (2 * m + s2 < 700)
				{
					mean = exp(m + s2 / 2) - 1;
					var = (exp(s2) - 1) * exp(2 * m + s2);
				}
			}
		}
	}
	values[0] = Float8GetDatum(mean);
	values[1] = Float8GetDatum(var);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
