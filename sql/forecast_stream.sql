-- forecast_fit streams a panel whose rows outgrow an eighth of retailiq.max_memory: the
-- rows go to temporary group files (a series' rows all in one group), and the final step
-- reads, fits and lets go of one group at a time. The model is the one the whole panel in
-- memory gives, byte for byte: each series' fit is its own, the frequency is inferred
-- from all the rows, and the groups' series are put back in key order. Here the smallest
-- retailiq.max_memory (1 MB: the rows stream past 128 kB; 1.1 MB for 'auto', whose fits
-- carry combo's global member's values until the panel step) forces a small panel into
-- groups.

-- Streaming is for a plain aggregate in the backend (a parallel query's partial aggregate
-- sends its state to the leader): the suite's parallel pass must not move the fits into a
-- parallel worker here.
SET force_parallel_mode = off;
SET max_parallel_workers_per_gather = 0;

-- 64 daily series of 100 days (6,315 rows, about 148 kB of collected rows): a quarter with weekly
-- patterns, the rest intermittent, and series g064 with one row a week only (alone in its
-- group it would read as weekly; among all the rows it is daily, gaps counted as 0).
CREATE TABLE stream_sales AS
SELECT 'g' || lpad(k::text, 3, '0') AS series, d::date AS ts,
       CASE WHEN k % 4 <> 1
            THEN CASE WHEN (i * k) % 5 = 0 THEN 2 + k % 4 ELSE 0 END
            ELSE round(20 + k % 17 + 6 * sin(i * 2 * pi() / 7) + (i % 4))
       END::float8 AS y
FROM generate_series(1, 64) k,
     generate_series(date '2024-01-01', date '2024-04-09', '1 day') WITH ORDINALITY g(d, i)
WHERE k <> 64 OR i % 7 = 1;

-- Whether this session wrote temporary files since the last look (the streamed path does).
CREATE FUNCTION stream_temp_files() RETURNS bigint LANGUAGE sql AS
$$ SELECT temp_files FROM pg_stat_database WHERE datname = current_database() $$;

-- One fit per statement: the collectors of one aggregate node share its memory (and 1 MB).
-- ('ets' is compared by the refreshes below; 'auto' fits ETS forms, theta and combinations.)
CREATE TABLE stream_models (method text, streamed boolean, m retailiq.model);
SET retailiq.forecast_workers = 0;
INSERT INTO stream_models
SELECT meth, false, (SELECT retailiq.forecast_fit(series, ts, y, meth) FROM stream_sales)
FROM unnest(ARRAY['auto', 'croston', 'snaive']) meth;
SELECT pg_stat_force_next_flush();
SELECT stream_temp_files() AS files_before \gset
SET retailiq.max_memory = '1100kB';
INSERT INTO stream_models SELECT 'auto', true, retailiq.forecast_fit(series, ts, y, 'auto') FROM stream_sales;
SET retailiq.max_memory = '1MB';
INSERT INTO stream_models SELECT 'croston', true, retailiq.forecast_fit(series, ts, y, 'croston') FROM stream_sales;
INSERT INTO stream_models SELECT 'snaive', true, retailiq.forecast_fit(series, ts, y, 'snaive') FROM stream_sales;
RESET retailiq.max_memory;
SELECT pg_stat_force_next_flush();
SELECT stream_temp_files() > :files_before AS wrote_group_files;

-- The first 24 bytes of a model hold its checksum and training time; the rest is equal.
SELECT s.method,
       substr(retailiq.model_send(s.m), 25) = substr(retailiq.model_send(p.m), 25) AS same_model,
       (retailiq.model_info(s.m) -> 'metrics' ->> 'nseries')::int AS series,
       retailiq.model_info(s.m) -> 'params' ->> 'frequency' AS frequency
FROM stream_models s JOIN stream_models p ON p.method = s.method AND NOT p.streamed
WHERE s.streamed ORDER BY s.method;

-- Groups big enough for the parallel workers (16 series or more each): 1,100 short series
-- (17,600 rows: past an eighth of 3 MB), fitted in memory without workers and streamed
-- with two workers per group.
CREATE TABLE stream_many AS
SELECT 'm' || lpad(k::text, 4, '0') AS series, d::date AS ts, ((k * i) % 7)::float8 AS y
FROM generate_series(1, 1100) k,
     generate_series(date '2024-03-01', date '2024-03-16', '1 day') WITH ORDINALITY g(d, i);
SELECT retailiq.forecast_fit(series, ts, y, 'croston') AS m0 FROM stream_many \gset
SELECT pg_stat_force_next_flush();
SELECT stream_temp_files() AS files_before \gset
SET retailiq.max_memory = '3MB';
SET retailiq.forecast_workers = 2;
SELECT substr(retailiq.model_send(retailiq.forecast_fit(series, ts, y, 'croston')), 25)
       = substr(retailiq.model_send(:'m0'::retailiq.model), 25) AS same_model_in_parallel_groups
FROM stream_many;
SELECT pg_stat_force_next_flush();
SELECT stream_temp_files() > :files_before AS wrote_group_files;

-- A series that fails fails the streamed fit, named in the error.
SET retailiq.max_memory = '1MB';
SET retailiq.debug_fail_series = 'g007';
SELECT retailiq.forecast_fit(series, ts, y, 'ets') FROM stream_sales;
RESET retailiq.debug_fail_series;
RESET retailiq.forecast_workers;
RESET retailiq.max_memory;

-- The nightly refresh streams the same way: two sources over the same rows, one refreshed
-- in memory, one streamed, write the same forecasts, night after night: the second night
-- warm-starts from the first night's model (10 series have a new day, the other 54 keep
-- their fit), the same in both.
SELECT (retailiq.register_sales_source(src, 'stream_sales', 'series', 'ts', 'y', method => 'ets',
                                       options => '{"max_model_age": "0"}')).name
