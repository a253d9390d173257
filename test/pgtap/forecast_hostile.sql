-- Hostile input to the forecast part's C functions (issue 16, section 1): crafted aggregate
-- states, crafted model values (valid checksum, absurd fields) and absurd arguments must end
-- in a clean ERROR with its SQLSTATE, never a crash, a read out of bounds, a huge allocation
-- or a NaN answer. Ordinary use keeps working, also for an ordinary role.
BEGIN;
SELECT plan(88);
SET extra_float_digits = 0;

-- ---------------------------------------------------------------- accuracy states
-- a superuser's own aggregates over the support functions, with chosen states
CREATE AGGREGATE public.evil_wape(float8, float8) (SFUNC = retailiq_internal.wape_accum, STYPE = float8[],
    INITCOND = '{NaN,0,0}', FINALFUNC = retailiq_internal.accuracy_wape_final);
CREATE AGGREGATE public.evil_wape_neg(float8, float8) (SFUNC = retailiq_internal.wape_accum, STYPE = float8[],
    INITCOND = '{-3,0,0}', FINALFUNC = retailiq_internal.accuracy_wape_final);
CREATE AGGREGATE public.evil_wape_short(float8, float8) (SFUNC = retailiq_internal.wape_accum, STYPE = float8[],
    INITCOND = '{0,0}', FINALFUNC = retailiq_internal.accuracy_wape_final);
CREATE AGGREGATE public.evil_wape_2d(float8, float8) (SFUNC = retailiq_internal.wape_accum, STYPE = float8[],
    INITCOND = '{{0,0,0}}', FINALFUNC = retailiq_internal.accuracy_wape_final);
CREATE AGGREGATE public.evil_wape_null(float8, float8) (SFUNC = retailiq_internal.wape_accum, STYPE = float8[],
    INITCOND = '{0,NULL,0}', FINALFUNC = retailiq_internal.accuracy_wape_final);
CREATE AGGREGATE public.evil_cov(float8, float8, float8) (SFUNC = retailiq_internal.coverage_accum, STYPE = float8[],
    INITCOND = '{1,1e6}', FINALFUNC = retailiq_internal.accuracy_mean_final);
CREATE AGGREGATE public.evil_smape(float8, float8) (SFUNC = retailiq_internal.smape_accum, STYPE = float8[],
    INITCOND = '{0.5,0}', FINALFUNC = retailiq_internal.accuracy_mean_final);
CREATE AGGREGATE public.evil_rmse(float8, float8) (SFUNC = retailiq_internal.rmse_accum, STYPE = float8[],
    INITCOND = '{1,-100}', FINALFUNC = retailiq_internal.accuracy_root_mean_final);

