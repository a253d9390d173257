/*
 * lstm_options.h: the JSON options of forecast_lstm_fit, read into an LstmConfig.
 */
#ifndef RETAILIQ_FORECAST_LSTM_OPTIONS_H
#define RETAILIQ_FORECAST_LSTM_OPTIONS_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "forecast/lstm_train.h"
#include "forecast/series.h"

/* every option key forecast_lstm_fit accepts (NULL-terminated) */
extern const char *const lstm_option_keys[];

/*
 * The options are read in three steps, in the order their errors are raised: the horizon
 * and the validation tail, then the window (the caller fits the window to the series in
 * between), then everything else. jb may be NULL (every option at its default).
 */
extern void lstm_options_horizon(Jsonb *jb, ForecastFreq freq, LstmConfig *cfg);
/* cfg->window given or by default; true when "window" was given */
extern bool lstm_options_window(Jsonb *jb, ForecastFreq freq, LstmConfig *cfg);
extern void lstm_options_training(Jsonb *jb, const SeriesOptions *sopt, LstmConfig *cfg);

#endif
