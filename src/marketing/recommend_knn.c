/*
 * recommend_knn.c: item-to-item cosine similarity on the binary customer x product matrix
 * (two products are similar when the same customers bought both), each product's k nearest
 * neighbours kept, best first (ties by product order, so the result is deterministic).
 *
 * With a weighting exponent beta > 0 each customer's purchases count 1 / |I_u|^beta (|I_u|
 * the number of products he bought): a wholesaler who buys hundreds of products says less
 * about any two of them belonging together than a customer who bought only those two (the
 * inverse user frequency of collaborative filtering). The similarity is then the weighted
 * cosine sum_u w_u / sqrt(W_i W_j), W_i the weights of i's customers; beta 0 is the plain
 * cosine on the binary matrix.
 *
 * The co-occurrence counts of one product at a time are gathered through its customers'
 * histories into one dense counter that is reset through the list of touched products, so the
 * work is the sum over customers of their number of products squared and the memory is O(ni).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/memory.h"
#include "marketing/recommend.h"

typedef struct Cand
{
	int32		item;
	double		sim;
} Cand;

static int
cmp_cand(const void *pa, const void *pb)
{
	const Cand *a = pa;
	const Cand *b = pb;

	if (a->sim != b->sim)
		return a->sim > b->sim ? -1 : 1;
	return a->item < b->item ? -1 : (a->item > b->item);
}

RecNeighbours *
rec_knn_build(const RecData *d, int k, double beta)
{
	int			ni = d->ni;
	RecNeighbours *nb = palloc0(sizeof(RecNeighbours));
	int64	   *iptr = palloc0(sizeof(int64) * (ni + 1));
	int32	   *iusers = palloc(sizeof(int32) * Max(d->nnz, 1));
	int64	   *fill = palloc(sizeof(int64) * (ni + 1));
	double	   *cnt = palloc0(sizeof(double) * Max(ni, 1));
	int32	   *touched = palloc(sizeof(int32) * Max(ni, 1));
	Cand	   *cand = palloc(sizeof(Cand) * k);
	double	   *uw = palloc(sizeof(double) * Max(d->nu, 1));
	double	   *iw = palloc0(sizeof(double) * Max(ni, 1));

	nb->ni = ni;
	nb->k = k;
	nb->item = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) Max(ni, 1) * k, sizeof(int32), "recommender_fit"), "recommender_fit");
	nb->sim = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) Max(ni, 1) * k, sizeof(double), "recommender_fit"), "recommender_fit");
	for (int64 e = 0; e < d->nnz; e++)
		iptr[d->item[e] + 1]++;
	for (int i = 0; i < ni; i++)
		iptr[i + 1] += iptr[i];
	memcpy(fill, iptr, sizeof(int64) * (ni + 1));
	for (int u = 0; u < d->nu; u++)
	{
		int64		nh = d->uptr[u + 1] - d->uptr[u];

		uw[u] = beta > 0 && nh > 0 ? pow((double) nh, -beta) : 1.0;
		for (int64 e = d->uptr[u]; e < d->uptr[u + 1]; e++)
		{
			iusers[fill[d->item[e]]++] = u;
			iw[d->item[e]] += uw[u];
		}
	}

	for (int i = 0; i < ni; i++)
	{
		int			nt = 0,
					nc = 0;

		CHECK_FOR_INTERRUPTS();
		for (int64 p = iptr[i]; p < iptr[i + 1]; p++)
		{
			int			u = iusers[p];
			double		wu = uw[u];

			for (int64 e = d->uptr[u]; e < d->uptr[u + 1]; e++)
			{
				int32		j = d->item[e];

				if (j == i)
					continue;
				if (cnt[j] == 0)
					touched[nt++] = j;
				cnt[j] += wu;
			}
		}
		/* the k best, kept sorted by insertion: most candidates fall out at the first test */
		for (int t = 0; t < nt; t++)
		{
			int32		j = touched[t];
			Cand		x;
			int			p;

			x.item = j;
			x.sim = cnt[j] / sqrt(iw[i] * iw[j]);
			cnt[j] = 0;
			if (nc == k && cmp_cand(&x, &cand[k - 1]) >= 0)
				continue;
			p = nc < k ? nc++ : k - 1;
			while (p > 0 && cmp_cand(&x, &cand[p - 1]) < 0)
			{
				cand[p] = cand[p - 1];
				p--;
			}
			cand[p] = x;
		}
		for (int t = 0; t < k; t++)
		{
			nb->item[(Size) i * k + t] = t < nc ? cand[t].item : -1;
			nb->sim[(Size) i * k + t] = t < nc ? cand[t].sim : 0.0;
		}
	}
	pfree(iptr);
	pfree(iusers);
	pfree(fill);
	pfree(cnt);
	pfree(touched);
	pfree(cand);
	pfree(uw);
	pfree(iw);
	return nb;
}
