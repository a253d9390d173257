-- forecast: the contract table between forecasting and its consumers (alerts, reports).
--
-- Issue 5 (forecasting) fills this table; the alerts part reads it (safety stock for the
-- stock trigger, sales shortfall checks). Only the table lives here until then.

-- One row per forecast value: a series (e.g. '7/42' for store 7, product 42: the key values
-- joined by '/'), a period at a grain, the point forecast and its prediction interval.
CREATE TABLE retailiq.forecast_result (
    series          text        NOT NULL CHECK (series <> ''),
    period_start    date        NOT NULL,
    grain           text        NOT NULL DEFAULT 'day' CHECK (grain IN ('day', 'week', 'month')),
    horizon         int         NOT NULL CHECK (horizon >= 1),
    yhat            float8      NOT NULL CHECK (yhat > '-Infinity' AND yhat < 'Infinity'),
    yhat_lower      float8      CONSTRAINT forecast_result_lower_check CHECK (yhat_lower <= yhat),
    yhat_upper      float8      CONSTRAINT forecast_result_upper_check
                                CHECK (yhat_upper >= yhat AND yhat_upper < 'Infinity'),
    interval_level  float8      NOT NULL DEFAULT 0.8 CHECK (interval_level > 0 AND interval_level < 1),
    model_name      text        NOT NULL,
    model_version   int,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, grain, period_start, model_name, created_at),
    CONSTRAINT forecast_result_interval_check CHECK ((yhat_lower IS NULL) = (yhat_upper IS NULL))
);
COMMENT ON TABLE retailiq.forecast_result IS
    'forecast values by series and period (filled by the forecasting part, read by alerts and reports)';
COMMENT ON COLUMN retailiq.forecast_result.horizon IS
    'steps ahead of the forecast origin, in grain units (1 = the first period after the origin)';
COMMENT ON COLUMN retailiq.forecast_result.interval_level IS
    'coverage of [yhat_lower, yhat_upper], e.g. 0.8 for an 80% prediction interval';
-- refresh_forecasts (operations.sql) replaces and prunes a model's rows by model name,
-- series and period.
CREATE INDEX forecast_result_model ON retailiq.forecast_result (model_name, series, period_start);
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_result', '');
GRANT SELECT ON retailiq.forecast_result TO PUBLIC;
