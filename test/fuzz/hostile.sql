-- hostile.sql: a fuzzer for every C function of retailiq that SQL can reach, run inside the
-- server (test/fuzz/run_hostile.sh drives it for minutes under AddressSanitizer;
-- test/pgtap/core_hostile_inputs.sql runs a fixed, seeded slice of it in `make test`).
--
-- Three kinds of case, each run in its own subtransaction, its outcome (SQLSTATE or 'ok')
-- counted in fuzz.outcome:
--   call   a C function or aggregate of schema retailiq, every argument drawn from a pool of
--          valid and absurd values of its type (NULL, NaN, infinity, INT_MAX, empty and
--          two-dimensional arrays, valid models of every kind, structurally mutated models);
--   state  an aggregate whose state is a user-constructible type (bytea, float8[]) rebuilt
--          by the fuzzer with a mutated INITCOND, and its combine and final functions
--          called directly with mutated states;
--   model  a valid model of each kind, one field of its JSON form changed (a count, a
--          dimension, an array shortened or lengthened, a number made NaN or huge), given
--          to every function that reads that kind.
-- A crash ends the batch's connection (the driver notices); an ERROR with SQLSTATE XX000
-- (an elog, "cannot happen") is recorded as a finding. Needs a superuser: it creates the
-- wrapper aggregates that an ordinary role may not.

DROP SCHEMA IF EXISTS fuzz CASCADE;
CREATE SCHEMA fuzz;

CREATE TABLE fuzz.outcome (kind text, target text, sqlstate text, n bigint DEFAULT 1,
                           example text, PRIMARY KEY (kind, target, sqlstate));

-- Valid models of every kind, trained on tiny data.
CREATE TABLE fuzz.model (kind text PRIMARY KEY, m retailiq.model);
INSERT INTO fuzz.model
SELECT 'kmeans', retailiq.kmeans_segment(ARRAY[x, x * x % 7]::float8[], 3) FROM generate_series(1, 30) x;
INSERT INTO fuzz.model
SELECT 'logit', retailiq.logit_fit(ARRAY[x, x % 3]::float8[], x % 2 = 0 OR x % 5 = 0, 1.0) FROM generate_series(1, 40) x;
INSERT INTO fuzz.model
SELECT 'logit_start', retailiq.logit_start(ARRAY[x, x % 3]::float8[], x % 2 = 0) FROM generate_series(1, 40) x;
INSERT INTO fuzz.model
SELECT 'bgnbd', retailiq.bgnbd_fit(f, r, t)
FROM (SELECT (x * 7) % 6 AS f, CASE WHEN (x * 7) % 6 = 0 THEN 0 ELSE (x * 3) % 30 END::float8 AS r,
             40::float8 AS t FROM generate_series(1, 60) x) s;
INSERT INTO fuzz.model
SELECT 'gammagamma', retailiq.gammagamma_fit(f, m)
FROM (SELECT 1 + x % 5 AS f, 10 + (x * 13) % 50 AS m FROM generate_series(1, 60) x) s;
INSERT INTO fuzz.model
SELECT 'rules', retailiq.rules_model(retailiq.assoc_rules(b, 0.1, 0.3))
FROM (VALUES (ARRAY['milk', 'bread']), (ARRAY['milk', 'bread', 'eggs']), (ARRAY['bread', 'eggs']),
             (ARRAY['milk', 'eggs']), (ARRAY['milk', 'bread'])) v(b);
INSERT INTO fuzz.model
SELECT 'rules_bigint', retailiq.rules_model(retailiq.assoc_rules(b, 0.1, 0.3))
FROM (VALUES (ARRAY[1, 2]::bigint[]), (ARRAY[1, 2, 3]::bigint[]), (ARRAY[2, 3]::bigint[]), (ARRAY[1, 3]::bigint[])) v(b);
CREATE TABLE fuzz.series AS
SELECT s AS series, date '2025-01-01' + d AS ts,
       (10 + 3 * sin(d / 7.0 * 2 * pi()) + (d * 37 % 11) / 5.0 + s::int)::float8 AS y,
       ARRAY[(d % 9 = 0)::int, (d % 13 = 0)::int]::float8[] AS exog
