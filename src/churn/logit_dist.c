/*
 * logit_dist.c: logistic regression as a sequence of one-pass aggregates whose state is a
 * flat float8[] of partial sums, for engines that split a global aggregate only when its
 * state is not `internal` (Citus) and for tables too large to keep in memory.
 *
 *   logit_start(features, label [, l2])   means, variances, label rate -> a starting model
 *   logit_step(features, label, model)    sum of gradients and Hessians at the model's
 *                                         coefficients -> the model after one Newton step
 *
 * logit_step's state is [p, n, loglik, grad(p), hessian(p x p, upper triangle)] with p = d + 1
 * (intercept first); its combine function adds the arrays. Newton's method from the
 * intercept-only start needs a handful of steps; retailiq.logit_fit_iterative loops them.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/blas.h"
#include "core/model.h"
#include "churn/churn.h"

/* row counts kept as doubles stay exact up to 2^53 */
#define STATE_MAX_ROWS ((int64) 1 << 53)

static ArrayType *
state_new(FunctionCallInfo fcinfo, int len)
{
	MemoryContext aggcxt;
	MemoryContext old;
	ArrayType  *a;
	double	   *zeros;

	aggcxt = riq_agg_context(fcinfo, "logit_start");
	old = MemoryContextSwitchTo(aggcxt);
	zeros = palloc0(sizeof(double) * len);
	a = riq_float8_array_make(zeros, len);
	pfree(zeros);
	MemoryContextSwitchTo(old);
	return a;
}

/*
 * logit_start's state, checked: [d, n, npos, l2, sum(d), sum of squares(d), shift(d)],
 * d features from 1 to CHURN_MAX_FEATURES, counts whole, 0 <= npos <= n.
 */
static double *
start_state(ArrayType *a, int *d)
{
	double	   *s = riq_state_array(a, "logit_start", -1);
	int			len = ARR_DIMS(a)[0];

	if (len < 4)
		riq_state_corrupt("logit_start", "It has %d elements, fewer than its 4 header fields.", len);
	*d = (int) riq_state_count(s[0], "logit_start", "feature count", 1, CHURN_MAX_FEATURES);
	if (len != 4 + 3 * *d)
		riq_state_corrupt("logit_start", "It has %d elements, expected %d for %d features.", len, 4 + 3 * *d, *d);
	(void) riq_state_count(s[2], "logit_start", "count of positive labels", 0,
						   riq_state_count(s[1], "logit_start", "row count", 0, STATE_MAX_ROWS));
	if (!isfinite(s[3]) || s[3] < 0.0)
		riq_state_corrupt("logit_start", "Its l2 is %g.", s[3]);
	return s;
}

static double *
get_features(FunctionCallInfo fcinfo, int *d)
{
	double	   *f;

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
	f = riq_float8_array(PG_GETARG_ARRAYTYPE_P(1), "features", d, false);
	if (*d < 1 || *d > CHURN_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must have between 1 and %d elements", CHURN_MAX_FEATURES),
				 errdetail("It has %d.", *d)));
	return f;
}

/* state: [d, n, npos, l2, sum(d), sum of squares about the first row's value(d), shift(d)] */
PG_FUNCTION_INFO_V1(logit_start_sfunc);
Datum
logit_start_sfunc(PG_FUNCTION_ARGS)
{
	int			d;
	double	   *f = get_features(fcinfo, &d);
	double		l2 = (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_FLOAT8(3) : 1.0;
	ArrayType  *st;
	double	   *s;

	if (PG_NARGS() > 3 && PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("l2 must not be NULL")));
	if (!isfinite(l2) || l2 < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("l2 must be a finite number not below 0"),
				 errdetail("l2 is %g.", l2)));
	if (PG_ARGISNULL(0))
	{
		st = state_new(fcinfo, 4 + 3 * d);
		s = (double *) ARR_DATA_PTR(st);
		s[0] = d;
		s[3] = l2;
		/* shift by the first row's values: sums of squares about it lose fewer digits */
		memcpy(s + 4 + 2 * d, f, sizeof(double) * d);
	}
	else
	{
		int			state_d;

		st = PG_GETARG_ARRAYTYPE_P(0);
		s = start_state(st, &state_d);
		if (state_d != d)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("every row of logit_start must have the same number of features"),
					 errdetail("A row has %d features; earlier rows had %d.", d, state_d)));
		if (s[3] != l2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 must be the same for every row")));
	}
	s[1] += 1.0;
	s[2] += PG_GETARG_BOOL(2) ? 1.0 : 0.0;
	for (int j = 0; j < d; j++)
	{
		double		v = f[j] - s[4 + 2 * d + j];

		s[4 + j] += v;
		s[4 + d + j] += v * v;
	}
	PG_RETURN_ARRAYTYPE_P(st);
}

