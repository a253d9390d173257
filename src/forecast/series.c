/*
 * series.c: the series collector behind every forecasting aggregate (see series.h).
 *
 * Rows arrive in any order (and, under parallel query, split between workers): the
 * collector keeps them as flat arrays (series id, date, value, factors) with the series
 * keys interned in a small open-addressing hash table, so a row costs 16 bytes plus its
 * factors. Finishing sorts the rows by (key, date), which makes the panel independent of
 * the arrival order: serial and parallel plans train on the same data bit for bit.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/memory.h"
#include "forecast/series.h"

#define SERIES_SERIAL_VERSION 1

struct SeriesCollector
{
	MemoryContext cxt;
	/* interned keys */
	int			nkeys;
	int			keycap;
	char	  **keys;			/* NUL-terminated */
	int		   *hash;			/* slots: key index + 1, 0 = empty */
	int			hashcap;		/* power of two */
	/* rows */
	int64		nrows;
	int64		rowcap;
	int32	   *sid;
	DateADT    *ts;
	double	   *y;
	double	   *exog;			/* nrows * n_exog */
	int			n_exog;			/* -1 until the first row */
	char	   *options;		/* opaque, NULL until set */
};

PG_FUNCTION_INFO_V1(forecast_collect_combine);
PG_FUNCTION_INFO_V1(forecast_collect_serialize);
PG_FUNCTION_INFO_V1(forecast_collect_deserialize);

static SeriesCollector *
collector_new(MemoryContext cxt)
{
	SeriesCollector *st = MemoryContextAllocZero(cxt, sizeof(SeriesCollector));

	st->cxt = cxt;
	st->n_exog = -1;
	st->hashcap = 64;
	st->hash = MemoryContextAllocZero(cxt, sizeof(int) * st->hashcap);
	return st;
}

/* Grow an array of elements of `size` bytes to hold `need`, charging the budget. */
static void *
grow_array(SeriesCollector *st, void *old, int64 oldcap, int64 newcap, Size size)
{
	Size		bytes = riq_mul_size((Size) newcap, size, "the forecast series rows");
	void	   *p;

	riq_memory_check(st->cxt, bytes, "the forecast series rows");
	p = MemoryContextAllocHuge(st->cxt, bytes);
	if (old != NULL)
	{
		memcpy(p, old, (Size) oldcap * size);
		pfree(old);
	}
	return p;
}

static void
ensure_rows(SeriesCollector *st, int64 more)
{
	int64		need = st->nrows + more;
	int64		cap;

	if (need <= st->rowcap)
		return;
	cap = Max(st->rowcap * 2, 1024);
	while (cap < need)
		cap *= 2;
	st->sid = grow_array(st, st->sid, st->nrows, cap, sizeof(int32));
	st->ts = grow_array(st, st->ts, st->nrows, cap, sizeof(DateADT));
	st->y = grow_array(st, st->y, st->nrows, cap, sizeof(double));
	if (st->n_exog > 0)
		st->exog = grow_array(st, st->exog, st->nrows * st->n_exog, cap * st->n_exog,
							  sizeof(double));
	st->rowcap = cap;
}

static void
rehash(SeriesCollector *st, int newcap)
{
	int		   *h = MemoryContextAllocZero(st->cxt, sizeof(int) * newcap);
	int			i;

	for (i = 0; i < st->nkeys; i++)
	{
		uint32		slot = hash_bytes((const unsigned char *) st->keys[i],
									  strlen(st->keys[i])) & (newcap - 1);

		while (h[slot] != 0)
			slot = (slot + 1) & (newcap - 1);
		h[slot] = i + 1;
	}
	pfree(st->hash);
	st->hash = h;
	st->hashcap = newcap;
}

/* The id of a key, interning it if new. */
static int32
intern_key(SeriesCollector *st, const char *key, int len)
{
	uint32		slot = hash_bytes((const unsigned char *) key, len) & (st->hashcap - 1);
	char	   *copy;

	while (st->hash[slot] != 0)
	{
		const char *k = st->keys[st->hash[slot] - 1];

		if ((int) strlen(k) == len && memcmp(k, key, len) == 0)
			return st->hash[slot] - 1;
		slot = (slot + 1) & (st->hashcap - 1);
	}
	if (st->nkeys == st->keycap)
	{
		int			cap = Max(st->keycap * 2, 16);

		st->keys = grow_array(st, st->keys, st->nkeys, cap, sizeof(char *));
		st->keycap = cap;
	}
	riq_memory_check(st->cxt, len + 1, "the forecast series keys");
	copy = MemoryContextAlloc(st->cxt, len + 1);
	memcpy(copy, key, len);
	copy[len] = '\0';
	st->keys[st->nkeys] = copy;
	st->hash[slot] = st->nkeys + 1;
	st->nkeys++;
	if (st->nkeys * 2 > st->hashcap)
		rehash(st, st->hashcap * 2);
	return st->nkeys - 1;
}

