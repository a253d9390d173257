/*
 * model_format.c: kind names and the validating decoder of retailiq.model values.
 *
 * The decoder trusts nothing: every length is checked against the bytes that remain
 * before it is used, the checksum is verified before any entry is read, and the entries
 * must be in canonical order, so two equal models are always byte-identical. It never
 * allocates and never raises: it reports what was wrong in d->error and the caller turns
 * that into an ERROR (in the server) or a rejected input (in the fuzzer).
 */
#include "core/model_format.h"

#include <stdio.h>

#include "port/pg_crc32c.h"

/*
 * The kind table: a code's name, and whether a trainer of this release builds it. Codes
 * reserved for methods still to come have a name (so a value from a later release is
 * named, not called corrupt) but are not "built": messages that list kinds for a user
 * list only the built ones. A part that starts building a kind sets its flag here.
 */
typedef struct KindInfo
{
	const char *name;
	bool		built;
} KindInfo;

static const KindInfo kinds[MODEL_KIND_MAX + 1] = {
	[MODEL_KIND_ANY] = {"any", false},
	[MODEL_KIND_KMEANS] = {"kmeans", true},
	[MODEL_KIND_LSTM] = {"lstm", true},
	[MODEL_KIND_ETS] = {"ets", true},
	[MODEL_KIND_THETA] = {"theta", false},
	[MODEL_KIND_CROSTON] = {"croston", true},
	[MODEL_KIND_ARIMA] = {"arima", false},
	[MODEL_KIND_SEASONAL_NAIVE] = {"seasonal_naive", true},
	[MODEL_KIND_BGNBD] = {"bgnbd", true},
	[MODEL_KIND_PARETO_NBD] = {"pareto_nbd", false},
	[MODEL_KIND_GAMMAGAMMA] = {"gammagamma", true},
	[MODEL_KIND_LOGIT] = {"logit", true},
	[MODEL_KIND_GBM] = {"gbm", false},
	[MODEL_KIND_ASSOC_RULES] = {"assoc_rules", true},
	[MODEL_KIND_RFM] = {"rfm", false},
	[MODEL_KIND_FORECAST_ENSEMBLE] = {"forecast_ensemble", true},
	[MODEL_KIND_FORECAST_REGRESSION] = {"forecast_regression", true},
	[MODEL_KIND_RECOMMENDER] = {"recommender", true},
	[MODEL_KIND_ELASTICITY] = {"elasticity", true},
	[MODEL_KIND_FORECAST_GLOBAL] = {"forecast_global", true},
};

const char *
model_kind_name(int kind)
{
	if (kind < 0 || kind > MODEL_KIND_MAX || kinds[kind].name == NULL)
		return NULL;
	return kinds[kind].name;
}

bool
model_kind_is_built(int kind)
{
	return kind > 0 && kind <= MODEL_KIND_MAX && kinds[kind].built;
}

/* The kind code for a name, or -1; "any" is not a kind a value can have. */
int
model_kind_from_name(const char *name, size_t len)
{
	for (int k = 1; k <= MODEL_KIND_MAX; k++)
	{
		if (kinds[k].name && strlen(kinds[k].name) == len && memcmp(kinds[k].name, name, len) == 0)
			return k;
	}
	return -1;
}

uint32
model_checksum(const char *buf, size_t len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, 12);
	COMP_CRC32C(crc, buf + MODEL_HEADER_SIZE, len - MODEL_HEADER_SIZE);
	FIN_CRC32C(crc);
	return (uint32) crc;
}

static ModelDecodeStatus
fail(ModelDecoder *d, ModelDecodeStatus status, const char *what, size_t at)
{
	snprintf(d->error, sizeof(d->error), "%s at byte %zu", what, at);
	return status;
}

static bool
need(ModelDecoder *d, size_t n)
{
	return n <= d->len - d->pos;
}

