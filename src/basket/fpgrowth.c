/*
 * fpgrowth.c: frequent itemsets by FP-growth (Han, Pei & Yin 2000).
 *
 * Items arrive as global codes 0..ncodes-1. The frequent ones are ranked by count (most
 * frequent first) and every basket is inserted into a prefix tree along that order; each
 * item's nodes are chained from a header. Mining walks the items from the least frequent
 * up: the item's chain gives its conditional pattern base (the paths above its nodes),
 * whose frequent items form a conditional tree that is mined recursively with the item
 * appended to the prefix. Conditional trees keep the parent's item order (filtering, not
 * re-ranking), so the paths need no sorting. A tree that is a single path yields every
 * combination of its items directly. Counts are 64-bit throughout.
 *
 * Memory: trees and the itemsets found live in one memory context whose size is checked
 * against retailiq.max_memory before it grows, so an itemset explosion stops with an ERROR
 * that says which parameter to change.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "basket/basket.h"
#include "core/memory.h"

typedef struct FPNode
{
	int32		child;			/* first child, -1 = none */
	int32		sibling;		/* next child of the parent, -1 = none */
	int32		link;			/* next node of the same item, -1 = none */
	int32		pad;
	int64		count;
} FPNode;

/*
 * A node's parent and item, apart from the rest: mining walks from nodes up to the root
 * over and over, and this dense array keeps those walks in cache.
 */
typedef struct FPUp
{
	int32		parent;			/* 0 = the root */
	int32		item;			/* local item (rank in this tree) */
} FPUp;

typedef struct FPTree
{
	int32		nitems;
	int32	   *code;			/* global code of each local item */
	int64	   *count;			/* support of each local item in this database */
	int32	   *head;			/* first node of each item */
	int32	   *rootchild;		/* root's child for each item, -1 = none */
	FPNode	   *nodes;
	FPUp	   *up;
	int64		nnodes;
	int64		cap;
} FPTree;

/*
 * Buffers for the conditional trees of one recursion depth: only one tree per depth is
 * alive at a time, so each depth keeps its arrays and reuses them (no allocator churn).
 */
typedef struct FPPool
{
	int64		nodecap;
	int32		itemcap;
	FPNode	   *nodes;
	FPUp	   *up;
	int32	   *code;
	int64	   *count;
	int32	   *head;
	int32	   *rootchild;
} FPPool;

typedef struct FPCtx
{
	const FPInput *in;
	FPItemsets *out;
	MemoryContext cxt;
	int32	   *prefix;
	int32		max_len;
	FPPool	   *pool;			/* one per depth, 0..max depth */
	int32		npool;
	/* one item's conditional pattern base, read off the tree once: [n, item...] per path */
	int32	   *pb;
	int64		pbcap;
	int64	   *pw;				/* the weight of each path */
	int64		pwcap;
} FPCtx;

/* ---------- limits ---------- */

void
basket_mining_limit(Size held, const FPInput *in, int64 found)
{
	Size		limit = (Size) riq_max_memory_kb * 1024;

	if (held > limit)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("too many frequent itemsets for retailiq.max_memory"),
				 errdetail("Mining at min_support %g (a count of " INT64_FORMAT " of " INT64_FORMAT " baskets) with max_len %d had found " INT64_FORMAT " itemsets and needed %zu MB; the limit is %d MB.",
						   in->min_support, in->min_count, in->ntrans, in->max_len, found,
						   held >> 20, riq_max_memory_kb >> 10),
				 errhint("Raise min_support or set max_len (or raise retailiq.max_memory).")));
}

static void
check_memory(FPCtx *c, Size more)
{
	basket_mining_limit(MemoryContextMemAllocated(c->cxt, true) + more, c->in, c->out->n);
}

static void *
fp_grow(FPCtx *c, void *p, int64 *cap, int64 need, Size elem)
{
	int64		newcap;
	Size		bytes;

	if (need <= *cap)
		return p;
	newcap = Max(*cap, 256);
	while (newcap < need)
		newcap *= 2;
	bytes = riq_mul_size((Size) newcap, elem, "the frequent itemsets");
	check_memory(c, bytes);
	p = p ? repalloc_huge(p, bytes) : MemoryContextAllocHuge(c->cxt, bytes);
	*cap = newcap;
	return p;
}

