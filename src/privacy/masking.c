/*
 * masking.c: the masking functions a masking rule calls: partial masking, e-mail masking,
 * keyed pseudonyms (HMAC-SHA-256) and their keys, bounded stable noise.
 *
 * None of them ever puts the value it masks into an error message: a masking view may run
 * them on raw values for a masked role, and an error text would be a way around the mask.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"

#include "privacy/sha256.h"

#define PSEUDONYM_MIN_KEY 16
#define PSEUDONYM_MAX_KEY 1024

PG_FUNCTION_INFO_V1(privacy_hmac_sha256);
PG_FUNCTION_INFO_V1(privacy_pseudonym_int8);
PG_FUNCTION_INFO_V1(privacy_pseudonym_text);
PG_FUNCTION_INFO_V1(privacy_mask_partial);
PG_FUNCTION_INFO_V1(privacy_mask_email);
PG_FUNCTION_INFO_V1(privacy_add_noise);
PG_FUNCTION_INFO_V1(privacy_generalize_date);
PG_FUNCTION_INFO_V1(privacy_sha256_impl);
PG_FUNCTION_INFO_V1(privacy_new_key);

/* The keyed HMAC state of the last key seen by one call site, kept in fn_extra. */
typedef struct KeyCache
{
	int			keylen;
	uint8		key[PSEUDONYM_MAX_KEY];
	RiqHmacKey	hmac;
} KeyCache;

static const RiqHmacKey *
cached_key(FunctionCallInfo fcinfo, bytea *key, bool check_length)
{
	KeyCache   *kc = (KeyCache *) fcinfo->flinfo->fn_extra;
	int			len = VARSIZE_ANY_EXHDR(key);
	const uint8 *bytes = (const uint8 *) VARDATA_ANY(key);

	if (check_length && (len < PSEUDONYM_MIN_KEY || len > PSEUDONYM_MAX_KEY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pseudonym key must be %d to %d bytes", PSEUDONYM_MIN_KEY, PSEUDONYM_MAX_KEY),
				 errdetail("The key is %d bytes.", len),
				 errhint("retailiq.new_pseudonym_key() makes a 32-byte random key.")));
	if (len > PSEUDONYM_MAX_KEY)
	{
		/* hmac_sha256 with a long key: no cache */
		static RiqHmacKey scratch;

		riq_hmac_key(&scratch, bytes, len);
		return &scratch;
	}
	if (kc == NULL)
	{
		kc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(KeyCache));
		kc->keylen = -1;
		fcinfo->flinfo->fn_extra = kc;
	}
	if (kc->keylen != len || memcmp(kc->key, bytes, len) != 0)
	{
		memcpy(kc->key, bytes, len);
		kc->keylen = len;
		riq_hmac_key(&kc->hmac, bytes, len);
	}
	return &kc->hmac;
}

/* hmac_sha256(data bytea, key bytea) -> bytea: RFC 2104 HMAC with SHA-256. */
Datum
privacy_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	bytea	   *key = PG_GETARG_BYTEA_PP(1);
	const RiqHmacKey *k = cached_key(fcinfo, key, false);
	bytea	   *out = palloc(VARHDRSZ + RIQ_SHA256_LEN);

	SET_VARSIZE(out, VARHDRSZ + RIQ_SHA256_LEN);
	riq_hmac(k, (const uint8 *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), (uint8 *) VARDATA(out));
	PG_RETURN_BYTEA_P(out);
}

/*
 * pseudonym(value bigint, key bytea) -> bigint: the first 8 bytes of HMAC(key, value as
 * 8 big-endian bytes), sign bit cleared, so pseudonyms are positive and 63 bits wide.
 */
