/*
 * logit.c: L2-penalised logistic regression for churn over behavioural features.
 *
 * logit_fit keeps the rows (combinable, so the aggregate is parallel safe), standardises
 * every feature to mean 0 and standard deviation 1, and maximises
 *   sum_i w_i [y_i eta_i - log(1 + exp(eta_i))] - l2/2 |beta|^2   (intercept not penalised)
 * by Newton's method (IRLS) with step halving; the Hessian Z'WZ is built block by block
 * with OpenBLAS (riq_syrk_ata) and solved by Cholesky (riq_posv). The penalty is the one of
 * scikit-learn's LogisticRegression with C = 1/l2 on standardised features.
 * churn_probability scores a feature vector; churn_explain lists the features that push
 * a customer's log-odds up most, measured against the average customer.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "core/arrays.h"
#include "core/blas.h"
#include "core/memory.h"
#include "core/model.h"
#include "churn/churn.h"

#define LOGIT_BLOCK 1024

PG_FUNCTION_INFO_V1(logit_fit_sfunc);
Datum
logit_fit_sfunc(PG_FUNCTION_ARGS)
{
	ArrayType  *fa;
	double	   *f;
	int			d;
	ChurnRows  *s;
	double		l2;
	int32		max_iter;
	double	   *row;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be NULL"),
				 errhint("Filter out rows without features, or fill missing features with coalesce.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label must not be NULL"),
				 errhint("Leave out customers whose outcome is not known yet.")));
	if ((PG_NARGS() > 3 && PG_ARGISNULL(3)) || (PG_NARGS() > 5 && PG_ARGISNULL(5)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("l2 and max_iter must not be NULL"),
				 errhint("Omit them to use the defaults (l2 = 1, max_iter = 100).")));
	fa = PG_GETARG_ARRAYTYPE_P(1);
	f = riq_float8_array(fa, "features", &d, false);
	if (d < 1 || d > CHURN_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must have between 1 and %d elements", CHURN_MAX_FEATURES),
				 errdetail("It has %d.", d),
				 errhint("Pass one array of numeric features per customer.")));
	l2 = PG_NARGS() > 3 ? PG_GETARG_FLOAT8(3) : 1.0;
	max_iter = PG_NARGS() > 5 ? PG_GETARG_INT32(5) : 100;
	if (!isfinite(l2) || l2 < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("l2 must be a finite number not below 0"),
				 errdetail("l2 is %g.", l2),
				 errhint("l2 = 1 matches scikit-learn's default C = 1; 0 turns the penalty off.")));
	if (max_iter < 1 || max_iter > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_iter must be between 1 and 10000"),
				 errdetail("max_iter is %d.", max_iter),
				 errhint("Newton's method usually needs fewer than 30 iterations.")));
	s = churn_rows_state(fcinfo, d + 1, "logit_fit");
	if (!s->have_params)
	{
		s->have_params = true;
		s->params[0] = l2;
		s->params[1] = max_iter;
	}
	else if (s->params[0] != l2 || s->params[1] != max_iter)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("l2 and max_iter must be the same for every row"),
				 errhint("Pass constants for l2 and max_iter.")));
	if (s->names == NULL && PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		ArrayType  *na = PG_GETARG_ARRAYTYPE_P(4);
		Oid			et;
		int			nn;
		Datum	   *el = riq_array_elements(na, "feature_names", &et, &nn);
		StringInfoData buf;
		MemoryContext aggcxt;

		if (et != TEXTOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature_names must be a text[] array")));
		if (nn != d)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("feature_names has %d elements, features has %d", nn, d),
					 errhint("Name every feature once, in the order of the features array.")));
		initStringInfo(&buf);
		for (int i = 0; i < nn; i++)
		{
			char	   *t = TextDatumGetCString(el[i]);

			if (t[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature_names must not contain empty names")));
			appendBinaryStringInfo(&buf, t, strlen(t) + 1);
		}
		AggCheckCallContext(fcinfo, &aggcxt);
		s->names = MemoryContextAlloc(aggcxt, buf.len);
		memcpy(s->names, buf.data, buf.len);
		s->names_len = buf.len;
	}
	/* label first, then the features */
	row = palloc(sizeof(double) * (d + 1));
	row[0] = PG_GETARG_BOOL(2) ? 1.0 : 0.0;
	memcpy(row + 1, f, sizeof(double) * d);
	churn_rows_append(s, row);
	pfree(row);
	PG_RETURN_POINTER(s);
}

typedef struct LogitFit
{
	int64		n;				/* distinct rows */
	int			p;				/* d + 1 columns: intercept, standardised features */
	double	   *Z;				/* n x p */
	double	   *y;
	double	   *w;
	double		l2;
} LogitFit;

