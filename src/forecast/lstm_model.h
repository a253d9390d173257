/*
 * lstm_model.h: the forecast_lstm model value: writing a trained network with the tails of
 * its series, and reading one back with every field checked.
 */
#ifndef RETAILIQ_FORECAST_LSTM_MODEL_H
#define RETAILIQ_FORECAST_LSTM_MODEL_H

#include "postgres.h"
#include "fmgr.h"

#include "core/model.h"
#include "forecast/lstm_train.h"
#include "forecast/series.h"

/* A decoded model: the trained network and the tails of its series. */
typedef struct LstmModel
{
	LstmTrained net;
	int			nseries;
	char	  **keys;
	int64	   *last;			/* date of each series' last observation */
	double	   *tail;			/* nseries x window */
	double	   *tail_exog;		/* nseries x window x n_exog, NULL without factors */
	SeriesFit  *base;			/* each series' ETS base at its last period, or NULL */
	bool		nonnegative;
} LstmModel;

/* the network trained on panel with cfg, and each series' last window */
extern void lstm_model_put(ModelBuilder *b, const LstmTrained *t, const LstmConfig *cfg,
						   const ForecastPanel *panel);

/* the model in argument 0, opened once per query (XX001 for one that does not hold together) */
extern LstmModel *lstm_model_load(FunctionCallInfo fcinfo);

#endif
