/*
 * kmeans.h: the k-means engine of the segment part, over a contiguous row-major matrix.
 *
 * kmeans_fit runs greedy k-means++ seeding (as scikit-learn does) and Lloyd iterations whose
 * distances come from riq_gemm, n_init times, and keeps the run with the lowest inertia.
 * The caller owns the data's canonical order (core/rowstore.h), scaling and centring
 * (see kmeans_segment_agg.c):
 * given the same matrix and seed, the result is the same bit for bit.
 */
#ifndef RETAILIQ_SEGMENT_KMEANS_H
#define RETAILIQ_SEGMENT_KMEANS_H

#include "postgres.h"

typedef struct KmeansFit
{
	int			k;
	int			d;
	double	   *centers;		/* k x d, in the space of the matrix given */
	int64	   *sizes;			/* k */
	double		inertia;		/* sum of squared distances to the nearest center */
	int			n_iter;			/* Lloyd iterations of the kept run */
	bool		converged;		/* stopped by labels or tol, not by max_iter */
	int			best_init;		/* 0-based restart that was kept */
} KmeansFit;

/*
 * x: n x d; tol_abs: stop when the summed squared center shift is <= tol_abs.
 * Work buffers are allocated in budget_cxt after checking retailiq.max_memory.
 */
extern void kmeans_fit(const double *x, int64 n, int d, int k, uint64 seed, int n_init,
					   int max_iter, double tol_abs, MemoryContext budget_cxt, KmeansFit *out);

/* nearest center (0-based) and its squared distance, exactly, for one point */
extern int	kmeans_nearest(const double *x, const double *centers, int k, int d, double *dist2);

#endif
