-- aus_retail (the CSV on psql's standard input): 152 ABS monthly turnover series; train to 2014-12, the
-- final window 2015-01 .. 2016-12 held out (24 months from the one origin 2015-01). Only
-- series observed in the month before the origin and in the window take part. The
-- development window (run.sh, FORECAST_BENCH_WINDOW=dev): train to 2012-12, evaluate
-- 2013-01 .. 2014-12 (psql variable aus_origin, the window's first month).
CREATE TEMP TABLE aus_raw (state text, industry text, series_id text, month date, turnover float8);
\copy aus_raw FROM pstdin CSV HEADER
CREATE TEMP TABLE aus_in AS
SELECT series_id FROM aus_raw GROUP BY 1
HAVING bool_or(month = date :'aus_origin' - interval '1 month')
   AND bool_or(month BETWEEN date :'aus_origin' AND date :'aus_origin' + interval '23 months');
INSERT INTO fb.dataset VALUES ('aus_retail', interval '1 month', 24, false);
INSERT INTO fb.train SELECT 'aus_retail', series_id, month, turnover, NULL
FROM aus_raw JOIN aus_in USING (series_id) WHERE month < date :'aus_origin';
INSERT INTO fb.actual SELECT 'aus_retail', series_id, month, turnover, false
FROM aus_raw JOIN aus_in USING (series_id) WHERE month BETWEEN date :'aus_origin' AND date :'aus_origin' + interval '23 months';
