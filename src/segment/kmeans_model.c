/*
 * kmeans_model.c: a k-means model value in use: reading and checking it, a per-call cache so
 * that a predict function parses it once per query rather than once per row, and the predict
 * functions kmeans_assign, kmeans_distance and kmeans_centroids.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "core/arrays.h"
#include "core/model.h"
#include "segment/kmeans.h"
#include "segment/kmeans_model.h"

void
kmeans_model_read(const ModelView *m, KmModel *km)
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

KmModel *
kmeans_model_cached(FunctionCallInfo fcinfo, int argno)
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
	kmeans_model_read(m, &c->km);
	c->copy = copy;
	MemoryContextSwitchTo(old);
	return &c->km;
}

void
kmeans_to_model_space(const KmModel *km, const double *x, double *z)
{
	for (int t = 0; t < km->d; t++)
		z[t] = (x[t] - km->mean[t]) / km->scale[t];
}

PG_FUNCTION_INFO_V1(kmeans_assign);
Datum
kmeans_assign(PG_FUNCTION_ARGS)
{
	KmModel    *km = kmeans_model_cached(fcinfo, 0);
	const double *x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", km->d);
	double	   *z = palloc(sizeof(double) * km->d);

	kmeans_to_model_space(km, x, z);
	PG_RETURN_INT32(kmeans_nearest(z, km->centers, km->k, km->d, NULL) + 1);
}

PG_FUNCTION_INFO_V1(kmeans_distance);
Datum
kmeans_distance(PG_FUNCTION_ARGS)
{
	KmModel    *km = kmeans_model_cached(fcinfo, 0);
	const double *x = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(1), "features", km->d);
	double	   *z = palloc(sizeof(double) * km->d);
	double		d2;

	kmeans_to_model_space(km, x, z);
	(void) kmeans_nearest(z, km->centers, km->k, km->d, &d2);
	PG_RETURN_FLOAT8(sqrt(d2));
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
