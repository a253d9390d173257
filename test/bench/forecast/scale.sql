-- Training time at scale (psql -v n=N): N synthetic daily series of two years, each with
-- its own level and weekly pattern, promotions lifting sales by half on 8% of the days, four
-- holidays a year and +-25% noise; ETS and the LSTM (without and with the two factors),
-- default options. Measured, not extrapolated: the LSTM's cost does not grow linearly.
DROP TABLE IF EXISTS fb.scale_rows, fb.scale_time;
SELECT setseed(0.42) \gset
CREATE TABLE fb.scale_rows AS
WITH s AS (SELECT i, 5 + 200 * random() AS level, random() AS amp FROM generate_series(1, :n) i),
d AS (SELECT s.*, day, random() < 0.08 AS promo,
             extract(doy FROM day) IN (1, 100, 185, 359) AS holiday
      FROM s, generate_series(date '2024-01-01', date '2025-12-30', interval '1 day') day)
SELECT 's' || lpad(i::text, 5, '0') AS series, day::date,
       round(level * (1 + amp * sin(2 * pi() * extract(dow FROM day) / 7)) * (1 + 0.5 * promo::int)
             * (1 + 0.8 * holiday::int) * (0.75 + 0.5 * random()))::float8 AS y,
       ARRAY[promo::int, holiday::int]::float8[] AS x
FROM d;
CREATE TABLE fb.scale_time (method text, seconds float8);
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE m1 AS SELECT retailiq.forecast_fit(series, day, y, 'ets') AS m FROM fb.scale_rows;
INSERT INTO fb.scale_time SELECT 'retailiq ets', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE m2 AS SELECT retailiq.forecast_lstm_fit(series, day, y) AS m FROM fb.scale_rows;
INSERT INTO fb.scale_time SELECT 'retailiq lstm', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE m3 AS SELECT retailiq.forecast_lstm_fit(series, day, y, x) AS m FROM fb.scale_rows;
INSERT INTO fb.scale_time SELECT 'retailiq lstm (factors)', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SELECT method, round(seconds::numeric, 1) AS train_s, round((seconds * 1000.0 / :n)::numeric, 1) AS s_per_1000_series
FROM fb.scale_time ORDER BY 1;
