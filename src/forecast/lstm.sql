-- forecast, LSTM: a global LSTM forecaster over many series (lstm_net.c, lstm_train.c,
-- lstm_options.c, lstm_fit.c, lstm_model.c, lstm_predict.c). See doc/forecast-lstm.md.

CREATE FUNCTION retailiq_internal.forecast_lstm_gradient_check(seed int, layers int DEFAULT 1) RETURNS float8
    AS 'MODULE_PATHNAME', 'forecast_lstm_gradient_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_lstm_gradient_check(int, int) IS
    'largest relative error of the LSTM backward pass against finite differences on a small random network (a self-test)';

-- forecast_lstm_fit(series, ts, y [, exog [, options]]): one global model over every
-- series of the group. The rows are gathered by the shared series collector
-- (forecast_collect_*), so the aggregate runs in parallel like every forecasting aggregate.
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_accum(internal, text, date, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_accum(internal, text, date, float8, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_accum(internal, text, date, float8, float8[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_lstm_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_lstm_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8) (
    SFUNC = retailiq_internal.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8, exog float8[]) (
    SFUNC = retailiq_internal.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_lstm_fit(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq_internal.forecast_lstm_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_lstm_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_lstm_fit(text, date, float8) IS
    'train one global LSTM forecaster over every series of the group (defaults chosen from the data)';
COMMENT ON AGGREGATE retailiq.forecast_lstm_fit(text, date, float8, float8[]) IS
    'train one global LSTM forecaster with per-period factors (promotion, price, holiday, weather, ...)';
COMMENT ON AGGREGATE retailiq.forecast_lstm_fit(text, date, float8, float8[], jsonb) IS
    'train one global LSTM forecaster with factors and options (see doc/forecast-lstm.md)';

CREATE FUNCTION retailiq.forecast_lstm(model retailiq.model, series text, horizon int,
                                       future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_lstm' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 28;
COMMENT ON FUNCTION retailiq.forecast_lstm(retailiq.model, text, int, float8[]) IS
    'forecast one series of an LSTM model: horizon steps with the calibrated prediction interval';

CREATE FUNCTION retailiq.forecast_lstm_all(model retailiq.model, horizon int,
                                           future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (series text, step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_lstm_all' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10000;
COMMENT ON FUNCTION retailiq.forecast_lstm_all(retailiq.model, int, float8[]) IS
    'forecast every series of an LSTM model at once (future_exog: series x horizon x factors)';

CREATE FUNCTION retailiq.forecast_lstm_series(model retailiq.model) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'forecast_lstm_series' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_lstm_series(retailiq.model) IS
    'the series of an LSTM model, in model order (the order of forecast_lstm_all and its future_exog)';
