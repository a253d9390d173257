/*
 * gammagamma.c: the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV";
 * Hardie's note on the Gamma-Gamma model). A customer's transaction values are gamma(p, nu)
 * with nu gamma(q, gamma) across customers; the mean zbar of x transactions has density
 *   G(px+q) / (G(px) G(q)) gamma^q zbar^(px-1) x^(px) / (gamma + x zbar)^(px+q).
 * gammagamma_fit finds p, q, gamma by maximum likelihood over the customers with x > 0;
 * expected_spend is E[Z | x, zbar]; clv weighs BG/NBD expected purchases by it.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "core/model.h"
#include "churn/churn.h"

#define GG_LOG_BOUND 30.0

static void
gg_check(int32 x, double m)
{
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must not be negative"),
				 errdetail("frequency is %d.", x),
				 errhint("frequency is the number of repeat purchases.")));
	if (!isfinite(m) || m < 0.0 || (x > 0 && m == 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("monetary must be a positive finite number for customers with repeat purchases"),
				 errdetail("monetary is %g for frequency %d.", m, x),
				 errhint("monetary is the mean value of the customer's repeat purchases; leave out refunds-only customers.")));
}

/* a row of a forged state: a kept customer (x >= 1 whole, positive finite spend) */
static bool
gg_row_ok(const double *row)
{
	return row[0] >= 1 && row[0] <= PG_INT32_MAX && row[0] == floor(row[0]) &&
		isfinite(row[1]) && row[1] > 0;
}

static const ChurnCountedKind gg_kind = {"gammagamma_fit", 2, gg_row_ok};
static const RiqXStateMethods gg_xstate = CHURN_COUNTED_METHODS("gammagamma_fit", &gg_kind);

PG_FUNCTION_INFO_V1(gammagamma_fit_combine);
Datum
gammagamma_fit_combine(PG_FUNCTION_ARGS)
{
	return churn_counted_combine(fcinfo, &gg_xstate);
}

PG_FUNCTION_INFO_V1(gammagamma_fit_sfunc);
Datum
gammagamma_fit_sfunc(PG_FUNCTION_ARGS)
{
	RiqXState  *xs = churn_counted_state(fcinfo, &gg_xstate);
	ChurnRows  *s = (ChurnRows *) xs->state;
	double		row[2];

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gammagamma_fit arguments must not be NULL"),
				 errhint("Filter out customers with unknown frequency or monetary value.")));
	gg_check(PG_GETARG_INT32(1), PG_GETARG_FLOAT8(2));
	if (PG_GETARG_INT32(1) == 0)
	{
		/* no repeat purchase: no spend observation for this model */
		s->skipped++;
		PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
	}
	row[0] = PG_GETARG_INT32(1);
	row[1] = PG_GETARG_FLOAT8(2);
	churn_counted_append(s, row);
	PG_RETURN_DATUM(RIQ_XSTATE_DATUM(xs));
}

typedef struct GgData
{
	int64		n;
	const double *rows;
	const double *w;
	double		wsum;
} GgData;

/* theta = log(p, q, v) and what does not depend on the row */
typedef struct GgTheta
{
	double		p,
				q,
				v,
				lgq,
				psq,
				lnv;
} GgTheta;

static bool
gg_theta(const double *theta, GgTheta *c)
{
	for (int i = 0; i < 3; i++)
		if (!(fabs(theta[i]) <= GG_LOG_BOUND))
			return false;
	c->p = exp(theta[0]);
	c->q = exp(theta[1]);
	c->v = exp(theta[2]);
	c->lgq = lgamma(c->q);
	c->psq = churn_digamma(c->q);
	c->lnv = log(c->v);
	return true;
}

/* adds w times a row's log-likelihood and its gradient in (p, q, v) to acc[0..3] */
static void
gg_add_row(const GgTheta *c, double x, double m, double w, double *acc)
{
	double		p = c->p,
				q = c->q,
				v = c->v;
	double		px = p * x;
	double		lnm = log(m),
				lnx = log(x),
				lnvxm = log(v + x * m);
	double		ps_pxq = churn_digamma(px + q);

	acc[0] += w * (lgamma(px + q) - lgamma(px) - c->lgq + q * c->lnv + (px - 1.0) * lnm + px * lnx
				   - (px + q) * lnvxm);
	acc[1] += w * x * (ps_pxq - churn_digamma(px) + lnm + lnx - lnvxm);
	acc[2] += w * (ps_pxq - c->psq + c->lnv - lnvxm);
	acc[3] += w * (q / v - (px + q) / (v + x * m));
}

