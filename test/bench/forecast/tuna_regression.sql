-- Dominick's canned tuna: a data set never used to develop the dynamic regression, for a check
-- of its defaults on unseen data (doc/forecast-regression.md).
--
--   psql -X -v data=../shared/data/dominicks -f test/bench/forecast/tuna_regression.sql
--
-- 7 brands at the chain level (tuna_weekly.csv, the data README), factors log price and display
-- activity (NSALE); the 338 rows are taken as consecutive weeks (the file's WEEK has gaps). At
-- four origins 12 weeks apart (train on the first 290, 302, 314, 326 weeks) the regression
-- forecasts the next 12 weeks with the factors as observed, with its defaults and with the
-- factors' products left out; pooled WAPE and 80% coverage.
\set ON_ERROR_STOP 1
\set csv :data '/tuna_weekly.csv'
DROP SCHEMA IF EXISTS tuna CASCADE; CREATE SCHEMA tuna;
CREATE TABLE tuna.raw (week int, m1 float8, m2 float8, m3 float8, m4 float8, m5 float8, m6 float8, m7 float8,
  n1 float8, n2 float8, n3 float8, n4 float8, n5 float8, n6 float8, n7 float8,
  p1 float8, p2 float8, p3 float8, p4 float8, p5 float8, p6 float8, p7 float8,
  w1 float8, w2 float8, w3 float8, w4 float8, w5 float8, w6 float8, w7 float8, cust float8);
\set load '\\copy tuna.raw FROM ' :'csv' ' CSV HEADER'
:load
CREATE TABLE tuna.panel AS
SELECT 'b' || b AS series, week, date '1989-09-14' + 7 * (week - 1) AS ts,
       (ARRAY[m1, m2, m3, m4, m5, m6, m7])[b] AS y,
       ARRAY[(ARRAY[p1, p2, p3, p4, p5, p6, p7])[b], (ARRAY[n1, n2, n3, n4, n5, n6, n7])[b]] AS x
FROM (SELECT row_number() OVER (ORDER BY week)::int AS week, m1, m2, m3, m4, m5, m6, m7, n1, n2, n3, n4, n5, n6, n7,
             p1, p2, p3, p4, p5, p6, p7 FROM tuna.raw) r, generate_series(1, 7) b;
-- (the file's WEEK has gaps, 338 rows over weeks 1-398: the rows are taken as consecutive weeks)
CREATE TABLE tuna.res (variant text, cut int, series text, ts date, y float8, yhat float8, lo float8, hi float8);
CREATE FUNCTION pg_temp.run(variant text, opts jsonb, cut int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m retailiq.model; fx float8[];
BEGIN
  SELECT retailiq.forecast_regression_fit(series, ts, y, x, opts) INTO m FROM tuna.panel WHERE week <= cut;
  SELECT array_agg(xs ORDER BY series COLLATE "C") INTO fx
    FROM (SELECT series, array_agg(x ORDER BY week) xs FROM tuna.panel WHERE week > cut AND week <= cut + 12 GROUP BY series) q;
  INSERT INTO tuna.res SELECT variant, cut, f.series, f.ts, p.y, f.yhat, f.yhat_lower, f.yhat_upper
    FROM retailiq.forecast_all(m, 12, fx) f JOIN tuna.panel p ON p.series = f.series AND p.ts = f.ts;
  RAISE NOTICE '% cut %: pairs %, candidates %, validation %', variant, cut, retailiq.model_info(m) #>> '{params,pairs}',
    retailiq.model_info(m) #>> '{metrics,candidates}', retailiq.model_info(m) #>> '{metrics,validation_wape}';
END $$;
SELECT pg_temp.run(v, o::jsonb, c) FROM (VALUES ('before (interactions none)', '{"horizon": 12, "interactions": "none"}'),
                                           ('now (default)', '{"horizon": 12}')) vv(v, o),
                                     (VALUES (290), (302), (314), (326)) cc(c);
SELECT variant, count(*) AS weeks, round((sum(abs(y - yhat)) / sum(y))::numeric, 4) AS wape,
       round(avg((y BETWEEN lo AND hi)::int)::numeric, 3) AS cov80
FROM tuna.res GROUP BY ROLLUP (variant) HAVING variant IS NOT NULL ORDER BY 1;
SELECT variant, cut, round((sum(abs(y - yhat)) / sum(y))::numeric, 4) AS wape FROM tuna.res GROUP BY 1, 2 ORDER BY 2, 1;
