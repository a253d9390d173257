/*
 * method_list.h: the registered forecasting methods, one line each, in the order
 * retailiq.forecast_methods lists them. Included twice by methods.c (declarations, then
 * the table), so a new method is its own file plus one line here.
 */
FORECAST_METHOD(snaive_method)
FORECAST_METHOD(ets_method)
FORECAST_METHOD(croston_method)
FORECAST_METHOD(sba_method)
FORECAST_METHOD(auto_method)
FORECAST_METHOD(lstm_method)
FORECAST_METHOD(regression_method)
FORECAST_METHOD(tsb_method)
FORECAST_METHOD(theta_method)
FORECAST_METHOD(adida_method)
FORECAST_METHOD(imapa_method)
FORECAST_METHOD(mean_method)
FORECAST_METHOD(combo_method)
FORECAST_METHOD(global_ar_method)
