/*
 * bgnbd.c: the BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers the
 * Easy Way": purchases follow a Poisson process with a gamma(r, alpha) rate across
 * customers; after each purchase a customer drops out with probability p, beta(a, b)
 * across customers. bgnbd_fit finds r, alpha, a, b by maximum likelihood over one row per
 * customer (x repeat purchases, t_x the time of the last one, T the customer's age);
 * churn_probability and expected_purchases are the paper's conditional formulas.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "core/model.h"
#include "churn/churn.h"

#define BGNBD_LOG_BOUND 30.0	/* |log parameter| beyond this is a degenerate fit */

/*
 * The same checks for training rows and for scoring: x >= 0 repeat purchases, the last one
 * at 0 <= t_x <= T, and t_x = 0 when there is none.
 */
static void
bgnbd_check_customer(int32 x, double tx, double T)
{
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must not be negative"),
				 errdetail("frequency is %d.", x),
				 errhint("frequency is the number of repeat purchases (all purchases but the first).")));
	if (!isfinite(tx) || !isfinite(T))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency and t must be finite"),
				 errhint("Replace NaN and infinity before fitting or scoring.")));
	if (tx < 0.0 || T < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency and t must not be negative"),
				 errdetail("recency is %g and t is %g.", tx, T),
				 errhint("recency is the time from the first to the last purchase; t is the time from the first purchase to the end of observation.")));
	if (tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must not exceed t"),
				 errdetail("recency is %g and t is %g.", tx, T),
				 errhint("Measure both from the customer's first purchase, in the same time unit, up to the same end date.")));
	if (x == 0 && tx != 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must be 0 when frequency is 0"),
				 errdetail("recency is %g.", tx),
				 errhint("A customer without repeat purchases has recency 0 by definition.")));
}

/* a row of a forged state: what bgnbd_check_customer accepts, x a whole int32 */
static bool
bgnbd_row_ok(const double *row)
{
	double		x = row[0],
				tx = row[1],
				T = row[2];

	return x >= 0 && x <= PG_INT32_MAX && x == floor(x) && isfinite(tx) && isfinite(T) &&
		tx >= 0 && T >= 0 && tx <= T && (x > 0 || tx == 0);
}

static const ChurnCountedKind bgnbd_kind = {"bgnbd_fit", 3, bgnbd_row_ok};
static const RiqXStateMethods bgnbd_xstate = CHURN_COUNTED_METHODS("bgnbd_fit", &bgnbd_kind);

PG_FUNCTION_INFO_V1(bgnbd_fit_combine);
Datum
bgnbd_fit_combine(PG_FUNCTION_ARGS)
{
	return churn_counted_combine(fcinfo, &bgnbd_xstate);
}

PG_FUNCTION_INFO_V1(bgnbd_fit_sfunc);
Datum
bgnbd_fit_sfunc(PG_FUNCTION_ARGS)
{
	RiqXState  *xs = churn_counted_state(fcinfo, &bgnbd_xstate);
	double		row[3];

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bgnbd_fit arguments must not be NULL"),
				 errhint("Filter out customers with unknown frequency, recency or t.")));
	row[0] = PG_GETARG_INT32(1);
	row[1] = PG_GETARG_FLOAT8(2);
	row[2] = PG_GETARG_FLOAT8(3);
	bgnbd_check_customer(PG_GETARG_INT32(1), row[1], row[2]);
	churn_counted_append((ChurnRows *) xs->state, row);
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
}

typedef struct BgnbdData
{
	int64		n;				/* distinct (x, t_x, T) rows */
	const double *rows;
	const double *w;
	double		wsum;
} BgnbdData;

/* the parameters theta = log(r, alpha, a, b) and what does not depend on the row */
typedef struct BgnbdTheta
{
	double		r,
				alpha,
				a,
				b,
				lnalpha,
				lgr,
				lgab,
				lgb,
				psr,
				psab,
				psb;
} BgnbdTheta;

