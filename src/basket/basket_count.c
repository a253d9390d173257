/*
 * basket_count.c: the counting step of retailiq.assoc_rules_distributed. One level of the
 * level-wise (Apriori) search hands every basket and the level's candidate itemsets to
 * retailiq_internal.itemset_count(items text[], candidates text[][]), an aggregate whose state
 * is one count per candidate: a bytea of 16 + 8 x candidates bytes, whatever the number of
 * baskets. On Citus each shard counts its own baskets and only those counts reach the
 * coordinator (worker_partial_agg / coord_combine_agg), so the data that travels is the size
 * of the model being built, not of the table.
 *
 * The state is held as an expanded object (core/agg_state.h); the candidates are parsed once
 * per state into item indexes over their sorted distinct items, and a basket is tested by
 * stamping its known items and checking each candidate's items for the stamp. Items compare
 * bytewise, as text in COLLATE "C"; a NULL item is skipped and an item twice in a basket
 * counts once (a basket is a set), as the level-1 count does.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/agg_state.h"

#define COUNT_STATE "itemset_count"
#define COUNT_VERSION 1

typedef struct CountHeader
{
	int32		version;
	int32		ncand;			/* candidates */
	int32		k;				/* items per candidate */
	uint32		cand_hash;		/* of the candidates' text, to refuse mixing levels */
} CountHeader;

typedef struct CountState
{
	CountHeader h;
	int64	   *counts;			/* ncand */
	/* the parsed candidates: only in a state that has seen a basket */
	char	   *cand_copy;		/* the candidates array as passed */
	Size		cand_len;
	int32		nitems;			/* distinct items among the candidates, sorted */
	const char **item;
	int32	   *item_len;
	int32	   *cand;			/* ncand x k item indexes */
	int64	   *stamp;			/* per item: the last basket holding it, plus one */
	int64		row;
} CountState;

PG_FUNCTION_INFO_V1(itemset_count_accum);
PG_FUNCTION_INFO_V1(itemset_count_combine);
PG_FUNCTION_INFO_V1(itemset_count_final);

static const RiqXStateMethods count_xstate;

static int
item_cmp(const char *a, int la, const char *b, int lb)
{
	int			c = memcmp(a, b, Min(la, lb));

	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

typedef struct ItemRef
{
	const char *p;
	int32		len;
} ItemRef;

static int
itemref_cmp(const void *a, const void *b)
{
	const ItemRef *x = a,
			   *y = b;

	return item_cmp(x->p, x->len, y->p, y->len);
}

/* index of an item among the sorted candidate items, or -1 */
static int32
find_item(const CountState *st, const char *p, int len)
{
	int32		lo = 0,
				hi = st->nitems - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		int			c = item_cmp(st->item[mid], st->item_len[mid], p, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* candidates: a two-dimensional text[] without NULLs, one itemset of distinct items a row */
static void
parse_candidates(CountState *st, MemoryContext cxt, ArrayType *a)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int32		ncand,
				k;
	ItemRef    *refs;
	MemoryContext old;

	if (ARR_ELEMTYPE(a) != TEXTOID || ARR_NDIM(a) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("candidates must be a two-dimensional text array"),
				 errdetail("It has %d dimensions.", ARR_NDIM(a)),
				 errhint("Pass one candidate itemset per row.")));
	ncand = ARR_DIMS(a)[0];
	k = ARR_DIMS(a)[1];
	old = MemoryContextSwitchTo(cxt);
	st->cand_len = VARSIZE(a);
	st->cand_copy = palloc(st->cand_len);
	memcpy(st->cand_copy, a, st->cand_len);
	a = (ArrayType *) st->cand_copy;
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	refs = palloc(sizeof(ItemRef) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("candidates must not contain NULL"),
					 errhint("Pass the frequent itemsets' items.")));
		refs[i].p = VARDATA_ANY(DatumGetPointer(elems[i]));
		refs[i].len = VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i]));
	}
	/* the distinct items, sorted */
	{
		ItemRef    *sorted = palloc(sizeof(ItemRef) * Max(n, 1));
		int32		m = 0;

		memcpy(sorted, refs, sizeof(ItemRef) * n);
		qsort(sorted, n, sizeof(ItemRef), itemref_cmp);
		st->item = palloc(sizeof(char *) * Max(n, 1));
		st->item_len = palloc(sizeof(int32) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (m == 0 || item_cmp(st->item[m - 1], st->item_len[m - 1], sorted[i].p, sorted[i].len) != 0)
			{
				st->item[m] = sorted[i].p;
				st->item_len[m] = sorted[i].len;
				m++;
			}
		st->nitems = m;
	}
	st->cand = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
		st->cand[i] = find_item(st, refs[i].p, refs[i].len);
	for (int32 c = 0; c < ncand; c++)
		for (int32 j = 1; j < k; j++)
			for (int32 i = 0; i < j; i++)
				if (st->cand[c * k + i] == st->cand[c * k + j])
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("a candidate must not hold an item twice"),
							 errdetail("Candidate %d does.", c + 1),
							 errhint("Pass itemsets, one item once each.")));
	st->stamp = palloc0(sizeof(int64) * Max(st->nitems, 1));
	MemoryContextSwitchTo(old);
	st->h.version = COUNT_VERSION;
	st->h.ncand = ncand;
	st->h.k = k;
	st->h.cand_hash = hash_bytes((const unsigned char *) st->cand_copy, (int) st->cand_len);
}

