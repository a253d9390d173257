-- Forecast accuracy aggregates: WAPE, MAPE, sMAPE, bias, RMSE, MASE, RMSSE and interval
-- coverage, and naive_scale (the MASE / RMSSE denominator). Every figure below was checked
-- by hand (series 'a') and against numpy 1.24 (Debian python3-numpy), with:
--   e = a - f;  wape = sum|e| / sum|a|;  mape = mean(|e| / |a|) over a != 0;
--   smape = mean(2|e| / (|a| + |f|)) (0/0 -> 0);  bias = mean(f - a);  rmse = sqrt(mean(e^2));
--   mase = mean(|e| / scale);  rmsse = sqrt(mean(e^2 / scale2));  coverage = mean(lo <= a <= hi);
--   scale = mean|y[m:] - y[:-m]|, scale2 = mean((y[m:] - y[:-m])^2) over the history y.
-- numpy gave: a: wape 0.2142857143 mape 0.2069444444 smape 0.555316445 bias 0 rmse 2.6076809621
--   mase 0.4114285714 rmsse 0.3706396328 coverage 0.8 (scale 5.8333333333, scale2 49.5);
--   b: wape 0.1063291139 mape 0.1031798246 smape 0.1038841673 bias 0.5 rmse 12.2882057274
--   mase 1.4318181818 rmsse 1.6135204603 coverage 0.5 (scale 7.3333333333, scale2 58);
--   both series: wape 0.1197339246 mase 0.8649350649 rmsse 1.1105885222;
--   generated 20,000 rows: wape 0.6601537383 mape 2.1192594545 smape 0.7519013659 bias 0.99715
--   rmse 40.4213712039 mase 15.0769916667 rmsse 27.3210845929 coverage 0.11575.
-- Figures are fractions (0.21 = 21%), rounded to 10 digits here.
SET jit = off;
SET extra_float_digits = 0;

CREATE TABLE acc_history (series text, y float8[]);
INSERT INTO acc_history VALUES ('a', '{10,14,8,3,18,11,16,9}'), ('b', '{90,100,85,110,95,105,88,112}');
CREATE TABLE acc_forecast (series text, step int, actual float8, forecast float8, lower float8, upper float8);
INSERT INTO acc_forecast VALUES
  ('a', 1, 12, 10, 8, 13), ('a', 2, 15, 14, 11, 17), ('a', 3, 9, 13, 10, 16),   -- 9 is below [10, 16]
  ('a', 4, 0, 2, 0, 4),                          -- actual 0: left out of mape only
  ('a', 5, 20, 17, 14, 20),                      -- on the upper bound: covered
  ('a', 6, NULL, 5, 3, 7),                       -- no actual yet: left out of everything
  ('b', 1, 100, 110, 95, 120), ('b', 2, 80, 90, 85, 100), ('b', 3, 120, 100, 90, 115), ('b', 4, 95, 97, 90, 104);

-- Series 'a' by hand: |e| = 2, 1, 4, 2, 3 -> wape = 12 / 56 = 0.2142857143;
-- mape = (2/12 + 1/15 + 4/9 + 3/20) / 4 = 0.2069444444; bias = (-2 - 1 + 4 + 2 - 3) / 5 = 0;
-- rmse = sqrt(34 / 5) = 2.6076809621; coverage = 4 / 5.
-- The scale: 2-period naive errors of 10,14,8,3,18,11,16,9 are 2,11,10,8,2,2 -> 35 / 6.
SELECT series, round(retailiq.naive_scale(y, 2)::numeric, 10) AS scale,
       round(retailiq.naive_scale(y, 2, true)::numeric, 10) AS scale2,
       round(retailiq.naive_scale(y, 1)::numeric, 10) AS naive1
FROM acc_history ORDER BY series;

SELECT f.series,
       round(retailiq.wape(actual, forecast)::numeric, 10) AS wape,
       round(retailiq.mape(actual, forecast)::numeric, 10) AS mape,
       round(retailiq.smape(actual, forecast)::numeric, 10) AS smape,
       round(retailiq.bias(actual, forecast)::numeric, 10) AS bias,
       round(retailiq.rmse(actual, forecast)::numeric, 10) AS rmse,
       round(retailiq.mase(actual, forecast, retailiq.naive_scale(h.y, 2))::numeric, 10) AS mase,
       round(retailiq.rmsse(actual, forecast, retailiq.naive_scale(h.y, 2, true))::numeric, 10) AS rmsse,
       round(retailiq.coverage(actual, lower, upper)::numeric, 10) AS coverage
