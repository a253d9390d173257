-- 'global_ar': one autoregression of the log values pooled over every series of the call
-- (a global model). Worked out by hand here with one lag and a season of 2, where the
-- pooled regression is a simple regression SQL's regr_* aggregates compute too; then the
-- same model whichever way the fit was spread (parallel workers, streamed groups,
-- distributed parts), and the errors.
SET extra_float_digits = 0;

-- 20 monthly series of 30 to 49 months with a two-month rhythm, a trend and a wobble
CREATE TABLE gar_sales AS
SELECT 'g' || lpad(k::text, 2, '0') AS series, (date '2020-01-01' + make_interval(months => i))::date AS ts,
       round(50 + 3 * k + 8 * (i % 2) + 0.4 * i + 5 * sin(i * k))::float8 AS y
FROM generate_series(1, 20) k, generate_series(0, 29 + k - 1) i;

-- The regression by hand: z = ln(1 + y); each window's level is the mean of the 2 values
-- before it; the target z_t - level on the lag z_{t-1} - level, with an intercept.
CREATE TABLE gar_windows AS
SELECT series, t, z - (z1 + z2) / 2 AS target, z1 - (z1 + z2) / 2 AS x
FROM (SELECT series, row_number() OVER w AS t, ln(1 + y) AS z,
             lag(ln(1 + y), 1) OVER w AS z1, lag(ln(1 + y), 2) OVER w AS z2
        FROM gar_sales WINDOW w AS (PARTITION BY series ORDER BY ts)) s
WHERE z2 IS NOT NULL;
CREATE TABLE gar_ref AS
SELECT regr_intercept(target, x) AS b0, regr_slope(target, x) AS b1,
       (regr_syy(target, x) - regr_sxy(target, x) ^ 2 / regr_sxx(target, x)) / (count(*) - 2) AS sigma2,
       count(*) AS windows
FROM gar_windows;
SELECT round(b0::numeric, 6) AS b0, round(b1::numeric, 6) AS b1, round(sigma2::numeric, 8) AS sigma2, windows
FROM gar_ref;

