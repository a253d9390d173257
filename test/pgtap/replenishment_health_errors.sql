-- Slow movers, forecast health, planning thresholds and the two-person rule of forecast
-- parameters: every bad argument and every refused change is an ERROR with its SQLSTATE.
BEGIN;
SELECT plan(28);

CREATE TABLE rh_sales (series text, store_id int, product_id int, day date, units int);
INSERT INTO rh_sales VALUES ('1/1', 1, 1, '2025-01-01', 3), ('1/1', 1, 1, '2025-01-02', 0);
CREATE TABLE rh_stock (store_id int, product_id int, on_hand int);
SELECT lives_ok($$SELECT retailiq.register_sales_source('rh', 'rh_sales', 'series', 'day', 'units', method => 'snaive',
                                                        store_column => 'store_id', product_column => 'product_id')$$,
                'a superuser registers without an approval');
SELECT lives_ok($$SELECT retailiq.register_sales_source('rh_plain', 'rh_sales', 'series', 'day', 'units', method => 'snaive')$$,
                'a source without store and product columns');

-- slow movers
SELECT throws_ok($$SELECT * FROM retailiq.slow_movers('rh')$$, '55000', 'no inventory source is registered',
                 'no inventory registered');
SELECT lives_ok($$SELECT retailiq.register_source('inventory', 'rh_stock')$$, 'inventory registers');
SELECT throws_ok($$SELECT retailiq.register_source('inventory', 'rh_sales')$$, '42703', NULL,
                 'an inventory relation without on_hand is refused');
SELECT throws_ok($$SELECT * FROM retailiq.slow_movers(NULL)$$, '22004', NULL, 'source NULL');
SELECT throws_ok($$SELECT * FROM retailiq.slow_movers('nope')$$, '42704', NULL, 'unknown source');
SELECT throws_ok($$SELECT * FROM retailiq.slow_movers('rh_plain')$$, '22023', NULL, 'a source without store and product');
SELECT is((SELECT count(*)::int FROM retailiq.slow_movers('rh', '2025-01-02', NULL)), 1,
          'rules NULL: no bundles, the item still listed');
SELECT throws_ok($$SELECT * FROM retailiq.report_slow_movers('rh', NULL, '2025-01-01')$$, '22004', NULL, 'since NULL');
SELECT throws_ok($$SELECT * FROM retailiq.report_slow_movers('rh', '2025-02-01', '2025-01-01')$$, '22023', NULL,
                 'since after until');

-- forecast health
SELECT throws_ok($$SELECT * FROM retailiq.forecast_health('rh', -1)$$, '22023', NULL, 'window_days negative');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_health('rh', 100000)$$, '22023', NULL, 'window_days absurd');
SELECT is((SELECT count(*)::int FROM retailiq.forecast_health('rh')), 0, 'no issued forecasts: no rows');
SELECT throws_ok($$SELECT * FROM retailiq.check_forecast_health('rh', 7, NULL)$$, '22004', NULL, 'refit NULL');
SELECT throws_ok($$SELECT * FROM retailiq.check_forecast_health('nope')$$, '42704', NULL, 'unknown source');

-- an early refit that fails: the check goes on, the alert stands, the refit keeps the error
INSERT INTO rh_sales SELECT '1/2', 1, 2, date '2025-01-01' + i, 4 FROM generate_series(0, 20) i;
INSERT INTO retailiq.forecast_issued (source, series, store_id, product_id, period_start, grain, horizon, yhat, issued_at)
SELECT 'rh', '1/2', 1, 2, date '2025-01-15' + i, 'day', 1, 8, now() FROM generate_series(0, 6) i;
SET LOCAL retailiq.debug_fail_series = '1/2';
SELECT is((SELECT array_agg(series || ':' || status || ':' || (alert_id IS NOT NULL) || ':' || (refit_id IS NOT NULL))
             FROM retailiq.check_forecast_health('rh', 7, true, '2025-01-21')),
          ARRAY['1/2:drift:true:true'], 'the drifting series is alerted and its refit recorded');
SELECT matches((SELECT refit_error FROM retailiq.forecast_refit WHERE source = 'rh'),
               'forecast_fit failed on series "1/2"', 'the refit''s error is kept');
SELECT is((SELECT model_version FROM retailiq.forecast_refit WHERE source = 'rh'), NULL, 'and no model');
RESET retailiq.debug_fail_series;
-- the hook of the refresh is anyone's to call, but prunes only behind forecasts it kept
CREATE ROLE rh_nobody;
SET LOCAL ROLE rh_nobody;
SELECT retailiq_internal.forecast_issued_record('rh', '9999-01-01');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM retailiq.forecast_issued WHERE source = 'rh'), 7,
          'a call with nothing to keep removes no issued forecast');

-- thresholds
SELECT throws_ok($$SELECT retailiq.set_planning_threshold(NULL, 1)$$, '22023', NULL, 'name NULL');
SELECT throws_ok($$SELECT retailiq.set_planning_threshold('abc_a', 2)$$, '22023', NULL, 'out of bounds');
SELECT throws_ok($$SELECT retailiq.set_planning_threshold('abc_a', 'Infinity')$$, '22023', NULL, 'infinite');
SELECT throws_ok($$SELECT retailiq.set_planning_threshold('abc_a', 0.7, 'nope')$$, '42704', NULL, 'unknown source');

-- the two-person rule
SELECT retailiq.create_standard_roles();
CREATE ROLE rh_oper;
GRANT retailiq_operator TO rh_oper;
GRANT SELECT ON rh_sales TO rh_oper;
SET LOCAL SESSION AUTHORIZATION rh_oper;
SELECT throws_ok($$SELECT retailiq.register_sales_source('rh2', 'rh_sales', 'series', 'day', 'units')$$, '42501',
                 'change_forecast_parameters needs an approval', 'an operator needs an approval to register');
SELECT throws_ok($$SELECT retailiq.unregister_sales_source('rh')$$, '42501', NULL, 'and to unregister');
SELECT throws_ok($$SELECT retailiq.set_planning_threshold('abc_a', 0.7)$$, '42501', NULL, 'and to set a threshold');
SELECT throws_ok($$DELETE FROM retailiq.source WHERE name = 'rh'$$, '42501', NULL, 'and to write the registry');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
