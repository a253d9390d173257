-- retailiq.max_memory holds for a call's contexts together (core/memory.c): the LSTM keeps
-- its panel in the aggregate's context and its batches in a work context; each alone fits
-- the budget below, the two together do not, and the fit stops with 53200 before it
-- allocates the batches. Measured on this panel: the batches need 4.5 MB, the panel and
-- its ETS bases hold 2.5 MB (the work context alone 1.5 MB); 6.5 MB lies between 4.5 + 1.5
-- MB, all a single context's check saw, and their sum.
BEGIN;
SELECT plan(4);

CREATE TABLE mb_panel AS
SELECT 's' || k AS series, d::date AS ts, (10 + (k * i) % 7)::float8 AS y
FROM generate_series(1, 200) k,
     generate_series(date '2024-01-01', date '2024-04-30', '1 day') WITH ORDINALITY g(d, i);

SET LOCAL retailiq.max_memory = '6500kB';
SELECT throws_ok($$SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL::float8[],
                       '{"epochs": 1, "hidden": 4, "ensemble": 1}') FROM mb_panel$$,
                 '53200', 'LSTM training needs more memory than retailiq.max_memory allows',
                 'the panel and the batches are charged together, though each fits alone');

-- the contexts of a finished statement are no longer charged: a second fit in the same
-- transaction, on a small panel, fits the same budget
SELECT lives_ok($$SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL::float8[],
                      '{"epochs": 1, "hidden": 4, "ensemble": 1}') FROM mb_panel WHERE series IN ('s1', 's2')$$,
                'a later statement starts from what it holds itself');

-- nor inside one statement once they are gone: a function running two fits one after the
-- other (each in its own SPI call) fits the budget of one
CREATE FUNCTION pg_temp.two_fits() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE m retailiq.model;
BEGIN
    FOR i IN 1..2 LOOP
        SELECT retailiq.forecast_fit(series, ts, y, 'ets') INTO m FROM mb_panel WHERE series IN ('s1', 's2', 's3');
    END LOOP;
    RETURN m IS NOT NULL;
END $$;
SET LOCAL retailiq.max_memory = '4MB';
SELECT ok(pg_temp.two_fits(), 'two fits in turn within one statement fit the budget of one');

SET LOCAL retailiq.max_memory = '16MB';
SELECT lives_ok($$SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL::float8[],
                      '{"epochs": 1, "hidden": 4, "ensemble": 1}') FROM mb_panel WHERE series IN ('s1', 's2')$$,
                'a larger budget lets the fit run');

SELECT * FROM finish();
ROLLBACK;