ModelDecodeStatus
model_decode_open(ModelDecoder *d, const char *buf, size_t len, ModelHeaderInfo *hdr)
{
	uint32		crc;

	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->len = len;

	if (len < MODEL_HEADER_SIZE)
		return fail(d, MODEL_DECODE_CORRUPT, "value shorter than the model header", 0);
	if (model_get_u32(buf) != MODEL_MAGIC)
		return fail(d, MODEL_DECODE_CORRUPT, "bad magic number", 0);
	hdr->version = model_get_u16(buf + 4);
	hdr->kind = model_get_u16(buf + 6);
	hdr->payload_len = model_get_u32(buf + 8);
	if (hdr->version == 0)
		return fail(d, MODEL_DECODE_CORRUPT, "format version 0", 4);
	if (hdr->version > MODEL_FORMAT_VERSION)
	{
		snprintf(d->error, sizeof(d->error), "format version %u is newer than this retailiq's %d",
				 hdr->version, MODEL_FORMAT_VERSION);
		return MODEL_DECODE_VERSION;
	}
	if ((size_t) hdr->payload_len != len - MODEL_HEADER_SIZE)
		return fail(d, MODEL_DECODE_CORRUPT, "payload length does not match the value's length", 8);
	crc = model_checksum(buf, len);
	if (crc != model_get_u32(buf + 12))
		return fail(d, MODEL_DECODE_CORRUPT, "checksum mismatch", 12);
	if (hdr->kind == MODEL_KIND_ANY || model_kind_name(hdr->kind) == NULL)
		return fail(d, MODEL_DECODE_CORRUPT, "unknown model kind", 6);

	d->pos = MODEL_HEADER_SIZE;
	if (!need(d, 8 + 1))
		return fail(d, MODEL_DECODE_CORRUPT, "truncated trainer fields", d->pos);
	hdr->trained_at = (int64) model_get_u64(buf + d->pos);
	d->pos += 8;
	hdr->trained_by_len = (unsigned char) buf[d->pos];
	d->pos += 1;
	if (!need(d, (size_t) hdr->trained_by_len + 4))
		return fail(d, MODEL_DECODE_CORRUPT, "truncated trainer name", d->pos);
	hdr->trained_by = buf + d->pos;
	if (memchr(hdr->trained_by, '\0', hdr->trained_by_len) != NULL)
		return fail(d, MODEL_DECODE_CORRUPT, "NUL byte in trainer name", d->pos);
	d->pos += hdr->trained_by_len;
	hdr->nentries = model_get_u32(buf + d->pos);
	d->pos += 4;
	/* each entry takes at least 5 bytes: a bound before anyone sizes an array by it */
	if ((uint64) hdr->nentries * 5 > (uint64) (d->len - d->pos))
		return fail(d, MODEL_DECODE_CORRUPT, "entry count larger than the payload", d->pos - 4);
	d->remaining = hdr->nentries;
	return MODEL_DECODE_OK;
}

