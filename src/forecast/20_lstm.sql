-- forecast, LSTM: a global LSTM forecaster over many series (lstm_net.c, lstm_train.c,
-- lstm_sql.c). See doc/forecast-lstm.md.

CREATE FUNCTION retailiq.forecast_lstm_gradient_check(seed int, layers int DEFAULT 1) RETURNS float8
    AS 'MODULE_PATHNAME', 'forecast_lstm_gradient_check' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.forecast_lstm_gradient_check(int, int) IS
    'largest relative error of the LSTM backward pass against finite differences on a small random network (a self-test)';