static bool
gg_finish(const GgTheta *c, const double *acc, double wsum, double *f, double *grad)
{
	*f = -acc[0] / wsum;
	grad[0] = -acc[1] * c->p / wsum;
	grad[1] = -acc[2] * c->q / wsum;
	grad[2] = -acc[3] * c->v / wsum;
	return isfinite(*f) && isfinite(grad[0]) && isfinite(grad[1]) && isfinite(grad[2]);
}

static bool
gg_objective(const double *theta, double *f, double *grad, void *arg)
{
	GgData	   *d = (GgData *) arg;
	GgTheta		c;
	double		acc[4] = {0.0, 0.0, 0.0, 0.0};

	if (!gg_theta(theta, &c))
		return false;
	for (int64 i = 0; i < d->n; i++)
		gg_add_row(&c, d->rows[i * 2], d->rows[i * 2 + 1], d->w[i], acc);
	return gg_finish(&c, acc, d->wsum, f, grad);
}

/* the checks and the starting point of a fit (n customers with x > 0, their spend's mean and variance) */
static void
gg_start(int64 n, double mean, double var, double *theta)
{
	if (n < 2 || var <= 1e-12 * mean * mean * (double) n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gammagamma_fit needs customers whose spend differs"),
				 errdetail("%lld customers with repeat purchases, all with the same mean spend.", (long long) n),
				 errhint("The model estimates how spend varies across customers; it cannot from identical values.")));
	theta[0] = 0.0;
	theta[1] = log(2.0);
	theta[2] = log(mean);
}

/* the model of a fit; queries: the likelihood queries of gammagamma_fit_iterative (< 0: none) */
static bytea *
gg_model(const double *theta, ChurnOptimResult res, int64 n, int64 skipped, int queries)
{
	ModelBuilder *mb;

	for (int i = 0; i < 3; i++)
		if (fabs(theta[i]) > GG_LOG_BOUND - 5.0)
			res.converged = false;
	if (!res.converged)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("gammagamma_fit did not converge"),
				 errdetail("After %d iterations the gradient norm is %g.", res.iterations, res.grad_norm),
				 errhint("The data may be degenerate; the model is flagged converged = false.")));
	mb = model_begin(MODEL_KIND_GAMMAGAMMA);
	model_put_float(mb, MODEL_DATA, "p", exp(theta[0]));
	model_put_float(mb, MODEL_DATA, "q", exp(theta[1]));
	model_put_float(mb, MODEL_DATA, "v", exp(theta[2]));
	model_put_float(mb, MODEL_METRICS, "log_likelihood", -res.f * (double) n);
	model_put_int(mb, MODEL_METRICS, "n_customers", n);
	model_put_int(mb, MODEL_METRICS, "n_skipped", skipped);
	model_put_int(mb, MODEL_METRICS, "iterations", res.iterations);
	model_put_bool(mb, MODEL_METRICS, "converged", res.converged);
	if (queries >= 0)
		model_put_int(mb, MODEL_METRICS, "likelihood_queries", queries);
	return model_finish(mb);
}

static void
gg_no_customers(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("gammagamma_fit needs customers with repeat purchases"),
			 errdetail("No input row has frequency > 0."),
			 errhint("The Gamma-Gamma model learns from the mean value of repeat purchases.")));
}

PG_FUNCTION_INFO_V1(gammagamma_fit_final);
Datum
gammagamma_fit_final(PG_FUNCTION_ARGS)
{
	RiqXState  *xs = riq_xstate_arg(fcinfo, 0, &gg_xstate, true);
	ChurnRows  *s;
	GgData		d;
	double	   *w;
	double	   *rows;
	int64		nrows;
	double		theta[3];
	double		mean = 0.0,
				var = 0.0;
	int64		n = 0;
	ChurnOptimResult res;

	if (xs == NULL || ((ChurnRows *) xs->state)->store.n == 0)
		gg_no_customers();
	s = (ChurnRows *) xs->state;
	nrows = churn_counted_rows(s, &rows, &w);
	for (int64 i = 0; i < nrows; i++)
	{
		n += (int64) w[i];
		mean += w[i] * rows[i * 2 + 1];
	}
	mean /= (double) n;
	for (int64 i = 0; i < nrows; i++)
		var += w[i] * (rows[i * 2 + 1] - mean) * (rows[i * 2 + 1] - mean);
	gg_start(n, mean, var, theta);
	d.n = nrows;
	d.rows = rows;
	d.w = w;
	d.wsum = (double) n;
	res = churn_minimize(gg_objective, &d, 3, theta, 1000, 1e-10);
	PG_RETURN_BYTEA_P(gg_model(theta, res, n, s->skipped, -1));
}