/* the terms of a row that depend only on x */
typedef struct BgnbdXTerms
{
	double		x,
				A12,
				dA1r,
				dA2a,
				dA2b,
				lnbx1;
} BgnbdXTerms;

/* false when theta is out of bounds (a degenerate fit) */
static bool
bgnbd_theta(const double *theta, BgnbdTheta *c)
{
	for (int i = 0; i < 4; i++)
		if (!(fabs(theta[i]) <= BGNBD_LOG_BOUND))
			return false;
	c->r = exp(theta[0]);
	c->alpha = exp(theta[1]);
	c->a = exp(theta[2]);
	c->b = exp(theta[3]);
	c->lnalpha = log(c->alpha);
	c->lgr = lgamma(c->r);
	c->lgab = lgamma(c->a + c->b);
	c->lgb = lgamma(c->b);
	c->psr = churn_digamma(c->r);
	c->psab = churn_digamma(c->a + c->b);
	c->psb = churn_digamma(c->b);
	return true;
}

static void
bgnbd_xterms(const BgnbdTheta *c, double x, BgnbdXTerms *t)
{
	double		r = c->r,
				a = c->a,
				b = c->b;

	t->x = x;
	t->A12 = lgamma(r + x) - c->lgr + c->lgab + lgamma(b + x) - c->lgb - lgamma(a + b + x);
	t->dA1r = churn_digamma(r + x) - c->psr;
	t->dA2a = c->psab - churn_digamma(a + b + x);
	t->dA2b = c->psab + churn_digamma(b + x) - c->psb - churn_digamma(a + b + x);
	t->lnbx1 = x > 0 ? log(b + x - 1.0) : 0.0;
}

/*
 * Adds w times a row's log-likelihood and its gradient in (r, alpha, a, b) to acc[0..4]:
 *   LL_i = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x) - lnB(a, b)
 *          + log( (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) )
 */
static void
bgnbd_add_row(const BgnbdTheta *c, const BgnbdXTerms *t, double tx, double T, double w, double *acc)
{
	double		r = c->r,
				alpha = c->alpha,
				a = c->a,
				b = c->b,
				x = t->x;
	double		A3,
				A4,
				lse,
				w3,
				w4;

	A3 = -(r + x) * log(alpha + T);
	if (x > 0)
	{
		double		m;

		A4 = log(a) - t->lnbx1 - (r + x) * log(alpha + tx);
		m = Max(A3, A4);
		lse = m + log(exp(A3 - m) + exp(A4 - m));
		w3 = exp(A3 - lse);
		w4 = exp(A4 - lse);
	}
	else
	{
		lse = A3;
		w3 = 1.0;
		w4 = 0.0;
	}
	acc[0] += w * (t->A12 + r * c->lnalpha + lse);
	acc[1] += w * (t->dA1r + c->lnalpha - w3 * log(alpha + T) - (x > 0 ? w4 * log(alpha + tx) : 0.0));
	acc[2] += w * (r / alpha - w3 * (r + x) / (alpha + T) - (x > 0 ? w4 * (r + x) / (alpha + tx) : 0.0));
	acc[3] += w * (t->dA2a + w4 / a);
	acc[4] += w * (t->dA2b - (x > 0 ? w4 / (b + x - 1.0) : 0.0));
}

/* minus the mean log-likelihood and its gradient in theta, from the sums acc[0..4] */
static bool
bgnbd_finish(const BgnbdTheta *c, const double *acc, double wsum, double *f, double *grad)
{
	*f = -acc[0] / wsum;
	grad[0] = -acc[1] * c->r / wsum;
	grad[1] = -acc[2] * c->alpha / wsum;
	grad[2] = -acc[3] * c->a / wsum;
	grad[3] = -acc[4] * c->b / wsum;
	if (!isfinite(*f))
		return false;
	for (int i = 0; i < 4; i++)
		if (!isfinite(grad[i]))
			return false;
	return true;
}

