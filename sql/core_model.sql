-- retailiq.model: a trained model as an SQL value.
-- Its text form is strict JSON: floats print shortest-exact, non-finite ones as the strings
-- "NaN", "Infinity", "-Infinity", and "types" names every field that is not a float8, so
-- text -> model -> text is exact.
SELECT '{"kind": "kmeans", "format": 1, "trained_at": "2026-01-02T03:04:05.123456+00:00",
         "trained_by": "analyst", "params": {"k": 2, "seed": 42, "standardize": true},
         "metrics": {"inertia": 1.5, "iterations": 7},
         "data": {"centroids": [[0.0, 1.0], [2.5, -3.25]], "sizes": [10, 20],
                  "features": ["recency", "frequency"]}}'::retailiq.model AS m \gset
SELECT :'m'::retailiq.model;
SELECT retailiq.model_kind(:'m');
SELECT jsonb_pretty(retailiq.model_info(:'m'));

-- Exact round trips: text, and the binary send/recv form.
CREATE TABLE floats (i int, x float8);
INSERT INTO floats VALUES (1, 0.1), (2, 1e-300), (3, -2.2250738585072014e-308),
  (4, 1.7976931348623157e308), (5, 5e-324), (6, 3), (7, 123456789.123456789), (8, 'NaN'),
  (9, 'Infinity'), (10, '-Infinity'), (11, '-0'), (12, 1.0/3);
SELECT format('{"kind": "ets", "trained_at": "2026-01-01T00:00:00+00:00", "params": {"x": [%s]}}',
              string_agg(CASE WHEN x::text ~ '^-?[0-9]+$' THEN x::text || '.0'
                              WHEN x::text ~ '[a-zA-Z]' AND x::text !~ 'e' THEN '"' || x::text || '"'
                              ELSE x::text END, ', ' ORDER BY i))
       AS fm FROM floats \gset
SELECT :'fm'::retailiq.model;
-- every value comes back equal through model_info's jsonb (which gives non-finite values
-- as strings, and has no negative zero: the text form above keeps -0.0)
SELECT i, x, (retailiq.model_info(:'fm') -> 'params' -> 'x' ->> (i - 1))::float8 AS back,
       x = (retailiq.model_info(:'fm') -> 'params' -> 'x' ->> (i - 1))::float8 AS equal
FROM floats ORDER BY i;
SELECT m::text::retailiq.model::text = m::text AS text_round_trip,
       retailiq.model_send(m) = retailiq.model_send(m::text::retailiq.model) AS same_bytes
FROM (SELECT :'m'::retailiq.model AS m) s;
-- The text form is JSON: through jsonb (which reorders keys and prints 1e300 without a '.')
-- and back, every field keeps its type and value. (jsonb has no negative zero: -0.0 comes
-- back as 0.0, the one value only the text form itself keeps.)
SELECT '{"kind": "ets", "trained_at": "2026-01-01T00:00:00Z", "trained_by": "a", "params": {"big": 1e300, "n": 3, "nan": "NaN"}, "types": {"params": {"n": "int64"}}}'::retailiq.model::text::jsonb;
SELECT retailiq.model_send(m::text::jsonb::text::retailiq.model) = retailiq.model_send(m) AS jsonb_round_trip
FROM (SELECT :'m'::retailiq.model AS m
      UNION ALL SELECT '{"kind": "ets", "trained_at": "2026-01-01T00:00:00Z", "trained_by": "a", "params": {"big": 1e300, "n": 3, "nan": "NaN"}, "types": {"params": {"n": "int64"}}}'
      UNION ALL SELECT replace(:'fm', '-0.0', '0.0')::retailiq.model) s;
-- binary COPY exercises model_send and model_recv
CREATE TABLE saved (id int, m retailiq.model);
INSERT INTO saved VALUES (1, :'m');
COPY saved TO '/tmp/retailiq_core_model.bin' WITH (FORMAT binary);
CREATE TABLE restored (LIKE saved);
COPY restored FROM '/tmp/retailiq_core_model.bin' WITH (FORMAT binary);
SELECT s.m::text = r.m::text AS binary_round_trip FROM saved s JOIN restored r USING (id);

