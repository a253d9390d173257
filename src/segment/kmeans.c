/*
 * kmeans.c: k-means++ seeding and Lloyd iterations over an in-memory matrix.
 *
 * The algorithm follows scikit-learn's KMeans (algorithm="lloyd") step for step, so that
 * its inertia can be compared like for like: greedy k-means++ with 2 + floor(ln k) local
 * trials per center, Lloyd iterations that stop when no label changes or when the summed
 * squared center shift falls to tol, a last assignment step when stopped by tol, empty
 * clusters refilled with the points farthest from their centers, and the best of n_init
 * runs by inertia. Point-to-center distances come from one GEMM per block of rows
 * (||x||^2 - 2 x.c + ||c||^2, of which the argmin needs only the last two terms). On a CPU
 * with AVX2 and FMA, kernels of our own form the same sums without the GEMM's buffers: the
 * dot products and nearest centers of four rows at a time in registers when k <= 8, and
 * k-means++'s candidate potentials in one pass when there are at most 4 candidates (k < 21).
 *
 * Everything is sequential over the rows in their given order and the RNG is seeded per
 * restart, so the same matrix and seed always give the same centers bit for bit.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KM_X86_SIMD 1
#endif

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "core/blas.h"
#include "core/memory.h"
#include "core/rng.h"
#include "segment/kmeans.h"

/*
 * Rows per GEMM block: as many as keep the block's dot products (rows x k) within about
 * 256 kB, so that they are still in cache when the argmin reads them.
 */
#define KM_BLOCK_MAX 4096
#define KM_BLOCK_MIN 256
#define KM_BLOCK_DOUBLES 32768
/* rows per chunk of lloyd_assign_bounded */
#define KM_CHUNK 32

typedef struct KmWork
{
	const double *x;
	int64		n;
	int			d;
	int			k;
	int		   *labels;			/* n */
	double	   *closest;		/* n: k-means++ distance to the nearest chosen center */
	double	   *cumsum;			/* n */
	double	   *xnorm;			/* n: squared norms of the rows */
	int			block;			/* rows per GEMM block */
	double	   *gbuf;			/* block x max(k, trials) */
	double	   *cnorm;			/* max(k, trials) */
	double	   *ct;				/* d x kp: the centers transposed, zero-padded (SIMD path) */
	int			kp;				/* k rounded up to a multiple of 4 */
	bool		simd;			/* the AVX2/FMA dot products (km_dots_simd) */
	double	   *ct8;			/* d x 8: the centers transposed for km_nearest8_simd (k <= 8) */
	double	   *cn8;			/* 8: their squared norms, +infinity in the padding */
	/*
	 * The Lloyd steps' skipping of settled rows (k <= 8, SIMD path; lloyd_assign_bounded):
	 * row i keeps its label while thr[i] > moved, thr reusing closest, which only k-means++
	 * needs.
	 */
	double	   *thr;			/* n (= closest) */
	bool		bounds_valid;	/* thr holds for this restart's centers */
	double		moved;			/* twice the largest drift, summed over this restart's steps */
	double		allowance;		/* for rounding, as a distance (kmeans_fit) */
	double	   *drift;			/* k: how far each center moved in the last step */
	int		   *todo;			/* block: the rows to compute */
	double	   *cand;			/* trials x d */
	double	   *pots;			/* trials */
	int64	   *cand_ids;		/* trials */
} KmWork;

static inline double
sqdist(const double *a, const double *b, int d)
{
	double		s = 0.0;

	for (int t = 0; t < d; t++)
	{
		double		diff = a[t] - b[t];

		s += diff * diff;
	}
	return s;
}

int
kmeans_nearest(const double *x, const double *centers, int k, int d, double *dist2)
{
	int			best = 0;
	double		bestd = sqdist(x, centers, d);

	for (int j = 1; j < k; j++)
	{
		double		dj = sqdist(x, centers + (Size) j * d, d);

		if (dj < bestd)
		{
			bestd = dj;
			best = j;
		}
	}
	if (dist2)
		*dist2 = bestd;
	return best;
}

/*
 * The Lloyd step's dot products of a block of m rows with the k centers, g (m x k) = x c^T,
 * each one the fused multiply-add chain over the features in order,
 * g = fma(x[d-1], c[d-1], ... fma(x[1], c[1], fma(x[0], c[0], 0))): the sum OpenBLAS's
 * x86-64 GEMM kernels form for k and d this small, without their packing of the rows (half
 * of the GEMM's time here). The SIMD path computes four rows by four centers at a time on
 * the transposed centers; fma() is correctly rounded, so the result is the same on any CPU.
 */
