/*
 * kmeans_agg.c: k-means as SQL: the kmeans_segment aggregate, kmeans_assign,
 * kmeans_distance, the kmeans_silhouette aggregate, and the streaming pass.
 *
 * kmeans_segment gathers the rows in its aggregate state (a flat, growing float8 matrix
 * checked against retailiq.max_memory), and parallel workers' partial states are
 * concatenated by the combine function. Since a parallel plan delivers the rows in a
 * different order than a serial one, the final function first sorts the rows into a
 * canonical (lexicographic) order; from there everything is sequential and seeded, so a
 * serial and a parallel plan produce the same model bit for bit.
 *
 * The clustering space is z = (x - mean) / scale, with scale the population standard
 * deviation when standardize is true and 1 otherwise (the data are centred either way,
 * as scikit-learn does, for accurate GEMM distances). The model keeps the centers in
 * original units and in the clustering space, the scaler, inertia (in the clustering
 * space), iterations and cluster sizes.
 *
 * The streaming pass (kmeans_pass) is one Lloyd iteration as an aggregate whose state is
 * a bytea of per-center partial sums: combinable by addition, so parallel workers and a
 * distributed engine (Citus) can each run part of every pass.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/blas.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/rng.h"
#include "segment/kmeans.h"

#define KM_MAX_K		10000
#define KM_MAX_N_INIT	1000
#define KM_MAX_DIMS		10000

/* which aggregate a PointBuf belongs to: the two keep different parameters */
#define PB_KMEANS		1
#define PB_SILHOUETTE	2

/* The state of kmeans_segment and kmeans_silhouette: parameters and the rows so far. */
typedef struct PointBuf
{
	int32		what;			/* PB_KMEANS or PB_SILHOUETTE */
	int32		d;				/* features per row */
	int64		n;				/* rows */
	int64		cap;			/* rows allocated */
	double	   *x;				/* n x d, row-major */
	/* kmeans_segment */
	int32		k;
	int32		seed;
	int32		n_init;
	int32		max_iter;
	double		tol;
	bool		standardize;
	/* kmeans_silhouette */
	int32		sample_size;
	bytea	   *model;
	bool		finalized;		/* rows already sorted and transformed in place */
} PointBuf;

/* the fixed part of a serialized PointBuf */
typedef struct PointBufWire
{
	int32		what;
	int32		d;
	int64		n;
	int32		k;
	int32		seed;
	int32		n_init;
	int32		max_iter;
	double		tol;
	int32		standardize;
	int32		sample_size;
	int32		model_len;
	int32		pad;
} PointBufWire;

static void
pointbuf_grow(PointBuf *s, MemoryContext cxt, int64 need, const char *what)
{
	int64		newcap;
	Size		bytes,
				oldbytes;

	if (need <= s->cap)
		return;
	if (need > (int64) PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s accepts at most %d rows in memory", what, PG_INT32_MAX),
				 errhint("Use retailiq.kmeans_stream(), which passes over the rows without holding them.")));
	/* double while small, then grow by a quarter so that the slack stays small */
	newcap = s->cap < (1 << 20) ? Max(s->cap * 2, 1024) : s->cap + s->cap / 4;
	newcap = Min(Max(newcap, need), (int64) PG_INT32_MAX);
	bytes = riq_mul_size(riq_mul_size((Size) newcap, (Size) s->d, what), sizeof(double), what);
	oldbytes = (Size) s->cap * s->d * sizeof(double);
	/*
	 * A huge chunk is grown with realloc() (AllocSetRealloc), which moves pages rather than
	 * holding two copies, so the budget is asked for the increase only.
	 */
	riq_memory_check(cxt, bytes - oldbytes, what);
	if (s->x == NULL)
		s->x = MemoryContextAllocHuge(cxt, bytes);
	else
		s->x = repalloc_huge(s->x, bytes);
	s->cap = newcap;
}

/* Append one row, with -0 folded into +0 so that equal rows are equal bytes. */
static void
pointbuf_append(PointBuf *s, MemoryContext cxt, const double *v, const char *what)
{
	double	   *dst;

	pointbuf_grow(s, cxt, s->n + 1, what);
	dst = s->x + (Size) s->n * s->d;
	for (int t = 0; t < s->d; t++)
		dst[t] = v[t] + 0.0;
	s->n++;
}

static const double *
read_features(FunctionCallInfo fcinfo, int argno, int expect_d, int *d)
{
	ArrayType  *a;
	const double *v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be NULL"),
				 errhint("Filter out rows without features, or fill them in with coalesce.")));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	v = riq_float8_array(a, "features", d, false);
	if (*d == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must not be empty"),
				 errhint("Pass at least one feature per row.")));
	if (*d > KM_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("features has %d elements, more than the %d allowed", *d, KM_MAX_DIMS),
				 errhint("Reduce the number of features.")));
	if (expect_d > 0 && *d != expect_d)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features has %d elements, expected %d", *d, expect_d),
				 errdetail("Every row must have as many features as the first row (or the model)."),
				 errhint("Build the features array the same way for every row.")));
	return v;
}