CREATE TABLE gar_model AS
SELECT retailiq.forecast_fit(series, ts, y, 'global_ar', '{"season": 2, "global_lags": 1, "global_windows": 100}') AS m FROM gar_sales;
SELECT retailiq.model_kind(m), retailiq.model_info(m) -> 'metrics' ->> 'nseries' AS series
FROM gar_model;
-- a series as forecast_model_series shows it: the method, its length, the pooled log-scale
-- residual variance (the hand regression's sigma2) and the season of its levels
SELECT s.series, s.method, s.n, round(s.sigma2::numeric, 8) AS sigma2, s.season
FROM gar_model, retailiq.forecast_model_series(m) s WHERE s.series IN ('g01', 'g20') ORDER BY 1;

-- Series g01's next two months by hand: step 1 from its last two values, step 2 from
-- step 1's forecast and its last value; the interval's log-scale variance sigma2 at step
-- 1 and sigma2 (1 + c1^2) at step 2, where c1 = b1 + (1 - b1) / 2 is the weight of the
-- last value once the level is written out (80% interval: z = 1.281552).
CREATE TABLE gar_hand AS
WITH last2 AS (
    SELECT max(z) FILTER (WHERE rn = 1) AS zn, max(z) FILTER (WHERE rn = 2) AS zp
    FROM (SELECT ln(1 + y) AS z, row_number() OVER (ORDER BY ts DESC) AS rn
            FROM gar_sales WHERE series = 'g01') s WHERE rn <= 2
), s1 AS (
    SELECT zn, (zn + zp) / 2 + b0 + b1 * (zn - (zn + zp) / 2) AS e1, b0, b1, sigma2 FROM last2, gar_ref
), s2 AS (
    SELECT *, (e1 + zn) / 2 + b0 + b1 * (e1 - (e1 + zn) / 2) AS e2, b1 + (1 - b1) / 2 AS c1 FROM s1
)
SELECT 1 AS step, exp(e1) - 1 AS yhat, exp(e1 - 1.2815515655446004 * sqrt(sigma2)) - 1 AS lo,
       exp(e1 + 1.2815515655446004 * sqrt(sigma2)) - 1 AS hi FROM s2
UNION ALL
SELECT 2, exp(e2) - 1, exp(e2 - 1.2815515655446004 * sqrt(sigma2 * (1 + c1 ^ 2))) - 1,
       exp(e2 + 1.2815515655446004 * sqrt(sigma2 * (1 + c1 ^ 2))) - 1 FROM s2;
SELECT h.step, round(h.yhat::numeric, 3) AS by_hand, round(f.yhat::numeric, 3) AS global_ar,
       round(h.lo::numeric, 3) AS lo_by_hand, round(f.yhat_lower::numeric, 3) AS lo,
       round(h.hi::numeric, 3) AS hi_by_hand, round(f.yhat_upper::numeric, 3) AS hi,
       abs(f.yhat - h.yhat) < 1e-5 * h.yhat AND abs(f.yhat_lower - h.lo) < 1e-5 * h.lo
           AND abs(f.yhat_upper - h.hi) < 1e-5 * h.hi AS agree
FROM gar_hand h JOIN retailiq.forecast((SELECT m FROM gar_model), 'g01', 2) f ON f.step = h.step
ORDER BY 1;

-- Beyond the 64 periods a series' record keeps, the path repeats its last season and the
-- variance grows by its last step's increment.
SELECT step, round(yhat::numeric, 3) AS yhat
FROM retailiq.forecast((SELECT m FROM gar_model), 'g01', 67) WHERE step IN (63, 64, 65, 66, 67) ORDER BY 1;

-- Values near the largest a double holds still forecast finite numbers (the log scale's
-- forecasts are kept within e^700, their interval's ends within e^709).
SELECT bool_and(yhat > 1e299 AND yhat_upper < 'Infinity') AS finite_near_1e300
FROM retailiq.forecast_all((SELECT retailiq.forecast_fit(series, ts, y * 1e300, 'global_ar',
                                     '{"season": 2, "global_lags": 1, "global_windows": 100}') FROM gar_sales), 3);

-- The default shape: four seasons of lags (48 months) over each series' last ten years;
-- these series are too short to hold a window of 48 lags.
\set VERBOSITY terse
SELECT retailiq.forecast_fit(series, ts, y, 'global_ar') FROM gar_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'global_ar', '{"global_lags": 600}') FROM gar_sales;
SELECT retailiq.forecast_fit(series, ts, y, 'global_ar', '{"season": 52, "global_lags": 500, "global_windows": 600}') FROM gar_sales;
\set VERBOSITY default
SELECT retailiq.model_info(retailiq.forecast_fit(series, ts, y, 'global_ar', '{"global_lags": 12}')) -> 'metrics' ->> 'nseries' AS series
FROM gar_sales;

-- The same model however the fit was spread: by parallel workers, in streamed groups, and
-- as the distributed fit's parts (one per group of series) merged. The first 24 bytes of
-- a model hold its checksum and training time; the rest must be equal.
SET force_parallel_mode = off;
SET max_parallel_workers_per_gather = 0;
CREATE FUNCTION stream_files() RETURNS bigint LANGUAGE sql AS
$$ SELECT temp_files FROM pg_stat_database WHERE datname = current_database() $$;
SET retailiq.forecast_workers = 2;
SELECT substr(retailiq.model_send(retailiq.forecast_fit(series, ts, y, 'global_ar', '{"season": 2, "global_lags": 1, "global_windows": 100}')), 25)
       = (SELECT substr(retailiq.model_send(m), 25) FROM gar_model) AS same_with_workers
FROM gar_sales;
SET retailiq.forecast_workers = 0;
SELECT substr(retailiq.model_send(retailiq.forecast_fit(series, ts, y, 'global_ar', '{"season": 2, "global_lags": 1, "global_windows": 100}')), 25)
       = (SELECT substr(retailiq.model_send(m), 25) FROM gar_model) AS same_in_the_backend
FROM gar_sales;
RESET retailiq.forecast_workers;
-- (streamed: 100 series of 600 months, 60,000 rows, past an eighth of 3 MB; the fits,
-- 15 kB a series until the panel step, stay within it. The default shape at a season of
-- 12, 48 lags over 120 windows, stashes 168 values a series: three records of 64.)
CREATE TABLE gar_big AS
SELECT 'b' || lpad(k::text, 3, '0') AS series, (date '1970-01-01' + make_interval(months => i))::date AS ts,
       round(40 + k % 37 + 6 * (i % 3) + 0.2 * i + 4 * sin(i * k))::float8 AS y
FROM generate_series(1, 100) k, generate_series(0, 599) i;
CREATE TABLE gar_big_model AS
SELECT retailiq.forecast_fit(series, ts, y, 'global_ar', '{"season": 12}') AS m FROM gar_big;
SELECT pg_stat_force_next_flush();
SELECT stream_files() AS files_before \gset
SET retailiq.max_memory = '3MB';
SELECT substr(retailiq.model_send(retailiq.forecast_fit(series, ts, y, 'global_ar', '{"season": 12}')), 25)
       = (SELECT substr(retailiq.model_send(m), 25) FROM gar_big_model) AS same_streamed
FROM gar_big;
RESET retailiq.max_memory;
SELECT pg_stat_force_next_flush();
SELECT stream_files() > :files_before AS wrote_group_files;
SELECT (retailiq.model_info(retailiq_internal.forecast_fit_merge(array_agg(part ORDER BY grp))) #- '{params,options}')
         - 'trained_at' - 'size_bytes'
       = (retailiq.model_info((SELECT m FROM gar_model)) #- '{params,options}') - 'trained_at' - 'size_bytes' AS same_from_parts
FROM (SELECT right(series, 1) AS grp,
             retailiq_internal.forecast_fit_part(series, ts, y, 'global_ar', '{"season": 2, "global_lags": 1, "global_windows": 100}', NULL) AS part
        FROM gar_sales GROUP BY 1) p;
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;

-- A warm start refits every series: the pooled model changes with any of them.
SELECT retailiq.save_model('gar_test', m) IS NOT NULL AS saved FROM gar_model;
SELECT retailiq.model_info(retailiq.forecast_fit(series, ts, y, 'global_ar',
           '{"season": 2, "global_lags": 1, "global_windows": 100, "warm_start": {"model": "gar_test"}}')) -> 'metrics' ->> 'series_cold' AS cold
FROM gar_sales;
DELETE FROM retailiq.models WHERE name = 'gar_test';
-- (the model it names must still exist)
SELECT retailiq.forecast_fit(series, ts, y, 'global_ar', '{"global_lags": 1, "warm_start": {"model": "no_such_model"}}')
FROM gar_sales;


-- combo's fifth member set: ETS, seasonal naive, Theta and the global model, measured like
-- the other members at the same rolling origins (its regression pooled over the panel's
-- windows before each origin) and chosen by the panel's pooled held-out WAPE. 30 monthly
-- series sharing a seasonal shape, with their own trends and a wobble: the global model
-- learns the shape from all of them.
CREATE TABLE gar_combo_sales AS
SELECT 'c' || lpad(k::text, 2, '0') AS series, (date '2015-01-01' + make_interval(months => i))::date AS ts,
       round(100 * exp(0.3 * sin(2 * pi() * i / 12) + 0.002 * i * (k % 5) + 0.05 * sin(i * k * 1.7)))::float8 AS y
FROM generate_series(1, 30) k, generate_series(0, 59 + k) i;
CREATE TABLE gar_combo AS
SELECT retailiq.forecast_fit(series, ts, y, 'combo', '{"horizon": 12}') AS m FROM gar_combo_sales;
SELECT retailiq.model_info(m) #>> '{metrics,validation_member_set}' AS chosen,
       (SELECT min(w::float8) FROM jsonb_array_elements_text(retailiq.model_info(m) #> '{metrics,validation_member_sets_wape_pooled}') w)
         = (retailiq.model_info(m) #>> '{metrics,validation_member_sets_wape_pooled,4}')::float8 AS lowest_pooled_wape,
       retailiq.model_info(m) #> '{metrics,validation_candidates}' AS candidates
FROM gar_combo;
-- each series: its members, the global model's weight in (0, 1), the weights summing to 1
-- (the combination's record: alpha, beta, gamma, phi, sigma2, level, slope = ETS, seasonal
-- naive, Theta, calibration, variance, global model, damped ETS). The 12 series of 72
-- months or fewer hold no window of their own before their earliest held-out stretch (48
-- lags, 24 held out): the global model is no candidate there, and their interval takes the
-- first set's calibration.
SELECT s.method, count(*) AS series,
       bool_and((p ->> 5)::float8 > 0 AND (p ->> 5)::float8 < 1) AS global_weight_inside,
       bool_and(abs((p ->> 0)::float8 + (p ->> 1)::float8 + (p ->> 2)::float8 + (p ->> 5)::float8 + (p ->> 6)::float8 - 1) < 1e-12) AS weights_sum_to_1
FROM gar_combo, retailiq.forecast_model_series(m) WITH ORDINALITY s,
     LATERAL (SELECT m::text::jsonb #> ARRAY['data', 'par',
                ((s.ordinality - 1) * jsonb_array_length(m::text::jsonb #> '{data,par}') / 30)::text] AS p) r
GROUP BY 1 ORDER BY 1;
-- the same model in the backend, with workers and from the distributed fit's parts
SET force_parallel_mode = off;
SET max_parallel_workers_per_gather = 0;
SET retailiq.forecast_workers = 0;
SELECT substr(retailiq.model_send(retailiq.forecast_fit(series, ts, y, 'combo', '{"horizon": 12}')), 25)
       = (SELECT substr(retailiq.model_send(m), 25) FROM gar_combo) AS same_in_the_backend
FROM gar_combo_sales;
RESET retailiq.forecast_workers;
SELECT (retailiq.model_info(retailiq_internal.forecast_fit_merge(array_agg(part ORDER BY grp))) #- '{params,options}')
         - 'trained_at' - 'size_bytes'
       = (retailiq.model_info((SELECT m FROM gar_combo)) #- '{params,options}') - 'trained_at' - 'size_bytes' AS same_from_parts
FROM (SELECT right(series, 1) AS grp,
             retailiq_internal.forecast_fit_part(series, ts, y, 'combo', '{"horizon": 12}', NULL) AS part
        FROM gar_combo_sales GROUP BY 1) p;
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;
SELECT count(DISTINCT s.phi) AS calibrations,
       count(DISTINCT s.phi) FILTER (WHERE s.method = 'combo(E+S+T)') AS of_the_first_set
FROM gar_combo, retailiq.forecast_model_series(m) s;
-- a crafted combination whose global weight has no global member is refused (the last
-- series' global record, the 6th of its 7)
SELECT count(*) FROM retailiq.forecast_all(
  (SELECT jsonb_set(m::text::jsonb, '{data,method,208}', '0')::text::retailiq.model FROM gar_combo), 3);

DROP TABLE gar_sales, gar_windows, gar_ref, gar_model, gar_hand, gar_big, gar_big_model, gar_combo_sales, gar_combo;
DROP FUNCTION stream_files();