Datum
privacy_pseudonym_int8(PG_FUNCTION_ARGS)
{
	int64		v = PG_GETARG_INT64(0);
	bytea	   *key = PG_GETARG_BYTEA_PP(1);
	const RiqHmacKey *k = cached_key(fcinfo, key, true);
	uint8		msg[8];
	uint32		mac[8];
	uint64		r;
	int			i;

	for (i = 0; i < 8; i++)
		msg[i] = (uint8) ((uint64) v >> (56 - 8 * i));
	riq_hmac_short(k, msg, 8, mac);
	r = ((uint64) mac[0] << 32) | mac[1];
	PG_RETURN_INT64((int64) (r & UINT64CONST(0x7FFFFFFFFFFFFFFF)));
}

/* pseudonym(value text, key bytea) -> text: the first 16 bytes of HMAC(key, value) in hex. */
Datum
privacy_pseudonym_text(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	bytea	   *key = PG_GETARG_BYTEA_PP(1);
	const RiqHmacKey *k = cached_key(fcinfo, key, true);
	uint8		mac[RIQ_SHA256_LEN];
	char		hex[33];
	static const char digits[] = "0123456789abcdef";
	int			i;

	riq_hmac(k, (const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), mac);
	for (i = 0; i < 16; i++)
	{
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	hex[32] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text_with_len(hex, 32));
}

static bool
pg_is_ascii_bytes(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] & 0x80)
			return false;
	return true;
}

/*
 * mask_partial(value text, keep_start int, keep_end int, pad text) -> text: keeps the first
 * keep_start and last keep_end characters and replaces each character between them with
 * pad. A value too short to keep both ends and still hide a character is padded entirely.
 */
