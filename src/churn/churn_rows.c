/*
 * churn_rows.c: the state of the churn fitting aggregates (bgnbd_fit, gammagamma_fit,
 * logit_fit, purchase_summary): the core row store (core/rowstore.h) plus the fit's settings,
 * and the combine, serial and deserial functions every churn aggregate shares.
 *
 * The settings travel in the row store's extra area as a ChurnWire followed by the feature
 * names; the deserial function checks both against the area's real length.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/rowstore.h"
#include "churn/churn.h"

/* the settings in the serial form's extra area; the names (names_len bytes) follow */
typedef struct ChurnWire
{
	int64		skipped;
	double		params[CHURN_ROWS_MAX_PARAMS];
	int32		have_params;
	int32		names_len;		/* -1: no names */
} ChurnWire;

static ChurnRows *
rows_new(MemoryContext cxt, int width, const char *what)
{
	ChurnRows  *s = MemoryContextAllocZero(cxt, sizeof(ChurnRows));

	riq_rows_init(&s->store, cxt, width, what);
	return s;
}

ChurnRows *
churn_rows_state(FunctionCallInfo fcinfo, int width, const char *fname)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, fname);
	ChurnRows  *s;

	if (PG_ARGISNULL(0))
		return rows_new(aggcxt, width, fname);
	s = (ChurnRows *) PG_GETARG_POINTER(0);
	if (s->store.width != width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of %s must have the same number of features", fname),
				 errdetail("A row has %d features; earlier rows had %d.", width - 1, s->store.width - 1),
				 errhint("Build the feature arrays with one fixed list of features.")));
	return s;
}

void
churn_rows_append(ChurnRows *s, const double *row)
{
	riq_rows_append(&s->store, row);
}

double *
churn_rows_sort_merge(ChurnRows *s, bool merge)
{
	riq_rows_sort(&s->store);
	return riq_rows_merge(&s->store, merge);
}

PG_FUNCTION_INFO_V1(churn_rows_combine);
Datum
churn_rows_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "churn_rows_combine");
	ChurnRows  *a;
	ChurnRows  *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (ChurnRows *) PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
	{
		a = rows_new(aggcxt, b->store.width, b->store.what);
		a->have_params = b->have_params;
		memcpy(a->params, b->params, sizeof(a->params));
	}
	else
		a = (ChurnRows *) PG_GETARG_POINTER(0);
	if (a->store.width != b->store.width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of the fit must have the same number of features"),
				 errdetail("Rows have %d and %d features.", a->store.width - 1, b->store.width - 1),
				 errhint("Build the feature arrays with one fixed list of features.")));
	if (!a->have_params && b->have_params)
	{
		a->have_params = true;
		memcpy(a->params, b->params, sizeof(a->params));
	}
	if (a->names == NULL && b->names != NULL)
	{
		a->names = MemoryContextAlloc(aggcxt, Max(b->names_len, 1));
		memcpy(a->names, b->names, b->names_len);
		a->names_len = b->names_len;
	}
	riq_rows_concat(&a->store, &b->store);
	a->skipped += b->skipped;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(churn_rows_serialize);
Datum
churn_rows_serialize(PG_FUNCTION_ARGS)
{
	ChurnRows  *s = (ChurnRows *) PG_GETARG_POINTER(0);
	ChurnWire	w;
	Size		nlen = s->names ? (Size) s->names_len : 0;
	char	   *extra;

	(void) riq_agg_context(fcinfo, "churn_rows_serialize");
	memset(&w, 0, sizeof(w));
	w.skipped = s->skipped;
	memcpy(w.params, s->params, sizeof(w.params));
	w.have_params = s->have_params ? 1 : 0;
	w.names_len = s->names ? s->names_len : -1;
	extra = palloc(sizeof(w) + nlen);
	memcpy(extra, &w, sizeof(w));
	if (nlen > 0)
		memcpy(extra + sizeof(w), s->names, nlen);
	PG_RETURN_BYTEA_P(riq_rows_serialize(&s->store, extra, sizeof(w) + nlen));
}

/* Feature names: one non-empty, NUL-terminated name per feature, nothing after the last. */
static void
check_names(const char *names, Size len, int features)
{
	int			count = 0;

	for (Size i = 0; i < len; i++)
		if (names[i] == '\0')
		{
			if (i == 0 || names[i - 1] == '\0')
				riq_state_corrupt("churn fit", "Its feature names contain an empty name.");
			count++;
		}
	if (len == 0 || names[len - 1] != '\0' || count != features)
		riq_state_corrupt("churn fit", "Its feature names do not name its %d features.", features);
}

