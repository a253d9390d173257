/*
 * rowstore.c: fixed-width float8 rows held in an aggregate state (see rowstore.h): growth
 * under the memory budget (also for the other arrays a state holds), the canonical sort,
 * combine, and the checked flat form.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "core/rowstore.h"

/* the fixed part of the flat form; the extra area and the rows follow */
typedef struct RiqRowsWire
{
	int32		width;
	int32		pad;
	int64		n;
	int64		extra_len;
} RiqRowsWire;

void
riq_rows_init(RiqRows *r, MemoryContext cxt, int width, const char *what)
{
	Assert(width >= 1);
	r->width = width;
	r->n = 0;
	r->cap = 0;
	r->data = NULL;
	r->cxt = cxt;
	r->what = what;
}

void *
riq_grow_array(MemoryContext cxt, void *p, int64 *cap, int64 need, Size elem, const char *what)
{
	int64		newcap;
	Size		bytes,
				oldbytes;

	if (need <= *cap)
		return p;
	/* double while small, then grow by a quarter so that the slack stays small */
	newcap = *cap < (1 << 20) ? Max(*cap * 2, 64) : *cap + *cap / 4;
	newcap = Max(newcap, need);
	bytes = riq_mul_size((Size) newcap, elem, what);
	oldbytes = (Size) *cap * elem;

	/*
	 * A huge chunk is grown with realloc() (AllocSetRealloc), which moves pages rather than
	 * holding two copies, so the budget is asked for the increase only.
	 */
	riq_memory_check(cxt, bytes - oldbytes, what);
	if (p == NULL)
		p = MemoryContextAllocHuge(cxt, bytes);
	else
		p = repalloc_huge(p, bytes);
	riq_huge_pages(p, bytes);
	*cap = newcap;
	return p;
}

void
riq_rows_reserve(RiqRows *r, int64 need)
{
	if (need <= r->cap)
		return;
	/* rows come in thousands: start at 1024 */
	r->data = riq_grow_array(r->cxt, r->data, &r->cap, Max(need, 1024),
							 riq_mul_size((Size) r->width, sizeof(double), r->what), r->what);
}

void
riq_rows_append(RiqRows *r, const double *row)
{
	double	   *dst;

	if (r->n >= r->cap)
		riq_rows_reserve(r, r->n + 1);
	dst = RIQ_ROW(r, r->n);
	for (int t = 0; t < r->width; t++)
		dst[t] = row[t] + 0.0;	/* -0 + 0 is +0: equal rows become equal bytes */
	r->n++;
}

void
riq_rows_concat(RiqRows *dst, const RiqRows *src)
{
	if (dst->width != src->width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of %s must have the same number of values", dst->what),
				 errdetail("Rows have %d and %d values.", dst->width, src->width),
				 errhint("Build the rows the same way for every input row.")));
	if (src->n == 0)
		return;
	riq_rows_reserve(dst, dst->n + src->n);
	memcpy(RIQ_ROW(dst, dst->n), src->data, sizeof(double) * (Size) src->n * (Size) src->width);
	dst->n += src->n;
}

/* ---------- the canonical order ---------- */

typedef struct RowSortArg
{
	const double *x;
	int			d;
} RowSortArg;

/* a row's first value inline (for cache-friendly comparisons) and its index */
typedef struct RowKey
{
	double		key;
	int64		idx;
} RowKey;

static inline int
row_cmp_values(const double *ra, const double *rb, int from, int d)
{
	for (int t = from; t < d; t++)
	{
		if (ra[t] < rb[t])
			return -1;
		if (ra[t] > rb[t])
			return 1;
	}
	return 0;
}

static int
row_key_cmp(const void *a, const void *b, void *arg)
{
	const RowKey *ka = (const RowKey *) a;
	const RowKey *kb = (const RowKey *) b;
	const RowSortArg *s = (const RowSortArg *) arg;

	if (ka->key < kb->key)
		return -1;
	if (ka->key > kb->key)
		return 1;
	return row_cmp_values(s->x + (Size) ka->idx * s->d, s->x + (Size) kb->idx * s->d, 1, s->d);
}