/* ---------- trees ---------- */

static void
tree_init(FPCtx *c, FPTree *t, int32 nitems, int64 cap)
{
	Size		bytes = add_size(mul_size(nitems, 3 * sizeof(int32) + sizeof(int64)),
								 riq_mul_size((Size) cap, sizeof(FPNode) + sizeof(FPUp), "an FP-tree"));

	check_memory(c, bytes);
	if (cap > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the FP-tree has more than %d nodes", PG_INT32_MAX),
				 errhint("Raise min_support or mine fewer baskets at once.")));
	t->nitems = nitems;
	t->code = MemoryContextAlloc(c->cxt, sizeof(int32) * Max(nitems, 1));
	t->count = MemoryContextAlloc(c->cxt, sizeof(int64) * Max(nitems, 1));
	t->head = MemoryContextAlloc(c->cxt, sizeof(int32) * Max(nitems, 1));
	t->rootchild = MemoryContextAlloc(c->cxt, sizeof(int32) * Max(nitems, 1));
	memset(t->head, 0xff, sizeof(int32) * Max(nitems, 1));
	memset(t->rootchild, 0xff, sizeof(int32) * Max(nitems, 1));
	t->cap = Max(cap, 1);
	t->nodes = MemoryContextAllocHuge(c->cxt, sizeof(FPNode) * t->cap);
	t->up = MemoryContextAllocHuge(c->cxt, sizeof(FPUp) * t->cap);
	t->nnodes = 1;
	t->up[0].item = -1;
	t->up[0].parent = -1;
	t->nodes[0].child = -1;
	t->nodes[0].sibling = -1;
	t->nodes[0].link = -1;
	t->nodes[0].count = 0;
}

/* a conditional tree at recursion depth `depth`, in that depth's reused buffers */
static void
tree_init_pooled(FPCtx *c, FPTree *t, int depth, int32 nitems, int64 cap)
{
	FPPool	   *p;

	if (depth >= c->npool)
		elog(ERROR, "FP-growth recursion deeper than its item count");
	p = &c->pool[depth];
	if (cap > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the FP-tree has more than %d nodes", PG_INT32_MAX),
				 errhint("Raise min_support or mine fewer baskets at once.")));
	if (cap > p->nodecap)
	{
		int64		newcap = Max(cap, p->nodecap * 2);
		Size		bytes = riq_mul_size((Size) newcap, sizeof(FPNode) + sizeof(FPUp), "an FP-tree");

		if (p->nodes)
		{
			pfree(p->nodes);
			pfree(p->up);
		}
		p->nodes = NULL;
		p->up = NULL;
		check_memory(c, bytes);
		p->nodes = MemoryContextAllocHuge(c->cxt, sizeof(FPNode) * newcap);
		p->up = MemoryContextAllocHuge(c->cxt, sizeof(FPUp) * newcap);
		p->nodecap = newcap;
	}
	if (nitems > p->itemcap)
	{
		int32		newcap = Max(nitems, 64);

		if (p->code)
		{
			pfree(p->code);
			pfree(p->count);
			pfree(p->head);
			pfree(p->rootchild);
		}
		check_memory(c, (Size) newcap * (3 * sizeof(int32) + sizeof(int64)));
		p->code = MemoryContextAlloc(c->cxt, sizeof(int32) * newcap);
		p->count = MemoryContextAlloc(c->cxt, sizeof(int64) * newcap);
		p->head = MemoryContextAlloc(c->cxt, sizeof(int32) * newcap);
		p->rootchild = MemoryContextAlloc(c->cxt, sizeof(int32) * newcap);
		p->itemcap = newcap;
	}
	t->nitems = nitems;
	t->code = p->code;
	t->count = p->count;
	t->head = p->head;
	t->rootchild = p->rootchild;
	memset(t->head, 0xff, sizeof(int32) * nitems);
	memset(t->rootchild, 0xff, sizeof(int32) * nitems);
	t->nodes = p->nodes;
	t->up = p->up;
	t->cap = cap;				/* an exact upper bound: the tree never grows */
	t->nnodes = 1;
	t->up[0].item = -1;
	t->up[0].parent = -1;
	t->nodes[0].child = -1;
	t->nodes[0].sibling = -1;
	t->nodes[0].link = -1;
	t->nodes[0].count = 0;
}

