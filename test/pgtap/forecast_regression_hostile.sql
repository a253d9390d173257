-- Hostile input to the dynamic regression (forecast_regression_fit, its model, its predict
-- through retailiq.forecast / forecast_all): bad rows and options, bad future factors, and
-- crafted models (valid checksum, fields that cannot be right) end in a clean ERROR with its
-- SQLSTATE, never a crash or a NaN answer; the fit stops on statement_timeout and on
-- retailiq.max_memory; an ordinary role fits and forecasts.
BEGIN;
SELECT plan(80);
SET extra_float_digits = 0;

CREATE TEMP TABLE rh AS
SELECT 's' || lpad(s::text, 2, '0') AS series, date '2024-01-01' + 7 * w AS ts,
       (50 + 10 * s + 5 * ((w + s) % 4 = 0)::int + (w * s) % 3)::float8 AS y,
       ARRAY[((w + s) % 4 = 0)::int::float8, 1 + 0.1 * (w % 5)] AS x
FROM generate_series(1, 5) s, generate_series(0, 59) w;
CREATE TEMP TABLE rh_m AS
SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"horizon": 4}') AS m,
       retailiq.forecast_regression_fit(series, ts, y, NULL::float8[], '{"horizon": 4}') AS plain
FROM rh;
CREATE FUNCTION pg_temp.mut(m retailiq.model, path text[], v jsonb) RETURNS retailiq.model
    LANGUAGE sql AS $$ SELECT jsonb_set(m::text::jsonb, path, v)::text::retailiq.model $$;
CREATE FUNCTION pg_temp.fc(m retailiq.model) RETURNS SETOF float8
    LANGUAGE sql AS $$ SELECT yhat FROM retailiq.forecast(m, 's02', 2, ARRAY[[1, 1], [0, 1]]::float8[]) $$;

-- ---------------------------------------------------------------- honest use
SELECT is(retailiq.model_kind((SELECT m FROM rh_m)), 'forecast_regression', 'the model kind');
SELECT is((SELECT count(*) FROM rh_m, retailiq.forecast_all(m, 3, array_fill(0::float8, ARRAY[5, 3, 2]))), 15::bigint,
          'forecast_all: every series, every step');
SELECT ok((SELECT bool_and(yhat_lower <= yhat AND yhat <= yhat_upper AND yhat > 0)
           FROM rh_m, retailiq.forecast(m, 's03', 4, array_fill(1::float8, ARRAY[4, 2]))), 'ordered, positive forecasts');
SELECT is((SELECT count(*) FROM rh_m, retailiq.forecast(plain, 's01', 3)), 3::bigint,
          'a model without factors needs no future_exog');
SELECT ok((SELECT (retailiq.model_info(m) -> 'metrics' -> 'shrinkage') IS NOT NULL
                  AND (retailiq.model_info(m) -> 'metrics' -> 'pooled') IS NOT NULL FROM rh_m),
          'model_info shows the pooled coefficients and the shrinkage');

