/*
 * recommend_als.c: implicit-feedback matrix factorisation by alternating least squares
 * (Hu, Koren & Volinsky 2008, "Collaborative Filtering for Implicit Feedback Datasets").
 *
 * Every (customer, product) pair has preference 1 if bought and 0 otherwise, with confidence
 * c = 1 + alpha * r, r the recency-weighted number of baskets that held the product. Each
 * half-step solves, for every customer (then every product), the weighted ridge regression
 *   (Y'Y + Y'(C_u - I)Y + lambda I) x_u = Y' C_u p_u
 * exactly, with the paper's trick: Y'Y is computed once per half-step and only the bought
 * products add to it (a rank-k update of their rows scaled by sqrt(c - 1), on OpenBLAS).
 * The start is seeded, the order of customers and products is the sorted ids', and the BLAS
 * build is serial: the same seed gives the same factors bit for bit.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/blas.h"
#include "core/memory.h"
#include "core/rng.h"
#include "marketing/recommend.h"

/* Solve every row of `t` (nt x f) from the fixed `s` (ns x f) over a CSR of confidences. */
static void
solve_side(double *t, int nt, const double *s, int ns, int f, double lambda,
		   const int64 *ptr, const int32 *idx, const double *conf, double *sts, double *a,
		   double *g)
{
	riq_syrk_ata(f, ns, 1.0, s, f, 0.0, sts);
	for (int r = 0; r < nt; r++)
	{
		double	   *x = t + (Size) r * f;
		int64		cnt = ptr[r + 1] - ptr[r];

		CHECK_FOR_INTERRUPTS();
		memset(x, 0, sizeof(double) * f);
		if (cnt == 0)
			continue;
		memcpy(a, sts, sizeof(double) * f * f);
		for (int j = 0; j < f; j++)
			a[j * f + j] += lambda;
		for (int64 e = ptr[r]; e < ptr[r + 1]; e++)
		{
			const double *sj = s + (Size) idx[e] * f;
			double		c = conf[e];
			double		sc = sqrt(c - 1.0);
			double	   *gr = g + (Size) (e - ptr[r]) * f;

			for (int j = 0; j < f; j++)
			{
				gr[j] = sc * sj[j];
				x[j] += c * sj[j];
			}
		}
		riq_syrk_ata(f, (int) cnt, 1.0, g, f, 1.0, a);
		if (!riq_posv(f, 1, a, x))
			memset(x, 0, sizeof(double) * f);
	}
}

void
rec_als_fit(const RecData *d, RecAls *als)
{
	int			f = als->factors;
	int			nu = d->nu,
				ni = d->ni;
	double	   *w = palloc(sizeof(double) * Max(d->nnz, 1));
	double	   *uconf = palloc(sizeof(double) * Max(d->nnz, 1));
	int64	   *iptr = palloc0(sizeof(int64) * (ni + 1));
	int32	   *iidx = palloc(sizeof(int32) * Max(d->nnz, 1));
	double	   *iconf = palloc(sizeof(double) * Max(d->nnz, 1));
	int64	   *fill = palloc(sizeof(int64) * (ni + 1));
	int64		maxcnt = 1;
	double	   *sts = palloc(sizeof(double) * f * f);
	double	   *a = palloc(sizeof(double) * f * f);
	double	   *g;
	RiqRng		rng;

	als->x = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) nu * f, sizeof(double), "recommender_fit"), "recommender_fit");
	als->y = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) ni * f, sizeof(double), "recommender_fit"), "recommender_fit");

	rec_entry_weights(d, als->half_life, w);
	for (int64 e = 0; e < d->nnz; e++)
	{
		uconf[e] = 1.0 + als->alpha * w[e];
		iptr[d->item[e] + 1]++;
	}
	for (int i = 0; i < ni; i++)
	{
		maxcnt = Max(maxcnt, iptr[i + 1]);
		iptr[i + 1] += iptr[i];
	}
	for (int u = 0; u < nu; u++)
		maxcnt = Max(maxcnt, d->uptr[u + 1] - d->uptr[u]);
	memcpy(fill, iptr, sizeof(int64) * (ni + 1));
	/* the transpose: customers in ascending order within each product */
	for (int u = 0; u < nu; u++)
		for (int64 e = d->uptr[u]; e < d->uptr[u + 1]; e++)
		{
			int64		p = fill[d->item[e]]++;

			iidx[p] = u;
			iconf[p] = uconf[e];
		}
	g = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) maxcnt * f, sizeof(double), "recommender_fit"), "recommender_fit");

	riq_rng_seed(&rng, (uint64) als->seed, 25);
	for (Size k = 0; k < (Size) ni * f; k++)
		als->y[k] = 0.1 * riq_rng_normal(&rng);
	for (int it = 0; it < als->iterations; it++)
	{
		solve_side(als->x, nu, als->y, ni, f, als->lambda, d->uptr, d->item, uconf, sts, a, g);
		solve_side(als->y, ni, als->x, nu, f, als->lambda, iptr, iidx, iconf, sts, a, g);
	}
	pfree(w);
	pfree(uconf);
	pfree(iptr);
	pfree(iidx);
	pfree(iconf);
	pfree(fill);
	pfree(sts);
	pfree(a);
	pfree(g);
}