static bool
rows_sorted(const double *x, int64 n, int d)
{
	for (int64 i = 1; i < n; i++)
		if (row_cmp_values(x + (i - 1) * d, x + i * d, 0, d) > 0)
			return false;
	return true;
}

/* Move the rows so that row i receives old row perm[i], cycle by cycle, in place. */
static void
rows_permute(double *x, int64 n, int d, int64 *perm)
{
	double	   *tmp = palloc(sizeof(double) * d);

	for (int64 i = 0; i < n; i++)
	{
		int64		j;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (perm[i] == i)
			continue;
		memcpy(tmp, x + i * d, sizeof(double) * d);
		j = i;
		for (;;)
		{
			int64		next = perm[j];

			perm[j] = j;
			if (next == i)
			{
				memcpy(x + j * d, tmp, sizeof(double) * d);
				break;
			}
			memcpy(x + j * d, x + next * d, sizeof(double) * d);
			j = next;
		}
	}
	pfree(tmp);
}

/*
 * The first value of a row as an unsigned integer in the same order (IEEE 754: flip every bit
 * of a negative number, only the sign bit of a positive one), -0 taken as +0, so values
 * that compare equal map to equal integers.
 */
static inline uint64
order_bits(double v)
{
	uint64		u;

	v += 0.0;					/* -0 as +0, as the comparisons see it */
	memcpy(&u, &v, sizeof(u));
	return (u & UINT64CONST(0x8000000000000000)) ? ~u : (u | UINT64CONST(0x8000000000000000));
}

/*
 * Radix sort of the keys on their first value (least significant byte first, a byte skipped
 * when every key has the same one), then each run of equal first values sorted on the rest of
 * its rows by comparison. Returns the keys, sorted (keys or tmp).
 */
static RowKey *
radix_sort_keys(RowKey *keys, RowKey *tmp, int64 n, const RowSortArg *arg)
{
	RowKey	   *src = keys,
			   *dst = tmp;
	int64		start;

	for (int shift = 0; shift < 64; shift += 8)
	{
		int64		count[256];
		int64		pos = 0;
		bool		skip = false;

		CHECK_FOR_INTERRUPTS();
		memset(count, 0, sizeof(count));
		for (int64 i = 0; i < n; i++)
			count[(order_bits(src[i].key) >> shift) & 0xFF]++;
		for (int b = 0; b < 256; b++)
		{
			int64		c = count[b];

			if (c == n)
				skip = true;
			count[b] = pos;
			pos += c;
		}
		if (skip)
			continue;
		for (int64 i = 0; i < n; i++)
			dst[count[(order_bits(src[i].key) >> shift) & 0xFF]++] = src[i];
		{
			RowKey	   *t = src;

			src = dst;
			dst = t;
		}
	}
	/* ties on the first value: the rest of the row decides */
	for (start = 0; start < n;)
	{
		int64		end = start + 1;

		while (end < n && src[end].key == src[start].key)
			end++;
		if (end - start > 1 && arg->d > 1)
		{
			if ((start & 0xFF) == 0)
				CHECK_FOR_INTERRUPTS();
			qsort_arg(src + start, (size_t) (end - start), sizeof(RowKey), row_key_cmp,
					  (void *) arg);
		}
		start = end;
	}
	return src;
}

/*
 * Row i of a new array receives old row perm[i]: reads in any order but independent of each
 * other (the in-place cycles of rows_permute follow one chain of dependent moves), writes in
 * order. Returns the new array, in cxt; the old one is freed.
 */