#ifdef KM_X86_SIMD
__attribute__((target("avx2,fma")))
static void
km_dots_simd(const double *x, int m, int d, const double *ct, int k, int kp, double *g)
{
	int			i = 0;
	double		tmp[16];

	for (; i + 4 <= m; i += 4)
	{
		const double *x0 = x + (Size) i * d;

		for (int jc = 0; jc < kp; jc += 4)
		{
			__m256d		a0 = _mm256_setzero_pd(),
						a1 = _mm256_setzero_pd(),
						a2 = _mm256_setzero_pd(),
						a3 = _mm256_setzero_pd();
			int			w = Min(4, k - jc);

			for (int t = 0; t < d; t++)
			{
				__m256d		c = _mm256_loadu_pd(ct + (Size) t * kp + jc);

				a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + t), c, a0);
				a1 = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + d + t), c, a1);
				a2 = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + 2 * d + t), c, a2);
				a3 = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + 3 * d + t), c, a3);
			}
			_mm256_storeu_pd(tmp, a0);
			_mm256_storeu_pd(tmp + 4, a1);
			_mm256_storeu_pd(tmp + 8, a2);
			_mm256_storeu_pd(tmp + 12, a3);
			for (int r = 0; r < 4; r++)
				for (int q = 0; q < w; q++)
					g[(Size) (i + r) * k + jc + q] = tmp[r * 4 + q];
		}
	}
	for (; i < m; i++)
	{
		const double *x0 = x + (Size) i * d;

		for (int jc = 0; jc < kp; jc += 4)
		{
			__m256d		a0 = _mm256_setzero_pd();
			int			w = Min(4, k - jc);

			for (int t = 0; t < d; t++)
				a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + t),
									 _mm256_loadu_pd(ct + (Size) t * kp + jc), a0);
			_mm256_storeu_pd(tmp, a0);
			for (int q = 0; q < w; q++)
				g[(Size) i * k + jc + q] = tmp[q];
		}
	}
}

/*
 * The nearest center of some rows of a block when k <= 8, in registers: rows lists them
 * (offsets into x, ascending). Four rows at a time, one row per lane: their features are
 * transposed into lanes (four by four) and each center's values broadcast, so that a row's
 * dot product with center j is the fused multiply-add chain km_dots_simd forms,
 * fma(x[d-1], c[d-1], ... fma(x[0], c[0], 0)), whatever rows share its register. Its nearest
 * center is the first minimum of ||c||^2 - 2 x.c, found lane by lane with the scalar loop's
 * comparisons (v < best, center after center, so a NaN is never taken unless center 0's
 * value is one), as lloyd_step's scalar loop picks it; with no horizontal step, the search
 * costs a few vector operations per center for four rows. ct8 is d x 8, the centers
 * transposed and zero-padded; cn8 holds ||c||^2 for the k centers and +infinity in the
 * padding, which is then never the minimum. Besides the label, each row gets its threshold
 * for lloyd_assign_bounded: the distance to its second nearest center (the smallest value but
 * the first minimum: a tie gives a margin of 0) less the distance to its nearest, both from
 * the same sums, less the rounding allowance, plus moved; a row with a NaN among its values
 * gets the threshold of NaN distances. Returns the changed labels.
 */
/* a0..a7 += the four rows' feature xv (lanes) times each center's value (c[0..7]) */
#define KM_FMA8(xv, c) \
	do { \
		__m256d		xv_ = (xv); \
		a0 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 0), a0); \
		a1 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 1), a1); \
		a2 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 2), a2); \
		a3 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 3), a3); \
		a4 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 4), a4); \
		a5 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 5), a5); \
		a6 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 6), a6); \
		a7 = _mm256_fmadd_pd(xv_, _mm256_broadcast_sd((c) + 7), a7); \
	} while (0)
/* center j's value v = ||c_j||^2 - 2 x.c_j against the best so far, lane by lane */
#define KM_MIN_STEP(aj, j) \
	do { \
		__m256d		v_ = _mm256_sub_pd(_mm256_broadcast_sd(cn8 + (j)), _mm256_add_pd((aj), (aj))); \
		__m256d		lt_ = _mm256_cmp_pd(v_, best, _CMP_LT_OQ); \
		bad = _mm256_or_pd(bad, _mm256_cmp_pd(v_, v_, _CMP_UNORD_Q)); \
		second = _mm256_blendv_pd(_mm256_min_pd(v_, second), best, lt_); \
		best = _mm256_blendv_pd(best, v_, lt_); \
		label = _mm256_blendv_pd(label, _mm256_set1_pd((double) (j)), lt_); \
	} while (0)