static CountState *
count_new(MemoryContext cxt, int32 ncand)
{
	CountState *st = MemoryContextAllocZero(cxt, sizeof(CountState));

	st->counts = MemoryContextAllocZero(cxt, sizeof(int64) * Max(ncand, 1));
	return st;
}

static void
mismatch(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("candidates must be the same for every row of itemset_count"),
			 errhint("Pass one constant array of candidates.")));
}

Datum
itemset_count_accum(PG_FUNCTION_ARGS)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, &count_xstate, false);
	CountState *st;
	ArrayType  *cands;
	ArrayType  *items;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64		row;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("candidates must not be NULL"),
				 errhint("Pass the level's candidate itemsets.")));
	cands = PG_GETARG_ARRAYTYPE_P(2);
	if (xs == NULL)
	{
		xs = riq_xstate_new(fcinfo, &count_xstate);
		if (ARR_NDIM(cands) == 2 && (int64) ARR_DIMS(cands)[0] * ARR_DIMS(cands)[1] > (int64) (MaxAllocSize / 16))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many candidates"),
					 errdetail("%d candidates of %d items.", ARR_DIMS(cands)[0], ARR_DIMS(cands)[1]),
					 errhint("Raise min_support or lower max_len.")));
		st = count_new(xs->cxt, ARR_NDIM(cands) == 2 ? ARR_DIMS(cands)[0] : 0);
		parse_candidates(st, xs->cxt, cands);
		xs->state = st;
	}
	else
	{
		st = (CountState *) xs->state;
		if (st->cand_copy == NULL)
		{
			/* a state from flat bytes (an INITCOND): parse, and it must be for these */
			CountHeader h = st->h;

			parse_candidates(st, xs->cxt, cands);
			if (h.ncand != st->h.ncand || h.k != st->h.k || h.cand_hash != st->h.cand_hash)
				mismatch();
		}
		else if ((char *) cands != st->cand_copy &&
				 (VARSIZE(cands) != st->cand_len || memcmp(cands, st->cand_copy, st->cand_len) != 0))
			mismatch();
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));	/* a NULL basket is skipped */

	items = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_ELEMTYPE(items) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("items must be a text array"),
				 errhint("Cast the items to text[].")));
	deconstruct_array(items, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	row = ++st->row;
	for (int i = 0; i < n; i++)
	{
		int32		id;

		if (nulls[i])
			continue;
		id = find_item(st, VARDATA_ANY(DatumGetPointer(elems[i])),
					   VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])));
		if (id >= 0)
			st->stamp[id] = row;
	}
	for (int32 c = 0; c < st->h.ncand; c++)
	{
		const int32 *ci = st->cand + (Size) c * st->h.k;
		int32		j;

		for (j = 0; j < st->h.k; j++)
			if (st->stamp[ci[j]] != row)
				break;
		if (j == st->h.k)
			st->counts[c]++;
	}
	pfree(elems);
	pfree(nulls);
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
}