/*
 * gammagamma_loglik(frequency, monetary, theta float8[3]): the sums of the log-likelihood and
 * gradient at theta over the rows with x > 0 (churn_dist.c). State: theta, [n, skipped, sum
 * of spend, sum of squared spend, loglik, d/dp, d/dq, d/dv], their compensations.
 */
static const ChurnSumKind gg_sum = {"gammagamma_loglik", "gammagamma", 3, 3, 2, 8};

typedef struct GgRowCache
{
	double		theta[3];
	GgTheta		c;
} GgRowCache;

PG_FUNCTION_INFO_V1(gammagamma_loglik_sfunc);
Datum
gammagamma_loglik_sfunc(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	double	   *s = churn_sum_state(fcinfo, &gg_sum, &state);
	GgRowCache *rc = (GgRowCache *) fcinfo->flinfo->fn_extra;
	int32		x;
	double		m;
	double		acc[4] = {0.0, 0.0, 0.0, 0.0};

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gammagamma_fit arguments must not be NULL"),
				 errhint("Filter out customers with unknown frequency or monetary value.")));
	x = PG_GETARG_INT32(1);
	m = PG_GETARG_FLOAT8(2);
	gg_check(x, m);
	if (x == 0)
	{
		churn_sum_add(s, &gg_sum, 1, 1.0);	/* no repeat purchase: no spend observation */
		PG_RETURN_ARRAYTYPE_P(state);
	}
	if (rc == NULL || memcmp(rc->theta, s, sizeof(rc->theta)) != 0)
	{
		if (rc == NULL)
			rc = fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(GgRowCache));
		memcpy(rc->theta, s, sizeof(rc->theta));
		if (!gg_theta(rc->theta, &rc->c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("theta must be within %g of 0", GG_LOG_BOUND),
					 errhint("theta is log(p, q, v).")));
	}
	gg_add_row(&rc->c, (double) x, m, 1.0, acc);
	churn_sum_add(s, &gg_sum, 0, 1.0);
	churn_sum_add(s, &gg_sum, 2, m);
	churn_sum_add(s, &gg_sum, 3, m * m);
	for (int i = 0; i < 4; i++)
		churn_sum_add(s, &gg_sum, 4 + i, acc[i]);
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(gammagamma_loglik_combine);
Datum
gammagamma_loglik_combine(PG_FUNCTION_ARGS)
{
	return churn_sum_combine(fcinfo, &gg_sum);
}

static bool
gg_dist_objective(const double *theta, double *f, double *grad, void *arg)
{
	ChurnDistQuery *q = (ChurnDistQuery *) arg;
	GgTheta		c;

	if (!gg_theta(theta, &c))
		return false;
	if (!churn_dist_eval(q, theta))
		return false;
	return gg_finish(&c, q->out + 7, q->out[3], f, grad);
}

/*
 * gammagamma_fit_iterative(source, frequency_column, monetary_column): gammagamma_fit's model
 * with every evaluation of the likelihood a gammagamma_loglik query over the relation. (The
 * spread of spend for the degenerate-data check comes from sums of squares instead of a
 * second pass.)
 */