PG_FUNCTION_INFO_V1(logit_start_combine);
Datum
logit_start_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			d,
				db;
	double	   *sa = start_state(a, &d);
	double	   *sb = start_state(b, &db);
	ArrayType  *r;
	double	   *sr;

	if (db != d)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of logit_start must have the same number of features")));
	if (sa[3] != sb[3])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("l2 must be the same for every row")));
	r = AggCheckCallContext(fcinfo, NULL) ? a : riq_float8_array_make(sa, 4 + 3 * d);
	sr = (double *) ARR_DATA_PTR(r);
	/* move b's sums to a's shift c_a: sum(x - c_a) = sum(x - c_b) + n_b (c_b - c_a) */
	for (int j = 0; j < d; j++)
	{
		double		delta = sb[4 + 2 * d + j] - sa[4 + 2 * d + j];
		double		s1 = sb[4 + j];
		double		s2 = sb[4 + d + j];

		sr[4 + j] += s1 + sb[1] * delta;
		sr[4 + d + j] += s2 + 2.0 * delta * s1 + sb[1] * delta * delta;
	}
	sr[1] += sb[1];
	sr[2] += sb[2];
	PG_RETURN_ARRAYTYPE_P(r);
}

PG_FUNCTION_INFO_V1(logit_start_final);
Datum
logit_start_final(PG_FUNCTION_ARGS)
{
	double	   *s;
	int			d;
	double		n,
				npos;
	double	   *coef,
			   *mean,
			   *scale;
	char	  **names;
	ModelBuilder *mb;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_start needs at least one row")));
	s = start_state(PG_GETARG_ARRAYTYPE_P(0), &d);
	n = s[1];
	npos = s[2];
	if (npos == 0.0 || npos == n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_start needs both labels"),
				 errhint("Choose a period in which some customers churned and some did not.")));
	coef = palloc0(sizeof(double) * d);
	mean = palloc(sizeof(double) * d);
	scale = palloc(sizeof(double) * d);
	names = palloc(sizeof(char *) * d);
	for (int j = 0; j < d; j++)
	{
		double		m1 = s[4 + j] / n;
		double		var = s[4 + d + j] / n - m1 * m1;

		mean[j] = s[4 + 2 * d + j] + m1;
		scale[j] = var > 0.0 ? sqrt(var) : 0.0;
		if (!(scale[j] > 1e-12 * Max(1.0, fabs(mean[j]))))
			scale[j] = 0.0;
		names[j] = psprintf("f%d", j + 1);
	}
	mb = model_begin(MODEL_KIND_LOGIT);
	model_put_float(mb, MODEL_PARAMS, "l2", s[3]);
	model_put_float(mb, MODEL_DATA, "intercept", log(npos / (n - npos)));
	model_put_float_array(mb, MODEL_DATA, "coef", coef, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "mean", mean, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "scale", scale, 1, &d);
	model_put_text_array(mb, MODEL_DATA, "feature_names", (const char *const *) names, d);
	model_put_int(mb, MODEL_METRICS, "n_rows", (int64) n);
	model_put_int(mb, MODEL_METRICS, "n_positive", (int64) npos);
	model_put_int(mb, MODEL_METRICS, "iterations", 0);
	model_put_bool(mb, MODEL_METRICS, "converged", false);
	PG_RETURN_BYTEA_P(model_finish(mb));
}

/*
 * logit_step's state is a bytea (a plain varlena, so Citus can ship it): after the header
 * and 4 bytes of padding (so the doubles are 8-aligned), len doubles of partial sums
 * [p, n, loglik, grad(p), hessian(p x p, upper triangle)], then a copy of the model the step
 * starts from (the final function gets no argument values, only the state).
 */