__attribute__((target("avx2,fma")))
static int64
km_nearest8_simd(const double *x, const int *rows, int nrows, int d, const double *ct8,
				 const double *cn8, const double *xnorm, double allowance,
				 double moved, int *labels, double *thr)
{
	const __m256d inf = _mm256_set1_pd(get_float8_infinity());
	const __m256d nan = _mm256_set1_pd(get_float8_nan());
	const __m256d zero = _mm256_setzero_pd();
	int64		changed = 0;

	for (int g = 0; g < nrows; g += 4)
	{
		int			cnt = Min(4, nrows - g);
		int			idx[4];
		const double *xr[4];
		__m256d		a0,
					a1,
					a2,
					a3,
					a4,
					a5,
					a6,
					a7;
		__m256d		best,
					second,
					label,
					bad,
					xn,
					near4,
					far4;
		int			t = 0;
		int			lab[4];
		double		t4[4];

		for (int r = 0; r < 4; r++)
		{
			idx[r] = rows[g + Min(r, cnt - 1)];
			xr[r] = x + (Size) idx[r] * d;
		}
		a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero;
		for (; t + 4 <= d; t += 4)
		{
			__m256d		r0 = _mm256_loadu_pd(xr[0] + t),
						r1 = _mm256_loadu_pd(xr[1] + t),
						r2 = _mm256_loadu_pd(xr[2] + t),
						r3 = _mm256_loadu_pd(xr[3] + t);
			__m256d		u0 = _mm256_unpacklo_pd(r0, r1),
						u1 = _mm256_unpackhi_pd(r0, r1),
						u2 = _mm256_unpacklo_pd(r2, r3),
						u3 = _mm256_unpackhi_pd(r2, r3);

			/* features t, t + 1, t + 2, t + 3 of the four rows, in that order */
			KM_FMA8(_mm256_permute2f128_pd(u0, u2, 0x20), ct8 + (Size) t * 8);
			KM_FMA8(_mm256_permute2f128_pd(u1, u3, 0x20), ct8 + (Size) (t + 1) * 8);
			KM_FMA8(_mm256_permute2f128_pd(u0, u2, 0x31), ct8 + (Size) (t + 2) * 8);
			KM_FMA8(_mm256_permute2f128_pd(u1, u3, 0x31), ct8 + (Size) (t + 3) * 8);
		}
		for (; t < d; t++)
			KM_FMA8(_mm256_set_pd(xr[3][t], xr[2][t], xr[1][t], xr[0][t]), ct8 + (Size) t * 8);
		/* ||c||^2 - 2 x.c (2 x.c = x.c + x.c exactly), its first minimum and the runner-up */
		best = _mm256_sub_pd(_mm256_broadcast_sd(cn8), _mm256_add_pd(a0, a0));
		bad = _mm256_cmp_pd(best, best, _CMP_UNORD_Q);
		second = inf;
		label = zero;
		KM_MIN_STEP(a1, 1);
		KM_MIN_STEP(a2, 2);
		KM_MIN_STEP(a3, 3);
		KM_MIN_STEP(a4, 4);
		KM_MIN_STEP(a5, 5);
		KM_MIN_STEP(a6, 6);
		KM_MIN_STEP(a7, 7);
		/* the thresholds: far - near - allowance + moved, NaN distances for a row with a NaN */
		best = _mm256_blendv_pd(best, nan, bad);
		second = _mm256_blendv_pd(second, nan, bad);
		xn = _mm256_set_pd(xnorm[idx[3]], xnorm[idx[2]], xnorm[idx[1]], xnorm[idx[0]]);
		near4 = _mm256_sqrt_pd(_mm256_max_pd(_mm256_add_pd(xn, best), zero));
		far4 = _mm256_sqrt_pd(_mm256_max_pd(_mm256_add_pd(xn, second), zero));
		_mm256_storeu_pd(t4, _mm256_add_pd(_mm256_sub_pd(_mm256_sub_pd(far4, near4),
														 _mm256_set1_pd(allowance)),
										   _mm256_set1_pd(moved)));
		_mm_storeu_si128((__m128i *) lab, _mm256_cvtpd_epi32(label));
		for (int r = 0; r < cnt; r++)
		{
			int			i = idx[r];

			thr[i] = t4[r];
			if (labels[i] != lab[r])
			{
				changed++;
				labels[i] = lab[r];
			}
		}
	}
	return changed;
}

/*
 * The counts and sums of a block of m labelled rows, in row order, element by element: the
 * additions of the scalar loop of lloyd_step bit for bit, four features at a time. (Keeping
 * the sum of a run of rows with the same center in registers costs a mispredicted branch
 * whenever the center changes: with the rows in canonical order, every other row or so.)
 */
__attribute__((target("avx2,fma")))
static void
km_sums_simd(const double *x, int m, int d, const int *labels, double *sums, int64 *counts)
{
	for (int i = 0; i < m; i++)
	{
		int			best = labels[i];
		const double *xi = x + (Size) i * d;
		double	   *sj;
		int			t = 0;

		counts[best]++;
		if (sums == NULL)
			continue;
		sj = sums + (Size) best * d;
		for (; t + 4 <= d; t += 4)
			_mm256_storeu_pd(sj + t, _mm256_add_pd(_mm256_loadu_pd(sj + t),
												   _mm256_loadu_pd(xi + t)));
		for (; t < d; t++)
			sj[t] += xi[t];
	}
}

/*
 * k-means++'s potentials of up to 4 candidates over a block of m rows, in registers: each
 * row's dot products with the candidates as km_dots_simd forms them (the sum riq_gemm forms),
 * its squared distances xn - 2 x.c + ||c||^2 (negative ones taken as 0), and their minimum
 * with the row's distance to the chosen centers added to each candidate's potential, row
 * after row in order: the scalar loop of kmeans_plusplus, bit for bit. ct4 is d x 4 (the
 * candidates transposed, zero-padded), cn4 their squared norms; pots4 holds 4 sums.
 */
