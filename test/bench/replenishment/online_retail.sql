-- Real daily data kept away from the plan's development: Online Retail (UCI, BENCH_DATA/
-- online_retail, the shared 70% of customers' cleaned lines), one online store. The 100
-- products with the most units sold before the replayed weeks, units per product and day,
-- days without a sale 0 (the shop sends nothing on Saturdays: those days sell 0 too).
-- :gunzip is the command that writes the CSV to stdout.
CREATE TABLE bench_repl.or_lines (invoice text, stock_code text, description text, quantity int, at timestamp,
                                  unit_price numeric, customer int, country text);
COPY bench_repl.or_lines FROM PROGRAM :'gunzip' (FORMAT csv, HEADER true);
CREATE TABLE bench_repl.or_products AS
SELECT stock_code, row_number() OVER (ORDER BY sum(quantity) DESC, stock_code) AS product_id
  FROM bench_repl.or_lines WHERE at < date '2011-10-14'
 GROUP BY stock_code ORDER BY sum(quantity) DESC, stock_code LIMIT 100;
CREATE TABLE bench_repl.or_sales AS
WITH daily AS (SELECT l.stock_code, l.at::date AS day, sum(l.quantity) AS units
                 FROM bench_repl.or_lines l GROUP BY 1, 2)
SELECT p.stock_code AS series, 1 AS store_id, p.product_id, d::date AS day, coalesce(x.units, 0)::float8 AS units
  FROM bench_repl.or_products p CROSS JOIN generate_series(date '2010-12-01', date '2011-12-08', '1 day') d
  LEFT JOIN daily x ON x.stock_code = p.stock_code AND x.day = d::date;
SELECT name FROM retailiq.register_sales_source('bench_repl_or', 'bench_repl.or_sales', 'series', 'day', 'units',
       method => 'auto', store_column => 'store_id', product_column => 'product_id');
