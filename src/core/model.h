/*
 * model.h: the retailiq.model type as the other parts use it.
 *
 * A part that trains a model builds one with model_begin / model_put_* / model_finish and
 * returns it as a Datum; a part that predicts opens one with model_open (which checks the
 * checksum, the structure and the kind) and reads its fields with model_get_*. A missing
 * or mistyped field is reported as a corrupt model (XX001), never trusted.
 */
#ifndef RETAILIQ_MODEL_H
#define RETAILIQ_MODEL_H

#include "postgres.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "core/model_format.h"

typedef struct ModelBuilder ModelBuilder;

/* A decoded entry: key NUL-terminated, values still in the value's (unaligned) bytes. */
typedef struct ModelEntry
{
	ModelSection section;
	ModelValueType type;
	int			ndim;
	int			dims[MODEL_MAX_NDIM];
	int64		nelems;
	char		key[MODEL_MAX_KEY + 1];
	const char *values;
} ModelEntry;

typedef struct ModelView
{
	ModelKind	kind;
	int			version;
	TimestampTz trained_at;
	char	   *trained_by;
	int			nentries;
	ModelEntry *entries;
	bytea	   *raw;			/* the detoasted value the entries point into */
} ModelView;

#define DatumGetModelP(d)		((bytea *) PG_DETOAST_DATUM(d))
#define PG_GETARG_MODEL_P(n)	DatumGetModelP(PG_GETARG_DATUM(n))

/* building */
extern ModelBuilder *model_begin(ModelKind kind);
extern void model_put_float(ModelBuilder *b, ModelSection s, const char *key, double v);
extern void model_put_int(ModelBuilder *b, ModelSection s, const char *key, int64 v);
extern void model_put_bool(ModelBuilder *b, ModelSection s, const char *key, bool v);
extern void model_put_text(ModelBuilder *b, ModelSection s, const char *key, const char *v);
extern void model_put_float_array(ModelBuilder *b, ModelSection s, const char *key,
								  const double *v, int ndim, const int *dims);
extern void model_put_int_array(ModelBuilder *b, ModelSection s, const char *key,
								const int64 *v, int ndim, const int *dims);
extern void model_put_text_array(ModelBuilder *b, ModelSection s, const char *key,
								 const char *const *v, int n);
/* trainer fields default to now and the current user; the text form sets them */
extern void model_set_trainer(ModelBuilder *b, TimestampTz at, const char *by);
extern bytea *model_finish(ModelBuilder *b);

/* reading */
extern ModelView *model_open(bytea *value, ModelKind expect);
extern ModelView *model_open_cached(FunctionCallInfo fcinfo, int argno, ModelKind expect);
extern const ModelEntry *model_find(const ModelView *m, ModelSection s, const char *key);
extern double model_get_float(const ModelView *m, ModelSection s, const char *key);
extern int64 model_get_int(const ModelView *m, ModelSection s, const char *key);
extern bool model_get_bool(const ModelView *m, ModelSection s, const char *key);
extern char *model_get_text(const ModelView *m, ModelSection s, const char *key);
/* arrays: ndim_expect 1 or 2; dims_expect entries < 0 accept any length */
extern double *model_get_float_array(const ModelView *m, ModelSection s, const char *key,
									 int ndim_expect, int *dims);
extern int64 *model_get_int_array(const ModelView *m, ModelSection s, const char *key,
								  int ndim_expect, int *dims);
extern char **model_get_text_array(const ModelView *m, ModelSection s, const char *key, int *n);
/* the same check, for a part that validates its own derived invariants */
extern void model_corrupt(const ModelView *m, const char *detail_fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/* model_text.c: a float as the text form prints it (shortest exact, "3.0" for 3) */
extern void model_append_float(StringInfo buf, double v);

extern const char *model_section_name(ModelSection s);

#endif
