-- The sample's sales gap-filled per store, product and day from 2025-05-01 (enough history
-- for every method and for the classic policy's 8 weeks), and a subset for the backtest.
CREATE VIEW bench_repl.sales_recent AS
SELECT s.store_id || '/' || p.product_id AS series, s.store_id, p.product_id, c.day, coalesce(d.units, 0) AS units
  FROM bench_repl.stores s CROSS JOIN bench_repl.products p CROSS JOIN bench_repl.calendar c
  LEFT JOIN bench_repl.daily_sales d ON d.store_id = s.store_id AND d.product_id = p.product_id AND d.day = c.day
 WHERE c.day >= date '2025-05-01';
CREATE VIEW bench_repl.sales_bt AS
SELECT * FROM bench_repl.sales_recent WHERE store_id <= 4 AND product_id <= 100;
SELECT name FROM retailiq.register_sales_source('bench_repl_sample', 'bench_repl.sales_bt', 'series', 'day', 'units',
       method => 'auto', store_column => 'store_id', product_column => 'product_id');
SELECT name FROM retailiq.register_sales_source('bench_repl_all', 'bench_repl.sales_recent', 'series', 'day', 'units',
       method => 'auto', store_column => 'store_id', product_column => 'product_id');

CREATE TABLE bench_repl.oj (store int, brand int, week int, week_start date, logmove float8, units float8,
                            price float8, deal int, feat float8, profit float8);
CREATE VIEW bench_repl.oj_sales AS
SELECT store || '/' || brand AS series, store, brand, week_start, units FROM bench_repl.oj;

CREATE TABLE bench_repl.result (data text, target float8, policy text, csl float8, fill_rate float8,
                                avg_on_hand float8, seconds float8);
CREATE TABLE bench_repl.result_series (data text, target float8, policy text, series text, demand float8,
                                       served float8, cycles int, avg_on_hand float8);