__attribute__((target("avx2,fma")))
static void
km_pots4_simd(const double *x, const double *xnorm, const double *closest, int m, int d,
			  const double *ct4, const double *cn4, double *pots4)
{
	const __m256d cn = _mm256_loadu_pd(cn4);
	const __m256d zero = _mm256_setzero_pd();
	__m256d		pot = _mm256_loadu_pd(pots4);
	int			i = 0;

	while (i < m)
	{
		__m256d		acc[4];
		int			rows = Min(4, m - i);
		const double *x0 = x + (Size) i * d;

		for (int r = 0; r < 4; r++)
			acc[r] = _mm256_setzero_pd();
		if (rows == 4)
		{
			for (int t = 0; t < d; t++)
			{
				__m256d		c = _mm256_loadu_pd(ct4 + (Size) t * 4);

				acc[0] = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + t), c, acc[0]);
				acc[1] = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + d + t), c, acc[1]);
				acc[2] = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + 2 * d + t), c, acc[2]);
				acc[3] = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + 3 * d + t), c, acc[3]);
			}
		}
		else
		{
			for (int r = 0; r < rows; r++)
				for (int t = 0; t < d; t++)
					acc[r] = _mm256_fmadd_pd(_mm256_broadcast_sd(x0 + (Size) r * d + t),
											 _mm256_loadu_pd(ct4 + (Size) t * 4), acc[r]);
		}
		for (int r = 0; r < rows; r++)
		{
			/* (xn - 2 g) + cn, as the scalar expression groups it; 2 g = g + g exactly */
			__m256d		dd = _mm256_add_pd(_mm256_sub_pd(_mm256_broadcast_sd(xnorm + i + r),
														 _mm256_add_pd(acc[r], acc[r])),
										   cn);

			dd = _mm256_blendv_pd(dd, zero, _mm256_cmp_pd(dd, zero, _CMP_LT_OQ));
			/* Min(cl, dd) is cl < dd ? cl : dd, which is what minpd computes */
			pot = _mm256_add_pd(pot, _mm256_min_pd(_mm256_broadcast_sd(closest + i + r), dd));
		}
		i += rows;
	}
	_mm256_storeu_pd(pots4, pot);
}

/*
 * sqdist of m rows, four at a time: out[i] = sqdist(x_i, c_i) with c_i the center
 * labels[i] (or c itself when labels is NULL), summed in the same order with the same
 * roundings as sqdist (the squares of four features of four rows are transposed so that
 * each lane adds its row's squares one feature after the other). The empty asm keeps the
 * compiler from fusing a square into its addition, which sqdist does not do.
 */
#define KM_NO_FMA(v) __asm__("" : "+x"(v))

__attribute__((target("avx2,fma")))
static void
km_sqdist_simd(const double *x, int m, int d, const double *c, const int *labels,
			   double *out)
{
	int			i = 0;

	for (; i + 4 <= m; i += 4)
	{
		const double *xr[4];
		const double *cr[4];
		__m256d		s = _mm256_setzero_pd();
		double		tail[4];
		int			t = 0;

		for (int r = 0; r < 4; r++)
		{
			xr[r] = x + (Size) (i + r) * d;
			cr[r] = labels ? c + (Size) labels[i + r] * d : c;
		}
		for (; t + 4 <= d; t += 4)
		{
			__m256d		q[4];
			__m256d		u0,
						u1,
						u2,
						u3;

			for (int r = 0; r < 4; r++)
			{
				__m256d		diff = _mm256_sub_pd(_mm256_loadu_pd(xr[r] + t),
												 _mm256_loadu_pd(cr[r] + t));

				q[r] = _mm256_mul_pd(diff, diff);
				KM_NO_FMA(q[r]);
			}
			u0 = _mm256_unpacklo_pd(q[0], q[1]);
			u1 = _mm256_unpackhi_pd(q[0], q[1]);
			u2 = _mm256_unpacklo_pd(q[2], q[3]);
			u3 = _mm256_unpackhi_pd(q[2], q[3]);
			s = _mm256_add_pd(s, _mm256_permute2f128_pd(u0, u2, 0x20));
			s = _mm256_add_pd(s, _mm256_permute2f128_pd(u1, u3, 0x20));
			s = _mm256_add_pd(s, _mm256_permute2f128_pd(u0, u2, 0x31));
			s = _mm256_add_pd(s, _mm256_permute2f128_pd(u1, u3, 0x31));
		}
		_mm256_storeu_pd(tail, s);
		for (int r = 0; r < 4; r++)
		{
			double		acc = tail[r];

			for (int u = t; u < d; u++)
			{
				double		diff = xr[r][u] - cr[r][u];
				double		sq = diff * diff;

				KM_NO_FMA(sq);
				acc += sq;
			}
			out[i + r] = acc;
		}
	}
	for (; i < m; i++)
	{
		const double *xi = x + (Size) i * d;
		const double *ci = labels ? c + (Size) labels[i] * d : c;
		double		acc = 0.0;

		for (int u = 0; u < d; u++)
		{
			double		diff = xi[u] - ci[u];
			double		sq = diff * diff;

			KM_NO_FMA(sq);
			acc += sq;
		}
		out[i] = acc;
	}
}

/* whether this CPU runs km_dots_simd (AVX2 and FMA, with the OS saving their registers) */
static bool
km_simd_available(void)
{
	static int	avail = -1;

	if (avail < 0)
		avail = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
	return avail == 1;
}
#endif

/* out[r] = sqdist of row i0 + r (r < m) to c, or to its labelled center when labels given */
static void
km_sqdist_block(const KmWork *w, int64 i0, int m, const double *c, const int *labels,
				double *out)
{
	const double *x = w->x + i0 * w->d;

#ifdef KM_X86_SIMD
	if (w->simd)
	{
		km_sqdist_simd(x, m, w->d, c, labels ? labels + i0 : NULL, out);
		return;
	}
#endif
	for (int r = 0; r < m; r++)
		out[r] = sqdist(x + (Size) r * w->d, labels ? c + (Size) labels[i0 + r] * w->d : c, w->d);
}

/*
 * Greedy k-means++ (Arthur & Vassilvitskii 2007, as in scikit-learn's _kmeans_plusplus):
 * the first center uniformly at random; each next one the best, by resulting potential,
 * of `trials` candidates drawn with probability proportional to D(x)^2.
 */
