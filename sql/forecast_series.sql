-- The series collector shared by every forecasting aggregate (forecast_fit, forecast_lstm_fit):
-- frequency inference, gap handling, refused input. forecast_series_summary shows the panel
-- a forecasting aggregate would train on.
SET extra_float_digits = 0;

-- Daily: 10 days of one series, 2 with a gap filled by 0.
CREATE TEMP TABLE s_day AS
SELECT 'a' AS series, d::date AS ts, 1.0::float8 + extract(day FROM d) AS y
FROM generate_series('2024-01-01'::date, '2024-01-10', '1 day') d
UNION ALL
SELECT 'b', d::date, 2.0 FROM generate_series('2024-01-03'::date, '2024-01-09', '2 days') d;
SELECT jsonb_pretty(retailiq.forecast_series_summary(series, ts, y)) FROM s_day;

-- The same rows in another order give the same panel (keys sorted byte-wise).
SELECT retailiq.forecast_series_summary(series, ts, y ORDER BY y DESC, ts DESC)
     = retailiq.forecast_series_summary(series, ts, y) AS same FROM s_day;

-- Weekly: Mondays, one missing week.
SELECT retailiq.forecast_series_summary('w', d::date, 5)
FROM generate_series('2024-01-01'::date, '2024-03-25', '7 days') d
WHERE d <> '2024-02-05';

-- Monthly: the first of each month (also 'Z' sorts before 'a').
SELECT retailiq.forecast_series_summary(s, d::date, 1)
FROM generate_series('2023-01-01'::date, '2023-12-01', '1 month') d, (VALUES ('a'), ('Z')) v(s);
-- Monthly on the 15th with one gap.
SELECT retailiq.forecast_series_summary('m', d::date, 1)
FROM generate_series('2023-01-15'::date, '2023-06-15', '1 month') d WHERE d <> '2023-03-15';

-- A single row per series: nothing to infer from, days assumed.
SELECT retailiq.forecast_series_summary('one', '2024-05-05', 3);
-- No rows: NULL.
SELECT retailiq.forecast_series_summary(series, ts, y) IS NULL AS is_null FROM s_day WHERE false;

-- Factors: summed per series; gap periods get 0 factors.
SELECT retailiq.forecast_series_summary(series, ts, y, ARRAY[1.0, y], '{}')
FROM s_day;

-- Refused input.
\set VERBOSITY default
-- gaps "error" names the series and the first missing date
SELECT retailiq.forecast_series_summary(series, ts, y, NULL, '{"gaps": "error"}') FROM s_day;
-- duplicate (series, date)
SELECT retailiq.forecast_series_summary(s, '2024-01-01', 1) FROM (VALUES ('x'), ('x')) v(s);
-- NULL series, date, value
SELECT retailiq.forecast_series_summary(NULL, '2024-01-01', 1);
SELECT retailiq.forecast_series_summary('x', NULL, 1);
SELECT retailiq.forecast_series_summary('x', '2024-01-01', NULL);
-- NaN and infinity
SELECT retailiq.forecast_series_summary('x', '2024-01-01', 'NaN');
SELECT retailiq.forecast_series_summary('x', '2024-01-01', 'Infinity');
SELECT retailiq.forecast_series_summary('x', 'infinity', 1);
-- negative sales, unless allowed
SELECT retailiq.forecast_series_summary('x', d::date, 1 - extract(day FROM d))
FROM generate_series('2024-01-01'::date, '2024-01-03', '1 day') d;
SELECT retailiq.forecast_series_summary('x', d::date, 1 - extract(day FROM d), NULL, '{"allow_negative": true}')
FROM generate_series('2024-01-01'::date, '2024-01-03', '1 day') d;
-- too short
SELECT retailiq.forecast_series_summary(series, ts, y, NULL, '{"min_length": 8}') FROM s_day;
-- exog width mismatch, NULL exog after factors
SELECT retailiq.forecast_series_summary('x', d::date, 1,
         CASE WHEN d < '2024-01-03' THEN ARRAY[1.0, 2.0] ELSE ARRAY[1.0] END, '{}')
FROM generate_series('2024-01-01'::date, '2024-01-04', '1 day') d;
SELECT retailiq.forecast_series_summary('x', d::date, 1,
         CASE WHEN d < '2024-01-03' THEN ARRAY[1.0, 2.0] END, '{}')
FROM generate_series('2024-01-01'::date, '2024-01-04', '1 day') d;
SELECT retailiq.forecast_series_summary('x', '2024-01-01', 1, ARRAY[1.0, NULL], '{}');
-- dates that fit no frequency: every 3 days, quarterly, monthly on the 31st
SELECT retailiq.forecast_series_summary('x', d::date, 1)
FROM generate_series('2024-01-01'::date, '2024-01-10', '3 days') d;
SELECT retailiq.forecast_series_summary('x', d::date, 1)
FROM generate_series('2023-01-01'::date, '2023-12-01', '3 months') d;
SELECT retailiq.forecast_series_summary('x', d::date, 1)
FROM (VALUES ('2023-01-31'::date), ('2023-03-31'), ('2023-05-31')) v(d);
-- month ends (28 to 31 days apart) are refused too, not read as daily with zero-filled gaps
SELECT retailiq.forecast_series_summary('x', (d + interval '1 month' - interval '1 day')::date, 1)
FROM generate_series('2023-01-01'::date, '2023-06-01', '1 month') d;
-- bad options
SELECT retailiq.forecast_series_summary('x', '2024-01-01', 1, NULL, '{"gaps": "fill"}');
SELECT retailiq.forecast_series_summary('x', '2024-01-01', 1, NULL, '{"min_length": 0}');
SELECT retailiq.forecast_series_summary('x', '2024-01-01', 1, NULL, '[1]');
SELECT retailiq.forecast_series_summary(s, '2024-01-01', 1, NULL, o)
FROM (VALUES ('x', '{}'::jsonb), ('y', '{"gaps": "error"}')) v(s, o);
\set VERBOSITY terse

-- Parallel plans give the same panel (combine / serialize / deserialize).
CREATE TABLE s_par AS
SELECT 'p' || (i % 37) AS series, '2023-01-01'::date + (i / 37) AS ts, (i % 11)::float8 AS y,
       ARRAY[(i % 2)::float8, (i % 5)::float8] AS x
FROM generate_series(0, 37 * 200 - 1) i WHERE i % 13 <> 0;
ANALYZE s_par;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_out AS SELECT retailiq.forecast_series_summary(series, ts, y, x, '{}') AS j FROM s_par;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT (SELECT j FROM serial_out) = retailiq.forecast_series_summary(series, ts, y, x, '{}') AS same_parallel,
       (SELECT j->>'nseries' FROM serial_out) AS nseries,
       (SELECT sum((e->>'filled')::int) FROM serial_out, jsonb_array_elements(j->'series') e) AS filled
FROM s_par;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE s_par;
