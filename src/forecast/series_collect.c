/*
 * series_collect.c: the series collector behind every forecasting aggregate (series.h):
 * the transition step, the per-group options text, and the combine, serialize and
 * deserialize functions that make the aggregates parallel safe.
 *
 * Rows arrive in any order (and, under parallel query, split between workers). Each becomes
 * one row of the core row store, (series key id, date, value, factors...), so a row costs
 * 24 bytes plus its factors, and growth, the memory budget, the canonical sort and the
 * checked flat form are the row store's. The series keys are interned in a dictionary (an
 * open-addressing hash table) beside the rows; the flat form carries it in the row store's
 * parameter area. series_collect_canonical renumbers the keys in byte order and sorts the
 * rows, so the panel (series_panel.c) does not depend on the arrival order: serial and
 * parallel plans train on the same data bit for bit.
 *
 * Streaming (series_collect_stream, forecast_fit's collector): once the rows outgrow an
 * eighth of retailiq.max_memory in a plain aggregate, they move to SERIES_GROUPS temporary
 * files (BufFile), a series' rows to the file of its key id modulo the groups, and every
 * later row goes straight to its file; memory holds the keys, each key's first date and
 * the date facts of all rows (series_collect.h), so the frequency is the whole panel's.
 * The files are closed when the aggregate shuts down (AggRegisterCallback), or with the
 * transaction's resource owner on an error. Not in a parallel worker's partial aggregate:
 * its state is serialized, and a window aggregate's state lives on between calls.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "access/parallel.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/memory.h"
#include "core/rowstore.h"
#include "forecast/series.h"
#include "forecast/series_collect.h"

#define SERIES_SERIAL_VERSION 2

/* the name corruption errors give the collector's partial state */
#define COLLECTOR_STATE "forecast aggregate"
#define COLLECTOR_ROWS "the forecast series rows"
#define COLLECTOR_KEYS "the forecast series keys"

struct SeriesCollector
{
	MemoryContext cxt;
	/* the key dictionary: id -> key, and the hash from key to id */
	int			nkeys;
	int64		keycap;
	char	  **keys;			/* NUL-terminated */
	int		   *hash;			/* slots: key index + 1, 0 = empty */
	int			hashcap;		/* power of two */
	/* the rows: set up by the first row, which fixes the factor width */
	int			n_exog;			/* -1 until the first row */
	RiqRows		rows;			/* width SERIES_COL_EXOG + n_exog */
	double	   *rowbuf;			/* one row being added */
	bool		canonical;		/* ids in key byte order and rows sorted */
	char	   *options;		/* opaque, NULL until set */
	bytea	   *attached;		/* opaque, the first row's (series_collect_attach) */
	/* streaming: the rows in group files (ngroups > 0), the keys and date facts here */
	int			ngroups;
	BufFile   **files;
	int64		spilled;		/* rows in the files */
	DateADT    *first_date;		/* per key id: its first row's date (DATEVAL_NOBEGIN: none) */
	int64		first_cap;
	int			nfirst;			/* keys with a slot in first_date */
	SeriesDateFacts facts;
};

static void stream_row(SeriesCollector *st, const double *row);

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

/* ---------- the key dictionary ---------- */

static void
rehash(SeriesCollector *st, int newcap)
{
	int		   *h;
	int			i;

	riq_memory_check(st->cxt, sizeof(int) * (Size) newcap, COLLECTOR_KEYS);
	h = MemoryContextAllocZero(st->cxt, sizeof(int) * (Size) newcap);
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
	if (st->nkeys >= PG_INT32_MAX / 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many series"),
				 errdetail("The rows name more than %d distinct series.", PG_INT32_MAX / 4),
				 errhint("Fit the series in groups (GROUP BY a store or a category).")));
	st->keys = riq_grow_array(st->cxt, st->keys, &st->keycap, st->nkeys + 1, sizeof(char *),
							  COLLECTOR_KEYS);
	riq_memory_check(st->cxt, len + 1, COLLECTOR_KEYS);
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

/* ---------- rows ---------- */