static int32
int_arg(FunctionCallInfo fcinfo, int argno, int32 dflt, const char *name)
{
	if (PG_NARGS() <= argno)
		return dflt;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Leave the argument out to use its default.")));
	return PG_GETARG_INT32(argno);
}

/* ----------------------------------------------------------------------------------
 * kmeans_segment(features, k [, seed, n_init, max_iter, tol, standardize])
 * ---------------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(kmeans_segment_accum);
Datum
kmeans_segment_accum(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_segment_accum");
	PointBuf   *s = PG_ARGISNULL(0) ? NULL : (PointBuf *) PG_GETARG_POINTER(0);
	const double *v;
	int			d;
	int32		k,
				seed,
				n_init,
				max_iter;
	double		tol;
	bool		standardize;

	k = int_arg(fcinfo, 2, 0, "k");
	seed = int_arg(fcinfo, 3, 42, "seed");
	n_init = int_arg(fcinfo, 4, 4, "n_init");
	max_iter = int_arg(fcinfo, 5, 300, "max_iter");
	if (PG_NARGS() > 6 && PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tol must not be NULL"),
				 errhint("Leave the argument out to use its default.")));
	tol = PG_NARGS() > 6 ? PG_GETARG_FLOAT8(6) : 1e-4;
	if (PG_NARGS() > 7 && PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("standardize must not be NULL"),
				 errhint("Leave the argument out to use its default.")));
	standardize = PG_NARGS() > 7 ? PG_GETARG_BOOL(7) : true;

	if (s == NULL)
	{
		if (k < 1 || k > KM_MAX_K)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("k must be between 1 and %d", KM_MAX_K),
					 errdetail("k is %d.", k),
					 errhint("Ask for at least one cluster, and at most as many as there are distinct rows.")));
		if (n_init < 1 || n_init > KM_MAX_N_INIT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("n_init must be between 1 and %d", KM_MAX_N_INIT),
					 errdetail("n_init is %d.", n_init),
					 errhint("n_init is the number of k-means++ restarts; 4 to 10 is usual.")));
		if (max_iter < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_iter must be at least 1"),
					 errdetail("max_iter is %d.", max_iter),
					 errhint("300 is the usual limit.")));
		if (!isfinite(tol) || tol < 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tol must be a finite number of at least 0"),
					 errhint("1e-4 is the usual tolerance; 0 iterates until no label changes.")));
		v = read_features(fcinfo, 1, 0, &d);
		s = MemoryContextAllocZero(cxt, sizeof(PointBuf));
		s->what = PB_KMEANS;
		s->d = d;
		s->k = k;
		s->seed = seed;
		s->n_init = n_init;
		s->max_iter = max_iter;
		s->tol = tol;
		s->standardize = standardize;
	}
	else
	{
		if (k != s->k || seed != s->seed || n_init != s->n_init ||
			max_iter != s->max_iter || tol != s->tol || standardize != s->standardize)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kmeans_segment parameters must be the same for every row"),
					 errhint("Pass k, seed, n_init, max_iter, tol and standardize as constants.")));
		v = read_features(fcinfo, 1, s->d, &d);
	}
	pointbuf_append(s, cxt, v, "kmeans_segment");
	PG_RETURN_POINTER(s);
}

static PointBuf *
pointbuf_copy(const PointBuf *src, MemoryContext cxt, const char *what)
{
	PointBuf   *s = MemoryContextAlloc(cxt, sizeof(PointBuf));

	memcpy(s, src, sizeof(PointBuf));
	s->x = NULL;
	s->cap = 0;
	s->n = 0;
	s->finalized = false;
	if (src->model)
	{
		s->model = MemoryContextAlloc(cxt, VARSIZE_ANY(src->model));
		memcpy(s->model, src->model, VARSIZE_ANY(src->model));
	}
	pointbuf_grow(s, cxt, Max(src->n, 1), what);
	memcpy(s->x, src->x, sizeof(double) * (Size) src->n * src->d);
	s->n = src->n;
	return s;
}

static PointBuf *
pointbuf_combine(FunctionCallInfo fcinfo, const char *what)
{
	MemoryContext cxt = riq_agg_context(fcinfo, what);
	PointBuf   *a = PG_ARGISNULL(0) ? NULL : (PointBuf *) PG_GETARG_POINTER(0);
	PointBuf   *b = PG_ARGISNULL(1) ? NULL : (PointBuf *) PG_GETARG_POINTER(1);

	if (b == NULL)
		return a;
	if (a == NULL)
		return pointbuf_copy(b, cxt, what);
	if (a->what != b->what || a->d != b->d || a->k != b->k || a->seed != b->seed ||
		a->n_init != b->n_init || a->max_iter != b->max_iter || a->tol != b->tol ||
		a->standardize != b->standardize || a->sample_size != b->sample_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s parameters and feature counts must be the same for every row", what),
				 errhint("Pass the parameters as constants and build features the same way for every row.")));
	if ((a->model == NULL) != (b->model == NULL) ||
		(a->model && (VARSIZE_ANY(a->model) != VARSIZE_ANY(b->model) ||
					  memcmp(a->model, b->model, VARSIZE_ANY(a->model)) != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs the same model for every row", what),
				 errhint("Pass one model value, e.g. from a scalar subquery.")));
	pointbuf_grow(a, cxt, a->n + b->n, what);
	memcpy(a->x + (Size) a->n * a->d, b->x, sizeof(double) * (Size) b->n * b->d);
	a->n += b->n;
	return a;
}

PG_FUNCTION_INFO_V1(kmeans_buf_combine);
Datum
kmeans_buf_combine(PG_FUNCTION_ARGS)
{
	PointBuf   *r = pointbuf_combine(fcinfo, "kmeans aggregate");

	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(r);
}

PG_FUNCTION_INFO_V1(kmeans_buf_serialize);
Datum
kmeans_buf_serialize(PG_FUNCTION_ARGS)
{
	PointBuf   *s = (PointBuf *) PG_GETARG_POINTER(0);
	PointBufWire w;
	Size		data_bytes;
	Size		model_bytes = s->model ? VARSIZE_ANY(s->model) : 0;
	Size		total;
	bytea	   *out;
	char	   *p;

	(void) riq_agg_context(fcinfo, "kmeans_buf_serialize");
	data_bytes = riq_mul_size(riq_mul_size((Size) s->n, (Size) s->d, "k-means state"),
							  sizeof(double), "k-means state");
	total = add_size(add_size(VARHDRSZ + sizeof(w), model_bytes), data_bytes);
	if (!AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a parallel worker's k-means rows exceed 1 GB"),
				 errdetail("The worker holds %lld rows of %d features.", (long long) s->n, s->d),
				 errhint("Raise max_parallel_workers_per_gather so each worker holds less, run it serially, or use retailiq.kmeans_stream().")));
	memset(&w, 0, sizeof(w));
	w.what = s->what;
	w.d = s->d;
	w.n = s->n;
	w.k = s->k;
	w.seed = s->seed;
	w.n_init = s->n_init;
	w.max_iter = s->max_iter;
	w.tol = s->tol;
	w.standardize = s->standardize;
	w.sample_size = s->sample_size;
	w.model_len = (int32) model_bytes;
	out = palloc(total);
	SET_VARSIZE(out, total);
	p = VARDATA(out);
	memcpy(p, &w, sizeof(w));
	p += sizeof(w);
	if (model_bytes)
	{
		memcpy(p, s->model, model_bytes);
		p += model_bytes;
	}
	memcpy(p, s->x, data_bytes);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(kmeans_buf_deserialize);
Datum
kmeans_buf_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_buf_deserialize");
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	PointBufWire w;
	PointBuf   *s;

	if (len < sizeof(w))
		riq_state_corrupt("kmeans_segment", "It is %zu bytes long, shorter than its header.", len);
	memcpy(&w, p, sizeof(w));
	p += sizeof(w);
	/* sizes checked by division, so no product of forged fields can overflow */
	if (w.d < 1 || w.d > KM_MAX_DIMS || w.n < 0 || w.model_len < 0 ||
		(Size) w.model_len > len - sizeof(w) ||
		(len - sizeof(w) - (Size) w.model_len) % (sizeof(double) * w.d) != 0 ||
		(Size) w.n != (len - sizeof(w) - (Size) w.model_len) / (sizeof(double) * w.d))
		riq_state_corrupt("kmeans_segment", "Its header (%d features, " INT64_FORMAT " rows) does not match its %zu bytes.",
						  w.d, w.n, len);
	s = MemoryContextAllocZero(cxt, sizeof(PointBuf));
	s->what = w.what;
	s->d = w.d;
	s->k = w.k;
	s->seed = w.seed;
	s->n_init = w.n_init;
	s->max_iter = w.max_iter;
	s->tol = w.tol;
	s->standardize = w.standardize != 0;
	s->sample_size = w.sample_size;
	if (w.model_len > 0)
	{
		s->model = MemoryContextAlloc(cxt, w.model_len);
		memcpy(s->model, p, w.model_len);
		p += w.model_len;
	}
	pointbuf_grow(s, cxt, Max(w.n, 1), "k-means state");
	memcpy(s->x, p, sizeof(double) * (Size) w.n * w.d);
	s->n = w.n;
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

