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

static bool
gg_objective(const double *theta, double *f, double *grad, void *arg)
{
	GgData	   *d = (GgData *) arg;
	double		p,
				q,
				v;
	double		ll = 0.0,
				gp = 0.0,
				gq = 0.0,
				gv = 0.0;
	double		lgq,
				psq,
				lnv;

	for (int i = 0; i < 3; i++)
		if (!(fabs(theta[i]) <= GG_LOG_BOUND))
			return false;
	p = exp(theta[0]);
	q = exp(theta[1]);
	v = exp(theta[2]);
	lgq = lgamma(q);
	psq = churn_digamma(q);
	lnv = log(v);
	for (int64 i = 0; i < d->n; i++)
	{
		double		x = d->rows[i * 2],
					m = d->rows[i * 2 + 1],
					w = d->w[i];
		double		px = p * x;
		double		lnm = log(m),
					lnx = log(x),
					lnvxm = log(v + x * m);
		double		ps_pxq = churn_digamma(px + q);

		ll += w * (lgamma(px + q) - lgamma(px) - lgq + q * lnv + (px - 1.0) * lnm + px * lnx
				   - (px + q) * lnvxm);
		gp += w * x * (ps_pxq - churn_digamma(px) + lnm + lnx - lnvxm);
		gq += w * (ps_pxq - psq + lnv - lnvxm);
		gv += w * (q / v - (px + q) / (v + x * m));
	}
	*f = -ll / d->wsum;
	grad[0] = -gp * p / d->wsum;
	grad[1] = -gq * q / d->wsum;
	grad[2] = -gv * v / d->wsum;
	return isfinite(*f) && isfinite(grad[0]) && isfinite(grad[1]) && isfinite(grad[2]);
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
	ModelBuilder *mb;

	if (xs == NULL || ((ChurnRows *) xs->state)->store.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gammagamma_fit needs customers with repeat purchases"),
				 errdetail("No input row has frequency > 0."),
				 errhint("The Gamma-Gamma model learns from the mean value of repeat purchases.")));
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
	if (n < 2 || var <= 1e-12 * mean * mean * (double) n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gammagamma_fit needs customers whose spend differs"),
				 errdetail("%lld customers with repeat purchases, all with the same mean spend.", (long long) n),
				 errhint("The model estimates how spend varies across customers; it cannot from identical values.")));
	d.n = nrows;
	d.rows = rows;
	d.w = w;
	d.wsum = (double) n;
	theta[0] = 0.0;
	theta[1] = log(2.0);
	theta[2] = log(mean);
	res = churn_minimize(gg_objective, &d, 3, theta, 1000, 1e-10);
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
	model_put_int(mb, MODEL_METRICS, "n_skipped", s->skipped);
	model_put_int(mb, MODEL_METRICS, "iterations", res.iterations);
	model_put_bool(mb, MODEL_METRICS, "converged", res.converged);
	PG_RETURN_BYTEA_P(model_finish(mb));
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