/*
 * Minus the mean log-likelihood and its gradient in theta = log(r, alpha, a, b) over the
 * distinct rows. Rows arrive sorted by x, so the terms that depend only on x are computed
 * once per x.
 */
static bool
bgnbd_objective(const double *theta, double *f, double *grad, void *arg)
{
	BgnbdData  *d = (BgnbdData *) arg;
	BgnbdTheta	c;
	BgnbdXTerms t;
	double		acc[5] = {0.0, 0.0, 0.0, 0.0, 0.0};

	if (!bgnbd_theta(theta, &c))
		return false;
	t.x = -1.0;
	for (int64 i = 0; i < d->n; i++)
	{
		const double *row = d->rows + i * 3;

		if (row[0] != t.x)
			bgnbd_xterms(&c, row[0], &t);
		bgnbd_add_row(&c, &t, row[1], row[2], d->w[i], acc);
	}
	return bgnbd_finish(&c, acc, d->wsum, f, grad);
}

/* the starting point of a fit, after its checks (the same for both forms of the fit) */
static void
bgnbd_start(int64 ncust, int64 repeaters, double meanT, double *theta)
{
	if (repeaters == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bgnbd_fit needs customers with repeat purchases"),
				 errdetail("All %lld customers have frequency 0.", (long long) ncust),
				 errhint("Use a longer observation period, or check that frequency counts repeat purchases.")));
	if (meanT <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bgnbd_fit needs customers observed for some time"),
				 errdetail("Every customer has t = 0."),
				 errhint("t is the time from the first purchase to the end of observation.")));
	/* start: a rate of about one purchase per mean age, moderate dropout */
	theta[0] = 0.0;
	theta[1] = log(meanT);
	theta[2] = 0.0;
	theta[3] = 0.0;
}

/* the model of a fit; queries: the likelihood queries of bgnbd_fit_iterative (< 0: none) */
static bytea *
bgnbd_model(const double *theta, ChurnOptimResult res, int64 ncust, int64 repeaters, int queries)
{
	ModelBuilder *mb;
	bool		at_bound = false;

	for (int i = 0; i < 4; i++)
		if (fabs(theta[i]) > BGNBD_LOG_BOUND - 5.0)
			at_bound = true;
	if (at_bound)
		res.converged = false;
	if (!res.converged)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("bgnbd_fit did not converge"),
				 errdetail("After %d iterations the gradient norm is %g.", res.iterations, res.grad_norm),
				 errhint("The data may be degenerate (e.g. every customer alike); the model is flagged converged = false.")));

	mb = model_begin(MODEL_KIND_BGNBD);
	model_put_float(mb, MODEL_DATA, "r", exp(theta[0]));
	model_put_float(mb, MODEL_DATA, "alpha", exp(theta[1]));
	model_put_float(mb, MODEL_DATA, "a", exp(theta[2]));
	model_put_float(mb, MODEL_DATA, "b", exp(theta[3]));
	model_put_float(mb, MODEL_METRICS, "log_likelihood", -res.f * (double) ncust);
	model_put_int(mb, MODEL_METRICS, "n_customers", ncust);
	model_put_int(mb, MODEL_METRICS, "n_repeat_customers", repeaters);
	model_put_int(mb, MODEL_METRICS, "iterations", res.iterations);
	model_put_bool(mb, MODEL_METRICS, "converged", res.converged);
	if (queries >= 0)
		model_put_int(mb, MODEL_METRICS, "likelihood_queries", queries);
	return model_finish(mb);
}

