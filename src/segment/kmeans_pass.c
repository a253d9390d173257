/*
 * kmeans_pass.c: streaming k-means. kmeans_pass(features, model) is one Lloyd iteration as
 * an aggregate whose state is a bytea of per-center partial sums: combinable by addition, so
 * parallel workers and a distributed engine (Citus) can each run part of every pass without
 * holding the rows. kmeans_sample picks a plan-independent sample to start from.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/array.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/model.h"
#include "core/rng.h"
#include "segment/kmeans.h"
#include "segment/kmeans_model.h"

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
		KmModel    *km = kmeans_model_cached(fcinfo, 2);

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
