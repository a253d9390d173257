-- M4 weekly (on psql's standard input: Weekly-train.csv, a line \., Weekly-test.csv): 359 series, the official test (h = 13). The
-- series carry no dates: each gets synthetic weekly dates whose last training week is
-- Monday 2018-12-31 (the same Monday for every series), so the test weeks are 2019-01-07 ..
-- 2019-04-01. The calendar features a method may read from these dates mean nothing.
CREATE TEMP TABLE m4_line (line text);
CREATE TEMP TABLE m4_test_line (line text);
\copy m4_line FROM pstdin WITH (FORMAT text, DELIMITER E'\x01')
\copy m4_test_line FROM pstdin WITH (FORMAT text, DELIMITER E'\x01')
-- (OFFSET 0: each line split once, not once per value)
CREATE TEMP TABLE m4_long AS
SELECT 'train' AS part, f[1] AS series, v.i - 1 AS i, v.val::float8 AS y
FROM (SELECT string_to_array(replace(line, '"', ''), ',') AS f FROM m4_line WHERE line NOT LIKE '"V1"%' OFFSET 0) l,
     unnest(l.f[2:]) WITH ORDINALITY v(val, i)
WHERE v.val <> ''
UNION ALL
SELECT 'test', f[1], v.i, v.val::float8
FROM (SELECT string_to_array(replace(line, '"', ''), ',') AS f FROM m4_test_line WHERE line NOT LIKE '"V1"%' OFFSET 0) l,
     unnest(l.f[2:]) WITH ORDINALITY v(val, i)
WHERE v.val <> '';
-- The development window (run.sh, FORECAST_BENCH_WINDOW=dev, psql variable m4_dev = 1): the
-- official test is dropped and each training series' last 13 weeks are held out instead.
\if :m4_dev
DELETE FROM m4_long WHERE part = 'test';
UPDATE m4_long l SET part = 'test', i = l.i - (c.n - 13)
FROM (SELECT series, max(i) AS n FROM m4_long GROUP BY 1) c
WHERE c.series = l.series AND l.i > c.n - 13;
\endif
INSERT INTO fb.dataset VALUES ('m4_weekly', interval '7 days', 13, false);
INSERT INTO fb.train
SELECT 'm4_weekly', series, date '2018-12-31' - 7 * (n - i)::int, y, NULL
FROM m4_long JOIN (SELECT series, max(i) AS n FROM m4_long WHERE part = 'train' GROUP BY 1) c USING (series)
WHERE part = 'train';
INSERT INTO fb.actual SELECT 'm4_weekly', series, date '2018-12-31' + 7 * i::int, y, false
FROM m4_long WHERE part = 'test';
-- MASE's scale (M4: seasonal period 1 for weekly): in-sample mean absolute one-step change
INSERT INTO fb.m4_scale
SELECT series, avg(abs(y - y1)) AS scale
FROM (SELECT series, y, lag(y) OVER (PARTITION BY series ORDER BY ts) AS y1 FROM fb.train WHERE ds = 'm4_weekly') q
WHERE y1 IS NOT NULL GROUP BY 1;
-- Naive2, M4's base for OWA (for weekly data with period 1, the last value), in this run
INSERT INTO fb.fc
SELECT 'm4_weekly', 'naive2', 'M4 benchmark, this run', false, t.series, a.step, (t.ts + 7 * a.step)::date,
       t.y, NULL, NULL
FROM (SELECT DISTINCT ON (series) series, ts, y FROM fb.train WHERE ds = 'm4_weekly' ORDER BY series, ts DESC) t,
     generate_series(1, 13) a(step);