PG_FUNCTION_INFO_V1(kmeans_segment_final);
Datum
kmeans_segment_final(PG_FUNCTION_ARGS)
{
	PointBuf   *s = PG_ARGISNULL(0) ? NULL : (PointBuf *) PG_GETARG_POINTER(0);
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_segment_final");
	int			d,
				k;
	int64		n,
				distinct;
	double	   *mean,
			   *sd,
			   *scale,
			   *center_shift,
			   *orig,
			   *scaled;
	double		var_mean = 0.0;
	KmeansFit	fit;
	ModelBuilder *b;
	int			dims[2];

	if (s == NULL || s->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_segment needs at least one row"),
				 errhint("Check the query's WHERE clause: it selected no rows.")));
	d = s->d;
	k = s->k;
	n = s->n;

	/* canonical order: the same model whatever order (or plan) delivered the rows */
	riq_memory_check(cxt, riq_mul_size((Size) n, 16, "kmeans_segment"), "kmeans_segment");
	kmeans_sort_rows(s->x, n, d);
	distinct = kmeans_count_distinct(s->x, n, d, (int64) k);
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
	column_stats(s->x, n, d, mean, sd);
	for (int t = 0; t < d; t++)
	{
		scale[t] = (s->standardize && sd[t] > 0.0) ? sd[t] : 1.0;
		center_shift[t] = mean[t];
	}
	/* into the clustering space, in place (the final function owns the state) */
	if (!s->finalized)
	{
		for (int64 i = 0; i < n; i++)
		{
			double	   *row = s->x + i * d;

			for (int t = 0; t < d; t++)
				row[t] = (row[t] - center_shift[t]) / scale[t];
		}
		s->finalized = true;
	}
	/* scikit-learn's tolerance: tol times the mean per-feature variance */
	for (int t = 0; t < d; t++)
		var_mean += (sd[t] / scale[t]) * (sd[t] / scale[t]);
	var_mean /= d;

	kmeans_fit(s->x, n, d, k, (uint64) (int64) s->seed, s->n_init, s->max_iter,
			   s->tol * var_mean, cxt, &fit);

	orig = palloc(sizeof(double) * k * d);
	scaled = palloc(sizeof(double) * k * d);
	for (int j = 0; j < k; j++)
		for (int t = 0; t < d; t++)
		{
			double		c = fit.centers[j * d + t];

			orig[j * d + t] = c * scale[t] + center_shift[t];
			/* the model's clustering space is (x - scaler_mean) / scaler_scale */
			scaled[j * d + t] = s->standardize ? c : orig[j * d + t];
		}

	b = model_begin(MODEL_KIND_KMEANS);
	model_put_int(b, MODEL_PARAMS, "k", k);
	model_put_int(b, MODEL_PARAMS, "seed", s->seed);
	model_put_int(b, MODEL_PARAMS, "n_init", s->n_init);
	model_put_int(b, MODEL_PARAMS, "max_iter", s->max_iter);
	model_put_float(b, MODEL_PARAMS, "tol", s->tol);
	model_put_bool(b, MODEL_PARAMS, "standardize", s->standardize);
	model_put_int(b, MODEL_PARAMS, "n_features", d);
	model_put_text(b, MODEL_PARAMS, "algorithm", "lloyd");
	model_put_text(b, MODEL_PARAMS, "init", "k-means++");
	model_put_float(b, MODEL_PARAMS, "tol_abs", s->tol * var_mean);
	model_put_int(b, MODEL_METRICS, "n_rows", n);
	model_put_float(b, MODEL_METRICS, "inertia", fit.inertia);
	model_put_int(b, MODEL_METRICS, "iterations", fit.n_iter);
	model_put_bool(b, MODEL_METRICS, "converged", fit.converged);
	model_put_int(b, MODEL_METRICS, "best_init", fit.best_init + 1);
	dims[0] = k;
	dims[1] = d;
	model_put_float_array(b, MODEL_DATA, "centroids", orig, 2, dims);
	model_put_float_array(b, MODEL_DATA, "centroids_scaled", scaled, 2, dims);
	dims[0] = d;
	for (int t = 0; t < d; t++)
		if (!s->standardize)
		{
			mean[t] = 0.0;
			scale[t] = 1.0;
		}
	model_put_float_array(b, MODEL_DATA, "scaler_mean", mean, 1, dims);
	model_put_float_array(b, MODEL_DATA, "scaler_scale", scale, 1, dims);
	dims[0] = k;
	model_put_int_array(b, MODEL_DATA, "sizes", fit.sizes, 1, dims);
	PG_RETURN_BYTEA_P(model_finish(b));
}