#define STEP_PAD 4

static double *
step_values(bytea *st)
{
	return (double *) (VARDATA(st) + STEP_PAD);
}

/*
 * The number of partial sums of a checked state: its size field p (coefficients, from 2
 * to CHURN_MAX_FEATURES + 1), then 3 + p + p^2 doubles, then a whole model value
 * with a 4-byte header that ends exactly where the state ends (model_open checks it).
 */
static int
step_len(bytea *st)
{
	Size		size = VARSIZE_ANY(st);
	int			p;
	int			len;
	bytea	   *model;

	if (VARATT_IS_EXTENDED(st) || size < VARHDRSZ + STEP_PAD + sizeof(double))
		riq_state_corrupt("logit_step", "It is %zu bytes long, shorter than its header.", size);
	p = (int) riq_state_count(step_values(st)[0], "logit_step", "coefficient count", 2,
							  CHURN_MAX_FEATURES + 1);
	len = 3 + p + p * p;
	if (size < VARHDRSZ + STEP_PAD + sizeof(double) * len + VARHDRSZ)
		riq_state_corrupt("logit_step", "It is %zu bytes long, too short for %d coefficients.", size, p);
	model = (bytea *) ((char *) st + VARHDRSZ + STEP_PAD + sizeof(double) * len);
	if (!VARATT_IS_4B_U(model) ||
		VARSIZE(model) != size - (VARHDRSZ + STEP_PAD + sizeof(double) * len))
		riq_state_corrupt("logit_step", "Its model does not end where the state ends.");
	(void) riq_state_count(step_values(st)[1], "logit_step", "row count", 0, STATE_MAX_ROWS);
	return len;
}

static bytea *
step_model(bytea *st)
{
	return (bytea *) ((char *) st + VARHDRSZ + STEP_PAD + sizeof(double) * step_len(st));
}

/*
 * Each row adds (y - p) z to the gradient and p (1 - p) z z' to the Hessian's upper
 * triangle, z the standardised row with the intercept first.
 */
PG_FUNCTION_INFO_V1(logit_step_sfunc);
Datum
logit_step_sfunc(PG_FUNCTION_ARGS)
{
	int			d;
	double	   *f = get_features(fcinfo, &d);
	ModelView  *m;
	int			dims[2] = {-1, 0};
	double	   *coef,
			   *mean,
			   *scale;
	double		intercept;
	int			p = d + 1;
	int			len = 3 + p + p * p;
	bytea	   *st;
	double	   *s;
	double	   *z;
	double		eta,
				pr,
				y,
				w;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL"),
				 errhint("Start from retailiq.logit_start(features, label).")));
	m = model_open_cached(fcinfo, 3, MODEL_KIND_LOGIT);
	coef = model_get_float_array(m, MODEL_DATA, "coef", 1, dims);
	if (dims[0] != d)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features has %d elements, expected %d", d, dims[0]),
				 errhint("Every row must have the same number of elements as the model was trained with.")));
	mean = model_get_float_array(m, MODEL_DATA, "mean", 1, dims);
	scale = model_get_float_array(m, MODEL_DATA, "scale", 1, dims);
	intercept = model_get_float(m, MODEL_DATA, "intercept");
	if (PG_ARGISNULL(0))
	{
		MemoryContext aggcxt;
		Size		msize = VARSIZE(m->raw);
		Size		size = VARHDRSZ + STEP_PAD + sizeof(double) * len + msize;

		aggcxt = riq_agg_context(fcinfo, "logit_step");
		st = MemoryContextAllocZero(aggcxt, size);
		SET_VARSIZE(st, size);
		s = step_values(st);
		s[0] = p;
		memcpy((char *) st + VARHDRSZ + STEP_PAD + sizeof(double) * len, m->raw, msize);
	}
	else
	{
		st = PG_GETARG_BYTEA_P(0);
		if (step_len(st) != len)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("every row of logit_step must have the same number of features")));
		s = step_values(st);
	}
	z = palloc(sizeof(double) * p);
	z[0] = 1.0;
	eta = intercept;
	for (int j = 0; j < d; j++)
	{
		z[j + 1] = scale[j] > 0.0 ? (f[j] - mean[j]) / scale[j] : 0.0;
		eta += coef[j] * z[j + 1];
	}
	y = PG_GETARG_BOOL(2) ? 1.0 : 0.0;
	pr = churn_logistic(eta);
	w = pr * (1.0 - pr);
	s[1] += 1.0;
	s[2] += y * eta - churn_log1pexp(eta);
	for (int i = 0; i < p; i++)
	{
		double	   *hrow = s + 3 + p + i * p;
		double		wz = w * z[i];

		s[3 + i] += (y - pr) * z[i];
		for (int j = i; j < p; j++)
			hrow[j] += wz * z[j];
	}
	pfree(z);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(logit_step_combine);
