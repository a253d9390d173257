/*
 * basket_state.c: the transition state of retailiq.frequent_itemsets, retailiq.assoc_rules
 * and their (order id, item) forms: an item dictionary and the baskets as lists of item ids,
 * with the transition, combine, serialize and deserialize functions that make the
 * aggregates parallel safe.
 *
 * Semantics fixed here (documented in doc/basket.md): a NULL basket is skipped, as
 * aggregates skip NULL inputs; an empty basket is a transaction with no items and counts in
 * the support denominator, as an empty transaction does in arules; duplicate items in a
 * basket count once (a basket is a set); a NULL item is an error.
 *
 * Why the baskets are not in the core row store (src/core/rowstore.h) although the state
 * holds rows: the store's rows are float8, and neither form fits them.
 *  - One row per basket (arrays): baskets vary in length, so they would become (basket,
 *    item) rows of 16 bytes where the list spends 4 bytes an item and 4 a basket; the rows
 *    must then be sorted back into baskets before mining, where the list needs nothing.
 *    Measured with a prototype (the list replaced by such rows), serial, on one machine:
 *    the smallest retailiq.max_memory that runs frequent_itemsets is 2 -> 3 MB on
 *    Groceries (support 0.001), 26 -> 33 MB on FIMI T10I4D100K (1 M items, support 0.01)
 *    and 6 -> 17 MB at support 0.05, where the state is most of the memory; time (median
 *    of 7, a quiet machine) 79 -> 90 ms on Groceries and 399 -> 529 ms on T10I4D100K.
 *  - One row per order line (pairs): order ids are bigint, which float8 holds exactly only
 *    up to 2^53, so two orders could merge; and the 16-byte BasketPair is already the size
 *    of a two-value row.
 * What can be shared is: growth and the memory budget (riq_grow_array, the row store's
 * own) and the corruption errors of the flat form (riq_state_corrupt, every count checked
 * against the bytes and every basket against the dictionary).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "basket/basket.h"
#include "core/agg_state.h"
#include "core/memory.h"
#include "core/rowstore.h"

#define BASKET_SERIAL_VERSION 1

PG_FUNCTION_INFO_V1(basket_itemsets_trans);
PG_FUNCTION_INFO_V1(basket_rules_trans);
PG_FUNCTION_INFO_V1(basket_itemsets_pairs_trans);
PG_FUNCTION_INFO_V1(basket_rules_pairs_trans);
PG_FUNCTION_INFO_V1(basket_combine);

static const RiqXStateMethods basket_xstate;

/* ---------- the item dictionary ---------- */

static inline uint32
hash_int8_item(int64 v)
{
	uint64		h = (uint64) v;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

static inline uint32
hash_text_item(const char *p, int len)
{
	return hash_bytes((const unsigned char *) p, len);
}

static uint32
hash_of_id(const BasketState *st, int32 id)
{
	if (st->itemtype == BASKET_INT8)
		return hash_int8_item(st->ival[id]);
	return hash_text_item(st->tbuf + st->toff[id], st->tlen[id]);
}

static void
dict_rehash(BasketState *st, int32 nslots)
{
	int32		i;

	if (st->slots)
		pfree(st->slots);
	st->slots = MemoryContextAlloc(st->cxt, sizeof(int32) * nslots);
	memset(st->slots, 0xff, sizeof(int32) * nslots);
	st->nslots = nslots;
	for (i = 0; i < st->nitems; i++)
	{
		uint32		h = hash_of_id(st, i) & (nslots - 1);

		while (st->slots[h] >= 0)
			h = (h + 1) & (nslots - 1);
		st->slots[h] = i;
	}
}

static int32
dict_new_id(BasketState *st)
{
	if (st->nitems >= st->itemcap)
	{
		int64		cap = st->itemcap;

		if (st->nitems >= PG_INT32_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct items"),
					 errdetail("The baskets hold more than %d distinct items.", PG_INT32_MAX / 4)));
		if (st->itemtype == BASKET_INT8)
		{
			int64		c2 = cap;

			st->ival = riq_grow_array(st->cxt, st->ival, &c2, st->nitems + 1, sizeof(int64), "the item dictionary");
			cap = c2;
		}
		else
		{
			int64		c2 = cap;

			st->toff = riq_grow_array(st->cxt, st->toff, &c2, st->nitems + 1, sizeof(int64), "the item dictionary");
			c2 = cap;
			st->tlen = riq_grow_array(st->cxt, st->tlen, &c2, st->nitems + 1, sizeof(int32), "the item dictionary");
			cap = c2;
		}
		st->itemcap = (int32) cap;
	}
	if ((int64) (st->nitems + 1) * 2 > st->nslots)
		dict_rehash(st, st->nslots ? st->nslots * 2 : 256);
	return st->nitems++;
}