/* The first row fixes the factor width (and so the row width); later rows must agree. */
static void
check_width(SeriesCollector *st, int width)
{
	if (st->n_exog < 0)
	{
		st->n_exog = width;
		riq_rows_init(&st->rows, st->cxt, SERIES_COL_EXOG + width, COLLECTOR_ROWS);
		st->rowbuf = riq_alloc(st->cxt,
							   riq_mul_size((Size) st->rows.width, sizeof(double), COLLECTOR_ROWS),
							   COLLECTOR_ROWS);
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
						   series_date_text(ts)),
				 errhint("Replace NaN by a number (for instance 0 for a day with no sales) or filter the row out.")));
	if (isinf(y))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("y must be finite"),
				 errdetail("Series \"%s\" has %s on %s.", text_to_cstring(series),
						   y > 0 ? "Infinity" : "-Infinity", series_date_text(ts)),
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
	id = intern_key(state, VARDATA_ANY(series), VARSIZE_ANY_EXHDR(series));
	state->rowbuf[SERIES_COL_KEY] = id;
	state->rowbuf[SERIES_COL_DATE] = ts;
	state->rowbuf[SERIES_COL_Y] = y;
	if (width > 0)
		memcpy(state->rowbuf + SERIES_COL_EXOG, x, sizeof(double) * width);
	if (state->ngroups > 0)
		stream_row(state, state->rowbuf);
	else
		riq_rows_append(&state->rows, state->rowbuf);
	state->canonical = false;
	return state;
}

SeriesCollector *
series_collect_panel_accum(FunctionCallInfo fcinfo, const char *fname)
{
	SeriesCollector *state = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	ArrayType  *exog = NULL;

	(void) riq_agg_context(fcinfo, fname);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(1) ? "series" : PG_ARGISNULL(2) ? "ts" : "y"),
				 errhint("Filter out the rows with NULLs, or COALESCE a missing sale to 0.")));
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		exog = PG_GETARG_ARRAYTYPE_P(4);
	state = series_collect_add(fcinfo, state, PG_GETARG_TEXT_PP(1), PG_GETARG_DATEADT(2),
							   PG_GETARG_FLOAT8(3), exog);
	series_collect_options_from_args(state, fcinfo, 0, 5);
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
						   series_date_text(PG_GETARG_DATEADT(2))),
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

void
series_collect_attach(SeriesCollector *state, bytea *value)
{
	if (state == NULL || value == NULL || state->attached != NULL)
		return;
	state->attached = MemoryContextAlloc(state->cxt, VARSIZE_ANY(value));
	memcpy(state->attached, value, VARSIZE_ANY(value));
}

bytea *
series_collect_attached(const SeriesCollector *state)
{
	return state == NULL ? NULL : state->attached;
}

const char *
series_collect_options(const SeriesCollector *state)
{
	return state == NULL ? NULL : state->options;
}

int64
series_collect_rows(const SeriesCollector *state)
{
	return state == NULL || state->n_exog < 0 ? 0 : state->rows.n + state->spilled;
}

/* ---------- streaming: the rows in group files ---------- */

/* one row to its group's file, its date into the date facts */
static void
stream_row(SeriesCollector *st, const double *row)
{
	int			id = (int) row[SERIES_COL_KEY];
	DateADT		d = (DateADT) row[SERIES_COL_DATE];

	if (id >= st->nfirst)
	{
		st->first_date = riq_grow_array(st->cxt, st->first_date, &st->first_cap, st->nkeys,
										sizeof(DateADT), COLLECTOR_KEYS);
		while (st->nfirst < st->nkeys)
			st->first_date[st->nfirst++] = DATEVAL_NOBEGIN;
	}
	if (st->first_date[id] == DATEVAL_NOBEGIN)
		st->first_date[id] = d;
	series_date_facts_add(&st->facts, st->first_date[id], d);
	BufFileWrite(st->files[id % st->ngroups], (void *) row, sizeof(double) * st->rows.width);
	st->spilled++;
}

/* the aggregate is over (or rescanned): the files go */
static void
stream_shutdown(Datum arg)
{
	SeriesCollector *st = (SeriesCollector *) DatumGetPointer(arg);

	for (int g = 0; g < st->ngroups; g++)
		BufFileClose(st->files[g]);
	st->ngroups = 0;
	st->files = NULL;
	st->spilled = 0;
}