static void
tree_free(FPTree *t)
{
	pfree(t->code);
	pfree(t->count);
	pfree(t->head);
	pfree(t->rootchild);
	pfree(t->nodes);
	pfree(t->up);
}

static int32
tree_new_node(FPCtx *c, FPTree *t, int32 item, int32 parent)
{
	FPNode	   *n;
	int32		id;

	if (t->nnodes >= t->cap)
	{
		int64		cap = t->cap;

		if (t->cap >= PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the FP-tree has more than %d nodes", PG_INT32_MAX),
					 errhint("Raise min_support or mine fewer baskets at once.")));
		t->nodes = fp_grow(c, t->nodes, &cap, Min(t->cap * 2, (int64) PG_INT32_MAX), sizeof(FPNode));
		cap = t->cap;
		t->up = fp_grow(c, t->up, &cap, Min(t->cap * 2, (int64) PG_INT32_MAX), sizeof(FPUp));
		t->cap = cap;
	}
	id = (int32) t->nnodes++;
	n = &t->nodes[id];
	t->up[id].item = item;
	t->up[id].parent = parent;
	n->child = -1;
	n->link = t->head[item];
	t->head[item] = id;
	n->count = 0;
	if (parent == 0)
	{
		n->sibling = -1;
		t->rootchild[item] = id;
	}
	else
	{
		n->sibling = t->nodes[parent].child;
		t->nodes[parent].child = id;
	}
	return id;
}

/* Inserts items (local, ascending) with weight w; `reversed` reads them from the end. */
static void
tree_insert(FPCtx *c, FPTree *t, const int32 *items, int n, bool reversed, int64 w)
{
	int32		cur = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		int32		it = reversed ? items[n - 1 - i] : items[i];
		int32		ch;

		if (cur == 0)
			ch = t->rootchild[it];
		else
		{
			ch = t->nodes[cur].child;
			while (ch >= 0 && t->up[ch].item != it)
				ch = t->nodes[ch].sibling;
		}
		if (ch < 0)
			ch = tree_new_node(c, t, it, cur);
		t->nodes[ch].count += w;
		cur = ch;
	}
}

/* ---------- output ---------- */

static void
emit(FPCtx *c, int len, int64 count)
{
	FPItemsets *s = c->out;
	int32	   *dst;
	int			i,
				j;

	if (s->n + 1 >= s->cap)
	{
		int64		cap = s->cap;

		s->count = fp_grow(c, s->count, &cap, s->n + 2, sizeof(int64));
		cap = s->cap;
		s->off = fp_grow(c, s->off, &cap, s->n + 2, sizeof(int64));
		s->cap = cap;
	}
	s->codes = fp_grow(c, s->codes, &s->codes_cap, s->codes_used + len, sizeof(int32));
	dst = s->codes + s->codes_used;
	/* insertion sort by code: itemsets are short */
	for (i = 0; i < len; i++)
	{
		int32		v = c->prefix[i];

		for (j = i; j > 0 && dst[j - 1] > v; j--)
			dst[j] = dst[j - 1];
		dst[j] = v;
	}
	s->off[s->n] = s->codes_used;
	s->count[s->n] = count;
	s->codes_used += len;
	s->n++;
	s->off[s->n] = s->codes_used;
}

/* ---------- mining ---------- */

