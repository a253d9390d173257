-- forecast, baselines: the shared series collector's support functions, the statistical
-- baselines (seasonal naive, ETS, Croston/SBA, auto) and the forecast dispatchers.

-- The collector state (series.c) is shared by every forecasting aggregate: these three
-- functions make each of them PARALLEL SAFE.
CREATE FUNCTION retailiq_internal.forecast_collect_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_collect_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'forecast_collect_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_collect_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- What a forecasting aggregate sees: frequency, season and one entry per series
-- (start, end, length after gap filling, filled periods, sum).
CREATE FUNCTION retailiq_internal.forecast_series_summary_accum(internal, text, date, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_series_summary_accum(internal, text, date, float8, float8[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_series_summary_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'forecast_series_summary_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8) (
    SFUNC = retailiq_internal.forecast_series_summary_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_series_summary_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq_internal.forecast_series_summary_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_series_summary_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_series_summary(text, date, float8, float8[], jsonb) IS
    'the panel a forecasting aggregate would train on: frequency, season, per-series length and gaps';

-- forecast_fit: the statistical baselines, one model for every series of the group.
CREATE FUNCTION retailiq_internal.forecast_fit_accum(internal, text, date, float8, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_fit_accum(internal, text, date, float8, text, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_fit_sfunc' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.forecast_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'forecast_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_fit(series text, ts date, y float8, method text) (
    SFUNC = retailiq_internal.forecast_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_fit_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_fit(series text, ts date, y float8, method text, options jsonb) (
    SFUNC = retailiq_internal.forecast_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.forecast_fit_final,
    COMBINEFUNC = retailiq_internal.forecast_collect_combine,
    SERIALFUNC = retailiq_internal.forecast_collect_serialize,
    DESERIALFUNC = retailiq_internal.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_fit(text, date, float8, text, jsonb) IS
    'fit a statistical forecasting model (snaive, ets, croston, sba, auto) to every series of the group';

CREATE FUNCTION retailiq.forecast_model_series(model retailiq.model)
    RETURNS TABLE (series text, method text, n int, alpha float8, beta float8, gamma float8,
                   phi float8, sigma2 float8, aicc float8, season int)
    AS 'MODULE_PATHNAME', 'forecast_model_series' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.forecast_model_series(retailiq.model) IS
    'per series of a forecast_fit model: the method chosen and its parameters';

-- One dispatch for every method of the method table (methods.c): the model's kind names
-- the method, whose predict function answers (forecast_fit's local methods, the LSTM).
CREATE FUNCTION retailiq.forecast(model retailiq.model, series text, horizon int,
                                  future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_dispatch' LANGUAGE C STABLE PARALLEL SAFE ROWS 28;
COMMENT ON FUNCTION retailiq.forecast(retailiq.model, text, int, float8[]) IS
    'forecast one series of a forecasting model (forecast_fit or forecast_lstm_fit) horizon periods ahead';

CREATE FUNCTION retailiq.forecast_all(model retailiq.model, horizon int,
                                      future_exog float8[] DEFAULT NULL)
    RETURNS TABLE (series text, step int, ts date, yhat float8, yhat_lower float8, yhat_upper float8)
    AS 'MODULE_PATHNAME', 'forecast_dispatch_all' LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_all(retailiq.model, int, float8[]) IS
    'forecast every series of a forecasting model horizon periods ahead';

CREATE FUNCTION retailiq.forecast_series(model retailiq.model) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'forecast_series' LANGUAGE C STRICT STABLE PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION retailiq.forecast_series(retailiq.model) IS
    'the series of a forecasting model of any method, in the model''s order (the order of forecast_all and of future_exog''s blocks)';

-- The method table, for users and for the docs.
CREATE FUNCTION retailiq_internal.forecast_method_table()
    RETURNS TABLE (name text, scope text, factors boolean, intermittent boolean, trainer text,
                   options text[], description text, with_factors text)
    AS 'MODULE_PATHNAME', 'forecast_methods' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
CREATE VIEW retailiq.forecast_methods AS SELECT * FROM retailiq_internal.forecast_method_table();
GRANT SELECT ON retailiq.forecast_methods TO PUBLIC;
-- The method that fits for `method`: its with_factors when factors are given, else itself.
CREATE FUNCTION retailiq_internal.forecast_fit_method(method text, has_factors boolean) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT CASE WHEN has_factors THEN coalesce(m.with_factors, m.name) ELSE m.name END
              FROM retailiq.forecast_methods m WHERE m.name = method);
COMMENT ON VIEW retailiq.forecast_methods IS
    'the registered forecasting methods: local (one series) or global (a panel), the inputs each takes, its trainer and its own options';

-- For tests against a reference implementation: one ETS form with given parameters and
-- initial state (nothing estimated) -> {loglik, yhat[1..h], lower[1..h], upper[1..h]}.
CREATE FUNCTION retailiq_internal.ets_check(y float8[], m int, model text, par float8[], init float8[],
                                    h int, level float8 DEFAULT 0.8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'forecast_ets_check' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- The Syntetos-Boylan-Croston class of one demand history (demand_class.c).
CREATE FUNCTION retailiq.demand_class(y float8[], OUT class text, OUT adi float8, OUT cv2 float8,
                                      OUT demands int, OUT periods int)
    AS 'MODULE_PATHNAME', 'demand_class' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.demand_class(float8[]) IS
    'Syntetos-Boylan-Croston class of a demand history (oldest first, 0 = no sale): smooth, erratic, intermittent or lumpy by ADI (cut 1.32) and CV^2 of the sizes (cut 0.49)';
