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

#include "core/agg_state.h"
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
	/* counted rows (below) only */
	int64		collapse_at;	/* collapse the store when it holds this many rows */
	bytea	   *flat;			/* the flat form between flat_size and flatten */
} ChurnRows;

/* the state of the calling aggregate, created on first use with the given row width */
extern ChurnRows *churn_rows_state(FunctionCallInfo fcinfo, int width, const char *fname);
extern void churn_rows_append(ChurnRows *s, const double *row);
/* sort rows into the canonical order and (if merge) merge equal ones: returns the weights */
extern double *churn_rows_sort_merge(ChurnRows *s, bool merge);

/*
 * Counted rows: the state of bgnbd_fit and gammagamma_fit, whose likelihoods depend on the
 * customers only through the distinct rows ((x, t_x, T), (x, mean spend)) and how many
 * customers share each. The store holds each row with its count in a last column and is
 * collapsed (sorted, equal rows merged) as it grows, so a state's size is that of its distinct
 * rows: the sufficient statistics. The state is a bytea held as an expanded object
 * (core/agg_state.h), so Citus ships one partial state per shard, not one row per customer;
 * the final function fits on the same sorted distinct rows and counts whatever the partition,
 * so the model is the same bits as on one node.
 */
typedef struct ChurnCountedKind
{
	const char *name;			/* the aggregate */
	int			width;			/* values per row, the count not included */
	bool		(*row_ok) (const double *row);	/* a row the transition would have kept */
} ChurnCountedKind;

extern Size churn_counted_flat_size(void *state, const void *arg);
extern void churn_counted_flatten(void *state, const void *arg, char *dst, Size len);
extern void *churn_counted_expand(MemoryContext cxt, const void *arg, const char *src, Size len);
#define CHURN_COUNTED_METHODS(name, kind) \
	{ (name), churn_counted_flat_size, churn_counted_flatten, churn_counted_expand, (kind) }

/* argument 0 as a state of this kind, created when NULL */
extern RiqXState *churn_counted_state(FunctionCallInfo fcinfo, const RiqXStateMethods *m);
extern void churn_counted_append(ChurnRows *s, const double *row);
/* the distinct rows (n x width, sorted) and their counts, in the current context; returns n */
extern int64 churn_counted_rows(ChurnRows *s, double **rows, double **counts);
/* the combine function of a kind: both states merged */
extern Datum churn_counted_combine(FunctionCallInfo fcinfo, const RiqXStateMethods *m);

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

/*
 * churn_dist.c: a likelihood as a sum over rows (bgnbd_loglik, gammagamma_loglik): a float8[]
 * state [theta (nparam), counts (ncount) and sums (nsum in all), their compensations], combined
 * by adding, and the minimiser's
 * objective evaluated by one query of that aggregate over a relation (the *_fit_iterative
 * functions): on Citus one state per shard travels per evaluation.
 */
typedef struct ChurnSumKind
{
	const char *name;			/* the aggregate, in retailiq_internal */
	const char *model;			/* bgnbd, gammagamma: for messages */
	int			theta_arg;		/* the argument holding theta (after the row's columns) */
	int			nparam;			/* theta's length */
	int			ncount;			/* whole counts after theta */
	int			nsum;			/* counts and sums after theta */
} ChurnSumKind;

/* the transition's state (created at the theta argument on the first row), in place */
extern double *churn_sum_state(FunctionCallInfo fcinfo, const ChurnSumKind *k, ArrayType **state);
extern Datum churn_sum_combine(FunctionCallInfo fcinfo, const ChurnSumKind *k);
/* adds v to the state's sum i (0-based after theta), compensated */
extern void churn_sum_add(double *state, const ChurnSumKind *k, int i, double v);

typedef struct ChurnDistQuery
{
	const ChurnSumKind *k;
	void	   *plan;			/* SPIPlanPtr */
	double	   *out;			/* the last state: theta, then the counts and sums */
	int			queries;		/* evaluations run */
} ChurnDistQuery;

/* SPI connected, the aggregate's query over relid prepared (columns: theta_arg - 1 names) */
extern void churn_dist_begin(ChurnDistQuery *q, const ChurnSumKind *k, Oid relid, const char *const *columns);
/* runs it at theta into q->out; false when the relation has no rows */
extern bool churn_dist_eval(ChurnDistQuery *q, const double *theta);
extern void churn_dist_end(ChurnDistQuery *q);

/* bgnbd.c: expected purchases in (0, t] of the BG/NBD model passed as argument argno */
extern double churn_bgnbd_expected(FunctionCallInfo fcinfo, int argno, int32 x, double tx,
								   double T, double t);

#endif
