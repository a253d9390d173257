/*
 * model.c: building and opening retailiq.model values, and their binary form.
 *
 * Values are always built in canonical form (entries sorted by section and key, empty
 * arrays as one-dimensional float8), so equal models are byte-identical and a text or
 * binary round trip gives back exactly the same bytes. Opening a value validates all of
 * it (model_format.c) before a single field is handed out. The text form (model_text.c)
 * is built on this file's builder and reader; this file does not call it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/model.h"

typedef struct BuilderEntry
{
	ModelSection section;
	ModelValueType type;
	int			ndim;
	uint32		dims[MODEL_MAX_NDIM];
	char		key[MODEL_MAX_KEY + 1];
	StringInfoData values;
} BuilderEntry;

struct ModelBuilder
{
	ModelKind	kind;
	TimestampTz trained_at;
	char	   *trained_by;
	int			nentries;
	int			capacity;
	BuilderEntry **entries;
};

const char *
model_section_name(ModelSection s)
{
	switch (s)
	{
		case MODEL_PARAMS:
			return "params";
		case MODEL_METRICS:
			return "metrics";
		case MODEL_DATA:
			return "data";
	}
	return "?";
}

ModelBuilder *
model_begin(ModelKind kind)
{
	ModelBuilder *b = palloc0(sizeof(ModelBuilder));

	if (model_kind_name(kind) == NULL || kind == MODEL_KIND_ANY)
		elog(ERROR, "model_begin: unknown model kind %d", (int) kind);
	b->kind = kind;
	b->trained_at = GetCurrentTimestamp();
	b->trained_by = GetUserNameFromId(GetUserId(), true);
	if (b->trained_by == NULL)
		b->trained_by = "";
	b->capacity = 16;
	b->entries = palloc(sizeof(BuilderEntry *) * b->capacity);
	return b;
}

/* by == NULL keeps the current user */
void
model_set_trainer(ModelBuilder *b, TimestampTz at, const char *by)
{
	b->trained_at = at;
	if (by == NULL)
		return;
	if (strlen(by) > MODEL_MAX_USER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model trainer name is too long"),
				 errdetail("The name has %zu bytes; at most %d are allowed.", strlen(by), MODEL_MAX_USER)));
	b->trained_by = pstrdup(by);
}

static BuilderEntry *
add_entry(ModelBuilder *b, ModelSection s, const char *key, ModelValueType type,
		  int ndim, const int *dims)
{
	BuilderEntry *e;
	size_t		keylen = strlen(key);

	if (keylen == 0 || keylen > MODEL_MAX_KEY || strspn(key, "abcdefghijklmnopqrstuvwxyz"
														"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != keylen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model field name \"%s\"", key),
				 errhint("Field names are 1 to %d letters, digits or underscores.", MODEL_MAX_KEY)));
	for (int i = 0; i < b->nentries; i++)
		if (b->entries[i]->section == s && strcmp(b->entries[i]->key, key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model field \"%s\" appears twice in %s", key, model_section_name(s))));
	if (b->nentries == b->capacity)
	{
		b->capacity *= 2;
		b->entries = repalloc(b->entries, sizeof(BuilderEntry *) * b->capacity);
	}
	e = palloc0(sizeof(BuilderEntry));
	e->section = s;
	e->type = type;
	e->ndim = ndim;
	for (int i = 0; i < ndim; i++)
	{
		if (dims[i] < 0)
			elog(ERROR, "model field \"%s\": negative dimension", key);
		e->dims[i] = (uint32) dims[i];
	}
	strlcpy(e->key, key, sizeof(e->key));
	initStringInfo(&e->values);
	b->entries[b->nentries++] = e;
	return e;
}

static int64
count_elems(int ndim, const int *dims)
{
	int64		n = 1;

	if (ndim < 1 || ndim > MODEL_MAX_NDIM)
		elog(ERROR, "model arrays have 1 or 2 dimensions, not %d", ndim);
	for (int i = 0; i < ndim; i++)
		n *= dims[i];
	return n;
}

static void
append_u64(StringInfo s, uint64 v)
{
	char		b[8];

	model_put_u64(b, v);
	appendBinaryStringInfo(s, b, 8);
}

