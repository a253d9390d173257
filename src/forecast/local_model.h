/*
 * local_model.h: the layout of a forecast_fit model (one row of codes and parameters per
 * series), written by forecast_fit.c and read by local_model.c.
 */
#ifndef RETAILIQ_FORECAST_LOCAL_MODEL_H
#define RETAILIQ_FORECAST_LOCAL_MODEL_H

#include "forecast/method.h"

#define LOCAL_NPAR 7			/* alpha, beta, gamma, phi, sigma2, level, slope */
#define LOCAL_NSPEC 5			/* error, trend, season, damped, m */

#endif							/* RETAILIQ_FORECAST_LOCAL_MODEL_H */