static void
dict_place(BasketState *st, int32 id, uint32 h)
{
	h &= st->nslots - 1;
	while (st->slots[h] >= 0)
		h = (h + 1) & (st->nslots - 1);
	st->slots[h] = id;
}

static int32
dict_int8(BasketState *st, int64 v)
{
	uint32		h = hash_int8_item(v);
	int32		id;

	if (st->nslots > 0)
	{
		uint32		i = h & (st->nslots - 1);

		while ((id = st->slots[i]) >= 0)
		{
			if (st->ival[id] == v)
				return id;
			i = (i + 1) & (st->nslots - 1);
		}
	}
	id = dict_new_id(st);
	st->ival[id] = v;
	dict_place(st, id, h);
	return id;
}

static int32
dict_text(BasketState *st, const char *p, int len)
{
	uint32		h = hash_text_item(p, len);
	int32		id;

	if (st->nslots > 0)
	{
		uint32		i = h & (st->nslots - 1);

		while ((id = st->slots[i]) >= 0)
		{
			if (st->tlen[id] == len && memcmp(st->tbuf + st->toff[id], p, len) == 0)
				return id;
			i = (i + 1) & (st->nslots - 1);
		}
	}
	id = dict_new_id(st);
	st->tbuf = riq_grow_array(st->cxt, st->tbuf, &st->tbuf_cap, st->tbuf_used + len, 1, "the item dictionary");
	memcpy(st->tbuf + st->tbuf_used, p, len);
	st->toff[id] = st->tbuf_used;
	st->tlen[id] = len;
	st->tbuf_used += len;
	dict_place(st, id, h);
	return id;
}

static int32
dict_datum(BasketState *st, Datum d)
{
	if (st->itemtype == BASKET_INT8)
		return dict_int8(st, DatumGetInt64(d));
	else
	{
		text	   *t = DatumGetTextPP(d);

		return dict_text(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
}

/* ---------- item order: text bytewise (as COLLATE "C"), bigint numerically ---------- */

int
basket_item_cmp(const BasketState *st, int32 a, int32 b)
{
	if (st->itemtype == BASKET_INT8)
		return (st->ival[a] > st->ival[b]) - (st->ival[a] < st->ival[b]);
	else
	{
		int			la = st->tlen[a],
					lb = st->tlen[b];
		int			c = memcmp(st->tbuf + st->toff[a], st->tbuf + st->toff[b], Min(la, lb));

		if (c != 0)
			return c;
		return (la > lb) - (la < lb);
	}
}

/* ---------- parameters ---------- */

static double
param_float(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Pass a number.")));
	return PG_GETARG_FLOAT8(argno);
}

static int32
param_int(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Pass 0 for the default.")));
	return PG_GETARG_INT32(argno);
}

static void
check_fraction(double v, const char *name)
{
	if (isnan(v) || !(v > 0.0 && v <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be greater than 0 and at most 1", name),
				 errdetail("%s is %g.", name, v),
				 errhint("Give %s as a fraction, e.g. 0.01 for 1%%.", name)));
}

/*
 * Reads the parameters from argument `first` on: min_support, [min_confidence,]
 * [max_len, [min_lift, max_consequent, empty_antecedent]].
 */
static void
read_params(FunctionCallInfo fcinfo, int first, bool rules, BasketParams *p)
{
	int			nargs = PG_NARGS();
	int			a = first;

	memset(p, 0, sizeof(*p));
	p->rules = rules;
	p->max_consequent = 1;
	p->min_support = param_float(fcinfo, a++, "min_support");
	check_fraction(p->min_support, "min_support");
	if (rules)
	{
		p->min_confidence = param_float(fcinfo, a++, "min_confidence");
		check_fraction(p->min_confidence, "min_confidence");
	}
	if (a < nargs)
	{
		p->max_len = param_int(fcinfo, a++, "max_len");
		if (p->max_len < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_len must not be negative"),
					 errdetail("max_len is %d.", p->max_len),
					 errhint("Pass 0 for the default of %d items, or a positive length.",
							 BASKET_DEFAULT_MAX_LEN)));
	}
	if (rules && a < nargs)
	{
		p->min_lift = param_float(fcinfo, a++, "min_lift");
		if (isnan(p->min_lift) || isinf(p->min_lift) || p->min_lift < 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("min_lift must be a finite number of at least 0"),
					 errdetail("min_lift is %g.", p->min_lift),
					 errhint("Pass 0 for no minimum lift.")));
		p->max_consequent = param_int(fcinfo, a++, "max_consequent");
		if (p->max_consequent < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_consequent must be at least 1"),
					 errdetail("max_consequent is %d.", p->max_consequent),
					 errhint("Pass 1 for one-item consequents, as arules does.")));
		if (PG_ARGISNULL(a))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("empty_antecedent must not be NULL"),
					 errhint("Pass true or false.")));
		p->empty_antecedent = PG_GETARG_BOOL(a);
		a++;
	}
}