/* ----------------------------------------------------------------------------------
 * Using a model
 * ---------------------------------------------------------------------------------- */

typedef struct KmModel
{
	int			k;
	int			d;
	double	   *centers;		/* clustering space */
	double	   *mean;
	double	   *scale;
	bool		standardize;
	int64		iterations;		/* passes so far, for a streaming model; else 0 */
	int32		seed;
	double		tol_abs;
} KmModel;

static void
km_model_read(const ModelView *m, KmModel *km)
{
	int			dims[2] = {-1, -1};
	int			d1[1] = {-1};
	int64		k = model_get_int(m, MODEL_PARAMS, "k");

	km->centers = model_get_float_array(m, MODEL_DATA, "centroids_scaled", 2, dims);
	km->k = dims[0];
	km->d = dims[1];
	if (km->k != k || km->k < 1 || km->d < 1 || km->k > KM_MAX_K || km->d > KM_MAX_DIMS)
		model_corrupt(m, "It has %d centroids of %d features for k = %lld.", km->k, km->d,
					  (long long) k);
	d1[0] = km->d;
	km->mean = model_get_float_array(m, MODEL_DATA, "scaler_mean", 1, d1);
	d1[0] = km->d;
	km->scale = model_get_float_array(m, MODEL_DATA, "scaler_scale", 1, d1);
	for (int t = 0; t < km->d; t++)
		if (!(km->scale[t] > 0.0) || !isfinite(km->scale[t]) || !isfinite(km->mean[t]))
			model_corrupt(m, "Its scaler has a non-positive or non-finite entry.");
	for (int q = 0; q < km->k * km->d; q++)
		if (!isfinite(km->centers[q]))
			model_corrupt(m, "A centroid has a non-finite coordinate.");
	km->standardize = model_find(m, MODEL_PARAMS, "standardize") ?
		model_get_bool(m, MODEL_PARAMS, "standardize") : false;
	km->iterations = 0;
	if (model_find(m, MODEL_PARAMS, "algorithm") &&
		strcmp(model_get_text(m, MODEL_PARAMS, "algorithm"), "lloyd (streaming)") == 0)
		km->iterations = model_get_int(m, MODEL_METRICS, "iterations");
	km->seed = model_find(m, MODEL_PARAMS, "seed") ?
		(int32) model_get_int(m, MODEL_PARAMS, "seed") : 0;
	km->tol_abs = model_find(m, MODEL_PARAMS, "tol_abs") ?
		model_get_float(m, MODEL_PARAMS, "tol_abs") : 0.0;
}

