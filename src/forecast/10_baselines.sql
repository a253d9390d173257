-- forecast, baselines: the shared series collector's support functions, the statistical
-- baselines (seasonal naive, ETS, Croston/SBA, auto) and the forecast dispatchers.

-- The collector state (series.c) is shared by every forecasting aggregate: these three
-- functions make each of them PARALLEL SAFE.
CREATE FUNCTION retailiq.forecast_collect_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_collect_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'forecast_collect_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq.forecast_collect_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'forecast_collect_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- What a forecasting aggregate sees: frequency, season and one entry per series
-- (start, end, length after gap filling, filled periods, sum).
CREATE FUNCTION retailiq._forecast_series_summary_sfunc(internal, text, date, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._forecast_series_summary_sfunc(internal, text, date, float8, float8[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'forecast_series_summary_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq._forecast_series_summary_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'forecast_series_summary_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8) (
    SFUNC = retailiq._forecast_series_summary_sfunc, STYPE = internal,
    FINALFUNC = retailiq._forecast_series_summary_final,
    COMBINEFUNC = retailiq.forecast_collect_combine,
    SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.forecast_series_summary(series text, ts date, y float8, exog float8[], options jsonb) (
    SFUNC = retailiq._forecast_series_summary_sfunc, STYPE = internal,
    FINALFUNC = retailiq._forecast_series_summary_final,
    COMBINEFUNC = retailiq.forecast_collect_combine,
    SERIALFUNC = retailiq.forecast_collect_serialize,
    DESERIALFUNC = retailiq.forecast_collect_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.forecast_series_summary(text, date, float8, float8[], jsonb) IS
    'the panel a forecasting aggregate would train on: frequency, season, per-series length and gaps';
