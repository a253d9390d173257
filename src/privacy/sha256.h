/*
 * sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) for the pseudonym functions.
 *
 * The keyed state (the compression state after the ipad and opad blocks) is computed once
 * per key and reused for every value, so a short pseudonym costs two compressions.
 */
#ifndef RETAILIQ_PRIVACY_SHA256_H
#define RETAILIQ_PRIVACY_SHA256_H

#include "postgres.h"

#define RIQ_SHA256_LEN 32

typedef struct RiqSha256
{
	uint32		h[8];
	uint64		total;			/* bytes hashed so far */
	uint8		buf[64];
	int			used;
} RiqSha256;

typedef struct RiqHmacKey
{
	RiqSha256	inner;			/* state after (key ^ ipad) */
	RiqSha256	outer;			/* state after (key ^ opad) */
} RiqHmacKey;

extern void riq_sha256_init(RiqSha256 *s);
extern void riq_sha256_update(RiqSha256 *s, const uint8 *data, size_t len);
extern void riq_sha256_final(RiqSha256 *s, uint8 out[RIQ_SHA256_LEN]);
extern void riq_hmac_key(RiqHmacKey *k, const uint8 *key, size_t keylen);
extern const char *riq_sha256_impl(int force_c);
extern void riq_hmac_long(const RiqHmacKey *k, const uint8 *msg, size_t len, uint8 out[RIQ_SHA256_LEN]);
extern void riq_hmac_short(const RiqHmacKey *k, const uint8 *msg, size_t len, uint32 out[8]);
extern void riq_hmac(const RiqHmacKey *k, const uint8 *msg, size_t len, uint8 out[RIQ_SHA256_LEN]);

#endif
