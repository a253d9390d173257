/*
 * basket_rules.c: the final functions of retailiq.frequent_itemsets and
 * retailiq.assoc_rules: give items their global codes, mine the frequent itemsets, derive
 * the rules with their measures, sort them in the documented order and return them as an
 * array of the composite type the SQL declaration names.
 *
 * Measures follow arules (interestMeasure): with N baskets and counts c(.),
 *   support    = c(X u Y) / N
 *   confidence = c(X u Y) / c(X)
 *   lift       = confidence / (c(Y) / N)
 *   leverage   = support - (c(X) / N) (c(Y) / N)   (computed exactly in integers)
 *   conviction = (1 - c(Y) / N) / (1 - confidence), Infinity when confidence is 1.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "basket/basket.h"
#include "core/memory.h"

PG_FUNCTION_INFO_V1(basket_itemsets_final);
PG_FUNCTION_INFO_V1(basket_rules_final);

typedef struct Mined
{
	BasketState *st;
	int64		ntrans;
	int32	   *code_to_id;
	int32	   *id_to_code;
	Datum	   *item_datum;		/* per code, built on demand */
	bool	   *have_datum;
	FPInput		in;
	FPItemsets	sets;
} Mined;

static int
cmp_ids(const void *a, const void *b, void *arg)
{
	return basket_item_cmp((const BasketState *) arg, *(const int32 *) a, *(const int32 *) b);
}

static void
mine_state(BasketState *st, Mined *m)
{
	int32		i;

	memset(m, 0, sizeof(*m));
	m->st = st;
	if (st->mode == BASKET_PAIRS)
		m->in.buf = basket_pairs_to_baskets(st, &m->in.buflen, &m->in.ntrans);
	else
	{
		m->in.buf = st->buf;
		m->in.buflen = st->buflen;
		m->in.ntrans = st->nbaskets;
	}
	m->ntrans = m->in.ntrans;

	/* global codes: the rank of each item in the items' natural order */
	m->code_to_id = palloc(sizeof(int32) * Max(st->nitems, 1));
	m->id_to_code = palloc(sizeof(int32) * Max(st->nitems, 1));
	for (i = 0; i < st->nitems; i++)
		m->code_to_id[i] = i;
	qsort_arg(m->code_to_id, st->nitems, sizeof(int32), cmp_ids, st);
	for (i = 0; i < st->nitems; i++)
		m->id_to_code[m->code_to_id[i]] = i;
	m->item_datum = palloc(sizeof(Datum) * Max(st->nitems, 1));
	m->have_datum = palloc0(sizeof(bool) * Max(st->nitems, 1));

	m->in.remap = m->id_to_code;
	m->in.ncodes = st->nitems;
	m->in.min_support = st->params.min_support;
	m->in.min_count = basket_min_count(st->params.min_support, m->ntrans);
	m->in.max_len = st->params.max_len > 0 ? st->params.max_len : BASKET_DEFAULT_MAX_LEN;
	fpgrowth_mine(&m->in, &m->sets);
}

static Datum
item_datum(Mined *m, int32 code)
{
	if (!m->have_datum[code])
	{
		const BasketState *st = m->st;
		int32		id = m->code_to_id[code];

		if (st->itemtype == BASKET_INT8)
			m->item_datum[code] = Int64GetDatum(st->ival[id]);
		else
			m->item_datum[code] = PointerGetDatum(cstring_to_text_with_len(st->tbuf + st->toff[id],
																		   st->tlen[id]));
		m->have_datum[code] = true;
	}
	return m->item_datum[code];
}

static Datum
items_array(Mined *m, const int32 *codes, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	ArrayType  *a;
	int			i;

	for (i = 0; i < n; i++)
		d[i] = item_datum(m, codes[i]);
	if (m->st->itemtype == BASKET_INT8)
		a = construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	else
		a = construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
	pfree(d);
	return PointerGetDatum(a);
}

/* the composite element type of the final function's declared result, and its descriptor */
static TupleDesc
result_row_type(FunctionCallInfo fcinfo, Oid *elemtype)
{
	Oid			rettype = get_fn_expr_rettype(fcinfo->flinfo);
	Oid			elem;

	/*
	 * Citus's coord_combine_agg calls the final function without an expression tree: the
	 * declared result type is the same (no polymorphic final functions here).
	 */
	if (!OidIsValid(rettype) && OidIsValid(fcinfo->flinfo->fn_oid))
		rettype = get_func_rettype(fcinfo->flinfo->fn_oid);
	elem = OidIsValid(rettype) ? get_element_type(rettype) : InvalidOid;

	if (!OidIsValid(elem) || !type_is_rowtype(elem))
		elog(ERROR, "basket final function must return an array of a composite type");
	*elemtype = elem;
	return lookup_rowtype_tupdesc_copy(elem, -1);
}