SELECT throws_ok($$SELECT public.evil_wape(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'wape: NaN row count');
SELECT throws_ok($$SELECT public.evil_wape_neg(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'wape: negative row count');
SELECT throws_ok($$SELECT public.evil_wape_short(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'wape: state too short');
SELECT throws_ok($$SELECT public.evil_wape_2d(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'wape: two-dimensional state');
SELECT throws_ok($$SELECT public.evil_wape_null(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'wape: NULL in the state');
SELECT throws_ok($$SELECT public.evil_cov(1, 0, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'coverage: more hits than rows');
SELECT throws_ok($$SELECT public.evil_smape(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'smape: fractional row count');
SELECT throws_ok($$SELECT public.evil_rmse(1, 2)$$, 'XX001', 'accuracy aggregate state is malformed', 'rmse: negative sum of squares');
-- the finals and the combine called directly
SELECT throws_ok($$SELECT retailiq_internal.accuracy_root_mean_final('{2,-8}')$$, 'XX001', NULL, 'root mean final: negative sum (was NaN)');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_wape_final('{2,-1,4}')$$, 'XX001', NULL, 'wape final: negative sum');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_mean_final('{2,1,0.5}')$$, 'XX001', NULL, 'mape final: fractional count of zero actuals');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_mean_final('{Infinity,1}')$$, 'XX001', NULL, 'mean final: infinite row count');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_combine('{1,2}', '{NaN,2}')$$, 'XX001', NULL, 'combine: NaN count in the second state');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_combine('{1,2,3}', '{1,2}')$$, 'XX001', NULL, 'combine: states of different lengths');
SELECT is(retailiq_internal.accuracy_combine('{1,2,3}', '{2,4,Infinity}'), '{3,6,Infinity}'::float8[], 'combine: an overflowed sum is still a state');
SELECT is(retailiq_internal.accuracy_wape_final('{2,1,4}'), 0.25::float8, 'wape final of an honest state');

-- ordinary use, also for a role without EXECUTE on the support functions
CREATE ROLE forecast_hostile_user;
CREATE SCHEMA forecast_hostile_evil AUTHORIZATION forecast_hostile_user;
CREATE TEMP TABLE acc(a float8, f float8, lo float8, hi float8);
INSERT INTO acc VALUES (10, 12, 8, 11), (20, 15, 14, 22), (0, 1, 0, 2), (5, 5, 4, 6);
GRANT SELECT ON acc TO forecast_hostile_user;
SET LOCAL ROLE forecast_hostile_user;
SELECT is((SELECT round(retailiq.wape(a, f)::numeric, 6) FROM acc), 0.228571, 'wape works for an ordinary role');
SELECT is((SELECT retailiq.coverage(a, lo, hi) FROM acc), 1::float8, 'coverage works for an ordinary role');
SELECT is((SELECT round(retailiq.rmse(a, f)::numeric, 6) FROM acc), 2.738613, 'rmse works for an ordinary role');
SELECT throws_ok($$CREATE AGGREGATE forecast_hostile_evil.w(float8, float8) (SFUNC = retailiq_internal.wape_accum,
                     STYPE = float8[], INITCOND = '{0,0,0}')$$, '42501', NULL,
                 'an ordinary role cannot wrap a support function in an aggregate of its own');
SELECT throws_ok($$SELECT retailiq_internal.accuracy_wape_final('{1,1,1}')$$, '42501', NULL,
                 'an ordinary role cannot call a final function directly');
RESET ROLE;

-- ---------------------------------------------------------------- absurd arguments
SELECT throws_ok($$SELECT retailiq.naive_scale('{1,2,3}', 2147483647)$$, '22023', NULL, 'naive_scale: season past the end');
SELECT throws_ok($$SELECT retailiq.naive_scale('{{1,2},{3,4}}', 1)$$, NULL, NULL, 'naive_scale: two-dimensional y');
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 1, 'ANN', '{0,0,0,1}', '{1}', 3)$$, '22023', NULL, '_ets_check: alpha 0 (was a division by zero)');
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 1, 'AAdN', '{0.5,0.1,0,NaN}', '{1,0}', 3)$$, '22023', NULL, '_ets_check: NaN phi');
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 1000000000, 'ANA', '{0.5,0,0.1,1}', '{1}', 3)$$, '22023', NULL, '_ets_check: a season of 10^9');
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 4, 'ANA', '{0.5,0,0.1,1}', '{1,2}', 3)$$, '2202E', NULL, '_ets_check: init of the wrong length');
SET retailiq.max_memory = '100MB';
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 1, 'MNN', '{0.5,0,0,1}', '{2}', 10000)$$, '53200', NULL,
                 '_ets_check: 5000 simulated paths of 10000 steps beyond the memory budget are refused (was XX000)');
RESET retailiq.max_memory;
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 1, 'MNN', '{0.5,0,0,1}', '{2}', 100000)$$, '22023', NULL,
                 '_ets_check: a horizon beyond the one limit of every forecasting function');
SELECT throws_ok($$SELECT retailiq_internal.ets_check('{1,2,3,4}', 1, 'ANN', '{0.5,0,0,1}', '{2}', -5)$$, '22023', NULL, '_ets_check: negative horizon');
SELECT throws_ok($$SELECT retailiq_internal.forecast_lstm_gradient_check(1, 3)$$, '22023', NULL, 'gradient check: 3 layers');
SELECT throws_ok($$SELECT retailiq_internal.forecast_lstm_gradient_check(1, -2147483648)$$, '22023', NULL, 'gradient check: layers INT_MIN');
SELECT cmp_ok(retailiq_internal.forecast_lstm_gradient_check(-2147483648), '<', 1e-4::float8, 'gradient check: any seed is fine');

-- ---------------------------------------------------------------- crafted statistical models
CREATE TEMP TABLE hs AS
SELECT 'shop' || s AS series, d::date AS ts,
       (10 * s + CASE extract(dow FROM d) WHEN 6 THEN 6 ELSE 0 END + (extract(doy FROM d)::int * 7 % 5))::float8 AS y