void
model_put_float(ModelBuilder *b, ModelSection s, const char *key, double v)
{
	BuilderEntry *e = add_entry(b, s, key, MODEL_FLOAT8, 0, NULL);
	uint64		u;

	memcpy(&u, &v, 8);
	append_u64(&e->values, u);
}

void
model_put_int(ModelBuilder *b, ModelSection s, const char *key, int64 v)
{
	append_u64(&add_entry(b, s, key, MODEL_INT64, 0, NULL)->values, (uint64) v);
}

void
model_put_bool(ModelBuilder *b, ModelSection s, const char *key, bool v)
{
	appendStringInfoChar(&add_entry(b, s, key, MODEL_BOOL, 0, NULL)->values, v ? 1 : 0);
}

static void
append_text_value(StringInfo s, const char *v)
{
	char		b[4];
	size_t		len = strlen(v);

	if (len > MaxAllocSize)
		elog(ERROR, "model text value too long");
	model_put_u32(b, (uint32) len);
	appendBinaryStringInfo(s, b, 4);
	appendBinaryStringInfo(s, v, (int) len);
}

void
model_put_text(ModelBuilder *b, ModelSection s, const char *key, const char *v)
{
	append_text_value(&add_entry(b, s, key, MODEL_TEXT, 0, NULL)->values, v);
}

static const int empty_dims[1] = {0};

void
model_put_float_array(ModelBuilder *b, ModelSection s, const char *key,
					  const double *v, int ndim, const int *dims)
{
	int64		n = count_elems(ndim, dims);
	BuilderEntry *e;

	if (n == 0)
	{
		add_entry(b, s, key, MODEL_FLOAT8, 1, empty_dims);
		return;
	}
	e = add_entry(b, s, key, MODEL_FLOAT8, ndim, dims);
	enlargeStringInfo(&e->values, (int) Min(n * 8, (int64) MaxAllocSize - 1));
	for (int64 i = 0; i < n; i++)
	{
		uint64		u;

		memcpy(&u, &v[i], 8);
		append_u64(&e->values, u);
	}
}

void
model_put_int_array(ModelBuilder *b, ModelSection s, const char *key,
					const int64 *v, int ndim, const int *dims)
{
	int64		n = count_elems(ndim, dims);
	BuilderEntry *e;

	if (n == 0)
	{
		add_entry(b, s, key, MODEL_FLOAT8, 1, empty_dims);
		return;
	}
	e = add_entry(b, s, key, MODEL_INT64, ndim, dims);
	for (int64 i = 0; i < n; i++)
		append_u64(&e->values, (uint64) v[i]);
}

void
model_put_text_array(ModelBuilder *b, ModelSection s, const char *key,
					 const char *const *v, int n)
{
	BuilderEntry *e;

	if (n == 0)
	{
		add_entry(b, s, key, MODEL_FLOAT8, 1, empty_dims);
		return;
	}
	e = add_entry(b, s, key, MODEL_TEXT, 1, &n);
	for (int i = 0; i < n; i++)
		append_text_value(&e->values, v[i]);
}

static int
entry_cmp(const void *a, const void *b)
{
	const BuilderEntry *x = *(BuilderEntry *const *) a;
	const BuilderEntry *y = *(BuilderEntry *const *) b;
	size_t		lx = strlen(x->key),
				ly = strlen(y->key);
	int			c;

	if (x->section != y->section)
		return (int) x->section - (int) y->section;
	/* byte order with shorter-first on a common prefix: what the decoder checks */
	c = memcmp(x->key, y->key, Min(lx, ly));
	if (c != 0)
		return c;
	return (lx < ly) ? -1 : (lx > ly) ? 1 : 0;
}