PG_FUNCTION_INFO_V1(bgnbd_fit_final);
Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, &bgnbd_xstate, true);
	BgnbdData	d;
	double	   *w;
	double	   *rows;
	int64		n;
	double		theta[4];
	double		meanT = 0.0;
	int64		repeaters = 0;
	int64		ncust = 0;
	ChurnOptimResult res;

	if (xs == NULL || ((ChurnRows *) xs->state)->store.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bgnbd_fit needs at least one customer"),
				 errhint("The input to bgnbd_fit had no rows.")));
	n = churn_counted_rows((ChurnRows *) xs->state, &rows, &w);
	for (int64 i = 0; i < n; i++)
	{
		ncust += (int64) w[i];
		if (rows[i * 3] > 0)
			repeaters += (int64) w[i];
		meanT += w[i] * rows[i * 3 + 2];
	}
	meanT /= (double) ncust;
	bgnbd_start(ncust, repeaters, meanT, theta);
	d.n = n;
	d.rows = rows;
	d.w = w;
	d.wsum = (double) ncust;
	res = churn_minimize(bgnbd_objective, &d, 4, theta, 1000, 1e-10);
	PG_RETURN_BYTEA_P(bgnbd_model(theta, res, ncust, repeaters, -1));
}

/*
 * bgnbd_loglik(frequency, recency, t, theta float8[4]): the sums of the rows' log-likelihood
 * and gradient at theta (churn_dist.c). State: theta, [n, repeaters, sum of T, loglik,
 * d/dr, d/dalpha, d/da, d/db], their compensations.
 */
static const ChurnSumKind bgnbd_sum = {"bgnbd_loglik", "bgnbd", 4, 4, 2, 8};

/* theta's constants and the last x's terms, kept between rows */
typedef struct BgnbdRowCache
{
	double		theta[4];
	BgnbdTheta	c;
	BgnbdXTerms t;
} BgnbdRowCache;

PG_FUNCTION_INFO_V1(bgnbd_loglik_sfunc);
Datum
bgnbd_loglik_sfunc(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	double	   *s = churn_sum_state(fcinfo, &bgnbd_sum, &state);
	BgnbdRowCache *rc = (BgnbdRowCache *) fcinfo->flinfo->fn_extra;
	int32		x;
	double		tx,
				T;
	double		acc[5] = {0.0, 0.0, 0.0, 0.0, 0.0};

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bgnbd_fit arguments must not be NULL"),
				 errhint("Filter out customers with unknown frequency, recency or t.")));
	x = PG_GETARG_INT32(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	bgnbd_check_customer(x, tx, T);
	if (rc == NULL || memcmp(rc->theta, s, sizeof(rc->theta)) != 0)
	{
		if (rc == NULL)
			rc = fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(BgnbdRowCache));
		memcpy(rc->theta, s, sizeof(rc->theta));
		if (!bgnbd_theta(rc->theta, &rc->c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("theta must be within %g of 0", BGNBD_LOG_BOUND),
					 errhint("theta is log(r, alpha, a, b).")));
		rc->t.x = -1.0;
	}
	if ((double) x != rc->t.x)
		bgnbd_xterms(&rc->c, (double) x, &rc->t);
	bgnbd_add_row(&rc->c, &rc->t, tx, T, 1.0, acc);
	churn_sum_add(s, &bgnbd_sum, 0, 1.0);
	churn_sum_add(s, &bgnbd_sum, 1, x > 0 ? 1.0 : 0.0);
	churn_sum_add(s, &bgnbd_sum, 2, T);
	for (int i = 0; i < 5; i++)
		churn_sum_add(s, &bgnbd_sum, 3 + i, acc[i]);
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(bgnbd_loglik_combine);
Datum
bgnbd_loglik_combine(PG_FUNCTION_ARGS)
{
	return churn_sum_combine(fcinfo, &bgnbd_sum);
}

/* one evaluation of the objective: a bgnbd_loglik query */
static bool
bgnbd_dist_objective(const double *theta, double *f, double *grad, void *arg)
{
	ChurnDistQuery *q = (ChurnDistQuery *) arg;
	BgnbdTheta	c;

	if (!bgnbd_theta(theta, &c))
		return false;
	if (!churn_dist_eval(q, theta))
		return false;
	return bgnbd_finish(&c, q->out + 7, q->out[4], f, grad);
}