Datum
logit_step_combine(PG_FUNCTION_ARGS)
{
	bytea	   *a = PG_GETARG_BYTEA_P(0);
	bytea	   *b = PG_GETARG_BYTEA_P(1);
	int			len = step_len(a);
	bytea	   *r;
	double	   *sr,
			   *sb;

	if (step_len(b) != len || VARSIZE(a) != VARSIZE(b))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of logit_step must have the same number of features")));
	if (memcmp(step_model(a), step_model(b), VARSIZE(step_model(a))) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must be the same for every row of logit_step")));
	if (AggCheckCallContext(fcinfo, NULL) && (Pointer) a == PG_GETARG_POINTER(0))
		r = a;
	else
	{
		r = palloc(VARSIZE(a));
		memcpy(r, a, VARSIZE(a));
	}
	sr = step_values(r);
	sb = step_values(b);
	for (int i = 1; i < len; i++)
		sr[i] += sb[i];
	PG_RETURN_BYTEA_P(r);
}

PG_FUNCTION_INFO_V1(logit_step_final);
Datum
logit_step_final(PG_FUNCTION_ARGS)
{
	bytea	   *st;
	ModelView  *m;
	double	   *s;
	int			p,
				d;
	int			dims[2] = {-1, 0};
	double	   *beta,
			   *H,
			   *g;
	double	   *mean,
			   *scale;
	char	  **names;
	int			nn;
	double		l2;
	double		maxdelta = 0.0;
	int64		iterations;
	ModelBuilder *mb;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_step needs at least one row")));
	st = PG_GETARG_BYTEA_P(0);
	s = step_values(st);
	(void) step_len(st);
	p = (int) s[0];
	d = p - 1;
	m = model_open(step_model(st), MODEL_KIND_LOGIT);
	beta = palloc(sizeof(double) * p);
	beta[0] = model_get_float(m, MODEL_DATA, "intercept");
	dims[0] = d;
	memcpy(beta + 1, model_get_float_array(m, MODEL_DATA, "coef", 1, dims), sizeof(double) * d);
	mean = model_get_float_array(m, MODEL_DATA, "mean", 1, dims);
	scale = model_get_float_array(m, MODEL_DATA, "scale", 1, dims);
	names = model_get_text_array(m, MODEL_DATA, "feature_names", &nn);
	if (nn != d)
		model_corrupt(m, "It names %d features for %d coefficients.", nn, d);
	l2 = model_get_float(m, MODEL_PARAMS, "l2");
	iterations = model_get_int(m, MODEL_METRICS, "iterations");
	H = palloc(sizeof(double) * p * p);
	g = palloc(sizeof(double) * p);
	for (int i = 0; i < p; i++)
	{
		g[i] = s[3 + i] - (i > 0 ? l2 * beta[i] : 0.0);
		for (int j = i; j < p; j++)
			H[i * p + j] = H[j * p + i] = s[3 + p + i * p + j];
		if (i > 0)
			H[i * p + i] += l2 + (scale[i - 1] == 0.0 ? 1.0 : 0.0);
	}
	if (!riq_posv(p, 1, H, g))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logit_step cannot separate the effects of collinear features"),
				 errhint("Use l2 > 0, or drop features that are copies or sums of others.")));
	for (int i = 0; i < p; i++)
	{
		beta[i] += g[i];
		maxdelta = Max(maxdelta, fabs(g[i]));
		if (!isfinite(beta[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("logit_step diverged"),
					 errhint("Use l2 > 0; the features may separate the classes.")));
	}
	mb = model_begin(MODEL_KIND_LOGIT);
	model_put_float(mb, MODEL_PARAMS, "l2", l2);
	model_put_float(mb, MODEL_DATA, "intercept", beta[0]);
	model_put_float_array(mb, MODEL_DATA, "coef", beta + 1, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "mean", mean, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "scale", scale, 1, &d);
	model_put_text_array(mb, MODEL_DATA, "feature_names", (const char *const *) names, nn);
	/* the log-likelihood at the coefficients this step started from */
	model_put_float(mb, MODEL_METRICS, "log_likelihood", s[2]);
	model_put_int(mb, MODEL_METRICS, "n_rows", (int64) s[1]);
	model_put_int(mb, MODEL_METRICS, "iterations", iterations + 1);
	model_put_float(mb, MODEL_METRICS, "step_size", maxdelta);
	model_put_bool(mb, MODEL_METRICS, "converged", maxdelta < 1e-8);
	PG_RETURN_BYTEA_P(model_finish(mb));
}

