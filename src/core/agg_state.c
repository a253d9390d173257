/*
 * agg_state.c: checks of aggregate states any role can construct (see agg_state.h).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"

#include "core/agg_state.h"

void
riq_state_corrupt(const char *aggname, const char *detail_fmt,...)
{
	char		detail[256];
	va_list		ap;

	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof(detail), detail_fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("%s state is malformed", aggname),
			 errdetail("%s", detail),
			 errhint("States come only from the aggregate itself: call it rather than its support functions, and do not build states by hand.")));
}

MemoryContext
riq_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", fname),
				 errhint("Call the aggregate it belongs to instead.")));
	return cxt;
}

double *
riq_state_array(ArrayType *a, const char *aggname, int expect)
{
	int			n;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		riq_state_corrupt(aggname, "It is not a float8[] array.");
	if (ARR_NDIM(a) != 1)
		riq_state_corrupt(aggname, "It has %d dimensions, not 1.", ARR_NDIM(a));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		riq_state_corrupt(aggname, "It contains NULL elements.");
	n = ARR_DIMS(a)[0];
	if (expect >= 0 && n != expect)
		riq_state_corrupt(aggname, "It has %d elements, expected %d.", n, expect);
	return (double *) ARR_DATA_PTR(a);
}

int64
riq_state_count(double v, const char *aggname, const char *field, int64 lo, int64 hi)
{
	if (!(v >= (double) lo && v <= (double) hi) || v != floor(v))
		riq_state_corrupt(aggname, "Its %s is %g, not a whole number from " INT64_FORMAT " to " INT64_FORMAT ".",
						  field, v, lo, hi);
	return (int64) v;
}

void
riq_state_size(const bytea *b, const char *aggname, Size expect)
{
	if (VARSIZE_ANY(b) != expect)
		riq_state_corrupt(aggname, "It is %zu bytes long, expected %zu.", (Size) VARSIZE_ANY(b), expect);
}
