/*
 * kmeans_segment_agg.c: the kmeans_segment aggregate (k-means++ with restarts over the
 * rows it holds).
 *
 * The rows live in the core row store (core/rowstore.h) in the aggregate context, checked
 * against retailiq.max_memory as they grow; parallel workers' partial states are concatenated
 * by the combine function. Since a parallel plan delivers the rows in a different order than
 * a serial one, the final function first sorts them into the canonical (lexicographic) order;
 * from there everything is sequential and seeded, so a serial and a parallel plan produce the
 * same model bit for bit.
 *
 * The clustering space is z = (x - mean) / scale, with scale the population standard
 * deviation when standardize is true and 1 otherwise (the data are centred either way, as
 * scikit-learn does, for accurate GEMM distances). The model keeps the centers in original
 * units and in the clustering space, the scaler, inertia (in the clustering space),
 * iterations and cluster sizes.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/rowstore.h"
#include "segment/kmeans.h"
#include "segment/kmeans_model.h"

/* The parameters of one kmeans_segment call, the same for every row. */
typedef struct KmParams
{
	int32		k;
	int32		seed;
	int32		n_init;
	int32		max_iter;
	double		tol;
	int32		standardize;
	int32		pad;
} KmParams;

/* The state: the parameters beside the rows so far. */
typedef struct KmSegState
{
	RiqRows		rows;
	KmParams	p;
	bool		finalized;		/* rows already sorted and transformed in place */
} KmSegState;

static void
check_params(const KmParams *p)
{
	if (p->k < 1 || p->k > KM_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", KM_MAX_K),
				 errdetail("k is %d.", p->k),
				 errhint("Ask for at least one cluster, and at most as many as there are distinct rows.")));
	if (p->n_init < 1 || p->n_init > KM_MAX_N_INIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_init must be between 1 and %d", KM_MAX_N_INIT),
				 errdetail("n_init is %d.", p->n_init),
				 errhint("n_init is the number of k-means++ restarts; 4 to 10 is usual.")));
	if (p->max_iter < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_iter must be at least 1"),
				 errdetail("max_iter is %d.", p->max_iter),
				 errhint("300 is the usual limit.")));
	if (!isfinite(p->tol) || p->tol < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tol must be a finite number of at least 0"),
				 errhint("1e-4 is the usual tolerance; 0 iterates until no label changes.")));
}

/* the parameters of this row's call: every argument after the features */
static void
read_params(FunctionCallInfo fcinfo, KmParams *p)
{
	memset(p, 0, sizeof(*p));
	p->k = kmeans_int_arg(fcinfo, 2, 0, "k");
	p->seed = kmeans_int_arg(fcinfo, 3, 42, "seed");
	p->n_init = kmeans_int_arg(fcinfo, 4, 4, "n_init");
	p->max_iter = kmeans_int_arg(fcinfo, 5, 300, "max_iter");
	if (PG_NARGS() > 6 && PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tol must not be NULL"),
				 errhint("Leave the argument out to use its default.")));
	p->tol = PG_NARGS() > 6 ? PG_GETARG_FLOAT8(6) : 1e-4;
	if (PG_NARGS() > 7 && PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("standardize must not be NULL"),
				 errhint("Leave the argument out to use its default.")));
	p->standardize = (PG_NARGS() > 7 ? PG_GETARG_BOOL(7) : true) ? 1 : 0;
}

static bool
same_params(const KmParams *a, const KmParams *b)
{
	return a->k == b->k && a->seed == b->seed && a->n_init == b->n_init &&
		a->max_iter == b->max_iter && a->tol == b->tol && a->standardize == b->standardize;
}

/* kmeans_segment(features, k [, seed, n_init, max_iter, tol, standardize]) */
PG_FUNCTION_INFO_V1(kmeans_segment_accum);
Datum
kmeans_segment_accum(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_segment_accum");
	KmSegState *s = PG_ARGISNULL(0) ? NULL : (KmSegState *) PG_GETARG_POINTER(0);
	const double *v;
	KmParams	p;
	int			d;

	read_params(fcinfo, &p);
	if (s == NULL)
	{
		check_params(&p);
		v = kmeans_read_features(fcinfo, 1, 0, &d);
		s = MemoryContextAllocZero(cxt, sizeof(KmSegState));
		riq_rows_init(&s->rows, cxt, d, "kmeans_segment");
		s->p = p;
		/*
		 * Room for the rows the planner expects, when the budget has it: the store then
		 * grows by no copies (riq_rows_sort gives back what is left unused).
		 */
		{
			double		expect = riq_agg_input_rows(fcinfo);

			if (expect > 1024.0 && expect < 1e9 &&
				riq_memory_fits(cxt, (Size) expect * (Size) d * sizeof(double)))
				riq_rows_reserve(&s->rows, (int64) expect);
		}
	}
	else
	{
		if (!same_params(&p, &s->p))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kmeans_segment parameters must be the same for every row"),
					 errhint("Pass k, seed, n_init, max_iter, tol and standardize as constants.")));
		v = kmeans_read_features(fcinfo, 1, s->rows.width, &d);
	}
	riq_rows_append(&s->rows, v);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(kmeans_buf_combine);