static void
check_width(SeriesCollector *st, int width)
{
	if (st->n_exog < 0)
	{
		st->n_exog = width;
		if (width > 0 && st->nrows > 0)
			elog(ERROR, "forecast collector has rows but no factor width");
		return;
	}
	if (st->n_exog != width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("exog has %d factors in this row but %d in earlier rows", width, st->n_exog),
				 errhint("Give every row the same factors in the same order (or none at all: NULL in every row).")));
}

SeriesCollector *
series_collect_add(FunctionCallInfo fcinfo, SeriesCollector *state,
				   text *series, DateADT ts, double y, ArrayType *exog)
{
	MemoryContext aggcxt;
	const double *x = NULL;
	int			width = 0;
	int32		id;

	if (series == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("series must not be NULL"),
				 errhint("Filter out the rows with no series key, or give them a key such as 'unknown'.")));
	if (DATE_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ts must be a finite date"),
				 errhint("Remove the rows dated infinity or -infinity.")));
	if (isnan(y))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("y must not be NaN"),
				 errdetail("Series \"%s\" has NaN on %s.", text_to_cstring(series),
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(ts)))),
				 errhint("Replace NaN by a number (for instance 0 for a day with no sales) or filter the row out.")));
	if (isinf(y))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("y must be finite"),
				 errdetail("Series \"%s\" has %s on %s.", text_to_cstring(series),
						   y > 0 ? "Infinity" : "-Infinity",
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(ts)))),
				 errhint("Replace the infinite value by a number or filter the row out.")));
	if (exog != NULL)
	{
		if (ARR_NDIM(exog) == 0)
			width = 0;
		else
			x = riq_float8_array(exog, "exog", &width, false);
	}

	if (state == NULL)
	{
		aggcxt = riq_agg_context(fcinfo, "forecast collector");
		state = collector_new(aggcxt);
	}
	check_width(state, width);
	ensure_rows(state, 1);
	id = intern_key(state, VARDATA_ANY(series), VARSIZE_ANY_EXHDR(series));
	state->sid[state->nrows] = id;
	state->ts[state->nrows] = ts;
	state->y[state->nrows] = y;
	if (width > 0)
		memcpy(state->exog + state->nrows * width, x, sizeof(double) * width);
	state->nrows++;
	return state;
}

SeriesCollector *
series_collect_sfunc(FunctionCallInfo fcinfo, int exog_argno)
{
	SeriesCollector *state = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	ArrayType  *exog = NULL;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("series must not be NULL"),
				 errhint("Filter out the rows with no series key, or give them a key such as 'unknown'.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ts must not be NULL"),
				 errhint("Filter out the rows with no date.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("y must not be NULL"),
				 errdetail("Series \"%s\" has a NULL value on %s.",
						   text_to_cstring(PG_GETARG_TEXT_PP(1)),
						   DatumGetCString(DirectFunctionCall1(date_out, PG_GETARG_DATUM(2)))),
				 errhint("Use coalesce(y, 0) if a missing value means no sales, or filter the row out.")));
	if (exog_argno > 0 && !PG_ARGISNULL(exog_argno))
		exog = PG_GETARG_ARRAYTYPE_P(exog_argno);
	else if (exog_argno > 0 && state != NULL && state->n_exog > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("exog must not be NULL when earlier rows had %d factors", state->n_exog),
				 errhint("Give every row the same factors (use 0 for an absent factor).")));
	return series_collect_add(fcinfo, state, PG_GETARG_TEXT_PP(1), PG_GETARG_DATEADT(2),
							  PG_GETARG_FLOAT8(3), exog);
}

void
series_collect_set_options(SeriesCollector *state, const char *options)
{
	if (state == NULL || options == NULL)
		return;
	if (state->options == NULL)
		state->options = MemoryContextStrdup(state->cxt, options);
	else if (strcmp(state->options, options) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the method and options must be the same in every row of a group"),
				 errdetail("One row has %s, another %s.", state->options, options),
				 errhint("Pass constants for the method and options arguments.")));
}

