/*
 * agg_state.c: checks of aggregate states any role can construct (see agg_state.h).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "nodes/execnodes.h"
#include "utils/memutils.h"

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

/* ---------- bytea states held as expanded objects ---------- */

static Size
xstate_get_flat_size(ExpandedObjectHeader *eohptr)
{
	RiqXState  *xs = (RiqXState *) eohptr;
	Size		n = xs->m->flat_size(xs->state, xs->m->arg);

	if (n > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the partial state of %s exceeds 1 GB", xs->m->what),
				 errdetail("The state needs %zu MB.", n >> 20),
				 errhint("Aggregate over fewer rows per shard or per parallel worker.")));
	xs->flat = n;
	return VARHDRSZ + n;
}

static void
xstate_flatten_into(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	RiqXState  *xs = (RiqXState *) eohptr;

	if (allocated_size != VARHDRSZ + xs->flat)
		elog(ERROR, "flattening a %s state into %zu bytes, sized for %zu", xs->m->what,
			 allocated_size, VARHDRSZ + xs->flat);
	SET_VARSIZE(result, allocated_size);
	xs->m->flatten(xs->state, xs->m->arg, VARDATA(result), xs->flat);
}

static const ExpandedObjectMethods riq_xstate_methods = {
	xstate_get_flat_size,
	xstate_flatten_into
};

RiqXState *
riq_xstate_new(FunctionCallInfo fcinfo, const RiqXStateMethods *m)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, m->what);
	MemoryContext cxt = AllocSetContextCreate(aggcxt, "retailiq aggregate state",
											  ALLOCSET_DEFAULT_SIZES);
	RiqXState  *xs = MemoryContextAllocZero(cxt, sizeof(RiqXState));

	EOH_init_header(&xs->hdr, &riq_xstate_methods, cxt);
	xs->m = m;
	xs->cxt = cxt;
	return xs;
}

RiqXState *
riq_xstate_arg(FunctionCallInfo fcinfo, int argno, const RiqXStateMethods *m, bool read_only)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, m->what);
	Datum		d;
	RiqXState  *xs;
	bytea	   *flat;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods == &riq_xstate_methods && ((RiqXState *) eoh)->m == m &&
			(read_only || (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)) &&
						   MemoryContextGetParent(eoh->eoh_context) == aggcxt)))
			return (RiqXState *) eoh;
	}
	/* flat bytes (or someone else's object, flattened by the detoaster) */
	flat = PG_GETARG_BYTEA_PP(argno);
	xs = riq_xstate_new(fcinfo, m);
	xs->state = m->expand(xs->cxt, m->arg, VARDATA_ANY(flat), VARSIZE_ANY_EXHDR(flat));
	return xs;
}

double
riq_agg_input_rows(FunctionCallInfo fcinfo)
{
	if (fcinfo->context && IsA(fcinfo->context, AggState))
	{
		AggState   *agg = (AggState *) fcinfo->context;
		PlanState  *outer = outerPlanState(agg);

		if (agg->aggstrategy == AGG_PLAIN && outer != NULL && outer->plan != NULL)
			return outer->plan->plan_rows;
	}
	return 0.0;
}
