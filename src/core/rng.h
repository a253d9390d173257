/*
 * rng.h: the one seeded random number generator of retailiq (xoshiro256**).
 *
 * Every stochastic method takes a seed and must give the same answer bit for bit for
 * the same seed, on any machine: so no rand(), no random(), no global state. A stream
 * number gives independent sequences from one seed (one per restart, per customer, ...).
 */
#ifndef RETAILIQ_RNG_H
#define RETAILIQ_RNG_H

#include "c.h"

typedef struct RiqRng
{
	uint64		s[4];
	bool		have_spare;		/* Box-Muller makes normals in pairs */
	double		spare;
} RiqRng;

extern void riq_rng_seed(RiqRng *rng, uint64 seed, uint64 stream);
extern uint64 riq_rng_next(RiqRng *rng);
extern double riq_rng_uniform(RiqRng *rng);	/* [0, 1) with 53 random bits */
extern uint64 riq_rng_below(RiqRng *rng, uint64 n);	/* uniform in [0, n), unbiased */
extern double riq_rng_normal(RiqRng *rng);	/* standard normal */
extern int64 riq_rng_poisson(RiqRng *rng, double lambda);
extern double riq_rng_gamma(RiqRng *rng, double shape);	/* scale 1 */
extern bool riq_rng_bernoulli(RiqRng *rng, double p);
/* index drawn with probability proportional to weights[i] (all >= 0, total > 0) */
extern int	riq_rng_weighted(RiqRng *rng, const double *cumulative, int n);
/* a stateless 64-bit mix of two values (splitmix64): for hashing ids into seeds */
extern uint64 riq_mix64(uint64 a, uint64 b);

#endif