static void
output_limit(Size bytes, int64 n, const char *what)
{
	if (bytes > MaxAllocSize - 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the %s do not fit in one array value", what),
				 errdetail("More than " INT64_FORMAT " %s take more than 1 GB.", n, what),
				 errhint("Raise min_support (or min_confidence), or set max_len.")));
}

static int
lex_codes(const int32 *a, int la, const int32 *b, int lb)
{
	int			i;

	for (i = 0; i < la && i < lb; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return (la > lb) - (la < lb);
}

/* ---------- frequent_itemsets ---------- */

typedef struct ItemsetKey
{
	int64		count;
	int64		idx;
	int32		len;
	int32		first;			/* the first code: settles most ties without a lookup */
} ItemsetKey;

static int
cmp_itemsets(const void *a, const void *b, void *arg)
{
	const FPItemsets *s = arg;
	const ItemsetKey *x = a,
			   *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return lex_codes(s->codes + s->off[x->idx], x->len, s->codes + s->off[y->idx], y->len);
}

/* specialised, interruptible sorts (PostgreSQL's sort template) */
#define ST_SORT sort_itemset_keys
#define ST_ELEMENT_TYPE ItemsetKey
#define ST_COMPARE(a, b, arg) cmp_itemsets(a, b, arg)
#define ST_COMPARE_ARG_TYPE void
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

Datum
basket_itemsets_final(PG_FUNCTION_ARGS)
{
	BasketState *st = basket_state_from_arg(fcinfo, 0);
	Oid			elemtype;
	TupleDesc	desc = result_row_type(fcinfo, &elemtype);
	Mined		m;
	ItemsetKey *order;
	Datum	   *rows;
	int64		i;
	Size		bytes = 0;

	MemoryContext outcxt = CurrentMemoryContext;
	MemoryContext mcxt;
	ArrayType  *result;

	if (st == NULL)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elemtype));
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "basket mining", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(mcxt);
	mine_state(st, &m);
	if (m.sets.n == 0)
	{
		MemoryContextSwitchTo(outcxt);
		MemoryContextDelete(mcxt);
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elemtype));
	}
	if (m.sets.n > (int64) (MaxAllocSize / sizeof(Datum)))
		output_limit(MaxAllocSize, m.sets.n, "itemsets");

	order = MemoryContextAllocHuge(mcxt, sizeof(ItemsetKey) * m.sets.n);
	for (i = 0; i < m.sets.n; i++)
	{
		order[i].count = m.sets.count[i];
		order[i].idx = i;
		order[i].len = (int32) (m.sets.off[i + 1] - m.sets.off[i]);
		order[i].first = m.sets.codes[m.sets.off[i]];
	}
	sort_itemset_keys(order, m.sets.n, &m.sets);

	rows = MemoryContextAllocHuge(mcxt, sizeof(Datum) * m.sets.n);
	for (i = 0; i < m.sets.n; i++)
	{
		int64		k = order[i].idx;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		HeapTuple	tup;

		if ((i & 0x3ff) == 0)
			CHECK_FOR_INTERRUPTS();
		values[0] = items_array(&m, m.sets.codes + m.sets.off[k], (int) (m.sets.off[k + 1] - m.sets.off[k]));
		values[1] = Int64GetDatum(m.sets.count[k]);
		values[2] = Float8GetDatum((double) m.sets.count[k] / (double) m.ntrans);
		tup = heap_form_tuple(desc, values, nulls);
		rows[i] = HeapTupleGetDatum(tup);
		bytes += MAXALIGN(tup->t_len);
		output_limit(bytes, i, "itemsets");
		pfree(DatumGetPointer(values[0]));
	}
	MemoryContextSwitchTo(outcxt);
	result = construct_array(rows, (int) m.sets.n, elemtype, -1, false, TYPALIGN_DOUBLE);
	MemoryContextDelete(mcxt);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* ---------- assoc_rules ---------- */

typedef struct Rule
{
	int64		z;				/* the itemset X u Y */
	int64		x;				/* the antecedent, -1 = empty */
	int64		y;				/* the consequent */
	int64		count;			/* c(X u Y) */
	double		confidence;
	double		lift;
	uint64		xkey;			/* the first codes of X and Y packed, ordered as they are */
	uint64		ykey;
} Rule;

