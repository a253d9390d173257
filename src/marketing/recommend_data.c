/*
 * recommend_data.c: from purchase lines to a purchase history (RecData): for each customer the
 * products bought and, for each, the days of the baskets that held it. A basket is a customer's
 * purchases of one day (UTC), as in the usual next-basket protocol.
 *
 * Lines are sorted into one canonical order (customer, product, day, quantity) first, so the
 * history and every result built on it do not depend on the scan order or the plan.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/memory.h"
#include "marketing/recommend.h"

static int
cmp_line(const void *pa, const void *pb)
{
	const RecLine *a = pa;
	const RecLine *b = pb;

	if (a->customer != b->customer)
		return a->customer < b->customer ? -1 : 1;
	if (a->product != b->product)
		return a->product < b->product ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if (a->qty != b->qty)
		return a->qty < b->qty ? -1 : 1;
	return 0;
}

void
rec_sort_lines(RecLine *lines, int64 n)
{
	if (n > 1)
		qsort(lines, (size_t) n, sizeof(RecLine), cmp_line);
}

RecData *
rec_data_build(const RecLine *lines, int64 n, const int32 *ucode, const int32 *icode,
			   const bool *keep, int nu, int ni)
{
	RecData    *d = palloc0(sizeof(RecData));
	int64		nnz = 0,
				ndays = 0,
				e = -1,
				k = 0;
	int			lastu = -1,
				lasti = -1;
	int32		lastday = 0;

	d->nu = nu;
	d->ni = ni;
	d->ref_day = PG_INT32_MIN;
	/* count entries and basket days */
	for (int64 l = 0; l < n; l++)
	{
		if (keep != NULL && !keep[l])
			continue;
		if (ucode[l] != lastu || icode[l] != lasti)
		{
			nnz++;
			ndays++;
		}
		else if (lines[l].day != lastday)
			ndays++;
		lastu = ucode[l];
		lasti = icode[l];
		lastday = lines[l].day;
		d->ref_day = Max(d->ref_day, lines[l].day);
	}
	d->nnz = nnz;
	d->uptr = riq_alloc(CurrentMemoryContext, riq_mul_size(nu + 1, sizeof(int64), "recommender_fit"), "recommender_fit");
	d->item = riq_alloc(CurrentMemoryContext, riq_mul_size(Max(nnz, 1), sizeof(int32), "recommender_fit"), "recommender_fit");
	d->dptr = riq_alloc(CurrentMemoryContext, riq_mul_size(nnz + 1, sizeof(int64), "recommender_fit"), "recommender_fit");
	d->days = riq_alloc(CurrentMemoryContext, riq_mul_size(Max(ndays, 1), sizeof(int32), "recommender_fit"), "recommender_fit");
	d->pop = riq_alloc(CurrentMemoryContext, riq_mul_size(Max(ni, 1), sizeof(double), "recommender_fit"), "recommender_fit");
	memset(d->pop, 0, sizeof(double) * ni);
	memset(d->uptr, 0, sizeof(int64) * (nu + 1));
	lastu = lasti = -1;
	for (int64 l = 0; l < n; l++)
	{
		if (keep != NULL && !keep[l])
			continue;
		if (ucode[l] != lastu || icode[l] != lasti)
		{
			e++;
			d->item[e] = icode[l];
			d->dptr[e] = k;
			d->uptr[ucode[l] + 1]++;
			d->days[k++] = lines[l].day;
			d->pop[icode[l]] += 1;
		}
		else if (lines[l].day != d->days[k - 1])
		{
			d->days[k++] = lines[l].day;
			d->pop[icode[l]] += 1;
		}
		lastu = ucode[l];
		lasti = icode[l];
		if ((l & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	d->dptr[nnz] = k;
	for (int u = 0; u < nu; u++)
		d->uptr[u + 1] += d->uptr[u];
	if (nnz == 0)
		d->ref_day = 0;
	return d;
}

/* The weight of a basket `ref_day - day` days old: halved every half_life days (0: always 1). */
double
rec_decay(double half_life, int32 ref_day, int32 day)
{
	if (half_life <= 0)
		return 1.0;
	return exp2(-(double) (ref_day - day) / half_life);
}

/* Each entry's recency-weighted basket count; a half-life of -1 gives 1 for every entry. */
void
rec_entry_weights(const RecData *d, double half_life, double *w)
{
	for (int64 e = 0; e < d->nnz; e++)
	{
		double		s = 0;

		if (half_life < 0)
			s = 1;
		else
			for (int64 k = d->dptr[e]; k < d->dptr[e + 1]; k++)
				s += rec_decay(half_life, d->ref_day, d->days[k]);
		w[e] = s;
	}
}

/*
 * Each product's recency-weighted number of baskets; with `first`, only the basket of each
 * customer's first purchase of it counts (weighted by that day's recency): how often the
 * product is bought by someone new to it, which is what "new products only" asks about,
 * while the basket count is led by the staples the same customers buy again and again.
 */
void
rec_popularity(const RecData *d, double half_life, bool first, double *pop)
{
	memset(pop, 0, sizeof(double) * d->ni);
	for (int64 e = 0; e < d->nnz; e++)
		for (int64 k = d->dptr[e]; k < (first ? d->dptr[e] + 1 : d->dptr[e + 1]); k++)
			pop[d->item[e]] += rec_decay(half_life, d->ref_day, d->days[k]);
}

/* The index of id in the ascending ids, or -1. */
int32
rec_find_id(const int64 *ids, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (ids[mid] == id)
			return mid;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}