Datum
privacy_mask_partial(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	int32		keep_start = PG_GETARG_INT32(1);
	int32		keep_end = PG_GETARG_INT32(2);
	text	   *pad = PG_GETARG_TEXT_PP(3);
	const char *s = VARDATA_ANY(v);
	int			bytes = VARSIZE_ANY_EXHDR(v);
	int			nchars;
	int			padlen = VARSIZE_ANY_EXHDR(pad);
	StringInfoData out;
	const char *p;
	int			i;

	if (keep_start < 0 || keep_end < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_start and keep_end must not be negative"),
				 errdetail("keep_start is %d, keep_end is %d.", keep_start, keep_end),
				 errhint("Pass how many characters to keep visible at each end.")));
	if (padlen == 0 || (padlen > 1 && pg_mbstrlen_with_len(VARDATA_ANY(pad), padlen) != 1) ||
		(padlen == 1 && ((unsigned char) *VARDATA_ANY(pad) & 0x80)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pad must be exactly one character"),
				 errhint("Use '*' or 'X'.")));

	/* ASCII value and one-byte pad (the usual phone number): no character walking */
	if (padlen == 1 && pg_is_ascii_bytes(s, bytes))
	{
		text	   *r = (text *) palloc(VARHDRSZ + bytes);
		char	   *d = VARDATA(r);

		SET_VARSIZE(r, VARHDRSZ + bytes);
		if ((int64) keep_start + keep_end >= bytes)
			keep_start = keep_end = 0;
		memcpy(d, s, keep_start);
		memset(d + keep_start, *VARDATA_ANY(pad), bytes - keep_start - keep_end);
		memcpy(d + bytes - keep_end, s + bytes - keep_end, keep_end);
		PG_RETURN_TEXT_P(r);
	}

	nchars = pg_mbstrlen_with_len(s, bytes);
	if ((int64) keep_start + keep_end >= nchars)
		keep_start = keep_end = 0;

	initStringInfo(&out);
	p = s;
	for (i = 0; i < nchars; i++)
	{
		int			l = pg_mblen(p);

		if (i < keep_start || i >= nchars - keep_end)
			appendBinaryStringInfo(&out, p, l);
		else
			appendBinaryStringInfo(&out, VARDATA_ANY(pad), padlen);
		p += l;
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * mask_email(value text) -> text: the first character of the local part, three asterisks
 * whatever its length, then '@' and the domain unchanged. Without '@' the whole value is
 * hidden ('***').
 */
Datum
privacy_mask_email(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(v);
	int			len = VARSIZE_ANY_EXHDR(v);
	const char *at = NULL;
	int			i;

	for (i = len - 1; i >= 0; i--)
		if (s[i] == '@')
		{
			at = s + i;
			break;
		}
	{
		int			first = (at != NULL && at > s) ? pg_mblen(s) : 0;
		int			domain = at != NULL ? len - (int) (at - s) : 0;
		text	   *r = (text *) palloc(VARHDRSZ + first + 3 + domain);
		char	   *d = VARDATA(r);

		SET_VARSIZE(r, VARHDRSZ + first + 3 + domain);
		memcpy(d, s, first);
		memcpy(d + first, "***", 3);
		if (domain > 0)
			memcpy(d + first + 3, at, domain);
		PG_RETURN_TEXT_P(r);
	}
}

static uint64
mix64(uint64 z)
{
	z += UINT64CONST(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/*
 * add_noise(value float8, ratio float8, seed bigint) -> float8: value * (1 + ratio * u),
 * u in [-1, 1) drawn from a hash of (seed, value). The same value always gets the same noise,
 * so averaging repeated reads does not wash it out; the result is within ratio of the value.
 */
Datum
privacy_add_noise(PG_FUNCTION_ARGS)
{
	float8		v = PG_GETARG_FLOAT8(0);
	float8		ratio = PG_GETARG_FLOAT8(1);
	int64		seed = PG_GETARG_INT64(2);
	uint64		bits;
	double		u;

	if (!(ratio >= 0.0 && ratio <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ratio must be between 0 and 1"),
				 errdetail("ratio is %g.", ratio),
				 errhint("0.1 moves each value by at most 10%%.")));
	if (isnan(v) || isinf(v))
		PG_RETURN_FLOAT8(v);
	if (v == 0.0)
		v = 0.0;				/* -0 and +0 get the same noise */
	memcpy(&bits, &v, sizeof(bits));
	u = (double) (mix64(mix64((uint64) seed) ^ bits) >> 11) * (1.0 / 9007199254740992.0);
	PG_RETURN_FLOAT8(v * (1.0 + ratio * (2.0 * u - 1.0)));
}

/*
 * generalize_date(value date, unit text) -> date: the first day of the value's month,
 * quarter or year (infinite dates stay as they are).
 */
Datum
privacy_generalize_date(PG_FUNCTION_ARGS)
{
	DateADT		d = PG_GETARG_DATEADT(0);
	text	   *unit = PG_GETARG_TEXT_PP(1);
	const char *u = VARDATA_ANY(unit);
	int			ulen = VARSIZE_ANY_EXHDR(unit);
	int			y, m, dd;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	if (ulen == 5 && pg_strncasecmp(u, "month", 5) == 0)
		dd = 1;
	else if (ulen == 7 && pg_strncasecmp(u, "quarter", 7) == 0)
	{
		m = 3 * ((m - 1) / 3) + 1;
		dd = 1;
	}
	else if (ulen == 4 && pg_strncasecmp(u, "year", 4) == 0)
		m = dd = 1;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unit must be month, quarter or year"),
				 errdetail("unit is %s.", text_to_cstring(unit)),
				 errhint("Dates are generalised to the first day of their month, quarter or year.")));
	if (DATE_NOT_FINITE(d))
		PG_RETURN_DATEADT(d);
	PG_RETURN_DATEADT(date2j(y, m, dd) - POSTGRES_EPOCH_JDATE);
}

/* sha256_implementation(force_c bool) -> text: 'sha-ni' or 'c' (force_c switches to C). */
Datum
privacy_sha256_impl(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(riq_sha256_impl(PG_GETARG_BOOL(0))));
}

/* retailiq.new_pseudonym_key() -> bytea: 32 bytes from the strong random source. */
Datum
privacy_new_key(PG_FUNCTION_ARGS)
{
	bytea	   *k = palloc(VARHDRSZ + 32);

	SET_VARSIZE(k, VARHDRSZ + 32);
	if (!pg_strong_random(VARDATA(k), 32))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for a pseudonym key")));
	PG_RETURN_BYTEA_P(k);
}