FROM acc_forecast f JOIN acc_history h USING (series)
GROUP BY f.series ORDER BY f.series;

-- Across series: wape weights by volume; mase and rmsse average the scaled errors.
SELECT round(retailiq.wape(actual, forecast)::numeric, 10) AS wape,
       round(retailiq.mase(actual, forecast, retailiq.naive_scale(h.y, 2))::numeric, 10) AS mase,
       round(retailiq.rmsse(actual, forecast, retailiq.naive_scale(h.y, 2, true))::numeric, 10) AS rmsse
FROM acc_forecast f JOIN acc_history h USING (series);

-- As window aggregates: accuracy by step, cumulative over the steps.
SELECT series, step, round(retailiq.wape(actual, forecast) OVER w::numeric, 4) AS wape_to_step
FROM acc_forecast WINDOW w AS (PARTITION BY series ORDER BY step) ORDER BY series, step;

-- No rows, or only NULL rows: NULL. Every actual 0: wape and mape are undefined (NULL),
-- smape of two zeros is 0.
SELECT retailiq.wape(actual, forecast) IS NULL AS wape_null, retailiq.mase(actual, forecast, 1) IS NULL AS mase_null,
       retailiq.coverage(actual, lower, upper) IS NULL AS coverage_null
FROM acc_forecast WHERE actual IS NULL;
SELECT retailiq.wape(0, f) IS NULL AS wape_null, retailiq.mape(0, f) IS NULL AS mape_null,
       retailiq.smape(0, 0) AS smape_zeros
FROM (VALUES (1.0::float8), (2.0)) v(f);

-- 20,000 generated rows, split over parallel workers (partial states combined): the same
-- figures as numpy's.
CREATE TABLE acc_big AS
SELECT i, (i * 37 % 101)::float8 AS actual, (i * 53 % 97 + 3)::float8 AS forecast,
       (i * 53 % 97 + 3 - i % 11)::float8 AS lower, (i * 53 % 97 + 3 + i % 13)::float8 AS upper,
       (1 + i % 5)::float8 AS scale
FROM generate_series(1, 20000) i;
ANALYZE acc_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT retailiq.wape(actual, forecast) FROM acc_big;
SELECT round(retailiq.wape(actual, forecast)::numeric, 10) AS wape,
       round(retailiq.mape(actual, forecast)::numeric, 10) AS mape,
       round(retailiq.smape(actual, forecast)::numeric, 10) AS smape,
       round(retailiq.bias(actual, forecast)::numeric, 10) AS bias,
       round(retailiq.rmse(actual, forecast)::numeric, 10) AS rmse,
       round(retailiq.mase(actual, forecast, scale)::numeric, 10) AS mase,
       round(retailiq.rmsse(actual, forecast, scale)::numeric, 10) AS rmsse,
       round(retailiq.coverage(actual, lower, upper)::numeric, 10) AS coverage
FROM acc_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- Errors: a NaN or infinite value names its argument; a scale must be positive; an interval
-- must be in order; naive_scale needs more history than one season.
SELECT retailiq.wape('NaN', 1);
SELECT retailiq.rmse(1, '-Infinity');
SELECT retailiq.coverage(1, 'NaN', 2);
SELECT retailiq.mase(1, 2, 0);
SELECT retailiq.rmsse(1, 2, -1);
SELECT retailiq.coverage(1, 3, 2);
SELECT retailiq.naive_scale('{1,2,3}', 3);
SELECT retailiq.naive_scale('{1,2,3}', 0);
SELECT retailiq.naive_scale('{1,NULL,3}', 1);
SELECT retailiq.naive_scale('{1,NaN,3}', 1);
SELECT retailiq.naive_scale('{}', 1);
-- the support functions check a state handed to them directly
SELECT retailiq_internal.accuracy_mean_final('{1,2,3,4,5}');
SELECT retailiq_internal.accuracy_combine('{1,2}', '{1,2,3}');