static void
check_same_params(const BasketParams *a, const BasketParams *b)
{
	if (a->min_support != b->min_support || a->min_confidence != b->min_confidence ||
		a->min_lift != b->min_lift || a->max_len != b->max_len ||
		a->max_consequent != b->max_consequent ||
		a->empty_antecedent != b->empty_antecedent || a->rules != b->rules)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the parameters must be the same for every row of the aggregate"),
				 errdetail("min_support, min_confidence, max_len and the options changed between rows."),
				 errhint("Pass constants, not columns, as the parameters.")));
}

static BasketState *
state_new(MemoryContext cxt, BasketItemType t, BasketMode mode, const BasketParams *p)
{
	BasketState *st = MemoryContextAllocZero(cxt, sizeof(BasketState));

	st->cxt = cxt;
	st->itemtype = t;
	st->mode = mode;
	st->params = *p;
	return st;
}

static BasketItemType
item_type_of(Oid t)
{
	if (t == TEXTOID)
		return BASKET_TEXT;
	if (t == INT8OID)
		return BASKET_INT8;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("items must be text or bigint"),
			 errdetail("The items are of type %s.", format_type_be(t)),
			 errhint("Cast the items to text or bigint.")));
	return BASKET_TEXT;			/* keep the compiler quiet */
}

/*
 * The type of an argument: from the call's expression, or, when the caller has none (Citus's
 * worker_partial_agg calls the transition function directly), from the declaration.
 */
static Oid
arg_type(FunctionCallInfo fcinfo, int argno)
{
	Oid			t = get_fn_expr_argtype(fcinfo->flinfo, argno);

	if (!OidIsValid(t) && OidIsValid(fcinfo->flinfo->fn_oid))
	{
		Oid		   *types;
		int			nargs;

		(void) get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
		if (argno < nargs)
			t = types[argno];
	}
	return t;
}

/* ---------- transition ---------- */

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return (x > y) - (x < y);
}

static Datum
trans_arrays(FunctionCallInfo fcinfo, bool rules)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, &basket_xstate, false);
	BasketState *st = xs ? (BasketState *) xs->state : NULL;
	BasketParams p;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				k;
	int32	   *ids;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	BasketItemType t;

	read_params(fcinfo, 2, rules, &p);
	if (st != NULL)
		check_same_params(&st->params, &p);
	if (PG_ARGISNULL(1))
	{
		/* a NULL basket is skipped */
		if (xs == NULL)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
	}

	arr = PG_GETARG_ARRAYTYPE_P(1);
	t = item_type_of(ARR_ELEMTYPE(arr));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("items must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(arr)),
				 errhint("Pass one basket per row as a flat array.")));
	if (st == NULL)
	{
		xs = riq_xstate_new(fcinfo, &basket_xstate);
		st = state_new(xs->cxt, t, BASKET_ARRAYS, &p);
		xs->state = st;
	}

	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign, &elems, &nulls, &n);

	ids = palloc(sizeof(int32) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("items must not contain NULL"),
					 errdetail("Element %d of a basket is NULL.", i + 1),
					 errhint("Remove NULL items, e.g. with array_remove(items, NULL).")));
		ids[i] = dict_datum(st, elems[i]);
	}
	/* set semantics: sort the ids and drop repeats */
	if (n > 32)
		qsort(ids, n, sizeof(int32), cmp_int32);
	else
	{
		for (i = 1; i < n; i++)
		{
			int32		x = ids[i];

			for (k = i; k > 0 && ids[k - 1] > x; k--)
				ids[k] = ids[k - 1];
			ids[k] = x;
		}
	}
	k = 0;
	for (i = 0; i < n; i++)
		if (k == 0 || ids[k - 1] != ids[i])
			ids[k++] = ids[i];

	st->buf = riq_grow_array(st->cxt, st->buf, &st->bufcap, st->buflen + k + 1, sizeof(int32), "the basket list");
	st->buf[st->buflen++] = k;
	memcpy(st->buf + st->buflen, ids, sizeof(int32) * k);
	st->buflen += k;
	st->nbaskets++;
	pfree(ids);
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
}