static double *
rows_gather(double *x, int64 n, int d, const int64 *perm, MemoryContext cxt)
{
	double	   *dst = MemoryContextAllocHuge(cxt, sizeof(double) * (Size) n * (Size) d);

	riq_huge_pages(dst, sizeof(double) * (Size) n * (Size) d);

	for (int64 i = 0; i < n; i++)
	{
		const double *src = x + perm[i] * d;
		double	   *out = dst + i * d;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int t = 0; t < d; t++)
			out[t] = src[t];
	}
	pfree(x);
	return dst;
}

/*
 * Sort keys (first value and index) rather than whole rows, then permute the rows once:
 * wide rows are moved n times instead of n log n times (into a second array when
 * retailiq.max_memory has room for one, otherwise in place, more slowly). The keys are sorted by radix on the
 * first value (linear, where a comparison sort spent most of the time); rows with a NaN, whose
 * comparisons are no order, keep the comparison sort they always had. Rows that compare equal
 * are equal bytes (no NaN, no -0), so the sorted store is the same whichever sort ran.
 */
void
riq_rows_sort(RiqRows *r)
{
	int64		n = r->n;
	int			d = r->width;
	RowKey	   *keys;
	RowKey	   *sorted;
	int64	   *perm;
	RowSortArg	arg;
	RowKey	   *tmp = NULL;
	bool		has_nan = false;

	/* the capacity a size hint reserved beyond the rows held goes back */
	if (r->cap > n && n > 0)
	{
		r->data = repalloc_huge(r->data, sizeof(double) * (Size) n * (Size) d);
		r->cap = n;
	}
	/* already in order (a second final call, or pre-sorted input): nothing to do */
	if (n < 2 || rows_sorted(r->data, n, d))
		return;
	/* (no early exit: the comparison of every value runs vectorised) */
	for (Size q = 0; q < (Size) n * (Size) d; q++)
		has_nan |= (isnan(r->data[q]) != 0);
	riq_memory_check(r->cxt, riq_mul_size((Size) n, (has_nan ? 1 : 2) * sizeof(RowKey), r->what),
					 r->what);
	keys = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowKey) * (Size) n);
	riq_huge_pages(keys, sizeof(RowKey) * (Size) n);
	for (int64 i = 0; i < n; i++)
	{
		keys[i].key = r->data[i * d];
		keys[i].idx = i;
	}
	arg.x = r->data;
	arg.d = d;
	if (!has_nan)
	{
		tmp = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowKey) * (Size) n);
		riq_huge_pages(tmp, sizeof(RowKey) * (Size) n);
	}
	if (has_nan)
	{
		qsort_arg(keys, (size_t) n, sizeof(RowKey), row_key_cmp, &arg);
		sorted = keys;
	}
	else
		sorted = radix_sort_keys(keys, tmp, n, &arg);
	/* reuse the keys' memory for the permutation (perm[i] overwrites no key not yet read) */
	perm = (int64 *) keys;
	for (int64 i = 0; i < n; i++)
		perm[i] = sorted[i].idx;
	if (tmp)
	{
		pfree(tmp);
		tmp = NULL;
	}
	if (riq_memory_fits(r->cxt, sizeof(double) * (Size) n * (Size) d))
	{
		r->data = rows_gather(r->data, n, d, perm, r->cxt);
		r->cap = n;
	}
	else
		rows_permute(r->data, n, d, perm);
	pfree(keys);
}

double *
riq_rows_merge(RiqRows *r, bool merge)
{
	int			d = r->width;
	int64		out = 0;
	double	   *w;

	w = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) Max(r->n, 1), sizeof(double), r->what),
				  r->what);
	for (int64 i = 0; i < r->n; i++)
	{
		double	   *row = RIQ_ROW(r, i);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (merge && out > 0 && row_cmp_values(RIQ_ROW(r, out - 1), row, 0, d) == 0)
		{
			w[out - 1] += 1.0;
			continue;
		}
		if (out != i)
			memmove(RIQ_ROW(r, out), row, sizeof(double) * d);
		w[out++] = 1.0;
	}
	r->n = out;
	return w;
}