static void
kmeans_plusplus(KmWork *w, RiqRng *rng, double *centers)
{
	const double *x = w->x;
	int64		n = w->n;
	int			d = w->d;
	int			k = w->k;
	int			trials = 2 + (int) floor(log((double) k));
	int64		first = (int64) riq_rng_below(rng, (uint64) n);
	double		pot = 0.0;

	/*
	 * The cumulative sums of D(x)^2 that the draws search are formed in the same pass as
	 * D(x)^2 itself; the potential is their last.
	 */
	memcpy(centers, x + first * d, sizeof(double) * d);
	for (int64 i0 = 0; i0 < n; i0 += w->block)
	{
		int			m = (int) Min((int64) w->block, n - i0);

		CHECK_FOR_INTERRUPTS();
		km_sqdist_block(w, i0, m, centers, NULL, w->closest + i0);
		for (int r = 0; r < m; r++)
		{
			pot += w->closest[i0 + r];
			w->cumsum[i0 + r] = pot;
		}
	}

	for (int c = 1; c < k; c++)
	{
		int			best;

		CHECK_FOR_INTERRUPTS();
		for (int t = 0; t < trials; t++)
		{
			double		r = riq_rng_uniform(rng) * pot;
			int64		lo = 0,
						hi = n;

			/* first index whose cumulative sum is >= r (numpy searchsorted, side left) */
			while (lo < hi)
			{
				int64		mid = lo + (hi - lo) / 2;

				if (w->cumsum[mid] < r)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo > n - 1)
				lo = n - 1;
			w->cand_ids[t] = lo;
			memcpy(w->cand + (Size) t * d, x + lo * d, sizeof(double) * d);
			w->cnorm[t] = riq_dot(d, w->cand + (Size) t * d, w->cand + (Size) t * d);
			w->pots[t] = 0.0;
		}
		/* potential of each candidate: sum over points of min(D(x)^2, |x - cand|^2) */
#ifdef KM_X86_SIMD
		if (w->simd && trials <= 4)
		{
			double	   *ct4 = w->ct8;	/* d x 4 of the d x 8 buffer, free here */
			double		cn4[4];
			double		pots4[4] = {0.0, 0.0, 0.0, 0.0};

			memset(ct4, 0, sizeof(double) * 4 * d);
			for (int t = 0; t < 4; t++)
				cn4[t] = t < trials ? w->cnorm[t] : 0.0;
			for (int t = 0; t < trials; t++)
				for (int q = 0; q < d; q++)
					ct4[q * 4 + t] = w->cand[(Size) t * d + q];
			for (int64 i0 = 0; i0 < n; i0 += w->block)
			{
				int			m = (int) Min((int64) w->block, n - i0);

				CHECK_FOR_INTERRUPTS();
				km_pots4_simd(x + i0 * d, w->xnorm + i0, w->closest + i0, m, d, ct4, cn4, pots4);
			}
			for (int t = 0; t < trials; t++)
				w->pots[t] = pots4[t];
		}
		else
#endif
		for (int64 i0 = 0; i0 < n; i0 += w->block)
		{
			int			m = (int) Min((int64) w->block, n - i0);

			CHECK_FOR_INTERRUPTS();
			riq_gemm(false, true, m, trials, d, 1.0, x + i0 * d, d, w->cand, d, 0.0,
					 w->gbuf, trials);
			for (int r = 0; r < m; r++)
			{
				const double *g = w->gbuf + (Size) r * trials;
				double		cl = w->closest[i0 + r];
				double		xn = w->xnorm[i0 + r];

				for (int t = 0; t < trials; t++)
				{
					double		dd = xn - 2.0 * g[t] + w->cnorm[t];

					if (dd < 0.0)
						dd = 0.0;
					w->pots[t] += Min(cl, dd);
				}
			}
		}
		best = 0;
		for (int t = 1; t < trials; t++)
			if (w->pots[t] < w->pots[best])
				best = t;
		memcpy(centers + (Size) c * d, w->cand + (Size) best * d, sizeof(double) * d);
		pot = 0.0;
		for (int64 i0 = 0; i0 < n; i0 += w->block)
		{
			int			m = (int) Min((int64) w->block, n - i0);

			CHECK_FOR_INTERRUPTS();
			km_sqdist_block(w, i0, m, centers + (Size) c * d, NULL, w->gbuf);
			for (int r = 0; r < m; r++)
			{
				int64		i = i0 + r;
				double		g = w->gbuf[r];

				/* the smaller (the old one on a tie or a NaN), without a branch */
				w->closest[i] = g < w->closest[i] ? g : w->closest[i];
				pot += w->closest[i];
				w->cumsum[i] = pot;
			}
		}
	}
}

/*
 * Empty clusters: as scikit-learn does, give each the point farthest from its own (old)
 * center, taking it out of that center's sum. Ties go to the lower row.
 */