/* penalised log-likelihood at beta; eta receives Z beta */
static double
logit_objective(const LogitFit *L, const double *beta, double *eta, double *ll_out)
{
	double		ll = 0.0;
	double		pen = 0.0;

	riq_gemv(false, (int) L->n, L->p, 1.0, L->Z, L->p, beta, 0.0, eta);
	for (int64 i = 0; i < L->n; i++)
		ll += L->w[i] * (L->y[i] * eta[i] - churn_log1pexp(eta[i]));
	for (int j = 1; j < L->p; j++)
		pen += beta[j] * beta[j];
	if (ll_out)
		*ll_out = ll;
	return ll - 0.5 * L->l2 * pen;
}

/*
 * Standardise the features (population standard deviation, as scikit-learn's
 * StandardScaler) and turn the rows into Z in place: the label moves out to L->y, column 0
 * becomes the intercept. mean and scale (p entries, [0] unused) receive the scaler.
 */
static void
logit_standardize(ChurnRows *s, LogitFit *L, int64 nrows, double *mean, double *scale)
{
	int			p = L->p;
	const double *wt = L->w;

	for (int64 i = 0; i < L->n; i++)
		for (int j = 1; j < p; j++)
			mean[j] += wt[i] * s->store.data[i * p + j];
	for (int j = 1; j < p; j++)
		mean[j] /= (double) nrows;
	for (int64 i = 0; i < L->n; i++)
		for (int j = 1; j < p; j++)
		{
			double		dv = s->store.data[i * p + j] - mean[j];

			scale[j] += wt[i] * dv * dv;
		}
	for (int j = 1; j < p; j++)
	{
		scale[j] = sqrt(scale[j] / (double) nrows);
		if (!(scale[j] > 1e-12 * Max(1.0, fabs(mean[j]))))
			scale[j] = 0.0;		/* constant feature: it carries no information */
	}
	L->y = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) L->n, sizeof(double), "labels"), "logit_fit");
	for (int64 i = 0; i < L->n; i++)
	{
		double	   *r = s->store.data + i * p;

		L->y[i] = r[0];
		r[0] = 1.0;
		for (int j = 1; j < p; j++)
			r[j] = scale[j] > 0.0 ? (r[j] - mean[j]) / scale[j] : 0.0;
	}
	L->Z = s->store.data;
}

/* gradient and Hessian of the penalised log-likelihood at beta (eta = Z beta) */
static void
logit_grad_hess(const LogitFit *L, const double *beta, const double *eta, const double *scale,
				double *grad, double *H, double *blk)
{
	int			p = L->p;

	memset(grad, 0, sizeof(double) * p);
	memset(H, 0, sizeof(double) * p * p);
	for (int64 i0 = 0; i0 < L->n; i0 += LOGIT_BLOCK)
	{
		int			nb = (int) Min((int64) LOGIT_BLOCK, L->n - i0);

		for (int k = 0; k < nb; k++)
		{
			int64		i = i0 + k;
			double		pr = churn_logistic(eta[i]);
			double		sw = sqrt(L->w[i] * pr * (1.0 - pr));
			const double *z = L->Z + i * p;

			riq_axpy(p, L->w[i] * (L->y[i] - pr), z, grad);
			for (int j = 0; j < p; j++)
				blk[k * p + j] = sw * z[j];
		}
		riq_syrk_ata(p, nb, 1.0, blk, p, 1.0, H);
	}
	for (int j = 1; j < p; j++)
	{
		grad[j] -= L->l2 * beta[j];
		H[j * p + j] += L->l2;
		if (scale[j] == 0.0)
			H[j * p + j] += 1.0;	/* a constant feature keeps coefficient 0 */
	}
}

/*
 * Damped Newton from beta (the intercept-only start) to the penalised maximum; *iter and
 * *ll receive the iterations and the log-likelihood. Returns whether it converged.
 */