/* A parsed model kept across rows in fn_extra, re-read only when the value changes. */
typedef struct KmCache
{
	MemoryContext cxt;
	bytea	   *copy;
	KmModel		km;
} KmCache;

static KmModel *
km_model_cached(FunctionCallInfo fcinfo, int argno)
{
	KmCache    *c = (KmCache *) fcinfo->flinfo->fn_extra;
	bytea	   *value = PG_GETARG_MODEL_P(argno);
	MemoryContext old;
	bytea	   *copy;
	ModelView  *m;

	if (c != NULL && c->copy != NULL && VARSIZE_ANY(value) == VARSIZE_ANY(c->copy) &&
		memcmp(value, c->copy, VARSIZE_ANY(value)) == 0)
		return &c->km;
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(KmCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "retailiq k-means model",
									   ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	MemoryContextReset(c->cxt);
	c->copy = NULL;
	old = MemoryContextSwitchTo(c->cxt);
	copy = palloc(VARSIZE_ANY(value));
	memcpy(copy, value, VARSIZE_ANY(value));
	m = model_open(copy, MODEL_KIND_KMEANS);
	km_model_read(m, &c->km);
	c->copy = copy;
	MemoryContextSwitchTo(old);
	return &c->km;
}

static void
to_model_space(const KmModel *km, const double *x, double *z)
{
	for (int t = 0; t < km->d; t++)
		z[t] = (x[t] - km->mean[t]) / km->scale[t];
}

PG_FUNCTION_INFO_V1(kmeans_assign);
Datum
kmeans_assign(PG_FUNCTION_ARGS)
{
	KmModel    *km = km_model_cached(fcinfo, 0);
	const double *x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", km->d);
	double	   *z = palloc(sizeof(double) * km->d);

	to_model_space(km, x, z);
	PG_RETURN_INT32(kmeans_nearest(z, km->centers, km->k, km->d, NULL) + 1);
}

PG_FUNCTION_INFO_V1(kmeans_distance);
Datum
kmeans_distance(PG_FUNCTION_ARGS)
{
	KmModel    *km = km_model_cached(fcinfo, 0);
	const double *x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", km->d);
	double	   *z = palloc(sizeof(double) * km->d);
	double		d2;

	to_model_space(km, x, z);
	(void) kmeans_nearest(z, km->centers, km->k, km->d, &d2);
	PG_RETURN_FLOAT8(sqrt(d2));
}

/* ----------------------------------------------------------------------------------
 * kmeans_silhouette(features, model [, sample_size, seed])
 * ---------------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(kmeans_silhouette_accum);
Datum
kmeans_silhouette_accum(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_silhouette_accum");
	PointBuf   *s = PG_ARGISNULL(0) ? NULL : (PointBuf *) PG_GETARG_POINTER(0);
	const double *v;
	int			d;
	int32		sample_size = int_arg(fcinfo, 3, 10000, "sample_size");
	int32		seed = int_arg(fcinfo, 4, 42, "seed");
	bytea	   *model;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL"),
				 errhint("Pass the model returned by retailiq.kmeans_segment().")));
	model = PG_GETARG_MODEL_P(2);
	if (s == NULL)
	{
		KmModel    *km;

		if (sample_size < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sample_size must be at least 2"),
					 errdetail("sample_size is %d.", sample_size),
					 errhint("10000 gives a close estimate at a modest cost.")));
		km = km_model_cached(fcinfo, 2);
		v = read_features(fcinfo, 1, km->d, &d);
		s = MemoryContextAllocZero(cxt, sizeof(PointBuf));
		s->what = PB_SILHOUETTE;
		s->d = d;
		s->sample_size = sample_size;
		s->seed = seed;
		s->model = MemoryContextAlloc(cxt, VARSIZE_ANY(model));
		memcpy(s->model, model, VARSIZE_ANY(model));
	}
	else
	{
		if (sample_size != s->sample_size || seed != s->seed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kmeans_silhouette parameters must be the same for every row"),
					 errhint("Pass sample_size and seed as constants.")));
		if (VARSIZE_ANY(model) != VARSIZE_ANY(s->model) ||
			memcmp(model, s->model, VARSIZE_ANY(model)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kmeans_silhouette needs the same model for every row"),
					 errhint("Pass one model value, e.g. from a scalar subquery.")));
		v = read_features(fcinfo, 1, s->d, &d);
	}
	pointbuf_append(s, cxt, v, "kmeans_silhouette");
	PG_RETURN_POINTER(s);
}

/*
 * Mean silhouette (Rousseeuw 1987) of the rows, labelled by the model, with Euclidean
 * distances in the model's clustering space; a point alone in its cluster scores 0, as in
 * scikit-learn's silhouette_score.
 */
PG_FUNCTION_INFO_V1(kmeans_silhouette_final);
Datum
kmeans_silhouette_final(PG_FUNCTION_ARGS)
{
	PointBuf   *s = PG_ARGISNULL(0) ? NULL : (PointBuf *) PG_GETARG_POINTER(0);
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_silhouette_final");
	ModelView  *m;
	KmModel		km;
	int64		n,
				ns;
	int			d,
				k,
				nlabels = 0;
	double	   *z,
			   *znorm,
			   *g,
			   *csum,
				total = 0.0;
	int		   *lab;
	int64	   *csize;
	int64	   *pick;
	const int	B = 256;

	if (s == NULL || s->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_silhouette needs at least two rows"),
				 errhint("Check the query's WHERE clause: it selected no rows.")));
	m = model_open(s->model, MODEL_KIND_KMEANS);
	km_model_read(m, &km);
	d = km.d;
	k = km.k;
	n = s->n;
	riq_memory_check(cxt, riq_mul_size((Size) n, 16, "kmeans_silhouette"), "kmeans_silhouette");
	kmeans_sort_rows(s->x, n, d);

	/* a deterministic sample: the first sample_size of a seeded shuffle of the sorted rows */
	ns = Min(n, (int64) s->sample_size);
	riq_memory_check(cxt, riq_mul_size((Size) n, sizeof(int64), "kmeans_silhouette") +
					 riq_mul_size((Size) ns, sizeof(double) * (d + 1) + sizeof(int) +
								  sizeof(double) * B, "kmeans_silhouette"),
					 "kmeans_silhouette");
	pick = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (Size) n);
	for (int64 i = 0; i < n; i++)
		pick[i] = i;
	if (ns < n)
	{
		RiqRng		rng;

		riq_rng_seed(&rng, (uint64) (int64) s->seed, 0);
		for (int64 i = 0; i < ns; i++)
		{
			int64		j = i + (int64) riq_rng_below(&rng, (uint64) (n - i));
			int64		tmp = pick[i];

			pick[i] = pick[j];
			pick[j] = tmp;
		}
	}
	z = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) ns * d);
	znorm = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) ns);
	lab = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int) * (Size) ns);
	csize = palloc0(sizeof(int64) * k);
	for (int64 i = 0; i < ns; i++)
	{
		to_model_space(&km, s->x + pick[i] * d, z + i * d);
		znorm[i] = riq_dot(d, z + i * d, z + i * d);
		lab[i] = kmeans_nearest(z + i * d, km.centers, k, d, NULL);
		if (csize[lab[i]]++ == 0)
			nlabels++;
	}
	if (nlabels < 2 || nlabels > ns - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the silhouette needs between 2 and %lld clusters among the rows", (long long) (ns - 1)),
				 errdetail("The model puts the %lld rows into %d cluster(s).", (long long) ns, nlabels),
				 errhint("Score a model with k of at least 2 on more rows.")));

	g = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) B * ns);
	csum = palloc(sizeof(double) * k);
	for (int64 i0 = 0; i0 < ns; i0 += B)
	{
		int			mrows = (int) Min((int64) B, ns - i0);

		CHECK_FOR_INTERRUPTS();
		riq_gemm(false, true, mrows, (int) ns, d, 1.0, z + i0 * d, d, z, d, 0.0, g, (int) ns);
		for (int r = 0; r < mrows; r++)
		{
			int64		i = i0 + r;
			const double *gr = g + (Size) r * ns;
			double		a,
						bmin = -1.0;

			for (int j = 0; j < k; j++)
				csum[j] = 0.0;
			for (int64 j = 0; j < ns; j++)
			{
				double		dd;

				if (j == i)
					continue;
				dd = znorm[i] + znorm[j] - 2.0 * gr[j];
				csum[lab[j]] += dd > 0.0 ? sqrt(dd) : 0.0;
			}
			if (csize[lab[i]] <= 1)
				continue;		/* s(i) = 0 */
			a = csum[lab[i]] / (double) (csize[lab[i]] - 1);
			for (int j = 0; j < k; j++)
			{
				double		bj;

				if (j == lab[i] || csize[j] == 0)
					continue;
				bj = csum[j] / (double) csize[j];
				if (bmin < 0.0 || bj < bmin)
					bmin = bj;
			}
			if (Max(a, bmin) > 0.0)
				total += (bmin - a) / Max(a, bmin);
		}
	}
	PG_RETURN_FLOAT8(total / (double) ns);
}