bytea *
model_finish(ModelBuilder *b)
{
	StringInfoData out;
	size_t		userlen = strlen(b->trained_by);
	char		tmp[8];
	bytea	   *result;
	Size		total;

	qsort(b->entries, b->nentries, sizeof(BuilderEntry *), entry_cmp);

	initStringInfo(&out);
	appendStringInfoSpaces(&out, VARHDRSZ + MODEL_HEADER_SIZE);
	append_u64(&out, (uint64) b->trained_at);
	appendStringInfoChar(&out, (char) Min(userlen, MODEL_MAX_USER));
	appendBinaryStringInfo(&out, b->trained_by, (int) Min(userlen, MODEL_MAX_USER));
	model_put_u32(tmp, (uint32) b->nentries);
	appendBinaryStringInfo(&out, tmp, 4);
	for (int i = 0; i < b->nentries; i++)
	{
		BuilderEntry *e = b->entries[i];

		CHECK_FOR_INTERRUPTS();
		appendStringInfoChar(&out, (char) e->section);
		appendStringInfoChar(&out, (char) e->type);
		appendStringInfoChar(&out, (char) e->ndim);
		appendStringInfoChar(&out, (char) strlen(e->key));
		appendBinaryStringInfo(&out, e->key, (int) strlen(e->key));
		for (int d = 0; d < e->ndim; d++)
		{
			model_put_u32(tmp, e->dims[d]);
			appendBinaryStringInfo(&out, tmp, 4);
		}
		appendBinaryStringInfo(&out, e->values.data, e->values.len);
	}

	total = out.len;
	result = (bytea *) out.data;
	SET_VARSIZE(result, total);
	{
		char	   *h = VARDATA(result);
		size_t		len = total - VARHDRSZ;

		model_put_u32(h, MODEL_MAGIC);
		model_put_u16(h + 4, MODEL_FORMAT_VERSION);
		model_put_u16(h + 6, (uint16) b->kind);
		model_put_u32(h + 8, (uint32) (len - MODEL_HEADER_SIZE));
		model_put_u32(h + 12, model_checksum(h, len));
	}
	return result;
}

/* ---------- reading ---------- */

static void
report_decode_error(ModelDecodeStatus st, const char *detail, int sqlstate)
{
	if (st == MODEL_DECODE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("retailiq.model value has an unsupported format version"),
				 errdetail("%s.", detail),
				 errhint("Upgrade retailiq to read models written by a newer release.")));
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("retailiq.model value is corrupt"),
			 errdetail("%s.", detail),
			 errhint("Retrain the model, or load a saved copy with retailiq.load_model().")));
}

ModelView *
model_open(bytea *value, ModelKind expect)
{
	ModelDecoder d;
	ModelHeaderInfo hdr;
	ModelDecodeStatus st;
	ModelView  *m;

	st = model_decode_open(&d, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), &hdr);
	if (st != MODEL_DECODE_OK)
		report_decode_error(st, d.error, ERRCODE_DATA_CORRUPTED);
	if (expect != MODEL_KIND_ANY && hdr.kind != expect)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model is a %s model, not a %s model",
						model_kind_name(hdr.kind), model_kind_name(expect)),
				 errhint("Pass a model trained by the matching retailiq function; retailiq.model_kind() tells a model's kind.")));

	m = palloc0(sizeof(ModelView));
	m->kind = (ModelKind) hdr.kind;
	m->version = hdr.version;
	m->trained_at = hdr.trained_at;
	m->trained_by = pnstrdup(hdr.trained_by, hdr.trained_by_len);
	m->nentries = (int) hdr.nentries;
	m->entries = palloc0(sizeof(ModelEntry) * Max(m->nentries, 1));
	m->raw = value;
	for (int i = 0; i < m->nentries; i++)
	{
		ModelRawEntry r;
		ModelEntry *e = &m->entries[i];

		st = model_decode_next(&d, &r);
		if (st != MODEL_DECODE_OK)
			report_decode_error(st, d.error, ERRCODE_DATA_CORRUPTED);
		if (r.nelems > (uint64) PG_INT32_MAX)
			report_decode_error(MODEL_DECODE_CORRUPT, "array larger than 2^31 elements", ERRCODE_DATA_CORRUPTED);
		e->section = (ModelSection) r.section;
		e->type = (ModelValueType) r.type;
		e->ndim = r.ndim;
		e->dims[0] = (int) r.dims[0];
		e->dims[1] = (int) r.dims[1];
		if (r.dims[0] > PG_INT32_MAX || r.dims[1] > PG_INT32_MAX)
			report_decode_error(MODEL_DECODE_CORRUPT, "dimension larger than 2^31", ERRCODE_DATA_CORRUPTED);
		e->nelems = (int64) r.nelems;
		memcpy(e->key, r.key, r.keylen);
		e->key[r.keylen] = '\0';
		e->values = r.values;
	}
	return m;
}