PG_FUNCTION_INFO_V1(churn_rows_deserialize);
Datum
churn_rows_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "churn_rows_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	ChurnRows  *s = MemoryContextAllocZero(aggcxt, sizeof(ChurnRows));
	ChurnWire	w;
	Size		extra_len;
	const char *extra;

	extra = riq_rows_deserialize(b, &s->store, aggcxt, CHURN_ROWS_MAX_WIDTH, "churn fit",
								 &extra_len);
	if (extra_len < sizeof(w))
		riq_state_corrupt("churn fit", "Its settings are %zu bytes, shorter than %zu.",
						  extra_len, sizeof(w));
	memcpy(&w, extra, sizeof(w));
	if (w.names_len < -1 || extra_len - sizeof(w) != (Size) Max(w.names_len, 0) || w.skipped < 0)
		riq_state_corrupt("churn fit", "Its settings (%d bytes of names) do not match their %zu bytes.",
						  w.names_len, extra_len);
	s->skipped = w.skipped;
	memcpy(s->params, w.params, sizeof(s->params));
	s->have_params = w.have_params != 0;
	if (w.names_len >= 0)
	{
		check_names(extra + sizeof(w), (Size) w.names_len, s->store.width - 1);
		s->names = MemoryContextAlloc(aggcxt, Max(w.names_len, 1));
		memcpy(s->names, extra + sizeof(w), w.names_len);
		s->names_len = w.names_len;
	}
	PG_RETURN_POINTER(s);
}

/* ---------- counted rows (churn.h): bgnbd_fit, gammagamma_fit ---------- */

/* collapse no earlier than at this many held rows */
#define CHURN_COUNTED_MIN_COLLAPSE 4096

static ChurnRows *
counted_new(MemoryContext cxt, const ChurnCountedKind *k)
{
	ChurnRows  *s = rows_new(cxt, k->width + 1, k->name);

	s->collapse_at = CHURN_COUNTED_MIN_COLLAPSE;
	return s;
}

/* sort the rows and merge those equal in every value, adding their counts (the last column) */
static void
counted_collapse(ChurnRows *s)
{
	RiqRows    *r = &s->store;
	int			k = r->width - 1;
	int64		out = 0;

	if (r->n > 1)
	{
		riq_rows_sort(r);
		for (int64 i = 0; i < r->n; i++)
		{
			double	   *row = RIQ_ROW(r, i);

			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			if (out > 0 && memcmp(RIQ_ROW(r, out - 1), row, sizeof(double) * k) == 0)
				RIQ_ROW(r, out - 1)[k] += row[k];
			else
			{
				if (out != i)
					memcpy(RIQ_ROW(r, out), row, sizeof(double) * r->width);
				out++;
			}
		}
		r->n = out;
	}
	s->collapse_at = Max(2 * r->n, CHURN_COUNTED_MIN_COLLAPSE);
}

RiqXState *
churn_counted_state(FunctionCallInfo fcinfo, const RiqXStateMethods *m)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, m, false);

	if (xs == NULL)
	{
		xs = riq_xstate_new(fcinfo, m);
		xs->state = counted_new(xs->cxt, (const ChurnCountedKind *) m->arg);
	}
	return xs;
}

void
churn_counted_append(ChurnRows *s, const double *row)
{
	double		buf[CHURN_ROWS_MAX_PARAMS + 1];
	int			k = s->store.width - 1;

	Assert(k <= CHURN_ROWS_MAX_PARAMS);
	memcpy(buf, row, sizeof(double) * k);
	buf[k] = 1.0;
	riq_rows_append(&s->store, buf);
	if (s->store.n >= s->collapse_at)
		counted_collapse(s);
}

int64
churn_counted_rows(ChurnRows *s, double **rows, double **counts)
{
	RiqRows    *r = &s->store;
	int			k = r->width - 1;
	double	   *x,
			   *w;

	counted_collapse(s);
	x = palloc(mul_size(mul_size(Max(r->n, 1), k), sizeof(double)));
	w = palloc(mul_size(Max(r->n, 1), sizeof(double)));
	for (int64 i = 0; i < r->n; i++)
	{
		memcpy(x + i * k, RIQ_ROW(r, i), sizeof(double) * k);
		w[i] = RIQ_ROW(r, i)[k];
	}
	*rows = x;
	*counts = w;
	return r->n;
}