-- ---------------------------------------------------------------- bad rows and options
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(NULL, ts, y, x) FROM rh$$, '22004', 'series must not be NULL', 'NULL series');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, NULL, y, x) FROM rh$$, '22004', 'ts must not be NULL', 'NULL ts');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, 'NaN', x) FROM rh$$, '22023', 'y must not be NaN', 'NaN y');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, 'Infinity', x) FROM rh$$, '22023', 'y must be finite', 'infinite y');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, ARRAY[x[1], 'NaN']) FROM rh$$, '22023', NULL, 'NaN factor');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, ARRAY[x[1], NULL]) FROM rh$$, NULL, NULL, 'NULL inside a factor row');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, CASE WHEN ts = '2024-02-05' THEN x || 1::float8 ELSE x END) FROM rh$$,
                 '2202E', NULL, 'factor rows of different widths');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, array_fill(0::float8, ARRAY[101])) FROM rh$$,
                 '54000', NULL, 'more than 100 factors');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"level": 1.5}') FROM rh$$, '22023', 'options.level is out of range', 'level above 1');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"horizon": 0}') FROM rh$$, '22023', 'options.horizon is out of range', 'horizon 0');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"validation": -1}') FROM rh$$, '22023', NULL, 'negative validation');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"transform": "sqrt"}') FROM rh$$, '22023', NULL, 'unknown transform');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"transform": "log", "allow_negative": true}') FROM rh$$,
                 '22023', 'options.transform "log" needs sales of 0 or more', 'log scale with negative sales allowed');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"harmonics": 1.5}') FROM rh$$, '22023', NULL, 'fractional harmonics');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"halflife": "long"}') FROM rh$$, '22023', NULL, 'halflife not a number');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"robust": 1}') FROM rh$$, '22023', NULL, 'robust not a boolean');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"window": 4}') FROM rh$$, '22023', NULL, 'an option of another method');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"origins": 0}') FROM rh$$, '22023', 'options.origins is out of range', 'origins 0');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"origins": 11}') FROM rh$$, '22023', 'options.origins is out of range', 'origins above 10');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"origins": 2.5}') FROM rh$$, '22023', NULL, 'fractional origins');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"origins": "many"}') FROM rh$$, '22023', NULL, 'origins not a number');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"origins": 1e300}') FROM rh$$, '22023', NULL, 'origins huge');
SELECT ok((SELECT retailiq.forecast_regression_fit(series, ts, y, x) FROM rh WHERE false) IS NULL, 'no rows, no model');

-- ---------------------------------------------------------------- bad arguments to predict
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's01', 3)$$, '22004', 'future_exog must be given: the model was trained with 2 factors', 'future_exog missing');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's01', 3, array_fill(0::float8, ARRAY[3, 1]))$$, '2202E',
                 'future_exog must be a 3 x 2 array (horizon x factors)', 'future_exog too narrow');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's01', 3, array_fill(0::float8, ARRAY[6]))$$, '2202E', NULL, 'future_exog flat');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast_all(m, 3, array_fill(0::float8, ARRAY[4, 3, 2]))$$, '2202E',
                 'future_exog must be a 5 x 3 x 2 array (series x horizon x factors)', 'forecast_all: a series short');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's01', 1, ARRAY[[1, NULL]]::float8[])$$, '22004', NULL, 'NULL future factor');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's01', 1, ARRAY[[1, 'Infinity']]::float8[])$$, '22023', NULL, 'infinite future factor');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(plain, 's01', 1, ARRAY[[1]]::float8[])$$, '22023',
                 'future_exog must be NULL: the model was trained without factors', 'factors for a model without');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's01', 0, NULL)$$, '22023', NULL, 'horizon 0');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, NULL, 1, NULL)$$, '22004', NULL, 'NULL series');
SELECT throws_ok($$SELECT * FROM rh_m, retailiq.forecast(m, 's99', 1, ARRAY[[1, 1]]::float8[])$$, '22023', 'series "s99" is not in the model', 'unknown series');

-- ---------------------------------------------------------------- crafted models
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,coef,1,1}', '"NaN"')) FROM rh_m$$, 'XX001', NULL, 'a NaN coefficient');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,phi,1}', '1.5')) FROM rh_m$$, 'XX001', NULL, 'phi above its bound');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(pg_temp.mut(m, '{params,errors}', '"none"'), '{data,phi,0}', '0.5')) FROM rh_m$$,
                 'XX001', NULL, 'a phi where the errors are independent');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,sigma2,0}', '-1.0')) FROM rh_m$$, 'XX001', NULL, 'a negative variance');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,resid,2}', '"Infinity"')) FROM rh_m$$, 'XX001', NULL, 'an infinite residual');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,calibration}', '0.0')) FROM rh_m$$, 'XX001', NULL, 'calibration 0');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,level}', '1.5')) FROM rh_m$$, 'XX001', NULL, 'level above 1');
