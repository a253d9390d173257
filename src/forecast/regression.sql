-- forecast, dynamic regression: factors plus level, season and AR(1) errors per series,
-- pooled across series with shrinkage (regression_fit.c, regression_sql.c). See
-- doc/forecast-regression.md. Predict with retailiq.forecast / retailiq.forecast_all.

-- forecast_regression_fit(series, ts, y [, exog [, options]]): one model over every series
-- of the group, the same arguments as forecast_lstm_fit. The rows are gathered by the
-- shared series collector (forecast_collect_*), so the aggregate runs in parallel.
CREATE FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_regression_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_regression_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[]) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_accum(internal, text, date, float8, float8[], jsonb) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.forecast_regression_fit_final(internal) IS 'aggregate final function';

CREATE AGGREGATE retailiq.forecast_regression_fit(series text, ts date, y float8) (
    SFUNC = retailiq_internal.forecast_regression_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_regression_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_regression_fit(series text, ts date, y float8, exog float8[]) (
    SFUNC = retailiq_internal.forecast_regression_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_regression_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_regression_fit(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq_internal.forecast_regression_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_regression_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine, SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_regression_fit(text, date, float8) IS
    'fit a dynamic regression (level, season, AR(1) errors) over every series of the group';
COMMENT ON AGGREGATE retailiq.forecast_regression_fit(text, date, float8, float8[]) IS
    'fit a dynamic regression on per-period factors (promotion, price, holiday, ...), pooled across series with shrinkage';
COMMENT ON AGGREGATE retailiq.forecast_regression_fit(text, date, float8, float8[], jsonb) IS
    'fit a dynamic regression on factors with options (see doc/forecast-regression.md)';

CREATE FUNCTION retailiq.forecast_regression_series(model retailiq.model) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'forecast_regression_series' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_regression_series(retailiq.model) IS
    'the series of a regression model, in model order (the order of forecast_all and its future_exog)';