static bool
single_path(const FPTree *t)
{
	int64		i;

	for (i = 0; i < t->nnodes; i++)
	{
		int32		ch = t->nodes[i].child;

		if (i == 0)
		{
			/* the root's children are the nodes whose parent is 0 */
			continue;
		}
		if (ch >= 0 && t->nodes[ch].sibling >= 0)
			return false;
	}
	/* the root: at most one child */
	{
		int32		k,
					roots = 0;

		for (k = 0; k < t->nitems; k++)
			if (t->rootchild[k] >= 0)
				roots++;
		return roots <= 1;
	}
}

/*
 * A single path holds each of its items once, in rank order, so an itemset made of the
 * prefix and some of the path's items has the count of its deepest item.
 */
static void
mine_single_path(FPCtx *c, const FPTree *t, int plen, int32 start, int depth)
{
	int32		j;

	for (j = start; j < t->nitems; j++)
	{
		CHECK_FOR_INTERRUPTS();
		c->prefix[plen + depth] = t->code[j];
		emit(c, plen + depth + 1, t->count[j]);
		if (plen + depth + 1 < c->max_len)
			mine_single_path(c, t, plen, j + 1, depth + 1);
	}
}

static void
mine(FPCtx *c, FPTree *t, int plen)
{
	int64	   *cnt;
	int32	   *rank;
	int32	   *path;
	int32		i;
	int64		min_count = c->in->min_count;

	check_stack_depth();
	if (single_path(t))
	{
		mine_single_path(c, t, plen, 0, 0);
		return;
	}
	cnt = MemoryContextAlloc(c->cxt, sizeof(int64) * t->nitems);
	rank = MemoryContextAlloc(c->cxt, sizeof(int32) * t->nitems);
	path = MemoryContextAlloc(c->cxt, sizeof(int32) * t->nitems);

	for (i = t->nitems - 1; i >= 0; i--)
	{
		int32		n,
					p,
					j,
					k;
		int64		pathnodes = 0;
		FPTree		ct;

		CHECK_FOR_INTERRUPTS();
		c->prefix[plen] = t->code[i];
		emit(c, plen + 1, t->count[i]);
		if (plen + 1 >= c->max_len || i == 0)
			continue;

		/*
		 * The conditional pattern base of item i: walk up from each of its nodes once,
		 * counting the items above it and recording the path.
		 */
		{
			int64		used = 0,
						npaths = 0,
						q;

			memset(cnt, 0, sizeof(int64) * i);
			for (n = t->head[i]; n >= 0; n = t->nodes[n].link)
			{
				int64		w = t->nodes[n].count;
				int64		lenpos;

				if (used + 1 + i > c->pbcap)
					c->pb = fp_grow(c, c->pb, &c->pbcap, used + 1 + i, sizeof(int32));
				if (npaths + 1 > c->pwcap)
					c->pw = fp_grow(c, c->pw, &c->pwcap, npaths + 1, sizeof(int64));
				lenpos = used++;
				for (p = t->up[n].parent; p > 0; p = t->up[p].parent)
				{
					int32		it = t->up[p].item;

					cnt[it] += w;
					c->pb[used++] = it;
				}
				c->pb[lenpos] = (int32) (used - lenpos - 1);
				c->pw[npaths++] = w;
			}
			pathnodes = used - npaths;
			k = 0;
			for (j = 0; j < i; j++)
				rank[j] = cnt[j] >= min_count ? k++ : -1;
			if (k == 0)
				continue;

			tree_init_pooled(c, &ct, plen + 1, k, pathnodes + 1);
			for (j = 0; j < i; j++)
				if (rank[j] >= 0)
				{
					ct.code[rank[j]] = t->code[j];
					ct.count[rank[j]] = cnt[j];
				}
			for (q = 0, used = 0; q < npaths; q++)
			{
				int32		len = c->pb[used++];
				int			m = 0,
							e;

				for (e = 0; e < len; e++)
				{
					int32		r = rank[c->pb[used + e]];

					if (r >= 0)
						path[m++] = r;
				}
				used += len;
				if (m > 0)
					tree_insert(c, &ct, path, m, true, c->pw[q]);
			}
		}
		mine(c, &ct, plen + 1);
	}
	pfree(cnt);
	pfree(rank);
	pfree(path);
}