/* The same logistic model with its features named (logit_start cannot carry names). */
PG_FUNCTION_INFO_V1(logit_set_feature_names);
Datum
logit_set_feature_names(PG_FUNCTION_ARGS)
{
	ModelView  *m = model_open(PG_GETARG_MODEL_P(0), MODEL_KIND_LOGIT);
	ArrayType  *na = PG_GETARG_ARRAYTYPE_P(1);
	Oid			et;
	int			nn;
	Datum	   *el = riq_array_elements(na, "feature_names", &et, &nn);
	int			dims[2] = {-1, 0};
	int			d;
	double	   *coef = model_get_float_array(m, MODEL_DATA, "coef", 1, dims);
	char	  **names;
	ModelBuilder *mb;
	static const char *const float_metrics[] = {"log_likelihood", "step_size"};
	static const char *const int_metrics[] = {"n_rows", "n_positive", "iterations"};

	d = dims[0];
	if (et != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("feature_names must be a text[] array")));
	if (nn != d)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature_names has %d elements, the model has %d features", nn, d),
				 errhint("Name every feature once, in the order of the features array.")));
	names = palloc(sizeof(char *) * d);
	for (int j = 0; j < d; j++)
	{
		names[j] = TextDatumGetCString(el[j]);
		if (names[j][0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature_names must not contain empty names")));
	}
	mb = model_begin(MODEL_KIND_LOGIT);
	if (model_find(m, MODEL_PARAMS, "l2"))
		model_put_float(mb, MODEL_PARAMS, "l2", model_get_float(m, MODEL_PARAMS, "l2"));
	if (model_find(m, MODEL_PARAMS, "max_iter"))
		model_put_int(mb, MODEL_PARAMS, "max_iter", model_get_int(m, MODEL_PARAMS, "max_iter"));
	model_put_float(mb, MODEL_DATA, "intercept", model_get_float(m, MODEL_DATA, "intercept"));
	model_put_float_array(mb, MODEL_DATA, "coef", coef, 1, &d);
	model_put_float_array(mb, MODEL_DATA, "mean", model_get_float_array(m, MODEL_DATA, "mean", 1, dims), 1, &d);
	model_put_float_array(mb, MODEL_DATA, "scale", model_get_float_array(m, MODEL_DATA, "scale", 1, dims), 1, &d);
	model_put_text_array(mb, MODEL_DATA, "feature_names", (const char *const *) names, d);
	for (int i = 0; i < (int) lengthof(float_metrics); i++)
		if (model_find(m, MODEL_METRICS, float_metrics[i]))
			model_put_float(mb, MODEL_METRICS, float_metrics[i], model_get_float(m, MODEL_METRICS, float_metrics[i]));
	for (int i = 0; i < (int) lengthof(int_metrics); i++)
		if (model_find(m, MODEL_METRICS, int_metrics[i]))
			model_put_int(mb, MODEL_METRICS, int_metrics[i], model_get_int(m, MODEL_METRICS, int_metrics[i]));
	if (model_find(m, MODEL_METRICS, "converged"))
		model_put_bool(mb, MODEL_METRICS, "converged", model_get_bool(m, MODEL_METRICS, "converged"));
	model_set_trainer(mb, m->trained_at, m->trained_by);
	PG_RETURN_BYTEA_P(model_finish(mb));
}