FROM generate_series(1, 2) s, generate_series('2024-01-01'::date, '2024-03-31', '1 day') d;
CREATE TEMP TABLE hm AS
SELECT meth, retailiq.forecast_fit(series, ts, y, meth)::text AS t
FROM hs, unnest(ARRAY['ets', 'snaive', 'croston', 'auto', 'global_ar']) meth GROUP BY meth;
-- a crafted value: the model's text with one field replaced, read back (valid checksum)
CREATE FUNCTION pg_temp.craft(meth text, path text[], v jsonb) RETURNS retailiq.model LANGUAGE sql AS
$$ SELECT jsonb_set(t::jsonb, path, v)::text::retailiq.model FROM hm WHERE hm.meth = craft.meth $$;
CREATE FUNCTION pg_temp.craft_text(meth text, pattern text, repl text) RETURNS retailiq.model LANGUAGE sql AS
$$ SELECT regexp_replace(t, pattern, repl)::retailiq.model FROM hm WHERE hm.meth = craft_text.meth $$;

SELECT is((SELECT count(*) FROM hm, retailiq.forecast_all(t::retailiq.model, 7)), 70::bigint, 'untouched models forecast');
-- global_ar: each series' path record and its variances record (global_ar.c)
SELECT is((SELECT t::jsonb #> '{data,method}' FROM hm WHERE meth = 'global_ar'), '[11, 11, 11, 11]'::jsonb, 'global_ar model: two records a series');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('global_ar', '{data,method}', '[11, 0, 11, 11]'), 7)$$,
                 'XX001', NULL, 'global_ar model: a path without its variances');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('global_ar', '{data,seasonal,0,3}', '1e6'), 7)$$,
                 'XX001', NULL, 'global_ar model: a log-scale forecast of 10^6 (exp would overflow)');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('global_ar', '{data,seasonal,3,5}', '0'), 7)$$,
                 'XX001', NULL, 'global_ar model: a variance that shrinks with the horizon');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('global_ar', '{data,par,0,0}', '0'), 7)$$,
                 'XX001', NULL, 'global_ar model: no lags');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('global_ar', '{data,spec,1,4}', '12'), 7)$$,
                 'XX001', NULL, 'global_ar model: variances of 12 steps where 64 are kept');
SELECT throws_ok($$SELECT * FROM retailiq.forecast(regexp_replace((SELECT retailiq.forecast_fit(series, ts, y, 'tsb')::text FROM hs WHERE series = 'shop1'),
                 '"par": \[\[[^]]*\]\]', '"par": [[0.1, 0.1, 0, 0, 1, 3, 1.5]]')::retailiq.model, 'shop1', 7)$$,
                 'XX001', NULL, 'tsb model: a sale probability above 1');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('ets', '{data,spec}', '[[1,0,1,0,7],[9,0,1,0,7]]'), 7)$$,
                 'XX001', NULL, 'ets model: an unknown error code');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('ets', '{data,spec}', '[[1,0,1,0,7],[1,0,1,0,30]]'), 7)$$,
                 'XX001', NULL, 'ets model: a season past the seasonal states');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('ets', '{data,spec}', '[[1,0,1,0,7],[1,0,1,0,0]]'), 7)$$,
                 'XX001', NULL, 'ets model: season 0 (was a division by zero)');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft_text('ets', '"par": \[\[[^,]*,', '"par": [[NaN,'), 7)$$,
                 'XX001', NULL, 'ets model: NaN alpha');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft_text('snaive', '"par": \[\[([^,]*), ([^,]*), ([^,]*), ([^,]*), ([^,]*),', '"par": [[\1, \2, \3, \4, -1,'), 7)$$,
                 'XX001', NULL, 'snaive model: negative variance (was NaN intervals)');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft_text('snaive', '"n": \[([0-9]+), ([0-9]+)\]', '"n": [\1, 1000000000000]'), 7)$$,
                 'XX001', NULL, 'snaive model: a length of 10^12 (was truncated to int)');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft_text('snaive', '"n": \[([0-9]+), ([0-9]+)\]', '"n": [\1]'), 7)$$,
                 'XX001', NULL, 'snaive model: fewer lengths than series');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft_text('croston', '"par": \[\[([^]]*)\], \[[^,]*,', '"par": [[\1], [7,'), 7)$$,
                 'XX001', NULL, 'croston model: alpha 7');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft_text('croston', '"method": \[([0-9]+), ([0-9]+)\]', '"method": [\1, 42]'), 7)$$,
                 'XX001', NULL, 'croston model: an unknown method code');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{data,series}', '["shop2", "shop1"]'), 7)$$,
                 'XX001', NULL, 'auto model: series keys out of order');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_model_series(pg_temp.craft('auto', '{data,seasonal}', '[[1,2,3]]'))$$,
                 'XX001', NULL, 'auto model: seasonal rows disagree with the series');