/*
 * bgnbd_fit_iterative(source, frequency_column, recency_column, t_column): bgnbd_fit's model
 * (same checks, start, minimiser and tolerance) with every evaluation of the likelihood a
 * bgnbd_loglik query over the relation, so that the rows stay where they are.
 */
PG_FUNCTION_INFO_V1(bgnbd_fit_iterative);
Datum
bgnbd_fit_iterative(PG_FUNCTION_ARGS)
{
	const char *cols[3];
	ChurnDistQuery q;
	double		zero[4] = {0.0, 0.0, 0.0, 0.0};
	double		theta[4];
	int64		ncust,
				repeaters;
	ChurnOptimResult res;
	bytea	   *m;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("bgnbd_fit_iterative arguments must not be NULL"),
					 errhint("Name the relation of one row per customer and its frequency, recency and t columns.")));
	for (int i = 0; i < 3; i++)
		cols[i] = NameStr(*PG_GETARG_NAME(i + 1));
	churn_dist_begin(&q, &bgnbd_sum, PG_GETARG_OID(0), cols);
	/* the counts: one pass at any theta */
	if (!churn_dist_eval(&q, zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bgnbd_fit needs at least one customer"),
				 errhint("The input to bgnbd_fit had no rows.")));
	ncust = (int64) q.out[4];
	repeaters = (int64) q.out[5];
	bgnbd_start(ncust, repeaters, q.out[6] / (double) ncust, theta);
	res = churn_minimize(bgnbd_dist_objective, &q, 4, theta, 1000, 1e-10);
	churn_dist_end(&q);
	m = bgnbd_model(theta, res, ncust, repeaters, q.queries);
	PG_RETURN_BYTEA_P(m);
}

typedef struct BgnbdParams
{
	double		r,
				alpha,
				a,
				b;
} BgnbdParams;

static BgnbdParams
bgnbd_params(FunctionCallInfo fcinfo)
{
	ModelView  *m = model_open_cached(fcinfo, 0, MODEL_KIND_BGNBD);
	BgnbdParams p;

	p.r = model_get_float(m, MODEL_DATA, "r");
	p.alpha = model_get_float(m, MODEL_DATA, "alpha");
	p.a = model_get_float(m, MODEL_DATA, "a");
	p.b = model_get_float(m, MODEL_DATA, "b");
	if (!(p.r > 0 && p.alpha > 0 && p.a > 0 && p.b > 0) ||
		!isfinite(p.r) || !isfinite(p.alpha) || !isfinite(p.a) || !isfinite(p.b))
		model_corrupt(m, "r, alpha, a and b must be positive and finite.");
	return p;
}

/* log of the odds that the customer has dropped out: P(dead) / P(alive) */
static double
bgnbd_log_dead_odds(const BgnbdParams *p, int32 x, double tx, double T)
{
	if (x == 0)
		return -INFINITY;
	return log(p->a) - log(p->b + x - 1.0) + (p->r + x) * (log(p->alpha + T) - log(p->alpha + tx));
}

PG_FUNCTION_INFO_V1(bgnbd_churn_probability);
Datum
bgnbd_churn_probability(PG_FUNCTION_ARGS)
{
	BgnbdParams p = bgnbd_params(fcinfo);
	int32		x = PG_GETARG_INT32(1);
	double		tx = PG_GETARG_FLOAT8(2);
	double		T = PG_GETARG_FLOAT8(3);
	double		lo;

	bgnbd_check_customer(x, tx, T);
	lo = bgnbd_log_dead_odds(&p, x, tx, T);
	PG_RETURN_FLOAT8(x == 0 ? 0.0 : churn_logistic(lo));
}

/*
 * E[Y(t) | x, t_x, T] =
 *   (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
 *   / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)),   z = t/(alpha+T+t).
 * Euler's transformation turns (1-z)^(r+x) 2F1(r+x, b+x; c; z) into
 * (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z), whose parameters do not grow with x, so the
 * series neither overflows nor loses its digits to cancellation for heavy buyers.
 */
