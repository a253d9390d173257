/*
 * churn.h: what the churn part's files share: a growable store of fixed-width float8
 * rows (the core row store, core/rowstore.h, with the fit's settings) used as the state of the
 * fitting aggregates (bgnbd_fit, gammagamma_fit, logit_fit, purchase_summary),
 * a small quasi-Newton minimiser, and the special functions the likelihoods need.
 *
 * The fitting aggregates keep their rows because maximum likelihood needs many passes
 * over the data; the state combines by concatenation, so the aggregates are parallel
 * safe. The final functions sort the rows first, so a fit gives the same bits whatever
 * order (or partial aggregation) the rows arrived in.
 */
#ifndef RETAILIQ_CHURN_H
#define RETAILIQ_CHURN_H

#include "postgres.h"
#include "fmgr.h"

#include "core/rowstore.h"

#define CHURN_ROWS_MAX_PARAMS 4
/* features of a logistic churn model; a row store holds them and the label */
#define CHURN_MAX_FEATURES 1000
#define CHURN_ROWS_MAX_WIDTH (CHURN_MAX_FEATURES + 1)

/* The state of every churn fitting aggregate: the core row store and the fit's settings. */
typedef struct ChurnRows
{
	RiqRows		store;			/* the rows, in the aggregate context */
	int64		skipped;		/* rows seen but not kept (e.g. no repeat purchase) */
	double		params[CHURN_ROWS_MAX_PARAMS];	/* per-aggregate settings (l2, ...) */
	bool		have_params;
	char	   *names;			/* optional text blob (feature names), NUL-separated */
	int			names_len;
} ChurnRows;

/* the state of the calling aggregate, created on first use with the given row width */
extern ChurnRows *churn_rows_state(FunctionCallInfo fcinfo, int width, const char *fname);
extern void churn_rows_append(ChurnRows *s, const double *row);
/* sort rows into the canonical order and (if merge) merge equal ones: returns the weights */
extern double *churn_rows_sort_merge(ChurnRows *s, bool merge);

/* minimiser: f(theta) and its gradient; returns false on a non-finite value */
typedef bool (*ChurnObjective) (const double *theta, double *f, double *grad, void *arg);

typedef struct ChurnOptimResult
{
	double		f;
	int			iterations;
	bool		converged;
	double		grad_norm;
} ChurnOptimResult;

extern ChurnOptimResult churn_minimize(ChurnObjective fn, void *arg, int dim, double *theta,
									   int max_iter, double gtol);

extern double churn_digamma(double x);
/* Gauss hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 by its series; ok = false if it does
 * not converge within the term limit */
extern double churn_hyp2f1(double a, double b, double c, double z, bool *ok);
/* numerically safe log(1 + exp(x)) and logistic(x) */
extern double churn_log1pexp(double x);
extern double churn_logistic(double x);

/* bgnbd.c: expected purchases in (0, t] of the BG/NBD model passed as argument argno */
extern double churn_bgnbd_expected(FunctionCallInfo fcinfo, int argno, int32 x, double tx,
								   double T, double t);

#endif
