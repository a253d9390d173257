/*
 * blas.h: the matrix kernels retailiq uses, row-major, on float8.
 *
 * blas.c is the only file that calls OpenBLAS/LAPACK; the library is the serial build
 * (no threads), so a backend's matrix work stays on its own core.
 */
#ifndef RETAILIQ_BLAS_H
#define RETAILIQ_BLAS_H

#include "c.h"

/* C[m x n] = alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) is k x n */
extern void riq_gemm(bool trans_a, bool trans_b, int m, int n, int k,
					 double alpha, const double *a, int lda, const double *b, int ldb,
					 double beta, double *c, int ldc);
/* y = alpha * op(A) * x + beta * y; A is m x n */
extern void riq_gemv(bool trans, int m, int n, double alpha, const double *a, int lda,
					 const double *x, double beta, double *y);
extern double riq_dot(int n, const double *x, const double *y);
extern void riq_axpy(int n, double alpha, const double *x, double *y);
/* C[n x n] (upper and lower filled) = alpha * A^T A + beta * C; A is k x n */
extern void riq_syrk_ata(int n, int k, double alpha, const double *a, int lda,
						 double beta, double *c);
/* Solve A x = b for symmetric positive definite A (n x n, overwritten by its Cholesky
 * factor); b (n x nrhs, row-major) is overwritten by x. Returns false if A is not PD,
 * numerically singular included (a squared pivot below 1e-10 of its diagonal entry). */
extern bool riq_posv(int n, int nrhs, double *a, double *b);

#endif
