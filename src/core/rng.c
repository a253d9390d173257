/*
 * rng.c: xoshiro256** (Blackman & Vigna) seeded through splitmix64, with the few
 * distributions the analytics and the sample-data generator need. All arithmetic is
 * plain IEEE double, so sequences are identical on every platform for a seed.
 */
#include "c.h"

#include <math.h>

#include "core/rng.h"

static uint64
splitmix64(uint64 *x)
{
	uint64		z = (*x += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

uint64
riq_mix64(uint64 a, uint64 b)
{
	uint64		x = a ^ (b * UINT64CONST(0xD1342543DE82EF95));

	return splitmix64(&x);
}

void
riq_rng_seed(RiqRng *rng, uint64 seed, uint64 stream)
{
	uint64		x = riq_mix64(seed, stream);

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
	rng->have_spare = false;
	rng->spare = 0.0;
}

static inline uint64
rotl(uint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64
riq_rng_next(RiqRng *rng)
{
	uint64	   *s = rng->s;
	uint64		result = rotl(s[1] * 5, 7) * 9;
	uint64		t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
riq_rng_uniform(RiqRng *rng)
{
	return (double) (riq_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Lemire's multiply-and-reject: unbiased for every n. */
uint64
riq_rng_below(RiqRng *rng, uint64 n)
{
	uint128		m;
	uint64		l;

	if (n <= 1)
		return 0;
	m = (uint128) riq_rng_next(rng) * n;
	l = (uint64) m;
	if (l < n)
	{
		uint64		t = -n % n;

		while (l < t)
		{
			m = (uint128) riq_rng_next(rng) * n;
			l = (uint64) m;
		}
	}
	return (uint64) (m >> 64);
}

double
riq_rng_normal(RiqRng *rng)
{
	double		u,
				v,
				s;

	if (rng->have_spare)
	{
		rng->have_spare = false;
		return rng->spare;
	}
	/* Marsaglia's polar method */
	do
	{
		u = 2.0 * riq_rng_uniform(rng) - 1.0;
		v = 2.0 * riq_rng_uniform(rng) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	s = sqrt(-2.0 * log(s) / s);
	rng->spare = v * s;
	rng->have_spare = true;
	return u * s;
}

int64
riq_rng_poisson(RiqRng *rng, double lambda)
{
	if (!(lambda > 0.0))
		return 0;
	if (lambda < 30.0)
	{
		/* Knuth: multiply uniforms until below e^-lambda */
		double		l = exp(-lambda),
					p = 1.0;
		int64		k = 0;

		do
		{
			k++;
			p *= riq_rng_uniform(rng);
		} while (p > l);
		return k - 1;
	}
	else
	{
		/* normal approximation, adequate for simulation at this size */
		double		x = floor(lambda + sqrt(lambda) * riq_rng_normal(rng) + 0.5);

		return x < 0 ? 0 : (int64) x;
	}
}

/* Marsaglia & Tsang; shape < 1 by the boost u^(1/shape). */
double
riq_rng_gamma(RiqRng *rng, double shape)
{
	double		d,
				c;

	if (shape < 1.0)
	{
		double		u = riq_rng_uniform(rng);

		return riq_rng_gamma(rng, shape + 1.0) * pow(u > 0 ? u : 0x1.0p-53, 1.0 / shape);
	}
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		x,
					v,
					u;

		do
		{
			x = riq_rng_normal(rng);
			v = 1.0 + c * x;
		} while (v <= 0.0);
		v = v * v * v;
		u = riq_rng_uniform(rng);
		if (u < 1.0 - 0.0331 * x * x * x * x)
			return d * v;
		if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

bool
riq_rng_bernoulli(RiqRng *rng, double p)
{
	return riq_rng_uniform(rng) < p;
}

int
riq_rng_weighted(RiqRng *rng, const double *cumulative, int n)
{
	double		x = riq_rng_uniform(rng) * cumulative[n - 1];
	int			lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (cumulative[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}