/* ---------- the itemset index ---------- */

static inline uint32
hash_codes(const int32 *codes, int len)
{
	return hash_bytes((const unsigned char *) codes, len * (int) sizeof(int32));
}

static void
build_index(FPCtx *c)
{
	FPItemsets *s = c->out;
	int64		nslots = 1024,
				i;

	while (nslots < 2 * s->n)
		nslots *= 2;
	check_memory(c, riq_mul_size((Size) nslots, sizeof(int64), "the itemset index"));
	s->slots = MemoryContextAllocHuge(c->cxt, sizeof(int64) * nslots);
	memset(s->slots, 0xff, sizeof(int64) * nslots);
	s->nslots = nslots;
	for (i = 0; i < s->n; i++)
	{
		uint64		h = hash_codes(s->codes + s->off[i], (int) (s->off[i + 1] - s->off[i])) & (nslots - 1);

		while (s->slots[h] >= 0)
			h = (h + 1) & (nslots - 1);
		s->slots[h] = i;
	}
}

int64
fpgrowth_lookup(const FPItemsets *s, const int32 *codes, int len)
{
	uint64		h;
	int64		id;

	if (s->nslots == 0)
		return -1;
	h = hash_codes(codes, len) & (s->nslots - 1);
	while ((id = s->slots[h]) >= 0)
	{
		if (s->off[id + 1] - s->off[id] == len &&
			memcmp(s->codes + s->off[id], codes, sizeof(int32) * len) == 0)
			return id;
		h = (h + 1) & (s->nslots - 1);
	}
	return -1;
}

/* ---------- entry ---------- */

int64
basket_min_count(double min_support, int64 ntrans)
{
	double		x;
	int64		c;

	if (ntrans <= 0)
		return 1;
	/* the least count with count / ntrans >= min_support, as the user reads the fraction */
	x = ceil(min_support * (double) ntrans);
	c = x < 1.0 ? 1 : (x > (double) ntrans ? ntrans : (int64) x);
	while (c > 1 && (double) (c - 1) / (double) ntrans >= min_support)
		c--;
	while (c <= ntrans && (double) c / (double) ntrans < min_support)
		c++;
	return c;
}

typedef struct RankSort
{
	int32		code;
	int64		count;
} RankSort;