/*
 * Up to four codes + 1 in 16 bits each, most significant first, 0 for "no more items": two
 * keys compare as the code sequences do whenever they differ, so most ties in the rule sort
 * are settled without reading the itemsets. Equal keys fall back to the full comparison;
 * with 65,535 or more distinct items every key is 0.
 */
static uint64
sort_key(const int32 *codes, int len, int32 ncodes)
{
	uint64		k = 0;
	int			i;

	if (ncodes >= 65535)
		return 0;
	for (i = 0; i < 4; i++)
		k = (k << 16) | (i < len ? (uint64) (codes[i] + 1) : 0);
	return k;
}

static int
cmp_rules(const void *a, const void *b, void *arg)
{
	const FPItemsets *s = arg;
	const Rule *p = a,
			   *q = b;
	int			c;

	if (p->confidence != q->confidence)
		return p->confidence > q->confidence ? -1 : 1;
	if (p->lift != q->lift)
		return p->lift > q->lift ? -1 : 1;
	if (p->count != q->count)
		return p->count > q->count ? -1 : 1;
	if (p->xkey != q->xkey)
		return p->xkey < q->xkey ? -1 : 1;
	if (p->x != q->x)
	{
		if (p->x < 0 || q->x < 0)
			return p->x < 0 ? -1 : 1;
		c = lex_codes(s->codes + s->off[p->x], (int) (s->off[p->x + 1] - s->off[p->x]),
					  s->codes + s->off[q->x], (int) (s->off[q->x + 1] - s->off[q->x]));
		if (c != 0)
			return c;
	}
	if (p->ykey != q->ykey)
		return p->ykey < q->ykey ? -1 : 1;
	return lex_codes(s->codes + s->off[p->y], (int) (s->off[p->y + 1] - s->off[p->y]),
					 s->codes + s->off[q->y], (int) (s->off[q->y + 1] - s->off[q->y]));
}

#define ST_SORT sort_rules
#define ST_ELEMENT_TYPE Rule
#define ST_COMPARE(a, b, arg) cmp_rules(a, b, arg)
#define ST_COMPARE_ARG_TYPE void
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

typedef struct RuleList
{
	Rule	   *r;
	int64		n;
	int64		cap;
} RuleList;

static void
add_rule(RuleList *l, const Mined *m, const Rule *r)
{
	if (l->n >= l->cap)
	{
		int64		cap = Max(l->cap * 2, 1024);
		Size		bytes = riq_mul_size((Size) cap, sizeof(Rule), "the rules");

		basket_mining_limit(MemoryContextMemAllocated(CurrentMemoryContext, true) + bytes,
							&m->in, m->sets.n);
		l->r = l->r ? repalloc_huge(l->r, bytes) : MemoryContextAllocHuge(CurrentMemoryContext, bytes);
		l->cap = cap;
	}
	l->r[l->n++] = *r;
}

static int64
lookup_or_die(const Mined *m, const int32 *codes, int len)
{
	int64		id = fpgrowth_lookup(&m->sets, codes, len);

	if (id < 0)
		elog(ERROR, "a subset of a frequent itemset is missing from the itemsets");
	return id;
}

/*
 * Rules from itemset z: every consequent of 1..maxc of its items (positions in pos[],
 * chosen in increasing order), the antecedent being the rest.
 */
static void
rules_of_itemset(Mined *m, RuleList *l, int64 z, int maxc, const BasketParams *p)
{
	const FPItemsets *s = &m->sets;
	const int32 *zc = s->codes + s->off[z];
	int			len = (int) (s->off[z + 1] - s->off[z]);
	int			pos[64];
	int32		xc[1024],
				yc[1024];
	int			mc;
	int64		cz = s->count[z];

	if (len > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("itemsets of more than 1024 items cannot make rules"),
				 errhint("Set max_len.")));
	for (mc = 1; mc <= maxc && mc <= 64; mc++)
	{
		int			i;

		if (mc == len && !p->empty_antecedent)
			break;
		if (mc > len)
			break;
		for (i = 0; i < mc; i++)
			pos[i] = i;
		for (;;)
		{
			int			nx = 0,
						ny = 0,
						k = 0;
			int64		cx,
						cy,
						x;
			Rule		r;

			CHECK_FOR_INTERRUPTS();
			for (i = 0; i < len; i++)
			{
				if (k < mc && pos[k] == i)
				{
					yc[ny++] = zc[i];
					k++;
				}
				else
					xc[nx++] = zc[i];
			}
			if (nx == 0)
			{
				x = -1;
				cx = m->ntrans;
			}
			else
			{
				x = lookup_or_die(m, xc, nx);
				cx = s->count[x];
			}
			r.confidence = (double) cz / (double) cx;
			if (r.confidence >= p->min_confidence)
			{
				r.y = lookup_or_die(m, yc, ny);
				cy = s->count[r.y];
				r.lift = r.confidence / ((double) cy / (double) m->ntrans);
				if (p->min_lift <= 0.0 || r.lift >= p->min_lift)
				{
					r.z = z;
					r.x = x;
					r.count = cz;
					r.xkey = sort_key(xc, nx, m->in.ncodes);
					r.ykey = sort_key(yc, ny, m->in.ncodes);
					add_rule(l, m, &r);
				}
			}
			/* next combination of mc positions out of len */
			i = mc - 1;
			while (i >= 0 && pos[i] == len - mc + i)
				i--;
			if (i < 0)
				break;
			pos[i]++;
			for (k = i + 1; k < mc; k++)
				pos[k] = pos[k - 1] + 1;
		}
	}
}