Datum
kmeans_buf_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_buf_combine");
	KmSegState *a = PG_ARGISNULL(0) ? NULL : (KmSegState *) PG_GETARG_POINTER(0);
	KmSegState *b = PG_ARGISNULL(1) ? NULL : (KmSegState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = MemoryContextAllocZero(cxt, sizeof(KmSegState));
		riq_rows_init(&a->rows, cxt, b->rows.width, "kmeans_segment");
		a->p = b->p;
	}
	else if (a->rows.width != b->rows.width || !same_params(&a->p, &b->p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_segment parameters and feature counts must be the same for every row"),
				 errhint("Pass the parameters as constants and build features the same way for every row.")));
	riq_rows_concat(&a->rows, &b->rows);
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(kmeans_buf_serialize);
Datum
kmeans_buf_serialize(PG_FUNCTION_ARGS)
{
	KmSegState *s = (KmSegState *) PG_GETARG_POINTER(0);

	(void) riq_agg_context(fcinfo, "kmeans_buf_serialize");
	PG_RETURN_BYTEA_P(riq_rows_serialize(&s->rows, &s->p, sizeof(KmParams)));
}

PG_FUNCTION_INFO_V1(kmeans_buf_deserialize);
Datum
kmeans_buf_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_buf_deserialize");
	KmSegState *s = MemoryContextAllocZero(cxt, sizeof(KmSegState));
	Size		extra_len;
	const char *extra;

	extra = riq_rows_deserialize(PG_GETARG_BYTEA_PP(0), &s->rows, cxt, KM_MAX_DIMS,
								 "kmeans_segment", &extra_len);
	if (extra_len != sizeof(KmParams))
		riq_state_corrupt("kmeans_segment", "Its parameters are %zu bytes, expected %zu.",
						  extra_len, sizeof(KmParams));
	memcpy(&s->p, extra, sizeof(KmParams));
	if (s->p.k < 1 || s->p.k > KM_MAX_K || s->p.n_init < 1 || s->p.n_init > KM_MAX_N_INIT ||
		s->p.max_iter < 1 || !isfinite(s->p.tol) || s->p.tol < 0.0 ||
		(s->p.standardize != 0 && s->p.standardize != 1))
		riq_state_corrupt("kmeans_segment", "Its parameters (k = %d, n_init = %d, max_iter = %d) are out of range.",
						  s->p.k, s->p.n_init, s->p.max_iter);
	PG_RETURN_POINTER(s);
}

/* column means and (population) standard deviations, in row order */
static void
column_stats(const double *x, int64 n, int d, double *mean, double *sd)
{
	for (int t = 0; t < d; t++)
		mean[t] = sd[t] = 0.0;
	for (int64 i = 0; i < n; i++)
		for (int t = 0; t < d; t++)
			mean[t] += x[i * d + t];
	for (int t = 0; t < d; t++)
		mean[t] /= (double) n;
	for (int64 i = 0; i < n; i++)
		for (int t = 0; t < d; t++)
		{
			double		diff = x[i * d + t] - mean[t];

			sd[t] += diff * diff;
		}
	for (int t = 0; t < d; t++)
		sd[t] = sqrt(sd[t] / (double) n);
}

