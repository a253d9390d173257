/*
 * model_format.h: the on-disk layout of a retailiq.model value and its validating decoder.
 *
 * This file and model_format.c depend only on c.h and pg_crc32c, so the decoder can be
 * built outside the server for the fuzzer (test/fuzz). Everything is little-endian,
 * whatever the machine, so a value's bytes are also its binary send/recv form.
 *
 *   varlena header (4 bytes, not counted below)
 *   0  uint32 magic            'RIQM'
 *   4  uint16 format version   MODEL_FORMAT_VERSION
 *   6  uint16 kind             ModelKind code
 *   8  uint32 payload length   bytes after the 16-byte header
 *  12  uint32 checksum         CRC-32C of bytes 0..11 and of the payload
 *  16  payload:
 *        int64  trained_at     (PostgreSQL timestamptz, microseconds since 2000-01-01)
 *        uint8  trained_by length, then that many bytes
 *        uint32 entry count, then the entries, sorted by (section, key), keys unique
 *  entry:
 *        uint8 section, uint8 type, uint8 ndim (0 = scalar, 1, 2), uint8 key length,
 *        key bytes ([A-Za-z0-9_], 1..63), uint32 dims[ndim],
 *        values: float8/int64 8 bytes each, bool 1 byte each (0 or 1),
 *                text: uint32 length + bytes (no NUL) each
 */
#ifndef RETAILIQ_MODEL_FORMAT_H
#define RETAILIQ_MODEL_FORMAT_H

#include "c.h"

#define MODEL_MAGIC           0x4D514952u	/* "RIQM" read little-endian */
#define MODEL_FORMAT_VERSION  1
#define MODEL_HEADER_SIZE     16
#define MODEL_MAX_KEY         63
#define MODEL_MAX_NDIM        2
#define MODEL_MAX_USER        255

typedef enum ModelSection
{
	MODEL_PARAMS = 1,			/* how it was trained: k, seed, window, ... */
	MODEL_METRICS = 2,			/* how well: inertia, log-likelihood, validation error */
	MODEL_DATA = 3				/* what it learned: centroids, weights, rules */
} ModelSection;

typedef enum ModelValueType
{
	MODEL_FLOAT8 = 1,
	MODEL_INT64 = 2,
	MODEL_TEXT = 3,
	MODEL_BOOL = 4
} ModelValueType;

/*
 * Kind codes are stored on disk: never renumber, only append. The names are what
 * model_kind() returns and what the text form spells.
 */
typedef enum ModelKind
{
	MODEL_KIND_ANY = 0,			/* only as the "expected kind" of a reader */
	MODEL_KIND_KMEANS = 1,
	MODEL_KIND_LSTM = 2,
	MODEL_KIND_ETS = 3,
	MODEL_KIND_THETA = 4,
	MODEL_KIND_CROSTON = 5,
	MODEL_KIND_ARIMA = 6,
	MODEL_KIND_SEASONAL_NAIVE = 7,
	MODEL_KIND_BGNBD = 8,
	MODEL_KIND_PARETO_NBD = 9,
	MODEL_KIND_GAMMAGAMMA = 10,
	MODEL_KIND_LOGIT = 11,
	MODEL_KIND_GBM = 12,
	MODEL_KIND_ASSOC_RULES = 13,
	MODEL_KIND_RFM = 14,
	MODEL_KIND_FORECAST_ENSEMBLE = 15,
	MODEL_KIND_FORECAST_REGRESSION = 16,
	MODEL_KIND_RECOMMENDER = 17,
	MODEL_KIND_ELASTICITY = 18,
	MODEL_KIND_FORECAST_GLOBAL = 19
} ModelKind;

#define MODEL_KIND_MAX 19

/* Why a value was rejected: a truncated/garbled value, or one from a newer retailiq. */
typedef enum ModelDecodeStatus
{
	MODEL_DECODE_OK = 0,
	MODEL_DECODE_CORRUPT,
	MODEL_DECODE_VERSION
} ModelDecodeStatus;

typedef struct ModelHeaderInfo
{
	uint16		version;
	uint16		kind;
	uint32		payload_len;
	int64		trained_at;
	const char *trained_by;		/* not NUL-terminated */
	int			trained_by_len;
	uint32		nentries;
} ModelHeaderInfo;

/* One entry, pointing into the value's bytes (values may be unaligned). */
typedef struct ModelRawEntry
{
	uint8		section;
	uint8		type;
	uint8		ndim;
	uint8		keylen;
	const char *key;			/* not NUL-terminated */
	uint32		dims[MODEL_MAX_NDIM];
	uint64		nelems;			/* product of dims, 1 for a scalar */
	const char *values;
	size_t		values_len;
} ModelRawEntry;

typedef struct ModelDecoder
{
	const char *buf;			/* start of the 16-byte header */
	size_t		len;			/* header + payload */
	size_t		pos;
	uint32		remaining;		/* entries not yet read */
	uint8		last_section;
	const char *last_key;
	uint8		last_keylen;
	char		error[128];		/* what was wrong, for errdetail */
} ModelDecoder;

extern const char *model_kind_name(int kind);
extern int	model_kind_from_name(const char *name, size_t len);
extern bool model_kind_is_built(int kind);

/* Decoding: open checks header and checksum; next walks and checks each entry. */
extern ModelDecodeStatus model_decode_open(ModelDecoder *d, const char *buf, size_t len,
										   ModelHeaderInfo *hdr);
extern ModelDecodeStatus model_decode_next(ModelDecoder *d, ModelRawEntry *e);
extern ModelDecodeStatus model_decode_all(const char *buf, size_t len, char *error, size_t errlen);

extern uint32 model_checksum(const char *buf, size_t len);

/* Little-endian primitives, shared with the encoder. */
static inline uint16
model_get_u16(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return (uint16) (u[0] | (u[1] << 8));
}

static inline uint32
model_get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return (uint32) u[0] | ((uint32) u[1] << 8) | ((uint32) u[2] << 16) | ((uint32) u[3] << 24);
}

static inline uint64
model_get_u64(const char *p)
{
	return (uint64) model_get_u32(p) | ((uint64) model_get_u32(p + 4) << 32);
}

static inline void
model_put_u16(char *p, uint16 v)
{
	p[0] = (char) (v & 0xFF);
	p[1] = (char) (v >> 8);
}

static inline void
model_put_u32(char *p, uint32 v)
{
	p[0] = (char) (v & 0xFF);
	p[1] = (char) ((v >> 8) & 0xFF);
	p[2] = (char) ((v >> 16) & 0xFF);
	p[3] = (char) (v >> 24);
}

static inline void
model_put_u64(char *p, uint64 v)
{
	model_put_u32(p, (uint32) v);
	model_put_u32(p + 4, (uint32) (v >> 32));
}

static inline double
model_get_f64(const char *p)
{
	uint64		u = model_get_u64(p);
	double		d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static inline void
model_put_f64(char *p, double d)
{
	uint64		u;

	memcpy(&u, &d, sizeof(u));
	model_put_u64(p, u);
}

#endif