static Datum
trans_pairs(FunctionCallInfo fcinfo, bool rules)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, &basket_xstate, false);
	BasketState *st = xs ? (BasketState *) xs->state : NULL;
	BasketParams p;
	BasketPair *pp;

	read_params(fcinfo, 3, rules, &p);
	if (st != NULL)
		check_same_params(&st->params, &p);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("order_id must not be NULL"),
				 errhint("Filter out lines without an order, e.g. WHERE order_id IS NOT NULL.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item must not be NULL"),
				 errhint("Filter out lines without an item, e.g. WHERE item IS NOT NULL.")));
	if (st == NULL)
	{
		xs = riq_xstate_new(fcinfo, &basket_xstate);
		st = state_new(xs->cxt, item_type_of(arg_type(fcinfo, 2)),
					   BASKET_PAIRS, &p);
		xs->state = st;
	}

	st->pairs = riq_grow_array(st->cxt, st->pairs, &st->paircap, st->npairs + 1, sizeof(BasketPair), "the order line list");
	pp = &st->pairs[st->npairs++];
	pp->order_id = PG_GETARG_INT64(1);
	pp->item = dict_datum(st, PG_GETARG_DATUM(2));
	pp->pad = 0;
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
}

Datum
basket_itemsets_trans(PG_FUNCTION_ARGS)
{
	return trans_arrays(fcinfo, false);
}

Datum
basket_rules_trans(PG_FUNCTION_ARGS)
{
	return trans_arrays(fcinfo, true);
}

Datum
basket_itemsets_pairs_trans(PG_FUNCTION_ARGS)
{
	return trans_pairs(fcinfo, false);
}

Datum
basket_rules_pairs_trans(PG_FUNCTION_ARGS)
{
	return trans_pairs(fcinfo, true);
}

/* ---------- combine ---------- */

static void
merge_into(BasketState *dst, const BasketState *src)
{
	int32	   *remap;
	int32		i;
	int64		j;

	if (dst->itemtype != src->itemtype || dst->mode != src->mode)
		elog(ERROR, "basket states of different kinds cannot be combined");
	check_same_params(&dst->params, &src->params);

	remap = palloc(sizeof(int32) * Max(src->nitems, 1));
	for (i = 0; i < src->nitems; i++)
	{
		if (src->itemtype == BASKET_INT8)
			remap[i] = dict_int8(dst, src->ival[i]);
		else
			remap[i] = dict_text(dst, src->tbuf + src->toff[i], src->tlen[i]);
	}

	if (src->mode == BASKET_ARRAYS)
	{
		dst->buf = riq_grow_array(dst->cxt, dst->buf, &dst->bufcap, dst->buflen + src->buflen, sizeof(int32), "the basket list");
		for (j = 0; j < src->buflen;)
		{
			int32		n = src->buf[j++];
			int32		k;

			dst->buf[dst->buflen++] = n;
			for (k = 0; k < n; k++)
				dst->buf[dst->buflen++] = remap[src->buf[j++]];
		}
		dst->nbaskets += src->nbaskets;
	}
	else
	{
		dst->pairs = riq_grow_array(dst->cxt, dst->pairs, &dst->paircap, dst->npairs + src->npairs,
						  sizeof(BasketPair), "the order line list");
		for (j = 0; j < src->npairs; j++)
		{
			BasketPair *pp = &dst->pairs[dst->npairs++];

			pp->order_id = src->pairs[j].order_id;
			pp->item = remap[src->pairs[j].item];
			pp->pad = 0;
		}
	}
	pfree(remap);
}

