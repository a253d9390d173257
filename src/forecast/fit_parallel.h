/*
 * fit_parallel.h: fitting every series of a forecast_fit panel, one after another in the
 * backend or side by side in PostgreSQL parallel workers (retailiq.forecast_workers).
 * Each series' fit depends on nothing but its own values and the options, so the two give
 * the same fits bit for bit; forecast_fit.c builds the model from them either way.
 */
#ifndef RETAILIQ_FORECAST_FIT_PARALLEL_H
#define RETAILIQ_FORECAST_FIT_PARALLEL_H

#include "forecast/method.h"
#include "forecast/progress.h"
#include "forecast/warm_start.h"

/* fewer series than this are fitted in the backend: starting workers would cost more */
#define FIT_PARALLEL_MIN_SERIES 16

extern int	forecast_workers;	/* GUC retailiq.forecast_workers: 0 = always in the backend */
/* GUC retailiq.debug_fail_series (superuser, tests): the fit of this series raises an ERROR */
extern char *forecast_debug_fail_series;

/*
 * Fit series i of the panel for every i: need[i] is what the method's min_length said (0 =
 * long enough; else the series gets the short-series fallback, keep[i] false when even
 * that is impossible). vmae[i] is auto's validation error (NaN for other methods). plans[i]
 * says whether series i is fitted cold, refitted warm or skipped (its fits already filled
 * in); a warm refit that degrades becomes cold and says so in plans[i].status. An error
 * while fitting a series names it (error context), in the backend as in a worker.
 */
extern void forecast_fit_series(const ForecastPanel *panel, int m, const ForecastOptions *o,
								const int *need, WarmPlan *plans, SeriesFit *fits, bool *keep,
								double *vmae);

/*
 * A fit in groups (a streamed forecast_fit, forecast_fit.c): between begin and end, the
 * groups' forecast_fit_series calls share one row of retailiq.forecast_progress (total
 * series in all) and count as one fit in the session's run totals. end is safe to call
 * twice and must be called on error too (PG_FINALLY).
 */
extern void forecast_fit_groups_begin(const char *method, int64 total);
extern void forecast_fit_groups_end(void);

#endif							/* RETAILIQ_FORECAST_FIT_PARALLEL_H */