FROM unnest(ARRAY['stream_mem', 'stream_grp']) src;
CREATE FUNCTION stream_nightly() RETURNS TABLE (night_rows bigint, same_rows bigint, warm text, skipped text)
LANGUAGE plpgsql AS $$
BEGIN
    night_rows := retailiq.refresh_forecasts(ARRAY[1, 7], 'stream_mem');
    PERFORM set_config('retailiq.max_memory', '1MB', true);
    PERFORM retailiq.refresh_forecasts(ARRAY[1, 7], 'stream_grp');
    PERFORM set_config('retailiq.max_memory', '2GB', true);
    SELECT count(*) INTO same_rows
      FROM retailiq.forecast_result a JOIN retailiq.forecast_result b USING (series, period_start, horizon)
     WHERE a.model_name = 'forecast:stream_mem' AND b.model_name = 'forecast:stream_grp'
       AND a.model_version = (SELECT max(version) FROM retailiq.models WHERE name = 'forecast:stream_mem')
       AND b.model_version = (SELECT max(version) FROM retailiq.models WHERE name = 'forecast:stream_grp')
       AND (a.yhat, a.yhat_lower, a.yhat_upper) = (b.yhat, b.yhat_lower, b.yhat_upper);
    SELECT string_agg(DISTINCT i ->> 'series_warm', ','), string_agg(DISTINCT i ->> 'series_skipped', ',')
      INTO warm, skipped
      FROM (SELECT retailiq.model_info(retailiq.load_model('forecast:' || s)) -> 'metrics' AS i
              FROM unnest(ARRAY['stream_mem', 'stream_grp']) s) x;
    RETURN NEXT;
END
$$;
SELECT * FROM stream_nightly();
INSERT INTO stream_sales SELECT series, date '2024-04-10', 3 FROM stream_sales WHERE series <= 'g010' GROUP BY series;
SELECT * FROM stream_nightly();

SELECT retailiq.unregister_sales_source(src, true) FROM unnest(ARRAY['stream_mem', 'stream_grp']) src;
DROP TABLE stream_sales, stream_models, stream_many;
DROP FUNCTION stream_temp_files();
DROP FUNCTION stream_nightly();
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;