static int
cmp_rank(const void *a, const void *b)
{
	const RankSort *x = a,
			   *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->code > y->code) - (x->code < y->code);
}

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/* baskets are mostly short: insertion sort, qsort for long ones */
static void
sort_ranks(int32 *v, int n)
{
	int			i,
				j;

	if (n > 32)
	{
		qsort(v, n, sizeof(int32), cmp_int32);
		return;
	}
	for (i = 1; i < n; i++)
	{
		int32		x = v[i];

		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static int
cmp_seq(const void *a, const void *b, void *arg)
{
	const int32 *r = arg;
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;
	int32		lx = r[x],
				ly = r[y],
				i;

	for (i = 0; i < lx && i < ly; i++)
		if (r[x + 1 + i] != r[y + 1 + i])
			return r[x + 1 + i] < r[y + 1 + i] ? -1 : 1;
	return (lx > ly) - (lx < ly);
}

#define ST_SORT sort_seqs
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b, arg) cmp_seq(a, b, arg)
#define ST_COMPARE_ARG_TYPE void
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The root tree. Each basket becomes the sorted ranks of its frequent items; the baskets are
 * sorted lexicographically, so a basket shares with the tree only the prefix it shares with
 * the basket before it, and insertion needs no search among a node's children.
 */
static void
build_root(FPCtx *c, FPTree *t, const int32 *rank, int32 maxbasket)
{
	const FPInput *in = c->in;
	int32	   *ranks;
	int64	   *starts;
	int64		used = 0,
				nseq = 0,
				j,
				b;
	int32	   *path;
	const int32 *prev = NULL;
	int32		prevlen = 0;

	check_memory(c, add_size(riq_mul_size((Size) in->buflen, sizeof(int32), "the basket list"),
							 riq_mul_size((Size) in->ntrans, sizeof(int64), "the basket list")));
	ranks = MemoryContextAllocHuge(c->cxt, sizeof(int32) * Max(in->buflen, 1));
	starts = MemoryContextAllocHuge(c->cxt, sizeof(int64) * Max(in->ntrans, 1));
	for (j = 0, b = 0; j < in->buflen; b++)
	{
		int32		n = in->buf[j++],
					m = 0,
					i;
		int32	   *dst = ranks + used + 1;

		if ((b & 0x3ff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (i = 0; i < n; i++)
		{
			int32		r = rank[in->remap[in->buf[j + i]]];

			if (r >= 0)
				dst[m++] = r;
		}
		j += n;
		if (m == 0)
			continue;
		sort_ranks(dst, m);
		ranks[used] = m;
		starts[nseq++] = used;
		used += m + 1;
	}
	sort_seqs(starts, nseq, ranks);

	path = palloc(sizeof(int32) * (Max(maxbasket, 1) + 1));
	for (b = 0; b < nseq; b++)
	{
		const int32 *seq = ranks + starts[b] + 1;
		int32		len = ranks[starts[b]],
					l = 0,
					d;

		if ((b & 0x3ff) == 0)
			CHECK_FOR_INTERRUPTS();
		while (prev && l < len && l < prevlen && seq[l] == prev[l])
			l++;
		for (d = 0; d < l; d++)
			t->nodes[path[d]].count++;
		for (d = l; d < len; d++)
		{
			path[d] = tree_new_node(c, t, seq[d], d == 0 ? 0 : path[d - 1]);
			t->nodes[path[d]].count = 1;
		}
		prev = seq;
		prevlen = len;
	}
	pfree(path);
	pfree(ranks);
	pfree(starts);
}

void
fpgrowth_mine(const FPInput *in, FPItemsets *out)
{
	FPCtx		c;
	int64	   *count;
	int32	   *rank;
	RankSort   *rs;
	int32		nfreq = 0,
				i,
				maxbasket = 0;
	int64		j;
	FPTree		t;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.in = in;
	c.out = out;
	c.cxt = CurrentMemoryContext;
	c.max_len = in->max_len;

	count = palloc0(sizeof(int64) * Max(in->ncodes, 1));
	for (j = 0; j < in->buflen;)
	{
		int32		n = in->buf[j++];

		if ((j & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		maxbasket = Max(maxbasket, n);
		for (i = 0; i < n; i++)
			count[in->remap[in->buf[j + i]]]++;
		j += n;
	}

	rs = palloc(sizeof(RankSort) * Max(in->ncodes, 1));
	for (i = 0; i < in->ncodes; i++)
		if (count[i] >= in->min_count)
		{
			rs[nfreq].code = i;
			rs[nfreq].count = count[i];
			nfreq++;
		}
	qsort(rs, nfreq, sizeof(RankSort), cmp_rank);
	rank = palloc(sizeof(int32) * Max(in->ncodes, 1));
	memset(rank, 0xff, sizeof(int32) * Max(in->ncodes, 1));
	for (i = 0; i < nfreq; i++)
		rank[rs[i].code] = i;

	c.prefix = palloc(sizeof(int32) * (Max(nfreq, 1) + 1));
	c.npool = Min(nfreq, in->max_len) + 1;
	c.pool = palloc0(sizeof(FPPool) * c.npool);
	if (nfreq > 0 && in->max_len > 0)
	{
		tree_init(&c, &t, nfreq, 1024);
		for (i = 0; i < nfreq; i++)
		{
			t.code[i] = rs[i].code;
			t.count[i] = rs[i].count;
		}
		build_root(&c, &t, rank, maxbasket);
		mine(&c, &t, 0);
		tree_free(&t);
	}
	pfree(count);
	pfree(rank);
	pfree(rs);
	pfree(c.prefix);
	build_index(&c);
}