/* ----------------------------------------------------------------------------------
 * The streaming pass: kmeans_pass(features, model) -> model, with a bytea state
 * ---------------------------------------------------------------------------------- */

typedef struct PassHeader
{
	int32		vl_len_;
	int32		k;
	int32		d;
	int32		standardize;
	int64		n;
	int64		iterations;		/* of the model the pass started from */
	int32		seed;
	int32		pad;
	double		tol_abs;
	double		inertia;
	/* then: centers k*d, mean d, scale d, sums k*d (doubles), counts k (int64) */
} PassHeader;

#define PASS_CENTERS(h)	((double *) ((char *) (h) + sizeof(PassHeader)))
#define PASS_MEAN(h)	(PASS_CENTERS(h) + (Size) (h)->k * (h)->d)
#define PASS_SCALE(h)	(PASS_MEAN(h) + (h)->d)
#define PASS_SUMS(h)	(PASS_SCALE(h) + (h)->d)
#define PASS_COUNTS(h)	((int64 *) (PASS_SUMS(h) + (Size) (h)->k * (h)->d))

static Size
pass_size(int k, int d)
{
	return sizeof(PassHeader) + sizeof(double) * ((Size) 2 * k * d + 2 * d) + sizeof(int64) * k;
}

/* Every field that sizes the state, checked against its real length before use. */
static void
pass_check(const PassHeader *h)
{
	if (VARATT_IS_EXTENDED(h) || VARSIZE(h) < sizeof(PassHeader))
		riq_state_corrupt("kmeans_pass", "It is shorter than its header.");
	if (h->k < 1 || h->d < 1 || h->k > KM_MAX_K || h->d > KM_MAX_DIMS)
		riq_state_corrupt("kmeans_pass", "It claims k = %d and %d features.", h->k, h->d);
	riq_state_size((const bytea *) h, "kmeans_pass", pass_size(h->k, h->d));
	if (h->n < 0)
		riq_state_corrupt("kmeans_pass", "Its row count is negative.");
}

