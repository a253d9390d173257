-- Dominick's orange juice (orange_juice_weekly.csv on psql's standard input): 913 store x brand weekly unit series (weeks
-- 40..160); train on weeks <= 148, the test window is weeks 149..160 (psql variable oj_last =
-- 148; the development window of run.sh's FORECAST_BENCH_WINDOW=dev: train on weeks <= 136,
-- evaluate weeks 137..148, oj_last = 136; rows after the window are never read). Factors: log(price),
-- deal, feat. Week w starts on Thursday 1989-09-14 + 7(w - 1) (the data README's dating).
-- Weeks missing inside a series' history are filled by linear interpolation (units and log
-- price; deal and feat 0), as for the README's reference figures; each series' 13 weeks
-- after its last training week (147 or 148) take the factors as observed (planned prices and
-- promotions are known ahead), interpolated where the week has no row. Only actual rows of
-- weeks 149..160 are scored.
CREATE TEMP TABLE oj_raw_all (store int, brand int, week int, week_start date, logmove float8, units float8,
                          price float8, deal float8, feat float8, profit float8);
\copy oj_raw_all FROM pstdin CSV HEADER
CREATE TEMP TABLE oj_raw AS SELECT * FROM oj_raw_all WHERE week <= :oj_last + 12;
INSERT INTO fb.dataset VALUES ('dominicks_oj', interval '7 days', 13, true);
CREATE TEMP TABLE oj_span AS
SELECT store, brand, min(week) AS first, max(week) FILTER (WHERE week <= :oj_last) AS last
FROM oj_raw GROUP BY 1, 2 HAVING max(week) FILTER (WHERE week <= :oj_last) IS NOT NULL;
-- every week of each series from its first week to 13 weeks after its last training week;
-- the interpolation brackets of units (training rows only) and of log price (all rows)
CREATE TEMP TABLE oj_grid AS
SELECT g.*,
       max(CASE WHEN r.week <= :oj_last THEN r.week END) OVER w_before AS u_prev,
       min(CASE WHEN r.week <= s.last THEN r.week END) OVER w_after AS u_next,
       max(r.week) OVER w_before AS p_prev,
       min(r.week) OVER w_after AS p_next,
       r.deal, r.feat
FROM oj_span s
CROSS JOIN LATERAL (SELECT s.store, s.brand, s.last, w AS week FROM generate_series(s.first, s.last + 13) w) g
LEFT JOIN oj_raw r ON r.store = g.store AND r.brand = g.brand AND r.week = g.week
WINDOW w_before AS (PARTITION BY g.store, g.brand ORDER BY g.week),
       w_after AS (PARTITION BY g.store, g.brand ORDER BY g.week ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING);
CREATE TEMP TABLE oj_filled AS
SELECT g.store || '/' || g.brand AS series, g.week, g.last,
       date '1989-09-14' + 7 * (g.week - 1) AS ts,
       CASE WHEN g.week > g.last THEN NULL
            WHEN g.u_prev = g.u_next THEN up.units
            ELSE up.units + (un.units - up.units) * (g.week - g.u_prev) / (g.u_next - g.u_prev) END AS y,
       ARRAY[CASE WHEN g.p_next IS NULL OR g.p_prev = g.p_next THEN ln(pp.price)
                  ELSE ln(pp.price) + (ln(pn.price) - ln(pp.price)) * (g.week - g.p_prev) / (g.p_next - g.p_prev) END,
             coalesce(g.deal, 0), coalesce(g.feat, 0)] AS x
FROM oj_grid g
LEFT JOIN oj_raw up ON up.store = g.store AND up.brand = g.brand AND up.week = g.u_prev
LEFT JOIN oj_raw un ON un.store = g.store AND un.brand = g.brand AND un.week = g.u_next
LEFT JOIN oj_raw pp ON pp.store = g.store AND pp.brand = g.brand AND pp.week = g.p_prev
LEFT JOIN oj_raw pn ON pn.store = g.store AND pn.brand = g.brand AND pn.week = g.p_next;
INSERT INTO fb.train SELECT 'dominicks_oj', series, ts, y, x FROM oj_filled WHERE week <= last;
INSERT INTO fb.future SELECT 'dominicks_oj', series, ts, x FROM oj_filled WHERE week > last;
INSERT INTO fb.actual
SELECT 'dominicks_oj', store || '/' || brand, date '1989-09-14' + 7 * (week - 1), units, deal = 1 OR feat > 0
FROM oj_raw WHERE week BETWEEN :oj_last + 1 AND :oj_last + 12;
-- for the per-series OLS peer (run.sh exports them): the observed training rows (no
-- interpolation), the factors of the forecast weeks
CREATE TABLE fb.oj_ols_train AS
SELECT store || '/' || brand AS series, logmove, ln(price) AS lprice, deal, feat FROM oj_raw WHERE week <= :oj_last
ORDER BY 1, week;

CREATE TABLE fb.oj_ols_test AS
SELECT series, week - last AS step, x[1] AS lprice, x[2] AS deal, x[3] AS feat
FROM oj_filled WHERE week > last ORDER BY 1, 2;