void
series_collect_stream(FunctionCallInfo fcinfo, SeriesCollector *st)
{
	Aggref	   *aggref;
	MemoryContext old;

	if (st == NULL || st->ngroups > 0 || st->n_exog < 0 ||
		(Size) st->rows.n * st->rows.width * sizeof(double) < (Size) riq_max_memory_kb * (1024 / 8))
		return;
	/* only where the final function runs on this very state, once every row is in */
	if (IsParallelWorker() || AggCheckCallContext(fcinfo, NULL) != AGG_CONTEXT_AGGREGATE)
		return;
	aggref = AggGetAggref(fcinfo);
	if (aggref == NULL || DO_AGGSPLIT_SKIPFINAL(aggref->aggsplit))
		return;
	old = MemoryContextSwitchTo(st->cxt);
	st->files = palloc(sizeof(BufFile *) * SERIES_GROUPS);
	for (int g = 0; g < SERIES_GROUPS; g++)
	{
		st->files[g] = BufFileCreateTemp(false);
		st->ngroups = g + 1;
	}
	MemoryContextSwitchTo(old);
	AggRegisterCallback(fcinfo, stream_shutdown, PointerGetDatum(st));
	series_date_facts_init(&st->facts);
	for (int64 i = 0; i < st->rows.n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		stream_row(st, RIQ_ROW(&st->rows, i));
	}
	ereport(DEBUG1,
			(errmsg("forecast_fit: " INT64_FORMAT " rows of %d series streamed to %d group files",
					st->rows.n, st->nkeys, st->ngroups)));
	pfree(st->rows.data);
	riq_rows_init(&st->rows, st->cxt, st->rows.width, COLLECTOR_ROWS);
}

int
series_collect_groups(const SeriesCollector *st)
{
	return st == NULL ? 0 : st->ngroups;
}

int
series_collect_nseries(const SeriesCollector *st)
{
	return st == NULL ? 0 : st->nkeys;
}

ForecastFreq
series_collect_groups_freq(const SeriesCollector *st)
{
	return series_date_facts_freq(&st->facts);
}

SeriesCollector *
series_collect_group(SeriesCollector *st, int g)
{
	SeriesCollector *sub;
	Size		rowbytes = sizeof(double) * st->rows.width;
	int			chunk = 4096;
	double	   *buf;
	int32	   *map;

	Assert(g >= 0 && g < st->ngroups);
	if (BufFileSeek(st->files[g], 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind a temporary file of forecast_fit's rows: %m")));
	sub = collector_new(CurrentMemoryContext);
	sub->options = st->options;
	sub->attached = st->attached;
	map = palloc(sizeof(int32) * Max(st->nkeys, 1));
	memset(map, -1, sizeof(int32) * Max(st->nkeys, 1));
	buf = palloc(rowbytes * chunk);
	for (;;)
	{
		size_t		got = BufFileRead(st->files[g], buf, rowbytes * chunk);

		CHECK_FOR_INTERRUPTS();
		if (got == 0)
			break;
		if (got % rowbytes != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read a temporary file of forecast_fit's rows: read %zu bytes, not whole rows of %zu",
							got, rowbytes)));
		for (Size r = 0; r < got / rowbytes; r++)
		{
			double	   *row = buf + r * st->rows.width;
			int			id = (int) row[SERIES_COL_KEY];

			if (id < 0 || id >= st->nkeys)
				elog(ERROR, "forecast_fit group row of series %d of %d", id, st->nkeys);
			if (map[id] < 0)
				map[id] = intern_key(sub, st->keys[id], strlen(st->keys[id]));
			row[SERIES_COL_KEY] = map[id];
			check_width(sub, st->n_exog);
			riq_rows_append(&sub->rows, row);
		}
	}
	pfree(buf);
	pfree(map);
	if (sub->n_exog < 0)
		return NULL;
	return sub;
}

/* ---------- the canonical form ---------- */

static int
key_cmp(const void *a, const void *b, void *arg)
{
	char	  **keys = (char **) arg;

	return strcmp(keys[*(const int *) a], keys[*(const int *) b]);
}

void
series_collect_canonical(SeriesCollector *st, SeriesRowsView *view)
{
	if (st->ngroups > 0)
		elog(ERROR, "a streamed forecast collector is read group by group");
	if (!st->canonical && st->n_exog >= 0)
	{
		int		   *bykey;
		int		   *rank;
		char	  **keys;
		int			k;

		/* key ids in byte order of the keys (as strcmp: unsigned bytes) */
		bykey = palloc(sizeof(int) * Max(st->nkeys, 1));
		rank = palloc(sizeof(int) * Max(st->nkeys, 1));
		for (k = 0; k < st->nkeys; k++)
			bykey[k] = k;
		qsort_arg(bykey, st->nkeys, sizeof(int), key_cmp, st->keys);
		for (k = 0; k < st->nkeys; k++)
			rank[bykey[k]] = k;
		for (int64 i = 0; i < st->rows.n; i++)
		{
			double	   *row = RIQ_ROW(&st->rows, i);

			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			row[SERIES_COL_KEY] = rank[(int) row[SERIES_COL_KEY]];
		}
		/* the dictionary follows, so that rows added later intern into the same ids */
		keys = palloc(sizeof(char *) * Max(st->nkeys, 1));
		for (k = 0; k < st->nkeys; k++)
			keys[k] = st->keys[bykey[k]];
		memcpy(st->keys, keys, sizeof(char *) * st->nkeys);
		rehash(st, st->hashcap);
		pfree(keys);
		pfree(rank);
		pfree(bykey);

		/* (key, date) is unique in a valid panel; the values order the rest canonically */
		riq_rows_sort(&st->rows);
		st->canonical = true;
	}
	view->rows = &st->rows;
	view->keys = st->keys;
	view->nkeys = st->nkeys;
	view->n_exog = Max(st->n_exog, 0);
}