SELECT throws_ok($$SELECT * FROM retailiq.forecast(pg_temp.craft('ets', '{params,level}', '1.5'), 'shop1', 7)$$,
                 'XX001', NULL, 'ets model: interval level 1.5');
-- the validation evidence of a combination (auto's choice here): shown by model_info, checked on read
SELECT is((SELECT retailiq.model_info(t::retailiq.model) #> '{metrics,validation_candidates}' FROM hm WHERE meth = 'auto'),
          '["ets", "snaive", "theta", "damped_ets", "global_ar", "combo"]'::jsonb, 'auto model: the candidates of its validation evidence');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{metrics,validation_wape}', '[[0.1, 0.1, 0.1, 0.1, "NaN", -0.1], [0.1, 0.1, 0.1, 0.1, "NaN", 0.1]]'), 7)$$,
                 'XX001', NULL, 'auto model: a negative validation WAPE');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_model_series(pg_temp.craft('auto', '{metrics,validation_wape}', '[[0.1, 0.1, 0.1, 0.1, "NaN", 0.1]]'))$$,
                 'XX001', NULL, 'auto model: validation WAPEs of one series for two');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{metrics,validation_candidates}', '["ets", "theta"]'), 7)$$,
                 'XX001', NULL, 'auto model: two candidate names for six validation WAPEs');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{metrics,validation_wape_pooled}', '[0.1, 0.1, "Infinity", 0.1, "NaN", 0.1]'), 7)$$,
                 'XX001', NULL, 'auto model: an infinite pooled validation WAPE');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all((SELECT (t::jsonb #- '{metrics,validation_candidates}' #- '{types,metrics,validation_candidates}')::text::retailiq.model FROM hm WHERE meth = 'auto'), 7)$$,
                 'XX001', NULL, 'auto model: validation WAPEs without their candidates');
-- the panel's choice of member set: a set among the sets, pooled WAPEs of the sets' shape
SELECT is((SELECT retailiq.model_info(t::retailiq.model) #>> '{metrics,validation_member_set}' FROM hm WHERE meth = 'auto')
          = ANY (SELECT jsonb_array_elements_text(retailiq.model_info(t::retailiq.model) #> '{metrics,validation_member_sets}') FROM hm WHERE meth = 'auto'),
          true, 'auto model: the member set chosen is one of its sets');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{metrics,validation_member_set}', '"ets+naive"'), 7)$$,
                 'XX001', NULL, 'auto model: a chosen member set that is not among the sets');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_model_series(pg_temp.craft('auto', '{metrics,validation_member_sets_wape_pooled}', '[0.1, -0.2, 0.1, 0.1, 0.1]'))$$,
                 'XX001', NULL, 'auto model: a negative pooled WAPE of a member set');
-- the calibration's evidence (the held-out coverage before and after it): shares, checked on read
SELECT ok((SELECT (retailiq.model_info(t::retailiq.model) #>> '{metrics,validation_coverage_calibrated}')::float8 BETWEEN 0 AND 1 FROM hm WHERE meth = 'auto'),
          'auto model: its calibrated held-out coverage is a share');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{metrics,validation_coverage}', '1.5'), 7)$$,
                 'XX001', NULL, 'auto model: a held-out coverage above 1');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_all(pg_temp.craft('auto', '{metrics,validation_coverage_calibrated}', '"NaN"'), 7)$$,
                 'XX001', NULL, 'auto model: a NaN calibrated coverage');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_model_series(pg_temp.craft('auto', '{metrics,validation_coverage_calibrated}', '-0.25'))$$,
                 'XX001', NULL, 'auto model: a negative calibrated coverage');

-- ---------------------------------------------------------------- crafted LSTM models
CREATE TEMP TABLE hl AS
SELECT retailiq.forecast_lstm_fit(series, ts, y, NULL,
         '{"horizon": 7, "window": 14, "hidden": 4, "ensemble": 1, "epochs": 1, "validation": 7}')::text AS t
FROM hs;
CREATE FUNCTION pg_temp.lcraft(path text[], v jsonb) RETURNS retailiq.model LANGUAGE sql AS
$$ SELECT jsonb_set(t::jsonb, path, v)::text::retailiq.model FROM hl $$;
SELECT is((SELECT count(*) FROM hl, retailiq.forecast_lstm_all(t::retailiq.model, 10)), 20::bigint, 'the untouched LSTM model forecasts');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{params,window}', '1000000000'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: window 10^9');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{params,window}', '15'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: a window that disagrees with the weights and tails');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{params,hidden}', '-4'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: negative hidden size');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{params,ensemble}', '2'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: an ensemble larger than its weights');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{params,n_exog}', '3'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: factors without their tails');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{params,q_lo}', '0.7'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: lower quantile above the median');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{data,last_date}', '[8856]'), 'shop2', 7)$$,
                 'XX001', NULL, 'lstm model: a series index past the end of the dates');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{data,last_date}', '[8856, 2000000000]'), 'shop2', 7)$$,
                 'XX001', NULL, 'lstm model: a last date out of range');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{data,ls_sd}', '-1.0'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: a negative scale');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm(pg_temp.lcraft('{data,base_state,0,1}', '7.0'), 'shop1', 7)$$,
                 'XX001', NULL, 'lstm model: an unknown ETS base season');
