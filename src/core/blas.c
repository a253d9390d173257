/*
 * blas.c: thin wrappers over OpenBLAS (CBLAS) and LAPACK, the only place that calls them.
 */
#include "postgres.h"

#include <cblas.h>

#include "core/blas.h"

/* LAPACK's Fortran entry point (Debian's OpenBLAS ships no LAPACKE header). */
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
				   double *b, const int *ldb, int *info);

void
riq_gemm(bool trans_a, bool trans_b, int m, int n, int k,
		 double alpha, const double *a, int lda, const double *b, int ldb,
		 double beta, double *c, int ldc)
{
	cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
				trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
				beta, c, ldc);
}

void
riq_gemv(bool trans, int m, int n, double alpha, const double *a, int lda,
		 const double *x, double beta, double *y)
{
	cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda,
				x, 1, beta, y, 1);
}

double
riq_dot(int n, const double *x, const double *y)
{
	return cblas_ddot(n, x, 1, y, 1);
}

void
riq_axpy(int n, double alpha, const double *x, double *y)
{
	cblas_daxpy(n, alpha, x, 1, y, 1);
}

void
riq_syrk_ata(int n, int k, double alpha, const double *a, int lda, double beta, double *c)
{
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, alpha, a, lda, beta, c, n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			c[i * n + j] = c[j * n + i];
}

/* relative pivot below which a matrix counts as singular */
#define RIQ_POSV_RANK_TOL 1e-10

bool
riq_posv(int n, int nrhs, double *a, double *b)
{
	int			info = 0;
	int			ld = n;
	/* row-major b (n x nrhs) is column-major b^T: solve with b transposed in place */
	double	   *bt = b;
	bool		copy = nrhs > 1;
	double	   *diag = palloc(sizeof(double) * n);

	if (copy)
	{
		bt = palloc_extended(sizeof(double) * (Size) n * nrhs, MCXT_ALLOC_HUGE);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < nrhs; j++)
				bt[j * n + i] = b[i * nrhs + j];
	}
	for (int i = 0; i < n; i++)
		diag[i] = a[i * n + i];
	/* A is symmetric, so row-major and column-major are the same matrix */
	dposv_("U", &n, &nrhs, a, &n, bt, &ld, &info);

	/*
	 * Numerically singular counts as not PD: u_jj^2 / a_jj is 1 - R^2 of column j on the
	 * columns before it, which for exactly dependent columns is rounding noise whose sign
	 * (and so whether dpotrf fails) depends on the BLAS kernel the CPU selects.
	 */
	for (int i = 0; info == 0 && i < n; i++)
		if (a[i * n + i] * a[i * n + i] <= RIQ_POSV_RANK_TOL * diag[i])
			info = i + 1;
	pfree(diag);
	if (copy)
	{
		for (int i = 0; i < n; i++)
			for (int j = 0; j < nrhs; j++)
				b[i * nrhs + j] = bt[j * n + i];
		pfree(bt);
	}
	return info == 0;
}