/* ---------- combine ---------- */

static void
collector_merge(SeriesCollector *dst, const SeriesCollector *src)
{
	int32	   *map;
	int64		from;
	int			k;

	if (dst->ngroups > 0 || src->ngroups > 0)
		elog(ERROR, "a streamed forecast collector cannot be combined");
	if (src->options != NULL)
		series_collect_set_options(dst, src->options);
	if (series_collect_rows(src) == 0)
		return;
	check_width(dst, src->n_exog);
	map = palloc(sizeof(int32) * Max(src->nkeys, 1));
	for (k = 0; k < src->nkeys; k++)
		map[k] = intern_key(dst, src->keys[k], strlen(src->keys[k]));
	from = dst->rows.n;
	riq_rows_concat(&dst->rows, &src->rows);
	for (int64 i = from; i < dst->rows.n; i++)
	{
		double	   *row = RIQ_ROW(&dst->rows, i);

		row[SERIES_COL_KEY] = map[(int) row[SERIES_COL_KEY]];
	}
	dst->canonical = false;
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

/* ---------- the flat form: the row store's, with the dictionary as its parameter area ---------- */

/* the parameter area: this header, the options text, the keys (each NUL-terminated) */
typedef struct SeriesWire
{
	int32		version;
	int32		n_exog;			/* -1: no row yet */
	int32		nkeys;
	int32		optlen;			/* -1 = no options */
	int64		keybytes;
} SeriesWire;

/* the widest row the flat form may claim: as many factors as a float8[] can hold */
#define SERIES_MAX_WIDTH ((int) (MaxAllocSize / sizeof(double)))

Datum
forecast_collect_serialize(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = (SeriesCollector *) PG_GETARG_POINTER(0);
	SeriesWire	h;
	RiqRows		none;
	const RiqRows *rows = &st->rows;
	Size		extra_len;
	char	   *extra,
			   *p;
	int			k;

	if (st->ngroups > 0)
		elog(ERROR, "a streamed forecast collector cannot be serialized");

	memset(&h, 0, sizeof(h));
	h.version = SERIES_SERIAL_VERSION;
	h.n_exog = st->n_exog;
	h.nkeys = st->nkeys;
	h.optlen = st->options ? (int32) strlen(st->options) : -1;
	for (k = 0; k < st->nkeys; k++)
		h.keybytes += strlen(st->keys[k]) + 1;
	extra_len = add_size(add_size(sizeof(h), Max(h.optlen, 0)), (Size) h.keybytes);
	if (!AllocSizeIsValid(extra_len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a parallel worker's forecast series keys exceed 1 GB"),
				 errdetail("The worker holds %d series keys.", st->nkeys),
				 errhint("Run the aggregate without parallel query (SET max_parallel_workers_per_gather = 0).")));
	extra = p = palloc(extra_len);
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
	Assert(p == extra + extra_len);
	/* a collector that has seen no row has no row width yet: write an empty store */
	if (st->n_exog < 0)
	{
		riq_rows_init(&none, st->cxt, SERIES_COL_EXOG, COLLECTOR_ROWS);
		rows = &none;
	}
	PG_RETURN_BYTEA_P(riq_rows_serialize(rows, extra, extra_len));
}

/* a whole number in [lo, hi] held in a row */
static inline bool
whole_in(double v, double lo, double hi)
{
	return v >= lo && v <= hi && v == floor(v);
}

Datum
forecast_collect_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	SeriesCollector *st;
	SeriesWire	h;
	Size		extra_len;
	const char *p;
	const char *end;
	bool	   *used;
	int64		i;
	int			k;

	aggcxt = riq_agg_context(fcinfo, "forecast_collect_deserialize");
	st = collector_new(aggcxt);
	/* the row store checks its own header against the length */
	p = riq_rows_deserialize(in, &st->rows, aggcxt, SERIES_MAX_WIDTH, COLLECTOR_STATE, &extra_len);
	st->rows.what = COLLECTOR_ROWS;
	end = p + extra_len;
	if (extra_len < sizeof(h))
		riq_state_corrupt(COLLECTOR_STATE, "Its parameter area is %zu bytes, shorter than its header.",
						  extra_len);
	memcpy(&h, p, sizeof(h));
	p += sizeof(h);
	if (h.version != SERIES_SERIAL_VERSION)
		riq_state_corrupt(COLLECTOR_STATE, "Its version is %d; this release writes %d.",
						  h.version, SERIES_SERIAL_VERSION);
	if (h.n_exog < -1 || (h.n_exog < 0 ? st->rows.n > 0 || st->rows.width != SERIES_COL_EXOG :
						  st->rows.width - SERIES_COL_EXOG != h.n_exog))
		riq_state_corrupt(COLLECTOR_STATE, "It claims %d factors in rows of %d values (" INT64_FORMAT " rows).",
						  h.n_exog, st->rows.width, st->rows.n);
	if (h.nkeys < 0 || h.optlen < -1 || h.keybytes < 0 ||
		(Size) Max(h.optlen, 0) > (Size) (end - p) ||
		(uint64) h.keybytes != (uint64) ((Size) (end - p) - (Size) Max(h.optlen, 0)))
		riq_state_corrupt(COLLECTOR_STATE, "Its %d keys in " INT64_FORMAT " bytes and %d bytes of options do not fill its %zu-byte parameter area.",
						  h.nkeys, h.keybytes, h.optlen, extra_len);
	if (h.optlen >= 0)
	{
		if (memchr(p, '\0', h.optlen) != NULL)
			riq_state_corrupt(COLLECTOR_STATE, "Its options text holds a zero byte.");
		st->options = MemoryContextAlloc(aggcxt, h.optlen + 1);
		memcpy(st->options, p, h.optlen);
		st->options[h.optlen] = '\0';
		p += h.optlen;
	}
	for (k = 0; k < h.nkeys; k++)
	{
		const char *z = memchr(p, '\0', end - p);

		if (z == NULL)
			riq_state_corrupt(COLLECTOR_STATE, "Series key %d runs past the key area.", k);
		if (intern_key(st, p, z - p) != k)
			riq_state_corrupt(COLLECTOR_STATE, "Series key %d repeats an earlier key.", k);
		p = z + 1;
	}
	if (p != end)
		riq_state_corrupt(COLLECTOR_STATE, "Its key area has %zu bytes after the last key.",
						  (Size) (end - p));
	if (h.n_exog >= 0)
	{
		st->n_exog = h.n_exog;
		st->rowbuf = riq_alloc(aggcxt, riq_mul_size((Size) st->rows.width, sizeof(double), COLLECTOR_ROWS),
							   COLLECTOR_ROWS);
	}

	/* every row as series_collect_add would have accepted it, and no key without a row */
	used = palloc0(sizeof(bool) * Max(h.nkeys, 1));
	for (i = 0; i < st->rows.n; i++)
	{
		const double *row = RIQ_ROW(&st->rows, i);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!whole_in(row[SERIES_COL_KEY], 0, h.nkeys - 1))
			riq_state_corrupt(COLLECTOR_STATE, "Row " INT64_FORMAT " names series %g of %d.",
							  i, row[SERIES_COL_KEY], h.nkeys);
		if (!whole_in(row[SERIES_COL_DATE], DATEVAL_NOBEGIN + 1.0, DATEVAL_NOEND - 1.0) ||
			!IS_VALID_DATE((DateADT) row[SERIES_COL_DATE]))
			riq_state_corrupt(COLLECTOR_STATE, "Row " INT64_FORMAT " has no valid finite date.", i);
		for (k = SERIES_COL_Y; k < st->rows.width; k++)
			if (!isfinite(row[k]))
				riq_state_corrupt(COLLECTOR_STATE, "Row " INT64_FORMAT " has a value or factor that is not finite.", i);
		used[(int) row[SERIES_COL_KEY]] = true;
	}
	for (k = 0; k < h.nkeys; k++)
		if (!used[k])
			riq_state_corrupt(COLLECTOR_STATE, "Series key %d has no row.", k);
	pfree(used);
	PG_RETURN_POINTER(st);
}