SELECT throws_ok($$SELECT * FROM retailiq.forecast_lstm_all(regexp_replace((SELECT t FROM hl), '"weights": \[\[[^,]*,', '"weights": [[NaN,')::retailiq.model, 7)$$,
                 'XX001', NULL, 'lstm model: a NaN weight');

-- ---------------------------------------------------------------- collector partial states
-- forecast_collect_deserialize reached with bytes of our choosing, inside an aggregate (its
-- only context): the bytes are the state of a bytea aggregate, decoded by the final function.
CREATE FUNCTION public.hostile_deser(bytea) RETURNS boolean
    AS '$libdir/retailiq', 'forecast_collect_deserialize' LANGUAGE C STRICT;
CREATE FUNCTION public.hostile_keep(bytea, bytea) RETURNS bytea LANGUAGE sql AS 'SELECT $2';
CREATE AGGREGATE public.hostile_state(bytea) (SFUNC = public.hostile_keep, STYPE = bytea,
    FINALFUNC = public.hostile_deser);
-- the row store's header: width (int32), pad (int32), nrows, extra_len (int64); then the
-- collector's parameter area: version 2, n_exog, nkeys, optlen (int32), keybytes (int64) and
-- the keys; then the rows as float8 (series id, date, value), little-endian throughout
CREATE FUNCTION pg_temp.state(width text, nrows text, n_exog text, nkeys text, keys text, rows text) RETURNS bytea
LANGUAGE sql AS $$
    SELECT decode(width || '00000000' || nrows
                  || lpad(to_hex(24 + length(keys) / 2), 2, '0') || '00000000000000'
                  || '02000000' || n_exog || nkeys || 'ffffffff'
                  || lpad(to_hex(length(keys) / 2), 2, '0') || '00000000000000' || keys || rows, 'hex') $$;
-- one series "a", one row: id 0, 2024-01-01 (day 8766), 5.0
SELECT ok((SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '01000000', '6100',
                                                     '0000000000000000' || '00000000001fc140' || '0000000000001440'))),
          'a well-formed partial state decodes');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0000000000010000', '00000000', '01000000', '6100',
                     '0000000000000000' || '00000000001fc140' || '0000000000001440'))$$, 'XX001', NULL, 'state: 2^40 rows claimed');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', 'ffffff7f', '01000000', '6100',
                     '0000000000000000' || '00000000001fc140' || '0000000000001440'))$$, 'XX001', NULL, 'state: 2^31 factors claimed');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('ffffff7f', '0100000000000000', '00000000', '01000000', '6100',
                     '0000000000000000' || '00000000001fc140' || '0000000000001440'))$$, 'XX001', NULL, 'state: rows of 2^31 values claimed');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '01000000', '6100',
                     '0000000000001440' || '00000000001fc140' || '0000000000001440'))$$, 'XX001', NULL, 'state: a series id past the keys');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '01000000', '6100',
                     '000000000000e03f' || '00000000001fc140' || '0000000000001440'))$$, 'XX001', NULL, 'state: a series id that is not a whole number');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '02000000', '61006200',
                     '0000000000000000' || '00000000001fc140' || '0000000000001440'))$$, 'XX001', NULL, 'state: a series key without a row');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '01000000', '6100',
                     '0000000000000000' || '0000c0ffffffdf41' || '0000000000001440'))$$, 'XX001', NULL, 'state: an infinite date');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '01000000', '6100',
                     '0000000000000000' || '00000000001fc140' || '000000000000f87f'))$$, 'XX001', NULL, 'state: a NaN value');
SELECT throws_ok($$SELECT public.hostile_state(pg_temp.state('03000000', '0100000000000000', '00000000', '01000000', '6100',
                     '0000000000000000' || '00000000001fc140'))$$, 'XX001', NULL, 'state: truncated');

SELECT * FROM finish();
ROLLBACK;
