/*
 * sha256.c: SHA-256 and HMAC-SHA-256, written from FIPS 180-4 and RFC 2104.
 *
 * PostgreSQL 15's common/hmac.h works in a backend too, but it allocates (and, with
 * OpenSSL, registers with the resource owner) a context per call and rehashes the key
 * each time; a pseudonymised column is hashed once per row, so the keyed inner and outer
 * states are precomputed here once per key instead. Checked against the FIPS 180-4 and
 * RFC 4231 vectors and against PostgreSQL's own sha256() in sql/privacy_masking.sql.
 */
#include "postgres.h"

#include "privacy/sha256.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_CODE 1
#endif

static const uint32 K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
compress_c(uint32 h[8], const uint32 *m)
{
	uint32		w[64];
	uint32		a, b, c, d, e, f, g, hh;
	int			i;

	for (i = 0; i < 16; i++)
		w[i] = m[i];
	for (i = 16; i < 64; i++)
	{
		uint32		s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32		s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++)
	{
		uint32		t1 = hh + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32		t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

#ifdef HAVE_SHA_NI_CODE
/*
 * The same compression with the x86 SHA extensions (SHA-NI): the state lives in two
 * registers as ABEF and CDGH, two rounds per sha256rnds2, the message schedule four words
 * at a time (sha256msg1/msg2). Checked against compress_c by the same tests, on machines
 * that have the instructions; chosen at the first call from CPUID.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
compress_ni(uint32 h[8], const uint32 *m)
{
	__m128i		w[16];
	__m128i		tmp, st0, st1, save0, save1, msg;
	int			j;

	tmp = _mm_loadu_si128((const __m128i *) &h[0]);
	st1 = _mm_loadu_si128((const __m128i *) &h[4]);
	tmp = _mm_shuffle_epi32(tmp, 0xB1);
	st1 = _mm_shuffle_epi32(st1, 0x1B);
	st0 = _mm_alignr_epi8(tmp, st1, 8);
	st1 = _mm_blend_epi16(st1, tmp, 0xF0);
	save0 = st0;
	save1 = st1;

	for (j = 0; j < 4; j++)
		w[j] = _mm_loadu_si128((const __m128i *) (m + 4 * j));
	for (j = 4; j < 16; j++)
		w[j] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w[j - 4], w[j - 3]),
												  _mm_alignr_epi8(w[j - 1], w[j - 2], 4)),
									w[j - 1]);
	for (j = 0; j < 16; j++)
	{
		msg = _mm_add_epi32(w[j], _mm_loadu_si128((const __m128i *) &K[4 * j]));
		st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
		msg = _mm_shuffle_epi32(msg, 0x0E);
		st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
	}

	st0 = _mm_add_epi32(st0, save0);
	st1 = _mm_add_epi32(st1, save1);
	tmp = _mm_shuffle_epi32(st0, 0x1B);
	st1 = _mm_shuffle_epi32(st1, 0xB1);
	st0 = _mm_blend_epi16(tmp, st1, 0xF0);
	st1 = _mm_alignr_epi8(st1, tmp, 8);
	_mm_storeu_si128((__m128i *) &h[0], st0);
	_mm_storeu_si128((__m128i *) &h[4], st1);
}
#endif

/* -1: not yet checked; 0: portable C; 1: SHA-NI */
static int	use_ni = -1;

/* one compression of the 16 message words m (already big-endian decoded) */
static inline void
compress_words(uint32 h[8], const uint32 *m)
{
#ifdef HAVE_SHA_NI_CODE
	if (unlikely(use_ni < 0))
	{
		unsigned int a, b, c, d;

		use_ni = 0;
		if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
			__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
			use_ni = 1;
	}
	if (use_ni)
	{
		compress_ni(h, m);
		return;
	}
#endif
	compress_c(h, m);
}

static void
compress(uint32 h[8], const uint8 *p)
{
	uint32		w[16];
	int			i;

	for (i = 0; i < 16; i++)
		w[i] = ((uint32) p[4 * i] << 24) | ((uint32) p[4 * i + 1] << 16) |
			((uint32) p[4 * i + 2] << 8) | (uint32) p[4 * i + 3];
	compress_words(h, w);
}

/* Which implementation runs here: 'sha-ni' or 'c'. Forcing 'c' lets tests compare both. */
const char *
riq_sha256_impl(int force_c)
{
	uint32		h[8] = {0};
	uint8		block[64] = {0};

	compress(h, block);			/* settles use_ni */
	if (force_c)
		use_ni = 0;
	return use_ni ? "sha-ni" : "c";
}

void
riq_sha256_init(RiqSha256 *s)
{
	static const uint32 iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(s->h, iv, sizeof(iv));
	s->total = 0;
	s->used = 0;
}

void
riq_sha256_update(RiqSha256 *s, const uint8 *data, size_t len)
{
	s->total += len;
	if (s->used > 0)
	{
		size_t		take = Min(len, (size_t) (64 - s->used));

		memcpy(s->buf + s->used, data, take);
		s->used += take;
		data += take;
		len -= take;
		if (s->used < 64)
			return;
		compress(s->h, s->buf);
		s->used = 0;
	}
	while (len >= 64)
	{
		compress(s->h, data);
		data += 64;
		len -= 64;
	}
	if (len > 0)
	{
		memcpy(s->buf, data, len);
		s->used = (int) len;
	}
}

void
riq_sha256_final(RiqSha256 *s, uint8 out[RIQ_SHA256_LEN])
{
	uint64		bits = s->total * 8;
	int			i;

	s->buf[s->used++] = 0x80;
	if (s->used > 56)
	{
		memset(s->buf + s->used, 0, 64 - s->used);
		compress(s->h, s->buf);
		s->used = 0;
	}
	memset(s->buf + s->used, 0, 56 - s->used);
	for (i = 0; i < 8; i++)
		s->buf[56 + i] = (uint8) (bits >> (56 - 8 * i));
	compress(s->h, s->buf);
	for (i = 0; i < 8; i++)
	{
		out[4 * i] = (uint8) (s->h[i] >> 24);
		out[4 * i + 1] = (uint8) (s->h[i] >> 16);
		out[4 * i + 2] = (uint8) (s->h[i] >> 8);
		out[4 * i + 3] = (uint8) s->h[i];
	}
}

void
riq_hmac_key(RiqHmacKey *k, const uint8 *key, size_t keylen)
{
	uint8		block[64];
	uint8		pad[64];
	int			i;

	memset(block, 0, sizeof(block));
	if (keylen > 64)
	{
		RiqSha256	s;

		riq_sha256_init(&s);
		riq_sha256_update(&s, key, keylen);
		riq_sha256_final(&s, block);
	}
	else if (keylen > 0)
		memcpy(block, key, keylen);

	for (i = 0; i < 64; i++)
		pad[i] = block[i] ^ 0x36;
	riq_sha256_init(&k->inner);
	riq_sha256_update(&k->inner, pad, 64);
	for (i = 0; i < 64; i++)
		pad[i] = block[i] ^ 0x5c;
	riq_sha256_init(&k->outer);
	riq_sha256_update(&k->outer, pad, 64);
	/* the key must not linger on the stack */
	explicit_bzero(block, sizeof(block));
	explicit_bzero(pad, sizeof(pad));
}

static inline void
put_be32(uint8 *p, uint32 v)
{
	p[0] = (uint8) (v >> 24);
	p[1] = (uint8) (v >> 16);
	p[2] = (uint8) (v >> 8);
	p[3] = (uint8) v;
}

/*
 * HMAC of a message of at most 55 bytes, as eight state words: the message and its padding
 * fill the one block after the keyed inner state, the inner digest (as words, no byte
 * conversion) and its padding the one block after the outer state.
 */
void
riq_hmac_short(const RiqHmacKey *k, const uint8 *msg, size_t len, uint32 out[8])
{
	uint32		w[16];
	uint32		h[8];
	size_t		i;

	Assert(len <= 55);
	memset(w, 0, sizeof(w));
	for (i = 0; i < len; i++)
		w[i >> 2] |= (uint32) msg[i] << (24 - 8 * (i & 3));
	w[len >> 2] |= (uint32) 0x80 << (24 - 8 * (len & 3));
	w[15] = (uint32) ((64 + len) * 8);
	memcpy(h, k->inner.h, sizeof(h));
	compress_words(h, w);

	memcpy(w, h, sizeof(h));
	w[8] = 0x80000000;
	memset(w + 9, 0, 6 * sizeof(uint32));
	w[15] = (64 + 32) * 8;
	memcpy(out, k->outer.h, 8 * sizeof(uint32));
	compress_words(out, w);
}

void
riq_hmac(const RiqHmacKey *k, const uint8 *msg, size_t len, uint8 out[RIQ_SHA256_LEN])
{
	/*
	 * A message of up to 55 bytes fits with its padding in the one block after the keyed
	 * inner state, and the inner digest in the one block after the outer state: two
	 * compressions on stack blocks, no buffering (pseudonyms of ids take this path).
	 */
	if (len <= 55)
	{
		uint32		h[8];
		int			i;

		riq_hmac_short(k, msg, len, h);
		for (i = 0; i < 8; i++)
			put_be32(out + 4 * i, h[i]);
		return;
	}
	riq_hmac_long(k, msg, len, out);
}

void
riq_hmac_long(const RiqHmacKey *k, const uint8 *msg, size_t len, uint8 out[RIQ_SHA256_LEN])
{
	RiqSha256	s;
	uint8		inner[RIQ_SHA256_LEN];

	s = k->inner;
	riq_sha256_update(&s, msg, len);
	riq_sha256_final(&s, inner);
	s = k->outer;
	riq_sha256_update(&s, inner, RIQ_SHA256_LEN);
	riq_sha256_final(&s, out);
}