typedef struct ModelCache
{
	MemoryContext cxt;
	bytea	   *copy;
	ModelView  *view;
	ModelKind	kind;
} ModelCache;

/*
 * Predict functions are called once per row with, usually, the same model: keep the
 * opened view in fn_extra and reuse it while the bytes are the same (a memcmp is far
 * cheaper than re-checking the checksum and structure).
 */
ModelView *
model_open_cached(FunctionCallInfo fcinfo, int argno, ModelKind expect)
{
	ModelCache *c = (ModelCache *) fcinfo->flinfo->fn_extra;
	bytea	   *value = PG_GETARG_MODEL_P(argno);
	MemoryContext old;

	if (c != NULL && c->kind == expect && c->copy != NULL &&
		VARSIZE_ANY(value) == VARSIZE_ANY(c->copy) &&
		memcmp(value, c->copy, VARSIZE_ANY(value)) == 0)
		return c->view;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "retailiq model cache",
									   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	MemoryContextReset(c->cxt);
	c->copy = NULL;
	old = MemoryContextSwitchTo(c->cxt);
	{
		bytea	   *copy = palloc(VARSIZE_ANY(value));

		memcpy(copy, value, VARSIZE_ANY(value));
		c->view = model_open(copy, expect);
		c->copy = copy;
		c->kind = expect;
	}
	MemoryContextSwitchTo(old);
	return c->view;
}

void
model_corrupt(const ModelView *m, const char *fmt,...)
{
	char		detail[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("%s model is corrupt", model_kind_name(m->kind)),
			 errdetail("%s", detail),
			 errhint("Retrain the model, or load a saved copy with retailiq.load_model().")));
}

const ModelEntry *
model_find(const ModelView *m, ModelSection s, const char *key)
{
	for (int i = 0; i < m->nentries; i++)
		if (m->entries[i].section == s && strcmp(m->entries[i].key, key) == 0)
			return &m->entries[i];
	return NULL;
}

static const char *
type_name(ModelValueType t)
{
	switch (t)
	{
		case MODEL_FLOAT8:
			return "float8";
		case MODEL_INT64:
			return "int64";
		case MODEL_TEXT:
			return "text";
		case MODEL_BOOL:
			return "bool";
	}
	return "?";
}

static const ModelEntry *
need_scalar(const ModelView *m, ModelSection s, const char *key, ModelValueType t)
{
	const ModelEntry *e = model_find(m, s, key);

	if (e == NULL)
		model_corrupt(m, "The %s field \"%s\" is missing.", model_section_name(s), key);
	if (e->ndim != 0)
		model_corrupt(m, "The %s field \"%s\" is an array, expected a scalar.", model_section_name(s), key);
	/* an integer is an acceptable float (a text-form "3" may stand for 3.0) */
	if (e->type != t && !(t == MODEL_FLOAT8 && e->type == MODEL_INT64))
		model_corrupt(m, "The %s field \"%s\" is %s, expected %s.", model_section_name(s), key,
					  type_name(e->type), type_name(t));
	return e;
}

double
model_get_float(const ModelView *m, ModelSection s, const char *key)
{
	const ModelEntry *e = need_scalar(m, s, key, MODEL_FLOAT8);

	if (e->type == MODEL_INT64)
		return (double) (int64) model_get_u64(e->values);
	return model_get_f64(e->values);
}

int64
model_get_int(const ModelView *m, ModelSection s, const char *key)
{
	return (int64) model_get_u64(need_scalar(m, s, key, MODEL_INT64)->values);
}

bool
model_get_bool(const ModelView *m, ModelSection s, const char *key)
{
	return need_scalar(m, s, key, MODEL_BOOL)->values[0] != 0;
}

char *
model_get_text(const ModelView *m, ModelSection s, const char *key)
{
	const ModelEntry *e = need_scalar(m, s, key, MODEL_TEXT);

	return pnstrdup(e->values + 4, model_get_u32(e->values));
}

