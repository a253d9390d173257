/*
 * global_ar.h: the pooled autoregression of global_ar.c, for the methods that fit it over a
 * panel in their panel step ('global_ar' itself, and 'combo', whose fifth member it is).
 *
 * A pool is the normal equations of the regression of each window's log1p value less its
 * level (the mean of the m values before it) on an intercept and the p values before it
 * less the same level; windows are added series by series in key order (so the pool, and
 * every fit from it, does not depend on how the series were spread), then solved once.
 */
#ifndef RETAILIQ_FORECAST_GLOBAL_AR_H
#define RETAILIQ_FORECAST_GLOBAL_AR_H

#include "forecast/method.h"

#define GAR_PATH FIT_MAX_M		/* forecast steps a series' record keeps */
#define GAR_MAX_LAGS 512
#define GAR_MAX_VALUES 1024		/* periods of a series the lags and windows may span */

typedef struct GarPool
{
	int			p;				/* lags */
	int			m;				/* season: the level's periods */
	int			windows;		/* windows added */
	double	   *xtx;			/* (p + 1)^2 */
	double	   *xty;			/* p + 1 */
	double		yty;
	double	   *x;				/* scratch rows */
	int			xrows;
} GarPool;

extern const ForecastMethod global_ar_method;

/* the lags, each series' training windows and the periods a window looks back (options of global_ar) */
extern void global_ar_shape(const ForecastOptions *o, int m, int *p, int *w, int *back);
extern void gar_pool_init(GarPool *pool, int p, int m);
/* the windows of z (log1p values) whose targets are z[from .. to) (from at least max(p, m)) */
extern void gar_pool_add(GarPool *pool, const double *z, int from, int to);
/* the coefficients (p + 1) and residual variance; false when there are too few windows or no solution */
extern bool gar_pool_solve(GarPool *pool, double *beta, double *sigma2);
/* the h (at most GAR_PATH) step forecast path and cumulative variance from z[0 .. nz), log scale */
extern void gar_path(const double *beta, int p, int m, double sigma2, const double *z, int nz,
					 int h, double *path, double *cumvar);
/* the one-step prediction of z[t] (t at least max(p, m)), log scale */
extern double gar_predict(const double *beta, int p, int m, const double *z, int t);
/* a path record and its variances record (records f[0], f[1]) as global_ar stores them */
extern void gar_store(SeriesFit *f, const double *beta, int p, int m, double sigma2,
					  const double *z, int nz);
/* e^x - 1, at most the largest power of e a double holds (the log scale's way back) */
extern double gar_expm1(double x);
/* a stored path (f[0], f[1]) forecast h periods ahead */
extern void gar_forecast(const SeriesFit *f, int h, double level, double *yhat, double *lo, double *hi);

#endif							/* RETAILIQ_FORECAST_GLOBAL_AR_H */
