/*
 * ets_memo.h: the ETS form fits of the last series searched (ets_memo.c), used by ets_fit so
 * that a second search of the same series (combo's damped component) fits no form twice.
 */
#ifndef RETAILIQ_FORECAST_ETS_MEMO_H
#define RETAILIQ_FORECAST_ETS_MEMO_H

#include "forecast/baselines.h"

/* the remembered fit of form (its error, trend, season, damped, m) of y[0 .. n): true if any */
extern bool ets_memo_get(const double *y, int n, int m, int maxit, SeriesFit *form, bool *ok);
/* remember it (ok: what the fit returned); another series replaces the one remembered */
extern void ets_memo_put(const double *y, int n, int m, int maxit, const SeriesFit *form, bool ok);

#endif							/* RETAILIQ_FORECAST_ETS_MEMO_H */