PG_FUNCTION_INFO_V1(kmeans_pass_accum);
Datum
kmeans_pass_accum(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_pass_accum");
	PassHeader *h = PG_ARGISNULL(0) ? NULL : (PassHeader *) PG_GETARG_BYTEA_P(0);
	const double *x;
	double	   *z;
	double		d2;
	int			d,
				j;
	double	   *sums;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL"),
				 errhint("Start from the model of retailiq.kmeans_segment() on a sample.")));
	if (h == NULL)
	{
		KmModel    *km = km_model_cached(fcinfo, 2);

		h = MemoryContextAllocZero(cxt, pass_size(km->k, km->d));
		SET_VARSIZE(h, pass_size(km->k, km->d));
		h->k = km->k;
		h->d = km->d;
		h->standardize = km->standardize;
		h->iterations = km->iterations;
		h->seed = km->seed;
		h->tol_abs = km->tol_abs;
		memcpy(PASS_CENTERS(h), km->centers, sizeof(double) * km->k * km->d);
		memcpy(PASS_MEAN(h), km->mean, sizeof(double) * km->d);
		memcpy(PASS_SCALE(h), km->scale, sizeof(double) * km->d);
	}
	else
		pass_check(h);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be NULL"),
				 errhint("Filter out rows without features, or fill them in with coalesce.")));
	x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", h->d);
	d = h->d;
	z = palloc(sizeof(double) * d);
	for (int t = 0; t < d; t++)
		z[t] = (x[t] - PASS_MEAN(h)[t]) / PASS_SCALE(h)[t];
	j = kmeans_nearest(z, PASS_CENTERS(h), h->k, d, &d2);
	sums = PASS_SUMS(h) + (Size) j * d;
	for (int t = 0; t < d; t++)
		sums[t] += z[t];
	PASS_COUNTS(h)[j]++;
	h->n++;
	h->inertia += d2;
	pfree(z);
	PG_RETURN_BYTEA_P(h);
}

PG_FUNCTION_INFO_V1(kmeans_pass_combine);
Datum
kmeans_pass_combine(PG_FUNCTION_ARGS)
{
	PassHeader *a = (PassHeader *) PG_GETARG_BYTEA_P(0);
	PassHeader *b = (PassHeader *) PG_GETARG_BYTEA_P(1);
	PassHeader *r;

	pass_check(a);
	pass_check(b);
	if (a->k != b->k || a->d != b->d ||
		memcmp(PASS_CENTERS(a), PASS_CENTERS(b), sizeof(double) * ((Size) a->k * a->d + 2 * a->d)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_pass states from different models cannot be combined"),
				 errhint("Pass one model value to every part of the pass.")));
	r = palloc(VARSIZE(a));
	memcpy(r, a, VARSIZE(a));
	for (Size q = 0; q < (Size) a->k * a->d; q++)
		PASS_SUMS(r)[q] += PASS_SUMS(b)[q];
	for (int j = 0; j < a->k; j++)
		PASS_COUNTS(r)[j] += PASS_COUNTS(b)[j];
	r->n += b->n;
	r->inertia += b->inertia;
	PG_RETURN_BYTEA_P(r);
}

