/*
 * local_model.h: the layout of a forecast_fit model (one row of codes and parameters per
 * series), written by forecast_fit.c and read by local_model.c.
 */
#ifndef RETAILIQ_FORECAST_LOCAL_MODEL_H
#define RETAILIQ_FORECAST_LOCAL_MODEL_H

#include "forecast/method.h"

#define LOCAL_NPAR 7			/* alpha, beta, gamma, phi, sigma2, level, slope */
#define LOCAL_NSPEC 5			/* error, trend, season, damped, m */

/* a forecast_fit model read back (local_model.c): its arrays point into the model value */
typedef struct StatModel
{
	ForecastFreq freq;
	double		level;
	int64		seed;
	bool		nonneg;
	int			ns;
	int			nrec;			/* records per series */
	int			maxm;
	char	  **keys;
	int64	   *start,
			   *len,
			   *meth,
			   *spec;
	double	   *par,
			   *seas;
} StatModel;

/* read and check a forecast_fit model (XX001 naming what is wrong in a corrupt one) */
extern void local_model_read(const ModelView *mv, StatModel *sm);
/* series i's records into f[0 .. sm->nrec - 1]; f has FORECAST_MAX_RECORDS, the rest unused (zero) */
extern void local_model_fits(const StatModel *sm, int i, SeriesFit *f);

#endif							/* RETAILIQ_FORECAST_LOCAL_MODEL_H */