static bool
logit_newton(const LogitFit *L, const double *scale, double *beta, int max_iter, int *iter_out,
			 double *ll_out)
{
	int			p = L->p;
	double	   *newbeta = palloc0(sizeof(double) * p);
	double	   *grad = palloc0(sizeof(double) * p);
	double	   *H = palloc0(sizeof(double) * p * p);
	double	   *blk = palloc(sizeof(double) * LOGIT_BLOCK * p);
	double	   *eta = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) L->n, sizeof(double), "logit_fit"), "logit_fit");
	double		ll = 0.0;
	double		obj = logit_objective(L, beta, eta, &ll);
	bool		converged = false;
	int			iter;

	for (iter = 0; iter < max_iter; iter++)
	{
		double		step = 1.0;
		double		newobj = obj;
		double		maxdelta = 0.0;
		bool		improved = false;

		CHECK_FOR_INTERRUPTS();
		logit_grad_hess(L, beta, eta, scale, grad, H, blk);
		/* Newton direction: H delta = grad */
		if (!riq_posv(p, 1, H, grad))
		{
			if (iter == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("logit_fit cannot separate the effects of collinear features"),
						 errdetail("The Hessian is singular at the starting point."),
						 errhint("Use l2 > 0, or drop features that are copies or sums of others.")));
			/* weights p(1-p) vanished: the coefficients are running off to infinity */
			break;
		}
		for (int half = 0; half < 50; half++)
		{
			for (int j = 0; j < p; j++)
				newbeta[j] = beta[j] + step * grad[j];
			newobj = logit_objective(L, newbeta, eta, &ll);
			if (isfinite(newobj) && newobj >= obj - 1e-12 * fabs(obj))
			{
				improved = true;
				break;
			}
			step *= 0.5;
		}
		if (!improved)
		{
			/* no step improves: beta is optimal to rounding */
			obj = logit_objective(L, beta, eta, &ll);
			converged = true;
			break;
		}
		for (int j = 0; j < p; j++)
			maxdelta = Max(maxdelta, fabs(newbeta[j] - beta[j]));
		memcpy(beta, newbeta, sizeof(double) * p);
		{
			double		change = newobj - obj;

			obj = newobj;
			if (maxdelta < 1e-9 || change <= 1e-14 * fabs(obj))
			{
				converged = maxdelta < 1e-6;
				if (converged)
					break;
			}
		}
	}
	*iter_out = iter;
	*ll_out = ll;
	return converged;
}

/* the state's feature names, or f1, f2, ... */
static char **
logit_names(const ChurnRows *s, int d)
{
	char	  **names = palloc(sizeof(char *) * d);
	const char *c = s->names;

	for (int j = 0; j < d; j++)
	{
		if (c != NULL)
		{
			names[j] = pstrdup(c);
			c += strlen(c) + 1;
		}
		else
			names[j] = psprintf("f%d", j + 1);
	}
	return names;
}

PG_FUNCTION_INFO_V1(logit_fit_final);
Datum
logit_fit_final(PG_FUNCTION_ARGS)
{
	ChurnRows  *s;
	LogitFit	L;
	int			d,
				p;
	int64		nrows;
	double	   *mean,
			   *scale,
			   *beta;
	double		npos = 0.0;
	double		ll = 0.0;
	int			max_iter;
	int			iter;
	bool		converged;
	ModelBuilder *mb;

	if (PG_ARGISNULL(0) || ((ChurnRows *) PG_GETARG_POINTER(0))->store.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_fit needs at least one row"),
				 errhint("The input to logit_fit had no rows.")));
	s = (ChurnRows *) PG_GETARG_POINTER(0);
	nrows = s->store.n;
	d = s->store.width - 1;
	p = d + 1;
	max_iter = (int) s->params[1];
	L.l2 = s->params[0];
	L.w = churn_rows_sort_merge(s, true);
	L.n = s->store.n;
	L.p = p;
	for (int64 i = 0; i < L.n; i++)
		npos += L.w[i] * s->store.data[i * s->store.width];
	if (npos == 0.0 || npos == (double) nrows)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_fit needs both labels"),
				 errdetail("All %lld rows have label %s.", (long long) nrows, npos == 0.0 ? "false" : "true"),
				 errhint("Choose a period in which some customers churned and some did not.")));

	mean = palloc0(sizeof(double) * p);
	scale = palloc0(sizeof(double) * p);
	logit_standardize(s, &L, nrows, mean, scale);
	beta = palloc0(sizeof(double) * p);
	beta[0] = log(npos / ((double) nrows - npos));
	converged = logit_newton(&L, scale, beta, max_iter, &iter, &ll);
	if (!converged)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("logit_fit did not converge"),
				 errdetail("The features may separate the classes; stopped after %d of at most %d iterations.", iter, max_iter),
				 errhint("Use l2 > 0 (e.g. the default 1); the model is flagged converged = false.")));

	mb = model_begin(MODEL_KIND_LOGIT);
	model_put_float(mb, MODEL_PARAMS, "l2", L.l2);
	model_put_int(mb, MODEL_PARAMS, "max_iter", max_iter);
	model_put_float(mb, MODEL_DATA, "intercept", beta[0]);
	model_put_float_array(mb, MODEL_DATA, "coef", beta + 1, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "mean", mean + 1, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "scale", scale + 1, 1, &d);
	model_put_text_array(mb, MODEL_DATA, "feature_names", (const char *const *) logit_names(s, d), d);
	model_put_float(mb, MODEL_METRICS, "log_likelihood", ll);
	model_put_int(mb, MODEL_METRICS, "n_rows", nrows);
	model_put_int(mb, MODEL_METRICS, "n_positive", (int64) npos);
	model_put_int(mb, MODEL_METRICS, "iterations", iter);
	model_put_bool(mb, MODEL_METRICS, "converged", converged);
	PG_RETURN_BYTEA_P(model_finish(mb));
}

