/*
 * adida.h: temporal aggregation for intermittent demand, shared by ADIDA (adida.c) and
 * IMAPA (imapa.c).
 */
#ifndef RETAILIQ_FORECAST_ADIDA_H
#define RETAILIQ_FORECAST_ADIDA_H

#include "forecast/method.h"

/* the smoothing weights tried when none is given (as Croston's) */
#define ADIDA_ALPHA_STEPS 6
#define ADIDA_ALPHA_STEP 0.05

/* largest aggregation level an option may ask for */
#define ADIDA_MAX_LEVEL 10000

/*
 * One aggregation level k of y: the sums of the non-overlapping buckets of k periods that
 * end at the last period (the first n mod k periods are left out), smoothed by SES started
 * at the first bucket (alpha <= 0: chosen by the in-sample one-step squared error of the
 * buckets). *level is the final SES level (per bucket), *alpha_out the weight used.
 * per_period, when not NULL, receives the in-sample forecast per period of every period of
 * the buckets after the first (NAN elsewhere): the forecast of its bucket divided by k.
 */
extern void adida_level(const double *y, int n, int k, double alpha, double *level,
						double *alpha_out, double *per_period);

/* the aggregation level a series asks for: its mean inter-demand interval, rounded,
 * between 1 and max(1, n / 2) (two buckets at least); 1 for a series without demand */
extern int	adida_default_level(const double *y, int n);

#endif							/* RETAILIQ_FORECAST_ADIDA_H */
