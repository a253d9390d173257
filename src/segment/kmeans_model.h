/*
 * kmeans_model.h: a k-means model value read for use (kmeans_model.c), and the argument
 * readers the k-means aggregates share (kmeans_input.c).
 */
#ifndef RETAILIQ_SEGMENT_KMEANS_MODEL_H
#define RETAILIQ_SEGMENT_KMEANS_MODEL_H

#include "postgres.h"
#include "fmgr.h"

#include "core/model.h"

#define KM_MAX_K		10000
#define KM_MAX_N_INIT	1000
#define KM_MAX_DIMS		10000

/* a k-means model as the predict functions and the pass need it */
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

/* read and check a model (XX001 through model_corrupt for a forged one) */
extern void kmeans_model_read(const ModelView *m, KmModel *km);
/* the model argument argno, parsed once and kept in fn_extra while the value is unchanged */
extern KmModel *kmeans_model_cached(FunctionCallInfo fcinfo, int argno);
/* z = (x - mean) / scale: a row into the model's clustering space */
extern void kmeans_to_model_space(const KmModel *km, const double *x, double *z);

/* the features argument: a non-empty float8[] of finite values, expect_d long if > 0 */
extern const double *kmeans_read_features(FunctionCallInfo fcinfo, int argno, int expect_d, int *d);
/* an optional int argument: its default when left out, an ERROR when NULL */
extern int32 kmeans_int_arg(FunctionCallInfo fcinfo, int argno, int32 dflt, const char *name);

#endif
