-- forecast accuracy: WAPE, MAPE, sMAPE, bias, RMSE, MASE, RMSSE, interval coverage and quantile loss as
-- parallel-safe aggregates over (actual, forecast) rows, and the seasonal-naive scale that
-- MASE and RMSSE divide by (accuracy.c; doc/forecast-operations.md).
--
-- Each state is a short float8[] (n and sums) with one shared combine function: no
-- serialize/deserialize needed, and Citus can split them too. Rows with a NULL argument are
-- left out (STRICT transition functions); NaN and infinities are errors; no rows -> NULL.

CREATE FUNCTION retailiq_internal.accuracy_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_combine' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.accuracy_mean_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_mean_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.accuracy_root_mean_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_root_mean_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.accuracy_wape_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_wape_final' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION retailiq_internal.wape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_wape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.mape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_mape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.smape_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_smape_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bias_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_bias_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rmse_accum(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_rmse_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.mase_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_mase_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rmsse_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_rmsse_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.coverage_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_coverage_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.quantile_loss_accum(float8[], float8, float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'accuracy_quantile_loss_accum' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.wape(actual float8, forecast float8) (
    SFUNC = retailiq_internal.wape_accum, STYPE = float8[], INITCOND = '{0,0,0}',
    FINALFUNC = retailiq_internal.accuracy_wape_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.wape(float8, float8) IS
    'weighted absolute percentage error sum|actual - forecast| / sum|actual| (a fraction); NULL when every actual is 0';

CREATE AGGREGATE retailiq.mape(actual float8, forecast float8) (
    SFUNC = retailiq_internal.mape_accum, STYPE = float8[], INITCOND = '{0,0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.mape(float8, float8) IS
    'mean absolute percentage error mean(|actual - forecast| / |actual|) (a fraction); rows with actual 0 are left out';

CREATE AGGREGATE retailiq.smape(actual float8, forecast float8) (
    SFUNC = retailiq_internal.smape_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.smape(float8, float8) IS
    'symmetric MAPE mean(2|actual - forecast| / (|actual| + |forecast|)), in [0, 2]; a 0/0 term counts 0';

CREATE AGGREGATE retailiq.bias(actual float8, forecast float8) (
    SFUNC = retailiq_internal.bias_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.bias(float8, float8) IS
    'mean error mean(forecast - actual): positive when the forecast runs high';

CREATE AGGREGATE retailiq.rmse(actual float8, forecast float8) (
    SFUNC = retailiq_internal.rmse_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_root_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rmse(float8, float8) IS
    'root mean squared error sqrt(mean((actual - forecast)^2))';

CREATE AGGREGATE retailiq.mase(actual float8, forecast float8, scale float8) (
    SFUNC = retailiq_internal.mase_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.mase(float8, float8, float8) IS
    'mean absolute scaled error mean(|actual - forecast| / scale), scale = retailiq.naive_scale(history, season)';

CREATE AGGREGATE retailiq.rmsse(actual float8, forecast float8, scale float8) (
    SFUNC = retailiq_internal.rmsse_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_root_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rmsse(float8, float8, float8) IS
    'root mean squared scaled error sqrt(mean((actual - forecast)^2 / scale)), scale = retailiq.naive_scale(history, season, true)';

CREATE AGGREGATE retailiq.coverage(actual float8, lower float8, upper float8) (
    SFUNC = retailiq_internal.coverage_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.coverage(float8, float8, float8) IS
    'share of actuals inside their prediction interval [lower, upper]';

CREATE AGGREGATE retailiq.quantile_loss(actual float8, forecast float8, quantile float8) (
    SFUNC = retailiq_internal.quantile_loss_accum, STYPE = float8[], INITCOND = '{0,0}',
    FINALFUNC = retailiq_internal.accuracy_mean_final, COMBINEFUNC = retailiq_internal.accuracy_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.quantile_loss(float8, float8, float8) IS
    'mean quantile (pinball) loss of forecasts of the quantile-th quantile: quantile (actual - forecast) above, (1 - quantile) (forecast - actual) below';

CREATE FUNCTION retailiq.naive_scale(y float8[], season int, squared boolean DEFAULT false)
RETURNS float8
    AS 'MODULE_PATHNAME', 'accuracy_naive_scale' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.naive_scale(float8[], int, boolean) IS
    'in-sample seasonal-naive error of a history (oldest first): mean |y[t] - y[t-season]| (the MASE scale), or the mean square with squared (the RMSSE scale)';

-- The support functions are not PUBLIC (src/privileges.sql); accuracy.c checks every state
-- it is handed anyway (a superuser's own aggregate, a direct call).