static bool
key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Reads the next entry into *e; after the last one, checks that nothing trails. */
ModelDecodeStatus
model_decode_next(ModelDecoder *d, ModelRawEntry *e)
{
	size_t		start = d->pos;
	const char *p;
	int			cmp;

	if (d->remaining == 0)
		return fail(d, MODEL_DECODE_CORRUPT, "read past the last entry", d->pos);
	if (!need(d, 4))
		return fail(d, MODEL_DECODE_CORRUPT, "truncated entry header", d->pos);
	p = d->buf + d->pos;
	e->section = (uint8) p[0];
	e->type = (uint8) p[1];
	e->ndim = (uint8) p[2];
	e->keylen = (uint8) p[3];
	d->pos += 4;
	if (e->section < MODEL_PARAMS || e->section > MODEL_DATA)
		return fail(d, MODEL_DECODE_CORRUPT, "bad entry section", start);
	if (e->type < MODEL_FLOAT8 || e->type > MODEL_BOOL)
		return fail(d, MODEL_DECODE_CORRUPT, "bad entry type", start + 1);
	if (e->ndim > MODEL_MAX_NDIM)
		return fail(d, MODEL_DECODE_CORRUPT, "too many dimensions", start + 2);
	if (e->keylen == 0 || e->keylen > MODEL_MAX_KEY || !need(d, e->keylen))
		return fail(d, MODEL_DECODE_CORRUPT, "bad key length", start + 3);
	e->key = d->buf + d->pos;
	for (int i = 0; i < e->keylen; i++)
		if (!key_char_ok(e->key[i]))
			return fail(d, MODEL_DECODE_CORRUPT, "bad character in key", d->pos + i);
	d->pos += e->keylen;

	/* canonical order: strictly increasing (section, key) */
	if (d->last_key != NULL)
	{
		if (e->section != d->last_section)
			cmp = (int) e->section - (int) d->last_section;
		else
		{
			int			m = Min(e->keylen, d->last_keylen);

			cmp = memcmp(e->key, d->last_key, m);
			if (cmp == 0)
				cmp = (int) e->keylen - (int) d->last_keylen;
		}
		if (cmp <= 0)
			return fail(d, MODEL_DECODE_CORRUPT, "entries out of order or duplicated", start);
	}
	d->last_section = e->section;
	d->last_key = e->key;
	d->last_keylen = e->keylen;

	if (e->ndim > 0 && e->type == MODEL_BOOL)
		return fail(d, MODEL_DECODE_CORRUPT, "bool arrays are not a model value", start + 2);
	e->nelems = 1;
	e->dims[0] = e->dims[1] = 0;
	if (!need(d, 4 * (size_t) e->ndim))
		return fail(d, MODEL_DECODE_CORRUPT, "truncated dimensions", d->pos);
	for (int i = 0; i < e->ndim; i++)
	{
		e->dims[i] = model_get_u32(d->buf + d->pos);
		d->pos += 4;
		e->nelems *= e->dims[i];	/* two uint32 factors cannot overflow uint64 */
	}
	/* the builder stores every empty array as a one-dimensional float8 array */
	if (e->ndim > 0 && e->nelems == 0 && (e->ndim != 1 || e->type != MODEL_FLOAT8))
		return fail(d, MODEL_DECODE_CORRUPT, "non-canonical empty array", start);

	e->values = d->buf + d->pos;
	switch (e->type)
	{
		case MODEL_FLOAT8:
		case MODEL_INT64:
			if (e->nelems > (d->len - d->pos) / 8)
				return fail(d, MODEL_DECODE_CORRUPT, "truncated numeric values", d->pos);
			d->pos += (size_t) e->nelems * 8;
			break;
		case MODEL_BOOL:
			if (!need(d, 1))
				return fail(d, MODEL_DECODE_CORRUPT, "truncated bool value", d->pos);
			if ((unsigned char) d->buf[d->pos] > 1)
				return fail(d, MODEL_DECODE_CORRUPT, "bool value other than 0 or 1", d->pos);
			d->pos += 1;
			break;
		case MODEL_TEXT:
			if (e->nelems > (d->len - d->pos) / 4)
				return fail(d, MODEL_DECODE_CORRUPT, "truncated text values", d->pos);
			for (uint64 i = 0; i < e->nelems; i++)
			{
				uint32		tl;

				if (!need(d, 4))
					return fail(d, MODEL_DECODE_CORRUPT, "truncated text length", d->pos);
				tl = model_get_u32(d->buf + d->pos);
				d->pos += 4;
				if (!need(d, tl))
					return fail(d, MODEL_DECODE_CORRUPT, "truncated text value", d->pos);
				if (memchr(d->buf + d->pos, '\0', tl) != NULL)
					return fail(d, MODEL_DECODE_CORRUPT, "NUL byte in text value", d->pos);
				d->pos += tl;
			}
			break;
	}
	e->values_len = (d->buf + d->pos) - e->values;

	d->remaining--;
	if (d->remaining == 0 && d->pos != d->len)
		return fail(d, MODEL_DECODE_CORRUPT, "bytes after the last entry", d->pos);
	return MODEL_DECODE_OK;
}

/* Validates a whole value: header, checksum and every entry. */
ModelDecodeStatus
model_decode_all(const char *buf, size_t len, char *error, size_t errlen)
{
	ModelDecoder d;
	ModelHeaderInfo hdr;
	ModelRawEntry e;
	ModelDecodeStatus st;

	st = model_decode_open(&d, buf, len, &hdr);
	for (uint32 i = 0; st == MODEL_DECODE_OK && i < hdr.nentries; i++)
		st = model_decode_next(&d, &e);
	if (st == MODEL_DECODE_OK && hdr.nentries == 0 && d.pos != d.len)
		st = fail(&d, MODEL_DECODE_CORRUPT, "bytes after the last entry", d.pos);
	if (st != MODEL_DECODE_OK && error != NULL)
		snprintf(error, errlen, "%s", d.error);
	return st;
}
