-- forecast: the contract table between forecasting and its consumers (alerts, reports).
--
-- refresh_forecasts (operations.sql) fills it; alerts read it (safety stock for the stock
-- trigger, sales shortfall checks) by series key, reports by store and product.

-- One row per forecast value: a series (the key of a sales source's series column), the store
-- and product it stands for when the source names them (reports join on these, never on the
-- key's text), a period at a grain, the point forecast and its prediction interval.
CREATE TABLE retailiq.forecast_result (
    series          text        NOT NULL CHECK (series <> ''),
    store_id        bigint,
    product_id      bigint,
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
COMMENT ON COLUMN retailiq.forecast_result.store_id IS
    'the store the series is the sales of (from the sales source''s store column; NULL when it names none)';
COMMENT ON COLUMN retailiq.forecast_result.product_id IS
    'the product the series is the sales of (from the sales source''s product column; NULL when it names none)';
COMMENT ON COLUMN retailiq.forecast_result.horizon IS
    'steps ahead of the forecast origin, in grain units (1 = the first period after the origin)';
COMMENT ON COLUMN retailiq.forecast_result.interval_level IS
    'coverage of [yhat_lower, yhat_upper], e.g. 0.8 for an 80% prediction interval';
-- refresh_forecasts (operations.sql) replaces and prunes a model's rows by model name,
-- series and period.
CREATE INDEX forecast_result_model ON retailiq.forecast_result (model_name, series, period_start);
SELECT pg_catalog.pg_extension_config_dump('retailiq.forecast_result', '');
GRANT SELECT ON retailiq.forecast_result TO PUBLIC;
