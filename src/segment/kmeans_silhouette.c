/*
 * kmeans_silhouette.c: the kmeans_silhouette aggregate: the mean silhouette (Rousseeuw 1987)
 * of the rows under a k-means model, exact up to sample_size rows and on a seeded sample
 * beyond.
 *
 * The rows live in the core row store (core/rowstore.h); the model and the sampling settings
 * travel beside them, in the serial form's extra area. The final function sorts the rows into
 * the canonical order before sampling, so the score is the same whatever the plan.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/blas.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/rng.h"
#include "core/rowstore.h"
#include "segment/kmeans.h"
#include "segment/kmeans_model.h"

/* rows of the distance block computed by one GEMM */
#define SIL_BLOCK 256

/* The state: the rows so far, the sampling settings and the model they are scored under. */
typedef struct KmSilState
{
	RiqRows		rows;
	int32		sample_size;
	int32		seed;
	bytea	   *model;
} KmSilState;

/* the serial form's extra area: this, then the model's model_len bytes */
typedef struct KmSilWire
{
	int32		sample_size;
	int32		seed;
	int32		model_len;
	int32		pad;
} KmSilWire;

static bool
same_model(const bytea *a, const bytea *b)
{
	return VARSIZE_ANY(a) == VARSIZE_ANY(b) && memcmp(a, b, VARSIZE_ANY(a)) == 0;
}

static bytea *
copy_model(MemoryContext cxt, const bytea *m)
{
	bytea	   *c = MemoryContextAlloc(cxt, VARSIZE_ANY(m));

	memcpy(c, m, VARSIZE_ANY(m));
	return c;
}

/* kmeans_silhouette(features, model [, sample_size, seed]) */
PG_FUNCTION_INFO_V1(kmeans_silhouette_accum);
Datum
kmeans_silhouette_accum(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_silhouette_accum");
	KmSilState *s = PG_ARGISNULL(0) ? NULL : (KmSilState *) PG_GETARG_POINTER(0);
	const double *v;
	int			d;
	int32		sample_size = kmeans_int_arg(fcinfo, 3, 10000, "sample_size");
	int32		seed = kmeans_int_arg(fcinfo, 4, 42, "seed");
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
		km = kmeans_model_cached(fcinfo, 2);
		v = kmeans_read_features(fcinfo, 1, km->d, &d);
		s = MemoryContextAllocZero(cxt, sizeof(KmSilState));
		riq_rows_init(&s->rows, cxt, d, "kmeans_silhouette");
		s->sample_size = sample_size;
		s->seed = seed;
		s->model = copy_model(cxt, model);
	}
	else
	{
		if (sample_size != s->sample_size || seed != s->seed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kmeans_silhouette parameters must be the same for every row"),
					 errhint("Pass sample_size and seed as constants.")));
		if (!same_model(model, s->model))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kmeans_silhouette needs the same model for every row"),
					 errhint("Pass one model value, e.g. from a scalar subquery.")));
		v = kmeans_read_features(fcinfo, 1, s->rows.width, &d);
	}
	riq_rows_append(&s->rows, v);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(kmeans_silhouette_combine);
Datum
kmeans_silhouette_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_silhouette_combine");
	KmSilState *a = PG_ARGISNULL(0) ? NULL : (KmSilState *) PG_GETARG_POINTER(0);
	KmSilState *b = PG_ARGISNULL(1) ? NULL : (KmSilState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = MemoryContextAllocZero(cxt, sizeof(KmSilState));
		riq_rows_init(&a->rows, cxt, b->rows.width, "kmeans_silhouette");
		a->sample_size = b->sample_size;
		a->seed = b->seed;
		a->model = copy_model(cxt, b->model);
	}
	else if (a->rows.width != b->rows.width || a->sample_size != b->sample_size ||
			 a->seed != b->seed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_silhouette parameters and feature counts must be the same for every row"),
				 errhint("Pass the parameters as constants and build features the same way for every row.")));
	else if (!same_model(a->model, b->model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_silhouette needs the same model for every row"),
				 errhint("Pass one model value, e.g. from a scalar subquery.")));
	riq_rows_concat(&a->rows, &b->rows);
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(kmeans_silhouette_serialize);
Datum
kmeans_silhouette_serialize(PG_FUNCTION_ARGS)
{
	KmSilState *s = (KmSilState *) PG_GETARG_POINTER(0);
	Size		model_len = VARSIZE_ANY(s->model);
	KmSilWire	w;
	char	   *extra;

	(void) riq_agg_context(fcinfo, "kmeans_silhouette_serialize");
	memset(&w, 0, sizeof(w));
	w.sample_size = s->sample_size;
	w.seed = s->seed;
	w.model_len = (int32) model_len;
	extra = palloc(add_size(sizeof(w), model_len));
	memcpy(extra, &w, sizeof(w));
	memcpy(extra + sizeof(w), s->model, model_len);
	PG_RETURN_BYTEA_P(riq_rows_serialize(&s->rows, extra, sizeof(w) + model_len));
}

