/*
 * recommend_als.c: implicit-feedback matrix factorisation by alternating least squares
 * (Hu, Koren & Volinsky 2008, "Collaborative Filtering for Implicit Feedback Datasets").
 *
 * Every (customer, product) pair has preference 1 if bought and 0 otherwise, with confidence
 * c = 1 + alpha * r, r the recency-weighted number of baskets that held the product, or with
 * confidence "bm25" c = 1 + alpha * bm25(r) (below). Each
 * half-step solves, for every customer (then every product), the weighted ridge regression
 *   (Y'Y + Y'(C_u - I)Y + lambda I) x_u = Y' C_u p_u
 * with the paper's trick: Y'Y is computed once per half-step (on OpenBLAS) and only the bought
 * products add to it; the system is solved by warm-started conjugate gradient (below).
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

#define CG_STEPS 3

/*
 * BM25 weighting of the entries (Robertson's BM25 as the `implicit` library applies it to a
 * product x customer matrix, K1 = 100, B = 0.8): r (K1 + 1) / (K1 ((1 - B) + B len_i / avg len)
 * + r) x idf_u, with len_i a product's summed r, idf_u = log(products) - log(1 + the customer's
 * products), at least 0. A product bought often weighs less per purchase, and so does a
 * customer who buys everything: confidence goes to the purchases that say most about a taste.
 */
#define BM25_K1 100.0
#define BM25_B 0.8

static void
bm25_weights(const RecData *d, double *w)
{
	double	   *len = palloc0(sizeof(double) * Max(d->ni, 1)),
				avg = 0;
	int			used = 0;

	for (int64 e = 0; e < d->nnz; e++)
		len[d->item[e]] += w[e];
	for (int i = 0; i < d->ni; i++)
		if (len[i] > 0)
		{
			avg += len[i];
			used++;
		}
	avg = used > 0 ? avg / used : 1;
	for (int u = 0; u < d->nu; u++)
	{
		double		idf = fmax(0, log((double) d->ni) - log1p((double) (d->uptr[u + 1] - d->uptr[u])));

		for (int64 e = d->uptr[u]; e < d->uptr[u + 1]; e++)
		{
			double		norm = (1 - BM25_B) + BM25_B * len[d->item[e]] / avg;

			w[e] = w[e] * (BM25_K1 + 1) / (BM25_K1 * norm + w[e]) * idf;
		}
	}
	pfree(len);
}

/*
 * Update every row of `t` (nt x f) from the fixed `s` (ns x f) over a CSR of confidences: a few
 * conjugate-gradient steps on each row's normal equations, warm-started from the row's current
 * value (Takacs, Pilaszy & Tikk 2011), which costs O(f^2 + nnz f) a row instead of the O(f^3 +
 * nnz f^2) of a Cholesky solve and converges to the same least-squares solution.
 */
static void
solve_side(double *t, int nt, const double *s, int ns, int f, double lambda,
		   const int64 *ptr, const int32 *idx, const double *conf, double *sts, double *work)
{
	double	   *r = work,
			   *p = work + f,
			   *ap = work + 2 * f;

	riq_syrk_ata(f, ns, 1.0, s, f, 0.0, sts);
	for (int row = 0; row < nt; row++)
	{
		double	   *x = t + (Size) row * f;
		double		rsold;

		if ((row & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		if (ptr[row + 1] == ptr[row])
		{
			memset(x, 0, sizeof(double) * f);
			continue;
		}
		/* r = b - A x, with b = sum c s_j and A = S'S + lambda I + sum (c - 1) s_j s_j' */
		riq_gemv(false, f, f, -1.0, sts, f, x, 0.0, r);
		riq_axpy(f, -lambda, x, r);
		for (int64 e = ptr[row]; e < ptr[row + 1]; e++)
		{
			const double *sj = s + (Size) idx[e] * f;
			double		c = conf[e];

			riq_axpy(f, c - (c - 1.0) * riq_dot(f, sj, x), sj, r);
		}
		memcpy(p, r, sizeof(double) * f);
		rsold = riq_dot(f, r, r);
		for (int step = 0; step < CG_STEPS && rsold > 1e-20; step++)
		{
			double		pap,
						a,
						rsnew;

			riq_gemv(false, f, f, 1.0, sts, f, p, 0.0, ap);
			riq_axpy(f, lambda, p, ap);
			for (int64 e = ptr[row]; e < ptr[row + 1]; e++)
			{
				const double *sj = s + (Size) idx[e] * f;

				riq_axpy(f, (conf[e] - 1.0) * riq_dot(f, sj, p), sj, ap);
			}
			pap = riq_dot(f, p, ap);
			if (!(pap > 0))
				break;
			a = rsold / pap;
			riq_axpy(f, a, p, x);
			riq_axpy(f, -a, ap, r);
			rsnew = riq_dot(f, r, r);
			for (int j = 0; j < f; j++)
				p[j] = r[j] + (rsnew / rsold) * p[j];
			rsold = rsnew;
		}
	}
}

void
rec_als_fit(const RecData *d, RecAls *als)
{
	int			f = als->factors;
	int			nu = d->nu,
				ni = d->ni;
	double	   *w = REC_ALLOC(d->nnz, double);
	double	   *uconf = REC_ALLOC(d->nnz, double);
	int64	   *iptr = palloc0(sizeof(int64) * (ni + 1));
	int32	   *iidx = REC_ALLOC(d->nnz, int32);
	double	   *iconf = REC_ALLOC(d->nnz, double);
	int64	   *fill = palloc(sizeof(int64) * (ni + 1));
	double	   *sts = palloc(sizeof(double) * f * f);
	double	   *work = palloc(sizeof(double) * 3 * f);
	RiqRng		rng;

	als->x = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) nu * f, sizeof(double), "recommender_fit"), "recommender_fit");
	als->y = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) ni * f, sizeof(double), "recommender_fit"), "recommender_fit");

	rec_entry_weights(d, als->half_life, w);
	if (als->confidence == REC_CONF_BM25)
		bm25_weights(d, w);
	for (int64 e = 0; e < d->nnz; e++)
	{
		uconf[e] = 1.0 + als->alpha * w[e];
		iptr[d->item[e] + 1]++;
	}
	for (int i = 0; i < ni; i++)
		iptr[i + 1] += iptr[i];
	memcpy(fill, iptr, sizeof(int64) * (ni + 1));
	/* the transpose: customers in ascending order within each product */
	for (int u = 0; u < nu; u++)
		for (int64 e = d->uptr[u]; e < d->uptr[u + 1]; e++)
		{
			int64		p = fill[d->item[e]]++;

			iidx[p] = u;
			iconf[p] = uconf[e];
		}

	memset(als->x, 0, sizeof(double) * (Size) nu * f);
	riq_rng_seed(&rng, (uint64) als->seed, 25);
	for (Size k = 0; k < (Size) ni * f; k++)
		als->y[k] = 0.1 * riq_rng_normal(&rng);
	for (int it = 0; it < als->iterations; it++)
	{
		solve_side(als->x, nu, als->y, ni, f, als->lambda, d->uptr, d->item, uconf, sts, work);
		solve_side(als->y, ni, als->x, nu, f, als->lambda, iptr, iidx, iconf, sts, work);
	}
	pfree(w);
	pfree(uconf);
	pfree(iptr);
	pfree(iidx);
	pfree(iconf);
	pfree(fill);
	pfree(sts);
	pfree(work);
}
