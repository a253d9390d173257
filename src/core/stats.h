/*
 * stats.h: numerical helpers shared by the parts.
 */
#ifndef RETAILIQ_STATS_H
#define RETAILIQ_STATS_H

/* The standard normal quantile (inverse CDF): Wichura's AS 241, about 1e-16 relative
 * accuracy; -HUGE_VAL / HUGE_VAL for p <= 0 / p >= 1. */
extern double riq_normal_quantile(double p);

/* qsort comparator for ascending doubles (no NaN expected) */
extern int	riq_cmp_double(const void *a, const void *b);

#endif