static double
bgnbd_expected(double r, double alpha, double a, double b, int32 x, double T,
			   double lo, double t)
{
	double		c = a + b + x - 1.0;
	double		z = t / (alpha + T + t);
	double		F;
	double		bracket;
	bool		ok;

	F = churn_hyp2f1(a + b - 1.0 - r, a - 1.0, c, z, &ok);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected_purchases did not converge for this horizon"),
				 errdetail("The hypergeometric series at z = %g did not converge.", z),
				 errhint("Use a horizon of the same order as the observation period.")));
	/* 1 - (1-z)^(a-1) F, with expm1/log1p to keep digits for small horizons */
	if (F > 0)
		bracket = -expm1((a - 1.0) * log1p(-z) + log(F));
	else
		bracket = 1.0 - pow(1.0 - z, a - 1.0) * F;
	return c / (a - 1.0) * bracket * churn_logistic(-lo);
}

PG_FUNCTION_INFO_V1(bgnbd_expected_purchases);
Datum
bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	BgnbdParams p = bgnbd_params(fcinfo);
	int32		x = PG_GETARG_INT32(1);
	double		tx = PG_GETARG_FLOAT8(2);
	double		T = PG_GETARG_FLOAT8(3);
	double		t = PG_GETARG_FLOAT8(4);
	double		lo;
	double		e;

	bgnbd_check_customer(x, tx, T);
	if (!isfinite(t) || t < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be a finite number not below 0"),
				 errdetail("horizon is %g.", t),
				 errhint("horizon is the length of the future period, in the model's time unit.")));
	if (t == 0.0)
		PG_RETURN_FLOAT8(0.0);
	lo = bgnbd_log_dead_odds(&p, x, tx, T);
	if (fabs(p.a - 1.0) < 1e-7)
	{
		/* (a-1) cancels in the limit a -> 1: average the two sides */
		e = 0.5 * (bgnbd_expected(p.r, p.alpha, 1.0 - 1e-6, p.b, x, T, lo, t) +
				   bgnbd_expected(p.r, p.alpha, 1.0 + 1e-6, p.b, x, T, lo, t));
	}
	else
		e = bgnbd_expected(p.r, p.alpha, p.a, p.b, x, T, lo, t);
	if (!isfinite(e))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected_purchases is not finite for this customer"),
				 errhint("Check the model's parameters with retailiq.model_info().")));
	PG_RETURN_FLOAT8(e);
}

double
churn_bgnbd_expected(FunctionCallInfo fcinfo, int argno, int32 x, double tx, double T, double t)
{
	ModelView  *m = model_open(PG_GETARG_MODEL_P(argno), MODEL_KIND_BGNBD);
	BgnbdParams p;

	p.r = model_get_float(m, MODEL_DATA, "r");
	p.alpha = model_get_float(m, MODEL_DATA, "alpha");
	p.a = model_get_float(m, MODEL_DATA, "a");
	p.b = model_get_float(m, MODEL_DATA, "b");
	if (!(p.r > 0 && p.alpha > 0 && p.a > 0 && p.b > 0) ||
		!isfinite(p.r) || !isfinite(p.alpha) || !isfinite(p.a) || !isfinite(p.b))
		model_corrupt(m, "r, alpha, a and b must be positive and finite.");
	bgnbd_check_customer(x, tx, T);
	if (t <= 0.0)
		return 0.0;
	if (fabs(p.a - 1.0) < 1e-7)
		return 0.5 * (bgnbd_expected(p.r, p.alpha, 1.0 - 1e-6, p.b, x, T, bgnbd_log_dead_odds(&p, x, tx, T), t) +
					  bgnbd_expected(p.r, p.alpha, 1.0 + 1e-6, p.b, x, T, bgnbd_log_dead_odds(&p, x, tx, T), t));
	return bgnbd_expected(p.r, p.alpha, p.a, p.b, x, T, bgnbd_log_dead_odds(&p, x, tx, T), t);
}