static double
leverage_exact(int64 cz, int64 cx, int64 cy, int64 n)
{
#ifdef HAVE_INT128
	int128		num = (int128) cz * n - (int128) cx * cy;

	return (double) num / ((double) n * (double) n);
#else
	return (double) cz / (double) n - ((double) cx / (double) n) * ((double) cy / (double) n);
#endif
}

Datum
basket_rules_final(PG_FUNCTION_ARGS)
{
	BasketState *st = basket_state_from_arg(fcinfo, 0);
	Oid			elemtype;
	TupleDesc	desc = result_row_type(fcinfo, &elemtype);
	Mined		m;
	RuleList	l;
	Datum	   *rows;
	int64		i;
	Size		bytes = 0;
	int			minlen;

	MemoryContext outcxt = CurrentMemoryContext;
	MemoryContext mcxt;
	ArrayType  *result;

	if (st == NULL)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elemtype));
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "basket mining", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(mcxt);
	mine_state(st, &m);
	memset(&l, 0, sizeof(l));
	minlen = st->params.empty_antecedent ? 1 : 2;
	for (i = 0; i < m.sets.n; i++)
	{
		if (m.sets.off[i + 1] - m.sets.off[i] < minlen)
			continue;
		rules_of_itemset(&m, &l, i, st->params.max_consequent, &st->params);
	}
	if (l.n == 0)
	{
		MemoryContextSwitchTo(outcxt);
		MemoryContextDelete(mcxt);
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elemtype));
	}
	if (l.n > (int64) (MaxAllocSize / sizeof(Datum)))
		output_limit(MaxAllocSize, l.n, "rules");
	sort_rules(l.r, l.n, &m.sets);

	rows = MemoryContextAllocHuge(mcxt, sizeof(Datum) * l.n);
	for (i = 0; i < l.n; i++)
	{
		const Rule *r = &l.r[i];
		const FPItemsets *s = &m.sets;
		int64		cz = s->count[r->z],
					cx = r->x >= 0 ? s->count[r->x] : m.ntrans,
					cy = s->count[r->y];
		Datum		values[8];
		bool		nulls[8] = {false, false, false, false, false, false, false, false};
		HeapTuple	tup;

		if ((i & 0x3ff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (r->x >= 0)
			values[0] = items_array(&m, s->codes + s->off[r->x], (int) (s->off[r->x + 1] - s->off[r->x]));
		else
			values[0] = items_array(&m, NULL, 0);
		values[1] = items_array(&m, s->codes + s->off[r->y], (int) (s->off[r->y + 1] - s->off[r->y]));
		values[2] = Float8GetDatum((double) cz / (double) m.ntrans);
		values[3] = Float8GetDatum(r->confidence);
		values[4] = Float8GetDatum(r->lift);
		values[5] = Float8GetDatum(leverage_exact(cz, cx, cy, m.ntrans));
		if (cz == cx)
			values[6] = Float8GetDatum(get_float8_infinity());
		else
			values[6] = Float8GetDatum(((double) (m.ntrans - cy) * (double) cx) /
									   ((double) m.ntrans * (double) (cx - cz)));
		values[7] = Int64GetDatum(cz);
		tup = heap_form_tuple(desc, values, nulls);
		rows[i] = HeapTupleGetDatum(tup);
		bytes += MAXALIGN(tup->t_len);
		output_limit(bytes, i, "rules");
		pfree(DatumGetPointer(values[0]));
		pfree(DatumGetPointer(values[1]));
	}
	MemoryContextSwitchTo(outcxt);
	result = construct_array(rows, (int) l.n, elemtype, -1, false, TYPALIGN_DOUBLE);
	MemoryContextDelete(mcxt);
	PG_RETURN_ARRAYTYPE_P(result);
}