const char *
series_collect_options(const SeriesCollector *state)
{
	return state == NULL ? NULL : state->options;
}

int64
series_collect_rows(const SeriesCollector *state)
{
	return state == NULL ? 0 : state->nrows;
}

/* ---------- combine / serialize / deserialize ---------- */

/* Append every row of src to dst (dst lives in the aggregate context). */
static void
collector_merge(SeriesCollector *dst, const SeriesCollector *src)
{
	int32	   *map;
	int64		i;
	int			k;

	if (src->options != NULL)
		series_collect_set_options(dst, src->options);
	if (src->nrows == 0)
		return;
	check_width(dst, src->n_exog);
	map = palloc(sizeof(int32) * Max(src->nkeys, 1));
	for (k = 0; k < src->nkeys; k++)
		map[k] = intern_key(dst, src->keys[k], strlen(src->keys[k]));
	ensure_rows(dst, src->nrows);
	for (i = 0; i < src->nrows; i++)
	{
		dst->sid[dst->nrows + i] = map[src->sid[i]];
		dst->ts[dst->nrows + i] = src->ts[i];
		dst->y[dst->nrows + i] = src->y[i];
	}
	if (src->n_exog > 0)
		memcpy(dst->exog + dst->nrows * src->n_exog, src->exog,
			   sizeof(double) * src->nrows * src->n_exog);
	dst->nrows += src->nrows;
	pfree(map);
}

Datum
forecast_collect_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	SeriesCollector *a = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	SeriesCollector *b = PG_ARGISNULL(1) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(1);

	aggcxt = riq_agg_context(fcinfo, "forecast_collect_combine");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = collector_new(aggcxt);
	collector_merge(a, b);
	PG_RETURN_POINTER(a);
}

typedef struct SerialHeader
{
	int32		version;
	int32		n_exog;
	int32		nkeys;
	int32		optlen;			/* -1 = no options */
	int64		nrows;
	int64		keybytes;
} SerialHeader;

Datum
forecast_collect_serialize(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = (SeriesCollector *) PG_GETARG_POINTER(0);
	SerialHeader h;
	Size		size;
	Size		width;
	bytea	   *out;
	char	   *p;
	int			k;

	memset(&h, 0, sizeof(h));
	h.version = SERIES_SERIAL_VERSION;
	h.n_exog = st->n_exog;
	h.nkeys = st->nkeys;
	h.optlen = st->options ? (int32) strlen(st->options) : -1;
	h.nrows = st->nrows;
	for (k = 0; k < st->nkeys; k++)
		h.keybytes += strlen(st->keys[k]) + 1;
	width = sizeof(int32) + sizeof(DateADT) + sizeof(double) * (1 + Max(st->n_exog, 0));
	size = add_size(VARHDRSZ + sizeof(h), h.keybytes + Max(h.optlen, 0));
	size = add_size(size, mul_size(st->nrows, width));
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the sales rows of one parallel worker exceed 1 GB"),
				 errdetail("The partial state needs %zu MB.", size >> 20),
				 errhint("Run the aggregate without parallel query (SET max_parallel_workers_per_gather = 0).")));
	out = palloc(size);
	SET_VARSIZE(out, size);
	p = VARDATA(out);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	if (h.optlen > 0)
	{
		memcpy(p, st->options, h.optlen);
		p += h.optlen;
	}
	for (k = 0; k < st->nkeys; k++)
	{
		Size		l = strlen(st->keys[k]) + 1;

		memcpy(p, st->keys[k], l);
		p += l;
	}
#define PUT(arr, n) do { if ((n) > 0) { memcpy(p, (arr), (n)); p += (n); } } while (0)
	PUT(st->sid, sizeof(int32) * st->nrows);
	PUT(st->ts, sizeof(DateADT) * st->nrows);
	PUT(st->y, sizeof(double) * st->nrows);
	if (st->n_exog > 0)
		PUT(st->exog, sizeof(double) * st->nrows * st->n_exog);
#undef PUT
	Assert(p == (char *) out + size);
	PG_RETURN_BYTEA_P(out);
}

static void
malformed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("malformed forecast aggregate state"),
			 errdetail("A header field, a key, a row's series, date or value does not fit the state's bytes."),
			 errhint("Partial states come from retailiq_internal.forecast_collect_serialize: do not build them by hand.")));
}