Datum
itemset_count_combine(PG_FUNCTION_ARGS)
{
	RiqXState  *xa = riq_xstate_arg(fcinfo, 0, &count_xstate, false);
	RiqXState  *xb = riq_xstate_arg(fcinfo, 1, &count_xstate, true);
	CountState *a,
			   *b;

	if (xb == NULL)
	{
		if (xa == NULL)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xa));
	}
	b = (CountState *) xb->state;
	if (xa == NULL)
	{
		xa = riq_xstate_new(fcinfo, &count_xstate);
		a = count_new(xa->cxt, b->h.ncand);
		a->h = b->h;
		xa->state = a;
	}
	a = (CountState *) xa->state;
	if (a->h.ncand != b->h.ncand || a->h.k != b->h.k || a->h.cand_hash != b->h.cand_hash)
		mismatch();
	for (int32 c = 0; c < a->h.ncand; c++)
	{
		if (b->counts[c] > PG_INT64_MAX - a->counts[c])
			riq_state_corrupt(COUNT_STATE, "Candidate %d counts more baskets than a bigint holds.", c);
		a->counts[c] += b->counts[c];
	}
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xa));
}

Datum
itemset_count_final(PG_FUNCTION_ARGS)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, &count_xstate, true);
	CountState *st;
	Datum	   *d;

	if (xs == NULL)
		PG_RETURN_NULL();
	st = (CountState *) xs->state;
	d = palloc(sizeof(Datum) * Max(st->h.ncand, 1));
	for (int32 c = 0; c < st->h.ncand; c++)
		d[c] = Int64GetDatum(st->counts[c]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, st->h.ncand, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---------- the flat form: the header and the counts ---------- */

static Size
count_flat_size(void *state, const void *arg)
{
	CountState *st = (CountState *) state;

	return sizeof(CountHeader) + sizeof(int64) * (Size) st->h.ncand;
}

static void
count_flatten(void *state, const void *arg, char *dst, Size len)
{
	CountState *st = (CountState *) state;

	memcpy(dst, &st->h, sizeof(CountHeader));
	memcpy(dst + sizeof(CountHeader), st->counts, sizeof(int64) * (Size) st->h.ncand);
}

static void *
count_expand(MemoryContext cxt, const void *arg, const char *src, Size len)
{
	CountHeader h;
	CountState *st;

	if (len < sizeof(h))
		riq_state_corrupt(COUNT_STATE, "It is %zu bytes, shorter than its %zu-byte header.", len, sizeof(h));
	memcpy(&h, src, sizeof(h));
	if (h.version != COUNT_VERSION)
		riq_state_corrupt(COUNT_STATE, "Its version is %d; this release writes %d.", h.version, COUNT_VERSION);
	if (h.ncand < 0 || h.k < 1 || len != sizeof(h) + sizeof(int64) * (Size) h.ncand)
		riq_state_corrupt(COUNT_STATE, "It claims %d candidates of %d items in %zu bytes.", h.ncand, h.k, len);
	st = count_new(cxt, h.ncand);
	st->h = h;
	memcpy(st->counts, src + sizeof(h), sizeof(int64) * (Size) h.ncand);
	for (int32 c = 0; c < h.ncand; c++)
		if (st->counts[c] < 0)
			riq_state_corrupt(COUNT_STATE, "Candidate %d has a negative count.", c);
	return st;
}

static const RiqXStateMethods count_xstate = {
	COUNT_STATE, count_flat_size, count_flatten, count_expand, NULL
};