Datum
basket_combine(PG_FUNCTION_ARGS)
{
	RiqXState  *xa = riq_xstate_arg(fcinfo, 0, &basket_xstate, false);
	RiqXState  *xb = riq_xstate_arg(fcinfo, 1, &basket_xstate, true);
	BasketState *b;

	if (xb == NULL)
	{
		if (xa == NULL)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xa));
	}
	b = (BasketState *) xb->state;
	if (xa == NULL)
	{
		xa = riq_xstate_new(fcinfo, &basket_xstate);
		xa->state = state_new(xa->cxt, b->itemtype, b->mode, &b->params);
	}
	merge_into((BasketState *) xa->state, b);
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xa));
}

/*
 * ---------- the flat form: the bytea the state is whenever it leaves a backend (a parallel
 * worker's partial state, a Citus shard's) ----------
 */

typedef struct SerialHeader
{
	int32		version;
	int32		itemtype;
	int32		mode;
	int32		nitems;
	BasketParams params;
	int64		tbuf_used;
	int64		buflen;
	int64		nbaskets;
	int64		npairs;
} SerialHeader;

static void
serial_header(const BasketState *st, SerialHeader *hp)
{
	SerialHeader h;

	memset(&h, 0, sizeof(h));
	h.version = BASKET_SERIAL_VERSION;
	h.itemtype = st->itemtype;
	h.mode = st->mode;
	h.nitems = st->nitems;
	h.params = st->params;
	h.tbuf_used = st->itemtype == BASKET_TEXT ? st->tbuf_used : 0;
	h.buflen = st->mode == BASKET_ARRAYS ? st->buflen : 0;
	h.nbaskets = st->nbaskets;
	h.npairs = st->mode == BASKET_PAIRS ? st->npairs : 0;
	*hp = h;
}

static Size
basket_flat_size(void *state, const void *arg)
{
	BasketState *st = (BasketState *) state;
	SerialHeader h;
	Size		size;

	serial_header(st, &h);
	size = sizeof(h);
	if (st->itemtype == BASKET_INT8)
		size = add_size(size, mul_size(st->nitems, sizeof(int64)));
	else
		size = add_size(add_size(size, mul_size(st->nitems, sizeof(int32))), h.tbuf_used);
	size = add_size(size, mul_size(h.buflen, sizeof(int32)));
	size = add_size(size, mul_size(h.npairs, sizeof(BasketPair)));
	return size;
}

static void
basket_flatten(void *state, const void *arg, char *out, Size size)
{
	BasketState *st = (BasketState *) state;
	SerialHeader h;
	char	   *p = out;

	serial_header(st, &h);
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	if (st->itemtype == BASKET_INT8)
	{
		memcpy(p, st->ival, sizeof(int64) * st->nitems);
		p += sizeof(int64) * st->nitems;
	}
	else
	{
		memcpy(p, st->tlen, sizeof(int32) * st->nitems);
		p += sizeof(int32) * st->nitems;
		memcpy(p, st->tbuf, h.tbuf_used);
		p += h.tbuf_used;
	}
	if (h.buflen > 0)
	{
		memcpy(p, st->buf, sizeof(int32) * h.buflen);
		p += sizeof(int32) * h.buflen;
	}
	if (h.npairs > 0)
	{
		memcpy(p, st->pairs, sizeof(BasketPair) * h.npairs);
		p += sizeof(BasketPair) * h.npairs;
	}
	if (p != out + size)
		elog(ERROR, "basket state flattened into %zu bytes, sized for %zu", (Size) (p - out), size);
}

#define BASKET_STATE "basket aggregate"

/* n bytes must remain: the corruption error names the part that would run past the end */
static void
need_bytes(const char *p, const char *end, Size n, const char *part)
{
	if (n > (Size) (end - p))
		riq_state_corrupt(BASKET_STATE, "Its %s needs %zu bytes; %zu remain.", part, n,
						  (Size) (end - p));
}

/*
 * The parameters of a flat state as read_params would have accepted them: a forged
 * min_support of 0 would make every itemset frequent.
 */