Datum
forecast_collect_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	const char *end = p + VARSIZE_ANY_EXHDR(in);
	SerialHeader h;
	SeriesCollector *st;
	int			k;
	int64		i;
	Size		need;

	aggcxt = riq_agg_context(fcinfo, "forecast_collect_deserialize");
	if ((Size) (end - p) < sizeof(h))
		malformed();
	memcpy(&h, p, sizeof(h));
	p += sizeof(h);
	if (h.version != SERIES_SERIAL_VERSION || h.n_exog < -1 || h.nkeys < 0 || h.optlen < -1 ||
		h.nrows < 0 || h.keybytes < 0 || (h.n_exog < 0 && h.nrows > 0))
		malformed();
	/* no product below may overflow: a row count beyond what the bytes could hold is refused */
	if ((Size) h.keybytes > (Size) (end - p) || (Size) h.nrows > (Size) (end - p) ||
		(Size) Max(h.n_exog, 0) > (Size) (end - p))
		malformed();
	need = add_size(Max(h.optlen, 0), h.keybytes);
	need = add_size(need, mul_size(h.nrows, sizeof(int32) + sizeof(DateADT) +
								   sizeof(double) * (1 + Max(h.n_exog, 0))));
	if (need != (Size) (end - p))
		malformed();
	st = collector_new(aggcxt);
	if (h.optlen >= 0)
	{
		if (memchr(p, '\0', h.optlen) != NULL)
			malformed();
		st->options = MemoryContextAlloc(aggcxt, h.optlen + 1);
		memcpy(st->options, p, h.optlen);
		st->options[h.optlen] = '\0';
		p += h.optlen;
	}
	{
		const char *kend = p + h.keybytes;

		for (k = 0; k < h.nkeys; k++)
		{
			const char *z = memchr(p, '\0', kend - p);

			if (z == NULL || intern_key(st, p, z - p) != k)
				malformed();
			p = z + 1;
		}
		if (p != kend)
			malformed();
	}
	st->n_exog = h.n_exog;
	ensure_rows(st, h.nrows);
	memcpy(st->sid, p, sizeof(int32) * h.nrows);
	p += sizeof(int32) * h.nrows;
	memcpy(st->ts, p, sizeof(DateADT) * h.nrows);
	p += sizeof(DateADT) * h.nrows;
	memcpy(st->y, p, sizeof(double) * h.nrows);
	p += sizeof(double) * h.nrows;
	if (h.n_exog > 0)
		memcpy(st->exog, p, sizeof(double) * h.nrows * h.n_exog);
	st->nrows = h.nrows;
	/* every row as series_collect_add would have accepted it */
	for (i = 0; i < h.nrows; i++)
	{
		if (st->sid[i] < 0 || st->sid[i] >= h.nkeys ||
			DATE_NOT_FINITE(st->ts[i]) || !IS_VALID_DATE(st->ts[i]) || !isfinite(st->y[i]))
			malformed();
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	for (i = 0; i < h.nrows * Max(h.n_exog, 0); i++)
		if (!isfinite(st->exog[i]))
			malformed();
	PG_RETURN_POINTER(st);
}

/* ---------- finish ---------- */

static const SeriesCollector *sort_state;

static int
row_cmp(const void *a, const void *b)
{
	int64		i = *(const int64 *) a;
	int64		j = *(const int64 *) b;
	DateADT		ti = sort_state->ts[i];
	DateADT		tj = sort_state->ts[j];

	if (sort_state->sid[i] != sort_state->sid[j])
		return sort_state->sid[i] < sort_state->sid[j] ? -1 : 1;
	return ti < tj ? -1 : (ti > tj ? 1 : 0);
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(sort_state->keys[*(const int *) a], sort_state->keys[*(const int *) b]);
}