static void
relocate_empty(const KmWork *w, const double *centers, double *new_centers, int64 *counts)
{
	const double *x = w->x;
	int64		n = w->n;
	int			d = w->d;
	int			k = w->k;
	int			n_empty = 0;

	for (int j = 0; j < k; j++)
		if (counts[j] == 0)
			n_empty++;
	if (n_empty > 0)
	{
		int64	   *taken = palloc(sizeof(int64) * n_empty);
		int			e = 0;

		for (int j = 0; j < k; j++)
		{
			int64		far = -1;
			double		fard = -1.0;

			if (counts[j] != 0)
				continue;
			for (int64 i = 0; i < n; i++)
			{
				double		dd;
				bool		used = false;

				if ((i & 0xFFFF) == 0)
					CHECK_FOR_INTERRUPTS();
				dd = sqdist(x + i * d, centers + (Size) w->labels[i] * d, d);
				if (dd <= fard)
					continue;
				for (int q = 0; q < e; q++)
					if (taken[q] == i)
						used = true;
				if (!used)
				{
					far = i;
					fard = dd;
				}
			}
			if (far < 0)
				break;		/* fewer points than clusters: cannot happen after checks */
			taken[e++] = far;
			{
				int			old = w->labels[far];
				const double *xf = x + far * d;

				for (int t = 0; t < d; t++)
				{
					new_centers[(Size) old * d + t] -= xf[t];
					new_centers[(Size) j * d + t] = xf[t];
				}
				counts[old]--;
				counts[j] = 1;
			}
		}
		pfree(taken);
	}
}

/* the squared distances of rows i0 .. i0 + m - 1 to their centers, added in row order */
static void
add_inertia(KmWork *w, int64 i0, int m, const double *centers, double *inertia)
{
	km_sqdist_block(w, i0, m, centers, w->labels, w->gbuf);
	for (int r = 0; r < m; r++)
		*inertia += w->gbuf[r];
}

#ifdef KM_X86_SIMD
/* for each 4-bit mask, the positions of its set bits, in order (km_todo_simd) */
static const int32 km_compact[16][4] = {
	{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0},
	{2, 0, 0, 0}, {0, 2, 0, 0}, {1, 2, 0, 0}, {0, 1, 2, 0},
	{3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0},
	{2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3}
};

/*
 * The rows of a block whose threshold is not above moved (or is NaN): their offsets into
 * todo, ascending; returns how many.
 */
__attribute__((target("avx2,fma")))
static int
km_todo_simd(const double *thr, int m, double moved, int *todo)
{
	const __m256d mv = _mm256_set1_pd(moved);
	int			nt = 0;
	int			r = 0;

	for (; r + 4 <= m; r += 4)
	{
		/* the lanes not kept, written out without a branch: 4 entries, nt advanced by their number */
		int			redo = 0xF & ~_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(thr + r), mv,
																   _CMP_GT_OQ));
		__m128i		idx = _mm_add_epi32(_mm_set1_epi32(r), _mm_loadu_si128((const __m128i *) km_compact[redo]));

		_mm_storeu_si128((__m128i *) (todo + nt), idx);
		nt += __builtin_popcount((unsigned int) redo);
	}
	for (; r < m; r++)
		if (!(thr[r] > moved))
			todo[nt++] = r;
	return nt;
}

/*
 * lloyd_step's labelling for k <= 8 on the SIMD path, which computes distances only for the
 * rows whose label may change (the counts and sums are then formed over all rows). When a
 * row's distances were last computed, its nearest center was nearer than any other by a
 * margin (the distance to the second nearest less the distance to the
 * nearest); since then no center has moved farther than the largest drift of each step, so
 * the row's distance to its center has grown, and to any other center shrunk, by at most
 * that sum each: while twice the sum of the largest drifts (moved) stays below the margin,
 * the row's nearest center is the same (Hamerly's bound with one global drift, so the test
 * is one comparison per row). The margin is taken less an allowance for the rounding of the
 * distances as km_nearest8_simd forms them (see kmeans_fit), so a row is kept only when
 * computing its distances would give it the same label: the same models bit for bit. The
 * sums are then formed in row order, as before. For k = 8 and d = 8 on the bench's data
 * about a third of the rows' distances are computed over a fit (all in a restart's first
 * step, most in its second, a few percent in the later ones).
 */
static int64
lloyd_assign_bounded(KmWork *w, const double *centers, double *new_centers, int64 *counts,
					 double *inertia)
{
	int			d = w->d;
	int64		changed = 0;
	double		maxdrift = 0.0;

	memset(w->ct8, 0, sizeof(double) * (Size) d * 8);
	for (int j = 0; j < 8; j++)
		w->cn8[j] = j < w->k ? w->cnorm[j] : get_float8_infinity();
	for (int j = 0; j < w->k; j++)
		for (int t = 0; t < d; t++)
			w->ct8[(Size) t * 8 + j] = centers[(Size) j * d + t];
	if (w->bounds_valid)
	{
		for (int j = 0; j < w->k; j++)
			maxdrift = Max(maxdrift, w->drift[j]);
		w->moved += 2.0 * maxdrift;
	}

	for (int64 i0 = 0; i0 < w->n; i0 += w->block)
	{
		int			m = (int) Min((int64) w->block, w->n - i0);

		CHECK_FOR_INTERRUPTS();
		/*
		 * In chunks of rows whose features are still in the L1 cache when the sums read
		 * them: the rows to compute are then read in the prefetcher's sequence too.
		 */
		for (int c0 = 0; c0 < m; c0 += KM_CHUNK)
		{
			int			mc = Min(KM_CHUNK, m - c0);
			int64		i = i0 + c0;
			int			nt;

			if (!w->bounds_valid)
			{
				for (int r = 0; r < mc; r++)
					w->todo[r] = r;
				nt = mc;
			}
			else
				nt = km_todo_simd(w->thr + i, mc, w->moved, w->todo);
			if (nt > 0)
				changed += km_nearest8_simd(w->x + i * d, w->todo, nt, d, w->ct8, w->cn8,
											w->xnorm + i, w->allowance, w->moved,
											w->labels + i, w->thr + i);
			km_sums_simd(w->x + i * d, mc, d, w->labels + i, new_centers, counts);
		}
		if (inertia)
			add_inertia(w, i0, m, centers, inertia);
	}
	w->bounds_valid = true;
	return changed;
}
#endif