-- the factors' lags (the previous period's factors) and the point forecast's choice
CREATE TEMP TABLE rh_lag AS
SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"horizon": 4, "lags": "previous", "transform": "log", "point": "median"}') AS m FROM rh;
SELECT is((SELECT count(*) FROM rh_lag, pg_temp.fc(m) f WHERE f > 0), 2::bigint, 'a model with lags forecasts');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,lags}', '2')) FROM rh_lag$$, 'XX001', NULL, 'lags 2');
SELECT throws_ok($$SELECT pg_temp.fc((m::text::jsonb #- '{data,last_exog}')::text::retailiq.model) FROM rh_lag$$, 'XX001', NULL, 'lags without the last factors');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,last_exog,1,0}', '"NaN"')) FROM rh_lag$$, 'XX001', NULL, 'a NaN last factor');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,last_exog}', '[[1], [1], [1], [1], [1]]')) FROM rh_lag$$, 'XX001', NULL, 'last factors of the wrong width');
SELECT throws_ok($$SELECT retailiq.forecast(pg_temp.mut(plain, '{params,lags}', '1'), 's01', 2) FROM rh_m$$, 'XX001', NULL, 'lags in a model without factors');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,point}', '"mode"')) FROM rh_lag$$, 'XX001', NULL, 'an unknown point forecast');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"lags": "two"}') FROM rh$$, '22023', NULL, 'options.lags unknown');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"point": 1}') FROM rh$$, '22023', NULL, 'options.point not text');
-- the products of the factors (params.pairs): a model with them forecasts from its factors'
-- products, a model written before them (no params.pairs) reads as without, and a pairs flag
-- the coefficients do not match, of another value, or with fewer than two factors is corrupt
CREATE TEMP TABLE rh_pair AS
SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"horizon": 4, "interactions": "pairs", "lags": "previous"}') AS m,
       retailiq.forecast_regression_fit(series, ts, y, x, '{"horizon": 4, "interactions": "none"}') AS without,
       retailiq.forecast_regression_fit(series, ts, y, x[1:1], '{"horizon": 4}') AS one
FROM rh;
SELECT is((SELECT count(*) FROM rh_pair, pg_temp.fc(m) f WHERE f > 0), 2::bigint, 'a model with the products forecasts');
SELECT is((SELECT retailiq.model_info(m) #>> '{params,pairs}' FROM rh_pair), '1', 'params.pairs 1 when asked for');
SELECT is((SELECT array_agg(f) FROM rh_pair, pg_temp.fc((without::text::jsonb #- '{params,pairs}' #- '{types,params,pairs}')::text::retailiq.model) f),
          (SELECT array_agg(f) FROM rh_pair, pg_temp.fc(without) f), 'a model without params.pairs forecasts as without the products');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,pairs}', '2')) FROM rh_pair$$, 'XX001', NULL, 'pairs 2');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,pairs}', '0')) FROM rh_pair$$, 'XX001', NULL, 'pairs 0 with the products'' coefficients');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(without, '{params,pairs}', '1')) FROM rh_pair$$, 'XX001', NULL, 'pairs 1 without the products'' coefficients');
SELECT throws_ok($$SELECT retailiq.forecast(pg_temp.mut(one, '{params,pairs}', '1'), 's01', 2, ARRAY[[1], [0]]::float8[]) FROM rh_pair$$,
                 'XX001', NULL, 'pairs in a model of one factor');