static int64
gcd64(int64 a, int64 b)
{
	while (b != 0)
	{
		int64		t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Period index of date d relative to start under freq (d on the grid). */
static int64
period_index(ForecastFreq freq, DateADT start, DateADT d)
{
	if (freq == FREQ_MONTH)
	{
		int			y0,
					m0,
					d0,
					y1,
					m1,
					d1;

		series_date_ymd(start, &y0, &m0, &d0);
		series_date_ymd(d, &y1, &m1, &d1);
		return ((int64) y1 * 12 + m1) - ((int64) y0 * 12 + m0);
	}
	return ((int64) d - start) / (freq == FREQ_WEEK ? 7 : 1);
}

/* What the sorted rows say about the dates, for choosing the frequency. */
typedef struct DateScan
{
	bool		same_dom;		/* every date on the same day of month (dom0) */
	bool		all_month_end;
	bool		any_diff;		/* some series has two dates */
	int64		min_diff;		/* smallest gap within a series, days */
	int64		g;				/* gcd of the gaps, days */
	int			dom0;
} DateScan;

/*
 * One pass over the rows in (key, date) order: each key's first row and row count, the
 * date facts of DateScan; two rows of one series on one date are an error.
 */
static void
scan_rows(const SeriesCollector *state, const int64 *order, int64 *first, int64 *count,
		  DateScan *ds)
{
	int64		i;

	ds->same_dom = true;
	ds->all_month_end = true;
	ds->any_diff = false;
	ds->min_diff = PG_INT64_MAX;
	ds->g = 0;
	ds->dom0 = -1;
	for (i = 0; i < state->nrows; i++)
	{
		int64		r = order[i];
		int32		s = state->sid[r];
		int			y,
					m,
					d;

		if (count[s] == 0)
			first[s] = i;
		count[s]++;
		series_date_ymd(state->ts[r], &y, &m, &d);
		if (ds->dom0 < 0)
			ds->dom0 = d;
		else if (d != ds->dom0)
			ds->same_dom = false;
		if (d != series_days_in_month(y, m))
			ds->all_month_end = false;
		if (count[s] > 1)
		{
			int64		prev = order[i - 1];
			int64		diff = (int64) state->ts[r] - state->ts[prev];

			if (diff == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("series \"%s\" has more than one row for %s",
								state->keys[s], series_date_text(state->ts[r])),
						 errhint("Aggregate to one row per series and date first (for instance sum(units) ... GROUP BY series, day).")));
			ds->any_diff = true;
			ds->g = gcd64(ds->g, diff);
			ds->min_diff = Min(ds->min_diff, diff);
		}
	}
}

/* the frequency: calendar months when every date is the same day of month, else day/week */
static ForecastFreq
infer_frequency(const SeriesCollector *state, const int64 *order, const DateScan *ds)
{
	int64		i,
				gm = 0;

	if (!ds->any_diff)
		return FREQ_DAY;
	if (ds->same_dom && ds->min_diff >= 28)
	{
		if (ds->dom0 > 28)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("monthly dates must fall on a day of month up to 28"),
					 errdetail("Every date is day %d of its month.", ds->dom0),
					 errhint("Date each month by its first day (date_trunc('month', ts)::date).")));
		for (i = 1; i < state->nrows; i++)
		{
			int64		r = order[i],
						p = order[i - 1];

			if (state->sid[r] == state->sid[p])
				gm = gcd64(gm, period_index(FREQ_MONTH, state->ts[p], state->ts[r]));
		}
		if (gm != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the dates fit no single frequency: they are %lld months apart", (long long) gm),
					 errhint("Forecasting works on daily, weekly or monthly series; aggregate quarterly data to months or forecast it elsewhere.")));
		return FREQ_MONTH;
	}
	if (ds->all_month_end && ds->min_diff >= 28)
		/* month ends are 28..31 days apart: read as daily they would be gap-filled with zeros */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("monthly dates must fall on a day of month up to 28"),
				 errdetail("Every date is the last day of its month."),
				 errhint("Date each month by its first day (date_trunc('month', ts)::date).")));
	if (ds->g == 1)
		return FREQ_DAY;
	if (ds->g == 7)
		return FREQ_WEEK;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the dates fit no single frequency: they are multiples of %lld days apart", (long long) ds->g),
			 errhint("Give daily dates, weekly dates on one weekday, or monthly dates on one day of the month.")));
	return FREQ_DAY;			/* not reached */
}

/*
 * Series s (its cnt rows from sorted position lo) as a regular series in fs: gaps filled
 * or refused by the gap policy, length and sign checked.
 */