static void
check_flat_params(const BasketParams *p)
{
	unsigned char rules,
				empty;

	memcpy(&rules, &p->rules, 1);
	memcpy(&empty, &p->empty_antecedent, 1);
	if (rules > 1 || empty > 1 ||
		isnan(p->min_support) || !(p->min_support > 0.0 && p->min_support <= 1.0) ||
		(rules ? isnan(p->min_confidence) || !(p->min_confidence > 0.0 && p->min_confidence <= 1.0)
		 : p->min_confidence != 0.0) ||
		isnan(p->min_lift) || isinf(p->min_lift) || p->min_lift < 0.0 ||
		p->max_len < 0 || p->max_consequent < 1)
		riq_state_corrupt(BASKET_STATE, "Its parameters (min_support %g, min_confidence %g, min_lift %g, max_len %d, max_consequent %d) are out of range.",
						  p->min_support, p->min_confidence, p->min_lift, p->max_len,
						  p->max_consequent);
}

/*
 * Every basket as the transition builds it: a length that fits the list, distinct item ids
 * in the dictionary (seen[] holds, per item, the last basket that had it, plus one), and as
 * many baskets as the header claims.
 */
static void
check_baskets(const BasketState *st)
{
	int64	   *seen = palloc0(sizeof(int64) * Max(st->nitems, 1));
	int64		j = 0,
				b = 0;

	while (j < st->buflen)
	{
		int32		n = st->buf[j++];

		if ((b & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (n < 0 || n > st->buflen - j)
			riq_state_corrupt(BASKET_STATE, "Basket " INT64_FORMAT " claims %d items; %lld remain.",
							  b, n, (long long) (st->buflen - j));
		for (int32 k = 0; k < n; k++, j++)
		{
			int32		id = st->buf[j];

			if (id < 0 || id >= st->nitems)
				riq_state_corrupt(BASKET_STATE, "Basket " INT64_FORMAT " names item %d of %d.",
								  b, id, st->nitems);
			if (seen[id] == b + 1)
				riq_state_corrupt(BASKET_STATE, "Basket " INT64_FORMAT " holds item %d twice.", b, id);
			seen[id] = b + 1;
		}
		b++;
	}
	if (b != st->nbaskets)
		riq_state_corrupt(BASKET_STATE, "Its list holds " INT64_FORMAT " baskets, its header " INT64_FORMAT ".",
						  b, st->nbaskets);
	pfree(seen);
}

static void *
basket_expand(MemoryContext cxt, const void *arg, const char *src, Size len)
{
	const char *p = src;
	const char *end = src + len;
	SerialHeader h;
	BasketState *st;
	int32		i;

	need_bytes(p, end, sizeof(h), "header");
	memcpy(&h, p, sizeof(h));
	p += sizeof(h);
	if (h.version != BASKET_SERIAL_VERSION)
		riq_state_corrupt(BASKET_STATE, "Its version is %d; this release writes %d.",
						  h.version, BASKET_SERIAL_VERSION);
	if ((h.itemtype != BASKET_TEXT && h.itemtype != BASKET_INT8) ||
		(h.mode != BASKET_ARRAYS && h.mode != BASKET_PAIRS))
		riq_state_corrupt(BASKET_STATE, "Its item type %d or mode %d is unknown.", h.itemtype, h.mode);
	if (h.nitems < 0 || h.tbuf_used < 0 || h.buflen < 0 || h.npairs < 0 || h.nbaskets < 0 ||
		(h.mode == BASKET_ARRAYS ? h.npairs != 0 : h.buflen != 0 || h.nbaskets != 0) ||
		(h.itemtype == BASKET_INT8 && h.tbuf_used != 0))
		riq_state_corrupt(BASKET_STATE, "Its counts (%d items, " INT64_FORMAT " text bytes, " INT64_FORMAT " list entries, " INT64_FORMAT " baskets, " INT64_FORMAT " lines) do not fit its mode.",
						  h.nitems, h.tbuf_used, h.buflen, h.nbaskets, h.npairs);

	check_flat_params(&h.params);
	st = state_new(cxt, h.itemtype, h.mode, &h.params);
	if (h.itemtype == BASKET_INT8)
	{
		need_bytes(p, end, mul_size(h.nitems, sizeof(int64)), "item dictionary");
		for (i = 0; i < h.nitems; i++)
		{
			int64		v;

			memcpy(&v, p, sizeof(int64));
			p += sizeof(int64);
			if (dict_int8(st, v) != i)
				riq_state_corrupt(BASKET_STATE, "Item %d repeats an earlier item.", i);
		}
	}
	else
	{
		const char *lens = p;
		const char *bytes;
		const char *bytes_end;

		need_bytes(p, end, mul_size(h.nitems, sizeof(int32)), "item dictionary");
		p += sizeof(int32) * h.nitems;
		need_bytes(p, end, h.tbuf_used, "item text");
		bytes = p;
		p += h.tbuf_used;
		bytes_end = p;
		for (i = 0; i < h.nitems; i++)
		{
			int32		len;

			memcpy(&len, lens + sizeof(int32) * i, sizeof(int32));
			if (len < 0 || len > bytes_end - bytes)
				riq_state_corrupt(BASKET_STATE, "Item %d claims %d bytes of text; %zu remain.",
								  i, len, (Size) (bytes_end - bytes));
			if (dict_text(st, bytes, len) != i)
				riq_state_corrupt(BASKET_STATE, "Item %d repeats an earlier item.", i);
			bytes += len;
		}
		if (bytes != bytes_end)
			riq_state_corrupt(BASKET_STATE, "Its item text has %zu bytes after the last item.",
							  (Size) (bytes_end - bytes));
	}
	if (h.buflen > 0)
	{
		need_bytes(p, end, mul_size(h.buflen, sizeof(int32)), "basket list");
		st->buf = riq_grow_array(st->cxt, NULL, &st->bufcap, h.buflen, sizeof(int32), "the basket list");
		memcpy(st->buf, p, sizeof(int32) * h.buflen);
		p += sizeof(int32) * h.buflen;
		st->buflen = h.buflen;
	}
	st->nbaskets = h.nbaskets;
	if (h.npairs > 0)
	{
		need_bytes(p, end, mul_size(h.npairs, sizeof(BasketPair)), "order lines");
		st->pairs = riq_grow_array(st->cxt, NULL, &st->paircap, h.npairs, sizeof(BasketPair), "the order line list");
		memcpy(st->pairs, p, sizeof(BasketPair) * h.npairs);
		p += sizeof(BasketPair) * h.npairs;
		st->npairs = h.npairs;
	}
	if (p != end)
		riq_state_corrupt(BASKET_STATE, "It has %zu bytes after its last field.", (Size) (end - p));
	if (h.mode == BASKET_ARRAYS)
		check_baskets(st);
	for (int64 j = 0; j < st->npairs; j++)
	{
		if ((j & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (st->pairs[j].item < 0 || st->pairs[j].item >= st->nitems)
			riq_state_corrupt(BASKET_STATE, "Order line " INT64_FORMAT " names item %d of %d.",
							  j, st->pairs[j].item, st->nitems);
		st->pairs[j].pad = 0;
	}
	return st;
}

static const RiqXStateMethods basket_xstate = {
	BASKET_STATE, basket_flat_size, basket_flatten, basket_expand, NULL
};

/* ---------- pairs to baskets ---------- */

static int
cmp_pair(const void *a, const void *b)
{
	const BasketPair *x = a,
			   *y = b;

	if (x->order_id != y->order_id)
		return x->order_id < y->order_id ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);
}

/*
 * Groups the order lines into baskets: a new buffer in the current memory context. The
 * state's lines are sorted in place, which leaves the multiset they stand for unchanged.
 */
int32 *
basket_pairs_to_baskets(BasketState *st, int64 *buflen, int64 *nbaskets)
{
	int64		i,
				start,
				len = 0,
				nb = 0;
	int32	   *buf;

	Assert(st->mode == BASKET_PAIRS);
	if (st->npairs > 1)
		qsort(st->pairs, st->npairs, sizeof(BasketPair), cmp_pair);
	buf = riq_alloc(CurrentMemoryContext,
					riq_mul_size((Size) (2 * st->npairs + 1), sizeof(int32), "the basket list"),
					"the basket list");
	for (start = 0; start < st->npairs;)
	{
		int64		lenpos = len++;
		int32		k = 0;

		CHECK_FOR_INTERRUPTS();
		for (i = start; i < st->npairs && st->pairs[i].order_id == st->pairs[start].order_id; i++)
		{
			if (k > 0 && buf[len - 1] == st->pairs[i].item)
				continue;
			buf[len++] = st->pairs[i].item;
			k++;
		}
		buf[lenpos] = k;
		nb++;
		start = i;
	}
	*buflen = len;
	*nbaskets = nb;
	return buf;
}

BasketState *
basket_state_from_arg(FunctionCallInfo fcinfo, int argno)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, argno, &basket_xstate, true);

	return xs ? (BasketState *) xs->state : NULL;
}
