-- The refresh reads a source's rows as they are (issue 18): the fit sums the rows of a
-- series and date itself (option "duplicates": "sum") instead of a GROUP BY of every row,
-- and the store and product of each series come from one hashed pass (a sort only for a
-- series whose rows disagree). Both must give what the GROUP BY / newest-row forms gave.
SET jit = off;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;

-- "duplicates": "sum": one period per date, values added, factors averaged; the same
-- summary as the grouped rows, in any arrival order.
CREATE TABLE dup_rows AS
SELECT 's' || (i % 5) AS series, '2024-01-01'::date + (i / 15) AS day,
       (i % 7)::float8 + 0.25 AS units, (i % 3)::float8 AS price
  FROM generate_series(0, 15 * 60 - 1) i;
SELECT count(*) AS rows, count(DISTINCT (series, day)) AS series_days FROM dup_rows;
SELECT retailiq.forecast_series_summary(series, day, units, ARRAY[price], '{"duplicates": "sum"}')
     = (SELECT retailiq.forecast_series_summary(series, day, y, ARRAY[x], '{}')
          FROM (SELECT series, day, sum(units) AS y, avg(price) AS x FROM dup_rows GROUP BY 1, 2) g) AS same_as_grouped
  FROM dup_rows;
SELECT retailiq.forecast_series_summary(series, day, units, NULL, '{"duplicates": "sum"}')
     = (SELECT retailiq.forecast_series_summary(series, day, units, NULL, '{"duplicates": "sum"}')
          FROM (SELECT * FROM dup_rows ORDER BY units DESC, day DESC) r) AS same_in_any_order
  FROM dup_rows;
-- the fit on raw rows forecasts what the fit on grouped rows forecasts
SELECT bool_and(a.yhat = b.yhat AND a.yhat_lower = b.yhat_lower AND a.yhat_upper = b.yhat_upper) AS same_forecasts,
       count(*) AS forecasts
  FROM retailiq.forecast_all((SELECT retailiq.forecast_fit(series, day, units, 'ets', '{"duplicates": "sum"}') FROM dup_rows), 7) a
  JOIN retailiq.forecast_all((SELECT retailiq.forecast_fit(series, day, y, 'ets', '{}')
                                FROM (SELECT series, day, sum(units) AS y FROM dup_rows GROUP BY 1, 2) g), 7) b
    USING (series, step);
-- the default still refuses two rows of one date; a return may offset a sale when summed,
-- but a negative sum is refused; a bad value names the option
SELECT retailiq.forecast_series_summary(series, day, units, NULL, '{}') FROM dup_rows;
SELECT retailiq.forecast_series_summary(s, d, y, NULL, '{"duplicates": "sum"}') ->> 'series'
  FROM (VALUES ('a', date '2024-01-01', 3.0::float8), ('a', '2024-01-01', -1), ('a', '2024-01-02', 1)) v(s, d, y);
SELECT retailiq.forecast_series_summary(s, d, y, NULL, '{"duplicates": "sum"}')
  FROM (VALUES ('a', date '2024-01-01', 1.0::float8), ('a', '2024-01-01', -2), ('a', '2024-01-02', 1)) v(s, d, y);
SELECT retailiq.forecast_series_summary(s, d, y, NULL, '{"duplicates": "yes"}')
  FROM (VALUES ('a', date '2024-01-01', 1.0::float8)) v(s, d, y);
SELECT retailiq.forecast_series_summary(s, d, y, NULL, '{"duplicates": "sum"}')
  FROM (VALUES ('a', date '2024-01-01', 1e308::float8), ('a', '2024-01-01', 1e308), ('a', '2024-01-02', 1)) v(s, d, y);

-- A source of raw sales lines (several a day, some returns) refreshes to the same forecasts
-- as a view of the same lines grouped per series and day.
CREATE SCHEMA rr;
CREATE TABLE rr.lines AS
SELECT (i % 4) + 1 AS store_id, (i % 3) + 10 AS product_id,
       ((i % 4) + 1) || '/' || ((i % 3) + 10) AS series,
       timestamp '2024-01-01 08:00' + (i / 36) * interval '1 day' + (i % 5) * interval '1 hour' AS sold_at,
       CASE WHEN i % 17 = 0 THEN -1 ELSE (i * 7919) % 5 + 1 END AS units
  FROM generate_series(0, 36 * 100 - 1) i;
-- one series moves store halfway (its newest rows name store 9)
UPDATE rr.lines SET store_id = 9 WHERE series = '1/10' AND sold_at >= '2024-02-20';
-- a line without a quantity is left out, as the grouped form's HAVING count(units) > 0 does
INSERT INTO rr.lines VALUES (2, 11, '2/11', '2024-04-10 09:00', NULL);
CREATE VIEW rr.grouped AS
SELECT series, sold_at::date AS day, sum(units) AS units,
       (array_agg(store_id ORDER BY sold_at DESC))[1] AS store_id,
       (array_agg(product_id ORDER BY sold_at DESC))[1] AS product_id
  FROM rr.lines WHERE units IS NOT NULL GROUP BY 1, 2;
SELECT count(*) FROM retailiq.register_sales_source('raw', 'rr.lines', 'series', 'sold_at', 'units', method => 'auto',
                                                    store_column => 'store_id', product_column => 'product_id');
SELECT count(*) FROM retailiq.register_sales_source('grouped', 'rr.grouped', 'series', 'day', 'units', method => 'auto',
                                                    store_column => 'store_id', product_column => 'product_id');
SELECT retailiq.refresh_forecasts(ARRAY[1, 7]) AS rows_written;
SELECT count(*) AS forecasts,
       bool_and(a.yhat = b.yhat AND a.yhat_lower = b.yhat_lower AND a.yhat_upper = b.yhat_upper
                AND a.store_id = b.store_id AND a.product_id = b.product_id) AS same
  FROM retailiq.forecast_result a
  JOIN retailiq.forecast_result b USING (series, period_start)
 WHERE a.model_name = 'forecast:raw' AND b.model_name = 'forecast:grouped';
SELECT series, store_id, product_id, count(*) FROM retailiq.forecast_result
 WHERE model_name = 'forecast:raw' AND series LIKE '1/%' GROUP BY 1, 2, 3 ORDER BY 1;
-- history_days and a source without store/product columns take the same path
SELECT count(*) FROM retailiq.register_sales_source('raw', 'rr.lines', 'series', 'sold_at', 'units', method => 'ets',
                                                    options => '{"history_days": 60}', store_column => 'store_id');
SELECT count(*) FROM retailiq.register_sales_source('grouped', 'rr.grouped', 'series', 'day', 'units', method => 'ets',
                                                    options => '{"history_days": 60}');
SELECT retailiq.refresh_forecasts(ARRAY[1, 7]) AS rows_written;
SELECT count(*) AS forecasts, bool_and(a.yhat = b.yhat) AS same, count(a.store_id) AS with_store,
       count(b.store_id) AS grouped_with_store, count(a.product_id) AS with_product
  FROM retailiq.forecast_result a
  JOIN retailiq.forecast_result b USING (series, period_start, model_version)
 WHERE a.model_name = 'forecast:raw' AND b.model_name = 'forecast:grouped';
SELECT retailiq.unregister_sales_source('raw', true), retailiq.unregister_sales_source('grouped', true);
DROP SCHEMA rr CASCADE;
DROP TABLE dup_rows;