PG_FUNCTION_INFO_V1(gammagamma_fit_iterative);
Datum
gammagamma_fit_iterative(PG_FUNCTION_ARGS)
{
	const char *cols[2];
	ChurnDistQuery q;
	double		zero[3] = {0.0, 0.0, 0.0};
	double		theta[3];
	int64		n,
				skipped;
	double		mean,
				var;
	ChurnOptimResult res;
	bytea	   *m;

	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("gammagamma_fit_iterative arguments must not be NULL"),
					 errhint("Name the relation of one row per customer and its frequency and monetary columns.")));
	for (int i = 0; i < 2; i++)
		cols[i] = NameStr(*PG_GETARG_NAME(i + 1));
	churn_dist_begin(&q, &gg_sum, PG_GETARG_OID(0), cols);
	if (!churn_dist_eval(&q, zero) || q.out[3] == 0)
		gg_no_customers();
	n = (int64) q.out[3];
	skipped = (int64) q.out[4];
	mean = q.out[5] / (double) n;
	var = Max(0.0, q.out[6] - (double) n * mean * mean);
	gg_start(n, mean, var, theta);
	res = churn_minimize(gg_dist_objective, &q, 3, theta, 1000, 1e-10);
	churn_dist_end(&q);
	m = gg_model(theta, res, n, skipped, q.queries);
	PG_RETURN_BYTEA_P(m);
}

/* E[Z | x, zbar] = p (gamma + x zbar) / (p x + q - 1) */
static double
gg_expected_spend(const ModelView *m, int32 x, double zbar)
{
	double		p = model_get_float(m, MODEL_DATA, "p");
	double		q = model_get_float(m, MODEL_DATA, "q");
	double		v = model_get_float(m, MODEL_DATA, "v");

	if (!(p > 0 && q > 0 && v > 0) || !isfinite(p) || !isfinite(q) || !isfinite(v))
		model_corrupt(m, "p, q and v must be positive and finite.");
	gg_check(x, zbar);
	if (p * x + q - 1.0 <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected spend is infinite under this model for frequency %d", x),
				 errdetail("p x + q - 1 = %g is not positive (q = %g).", p * x + q - 1.0, q),
				 errhint("The fitted spend distribution has no finite mean; use customers with repeat purchases.")));
	return p * (v + x * zbar) / (p * x + q - 1.0);
}

PG_FUNCTION_INFO_V1(gammagamma_expected_spend);
Datum
gammagamma_expected_spend(PG_FUNCTION_ARGS)
{
	ModelView  *m = model_open_cached(fcinfo, 0, MODEL_KIND_GAMMAGAMMA);

	PG_RETURN_FLOAT8(gg_expected_spend(m, PG_GETARG_INT32(1), PG_GETARG_FLOAT8(2)));
}

/*
 * clv(bgnbd, gammagamma, frequency, recency, t, monetary, periods, discount_rate,
 *     period_length): sum over i = 1..periods of the expected purchases in period i times
 * the expected spend, discounted by (1 + discount_rate)^i.
 */
PG_FUNCTION_INFO_V1(churn_clv);
Datum
churn_clv(PG_FUNCTION_ARGS)
{
	ModelView  *gg;
	int32		x = PG_GETARG_INT32(2);
	double		tx = PG_GETARG_FLOAT8(3);
	double		T = PG_GETARG_FLOAT8(4);
	double		zbar = PG_GETARG_FLOAT8(5);
	int32		periods = PG_GETARG_INT32(6);
	double		d = PG_GETARG_FLOAT8(7);
	double		len = PG_GETARG_FLOAT8(8);
	double		spend;
	double		total = 0.0;
	double		prev = 0.0;

	if (periods < 1 || periods > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods must be between 1 and 10000"),
				 errdetail("periods is %d.", periods),
				 errhint("periods is the number of future periods to value, e.g. 12 months.")));
	if (!isfinite(d) || d < 0.0 || d >= 10.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("discount_rate must be between 0 and 10"),
				 errdetail("discount_rate is %g.", d),
				 errhint("discount_rate is per period: 0.01 for 1%% a month.")));
	if (!isfinite(len) || len <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period_length must be positive and finite"),
				 errdetail("period_length is %g.", len),
				 errhint("period_length is one period in the BG/NBD model's time unit, e.g. 4.345 weeks for a month.")));
	gg = model_open_cached(fcinfo, 1, MODEL_KIND_GAMMAGAMMA);
	spend = gg_expected_spend(gg, x, zbar);
	for (int i = 1; i <= periods; i++)
	{
		double		e = churn_bgnbd_expected(fcinfo, 0, x, tx, T, i * len);

		total += (e - prev) * spend / pow(1.0 + d, i);
		prev = e;
	}
	PG_RETURN_FLOAT8(total);
}