PG_FUNCTION_INFO_V1(kmeans_pass_final);
Datum
kmeans_pass_final(PG_FUNCTION_ARGS)
{
	PassHeader *h;
	int			k,
				d;
	double	   *scaled,
			   *orig,
				shift = 0.0;
	int64	   *sizes;
	ModelBuilder *b;
	int			dims[2];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_pass needs at least one row"),
				 errhint("Check the query's WHERE clause: it selected no rows.")));
	h = (PassHeader *) PG_GETARG_BYTEA_P(0);
	pass_check(h);
	k = h->k;
	d = h->d;
	scaled = palloc(sizeof(double) * k * d);
	orig = palloc(sizeof(double) * k * d);
	sizes = palloc(sizeof(int64) * k);
	for (int j = 0; j < k; j++)
	{
		sizes[j] = PASS_COUNTS(h)[j];
		for (int t = 0; t < d; t++)
		{
			double		old = PASS_CENTERS(h)[j * d + t];
			/* an empty cluster keeps its center */
			double		c = sizes[j] > 0 ? PASS_SUMS(h)[j * d + t] / (double) sizes[j] : old;

			scaled[j * d + t] = c;
			orig[j * d + t] = c * PASS_SCALE(h)[t] + PASS_MEAN(h)[t];
			shift += (c - old) * (c - old);
		}
	}
	b = model_begin(MODEL_KIND_KMEANS);
	model_put_int(b, MODEL_PARAMS, "k", k);
	model_put_int(b, MODEL_PARAMS, "seed", h->seed);
	model_put_bool(b, MODEL_PARAMS, "standardize", h->standardize != 0);
	model_put_int(b, MODEL_PARAMS, "n_features", d);
	model_put_text(b, MODEL_PARAMS, "algorithm", "lloyd (streaming)");
	model_put_float(b, MODEL_PARAMS, "tol_abs", h->tol_abs);
	model_put_int(b, MODEL_METRICS, "n_rows", h->n);
	/* the inertia of this pass's assignment, i.e. against the centers it started from */
	model_put_float(b, MODEL_METRICS, "inertia", h->inertia);
	model_put_int(b, MODEL_METRICS, "iterations", h->iterations + 1);
	model_put_float(b, MODEL_METRICS, "center_shift", shift);
	model_put_bool(b, MODEL_METRICS, "converged", shift <= h->tol_abs);
	dims[0] = k;
	dims[1] = d;
	model_put_float_array(b, MODEL_DATA, "centroids", orig, 2, dims);
	model_put_float_array(b, MODEL_DATA, "centroids_scaled", scaled, 2, dims);
	dims[0] = d;
	model_put_float_array(b, MODEL_DATA, "scaler_mean", PASS_MEAN(h), 1, dims);
	model_put_float_array(b, MODEL_DATA, "scaler_scale", PASS_SCALE(h), 1, dims);
	dims[0] = k;
	model_put_int_array(b, MODEL_DATA, "sizes", sizes, 1, dims);
	PG_RETURN_BYTEA_P(model_finish(b));
}

/*
 * kmeans_sample(features, fraction, seed): true for a fixed pseudo-random fraction of
 * feature rows, decided by a hash of the values alone, so the sample is the same whatever
 * the scan order or plan.
 */
PG_FUNCTION_INFO_V1(kmeans_sample);
Datum
kmeans_sample(PG_FUNCTION_ARGS)
{
	int			n;
	const double *x = riq_float8_array(PG_GETARG_ARRAYTYPE_P(0), "features", &n, false);
	double		fraction = PG_GETARG_FLOAT8(1);
	int32		seed = PG_GETARG_INT32(2);
	uint64		h = riq_mix64((uint64) (int64) seed, 0x6b6d65616e73ULL);

	if (!(fraction >= 0.0 && fraction <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fraction must be between 0 and 1"),
				 errhint("0.01 keeps about one row in a hundred.")));
	for (int t = 0; t < n; t++)
	{
		double		v = x[t] + 0.0;
		uint64		bits;

		memcpy(&bits, &v, sizeof(bits));
		h = riq_mix64(h, bits);
	}
	PG_RETURN_BOOL((double) (h >> 11) * (1.0 / 9007199254740992.0) < fraction);
}

/*
 * kmeans_centroids(model): one row per cluster with its size and centroid in original
 * units, to read a model without parsing its text form.
 */
PG_FUNCTION_INFO_V1(kmeans_centroids);
Datum
kmeans_centroids(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ModelView  *m = model_open(PG_GETARG_MODEL_P(0), MODEL_KIND_KMEANS);
	int			dims[2] = {-1, -1};
	int			sdims[1];
	double	   *c;
	int64	   *sizes;

	InitMaterializedSRF(fcinfo, 0);
	c = model_get_float_array(m, MODEL_DATA, "centroids", 2, dims);
	sdims[0] = dims[0];
	sizes = model_get_int_array(m, MODEL_DATA, "sizes", 1, sdims);
	for (int j = 0; j < dims[0]; j++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(j + 1);
		values[1] = Int64GetDatum(sizes[j]);
		values[2] = PointerGetDatum(riq_float8_array_make(c + (Size) j * dims[1], dims[1]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