static const ModelEntry *
need_array(const ModelView *m, ModelSection s, const char *key, ModelValueType t,
		   int ndim_expect, int *dims)
{
	const ModelEntry *e = model_find(m, s, key);

	if (e == NULL)
		model_corrupt(m, "The %s field \"%s\" is missing.", model_section_name(s), key);
	if (e->nelems == 0 && e->ndim == 1)
	{
		/* canonical empty array: fits any expected shape with a zero in it */
		for (int i = 0; i < ndim_expect; i++)
			if (dims[i] < 0)
				dims[i] = 0;
		for (int i = 0; i < ndim_expect; i++)
			if (dims[i] == 0)
				return e;
		model_corrupt(m, "The %s field \"%s\" is empty.", model_section_name(s), key);
	}
	if (e->ndim != ndim_expect)
		model_corrupt(m, "The %s field \"%s\" has %d dimensions, expected %d.",
					  model_section_name(s), key, e->ndim, ndim_expect);
	if (e->type != t && !(t == MODEL_FLOAT8 && e->type == MODEL_INT64))
		model_corrupt(m, "The %s field \"%s\" is %s, expected %s.", model_section_name(s), key,
					  type_name(e->type), type_name(t));
	for (int i = 0; i < ndim_expect; i++)
	{
		if (dims[i] >= 0 && dims[i] != e->dims[i])
			model_corrupt(m, "The %s field \"%s\" has %d entries along dimension %d, expected %d.",
						  model_section_name(s), key, e->dims[i], i + 1, dims[i]);
		dims[i] = e->dims[i];
	}
	return e;
}

double *
model_get_float_array(const ModelView *m, ModelSection s, const char *key,
					  int ndim_expect, int *dims)
{
	const ModelEntry *e = need_array(m, s, key, MODEL_FLOAT8, ndim_expect, dims);
	double	   *out = palloc_extended(sizeof(double) * Max(e->nelems, 1), MCXT_ALLOC_HUGE);

	for (int64 i = 0; i < e->nelems; i++)
	{
		if (e->type == MODEL_INT64)
			out[i] = (double) (int64) model_get_u64(e->values + 8 * i);
		else
			out[i] = model_get_f64(e->values + 8 * i);
	}
	return out;
}

int64 *
model_get_int_array(const ModelView *m, ModelSection s, const char *key,
					int ndim_expect, int *dims)
{
	const ModelEntry *e = need_array(m, s, key, MODEL_INT64, ndim_expect, dims);
	int64	   *out = palloc_extended(sizeof(int64) * Max(e->nelems, 1), MCXT_ALLOC_HUGE);

	for (int64 i = 0; i < e->nelems; i++)
		out[i] = (int64) model_get_u64(e->values + 8 * i);
	return out;
}

char **
model_get_text_array(const ModelView *m, ModelSection s, const char *key, int *n)
{
	int			dims[1] = {-1};
	const ModelEntry *e = need_array(m, s, key, MODEL_TEXT, 1, dims);
	char	  **out = palloc(sizeof(char *) * Max(e->nelems, 1));
	const char *p = e->values;

	for (int64 i = 0; i < e->nelems; i++)
	{
		uint32		len = model_get_u32(p);

		out[i] = pnstrdup(p + 4, len);
		p += 4 + len;
	}
	*n = (int) e->nelems;
	return out;
}

/* ---------- SQL interface ---------- */

/* Binary form: the value's own little-endian bytes, validated on the way in. */
PG_FUNCTION_INFO_V1(model_recv);
Datum
model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	bytea	   *result;
	char		error[128];
	ModelDecodeStatus st;

	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	pq_copymsgbytes(buf, VARDATA(result), len);
	st = model_decode_all(VARDATA(result), len, error, sizeof(error));
	if (st != MODEL_DECODE_OK)
		report_decode_error(st, error, ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(model_send);
Datum
model_send(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_MODEL_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(model_kind_sql);
Datum
model_kind_sql(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_MODEL_P(0);
	ModelDecoder d;
	ModelHeaderInfo hdr;
	ModelDecodeStatus st;

	st = model_decode_open(&d, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), &hdr);
	if (st != MODEL_DECODE_OK)
		report_decode_error(st, d.error, ERRCODE_DATA_CORRUPTED);
	PG_RETURN_TEXT_P(cstring_to_text(model_kind_name(hdr.kind)));
}