PG_FUNCTION_INFO_V1(kmeans_silhouette_deserialize);
Datum
kmeans_silhouette_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_silhouette_deserialize");
	KmSilState *s = MemoryContextAllocZero(cxt, sizeof(KmSilState));
	Size		extra_len;
	const char *extra;
	KmSilWire	w;

	extra = riq_rows_deserialize(PG_GETARG_BYTEA_PP(0), &s->rows, cxt, KM_MAX_DIMS,
								 "kmeans_silhouette", &extra_len);
	if (extra_len < sizeof(w))
		riq_state_corrupt("kmeans_silhouette", "Its settings are %zu bytes, shorter than %zu.",
						  extra_len, sizeof(w));
	memcpy(&w, extra, sizeof(w));
	if (w.sample_size < 2 || w.model_len < (int32) VARHDRSZ ||
		(Size) w.model_len != extra_len - sizeof(w))
		riq_state_corrupt("kmeans_silhouette", "Its settings (sample_size %d, a model of %d bytes) do not match their %zu bytes.",
						  w.sample_size, w.model_len, extra_len);
	s->sample_size = w.sample_size;
	s->seed = w.seed;
	s->model = MemoryContextAlloc(cxt, w.model_len);
	memcpy(s->model, extra + sizeof(w), w.model_len);
	if (VARATT_IS_EXTENDED(s->model) || VARSIZE(s->model) != (Size) w.model_len)
		riq_state_corrupt("kmeans_silhouette", "Its model's length does not match its %d bytes.",
						  w.model_len);
	PG_RETURN_POINTER(s);
}

/* a deterministic sample: the first ns of a seeded shuffle of the (sorted) row numbers */
static int64 *
sample_rows(int64 n, int64 ns, int32 seed)
{
	int64	   *pick = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (Size) n);

	for (int64 i = 0; i < n; i++)
		pick[i] = i;
	if (ns < n)
	{
		RiqRng		rng;

		riq_rng_seed(&rng, (uint64) (int64) seed, 0);
		for (int64 i = 0; i < ns; i++)
		{
			int64		j = i + (int64) riq_rng_below(&rng, (uint64) (n - i));
			int64		tmp = pick[i];

			pick[i] = pick[j];
			pick[j] = tmp;
		}
	}
	return pick;
}

/*
 * The sum of the silhouettes of ns points z (clustering space, squared norms znorm, labels
 * lab, cluster sizes csize), from blocks of SIL_BLOCK rows of the Gram matrix; a point alone
 * in its cluster scores 0, as in scikit-learn's silhouette_score.
 */
static double
silhouette_sum(const double *z, const double *znorm, const int *lab, const int64 *csize,
			   int64 ns, int d, int k)
{
	double	   *g = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) SIL_BLOCK * ns);
	double	   *csum = palloc(sizeof(double) * k);
	double		total = 0.0;

	for (int64 i0 = 0; i0 < ns; i0 += SIL_BLOCK)
	{
		int			mrows = (int) Min((int64) SIL_BLOCK, ns - i0);

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
	pfree(g);
	pfree(csum);
	return total;
}

PG_FUNCTION_INFO_V1(kmeans_silhouette_final);
Datum
kmeans_silhouette_final(PG_FUNCTION_ARGS)
{
	KmSilState *s = PG_ARGISNULL(0) ? NULL : (KmSilState *) PG_GETARG_POINTER(0);
	MemoryContext cxt = riq_agg_context(fcinfo, "kmeans_silhouette_final");
	ModelView  *m;
	KmModel		km;
	int64		n,
				ns;
	int			d,
				k,
				nlabels = 0;
	double	   *z,
			   *znorm;
	int		   *lab;
	int64	   *csize;
	int64	   *pick;

	if (s == NULL || s->rows.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_silhouette needs at least two rows"),
				 errhint("Check the query's WHERE clause: it selected no rows.")));
	m = model_open(s->model, MODEL_KIND_KMEANS);
	kmeans_model_read(m, &km);
	d = km.d;
	k = km.k;
	n = s->rows.n;
	if (s->rows.width != d)
		riq_state_corrupt("kmeans_silhouette", "Its rows have %d features; its model has %d.",
						  s->rows.width, d);
	riq_memory_check(cxt, riq_mul_size((Size) n, 16, "kmeans_silhouette"), "kmeans_silhouette");
	riq_rows_sort(&s->rows);

	ns = Min(n, (int64) s->sample_size);
	riq_memory_check(cxt, riq_mul_size((Size) n, sizeof(int64), "kmeans_silhouette") +
					 riq_mul_size((Size) ns, sizeof(double) * (d + 1) + sizeof(int) +
								  sizeof(double) * SIL_BLOCK, "kmeans_silhouette"),
					 "kmeans_silhouette");
	pick = sample_rows(n, ns, s->seed);
	z = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) ns * d);
	znorm = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) ns);
	lab = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int) * (Size) ns);
	csize = palloc0(sizeof(int64) * k);
	for (int64 i = 0; i < ns; i++)
	{
		kmeans_to_model_space(&km, RIQ_ROW(&s->rows, pick[i]), z + i * d);
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
	PG_RETURN_FLOAT8(silhouette_sum(z, znorm, lab, csize, ns, d, k) / (double) ns);
}