FROM generate_series(1, 2) s0, LATERAL (SELECT s0::text AS s) q, generate_series(0, 69) d;
INSERT INTO fuzz.model SELECT 'ets', retailiq.forecast_fit(series, ts, y, 'ets') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'croston', retailiq.forecast_fit(series, ts, CASE WHEN y > 13 THEN y ELSE 0 END, 'croston') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'snaive', retailiq.forecast_fit(series, ts, y, 'snaive') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'auto', retailiq.forecast_fit(series, ts, y, 'auto') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'theta', retailiq.forecast_fit(series, ts, y, 'theta') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'combo', retailiq.forecast_fit(series, ts, y, 'combo') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'imapa', retailiq.forecast_fit(series, ts, CASE WHEN y > 13 THEN y ELSE 0 END, 'imapa') FROM fuzz.series;
INSERT INTO fuzz.model SELECT 'global_ar', retailiq.forecast_fit(series, ts, y, 'global_ar') FROM fuzz.series;
-- a combination whose panel chose the global member (30 monthly series sharing a season)
INSERT INTO fuzz.model
SELECT 'combo_global', retailiq.forecast_fit(series, ts, y, 'combo', '{"horizon": 12}')
FROM (SELECT 'c' || k AS series, (date '2015-01-01' + make_interval(months => i))::date AS ts,
             round(100 * exp(0.3 * sin(2 * pi() * i / 12) + 0.002 * i * (k % 5) + 0.05 * sin(i * k * 1.7)))::float8 AS y
        FROM generate_series(1, 30) k, generate_series(0, 59 + k) i) c;
INSERT INTO fuzz.model SELECT 'regression', retailiq.forecast_regression_fit(series, ts, y, exog, '{"horizon": 7}') FROM fuzz.series;
INSERT INTO fuzz.model
SELECT 'recommender', retailiq.recommender_fit(1 + x % 7, 100 + (x * 5) % 9, 1 + x % 3, timestamptz '2025-01-01' + (x % 4) * interval '1 day')
FROM generate_series(1, 60) x;
INSERT INTO fuzz.model
SELECT 'lstm', retailiq.forecast_lstm_fit(series, ts, y, exog, '{"epochs": 2, "hidden": 4, "window": 14, "horizon": 7}')
FROM fuzz.series;

-- Valid aggregate states of the user-constructible state types, taken from the real
-- transition functions through wrappers without a final function.
CREATE AGGREGATE fuzz.kmeans_pass_state(float8[], retailiq.model)
    (SFUNC = retailiq_internal.kmeans_pass_accum, STYPE = bytea);
CREATE AGGREGATE fuzz.logit_step_state(float8[], bool, retailiq.model)
    (SFUNC = retailiq_internal.logit_step_accum, STYPE = bytea);
CREATE AGGREGATE fuzz.logit_start_state(float8[], bool)
    (SFUNC = retailiq_internal.logit_start_accum, STYPE = float8[]);
CREATE TABLE fuzz.state (agg regprocedure PRIMARY KEY, state text, rows_sql text);
INSERT INTO fuzz.state
SELECT 'retailiq.kmeans_pass(float8[], retailiq.model)',
       fuzz.kmeans_pass_state(ARRAY[x, x * x % 7]::float8[], (SELECT m FROM fuzz.model WHERE kind = 'kmeans'))::text,
       $$SELECT ARRAY[x, x * x % 7]::float8[], (SELECT m FROM fuzz.model WHERE kind = 'kmeans') FROM generate_series(1, %s) x$$
FROM generate_series(1, 30) x;
INSERT INTO fuzz.state
SELECT 'retailiq.logit_step(float8[], bool, retailiq.model)',
       fuzz.logit_step_state(ARRAY[x, x % 3]::float8[], x % 2 = 0, (SELECT m FROM fuzz.model WHERE kind = 'logit_start'))::text,
       $$SELECT ARRAY[x, x % 3]::float8[], x % 2 = 0, (SELECT m FROM fuzz.model WHERE kind = 'logit_start') FROM generate_series(1, %s) x$$
FROM generate_series(1, 40) x;
INSERT INTO fuzz.state
SELECT 'retailiq.logit_start(float8[], bool)',
       fuzz.logit_start_state(ARRAY[x, x % 3]::float8[], x % 2 = 0)::text,
       $$SELECT ARRAY[x, x % 3]::float8[], x % 2 = 0 FROM generate_series(1, %s) x$$