Size
churn_counted_flat_size(void *state, const void *arg)
{
	ChurnRows  *s = (ChurnRows *) state;
	ChurnWire	w;
	MemoryContext old;

	counted_collapse(s);
	memset(&w, 0, sizeof(w));
	w.skipped = s->skipped;
	w.names_len = -1;
	if (s->flat)
		pfree(s->flat);
	/* in the state's context: flatten may come later, from another context */
	old = MemoryContextSwitchTo(s->store.cxt);
	s->flat = riq_rows_serialize(&s->store, &w, sizeof(w));
	MemoryContextSwitchTo(old);
	return VARSIZE(s->flat) - VARHDRSZ;
}

void
churn_counted_flatten(void *state, const void *arg, char *dst, Size len)
{
	ChurnRows  *s = (ChurnRows *) state;

	if (s->flat == NULL || VARSIZE(s->flat) - VARHDRSZ != len)
		elog(ERROR, "counted rows flattened without their size");
	memcpy(dst, VARDATA(s->flat), len);
	pfree(s->flat);
	s->flat = NULL;
}

void *
churn_counted_expand(MemoryContext cxt, const void *arg, const char *src, Size len)
{
	const ChurnCountedKind *kind = (const ChurnCountedKind *) arg;
	ChurnRows  *s = MemoryContextAllocZero(cxt, sizeof(ChurnRows));
	bytea	   *b = palloc(VARHDRSZ + len);
	ChurnWire	w;
	Size		extra_len;
	const char *extra;

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), src, len);
	extra = riq_rows_deserialize(b, &s->store, cxt, CHURN_ROWS_MAX_PARAMS + 1, kind->name,
								 &extra_len);
	if (s->store.width != kind->width + 1)
		riq_state_corrupt(kind->name, "Its rows have %d values; this aggregate's have %d.",
						  s->store.width, kind->width + 1);
	if (extra_len != sizeof(w))
		riq_state_corrupt(kind->name, "Its settings are %zu bytes, not %zu.", extra_len, sizeof(w));
	memcpy(&w, extra, sizeof(w));
	if (w.skipped < 0 || w.names_len != -1)
		riq_state_corrupt(kind->name, "Its settings (" INT64_FORMAT " rows skipped, %d bytes of names) are out of range.",
						  w.skipped, w.names_len);
	s->skipped = w.skipped;
	for (int64 i = 0; i < s->store.n; i++)
	{
		const double *row = RIQ_ROW(&s->store, i);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!kind->row_ok(row))
			riq_state_corrupt(kind->name, "Row " INT64_FORMAT " is not one the aggregate keeps.", i);
		/* counts are whole numbers a float8 adds exactly */
		(void) riq_state_count(row[kind->width], kind->name, "row count", 1,
							   INT64CONST(1) << 52);
	}
	s->collapse_at = CHURN_COUNTED_MIN_COLLAPSE;
	counted_collapse(s);
	for (int64 i = 0; i < s->store.n; i++)
		if (RIQ_ROW(&s->store, i)[kind->width] > (double) (INT64CONST(1) << 52))
			riq_state_corrupt(kind->name, "Row " INT64_FORMAT " counts more customers than it can.", i);
	pfree(b);
	return s;
}

Datum
churn_counted_combine(FunctionCallInfo fcinfo, const RiqXStateMethods *m)
{
	RiqXState  *xa = riq_xstate_arg(fcinfo, 0, m, false);
	RiqXState  *xb = riq_xstate_arg(fcinfo, 1, m, true);
	ChurnRows  *a,
			   *b;

	if (xb == NULL)
	{
		if (xa == NULL)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xa));
	}
	if (xa == NULL)
	{
		xa = riq_xstate_new(fcinfo, m);
		xa->state = counted_new(xa->cxt, (const ChurnCountedKind *) m->arg);
	}
	a = (ChurnRows *) xa->state;
	b = (ChurnRows *) xb->state;
	riq_rows_concat(&a->store, &b->store);
	a->skipped += b->skipped;
	if (a->store.n >= a->collapse_at)
		counted_collapse(a);
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xa));
}
