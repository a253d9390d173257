/*
 * fit_stage.h: forecast_fit in two stages, so that the series of a distributed table can
 * be fitted where their rows are and written into one model where the model is saved.
 *
 * The fit stage (forecast_fit_stage) fits every series of a collector; the model stage
 * (forecast_fit_model) does what needs every series at once: the short-series report, the
 * records the model keeps, the methods' panel-wide steps (combo's pooled interval
 * calibration) and the model. The fit stage's result is per series, so the stages of
 * groups of series with disjoint keys, concatenated in key order, are the stage of all of
 * them: forecast_fit_part (fit_merge.c) writes one group's stage as a flat value,
 * forecast_fit_merge reads several back and writes the model forecast_fit would have
 * written over all their rows.
 */
#ifndef RETAILIQ_FORECAST_FIT_STAGE_H
#define RETAILIQ_FORECAST_FIT_STAGE_H

#include "fmgr.h"

#include "forecast/method.h"
#include "forecast/series.h"
#include "forecast/warm_start.h"

typedef struct FitStage
{
	char	   *opts;			/* the collector's "method\noptions" */
	ForecastFreq freq;
	int			m;				/* the season the fits used */
	int			ns;				/* series, in key (byte) order */
	int			nrec;			/* records per series: the method's full count */
	int64		rows;			/* input rows */
	char	  **keys;
	int32	   *start;			/* DateADT of the first period */
	int32	   *len;			/* periods */
	int		   *need;			/* > 0: too short for the method, which needs that many */
	bool	   *keep;			/* false: left out (too short even for the fallback) */
	double	   *vmae;			/* auto's validation error */
	WarmPlan   *plans;
	int64	   *hash;			/* warm_start_hash of the series' values */
	SeriesFit  *fits;			/* ns * nrec */
} FitStage;

/* forecast_fit's row (state, series, ts, y, method, options) into its collector */
extern SeriesCollector *forecast_fit_collect_row(FunctionCallInfo fcinfo);
/* the fit stage of a collector (warm_given: the warm start's model, else read by name) */
extern bool forecast_fit_stage(SeriesCollector *st, bytea *warm_given, FitStage *fs);
/* the model of a fit stage (modifies fs) */
extern bytea *forecast_fit_model(FitStage *fs);

#endif							/* RETAILIQ_FORECAST_FIT_STAGE_H */