/*
 * lloyd_step's labelling of every row (dot products per block, by km_dots_simd or a GEMM),
 * the counts and, when new_centers is given, the sums; returns how many labels changed.
 */
static int64
lloyd_assign(KmWork *w, const double *centers, double *new_centers, int64 *counts,
			 double *inertia)
{
	const double *x = w->x;
	int64		n = w->n;
	int			d = w->d;
	int			k = w->k;
	int64		changed = 0;

	if (w->simd)
	{
		memset(w->ct, 0, sizeof(double) * (Size) d * w->kp);
		for (int j = 0; j < k; j++)
			for (int t = 0; t < d; t++)
				w->ct[(Size) t * w->kp + j] = centers[(Size) j * d + t];
	}

	for (int64 i0 = 0; i0 < n; i0 += w->block)
	{
		int			m = (int) Min((int64) w->block, n - i0);

		CHECK_FOR_INTERRUPTS();
#ifdef KM_X86_SIMD
		if (w->simd)
			km_dots_simd(x + i0 * d, m, d, w->ct, k, w->kp, w->gbuf);
		else
#endif
			riq_gemm(false, true, m, k, d, 1.0, x + i0 * d, d, centers, d, 0.0, w->gbuf, k);
		for (int r = 0; r < m; r++)
		{
			const double *g = w->gbuf + (Size) r * k;
			int64		i = i0 + r;
			int			best = 0;
			double		bestv = w->cnorm[0] - 2.0 * g[0];

			for (int j = 1; j < k; j++)
			{
				double		v = w->cnorm[j] - 2.0 * g[j];

				if (v < bestv)
				{
					bestv = v;
					best = j;
				}
			}
			if (w->labels[i] != best)
			{
				changed++;
				w->labels[i] = best;
			}
			counts[best]++;
			if (new_centers)
			{
				double	   *s = new_centers + (Size) best * d;
				const double *xi = x + i * d;

				for (int t = 0; t < d; t++)
					s[t] += xi[t];
			}
		}
		if (inertia)
			add_inertia(w, i0, m, centers, inertia);
	}
	return changed;
}

/*
 * One Lloyd step: label every point with its nearest center and, when new_centers is given,
 * compute the means (empty clusters refilled first). Returns how many labels changed. With
 * inertia, the squared distances to the new labels' centers are added to it block by block,
 * while the block's rows are still in cache (the last assignment step, whose centers stay).
 */
static int64
lloyd_step(KmWork *w, const double *centers, double *new_centers, int64 *counts,
		   double *inertia)
{
	int			d = w->d;
	int			k = w->k;
	int64		changed;

	for (int j = 0; j < k; j++)
		w->cnorm[j] = riq_dot(d, centers + (Size) j * d, centers + (Size) j * d);
	if (new_centers)
		memset(new_centers, 0, sizeof(double) * k * d);
	memset(counts, 0, sizeof(int64) * k);
#ifdef KM_X86_SIMD
	if (w->simd && k <= 8)
		changed = lloyd_assign_bounded(w, centers, new_centers, counts, inertia);
	else
#endif
		changed = lloyd_assign(w, centers, new_centers, counts, inertia);
	if (new_centers == NULL)
		return changed;
	relocate_empty(w, centers, new_centers, counts);
	for (int j = 0; j < k; j++)
	{
		double	   *c = new_centers + (Size) j * d;

		if (counts[j] > 0)
		{
			for (int t = 0; t < d; t++)
				c[t] /= (double) counts[j];
		}
		else
			memcpy(c, centers + (Size) j * d, sizeof(double) * d);
	}
	return changed;
}