int64
riq_rows_count_distinct(const RiqRows *r, int64 stop)
{
	int64		distinct = r->n > 0 ? 1 : 0;

	for (int64 i = 1; i < r->n && distinct < stop; i++)
		if (memcmp(RIQ_ROW(r, i - 1), RIQ_ROW(r, i), sizeof(double) * r->width) != 0)
			distinct++;
	return distinct;
}

/* ---------- the flat form ---------- */

bytea *
riq_rows_serialize(const RiqRows *r, const void *extra, Size extra_len)
{
	RiqRowsWire w;
	Size		data_bytes;
	Size		total;
	bytea	   *out;
	char	   *p;

	data_bytes = riq_mul_size(riq_mul_size((Size) r->n, (Size) r->width, r->what),
							  sizeof(double), r->what);
	total = add_size(add_size(VARHDRSZ + sizeof(w), extra_len), data_bytes);
	if (!AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a parallel worker's %s rows exceed 1 GB", r->what),
				 errdetail("The worker holds " INT64_FORMAT " rows of %d values.", r->n, r->width),
				 errhint("Raise max_parallel_workers_per_gather so each worker holds less, or run it serially.")));
	memset(&w, 0, sizeof(w));
	w.width = r->width;
	w.n = r->n;
	w.extra_len = (int64) extra_len;
	out = palloc(total);
	SET_VARSIZE(out, total);
	p = VARDATA(out);
	memcpy(p, &w, sizeof(w));
	p += sizeof(w);
	if (extra_len > 0)
	{
		memcpy(p, extra, extra_len);
		p += extra_len;
	}
	/* native byte order: the bytes go to a parallel worker of this server, nowhere else */
	if (data_bytes > 0)
		memcpy(p, r->data, data_bytes);
	return out;
}

const char *
riq_rows_deserialize(const bytea *b, RiqRows *r, MemoryContext cxt, int max_width,
					 const char *what, Size *extra_len)
{
	const char *p = VARDATA_ANY(b);
	Size		len = VARSIZE_ANY_EXHDR(b);
	Size		rest;
	RiqRowsWire w;
	const char *extra;

	if (len < sizeof(w))
		riq_state_corrupt(what, "It is %zu bytes long, shorter than its header.", len);
	memcpy(&w, p, sizeof(w));
	p += sizeof(w);
	len -= sizeof(w);
	/* sizes checked by division, so no product of forged fields can overflow */
	if (w.width < 1 || w.width > max_width)
		riq_state_corrupt(what, "Its rows claim %d values each; 1 to %d are possible.",
						  w.width, max_width);
	if (w.extra_len < 0 || (uint64) w.extra_len > (uint64) len)
		riq_state_corrupt(what, "Its parameter area claims " INT64_FORMAT " of its %zu bytes.",
						  w.extra_len, len);
	rest = len - (Size) w.extra_len;
	if (w.n < 0 || rest % (sizeof(double) * (Size) w.width) != 0 ||
		(uint64) w.n != (uint64) (rest / (sizeof(double) * (Size) w.width)))
		riq_state_corrupt(what, "Its header (%d values, " INT64_FORMAT " rows) does not match its %zu bytes of rows.",
						  w.width, w.n, rest);
	extra = p;
	p += w.extra_len;
	riq_rows_init(r, cxt, w.width, what);
	if (w.n > 0)
	{
		Size		count = (Size) w.n * (Size) w.width;

		riq_rows_reserve(r, w.n);
		memcpy(r->data, p, sizeof(double) * count);
		/* keep the store's promise (no -0) for bytes that did not come from append */
		for (Size q = 0; q < count; q++)
			r->data[q] += 0.0;
		r->n = w.n;
	}
	*extra_len = (Size) w.extra_len;
	return extra;
}