-- Defaults when trainer fields are left out. Without "types" (hand-written text, or text
-- printed before types were recorded) types are inferred: a '.' or exponent makes a float.
SELECT retailiq.model_info('{"kind": "bgnbd", "params": {"r": 0.243, "n": 2357}}') #> '{params}';
SELECT retailiq.model_info('{"data": {"empty": [], "e2": [[], []]}, "kind": "logit"}') #> '{data}';
-- The bare words of the older form (NaN, Infinity, -Infinity) are still read, as floats;
-- a quoted "NaN" without "types" is text.
SELECT '{"kind": "ets", "trained_at": "2026-01-01T00:00:00Z", "trained_by": "a",
         "params": {"n": NaN, "s": "NaN", "x": [1, -Infinity], "t": "a \" NaN"}}'::retailiq.model;

-- Bad text is an ERROR naming what is wrong (22P02), never a crash.
SELECT '{"params": {}}'::retailiq.model;
SELECT '{"kind": "nosuch"}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"k": 2, "k": 3}}'::retailiq.model;
SELECT '{"kind": "kmeans", "data": {"c": [[1.0, 2.0], [3.0]]}}'::retailiq.model;
SELECT '{"kind": "kmeans", "data": {"c": [1.0, "a"]}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"big": 99999999999999999999}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"big": 1e999}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"bad key": 1}}'::retailiq.model;
SELECT '{"kind": "kmeans", "format": 99}'::retailiq.model;
SELECT '{"kind": "kmeans"} trailing'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"s": "\u0000"}}'::retailiq.model;
SELECT '{"kind": "kmeans"'::retailiq.model;
SELECT ''::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"k": 2.5}, "types": {"params": {"k": "int64"}}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"k": "x"}, "types": {}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"k": 2}, "types": {"params": {"j": "int64"}}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"k": 2}, "types": {"params": {"k": "int32"}}}'::retailiq.model;
SELECT '{"kind": "kmeans", "params": {"k": null}}'::retailiq.model;
SELECT '{"kind": "kmeans", "data": {"c": [[[1.0]]]}}'::retailiq.model;

-- Corrupt binary values: the checksum and structure are checked before anything is read.
CREATE FUNCTION pg_temp.flip(b bytea, pos int) RETURNS bytea LANGUAGE sql
  AS $$ SELECT set_byte(b, pos, get_byte(b, pos) # 1) $$;
CREATE TABLE corrupt (what text, b bytea);
INSERT INTO corrupt
SELECT 'flipped payload byte', pg_temp.flip(retailiq.model_send(:'m'), 40) UNION ALL
SELECT 'flipped magic', pg_temp.flip(retailiq.model_send(:'m'), 0) UNION ALL
SELECT 'truncated', substr(retailiq.model_send(:'m'), 1, 30) UNION ALL
SELECT 'empty', ''::bytea UNION ALL
SELECT 'newer format', set_byte(retailiq.model_send(:'m'), 4, 9);
-- Through binary COPY (model_recv): 22P03 invalid_binary_representation.
COPY (SELECT 1, b FROM corrupt WHERE what = 'flipped payload byte') TO '/tmp/retailiq_core_corrupt.bin' WITH (FORMAT binary);
COPY restored FROM '/tmp/retailiq_core_corrupt.bin' WITH (FORMAT binary);
COPY (SELECT 1, b FROM corrupt WHERE what = 'truncated') TO '/tmp/retailiq_core_corrupt.bin' WITH (FORMAT binary);
COPY restored FROM '/tmp/retailiq_core_corrupt.bin' WITH (FORMAT binary);
-- As stored values (as if the disk had corrupted them; the test forges them with a cast
-- that retailiq itself does not provide): XX001 data_corrupted from every model function.
CREATE CAST (bytea AS retailiq.model) WITHOUT FUNCTION;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT what, b FROM corrupt ORDER BY what LOOP
    BEGIN
      PERFORM retailiq.model_info(r.b::retailiq.model);
      RAISE NOTICE '%: accepted', r.what;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '%: % (%)', r.what, SQLERRM, SQLSTATE;
    END;
  END LOOP;
END $$;
SELECT ('\x00'::bytea)::retailiq.model;
DROP CAST (bytea AS retailiq.model);