static void
build_series(const SeriesCollector *state, const int64 *order, int s, int64 lo, int64 cnt,
			 ForecastFreq freq, int n_exog, const SeriesOptions *opt, ForecastSeries *fs)
{
	DateADT		start = state->ts[order[lo]];
	DateADT		last = state->ts[order[lo + cnt - 1]];
	int64		n = period_index(freq, start, last) + 1;
	int64		j;

	if (n > PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("series \"%s\" spans too many periods", state->keys[s])));
	fs->key = state->keys[s];
	fs->start = start;
	fs->n = (int) n;
	fs->n_filled = (int) (n - cnt);
	if (fs->n_filled > 0 && opt->gaps == GAPS_ERROR)
	{
		/* first missing period */
		for (j = 0; j < cnt; j++)
			if (period_index(freq, start, state->ts[order[lo + j]]) != j)
				break;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" has no row for %s", state->keys[s],
						series_date_text(series_date_add(freq, start, (int) j))),
				 errdetail("%d of its %lld %ss between %s and %s are missing.",
						   fs->n_filled, (long long) n, series_freq_name(freq),
						   series_date_text(start), series_date_text(last)),
				 errhint("Add the missing rows, or use the option \"gaps\": \"zero\" to count them as no sales.")));
	}
	if (n < opt->min_length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is too short: %lld %ss, at least %d needed",
						state->keys[s], (long long) n, series_freq_name(freq), opt->min_length),
				 errhint("Filter out the short series (for instance HAVING count(*) >= %d) or lower options.min_length.",
						 opt->min_length)));
	fs->y = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "the forecast panel"),
					  "the forecast panel");
	memset(fs->y, 0, sizeof(double) * n);
	if (n_exog > 0)
	{
		Size		b = riq_mul_size(n, sizeof(double) * n_exog, "the forecast panel");

		fs->exog = riq_alloc(CurrentMemoryContext, b, "the forecast panel");
		memset(fs->exog, 0, b);
	}
	for (j = 0; j < cnt; j++)
	{
		int64		r = order[lo + j];
		int64		t = period_index(freq, start, state->ts[r]);

		if (freq == FREQ_WEEK && ((int64) state->ts[r] - start) % 7 != 0)
			elog(ERROR, "weekly date off the grid");
		if (state->y[r] < 0 && !opt->allow_negative)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("y must not be negative"),
					 errdetail("Series \"%s\" has %g on %s.", state->keys[s], state->y[r],
							   series_date_text(state->ts[r])),
					 errhint("Clip returns to 0 (greatest(y, 0)), or set the option \"allow_negative\": true.")));
		fs->y[t] = state->y[r];
		if (n_exog > 0)
			memcpy(fs->exog + t * n_exog, state->exog + r * n_exog, sizeof(double) * n_exog);
	}
}

ForecastPanel *
series_collect_finish(SeriesCollector *state, const SeriesOptions *opt)
{
	ForecastPanel *panel;
	int64	   *order;
	int		   *bykey;
	int64	   *first;			/* first sorted row of each key id */
	int64	   *count;
	int64		i;
	int			k,
				n_exog;
	DateScan	ds;
	ForecastFreq freq;

	if (state == NULL || state->nrows == 0)
		return NULL;
	n_exog = Max(state->n_exog, 0);

	order = riq_alloc(CurrentMemoryContext,
					  riq_mul_size(state->nrows, sizeof(int64), "the forecast series order"),
					  "the forecast series order");
	for (i = 0; i < state->nrows; i++)
		order[i] = i;
	sort_state = state;
	qsort(order, state->nrows, sizeof(int64), row_cmp);
	CHECK_FOR_INTERRUPTS();

	first = palloc0(sizeof(int64) * state->nkeys);
	count = palloc0(sizeof(int64) * state->nkeys);
	scan_rows(state, order, first, count, &ds);
	freq = infer_frequency(state, order, &ds);

	/* keys in byte order */
	bykey = palloc(sizeof(int) * state->nkeys);
	for (k = 0; k < state->nkeys; k++)
		bykey[k] = k;
	qsort(bykey, state->nkeys, sizeof(int), key_cmp);

	panel = palloc0(sizeof(ForecastPanel));
	panel->freq = freq;
	panel->season = series_default_season(freq);
	panel->n_exog = n_exog;
	panel->nseries = state->nkeys;
	panel->series = palloc0(sizeof(ForecastSeries) * state->nkeys);
	for (k = 0; k < state->nkeys; k++)
	{
		CHECK_FOR_INTERRUPTS();
		build_series(state, order, bykey[k], first[bykey[k]], count[bykey[k]], freq, n_exog,
					 opt, &panel->series[k]);
	}
	pfree(order);
	pfree(first);
	pfree(count);
	pfree(bykey);
	return panel;
}