/* the fitted model: centers back in original units, the scaler, the fit's metrics */
static bytea *
build_model(const KmSegState *s, const KmeansFit *fit, double *mean, double *scale,
			const double *center_shift, double tol_abs)
{
	int			d = s->rows.width;
	int			k = s->p.k;
	bool		standardize = s->p.standardize != 0;
	double	   *orig = palloc(sizeof(double) * k * d);
	double	   *scaled = palloc(sizeof(double) * k * d);
	ModelBuilder *b;
	int			dims[2];

	for (int j = 0; j < k; j++)
		for (int t = 0; t < d; t++)
		{
			double		c = fit->centers[j * d + t];

			orig[j * d + t] = c * scale[t] + center_shift[t];
			/* the model's clustering space is (x - scaler_mean) / scaler_scale */
			scaled[j * d + t] = standardize ? c : orig[j * d + t];
		}

	b = model_begin(MODEL_KIND_KMEANS);
	model_put_int(b, MODEL_PARAMS, "k", k);
	model_put_int(b, MODEL_PARAMS, "seed", s->p.seed);
	model_put_int(b, MODEL_PARAMS, "n_init", s->p.n_init);
	model_put_int(b, MODEL_PARAMS, "max_iter", s->p.max_iter);
	model_put_float(b, MODEL_PARAMS, "tol", s->p.tol);
	model_put_bool(b, MODEL_PARAMS, "standardize", standardize);
	model_put_int(b, MODEL_PARAMS, "n_features", d);
	model_put_text(b, MODEL_PARAMS, "algorithm", "lloyd");
	model_put_text(b, MODEL_PARAMS, "init", "k-means++");
	model_put_float(b, MODEL_PARAMS, "tol_abs", tol_abs);
	model_put_int(b, MODEL_METRICS, "n_rows", s->rows.n);
	model_put_float(b, MODEL_METRICS, "inertia", fit->inertia);
	model_put_int(b, MODEL_METRICS, "iterations", fit->n_iter);
	model_put_bool(b, MODEL_METRICS, "converged", fit->converged);
	model_put_int(b, MODEL_METRICS, "best_init", fit->best_init + 1);
	dims[0] = k;
	dims[1] = d;
	model_put_float_array(b, MODEL_DATA, "centroids", orig, 2, dims);
	model_put_float_array(b, MODEL_DATA, "centroids_scaled", scaled, 2, dims);
	dims[0] = d;
	for (int t = 0; t < d; t++)
		if (!standardize)
		{
			mean[t] = 0.0;
			scale[t] = 1.0;
		}
	model_put_float_array(b, MODEL_DATA, "scaler_mean", mean, 1, dims);
	model_put_float_array(b, MODEL_DATA, "scaler_scale", scale, 1, dims);
	dims[0] = k;
	model_put_int_array(b, MODEL_DATA, "sizes", fit->sizes, 1, dims);
	return model_finish(b);
}

PG_FUNCTION_INFO_V1(kmeans_segment_final);
Datum
kmeans_segment_final(PG_FUNCTION_ARGS)
{
	KmSegState *s = PG_ARGISNULL(0) ? NULL : (KmSegState *) PG_GETARG_POINTER(0);
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_segment_final");
	int			d,
				k;
	int64		n,
				distinct;
	double	   *mean,
			   *sd,
			   *scale,
			   *center_shift;
	double		var_mean = 0.0;
	KmeansFit	fit;

	if (s == NULL || s->rows.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_segment needs at least one row"),
				 errhint("Check the query's WHERE clause: it selected no rows.")));
	d = s->rows.width;
	k = s->p.k;
	n = s->rows.n;

	/* canonical order: the same model whatever order (or plan) delivered the rows */
	riq_memory_check(cxt, riq_mul_size((Size) n, 16, "kmeans_segment"), "kmeans_segment");
	riq_rows_sort(&s->rows);
	distinct = riq_rows_count_distinct(&s->rows, (int64) k);
	if (distinct < k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must not exceed the number of distinct rows"),
				 errdetail("k is %d, but there are only %lld distinct feature rows among %lld.",
						   k, (long long) distinct, (long long) n),
				 errhint("Lower k.")));

	mean = palloc(sizeof(double) * d);
	sd = palloc(sizeof(double) * d);
	scale = palloc(sizeof(double) * d);
	center_shift = palloc(sizeof(double) * d);
	column_stats(s->rows.data, n, d, mean, sd);
	for (int t = 0; t < d; t++)
	{
		scale[t] = (s->p.standardize && sd[t] > 0.0) ? sd[t] : 1.0;
		center_shift[t] = mean[t];
	}
	/* into the clustering space, in place (the final function owns the state) */
	if (!s->finalized)
	{
		for (int64 i = 0; i < n; i++)
		{
			double	   *row = RIQ_ROW(&s->rows, i);

			for (int t = 0; t < d; t++)
				row[t] = (row[t] - center_shift[t]) / scale[t];
		}
		s->finalized = true;
	}
	/* scikit-learn's tolerance: tol times the mean per-feature variance */
	for (int t = 0; t < d; t++)
		var_mean += (sd[t] / scale[t]) * (sd[t] / scale[t]);
	var_mean /= d;

	kmeans_fit(s->rows.data, n, d, k, (uint64) (int64) s->p.seed, s->p.n_init, s->p.max_iter,
			   s->p.tol * var_mean, cxt, &fit);
	PG_RETURN_BYTEA_P(build_model(s, &fit, mean, scale, center_shift, s->p.tol * var_mean));
}
