-- Sales sources, refresh_forecasts and backtest: every bad argument is an ERROR with its
-- SQLSTATE, and the registry keeps only sources whose relation and columns can be read.
BEGIN;
SELECT plan(41);

CREATE DOMAIN qty AS numeric CHECK (VALUE >= 0);
CREATE TABLE ops_sales (sku text, store int, day date, at timestamptz, units int, amount qty,
                        note text, promo boolean, price float8, "Mixed Case" int);
CREATE VIEW ops_view AS SELECT sku, day, units FROM ops_sales;
CREATE SEQUENCE ops_seq;
CREATE ROLE ops_nobody NOLOGIN;
GRANT USAGE ON SCHEMA retailiq TO ops_nobody;
GRANT SELECT (sku, day) ON ops_sales TO ops_nobody;

-- registering
SELECT is((retailiq.register_sales_source('s1', 'ops_sales', 'sku', 'day', 'units')).method, 'auto',
          'a table with date and integer columns registers, method auto by default');
SELECT is((retailiq.register_sales_source('s2', 'ops_view', 'sku', 'day', 'units', '{}', 'snaive')).relation::text,
          'ops_view', 'a view registers');
SELECT lives_ok($$SELECT retailiq.register_sales_source('s3', 'ops_sales', 'store', 'at', 'amount',
                    ARRAY['promo', 'price', 'Mixed Case'], 'lstm', '{"max_model_age": "6 hours", "history_days": 90}')$$,
                'timestamptz dates, a numeric domain as value, boolean and numeric factors, quoted names');
SELECT is((SELECT exog_columns::text FROM retailiq.sales_source WHERE name = 's3'), '{promo,price,"Mixed Case"}',
          'factor columns are kept in order');
SELECT lives_ok($$SELECT retailiq.register_sales_source('s1', 'ops_sales', 'sku', 'day', 'units', '{}', 'ets')$$,
                'registering a name again redefines it');
SELECT is((SELECT method FROM retailiq.sales_source WHERE name = 's1'), 'ets', 'the redefinition replaced the method');
SELECT is((SELECT count(*)::int FROM retailiq.sales_source WHERE name IN ('s1', 's2', 's3')), 3, 'three sources');

SELECT throws_ok($$SELECT retailiq.register_sales_source(NULL, 'ops_sales', 'sku', 'day', 'units')$$,
                 '22004', NULL, 'NULL name');
SELECT throws_ok($$SELECT retailiq.register_sales_source('bad name', 'ops_sales', 'sku', 'day', 'units')$$,
                 '22023', 'sales source name "bad name" is not valid', 'a name with a space');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', '{}', 'prophet')$$,
                 '22023', 'method "prophet" is not a forecasting method', 'unknown method');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', store_column => 'note')$$,
                 '42804', 'store_column "note" of public.ops_sales is of type text', 'a store column must hold integers');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', product_column => 'item')$$,
                 '42703', 'product_column "item" is not a column of public.ops_sales', 'a product column that does not exist');
SELECT is((retailiq.register_sales_source('s4', 'ops_sales', 'sku', 'day', 'units', store_column => 'store')).store_column,
          'store'::name, 'a store column without a product column is kept');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', ARRAY['promo'], 'ets')$$,
                 '22023', 'method ets takes no exog_columns', 'factors with a method that takes none');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_seq', 'sku', 'day', 'units')$$,
                 '42809', NULL, 'a sequence is not a sales relation');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'item', 'day', 'units')$$,
                 '42703', 'series_column "item" is not a column of public.ops_sales', 'missing series column');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'Units')$$,
                 '42703', 'value_column "Units" is not a column of public.ops_sales', 'names are case-sensitive');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'store', 'units')$$,
                 '42804', 'date_column "store" of public.ops_sales is of type integer', 'an integer date column');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'note')$$,
                 '42804', 'value_column "note" of public.ops_sales is of type text', 'a text value column');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', ARRAY['note'], 'lstm')$$,
                 '42804', 'exog_columns "note" of public.ops_sales is of type text', 'a text factor');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', ARRAY['units'], 'lstm')$$,
                 '22023', 'series, date, value and factor columns must all be different', 'a column used twice');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', ARRAY[NULL], 'lstm')$$,
                 '22004', NULL, 'a NULL factor name');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', '{}', 'ets', '[1]')$$,
                 '22023', 'options must be a JSON object', 'options not an object');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', '{}', 'ets', '{"max_model_age": "soon"}')$$,
                 '22023', NULL, 'max_model_age not an interval');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', '{}', 'ets', '{"history_days": 0}')$$,
                 '22023', NULL, 'history_days 0');
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units', '{}', 'ets', '{"steps": "some"}')$$,
                 '22023', 'option steps must be "all" or "listed"', 'steps neither all nor listed');
SET ROLE ops_nobody;
SELECT throws_ok($$SELECT retailiq.register_sales_source('x', 'ops_sales', 'sku', 'day', 'units')$$,
                 '42501', 'permission denied to read column "units" of public.ops_sales', 'a column the caller cannot read');
RESET ROLE;

-- refreshing
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(NULL)$$, '22004', NULL, 'NULL horizons');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[1, NULL])$$, '22004', NULL, 'a NULL horizon');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts('{}')$$, '22023', 'horizons must be 1 to 1000 steps', 'no horizons');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[0, 7])$$, '22023', 'horizons must be 1 to 1000 steps', 'horizon 0');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[1001])$$, '22023', 'horizons must be 1 to 1000 steps', 'horizon 1001');
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[1], 'nope')$$, '42704',
                 'sales source "nope" is not registered', 'an unknown source');
DROP VIEW ops_view;
SELECT throws_ok($$SELECT retailiq.refresh_forecasts(ARRAY[1], 's2')$$, '42P01',
                 'the relation of sales source "s2" no longer exists', 'a source whose view was dropped');

-- backtesting
SELECT throws_ok($$SELECT * FROM retailiq.backtest('nope', ARRAY['snaive'], 7, ARRAY[date '2024-01-01'])$$,
                 '42704', NULL, 'backtest of an unknown source');
SELECT throws_ok($$SELECT * FROM retailiq.backtest('s1', ARRAY['snaive'], 0, ARRAY[date '2024-01-01'])$$,
                 '22023', 'horizon must be 1 to 1000 steps', 'backtest horizon 0');
SELECT throws_ok($$SELECT * FROM retailiq.backtest('s1', ARRAY['naive2'], 7, ARRAY[date '2024-01-01'])$$,
                 '22023', 'method "naive2" is not a forecasting method', 'backtest of an unknown method');
SELECT throws_ok($$SELECT * FROM retailiq.backtest('s1', '{}', 7, ARRAY[date '2024-01-01'])$$,
                 '22023', 'methods and origins must not be empty', 'backtest without methods');
SELECT throws_ok($$SELECT * FROM retailiq.backtest('s1', ARRAY['ets'], 7, ARRAY[NULL::date])$$,
                 '22004', NULL, 'backtest with a NULL origin');

-- unregistering
SELECT ok(retailiq.unregister_sales_source('s3'), 'unregister returns true');
SELECT throws_ok($$SELECT retailiq.unregister_sales_source('s3')$$, '42704',
                 'sales source "s3" is not registered', 'unregistering twice');

SELECT * FROM finish();
ROLLBACK;