FROM generate_series(1, 40) x;
-- the accuracy aggregates: float8[] states; valid states are small sums
INSERT INTO fuzz.state
SELECT a.oid::regprocedure, '{3,12.5,40}',
       CASE WHEN a.pronargs = 2 THEN $$SELECT x::float8, x + 0.5 FROM generate_series(1, %s) x$$
            ELSE $$SELECT x::float8, x + 0.5, 2.0::float8 FROM generate_series(1, %s) x$$ END
FROM pg_proc a JOIN pg_aggregate g ON g.aggfnoid = a.oid
WHERE a.pronamespace = 'retailiq'::regnamespace AND g.aggtranstype = 'float8[]'::regtype
  AND a.proname <> 'logit_start';

-- ---------------------------------------------------------------------------------------
-- Mutators. r is the case's random state; every choice is drawn from it, so a case
-- is reproduced by its (seed, number).
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION fuzz.pick(VARIADIC v text[]) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT v[1 + floor(random() * array_length(v, 1))::int] $$;

CREATE FUNCTION fuzz.le_bytes(v bigint, n int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(set_byte('\x00'::bytea, 0, ((v >> (8 * i)) & 255)::int), ''::bytea ORDER BY i)
    FROM generate_series(0, n - 1) i $$;

CREATE FUNCTION fuzz.mutate_bytea(b bytea) RETURNS bytea LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    len int := length(b);
    pos int;
    op int := floor(random() * 8)::int;
    word bigint;
BEGIN
    IF len = 0 THEN RETURN '\x00'::bytea; END IF;
    pos := floor(random() * len)::int;
    IF op = 0 THEN            -- one random byte
        RETURN set_byte(b, pos, floor(random() * 256)::int);
    ELSIF op IN (1, 2) THEN   -- an aligned 4-byte field set to an interesting integer
        pos := (pos / 4) * 4;
        word := fuzz.pick('0', '1', '-1', '2', '255', '65536', '2147483647', '-2147483648',
                          '100000000', '1001', '1002', '16', '3')::bigint;
        RETURN overlay(b placing substr(fuzz.le_bytes(word, 4), 1, least(4, len - pos)) from pos + 1);
    ELSIF op = 3 THEN         -- an aligned 8-byte field set to an interesting double's bits
        pos := (pos / 8) * 8;
        RETURN overlay(b placing substr(float8send(fuzz.pick('NaN', 'Infinity', '-Infinity', '0', '-1',
                          '1e308', '2', '3', '1001', '4.9e-324', '-2147483649')::float8), 1, least(8, len - pos))
                       from pos + 1);
    ELSIF op = 4 THEN         -- truncated
        RETURN substr(b, 1, pos);
    ELSIF op = 5 THEN         -- lengthened
        RETURN b || substr(b, 1 + pos, 1 + floor(random() * 64)::int);
    ELSIF op = 6 THEN         -- an aligned 8-byte field set to an interesting int64
        pos := (pos / 8) * 8;
        word := fuzz.pick('0', '-1', '1', '9223372036854775807', '-9223372036854775808', '4294967296')::bigint;
        RETURN overlay(b placing substr(fuzz.le_bytes(word, 8), 1, least(8, len - pos)) from pos + 1);
    ELSE                      -- a run of bytes cleared
        RETURN overlay(b placing decode(repeat('00', least(len - pos, 1 + floor(random() * 16)::int)), 'hex')
                       from pos + 1);
    END IF;
END $$;

CREATE FUNCTION fuzz.mutate_float8_array(a float8[]) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := coalesce(array_length(a, 1), 0);
    op int := floor(random() * 7)::int;
    i int := 1 + floor(random() * greatest(n, 1))::int;
    v text := fuzz.pick('NaN', 'Infinity', '-Infinity', '0', '-1', '1e308', '-1e308', '2147483648',
                        '1001', '3', '0.5', '1e9', '-0');
BEGIN
    IF op = 0 AND n > 0 THEN a[i] := v::float8; RETURN a::text;
    ELSIF op = 1 THEN RETURN a[1:greatest(n - 1 - floor(random() * 3)::int, 0)]::text;
    ELSIF op = 2 THEN RETURN (a || array_fill(v::float8, ARRAY[1 + floor(random() * 5)::int]))::text;
    ELSIF op = 3 THEN RETURN '{{' || array_to_string(a, ',') || '},{' || array_to_string(a, ',') || '}}';
    ELSIF op = 4 THEN RETURN regexp_replace(a::text, '[^,{}]+', 'NULL');
    ELSIF op = 5 THEN RETURN '[5:' || (4 + n) || ']=' || a::text;
    ELSE a[1] := v::float8; RETURN a::text;
    END IF;
END $$;

-- One field of a model's JSON form changed; the text parser recomputes the checksum, so
-- the result reaches the kind's reader as any role could forge it.
CREATE FUNCTION fuzz.mutate_model(m retailiq.model) RETURNS retailiq.model LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    j jsonb := m::text::jsonb;
    p text[];
    cur jsonb;
    repl text;
BEGIN
    SELECT ARRAY[sec, key] INTO p
    FROM (SELECT s AS sec, jsonb_object_keys(j -> s) AS key FROM unnest(ARRAY['params', 'metrics', 'data']) s
          WHERE jsonb_typeof(j -> s) = 'object') q
    ORDER BY random() LIMIT 1;
    IF p IS NULL THEN RETURN m; END IF;
    cur := j #> p;
    IF random() < 0.15 THEN
        RETURN (j #- p)::text::retailiq.model;                       -- a field removed
    END IF;
    IF jsonb_typeof(cur) = 'array' AND jsonb_array_length(cur) > 0 AND random() < 0.6 THEN
        CASE floor(random() * 5)::int
            WHEN 0 THEN cur := cur - (jsonb_array_length(cur) - 1);   -- one element fewer
            WHEN 1 THEN cur := cur || jsonb_build_array(cur -> 0);     -- one element more
            WHEN 2 THEN cur := jsonb_set(cur, ARRAY[floor(random() * jsonb_array_length(cur))::text],
                                         fuzz.pick('0', '-1', '1e308', '2147483648', '-5', '[]', '"x"', '[1]')::jsonb);
            WHEN 3 THEN cur := '[]';
            ELSE cur := jsonb_build_array(cur);                        -- one dimension more
        END CASE;
        RETURN jsonb_set(j, p, cur)::text::retailiq.model;
    END IF;
    repl := fuzz.pick('0', '-1', '1', '2147483647', '2147483648', '-9223372036854775808', '1e308', '-1e308',
                      '0.5', '100000000', '"x"', 'true', '[]', '[[1,2],[3]]', 'NaN', 'Infinity', '-Infinity',
                      '1000000', '3', '""');
    IF repl IN ('NaN', 'Infinity', '-Infinity') THEN
        -- not JSON, but the model's text form reads them: splice in by text
        RETURN replace(jsonb_set(j, p, '"@@@"')::text, '"@@@"', repl)::retailiq.model;
    END IF;
    RETURN jsonb_set(j, p, repl::jsonb)::text::retailiq.model;
END $$;

-- A value of a type, as SQL text: valid, absurd or mutated.
CREATE FUNCTION fuzz.value_of(t regtype) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k text;
BEGIN
    IF random() < 0.06 THEN RETURN 'NULL::' || t::text; END IF;
    CASE t
    WHEN 'integer'::regtype, 'bigint'::regtype, 'smallint'::regtype THEN
        RETURN fuzz.pick('0', '1', '2', '3', '7', '-1', '-2147483648', '2147483647', '100000', '1000000000', '12', '28')
               || '::' || t::text;
    WHEN 'double precision'::regtype, 'numeric'::regtype, 'real'::regtype THEN
        RETURN quote_literal(fuzz.pick('0', '-0', '1', '0.5', '0.999999', '-1', 'NaN', 'Infinity', '-Infinity',
                             '1e308', '1e-308', '2', '100', '0.1', '1e15')) || '::' || t::text;
    WHEN 'boolean'::regtype THEN RETURN fuzz.pick('true', 'false');
    WHEN 'text'::regtype, 'name'::regtype, 'cstring'::regtype THEN
        RETURN quote_literal(fuzz.pick('', 'a', '1', '2', 'milk', 'month', 'week', 'day', 'year', '*', '* * * * *',
                             '0 2 * * *', '*/0 * * * *', '59 23 31 2 *', '@daily', repeat('x', 5000), 'Europe/Paris',
                             'Not/AZone', 'é', E'\\', '{}', 'NaN', '1,2,3', 'store_id,product_id')) || '::' || t::text;
    WHEN 'bytea'::regtype THEN
        RETURN quote_literal(fuzz.pick('\x', '\x00', '\x0102030405060708090a0b0c0d0e0f10', encode(sha256('k'), 'hex')))
               || '::bytea';
    WHEN 'date'::regtype THEN
        RETURN quote_literal(fuzz.pick('2025-01-01', 'infinity', '-infinity', '4713-01-01 BC', '5874897-12-31', '2025-02-28'))
               || '::date';
    WHEN 'timestamp with time zone'::regtype THEN
        RETURN quote_literal(fuzz.pick('2025-01-01 00:00+00', 'infinity', '-infinity', '294276-12-31 23:59:59+00',
                                       '4713-01-01 00:00+00 BC')) || '::timestamptz';
    WHEN 'interval'::regtype THEN
        RETURN quote_literal(fuzz.pick('7 days', '0', '-1 day', '1000000 years', '1 month', '1 microsecond')) || '::interval';
    WHEN 'regclass'::regtype, 'regrole'::regtype THEN
        RETURN fuzz.pick('''pg_class''::regclass', '''fuzz.outcome''::regclass', '''postgres''::regrole',
                         '0::oid::' || t::text);
    WHEN 'jsonb'::regtype THEN
        RETURN quote_literal(fuzz.pick('{}', 'null', '[]', '{"epochs": 1}', '{"epochs": 1000000000}', '{"level": 2}',
                             '{"quantiles": [0.5]}', '{"window": 0}', '{"hidden": 100000}', '{"season": -1}',
                             '{"x": null}', '{"quantiles": [0.9, 0.1]}', '{"horizon": 2147483647}')) || '::jsonb';
    WHEN 'retailiq.model'::regtype THEN
        SELECT kind INTO k FROM fuzz.model ORDER BY random() LIMIT 1;
        IF random() < 0.5 THEN
            RETURN format('(SELECT m FROM fuzz.model WHERE kind = %L)', k);
        END IF;
        RETURN format('fuzz.mutate_model((SELECT m FROM fuzz.model WHERE kind = %L))', k);
    ELSE
        IF t::text LIKE '%[]' THEN
            RETURN quote_literal(fuzz.pick('{}', '{1}', '{1,2}', '{1,2,3,4,5,6,7,8}', '{NULL}', '{{1,2},{3,4}}',
                                 '{NaN,1}', '{Infinity}', '[1000000:1000001]={1,2}', '{0.5,0.8}', '{0.9,0.1}',
                                 '{1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}'))
                   || '::' || t::text;
        END IF;
        RETURN 'NULL::' || t::text;
    END CASE;
END $$;

-- The functions and aggregates the fuzzer calls: every C function and every aggregate of
-- schema retailiq, and those of retailiq_internal that every role may execute (support
-- functions the SQL functions call as the caller), but trigger functions and those taking
-- internal (unreachable from SQL).
CREATE VIEW fuzz.callable AS
SELECT p.oid::regprocedure AS fn, p.prokind = 'a' AS is_agg,
       ARRAY(SELECT t::regtype FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY i) AS args
FROM pg_proc p
WHERE (p.pronamespace = 'retailiq'::regnamespace
       OR (p.pronamespace = 'retailiq_internal'::regnamespace
           AND has_function_privilege('public', p.oid, 'EXECUTE')))
  AND (p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') OR p.prokind = 'a')
  AND p.prorettype NOT IN ('trigger'::regtype, 'internal'::regtype)
  AND NOT ('internal'::regtype = ANY (p.proargtypes::regtype[]))
  AND p.proname NOT IN ('model_in', 'model_recv');

CREATE FUNCTION fuzz.record(kind text, target text, state text, example text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO fuzz.outcome (kind, target, sqlstate, example) VALUES (kind, target, state, example)
    ON CONFLICT (kind, target, sqlstate) DO UPDATE SET n = fuzz.outcome.n + 1 $$;

-- Runs one SQL text in a subtransaction; returns its SQLSTATE ('ok' when it succeeded).
CREATE FUNCTION fuzz.try(q text, kind text, target text, loud bool) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text := 'ok';
    msg text;
BEGIN
    IF loud THEN RAISE NOTICE 'fuzz case: %', left(q, 3000); END IF;
    BEGIN
        EXECUTE q;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    PERFORM fuzz.record(kind, target, st, left(CASE WHEN st = 'ok' THEN '' ELSE msg || ' <- ' END || q, 2000));
    IF st = 'XX000' THEN RAISE WARNING 'fuzz: internal error (XX000) %: %', msg, left(q, 2000); END IF;
    RETURN st;
END $$;

CREATE FUNCTION fuzz.call_case(loud bool) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c record;
    argv text[] := '{}';
    rows int := floor(random() * 25)::int;
BEGIN
    SELECT * INTO c FROM fuzz.callable ORDER BY random() LIMIT 1;
    FOR i IN 1 .. coalesce(array_length(c.args, 1), 0) LOOP
        -- in an aggregate, numbers sometimes vary by row
        IF c.is_agg AND c.args[i] IN ('double precision'::regtype, 'integer'::regtype) AND random() < 0.4 THEN
            argv := argv || format('(x %% 17)::%s', c.args[i]);
        ELSIF c.is_agg AND c.args[i] = 'double precision[]'::regtype AND random() < 0.5 THEN
            argv := argv || 'ARRAY[x, x * x % 5, x % 3]::float8[]'::text;
        ELSIF c.is_agg AND c.args[i] = 'date'::regtype AND random() < 0.6 THEN
            argv := argv || '(date ''2025-01-01'' + x)'::text;
        ELSIF c.is_agg AND c.args[i] = 'text'::regtype AND random() < 0.5 THEN
            argv := argv || '(x % 3)::text'::text;
        ELSE
            argv := argv || fuzz.value_of(c.args[i]);
        END IF;
    END LOOP;
    IF c.is_agg THEN
        PERFORM fuzz.try(format('SELECT %s(%s)::text FROM generate_series(1, %s) x', c.fn::regproc, array_to_string(argv, ', '), rows),
                         'call', c.fn::text, loud);
    ELSE
        PERFORM fuzz.try(format('SELECT count(*) FROM (SELECT (%s(%s))::text) s', c.fn::regproc, array_to_string(argv, ', ')),
                         'call', c.fn::text, loud);
    END IF;
END $$;

-- A mutated state: a bytea state mutated bytewise, a float8[] state elementwise.
CREATE FUNCTION fuzz.mutated_state(s fuzz.state) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    b bytea;
BEGIN
    IF left(s.state, 2) = '\x' THEN
        b := s.state::bytea;
        FOR i IN 0 .. floor(random() * 3)::int LOOP b := fuzz.mutate_bytea(b); END LOOP;
        RETURN b::text;
    END IF;
    RETURN fuzz.mutate_float8_array(s.state::float8[]);
END $$;

CREATE FUNCTION fuzz.state_case(loud bool) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s fuzz.state;
    g pg_aggregate;
    stype text;
    bad text := NULL;
    name text := 'w' || floor(random() * 1e9)::bigint;
    op int := floor(random() * 4)::int;
BEGIN
    SELECT * INTO s FROM fuzz.state ORDER BY random() LIMIT 1;
    SELECT * INTO g FROM pg_aggregate WHERE aggfnoid = s.agg::oid;
    stype := format_type(g.aggtranstype, NULL);
    bad := fuzz.mutated_state(s);
    IF op <= 1 THEN
        -- the aggregate rebuilt with the mutated INITCOND
        PERFORM fuzz.try(format('CREATE AGGREGATE fuzz.%I(%s) (SFUNC = %s, STYPE = %s, INITCOND = %L%s%s); '
                                'SELECT fuzz.%I(%s)::text FROM (%s) q(%s); DROP AGGREGATE fuzz.%I(%s)',
                                name, (SELECT string_agg(format_type(t, NULL), ', ') FROM unnest((SELECT proargtypes FROM pg_proc WHERE oid = s.agg::oid)::oid[]) t),
                                g.aggtransfn::regproc, stype, bad,
                                CASE WHEN g.aggfinalfn <> 0 THEN ', FINALFUNC = ' || g.aggfinalfn::regproc ELSE '' END,
                                CASE WHEN g.aggcombinefn <> 0 THEN ', COMBINEFUNC = ' || g.aggcombinefn::regproc ELSE '' END,
                                name, (SELECT string_agg('a' || i, ', ') FROM generate_series(1, (SELECT pronargs FROM pg_proc WHERE oid = s.agg::oid)) i),
                                replace(s.rows_sql, '%s', floor(random() * 4)::int::text),
                                (SELECT string_agg('a' || i, ', ') FROM generate_series(1, (SELECT pronargs FROM pg_proc WHERE oid = s.agg::oid)) i),
                                name, (SELECT string_agg(format_type(t, NULL), ', ') FROM unnest((SELECT proargtypes FROM pg_proc WHERE oid = s.agg::oid)::oid[]) t)),
                         'state', s.agg::text || ' initcond', loud);
    ELSIF op = 2 AND g.aggcombinefn <> 0 THEN
        IF random() < 0.5 THEN
            PERFORM fuzz.try(format('SELECT %s(%L::%s, %L::%s)::text', g.aggcombinefn::regproc, s.state, stype, bad, stype),
                             'state', g.aggcombinefn::regproc::text, loud);
        ELSE
            PERFORM fuzz.try(format('SELECT %s(%L::%s, %L::%s)::text', g.aggcombinefn::regproc, bad, stype, s.state, stype),
                             'state', g.aggcombinefn::regproc::text, loud);
        END IF;
    ELSIF g.aggfinalfn <> 0 THEN
        PERFORM fuzz.try(format('SELECT %s(%L::%s)::text', g.aggfinalfn::regproc, bad, stype),
                         'state', g.aggfinalfn::regproc::text, loud);
    END IF;
END $$;

-- A mutated model of one kind given to a function that reads models.
CREATE FUNCTION fuzz.model_case(loud bool) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c record;
    argv text[] := '{}';
    k text;
BEGIN
    SELECT * INTO c FROM fuzz.callable WHERE 'retailiq.model'::regtype = ANY (args) ORDER BY random() LIMIT 1;
    SELECT kind INTO k FROM fuzz.model ORDER BY random() LIMIT 1;
    FOR i IN 1 .. array_length(c.args, 1) LOOP
        IF c.args[i] = 'retailiq.model'::regtype THEN
            argv := argv || format('fuzz.mutate_model((SELECT m FROM fuzz.model WHERE kind = %L))', k);
        ELSIF c.args[i] = 'double precision[]'::regtype THEN
            argv := argv || fuzz.pick('ARRAY[1, 2]::float8[]', 'ARRAY[3, 1]::float8[]', 'ARRAY[1, 2, 3]::float8[]', 'ARRAY[1]::float8[]');
        ELSIF c.args[i] = 'integer'::regtype THEN
            argv := argv || fuzz.pick('1', '3', '7', '2');
        ELSIF c.args[i] = 'double precision'::regtype THEN
            argv := argv || fuzz.pick('1.0', '10.0', '40.0', '0.01')::text;
        ELSIF c.args[i] = 'text'::regtype THEN
            argv := argv || fuzz.pick('''1''', '''2''', '''milk''');
        ELSE
            argv := argv || fuzz.value_of(c.args[i]);
        END IF;
    END LOOP;
    IF c.is_agg THEN
        PERFORM fuzz.try(format('SELECT %s(%s)::text FROM generate_series(1, 20) x', c.fn::regproc,
                                replace(replace(array_to_string(argv, ', '), 'ARRAY[1, 2]::float8[]', 'ARRAY[x, x % 3]::float8[]'),
                                        'true', 'x % 2 = 0')),
                         'model', c.fn::text || ' <- ' || k, loud);
    ELSE
        PERFORM fuzz.try(format('SELECT count(*) FROM (SELECT (%s(%s))::text) s', c.fn::regproc, array_to_string(argv, ', ')),
                         'model', c.fn::text || ' <- ' || k, loud);
    END IF;
END $$;

-- n cases from a seed; the same (seed, n) runs the same cases.
CREATE FUNCTION fuzz.run(seed int, cases int, loud bool DEFAULT false) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r float8;
BEGIN
    PERFORM setseed(((seed % 2000000) - 1000000) / 1000001.0);
    FOR i IN 1 .. cases LOOP
        r := random();
        IF loud THEN RAISE NOTICE 'fuzz seed % case %', seed, i; END IF;
        IF r < 0.45 THEN PERFORM fuzz.call_case(loud);
        ELSIF r < 0.75 THEN PERFORM fuzz.state_case(loud);
        ELSE PERFORM fuzz.model_case(loud);
        END IF;
    END LOOP;
    RETURN (SELECT coalesce(sum(o.n), 0) FROM fuzz.outcome o WHERE o.sqlstate = 'XX000');
END $$;
