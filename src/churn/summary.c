/*
 * summary.c: purchase_summary, the aggregate that turns one customer's order history into
 * the inputs of BG/NBD and Gamma-Gamma: frequency (repeat purchase days), recency (time
 * from the first to the last purchase), t (time from the first purchase to as_of) and
 * monetary (mean value of the repeat purchases), in a chosen time unit. Purchases on the
 * same day are one transaction, as in the CDNOW summaries of Fader, Hardie & Lee.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "churn/churn.h"

PG_FUNCTION_INFO_V1(purchase_summary_sfunc);
Datum
purchase_summary_sfunc(PG_FUNCTION_ARGS)
{
	ChurnRows  *s = churn_rows_state(fcinfo, 2, "purchase_summary");
	DateADT		day;
	double		amount;
	DateADT		as_of;
	Interval   *unit;
	double		unit_days;
	double		row[2];

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("purchase_summary arguments must not be NULL"),
				 errhint("Filter out orders without a date or an amount.")));
	day = PG_GETARG_DATEADT(1);
	amount = PG_GETARG_FLOAT8(2);
	as_of = PG_GETARG_DATEADT(3);
	unit = PG_GETARG_INTERVAL_P(4);
	if (DATE_NOT_FINITE(day) || DATE_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("purchase_summary dates must be finite"),
				 errhint("Leave out orders dated infinity.")));
	if (!isfinite(amount))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount must be finite"),
				 errhint("Replace NaN amounts before summarising.")));
	unit_days = unit->month * (double) DAYS_PER_MONTH + unit->day + unit->time / (double) USECS_PER_DAY;
	if (!(unit_days > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time_unit must be a positive interval"),
				 errhint("Use e.g. '1 day', '7 days' (weeks) or '1 month'.")));
	if (!s->have_params)
	{
		s->have_params = true;
		s->params[0] = as_of;
		s->params[1] = unit_days;
	}
	else if (s->params[0] != as_of || s->params[1] != unit_days)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of and time_unit must be the same for every row of a customer"),
				 errhint("Pass constants for as_of and time_unit.")));
	if (day > as_of)
	{
		/* after the end of observation: not part of this summary */
		s->skipped++;
		PG_RETURN_POINTER(s);
	}
	row[0] = day;
	row[1] = amount;
	churn_rows_append(s, row);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(purchase_summary_final);
Datum
purchase_summary_final(PG_FUNCTION_ARGS)
{
	ChurnRows  *s;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};
	double		first,
				last,
				unit_days;
	int64		days = 0;
	double		repeat_sum = 0.0;
	double		cur = -1e300;
	double		cur_amount = 0.0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (ChurnRows *) PG_GETARG_POINTER(0);
	if (s->store.n == 0)
		PG_RETURN_NULL();		/* no purchase by as_of: not yet a customer */
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "purchase_summary must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	/* sort by day (then amount): same-day purchases become one transaction */
	pfree(churn_rows_sort_merge(s, false));
	first = s->store.data[0];
	last = s->store.data[(s->store.n - 1) * 2];
	unit_days = s->params[1];
	for (int64 i = 0; i < s->store.n; i++)
	{
		if (s->store.data[i * 2] != cur)
		{
			if (days > 1)
				repeat_sum += cur_amount;
			days++;
			cur = s->store.data[i * 2];
			cur_amount = 0.0;
		}
		cur_amount += s->store.data[i * 2 + 1];
	}
	if (days > 1)
		repeat_sum += cur_amount;
	if (days - 1 > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many purchases for one customer")));
	values[0] = Int32GetDatum((int32) (days - 1));
	values[1] = Float8GetDatum((last - first) / unit_days);
	values[2] = Float8GetDatum((s->params[0] - first) / unit_days);
	values[3] = Float8GetDatum(days > 1 ? repeat_sum / (double) (days - 1) : 0.0);
	values[4] = DateADTGetDatum((DateADT) first);
	values[5] = DateADTGetDatum((DateADT) last);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