SELECT throws_ok($$SELECT retailiq.forecast(pg_temp.mut(plain, '{params,pairs}', '1'), 's01', 2) FROM rh_m$$, 'XX001', NULL, 'pairs in a model without factors');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"interactions": true}') FROM rh$$, '22023', NULL, 'options.interactions not text');
SELECT is((SELECT count(*)
             FROM (SELECT retailiq.forecast_regression_fit(series, ts, y,
                          x || ARRAY[x[1] * 2 + 1, (ts - date '2024-01-01') % 3, (ts - date '2024-01-01') % 5,
                                     (ts - date '2024-01-01') % 2, 1 - x[1]]::float8[],
                          '{"horizon": 4, "lags": "none"}') AS m FROM rh) q,
                  jsonb_array_elements_text(retailiq.model_info(q.m) #> '{metrics,candidates}') c
             WHERE c LIKE '%+pairs%'), 0::bigint, 'validation offers no products of 7 factors unasked');
SELECT ok((SELECT count(*) FROM rh_m, jsonb_array_elements_text(retailiq.model_info(m) #> '{metrics,candidates}') c
            WHERE c LIKE '%+pairs%') >= 1, 'validation offers the products of 2 factors');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x[1:1], '{"interactions": "pairs"}') FROM rh$$, '22023',
                 'options.interactions "pairs" needs 2 to 13 factors, not 1', 'products of one factor');
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, array_fill(1::float8, ARRAY[14]), '{"interactions": "pairs"}') FROM rh$$, '22023',
                 'options.interactions "pairs" needs 2 to 13 factors, not 14', 'products of 14 factors');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,transform}', '"sqrt"')) FROM rh_m$$, 'XX001', NULL, 'unknown transform');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,freq}', '"hour"')) FROM rh_m$$, 'XX001', NULL, 'unknown frequency');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,harmonics}', '40')) FROM rh_m$$, 'XX001', NULL, 'too many Fourier pairs');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,period}', '12.0')) FROM rh_m$$, 'XX001', NULL, 'a period that is not the season''s');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{params,n_exog}', '3')) FROM rh_m$$, 'XX001', NULL, 'factor count against the coefficients');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,series}', '["s02", "s01", "s03", "s04", "s05"]')) FROM rh_m$$, 'XX001', NULL, 'unsorted series');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(m, '{data,last_date,0}', '9000000000')) FROM rh_m$$, 'XX001', NULL, 'a last date out of range');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(pg_temp.mut(m, '{params,nonnegative}', 'false'), '{params,transform}', '"log"')) FROM rh_m$$, 'XX001', NULL, 'a log-scale model that may forecast negative sales');
SELECT throws_ok($$SELECT pg_temp.fc(((m::text::jsonb) #- '{data,phi}')::text::retailiq.model) FROM rh_m$$, 'XX001', NULL, 'a missing field');
SELECT throws_ok($$SELECT pg_temp.fc(pg_temp.mut(pg_temp.mut(m, '{params,transform}', '"log"'), '{data,coef,1,0}', '1000.0')) FROM rh_m$$,
                 '22003', 'forecast is out of range', 'a level beyond exp''s range: an error, not Infinity');

-- ---------------------------------------------------------------- limits
CREATE TEMP TABLE rh_big AS
SELECT 'b' || s AS series, date '2020-01-02' + 7 * w AS ts, (100 + s % 17 + (w * s) % 11)::float8 AS y,
       ARRAY[((w + s) % 5 = 0)::int::float8, (w % 7)::float8, ((w * s) % 3)::float8] AS x
FROM generate_series(1, 400) s, generate_series(0, 155) w;
CREATE FUNCTION pg_temp.fit_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retailiq.forecast_regression_fit(series, ts, y, x) FROM rh_big;
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SET LOCAL statement_timeout = '500ms';
SELECT is(pg_temp.fit_until_cancelled(), '57014 canceling statement due to statement timeout',
          'the fit stops on statement_timeout');
SET LOCAL statement_timeout = 0;
SET LOCAL retailiq.max_memory = '1MB';
SELECT throws_ok($$SELECT retailiq.forecast_regression_fit(series, ts, y, x) FROM rh_big$$, '53200', NULL,
                 'the fit stops at retailiq.max_memory');
RESET retailiq.max_memory;

-- ---------------------------------------------------------------- an ordinary role
CREATE ROLE regression_hostile_user;
GRANT SELECT ON rh TO regression_hostile_user;
SET LOCAL ROLE regression_hostile_user;
SELECT is((SELECT count(*) FROM (SELECT retailiq.forecast_regression_fit(series, ts, y, x, '{"horizon": 4}') AS m FROM rh) q,
                  retailiq.forecast(m, 's01', 2, ARRAY[[1, 1], [0, 1]]::float8[])), 2::bigint,
          'an ordinary role fits and forecasts');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