void
kmeans_fit(const double *x, int64 n, int d, int k, uint64 seed, int n_init,
		   int max_iter, double tol_abs, MemoryContext budget_cxt, KmeansFit *out)
{
	KmWork		w;
	int			trials = 2 + (int) floor(log((double) k));
	int			cols = Max(k, trials);
	Size		need;
	MemoryContext work_cxt,
				old;
	double	   *centers,
			   *new_centers,
			   *best_centers;
	int64	   *counts,
			   *best_counts;
	double		best_inertia = -1.0;
	double		xmax2;

	/* the per-row buffers: labels, closest, cumsum, xnorm */
	need = add_size(riq_mul_size((Size) n, 3 * sizeof(double) + sizeof(int), "k-means work space"),
					riq_mul_size((Size) KM_BLOCK_MAX * cols, sizeof(double), "k-means work space"));
	/* the transposed centers of the SIMD path */
	need = add_size(need, riq_mul_size((Size) d * ((k + 3) / 4 * 4 + 8), sizeof(double), "k-means work space"));
	riq_memory_check(budget_cxt, need, "kmeans_segment");

	work_cxt = AllocSetContextCreate(budget_cxt, "retailiq k-means", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work_cxt);

	w.x = x;
	w.n = n;
	w.d = d;
	w.k = k;
	/* the per-row buffers in one array, whose pages can then be huge ones */
	w.closest = MemoryContextAllocHuge(work_cxt, (3 * sizeof(double) + sizeof(int)) * (Size) n);
	riq_huge_pages(w.closest, (3 * sizeof(double) + sizeof(int)) * (Size) n);
	w.cumsum = w.closest + n;
	w.xnorm = w.cumsum + n;
	w.labels = (int *) (w.xnorm + n);
	w.block = Max(KM_BLOCK_MIN, Min(KM_BLOCK_MAX, KM_BLOCK_DOUBLES / cols));
	w.gbuf = palloc(sizeof(double) * (Size) w.block * cols);
	w.cnorm = palloc(sizeof(double) * cols);
	w.cand = palloc(sizeof(double) * trials * d);
	w.pots = palloc(sizeof(double) * trials);
	w.cand_ids = palloc(sizeof(int64) * trials);
	w.kp = (k + 3) / 4 * 4;
	w.ct = palloc(sizeof(double) * (Size) d * w.kp);
	w.thr = w.closest;
	w.drift = palloc(sizeof(double) * k);
	xmax2 = 0.0;
	w.todo = palloc(sizeof(int) * w.block);
	w.ct8 = palloc(sizeof(double) * (Size) d * 8);
	w.cn8 = palloc(sizeof(double) * 8);
#ifdef KM_X86_SIMD
	w.simd = km_simd_available();
#else
	w.simd = false;
#endif
	for (int64 i = 0; i < n; i++)
	{
		const double *xi = x + i * d;
		double		s = 0.0;

		for (int t = 0; t < d; t++)
			s += xi[t] * xi[t];
		w.xnorm[i] = s;
		/* a NaN here makes every threshold NaN: no row is then ever skipped */
		if (!(s <= xmax2))
			xmax2 = s;
	}
	/*
	 * The rounding allowance of lloyd_assign_bounded's margins, as a distance: 1024 ulps of
	 * 2 max ||x||^2 for each feature and each possible step. A center, a mean of rows, is no
	 * farther from the origin than the farthest row, so the squared distances that
	 * km_nearest8_simd forms are within 2 (d + 2) ulps of ||x||^2 + ||c||^2 <= 2 max ||x||^2;
	 * the allowance is more than 4 times the square root of that (a margin computed from
	 * distances that far off, less the allowance, still separates the true squared distances
	 * by more than their rounding), with room for the rounding of the sums of drifts.
	 */
	w.allowance = sqrt(1024.0 * DBL_EPSILON * ((double) d + 2.0 + (double) max_iter) * 2.0 * xmax2);

	centers = palloc(sizeof(double) * k * d);
	new_centers = palloc(sizeof(double) * k * d);
	counts = palloc(sizeof(int64) * k);
	MemoryContextSwitchTo(old);
	best_centers = palloc(sizeof(double) * k * d);
	best_counts = palloc(sizeof(int64) * k);

	for (int init = 0; init < n_init; init++)
	{
		RiqRng		rng;
		int			it;
		bool		converged = false;
		bool		strict = false;
		double		inertia = 0.0;

		riq_rng_seed(&rng, seed, (uint64) init);
		kmeans_plusplus(&w, &rng, centers);
		for (int64 i = 0; i < n; i++)
			w.labels[i] = -1;
		w.bounds_valid = false;
		w.moved = 0.0;

		for (it = 0; it < max_iter; it++)
		{
			int64		changed = lloyd_step(&w, centers, new_centers, counts, NULL);
			double		shift = 0.0;
			double	   *tmp;

			for (int q = 0; q < k * d; q++)
			{
				double		diff = new_centers[q] - centers[q];

				shift += diff * diff;
			}
			for (int j = 0; j < k; j++)
				w.drift[j] = sqrt(sqdist(new_centers + (Size) j * d, centers + (Size) j * d, d));
			tmp = centers;
			centers = new_centers;
			new_centers = tmp;
			if (changed == 0)
			{
				strict = converged = true;
				break;
			}
			if (shift <= tol_abs)
			{
				converged = true;
				break;
			}
		}
		/*
		 * Labels that match the final centers (scikit-learn's last E-step), and the inertia
		 * in the same pass over the rows; without that step, a pass of its own.
		 */
		if (!strict)
			(void) lloyd_step(&w, centers, NULL, counts, &inertia);
		else
		{
			for (int64 i0 = 0; i0 < n; i0 += w.block)
			{
				int			m = (int) Min((int64) w.block, n - i0);

				CHECK_FOR_INTERRUPTS();
				add_inertia(&w, i0, m, centers, &inertia);
			}
		}
		elog(DEBUG1, "kmeans_segment restart %d of %d: %d Lloyd iterations (%s), inertia %.17g",
			 init + 1, n_init, Min(it + 1, max_iter),
			 strict ? "no label changed" : converged ? "center shift within tol" : "max_iter",
			 inertia);
		if (best_inertia < 0.0 || inertia < best_inertia)
		{
			best_inertia = inertia;
			memcpy(best_centers, centers, sizeof(double) * k * d);
			memcpy(best_counts, counts, sizeof(int64) * k);
			out->n_iter = Min(it + 1, max_iter);
			out->converged = converged;
			out->best_init = init;
		}
	}
	MemoryContextDelete(work_cxt);

	out->k = k;
	out->d = d;
	out->centers = best_centers;
	out->sizes = best_counts;
	out->inertia = best_inertia;
}