typedef struct LogitModel
{
	int			d;
	double		intercept;
	double	   *coef,
			   *mean,
			   *scale;
	char	  **names;
} LogitModel;

static LogitModel
logit_open(FunctionCallInfo fcinfo)
{
	ModelView  *m = model_open_cached(fcinfo, 0, MODEL_KIND_LOGIT);
	LogitModel	lm;
	int			dims[2] = {-1, 0};
	int			n2;

	lm.intercept = model_get_float(m, MODEL_DATA, "intercept");
	lm.coef = model_get_float_array(m, MODEL_DATA, "coef", 1, dims);
	lm.d = dims[0];
	lm.mean = model_get_float_array(m, MODEL_DATA, "mean", 1, dims);
	lm.scale = model_get_float_array(m, MODEL_DATA, "scale", 1, dims);
	lm.names = model_get_text_array(m, MODEL_DATA, "feature_names", &n2);
	if (n2 != lm.d || lm.d < 1)
		model_corrupt(m, "feature_names has %d entries for %d coefficients.", n2, lm.d);
	if (!isfinite(lm.intercept))
		model_corrupt(m, "the intercept is not finite.");
	for (int j = 0; j < lm.d; j++)
		if (!isfinite(lm.coef[j]) || !isfinite(lm.mean[j]) || !isfinite(lm.scale[j]) || lm.scale[j] < 0)
			model_corrupt(m, "coefficient %d or its scaling is not finite.", j + 1);
	return lm;
}

/* the standardised contribution of feature j to the log-odds, against the average customer */
static inline double
logit_contribution(const LogitModel *lm, int j, double x)
{
	if (lm->scale[j] == 0.0)
		return 0.0;
	return lm->coef[j] * (x - lm->mean[j]) / lm->scale[j];
}

PG_FUNCTION_INFO_V1(logit_churn_probability);
Datum
logit_churn_probability(PG_FUNCTION_ARGS)
{
	LogitModel	lm = logit_open(fcinfo);
	double	   *x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", lm.d);
	double		eta = lm.intercept;

	for (int j = 0; j < lm.d; j++)
		eta += logit_contribution(&lm, j, x[j]);
	PG_RETURN_FLOAT8(churn_logistic(eta));
}

typedef struct Contribution
{
	int			j;
	double		c;
} Contribution;

static int
contribution_cmp(const void *a, const void *b)
{
	const Contribution *x = a;
	const Contribution *y = b;

	if (x->c > y->c)
		return -1;
	if (x->c < y->c)
		return 1;
	return x->j - y->j;
}

PG_FUNCTION_INFO_V1(logit_churn_explain);
Datum
logit_churn_explain(PG_FUNCTION_ARGS)
{
	LogitModel	lm = logit_open(fcinfo);
	double	   *x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", lm.d);
	int32		top = PG_GETARG_INT32(2);
	Contribution *cs = palloc(sizeof(Contribution) * lm.d);
	StringInfoData buf;
	int			shown = 0;

	if (top < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top must be at least 1"),
				 errdetail("top is %d.", top),
				 errhint("top is how many reasons to list, e.g. 3.")));
	for (int j = 0; j < lm.d; j++)
	{
		cs[j].j = j;
		cs[j].c = logit_contribution(&lm, j, x[j]);
	}
	qsort(cs, lm.d, sizeof(Contribution), contribution_cmp);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int k = 0; k < lm.d && shown < top; k++)
	{
		int			j = cs[k].j;

		if (!(cs[k].c > 0.0))
			break;				/* only what pushes the risk up */
		if (shown > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"feature\": ");
		escape_json(&buf, lm.names[j]);
		appendStringInfoString(&buf, ", \"value\": ");
		model_append_float(&buf, x[j]);
		appendStringInfoString(&buf, ", \"average\": ");
		model_append_float(&buf, lm.mean[j]);
		appendStringInfoString(&buf, ", \"contribution\": ");
		model_append_float(&buf, cs[k].c);
		appendStringInfoChar(&buf, '}');
		shown++;
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
